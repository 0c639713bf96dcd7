"""The scan-and-act pipeline (``scanner.jobs``) and the typed history records it writes.

A non-UTF-8 file name goes through the whole flow of ``scan`` and ``monthly`` (detection,
quarantine, history, undo, JSON) exactly; records of the current and the previous schema load;
a damaged record is refused with a StateError, never a KeyError or TypeError.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from conftest import EICAR

from scanner import jobs
from scanner.errors import StateError, UsageError
from scanner.history import (
    COMPLETE,
    SCHEMA,
    History,
    HistoryRecord,
    LinkRecord,
    OutcomeRecord,
    UndoRecord,
)
from scanner.model import Action, ExitCode, Policy, ScanCounts, ScanType, Severity
from scanner.scanning.scan import ScanRequest
from scanner.state import StateDir
from scanner.updates.signatures import load_rules

EVIL = b"evil\xff\x1b.sh"


def plant(directory: Path, name: bytes = EVIL) -> bytes:
    """A detected file named ``name`` (exact bytes) in ``directory``; its full path as bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    path = os.path.join(os.fsencode(directory), name)
    with open(path, "wb") as f:
        f.write(EICAR)
    return path


def job(
    state: StateDir, rule: Path, root: Path, action: Action, command: str = "scan", dry_run: bool = False
) -> jobs.Job:
    loaded = load_rules(state, [rule], False, today=dt.date(2026, 1, 1), max_age_days=90)
    request = ScanRequest(ScanType.CUSTOM, paths=(os.fspath(root),))
    return jobs.Job(request, loaded, Policy(action, min_severity=Severity.LOW), command, dry_run=dry_run)


# --- the pipeline, called as the CLI calls it -------------------------------------------------------------


def test_pipeline_quarantines_records_and_undoes_a_non_utf8_name(tmp_path, eicar_rule, scanner_home):
    state = StateDir(scanner_home)
    path = plant(tmp_path / "data")
    done = jobs.run(job(state, eicar_rule, tmp_path / "data", Action.QUARANTINE), state)

    assert done.exit_code is ExitCode.FOUND and done.notices == ()
    (d,) = done.report.detections
    assert os.fsencode(d.path or "") == path and d.action.startswith("quarantined as ")
    (o,) = done.outcomes
    assert o.ok and o.vault_id and os.fsencode(o.path or "") == path
    assert not os.path.lexists(path)

    (rec,) = History(state.history).all()  # typed, exact path
    assert rec.state == COMPLETE and rec.command == "scan" and rec.exit_code == ExitCode.FOUND
    assert rec.outcomes == done.outcomes
    on_disk = json.loads((state.history / f"{rec.scan_id}.json").read_text(encoding="utf-8"))
    assert on_disk["schema"] == SCHEMA
    assert base64.b64decode(on_disk["outcomes"][0]["path_b64"]) == path
    assert on_disk["outcomes"][0]["path"].endswith("/evil\\xff\x1b.sh")  # JSON text beside the exact bytes

    undone = jobs.undo(state, rec.scan_id)
    assert undone.status is jobs.UndoStatus.UNDONE and undone.exit_code is ExitCode.CLEAN
    assert undone.result is not None and undone.result.problems == ()
    with open(path, "rb") as f:
        assert f.read() == EICAR
    again = History(state.history).load(rec.scan_id)
    assert again.undone_at and again.undo == UndoRecord(undone.result.restored, ())
    assert jobs.undo(state, rec.scan_id).status is jobs.UndoStatus.ALREADY_UNDONE


def test_pipeline_report_only_and_dry_run_change_nothing_and_record(tmp_path, eicar_rule, scanner_home):
    state = StateDir(scanner_home)
    path = plant(tmp_path / "data")
    reported = jobs.run(job(state, eicar_rule, tmp_path / "data", Action.REPORT), state)
    planned = jobs.run(job(state, eicar_rule, tmp_path / "data", Action.QUARANTINE, dry_run=True), state)

    assert reported.exit_code is ExitCode.FOUND and reported.outcomes == ()
    assert planned.exit_code is ExitCode.FOUND and planned.outcomes == ()
    assert planned.report.detections[0].action == "would quarantine"
    assert os.path.exists(path)
    records = History(state.history).all()
    assert sorted((r.action or "", r.dry_run, r.state) for r in records) == [  # ids of one second: any order
        ("quarantine", True, COMPLETE),
        ("report", False, COMPLETE),
    ]
    for r in records:
        assert jobs.undo(state, r.scan_id).status is jobs.UndoStatus.NOTHING_TO_UNDO
    assert "exit code 1" in state.scan_log.read_text()


