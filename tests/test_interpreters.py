"""Processes tied to detected files: interpreters running a detected script, shells reading one, binaries run
from one (or from a deleted file or a memfd). Real child processes, the CLI in-process; the interpreter's own
binary is never planned for quarantine."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.scanning.interpreters import Kind, script_of

# Built from parts so that no file of the test suite holds the marker whole.
MARK_A, MARK_B = "INTERP-TIE-", "5e7a1b"
MARK = MARK_A + MARK_B
RULE = f"""
rule Test_Dropper {{
    meta: family = "TestDropper" severity = "high"
    strings: $a = "{MARK_A}{MARK_B}"
    condition: $a
}}
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")


@pytest.fixture
def rule(tmp_path: Path) -> Path:
    p = tmp_path / "rules" / "dropper.yar"
    p.parent.mkdir()
    p.write_text(RULE)
    return p


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes a test starts; whatever is left of them (and their children) is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        for pid, since in [*getattr(p, "started", []), *((d, start_time(d)) for d in descendants(p.pid))]:
            if start_time(pid) == since:  # still that process, not a pid used again
                _kill(pid)
        if p.poll() is None:
            p.kill()
        p.wait()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """The pids ``pid`` has started, from /proc/PID/task/*/children."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            kids = [int(x) for x in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
        except OSError:
            continue
        for k in kids:
            out += [k, *descendants(k)]
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def start(
    children: list[subprocess.Popen[bytes]], args: list[str], forks: bool = False, **kw: object
) -> subprocess.Popen[bytes]:
    """Start ``args``; if it ``forks`` (a shell script reaching its ``sleep``), wait for its child, else a moment
    for the interpreter to start."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    children.append(p)
    deadline = time.monotonic() + (10 if forks else 0.5)
    while time.monotonic() < deadline and not (forks and descendants(p.pid)) and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.1)
    assert p.poll() is None, "the child exited early"
    p.started = [(d, start_time(d)) for d in descendants(p.pid)]  # type: ignore[attr-defined]
    return p


def gone(path: Path) -> None:
    """Wait for a script to delete itself."""
    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.exists()


