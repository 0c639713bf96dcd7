"""Cron: the /etc/cron.d file or a block in a user crontab, and installing, removing and reading it.

Cron has no time zones and ORs the day-of-month and weekday fields, so the monthly run becomes a
wall-clock slot on days 8..14 (see :func:`scanner.schedule.calendar.local_slot`) whose command checks
the weekday itself, with the randomized delay drawn once per host. The watch is an ``@reboot`` line.
A user crontab is read and replaced with ``crontab`` (through :mod:`scanner.programs`) unless a
directory is given, and only our block in it is ever changed.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from scanner import __version__, programs
from scanner.errors import ScheduleError
from scanner.schedule.calendar import CalendarSpec, LocalSlot, local_slot, next_run
from scanner.schedule.definitions import (
    HEADER,
    check_argv,
    meta_delay,
    meta_line,
    read_meta,
    read_ours,
    read_text,
    unlink,
    write,
)
from scanner.schedule.kinds import Installed, Plan, ScheduleKind
from scanner.schedule.results import InstallRequest, InstallResult, LastRun, RemoveResult, ScheduleStatus

logger = logging.getLogger(__name__)

_BLOCK_BEGIN = "# BEGIN scanner-schedule (managed by `scanner schedule`; do not edit this block)"
_BLOCK_END = "# END scanner-schedule"
_SH_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
_CRON_RE = re.compile(
    r"^(?P<min>\d+) (?P<hour>\d+) (?P<first>\d+)-(?P<last>\d+) \* \*(?: \S+)? "
    r"\[ \"\$\(date \+\\%u\)\" = (?P<wd>[1-7]) \] && ",
    re.MULTILINE,
)


def sh_command(argv: Sequence[str]) -> str:
    """``argv`` as a POSIX shell command line."""
    words = []
    for arg in check_argv(argv, "cron"):
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
        HEADER,
        "# Monthly scan on the second Tuesday; cron ORs the day-of-month and weekday fields, so the",
        "# weekday is checked by the command.",
        meta_line(meta),
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
    lines = [_BLOCK_BEGIN, meta_line(meta), cron_line(slot, command, None)]
    if watch_command:
        lines.append(cron_reboot_line(watch_command, None))
    lines.append(_BLOCK_END)
    return "\n".join(lines) + "\n"


def split_crontab(text: str) -> tuple[str, str | None]:
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
    rest, _ = split_crontab(existing)
    if rest and not rest.endswith("\n"):
        rest += "\n"
    return rest + (block or "")


def install(request: InstallRequest, plan: Plan, rng: random.Random) -> InstallResult:
    """Write the cron file, or our block of a user crontab, for ``request`` where ``plan`` says.

    ``rng`` draws this host's fixed share of the randomized delay: cron cannot randomize by itself.
    """
    offset = timedelta(minutes=rng.randint(0, int(request.delay.total_seconds()) // 60))
    slot = local_slot(request.spec, request.zone, request.now, offset)
    logger.info("cron slot: %s local time (%s plus %s of the delay)", slot.calendar(), request.spec, offset)
    meta = _cron_meta(request.spec, slot, request.delay, request.command, request.watch_paths)
    commands: tuple[tuple[str, ...], ...] = ()
    files: tuple[Path, ...] = ()
    if request.kind is ScheduleKind.CRON:
        for existing in plan.monthly:
            read_ours(existing)
        write(plan.monthly[0], cron_file(slot, request.command, meta=meta, watch_command=request.watch_command))
        files = plan.monthly
    else:
        block = crontab_block(slot, request.command, meta=meta, watch_command=request.watch_command)
        if plan.location is None:
            _write_user_crontab(merge_crontab(_read_user_crontab(), block))
            commands = (programs.CRONTAB_READ_ARGV, programs.CRONTAB_WRITE_ARGV)
        else:
            target = plan.monthly[0]
            write(target, merge_crontab(read_text(target), block))
            files = plan.monthly
    calendar = slot.calendar()
    return InstallResult(
        kind=request.kind,
        location=plan.location,
        files=files,
        calendar=str(calendar),
        next_run=next_run(calendar, request.now, request.zone),
        randomized_delay=request.delay,
        watch_paths=request.watch_paths,
        removed=(),
        commands=commands,
        ran=bool(commands),
    )


def _read_user_crontab() -> str:
    logger.info("running %s", " ".join(programs.CRONTAB_READ_ARGV))
    return programs.read_user_crontab()


def _write_user_crontab(text: str) -> None:
    logger.info("running %s", " ".join(programs.CRONTAB_WRITE_ARGV))
    programs.write_user_crontab(text)


def remove(plan: Plan, present: Sequence[Path]) -> RemoveResult:
    """Delete ``present``, our cron file in ``plan`` (cron notices by itself)."""
    for path in present:
        unlink(path)
    return RemoveResult(kind=ScheduleKind.CRON, location=plan.location, removed=tuple(present), commands=(), ran=False)


def remove_user(plan: Plan) -> RemoveResult:
    """Take our block out of the user crontab (or the crontab file in ``plan``); other lines stay."""
    kind = ScheduleKind.CRON_USER
    if plan.location is None:
        current = _read_user_crontab()
        if split_crontab(current)[1] is None:
            logger.info("the user crontab holds no scanner-schedule block: nothing to remove")
            return RemoveResult(kind=kind, location=None, removed=(), commands=(programs.CRONTAB_READ_ARGV,), ran=True)
        _write_user_crontab(merge_crontab(current, None))
        both = (programs.CRONTAB_READ_ARGV, programs.CRONTAB_WRITE_ARGV)
        return RemoveResult(kind=kind, location=None, removed=(), commands=both, ran=True)
    target = plan.monthly[0]
    current = read_text(target)
    if split_crontab(current)[1] is None:
        logger.info("%s holds no scanner-schedule block: nothing to remove", target)
        return RemoveResult(kind=kind, location=plan.location, removed=(), commands=(), ran=False)
    remaining = merge_crontab(current, None)
    if remaining.strip():
        write(target, remaining)
    else:
        unlink(target)
    return RemoveResult(kind=kind, location=plan.location, removed=(target,), commands=(), ran=False)


def status(plan: Plan, found: Installed, now: datetime, local: tzinfo, last_run: LastRun | None) -> ScheduleStatus:
    """The installed /etc/cron.d-style file's slot and next run, read from ``found``."""
    text = found.monthly[0] if found.monthly else ""
    return _status_of(text, ScheduleKind.CRON, plan.location, found.files, now, local, last_run)


def user_status(plan: Plan, now: datetime, local: tzinfo, last_run: LastRun | None) -> ScheduleStatus:
    """Our block in the user crontab (read with ``crontab -l``) or in the crontab file in ``plan``."""
    kind = ScheduleKind.CRON_USER
    text = _read_user_crontab() if plan.location is None else read_text(plan.monthly[0])
    _, block = split_crontab(text)
    if block is None:
        return ScheduleStatus(False, kind, plan.location, last_run=last_run)
    return _status_of(block, kind, plan.location, plan.monthly, now, local, last_run)


def _status_of(
    text: str,
    kind: ScheduleKind,
    location: Path | None,
    files: tuple[Path, ...],
    now: datetime,
    local: tzinfo,
    last_run: LastRun | None,
) -> ScheduleStatus:
    meta = read_meta(text) or {}
    match = _CRON_RE.search(text)
    if match is None:
        logger.info("no monthly line of ours in the %s definition: not installed", kind.value)
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
        randomized_delay=meta_delay(meta),
        command=tuple(meta.get("command", ())),
        watch_paths=tuple(meta.get("watch", ())),
        last_run=last_run,
    )