def test_pipeline_says_not_recorded_when_the_history_cannot_be_written(tmp_path, eicar_rule, scanner_home):
    state = StateDir(scanner_home)
    path = plant(tmp_path / "data", b"eicar.com")
    state.history.parent.mkdir(parents=True, exist_ok=True)
    state.history.write_text("not a directory\n")
    done = jobs.run(job(state, eicar_rule, tmp_path / "data", Action.QUARANTINE), state)

    assert done.exit_code is ExitCode.ACTION_FAILED and not os.path.exists(path)
    assert any(n.startswith("NOT RECORDED: ") for n in done.notices)
    assert any("could not be written" in w for w in done.report.warnings)
    state.history.unlink()
    undone = jobs.undo(state, done.report.scan_id)  # from the vault, by scan id
    assert undone.status is jobs.UndoStatus.UNDONE and os.path.exists(path)
    assert any("no history record" in n for n in undone.notices)


def test_undo_of_an_unknown_scan_is_a_usage_error(scanner_home):
    with pytest.raises(UsageError, match="no scan with id"):
        jobs.undo(StateDir(scanner_home), "20260101T000000Z-00000000")


def test_run_record_serves_a_batch_remediated_in_two_phases(tmp_path, eicar_rule, scanner_home):
    """The watch's use: one record per batch, begun in progress, completed after each phase."""
    state = StateDir(scanner_home)
    plant(tmp_path / "data")
    report = jobs.run(job(state, eicar_rule, tmp_path / "data", Action.REPORT), state).report
    history = History(tmp_path / "batches")
    record = jobs.RunRecord(history, report, "watch", Path("/"))
    record.begin()
    assert history.load(report.scan_id).incomplete
    first = OutcomeRecord("quarantine", "a", True, path="/a", vault_id="v1")
    assert record.complete(report, [first]) is None
    second = OutcomeRecord("clean persistence", "b", True, backup_ids=("v2",))
    assert record.complete(report, [first, second]) is None
    rec = history.load(report.scan_id)
    assert rec.state == COMPLETE and rec.outcomes == (first, second) and rec.command == "watch"


# --- the same through the CLI: scan and monthly --------------------------------------------------------------


def test_cli_scan_json_and_history_keep_a_non_utf8_name_exactly(cli, tmp_path, eicar_rule):
    d = tmp_path / "data"
    path = plant(d)
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
    assert res.exit_code == 1, res.stderr
    rep = json.loads(res.stdout)
    (det,) = rep["detections"]
    assert base64.b64decode(det["path_b64"]) == path
    (out,) = rep["remediation"]["outcomes"]
    assert base64.b64decode(out["path_b64"]) == path and out["ok"]
    (rec,) = json.loads(cli("history", "--format", "json").stdout)
    assert rec["scan_id"] == rep["scan_id"] and rec["schema"] == SCHEMA
    assert base64.b64decode(rec["outcomes"][0]["path_b64"]) == path
    res = cli("undo", rep["scan_id"])
    assert res.exit_code == 0, res.stderr
    assert os.listdir(os.fsencode(d)) == [EVIL]
    assert "\\xff\\x1b" in res.stdout and "\x1b" not in res.stdout  # said, escaped


def test_cli_monthly_report_history_and_undo_keep_a_non_utf8_name_exactly(cli, tmp_path):
    root = tmp_path / "sysroot"
    (root / "etc").mkdir(parents=True)
    path = plant(root / "tmp")
    report_file = tmp_path / "monthly.json"
    res = cli("monthly", "--sysroot", root, "--no-processes", "--report", report_file)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert not os.path.lexists(path)
    rep = json.loads(report_file.read_text(encoding="utf-8"))
    assert [base64.b64decode(d["path_b64"]) for d in rep["detections"]] == [path]
    (rec,) = json.loads(cli("history", "--format", "json").stdout)
    assert rec["command"] == "monthly" and rec["scan_id"] == rep["scan_id"]
    assert [base64.b64decode(o["path_b64"]) for o in rec["outcomes"]] == [path]
    assert cli("undo", rec["scan_id"]).exit_code == 0
    assert os.listdir(os.fsencode(root / "tmp")) == [EVIL]


