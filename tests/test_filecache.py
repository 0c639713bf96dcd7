"""The file cache: unchanged files judged before are not read again; anything else is."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EICAR, EICAR_RULE

from scanner import inert
from scanner.engine import compiler as engine
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.model import FileIdentity, ScanType, SignatureSetInfo
from scanner.scanning.filecache import DB_NAME, CacheMode, FileCache
from scanner.scanning.scan import ScanRequest, run_scan

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
"""The scans here run 'later', so files written by the test count as settled."""
INFO = SignatureSetInfo("test", 1, "custom")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "tree"
    d.mkdir()
    for i in range(20):
        (d / f"clean{i}.txt").write_bytes(b"nothing here %d\n" % i)
    (d / "eicar.com").write_bytes(EICAR)
    return d


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    p = tmp_path / "eicar.yar"
    p.write_text(EICAR_RULE)
    return p


def next_tick() -> None:
    """Let the filesystem's coarse clock move on: the scans here pretend to run in 2100, which switches off
    the cache's own guard against changes made in the same clock tick as the write before."""
    time.sleep(0.05)


def scan(
    tree: Path,
    rules_file: Path,
    cache_dir: Path | None,
    mode: CacheMode = CacheMode.USE,
    now: dt.datetime = LATER,
    rules=None,
):  # type: ignore[no-untyped-def]
    rules = rules or compile_rules([RuleSource("r", rules_file)], cache_dir.parent / "rules" if cache_dir else None)
    req = ScanRequest(ScanType.CUSTOM, paths=(os.fspath(tree),), jobs=2, cache_dir=cache_dir, cache=mode)
    report = run_scan(req, rules, INFO, now=lambda: now)
    return report, rules


def stats(report) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    fc = report.extra["file_cache"]
    return fc["hits"], fc["recorded"]


