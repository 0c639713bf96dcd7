"""Tests for the monthly schedule: next-run computation against systemd itself, generated units
checked by systemd-analyze, cron's weekday guard run through sh, and the Windows task definition.

systemctl, crontab and schtasks cannot run here (no service manager, no cron, no Windows); where
install/remove must call them, a stand-in script on PATH records the call instead.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scanner import programs
from scanner.errors import ScheduleError
from scanner.schedule import calendar, definitions, kinds, systemd, windows
from scanner.schedule import scheduler as schedule
from scanner.schedule.calendar import CalendarSpec
from scanner.schedule.kinds import ScheduleKind
from scanner.schedule.results import LastRun

HAS_ANALYZE = shutil.which("systemd-analyze") is not None
needs_analyze = pytest.mark.skipif(
    not HAS_ANALYZE, reason="systemd-analyze is not installed (.ci/run installs the systemd package)"
)
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
NS = {"t": windows.TASK_NAMESPACE}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- systemd-analyze: systemd's own answers to compare with -----------------------------------

ELAPSE_RE = re.compile(r"^\s*(?:Next elapse|Iter\. #\d+|\(in UTC\)):\s+\w{3} (\S+ \S+) (\S+)$")


@dataclass(frozen=True)
class CalendarAnalysis:
    """What ``systemd-analyze calendar`` said about an expression."""

    normalized: str
    """systemd's normalised form of the expression."""
    elapses: tuple[datetime, ...]
    """The next elapses, in UTC."""


def analyze_calendar(
    expression: str, *, base: datetime, iterations: int = 1, local_zone: str = "UTC"
) -> CalendarAnalysis:
    """systemd's own next ``iterations`` elapses of ``expression`` after ``base``.

    ``local_zone`` is the TZ systemd-analyze runs under: the zone of an expression naming none.
    """
    env = dict(os.environ, TZ=local_zone, LC_ALL="C")
    stamp = f"@{base.timestamp():.6f}"
    argv = ["systemd-analyze", "calendar", f"--base-time={stamp}", f"--iterations={iterations}", expression]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=True)
    normalized = ""
    elapses: list[datetime] = []
    for line in done.stdout.splitlines():
        if line.strip().startswith("Normalized form:"):
            normalized = line.split(":", 1)[1].strip()
            continue
        match = ELAPSE_RE.match(line)
        if match is None:
            continue
        moment, zone = match.group(1), match.group(2)
        if line.strip().startswith("(in UTC)"):
            elapses[-1] = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        else:
            # Local-time lines are followed by an "(in UTC)" line that replaces this placeholder.
            elapses.append(datetime.fromisoformat(moment).replace(tzinfo=UTC) if zone == "UTC" else datetime.min)
    assert all(e != datetime.min for e in elapses), f"could not read systemd-analyze's answer for {expression!r}"
    return CalendarAnalysis(normalized, tuple(elapses))


