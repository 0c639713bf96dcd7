"""The systemd timer: unit text, and installing, removing and reading it.

The monthly run is ``scanner-monthly.service`` started by ``scanner-monthly.timer`` on the calendar
expression itself (systemd understands time zones); the optional watch is ``scanner-watch.service``
started at boot. Units go to a directory of the system or the user manager; ``systemctl`` runs
through :mod:`scanner.programs` only when the plan says the host's manager is ours to tell.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from scanner import __version__, programs
from scanner.errors import ScheduleError
from scanner.schedule.calendar import CalendarSpec, next_run, parse_calendar
from scanner.schedule.definitions import HEADER, check_argv, meta_delay, meta_line, read_meta, read_ours, unlink, write
from scanner.schedule.kinds import MONTHLY_UNIT, Installed, Plan, ScheduleKind
from scanner.schedule.results import InstallRequest, InstallResult, LastRun, RemoveResult, ScheduleStatus

logger = logging.getLogger(__name__)

_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./$-]+")
_ONCALENDAR_RE = re.compile(r"^OnCalendar=(.+)$", re.MULTILINE)


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
    args = check_argv(argv, "service")
    if not os.path.isabs(args[0]):
        raise ScheduleError(f"the program {args[0]!r} is not an absolute path; systemd and cron need one")
    return " ".join(_systemd_word(arg, first=index == 0) for index, arg in enumerate(args))


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
        HEADER,
        meta_line({"unit": "monthly", "command": list(command), "version": __version__}),
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
            HEADER,
            meta_line(
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
        HEADER,
        meta_line({"unit": "watch", "command": list(command), "watch": list(watch_paths), "version": __version__}),
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


def install(request: InstallRequest, plan: Plan) -> InstallResult:
    """Write the units of ``request`` where ``plan`` says, then (when managed) enable the timer.

    A watch unit left from an earlier install is disabled and deleted when no watch is wanted now.
    """
    user = request.kind is ScheduleKind.SYSTEMD_USER
    service, timer = plan.monthly
    (watch,) = plan.watch
    for path in (*plan.monthly, *plan.watch):
        read_ours(path)  # refuse to overwrite someone else's unit of the same name
    write(service, monthly_service_unit(request.command, user=user))
    write(timer, monthly_timer_unit(request.spec, request.delay))
    files = [service, timer]
    units = [timer.name]
    stale = not request.watch_command and watch.exists()
    if request.watch_command:
        write(watch, watch_service_unit(request.watch_command, request.watch_paths, user=user))
        files.append(watch)
        units.append(watch.name)
    commands = _install_commands(stale, watch.name, units, user=user)
    if plan.managed and stale:
        _systemctl(("disable", "--now", watch.name), user=user)
    if stale:
        logger.info("no watch wanted any more: removing %s", watch)
        unlink(watch)
    if plan.managed:
        _systemctl(("daemon-reload",), user=user)
        _systemctl(("enable", "--now", *units), user=user)
    return InstallResult(
        kind=request.kind,
        location=plan.location,
        files=tuple(files),
        calendar=str(request.spec),
        next_run=next_run(request.spec, request.now, request.zone),
        randomized_delay=request.delay,
        watch_paths=request.watch_paths,
        removed=(watch,) if stale else (),
        commands=commands,
        ran=plan.managed,
    )


def _install_commands(stale: bool, watch: str, units: Sequence[str], *, user: bool) -> tuple[tuple[str, ...], ...]:
    commands: list[tuple[str, ...]] = []
    if stale:
        commands.append(programs.systemctl_argv(("disable", "--now", watch), user=user))
    commands.append(programs.systemctl_argv(("daemon-reload",), user=user))
    commands.append(programs.systemctl_argv(("enable", "--now", *units), user=user))
    return tuple(commands)


def _systemctl(args: Sequence[str], *, user: bool) -> None:
    logger.info("running %s", " ".join(programs.systemctl_argv(args, user=user)))
    programs.systemctl(args, user=user)


def remove(kind: ScheduleKind, plan: Plan, present: Sequence[Path]) -> RemoveResult:
    """Disable the timer and the watch (when managed), then delete ``present``, our units in ``plan``.

    The units are deleted only after ``systemctl disable`` succeeded, so its failure leaves them in place.
    """
    user = kind is ScheduleKind.SYSTEMD_USER
    names = tuple(p.name for p in present if p.suffix in (".timer", ".service") and p.name != f"{MONTHLY_UNIT}.service")
    commands: list[tuple[str, ...]] = []
    if names:
        commands.append(programs.systemctl_argv(("disable", "--now", *names), user=user))
    if present:
        commands.append(programs.systemctl_argv(("daemon-reload",), user=user))
    if plan.managed and names:
        _systemctl(("disable", "--now", *names), user=user)
    for path in present:
        unlink(path)
    if plan.managed and present:
        _systemctl(("daemon-reload",), user=user)
    return RemoveResult(
        kind=kind,
        location=plan.location,
        removed=tuple(present),
        commands=tuple(commands),
        ran=plan.managed and bool(commands),
    )


def status(
    kind: ScheduleKind, plan: Plan, found: Installed, now: datetime, local: tzinfo, last_run: LastRun | None
) -> ScheduleStatus:
    """The installed timer's calendar and next elapse, read from ``found`` (the units in ``plan``)."""
    service_text, timer_text = found.monthly or ("", "")
    match = _ONCALENDAR_RE.search(timer_text)
    if match is None:
        logger.info("%s has no OnCalendar= line: not installed", plan.monthly[1])
        return ScheduleStatus(False, kind, plan.location, found.files, last_run=last_run)
    expression = match.group(1).strip()
    try:
        upcoming = next_run(parse_calendar(expression), now, local)
    except ScheduleError as exc:
        # Hand-edited beyond what this tool can compute; systemd still runs it.
        logger.info("cannot compute the next run of %r (%s): leaving it to systemd", expression, exc)
        upcoming = None
    return ScheduleStatus(
        installed=True,
        kind=kind,
        location=plan.location,
        files=found.files,
        calendar=expression,
        next_run=upcoming,
        randomized_delay=meta_delay(read_meta(timer_text) or {}),
        command=tuple((read_meta(service_text) or {}).get("command", ())),
        watch_paths=found.watch_paths,
        last_run=last_run,
    )