def found(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(Path(d.path).name for d in report.detections)


def test_an_unchanged_tree_is_not_read_again(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    first, _ = scan(tree, rules_file, cache)
    assert stats(first) == (0, 21)
    again, _ = scan(tree, rules_file, cache)
    assert stats(again) == (21, 0) and again.extra["file_cache"]["detections"] == 1
    assert found(again) == ["eicar.com"]
    assert again.counts.files_scanned == 21
    # and across a restart: a fresh process, from the compiled cache, loads no rules for cached files
    cached_rules = compile_rules([RuleSource("r", rules_file)], tmp_path / "state" / "rules")
    (tree / "eicar.com").unlink()
    third, _ = scan(tree, rules_file, cache, rules=cached_rules)
    assert stats(third) == (20, 0)
    assert cached_rules.loaded() == []
    assert (cache / DB_NAME).stat().st_mode & 0o777 == 0o600


def test_a_rewrite_that_restores_size_and_mtime_is_read_again(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    scan(tree, rules_file, cache)
    next_tick()
    victim = tree / "clean3.txt"
    st = victim.stat()
    victim.write_bytes(EICAR)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime cannot be
    report, _ = scan(tree, rules_file, cache)
    assert "clean3.txt" in found(report)
    # same size, same mtime, different content: only ctime tells
    same = tree / "clean4.txt"
    st = same.stat()
    same.write_bytes(b"NOTHING HERE 4\n")
    os.utime(same, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert same.stat().st_size == st.st_size and same.stat().st_mtime_ns == st.st_mtime_ns
    report, _ = scan(tree, rules_file, cache)
    hits, recorded = stats(report)
    assert recorded == 1 and hits == 20  # clean4 was re-read; clean3, now a detection, was not
    assert found(report) == ["clean3.txt", "eicar.com"]


def test_rename_chmod_and_new_files_are_read(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    scan(tree, rules_file, cache)
    next_tick()
    (tree / "clean1.txt").rename(tree / "renamed.txt")
    (tree / "clean2.txt").chmod(0o600)
    (tree / "new.txt").write_text("new")
    report, _ = scan(tree, rules_file, cache)
    assert stats(report) == (19, 3)  # 21 files, two of them changed, plus one new


def test_a_detection_is_cached_as_a_detection_never_as_clean(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    first, _ = scan(tree, rules_file, cache, CacheMode.OFF)
    for _ in range(3):
        report, _ = scan(tree, rules_file, cache)
        assert report.detections == first.detections  # rule, family, digest, offsets, stamp: as first found
    assert report.extra["file_cache"]["detections"] == 1
    with sqlite3.connect(cache / DB_NAME) as conn:
        rows = {os.fsdecode(r[0] + r[1]): r[2] for r in conn.execute("SELECT dir, name, found FROM results")}
    assert len(rows) == 21 and sum(1 for f in rows.values() if f) == 1
    kept = rows[os.fspath(tree / "eicar.com")]
    assert b"Test_EICAR" in inert.decode(kept) and b"EICAR" not in kept  # inert: the cache is no detection
    # what does not decode (never written so) is not trusted: the file is read again
    for bad in (b"not inert", inert.encode(b"not json"), inert.encode(b'{"matches": [["too", "short"]]}')):
        with sqlite3.connect(cache / DB_NAME) as conn:
            conn.execute("UPDATE results SET found = ? WHERE found != x''", (bad,))
        report, _ = scan(tree, rules_file, cache)
        assert report.detections == first.detections
        with sqlite3.connect(cache / DB_NAME) as conn:
            assert conn.execute("SELECT found FROM results WHERE found != x''").fetchone()[0] == kept


def test_changed_rules_or_engine_invalidate(tree, rules_file, tmp_path, monkeypatch):
    cache = tmp_path / "state" / "files"
    scan(tree, rules_file, cache)
    rules_file.write_text(EICAR_RULE + '\nrule nine { strings: $a = "here 9" condition: $a }\n')
    report, _ = scan(tree, rules_file, cache)
    assert stats(report)[0] == 0
    assert found(report) == ["clean9.txt", "eicar.com"]
    report, _ = scan(tree, rules_file, cache)
    assert stats(report)[0] == 21 and found(report) == ["clean9.txt", "eicar.com"]
    monkeypatch.setattr(engine, "__version__", "99.0")
    report, _ = scan(tree, rules_file, cache)
    assert stats(report)[0] == 0


def test_no_cache_and_refresh(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    report, _ = scan(tree, rules_file, cache, CacheMode.OFF)
    assert stats(report) == (0, 0) if "file_cache" in report.extra else True
    assert not (cache / DB_NAME).exists()
    scan(tree, rules_file, cache)
    report, _ = scan(tree, rules_file, cache, CacheMode.REFRESH)
    assert stats(report) == (0, 21)  # every file read again, results refreshed
    report, _ = scan(tree, rules_file, cache, CacheMode.OFF)
    assert "file_cache" not in report.extra
    report, _ = scan(tree, rules_file, None)
    assert "file_cache" not in report.extra


def test_files_modified_just_before_the_scan_are_not_recorded(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    report, _ = scan(tree, rules_file, cache, now=dt.datetime.now(dt.UTC))
    assert stats(report) == (0, 0)  # written a moment ago: a write in the same clock tick could go unseen


def test_a_corrupt_cache_is_discarded_not_fatal(tree, rules_file, tmp_path):
    cache = tmp_path / "state" / "files"
    cache.mkdir(parents=True)
    (cache / DB_NAME).write_bytes(b"this is not a database" * 100)
    report, _ = scan(tree, rules_file, cache)
    assert found(report) == ["eicar.com"]
    assert any("discarded a damaged file cache" in w for w in report.warnings)
    report, _ = scan(tree, rules_file, cache)
    assert stats(report) == (21, 0)
    # damage inside a valid header: never fatal, and the next scan starts afresh
    data = (cache / DB_NAME).read_bytes()
    (cache / DB_NAME).write_bytes(data[:100] + b"\xff" * (len(data) - 100))
    for f in ("-wal", "-shm"):
        Path(f"{cache / DB_NAME}{f}").unlink(missing_ok=True)
    report, _ = scan(tree, rules_file, cache)
    assert found(report) == ["eicar.com"]
    report, _ = scan(tree, rules_file, cache)
    assert found(report) == ["eicar.com"]
    assert report.counts.files_scanned == 21


def test_an_unusable_cache_directory_is_not_fatal(tree, rules_file, tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    rules = compile_rules([RuleSource("r", rules_file)])
    report, _ = scan(tree, rules_file, blocker / "files", rules=rules)
    assert found(report) == ["eicar.com"]
    assert any("cannot use the file cache" in w for w in report.warnings)


def test_bounded_by_entries_and_rule_sets(tmp_path):
    d = tmp_path / "c"
    now = iter(range(1, 10**9))
    for k in range(5):
        with FileCache(d, f"key{k}", now=lambda: next(now) * 10**12, max_entries=30, settle_ns=0) as fc:
            for i in range(50):
                fc.record(f"/f{i}", FileIdentity(1, i, 10, 1, 1))
    with sqlite3.connect(d / DB_NAME) as conn:
        assert conn.execute("SELECT count(*) FROM rule_sets").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] <= 30
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with FileCache(d, "key4", now=lambda: 10**15) as fc:
        assert fc.lookup("/f49", FileIdentity(1, 49, 10, 1, 1)) == b""  # the most recent results are the ones kept
        assert fc.lookup("/f49", FileIdentity(1, 49, 11, 1, 1)) is None


CHILD = r"""
import datetime as dt, json, sys
from pathlib import Path
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.model import ScanType, SignatureSetInfo
from scanner.scanning.scan import ScanRequest, run_scan
tree, rules, state = sys.argv[1:4]
compiled = compile_rules([RuleSource("r", Path(rules))], Path(state) / "rules")
req = ScanRequest(ScanType.CUSTOM, paths=(tree,), jobs=2, cache_dir=Path(state) / "files")
rep = run_scan(req, compiled, SignatureSetInfo("t", 1, "custom"), now=lambda: dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
print(json.dumps({"found": sorted(d.path for d in rep.detections), "files": rep.counts.files_scanned,
                  "warnings": list(rep.warnings)}))
"""


def test_concurrent_scans_share_the_cache_safely(tmp_path, rules_file):
    tree = tmp_path / "big"
    tree.mkdir()
    for i in range(3000):
        (tree / f"f{i}").write_bytes(EICAR if i % 500 == 0 else b"clean %d" % i)
    state = tmp_path / "state"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, os.fspath(tree), os.fspath(rules_file), os.fspath(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    results = [json.loads(out) for out, _ in outs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    for r in results:
        assert r["files"] == 3000 and len(r["found"]) == 6 and r["warnings"] == []
    with sqlite3.connect(state / "files" / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 3000
        assert conn.execute("SELECT count(*) FROM results WHERE found != x''").fetchone()[0] == 6
