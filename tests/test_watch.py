"""Real-time folder watch, through the real watchdog observer on temporary folders.

Each test runs ``service.run_watch`` in a thread (or, for signals, in a child process, as the CLI
runs it) and waits for its events. Waits have generous limits; nothing here asserts a speed.
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKDOOR_LINE, EICAR, MINER, MINER_RULES, REAL_PREPARE_START, wait_for_preparation
from feed_helpers import MARKER_A, MARKER_B, RULE_A, RULE_B, clean_dir, write_set
from test_routing import gated_rules

from scanner.engine import prepare
from scanner.errors import UsageError
from scanner.model import Action, Severity
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_journal import ENV_FAULT
from scanner.state import StateDir
from scanner.updates import publish, update
from scanner.watch import adapter
from scanner.watch.config import WatchConfig
from scanner.watch.events import WatchCause, WatchEvent, WatchEventKind, event_json, event_text
from scanner.watch.service import run_watch

REPO = Path(__file__).resolve().parent.parent
Kind = WatchEventKind


class Running:
    """A watch running in a thread, with every event it emitted."""

    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self.events: list[WatchEvent] = []
        self._cv = threading.Condition()
        self.stop = threading.Event()
        self.code: int | None = None
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.wait_for(lambda e: e.kind is Kind.STARTED)

    def _run(self) -> None:
        try:
            self.code = run_watch(self.config, emit=self._emit, stop=self.stop)
        except BaseException as exc:
            self.failure = exc
            with self._cv:
                self._cv.notify_all()

    def _emit(self, ev: WatchEvent) -> None:
        with self._cv:
            self.events.append(ev)
            self._cv.notify_all()

    def wait_for(self, pred: Callable[[WatchEvent], bool], timeout: float = 20.0, after: int = 0) -> WatchEvent:
        """The first event (from index ``after``) satisfying ``pred``, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events[after:]:
                    if pred(ev):
                        return ev
                if self.failure is not None:
                    raise self.failure
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = "\n".join(event_text(e) for e in self.events)
                    raise AssertionError(f"no such event within {timeout} s; events:\n{shown}")
                self._cv.wait(left)

    def detected(self, path: Path, timeout: float = 20.0) -> WatchEvent:
        return self.wait_for(lambda e: e.kind is Kind.DETECTION and e.path == str(path), timeout)

    def of(self, kind: WatchEventKind) -> list[WatchEvent]:
        with self._cv:
            return [e for e in self.events if e.kind is kind]

    def close(self) -> int:
        self.stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the watch did not stop"
        if self.failure is not None:
            raise self.failure
        assert self.code is not None
        return self.code


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    d = tmp_path / "watched"
    d.mkdir()
    return d


@pytest.fixture
def start(tmp_path: Path, scanner_home: Path, eicar_rule: Path, watched: Path) -> Iterator[Callable[..., Running]]:
    """Start a watch of ``watched`` (EICAR rule only, throwaway sysroot); stopped at the end of the test."""
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    running: list[Running] = []

    def start_watch(**overrides: Any) -> Running:
        settings: dict[str, Any] = {
            "paths": (str(watched),),
            "state": StateDir(scanner_home),
            "rules": (eicar_rule,),
            "use_default_rules": False,
            "sysroot": sysroot,
            "jobs": 2,
            "action_min_severity": Severity.LOW,
        }
        settings.update(overrides)
        r = Running(WatchConfig(**settings))
        running.append(r)
        return r

    yield start_watch
    for r in running:
        if not r.stop.is_set():
            r.close()


def quiet_problems(r: Running) -> list[str]:
    return [event_text(e) for e in r.events if e.kind in (Kind.ERROR, Kind.SKIPPED)]


# --- complete files only ------------------------------------------------------------------------------


def test_slow_writer_is_scanned_once_closed_and_whole(start, watched):
    r = start()
    path = watched / "slow.com"
    pieces = [EICAR] + [f"\npiece {i}".encode() for i in range(4)]
    with path.open("wb") as f:
        for piece in pieces:
            f.write(piece)
            f.flush()
            time.sleep(0.3)
            # the malicious bytes are there from the first write: a scan before close would take the file
            assert path.exists(), "a file still being written was acted on"
        assert not r.of(Kind.DETECTION)
    ev = r.detected(path)
    assert ev.detection is not None and ev.detection.action.startswith("quarantined as ")
    assert not path.exists()
    whole = b"".join(pieces)
    assert ev.detection.sha256 == hashlib.sha256(whole).hexdigest()  # judged as written in full
    assert r.close() == 0
    assert quiet_problems(r) == []


