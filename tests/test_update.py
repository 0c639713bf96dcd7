"""Activation of signature bundles: tests before activation, atomic swap, rollback, lock, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from feed_helpers import (
    MARKER_B,
    RULE_A,
    RULE_B,
    clean_dir,
    file_entry,
    installed_sets,
    new_state,
    special_entry,
    tar_bytes,
    write_set,
)

from scanner.errors import FeedError, StateError
from scanner.state import StateDir
from scanner.updates import publish, signatures, store, update

V1, V2, V3 = "2990.01.1", "2990.02.1", "2990.03.1"
REPO = Path(__file__).resolve().parent.parent


def _bundle(tmp_path: Path, name: str, **set_kw: object) -> Path:
    src = write_set(tmp_path / f"src-{name}", **set_kw)  # type: ignore[arg-type]
    out = tmp_path / f"{name}.tar.gz"
    publish.build_bundle(src, out)
    return out


def _activate(state: StateDir, archive: Path, version: str, clean: Path | None = None) -> Path:
    return update.activate(state, archive, version, clean_paths=None if clean is None else [clean])


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_activate_installs_and_keeps_previous(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    bundled = signatures.bundled_set().version
    installed = _activate(state, _bundle(tmp_path, "a"), V1)
    assert store.active_dir(state) == installed.resolve()
    assert signatures.active_set(state).version == V1
    assert signatures.active_set(state).source == "updated"
    assert store.has_previous(state) and store.previous_dir(state) is None  # the bundled set
    assert update.status(state).previous_version == bundled

    second = _activate(
        state, _bundle(tmp_path, "b", rules={"b.yar": RULE_B}, samples={("Feed_Test_Bravo", "b.bin"): MARKER_B}), V2
    )
    assert store.active_dir(state) == second.resolve()
    assert store.previous_dir(state) == installed.resolve()
    assert (installed / "rules" / "alpha.yar").is_file()  # kept whole for rollback
    assert [s.version for s in installed_sets(state)] == [V1, V2]


def test_feed_version_is_authoritative_over_bundle_manifest(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    archive = _bundle(tmp_path, "a", extra={"manifest.toml": b'version = "1999.01.1"\nreleased = "1999-01-01"\n'})
    installed = update.activate(state, archive, V1, released="2990-01-05")
    sigset = signatures.SignatureSet.load(installed, "updated")
    assert sigset.version == V1
    assert sigset.released is not None and sigset.released.isoformat() == "2990-01-05"


@pytest.mark.parametrize(
    ("set_kw", "reason"),
    [
        ({"rules": {"bad.yar": "rule broken { condition: }"}, "samples": {}}, "compile"),
        ({"samples": {("Feed_Test_Alpha", "miss.bin"): b"no marker in here"}}, "does not hit rule Feed_Test_Alpha"),
        ({"rules": {}, "samples": {}}, "no rules"),
        ({"rules": {"a.yar": RULE_A, "inc.yar": 'include "/etc/passwd"\n'}}, "outside the set's rules"),
        ({"rules": {"a.yar": RULE_A, "inc.yar": 'include "../../x.yar"\n'}}, "outside the set's rules"),
        # Matches the ELF header of every core binary (sh, ls, python3 ...).
        (
            {"rules": {"a.yar": RULE_A, "elf.yar": "rule Any_Elf { condition: uint32(0) == 0x464c457f }"}},
            "hits clean file",
        ),
    ],
)
def test_failed_activation_tests_keep_current_set(tmp_path: Path, set_kw: dict[str, object], reason: str) -> None:
    state = new_state(tmp_path)
    good = _activate(state, _bundle(tmp_path, "good"), V1)
    with pytest.raises(FeedError, match=reason) as info:
        _activate(state, _bundle(tmp_path, "bad", **set_kw), V2)
    assert "\n" not in str(info.value)
    assert store.active_dir(state) == good.resolve()
    assert list((state.signatures / store.STAGING).iterdir()) == []
    assert [s.version for s in installed_sets(state)] == [V1]


def test_raw_sample_is_refused(tmp_path: Path) -> None:
    src = write_set(tmp_path / "src")
    (src / "samples" / "Feed_Test_Alpha" / "raw.inert").write_bytes(b"raw bytes, not the inert container")
    archive = tmp_path / "raw.tar.gz"
    publish.build_bundle(src, archive)
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="cannot be read"):
        _activate(state, archive, V1)
    assert store.active_dir(state) is None


def test_unsafe_bundle_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(
        tar_bytes(
            [
                file_entry("rules/a.yar", RULE_A.encode()),
                special_entry("rules/passwd.yar", tarfile.SYMTYPE, "/etc/passwd"),
            ]
        )
    )
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="symbolic link"):
        _activate(state, archive, V1)
    assert store.active_dir(state) is None
    assert installed_sets(state) == []


def test_rule_hitting_a_clean_path_is_refused(tmp_path: Path) -> None:
    clean = clean_dir(tmp_path)
    (clean / "tool.bin").write_bytes(b"a clean program that happens to say " + MARKER_B)
    state = new_state(tmp_path)
    archive = _bundle(tmp_path, "b", rules={"b.yar": RULE_B}, samples={("Feed_Test_Bravo", "b.bin"): MARKER_B})
    with pytest.raises(FeedError, match=r"hits clean file .*tool.bin"):
        _activate(state, archive, V1, clean)


def test_rollback_and_forward_again(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    bundled = signatures.bundled_set().version
    with pytest.raises(StateError, match="no previous"):
        update.rollback(state)
    _activate(state, _bundle(tmp_path, "a"), V1)
    _activate(state, _bundle(tmp_path, "b"), V2)

    out = update.rollback(state)
    assert (out.from_version, out.to_version, out.to_bundled) == (V2, V1, False)
    assert signatures.active_set(state).version == V1
    assert store.held_version(state) == V2

    with pytest.raises(FeedError, match=f"{V2} is the one rolled back from and is held back"):
        update.rollback(state)  # a rollback of a rollback would re-activate the held-back set
    assert signatures.active_set(state).version == V1
    out = update.rollback(state, force=True)  # unless forced
    assert (out.from_version, out.to_version) == (V1, V2)
    assert store.held_version(state) is None

    out = update.rollback(state)
    out = update.rollback(state, force=True)
    assert out.to_version == V2
    log = (state.logs / update.LOG_NAME).read_text()
    assert f"rollback {V2} -> {V1}" in log and f"rollback {V1} -> {V2}" in log

    # After the first install the previous set is the bundled one.
    other = new_state(tmp_path / "other")
    _activate(other, _bundle(tmp_path, "c"), V1)
    out = update.rollback(other)
    assert out.to_bundled and out.to_version == bundled
    assert store.active_dir(other) is None
    assert signatures.active_set(other).source == "bundled"


def test_newer_install_clears_held_version(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    _activate(state, _bundle(tmp_path, "a"), V1)
    _activate(state, _bundle(tmp_path, "b"), V2)
    update.rollback(state)
    assert store.held_version(state) == V2
    _activate(state, _bundle(tmp_path, "c"), V3)
    assert store.held_version(state) is None


def test_cleanup_keeps_only_active_and_previous(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    for i, v in enumerate((V1, V2, V3)):
        _activate(state, _bundle(tmp_path, str(i)), v)
    assert [s.version for s in installed_sets(state)] == [V2, V3]
    flags = {s.version: (s.active, s.previous) for s in installed_sets(state)}
    assert flags == {V2: (False, True), V3: (True, False)}


def test_one_updater_at_a_time(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from scanner.updates import update
            from scanner.state import StateDir
            with update.update_lock(StateDir(Path({str(state.root)!r}))):
                print("locked", flush=True)
                sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = f"another signature update or rollback is in progress \\(pid {holder.pid}\\)"
        with pytest.raises(FeedError, match=busy):
            update.rollback(state)
        with pytest.raises(FeedError, match="another"):
            _activate_locked(state, _bundle(tmp_path, "a"))
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    _activate_locked(state, _bundle(tmp_path, "b"))  # the lock went with the process
    assert signatures.active_set(state).version == V1


def _activate_locked(state: StateDir, archive: Path) -> None:
    with update.update_lock(state):
        _activate(state, archive, V1)


_CRASH_SCRIPT = """
import os, signal, sys
from pathlib import Path
from scanner.updates import update
from scanner.state import StateDir

