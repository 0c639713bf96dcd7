"""The ``scanner`` command: a thin click skin over the library.

It parses options, calls the library, renders results and maps errors to exit codes.
It is the only module that imports click, prints, or exits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import logging
import math
import os
import select
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from scanner import __version__, logsetup, report
from scanner import jobs as pipeline
from scanner.config import MAX_DAYS, MAX_JOBS, MAX_SECONDS, Config, check_range, load_config, parse_size
from scanner.errors import ScannerError, UsageError
from scanner.history import History
from scanner.model import Action, ExitCode, OutputFormat, Policy, ScanReport, ScanType, display_path, printable
from scanner.safefs import write_atomic
from scanner.scanning.scan import Progress, ScanRequest
from scanner.scanning.walk import WalkOptions, dir_identity
from scanner.state import ENV_HOME, StateDir, default_home
from scanner.updates import signatures

if TYPE_CHECKING:  # the rest is imported where it is used: a report-only scan starts faster without it
    from scanner.remediation.quarantine import Vault
    from scanner.remediation.vault_records import QuarantineItem
    from scanner.updates import feed as feed_mod

logger = logging.getLogger(__name__)

MAX_PID = 1 << 22
"""Linux's largest possible process id (PID_MAX_LIMIT): the bound of --pid."""
EXIT_CODES_HELP = """\b
Exit codes:
  0  nothing found
  1  threats found (and every requested action succeeded)
  2  error: bad usage, rules that do not compile, nothing could be scanned
  3  threats found and a requested action failed (or needs a reboot or a manual step)
  141  standard output was closed before the report was written (piped into head)
"""
UPDATE_EXIT_CODES_HELP = """\b
Exit codes:
  0  done: updated, already up to date, or the newer set is held back (with --check: newer or not)
  2  error: no feed, a feed that cannot be reached or verified, or a set that failed its tests
     (the active set is then unchanged)
"""
WATCH_EXIT_CODES_HELP = """\b
Exit codes:
  0  stopped by SIGTERM or Ctrl-C
  2  could not start (bad folders, rules or options) or could not keep watching
"""

F = TypeVar("F", bound=Callable[..., Any])