# --- the record types ----------------------------------------------------------------------------------------


def full_record() -> HistoryRecord:
    odd = os.fsdecode(b"/srv/odd\xfe/x\xff")
    return HistoryRecord(
        scan_id="20260101T000000Z-0011aabb",
        command="scan",
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        scan_type="custom",
        action="quarantine",
        dry_run=False,
        sysroot=os.fsdecode(b"/mnt/r\xff"),
        signatures="2026.01.1",
        counts=ScanCounts(files_scanned=3, detections=2),
        families=("A", "B"),
        exit_code=ExitCode.ACTION_FAILED,
        outcomes=(
            OutcomeRecord(
                "quarantine",
                "/srv/odd\\xfe/x\\xff",
                True,
                path=odd,
                families=("A",),
                rules=("R",),
                description="quarantine it",
                message="quarantined as X",
                vault_id="X",
                other_links=1,
            ),
            OutcomeRecord(
                "clean persistence",
                "/etc/x.service",
                True,
                backup_ids=("B1",),
                removed_links=(LinkRecord(odd, "/etc/x.service"),),
            ),
            OutcomeRecord("kill", "pid 7", True, pid=7),
        ),
        undone_at="2026-01-02T00:00:00+00:00",
        state=COMPLETE,
        undo=UndoRecord(("restored /x",), ("a problem",)),
    )


def test_history_record_round_trips_through_json_and_the_disk(tmp_path):
    rec = full_record()
    assert HistoryRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec
    history = History(tmp_path)
    history.save(rec)
    assert history.load(rec.scan_id) == rec and history.last("scan") == rec and history.last("monthly") is None


def test_a_record_of_schema_1_still_loads(tmp_path):
    """As the code before the typed records wrote them: some without ``state`` or any ``*_b64`` field."""
    path = "/data/evil\\xff.sh"
    old = {
        "schema": "scanner.history/1",
        "scan_id": "20250101T000000Z-00000001",
        "command": "monthly",
        "started_at": "2025-01-01T00:00:00+00:00",
        "finished_at": "2025-01-01T00:00:05+00:00",
        "scan_type": "quick",
        "action": "quarantine",
        "dry_run": False,
        "sysroot": "/",
        "signatures": "2025.01.1",
        "counts": {"files_scanned": 10, "bytes_scanned": 99, "processes_scanned": 0, "detections": 1, "skipped": 0},
        "families": ["EICAR-Test-File"],
        "exit_code": 1,
        "outcomes": [
            {
                "step": "quarantine",
                "target": path,
                "path": path,
                "path_b64": base64.b64encode(b"/data/evil\xff.sh").decode(),
                "pid": None,
                "families": ["EICAR-Test-File"],
                "rules": ["Test_EICAR"],
                "description": "quarantine x",
                "ok": True,
                "message": "quarantined as X",
                "vault_id": "X",
                "backup_ids": [],
            }
        ],
        "undone_at": None,
    }
    fallback = {
        "schema": "scanner.history/1",
        "scan_id": "20250101T000000Z-00000002",
        "command": "unknown",
        "outcomes": [],
        "undone_at": "2025-01-02T00:00:00+00:00",
        "state": "in progress",
        "undo": {"restored": ["restored /a"], "problems": []},
    }
    for r in (old, fallback):
        (tmp_path / f"{r['scan_id']}.json").write_text(json.dumps(r))
    first, second = History(tmp_path).all()
    assert first.state == COMPLETE and first.exit_code == 1 and first.counts.not_scanned == 0
    (o,) = first.outcomes
    assert os.fsencode(o.path or "") == b"/data/evil\xff.sh" and o.removed_links == () and o.other_links == 0
    assert second.incomplete and second.started_at is None and second.undo == UndoRecord(("restored /a",))
    assert HistoryRecord.from_json(first.to_json()) == first  # and it is written as the current schema


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("scan_id"),
        lambda r: r.update(scan_id=7),
        lambda r: r.update(schema="scanner.history/99"),
        lambda r: r.update(state="half"),
        lambda r: r.pop("state"),  # required from v2 on
        lambda r: r.update(outcomes={"step": "kill"}),
        lambda r: r.update(counts={"files_scanned": "many"}),
        lambda r: r.update(exit_code=True),
        lambda r: r.update(sysroot_b64="not base64!"),
        lambda r: r["outcomes"][0].pop("ok"),
        lambda r: r["outcomes"][0].update(path_b64=["x"]),
        lambda r: r["outcomes"][1]["removed_links"][0].pop("target"),
        lambda r: r["outcomes"][2].update(pid="7"),
        lambda r: r.update(undo=[]),
    ],
)
def test_a_damaged_record_is_refused_with_a_state_error(tmp_path, damage):
    data = full_record().to_json()
    damage(data)
    with pytest.raises(StateError):
        HistoryRecord.from_json(data)
    history = History(tmp_path)
    history.save(full_record())
    (tmp_path / f"{full_record().scan_id}.json").write_text(json.dumps(data))
    with pytest.raises(StateError, match="damaged"):
        history.load(full_record().scan_id)
    assert history.all() == []  # passed over in the listing


