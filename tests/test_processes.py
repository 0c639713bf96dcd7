"""Process scanning and safe termination, on real child processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.model import ProcessInfo
from scanner.scanning import processes

# Built from parts so that neither this file nor the pytest process holds the marker contiguously
# in a place the child's own scan would see: the child builds it at run time.
MARKER_A, MARKER_B = "PROCSCAN-INDICATOR-", "4d1c9e"
RULE = f"""
rule Proc_Indicator {{
    meta: family = "TestFamily" severity = "high"
    strings: $a = "{MARKER_A}{MARKER_B}"
    condition: $a
}}
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")


@pytest.fixture
def rule(tmp_path: Path) -> Path:
    p = tmp_path / "proc.yar"
    p.write_text(RULE)
    return p


def wait_started(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"


@pytest.fixture
def heap_child():
    """An interpreter whose indicator exists only in its heap (built at run time)."""
    code = (
        f"import sys, time; s = {MARKER_A!r} + {MARKER_B!r}; keep = [s * 3]; "
        "print('ready', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    wait_started(proc)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def image_child(tmp_path: Path):
    """A real executable whose image carries the indicator (sleep with the marker appended), deleted from disk."""
    exe = tmp_path / "bin" / "evil-sleep"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    with exe.open("ab") as f:
        f.write((MARKER_A + MARKER_B).encode())
    proc = subprocess.Popen([os.fspath(exe), "120"])
    time.sleep(0.2)
    yield proc, exe
    proc.kill()
    proc.wait()


def scan_pid(cli, rule: Path, pid: int):  # type: ignore[no-untyped-def]
    res = cli("scan", "--pid", str(pid), "--rules", rule, "--no-default-rules", "--format", "json")
    return res, json.loads(res.stdout)


def test_image_hit_is_recorded_with_process_identity(cli, rule, image_child):
    proc, exe = image_child
    res, rep = scan_pid(cli, rule, proc.pid)
    assert res.exit_code == 1, res.stderr
    assert rep["counts"]["files_scanned"] == 0  # --pid alone scans no files
    dets = [d for d in rep["detections"] if d["process"]["where"] == "image"]
    assert len(dets) == 1
    d = dets[0]
    assert d["kind"] == "process" and d["pid"] == proc.pid
    assert d["family"] == "TestFamily"
    assert d["process"]["exe"] == str(exe)
    assert d["process"]["cmdline"] == [str(exe), "120"]
    assert d["process"]["start_time"] > 0 and d["process"]["user"]
    assert d["sha256"]


def test_deleted_image_is_still_scanned(cli, rule, image_child):
    proc, exe = image_child
    exe.unlink()
    res, rep = scan_pid(cli, rule, proc.pid)
    assert res.exit_code == 1
    assert rep["detections"][0]["process"]["exe"].endswith("(deleted)")


@needs_root
def test_memory_only_hit(cli, rule, heap_child):
    res, rep = scan_pid(cli, rule, heap_child.pid)
    assert res.exit_code == 1, res.stderr
    (d,) = rep["detections"]
    assert d["process"]["where"] == "memory"
    assert d["sha256"] is None
    assert d["path"] == os.path.realpath(sys.executable) or d["path"].startswith("/")


@needs_root
def test_a_process_holding_yara_rules_is_not_memory_scanned(cli, rule):
    """Another scanner's memory holds every rule's strings: it is scanned by image only."""
    code = "import sys, time, yara; r = yara.compile(filepath=sys.argv[1]); print('ready', flush=True); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(rule)], stdout=subprocess.PIPE)
    try:
        wait_started(proc)
        res, rep = scan_pid(cli, rule, proc.pid)
        assert res.exit_code == 0, rep["detections"]
        assert rep["counts"]["processes_scanned"] == 1
    finally:
        proc.kill()
        proc.wait()


def test_exited_process_is_not_an_error(cli, rule):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    res, rep = scan_pid(cli, rule, proc.pid)
    assert res.exit_code == 2  # nothing could be scanned
    assert rep["skipped"][0]["code"] == "not_found"


def test_clean_processes_exit_0(cli, rule):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        res, rep = scan_pid(cli, rule, proc.pid)
        assert res.exit_code == 0, rep
        assert rep["counts"]["processes_scanned"] == 1
    finally:
        proc.kill()
        proc.wait()


def info_of(pid: int) -> ProcessInfo:
    (t,) = [t for t in processes.targets([pid]) if isinstance(t, processes.ProcessTarget)]
    return t.info


def test_terminate_sends_term_then_kill():
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    wait_started(proc)
    out = processes.terminate(info_of(proc.pid), grace=0.5)
    assert out.ok and out.message == "killed"
    proc.wait(timeout=5)


def test_terminate_refuses_protected_processes():
    me = info_of(os.getppid()) if os.getppid() > 1 else None
    if me is not None:
        assert processes.terminate(me).message.startswith("refused")
    one = ProcessInfo(1, "init", None, (), None, 0.0)
    assert not processes.terminate(one).ok


def test_recycled_pid_is_never_killed():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        info = info_of(proc.pid)
        # the same pid, but another process: a different start time (what a recycled pid looks like)
        recycled = ProcessInfo(info.pid, info.name, info.exe, info.cmdline, info.user, info.start_time - 100)
        out = processes.terminate(recycled, grace=0.1)
        assert not out.ok and "recycled" in out.message
        assert proc.poll() is None
        other_exe = ProcessInfo(info.pid, info.name, "/usr/bin/other", info.cmdline, info.user, info.start_time)
        assert not processes.terminate(other_exe, grace=0.1).ok
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_already_exited_counts_as_done():
    proc = subprocess.Popen(["sleep", "60"])
    info = info_of(proc.pid)
    proc.kill()
    proc.wait()
    out = processes.terminate(info)
    assert out.ok and out.message == "already exited"
