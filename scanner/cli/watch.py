"""``scanner watch``: watch folders until SIGTERM or Ctrl-C, one line per event (text or JSON),
through ``scanner.watch.service``."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import click

from scanner import jobs as pipeline
from scanner import report
from scanner.cli.app import (
    common_options,
    fleet_options,
    handle_errors,
    main,
    make_env,
    make_reporter,
    min_severity_option,
    rules_options,
    stdout_closed,
    stdout_to_devnull,
    strict_option,
)
from scanner.config import MAX_JOBS
from scanner.model import Action, Severity

WATCH_EXIT_CODES_HELP = """\b
Exit codes:
  0  stopped by SIGTERM or Ctrl-C, nothing left undone
  2  could not start (bad folders, rules or options), could not keep watching,
     or could not save what was left at the stop
  3  stopped with detected files not yet quarantined (saved; the next watch takes them up)
"""


@main.command("watch", epilog=WATCH_EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option(
    "--action",
    type=click.Choice([Action.QUARANTINE.value, Action.REPORT.value]),
    default=Action.QUARANTINE.value,
    show_default=True,
    help="quarantine (restorable) what is found, or only report it.",
)
@min_severity_option(
    "Quarantine only detections at least this severe [default: [scan] action_min_severity, else high "
    "for --rules collections and every severity for the scanner's own signatures]."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="One line per event: readable text, or one JSON object.",
)
@rules_options()
@strict_option
@click.option("--initial-scan", is_flag=True, help="Also scan what is already in the folders at start.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Do not scan matching paths (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), help="Scanning threads [default: CPU count].")
@fleet_options
@click.option("--no-archives", is_flag=True, help="Match archives as files only, without looking inside.")
@common_options
@handle_errors
def watch_cmd(
    paths: tuple[str, ...],
    action: str,
    action_min_severity: str | None,
    fmt: str,
    rules: tuple[Path, ...],
    no_default_rules: bool,
    strict: bool | None,
    initial_scan: bool,
    exclude: tuple[str, ...],
    jobs: int | None,
    events: tuple[str, ...],
    metrics_dir: Path | None,
    no_archives: bool,
    home: Path | None,
    config_file: Path | None,
) -> None:
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
    fleet = make_reporter(env, events, metrics_dir)
    cfg = env.config
    config = WatchConfig(
        paths=paths,
        state=env.state,
        action=Action(action),
        rules=rules,
        use_default_rules=not no_default_rules,
        strict_rules=cfg.strict_rules if strict is None else strict,
        prepare_routes=cfg.prepare_routes,
        initial_scan=initial_scan,
        jobs=jobs or cfg.jobs or os.cpu_count() or 1,
        timeout=cfg.timeout,
        max_filesize=cfg.max_filesize,
        excludes=cfg.excludes + exclude,
        archives=pipeline.archive_limits(env.state, cfg, no_archives),
        max_signature_age_days=cfg.max_signature_age_days,
        kill_grace=cfg.kill_grace,
        action_min_severity=Severity(action_min_severity) if action_min_severity else cfg.action_min_severity,
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
        code = run_watch(config, emit=show, stop=stop, systemctl=pipeline.run_systemctl, fleet=fleet)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    sys.exit(code)
