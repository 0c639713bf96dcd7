"""scanner.safefs: descriptor-relative opens that follow no symlink, exclusive creates, and the one
lock primitive behind both the state directory's locks and the vault's."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scanner import safefs
from scanner.errors import QuarantineError, StateError
from scanner.remediation.quarantine import Vault
from scanner.state import LockBusy, StateDir

REPO = Path(__file__).resolve().parent.parent


def test_open_dir_refuses_a_symlink_on_the_way_and_dotdot(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = safefs.open_dir(str(tmp_path / "real"))
    os.close(fd)
    with pytest.raises(safefs.RefusedPath) as info:
        safefs.open_dir(str(tmp_path / "link" / "x"))
    assert info.value.component == "link"
    with pytest.raises(safefs.RefusedPath) as info:
        safefs.open_dir(str(tmp_path / "real" / ".." / "real"))
    assert info.value.component == ".."


def test_open_regular_at_refuses_symlinks_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    os.mkfifo(tmp_path / "p")
    dfd = safefs.open_dir(str(tmp_path))
    try:
        os.close(safefs.open_regular_at(dfd, "f"))
        with pytest.raises(OSError):
            safefs.open_regular_at(dfd, "l")
        with pytest.raises(safefs.NotRegular) as info:
            safefs.open_regular_at(dfd, "p")  # O_NONBLOCK: no reader, and still no hang
        assert stat.S_ISFIFO(info.value.mode)
    finally:
        os.close(dfd)


def test_create_new_is_private_whatever_the_umask_and_never_follows(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        os.close(safefs.create_new(str(tmp_path / "new")))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o600
    (tmp_path / "planted").symlink_to(tmp_path / "victim")
    with pytest.raises(FileExistsError):
        safefs.create_new(str(tmp_path / "planted"))
    assert not (tmp_path / "victim").exists()


def test_state_lock_busy_names_the_holder_and_a_planted_symlink_is_refused(tmp_path: Path) -> None:
    home = StateDir(tmp_path / "home")
    busy = rf"another monthly run is in progress \(pid {os.getpid()}\)"
    what = "another monthly run"
    with home.lock("monthly", what), pytest.raises(LockBusy, match=busy), home.lock("monthly", what):
        pass
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (home.locks / "update.lock").symlink_to(victim)
    with pytest.raises(StateError, match="cannot open lock file"), home.lock("update", "an update"):
        pass
    assert victim.read_bytes() == b"keep"


def test_vault_lock_refuses_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    vault = Vault(tmp_path / "vault")
    assert vault.recover() == []  # makes nothing: there is no journal yet
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / ".lock").symlink_to(victim)
    target = tmp_path / "evil"
    target.write_bytes(b"x")
    with pytest.raises(QuarantineError, match="cannot lock the quarantine vault"):
        vault.quarantine(str(target), None, "R", "F", "s")
    assert victim.read_bytes() == b"keep" and target.exists()


def test_a_lock_waits_for_a_holder_in_another_process(tmp_path: Path) -> None:
    """The vault's lock blocks (where the state directory's fails at once): a real child holds it."""
    path = tmp_path / "x.lock"
    code = (
        "import sys, time; from pathlib import Path; from scanner.safefs import FileLock\n"
        "with FileLock(Path(sys.argv[1])) as lock:\n"
        "    lock.acquire(); lock.claim(); print('held', flush=True); time.sleep(0.5)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with safefs.FileLock(path) as lock:
            assert not lock.acquire(wait=False)
            assert lock.holder() == str(child.pid)
            assert lock.acquire()  # returns once the child lets go
    finally:
        child.wait(timeout=30)


def test_the_package_imports_where_fcntl_pwd_and_grp_do_not_exist(tmp_path: Path) -> None:
    """As on Windows: the state directory, the safe-filesystem module and the vault import; only
    taking a lock needs fcntl."""
    code = (
        "import sys\n"
        "for m in ('fcntl', 'pwd', 'grp'): sys.modules[m] = None\n"
        "import scanner.safefs, scanner.state, scanner.remediation.quarantine\n"
        "from pathlib import Path\n"
        "try:\n"
        "    scanner.state.StateDir(Path(sys.argv[1])).lock('x', 'y').__enter__()\n"
        "except ImportError:\n"
        "    print('fcntl needed only for the lock')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "fcntl needed only for the lock"
