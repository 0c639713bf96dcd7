"""``scanner scan`` and ``scanner monthly``: options in, a ``jobs`` pipeline run, the report out,
and the pipeline's exit code."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from scanner import jobs as pipeline
from scanner import report
from scanner.cli.app import (
    EXIT_CODES_HELP,
    LOG_FLAG,
    Env,
    common_options,
    fail,
    fleet_options,
    handle_errors,
    main,
    make_env,
    make_reporter,
    min_severity_option,
    rules_options,
    say,
    strict_option,
    warn,
)
from scanner.cli.clamcompat import (
    STDIN,
    Clamscan,
    ClamscanCommand,
    clamscan_options,
    glob_warnings,
    listed_paths,
    read_stdin,
)
from scanner.cli.render import ProgressLine, emit, render
from scanner.cli.signatures import feed_settings
from scanner.config import DEFAULT_MAX_FILESIZE, MAX_JOBS, MAX_SECONDS, OUTPUT_FORMATS, check_range, parse_size
from scanner.errors import UsageError
from scanner.fleet.reporter import Reporter
from scanner.model import Action, OutputFormat, ScanReport, ScanType, Severity, display_path
from scanner.safefs import append_to

logger = logging.getLogger(__name__)

MAX_PID = 1 << 22
"""Linux's largest possible process id (PID_MAX_LIMIT): the bound of --pid."""


NO_ARCHIVES_HELP = "Match archives as files only, without looking inside ([archives] scan = false)."


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        size = parse_size(value)
        check_range("max_filesize", size)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc
    return size