def test_a_detection_below_the_action_threshold_is_reported_and_left_alone(start, watched):
    """Without a threshold the watch acts only on high and critical hits of rules that are not the project's
    own: the --rules EICAR rule (severity low) is reported, not quarantined, and the watch stops cleanly."""
    r = start(action_min_severity=None)
    path = watched / "low.com"
    path.write_bytes(EICAR)
    ev = r.detected(path)
    assert ev.detection is not None and ev.detection.action == "not acted on: below the action threshold"
    assert "-> not acted on: below the action threshold" in ev.message
    assert path.read_bytes() == EICAR
    assert r.close() == 0
    assert quiet_problems(r) == []


def test_renamed_into_place_and_editor_style_save_and_undo(start, watched, tmp_path, cli):
    outside = tmp_path / "outside"
    outside.mkdir()
    r = start()
    (outside / "moved.com").write_bytes(EICAR)
    os.rename(outside / "moved.com", watched / "moved.com")  # from outside the tree: only moved-to is seen
    tmp_name = watched / ".saved.com.swp"
    tmp_name.write_bytes(EICAR)
    os.rename(tmp_name, watched / "saved.com")  # an editor's save: temp file, then rename
    moved = r.detected(watched / "moved.com")
    saved = r.detected(watched / "saved.com")
    assert not (watched / "moved.com").exists() and not (watched / "saved.com").exists()
    assert r.close() == 0
    assert quiet_problems(r) == []
    assert all(e.path != str(tmp_name) for e in r.of(Kind.DETECTION))
    # each batch is in the history as a "watch" scan, so undo puts the file back
    for ev in (moved, saved):
        assert ev.scan_id
        res = cli("undo", ev.scan_id)
        assert res.exit_code == 0, res.stderr
    assert (watched / "moved.com").read_bytes() == EICAR and (watched / "saved.com").read_bytes() == EICAR
    history = json.loads(cli("history", "--format", "json").stdout)
    assert {h["command"] for h in history} == {"watch"}


def test_file_deleted_before_its_scan_is_not_an_error(start, watched):
    r = start(debounce=0.5)
    for i in range(5):
        p = watched / f"gone-{i}.com"
        p.write_bytes(EICAR)
        p.unlink()
    marker = watched / "marker.com"
    marker.write_bytes(EICAR)
    r.detected(marker)
    assert r.close() == 0
    assert quiet_problems(r) == []
    assert [e.path for e in r.of(Kind.DETECTION)] == [str(marker)]


def test_new_subfolders_are_watched_and_scanned(start, watched, tmp_path):
    # a long settle time: files found in a new folder must not wait for the fallback for unclosed files
    r = start(settle=60.0)
    deep = watched / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.com").write_bytes(EICAR)  # may be written before the new folder's watch exists
    incoming = tmp_path / "incoming"
    (incoming / "sub").mkdir(parents=True)
    (incoming / "sub" / "in.com").write_bytes(EICAR)
    os.rename(incoming, watched / "incoming")  # a whole tree moved in: no event for the file itself
    r.detected(deep / "deep.com")
    r.detected(watched / "incoming" / "sub" / "in.com")
    (deep / "later.com").write_bytes(EICAR)
    (watched / "incoming" / "sub" / "later.com").write_bytes(EICAR)
    r.detected(deep / "later.com")
    r.detected(watched / "incoming" / "sub" / "later.com")
    assert r.close() == 0
    assert quiet_problems(r) == []


