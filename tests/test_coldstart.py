"""Cold start: the compiled-rule cache is keyed by content; a new collection is scanned unrouted, then
prepared for the next scans by a background process (with the same detections); an activated update's
first scan finds everything compiled."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
import time
from pathlib import Path

import pytest
from conftest import REAL_PREPARE_START, run_module, wait_for_preparation
from feed_helpers import RULE_A, clean_dir, new_state, write_set
from test_routing import TRICKY_RULES, detections, gated_rules, write_samples

from scanner.engine import compiler, prepare, routing
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.safefs import FileLock
from scanner.updates import publish, signatures, update


def _collection(root: Path) -> list[RuleSource]:
    """A routable collection with an include (the included file's content is part of the key)."""
    (root / "sub").mkdir(parents=True)
    (root / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    (root / "elf_heavy.yar").write_text(gated_rules(30, "uint32(0) == 0x464C457F and filesize < 200KB", "ELFGATE"))
    (root / "sub" / "tricky.yar").write_text(TRICKY_RULES)
    (root / "inc.yar").write_text('include "sub/tricky.yar"\n')
    return [RuleSource(p.name, p) for p in sorted(root.glob("*.yar"))]


def test_the_same_content_at_two_paths_is_compiled_once(tmp_path, caplog):
    first = _collection(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = [RuleSource(s.namespace, tmp_path / "b" / s.path.name) for s in first]
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        one = compile_rules(first, cache)
    assert "cache miss" in caplog.text and "compiling" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        two = compile_rules(second, cache)
    assert two.key == one.key and two.routed
    assert "cache hit" in caplog.text and "keyed by content" in caplog.text
    assert "compiling" not in caplog.text
    assert len(list(cache.glob("*.yarc"))) == 1

    # content still counts, included files too: a change under b/ only is a new compiled form
    (tmp_path / "b" / "sub" / "tricky.yar").write_text(TRICKY_RULES + "\nrule extra { condition: false }\n")
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        three = compile_rules(second, cache)
    assert three.key != one.key and "cache miss" in caplog.text
    # and the namespace counts: the same file in another namespace is another compiled form
    assert compile_rules([RuleSource("other", first[0].path)], cache).key != compile_rules(first[:1], cache).key


def test_a_new_collection_is_scanned_unrouted_and_prepared_for_the_next_scan(tmp_path, monkeypatch, caplog):
    """The first start matches every file against the whole set; the preparation builds the routed sets into
    the cache; the next start is routed from them. All three give the
    detections of an unrouted scan."""
    monkeypatch.setattr(routing, "SIZE_EDGES", (100 * 1024, 1024 * 1024))
    sources = _collection(tmp_path / "rules")
    samples = tmp_path / "samples"
    write_samples(samples)
    want = detections(compile_rules(sources, route=False), samples)
    assert len(want) > 100
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        first = compile_rules(sources, cache, background=True)
    assert not first.routed and first.unprepared == (cache, tuple(sources))
    assert "scan unrouted" in caplog.text
    assert detections(first, samples) == want

    assert compiler.prepare(sources, cache)
    assert {p.name for p in (cache / "routed").rglob("*.yarc")} >= {"4d5a.0.yarc", "7f45.0.yarc", "any.0.yarc"}

    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        second = compile_rules(sources, cache, background=True)
        assert compiler.prepare(sources, cache)  # nothing left to do
    assert "cache hit" in caplog.text and "prepared already" in caplog.text
    assert second.routed and second.unprepared is None
    assert {r.name for r in second.routes} >= {"4d5a.0", "7f45.0", "any.0"}
    assert detections(second, samples) == want
    assert set(second.loaded()) - {"full"}


def test_without_a_cache_a_new_collection_is_scanned_unrouted_and_nothing_is_prepared(tmp_path):
    sources = _collection(tmp_path / "rules")
    compiled = compile_rules(sources, None, background=True)
    assert not compiled.routed and compiled.unprepared is None
    assert prepare.start(compiled) is None


def test_a_failed_preparation_is_logged_and_the_next_start_is_unrouted_again(tmp_path, monkeypatch, caplog):
    sources = _collection(tmp_path / "rules")
    cache = tmp_path / "cache"
    compiled = compile_rules(sources, cache, background=True)

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("analysis bug")

    monkeypatch.setattr(compiler, "_compile_routes", broken)
    job = cache / "job.json"
    cache.mkdir(exist_ok=True)
    job.write_text(json.dumps({"sources": [[s.namespace, str(s.path)] for s in sources]}))
    with caplog.at_level("INFO", logger="scanner.engine"):
        assert prepare.run(job) == 1
    assert "preparation failed: the next scan is unrouted and tries again" in caplog.text
    assert "ValueError: analysis bug" in caplog.text and not job.exists()
    again = compile_rules(sources, cache, background=True)
    assert again.key == compiled.key and not again.routed and again.unprepared is not None


@pytest.mark.parametrize("kind", ["fifo", "missing", "garbage", "huge"])
def test_a_job_file_that_is_not_one_is_refused_at_once(tmp_path, kind, caplog):
    job = tmp_path / "job.json"
    if kind == "fifo":
        os.mkfifo(job)
    elif kind == "garbage":
        job.write_bytes(b"\xff\x00{not json")
    elif kind == "huge":
        with job.open("wb") as f:
            f.truncate(prepare.JOB_LIMIT + 1)
    with caplog.at_level("INFO", logger="scanner.engine"):
        assert prepare.run(job) == 1
    assert "cannot be read" in caplog.text


def _pid_of(log: str) -> int:
    m = re.search(r"prepared in the background for the next scans \(process (\d+)", log)
    assert m, log
    return int(m.group(1))


def test_the_preparation_runs_in_a_session_of_its_own_at_idle_priority_one_at_a_time(tmp_path, caplog):
    """A real child process: it waits for the lock another preparation holds, at SCHED_IDLE, in its own
    session (a closing terminal does not stop it); once let go it fills the cache and logs what it did."""
    sources = _collection(tmp_path / "rules")
    cache = tmp_path / "cache"
    compiled = compile_rules(sources, cache, background=True)
    cache.mkdir(exist_ok=True)  # made by the scan's memo of content hashes, for rule files older than these
    with FileLock(cache / prepare.LOCK_NAME) as held:
        assert held.acquire(wait=False)
        with caplog.at_level("INFO", logger="scanner.engine"):
            started = REAL_PREPARE_START(compiled)
        assert started is not None and compiled.unprepared is None
        assert REAL_PREPARE_START(compiled) is None  # once
        assert _pid_of(caplog.text) == started.pid
        deadline = time.monotonic() + 60
        while "preparing routed sets" not in (cache / prepare.LOG_NAME).read_text():
            assert time.monotonic() < deadline and not started.done
            time.sleep(0.05)
        assert os.sched_getscheduler(started.pid) == os.SCHED_IDLE
        assert os.getsid(started.pid) == started.pid != os.getsid(0)
        assert not started.wait(0.5)  # waiting for the lock
    assert started.wait(120)
    log = (cache / prepare.LOG_NAME).read_text()
    assert "preparation finished in" in log and "peak RSS" in log, log
    assert not list(cache.glob("prepare-*.json"))
    routed = compile_rules(sources, cache, background=True)
    assert routed.routed and routed.unprepared is None


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink"])
def test_a_log_that_is_not_a_regular_file_is_never_replaced_and_never_waited_on(tmp_path, kind, caplog):
    sources = _collection(tmp_path / "rules")
    cache = tmp_path / "cache"
    compiled = compile_rules(sources, cache, background=True)
    cache.mkdir(exist_ok=True)
    log = cache / prepare.LOG_NAME
    target = tmp_path / "elsewhere"
    if kind == "fifo":
        os.mkfifo(log)
    elif kind == "device":
        os.mknod(log, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of our own
    else:
        target.write_text("untouched\n")
        log.symlink_to(target)
    with caplog.at_level("INFO", logger="scanner.engine"):
        started = REAL_PREPARE_START(compiled)  # a FIFO without a reader, a symlink: refused at once
    if kind == "device":
        assert started is not None and started.wait(120)
        assert stat.S_ISCHR(log.lstat().st_mode)
        assert compile_rules(sources, cache).routed
    else:
        assert started is None and "could not be prepared in the background" in caplog.text
        assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISLNK)(log.lstat().st_mode)
    assert kind != "symlink" or target.read_text() == "untouched\n"


def test_an_activated_update_is_compiled_and_routed_before_its_first_scan(tmp_path, caplog):
    state = new_state(tmp_path)
    src = write_set(
        tmp_path / "src",
        rules={"alpha.yar": RULE_A, "pe.yar": gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE")},
    )
    archive = tmp_path / "set.tar.gz"
    publish.build_bundle(src, archive)
    with caplog.at_level("INFO", logger="scanner.engine"):
        update.activate(state, archive, "2990.01.1", clean_paths=[clean_dir(tmp_path)])
    assert "compiling" in caplog.text  # the activation tests compiled it, in the staging directory
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        loaded = signatures.load_rules(state, [], True, today=dt.date(2990, 1, 2), max_age_days=10**6)
    assert loaded.info.version == "2990.01.1"
    assert "cache hit" in caplog.text and "compiling" not in caplog.text
    assert loaded.rules.routed and loaded.rules.unprepared is None


@pytest.mark.parametrize("route", [True, False])
def test_cache_state_agrees_with_the_content_key(tmp_path, route):
    sources = _collection(tmp_path / "a")
    cache = tmp_path / "cache"
    assert not compiler.cache_state(cache, sources)
    compile_rules(sources, cache, route=route)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = [RuleSource(s.namespace, tmp_path / "b" / s.path.name) for s in sources]
    assert compiler.cache_state(cache, moved) is route  # cache_state asks about the routed form


def test_a_scan_with_new_rules_starts_the_preparation_when_it_ends_and_the_next_scan_is_routed(tmp_path, scanner_home):
    """The real command: the first scan is unrouted and starts the preparation (a process it does not wait
    for); the next scan finds the routed sets in the cache."""
    _collection(tmp_path / "rules")
    samples = tmp_path / "samples"
    write_samples(samples)
    args = ("scan", samples, "--rules", tmp_path / "rules", "--no-default-rules", "--no-cache", "-v")
    first = run_module(*args, "--format", "json")
    assert first.exit_code == 1, first.stderr
    assert "scan unrouted" in first.stderr and "prepared in the background" in first.stderr
    log = wait_for_preparation(scanner_home)
    assert f"(process {_pid_of(first.stderr)})" in log and "preparation finished" in log
    second = run_module(*args, "--format", "json")
    assert "cache hit" in second.stderr and "routed sets" in second.stderr
    assert "prepared in the background" not in second.stderr
    found = [{(d["path"], d["rule"]) for d in json.loads(r.stdout)["detections"]} for r in (first, second)]
    assert found[0] == found[1] and len(found[0]) > 100


def test_rules_prepare_false_starts_no_preparation(tmp_path, scanner_home):
    _collection(tmp_path / "rules")
    (scanner_home / "config.toml").write_text("[rules]\nprepare = false\n")
    (tmp_path / "empty").mkdir()
    res = run_module("scan", tmp_path / "empty", "--rules", tmp_path / "rules", "--no-default-rules", "-v")
    assert res.exit_code == 0, res.stderr
    assert "[rules] prepare is false" in res.stderr and "prepared in the background" not in res.stderr
    assert not (scanner_home / "cache" / "rules" / prepare.LOG_NAME).exists()


def test_the_job_a_killed_preparation_left_is_removed_by_the_next_start_a_recent_one_is_not(tmp_path):
    sources = _collection(tmp_path / "rules")
    cache = tmp_path / "cache"
    cache.mkdir()
    stale, recent = cache / "prepare-0000000000000000-1.json", cache / "prepare-0000000000000000-2.json"
    for job in (stale, recent):
        job.write_text("{}")
    old = time.time() - prepare.STALE_JOB - 60
    os.utime(stale, (old, old))
    started = REAL_PREPARE_START(compile_rules(sources, cache, background=True))
    assert started is not None and started.wait(120)
    assert not stale.exists() and recent.exists()