def verify_units(
    paths: list[Path], *, user: bool = False, runtime_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on unit files (without the man-page check); findings do not raise.

    The user manager needs a runtime directory; pass one (e.g. a temporary directory) for ``user``.
    """
    env = dict(os.environ)
    if runtime_dir is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", "--man=no", *map(str, paths)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def next_runs(spec: CalendarSpec | str, now: datetime, count: int, zone: ZoneInfo) -> list[datetime]:
    """The next ``count`` elapses after ``now``, each found by next_run from the one before."""
    runs: list[datetime] = []
    current = now
    for _ in range(count):
        nxt = calendar.next_run(spec, current, zone)
        if nxt is None:
            break
        runs.append(nxt)
        current = nxt
    return runs


# --- calendar expressions -------------------------------------------------------------------


@needs_analyze
@pytest.mark.parametrize(
    "expression",
    [
        "Tue *-*-08..14 20:00 UTC",
        "Tue *-*-8..14 12:00 America/Los_Angeles",
        "*-*-* 02:30",
        "Mon..Fri *-*-* 00:00:05",
        "Sat,Sun *-*-31 23:59 Europe/Berlin",
        "Mon,Tue,Wed,Fri *-*-01..07 07:00",
    ],
)
def test_normalized_form_is_the_one_systemd_prints(expression: str) -> None:
    analysis = analyze_calendar(expression, base=NOW)
    assert str(calendar.parse_calendar(expression)) == analysis.normalized


@pytest.mark.parametrize(
    "text",
    [
        "Tue *-*-08..14 25:00 UTC",
        "Tue *-*-08..14 20:61",
        "Tue *-*-14..08 20:00",
        "Tue *-*-00..14 20:00",
        "Fri..Mon *-*-* 20:00",
        "Tues *-*-08..14 20:00",
        "Tue *-*-08..14 20:00 Nowhere/Zone",
        "Tue *-*-08..14 20:00 ../../etc/passwd",
        "Tue *-*-08..14 20:00 CET",
        "Tue *-*-08..14 20:00\nExecStartPre=/bin/sh",
        "Tue 2026-*-08..14 20:00",
    ],
)
def test_malformed_calendar_expressions_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        calendar.parse_calendar(text)


@pytest.mark.parametrize(
    "time", ["20:00\nExecStartPre=/bin/sh -c evil", "20:00 UTC\n[Service]", "8pm", "20:00 Mars/Olympus"]
)
def test_time_that_would_inject_unit_lines_is_refused(time: str, tmp_path: Path) -> None:
    with pytest.raises(ScheduleError):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, time=time, now=NOW)
    assert list(tmp_path.iterdir()) == []


# Bases: an ordinary day; a year whose April 8th is a Tuesday; exactly at an elapse (the next one
# must be a month later); a microsecond before one; mid-afternoon of the second Tuesday.
BASES = [
    "2026-11-22T02:00:00",
    "2025-04-01T00:00:00",
    "2025-04-08T20:00:00",
    "2025-04-08T19:59:59.999999",
    "2026-09-08T15:00:00",
]


@needs_analyze
@pytest.mark.parametrize(
    ("time", "local_zone"),
    [
        ("20:00 UTC", "UTC"),
        ("12:00 America/Los_Angeles", "Asia/Tokyo"),
        ("03:30", "Europe/Berlin"),
        ("20:00", "America/New_York"),
        ("00:15", "Australia/Sydney"),
    ],
)
@pytest.mark.parametrize("base", BASES)
def test_next_runs_over_24_months_agree_with_systemd(time: str, local_zone: str, base: str) -> None:
    spec = calendar.monthly_spec(time)
    start = utc(base)
    expected = analyze_calendar(str(spec), base=start, iterations=24, local_zone=local_zone).elapses
    ours = next_runs(spec, start, 24, ZoneInfo(local_zone))
    assert [run.astimezone(UTC) for run in ours] == list(expected)
    assert ours[0] > start
    for run in ours:
        assert run.isoweekday() == 2
        assert 8 <= run.day <= 14


def test_the_8th_is_chosen_when_it_is_a_tuesday() -> None:
    runs = next_runs(calendar.monthly_spec(), utc("2025-01-01T00:00:00"), 24, ZoneInfo("UTC"))
    eighths = [run.date() for run in runs if run.day == 8]
    assert date(2025, 4, 8) in eighths and date(2025, 7, 8) in eighths
    assert [(run.year, run.month) for run in runs] == sorted({(run.year, run.month) for run in runs})


# Clock changes: the spring gap (a 02:30 event skips that day), the autumn repeat (systemd takes the
# first 02:30 unless the search starts between the two), zones that change at midnight, a 30-minute
# change (Lord Howe) and a zone whose winter time is its "daylight" time in tzdata (Dublin).
CLOCK_CHANGE_CASES = [
    ("*-*-* 02:30 Europe/Berlin", "UTC", "2024-03-29T00:00:00"),
    ("*-*-* 02:30 Europe/Berlin", "UTC", "2024-10-26T00:00:00"),
    ("*-*-* 02:30 Europe/Berlin", "UTC", "2024-10-27T00:40:00"),
    ("*-*-* 02:30 Europe/Berlin", "UTC", "2024-10-27T01:10:00"),
    ("*-*-* 02:30", "Europe/Berlin", "2024-10-27T01:10:00"),
    ("*-*-* 02:30", "Europe/Berlin", "2024-03-30T12:00:00"),
    ("Tue *-*-08..14 02:30", "America/New_York", "2024-03-01T00:00:00"),
    ("Sun *-*-08..14 02:30", "America/New_York", "2024-03-01T00:00:00"),
    ("Sun *-*-01..07 01:30", "America/New_York", "2024-10-30T00:00:00"),
    ("*-*-* 12:00 America/Santiago", "UTC", "2024-09-06T00:00:00"),
    ("*-*-08 00:00 America/Santiago", "UTC", "2024-09-01T00:00:00"),
    ("Sun *-*-08..14 00:30 America/Havana", "UTC", "2026-03-01T00:00:00"),
    ("*-*-* 02:15 Australia/Lord_Howe", "UTC", "2024-10-04T00:00:00"),
    ("*-*-* 01:50 Australia/Lord_Howe", "UTC", "2024-04-05T00:00:00"),
    ("*-*-* 01:30 Europe/Dublin", "UTC", "2024-03-29T00:00:00"),
    ("*-*-* 01:30 Europe/Dublin", "UTC", "2024-10-26T23:50:00"),
    ("Mon..Fri *-*-* 00:00", "America/Sao_Paulo", "2018-11-01T00:00:00"),
]


@needs_analyze
@pytest.mark.parametrize(("expression", "local_zone", "base"), CLOCK_CHANGE_CASES)
def test_next_runs_across_clock_changes_agree_with_systemd(expression: str, local_zone: str, base: str) -> None:
    start = utc(base)
    expected = analyze_calendar(expression, base=start, iterations=6, local_zone=local_zone).elapses
    ours = next_runs(expression, start, 6, ZoneInfo(local_zone))
    assert [run.astimezone(UTC) for run in ours] == list(expected)


def test_spring_gap_day_is_skipped_and_autumn_repeat_runs_once() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = next_runs("*-*-* 02:30", utc("2024-03-30T12:00:00"), 2, berlin)
    assert [run.date() for run in spring] == [date(2024, 4, 1), date(2024, 4, 2)]
    autumn = next_runs("*-*-* 02:30", utc("2024-10-26T12:00:00"), 2, berlin)
    assert [run.date() for run in autumn] == [date(2024, 10, 27), date(2024, 10, 28)]
    assert autumn[0].utcoffset() == timedelta(hours=2)  # the first of the two 02:30s


def test_next_run_needs_an_aware_now() -> None:
    with pytest.raises(ScheduleError):
        calendar.next_run(calendar.monthly_spec(), datetime(2026, 1, 1))


# --- systemd units --------------------------------------------------------------------------


def verify(paths: list[Path], tmp_path: Path, *, user: bool = False) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    result = verify_units(paths, user=user, runtime_dir=runtime)
    # systemd-analyze exits 0 on mere warnings (unknown keys), so the output must be empty too.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_analyze
@pytest.mark.parametrize("kind", [ScheduleKind.SYSTEMD_SYSTEM, ScheduleKind.SYSTEMD_USER])
def test_generated_units_pass_systemd_analyze_verify(kind: ScheduleKind, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "scanner", "monthly", "a b", "100%", "$HOME", ";", 'q"\\', "it's"]
    result = schedule.install(
        kind, tmp_path / "units", command=command, watch_paths=[tmp_path / "watched dir"], now=NOW
    )
    assert [p.name for p in result.files] == [
        "scanner-monthly.service",
        "scanner-monthly.timer",
        "scanner-watch.service",
    ]
    verify(list(result.files), tmp_path, user=kind is ScheduleKind.SYSTEMD_USER)


@needs_analyze
@pytest.mark.parametrize("time", ["12:00 America/Los_Angeles", "03:30", "20:00:30 UTC"])
def test_timer_with_other_times_passes_verify(time: str, tmp_path: Path) -> None:
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, time=time, now=NOW)
    verify(list(result.files), tmp_path)


@needs_analyze
def test_program_path_with_space_percent_and_dollar_reaches_systemd_intact(tmp_path: Path) -> None:
    # verify reports "Command ... is not executable" unless systemd reads the path back exactly.
    odd = tmp_path / "dir 100%x$y"
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", command=[str(odd / "python"), "-V"], now=NOW)
    verify([result.files[0]], tmp_path)
    unquoted = (tmp_path / "u" / "scanner-monthly.service").read_text().replace('"', "")
    broken = tmp_path / "broken" / "scanner-monthly.service"
    broken.parent.mkdir()
    broken.write_text(unquoted)
    assert verify_units([broken]).returncode != 0


def test_exec_start_quoting_rules() -> None:
    line = systemd.systemd_exec_line(["/opt/my app/py", "-m", "x", "50%", "$PATH", ";", "a b", 'q"', "back\\slash", ""])
    assert line == '"/opt/my app/py" -m x 50%% $$PATH ";" "a b" "q\\"" "back\\\\slash" ""'
    assert systemd.systemd_exec_line(["/p/100%/$x"]) == "/p/100%%/$x"  # no $ substitution in the path
    with pytest.raises(ScheduleError):
        systemd.systemd_exec_line(["python3", "-m", "scanner"])
    with pytest.raises(ScheduleError):
        systemd.systemd_exec_line(["/usr/bin/python3", "a\nExecStartPost=/bin/evil"])


def unit_settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_service_runs_quietly_and_keeps_remediation_possible(tmp_path: Path) -> None:
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, now=NOW)
    service = unit_settings(result.files[0].read_text())
    timer = unit_settings(result.files[1].read_text())
    assert service["ExecStart"] == f"{sys.executable} -m scanner monthly"
    assert service["Type"] == "oneshot"
    assert (service["Nice"], service["IOSchedulingClass"], service["CPUSchedulingPolicy"]) == ("19", "idle", "batch")
    assert service["NoNewPrivileges"] == "yes" and service["MemoryDenyWriteExecute"] == "yes"
    # The job must see and change /tmp, /dev/shm, /home, /etc, /usr and kernel module files.
    for blinding in (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelModules",
        "ProtectProc",
        "ProcSubset",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "PrivateUsers",
    ):
        assert blinding not in service
    for needed in ("CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE", "CAP_FOWNER", "CAP_LINUX_IMMUTABLE"):
        assert needed not in service["CapabilityBoundingSet"]
    assert service["CapabilityBoundingSet"].startswith("~")
    assert timer["OnCalendar"] == "Tue *-*-08..14 20:00:00 UTC"
    assert timer["Persistent"] == "true"
    assert timer["RandomizedDelaySec"] == "4h"
    assert timer["WantedBy"] == "timers.target"


def test_watch_service_starts_at_boot_with_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = schedule.install(ScheduleKind.SYSTEMD_USER, tmp_path / "u", watch_paths=["-rf", "Downloads"], now=NOW)
    watch = unit_settings(result.files[2].read_text())
    assert watch["ExecStart"] == f"{sys.executable} -m scanner watch {tmp_path}/-rf {tmp_path}/Downloads"
    assert watch["WantedBy"] == "default.target"
    assert watch["Restart"] == "on-failure"
    assert result.watch_paths == (f"{tmp_path}/-rf", f"{tmp_path}/Downloads")


@pytest.mark.skipif(ctypes.util.find_library("seccomp") is None, reason="libseccomp is not installed")
def test_memory_deny_write_execute_leaves_python_and_yara_working(tmp_path: Path) -> None:
    # MemoryDenyWriteExecute=yes is a seccomp filter refusing writable+executable mappings and
    # mprotect(PROT_EXEC). Install the same filter in a child and use every native library the
    # monthly job loads; a dependency that needs a JIT or W+X memory would make this fail.
    script = textwrap.dedent(
        """
        import ctypes, errno, mmap
        lib = ctypes.CDLL("libseccomp.so.2")
        class Cmp(ctypes.Structure):
            _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(Cmp)]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        ctx = lib.seccomp_init(0x7FFF0000)
        deny = 0x00050000 | errno.EPERM
        masked_eq = 7
        # Refused when (argument & mask) == mask: PROT_WRITE|PROT_EXEC for mmap, PROT_EXEC, SHM_EXEC.
        rules = ((b"mmap", 6), (b"mprotect", 4), (b"pkey_mprotect", 4), (b"shmat", 0o100000))
        for name, mask in rules:
            rule = (Cmp * 1)(Cmp(2, masked_eq, mask, mask))
            assert lib.seccomp_rule_add_array(ctx, deny, lib.seccomp_syscall_resolve_name(name), 1, rule) == 0
        assert lib.seccomp_load(ctx) == 0
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            raise SystemExit("the filter is not active")
        except PermissionError:
            pass
        import os, ssl
        import yara, psutil, requests, watchdog.observers, tuf.ngclient
        from cryptography.hazmat.primitives.asymmetric import ed25519
        key = ed25519.Ed25519PrivateKey.generate()
        key.public_key().verify(key.sign(b"feed"), b"feed")
        rules = yara.compile(source='rule t { strings: $a = "indicator" condition: $a }')
        assert [m.rule for m in rules.match(data=b"an indicator here")] == ["t"]
        rules.match(pid=os.getpid())
        psutil.Process().memory_maps()
        ssl.create_default_context()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --- install, remove, status over a unit directory -------------------------------------------