def test_hard_link_and_things_that_are_not_files(start, watched, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.com").write_bytes(EICAR)
    (outside / "linked.com").write_bytes(EICAR)
    r = start()
    (watched / "symlink.com").symlink_to(outside / "target.com")  # never followed
    os.mkfifo(watched / "pipe")  # never opened for long, never blocks a scanning thread
    os.link(outside / "linked.com", watched / "linked.com")  # appears complete, without any close
    r.detected(watched / "linked.com")
    marker = watched / "marker.com"
    marker.write_bytes(EICAR)
    r.detected(marker)
    assert r.close() == 0
    assert (outside / "target.com").exists() and (watched / "symlink.com").is_symlink()
    assert {e.path for e in r.of(Kind.DETECTION)} == {str(watched / "linked.com"), str(marker)}
    assert quiet_problems(r) == []


# --- bursts and lost events --------------------------------------------------------------------------


def write_burst(
    root: Path, files: int, infected_every: int, *, folders: int = 4
) -> tuple[set[Path], dict[Path, bytes]]:
    """``files`` files in ``folders`` subfolders; every ``infected_every``-th carries the EICAR string."""
    infected: set[Path] = set()
    clean: dict[Path, bytes] = {}
    for i in range(files):
        sub = root / f"d{i % folders}"
        sub.mkdir(exist_ok=True)
        p = sub / f"f{i:04d}.bin"
        if i % infected_every == 0:
            p.write_bytes(b"head " + EICAR + b" tail")
            infected.add(p)
        else:
            data = f"clean file {i}\n".encode() * (1 + i % 7)
            p.write_bytes(data)
            clean[p] = data
    return infected, clean


def check_burst_outcome(r: Running, infected: set[Path], clean: dict[Path, bytes]) -> None:
    for p in sorted(infected):
        r.detected(p, timeout=30)
    assert r.close() == 0
    assert not [p for p in infected if p.exists()]
    assert all(p.read_bytes() == data for p, data in clean.items()), "a clean file was touched"
    found = [e.path for e in r.of(Kind.DETECTION)]
    assert sorted(found) == sorted(str(p) for p in infected)  # each once, nothing else


def test_burst_every_infected_file_and_nothing_else(start, watched):
    (watched / "skip").mkdir()
    r = start(excludes=("skip",))
    infected, clean = write_burst(watched, 400, 20)
    (watched / "skip" / "excluded.com").write_bytes(EICAR)
    check_burst_outcome(r, infected, clean)
    assert (watched / "skip" / "excluded.com").exists()
    stopped = r.of(Kind.STOPPED)[0]
    assert stopped.stats is not None and stopped.stats.files_scanned >= 400
    assert stopped.stats.detections == len(infected) and stopped.stats.failed_actions == 0


def test_full_backlog_is_folded_into_rescans(start, watched, caplog):
    caplog.set_level(logging.INFO, logger="scanner.watch")
    for i in range(3):
        (watched / f"d{i}").mkdir()
    # room for two waiting files: the rest of the burst must come back through folder rescans
    r = start(max_pending=2, queue_size=1, jobs=1, debounce=1.0)
    infected, clean = write_burst(watched, 60, 10, folders=3)
    check_burst_outcome(r, infected, clean)
    full = [e for e in r.of(Kind.OVERFLOW) if e.cause is WatchCause.QUEUE_FULL]
    assert full and all(e.path and e.path.startswith(str(watched)) for e in full)
    assert any(e.cause is WatchCause.QUEUE_FULL for e in r.of(Kind.RESCAN))
    assert any("folded into a rescan" in m for m in caplog.messages)  # the decision is in the log too


MAX_QUEUED_EVENTS = Path("/proc/sys/fs/inotify/max_queued_events")


def test_kernel_queue_overflow_is_noticed_and_rescanned(start, watched):
    """A real overflow: the watch's inotify instance gets a 16-event queue, and a burst overflows it.

    The kernel takes ``fs.inotify.max_queued_events`` when an inotify instance is created, so the
    limit is lowered only while the watch starts and put back at once (the rest of the machine
    keeps its limit); the watch's own instance keeps the small queue for the whole test.
    """
    try:
        saved = MAX_QUEUED_EVENTS.read_text()
        MAX_QUEUED_EVENTS.write_text("16\n")
    except OSError as exc:
        pytest.skip(f"cannot lower fs.inotify.max_queued_events ({exc.strerror}); needs root and /proc/sys writable")
    try:
        r = start()
    finally:
        MAX_QUEUED_EVENTS.write_text(saved)
    infected, clean = write_burst(watched, 1500, 10)  # thousands of events into a queue of 16
    ev = r.wait_for(lambda e: e.kind is Kind.OVERFLOW and e.cause is WatchCause.KERNEL_OVERFLOW)
    assert ev.path == str(watched)
    r.wait_for(lambda e: e.kind is Kind.RESCAN and e.cause is WatchCause.KERNEL_OVERFLOW, timeout=60)
    for p in sorted(infected):  # found through their events or through the rescans
        r.detected(p, timeout=30)
    # the watches were rebuilt: later files are seen again as they arrive
    after = watched / "after.com"
    after.write_bytes(EICAR)
    r.detected(after)
    check_burst_outcome(r, infected | {after}, clean)  # each infected file once, nothing else touched


def test_folder_that_cannot_be_watched_is_polled(start, watched, monkeypatch, caplog):
    """A folder refused by inotify (watch limit reached) is reported and rescanned periodically."""
    get_watch = adapter._Inotify._get_or_create_watch

    def refuse(self, path, mask):  # type: ignore[no-untyped-def]
        if path.endswith(b"/nowatch"):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return get_watch(self, path, mask)

    monkeypatch.setattr(adapter._Inotify, "_get_or_create_watch", refuse)
    caplog.set_level(logging.INFO, logger="scanner.watch")
    r = start(poll_interval=0.5)
    (watched / "nowatch").mkdir()
    lost = r.wait_for(lambda e: e.kind is Kind.OVERFLOW and e.cause is WatchCause.WATCH_LOST)
    assert lost.path == str(watched / "nowatch")
    r.wait_for(lambda e: e.kind is Kind.RESCAN and e.cause is WatchCause.WATCH_LOST)
    inside = watched / "nowatch" / "inside.com"
    inside.write_bytes(EICAR)  # no watch, so no event: only the poll can find it
    r.detected(inside)
    assert any(e.cause is WatchCause.POLL for e in r.of(Kind.RESCAN))
    assert any(m.startswith(f"cannot watch {watched / 'nowatch'}; polling it") for m in caplog.messages)
    assert r.close() == 0


def test_watched_folder_removed_and_recreated(start, watched):
    r = start(reload_interval=0.2)
    shutil.rmtree(watched)
    r.wait_for(lambda e: e.kind is Kind.OVERFLOW and "gone" in e.message)
    mark = len(r.events)
    watched.mkdir()
    early = watched / "early.com"
    early.write_bytes(EICAR)  # before the new folder is watched: the rescan finds it
    r.wait_for(lambda e: e.kind is Kind.OVERFLOW and e.cause is WatchCause.WATCH_LOST, after=mark)
    r.detected(early)
    later = watched / "later.com"
    later.write_bytes(EICAR)
    r.detected(later)
    assert r.close() == 0


# --- remediation as scan does it ---------------------------------------------------------------------


def test_persistence_is_cleaned_and_undo_restores_everything(start, tmp_path, cli):
    """A miner dropped into a watched home, started by cron; then a backdoor line appended to .bashrc."""
    root = tmp_path / "machine"
    home = root / "home" / "alice"
    (home / "Downloads").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    crontab = root / "var" / "spool" / "cron" / "crontabs" / "alice"
    crontab.parent.mkdir(parents=True)
    cron_before = "# m h dom mon dow command\n0 3 * * * /usr/bin/backup.sh\n"
    crontab.write_text(cron_before + "*/5 * * * * /home/alice/Downloads/kworkerd\n")
    bashrc = home / ".bashrc"
    rc_before = "# ~/.bashrc\nalias ll='ls -l'\n"
    bashrc.write_text(rc_before)
    rules = tmp_path / "miner.yar"
    rules.write_text(MINER_RULES)
    r = start(paths=(str(home),), sysroot=root, rules=(rules,))
    miner = home / "Downloads" / "kworkerd"
    miner.write_bytes(MINER)
    taken = r.detected(miner)
    assert taken.detection is not None and taken.detection.action.startswith("quarantined as ")
    r.wait_for(lambda e: e.kind is Kind.CLEANUP and "crontabs/alice" in e.message)
    with bashrc.open("a") as f:
        f.write(BACKDOOR_LINE + "\n")
    cleaned = r.detected(bashrc)
    r.wait_for(lambda e: e.kind is Kind.CLEANUP and ".bashrc" in e.message)
    assert r.close() == 0
    assert not miner.exists()
    assert crontab.read_text() == cron_before  # the line that started it, and only that line
    assert bashrc.read_text() == rc_before  # a persistence file loses lines; it is not taken whole
    assert not [e for e in r.events if e.kind is Kind.CLEANUP and "fail" in e.message]
    for scan_id in {taken.scan_id, cleaned.scan_id}:
        assert scan_id
        res = cli("undo", scan_id)
        assert res.exit_code == 0, res.stdout + res.stderr
    assert miner.read_bytes() == MINER
    assert crontab.read_text() == cron_before + "*/5 * * * * /home/alice/Downloads/kworkerd\n"
    assert bashrc.read_text() == rc_before + BACKDOOR_LINE + "\n"


# --- signatures, report action, output -----------------------------------------------------------------


def _activate(
    tmp_path: Path,
    state: StateDir,
    name: str,
    version: str,
    rules: dict[str, str],
    samples: dict[tuple[str, str], bytes],
) -> None:
    src = write_set(tmp_path / f"set-{name}", rules=rules, samples=samples)
    archive = tmp_path / f"{name}.tar.gz"
    publish.build_bundle(src, archive)
    update.activate(state, archive, version, clean_paths=[clean_dir(tmp_path)])


def test_new_signature_set_is_picked_up_without_restart(start, watched, tmp_path, scanner_home):
    state = StateDir(scanner_home)
    alpha = {("Feed_Test_Alpha", "a.bin"): b"x " + MARKER_A}
    _activate(tmp_path, state, "v1", "2990.01.1", {"alpha.yar": RULE_A}, alpha)
    r = start(rules=(), use_default_rules=True, reload_interval=0.2, rescan_on_reload=True)
    assert r.of(Kind.STARTED)[0].signatures.version == "2990.01.1"  # type: ignore[union-attr]
    (watched / "a.bin").write_bytes(b"x " + MARKER_A)
    assert r.detected(watched / "a.bin").detection.hit.rule == "Feed_Test_Alpha"  # type: ignore[union-attr]
    early_b = watched / "early-b.bin"
    early_b.write_bytes(b"y " + MARKER_B)  # judged clean by the first set
    _activate(
        tmp_path,
        state,
        "v2",
        "2990.02.1",
        {"alpha.yar": RULE_A, "bravo.yar": RULE_B},
        {**alpha, ("Feed_Test_Bravo", "b.bin"): b"y " + MARKER_B},
    )
    reload = r.wait_for(lambda e: e.kind is Kind.RELOAD)
    assert reload.previous == "2990.01.1" and reload.signatures.version == "2990.02.1"  # type: ignore[union-attr]
    assert r.detected(early_b).detection.hit.rule == "Feed_Test_Bravo"  # type: ignore[union-attr]
    late_b = watched / "late-b.bin"
    late_b.write_bytes(b"z " + MARKER_B)
    assert r.detected(late_b).detection.hit.rule == "Feed_Test_Bravo"  # type: ignore[union-attr]
    assert r.close() == 0


def test_a_watch_prepares_new_rules_at_once_and_switches_to_their_routed_sets(
    start, watched, tmp_path, eicar_rule, monkeypatch, caplog, scanner_home
):
    """A watch runs on: it starts the background preparation of rules it compiled afresh at once, and loads
    them again (routed, from the cache) when the preparation has ended, quietly (no reload event)."""
    monkeypatch.setattr(prepare, "start", REAL_PREPARE_START)
    rules = eicar_rule.parent / "pe.yar"
    rules.write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    with caplog.at_level(logging.INFO, logger="scanner"):
        r = start(rules=(eicar_rule.parent,), reload_interval=0.1)
        assert "preparation finished" in wait_for_preparation(scanner_home)
        deadline = time.monotonic() + 20
        while "the watch's rules are routed from now on" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text[-3000:]
            time.sleep(0.05)
        (watched / "after.com").write_bytes(EICAR)
        r.detected(watched / "after.com")
    assert not r.of(Kind.RELOAD)
    assert r.close() == 0


def test_a_change_to_a_file_an_index_includes_is_picked_up_without_restart(start, watched, tmp_path):
    """The watch follows an index's includes: a rule file that only an index names, changed, is a new set."""
    rules = tmp_path / "collection"
    (rules / "sub").mkdir(parents=True)
    (rules / "sub" / "marker.yar").write_text("rule Not_Yet { condition: false }\n")
    index = tmp_path / "index.yar"
    index.write_text(f'include "{rules / "sub" / "marker.yar"}"\n')
    r = start(rules=(index,), reload_interval=0.1)
    time.sleep(0.3)  # a few checks with the file unchanged: no reload
    assert not r.of(Kind.RELOAD)
    (rules / "sub" / "marker.yar").write_text(
        'rule Watch_Include_Marker { meta: severity = "high" strings: $a = "WATCH-INCLUDE-MARKER" condition: $a }\n'
    )
    r.wait_for(lambda e: e.kind is Kind.RELOAD)
    (watched / "late.bin").write_bytes(b"x WATCH-INCLUDE-MARKER x")
    assert r.detected(watched / "late.bin").detection.hit.rule == "Watch_Include_Marker"  # type: ignore[union-attr]
    assert r.close() == 0


def test_report_action_initial_scan_and_json_events(start, watched, scanner_home):
    there = watched / "already-there.com"
    there.write_bytes(EICAR)
    r = start(action=Action.REPORT, initial_scan=True)
    first = r.detected(there)
    r.wait_for(lambda e: e.kind is Kind.RESCAN and e.cause is WatchCause.INITIAL)
    new = watched / "new.com"
    new.write_bytes(EICAR)
    r.detected(new)
    assert r.close() == 0
    assert there.exists() and new.exists()  # report only
    assert not Vault(StateDir(scanner_home).quarantine).list()
    data = event_json(first)
    assert data["event"] == "detection" and data["action"] == "reported"
    for key in ("time", "kind", "path", "rule", "namespace", "family", "severity", "sha256", "size", "scan_id"):
        assert data[key] is not None, key
    assert data["path"] == str(there) and data["family"] == "EICAR-Test-File"
    for ev in r.events:  # every event is one JSON object
        json.loads(json.dumps(event_json(ev)))
    log = (scanner_home / "logs" / "watch.log").read_text()
    assert "started:" in log and str(there) in log and "stopped:" in log


def test_bad_options_are_refused(scanner_home, tmp_path, eicar_rule):
    state = StateDir(scanner_home)
    base: dict[str, Any] = {"state": state, "rules": (eicar_rule,), "use_default_rules": False}
    never = threading.Event()
    with pytest.raises(UsageError, match="not found"):
        run_watch(WatchConfig(paths=(str(tmp_path / "nope"),), **base), emit=print, stop=never)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        run_watch(WatchConfig(paths=(str(tmp_path / "file"),), **base), emit=print, stop=never)
    with pytest.raises(UsageError, match="quarantine or report"):
        run_watch(WatchConfig(paths=(str(tmp_path),), action=Action.REMOVE, **base), emit=print, stop=never)


# --- signals -----------------------------------------------------------------------------------------

DRIVER = """
import json, signal, sys, threading
from pathlib import Path
from scanner.model import Severity
from scanner.state import StateDir
from scanner.watch.config import WatchConfig
from scanner.watch.events import event_json
from scanner.watch.service import run_watch

stop = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda signum, frame: stop.set())
config = WatchConfig(paths=(sys.argv[1],), state=StateDir(Path(sys.argv[2])), rules=(Path(sys.argv[3]),),
                     use_default_rules=False, sysroot=Path(sys.argv[4]), action_min_severity=Severity.LOW,
                     shutdown_grace=float(sys.argv[5]) if len(sys.argv) > 5 else 5.0)
def emit(ev):
    print(json.dumps(event_json(ev)), flush=True)
sys.exit(run_watch(config, emit=emit, stop=stop))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(watched, tmp_path, scanner_home, eicar_rule, signum):
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(watched), str(scanner_home), str(eicar_rule), str(sysroot)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None

    def next_event(kind: str) -> dict[str, Any]:
        for line in proc.stdout:  # type: ignore[union-attr]
            ev = json.loads(line)
            if ev["event"] == kind:
                return ev
        raise AssertionError(f"no {kind} event; stderr: {proc.stderr.read()}")  # type: ignore[union-attr]

    try:
        next_event("started")
        (watched / "one.com").write_bytes(EICAR)
        assert next_event("detection")["path"] == str(watched / "one.com")
        for i in range(50):  # work in flight when the signal arrives
            (watched / f"c{i}.txt").write_text("clean\n" * i)
        (watched / "two.com").write_bytes(EICAR)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["event"] == "stopped"
    assert (
        (scanner_home / "logs" / "watch.log")
        .read_text()
        .rstrip()
        .splitlines()[-1]
        .split(" ", 1)[1]
        .startswith("stopped:")
    )
    vault = Vault(StateDir(scanner_home).quarantine)
    assert vault.recover() == []  # nothing half-done in the vault
    for item in vault.list():  # whatever was taken is whole and restorable
        assert item.restorable and item.sha256 == hashlib.sha256(EICAR).hexdigest()
    assert (watched / "two.com").exists() != any(i.original_path == str(watched / "two.com") for i in vault.list())


def test_the_watch_command_quarantines_and_stops_on_sigterm(tmp_path, scanner_home):
    """`scanner watch` as a user runs it: JSON lines on stdout, SIGTERM stops it with exit 0."""
    watched = tmp_path / "incoming"
    watched.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", "watch", str(watched), "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SCANNER_HOME": str(scanner_home)},
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "started"
        (watched / "eicar.com").write_bytes(EICAR)
        deadline = time.monotonic() + 30
        event = {}
        while time.monotonic() < deadline:
            event = json.loads(proc.stdout.readline())
            if event["event"] == "detection":
                break
        assert event["event"] == "detection" and event["family"] == "EICAR-Test-File"
        assert event["action"].startswith("quarantined as ")
        assert not (watched / "eicar.com").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_mid_burst_saves_what_is_left_and_a_restart_takes_it_up(
    start, watched, tmp_path, scanner_home, eicar_rule
):
    """SIGTERM during a burst while the vault is busy: nothing detected is lost, and the stop line says so.

    Another process holds the vault's lock (as ``scanner quarantine purge`` would), so detections
    pile up; the watch is stopped with a short grace. Every infected file must end up quarantined
    or saved in the backlog file, the stop line and exit code (3) must count what was left, and
    the next watch of the same folder must quarantine the rest.
    """
    sysroot = tmp_path / "sysroot"  # made by ``start``
    vault_root = StateDir(scanner_home).quarantine
    vault_root.mkdir(parents=True)
    busy = os.open(vault_root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(busy, fcntl.LOCK_EX)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(watched), str(scanner_home), str(eicar_rule), str(sysroot), "0.5"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "started"
        infected, clean = write_burst(watched, 2000, 4)  # 500 infected
        time.sleep(2.0)  # scanned and matched, waiting for the vault
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        fcntl.flock(busy, fcntl.LOCK_UN)  # the batch in hand goes through; the rest must be saved
        out, err = proc.communicate(timeout=90)
    finally:
        os.close(busy)
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err
    events = [json.loads(line) for line in out.splitlines()]
    stopped = events[-1]
    assert stopped["event"] == "stopped"
    taken = {i.original_path for i in Vault(vault_root).list()}
    still = {str(p) for p in infected if p.exists()}
    assert taken.isdisjoint(still) and taken | still == {str(p) for p in infected}
    assert still, "everything was quarantined: the test did not stop the watch mid-burst"
    backlog = json.loads(next(scanner_home.glob("watch-backlog-*.json")).read_text())
    saved = {os.fsdecode(base64.b64decode(b)) for b in backlog["files_b64"]}
    trees = [os.fsdecode(base64.b64decode(b)) for b in backlog["trees_b64"]]
    assert all(p in saved or any(p.startswith(t + "/") for t in trees) for p in still)
    unhandled = stopped["stats"]["unhandled"]
    assert unhandled > 0 and proc.returncode == 3
    assert f"left at the stop: {unhandled} detected files not quarantined" in stopped["message"]
    assert "saved in" in stopped["message"]
    assert all(p.read_bytes() == data for p, data in clean.items())

    r = start()  # the next watch of the same folder
    r.wait_for(lambda e: e.kind is Kind.RESCAN and e.cause is WatchCause.BACKLOG)
    for p in sorted(still):
        r.detected(Path(p), timeout=60)
    assert r.close() == 0
    assert not [p for p in infected if p.exists()]
    assert all(p.read_bytes() == data for p, data in clean.items()), "a clean file was touched"
    assert not list(scanner_home.glob("watch-backlog-*.json"))


def _backlog_path(home: Path, watched: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(watched))).hexdigest()[:16]
    return home / f"watch-backlog-{key}.json"


def test_backlog_from_outside_is_hostile_input(start, watched, tmp_path, scanner_home, caplog):
    """Only paths inside the watched folders are taken up; an unreadable backlog is moved aside with a warning."""
    caplog.set_level(logging.INFO, logger="scanner.watch")
    outside = tmp_path / "outside.com"
    outside.write_bytes(EICAR)
    inside = watched / "left.com"
    inside.write_bytes(EICAR)  # written while no watch ran: only the backlog can bring it back
    backlog = _backlog_path(scanner_home, watched)
    backlog.parent.mkdir(parents=True, exist_ok=True)
    b64 = [base64.b64encode(os.fsencode(p)).decode() for p in (str(outside), str(inside), "relative.com")]
    backlog.write_text(json.dumps({"format": "scanner.watch-backlog/1", "files_b64": b64, "trees_b64": []}))
    r = start()
    r.detected(inside)
    assert r.close() == 0
    assert outside.read_bytes() == EICAR and not backlog.exists()
    assert "ignored 2 backlog paths outside the watched folders" in caplog.messages

    os.mkfifo(backlog)  # a FIFO where the file was: never waited on, moved aside
    r = start()
    warning = r.wait_for(lambda e: e.kind is Kind.WARNING and "unusable" in e.message)
    assert "--initial-scan" in warning.message
    assert r.close() == 0
    assert not backlog.exists() and backlog.with_suffix(".damaged").exists()
    assert any(m.startswith(f"refused the backlog {backlog}") for m in caplog.messages)


def test_kill_9_during_a_burst_loses_no_file(watched, tmp_path, scanner_home, eicar_rule):
    """Batched quarantine keeps the vault's guarantee: after kill -9 mid-burst, recovery leaves every
    infected file either in place or whole in the vault, and nothing half-done."""
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(watched), str(scanner_home), str(eicar_rule), str(sysroot)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "started"
        infected, clean = write_burst(watched, 2000, 4)
        seen = 0
        for line in proc.stdout:
            seen += json.loads(line)["event"] == "detection"
            if seen >= 100:
                break
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    vault = Vault(StateDir(scanner_home).quarantine)
    vault.recover()
    assert vault.recover() == [] and list(vault.journal_dir.iterdir()) == [] and list(vault.tmp_dir.iterdir()) == []
    taken = {i.original_path: i for i in vault.list()}
    assert len(taken) >= 100
    for p in infected:
        if str(p) in taken:
            assert not p.exists() and taken[str(p)].restorable
        else:
            assert p.read_bytes() == b"head " + EICAR + b" tail"
    assert all(p.read_bytes() == data for p, data in clean.items())


# --- the pipeline: history and undo ---------------------------------------------------------------------

EVIL = b"evil\xff\x1b.com"
"""A name that is not UTF-8 and holds an escape character."""


def test_a_non_utf8_name_survives_the_whole_watch_flow(start, watched, scanner_home, cli):
    """Detection (the JSON event, exactly), quarantine, the history record and ``scanner undo`` keep a
    name that is not UTF-8 exactly; no text output carries its raw control character."""
    path = watched / os.fsdecode(EVIL)
    raw = os.fsencode(path)
    r = start()
    path.write_bytes(EICAR)
    ev = r.detected(path)
    assert r.close() == 0
    assert quiet_problems(r) == []
    assert not os.path.lexists(path)
    (item,) = Vault(StateDir(scanner_home).quarantine).list()
    assert os.fsencode(item.original_path) == raw
    scan_id = ev.scan_id
    assert scan_id
    text = f"{watched}/evil\\xff\x1b.com"  # JSON text: the stray byte as \xff, the exact bytes beside it
    shown = f"{watched}/evil\\xff\\x1b.com"  # printable text: both escaped
    assert event_json(ev) == {
        "event": "detection",
        "time": ev.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "kind": "file",
        "path": text,
        "path_b64": base64.b64encode(raw).decode("ascii"),
        "rule": "Test_EICAR",
        "namespace": "eicar.yar",
        "family": "EICAR-Test-File",
        "family_source": "meta",
        "severity": "low",
        "tags": [],
        "description": "",
        "author": "",
        "reference": "",
        "license": "",
        "sha256": hashlib.sha256(EICAR).hexdigest(),
        "size": len(EICAR),
        "pid": None,
        "action": f"quarantined as {item.id}",
        "scan_id": scan_id,
        "message": f"EICAR-Test-File (eicar.yar:Test_EICAR) in {shown} -> quarantined as {item.id} [{scan_id}]",
    }
    assert "\x1b" not in (scanner_home / "logs" / "watch.log").read_text()

    on_disk = (scanner_home / "history" / f"{scan_id}.json").read_bytes()
    assert b"\x1b" not in on_disk  # valid UTF-8 JSON, the control character escaped
    rec = json.loads(on_disk.decode("utf-8"))
    assert rec["schema"] == "scanner.history/2" and rec["state"] == "complete" and rec["command"] == "watch"
    assert rec["exit_code"] == 1 and rec["families"] == ["EICAR-Test-File"]
    (o,) = rec["outcomes"]
    assert o["step"] == "quarantine" and o["ok"] and o["vault_id"] == item.id
    assert o["path"] == text and base64.b64decode(o["path_b64"]) == raw

    res = cli("undo", scan_id)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "\x1b" not in res.stdout + res.stderr
    assert os.listdir(os.fsencode(watched)) == [EVIL]
    with open(raw, "rb") as f:
        assert f.read() == EICAR
    assert json.loads(cli("history", "--format", "json").stdout)[0]["undone_at"]


def test_a_watch_killed_right_after_quarantining_leaves_a_record_undo_uses(
    watched, tmp_path, scanner_home, eicar_rule, cli
):
    """kill -9 (a real SIGKILL, at the end of the vault batch) between taking a file and completing the
    batch's record: the record written before acting is "in progress", and ``scanner undo`` puts the
    file back from what the quarantine holds under its scan id."""
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    path = watched / os.fsdecode(EVIL)
    env = {**os.environ, ENV_FAULT: "batch:unlinked"}
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(watched), str(scanner_home), str(eicar_rule), str(sysroot)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "started"
        path.write_bytes(EICAR)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    assert not [line for line in out.splitlines() if json.loads(line)["event"] == "detection"]
    assert not os.path.lexists(path)  # taken, and killed before it was said or recorded as done
    (rec,) = json.loads(cli("history", "--format", "json").stdout)
    assert rec["command"] == "watch" and rec["state"] == "in progress" and rec["outcomes"] == []
    assert "INCOMPLETE" in cli("history").stdout
    res = cli("undo", rec["scan_id"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "did not finish" in res.stdout
    with open(os.fsencode(path), "rb") as f:
        assert f.read() == EICAR
    assert json.loads(cli("quarantine", "list", "--format", "json").stdout) == []


def test_a_record_that_cannot_be_written_is_a_failed_action_and_undo_still_works(start, watched, scanner_home, cli):
    """As for ``scanner scan``: the file is in the vault, but a batch whose record cannot be written
    counts as a failed action and says NOT RECORDED; undo finds the file by its scan id."""
    blocker = scanner_home / "history"
    blocker.write_text("not a directory\n")  # a real failure, as root cannot be stopped by permissions
    path = watched / "eicar.com"
    r = start()
    path.write_bytes(EICAR)
    ev = r.detected(path)
    assert ev.detection is not None and ev.detection.action.startswith("quarantined as ")
    assert r.close() == 0
    assert not path.exists()
    (warning,) = [e for e in r.of(Kind.WARNING) if "NOT RECORDED" in e.message]
    assert warning.message.startswith(f"NOT RECORDED: the history record of scan {ev.scan_id} could not be written")
    assert f"try 'scanner undo {ev.scan_id}'" in warning.message
    (stopped,) = r.of(Kind.STOPPED)
    assert stopped.stats is not None and stopped.stats.failed_actions == 1
    blocker.unlink()
    res = cli("undo", ev.scan_id)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "no history record" in res.stderr and path.read_bytes() == EICAR


# --- shape ---------------------------------------------------------------------------------------------


def test_remediation_stays_behind_the_remediator() -> None:
    """The watch acts on detections in one module, through the shared scan -> plan -> apply -> record
    pipeline (``jobs``): no other module of the watch imports the pipeline, the remediation layer or
    the history."""
    import ast

    package = REPO / "scanner" / "watch"
    behind = ("scanner.remediation", "scanner.history", "scanner.jobs")
    for path in sorted(package.glob("*.py")):
        if path.name == "remediator.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            )
            if isinstance(node, ast.ImportFrom) and node.module == "scanner":
                names += [f"scanner.{a.name}" for a in node.names]  # from scanner import jobs
            for name in names:
                assert not name.startswith(behind), f"{path.name} imports {name}"
