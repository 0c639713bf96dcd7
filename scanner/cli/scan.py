"""``scanner scan`` and ``scanner monthly``: options in, a ``jobs`` pipeline run, the report out,
and the pipeline's exit code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from scanner import jobs as pipeline
from scanner import report
from scanner.cli.app import (
    EXIT_CODES_HELP,
    Env,
    common_options,
    fail,
    handle_errors,
    main,
    make_env,
    min_severity_option,
    rules_options,
    say,
    warn,
)
from scanner.cli.render import ProgressLine, emit, render
from scanner.cli.signatures import feed_settings
from scanner.config import MAX_JOBS, MAX_SECONDS, check_range, parse_size
from scanner.errors import UsageError
from scanner.model import Action, OutputFormat, ScanType, Severity

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


@main.command(epilog=EXIT_CODES_HELP)
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
@rules_options
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
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format."
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
    exclude: tuple[str, ...],
    one_file_system: bool,
    max_filesize: int | None,
    timeout: int | None,
    jobs: int | None,
    fmt: str,
    output: Path | None,
    progress: bool,
    processes: bool | None,
    pids: tuple[int, ...],
    action: str | None,
    action_min_severity: str | None,
    dry_run: bool,
    force: bool,
    no_cache: bool,
    no_archives: bool,
    home: Path | None,
    config_file: Path | None,
) -> None:
    """Scan PATHs (or, with none, a quick scan) and report what is found."""
    if quick and full:
        fail("--quick and --full cannot be used together: choose one")
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
        no_archives=no_archives,
    )
    env = make_env(home, config_file)
    for w in pipeline.missing_paths(options):
        warn(w)
    loaded = pipeline.load_rules(env.state, env.config, rules, not no_default_rules)
    for w in loaded.warnings:
        warn(w)
    show = ProgressLine() if progress and sys.stderr.isatty() else None
    done = run_job(env, pipeline.scan_job(env.state, env.config, options, loaded), show)
    emit(render(done.report, OutputFormat(fmt)), output)
    if output is not None:
        say(f"report written to {output}", err=True)
    sys.exit(done.exit_code)


def run_job(env: Env, job: pipeline.Job, progress: ProgressLine | None = None) -> pipeline.JobResult:
    """Run the scan-and-act pipeline; its notices are warnings (a record not written: "NOT RECORDED")."""
    done = pipeline.run(job, env.state, progress=progress)
    for line in done.notices:
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
        no_archives=no_archives,
    )
    done = pipeline.monthly(env.state, env.config, request)
    for line in done.notices:
        warn(line)
    result = done.report
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
