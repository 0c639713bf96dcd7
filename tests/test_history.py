"""The history record and undo under hostile names, kills and write failures, through the real CLI.

A file name that is not valid UTF-8 must not lose the undo record; a run killed in the middle of
remediation must still be undoable; a record that cannot be written must not be reported as success.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EICAR, run_module

from scanner.remediation.vault_journal import ENV_FAULT

EVIL = b"evil\xff.sh"


def plant(directory: Path, name: bytes = EVIL, data: bytes = EICAR) -> bytes:
    """A detected file whose name is ``name`` (bytes, exactly); returns its full path as bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    path = os.path.join(os.fsencode(directory), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def history(cli) -> list[dict]:  # type: ignore[no-untyped-def]
    res = cli("history", "--format", "json")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("action", ["quarantine", "remove"])
def test_a_non_utf8_name_is_recorded_exactly_and_undone(cli, tmp_path, eicar_rule, action):
    d = tmp_path / "data"
    path = plant(d)
    res = cli(
        "scan", d, "--rules", eicar_rule, "--no-default-rules", "--action", action, "--action-min-severity", "low"
    )
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and not os.path.lexists(path)
    (rec,) = history(cli)
    assert rec["state"] == "complete" and rec["exit_code"] == 1
    (o,) = rec["outcomes"]
    assert o["ok"] and o["path"] == str(d) + "/evil\\xff.sh"  # readable text, and the exact bytes beside it
    assert base64.b64decode(o["path_b64"]) == path
    res = cli("undo", rec["scan_id"])
    assert res.exit_code == 0, res.stderr
    if action == "quarantine":
        assert os.listdir(os.fsencode(d)) == [EVIL]
        with open(path, "rb") as f:
            assert f.read() == EICAR
        assert "restored" in res.stdout
    else:  # deleted for good, but recorded: undo says so instead of "no scan with id"
        assert "was deleted (--action remove); it cannot be restored" in res.stdout
    assert history(cli)[0]["undone_at"]


def test_the_monthly_run_records_a_non_utf8_name_and_undo_restores_it(cli, tmp_path):
    root = tmp_path / "sysroot"
    (root / "etc").mkdir(parents=True)
    path = plant(root / "tmp")
    res = cli("monthly", "--sysroot", root, "--no-processes")
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and not os.path.lexists(path)
    (rec,) = history(cli)
    assert rec["command"] == "monthly" and rec["state"] == "complete"
    assert [base64.b64decode(o["path_b64"]) for o in rec["outcomes"]] == [path]
    assert cli("undo", rec["scan_id"]).exit_code == 0
    assert os.listdir(os.fsencode(root / "tmp")) == [EVIL]


def test_a_record_that_cannot_be_written_is_exit_3_and_undo_still_works(cli, tmp_path, eicar_rule, scanner_home):
    d = tmp_path / "data"
    path = plant(d, b"eicar.com")
    blocker = scanner_home / "history"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory\n")  # a real failure, as root cannot be stopped by permissions
    res = cli(
        "scan",
        d,
        "--rules",
        eicar_rule,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--format",
        "json",
    )
    assert res.exit_code == 3, res.stderr
    assert "NOT RECORDED" in res.stderr and not os.path.lexists(path)
    rep = json.loads(res.stdout)
    assert rep["exit_code"] == 3 and any("could not be written" in w for w in rep["warnings"])
    blocker.unlink()
    res = cli("undo", rep["scan_id"])
    assert res.exit_code == 0, res.stderr
    assert "no history record" in res.stderr and os.path.exists(path)


def test_a_scan_killed_mid_remediation_is_listed_as_incomplete_and_undone(tmp_path, eicar_rule, cli):
    d = tmp_path / "data"
    paths = [plant(d, f"eicar{i}.com".encode()) for i in range(4)]
    # The child kills itself with SIGKILL once the first file is out of its place (a real kill -9).
    env = {**os.environ, ENV_FAULT: "quarantine:unlinked"}
    res = run_module(
        "scan",
        d,
        "--rules",
        eicar_rule,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        env=env,
    )
    assert res.exit_code == -9, res.stderr
    assert sum(os.path.exists(p) for p in paths) == 3
    (rec,) = history(cli)
    assert rec["state"] == "in progress"
    listing = cli("history").stdout
    assert "INCOMPLETE" in listing
    res = cli("undo", rec["scan_id"])
    assert res.exit_code == 0, res.stderr
    assert "did not finish" in res.stdout
    assert all(os.path.exists(p) for p in paths)
    assert json.loads(cli("quarantine", "list", "--format", "json").stdout) == []


def test_a_scan_killed_by_another_process_mid_remediation_is_undone(tmp_path, eicar_rule, cli, scanner_home):
    d = tmp_path / "data"
    paths = [plant(d, f"eicar{i:03}.com".encode()) for i in range(150)]
    items = scanner_home / "quarantine" / "items"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            os.fspath(d),
            "--rules",
            os.fspath(eicar_rule),
            "--no-default-rules",
            "--action",
            "quarantine",
            "--action-min-severity",
            "low",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            # a file gone from its place has been moved; a vault record alone may precede the move
            if items.is_dir() and any(not os.path.exists(p) for p in paths):
                break
            time.sleep(0.005)
        proc.kill()
    finally:
        proc.wait()
    moved = sum(not os.path.exists(p) for p in paths)
    if moved == len(paths):
        pytest.skip("the scan finished before it could be killed")
    assert moved >= 1
    (rec,) = history(cli)
    assert rec["state"] == "in progress"
    res = cli("undo", rec["scan_id"])
    assert res.exit_code == 0, res.stderr
    assert all(os.path.exists(p) for p in paths)


def test_scans_of_the_same_second_are_listed_in_the_order_they_ran(cli, tmp_path, eicar_rule, scanner_home):
    """Scan ids sort by time to the second; within one second (a random suffix) the order the records were
    written decides, so ``history`` lists the newest scan last."""
    d = tmp_path / "data"
    plant(d, b"x.com")
    for fmt in ("text", "json", "clamscan"):
        assert cli("scan", d, "--rules", eicar_rule, "--no-default-rules", "--format", fmt).exit_code == 1
    records = sorted((scanner_home / "history").glob("*.json"))
    assert len(records) == 3
    second = "20300101T000000Z"
    for k, (rec, suffix) in enumerate(zip(records, ("ffffff", "888888", "000000"), strict=True)):
        data = json.loads(rec.read_text())
        data["scan_id"] = f"{second}-{suffix}"
        renamed = rec.with_name(f"{second}-{suffix}.json")
        rec.unlink()
        renamed.write_text(json.dumps(data))
        os.utime(renamed, ns=(time.time_ns(), 1_000_000_000 * (k + 1)))
    assert [r["scan_id"][-6:] for r in history(cli)] == ["ffffff", "888888", "000000"]