def test_install_status_remove_round_trip(tmp_path: Path) -> None:
    units = tmp_path / "units"
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, units, now=NOW)
    assert result.ran is False
    assert result.commands == (
        ("systemctl", "daemon-reload"),
        ("systemctl", "enable", "--now", "scanner-monthly.timer"),
    )
    assert result.next_run == utc("2026-12-08T20:00:00")
    assert oct(result.files[0].stat().st_mode & 0o777) == "0o644"

    last = LastRun(time=utc("2026-11-10T21:13:00"), exit_code=1, scan_id="20261110-211300")
    state = schedule.status(ScheduleKind.SYSTEMD_SYSTEM, units, now=NOW, last_run=last)
    assert state.installed and state.files == result.files[:2]
    assert state.command == (sys.executable, "-m", "scanner", "monthly")
    rendered = json.loads(json.dumps(state.to_dict()))
    assert rendered["next_run"] == "2026-12-08T20:00:00+00:00"
    assert datetime.fromisoformat(rendered["next_run"]) == utc("2026-12-08T20:00:00")
    assert rendered["kind"] == "systemd-system" and rendered["location"] == str(units)
    assert rendered["last_run"] == {
        "time": "2026-11-10T21:13:00+00:00",
        "exit_code": 1,
        "result": "found",
        "scan_id": "20261110-211300",
    }
    assert rendered["randomized_delay_sec"] == 14400

    removed = schedule.remove(ScheduleKind.SYSTEMD_SYSTEM, units)
    assert set(removed.removed) == set(result.files)
    assert list(units.iterdir()) == []
    assert schedule.status(ScheduleKind.SYSTEMD_SYSTEM, units, now=NOW).installed is False
    assert schedule.remove(ScheduleKind.SYSTEMD_SYSTEM, units).removed == ()


