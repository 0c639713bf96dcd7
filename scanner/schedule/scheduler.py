"""The schedule's public API: install, remove and inspect the monthly run with the host's scheduler.

:func:`install`, :func:`remove` and :func:`status` check what they are asked, find where the chosen
scheduler keeps its definitions (:mod:`.kinds`), and hand over to that scheduler's module:
:mod:`.systemd`, :mod:`.cron` or :mod:`.windows`. :func:`default_kind` and :func:`kind_in_dir`
choose the scheduler. Every location is a parameter so tests and packagers can write into a
directory of their choosing; calls to ``systemctl``, ``crontab`` and ``schtasks`` go through
:mod:`scanner.programs`.
"""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from scanner.errors import ScheduleError
from scanner.model import utc_now
from scanner.schedule import cron, kinds, systemd, windows
from scanner.schedule.calendar import DEFAULT_TIME, local_zone, monthly_spec
from scanner.schedule.definitions import check_argv, read_ours
from scanner.schedule.kinds import Plan, ScheduleKind, default_kind, kind_in_dir
from scanner.schedule.results import InstallRequest, InstallResult, LastRun, RemoveResult, ScheduleStatus

__all__ = [
    "DEFAULT_RANDOMIZED_DELAY",
    "DEFAULT_TIME",
    "MAX_RANDOMIZED_DELAY",
    "InstallResult",
    "LastRun",
    "RemoveResult",
    "ScheduleKind",
    "ScheduleStatus",
    "default_kind",
    "install",
    "kind_in_dir",
    "remove",
    "status",
]

logger = logging.getLogger(__name__)

DEFAULT_RANDOMIZED_DELAY = timedelta(hours=4)
# Cron and Windows hosts express the run in local time, so the delay may move it by days; beyond
# this the "second Tuesday" rule stops meaning anything.
MAX_RANDOMIZED_DELAY = timedelta(days=6)


def default_command(action: str = "monthly", *extra: str) -> tuple[str, ...]:
    """``<python> -m scanner <action> ...``: works whether or not the console script is on PATH."""
    return (sys.executable, "-m", "scanner", action, *extra)


def _require_root(kind: ScheduleKind, unit_dir: Path | None, euid: int | None) -> None:
    if unit_dir is not None or kind not in (ScheduleKind.SYSTEMD_SYSTEM, ScheduleKind.CRON):
        return
    uid = euid if euid is not None else (os.geteuid() if hasattr(os, "geteuid") else 0)
    if uid != 0:
        raise ScheduleError(f"a {kind.value} schedule needs root; run as root or use --user")


def _require_windows(kind: ScheduleKind, plan: Plan, platform: str) -> None:
    if kind is ScheduleKind.WINDOWS_TASK and plan.managed and not platform.startswith("win"):
        raise ScheduleError("Windows tasks can only be registered on Windows; pass --unit-dir to write the task file")


def _check_delay(delay: timedelta) -> timedelta:
    if delay < timedelta(0) or delay > MAX_RANDOMIZED_DELAY:
        raise ScheduleError(
            f"the randomized delay must be between 0 and {systemd.format_timespan(MAX_RANDOMIZED_DELAY)}"
        )
    return delay


def _watch_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[str, ...]:
    # Absolute paths never start with "-", so the watch command cannot mistake one for an option.
    result = tuple(os.path.abspath(os.fspath(p)) for p in paths)
    for path in result:
        if any(ch in path for ch in "\0\n\r"):
            raise ScheduleError(f"watch path {path!r} contains a line break or NUL; rename the folder")
    return result


