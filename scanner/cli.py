"""The ``scanner`` command: a thin click skin over the library.

It parses options, calls the library, renders results and maps errors to exit codes.
It is the only module that imports click, prints, or exits.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from scanner import __version__, report, scanlog, signatures
from scanner.config import Config, load_config, parse_size
from scanner.errors import ScannerError, UsageError
from scanner.model import OutputFormat, ScanType
from scanner.scan import Progress, ScanRequest, run_scan
from scanner.state import ENV_HOME, StateDir, default_home
from scanner.walk import WalkOptions

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR, EXIT_ACTION_FAILED = 0, 1, 2, 3
EXIT_CODES_HELP = """\b
Exit codes:
  0  nothing found
  1  threats found (and every requested action succeeded)
  2  error: bad usage, rules that do not compile, nothing could be scanned
  3  threats found and a requested action failed (or needs a reboot or a manual step)
"""

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print a one-line error and exit."""
    click.echo(f"scanner: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """Print a one-line warning to stderr."""
    click.echo(f"scanner: warning: {message}", err=True)


def handle_errors(func: F) -> F:
    """Turn library errors into one-line messages and exit code 2; never show a traceback for them."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScannerError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted")
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Env:
    """What every command needs: the state directory and the effective configuration."""

    state: StateDir
    config: Config


def common_options(func: F) -> F:
    """--home and --config, on every command."""
    func = click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        help="Configuration file (default: config.toml in the state directory).",
    )(func)
    return click.option(
        "--home", type=click.Path(file_okay=False, path_type=Path),
        help=f"State directory (default: /var/lib/scanner as root, else the user data directory; env {ENV_HOME}).",
    )(func)


def make_env(home: Path | None, config_file: Path | None) -> Env:
    """Resolve the state directory and load the configuration."""
    state = StateDir(home if home is not None else default_home())
    if config_file is not None:
        config = load_config(config_file, required=True)
    else:
        config = load_config(state.config_file, required=False)
    return Env(state, config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="scanner")
def main() -> None:
    """Find malicious software with YARA rules, name its family, and remove it restorably."""


# --- scan -----------------------------------------------------------------------------------------


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


