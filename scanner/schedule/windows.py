"""Windows Task Scheduler: the task XML, and registering, deleting and reading the tasks.

The monthly run is a task with a monthly day-of-week trigger (the second week's Tuesday) in the
host's wall clock, running as SYSTEM; the watch is a task started at boot. The XML files are written
to a directory (UTF-16, as ``schtasks /Create /XML`` wants) and registered with ``schtasks`` through
:mod:`scanner.programs` when the plan says so. Nothing here needs a Unix-only module, so it runs on
Windows; with ``--unit-dir`` it only writes the files, on any system.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from scanner import __version__, programs
from scanner.schedule.calendar import LocalSlot, local_slot, next_run
from scanner.schedule.definitions import check_argv, meta_delay, meta_line, read_meta, read_ours, unlink, write
from scanner.schedule.kinds import Installed, Plan, ScheduleKind
from scanner.schedule.results import InstallRequest, InstallResult, LastRun, RemoveResult, ScheduleStatus

logger = logging.getLogger(__name__)

WINDOWS_MONTHLY_TASK = "\\scanner\\monthly"
WINDOWS_WATCH_TASK = "\\scanner\\watch"
TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"

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


def format_iso_duration(span: timedelta) -> str:
    """A duration in ISO 8601 notation, as Task Scheduler wants it (``PT4H``, ``P1DT2H``)."""
    seconds = int(span.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")
    return text if text != "P" else "PT0S"


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
    args = check_argv(command, "task")
    ET.register_namespace("", TASK_NAMESPACE)
    task = ET.Element(f"{{{TASK_NAMESPACE}}}Task", {"version": "1.2"})
    info = _task_element(task, "RegistrationInfo")
    _task_element(info, "Description", description)
    _task_element(info, "Author", f"scanner {__version__}")
    triggers = _task_element(task, "Triggers")
    if slot is not None:
        _monthly_trigger(triggers, slot, randomized_delay, start)
    else:
        _task_element(triggers, "BootTrigger")
    principals = _task_element(task, "Principals")
    principal = _task_element(principals, "Principal")
    principal.set("id", "System")
    _task_element(principal, "UserId", "S-1-5-18")
    _task_element(principal, "RunLevel", "HighestAvailable")
    _settings(task, boot=slot is None)
    actions = _task_element(task, "Actions")
    actions.set("Context", "System")
    execute = _task_element(actions, "Exec")
    _task_element(execute, "Command", args[0])
    if len(args) > 1:
        _task_element(execute, "Arguments", windows_command_line(args[1:]))
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


def _monthly_trigger(
    triggers: ET.Element, slot: LocalSlot, randomized_delay: timedelta, start: datetime | None
) -> None:
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


def _settings(task: ET.Element, *, boot: bool) -> None:
    settings = _task_element(task, "Settings")
    _task_element(settings, "MultipleInstancesPolicy", "IgnoreNew")
    _task_element(settings, "DisallowStartIfOnBatteries", "false")
    _task_element(settings, "StopIfGoingOnBatteries", "false")
    # Like Persistent=true: a run missed while the machine was off happens as soon as possible.
    _task_element(settings, "StartWhenAvailable", "true")
    _task_element(settings, "ExecutionTimeLimit", "PT0S" if boot else "P1D")
    # 7 is below-normal CPU and low I/O priority.
    _task_element(settings, "Priority", "7")
    if boot:
        restart = _task_element(settings, "RestartOnFailure")
        _task_element(restart, "Interval", "PT1M")
        _task_element(restart, "Count", "3")


def schtasks_create_argv(xml_path: Path | str, name: str = WINDOWS_MONTHLY_TASK) -> tuple[str, ...]:
    """The command that registers the task defined in ``xml_path`` (replacing one of the same name)."""
    return ("schtasks", "/Create", "/XML", str(xml_path), "/TN", name, "/F")


def schtasks_delete_argv(name: str = WINDOWS_MONTHLY_TASK) -> tuple[str, ...]:
    """The command that deletes the task ``name``."""
    return ("schtasks", "/Delete", "/TN", name, "/F")


def install(request: InstallRequest, plan: Plan) -> InstallResult:
    """Write the task XML of ``request`` where ``plan`` says, then (when managed) register the tasks.

    A watch task left from an earlier install is deleted when no watch is wanted now.
    """
    (monthly_xml,) = plan.monthly
    (watch_xml,) = plan.watch
    for path in (monthly_xml, watch_xml):
        read_ours(path)
    slot = local_slot(request.spec, request.zone, request.now)
    logger.info("task slot: %s local time (%s)", slot.calendar(), request.spec)
    first = next_run(slot.calendar(), request.now, request.zone)
    _write_monthly_task(monthly_xml, request, slot, first)
    files = [monthly_xml]
    commands = [schtasks_create_argv(monthly_xml, WINDOWS_MONTHLY_TASK)]
    stale = not request.watch_command and watch_xml.exists()
    if request.watch_command:
        watch_meta = {
            "watch": list(request.watch_paths),
            "command": list(request.watch_command),
            "version": __version__,
        }
        watch_description = f"Real-time malicious-software watch (scanner).\n{meta_line(watch_meta)}"
        write(watch_xml, windows_task_xml(request.watch_command, slot=None, description=watch_description), utf16=True)
        files.append(watch_xml)
        commands.append(schtasks_create_argv(watch_xml, WINDOWS_WATCH_TASK))
    elif stale:
        commands.append(schtasks_delete_argv(WINDOWS_WATCH_TASK))
    if plan.managed:
        _run_all(commands)
    if stale:
        logger.info("no watch wanted any more: removing %s", watch_xml)
        unlink(watch_xml)
    return InstallResult(
        kind=ScheduleKind.WINDOWS_TASK,
        location=plan.location,
        files=tuple(files),
        calendar=str(slot.calendar()),
        next_run=first,
        randomized_delay=request.delay,
        watch_paths=request.watch_paths,
        removed=(watch_xml,) if stale else (),
        commands=tuple(commands),
        ran=plan.managed,
    )


def _write_monthly_task(path: Path, request: InstallRequest, slot: LocalSlot, first: datetime | None) -> None:
    meta = {
        "calendar": str(request.spec),
        "randomized_delay_sec": int(request.delay.total_seconds()),
        "command": list(request.command),
        "watch": list(request.watch_paths),
        "version": __version__,
    }
    description = f"Monthly malicious-software scan (scanner).\n{meta_line(meta)}"
    xml = windows_task_xml(
        request.command,
        slot=slot,
        randomized_delay=request.delay,
        description=description,
        start=first.replace(tzinfo=None) if first else None,
    )
    write(path, xml, utf16=True)


def _run_all(commands: Sequence[tuple[str, ...]]) -> None:
    for argv in commands:
        logger.info("running %s", " ".join(argv))
        programs.run(argv)


def remove(plan: Plan, present: Sequence[Path]) -> RemoveResult:
    """Delete the registered tasks (when managed), then ``present``, our task files in ``plan``."""
    commands = [
        schtasks_delete_argv(WINDOWS_MONTHLY_TASK if path in plan.monthly else WINDOWS_WATCH_TASK) for path in present
    ]
    if plan.managed:
        _run_all(commands)
    for path in present:
        unlink(path)
    return RemoveResult(
        kind=ScheduleKind.WINDOWS_TASK,
        location=plan.location,
        removed=tuple(present),
        commands=tuple(commands),
        ran=plan.managed and bool(commands),
    )


def status(plan: Plan, found: Installed, now: datetime, local: tzinfo, last_run: LastRun | None) -> ScheduleStatus:
    """The registered monthly task's slot and next run, read back from its XML in ``found``."""
    text = found.monthly[0] if found.monthly else ""
    location, files = plan.location, found.files
    # The XML declaration names UTF-16 but the text is already decoded. The file is one we wrote
    # into a directory only its owner can change, and expat refuses entity-expansion bombs.
    body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
    root = ET.fromstring(body)  # noqa: S314
    ns = {"t": TASK_NAMESPACE}
    boundary = root.findtext("t:Triggers/t:CalendarTrigger/t:StartBoundary", namespaces=ns)
    week = root.findtext("t:Triggers/t:CalendarTrigger/t:ScheduleByMonthDayOfWeek/t:Weeks/t:Week", namespaces=ns)
    days = root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByMonthDayOfWeek/t:DaysOfWeek", namespaces=ns)
    if boundary is None or week is None or days is None or len(days) != 1 or not week.isdigit():
        logger.info("%s holds no monthly trigger of ours: not installed", plan.monthly[0])
        return ScheduleStatus(False, ScheduleKind.WINDOWS_TASK, location, files, last_run=last_run)
    start = datetime.fromisoformat(boundary)
    weekday = _TASK_WEEKDAYS.index(days[0].tag.split("}", 1)[1]) + 1
    first_day = (int(week) - 1) * 7 + 1
    slot = LocalSlot(weekday, first_day, first_day + 6, start.hour, start.minute)
    meta = read_meta(root.findtext("t:RegistrationInfo/t:Description", default="", namespaces=ns)) or {}
    calendar = slot.calendar()
    return ScheduleStatus(
        installed=True,
        kind=ScheduleKind.WINDOWS_TASK,
        location=location,
        files=files,
        calendar=str(calendar),
        next_run=next_run(calendar, now, local),
        randomized_delay=meta_delay(meta),
        command=tuple(meta.get("command", ())),
        watch_paths=found.watch_paths,
        last_run=last_run,
    )
