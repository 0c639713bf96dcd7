"""``scanner schedule`` (install, remove, status): the monthly run (and the watch service) in
systemd, cron or the Windows Task Scheduler, through ``scanner.schedule``."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner import report
from scanner.cli.app import F, common_options, fleet_options, handle_errors, log_options, main, make_env, make_reporter
from scanner.history import History
from scanner.state import ENV_HOME

if TYPE_CHECKING:  # imported where used: the other commands start faster without the scheduler
    from scanner.schedule.scheduler import ScheduleKind


@main.group("schedule")
def schedule_group() -> None:
    """Install, remove or inspect the monthly run (second Tuesday of each month, like MSRT)."""


def _schedule_kind(user: bool | None, scheduler: str, found_in: Path | None = None) -> ScheduleKind:
    """The scheduler kind; with --scheduler auto and ``found_in`` (status and remove with --unit-dir),
    the kind whose definitions are in that folder."""
    from scanner import programs
    from scanner.schedule import scheduler as schedule

    systemd = programs.systemd_booted() if scheduler == "auto" else scheduler == "systemd"
    platform = "win32" if scheduler == "windows" else sys.platform
    euid = os.geteuid() if hasattr(os, "geteuid") else None  # Windows has no euid (nor root)
    kind = schedule.default_kind(user=user, euid=euid, systemd=systemd, platform=platform)
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
        click.option(
            "--scheduler",
            type=click.Choice(["auto", "systemd", "cron", "windows"]),
            default="auto",
            show_default=True,
            help="Which scheduler (auto: systemd when it runs, else cron).",
        ),
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


def _fleet_args(events: tuple[str, ...], metrics_dir: Path | None) -> list[str]:
    """The --events and --metrics-dir options of the scheduled commands."""
    args = [f"--events={url}" for url in events]
    if metrics_dir is not None:
        args.append(f"--metrics-dir={metrics_dir.resolve()}")
    return args


@schedule_group.command("install")
@scope_options("install")
@click.option(
    "--time",
    "at",
    metavar="'HH:MM[:SS] [ZONE]'",
    help="Time of day on the second Tuesday [default: 20:00 UTC, after Patch Tuesday's 10:00 Pacific].",
)
@click.option(
    "--randomized-delay",
    type=click.IntRange(min=0, max=6 * 24 * 60),
    metavar="MINUTES",
    help="Spread a fleet's runs over this many minutes [default: 240].",
)
@click.option(
    "--watch",
    "watch_paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also install a service that runs 'scanner watch PATH...' at boot (repeatable).",
)
@fleet_options
@common_options
@handle_errors
def schedule_install(
    user: bool | None,
    unit_dir: Path | None,
    scheduler: str,
    at: str | None,
    randomized_delay: int | None,
    watch_paths: tuple[Path, ...],
    events: tuple[str, ...],
    metrics_dir: Path | None,
    home: Path | None,
    config_file: Path | None,
) -> None:
    """Install the monthly run (systemd timer, else cron; a Task Scheduler task on Windows).

    The scheduled commands read the same configuration, so its [events] and [metrics] apply to them;
    --events and --metrics-dir given here are added to both commands.
    """
    from scanner.schedule import scheduler as schedule

    env = make_env(home, config_file)  # a broken config is reported now, not at the first scheduled run
    make_reporter(env, events, metrics_dir)  # so is a sink URL that is not valid
    base = [sys.executable, "-m", "scanner"]
    state_args = _state_args(home, config_file) + _fleet_args(events, metrics_dir)
    watch = [str(p.resolve()) for p in watch_paths]
    res = schedule.install(
        _schedule_kind(user, scheduler),
        unit_dir,
        command=[*base, "monthly", *state_args],
        time=at or schedule.DEFAULT_TIME,
        randomized_delay=(
            dt.timedelta(minutes=randomized_delay)
            if randomized_delay is not None
            else schedule.DEFAULT_RANDOMIZED_DELAY
        ),
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
def schedule_status(
    user: bool | None, unit_dir: Path | None, scheduler: str, fmt: str, home: Path | None, config_file: Path | None
) -> None:
    """Installed or not, where, the next run, and the last run's result."""
    from scanner.schedule import scheduler as schedule

    env = make_env(home, config_file)
    last = History(env.state.history).last("monthly")
    last_run = None
    if last is not None and last.started_at is not None and last.exit_code is not None:
        last_run = schedule.LastRun(dt.datetime.fromisoformat(last.started_at), last.exit_code, last.scan_id)
    st = schedule.status(
        _schedule_kind(user, scheduler, unit_dir), unit_dir, now=dt.datetime.now(dt.UTC), last_run=last_run
    )
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