def say(text: str, err: bool = False) -> None:
    """Print one line of human-readable text with every control character escaped (``model.printable``).

    Every line that can carry outside text (file names, rule meta, server or OS messages) is printed
    through here, ``fail`` or ``warn``; escaping is idempotent, so text escaped before is unchanged.
    """
    click.echo(printable(text), err=err)


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    """Print a one-line error (control characters escaped) and exit."""
    say(f"scanner: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """Print a one-line warning (control characters escaped) to stderr."""
    say(f"scanner: warning: {message}", err=True)


def stdout_closed() -> bool:
    """Whether whoever read standard output has gone (a pipe whose reader exited, as ``head`` does)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (CliRunner's buffer): it cannot close
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def stdout_to_devnull() -> None:
    """Point standard output at /dev/null, so later writes and the interpreter's final flush do not
    fail on a closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def quiet_broken_pipe() -> NoReturn:
    """Leave quietly when standard output was closed early: no error message, exit 141."""
    stdout_to_devnull()
    sys.exit(ExitCode.BROKEN_PIPE)


def handle_errors(func: F) -> F:
    """Turn library errors into one-line messages and exit code 2; never show a traceback for them.

    Standard output closed early (EPIPE) ends the command quietly with ``ExitCode.BROKEN_PIPE``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScannerError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted")
        except OSError as exc:
            if exc.errno == errno.EPIPE and stdout_closed():
                quiet_broken_pipe()
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Env:
    """What every command needs: the state directory and the effective configuration."""

    state: StateDir
    config: Config


# --- logging: set up here only (scanner.logsetup); library modules just log -------------------------

LOG_FLAG = "scanner.log_level"
"""Key in ``click.Context.meta``: the level --verbose or --debug asked for (it wins over the config)."""


def _log_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        level = logging.DEBUG if param.name == "debug" else logging.INFO
        ctx.meta[LOG_FLAG] = min(level, ctx.meta.get(LOG_FLAG, level))  # --debug wins over -v
        logsetup.set_level(ctx.meta[LOG_FLAG])
    return value


def log_options(func: F) -> F:
    """--verbose/-v and --debug, on every command (and on the group: ``scanner -v scan``)."""
    func = click.option("--debug", is_flag=True, expose_value=False, callback=_log_flag,
                        help="Also log every decision per file, with the logger's name.")(func)
    return click.option("--verbose", "-v", is_flag=True, expose_value=False, callback=_log_flag,
                        help="Log what the command decides and why (info level).")(func)


def apply_config_log_level(config: Config) -> None:
    """The config file's [logging] level, unless --verbose or --debug was given."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and LOG_FLAG in ctx.meta:
        return
    logsetup.set_level(config.logging_level)


def common_options(func: F) -> F:
    """--home, --config, --verbose and --debug, on every command."""
    func = log_options(func)
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
    apply_config_log_level(config)
    return Env(state, config)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses ``nan`` (which every range comparison lets through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}", param, ctx)
        return rv


_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    t for t in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if isinstance(t, type)
)


class OneLineErrors(click.Group):
    """The command group: a usage error (bad option value, unknown option) is one line, exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _one_line(exc, ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _one_line(exc, ctx)


def _one_line(exc: click.UsageError, ctx: click.Context) -> NoReturn:
    if isinstance(exc, _NO_ARGS_IS_HELP):  # a group given no command: its help, as click shows it
        raise exc
    where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
    fail(f"{exc.format_message().rstrip('.')} (see '{where} --help')", exc.exit_code)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="scanner")
@log_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """Find malicious software with YARA rules, name its family, and remove it restorably."""
    logsetup.set_level(ctx.meta.get(LOG_FLAG, logging.WARNING))
    ctx.call_on_close(logsetup.stop)


# --- scan -----------------------------------------------------------------------------------------


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        size = parse_size(value)
        check_range("max_filesize", size)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc
    return size


class ProgressLine:
    """A one-line progress display on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.width = shutil.get_terminal_size((80, 20)).columns
        self.shown = False

    def __call__(self, p: Progress) -> None:
        rate = report.human_bytes(p.bytes / p.elapsed) + "/s" if p.elapsed > 0 else ""
        head = f"{p.files} files, {report.human_bytes(p.bytes)}, {rate}, {p.detections} found  "
        room = max(0, self.width - len(head) - 1)
        cur = display_path(p.current)
        cur = cur if len(cur) <= room else "..." + cur[-(room - 3):] if room > 3 else ""
        click.echo(f"\r\x1b[K{head}{cur}", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", nl=False, err=True)


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output``."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text.encode("utf-8"))  # a partial report never replaces a good one
    except OSError as exc:
        fail(f"cannot write report to {output}: {exc.strerror}")


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--quick", is_flag=True,
              help="Where malware drops and persists (the default when no PATH is given).")
@click.option("--full", is_flag=True,
              help="Every local filesystem, /dev/shm included (not the rest of /dev, /proc, /sys or network "
                   "mounts unless named).")
@click.option("--sysroot", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Treat DIR as the filesystem root for quick and full scan locations.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Also use these rules: a .yar/.yara file or a directory of them (repeatable).")
@click.option("--no-default-rules", is_flag=True, help="Do not use the active signature set.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Do not scan matching paths; a GLOB with '/' matches the whole path, else the name (repeatable).")
@click.option("--one-file-system", is_flag=True, help="Do not cross into other filesystems below a root.")
@click.option("--max-filesize", callback=_size, metavar="SIZE",
              help="Skip larger files, e.g. 256M; 0: no limit; at most 1T [default: 256M]. "
                   "A skipped file makes the result incomplete.")
@click.option("--timeout", type=click.IntRange(1, MAX_SECONDS), metavar="SECONDS",
              help="Per-file timeout [default: 60].")
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), help="Scanning threads [default: CPU count].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress on stderr (only when it is a terminal).")
@click.option("--processes/--no-processes", default=None,
              help="Scan running processes (image and memory) [default: on for quick and full scans].")
@click.option("--pid", "pids", multiple=True, type=click.IntRange(1, MAX_PID),
              help="Scan this process (repeatable); no files are scanned unless PATHs are given too.")
@click.option("--action", type=click.Choice([a.value for a in Action]),
              help="report: change nothing; quarantine: kill, move into the vault, clean persistence; "
                   "remove: the same but delete files [default: report].")
@click.option("--dry-run", is_flag=True, help="Print what the action would do; change nothing.")
@click.option("--force", is_flag=True, help="Also move detected files that an installed OS package owns.")
@click.option("--no-cache", is_flag=True,
              help="Read every file, even one judged before and unchanged since (a full scan always does).")
@common_options
@handle_errors
def scan(
    paths: tuple[str, ...], quick: bool, full: bool, sysroot: Path, rules: tuple[Path, ...], no_default_rules: bool,
    exclude: tuple[str, ...], one_file_system: bool, max_filesize: int | None, timeout: int | None,
    jobs: int | None, fmt: str, output: Path | None, progress: bool, processes: bool | None, pids: tuple[int, ...],
    action: str | None, dry_run: bool, force: bool, no_cache: bool, home: Path | None, config_file: Path | None,
) -> None:
    """Scan PATHs (or, with none, a quick scan) and report what is found."""
    if quick and full:
        fail("--quick and --full cannot be used together: choose one")
    scan_type = ScanType.QUICK if quick else ScanType.FULL if full else None
    env = make_env(home, config_file)
    cfg = env.config
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing and len(missing) == len(paths) and scan_type is None and not pids:
        fail(f"path not found: {', '.join(display_path(p) for p in missing)}; nothing to scan")
    for p in missing:  # the scan goes on with the rest, and says it is incomplete
        warn(f"path not found: {display_path(p)}; scanning the rest")
    kind = scan_type or (ScanType.CUSTOM if paths or pids else ScanType.QUICK)
    # processes belong to this machine: not scanned by default when looking at another root
    on_host = os.path.realpath(sysroot) == "/"
    scan_procs = bool(pids) or (processes if processes is not None else kind is not ScanType.CUSTOM and on_host)
    loaded = pipeline.load_rules(env.state, env.config, rules, not no_default_rules)
    for w in loaded.warnings:
        warn(w)
    request = ScanRequest(
        scan_type=kind,
        paths=paths,
        sysroot=sysroot,
        walk=WalkOptions(
            excludes=cfg.excludes + exclude,
            one_file_system=one_file_system,
            max_filesize=pipeline.size_limit(max_filesize if max_filesize is not None else cfg.max_filesize),
            skip_dirs=dir_identity(env.state.root),
        ),
        jobs=jobs or cfg.jobs or os.cpu_count() or 1,
        timeout=timeout or cfg.timeout,
        files=bool(paths) or not pids or scan_type is not None,
        processes=scan_procs,
        pids=pids,
        process_timeout=cfg.process_timeout,
        process_max_memory=cfg.process_max_memory,
        cache_dir=env.state.file_cache,
        cache=pipeline.cache_mode(kind, no_cache),
    )
    policy = Policy(Action(action) if action else cfg.action, force=force, sysroot=sysroot,
                    kill_grace=cfg.kill_grace)
    show = ProgressLine() if progress and sys.stderr.isatty() else None
    done = run_job(env, pipeline.Job(request, loaded, policy, "scan", dry_run=dry_run), show)
    emit(render(done.report, OutputFormat(fmt)), output)
    if output is not None:
        say(f"report written to {output}", err=True)
    sys.exit(done.exit_code)


def render(result: ScanReport, fmt: OutputFormat) -> str:
    """The report as text or JSON."""
    if fmt is OutputFormat.TEXT:
        return report.render_text(result)
    return report.dumps(report.report_json(result))


def open_vault(env: Env) -> Vault:
    """The quarantine vault, after finishing or rolling back anything a crash interrupted (said as warnings)."""
    vault, notices = pipeline.open_vault(env.state)
    for line in notices:
        warn(line)
    return vault


def run_job(env: Env, job: pipeline.Job, progress: ProgressLine | None = None) -> pipeline.JobResult:
    """Run the scan-and-act pipeline; its notices are warnings (a record not written: "NOT RECORDED")."""
    done = pipeline.run(job, env.state, progress=progress)
    for line in done.notices:
        warn(line)
    return done


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
    from scanner.updates import update

    env = make_env(home, config_file)
    mirrors, mirrors_source = feed_mirrors(env, ())
    info = signatures.describe(env.state, today=dt.datetime.now(dt.UTC).date())
    st = update.status(env.state)
    anchor = st.trusted_root
    info.update(
        previous_version=st.previous_version,
        held_version=st.held_version,
        trusted_root=None if anchor is None else {
            "path": str(anchor.path), "version": anchor.version, "sha256": anchor.sha256,
            "expires": anchor.expires.isoformat()},
        feeds=list(mirrors),
        feeds_source=mirrors_source,
    )
    if fmt == "json":
        click.echo(report.dumps(info), nl=False)
        return
    age = f" ({info['age_days']} days old)" if info["age_days"] is not None else ""
    say(f"Version:        {info['version']}{age}")
    say(f"Released:       {info['released'] or 'unknown'}")
    say(f"Source:         {info['source']} ({info['path']})")
    say(f"Rules:          {info['rule_count']} in {info['rule_files']} files")
    say(f"Compiled cache: {info['compiled_cache']}")
    say(f"Families ({len(info['families'])}): {', '.join(info['families'])}")
    say(f"Previous set:   {info['previous_version'] or 'none'} (scanner signatures rollback)")
    if info["held_version"]:
        say(f"Held back:      {info['held_version']} (rolled back from; 'scanner update --force' reinstalls)")
    anchor_text = (f"root v{anchor.version}, sha256 {anchor.sha256[:16]}..., {anchor.path}" if anchor
                   else "none (give the feed's root.json once with 'scanner update --trusted-root')")
    say(f"Trust anchor:   {anchor_text}")
    feed_text = (f"{' '.join(mirrors)} ({FEED_SOURCES[mirrors_source]})" if mirrors
                 else "none (give it once with 'scanner update --feed URL')")
    say(f"Update feed:    {feed_text}")


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
        say(f"FAIL: {p}")
    samples = sum(1 for _ in sigset.samples())
    if problems:
        fail(f"signature set {sigset.version} failed {len(problems)} check(s)")
    say(f"OK: signature set {sigset.version}: {len(sigset.rule_files())} rule files compile, "
               f"{samples} samples hit their rules, no hit on {len(clean_paths)} clean paths")


@signatures_group.command("rollback")
@click.option("--force", is_flag=True, help="Also return to a set that was rolled back from (held back).")
@common_options
@handle_errors
def signatures_rollback(force: bool, home: Path | None, config_file: Path | None) -> None:
    """Return to the signature set that was active before the last update (logged)."""
    from scanner.updates import update

    env = make_env(home, config_file)
    out = update.rollback(env.state, force=force)
    to = f"{out.to_version} (bundled)" if out.to_bundled else out.to_version
    held = signatures.version_key(out.from_version) > signatures.version_key(out.to_version)
    say(f"rolled back from {out.from_version} to {to}"
               + (f"; {out.from_version} will not be reinstalled automatically (use 'scanner update --force')"
                  if held else ""))


# --- update ---------------------------------------------------------------------------------------------

FEED_SOURCES = {"config": "from the config file", "remembered": "remembered from 'scanner update --feed'"}

NO_FEED_HELP = (
    "no update feed configured: run 'scanner update --feed URL --trusted-root root.json' once "
    "(the publisher's root.json is the trust anchor), or set feeds and trusted_root under [update] in {config}"
)


def feed_mirrors(env: Env, feeds: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The mirrors to use and where they come from: the command line, else the config, else the feed
    remembered from the last successful ``update --feed`` (else none: the package's own, if it ships one)."""
    from scanner.updates import feed as feed_mod

    if feeds:
        return tuple(feeds), "command line"
    if env.config.feeds:
        return env.config.feeds, "config"
    remembered = feed_mod.remembered_mirrors(env.state.feed)
    return remembered, "remembered" if remembered else "none"


def feed_settings(env: Env, feeds: Sequence[str], deadline: float | None) -> tuple[feed_mod.FeedSettings, Path | None]:
    """The mirrors to use (flags, else config, else remembered) and the HTTP limits."""
    from scanner.updates import feed as feed_mod
    from scanner.updates.http import HttpSettings

    mirrors, source = feed_mirrors(env, feeds)
    logger.info("feed mirrors (%s): %s", source, " ".join(mirrors) or "none")
    http = HttpSettings() if deadline is None else HttpSettings(deadline=deadline)
    return feed_mod.FeedSettings(mirrors=mirrors, http=http), env.config.trusted_root


def feed_configured(settings: feed_mod.FeedSettings) -> bool:
    """Whether there is a feed to update from (given, configured, or shipped with the package)."""
    from scanner.updates import feed as feed_mod

    return bool(settings.mirrors or feed_mod.packaged_feed()[0])


@main.command("update", epilog=UPDATE_EXIT_CODES_HELP)
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="Feed base URL (https://, http://, file:// or a path); repeat for mirrors, tried in order. "
                   "Remembered once it works, for runs that name no feed [default: config, else remembered].")
@click.option("--trusted-root", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The feed's root.json: the trust anchor, kept in the state directory from then on.")
@click.option("--check", is_flag=True, help="Only say whether a newer signature set is available.")
@click.option("--force", is_flag=True, help="Install the feed's set even if it is not newer (or was rolled back).")
@click.option("--deadline", type=FiniteFloatRange(1, MAX_SECONDS), metavar="SECONDS",
              help="Give up on the whole update after this long [default: 600].")
@common_options
@handle_errors
def update_cmd(feeds: tuple[str, ...], trusted_root: Path | None, check: bool, force: bool, deadline: float | None,
               home: Path | None, config_file: Path | None) -> None:
    """Fetch, verify (TUF), test and activate the latest signature set from the update feed."""
    from scanner.updates import update

    env = make_env(home, config_file)
    settings, configured_root = feed_settings(env, feeds, deadline)
    if not feed_configured(settings):
        fail(NO_FEED_HELP.format(config=env.config.source or env.state.config_file))
    root = trusted_root or configured_root
    if check:
        out = update.check(env.state, settings, trusted_root=root, remember=bool(feeds))
    else:
        out = update.update(env.state, settings, trusted_root=root, force=force, remember=bool(feeds))
    for w in out.warnings:
        warn(w)
    match out.status:
        case update.UpdateStatus.UPDATED:
            say(f"updated signatures {out.previous_version} -> {out.active_version} (from {out.mirror})")
        case update.UpdateStatus.AVAILABLE:
            say(f"a newer signature set is available: {out.feed_version} (active: {out.active_version})")
        case update.UpdateStatus.HELD:
            say(f"the feed offers {out.feed_version}, which was rolled back from and is held back "
                f"(active: {out.active_version}); 'scanner update --force' installs it")
        case update.UpdateStatus.UP_TO_DATE:
            say(f"signatures are up to date: {out.active_version} (feed: {out.feed_version})")


# --- watch ----------------------------------------------------------------------------------------------


@main.command("watch", epilog=WATCH_EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--action", type=click.Choice([Action.QUARANTINE.value, Action.REPORT.value]),
              default=Action.QUARANTINE.value, show_default=True,
              help="quarantine (restorable) what is found, or only report it.")
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="One line per event: readable text, or one JSON object.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Also use these rules: a .yar/.yara file or a directory of them (repeatable).")
@click.option("--no-default-rules", is_flag=True, help="Do not use the active signature set.")
@click.option("--initial-scan", is_flag=True, help="Also scan what is already in the folders at start.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Do not scan matching paths (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), help="Scanning threads [default: CPU count].")
@common_options
@handle_errors
def watch_cmd(paths: tuple[str, ...], action: str, fmt: str, rules: tuple[Path, ...], no_default_rules: bool,
              initial_scan: bool, exclude: tuple[str, ...], jobs: int | None, home: Path | None,
              config_file: Path | None) -> None:
    """Watch folders; scan each file once it is complete; quarantine what is found.

    Runs until SIGTERM or Ctrl-C, then stops cleanly: exit 0; 3 when detected files were left not
    quarantined at the stop (they are saved, and the next watch of the same folders handles them);
    2 when the watch failed or what was left could not be saved.
    """
    import signal
    import threading

    from scanner.watch.config import WatchConfig
    from scanner.watch.events import WatchEvent, event_json, event_text
    from scanner.watch.service import run_watch

    env = make_env(home, config_file)
    cfg = env.config
    config = WatchConfig(
        paths=paths, state=env.state, action=Action(action), rules=rules, use_default_rules=not no_default_rules,
        initial_scan=initial_scan, jobs=jobs or cfg.jobs or os.cpu_count() or 1, timeout=cfg.timeout,
        max_filesize=cfg.max_filesize, excludes=cfg.excludes + exclude,
        max_signature_age_days=cfg.max_signature_age_days, kill_grace=cfg.kill_grace,
    )
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda _signum, _frame: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}

    def line(ev: WatchEvent) -> str:
        if fmt == "jsonl":
            return report.json_text(event_json(ev))
        return event_text(ev)

    def show(ev: WatchEvent) -> None:
        try:
            click.echo(line(ev))
        except OSError as exc:
            if exc.errno != errno.EPIPE or not stdout_closed():
                raise
            stdout_to_devnull()  # the reader went away: keep watching; the watch log still has every event

    try:
        code = run_watch(config, emit=show, stop=stop, systemctl=pipeline.run_systemctl)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    sys.exit(code)


# --- monthly and schedule -------------------------------------------------------------------------------


@main.command("monthly", epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Also use these rules: a .yar/.yara file or a directory of them (repeatable; "
                   "added to [monthly] rules).")
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="Feed base URL (repeatable) [default: config, else the one remembered by 'scanner update'].")
@click.option("--trusted-root", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The feed's root.json trust anchor; default: the one kept in the state directory.")
@click.option("--sysroot", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Filesystem root to scan.")
@click.option("--processes/--no-processes", default=None,
              help="Scan running processes [default: on, unless --sysroot names another root].")
@click.option("--action", type=click.Choice([a.value for a in Action]),
              help="What to do with what is found [default: quarantine, restorable with 'scanner undo'].")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON report to FILE.")
@click.option("--no-cache", is_flag=True, help="Read every file, even one judged before and unchanged since.")
@common_options
@handle_errors
def monthly(paths: tuple[str, ...], rules: tuple[Path, ...], feeds: tuple[str, ...], trusted_root: Path | None,
            sysroot: Path, processes: bool | None, action: str | None, report_file: Path | None, no_cache: bool,
            home: Path | None, config_file: Path | None) -> None:
    """The unattended monthly run: update signatures, quick scan with processes, remediate, log.

    PATHs (and [monthly] paths in the config; as seen from here, not under --sysroot) are scanned too,
    such as web roots outside the usual places; a missing one is a warning. A failed update is logged as
    a warning and the run goes on with the current set.
    """
    env = make_env(home, config_file)
    settings, configured_root = feed_settings(env, feeds, None)
    request = pipeline.MonthlyRequest(
        paths=paths, rules=rules, feed=settings if feed_configured(settings) else None,
        trusted_root=trusted_root or configured_root, remember_feed=bool(feeds), sysroot=sysroot,
        processes=processes, action=Action(action) if action else None, no_cache=no_cache)
    done = pipeline.monthly(env.state, env.config, request)
    for line in done.notices:
        warn(line)
    result = done.report
    if report_file is not None:
        emit(render(result, OutputFormat.JSON), report_file)
    for w in result.warnings:
        warn(w)
    c = result.counts
    say(f"monthly run {result.scan_id}: signatures {result.signatures.version}, {c.files_scanned} files, "
               f"{c.processes_scanned} processes, {c.detections} detection(s): "
               f"{report.result_words(result)}; log: {env.state.scan_log}")
    sys.exit(result.exit_code)


@main.group("schedule")
def schedule_group() -> None:
    """Install, remove or inspect the monthly run (second Tuesday of each month, like MSRT)."""


def _schedule_kind(user: bool | None, scheduler: str, found_in: Path | None = None) -> Any:
    """The scheduler kind; with --scheduler auto and ``found_in`` (status and remove with --unit-dir),
    the kind whose definitions are in that folder."""
    from scanner import programs
    from scanner.schedule import scheduler as schedule

    systemd = programs.systemd_booted() if scheduler == "auto" else scheduler == "systemd"
    platform = "win32" if scheduler == "windows" else sys.platform
    kind = schedule.default_kind(user=user, euid=os.geteuid(), systemd=systemd, platform=platform)
    if scheduler == "auto" and found_in is not None:
        kind = schedule.kind_in_dir(found_in, kind)
    return kind


UNIT_DIR_HELP = {
    "install": "Write the definitions into DIR instead (no systemctl, cron or schtasks is called).",
    "remove": "Delete the definitions from DIR instead (no systemctl, cron or schtasks is called); "
              "with --scheduler auto, those of the scheduler found there.",
    "status": "Read the definitions from DIR instead; with --scheduler auto, those of the scheduler found there.",
}


def scope_options(command: str) -> Callable[[F], F]:
    """--system/--user, --unit-dir (its help says what ``command`` does there) and --scheduler."""
    options = [
        click.option("--system", "user", flag_value=False, default=None, help="System-wide (the default as root)."),
        click.option("--user", "user", flag_value=True, help="For the current user only."),
        click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), help=UNIT_DIR_HELP[command]),
        click.option("--scheduler", type=click.Choice(["auto", "systemd", "cron", "windows"]), default="auto",
                     show_default=True, help="Which scheduler (auto: systemd when it runs, else cron)."),
    ]

    def decorate(func: F) -> F:
        for opt in reversed(options):
            func = opt(func)
        return func

    return decorate


def _state_args(home: Path | None, config_file: Path | None) -> list[str]:
    """Options that make a scheduled command use the same state and configuration as this one."""
    args: list[str] = []
    chosen = home if home is not None else (Path(os.environ[ENV_HOME]) if os.environ.get(ENV_HOME) else None)
    if chosen is not None:
        args += ["--home", str(chosen.resolve())]
    if config_file is not None:
        args += ["--config", str(config_file.resolve())]
    return args


@schedule_group.command("install")
@scope_options("install")
@click.option("--time", "at", metavar="'HH:MM[:SS] [ZONE]'",
              help="Time of day on the second Tuesday [default: 20:00 UTC, after Patch Tuesday's 10:00 Pacific].")
@click.option("--randomized-delay", type=click.IntRange(min=0, max=6 * 24 * 60), metavar="MINUTES",
              help="Spread a fleet's runs over this many minutes [default: 240].")
@click.option("--watch", "watch_paths", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also install a service that runs 'scanner watch PATH...' at boot (repeatable).")
@common_options
@handle_errors
def schedule_install(user: bool | None, unit_dir: Path | None, scheduler: str, at: str | None,
                     randomized_delay: int | None, watch_paths: tuple[Path, ...], home: Path | None,
                     config_file: Path | None) -> None:
    """Install the monthly run (systemd timer, else cron; a Task Scheduler task on Windows)."""
    from scanner.schedule import scheduler as schedule

    make_env(home, config_file)  # a broken config is reported now, not at the first scheduled run
    base = [sys.executable, "-m", "scanner"]
    state_args = _state_args(home, config_file)
    watch = [str(p.resolve()) for p in watch_paths]
    res = schedule.install(
        _schedule_kind(user, scheduler), unit_dir,
        command=[*base, "monthly", *state_args],
        time=at or schedule.DEFAULT_TIME,
        randomized_delay=(dt.timedelta(minutes=randomized_delay) if randomized_delay is not None
                          else schedule.DEFAULT_RANDOMIZED_DELAY),
        watch_paths=watch,
        watch_command=[*base, "watch", *state_args, *watch] if watch else None,
        now=dt.datetime.now(dt.UTC),
    )
    where = res.location or "the user crontab"
    click.echo(f"installed the monthly run ({res.kind.value}) in {where}: {res.calendar}")
    for f in res.files:
        click.echo(f"  wrote {f}")
    for c in res.commands:
        click.echo(f"  {'ran' if res.ran else 'to activate, run'}: {' '.join(c)}")
    if res.next_run is not None:
        click.echo(f"next run: {res.next_run.isoformat()} (plus a random delay of up to {res.randomized_delay})")


@schedule_group.command("remove")
@scope_options("remove")
@log_options
@handle_errors
def schedule_remove(user: bool | None, unit_dir: Path | None, scheduler: str) -> None:
    """Remove the monthly run (and the watch service) that 'schedule install' set up."""
    from scanner.schedule import scheduler as schedule

    res = schedule.remove(_schedule_kind(user, scheduler, unit_dir), unit_dir)
    if not res.removed:
        click.echo("nothing to remove: the monthly run is not installed there")
        return
    for f in res.removed:
        click.echo(f"removed {f}")


@schedule_group.command("status")
@scope_options("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def schedule_status(user: bool | None, unit_dir: Path | None, scheduler: str, fmt: str, home: Path | None,
                    config_file: Path | None) -> None:
    """Installed or not, where, the next run, and the last run's result."""
    from scanner.schedule import scheduler as schedule

    env = make_env(home, config_file)
    last = History(env.state.history).last("monthly")
    last_run = None
    if last is not None and last.started_at is not None and last.exit_code is not None:
        last_run = schedule.LastRun(dt.datetime.fromisoformat(last.started_at), last.exit_code, last.scan_id)
    st = schedule.status(_schedule_kind(user, scheduler, unit_dir), unit_dir, now=dt.datetime.now(dt.UTC),
                         last_run=last_run)
    data = st.to_dict()
    if fmt == "json":
        click.echo(report.dumps(data), nl=False)
        return
    if not data["installed"]:
        click.echo(f"not installed ({data['kind']}, {data['location'] or 'user crontab'})")
    else:
        click.echo(f"installed: {data['kind']} in {data['location'] or 'the user crontab'}")
        click.echo(f"calendar:  {data['calendar']}")
        click.echo(f"next run:  {data['next_run']}")
    lr = data.get("last_run")
    click.echo(f"last run:  {lr['time']} {lr['result']} (scan {lr['scan_id']})" if lr else "last run:  never")


# --- feed (publisher) ------------------------------------------------------------------------------------


@main.group("feed")
def feed_group() -> None:
    """Publish signature sets as a TUF feed (needs the [publish] extra)."""


def _show_feed(status: Any) -> None:
    click.echo(f"feed {status.directory}: serve {status.public}; give clients {status.root_file}")
    for r in status.roles:
        click.echo(f"  {r.role:<9} version {r.version:<4} expires {r.expires:%Y-%m-%d %H:%M} UTC")
    if status.signatures_version:
        click.echo(f"  signatures {status.signatures_version} (sha256 {status.bundle_sha256})")
    for w in status.warnings:
        warn(w)


_keys_option = click.option("--keys", "keys", multiple=True, type=click.Path(file_okay=False, path_type=Path),
                            help="Directory holding role keys (repeatable) [default: DIR/keys].")


@feed_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the four private keys [default: DIR/keys].")
@log_options
@handle_errors
def feed_init(directory: Path, keys_dir: Path | None) -> None:
    """Create a feed in DIRECTORY: Ed25519 keys for root, targets, snapshot, timestamp, and signed metadata."""
    from scanner.updates import publish

    _show_feed(publish.init(directory, keys_dir=keys_dir))


@feed_group.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--signatures", "source", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The signature set directory (rules/, samples/, families.toml).")
@click.option("--version", "version", required=True, help="Version YYYY.MM.N, higher than the last published.")
@_keys_option
@log_options
@handle_errors
def feed_publish(directory: Path, source: Path, version: str, keys: tuple[Path, ...]) -> None:
    """Test the set as clients will, then sign and publish it."""
    from scanner.updates import publish

    _show_feed(publish.publish(directory, source, version, keys=list(keys) or None))


@feed_group.command("refresh")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_keys_option
@log_options
@handle_errors
def feed_refresh(directory: Path, keys: tuple[Path, ...]) -> None:
    """Re-sign the timestamp (weekly; needs only the timestamp key)."""
    from scanner.updates import publish

    _show_feed(publish.refresh(directory, keys=list(keys) or None))


@feed_group.command("rotate-key")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]))
@_keys_option
@log_options
@handle_errors
def feed_rotate_key(directory: Path, role: str, keys: tuple[Path, ...]) -> None:
    """Replace ROLE's key, sign a new root and re-sign what that key signs."""
    from scanner.updates import publish

    _show_feed(publish.rotate_key(directory, role, keys=list(keys) or None))


