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

import pytest

from scanner.model import Action, Policy
from scanner.remediation import remediate, vault_journal
from scanner.remediation.quarantine import Vault
from scanner.remediation.remediate import Plan, PlannedAction, Step
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


def quarantine_plan(paths: list[Path]) -> Plan:
    """Quarantine ``paths``, then a manual step (which ``apply_batched`` does outside the batch)."""
    steps = tuple(PlannedAction(Step.QUARANTINE, str(p), ("F",), ("R",), path=str(p)) for p in paths)
    return Plan((*steps, PlannedAction(Step.MANUAL, "/etc/x", ("F",), (), reason="review it")))


def test_apply_batched_reports_a_file_its_batch_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's batched apply: every file in one batch; one that changed after its copy is a failed
    outcome without a vault item; ``on_outcome`` sees each final outcome, in order."""
    vault = Vault(tmp_path / "vault", now=lambda: NOW)
    a, b, c = files(tmp_path / "victims", 3)

    def writer_appends_to_b(step: str) -> None:
        if step == "batch:recorded":  # copies and records are on disk; the unlinks are next
            with b.open("ab") as f:
                f.write(b"more data\n")

    monkeypatch.setattr(vault_journal, "fault", writer_appends_to_b)
    seen: list[list[bool]] = []
    applied = remediate.apply_batched(
        quarantine_plan([a, b, c]),
        vault,
        "s",
        Policy(Action.QUARANTINE),
        now=lambda: NOW,
        on_outcome=lambda done: seen.append([o.ok for o in done]),
    )
    assert applied.vault_error is None
    oa, ob, oc, manual = applied.outcomes
    assert oa.ok and oc.ok and {i.id for i in vault.list()} == {oa.vault_id, oc.vault_id}
    assert not ob.ok and ob.vault_id is None and ob.message.startswith("failed: ") and "changed" in ob.message
    assert not manual.ok and manual.message == "manual step needed: review it"
    assert seen == [[True], [True, False], [True, False, True], [True, False, True, False]]
    assert not a.exists() and not c.exists() and b.read_bytes() == payload(1) + b"more data\n"
    assert_clean(vault)


def test_apply_batched_goes_file_by_file_when_the_batch_cannot_begin(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", now=lambda: NOW)
    (a,) = files(tmp_path / "victims", 1)
    (vault.root / ".lock").mkdir(parents=True)  # the lock cannot be opened: neither the batch nor a file
    applied = remediate.apply_batched(quarantine_plan([a]), vault, "s", Policy(Action.QUARANTINE), now=lambda: NOW)
    assert applied.vault_error is not None and "cannot lock the quarantine vault" in applied.vault_error
    taken, _manual = applied.outcomes
    assert not taken.ok and taken.message == f"failed: {applied.vault_error}"
    assert a.read_bytes() == payload(0)
