"""The calendar engine: when the monthly run elapses, computed as systemd computes it.

It parses and prints the subset of systemd's ``OnCalendar=`` syntax this tool writes (the second
Tuesday is ``Tue *-*-08..14 20:00 UTC``), finds the next elapse after a given moment with systemd's
own walk over the fields (including how it treats clock changes), finds the host's local time zone,
and turns an expression into a wall-clock slot for schedulers that have no time zones (cron, Windows).
Pure computation: it reads only the time zone database and /etc/localtime.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scanner.errors import ScheduleError

logger = logging.getLogger(__name__)

# 20:00 UTC is 12:00 or 13:00 in Redmond: two to three hours after the feed's 10:00 Pacific release
# whether or not the US is on daylight time, and still the same Tuesday there. UTC needs no time
# zone database on the host. See docs/decisions/0003-monthly-schedule.md.
DEFAULT_TIME = "20:00 UTC"

# systemd refuses calendar times after this year; the search stops there too.
_MAX_YEAR = 2199
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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
            logger.debug("%s points at %s, which is not a known zone: reading the file instead", localtime, target)
    try:
        with open(localtime, "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError) as exc:
        logger.debug("cannot read the local zone from %s (%s): using the current UTC offset", localtime, exc)
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