@feed_group.command("renew-root")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_keys_option
@log_options
@handle_errors
def feed_renew_root(directory: Path, keys: tuple[Path, ...]) -> None:
    """Sign a new root version with a fresh expiry (yearly; needs the root key)."""
    from scanner.updates import publish

    _show_feed(publish.renew_root(directory, keys=list(keys) or None))


@feed_group.command("status")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@log_options
@handle_errors
def feed_status(directory: Path) -> None:
    """Versions and expiry of every role, and the published set."""
    from scanner.updates import publish

    _show_feed(publish.status(directory))


# --- quarantine ----------------------------------------------------------------------------------------


@main.group("quarantine")
def quarantine_group() -> None:
    """List, restore and delete quarantined files (and backups of cleaned persistence files)."""


def _item_lines(item: QuarantineItem) -> list[str]:
    data = item.to_json()
    lines = [f"{k + ':':<17} {v}" for k, v in data.items() if k not in ("original_path_b64",) and v is not None]
    return [line.replace(f"mode:{' ' * 13}{item.mode}", f"mode:{' ' * 13}{item.mode:o}") for line in lines]


@quarantine_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def quarantine_list(fmt: str, home: Path | None, config_file: Path | None) -> None:
    """Every item in the vault, oldest first."""
    vault = open_vault(make_env(home, config_file))
    items = vault.list()
    if fmt == "json":
        click.echo(report.dumps([i.to_json() for i in items]), nl=False)
        return
    if not items:
        click.echo("The quarantine is empty.")
        return
    for i in items:
        when = i.quarantined_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
        what = i.family or i.reason or ""
        say(f"{i.id}  {when}  {i.kind.value:<10}  {what:<18}  {i.display_path}")