def test_status_of_nothing_installed(tmp_path: Path) -> None:
    state = schedule.status(ScheduleKind.SYSTEMD_USER, tmp_path, now=NOW)
    assert state.to_dict()["installed"] is False
    assert state.next_run is None and state.to_dict()["next_run"] is None


def test_status_follows_an_edited_timer(tmp_path: Path) -> None:
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, now=NOW)
    timer = result.files[1]
    timer.write_text(timer.read_text().replace("20:00:00 UTC", "12:00:00 America/Los_Angeles"))
    state = schedule.status(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, now=NOW)
    assert state.next_run == datetime(2026, 12, 8, 12, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    timer.write_text(timer.read_text().replace("Tue *-*-08..14 12:00:00 America/Los_Angeles", "monthly"))
    state = schedule.status(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, now=NOW)
    assert (state.installed, state.calendar, state.next_run) == (True, "monthly", None)


def fake_tool(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)
    return tool


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl on PATH that appends its arguments to a log (no service manager runs here)."""
    log = tmp_path / "systemctl.log"
    fake_tool(tmp_path / "bin", "systemctl", f'echo "$*" >> {log}\n[ -z "$FAIL" ] || {{ echo "$FAIL" >&2; exit 1; }}\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.parametrize(("kind", "flag"), [(ScheduleKind.SYSTEMD_SYSTEM, ""), (ScheduleKind.SYSTEMD_USER, "--user ")])
def test_install_and_remove_drive_systemctl_when_asked(
    kind: ScheduleKind, flag: str, tmp_path: Path, fake_systemctl: Path
) -> None:
    units = tmp_path / "units"
    result = schedule.install(kind, units, watch_paths=[tmp_path], run_systemctl=True, now=NOW)
    assert result.ran
    assert fake_systemctl.read_text().splitlines() == [
        f"{flag}daemon-reload",
        f"{flag}enable --now scanner-monthly.timer scanner-watch.service",
    ]
    fake_systemctl.unlink()
    schedule.remove(kind, units, run_systemctl=True)
    assert fake_systemctl.read_text().splitlines() == [
        f"{flag}disable --now scanner-monthly.timer scanner-watch.service",
        f"{flag}daemon-reload",
    ]
    assert list(units.iterdir()) == []


def test_systemctl_failure_is_reported_in_one_line(
    tmp_path: Path, fake_systemctl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "Failed to connect to bus: No medium found")
    with pytest.raises(ScheduleError, match=r"^systemctl daemon-reload failed: Failed to connect to bus") as info:
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", run_systemctl=True, now=NOW)
    assert "\n" not in str(info.value)
    # Removing when systemctl fails keeps the files, so the state stays consistent.
    with pytest.raises(ScheduleError):
        schedule.remove(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", run_systemctl=True)
    assert (tmp_path / "u" / "scanner-monthly.timer").exists()


def test_missing_systemctl_is_a_schedule_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ScheduleError, match="systemctl was not found"):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", run_systemctl=True, now=NOW)


def test_reinstall_without_watch_removes_the_old_watch_unit(tmp_path: Path, fake_systemctl: Path) -> None:
    schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", watch_paths=[tmp_path], now=NOW)
    result = schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", run_systemctl=True, now=NOW)
    assert result.removed == (tmp_path / "u" / "scanner-watch.service",)
    assert not result.removed[0].exists()
    assert fake_systemctl.read_text().splitlines()[0] == "disable --now scanner-watch.service"
    assert schedule.status(ScheduleKind.SYSTEMD_SYSTEM, tmp_path / "u", now=NOW).watch_paths == ()


@pytest.mark.parametrize("kind", [ScheduleKind.SYSTEMD_SYSTEM, ScheduleKind.CRON])
def test_system_schedule_needs_root(kind: ScheduleKind) -> None:
    # Refused before anything is written, so the real /etc is never touched.
    with pytest.raises(ScheduleError, match="needs root; run as root or use --user"):
        schedule.install(kind, euid=1000, now=NOW)
    with pytest.raises(ScheduleError, match="needs root"):
        schedule.remove(kind, euid=1000)


def test_unwritable_unit_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ScheduleError, match=r"^cannot write .*scanner-monthly.service: .*writable$"):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, blocker / "units", now=NOW)


def test_a_symlink_in_place_of_a_unit_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    units = tmp_path / "units"
    units.mkdir()
    (units / "scanner-monthly.timer").symlink_to(victim)
    with pytest.raises(ScheduleError, match="not written by scanner"):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, units, now=NOW)
    victim.write_text(f"{definitions.MARKER} {{}}\n")  # now it looks like ours: still only the link goes
    schedule.install(ScheduleKind.SYSTEMD_SYSTEM, units, now=NOW)
    assert victim.read_text() == f"{definitions.MARKER} {{}}\n"
    assert not (units / "scanner-monthly.timer").is_symlink()


def test_someone_elses_unit_is_neither_overwritten_nor_removed(tmp_path: Path) -> None:
    foreign = tmp_path / "scanner-monthly.service"
    foreign.write_text("[Service]\nExecStart=/usr/local/bin/their-own-scan\n")
    with pytest.raises(ScheduleError, match="was not written by scanner; move it away or remove it by hand"):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, now=NOW)
    with pytest.raises(ScheduleError, match="not written by scanner"):
        schedule.remove(ScheduleKind.SYSTEMD_SYSTEM, tmp_path)
    assert foreign.read_text().startswith("[Service]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scanner-monthly.service"]


@pytest.mark.parametrize("delay", [timedelta(seconds=-1), timedelta(days=7)])
def test_randomized_delay_is_bounded(delay: timedelta, tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="randomized delay"):
        schedule.install(ScheduleKind.SYSTEMD_SYSTEM, tmp_path, randomized_delay=delay, now=NOW)


def test_durations() -> None:
    assert [systemd.format_timespan(timedelta(seconds=s)) for s in (0, 59, 3600, 5400, 90061)] == [
        "0",
        "59s",
        "1h",
        "1h 30min",
        "1d 1h 1min 1s",
    ]
    assert [windows.format_iso_duration(timedelta(seconds=s)) for s in (0, 14400, 5400, 90061)] == [
        "PT0S",
        "PT4H",
        "PT1H30M",
        "P1DT1H1M1S",
    ]


# --- cron --------------------------------------------------------------------------------------

CRON_LINE = re.compile(r'^(\d+) (\d+) (\d+)-(\d+) \* \* root (\[ "\$\(date \+\\%u\)" = (\d) \] && .*)$', re.MULTILINE)


def cron_unescape(command: str) -> str:
    """What cron hands to /bin/sh: ``\\%`` becomes ``%``; an unescaped ``%`` would end the command."""
    out: list[str] = []
    escaped = False
    for ch in command:
        if escaped:
            escaped = False
            if ch == "%":
                out[-1] = "%"
                continue
            out.append(ch)
            continue
        if ch == "%":
            raise AssertionError(f"unescaped % in cron command: {command!r}")
        escaped = ch == "\\"
        out.append(ch)
    return "".join(out)


@pytest.fixture
def fake_date(tmp_path: Path) -> Path:
    """A `date` that answers for the day in $FAKE_DATE, so the cron guard can be run for any day."""
    real = shutil.which("date")
    assert real is not None
    return fake_tool(tmp_path / "datebin", "date", f'exec {real} -d "$FAKE_DATE" "$@"\n').parent


def run_cron_command(command: str, day: date, fake_date: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{fake_date}{os.pathsep}/usr/bin{os.pathsep}/bin", "FAKE_DATE": day.isoformat()}
    return subprocess.run(
        ["/bin/sh", "-c", cron_unescape(command)], env=env, capture_output=True, text=True, timeout=30
    )


def test_cron_file_contents(tmp_path: Path) -> None:
    result = schedule.install(
        ScheduleKind.CRON, tmp_path, watch_paths=["/srv/upload"], now=NOW, zone=ZoneInfo("UTC"), rng=random.Random(7)
    )
    text = (tmp_path / "scanner").read_text()
    assert result.files == (tmp_path / "scanner",)
    assert text.startswith("# Written by `scanner schedule install`")
    assert "\nSHELL=/bin/sh\n" in text and "\nPATH=" in text
    match = CRON_LINE.search(text)
    assert match is not None
    minute, hour, first, last, _, weekday = match.groups()
    assert (first, last, weekday) == ("8", "14", "2")
    start = int(hour) * 60 + int(minute)
    assert 20 * 60 <= start <= 24 * 60  # 20:00 UTC plus the fixed per-host share of the 4h delay
    assert match.group(5).endswith(f"&& {sys.executable} -m scanner monthly")
    assert f"\n@reboot root {sys.executable} -m scanner watch /srv/upload\n" in text
    assert text.endswith("\n")
    state = schedule.status(ScheduleKind.CRON, tmp_path, now=NOW, zone=ZoneInfo("UTC"))
    assert state.installed and state.watch_paths == ("/srv/upload",)
    assert state.next_run == datetime(2026, 12, 8, int(hour), int(minute), tzinfo=ZoneInfo("UTC"))


def test_cron_delay_is_fixed_per_host_and_spreads_a_fleet(tmp_path: Path) -> None:
    starts = set()
    for seed in range(20):
        result = schedule.install(
            ScheduleKind.CRON, tmp_path / str(seed), now=NOW, zone=ZoneInfo("UTC"), rng=random.Random(seed)
        )
        assert result.next_run is not None
        starts.add(result.next_run)
        assert utc("2026-12-08T20:00:00") <= result.next_run <= utc("2026-12-09T00:00:00")
    assert len(starts) > 10


@pytest.mark.parametrize("first_of_month", [date(2026, m, 1) for m in range(1, 13)] + [date(2025, 4, 1)])
def test_cron_guard_runs_only_on_the_second_tuesday(first_of_month: date, tmp_path: Path, fake_date: Path) -> None:
    marker = tmp_path / "ran"
    touch = shutil.which("touch")
    assert touch is not None
    schedule.install(
        ScheduleKind.CRON,
        tmp_path,
        command=[touch, str(marker)],
        randomized_delay=timedelta(0),
        now=datetime.combine(first_of_month, datetime.min.time(), UTC),
        zone=ZoneInfo("UTC"),
    )
    match = CRON_LINE.search((tmp_path / "scanner").read_text())
    assert match is not None and (match.group(3), match.group(4)) == ("8", "14")
    ran_on = []
    for day in range(8, 15):
        when = first_of_month.replace(day=day)
        done = run_cron_command(match.group(5), when, fake_date)
        assert done.stderr == ""
        if marker.exists():
            ran_on.append(when)
            marker.unlink()
    assert len(ran_on) == 1
    assert ran_on[0].isoweekday() == 2
    expected = calendar.next_run(
        calendar.monthly_spec("00:00 UTC"), datetime.combine(first_of_month, datetime.min.time(), UTC)
    )
    assert expected is not None and ran_on[0] == expected.date()


def test_cron_command_reaches_the_program_unchanged(tmp_path: Path, fake_date: Path) -> None:
    out = tmp_path / "argv.json"
    tricky = ["a b", "100%", "\\%", "x\\\\%y", "it's", '"q"', "$HOME", "`id`", ";", "*", "", "\\", "tab\there", "é"]
    script = "import json, sys; json.dump(sys.argv[1:], open(sys.argv[1], 'w'))"
    schedule.install(
        ScheduleKind.CRON,
        tmp_path,
        command=[sys.executable, "-c", script, str(out), *tricky],
        now=NOW,
        zone=ZoneInfo("UTC"),
    )
    match = CRON_LINE.search((tmp_path / "scanner").read_text())
    assert match is not None
    done = run_cron_command(match.group(5), date(2026, 12, 8), fake_date)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == [str(out), *tricky]


@pytest.mark.parametrize(
    "bad", [["/bin/true", "x\n* * * * * root /tmp/evil"], ["/bin/true", "a\rb"], ["/bin/true", "\0"]]
)
def test_cron_refuses_line_breaks(bad: list[str], tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="line break"):
        schedule.install(ScheduleKind.CRON, tmp_path, command=bad, now=NOW)
    with pytest.raises(ScheduleError, match="line break"):
        schedule.install(ScheduleKind.CRON, tmp_path, watch_paths=["/srv/x\n* * * * * root evil"], now=NOW)
    assert list(tmp_path.iterdir()) == []


def test_cron_in_a_zone_east_of_utc_runs_on_the_local_wednesday(tmp_path: Path, fake_date: Path) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    result = schedule.install(ScheduleKind.CRON, tmp_path, randomized_delay=timedelta(0), now=NOW, zone=tokyo)
    match = CRON_LINE.search((tmp_path / "scanner").read_text())
    assert match is not None
    assert match.group(1, 2, 3, 4, 6) == ("0", "5", "9", "15", "3")
    assert result.next_run == datetime(2026, 12, 9, 5, 0, tzinfo=tokyo)
    assert result.next_run == calendar.next_run(calendar.monthly_spec(), NOW)


def test_user_crontab_file_keeps_other_entries(tmp_path: Path) -> None:
    crontab = tmp_path / "crontab"
    original = "MAILTO=me@example.org\n0 3 * * * /usr/bin/backup\n"
    crontab.write_text(original)
    schedule.install(ScheduleKind.CRON_USER, tmp_path, now=NOW, zone=ZoneInfo("UTC"))
    schedule.install(ScheduleKind.CRON_USER, tmp_path, now=NOW, zone=ZoneInfo("UTC"))
    text = crontab.read_text()
    assert text.startswith(original)
    assert text.count("# BEGIN scanner-schedule") == 1
    line = next(line for line in text.splitlines() if "date +" in line)
    assert re.fullmatch(r'\d+ \d+ 8-14 \* \* \[ "\$\(date \+\\%u\)" = 2 \] && .*', line)  # no user field
    assert schedule.status(ScheduleKind.CRON_USER, tmp_path, now=NOW, zone=ZoneInfo("UTC")).installed
    assert schedule.remove(ScheduleKind.CRON_USER, tmp_path).removed == (crontab,)
    assert crontab.read_text() == original
    assert schedule.status(ScheduleKind.CRON_USER, tmp_path, now=NOW).installed is False


def test_user_crontab_through_the_crontab_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "stored"
    fake_tool(
        tmp_path / "bin",
        "crontab",
        f'if [ "$1" = -l ]; then [ -f {store} ] && exec cat {store}; echo "no crontab for $USER" >&2; exit 1; fi\n'
        f'[ "$1" = - ] && exec cat > {store}\nexit 2\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = schedule.install(ScheduleKind.CRON_USER, now=NOW, zone=ZoneInfo("UTC"))
    assert result.ran and result.location is None
    assert "# BEGIN scanner-schedule" in store.read_text()
    state = schedule.status(ScheduleKind.CRON_USER, now=NOW, zone=ZoneInfo("UTC"))
    assert state.installed and state.next_run is not None
    schedule.remove(ScheduleKind.CRON_USER)
    assert store.read_text() == ""


def test_damaged_crontab_block_is_reported(tmp_path: Path) -> None:
    (tmp_path / "crontab").write_text(
        "# BEGIN scanner-schedule (managed by `scanner schedule`; do not edit this block)\n"
    )
    with pytest.raises(ScheduleError, match="damaged scanner-schedule block"):
        schedule.install(ScheduleKind.CRON_USER, tmp_path, now=NOW)


# --- Windows Task Scheduler (definition only: nothing can run it here) -----------------------


def test_windows_task_definition(tmp_path: Path) -> None:
    command = ["C:\\Program Files\\Python311\\python.exe", "-m", "scanner", "monthly", "C:\\Users\\a b\\", 'say "hi"']
    result = schedule.install(ScheduleKind.WINDOWS_TASK, tmp_path, command=command, now=NOW, zone=ZoneInfo("UTC"))
    xml_path = tmp_path / "scanner-monthly.xml"
    assert xml_path.read_bytes().startswith(b"\xff\xfe")  # UTF-16 with a byte-order mark, as schtasks wants
    root = ET.parse(xml_path).getroot()
    assert root.tag == f"{{{windows.TASK_NAMESPACE}}}Task"
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-12-08T20:00:00"
    assert trigger.findtext("t:RandomDelay", namespaces=NS) == "PT4H"
    by_dow = trigger.find("t:ScheduleByMonthDayOfWeek", NS)
    assert by_dow is not None
    assert [w.text for w in by_dow.findall("t:Weeks/t:Week", NS)] == ["2"]
    assert [d.tag.split("}")[1] for d in by_dow.findall("t:DaysOfWeek/*", NS)] == ["Tuesday"]
    assert len(by_dow.findall("t:Months/*", NS)) == 12
    assert root.findtext("t:Principals/t:Principal/t:UserId", namespaces=NS) == "S-1-5-18"
    assert root.findtext("t:Settings/t:StartWhenAvailable", namespaces=NS) == "true"
    assert root.findtext("t:Settings/t:Priority", namespaces=NS) == "7"
    assert root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == command[0]
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    assert arguments == subprocess.list2cmdline(command[1:])
    assert result.commands == (("schtasks", "/Create", "/XML", str(xml_path), "/TN", "\\scanner\\monthly", "/F"),)
    assert result.ran is False


def test_windows_watch_task_starts_at_boot(tmp_path: Path) -> None:
    result = schedule.install(ScheduleKind.WINDOWS_TASK, tmp_path, watch_paths=["/data"], now=NOW, zone=ZoneInfo("UTC"))
    root = ET.parse(tmp_path / "scanner-watch.xml").getroot()
    assert root.find("t:Triggers/t:BootTrigger", NS) is not None
    assert root.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT0S"
    assert result.commands[1] == windows.schtasks_create_argv(tmp_path / "scanner-watch.xml", "\\scanner\\watch")
    state = schedule.status(ScheduleKind.WINDOWS_TASK, tmp_path, now=NOW, zone=ZoneInfo("UTC"))
    assert state.installed and state.watch_paths == ("/data",)
    assert state.next_run == datetime(2026, 12, 8, 20, 0, tzinfo=ZoneInfo("UTC"))
    removed = schedule.remove(ScheduleKind.WINDOWS_TASK, tmp_path)
    assert removed.commands == (
        ("schtasks", "/Delete", "/TN", "\\scanner\\monthly", "/F"),
        ("schtasks", "/Delete", "/TN", "\\scanner\\watch", "/F"),
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "scanner", "monthly"],
        ["a b", "c\td", ""],
        ['say "hi"', 'x"y', '\\"', "trail\\", "trail space\\", "two\\\\", "mid\\dle", 'a\\\\"b c'],
    ],
)
def test_windows_command_line_splits_back_like_cpython_builds_it(args: list[str]) -> None:
    assert windows.windows_command_line(args) == subprocess.list2cmdline(args)


def test_windows_task_is_only_registered_on_windows(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="only be registered on Windows"):
        schedule.install(ScheduleKind.WINDOWS_TASK, now=NOW, platform="linux")
    with pytest.raises(ScheduleError, match="only be registered on Windows"):
        schedule.install(ScheduleKind.WINDOWS_TASK, tmp_path, run_systemctl=True, now=NOW, platform="linux")


# --- choosing a scheduler, local time -------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "euid", "systemd", "platform", "kind"),
    [
        (None, 0, True, "linux", ScheduleKind.SYSTEMD_SYSTEM),
        (None, 1000, True, "linux", ScheduleKind.SYSTEMD_USER),
        (True, 0, True, "linux", ScheduleKind.SYSTEMD_USER),
        (False, 1000, True, "linux", ScheduleKind.SYSTEMD_SYSTEM),
        (None, 0, False, "linux", ScheduleKind.CRON),
        (None, 1000, False, "linux", ScheduleKind.CRON_USER),
        (None, None, False, "win32", ScheduleKind.WINDOWS_TASK),
    ],
)
def test_default_kind(user: bool | None, euid: int | None, systemd: bool, platform: str, kind: ScheduleKind) -> None:
    assert schedule.default_kind(user=user, euid=euid, systemd=systemd, platform=platform) is kind


def test_default_locations() -> None:
    assert kinds.default_location(ScheduleKind.SYSTEMD_SYSTEM) == Path("/etc/systemd/system")
    assert kinds.default_location(ScheduleKind.SYSTEMD_USER, {"HOME": "/home/u"}) == Path(
        "/home/u/.config/systemd/user"
    )
    assert kinds.default_location(ScheduleKind.SYSTEMD_USER, {"XDG_CONFIG_HOME": "/x"}) == Path("/x/systemd/user")
    assert kinds.default_location(ScheduleKind.CRON) == Path("/etc/cron.d")
    assert kinds.default_location(ScheduleKind.CRON_USER) is None


def test_systemd_booted_looks_for_the_runtime_directory(tmp_path: Path) -> None:
    assert programs.systemd_booted(tmp_path) is True
    assert programs.systemd_booted(tmp_path / "absent") is False


def test_local_zone_sources(tmp_path: Path) -> None:
    assert calendar.local_zone({"TZ": ":Europe/Berlin"}) == ZoneInfo("Europe/Berlin")
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/America/New_York")
    assert calendar.local_zone({}, link) == ZoneInfo("America/New_York")
    copy = tmp_path / "copied"
    copy.write_bytes(Path("/usr/share/zoneinfo/Asia/Tokyo").read_bytes())
    assert datetime(2026, 1, 1, tzinfo=calendar.local_zone({}, copy)).utcoffset() == timedelta(hours=9)
    with pytest.raises(ScheduleError, match="TZ="):
        calendar.local_zone({"TZ": "EST5EDT,M3.2.0,M11.1.0"})


def test_last_run_results() -> None:
    when = utc("2026-11-10T21:00:00")
    assert [LastRun(when, code, "x").result for code in (0, 1, 2, 3, 137)] == [
        "clean",
        "found",
        "error",
        "action-failed",
        "exit 137",
    ]
