"""``Vault.batch()``: many quarantines with one round of flushes, as crash-safe as one at a time.

Real files in tmp_path and a real child process killed with SIGKILL at every step of a batch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from scanner.remediation import vault_journal
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_files import identify
from scanner.remediation.vault_journal import FAULT_STEPS

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

CHILD = r"""
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_files import identify

a = json.loads(sys.argv[1])
vault = Vault(Path(a["root"]), now=lambda: datetime(2025, 3, 4, tzinfo=timezone.utc))
with vault.batch():
    for p in a["paths"]:
        vault.quarantine(p, identify(p), "R", "F", "s")
print("finished without being killed")
"""


def payload(i: int) -> bytes:
    return b"EVIL-MARKER-%d\n" % i * 40


def files(root: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = root / f"folder {i % 2}" / f"payload-{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload(i))
        out.append(p)
    return out


def assert_clean(vault: Vault) -> None:
    """No journal entry, no temporary file; every record has its content and the other way round."""
    assert list(vault.journal_dir.iterdir()) == []
    assert list(vault.tmp_dir.iterdir()) == []
    items = vault.list()
    assert {p.name for p in vault.items_dir.iterdir()} == {f"{i.id}{ext}" for i in items for ext in (".json", ".inert")}


def test_batch_quarantines_every_file_restorably(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", now=lambda: NOW)
    paths = files(tmp_path / "victims", 10)
    with vault.batch() as taken:
        items = [vault.quarantine(str(p), identify(str(p)), "R", "F", "s") for p in paths]
        assert all(p.exists() for p in paths)  # the originals go once the copies are on disk
    assert taken.failed == {}
    assert not any(p.exists() for p in paths)
    assert_clean(vault)
    for item, p, i in zip(items, paths, range(10), strict=True):
        vault.restore(item.id)
        assert p.read_bytes() == payload(i)


def test_file_changed_before_the_batch_ends_is_kept_and_reported(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", now=lambda: NOW)
    a, b = files(tmp_path / "victims", 2)
    with vault.batch() as taken:
        item_a = vault.quarantine(str(a), identify(str(a)), "R", "F", "s")
        item_b = vault.quarantine(str(b), identify(str(b)), "R", "F", "s")
        with b.open("ab") as f:  # a writer appends after the copy was taken
            f.write(b"more data\n")
    assert list(taken.failed) == [item_b.id] and "changed" in taken.failed[item_b.id]
    assert not a.exists() and b.read_bytes() == payload(1) + b"more data\n"  # nothing of b is lost
    assert [i.id for i in vault.list()] == [item_a.id]
    assert_clean(vault)


def test_kill_during_a_batch_loses_nothing(tmp_path: Path) -> None:
    steps = FAULT_STEPS["batch"]
    forward_from = steps.index("batch:recorded")
    for n, step in enumerate(steps):
        case = tmp_path / str(n)
        vault = Vault(case / "vault", now=lambda: NOW)
        paths = files(case / "victims", 5)
        env = {**os.environ, vault_journal.ENV_FAULT: step, "PYTHONPATH": str(REPO)}
        args = json.dumps({"root": str(vault.root), "paths": [str(p) for p in paths]})
        proc = subprocess.run([sys.executable, "-c", CHILD, args], env=env, cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, (step, proc.returncode, proc.stdout, proc.stderr)

        done = vault.recover()
        assert len(done) == 5, (step, done)
        assert vault.recover() == []
        assert_clean(vault)
        items = vault.list()
        if n < forward_from:  # rolled back: no original was touched
            assert items == [], step
            assert [p.read_bytes() for p in paths] == [payload(i) for i in range(5)], step
        else:  # rolled forward: every file is in the vault, whole
            assert not any(p.exists() for p in paths), step
            assert len(items) == 5, step
            for item in items:
                vault.restore(item.id)
            assert [p.read_bytes() for p in paths] == [payload(i) for i in range(5)], step
