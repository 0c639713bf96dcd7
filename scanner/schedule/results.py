"""What install, remove and status are given and give back: typed values, no I/O.

:class:`InstallRequest` is a checked install request handed to one scheduler's module;
:class:`InstallResult`, :class:`RemoveResult` and :class:`ScheduleStatus` say what was written,
deleted, run or found; :class:`LastRun` is the latest monthly run from the scan history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from scanner.schedule.calendar import CalendarSpec
from scanner.schedule.kinds import ScheduleKind


@dataclass(frozen=True)
class InstallRequest:
    """A checked request to install the monthly run (and the watch) with one scheduler."""

    kind: ScheduleKind
    """The scheduler to use."""
    spec: CalendarSpec
    """When the run fires (the second Tuesday at the chosen time)."""
    delay: timedelta
    """Up to how long after ``spec`` the run may start (0 .. MAX_RANDOMIZED_DELAY)."""
    command: tuple[str, ...]
    """The monthly command."""
    watch_paths: tuple[str, ...]
    """Absolute folders for the boot-time watch; empty for no watch."""
    watch_command: tuple[str, ...] | None
    """The watch command; None exactly when ``watch_paths`` is empty."""
    now: datetime
    """The moment the next run is computed from (aware)."""
    zone: tzinfo
    """The host's local zone (cron and Windows run in local time)."""


@dataclass(frozen=True)
class LastRun:
    """The latest monthly run, as the scan history recorded it."""

    time: datetime
    """When the run started (aware)."""
    exit_code: int
    """Its exit code: 0 clean, 1 found, 2 error, 3 found and an action failed."""
    scan_id: str
    """The history identifier of the scan."""

    @property
    def result(self) -> str:
        """The exit code in words."""
        return {0: "clean", 1: "found", 2: "error", 3: "action-failed"}.get(self.exit_code, f"exit {self.exit_code}")


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` wrote and did."""

    kind: ScheduleKind
    """The scheduler used."""
    location: Path | None
    """The directory the definitions went to; None for the user crontab."""
    files: tuple[Path, ...]
    """Files written (empty for the user crontab)."""
    calendar: str
    """When the job fires, as a calendar expression in the scheduler's own clock."""
    next_run: datetime | None
    """The next run after ``now`` (before any random delay)."""
    randomized_delay: timedelta
    """Up to how long after ``calendar`` the run may start, to spread a fleet."""
    watch_paths: tuple[str, ...]
    """Folders the boot-time watch covers; empty when no watch was installed."""
    removed: tuple[Path, ...]
    """Stale files of an earlier install that were removed (a watch no longer wanted)."""
    commands: tuple[tuple[str, ...], ...]
    """External commands that activate the schedule, in order."""
    ran: bool
    """Whether ``commands`` were run; if not, a packager or the caller runs them."""


@dataclass(frozen=True)
class RemoveResult:
    """What ``remove`` deleted and did."""

    kind: ScheduleKind
    """The scheduler used."""
    location: Path | None
    """The directory looked in; None for the user crontab."""
    removed: tuple[Path, ...]
    """Files deleted (empty if nothing was installed, and for the user crontab)."""
    commands: tuple[tuple[str, ...], ...]
    """External commands that deactivate the schedule, in order."""
    ran: bool
    """Whether ``commands`` were run."""


@dataclass(frozen=True)
class ScheduleStatus:
    """Whether the monthly run is set up, where, and when it runs next."""

    installed: bool
    """Whether our definition of the monthly run is present."""
    kind: ScheduleKind
    """The scheduler looked at."""
    location: Path | None
    """The directory looked in; None for the user crontab."""
    files: tuple[Path, ...] = ()
    """Our files found there."""
    calendar: str | None = None
    """When the job fires, in the scheduler's own clock."""
    next_run: datetime | None = None
    """The next elapse after ``now`` (before any random delay); None when not installed."""
    randomized_delay: timedelta | None = None
    """Up to how long after the elapse the run may start."""
    command: tuple[str, ...] = ()
    """The command the job runs."""
    watch_paths: tuple[str, ...] = ()
    """Folders the boot-time watch covers; empty when no watch is installed."""
    last_run: LastRun | None = None
    """The latest monthly run from the history, if any."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering; times are ISO 8601 (``next_run``, ``last_run.time``)."""
        last = None
        if self.last_run is not None:
            last = {
                "time": self.last_run.time.isoformat(),
                "exit_code": self.last_run.exit_code,
                "result": self.last_run.result,
                "scan_id": self.last_run.scan_id,
            }
        return {
            "installed": self.installed,
            "kind": self.kind.value,
            "location": None if self.location is None else os.fsdecode(self.location),
            "files": [os.fsdecode(f) for f in self.files],
            "calendar": self.calendar,
            "next_run": None if self.next_run is None else self.next_run.isoformat(),
            "randomized_delay_sec": None
            if self.randomized_delay is None
            else int(self.randomized_delay.total_seconds()),
            "command": list(self.command),
            "watch_paths": list(self.watch_paths),
            "last_run": last,
        }