def install(
    kind: ScheduleKind,
    unit_dir: Path | None = None,
    command: Sequence[str] | None = None,
    time: str = DEFAULT_TIME,
    randomized_delay: timedelta = DEFAULT_RANDOMIZED_DELAY,
    watch_paths: Sequence[str | os.PathLike[str]] = (),
    run_systemctl: bool | None = None,
    *,
    watch_command: Sequence[str] | None = None,
    now: datetime | None = None,
    zone: tzinfo | None = None,
    euid: int | None = None,
    rng: random.Random | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
) -> InstallResult:
    """Set up the monthly run (and, with ``watch_paths``, the boot-time watch) for ``kind``.

    ``unit_dir`` replaces the default location; then the host's scheduler is left alone unless
    ``run_systemctl`` is True. ``command`` defaults to ``<python> -m scanner monthly`` and
    ``watch_command`` to ``<python> -m scanner watch PATH...``. ``zone`` is the host's local zone
    (cron and Windows run in local time), ``rng`` picks cron's fixed per-host delay. Installing again
    replaces the earlier definition.
    """
    spec = monthly_spec(time)
    delay = _check_delay(randomized_delay)
    monthly_cmd = check_argv(command if command is not None else default_command(), "monthly")
    paths = _watch_paths(watch_paths)
    watch_cmd: tuple[str, ...] | None = None
    if paths:
        watch_cmd = check_argv(
            watch_command if watch_command is not None else default_command("watch", *paths), "watch"
        )
    _require_root(kind, unit_dir, euid)
    plan = kinds.plan(kind, unit_dir, run_systemctl, environ)
    _require_windows(kind, plan, platform)
    local = zone if zone is not None else local_zone(environ)
    request = InstallRequest(kind, spec, delay, monthly_cmd, paths, watch_cmd, now or utc_now(), local)
    logger.info(
        "installing the monthly run (%s) in %s, %s the scheduler; watch: %s",
        kind.value,
        plan.location or "the user crontab",
        "telling" if plan.managed else "not telling",
        ", ".join(paths) or "none",
    )
    if kind.is_systemd:
        return systemd.install(request, plan)
    if kind is ScheduleKind.WINDOWS_TASK:
        return windows.install(request, plan)
    return cron.install(request, plan, rng or random.SystemRandom())


def remove(
    kind: ScheduleKind,
    unit_dir: Path | None = None,
    run_systemctl: bool | None = None,
    *,
    euid: int | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
) -> RemoveResult:
    """Undo ``install``: stop and disable what it set up, then delete its files.

    Removing what is not installed is not an error (``removed`` is empty). A file of ours that was
    replaced by someone else's is left alone with an error.
    """
    _require_root(kind, unit_dir, euid)
    plan = kinds.plan(kind, unit_dir, run_systemctl, environ)
    _require_windows(kind, plan, platform)
    logger.info("removing the monthly run (%s) from %s", kind.value, plan.location or "the user crontab")
    if kind is ScheduleKind.CRON_USER:
        return cron.remove_user(plan)
    present = [p for p in (*plan.monthly, *plan.watch) if read_ours(p) is not None]
    if kind.is_systemd:
        return systemd.remove(kind, plan, present)
    if kind is ScheduleKind.WINDOWS_TASK:
        return windows.remove(plan, present)
    return cron.remove(plan, present)


def status(
    kind: ScheduleKind,
    unit_dir: Path | None = None,
    *,
    now: datetime,
    last_run: LastRun | None = None,
    zone: tzinfo | None = None,
    environ: Mapping[str, str] | None = None,
) -> ScheduleStatus:
    """Whether the monthly run of ``kind`` is installed, where, and when it runs next after ``now``.

    ``last_run`` comes from the scan history (the caller's); ``zone`` is the host's local zone.
    Reads files only, except for the user crontab, which is read with ``crontab -l``.
    """
    plan = kinds.plan(kind, unit_dir, None, environ)
    local = zone if zone is not None else local_zone(environ)
    if kind is ScheduleKind.CRON_USER:
        return cron.user_status(plan, now, local, last_run)
    found = plan.read()
    if found.monthly is None:
        logger.info("the monthly run (%s) is not installed in %s", kind.value, plan.location)
        return ScheduleStatus(False, kind, plan.location, found.files, last_run=last_run)
    if kind is ScheduleKind.CRON:
        return cron.status(plan, found, now, local, last_run)
    if kind.is_systemd:
        return systemd.status(kind, plan, found, now, local, last_run)
    return windows.status(plan, found, now, local, last_run)