def quarantine_scan(cli, rule: Path, *targets: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    res = cli("scan", *targets, "--rules", rule, "--no-default-rules", "--action", "quarantine", "--format", "json")
    assert res.stdout.strip(), res.stderr
    return res, json.loads(res.stdout)


def steps(rep: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(o["step"], o["description"]) for o in rep["remediation"]["outcomes"]]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_binary_untouched(rep: dict, exe: str, before: str) -> None:  # type: ignore[type-arg]
    real = os.path.realpath(exe)
    assert os.path.exists(real) and digest(real) == before
    moved = [o["path"] for o in rep["remediation"]["outcomes"] if o["step"] in ("quarantine", "remove")]
    assert real not in moved and exe not in moved


def script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(exist_ok=True)
    p = directory / name
    p.write_text(body)
    return p


SHELL_BODY = f"#!/bin/sh\n# payload {MARK}\nsleep 120\n"


# --- the script argument of each interpreter -------------------------------------------------------------


@pytest.mark.parametrize(
    ("exe", "cmdline", "expected"),
    [
        ("/usr/bin/bash", ["bash", "d2.sh"], "d2.sh"),
        ("/usr/bin/bash", ["bash", "-x", "d2.sh", "arg"], "d2.sh"),
        ("/usr/bin/bash", ["bash", "-o", "pipefail", "+O", "extglob", "d2.sh"], "d2.sh"),
        ("/usr/bin/bash", ["bash", "--norc", "--rcfile", "rc", "d2.sh"], "d2.sh"),
        ("/usr/bin/bash", ["bash", "--", "d2.sh"], "d2.sh"),
        ("/usr/bin/dash", ["sh", "-e", "/tmp/x.sh"], "/tmp/x.sh"),
        ("/usr/bin/bash", ["bash", "-c", "curl x | sh", "d2.sh"], None),
        ("/usr/bin/dash", ["sh", "-ec", "echo"], None),
        ("/usr/bin/bash", ["bash", "-s", "d2.sh"], None),
        ("/usr/bin/bash", ["-bash"], None),
        ("/usr/bin/zsh", ["zsh", "x.zsh"], "x.zsh"),
        ("/bin/busybox", ["sh", "x.sh"], "x.sh"),
        ("/bin/busybox", ["busybox", "ash", "x.sh"], "x.sh"),
        ("/bin/busybox", ["busybox", "cat", "x.sh"], None),
        ("/usr/bin/python3.11", ["python3", "-u", "-W", "x", "script.py", "-c"], "script.py"),
        ("/usr/bin/python3.11", ["python3", "-Wignore", "-X", "dev", "s.py"], "s.py"),
        ("/usr/bin/python3.11", ["python3", "-uc", "print(1)"], None),
        ("/usr/bin/python3.11", ["python3", "-m", "http.server"], None),
        ("/usr/bin/python3.11", ["python3", "-", "x.py"], None),
        ("/usr/bin/python2.7", ["python2", "x.py"], "x.py"),
        ("/usr/bin/perl", ["perl", "-w", "x.pl"], "x.pl"),
        ("/usr/bin/perl5.36.0", ["perl", "-I", "lib", "-MFoo=bar", "x.pl"], "x.pl"),
        ("/usr/bin/perl", ["perl", "-lne", "print", "f"], None),
        ("/usr/bin/perl", ["perl", "-e", "exec 'sh'"], None),
        ("/usr/bin/php8.2", ["php", "-d", "a=b", "-f", "file.php"], "file.php"),
        ("/usr/bin/php8.2", ["php", "-q", "x.php"], "x.php"),
        ("/usr/bin/php8.2", ["php", "-r", "system('id');"], None),
        ("/usr/bin/node", ["node", "--max-old-space-size=64", "-r", "dotenv", "app.js"], "app.js"),
        ("/usr/bin/nodejs", ["nodejs", "-e", "1"], None),
        ("/usr/bin/ruby3.1", ["ruby", "-rsocket", "-I", "lib", "x.rb"], "x.rb"),
        ("/usr/bin/ruby3.1", ["ruby", "-e", "1"], None),
        ("/usr/lib/jvm/j/bin/java", ["java", "-cp", "x", "-Dy=z", "-jar", "f.jar"], "f.jar"),
        ("/usr/lib/jvm/j/bin/java", ["java", "-cp", "x.jar", "Main"], None),
        ("/usr/bin/lua5.4", ["lua", "-l", "m", "x.lua"], "x.lua"),
        ("/usr/bin/Rscript", ["Rscript", "--vanilla", "x.R"], "x.R"),
        ("/usr/bin/gawk", ["awk", "-f", "p.awk", "input"], "p.awk"),
        ("/usr/bin/gawk", ["awk", "{print}", "input"], None),
        ("/usr/bin/sleep", ["sleep", "10"], None),
        ("/tmp/kworker (deleted)", ["bash", "x.sh"], None),  # argv[0] says bash; the image decides
        (None, ["python3", "x.py"], "x.py"),  # the image not readable: argv[0] stands in
    ],
)
def test_script_argument(exe: str | None, cmdline: list[str], expected: str | None) -> None:
    found = script_of(exe, cmdline)
    assert (found.argument if found else None) == expected


def test_script_kind() -> None:
    found = script_of("/usr/bin/php8.2", ["php", "x.php"])
    assert found is not None and found.kind is Kind.PHP


# --- real processes, through the CLI --------------------------------------------------------------------


def test_bash_running_a_detected_script_is_killed_with_what_it_started(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    bash = shutil.which("bash") or "/bin/bash"
    before = digest(os.path.realpath(bash))
    p = start(children, [bash, "d2.sh"], forks=True, cwd=drop.parent)  # relative: resolved against the process's cwd
    (sleeper,) = descendants(p.pid)
    res, rep = quarantine_scan(cli, rule, drop.parent)  # no --processes: the tie is looked for anyway
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not alive(sleeper)
    assert not drop.exists()
    done = steps(rep)
    assert done[0][0] == "kill" and done[0][1].endswith(f"[TestDropper]: runs {drop} (shell script)")
    assert done[1][0] == "kill" and f"started by pid {p.pid}" in done[1][1]
    assert [s for s, _ in done] == ["kill", "kill", "quarantine"]  # processes first, then the file
    assert_binary_untouched(rep, bash, before)


def test_text_output_says_why_a_process_is_killed(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    p = start(children, ["bash", str(drop)], forks=True)
    res = cli("scan", drop.parent, "--rules", rule, "--no-default-rules", "--action", "quarantine")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert f"kill pid {p.pid} (bash, " in res.stdout
    assert f"[TestDropper]: runs {drop} (shell script): terminated" in res.stdout


def test_dry_run_lists_the_kill_and_changes_nothing(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    p = start(children, ["bash", str(drop)], forks=True)
    res = cli("scan", drop.parent, "--rules", rule, "--no-default-rules", "--action", "quarantine", "--dry-run")
    assert f"kill pid {p.pid} (bash, " in res.stdout and f"runs {drop} (shell script)" in res.stdout
    assert p.poll() is None and drop.exists()


def test_python_with_options_running_a_detected_script(cli, tmp_path, rule, children):
    body = f"import time\n# {MARK}\ntime.sleep(120)\n"
    job = script(tmp_path / "job", "x.py", body)
    before = digest(os.path.realpath(sys.executable))
    p = start(children, [sys.executable, "-u", "-W", "ignore", "x.py"], cwd=job.parent)
    time.sleep(0.3)
    res, rep = quarantine_scan(cli, rule, job.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not job.exists()
    assert any(s == "kill" and f"runs {job} (python script)" in d for s, d in steps(rep))
    assert_binary_untouched(rep, sys.executable, before)


def test_a_script_reached_through_a_symlink_and_a_hard_link(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    other = tmp_path / "other"
    other.mkdir()
    os.link(drop, other / "hard.sh")
    os.symlink(drop, other / "soft.sh")
    a = start(children, ["bash", str(other / "hard.sh")], forks=True)
    b = start(children, ["sh", str(other / "soft.sh")], forks=True)
    res, rep = quarantine_scan(cli, rule, drop)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert a.wait(timeout=10) is not None and b.wait(timeout=10) is not None


def test_a_shell_reading_the_script_on_its_standard_input(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    with drop.open("rb") as f:
        p = start(children, ["sh"], forks=True, stdin=f)
    res, rep = quarantine_scan(cli, rule, drop.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not drop.exists()
    assert any(s == "kill" and f"holds {drop} open" in d for s, d in steps(rep))


def test_a_binary_run_from_a_detected_file(cli, tmp_path, rule, children):
    exe = tmp_path / "bin" / "kdevtmpfsi"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    with exe.open("ab") as f:
        f.write(MARK.encode())
    p = start(children, [str(exe), "120"])
    res, rep = quarantine_scan(cli, rule, exe.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not exe.exists()
    assert any(s == "kill" and d.endswith(f"runs {exe}") for s, d in steps(rep))


@needs_root
def test_a_script_that_deleted_itself_is_killed(cli, tmp_path, rule, children):
    """Nothing is left on disk to find: the process scan finds it (in memory), and the plan kills it."""
    body = f'#!/bin/bash\nm={MARK_A}; m="${{m}}{MARK_B}"\nrm -f -- "$0"\nsleep 120\n'
    drop = script(tmp_path / "drop", "self.sh", body)
    p = start(children, ["bash", str(drop)], forks=True)
    gone(drop)
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None
    assert [s for s, _ in steps(rep)] == ["kill"]


def test_a_script_that_deleted_itself_is_found_through_its_descriptor(cli, tmp_path, rule, children):
    """The shell still holds the deleted script open: the process scan reads it there (no memory scan needed)."""
    drop = script(tmp_path / "drop", "self.sh", f'#!/bin/bash\n# {MARK}\nrm -f -- "$0"\nsleep 120\n')
    p = start(children, ["bash", str(drop)], forks=True)
    gone(drop)
    (sleeper,) = descendants(p.pid)
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not alive(sleeper)
    (d,) = [d for d in rep["detections"] if d["process"]["where"] == "open file"]
    assert d["path"] == f"{drop} (deleted)" and d["sha256"]
    (bash_kill, sleep_kill) = steps(rep)  # nothing on disk to move; what the script started goes too
    assert bash_kill[0] == sleep_kill[0] == "kill"
    assert f"started by pid {p.pid}, which reads {drop} (deleted)" in sleep_kill[1]


def test_a_shell_fed_a_deleted_file_on_its_standard_input(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "x", SHELL_BODY)
    with drop.open("rb") as f:
        p = start(children, ["sh"], forks=True, stdin=f)
    drop.unlink()
    (sleeper,) = descendants(p.pid)
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not alive(sleeper)
    assert [s for s, _ in steps(rep)] == ["kill", "kill"]


def test_the_process_scan_reads_an_interpreters_script(cli, tmp_path, rule, children):
    """Only the process is named (a quick scan does not walk /opt): its script is scanned with it, and
    the plan kills the shell and what it started, and quarantines the script, never the shell."""
    drop = script(tmp_path / "opt", "d2.sh", SHELL_BODY)
    bash = shutil.which("bash") or "/bin/bash"
    before = digest(os.path.realpath(bash))
    p = start(children, [bash, "-x", "d2.sh"], forks=True, cwd=drop.parent)
    (sleeper,) = descendants(p.pid)
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not alive(sleeper) and not drop.exists()
    (d,) = [d for d in rep["detections"] if d["process"]["where"] == "script"]
    assert d["path"] == str(drop) and d["pid"] == p.pid
    assert [s for s, _ in steps(rep)] == ["kill", "kill", "quarantine"]
    assert_binary_untouched(rep, bash, before)
    (item,) = json.loads(cli("quarantine", "list", "--format", "json").stdout)
    assert item["original_path"] == str(drop)


def test_a_binary_run_from_a_deleted_file_is_killed(cli, tmp_path, rule, children):
    exe = tmp_path / "bin" / "kinsing"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    with exe.open("ab") as f:
        f.write(MARK.encode())
    p = start(children, [str(exe), "120"])
    exe.unlink()
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None
    assert [s for s, _ in steps(rep)] == ["kill"]  # nothing on disk to move
    assert cli("quarantine", "list").stdout.count("kinsing") == 0


def test_a_binary_run_from_a_memfd_is_killed(cli, tmp_path, rule, children):
    sleep = shutil.which("sleep") or "/bin/sleep"
    code = (
        "import os, sys\n"
        "fd = os.memfd_create('kworker', 0)\n"
        f"os.write(fd, open({sleep!r}, 'rb').read() + sys.argv[1].encode() + sys.argv[2].encode())\n"
        "os.execve(f'/proc/self/fd/{fd}', ['kworker', '120'], dict(os.environ))\n"
    )
    p = start(children, [sys.executable, "-c", code, MARK_A, MARK_B])
    assert os.readlink(f"/proc/{p.pid}/exe").startswith("/memfd:kworker")
    res, rep = quarantine_scan(cli, rule, "--pid", str(p.pid))
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None
    ((step, description),) = steps(rep)
    assert step == "kill" and "/memfd:kworker" in description


OTHERS = [
    ("perl", ["-w"], "x.pl", f"# {MARK}\nsleep 120;\n"),
    ("php", ["-d", "display_errors=0", "-f"], "x.php", f"<?php /* {MARK} */ sleep(120);\n"),
    ("node", ["--max-old-space-size=64"], "x.js", f"// {MARK}\nsetTimeout(() => {{}}, 120000);\n"),
    ("dash", ["-e"], "x.sh", SHELL_BODY),
    ("mawk", ["-f"], "x.awk", f"# {MARK}\n{{ print }}\n"),  # waits on its standard input
]


@pytest.mark.parametrize(("program", "options", "name", "body"), OTHERS, ids=[o[0] for o in OTHERS])
def test_other_interpreters_running_a_detected_script(cli, tmp_path, rule, children, program, options, name, body):
    exe = shutil.which(program)
    if exe is None:
        pytest.skip(f"{program} is not installed")
    job = script(tmp_path / "job", name, body)
    before = digest(os.path.realpath(exe))
    p = start(children, [exe, *options, name], cwd=job.parent, stdin=subprocess.PIPE)
    res, rep = quarantine_scan(cli, rule, job.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.wait(timeout=10) is not None and not job.exists()
    kill = next(d for s, d in steps(rep) if s == "kill")  # then what it started (dash's sleep)
    assert kill.startswith(f"kill pid {p.pid} ") and f"runs {job} (" in kill
    assert_binary_untouched(rep, exe, before)


def test_the_scanner_and_its_ancestors_are_never_tied(tmp_path):
    from scanner.scanning import processes

    detected = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    st = detected.stat()
    with detected.open("rb"):  # this process (the scanner here) holds it open read-only: not tied
        child = subprocess.Popen(
            [sys.executable, "-c", f"import time; f = open({str(detected)!r}, 'rb'); time.sleep(120)"]
        )
        try:
            time.sleep(0.5)
            ties = processes.tied_to({(st.st_dev, st.st_ino): str(detected)})
        finally:
            child.kill()
            child.wait()
    assert [(t.info.pid, t.reason) for t in ties] == [(child.pid, f"holds {detected} open")]


# --- near misses -----------------------------------------------------------------------------------------


def test_processes_not_tied_to_the_detected_file_are_left_alone(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    clean = script(tmp_path / "drop", "clean.sh", "#!/bin/sh\nsleep 120\n")
    bystanders = [
        start(children, ["bash", str(clean)], forks=True),  # another script in the same folder
        start(children, ["bash", "-c", f"sleep 120; : {drop}"], forks=True),  # names the file, but runs inline code
        start(children, ["cat", "-", str(drop)], stdin=subprocess.PIPE),  # not an interpreter: no script argument
        # a writer holding the file open (a logger): never tied by a descriptor
        start(children, [sys.executable, "-c", f"import time; f = open({str(drop)!r}, 'a'); time.sleep(120)"]),
    ]
    res, rep = quarantine_scan(cli, rule, drop.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert [s for s, _ in steps(rep)] == ["quarantine"]
    assert all(p.poll() is None for p in bystanders)


def test_another_root_is_not_searched_for_processes(cli, tmp_path, rule, children):
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    p = start(children, ["bash", str(drop)], forks=True)
    res, rep = quarantine_scan(cli, rule, drop.parent, "--sysroot", tmp_path)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert p.poll() is None
    assert [s for s, _ in steps(rep)] == ["quarantine"]


# --- hostile input ---------------------------------------------------------------------------------------


def test_a_script_argument_that_is_a_fifo_does_not_hang_the_scan(cli, tmp_path, rule, children):
    fifo = tmp_path / "pipe.sh"
    os.mkfifo(fifo)
    p = subprocess.Popen(["bash", str(fifo)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(p)
    time.sleep(0.3)  # bash now waits in open() for a writer
    res = cli("scan", "--pid", str(p.pid), "--rules", rule, "--no-default-rules", "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert p.poll() is None


def test_a_script_over_the_size_limit_is_not_read_with_its_process(cli, tmp_path, rule, children, monkeypatch):
    from scanner.scanning import processes

    monkeypatch.setattr(processes, "HELD_MAX_SIZE", 16)
    drop = script(tmp_path / "opt", "d2.sh", SHELL_BODY)
    p = start(children, ["bash", str(drop)], forks=True)
    res = cli("scan", "--pid", str(p.pid), "--rules", rule, "--no-default-rules", "--format", "json")
    assert not [d for d in json.loads(res.stdout)["detections"] if d["process"]["where"] == "script"]


def test_an_undecodable_script_name_is_escaped_in_the_plan(cli, tmp_path, rule, children):
    drop = tmp_path / "drop"
    drop.mkdir()
    name = os.fsdecode(b"d2\xff\x1b[31m.sh")
    (drop / name).write_text(SHELL_BODY)
    p = start(children, ["bash", name], forks=True, cwd=drop)
    res = cli("scan", drop, "--rules", rule, "--no-default-rules", "--action", "quarantine")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert f"kill pid {p.pid} (bash, " in res.stdout
    assert "runs " + str(drop) + "/d2\\xff\\x1b[31m.sh (shell script): terminated" in res.stdout
    assert "\x1b" not in res.stdout
    assert p.wait(timeout=10) is not None


def test_deleted_rule_files_held_by_another_yara_engine_are_not_scanned(cli, tmp_path, rule, children):
    """Another scanner holding a (deleted) rule file open is not a detection: every rule matches its strings."""
    held = tmp_path / "held.yar"
    held.write_text(RULE)
    code = (
        "import os, sys, time, yara\n"
        "f = open(sys.argv[1], 'rb'); r = yara.compile(filepath=sys.argv[1]); os.unlink(sys.argv[1])\n"
        "time.sleep(120)\n"
    )
    p = start(children, [sys.executable, "-c", code, str(held)])
    deadline = time.monotonic() + 10
    while held.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    res = cli("scan", "--pid", str(p.pid), "--rules", rule, "--no-default-rules", "--format", "json")
    assert res.exit_code == 0, res.stdout
    assert p.poll() is None


def test_a_script_run_from_its_own_descriptor(cli, tmp_path, rule, children):
    """`bash /dev/fd/9`: the path names the process's descriptor, not the scanner's."""
    drop = script(tmp_path / "drop", "d2.sh", SHELL_BODY)
    clean = script(tmp_path / "elsewhere", "clean.sh", "#!/bin/sh\nsleep 120\n")
    with drop.open("rb") as mine:  # the scanner (this process) holds the detected file on descriptor k
        k = mine.fileno()
        bystander = start(children, ["bash", "-c", f'exec bash /dev/fd/{k} {k}<"$0"', str(clean)], forks=True)
        with drop.open("rb") as f:
            runner = start(children, ["bash", "/dev/fd/0"], forks=True, stdin=f)
        res, rep = quarantine_scan(cli, rule, drop.parent)
    assert res.exit_code == 1, (res.stderr, rep["remediation"])
    assert runner.wait(timeout=10) is not None
    assert bystander.poll() is None
    kills = [d for s, d in steps(rep) if s == "kill" and f"kill pid {runner.pid} " in d]
    assert kills and kills[0].endswith(f"runs {drop} (shell script)")
