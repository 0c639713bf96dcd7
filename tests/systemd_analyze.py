"""systemd-analyze as a test oracle: systemd's own verdict on the units and calendar expressions the
scheduler generates (moved here from scanner/programs.py, where only the tests used it)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.errors import ScheduleError
from scanner.programs import CommandResult, run


def verify_units(paths: Sequence[Path], *, user: bool = False, runtime_dir: Path | None = None) -> CommandResult:
    """``systemd-analyze verify`` on unit files (without the man-page check); never raises on findings.

    The user manager needs a runtime directory; pass one (e.g. a temporary directory) for ``user``.
    """
    env = dict(os.environ)
    if runtime_dir is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", "--man=no", *map(str, paths)]
    return run(argv, env=env, check=False)


@dataclass(frozen=True)
class CalendarAnalysis:
    """What ``systemd-analyze calendar`` said about an expression."""

    normalized: str
    """systemd's normalised form of the expression."""
    elapses: tuple[datetime, ...]
    """The next elapses, in UTC."""


_ELAPSE_RE = re.compile(r"^\s*(?:Next elapse|Iter\. #\d+|\(in UTC\)):\s+\w{3} (\S+ \S+) (\S+)$")


def analyze_calendar(
    expression: str, *, base: datetime, iterations: int = 1, local_zone: str = "UTC"
) -> CalendarAnalysis:
    """systemd's own next ``iterations`` elapses of ``expression`` after ``base``.

    ``local_zone`` is the TZ systemd-analyze runs under: the zone of an expression naming none.
    """
    env = dict(os.environ, TZ=local_zone, LC_ALL="C")
    stamp = f"@{base.timestamp():.6f}"
    argv = ("systemd-analyze", "calendar", f"--base-time={stamp}", f"--iterations={iterations}", expression)
    result = run(argv, env=env)
    normalized = ""
    elapses: list[datetime] = []
    for line in result.stdout.splitlines():
        if line.strip().startswith("Normalized form:"):
            normalized = line.split(":", 1)[1].strip()
            continue
        match = _ELAPSE_RE.match(line)
        if match is None:
            continue
        moment, zone = match.group(1), match.group(2)
        if line.strip().startswith("(in UTC)"):
            elapses[-1] = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        else:
            # Local-time lines are followed by an "(in UTC)" line that replaces this placeholder.
            elapses.append(datetime.fromisoformat(moment).replace(tzinfo=UTC) if zone == "UTC" else datetime.min)
    if any(e == datetime.min for e in elapses):
        raise ScheduleError(f"could not read systemd-analyze's answer for {expression!r}")
    return CalendarAnalysis(normalized, tuple(elapses))