@pytest.mark.parametrize("data", [None, [], "x", 3])
def test_a_record_that_is_not_an_object_is_refused(data):
    with pytest.raises(StateError):
        HistoryRecord.from_json(data)
    with pytest.raises(StateError):
        OutcomeRecord.from_json(data)


def test_cli_history_and_undo_with_a_damaged_record(cli, scanner_home):
    good = full_record()
    History(scanner_home / "history").save(good)
    (scanner_home / "history" / "20260101T000000Z-ffffffff.json").write_text('{"scan_id": 1}')
    res = cli("history", "--format", "json")
    assert res.exit_code == 0 and [r["scan_id"] for r in json.loads(res.stdout)] == [good.scan_id]
    res = cli("undo", "20260101T000000Z-ffffffff")
    assert res.exit_code == 2 and "damaged" in res.stderr and "Traceback" not in res.stderr


# --- the scan command's options over the configuration ----------------------------------------------


def test_missing_paths_warn_and_only_all_missing_with_nothing_else_is_an_error(tmp_path: Path) -> None:
    there, gone = str(tmp_path), str(tmp_path / "gone")
    assert jobs.missing_paths(jobs.ScanOptions(paths=(there, gone))) == [f"path not found: {gone}; scanning the rest"]
    with pytest.raises(UsageError, match="nothing to scan"):
        jobs.missing_paths(jobs.ScanOptions(paths=(gone,)))
    assert jobs.missing_paths(jobs.ScanOptions(paths=(gone,), scan_type=ScanType.QUICK))
    assert jobs.missing_paths(jobs.ScanOptions(paths=(gone,), pids=(1,)))


def test_scan_job_takes_the_options_over_the_configuration(tmp_path: Path, eicar_rule: Path) -> None:
    from scanner.config import Config

    state = StateDir(tmp_path / "home")
    config = Config(excludes=("*.iso",), max_filesize=0, jobs=3, action=Action.QUARANTINE)
    rules = load_rules(state, [eicar_rule], False, today=dt.date(2026, 1, 1), max_age_days=90)
    job = jobs.scan_job(state, config, jobs.ScanOptions(paths=(str(tmp_path),), excludes=("*.tmp",)), rules)
    req = job.request
    assert (req.scan_type, req.processes, req.files, req.jobs) == (ScanType.CUSTOM, False, True, 3)
    assert req.walk.excludes == ("*.iso", "*.tmp") and req.walk.max_filesize is None
    assert job.policy.action is Action.QUARANTINE and job.command == "scan" and not job.dry_run

    job = jobs.scan_job(state, config, jobs.ScanOptions(pids=(1,), action=Action.REPORT, dry_run=True), rules)
    assert (job.request.scan_type, job.request.processes, job.request.files) == (ScanType.CUSTOM, True, False)
    assert job.policy.action is Action.REPORT and job.dry_run
    quick = jobs.scan_job(state, config, jobs.ScanOptions(sysroot=tmp_path), rules).request
    assert (quick.scan_type, quick.processes) == (ScanType.QUICK, False)  # another root: not this machine's