class ProgressLine:
    """A one-line progress display on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.width = shutil.get_terminal_size((80, 20)).columns
        self.shown = False

    def __call__(self, p: Progress) -> None:
        rate = report.human_bytes(p.bytes / p.elapsed) + "/s" if p.elapsed > 0 else ""
        head = f"{p.files} files, {report.human_bytes(p.bytes)}, {rate}, {p.detections} found  "
        room = max(0, self.width - len(head) - 1)
        cur = report.display_path(p.current)
        cur = cur if len(cur) <= room else "..." + cur[-(room - 3):] if room > 3 else ""
        click.echo(f"\r\x1b[K{head}{cur}", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", nl=False, err=True)


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a partial report never replaces a good one)."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output``."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_output(output, text)
    except OSError as exc:
        fail(f"cannot write report to {output}: {exc.strerror}")


def load_rules(env: Env, extra: Sequence[Path], use_default: bool) -> signatures.LoadedRules:
    """The rules a scan uses, with a freshness warning when the set is old."""
    return signatures.load_rules(
        env.state, extra, use_default, today=dt.datetime.now(dt.UTC).date(),
        max_age_days=env.config.max_signature_age_days,
    )


def log_scan(env: Env, text: str) -> None:
    """Append to the scan log; a log that cannot be written is a warning, not a failed scan."""
    try:
        scanlog.append(env.state.scan_log, text)
    except OSError as exc:
        warn(f"cannot write the scan log {env.state.scan_log}: {exc.strerror}")


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--quick", "scan_type", flag_value=ScanType.QUICK.value,
              help="Where malware drops and persists (the default when no PATH is given).")
@click.option("--full", "scan_type", flag_value=ScanType.FULL.value,
              help="Every local filesystem (not /proc, /sys, /dev or network mounts unless named).")
@click.option("--sysroot", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Treat DIR as the filesystem root for quick and full scan locations.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Also use these rules: a .yar/.yara file or a directory of them (repeatable).")
@click.option("--no-default-rules", is_flag=True, help="Do not use the active signature set.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Do not scan matching paths; a GLOB with '/' matches the whole path, else the name (repeatable).")
@click.option("--one-file-system", is_flag=True, help="Do not cross into other filesystems below a root.")
@click.option("--max-filesize", callback=_size, metavar="SIZE",
              help="Skip (and list) larger files, e.g. 256M [default: 256M].")
@click.option("--timeout", type=click.IntRange(min=1), metavar="SECONDS", help="Per-file timeout [default: 60].")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Scanning threads [default: CPU count].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress on stderr (only when it is a terminal).")
@common_options
@handle_errors
def scan(
    paths: tuple[str, ...], scan_type: str | None, sysroot: Path, rules: tuple[Path, ...], no_default_rules: bool,
    exclude: tuple[str, ...], one_file_system: bool, max_filesize: int | None, timeout: int | None,
    jobs: int | None, fmt: str, output: Path | None, progress: bool, home: Path | None, config_file: Path | None,
) -> None:
    """Scan PATHs (or, with none, a quick scan) and report what is found."""
    env = make_env(home, config_file)
    cfg = env.config
    for p in paths:
        if not os.path.lexists(p):
            fail(f"path not found: {report.display_path(p)}")
    kind = ScanType(scan_type) if scan_type else (ScanType.CUSTOM if paths else ScanType.QUICK)
    loaded = load_rules(env, rules, not no_default_rules)
    for w in loaded.warnings:
        warn(w)
    request = ScanRequest(
        scan_type=kind,
        paths=paths,
        sysroot=sysroot,
        walk=WalkOptions(
            excludes=cfg.excludes + exclude,
            one_file_system=one_file_system,
            max_filesize=max_filesize if max_filesize is not None else cfg.max_filesize,
        ),
        jobs=jobs or cfg.jobs or os.cpu_count() or 1,
        timeout=timeout or cfg.timeout,
    )
    show = ProgressLine() if progress and sys.stderr.isatty() else None
    try:
        result = run_scan(request, loaded.rules, loaded.info, progress=show, warnings=loaded.warnings)
    finally:
        if show is not None:
            show.close()
    log_scan(env, scanlog.format_block(result))
    fmt_ = OutputFormat(fmt)
    text = report.dumps(report.report_json(result)) if fmt_ is OutputFormat.JSON else report.render_text(result)
    emit(text, output)
    if output is not None:
        click.echo(f"report written to {output}", err=True)
    sys.exit(result.exit_code)


# --- signatures -------------------------------------------------------------------------------------


@main.group("signatures")
def signatures_group() -> None:
    """Inspect and test the active signature set."""


@signatures_group.command("info")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def signatures_info(fmt: str, home: Path | None, config_file: Path | None) -> None:
    """Version, age, rule count, families, source and compiled-cache state of the active set."""
    env = make_env(home, config_file)
    info = signatures.describe(env.state, today=dt.datetime.now(dt.UTC).date())
    if fmt == "json":
        click.echo(report.dumps(info), nl=False)
        return
    age = f" ({info['age_days']} days old)" if info["age_days"] is not None else ""
    click.echo(f"Version:        {info['version']}{age}")
    click.echo(f"Released:       {info['released'] or 'unknown'}")
    click.echo(f"Source:         {info['source']} ({info['path']})")
    click.echo(f"Rules:          {info['rule_count']} in {info['rule_files']} files")
    click.echo(f"Compiled cache: {info['compiled_cache']}")
    click.echo(f"Families ({len(info['families'])}): {', '.join(info['families'])}")


@signatures_group.command("test")
@click.option("--clean", "clean", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Also require no hit on files under PATH (repeatable).")
@click.option("--corpus", is_flag=True,
              help="Use the full clean corpus: /usr/bin, /usr/lib, /usr/share and the Python installation.")
@common_options
@handle_errors
def signatures_test(clean: tuple[Path, ...], corpus: bool, home: Path | None, config_file: Path | None) -> None:
    """Compile the active set; check each rule hits its samples and no rule hits clean files.

    Without --corpus the clean files are the host's core binaries and the scanner's own files.
    """
    env = make_env(home, config_file)
    sigset = signatures.active_set(env.state)
    clean_paths = [*signatures.core_binaries(), *clean]
    if corpus:
        clean_paths += signatures.clean_corpus()
    problems = signatures.verify_set(sigset, clean_paths, env.state.rule_cache)
    for p in problems:
        click.echo(f"FAIL: {p}")
    samples = sum(1 for _ in sigset.samples())
    if problems:
        fail(f"signature set {sigset.version} failed {len(problems)} check(s)")
    click.echo(f"OK: signature set {sigset.version}: {len(sigset.rule_files())} rule files compile, "
               f"{samples} samples hit their rules, no hit on {len(clean_paths)} clean paths")


if __name__ == "__main__":  # pragma: no cover
    main()
