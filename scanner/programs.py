"""External programs: the one module that starts processes.

It runs ``systemctl``, ``crontab`` and ``schtasks`` for :mod:`scanner.schedule`, ``rpm`` for
:mod:`scanner.remediation.packages`, and ``systemd-analyze`` for checking generated units and
calendar expressions. Programs are looked up on
PATH (so tests can put stand-ins first); failures come back as ``ScheduleError`` with the program's
own first line of complaint.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.errors import ScheduleError

TIMEOUT = 120.0
"""Seconds any one command may take; ``systemctl enable --now`` can wait for a start job."""

CRONTAB_READ_ARGV = ("crontab", "-l")
CRONTAB_WRITE_ARGV = ("crontab", "-")


@dataclass(frozen=True)
class CommandResult:
    """A finished external command."""

    argv: tuple[str, ...]
    """What was run."""
    returncode: int
    """Its exit status."""
    stdout: str
    """Its standard output."""
    stderr: str
    """Its standard error."""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = TIMEOUT,
) -> CommandResult:
    """Run ``argv`` to completion; with ``check``, a non-zero exit raises ``ScheduleError``."""
    args = tuple(argv)
    try:
        done = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            env=None if env is None else dict(env),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ScheduleError(f"{args[0]} was not found; install it or use --unit-dir to only write the files") from exc
    except subprocess.TimeoutExpired as exc:
        raise ScheduleError(
            f"{' '.join(args)} did not finish within {timeout:.0f}s; check the service manager"
        ) from exc
    except OSError as exc:
        raise ScheduleError(f"cannot run {args[0]}: {exc.strerror}; check that it is executable") from exc
    result = CommandResult(args, done.returncode, done.stdout, done.stderr)
    if check and done.returncode != 0:
        reason = _first_line(done.stderr) or _first_line(done.stdout) or f"exit status {done.returncode}"
        raise ScheduleError(f"{' '.join(args)} failed: {reason}")
    return result


def systemd_booted(run_dir: Path = Path("/run/systemd/system")) -> bool:
    """Whether the host was booted with systemd (the test sd_booted() makes)."""
    return run_dir.is_dir()


def systemctl_argv(args: Sequence[str], *, user: bool) -> tuple[str, ...]:
    """The systemctl command line for ``args`` in the system or the user manager."""
    return ("systemctl", *(("--user",) if user else ()), *args)


def systemctl(args: Sequence[str], *, user: bool) -> CommandResult:
    """Run ``systemctl [--user] ARGS``."""
    return run(systemctl_argv(args, user=user))


def read_user_crontab() -> str:
    """The invoking user's crontab, or "" if they have none."""
    result = run(CRONTAB_READ_ARGV, check=False)
    if result.returncode == 0:
        return result.stdout
    if "no crontab" in result.stderr.lower():
        return ""
    raise ScheduleError(f"crontab -l failed: {_first_line(result.stderr) or result.returncode}")


def write_user_crontab(text: str) -> None:
    """Replace the invoking user's crontab with ``text``."""
    run(CRONTAB_WRITE_ARGV, input_text=text)


# --- systemd-analyze, for checking what we generate ----------------------------------------------


def systemd_analyze_available() -> bool:
    """Whether ``systemd-analyze`` can be run here."""
    try:
        return run(("systemd-analyze", "--version"), check=False).returncode == 0
    except ScheduleError:
        return False


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