@quarantine_group.command("show")
@click.argument("item_id")
@common_options
@handle_errors
def quarantine_show(item_id: str, home: Path | None, config_file: Path | None) -> None:
    """Everything recorded about one item."""
    vault = open_vault(make_env(home, config_file))
    for line in _item_lines(vault.get(item_id)):
        say(line)


@quarantine_group.command("restore")
@click.argument("item_id")
@click.option("--to", "to", type=click.Path(path_type=str), help="Restore to PATH instead of the original place.")
@common_options
@handle_errors
def quarantine_restore(item_id: str, to: str | None, home: Path | None, config_file: Path | None) -> None:
    """Put an item back (verified by SHA-256; never overwrites an existing file)."""
    vault = open_vault(make_env(home, config_file))
    note = vault.get(item_id).restore_note
    path = vault.restore(item_id, to=to)
    say(f"restored {display_path(path)}")
    if note:
        warn(note)


@quarantine_group.command("delete")
@click.argument("item_id")
@common_options
@handle_errors
def quarantine_delete(item_id: str, home: Path | None, config_file: Path | None) -> None:
    """Delete an item from the vault for good."""
    vault = open_vault(make_env(home, config_file))
    vault.delete(item_id)
    say(f"deleted {item_id}")


@quarantine_group.command("purge")
@click.option("--older-than", "days", type=click.IntRange(0, MAX_DAYS), metavar="DAYS",
              help="Delete items older than DAYS [default: the configured retention, 90].")
