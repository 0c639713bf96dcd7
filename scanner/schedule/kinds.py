"""Which host scheduler carries the monthly run, and where each one keeps its definitions.

A :class:`ScheduleKind` names the scheduler (systemd system or user manager, /etc/cron.d, a user
crontab, Windows Task Scheduler); :func:`default_kind` picks one for this host, :func:`kind_in_dir`
the one already installed in a folder, and :func:`plan` lays out the files each kind reads and writes.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import ScheduleError
from scanner.schedule.definitions import read_meta, read_ours

logger = logging.getLogger(__name__)

MONTHLY_UNIT = "scanner-monthly"
WATCH_UNIT = "scanner-watch"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
CRON_DIR = Path("/etc/cron.d")
CRON_FILE_NAME = "scanner"
USER_CRONTAB_FILE_NAME = "crontab"


class ScheduleKind(enum.Enum):
    """Which host scheduler carries the monthly run."""

    SYSTEMD_SYSTEM = "systemd-system"
    """A system-wide systemd timer (root), in /etc/systemd/system."""
    SYSTEMD_USER = "systemd-user"
    """A timer of the invoking user's systemd instance, in ~/.config/systemd/user."""
    CRON = "cron"
    """A file in /etc/cron.d (root, hosts without systemd)."""
    CRON_USER = "cron-user"
    """A block in the invoking user's crontab (hosts without systemd)."""
    WINDOWS_TASK = "windows-task"
    """A Windows Task Scheduler task running as SYSTEM."""

    @property
    def is_systemd(self) -> bool:
        """Whether units and systemctl are involved."""
        return self in (ScheduleKind.SYSTEMD_SYSTEM, ScheduleKind.SYSTEMD_USER)


def default_kind(*, user: bool | None, euid: int | None, systemd: bool, platform: str = sys.platform) -> ScheduleKind:
    """The scheduler to use: Task Scheduler on Windows, else systemd when it is running, else cron.

    ``user`` is --user (True), --system (False) or neither (None: system as root, user otherwise).
    """
    if platform.startswith("win"):
        logger.info("scheduler: windows-task (platform %s)", platform)
        return ScheduleKind.WINDOWS_TASK
    as_user = user if user is not None else euid != 0
    if systemd:
        kind = ScheduleKind.SYSTEMD_USER if as_user else ScheduleKind.SYSTEMD_SYSTEM
    else:
        kind = ScheduleKind.CRON_USER if as_user else ScheduleKind.CRON
    scope = "--user/--system" if user is not None else f"effective uid {euid}"
    logger.info(
        "scheduler: %s (%s; %s scope from %s)",
        kind.value,
        "systemd chosen or running" if systemd else "systemd not chosen or not running",
        "user" if as_user else "system",
        scope,
    )
    return kind


def kind_in_dir(unit_dir: Path, default: ScheduleKind) -> ScheduleKind:
    """The kind whose monthly run is defined in ``unit_dir`` (for ``status`` and ``remove`` with
    --unit-dir and no --scheduler): ``default`` when it is there, when nothing is, or when several are.

    systemd units keep ``default``'s scope (system or user): their file names are the same for both.
    """
    if default is ScheduleKind.WINDOWS_TASK:
        return default
    as_user = default in (ScheduleKind.SYSTEMD_USER, ScheduleKind.CRON_USER)
    systemd = ScheduleKind.SYSTEMD_USER if as_user else ScheduleKind.SYSTEMD_SYSTEM
    found = [
        k
        for k in (systemd, ScheduleKind.CRON, ScheduleKind.CRON_USER)
        if any(p.is_file() for p in plan(k, unit_dir, False, None).monthly)
    ]
    chosen = default if default in found or len(found) != 1 else found[0]
    if chosen is not default:
        logger.info("%s holds a %s schedule, not %s: using that", unit_dir, chosen.value, default.value)
    return chosen


def default_location(kind: ScheduleKind, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where ``kind`` keeps its definitions when no --unit-dir is given (None: the user crontab)."""
    env = os.environ if environ is None else environ
    if kind is ScheduleKind.SYSTEMD_SYSTEM:
        return SYSTEM_UNIT_DIR
    if kind is ScheduleKind.SYSTEMD_USER:
        config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
        return Path(config) / "systemd" / "user"
    if kind is ScheduleKind.CRON:
        return CRON_DIR
    if kind is ScheduleKind.CRON_USER:
        return None
    return Path(env.get("ProgramData") or env.get("PROGRAMDATA") or "C:\\ProgramData") / "scanner" / "schedule"


@dataclass(frozen=True)
class Installed:
    """Our definitions of one plan, as found on disk."""

    files: tuple[Path, ...]
    """Those of the plan's files that are present (each one ours)."""
    monthly: tuple[str, ...] | None
    """The texts of the monthly run's files, in the plan's order; None when one is missing."""
    watch_paths: tuple[str, ...]
    """The folders the installed watch covers (from its metadata); empty without a watch."""


@dataclass(frozen=True)
class Plan:
    """Where each piece of one kind lives."""

    location: Path | None
    """The directory of the definitions; None for the user crontab (changed with ``crontab``)."""
    managed: bool
    """True: talk to systemctl / crontab / schtasks; False: only write the files."""
    monthly: tuple[Path, ...] = ()
    """The files making up the monthly run."""
    watch: tuple[Path, ...] = ()
    """The files making up the boot-time watch."""

    def read(self) -> Installed:
        """Our files of this plan; someone else's file of the same name is refused."""
        texts = {p: read_ours(p) for p in (*self.monthly, *self.watch)}
        present = tuple(p for p, t in texts.items() if t is not None)
        monthly = tuple(texts[p] or "" for p in self.monthly)
        complete = all(texts[p] is not None for p in self.monthly)
        watch_meta = next((read_meta(texts[p] or "") or {} for p in self.watch if texts[p] is not None), {})
        return Installed(present, monthly if complete else None, tuple(watch_meta.get("watch", ())))


def plan(
    kind: ScheduleKind, unit_dir: Path | None, run_systemctl: bool | None, environ: Mapping[str, str] | None
) -> Plan:
    """The files of ``kind`` in ``unit_dir`` (default: :func:`default_location`), and whether the
    host's scheduler is told (``run_systemctl``; default: only without ``unit_dir``)."""
    location = unit_dir if unit_dir is not None else default_location(kind, environ)
    managed = run_systemctl if run_systemctl is not None else unit_dir is None
    if kind.is_systemd:
        assert location is not None
        return Plan(
            location,
            managed,
            (location / f"{MONTHLY_UNIT}.service", location / f"{MONTHLY_UNIT}.timer"),
            (location / f"{WATCH_UNIT}.service",),
        )
    if kind is ScheduleKind.CRON:
        assert location is not None
        return Plan(location, managed, (location / CRON_FILE_NAME,))
    if kind is ScheduleKind.CRON_USER:
        if location is None:
            if run_systemctl is False:
                raise ScheduleError(
                    "the user crontab can only be changed with crontab; pass --unit-dir to write a file"
                )
            return Plan(None, True)
        return Plan(location, managed, (location / USER_CRONTAB_FILE_NAME,))
    assert location is not None
    return Plan(location, managed, (location / f"{MONTHLY_UNIT}.xml",), (location / f"{WATCH_UNIT}.xml",))