@main.command(cls=ClamscanCommand, epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--quick", is_flag=True, help="Where malware drops and persists (the default when no PATH is given).")
@click.option(
    "--full",
    is_flag=True,
    help="Every local filesystem, /dev/shm included (not the rest of /dev, /proc, /sys or network "
    "mounts unless named).",
)
@click.option(
    "--sysroot",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Treat DIR as the filesystem root for quick and full scan locations.",
)
@rules_options(database=True)
@strict_option
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Do not scan matching paths; a GLOB with '/' matches the whole path, else the name (repeatable).",
)
@click.option("--one-file-system", is_flag=True, help="Do not cross into other filesystems below a root.")
@click.option(
    "--max-filesize",
    callback=_size,
    metavar="SIZE",
    help="Skip larger files, e.g. 256M; 0: no limit; at most 1T [default: 256M]. "
    "A skipped file makes the result incomplete.",
)
@click.option(
    "--timeout", type=click.IntRange(1, MAX_SECONDS), metavar="SECONDS", help="Per-file timeout [default: 60]."
)
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), help="Scanning threads [default: CPU count].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(OUTPUT_FORMATS),
    help="Report format; clamscan: 'PATH: NAME FOUND' lines and its summary [default: [scan] format, else text].",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress on stderr (only when it is a terminal)."
)
@click.option(
    "--processes/--no-processes",
    default=None,
    help="Scan running processes (image and memory) [default: on for quick and full scans].",
)
@click.option(
    "--pid",
    "pids",
    multiple=True,
    type=click.IntRange(1, MAX_PID),
    help="Scan this process (repeatable); no files are scanned unless PATHs are given too.",
)
@click.option(
    "--action",
    type=click.Choice([a.value for a in Action]),
    help="report: change nothing; quarantine: kill, move into the vault, clean persistence; "
    "remove: the same but delete files [default: report].",
)
@min_severity_option()
@click.option("--dry-run", is_flag=True, help="Print what the action would do; change nothing.")
@click.option("--force", is_flag=True, help="Also move detected files that an installed OS package owns.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Read every file, even one judged before and unchanged since (a full scan always does).",
)
@fleet_options
@clamscan_options
@click.option("--no-archives", is_flag=True, help=NO_ARCHIVES_HELP)
@common_options
@handle_errors
def scan(
    paths: tuple[str, ...],
    quick: bool,
    full: bool,
    sysroot: Path,
    rules: tuple[Path, ...],
    no_default_rules: bool,
    strict: bool | None,
    exclude: tuple[str, ...],
    one_file_system: bool,
    max_filesize: int | None,
    timeout: int | None,
    jobs: int | None,
    fmt: str | None,
    output: Path | None,
    progress: bool,
    processes: bool | None,
    pids: tuple[int, ...],
    action: str | None,
    action_min_severity: str | None,
    dry_run: bool,
    force: bool,
    no_cache: bool,
    events: tuple[str, ...],
    metrics_dir: Path | None,
    no_archives: bool,
    home: Path | None,
    config_file: Path | None,
    **compat: Any,
) -> None:
    """Scan PATHs (or, with none, a quick scan) and report what is found.

    A PATH of '-' scans standard input as one file (reported as 'stdin'); clamscan's options are
    accepted too (see 'Coming from clamscan' in the README).
    """
    if quick and full:
        fail("--quick and --full cannot be used together: choose one")
    clam = Clamscan.of(compat)
    action = clamscan_action(action, clam)
    stdin = None
    if STDIN in paths:
        paths = tuple(p for p in paths if p != STDIN)
        stdin = read_stdin(max_filesize if max_filesize is not None else DEFAULT_MAX_FILESIZE)
    if clam.file_list is not None:
        paths = (*paths, *listed_paths(clam.file_list, clam.null))
    env = make_env(home, config_file)
    fmt = fmt or env.config.output_format
    verbose = click.get_current_context().meta.get(LOG_FLAG) is not None
    warn_ = (lambda _w: None) if clam.quiet else warn
    options = pipeline.ScanOptions(
        paths=paths,
        scan_type=ScanType.QUICK if quick else ScanType.FULL if full else None,
        sysroot=sysroot,
        excludes=exclude,
        one_file_system=one_file_system,
        max_filesize=max_filesize,
        timeout=timeout,
        jobs=jobs,
        processes=processes,
        pids=pids,
        action=Action(action) if action else None,
        action_min_severity=Severity(action_min_severity) if action_min_severity else None,
        force=force,
        dry_run=dry_run,
        no_cache=no_cache,
        regex=clam.regex,
        modified_since_days=clam.modified_since,
        stdin=stdin,
        on_clean=clean_lines(output) if fmt == "clamscan" and verbose and not (clam.infected or clam.quiet) else None,
        vault_dir=clam.move_dir,
        no_archives=no_archives,
    )
    fleet = make_reporter(env, events, metrics_dir)
    for w in [*glob_warnings(exclude), *pipeline.missing_paths(options)]:
        warn_(w)
    loaded = pipeline.load_rules(env.state, env.config, rules, not no_default_rules, strict=strict)
    for w in loaded.warnings:
        warn_(w)
    show = ProgressLine() if progress and sys.stderr.isatty() and not clam.quiet else None
    done = run_job(env, pipeline.scan_job(env.state, env.config, options, loaded), show, fleet, quiet=clam.quiet)
    text = render_report(done.report, fmt, clam)
    if clam.log_file is not None:
        append_log(clam.log_file, text)
    if not clam.quiet or output is not None:
        emit(text, output)
    if output is not None and not clam.quiet:
        say(f"report written to {output}", err=True)
    if (problem := pipeline.after_scan_hook(env.config, done.report)) is not None:
        warn(problem)
    sys.exit(done.exit_code)


def clamscan_action(action: str | None, clam: Clamscan) -> str | None:
    """--action, or what --remove or --move ask for (UsageError when they disagree)."""
    asked = [name for name, on in (("--remove", clam.remove), ("--move", clam.move_dir is not None)) if on]
    if len(asked) > 1:
        raise UsageError("--remove and --move cannot be used together: choose one")
    if not asked:
        return action
    implied = Action.REMOVE.value if clam.remove else Action.QUARANTINE.value
    if action is not None and action != implied:
        raise UsageError(f"{asked[0]} means --action {implied}; it cannot be used with --action {action}")
    logger.info("%s: action %s", asked[0], implied)
    return implied


def clean_lines(output: Path | None) -> Callable[[str], None] | None:
    """clamscan's ``PATH: OK`` line for each clean file, printed as it is found (not with -o FILE)."""
    if output is not None:
        return None
    lock = threading.Lock()

    def ok(path: str) -> None:
        with lock:
            say(f"{display_path(path)}: OK")

    return ok


def render_report(result: ScanReport, fmt: str, clam: Clamscan) -> str:
    """The report in ``fmt`` (text, json or clamscan), with -i and --no-summary applied."""
    if fmt == "clamscan":
        return report.render_clamscan(result, summary=not clam.no_summary)
    if fmt == "text":
        return report.render_text(result, summary=not clam.no_summary, infected_only=clam.infected)
    return render(result, OutputFormat(fmt))


