"""The scheduled monthly run: when it fires, what the host's scheduler is told, and whether it is set up.

The monthly job runs on the second Tuesday of each month, after the signature feed's release
(Patch Tuesday, 10:00 US Pacific). This module computes the next run itself, following the rules
systemd applies to an ``OnCalendar=`` expression (including how it treats clock changes), and writes
the definitions for each kind of host scheduler: a systemd service and timer, a cron entry that
checks the weekday itself, or a Windows Task Scheduler task. Every location is a parameter so tests
and packagers can write into a directory of their choosing. Calls to ``systemctl``, ``crontab`` and
``schtasks`` go through :mod:`scanner.programs`; nothing here starts a process.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import random
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scanner import __version__, programs
from scanner.errors import ScheduleError
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

# 20:00 UTC is 12:00 or 13:00 in Redmond: two to three hours after the feed's 10:00 Pacific release
# whether or not the US is on daylight time, and still the same Tuesday there. UTC needs no time
# zone database on the host. See docs/decisions/0003-monthly-schedule.md.
DEFAULT_TIME = "20:00 UTC"
DEFAULT_RANDOMIZED_DELAY = timedelta(hours=4)
# Cron and Windows hosts express the run in local time, so the delay may move it by days; beyond
# this the "second Tuesday" rule stops meaning anything.
MAX_RANDOMIZED_DELAY = timedelta(days=6)

MONTHLY_UNIT = "scanner-monthly"
WATCH_UNIT = "scanner-watch"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
CRON_DIR = Path("/etc/cron.d")
CRON_FILE_NAME = "scanner"
USER_CRONTAB_FILE_NAME = "crontab"
WINDOWS_MONTHLY_TASK = "\\scanner\\monthly"
WINDOWS_WATCH_TASK = "\\scanner\\watch"
TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"

# Every file (or crontab block) we write carries this line followed by JSON, so status can read
# what was installed and remove never deletes a file somebody else wrote.
MARKER = "# scanner-schedule:"
_BLOCK_BEGIN = "# BEGIN scanner-schedule (managed by `scanner schedule`; do not edit this block)"
_BLOCK_END = "# END scanner-schedule"
_HEADER = "# Written by `scanner schedule install`; `scanner schedule remove` deletes it. Do not edit."

# systemd refuses calendar times after this year; the search stops there too.
_MAX_YEAR = 2199
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TASK_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TASK_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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


# --------------------------------------------------------------------------------------------
# Calendar expressions and the next elapse
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarSpec:
    """The subset of systemd's calendar-event syntax this tool writes and reads.

    ``[WEEKDAYS] *-*-DAYS HH:MM[:SS] [ZONE]``: WEEKDAYS is a comma list of ``Mon``..``Sun`` names
    or ``A..B`` ranges, DAYS is ``*``, ``DD`` or ``DD..DD``.
    """

    weekdays: frozenset[int]
    """ISO weekdays (1 = Monday .. 7 = Sunday) the event may fall on; empty means any day."""
    first_day: int | None
    """First day of the month the event may fall on; None means any day."""
    last_day: int | None
    """Last day of the month the event may fall on (inclusive); None means any day."""
    hour: int
    """Hour of the event, 0..23, in the event's time zone."""
    minute: int
    """Minute of the event, 0..59."""
    second: int
    """Second of the event, 0..59."""
    zone: str | None
    """``UTC``, an IANA zone name, or None for the host's local time."""

    def __str__(self) -> str:
        parts = []
        if self.weekdays and len(self.weekdays) < 7:
            parts.append(_format_weekdays(self.weekdays))
        if self.first_day is None or self.last_day is None:
            parts.append("*-*-*")
        elif self.first_day == self.last_day:
            parts.append(f"*-*-{self.first_day:02d}")
        else:
            parts.append(f"*-*-{self.first_day:02d}..{self.last_day:02d}")
        parts.append(f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}")
        if self.zone:
            parts.append(self.zone)
        return " ".join(parts)


def _format_weekdays(days: frozenset[int]) -> str:
    # Runs of three or more become "A..B", as systemd prints them.
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    words: list[str] = []
    for run in runs:
        names = [_WEEKDAY_NAMES[d - 1] for d in run]
        words.append(f"{names[0]}..{names[-1]}" if len(run) >= 3 else ",".join(names))
    return ",".join(words)


_TIME_RE = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?:[ \t]+(?P<zone>\S+))?")
_SPEC_RE = re.compile(r"(?:(?P<wd>[A-Za-z.,]+)[ \t]+)?\*-\*-(?P<days>\*|\d{1,2}(?:\.\.\d{1,2})?)[ \t]+(?P<time>.+)")
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)+")


def _check_zone(zone: str) -> str:
    if zone == "UTC":
        return zone
    # Bare abbreviations such as "CET" mean "local time, standard/daylight" to systemd when they
    # match the host's zone, and a zone file otherwise; only names with a region are unambiguous.
    if not _ZONE_RE.fullmatch(zone):
        raise ScheduleError(f"time zone {zone!r} is not understood; use UTC or an IANA name like Europe/Berlin")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"time zone {zone!r} is not in the time zone database; check the name or install tzdata"
        ) from exc
    return zone