@common_options
@handle_errors
def quarantine_purge(days: int | None, home: Path | None, config_file: Path | None) -> None:
    """Delete items older than the retention period."""
    env = make_env(home, config_file)
    vault = open_vault(env)
    gone = vault.purge(days if days is not None else env.config.quarantine_retention_days)
    click.echo(f"purged {len(gone)} item(s)")


# --- history and undo --------------------------------------------------------------------------------


@main.command("history")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@handle_errors
def history_cmd(fmt: str, home: Path | None, config_file: Path | None) -> None:
    """Every recorded scan: id, time, type, counts, actions."""
    records = History(make_env(home, config_file).state.history).all()
    if fmt == "json":
        click.echo(report.dumps([r.to_json() for r in records]), nl=False)
        return
    if not records:
        click.echo("No scans recorded yet.")
        return
    for r in records:
        c = r.counts
        acts = sum(1 for o in r.outcomes if o.ok)
        state = (" (undone)" if r.undone_at else " (dry run)" if r.dry_run
                 else " (INCOMPLETE: interrupted or still running; changes not listed are in the quarantine)"
                 if r.incomplete else "")
        say(f"{r.scan_id}  {r.command:<8} {r.scan_type or '':<7} "
            f"files {c.files_scanned:<7} found {c.detections:<4} "
            f"action {r.action or 'report'}: {acts} change(s){state}  exit {r.exit_code}")


@main.command("undo")
@click.argument("scan_id")
@common_options
@handle_errors
def undo_cmd(scan_id: str, home: Path | None, config_file: Path | None) -> None:
    """Reverse everything scan SCAN_ID changed: restore its files and persistence entries.

    Processes it terminated are not restarted. A scan that was interrupted, or whose record could
    not be written, is undone from what the quarantine holds under its scan id.
    """
    done = pipeline.undo(make_env(home, config_file).state, scan_id)
    for line in done.notices:
        warn(line)
    match done.status:
        case pipeline.UndoStatus.ALREADY_UNDONE:
            say(f"scan {scan_id} was already undone at {done.record.undone_at}; nothing to do")
        case pipeline.UndoStatus.NOTHING_TO_UNDO:
            say(f"scan {scan_id} changed nothing; nothing to undo")
        case pipeline.UndoStatus.UNDONE:
            assert done.result is not None
            for line in done.result.restored:
                say(line)
            for line in done.result.notes:
                say(f"note: {line}")
            for line in done.result.problems:
                say(f"problem: {line}", err=True)
            if done.result.problems:
                fail(f"undo of {scan_id} was incomplete: {len(done.result.problems)} problem(s)", done.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