def append_log(path: Path, text: str) -> None:
    """--log=FILE: append the report (a regular file, a device or a FIFO; never replaced)."""
    try:
        append_to(path, text.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        fail(f"cannot append the report to {path}: {exc.strerror or exc}")


def run_job(
    env: Env,
    job: pipeline.Job,
    progress: ProgressLine | None = None,
    fleet: Reporter | None = None,
    *,
    quiet: bool = False,
) -> pipeline.JobResult:
    """Run the scan-and-act pipeline; its notices are warnings (a record not written: "NOT RECORDED", said
    even with --quiet, as something changed may not be undoable from the history; events dropped by a sink
    that is down)."""
    done = pipeline.run(job, env.state, progress=progress, fleet=fleet)
    for line in done.notices:
        if not quiet or line.startswith("NOT RECORDED"):
            warn(line)
    return done


@main.command("monthly", epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Also use these rules: a .yar/.yara file or a directory of them (repeatable; added to [monthly] rules).",
)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="URL",
    help="Feed base URL (repeatable) [default: config, else the one remembered by 'scanner update'].",
)
@click.option(
    "--trusted-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The feed's root.json trust anchor; default: the one kept in the state directory.",
)
@click.option(
    "--sysroot",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Filesystem root to scan.",
)
@click.option(
    "--processes/--no-processes",
    default=None,
    help="Scan running processes [default: on, unless --sysroot names another root].",
)
@click.option(
    "--action",
    type=click.Choice([a.value for a in Action]),
    help="What to do with what is found [default: quarantine, restorable with 'scanner undo'].",
)
@min_severity_option()
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON report to FILE.",
)
@click.option("--no-cache", is_flag=True, help="Read every file, even one judged before and unchanged since.")
@fleet_options
@strict_option
@click.option("--no-archives", is_flag=True, help=NO_ARCHIVES_HELP)
@common_options
@handle_errors
def monthly(
    paths: tuple[str, ...],
    rules: tuple[Path, ...],
    feeds: tuple[str, ...],
    trusted_root: Path | None,
    sysroot: Path,
    processes: bool | None,
    action: str | None,
    action_min_severity: str | None,
    report_file: Path | None,
    no_cache: bool,
    events: tuple[str, ...],
    metrics_dir: Path | None,
    strict: bool | None,
    no_archives: bool,
    home: Path | None,
    config_file: Path | None,
) -> None:
    """The unattended monthly run: update signatures, quick scan with processes, remediate, log.

    PATHs (and [monthly] paths in the config; as seen from here, not under --sysroot) are scanned too,
    such as web roots outside the usual places; a missing one is a warning. A failed update is logged as
    a warning and the run goes on with the current set.
    """
    from scanner.updates import feed as feed_mod

    env = make_env(home, config_file)
    fleet = make_reporter(env, events, metrics_dir)
    settings, configured_root = feed_settings(env, feeds, None)
    request = pipeline.MonthlyRequest(
        paths=paths,
        rules=rules,
        feed=settings if feed_mod.feed_available(settings) else None,
        trusted_root=trusted_root or configured_root,
        remember_feed=bool(feeds),
        sysroot=sysroot,
        processes=processes,
        action=Action(action) if action else None,
        action_min_severity=Severity(action_min_severity) if action_min_severity else None,
        no_cache=no_cache,
        strict_rules=strict,
        no_archives=no_archives,
    )
    done = pipeline.monthly(env.state, env.config, request, fleet=fleet)
    for line in done.notices:
        warn(line)
    result = done.report
    if (problem := pipeline.after_scan_hook(env.config, result)) is not None:
        warn(problem)
    if report_file is not None:
        emit(render(result, OutputFormat.JSON), report_file)
    for w in result.warnings:
        warn(w)
    c = result.counts
    say(
        f"monthly run {result.scan_id}: signatures {result.signatures.version}, {c.files_scanned} files, "
        f"{c.processes_scanned} processes, {c.detections} detection(s): "
        f"{report.result_words(result)}; log: {env.state.scan_log}"
    )
    sys.exit(result.exit_code)