def _parse_time(text: str) -> tuple[int, int, int, str | None]:
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(f"time {text!r} is not HH:MM[:SS] [ZONE]; try {DEFAULT_TIME!r}")
    hour, minute = int(match["h"]), int(match["m"])
    second = int(match["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"time {text!r} is out of range; hours are 0..23, minutes and seconds 0..59")
    zone = _check_zone(match["zone"]) if match["zone"] else None
    return hour, minute, second, zone


def _parse_weekdays(text: str) -> frozenset[int]:
    days: set[int] = set()
    for word in text.split(","):
        first, sep, last = word.partition("..")
        try:
            start = _WEEKDAY_NAMES.index(first) + 1
            stop = _WEEKDAY_NAMES.index(last) + 1 if sep else start
        except ValueError:
            raise ScheduleError(f"weekday list {text!r} is not understood; use names like Tue or Mon..Fri") from None
        if stop < start:
            raise ScheduleError(f"weekday range {word!r} runs backwards; write it as Mon..Fri")
        days.update(range(start, stop + 1))
    return frozenset(days)


def parse_calendar(text: str) -> CalendarSpec:
    """Parse a calendar expression in the subset described by :class:`CalendarSpec`."""
    match = _SPEC_RE.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(f"calendar expression {text!r} is not understood; use e.g. 'Tue *-*-08..14 20:00 UTC'")
    weekdays = _parse_weekdays(match["wd"]) if match["wd"] else frozenset()
    first_day: int | None = None
    last_day: int | None = None
    if match["days"] != "*":
        first, _, last = match["days"].partition("..")
        first_day, last_day = int(first), int(last or first)
        if not 1 <= first_day <= last_day <= 31:
            raise ScheduleError(f"day range {match['days']!r} must lie within 01..31 and run forwards")
    hour, minute, second, zone = _parse_time(match["time"])
    return CalendarSpec(weekdays, first_day, last_day, hour, minute, second, zone)


def monthly_spec(time: str = DEFAULT_TIME) -> CalendarSpec:
    """The second-Tuesday event at ``time`` (``HH:MM[:SS] [ZONE]``)."""
    hour, minute, second, zone = _parse_time(time)
    return CalendarSpec(frozenset({2}), 8, 14, hour, minute, second, zone)


def local_zone(environ: Mapping[str, str] | None = None, localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The host's local time zone, as systemd and cron see it (``$TZ``, else /etc/localtime)."""
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").removeprefix(":")
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleError(
                f"TZ={tz!r} is not a zone name this tool understands; set TZ to e.g. Europe/Berlin"
            ) from exc
    try:
        target = os.readlink(localtime)
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        try:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open(localtime, "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        pass
    # Windows and minimal containers: the current offset is the best there is.
    return datetime.now().astimezone().tzinfo or UTC


class _Tm:
    """A broken-down wall-clock time whose fields may overflow until normalised, like C's struct tm."""

    __slots__ = ("day", "hour", "minute", "month", "pinned", "second", "year")

    def __init__(self, wall: datetime, pinned: timedelta | None) -> None:
        self.year, self.month, self.day = wall.year, wall.month, wall.day
        self.hour, self.minute, self.second = wall.hour, wall.minute, wall.second
        # A known UTC offset (C's tm_isdst >= 0) or None (tm_isdst = -1: let the clock choose).
        self.pinned = pinned

    def wall(self) -> datetime:
        year = self.year + (self.month - 1) // 12
        month = (self.month - 1) % 12 + 1
        return datetime(year, month, 1) + timedelta(
            days=self.day - 1, hours=self.hour, minutes=self.minute, seconds=self.second
        )

    def fields(self) -> tuple[int, int, int, int, int, int]:
        return (self.year, self.month, self.day, self.hour, self.minute, self.second)

    def adopt(self, other: _Tm) -> None:
        self.year, self.month, self.day = other.year, other.month, other.day
        self.hour, self.minute, self.second = other.hour, other.minute, other.second
        self.pinned = other.pinned


class _Clock:
    """mktime() for one zone, including the C library's habit of resolving an ambiguous wall time
    (the repeated hour in autumn) to the UTC offset it used last."""

    def __init__(self, zone: tzinfo | None) -> None:
        self.zone = zone  # None: UTC arithmetic, like timegm()
        self.guess = timedelta(0)

    def _offset_at(self, instant: datetime) -> timedelta:
        assert self.zone is not None
        return instant.astimezone(self.zone).utcoffset() or timedelta(0)

    def _fits(self, wall: datetime, offset: timedelta) -> bool:
        assert self.zone is not None
        return (wall - offset).replace(tzinfo=UTC).astimezone(self.zone).replace(tzinfo=None) == wall

    def _resolve(self, wall: datetime) -> timedelta:
        assert self.zone is not None
        offsets = {wall.replace(tzinfo=self.zone, fold=fold).utcoffset() or timedelta(0) for fold in (0, 1)}
        valid = sorted((o for o in offsets if self._fits(wall, o)), reverse=True)
        if len(valid) == 1:
            return valid[0]
        if valid:
            if self.guess in valid:
                return self.guess
            first_try = self._offset_at((wall - self.guess).replace(tzinfo=UTC))
            return first_try if first_try in valid else valid[0]
        # A wall time skipped by a clock change is read with the offset in force before the change,
        # which lands after the gap (fold=0 in zoneinfo terms).
        return wall.replace(tzinfo=self.zone, fold=0).utcoffset() or timedelta(0)

    def mktime(self, tm: _Tm) -> tuple[datetime, _Tm]:
        """The instant ``tm`` names and its normalised fields."""
        wall = tm.wall()
        if self.zone is None:
            return wall.replace(tzinfo=UTC), _Tm(wall, timedelta(0))
        offset = tm.pinned if tm.pinned is not None else self._resolve(wall)
        instant = (wall - offset).replace(tzinfo=UTC)
        self.guess = offset
        local = instant.astimezone(self.zone)
        return instant, _Tm(local.replace(tzinfo=None), local.utcoffset())

    def within_bounds(self, tm: _Tm) -> int:
        """1 if ``tm`` exists as written, 0 after replacing it by its normalised form, -1 past the end."""
        if tm.year > _MAX_YEAR:
            return -1
        _, normal = self.mktime(tm)
        if normal.fields() == tm.fields():
            return 1
        tm.adopt(normal)
        return 0

    def weekday(self, tm: _Tm) -> int:
        _, normal = self.mktime(tm)
        return normal.wall().isoweekday()


def _match(first: int, last: int, value: int) -> tuple[int, int]:
    """systemd's component match: (-1, _) no value >= ``value``; (0, value) exact; (1, new) moved on."""
    if first >= value:
        return (1 if first != value else 0), first
    if value <= last:
        return 0, value
    return -1, value


def _evaluation_zone(spec: CalendarSpec, zone: tzinfo | None) -> tzinfo | None:
    if spec.zone == "UTC":
        return None
    if spec.zone:
        return ZoneInfo(_check_zone(spec.zone))
    return zone if zone is not None else local_zone()


def next_run(spec: CalendarSpec | str, now: datetime, zone: tzinfo | None = None) -> datetime | None:
    """The first time strictly after ``now`` at which the event elapses, as systemd computes it.

    ``zone`` is the host's local zone, used when the expression names none (default: $TZ or
    /etc/localtime). The result is in the expression's zone (UTC for UTC), or None if the event never
    elapses again before the year 2200.
    """
    if isinstance(spec, str):
        spec = parse_calendar(spec)
    if now.tzinfo is None:
        raise ScheduleError("next_run needs an aware 'now' (with a time zone)")
    evaluation = _evaluation_zone(spec, zone)
    clock = _Clock(evaluation)
    start = now.astimezone(UTC) + timedelta(microseconds=1)
    local = start if evaluation is None else start.astimezone(evaluation)
    tm = _Tm(local.replace(tzinfo=None, microsecond=0), local.utcoffset())
    found = _find_next(spec, clock, tm, start.microsecond)
    if found is None:
        return None
    tm, usec = found
    instant, _ = clock.mktime(tm)
    result = instant + timedelta(microseconds=usec)
    return result if evaluation is None else result.astimezone(evaluation)


def next_runs(spec: CalendarSpec | str, now: datetime, count: int, zone: tzinfo | None = None) -> list[datetime]:
    """The next ``count`` elapses after ``now`` (fewer if the event stops elapsing)."""
    runs: list[datetime] = []
    current = now
    for _ in range(count):
        nxt = next_run(spec, current, zone)
        if nxt is None:
            break
        runs.append(nxt)
        current = nxt
    return runs


def _find_next(spec: CalendarSpec, clock: _Clock, tm: _Tm, usec: int) -> tuple[_Tm, int] | None:
    # Same walk as systemd's: match each field from the year down; when a field cannot match, step
    # the next larger one and start over. A time the clock change skips is replaced by its normalised
    # form and the walk restarts from there, which is how a 02:30 event skips the spring-forward day.
    first_day = spec.first_day or 1
    last_day = spec.last_day or 31
    target_usec = spec.second * 1_000_000
    while True:
        _, normal = clock.mktime(tm)
        tm.adopt(normal)
        tm.pinned = None
        # Year and month are always "*": they match whatever the cursor holds.
        if clock.within_bounds(tm) <= 0:
            return None
        state = clock.within_bounds(tm)
        if state < 0:
            tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second, usec = tm.year + 1, 1, 1, 0, 0, 0, 0
            continue
        if state == 0:
            continue

        state, tm.day = _match(first_day, last_day, tm.day)
        if state > 0:
            tm.hour = tm.minute = tm.second = usec = 0
        if state < 0 or (state := clock.within_bounds(tm)) < 0:
            tm.month, tm.day, tm.hour, tm.minute, tm.second, usec = tm.month + 1, 1, 0, 0, 0, 0
            continue
        if state == 0:
            continue
        if 0 < len(spec.weekdays) < 7 and clock.weekday(tm) not in spec.weekdays:
            tm.day, tm.hour, tm.minute, tm.second, usec = tm.day + 1, 0, 0, 0, 0
            continue

        state, tm.hour = _match(spec.hour, spec.hour, tm.hour)
        if state > 0:
            tm.minute = tm.second = usec = 0
        if state < 0 or (state := clock.within_bounds(tm)) < 0:
            tm.day, tm.hour, tm.minute, tm.second, usec = tm.day + 1, 0, 0, 0, 0
            continue
        if state == 0:
            continue

        state, tm.minute = _match(spec.minute, spec.minute, tm.minute)
        if state > 0:
            tm.second = usec = 0
        if state < 0 or (state := clock.within_bounds(tm)) < 0:
            tm.hour, tm.minute, tm.second, usec = tm.hour + 1, 0, 0, 0
            continue
        if state == 0:
            continue

        state, combined = _match(target_usec, target_usec, tm.second * 1_000_000 + usec)
        tm.second, usec = divmod(combined, 1_000_000)
        if state < 0 or (state := clock.within_bounds(tm)) < 0:
            tm.minute, tm.second, usec = tm.minute + 1, 0, 0
            continue
        if state == 0:
            continue
        return tm, usec


# --------------------------------------------------------------------------------------------
# Quoting
# --------------------------------------------------------------------------------------------

_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./$-]+")
_SH_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def _check_argv(argv: Sequence[str], what: str) -> tuple[str, ...]:
    args = tuple(argv)
    if not args:
        raise ScheduleError(f"the {what} command is empty; pass the program and its arguments")
    for arg in args:
        if any(ch in arg for ch in "\0\n\r"):
            raise ScheduleError(
                f"the {what} command contains a line break or NUL, which no scheduler can hold: {arg!r}"
            )
    return args


def _systemd_word(arg: str, *, first: bool) -> str:
    # Specifiers (%) are expanded everywhere; environment variables ($) only in arguments.
    text = arg.replace("%", "%%")
    if not first:
        text = text.replace("$", "$$")
    if text and _SYSTEMD_PLAIN.fullmatch(text):
        return text
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def systemd_exec_line(argv: Sequence[str]) -> str:
    """``argv`` as the value of ``ExecStart=``: each word quoted so systemd splits it back exactly."""
    args = _check_argv(argv, "service")
    if not os.path.isabs(args[0]):
        raise ScheduleError(f"the program {args[0]!r} is not an absolute path; systemd and cron need one")
    return " ".join(_systemd_word(arg, first=index == 0) for index, arg in enumerate(args))


def sh_command(argv: Sequence[str]) -> str:
    """``argv`` as a POSIX shell command line."""
    words = []
    for arg in _check_argv(argv, "cron"):
        words.append(arg if arg and _SH_PLAIN.fullmatch(arg) else "'" + arg.replace("'", "'\"'\"'") + "'")
    return " ".join(words)


def cron_escape(command: str) -> str:
    """A shell command made safe for a crontab, where an unescaped ``%`` ends the command.

    Cron turns ``\\%`` into ``%``; a backslash the shell needs right before a ``%`` would be eaten
    with it, so the quote is closed and reopened between them (``'a\\''%b'`` is ``a\\%b`` to sh).
    """
    if any(ch in command for ch in "\0\n\r"):
        raise ScheduleError("a cron command cannot contain a line break or NUL")
    return command.replace("\\%", "\\''%").replace("%", "\\%")


def windows_command_line(args: Sequence[str]) -> str:
    """Arguments joined the way the Microsoft C runtime splits them again (as CPython does)."""
    parts = []
    for arg in args:
        if arg and not any(ch in arg for ch in " \t"):
            # Unquoted: backslashes are literal; only a double quote needs one more backslash
            # per backslash before it, plus its own.
            parts.append(re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', arg))
            continue
        quoted = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', arg)
        trailing = len(quoted) - len(quoted.rstrip("\\"))
        parts.append('"' + quoted + "\\" * trailing + '"')
    return " ".join(parts)


def format_timespan(span: timedelta) -> str:
    """A duration in systemd's notation (``4h``, ``1h 30min``, ``0``)."""
    seconds = int(span.total_seconds())
    if seconds <= 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def format_iso_duration(span: timedelta) -> str:
    """A duration in ISO 8601 notation, as Task Scheduler wants it (``PT4H``, ``P1DT2H``)."""
    seconds = int(span.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")
    return text if text != "P" else "PT0S"


# --------------------------------------------------------------------------------------------
# Generated definitions
# --------------------------------------------------------------------------------------------


def default_command(action: str = "monthly", *extra: str) -> tuple[str, ...]:
    """``<python> -m scanner <action> ...``: works whether or not the console script is on PATH."""
    return (sys.executable, "-m", "scanner", action, *extra)


def _meta_line(meta: Mapping[str, Any]) -> str:
    return f"{MARKER} {json.dumps(dict(meta), sort_keys=True)}"


def _read_meta(text: str) -> dict[str, Any] | None:
    # The marker starts a line in units and cron files and sits inside <Description> in task XML,
    # so the JSON may be followed by other text.
    for line in text.splitlines():
        start = line.find(MARKER)
        if start < 0:
            continue
        try:
            value, _ = json.JSONDecoder().raw_decode(line[start + len(MARKER) :].lstrip())
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


# Sandboxing that leaves remediation working: the job kills processes, reads every file and process,
# moves files out of /etc, /usr, /home, /tmp and /dev/shm, and fetches the feed. Settings that hide
# or freeze parts of the file system (ProtectSystem, ProtectHome, PrivateTmp, PrivateDevices,
# ProtectKernelModules, ProtectProc) would blind it. See docs/decisions/0003-monthly-schedule.md.
_SYSTEM_HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectHostname=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "CapabilityBoundingSet=~CAP_SYS_MODULE CAP_SYS_BOOT CAP_SYS_TIME CAP_WAKE_ALARM CAP_MKNOD "
    "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_RAWIO CAP_SYSLOG CAP_BLOCK_SUSPEND "
    "CAP_SYS_TTY_CONFIG CAP_LEASE CAP_SYS_PACCT CAP_BPF CAP_PERFMON",
    "UMask=0077",
)
# A user manager cannot set up namespaces without unprivileged user namespaces, so only the
# seccomp- and prctl-based settings are used there.
_USER_HARDENING = (
    "NoNewPrivileges=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallArchitectures=native",
    "UMask=0077",
)


def monthly_service_unit(command: Sequence[str], *, user: bool = False) -> str:
    """The ``scanner-monthly.service`` unit running ``command`` once, at low priority."""
    lines = [
        _HEADER,
        _meta_line({"unit": "monthly", "command": list(command), "version": __version__}),
        "[Unit]",
        "Description=Monthly malicious-software scan and removal (scanner)",
    ]
    if not user:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={systemd_exec_line(command)}",
        # 1 means "found and handled"; only errors (2) and failed actions (3) mark the unit failed.
        "SuccessExitStatus=1",
        "TimeoutStartSec=24h",
        "Nice=19",
        "IOSchedulingClass=idle",
        "CPUSchedulingPolicy=batch",
        *(_USER_HARDENING if user else _SYSTEM_HARDENING),
        "",
    ]
    return "\n".join(lines)


def monthly_timer_unit(spec: CalendarSpec, randomized_delay: timedelta) -> str:
    """The ``scanner-monthly.timer`` unit firing on ``spec``, catching up after downtime."""
    return "\n".join(
        [
            _HEADER,
            _meta_line(
                {
                    "unit": "timer",
                    "calendar": str(spec),
                    "randomized_delay_sec": int(randomized_delay.total_seconds()),
                    "version": __version__,
                }
            ),
            "[Unit]",
            "Description=Monthly malicious-software scan, second Tuesday after the signature release (scanner)",
            "",
            "[Timer]",
            f"OnCalendar={spec}",
            "Persistent=true",
            f"RandomizedDelaySec={format_timespan(randomized_delay)}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def watch_service_unit(command: Sequence[str], watch_paths: Sequence[str], *, user: bool = False) -> str:
    """The ``scanner-watch.service`` unit running the real-time folder watch from boot."""
    lines = [
        _HEADER,
        _meta_line({"unit": "watch", "command": list(command), "watch": list(watch_paths), "version": __version__}),
        "[Unit]",
        "Description=Real-time malicious-software watch of selected folders (scanner)",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={systemd_exec_line(command)}",
        "Restart=on-failure",
        "RestartSec=30s",
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        *(_USER_HARDENING if user else _SYSTEM_HARDENING),
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class LocalSlot:
    """A run time in the host's wall clock, for schedulers without time zones (cron, Windows)."""

    weekday: int
    """ISO weekday (1 = Monday .. 7 = Sunday) of the run."""
    first_day: int
    """First day of the month the run may fall on."""
    last_day: int
    """Last day of the month the run may fall on (inclusive)."""
    hour: int
    """Local hour of the run."""
    minute: int
    """Local minute of the run."""

    def calendar(self) -> CalendarSpec:
        """The same slot as a local-time calendar expression (for next-run computation)."""
        return CalendarSpec(frozenset({self.weekday}), self.first_day, self.last_day, self.hour, self.minute, 0, None)


def local_slot(spec: CalendarSpec, zone: tzinfo, now: datetime, offset: timedelta = timedelta(0)) -> LocalSlot:
    """``spec`` (a weekday plus day range) shifted by ``offset`` and expressed in ``zone``'s wall clock.

    The conversion uses the next occurrence after ``now``; when the two zones change their clocks on
    different dates the local run can drift by an hour for part of the year.
    """
    if len(spec.weekdays) != 1 or spec.first_day is None or spec.last_day is None:
        raise ScheduleError(f"{spec} cannot be expressed for cron or Task Scheduler; use one weekday and a day range")
    occurrence = next_run(spec, now, zone)
    if occurrence is None:
        raise ScheduleError(f"{spec} never elapses again; choose another time")
    shifted = (occurrence + offset).astimezone(zone)
    day_shift = (shifted.date() - occurrence.date()).days
    return LocalSlot(
        weekday=shifted.isoweekday(),
        first_day=spec.first_day + day_shift,
        last_day=spec.last_day + day_shift,
        hour=shifted.hour,
        minute=shifted.minute,
    )


def cron_line(slot: LocalSlot, command: Sequence[str], user: str | None) -> str:
    """One crontab line running ``command`` in ``slot``.

    Cron runs a job when the day of the month OR the weekday matches if both are restricted, so the
    weekday field stays ``*`` and the command checks the weekday itself.
    """
    guard = f'[ "$(date +%u)" = {slot.weekday} ] && '
    fields = f"{slot.minute} {slot.hour} {slot.first_day}-{slot.last_day} * *"
    who = f" {user}" if user else ""
    return f"{fields}{who} {cron_escape(guard + sh_command(command))}"


def cron_reboot_line(command: Sequence[str], user: str | None) -> str:
    """A crontab line starting ``command`` at boot (the watch on cron hosts)."""
    who = f" {user}" if user else ""
    return f"@reboot{who} {cron_escape(sh_command(command))}"


def _cron_meta(
    spec: CalendarSpec, slot: LocalSlot, delay: timedelta, command: Sequence[str], watch_paths: Sequence[str]
) -> dict[str, Any]:
    return {
        "calendar": str(spec),
        "local": str(slot.calendar()),
        "randomized_delay_sec": int(delay.total_seconds()),
        "command": list(command),
        "watch": list(watch_paths),
        "version": __version__,
    }


def cron_file(
    slot: LocalSlot,
    command: Sequence[str],
    *,
    meta: Mapping[str, Any],
    watch_command: Sequence[str] | None = None,
    user: str = "root",
) -> str:
    """The whole /etc/cron.d/scanner file."""
    lines = [
        _HEADER,
        "# Monthly scan on the second Tuesday; cron ORs the day-of-month and weekday fields, so the",
        "# weekday is checked by the command.",
        _meta_line(meta),
        "SHELL=/bin/sh",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        cron_line(slot, command, user),
    ]
    if watch_command:
        lines.append(cron_reboot_line(watch_command, user))
    return "\n".join(lines) + "\n"


def crontab_block(
    slot: LocalSlot, command: Sequence[str], *, meta: Mapping[str, Any], watch_command: Sequence[str] | None = None
) -> str:
    """Our block for a user crontab (no user field)."""
    lines = [_BLOCK_BEGIN, _meta_line(meta), cron_line(slot, command, None)]
    if watch_command:
        lines.append(cron_reboot_line(watch_command, None))
    lines.append(_BLOCK_END)
    return "\n".join(lines) + "\n"


def _split_crontab(text: str) -> tuple[str, str | None]:
    """(the crontab without our block, our block or None)."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.rstrip("\n") == _BLOCK_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == _BLOCK_END]
    if not begins and not ends:
        return text, None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ScheduleError("the crontab holds a damaged scanner-schedule block; fix it with 'crontab -e'")
    rest = lines[: begins[0]] + lines[ends[0] + 1 :]
    return "".join(rest), "".join(lines[begins[0] : ends[0] + 1])


def merge_crontab(existing: str, block: str | None) -> str:
    """``existing`` with our block replaced by ``block`` (or removed when None); other lines are kept."""
    rest, _ = _split_crontab(existing)
    if rest and not rest.endswith("\n"):
        rest += "\n"
    return rest + (block or "")


def _task_element(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{TASK_NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def windows_task_xml(
    command: Sequence[str],
    *,
    slot: LocalSlot | None,
    randomized_delay: timedelta = timedelta(0),
    description: str,
    start: datetime | None = None,
) -> str:
    """A Task Scheduler 2.0 task definition running ``command`` as SYSTEM.

    With ``slot`` the task fires monthly on that weekday of the week the slot's days fall in
    (the second week for days 8..14); without it the task starts at boot (the watch).
    """
    args = _check_argv(command, "task")
    ET.register_namespace("", TASK_NAMESPACE)
    task = ET.Element(f"{{{TASK_NAMESPACE}}}Task", {"version": "1.2"})
    info = _task_element(task, "RegistrationInfo")
    _task_element(info, "Description", description)
    _task_element(info, "Author", f"scanner {__version__}")
    triggers = _task_element(task, "Triggers")
    if slot is not None:
        trigger = _task_element(triggers, "CalendarTrigger")
        first = start or datetime(2000, 1, 1)
        boundary = first.replace(hour=slot.hour, minute=slot.minute, second=0, microsecond=0, tzinfo=None)
        _task_element(trigger, "StartBoundary", boundary.isoformat())
        if randomized_delay > timedelta(0):
            _task_element(trigger, "RandomDelay", format_iso_duration(randomized_delay))
        schedule = _task_element(trigger, "ScheduleByMonthDayOfWeek")
        weeks = _task_element(schedule, "Weeks")
        _task_element(weeks, "Week", str((slot.first_day + 6) // 7))
        days = _task_element(schedule, "DaysOfWeek")
        _task_element(days, _TASK_WEEKDAYS[slot.weekday - 1])
        months = _task_element(schedule, "Months")
        for month in _TASK_MONTHS:
            _task_element(months, month)
    else:
        _task_element(triggers, "BootTrigger")
    principals = _task_element(task, "Principals")
    principal = _task_element(principals, "Principal")
    principal.set("id", "System")
    _task_element(principal, "UserId", "S-1-5-18")
    _task_element(principal, "RunLevel", "HighestAvailable")
    settings = _task_element(task, "Settings")
    _task_element(settings, "MultipleInstancesPolicy", "IgnoreNew")
    _task_element(settings, "DisallowStartIfOnBatteries", "false")
    _task_element(settings, "StopIfGoingOnBatteries", "false")
    # Like Persistent=true: a run missed while the machine was off happens as soon as possible.
    _task_element(settings, "StartWhenAvailable", "true")
    _task_element(settings, "ExecutionTimeLimit", "P1D" if slot is not None else "PT0S")
    # 7 is below-normal CPU and low I/O priority.
    _task_element(settings, "Priority", "7")
    if slot is None:
        restart = _task_element(settings, "RestartOnFailure")
        _task_element(restart, "Interval", "PT1M")
        _task_element(restart, "Count", "3")
    actions = _task_element(task, "Actions")
    actions.set("Context", "System")
    execute = _task_element(actions, "Exec")
    _task_element(execute, "Command", args[0])
    if len(args) > 1:
        _task_element(execute, "Arguments", windows_command_line(args[1:]))
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


def schtasks_create_argv(xml_path: Path | str, name: str = WINDOWS_MONTHLY_TASK) -> tuple[str, ...]:
    """The command that registers the task defined in ``xml_path`` (replacing one of the same name)."""
    return ("schtasks", "/Create", "/XML", str(xml_path), "/TN", name, "/F")


def schtasks_delete_argv(name: str = WINDOWS_MONTHLY_TASK) -> tuple[str, ...]:
    """The command that deletes the task ``name``."""
    return ("schtasks", "/Delete", "/TN", name, "/F")


# --------------------------------------------------------------------------------------------
# Install, remove, status
# --------------------------------------------------------------------------------------------


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


def default_kind(*, user: bool | None, euid: int | None, systemd: bool, platform: str = sys.platform) -> ScheduleKind:
    """The scheduler to use: Task Scheduler on Windows, else systemd when it is running, else cron.

    ``user`` is --user (True), --system (False) or neither (None: system as root, user otherwise).
    """
    if platform.startswith("win"):
        return ScheduleKind.WINDOWS_TASK
    as_user = user if user is not None else euid != 0
    if systemd:
        return ScheduleKind.SYSTEMD_USER if as_user else ScheduleKind.SYSTEMD_SYSTEM
    return ScheduleKind.CRON_USER if as_user else ScheduleKind.CRON


def kind_in_dir(unit_dir: Path, default: ScheduleKind) -> ScheduleKind:
    """The kind whose monthly run is defined in ``unit_dir`` (for ``status`` and ``remove`` with
    --unit-dir and no --scheduler): ``default`` when it is there, when nothing is, or when several are.

    systemd units keep ``default``'s scope (system or user): their file names are the same for both.
    """
    if default is ScheduleKind.WINDOWS_TASK:
        return default
    as_user = default in (ScheduleKind.SYSTEMD_USER, ScheduleKind.CRON_USER)
    systemd = ScheduleKind.SYSTEMD_USER if as_user else ScheduleKind.SYSTEMD_SYSTEM
    found = [k for k in (systemd, ScheduleKind.CRON, ScheduleKind.CRON_USER)
             if any(p.is_file() for p in _plan(k, unit_dir, False, None).monthly)]
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
class _Plan:
    """Where each piece of one kind lives."""

    location: Path | None
    managed: bool  # True: talk to systemctl / crontab / schtasks
    monthly: tuple[Path, ...] = field(default=())  # the files making up the monthly run
    watch: tuple[Path, ...] = field(default=())  # the files making up the watch


def _plan(
    kind: ScheduleKind, unit_dir: Path | None, run_systemctl: bool | None, environ: Mapping[str, str] | None
) -> _Plan:
    location = unit_dir if unit_dir is not None else default_location(kind, environ)
    managed = run_systemctl if run_systemctl is not None else unit_dir is None
    if kind.is_systemd:
        assert location is not None
        return _Plan(
            location,
            managed,
            (location / f"{MONTHLY_UNIT}.service", location / f"{MONTHLY_UNIT}.timer"),
            (location / f"{WATCH_UNIT}.service",),
        )
    if kind is ScheduleKind.CRON:
        assert location is not None
        return _Plan(location, managed, (location / CRON_FILE_NAME,))
    if kind is ScheduleKind.CRON_USER:
        if location is None:
            if run_systemctl is False:
                raise ScheduleError(
                    "the user crontab can only be changed with crontab; pass --unit-dir to write a file"
                )
            return _Plan(None, True)
        return _Plan(location, managed, (location / USER_CRONTAB_FILE_NAME,))
    assert location is not None
    return _Plan(location, managed, (location / f"{MONTHLY_UNIT}.xml",), (location / f"{WATCH_UNIT}.xml",))


def _require_root(kind: ScheduleKind, unit_dir: Path | None, euid: int | None) -> None:
    if unit_dir is not None or kind not in (ScheduleKind.SYSTEMD_SYSTEM, ScheduleKind.CRON):
        return
    uid = euid if euid is not None else (os.geteuid() if hasattr(os, "geteuid") else 0)
    if uid != 0:
        raise ScheduleError(f"a {kind.value} schedule needs root; run as root or use --user")


def _require_windows(kind: ScheduleKind, plan: _Plan, platform: str) -> None:
    if kind is ScheduleKind.WINDOWS_TASK and plan.managed and not platform.startswith("win"):
        raise ScheduleError("Windows tasks can only be registered on Windows; pass --unit-dir to write the task file")


def _read_ours(path: Path) -> str | None:
    """The text of ``path`` if it is a file we wrote, None if absent; refuses anyone else's file."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc
    text = _decode(data)
    if _read_meta(text) is None:
        raise ScheduleError(f"{path} was not written by scanner; move it away or remove it by hand")
    return text


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="surrogateescape")


def _write(path: Path, text: str, *, utf16: bool = False) -> None:
    """Replace ``path`` atomically (a symlink there is replaced, never followed)."""
    data = text.encode("utf-16") if utf16 else text.encode("utf-8", errors="surrogateescape")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, 0o644, replace_symlink=True)
    except OSError as exc:
        raise ScheduleError(
            f"cannot write {path}: {exc.strerror or exc}; check that the directory exists and is writable"
        ) from exc


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ScheduleError(f"cannot remove {path}: {exc.strerror}; check the directory's permissions") from exc


def _check_delay(delay: timedelta) -> timedelta:
    if delay < timedelta(0) or delay > MAX_RANDOMIZED_DELAY:
        raise ScheduleError(f"the randomized delay must be between 0 and {format_timespan(MAX_RANDOMIZED_DELAY)}")
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
    now = now or datetime.now(UTC)
    spec = monthly_spec(time)
    delay = _check_delay(randomized_delay)
    monthly_cmd = _check_argv(command if command is not None else default_command(), "monthly")
    paths = _watch_paths(watch_paths)
    watch_cmd: tuple[str, ...] | None = None
    if paths:
        watch_cmd = _check_argv(
            watch_command if watch_command is not None else default_command("watch", *paths), "watch"
        )
    _require_root(kind, unit_dir, euid)
    plan = _plan(kind, unit_dir, run_systemctl, environ)
    _require_windows(kind, plan, platform)
    local = zone if zone is not None else local_zone(environ)

    if kind.is_systemd:
        return _install_systemd(kind, plan, spec, delay, monthly_cmd, paths, watch_cmd, now, local)
    if kind is ScheduleKind.WINDOWS_TASK:
        return _install_windows(plan, spec, delay, monthly_cmd, paths, watch_cmd, now, local)

    offset = timedelta(minutes=(rng or random.SystemRandom()).randint(0, int(delay.total_seconds()) // 60))
    slot = local_slot(spec, local, now, offset)
    meta = _cron_meta(spec, slot, delay, monthly_cmd, paths)
    calendar = slot.calendar()
    commands: tuple[tuple[str, ...], ...] = ()
    files: tuple[Path, ...] = ()
    if kind is ScheduleKind.CRON:
        for existing in plan.monthly:
            _read_ours(existing)
        _write(plan.monthly[0], cron_file(slot, monthly_cmd, meta=meta, watch_command=watch_cmd))
        files = plan.monthly
    else:
        block = crontab_block(slot, monthly_cmd, meta=meta, watch_command=watch_cmd)
        if plan.location is None:
            programs.write_user_crontab(merge_crontab(programs.read_user_crontab(), block))
            commands = (programs.CRONTAB_READ_ARGV, programs.CRONTAB_WRITE_ARGV)
        else:
            target = plan.monthly[0]
            _write(target, merge_crontab(_read_text(target), block))
            files = plan.monthly
    return InstallResult(
        kind=kind,
        location=plan.location,
        files=files,
        calendar=str(calendar),
        next_run=next_run(calendar, now, local),
        randomized_delay=delay,
        watch_paths=paths,
        removed=(),
        commands=commands,
        ran=bool(commands),
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc


def _install_systemd(
    kind: ScheduleKind,
    plan: _Plan,
    spec: CalendarSpec,
    delay: timedelta,
    monthly_cmd: tuple[str, ...],
    paths: tuple[str, ...],
    watch_cmd: tuple[str, ...] | None,
    now: datetime,
    local: tzinfo,
) -> InstallResult:
    user = kind is ScheduleKind.SYSTEMD_USER
    service, timer = plan.monthly
    (watch,) = plan.watch
    for path in (*plan.monthly, *plan.watch):
        _read_ours(path)  # refuse to overwrite someone else's unit of the same name
    _write(service, monthly_service_unit(monthly_cmd, user=user))
    _write(timer, monthly_timer_unit(spec, delay))
    files = [service, timer]
    removed: list[Path] = []
    units = [timer.name]
    stale = not watch_cmd and watch.exists()
    if watch_cmd:
        _write(watch, watch_service_unit(watch_cmd, paths, user=user))
        files.append(watch)
        units.append(watch.name)
    commands: list[tuple[str, ...]] = []
    if stale:
        commands.append(programs.systemctl_argv(("disable", "--now", watch.name), user=user))
    commands.append(programs.systemctl_argv(("daemon-reload",), user=user))
    commands.append(programs.systemctl_argv(("enable", "--now", *units), user=user))
    if plan.managed and stale:
        programs.systemctl(("disable", "--now", watch.name), user=user)
    _unlink_if(stale, watch, removed)
    if plan.managed:
        programs.systemctl(("daemon-reload",), user=user)
        programs.systemctl(("enable", "--now", *units), user=user)
    return InstallResult(
        kind=kind,
        location=plan.location,
        files=tuple(files),
        calendar=str(spec),
        next_run=next_run(spec, now, local),
        randomized_delay=delay,
        watch_paths=paths,
        removed=tuple(removed),
        commands=tuple(commands),
        ran=plan.managed,
    )


def _unlink_if(condition: bool, path: Path, removed: list[Path]) -> None:
    if condition:
        _unlink(path)
        removed.append(path)


def _install_windows(
    plan: _Plan,
    spec: CalendarSpec,
    delay: timedelta,
    monthly_cmd: tuple[str, ...],
    paths: tuple[str, ...],
    watch_cmd: tuple[str, ...] | None,
    now: datetime,
    local: tzinfo,
) -> InstallResult:
    (monthly_xml,) = plan.monthly
    (watch_xml,) = plan.watch
    for path in (monthly_xml, watch_xml):
        _read_ours(path)
    slot = local_slot(spec, local, now)
    first = next_run(slot.calendar(), now, local)
    meta = {
        "calendar": str(spec),
        "randomized_delay_sec": int(delay.total_seconds()),
        "command": list(monthly_cmd),
        "watch": list(paths),
        "version": __version__,
    }
    description = f"Monthly malicious-software scan (scanner).\n{_meta_line(meta)}"
    _write(
        monthly_xml,
        windows_task_xml(
            monthly_cmd,
            slot=slot,
            randomized_delay=delay,
            description=description,
            start=first.replace(tzinfo=None) if first else None,
        ),
        utf16=True,
    )
    files = [monthly_xml]
    commands = [schtasks_create_argv(monthly_xml, WINDOWS_MONTHLY_TASK)]
    removed: list[Path] = []
    stale = not watch_cmd and watch_xml.exists()
    if watch_cmd:
        watch_meta = {"watch": list(paths), "command": list(watch_cmd), "version": __version__}
        watch_description = f"Real-time malicious-software watch (scanner).\n{_meta_line(watch_meta)}"
        _write(watch_xml, windows_task_xml(watch_cmd, slot=None, description=watch_description), utf16=True)
        files.append(watch_xml)
        commands.append(schtasks_create_argv(watch_xml, WINDOWS_WATCH_TASK))
    elif stale:
        commands.append(schtasks_delete_argv(WINDOWS_WATCH_TASK))
    if plan.managed:
        for argv in commands:
            programs.run(argv)
    _unlink_if(stale, watch_xml, removed)
    calendar = slot.calendar()
    return InstallResult(
        kind=ScheduleKind.WINDOWS_TASK,
        location=plan.location,
        files=tuple(files),
        calendar=str(calendar),
        next_run=first,
        randomized_delay=delay,
        watch_paths=paths,
        removed=tuple(removed),
        commands=tuple(commands),
        ran=plan.managed,
    )


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
    plan = _plan(kind, unit_dir, run_systemctl, environ)
    _require_windows(kind, plan, platform)

    if kind is ScheduleKind.CRON_USER:
        if plan.location is None:
            current = programs.read_user_crontab()
            if _split_crontab(current)[1] is None:
                return RemoveResult(
                    kind=kind, location=None, removed=(), commands=(programs.CRONTAB_READ_ARGV,), ran=True
                )
            programs.write_user_crontab(merge_crontab(current, None))
            both = (programs.CRONTAB_READ_ARGV, programs.CRONTAB_WRITE_ARGV)
            return RemoveResult(kind=kind, location=None, removed=(), commands=both, ran=True)
        target = plan.monthly[0]
        current = _read_text(target)
        if _split_crontab(current)[1] is None:
            return RemoveResult(kind=kind, location=plan.location, removed=(), commands=(), ran=False)
        remaining = merge_crontab(current, None)
        if remaining.strip():
            _write(target, remaining)
        else:
            _unlink(target)
        return RemoveResult(kind=kind, location=plan.location, removed=(target,), commands=(), ran=False)

    present = [p for p in (*plan.monthly, *plan.watch) if _read_ours(p) is not None]
    commands: list[tuple[str, ...]] = []
    if kind.is_systemd:
        user = kind is ScheduleKind.SYSTEMD_USER
        names = tuple(
            p.name for p in present if p.suffix in (".timer", ".service") and p.name != f"{MONTHLY_UNIT}.service"
        )
        if names:
            commands.append(programs.systemctl_argv(("disable", "--now", *names), user=user))
        if present:
            commands.append(programs.systemctl_argv(("daemon-reload",), user=user))
        if plan.managed and names:
            programs.systemctl(("disable", "--now", *names), user=user)
        for path in present:
            _unlink(path)
        if plan.managed and present:
            programs.systemctl(("daemon-reload",), user=user)
    elif kind is ScheduleKind.WINDOWS_TASK:
        for path in present:
            commands.append(schtasks_delete_argv(WINDOWS_MONTHLY_TASK if path in plan.monthly else WINDOWS_WATCH_TASK))
        if plan.managed:
            for argv in commands:
                programs.run(argv)
        for path in present:
            _unlink(path)
    else:
        for path in present:
            _unlink(path)
    return RemoveResult(
        kind=kind,
        location=plan.location,
        removed=tuple(present),
        commands=tuple(commands),
        ran=plan.managed and bool(commands),
    )


_ONCALENDAR_RE = re.compile(r"^OnCalendar=(.+)$", re.MULTILINE)
_CRON_RE = re.compile(
    r"^(?P<min>\d+) (?P<hour>\d+) (?P<first>\d+)-(?P<last>\d+) \* \*(?: \S+)? "
    r"\[ \"\$\(date \+\\%u\)\" = (?P<wd>[1-7]) \] && ",
    re.MULTILINE,
)


def _cron_status(
    text: str,
    kind: ScheduleKind,
    location: Path | None,
    files: tuple[Path, ...],
    now: datetime,
    local: tzinfo,
    last_run: LastRun | None,
) -> ScheduleStatus:
    meta = _read_meta(text) or {}
    match = _CRON_RE.search(text)
    if match is None:
        return ScheduleStatus(False, kind, location, files, last_run=last_run)
    slot = LocalSlot(int(match["wd"]), int(match["first"]), int(match["last"]), int(match["hour"]), int(match["min"]))
    calendar = slot.calendar()
    return ScheduleStatus(
        installed=True,
        kind=kind,
        location=location,
        files=files,
        calendar=str(calendar),
        next_run=next_run(calendar, now, local),
        randomized_delay=_meta_delay(meta),
        command=tuple(meta.get("command", ())),
        watch_paths=tuple(meta.get("watch", ())),
        last_run=last_run,
    )


def _meta_delay(meta: Mapping[str, Any]) -> timedelta | None:
    seconds = meta.get("randomized_delay_sec")
    return timedelta(seconds=seconds) if isinstance(seconds, int) else None


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
    plan = _plan(kind, unit_dir, None, environ)
    local = zone if zone is not None else local_zone(environ)
    if kind is ScheduleKind.CRON_USER:
        text = programs.read_user_crontab() if plan.location is None else _read_text(plan.monthly[0])
        _, block = _split_crontab(text)
        files = plan.monthly if block is not None else ()
        if block is None:
            return ScheduleStatus(False, kind, plan.location, last_run=last_run)
        return _cron_status(block, kind, plan.location, files, now, local, last_run)

    texts = {p: _read_ours(p) for p in (*plan.monthly, *plan.watch)}
    present = tuple(p for p, t in texts.items() if t is not None)
    monthly_text = [texts[p] for p in plan.monthly]
    if any(t is None for t in monthly_text):
        return ScheduleStatus(False, kind, plan.location, present, last_run=last_run)
    watch_meta = next((_read_meta(texts[p] or "") or {} for p in plan.watch if texts[p] is not None), {})
    watch_paths = tuple(watch_meta.get("watch", ()))

    if kind is ScheduleKind.CRON:
        return _cron_status(monthly_text[0] or "", kind, plan.location, present, now, local, last_run)
    if kind.is_systemd:
        service_meta = _read_meta(monthly_text[0] or "") or {}
        timer_text = monthly_text[1] or ""
        found = _ONCALENDAR_RE.search(timer_text)
        if found is None:
            return ScheduleStatus(False, kind, plan.location, present, last_run=last_run)
        expression = found.group(1).strip()
        try:
            upcoming = next_run(parse_calendar(expression), now, local)
        except ScheduleError:
            upcoming = None  # hand-edited beyond what this tool can compute; systemd still runs it
        return ScheduleStatus(
            installed=True,
            kind=kind,
            location=plan.location,
            files=present,
            calendar=expression,
            next_run=upcoming,
            randomized_delay=_meta_delay(_read_meta(timer_text) or {}),
            command=tuple(service_meta.get("command", ())),
            watch_paths=watch_paths,
            last_run=last_run,
        )
    return _windows_status(monthly_text[0] or "", plan.location, present, watch_paths, now, local, last_run)


def _windows_status(
    text: str,
    location: Path | None,
    files: tuple[Path, ...],
    watch_paths: tuple[str, ...],
    now: datetime,
    local: tzinfo,
    last_run: LastRun | None,
) -> ScheduleStatus:
    # The XML declaration names UTF-16 but the text is already decoded. The file is one we wrote
    # into a directory only its owner can change, and expat refuses entity-expansion bombs.
    body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
    root = ET.fromstring(body)  # noqa: S314
    ns = {"t": TASK_NAMESPACE}
    boundary = root.findtext("t:Triggers/t:CalendarTrigger/t:StartBoundary", namespaces=ns)
    week = root.findtext("t:Triggers/t:CalendarTrigger/t:ScheduleByMonthDayOfWeek/t:Weeks/t:Week", namespaces=ns)
    days = root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByMonthDayOfWeek/t:DaysOfWeek", namespaces=ns)
    if boundary is None or week is None or days is None or len(days) != 1 or not week.isdigit():
        return ScheduleStatus(False, ScheduleKind.WINDOWS_TASK, location, files, last_run=last_run)
    start = datetime.fromisoformat(boundary)
    weekday = _TASK_WEEKDAYS.index(days[0].tag.split("}", 1)[1]) + 1
    first_day = (int(week) - 1) * 7 + 1
    slot = LocalSlot(weekday, first_day, first_day + 6, start.hour, start.minute)
    meta = _read_meta(root.findtext("t:RegistrationInfo/t:Description", default="", namespaces=ns)) or {}
    calendar = slot.calendar()
    return ScheduleStatus(
        installed=True,
        kind=ScheduleKind.WINDOWS_TASK,
        location=location,
        files=files,
        calendar=str(calendar),
        next_run=next_run(calendar, now, local),
        randomized_delay=_meta_delay(meta),
        command=tuple(meta.get("command", ())),
        watch_paths=watch_paths,
        last_run=last_run,
    )