def checkpoint(step):
    if step == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)

state = StateDir(Path(sys.argv[1]))
with update.update_lock(state):
    update.activate(state, Path(sys.argv[2]), "2990.02.1", checkpoint=checkpoint)
print("finished")
"""

STEPS = ["staging", "extracted", "verified", "installed", "previous-linked", "activated", "cleaned"]


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_during_activation_leaves_one_complete_set(tmp_path: Path, step: str) -> None:
    state = new_state(tmp_path)
    old = _activate(state, _bundle(tmp_path, "old"), V1)
    old_listing = _listing(old)
    new_src = write_set(
        tmp_path / "src-new", rules={"a.yar": RULE_A, "b.yar": RULE_B}, samples={("Feed_Test_Bravo", "b.bin"): MARKER_B}
    )
    archive = tmp_path / "new.tar.gz"
    publish.build_bundle(new_src, archive)

    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(state.root), str(archive), step],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    active = store.active_dir(state)
    assert active is not None and active.is_dir()
    sigset = signatures.SignatureSet.load(active, "updated")
    if sigset.version == V1:
        assert active == old.resolve() and _listing(active) == old_listing
        assert STEPS.index(step) < STEPS.index("activated")
    else:
        assert sigset.version == V2
        assert STEPS.index(step) >= STEPS.index("activated")
        assert {"rules/a.yar", "rules/b.yar", "manifest.toml"} <= set(_listing(active))
        assert store.previous_dir(state) == old.resolve()
    assert update.verify_dir(active) == []

    # The next run cleans up after the crash and succeeds.
    third = _activate(state, _bundle(tmp_path, "third"), V3)
    assert store.active_dir(state) == third.resolve()
    assert list((state.signatures / store.STAGING).iterdir()) == []
    assert [p.name for p in state.signatures.iterdir() if ".tmp-" in p.name] == []


def test_update_log_records_failures(tmp_path: Path) -> None:
    from scanner.updates.feed import FeedSettings

    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="no update feed is configured"):
        update.update(state, FeedSettings(mirrors=()))
    assert "update failed: no update feed is configured" in (state.logs / update.LOG_NAME).read_text()
