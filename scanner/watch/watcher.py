"""Real-time folder watch: scan files as they arrive and act on what is found, without missing any.

Data flow: watchdog's inotify observer (recursive; new folders are watched as they appear) ->
``_Pending`` (one entry per path, waiting for a short quiet period) -> a bounded work queue ->
a pool of scanning threads (``scan.scan_one``: the engine and rules of ``scan``) -> remediation
-> events for the caller, and one line each in the watch log.

A file is scanned once it is complete: when it is closed after writing or moved into the tree.
A file that only appears (a hard link) is scanned once it stops changing. Nothing is missed
silently: when the kernel's event queue overflows, a folder cannot be watched, or the backlog
is full, the affected tree is rescanned (files judged earlier and unchanged since are not read
again) and an ``overflow`` event says so. A new active signature set is picked up between
files without a restart.

Remediation is ``remediate.plan``/``apply`` as in ``scan --action quarantine``, in two phases so
that a detected file is in the vault within a fraction of a second: first the file steps alone,
then, in another thread, the full plan (persistence that points at the file or belongs to its
family, and detected persistence files, which lose lines rather than go whole). Both phases of
a batch go into one history record, so ``scanner undo SCAN_ID`` reverses them.

This is the only module that imports watchdog (7.1.1 or later 7.1.x). A kernel queue overflow
arrives through watchdog's public ``EventsLostEvent``; the only internal relied on is isolated in
``_Inotify`` (a folder inotify refused to watch), because watchdog only logs that.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import enum
import hashlib
import heapq
import itertools
import json
import logging
import os
import queue
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.inotify import InotifyFullEmitter
from watchdog.observers.inotify_c import InotifyFD, Mask, WatchDescriptor

from scanner import scanlog
from scanner.config import DEFAULT_MAX_FILESIZE
from scanner.errors import QuarantineError, ScannerError, UsageError, WatchError
from scanner.history import History, history_record
from scanner.model import (
    Action,
    Detection,
    ExitCode,
    Policy,
    ScanCounts,
    ScanReport,
    ScanType,
    SignatureSetInfo,
    Skipped,
    SkipReason,
    display_path,
)
from scanner.remediation import persistence
from scanner.remediation.packages import PackageIndex
from scanner.remediation.quarantine import Vault
from scanner.remediation.remediate import Outcome, Plan, Systemctl, annotate, apply, outcome_record, plan
from scanner.remediation.vault_batch import VaultBatch
from scanner.report import detection_json, path_fields, signatures_json
from scanner.safefs import write_atomic
from scanner.scanning.locations import reroot
from scanner.scanning.scan import FileResult, detections_from, new_scan_id, scan_one
from scanner.scanning.walk import Excluder, FileEntry, WalkOptions, skip_for_oserror, walk
from scanner.state import StateDir
from scanner.updates import signatures, store

LOG_NAME = "watch.log"
"""The watch's log, in the state directory's ``logs``: one line per event."""
BACKLOG_FORMAT = "scanner.watch-backlog/1"
"""Version of the file a stopped watch leaves its unfinished work in (``_Backlog``)."""

logger = logging.getLogger(__name__)


# --- what the caller sees -------------------------------------------------------------------------


class WatchEventKind(enum.Enum):
    """What a watch event reports."""

    STARTED = "started"
    """Every folder is watched; files arriving from now on are scanned."""
    DETECTION = "detection"
    """A rule matched a file; ``detection.action`` says what was done about it."""
    SKIPPED = "skipped"
    """A file could not be scanned (too large, unreadable, timed out)."""
    CLEANUP = "cleanup"
    """A remediation step after a detection: persistence cleaned (or a step that needs a person)."""
    RESCAN = "rescan"
    """A tree was rescanned (initial scan, or after events were lost)."""
    OVERFLOW = "overflow"
    """Events were or could be lost (kernel queue overflow, a watch lost, backlog full); a rescan follows."""
    RELOAD = "reload"
    """A new signature set is in use."""
    WARNING = "warning"
    """Something the user should know; the watch goes on."""
    ERROR = "error"
    """Something failed; the watch goes on unless the event says otherwise."""
    STOPPED = "stopped"
    """The watch has stopped; ``stats`` has the totals."""


class WatchCause(enum.Enum):
    """Why a tree is rescanned."""

    INITIAL = "initial"
    """--initial-scan: what was there at start."""
    KERNEL_OVERFLOW = "kernel-overflow"
    """The kernel's inotify event queue overflowed, so events were dropped."""
    WATCH_LOST = "watch-lost"
    """A folder is not (or no longer) watched: it could not be, or it was removed and came back."""
    QUEUE_FULL = "queue-full"
    """More files were waiting than the backlog holds."""
    NEW_DIRECTORY = "new-directory"
    """A folder appeared; files written into it before its watch existed are found this way."""
    POLL = "poll"
    """The periodic rescan of a folder that cannot be watched."""
    RELOAD = "reload"
    """New signatures, with ``rescan_on_reload``."""
    BACKLOG = "backlog"
    """Files and folders the previous watch (same folders) stopped before handling."""


_CAUSE_TEXT = {
    WatchCause.INITIAL: "initial scan",
    WatchCause.KERNEL_OVERFLOW: "the kernel's event queue overflowed",
    WatchCause.WATCH_LOST: "a watch was lost",
    WatchCause.QUEUE_FULL: "the scan backlog was full",
    WatchCause.NEW_DIRECTORY: "new folder",
    WatchCause.POLL: "folder that cannot be watched",
    WatchCause.RELOAD: "new signatures",
    WatchCause.BACKLOG: "left by the previous watch",
}


@dataclass(frozen=True)
class WatchStats:
    """Counts over the whole watch (``stopped``) or over one rescan (``rescan``)."""

    files_scanned: int = 0
    """Files read and matched."""
    bytes_scanned: int = 0
    """Bytes in them."""
    unchanged: int = 0
    """Files a rescan did not read again: judged earlier with the same rules and unchanged since."""
    detections: int = 0
    """Rule hits."""
    failed_actions: int = 0
    """Remediation steps that failed or need a person."""
    rescans: int = 0
    """Trees rescanned."""
    overflows: int = 0
    """Times events were or could have been lost (each followed by a rescan)."""
    skipped: int = 0
    """Files that could not be scanned."""
    dropped: int = 0
    """Files (and folders being rescanned) not scanned when the watch stopped; saved for the next start."""
    unhandled: int = 0
    """Detected files not yet quarantined when the watch stopped; saved, the next start handles them."""
    seconds: float = 0.0
    """Wall-clock seconds covered."""


@dataclass(frozen=True)
class WatchEvent:
    """One thing that happened during a watch, for the log and the caller to render."""

    kind: WatchEventKind
    """What happened."""
    at: dt.datetime
    """When (UTC)."""
    message: str
    """One line saying what happened, for the text output and the log."""
    path: str | None = None
    """The file or tree concerned, if any."""
    detection: Detection | None = None
    """The detection, with ``action`` saying what was done (detection events)."""
    scan_id: str | None = None
    """History id of the batch that handled the detection (``scanner undo SCAN_ID``)."""
    cause: WatchCause | None = None
    """Why a tree is rescanned (rescan and overflow events)."""
    signatures: SignatureSetInfo | None = None
    """The rules in use (started and reload events)."""
    previous: str | None = None
    """The signature version used before (reload events)."""
    skipped: Skipped | None = None
    """Why a file was not scanned (skipped events)."""
    stats: WatchStats | None = None
    """Counts (rescan and stopped events)."""
    paths: tuple[str, ...] = ()
    """The watched folders (started events)."""
    action: Action | None = None
    """The action the watch takes on detections (started events)."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class WatchConfig:
    """What to watch and how; the CLI fills it from options and the configuration file."""

    paths: tuple[str, ...]
    """Folders to watch, recursively."""
    state: StateDir
    """State directory: rules cache, quarantine, history, logs."""
    action: Action = Action.QUARANTINE
    """quarantine (restorable, as ``scan --action quarantine``) or report (only log)."""
    rules: tuple[Path, ...] = ()
    """Extra rule files or folders (--rules)."""
    use_default_rules: bool = True
    """Use the active signature set (False: --no-default-rules)."""
    initial_scan: bool = False
    """Scan what is already in the folders at start."""
    jobs: int = field(default_factory=_cpu_count)
    """Scanning threads."""
    timeout: int = 60
    """Per-file YARA timeout in seconds."""
    max_filesize: int | None = DEFAULT_MAX_FILESIZE
    """Larger files are not scanned (a skipped event says so)."""
    excludes: tuple[str, ...] = ()
    """Glob patterns of paths not to scan (as ``scan --exclude``)."""
    max_signature_age_days: int = 45
    """Warn when the active set is older."""
    kill_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL when remediation kills a process."""
    sysroot: Path = Path("/")
    """Filesystem root for persistence clean-up and package ownership (``/`` outside tests)."""
    debounce: float = 0.1
    """Quiet period after the last close or move of a file before it is scanned (seconds)."""
    max_delay: float = 2.0
    """A file closed again and again is scanned at most this long after its first event."""
    settle: float = 5.0
    """A file that appeared without being written (a hard link) is scanned once unchanged this long."""
    queue_size: int = 512
    """Files handed to the scanning threads at most at once (the bounded work queue)."""
    max_pending: int = 20000
    """Files waiting for their quiet period or for room in the queue; beyond it, folders are rescanned."""
    memo_size: int = 200_000
    """Files remembered as judged, so rescans skip them while unchanged."""
    reload_interval: float = 2.0
    """How often to check for a new signature set and for lost top-level watches (seconds)."""
    poll_interval: float = 30.0
    """How often folders that cannot be watched are rescanned (seconds)."""
    shutdown_grace: float = 5.0
    """On stop, queued files are scanned and detections handled for about this long; what is left is
    saved in the state directory (and counted), and the next watch of the same folders takes it up."""
    rescan_on_reload: bool = False
    """Rescan every folder when a new signature set arrives (files from before are judged again)."""


def event_json(ev: WatchEvent) -> dict[str, Any]:
    """The JSON form of an event (one line of ``--format jsonl``); a detection has a report's detection fields."""
    out: dict[str, Any] = {"event": ev.kind.value, "time": ev.at.astimezone(dt.UTC).isoformat(timespec="microseconds")}
    if ev.detection is not None:
        out.update(detection_json(ev.detection))
    elif ev.path is not None:
        out.update(path_fields(ev.path))
    if ev.scan_id is not None:
        out["scan_id"] = ev.scan_id
    if ev.skipped is not None:
        out.update(reason=ev.skipped.reason.value, code=ev.skipped.reason.name.lower(), detail=ev.skipped.detail)
    if ev.cause is not None:
        out["cause"] = ev.cause.value
    if ev.paths:
        out["paths"] = [display_path(p) for p in ev.paths]
    if ev.action is not None:
        out["action"] = ev.action.value
    if ev.signatures is not None:
        out["signatures"] = signatures_json(ev.signatures)
    if ev.previous is not None:
        out["previous_signatures"] = ev.previous
    if ev.stats is not None:
        out["stats"] = asdict(ev.stats)
    out["message"] = ev.message
    return out


def event_text(ev: WatchEvent) -> str:
    """One readable line for an event (the text output and the log)."""
    from scanner.model import printable  # here, so this fix stays inside event_text

    # messages quote file names and OS text: never a raw control character on the terminal or in the log
    return printable(f"{ev.at.astimezone(dt.UTC).isoformat(timespec='milliseconds')} {ev.kind.value}: {ev.message}")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_watch(
    config: WatchConfig,
    *,
    emit: Callable[[WatchEvent], None],
    stop: threading.Event,
    now: Callable[[], dt.datetime] = _utc_now,
    systemctl: Systemctl | None = None,
) -> ExitCode:
    """Watch ``config.paths`` until ``stop`` is set; every event goes to ``emit`` and to the watch log.

    ``emit`` is called from several threads, one event at a time. Returns 0 after a requested
    stop, 3 when detected files were left not quarantined at the stop (saved; the next watch of
    the same folders handles them), 2 when the watch could not keep running (the observer died)
    or unfinished work could not be saved. Raises UsageError for
    bad paths or options, RuleError when the rules do not load, WatchError when the folders
    cannot be watched.
    """
    watcher = _Watcher(config, emit, now, systemctl)
    return watcher.run(stop)


# --- internals: what is waiting, what is queued, what was judged --------------------------------------


class _Kind(enum.Enum):
    WRITTEN = "written"
    """Closed after writing, or moved in: complete."""
    CREATED = "created"
    """Appeared, but no close seen yet: a file being written, or a hard link."""


@dataclass
class _Entry:
    kind: _Kind
    first: float
    due: float
    seq: int
    stamp: tuple[int, int, int] | None = None


class _Pending:
    """Paths waiting for their quiet period, soonest first; bounded (``note`` says when it is full)."""

    def __init__(self, debounce: float, settle: float, max_delay: float, capacity: int) -> None:
        self.debounce, self.settle, self.max_delay, self.capacity = debounce, settle, max_delay, capacity
        self._cv = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    def note(self, path: str, kind: _Kind, now: float) -> bool:
        """Record an event for ``path``; False when the path is new and there is no room for it."""
        with self._cv:
            e = self._entries.get(path)
            if e is None:
                if len(self._entries) >= self.capacity:
                    return False
                e = _Entry(kind, now, now + self.debounce, next(self._seq))
                self._entries[path] = e
            elif kind is _Kind.WRITTEN:
                if e.kind is _Kind.CREATED:
                    e.kind, e.first, e.stamp = _Kind.WRITTEN, now, None
                e.due = min(now + self.debounce, e.first + self.max_delay)
                e.seq = next(self._seq)
            else:
                return True  # already waiting; a creation adds nothing
            self._push(path, e)
            return True

    def recheck(self, path: str, entry: _Entry, stamp: tuple[int, int, int], now: float) -> None:
        """Look at a created-only file again after ``settle`` (unless a newer event has arrived)."""
        with self._cv:
            if path in self._entries:
                return
            e = _Entry(entry.kind, entry.first, now + self.settle, next(self._seq), stamp)
            self._entries[path] = e
            self._push(path, e)

    def _push(self, path: str, e: _Entry) -> None:
        heapq.heappush(self._heap, (e.due, e.seq, path))
        if self._heap[0][1] == e.seq:
            self._cv.notify()
        if len(self._heap) > 4 * len(self._entries) + 1024:  # drop superseded heap entries
            self._heap = [(x.due, x.seq, p) for p, x in self._entries.items()]
            heapq.heapify(self._heap)

    def wait(self, timeout: float) -> None:
        """Sleep until the soonest entry is due (or ``timeout``)."""
        with self._cv:
            if self._heap:
                timeout = min(timeout, max(0.0, self._heap[0][0] - time.monotonic()))
            if timeout > 0:
                self._cv.wait(timeout)

    def take_due(self, now: float, limit: int) -> list[tuple[str, _Entry]]:
        """Remove and return up to ``limit`` entries that are due."""
        out: list[tuple[str, _Entry]] = []
        with self._cv:
            while self._heap and self._heap[0][0] <= now and len(out) < limit:
                _due, seq, path = heapq.heappop(self._heap)
                e = self._entries.get(path)
                if e is None or e.seq != seq:
                    continue
                del self._entries[path]
                out.append((path, e))
        return out

    def take_written(self) -> tuple[list[str], list[str]]:
        """Remove everything; return the complete files and the others (used on stop)."""
        with self._cv:
            done = [p for p, e in self._entries.items() if e.kind is _Kind.WRITTEN]
            others = [p for p, e in self._entries.items() if e.kind is not _Kind.WRITTEN]
            self._entries.clear()
            self._heap.clear()
            self._cv.notify_all()
        return done, others


class _CleanMemo:
    """Files already judged with the current rules (clean, or reported), so a rescan need not read them.

    In memory and bounded: the least recently confirmed entries are forgotten first. A file counts
    as unchanged only when device, inode, size, modification and change times and the rules' key
    all match. Scans triggered by an event never consult it. The shared on-disk file cache of
    ``scan_files`` (issue 7) is to take its place.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._seen: collections.OrderedDict[str, tuple[int, int, int, int, int, str]] = collections.OrderedDict()

    def unchanged(self, e: FileEntry, key: str) -> bool:
        """Whether ``e`` was judged with rules ``key`` and has not changed since."""
        with self._lock:
            if self._seen.get(e.path) == (e.dev, e.ino, e.size, e.mtime_ns, e.ctime_ns, key):
                self._seen.move_to_end(e.path)
                return True
        return False

    def remember(self, e: FileEntry, key: str) -> None:
        """Record that ``e`` was judged with rules ``key``."""
        with self._lock:
            self._seen[e.path] = (e.dev, e.ino, e.size, e.mtime_ns, e.ctime_ns, key)
            self._seen.move_to_end(e.path)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)


class _RescanJob:
    """One tree being rescanned: counts what was read, and reports once the last file is done."""

    def __init__(self, tree: str, cause: WatchCause, on_done: Callable[[_RescanJob], None]) -> None:
        self.tree, self.cause, self._on_done = tree, cause, on_done
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.queued = self.done = self.unchanged = self.detections = self.skipped = self.bytes = 0
        self._walked = self._reported = False

    def add(self) -> None:
        with self._lock:
            self.queued += 1

    def count(self, *, unchanged: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self.unchanged += unchanged
            self.skipped += skipped

    def finish_one(self, detected: bool, size: int) -> None:
        with self._lock:
            self.done += 1
            self.detections += int(detected)
            self.bytes += size
        self._maybe_report()

    def walk_done(self) -> None:
        with self._lock:
            self._walked = True
        self._maybe_report()

    def _maybe_report(self) -> None:
        with self._lock:
            if self._reported or not self._walked or self.done < self.queued:
                return
            self._reported = True
        self._on_done(self)


@dataclass(frozen=True, slots=True)
class _Item:
    path: str
    entry: FileEntry | None = None
    """Set for files found by a rescan walk (their lstat facts)."""
    job: _RescanJob | None = None


class _WorkQueue:
    """The bounded queue in front of the scanning threads: a lane for events, and a lane for rescans.

    Events go first, so a long rescan does not delay files as they arrive. Events are offered
    (never waited for: what does not fit stays pending); rescans wait for room.
    """

    def __init__(self, event_capacity: int, rescan_capacity: int) -> None:
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._events: collections.deque[_Item] = collections.deque()
        self._rescans: collections.deque[_Item] = collections.deque()
        self._event_cap, self._rescan_cap = max(1, event_capacity), max(1, rescan_capacity)

    def event_room(self) -> int:
        with self._lock:
            return self._event_cap - len(self._events)

    def offer_event(self, item: _Item) -> bool:
        with self._lock:
            if len(self._events) >= self._event_cap:
                return False
            self._events.append(item)
            self._not_empty.notify()
            return True

    def put_rescan(self, item: _Item, halt: threading.Event) -> bool:
        with self._lock:
            while len(self._rescans) >= self._rescan_cap:
                if halt.is_set():
                    return False
                self._not_full.wait(0.1)
            self._rescans.append(item)
            self._not_empty.notify()
            return True

    def get(self, timeout: float) -> _Item | None:
        with self._lock:
            if not self._events and not self._rescans:
                self._not_empty.wait(timeout)
            if self._events:
                return self._events.popleft()
            if self._rescans:
                item = self._rescans.popleft()
                self._not_full.notify()
                return item
            return None

    def drain(self) -> list[_Item]:
        with self._lock:
            items = [*self._events, *self._rescans]
            self._events.clear()
            self._rescans.clear()
            self._not_full.notify_all()
            return items


class _RescanRequests:
    """Trees waiting to be rescanned; a tree inside one already waiting is not added twice."""

    MAX = 1024
    """Beyond this many distinct trees, requests are widened to their watched folder."""

    def __init__(self, widen: Callable[[str], str]) -> None:
        self._cv = threading.Condition()
        self._trees: dict[str, WatchCause] = {}
        self._widen = widen

    def add(self, tree: str, cause: WatchCause) -> bool:
        """Ask for ``tree`` to be rescanned; False when it already is waiting (itself or a tree around it)."""
        with self._cv:
            if len(self._trees) >= self.MAX:
                tree = self._widen(tree)
            if any(_within(tree, t) for t in self._trees):
                return False
            for t in [t for t in self._trees if _within(t, tree)]:
                del self._trees[t]
            self._trees[tree] = cause
            self._cv.notify()
            return True

    def take(self, timeout: float) -> tuple[str, WatchCause] | None:
        with self._cv:
            if not self._trees:
                self._cv.wait(timeout)
            if not self._trees:
                return None
            tree = next(iter(self._trees))
            return tree, self._trees.pop(tree)

    def clear(self) -> list[str]:
        """Forget every request; return the trees that were waiting."""
        with self._cv:
            trees = list(self._trees)
            self._trees.clear()
            self._cv.notify_all()
            return trees


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: collections.Counter[str] = collections.Counter()

    def add(self, **amounts: int) -> None:
        with self._lock:
            self.values.update(amounts)

    def stats(self, seconds: float, dropped: int, unhandled: int = 0) -> WatchStats:
        with self._lock:
            v = self.values
            return WatchStats(files_scanned=v["files"], bytes_scanned=v["bytes"], unchanged=v["unchanged"],
                              detections=v["detections"], failed_actions=v["failed"], rescans=v["rescans"],
                              overflows=v["overflows"], skipped=v["skipped"], dropped=dropped,
                              unhandled=unhandled, seconds=round(seconds, 3))


def _within(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _entry(path: str, st: os.stat_result) -> FileEntry:
    return FileEntry(path, st.st_size, st.st_dev, st.st_ino, st.st_uid, st.st_mtime_ns, st.st_ctime_ns)


def _same(e: FileEntry, st: os.stat_result) -> bool:
    return (e.dev, e.ino, e.size, e.mtime_ns, e.ctime_ns) == (
        st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_QUIET_SKIPS = frozenset({SkipReason.VANISHED, SkipReason.NOT_FOUND, SkipReason.SPECIAL_FILE, SkipReason.SYMLINK_LOOP})
"""Reasons a file from an event is passed over without a word: it went away, or is not a regular file."""
_COUNTED_SKIPS = frozenset({SkipReason.PERMISSION_DENIED, SkipReason.READ_ERROR, SkipReason.TOO_LARGE,
                            SkipReason.TIMEOUT})
"""Reasons a rescan walk counts a path as skipped."""
_DUPLICATE_WINDOW = 60.0
"""Seconds during which the same detected file (path, inode, content) is handled once."""


# --- the watch --------------------------------------------------------------------------------------

_LOCATIONS_MAX_AGE = 30.0
"""Seconds between refreshes of the list of persistence locations the first phase leaves alone."""


@dataclass
class _Batch:
    """Detections remediated together: one history record, one scan id."""

    report: ScanReport
    """The detections as found (not annotated), with the batch's scan id."""
    loaded: signatures.LoadedRules
    """The rules that found them (their families guide the persistence search)."""
    t0: float
    """When handling began (monotonic)."""
    acted: frozenset[str] = frozenset()
    """Files the first phase took care of."""
    outcomes: list[Outcome] = field(default_factory=list)
    """Everything done so far."""
    shown: list[Detection] = field(default_factory=list)
    """First-phase detections, saying what was done."""
    later: list[Detection] = field(default_factory=list)
    """Detections in persistence locations, left to the second phase."""


def _concerns(outcome: Outcome, batch: _Batch) -> bool:
    """Whether a second-phase step belongs in ``batch``'s record: its own file, or persistence of its families."""
    a = outcome.action
    if a.path is not None:
        return any(d.path == a.path for d in batch.later)
    return not a.families or bool({d.hit.family for d in batch.report.detections} & set(a.families))


@dataclass
class _Root:
    path: str
    ident: tuple[int, int] | None
    watch: ObservedWatch | None = None
    lost: bool = False


class _Watcher:
    """The threads of one watch and what they share."""

    def __init__(self, config: WatchConfig, emit: Callable[[WatchEvent], None], now: Callable[[], dt.datetime],
                 systemctl: Systemctl | None) -> None:
        if config.action not in (Action.QUARANTINE, Action.REPORT):
            raise UsageError(f"watch acts with quarantine or report, not {config.action.value}")
        if not config.paths:
            raise UsageError("give at least one folder to watch")
        if not config.sysroot.is_dir():
            raise UsageError(f"sysroot {config.sysroot} is not a folder")
        self.cfg = config
        self._emit_fn, self._now, self._systemctl = emit, now, systemctl
        self.roots = [_Root(p, _ident(p)) for p in _roots(config.paths)]
        self._state_root = os.path.realpath(config.state.root)
        self._excluded = Excluder(config.excludes) if config.excludes else None
        self._out_lock = threading.Lock()
        self._log = config.state.logs / LOG_NAME
        self._log_failed = False
        self._loaded = self._load_rules()
        self._sig_mark = self._signature_mark()
        self._memo = _CleanMemo(config.memo_size)
        self._pending = _Pending(config.debounce, config.settle, config.max_delay, config.max_pending)
        self._work = _WorkQueue(config.queue_size, 8 * max(1, config.jobs))
        self._rescans = _RescanRequests(self._root_of)
        self._found: queue.Queue[tuple[FileResult, signatures.LoadedRules, FileEntry]] = queue.Queue(maxsize=4096)
        self._counters = _Counters()
        self._halt = threading.Event()  # pump and rescanner: stop now
        self._stopping = threading.Event()  # workers: finish what is queued, then stop
        self._abandon = threading.Event()  # workers: stop after the current file
        self._scanned_all = threading.Event()  # remediator: handle what was found, then stop
        self._unwatched_lock = threading.Lock()
        self._unwatched_new: set[str] = set()
        self._polled: set[str] = set()
        self._recent: dict[tuple[str, int, str | None], float] = {}
        self.vault = Vault(config.state.quarantine, now=now)
        self._packages: PackageIndex | None = None
        self._packages_lock = threading.Lock()
        self._second: queue.Queue[_Batch] = queue.Queue(maxsize=1024)
        self._acted_all = threading.Event()  # cleaner: finish what is queued, then stop
        self._abandon_cleanup = threading.Event()  # cleaner: stop after the current batch
        self._noted: set[str] = set()
        self._locations: frozenset[str] = frozenset()
        self._location_dirs: frozenset[str] = frozenset()
        self._locations_at = 0.0
        self._packages_mark: tuple[int, int] | None = None
        self._observer: _Observer | None = None
        self._stop_acting = threading.Event()  # remediator: stop after the current batch
        self._started = threading.Event()  # every folder is watched (the backlog is taken up after that)
        self._in_hand: list[str] = []  # the detections the remediator is handling
        self._cut_trees: list[str] = []  # rescans the stop interrupted
        self._resumed = False  # the previous watch's backlog is queued (or there was none)
        self._unqueued: tuple[list[str], list[str]] = ([], [])  # its files and folders a stop cut short
        self._backlog = _Backlog(config.state.root / f"watch-backlog-{_roots_key(self.roots)}.json")

    # -- rules ---------------------------------------------------------------------------------------

    def _load_rules(self) -> signatures.LoadedRules:
        return signatures.load_rules(self.cfg.state, list(self.cfg.rules), self.cfg.use_default_rules,
                                     today=self._now().date(), max_age_days=self.cfg.max_signature_age_days)

    def _signature_mark(self) -> tuple[object, ...]:
        """Cheap fingerprint of the rules in use: the active set's folder and manifest, custom rule files."""
        parts: list[object] = []
        if self.cfg.use_default_rules:
            base = store.active_dir(self.cfg.state) or signatures.bundled_dir()
            parts += [str(base), _stat_key(base / "manifest.toml")]
        for given in self.cfg.rules:
            try:
                files = signatures.rule_files(given)
            except ScannerError:
                files = []
            parts += [(str(f), _stat_key(f)) for f in files]
        return tuple(parts)

    def _check_signatures(self) -> None:
        mark = self._signature_mark()
        if mark == self._sig_mark:
            return
        self._sig_mark = mark
        old = self._loaded
        try:
            new = self._load_rules()
        except ScannerError as exc:
            self._emit(WatchEventKind.ERROR, f"new signatures could not be loaded: {exc}; "
                                             f"still scanning with {old.info.version}")
            return
        self._loaded = new  # workers pick it up with their next file
        self._emit(WatchEventKind.RELOAD, f"signatures {old.info.version} -> {new.info.version} "
                                          f"({new.info.source}, {new.info.rule_count} rules)",
                   signatures=new.info, previous=old.info.version)
        for w in new.warnings:
            self._emit(WatchEventKind.WARNING, w)
        if self.cfg.rescan_on_reload:
            for r in self.roots:
                self._request_rescan(r.path, WatchCause.RELOAD)

    # -- output --------------------------------------------------------------------------------------

    def _emit(self, kind: WatchEventKind, message: str, **fields: Any) -> None:
        ev = WatchEvent(kind, self._now(), message, **fields)
        with self._out_lock:
            try:
                scanlog.append(self._log, event_text(ev) + "\n")
            except OSError as exc:
                if not self._log_failed:
                    self._log_failed = True
                    self._call_emit(WatchEvent(WatchEventKind.WARNING, ev.at,
                                               f"cannot write the watch log {self._log}: {exc.strerror}"))
            self._call_emit(ev)

    def _call_emit(self, ev: WatchEvent) -> None:
        try:
            self._emit_fn(ev)
        except Exception as exc:  # noqa: BLE001 - a broken output must not stop the scanning; the log has it
            with contextlib.suppress(OSError):
                scanlog.append(self._log, f"{event_text(ev)}\n  (output failed: {exc})\n")

    # -- paths ---------------------------------------------------------------------------------------

    def _root_of(self, path: str) -> str:
        for r in self.roots:
            if _within(path, r.path):
                return r.path
        return path

    def _ignored(self, path: str) -> bool:
        if _within(path, self._state_root):
            return True  # the vault, logs and caches: written by us, never scanned here
        if self._excluded is None:
            return False
        root = self._root_of(path)
        rel = path[len(root):].strip("/")
        prefix = root.rstrip("/")
        for name in rel.split("/") if rel else []:
            prefix = f"{prefix}/{name}"
            if self._excluded(prefix, name):
                return True
        return False

    # -- events from the observer (its thread; must be quick and must not raise) ------------------------

    def file_written(self, path: str) -> None:
        if not self._ignored(path) and not self._pending.note(path, _Kind.WRITTEN, time.monotonic()):
            self._fold(path)

    def file_created(self, path: str) -> None:
        if not self._ignored(path) and not self._pending.note(path, _Kind.CREATED, time.monotonic()):
            self._fold(path)

    def folder_arrived(self, path: str) -> None:
        if not self._ignored(path):
            self._rescans.add(path, WatchCause.NEW_DIRECTORY)

    def kernel_overflow(self, root: str) -> None:
        self._counters.add(overflows=1)
        self._emit(WatchEventKind.OVERFLOW, f"the kernel's event queue overflowed; events under "
                                            f"{display_path(root)} were lost; rescanning it",
                   path=root, cause=WatchCause.KERNEL_OVERFLOW)
        self._request_rescan(root, WatchCause.KERNEL_OVERFLOW)

    def report_error(self, message: str) -> None:
        self._emit(WatchEventKind.ERROR, message)

    def unwatched(self, path: str) -> None:
        with self._unwatched_lock:
            self._unwatched_new.add(path)

    def _fold(self, path: str) -> None:
        """No room to remember ``path``: rescan its folder instead."""
        tree = os.path.dirname(path) or path
        if self._rescans.add(tree, WatchCause.QUEUE_FULL):
            self._counters.add(overflows=1)
            self._emit(WatchEventKind.OVERFLOW, f"{self.cfg.max_pending} files are waiting to be scanned; "
                                                f"rescanning {display_path(tree)} instead", path=tree,
                       cause=WatchCause.QUEUE_FULL)

    def _request_rescan(self, tree: str, cause: WatchCause) -> None:
        self._rescans.add(tree, cause)

    # -- threads -------------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Move files whose quiet period is over into the work queue."""
        while not self._halt.is_set():
            self._pending.wait(0.25)
            room = self._work.event_room()
            if room <= 0:
                self._halt.wait(0.01)
                continue
            now = time.monotonic()
            for path, entry in self._pending.take_due(now, room):
                if entry.kind is _Kind.WRITTEN:
                    self._work.offer_event(_Item(path))
                else:
                    self._check_created(path, entry, now)

    def _check_created(self, path: str, entry: _Entry, now: float) -> None:
        """A file that appeared without a close: a hard link is complete; anything else once it settles.

        A file being written is closed eventually, and that close brings it back as complete; a
        file that appeared some other way is scanned once it has not changed for ``settle`` s.
        """
        try:
            st = os.lstat(path)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            return
        stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if st.st_nlink > 1 or (stamp == entry.stamp and st.st_size > 0):
            self._work.offer_event(_Item(path))
        elif stamp != entry.stamp:
            self._pending.recheck(path, entry, stamp, now)

    def _rescanner(self) -> None:
        self._resume()
        while not self._halt.is_set():
            req = self._rescans.take(0.25)
            if req is not None:
                try:
                    self._rescan(*req)
                except Exception as exc:  # noqa: BLE001 - one failed rescan must not end the watch
                    self._emit(WatchEventKind.ERROR, f"rescan of {display_path(req[0])} failed: {exc}", path=req[0])

    def _rescan(self, tree: str, cause: WatchCause) -> None:
        job = _RescanJob(tree, cause, self._rescan_done)
        key = self._loaded.rules.key
        opts = WalkOptions(excludes=self.cfg.excludes, max_filesize=self.cfg.max_filesize,
                           prune=frozenset({self._state_root}))
        try:
            for found in walk([tree], opts):
                if self._halt.is_set():
                    self._cut_trees.append(tree)
                    break
                if isinstance(found, Skipped):
                    job.count(skipped=int(found.reason in _COUNTED_SKIPS))
                elif self._memo.unchanged(found, key):
                    job.count(unchanged=1)
                else:
                    job.add()
                    if not self._work.put_rescan(_Item(found.path, found, job), self._halt):
                        job.finish_one(False, 0)
                        self._cut_trees.append(tree)
                        break
        finally:
            job.walk_done()

    def _resume(self) -> None:
        """Queue what the previous watch of these folders left (its backlog file), then forget the file."""
        while not self._started.wait(0.1):
            if self._halt.is_set():
                return  # not loaded: the stop keeps the file's content
        try:
            left = self._backlog.load(self.roots)
        except WatchError as exc:
            self._resumed = True
            self._emit(WatchEventKind.WARNING, str(exc))
            return
        self._resumed = True
        if left is None:
            return
        files, trees = left
        self._emit(WatchEventKind.RESCAN, f"taking up what the previous watch left: {len(files)} files, "
                                          f"{len(trees)} folders", cause=WatchCause.BACKLOG)
        job = _RescanJob(self.roots[0].path, WatchCause.BACKLOG, self._rescan_done)
        try:
            for i, path in enumerate(files):
                if self._halt.is_set():
                    self._unqueued = (files[i:], trees)  # the stop saves them again
                    return
                try:
                    st = os.lstat(path)
                except OSError:
                    continue  # gone since
                if self._ignored(path) or not stat.S_ISREG(st.st_mode):
                    continue
                job.add()
                if not self._work.put_rescan(_Item(path, _entry(path, st), job), self._halt):
                    job.finish_one(False, 0)
                    self._unqueued = (files[i:], trees)
                    return
            for tree in trees:
                self._request_rescan(tree, WatchCause.BACKLOG)
        finally:
            job.walk_done()
            self._backlog.clear()  # queued, or in ``_unqueued``: a stop from now on saves what is left

    def _rescan_done(self, job: _RescanJob) -> None:
        self._counters.add(rescans=1, unchanged=job.unchanged)
        if job.cause is WatchCause.NEW_DIRECTORY and not job.detections:
            return  # routine; only worth a line when it found something
        if job.cause is WatchCause.POLL and not job.queued:
            return
        seconds = time.monotonic() - job.started
        stats = WatchStats(files_scanned=job.queued, bytes_scanned=job.bytes, unchanged=job.unchanged,
                           detections=job.detections, skipped=job.skipped, rescans=1, seconds=round(seconds, 3))
        self._emit(WatchEventKind.RESCAN,
                   f"rescanned {display_path(job.tree)} ({_CAUSE_TEXT[job.cause]}): files read {job.queued}, "
                   f"unchanged {job.unchanged}, skipped {job.skipped}, with detections {job.detections}, "
                   f"{seconds:.2f} s", path=job.tree, cause=job.cause, stats=stats)

    def _worker(self) -> None:
        while not self._abandon.is_set():
            item = self._work.get(0.1)
            if item is None:
                if self._stopping.is_set():
                    return
                continue
            detected, size = False, 0
            try:
                detected, size = self._scan(item)
            except Exception as exc:  # noqa: BLE001 - one file must not end the watch
                self._emit(WatchEventKind.ERROR, f"scanning {display_path(item.path)} failed: {exc}", path=item.path)
            finally:
                if item.job is not None:
                    item.job.finish_one(detected, size)

    def _scan(self, item: _Item) -> tuple[bool, int]:
        """Scan one file; (detected, size)."""
        loaded = self._loaded
        entry = item.entry
        if entry is None:
            try:
                st = os.lstat(item.path)
            except OSError as exc:
                self._skipped(skip_for_oserror(item.path, exc))
                return False, 0
            if not stat.S_ISREG(st.st_mode):
                return False, 0
            entry = _entry(item.path, st)
        result = scan_one(entry, loaded.rules, self.cfg.timeout, self.cfg.max_filesize)
        if result.skipped is not None:
            self._skipped(result.skipped)
            return False, 0
        self._counters.add(files=1, bytes=result.size)
        try:
            judged = _same(entry, os.lstat(item.path))
        except OSError:
            judged = False
        if judged:  # a detected file too: a rescan need not find it again while it is unchanged
            self._memo.remember(entry, loaded.rules.key)
        if not result.matches:
            return False, result.size
        while not self._abandon.is_set():
            with contextlib.suppress(queue.Full):
                self._found.put((result, loaded, entry), timeout=0.1)
                break
        return True, result.size

    def _skipped(self, skipped: Skipped) -> None:
        if skipped.reason in _QUIET_SKIPS:
            return
        self._counters.add(skipped=1)
        why = f"{skipped.reason.value}" + (f" ({skipped.detail})" if skipped.detail else "")
        self._emit(WatchEventKind.SKIPPED, f"not scanned: {display_path(skipped.path)}: {why}", path=skipped.path,
                   skipped=skipped)

    def _remediator(self) -> None:
        with contextlib.suppress(Exception):  # loads the package index before it is first needed
            self._package_index().owner("/")
        while not self._stop_acting.is_set():
            try:
                batch = [self._found.get(timeout=0.1)]
            except queue.Empty:
                if self._scanned_all.is_set():
                    return
                continue
            with contextlib.suppress(queue.Empty):
                while len(batch) < 64:
                    batch.append(self._found.get_nowait())
            self._in_hand = [r.path for r, _l, _e in batch]  # saved by a stop that cannot wait for them
            groups: dict[int, list[tuple[FileResult, signatures.LoadedRules, FileEntry]]] = {}
            for found in batch:
                groups.setdefault(id(found[1]), []).append(found)
            for group in groups.values():
                try:
                    self._handle(group)
                except Exception as exc:  # noqa: BLE001 - one failed batch must not end the watch
                    paths = ", ".join(display_path(r.path) for r, _l, _e in group)
                    self._emit(WatchEventKind.ERROR, f"handling detections in {paths} failed: {exc}")
            self._in_hand = []

    def _fresh(self, group: Iterable[tuple[FileResult, signatures.LoadedRules, FileEntry]]) -> list[FileResult]:
        """The results not handled already (an event and a rescan can both find the same file)."""
        now = time.monotonic()
        self._recent = {k: t for k, t in self._recent.items() if now - t < _DUPLICATE_WINDOW}
        out = []
        for result, _loaded, entry in group:
            key = (result.path, entry.ino, result.sha256)
            if key not in self._recent:
                self._recent[key] = now
                out.append(result)
        return out

    def _handle(self, group: list[tuple[FileResult, signatures.LoadedRules, FileEntry]]) -> None:
        """First phase of remediation: take the detected files into the vault at once.

        The plan here is ``remediate.plan`` without the persistence search, which holds the file
        steps (quarantine, or a manual step for a file a package owns) and nothing else, so it
        reads no persistence location. A detected file that is itself a persistence location (a crontab,
        a ``.bashrc``) must lose lines rather than go whole, so it waits for the second phase.
        """
        loaded = group[0][1]
        results = self._fresh(group)
        if not results:
            return
        started = self._now()
        detections = detections_from(results, [r.path for r in self.roots])
        report = ScanReport(
            scan_id=new_scan_id(started), scan_type=ScanType.CUSTOM, roots=tuple(r.path for r in self.roots),
            started_at=started.isoformat(timespec="seconds"), finished_at=started.isoformat(timespec="seconds"),
            duration_s=0.0, signatures=loaded.info,
            counts=ScanCounts(files_scanned=len(results), bytes_scanned=sum(r.size for r in results),
                              detections=len(detections)),
            detections=tuple(detections), action=self.cfg.action, exit_code=ExitCode.FOUND,
        )
        batch = _Batch(report, loaded, time.monotonic())
        if self.cfg.action is Action.REPORT:
            self._record(batch, detections)
            self._announce(batch, detections)
            return
        now_ = [d for d in detections if not self._maybe_persistence(d.path)]
        batch.later = [d for d in detections if self._maybe_persistence(d.path)]
        if now_:
            policy = Policy(self.cfg.action, sysroot=self.cfg.sysroot, kill_grace=self.cfg.kill_grace)
            first = plan(now_, policy, packages=self._package_index(), persistence_search=False)
            outcomes: list[Outcome] | None = None
            taken = VaultBatch()
            try:
                with self.vault.batch() as taken:  # one round of flushes for the group, not eight per file
                    outcomes = apply(first, self.vault, report.scan_id, policy, now=self._now)
            except QuarantineError as exc:
                self._emit(WatchEventKind.ERROR, f"quarantine vault: {exc}")
                if outcomes is None:  # the batch could not begin: file by file, each failure its own outcome
                    logger.warning("vault batch could not begin (%s); quarantining file by file", exc)
                    outcomes = apply(first, self.vault, report.scan_id, policy, now=self._now)
            batch.outcomes = [_unless_failed(o, taken.failed) for o in outcomes]
            self._counters.add(failed=sum(1 for o in batch.outcomes if not o.ok))
            batch.acted = frozenset(d.path for d in now_ if d.path is not None)
            batch.shown = annotate(now_, batch.outcomes, False, first)
        self._record(batch, batch.shown + batch.later)
        self._announce(batch, batch.shown)
        while True:  # the second phase must not be lost; waiting here slows the first phase down instead
            with contextlib.suppress(queue.Full):
                self._second.put(batch, timeout=0.5)
                return

    def _clean_up(self, batches: list[_Batch]) -> None:
        """Second phase: the full ``remediate.plan`` against the real root, without the steps already taken.

        It finds persistence that points at the quarantined files or belongs to their families,
        and handles detected persistence files line by line, as ``scan --action quarantine`` does.
        Batches waiting together share one plan (reading every persistence location costs the
        same for one detection as for fifty); each step goes into the history record of the
        batches it concerns, so ``scanner undo`` of a batch reverses both phases.
        """
        policy = Policy(self.cfg.action, sysroot=self.cfg.sysroot, kill_grace=self.cfg.kill_grace)
        families = {f.name: f for b in batches if b.loaded.sigset for f in b.loaded.sigset.families}
        acted = frozenset().union(*(b.acted for b in batches))
        detections = [d for b in batches for d in b.report.detections]
        full = plan(detections, policy, families=families, packages=self._package_index())
        rest = Plan(tuple(a for a in full.actions if a.path not in acted), full.notes)
        more = apply(rest, self.vault, batches[0].report.scan_id, policy, now=self._now, systemctl=self._systemctl)
        self._counters.add(failed=sum(1 for o in more if not o.ok))
        for batch in batches:
            mine = [o for o in more if _concerns(o, batch)]
            late = annotate(batch.later, mine, False, rest)
            batch.outcomes = batch.outcomes + mine
            self._record(batch, batch.shown + late)
            self._announce(batch, late)
        for o in more:
            if o.action.path is not None and any(o.action.path in {d.path for d in b.later} for b in batches):
                continue  # told with its detection
            owner = next((b for b in batches if any(o is m for m in b.outcomes)), batches[0])
            self._emit(WatchEventKind.CLEANUP, f"{o.action.describe()}: {o.message} [{owner.report.scan_id}]",
                       path=o.action.target, scan_id=owner.report.scan_id)
        for note in rest.notes:
            if note not in self._noted:
                self._noted.add(note)
                self._emit(WatchEventKind.WARNING, note)

    def _record(self, batch: _Batch, detections: list[Detection]) -> None:
        """Write (or rewrite) the batch's history record, so ``scanner undo`` can reverse it."""
        failed = any(not o.ok for o in batch.outcomes)
        report = replace(batch.report, detections=tuple(detections), finished_at=self._now().isoformat(
            timespec="seconds"), duration_s=round(time.monotonic() - batch.t0, 3),
            exit_code=ExitCode.ACTION_FAILED if failed else ExitCode.FOUND)
        try:
            History(self.cfg.state.history).save(
                history_record(report, "watch", [outcome_record(o) for o in batch.outcomes], False, self.cfg.sysroot))
        except ScannerError as exc:
            self._emit(WatchEventKind.WARNING, f"{exc}; 'scanner undo {report.scan_id}' will not work")

    def _announce(self, batch: _Batch, detections: list[Detection]) -> None:
        scan_id = batch.report.scan_id
        self._counters.add(detections=len(detections))
        for d in detections:
            self._emit(WatchEventKind.DETECTION, f"{d.hit.family} ({d.hit.namespace}:{d.hit.rule}) in "
                                                 f"{display_path(d.path or '?')} -> {d.action} [{scan_id}]",
                       path=d.path, detection=d, scan_id=scan_id)

    def _cleaner(self) -> None:
        while not self._abandon_cleanup.is_set():
            try:
                batches = [self._second.get(timeout=0.1)]
            except queue.Empty:
                if self._acted_all.is_set():
                    return
                if time.monotonic() - self._locations_at > _LOCATIONS_MAX_AGE:
                    self._refresh_locations()
                continue
            with contextlib.suppress(queue.Empty):
                while len(batches) < 256:
                    batches.append(self._second.get_nowait())
            try:
                self._clean_up(batches)
            except Exception as exc:  # noqa: BLE001 - one failed clean-up must not end the watch
                ids = ", ".join(b.report.scan_id for b in batches)
                self._emit(WatchEventKind.ERROR, f"persistence clean-up for {ids} failed: {exc}")
            if time.monotonic() - self._locations_at > _LOCATIONS_MAX_AGE:
                self._refresh_locations()

    def _maybe_persistence(self, path: str | None) -> bool:
        """Whether a detected file is (or, being new in such a folder, may be) a persistence location."""
        real = os.path.realpath(path or "")
        return real in self._locations or os.path.dirname(real) in self._location_dirs

    def _refresh_locations(self) -> None:
        """The persistence locations that exist now (what the first phase must leave to the second)."""
        try:
            found, _skipped = persistence.list_locations(self.cfg.sysroot)
        except (ScannerError, OSError) as exc:
            self._emit(WatchEventKind.WARNING, f"persistence locations could not be listed: {exc}")
            found = []
        self._locations = frozenset(os.path.realpath(loc.host_path) for loc in found)
        self._location_dirs = frozenset(os.path.dirname(p) for p in self._locations)
        self._locations_at = time.monotonic()

    def _package_index(self) -> PackageIndex:
        """Which package owns a file; read again when the dpkg database changes."""
        mark = _stat_key(Path(reroot(self.cfg.sysroot, "/var/lib/dpkg/info")))
        with self._packages_lock:
            if self._packages is None or mark != self._packages_mark:
                self._packages, self._packages_mark = PackageIndex(self.cfg.sysroot), mark
            return self._packages

    # -- watches -------------------------------------------------------------------------------------

    def _schedule(self, root: _Root) -> None:
        assert self._observer is not None
        root.watch = self._observer.watch(root.path, _Handler(self))

    def _emitter_alive(self, watch: ObservedWatch) -> bool:
        assert self._observer is not None
        return any(e.watch == watch and e.is_alive() for e in list(self._observer.emitters))

    def _check_roots(self) -> None:
        """A watched folder removed (or replaced, or whose watch died) is watched again when it is back."""
        for root in self.roots:
            ident = _ident(root.path)
            if ident is not None and ident == root.ident and root.watch is not None and self._emitter_alive(root.watch):
                continue
            if ident is None:
                if not root.lost:
                    root.lost = True
                    self._counters.add(overflows=1)
                    self._emit(WatchEventKind.OVERFLOW, f"watched folder {display_path(root.path)} is gone; "
                                                        "it is watched again when it comes back",
                               path=root.path, cause=WatchCause.WATCH_LOST)
                continue
            assert self._observer is not None
            if root.watch is not None:
                with contextlib.suppress(KeyError):
                    self._observer.unschedule(root.watch)
                root.watch = None
            try:
                self._schedule(root)
            except OSError as exc:
                self._emit(WatchEventKind.ERROR, f"cannot watch {display_path(root.path)} again: {exc.strerror}",
                           path=root.path)
                continue
            root.ident, root.lost = ident, False
            self._counters.add(overflows=1)
            self._emit(WatchEventKind.OVERFLOW, f"watch on {display_path(root.path)} was lost and is back; "
                                                "rescanning it", path=root.path, cause=WatchCause.WATCH_LOST)
            self._request_rescan(root.path, WatchCause.WATCH_LOST)

    def _check_unwatched(self, poll: bool) -> None:
        with self._unwatched_lock:
            fresh, self._unwatched_new = self._unwatched_new, set()
        for path in sorted(fresh):
            if path in self._polled or not os.path.isdir(path) or self._ignored(path):
                continue  # gone again (a short-lived folder is not a lost watch)
            self._polled.add(path)
            self._counters.add(overflows=1)
            self._emit(WatchEventKind.OVERFLOW, f"cannot watch {display_path(path)} (inotify watch limit, or "
                                                f"access denied); rescanning it every {self.cfg.poll_interval:g} s "
                                                "instead", path=path, cause=WatchCause.WATCH_LOST)
            self._request_rescan(path, WatchCause.WATCH_LOST)
        if poll:
            for path in sorted(self._polled):
                if os.path.isdir(path):
                    self._request_rescan(path, WatchCause.POLL)
                else:
                    self._polled.discard(path)

    # -- run -----------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> ExitCode:
        self.cfg.state.ensure(self.cfg.state.logs)
        for line in self.vault.recover():
            self._emit(WatchEventKind.WARNING, f"quarantine: {line}")
        self._refresh_locations()
        started_at = time.monotonic()
        jobs = max(1, self.cfg.jobs)
        workers = [threading.Thread(target=self._worker, name=f"watch-scan-{i}", daemon=True) for i in range(jobs)]
        helpers = [threading.Thread(target=self._pump, name="watch-pump", daemon=True),
                   threading.Thread(target=self._rescanner, name="watch-rescan", daemon=True)]
        actors = [threading.Thread(target=self._remediator, name="watch-act", daemon=True),
                  threading.Thread(target=self._cleaner, name="watch-clean", daemon=True)]
        for t in [*workers, *helpers, *actors]:
            t.start()
        try:
            self._observer = _Observer(self)
            for root in self.roots:
                self._schedule(root)
            self._observer.start()
        except OSError as exc:
            self._shutdown(workers, helpers, actors, started_at, quiet=True)
            raise WatchError(f"cannot watch {', '.join(r.path for r in self.roots)}: {exc.strerror or exc}; "
                             "raise fs.inotify.max_user_watches or max_user_instances, or watch fewer folders"
                             ) from exc
        info = self._loaded.info
        self._emit(WatchEventKind.STARTED,
                   f"watching {', '.join(display_path(r.path) for r in self.roots)}: action {self.cfg.action.value}, "
                   f"signatures {info.version} ({info.source}, {info.rule_count} rules), {jobs} scanning threads",
                   paths=tuple(r.path for r in self.roots), action=self.cfg.action, signatures=info)
        for w in self._loaded.warnings:
            self._emit(WatchEventKind.WARNING, w)
        self._started.set()
        if self.cfg.initial_scan:
            for root in self.roots:
                self._request_rescan(root.path, WatchCause.INITIAL)
        code = ExitCode.CLEAN
        next_check = next_poll = time.monotonic()
        while not stop.wait(0.1):
            if not self._observer.is_alive() or not self._observer.reader_alive():
                self._emit(WatchEventKind.ERROR, "the folder watch stopped unexpectedly; restart it "
                                                 "(with --initial-scan, to cover the gap)")
                code = ExitCode.ERROR
                break
            tick = time.monotonic()
            if tick >= next_check:
                next_check = tick + self.cfg.reload_interval
                self._check_signatures()
                self._check_roots()
            poll = tick >= next_poll
            if poll:
                next_poll = tick + self.cfg.poll_interval
            self._check_unwatched(poll)
        left = self._shutdown(workers, helpers, actors, started_at, quiet=False)
        return code or left

    def _shutdown(self, workers: list[threading.Thread], helpers: list[threading.Thread],
                  actors: list[threading.Thread], started_at: float, *, quiet: bool) -> ExitCode:
        """Stop taking events, scan what is complete and act on what was found for about ``shutdown_grace`` s,
        save what is left for the next start; the exit code (3: detected files were left, 2: not saved)."""
        deadline = time.monotonic() + self.cfg.shutdown_grace
        if self._observer is not None:
            self._observer.stop()  # also releases the inotify instance of an observer that never started
            if self._observer.is_alive():
                self._observer.join(self.cfg.shutdown_grace)
        self._halt.set()
        for t in helpers:
            t.join(max(0.1, deadline - time.monotonic()))
        left: list[str] = []  # not scanned: saved for the next start
        written, others = self._pending.take_written()
        for path in written:  # closed files still in their quiet period
            if os.path.isfile(path) and not self._work.offer_event(_Item(path)):
                left.append(path)
        left += others  # appeared but never closed: the next start judges them
        self._stopping.set()
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in workers):
            self._abandon.set()
            left += [item.path for item in self._work.drain()]
            for t in workers:
                t.join(1.0)  # a file being matched cannot be interrupted; its result is then ignored
        remediator, cleaner = actors
        self._scanned_all.set()  # what was found goes into the vault while the grace period lasts
        remediator.join(max(self.cfg.shutdown_grace, deadline - time.monotonic()))
        if remediator.is_alive():
            self._stop_acting.set()  # finish the batch in hand; the rest is saved
            remediator.join(60.0)
        unhandled: list[str] = []
        if remediator.is_alive():  # stuck (the vault locked by another command): its batch is saved too
            logger.warning("the remediation thread did not finish its batch; saving it for the next start")
            unhandled += self._in_hand
        with contextlib.suppress(queue.Empty):
            while True:
                result, _loaded, entry = self._found.get_nowait()
                if (result.path, entry.ino, result.sha256) in self._recent or not os.path.lexists(result.path):
                    continue  # found twice (an event and a rescan) and handled already, or gone since
                unhandled.append(result.path)
        unhandled = list(dict.fromkeys(unhandled))
        left += [item.path for item in self._work.drain()]
        trees = self._rescans.clear() + self._cut_trees
        if not self._resumed:  # stopped before the previous backlog was read: keep its content
            with contextlib.suppress(WatchError):
                earlier = self._backlog.load(self.roots)
                if earlier is not None:
                    left += earlier[0]
                    trees += earlier[1]
        left += self._unqueued[0]
        trees += self._unqueued[1]
        self._acted_all.set()
        cleaner.join(max(0.5, deadline - time.monotonic()))
        if cleaner.is_alive():
            self._abandon_cleanup.set()
            cleaner.join(self.cfg.shutdown_grace)
        if quiet:
            return ExitCode.CLEAN
        unchecked = self._second.qsize()
        if unchecked:
            self._emit(WatchEventKind.WARNING, f"persistence was not checked for {unchecked} batches of detections "
                                               "before the watch stopped; run 'scanner scan --quick' to check it")
        saved = ""
        if unhandled or left or trees:
            try:
                self._backlog.save(self.roots, unhandled + left, trees, self._now())
                saved = f" (saved in {self._backlog.path}; the next watch of these folders takes them up)"
            except WatchError as exc:
                saved = f" (NOT saved: {exc})"
        else:
            self._backlog.clear()
        stats = self._counters.stats(time.monotonic() - started_at, len(left) + len(trees), len(unhandled))
        tail = ""
        if unhandled or left or trees:
            tail = (f"; left at the stop: {len(unhandled)} detected files not quarantined, {len(left)} files "
                    f"and {len(trees)} folders not scanned{saved}")
        self._emit(WatchEventKind.STOPPED, f"files scanned {stats.files_scanned}, detections {stats.detections}, "
                                           f"failed actions {stats.failed_actions}, rescans {stats.rescans}, "
                                           f"overflows {stats.overflows}{tail}", stats=stats)
        if unhandled:
            return ExitCode.ACTION_FAILED
        return ExitCode.ERROR if saved.startswith(" (NOT") else ExitCode.CLEAN


def _unless_failed(outcome: Outcome, failed: dict[str, str]) -> Outcome:
    """A vault step the end of its batch did not finish after all (the original changed) is a failure."""
    if outcome.vault_id is None or outcome.vault_id not in failed:
        return outcome
    return replace(outcome, ok=False, message=f"failed: {failed[outcome.vault_id]}", vault_id=None)


def _roots_key(roots: Iterable[_Root]) -> str:
    """A short name for a set of watched folders (each set has its own backlog)."""
    joined = b"\0".join(sorted(os.fsencode(r.path) for r in roots))
    return hashlib.sha256(joined).hexdigest()[:16]


class _Backlog:
    """The file a stopped watch leaves its unfinished work in, for the next watch of the same folders.

    JSON, ``BACKLOG_FORMAT``: the watched folders, the files not scanned or scanned and not yet
    quarantined (a restart scans them again: rules and files may have changed), and the folders
    whose rescan was cut short. Paths are base64 of their bytes, so any name survives. Read back
    as hostile input: a regular file of bounded size, paths absolute and inside the folders.
    """

    MAX_BYTES = 256 * 2**20
    MAX_PATHS = 2_000_000

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, roots: list[_Root], files: list[str], trees: list[str], now: dt.datetime) -> None:
        data = {"format": BACKLOG_FORMAT, "saved_at": now.isoformat(timespec="seconds"),
                "roots_b64": [_b64(r.path) for r in roots], "files_b64": [_b64(p) for p in dict.fromkeys(files)],
                "trees_b64": [_b64(p) for p in dict.fromkeys(trees)]}
        try:
            write_atomic(self.path, json.dumps(data).encode("ascii"))
        except (OSError, ScannerError) as exc:
            raise WatchError(f"cannot save the watch's unfinished work in {self.path}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from exc
        logger.info("saved %d files and %d folders for the next watch in %s", len(files), len(trees), self.path)

    def load(self, roots: list[_Root]) -> tuple[list[str], list[str]] | None:
        """The files and folders left by the previous watch, or None; WatchError if the file is unusable."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WatchError(f"cannot read the previous watch's unfinished work {self.path}: {exc.strerror}; "
                             "run the watch with --initial-scan to cover it") from exc
        try:
            with open(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode) or st.st_size > self.MAX_BYTES:
                    raise ValueError("not a regular file of a sane size")
                data = json.loads(f.read(self.MAX_BYTES + 1))
            if not isinstance(data, dict) or data.get("format") != BACKLOG_FORMAT:
                raise ValueError(f"not a {BACKLOG_FORMAT} file")
            files, trees = _b64_list(data, "files_b64"), _b64_list(data, "trees_b64")
            if len(files) + len(trees) > self.MAX_PATHS:
                raise ValueError(f"more than {self.MAX_PATHS} paths")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            aside = self.path.with_suffix(".damaged")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            raise WatchError(f"the previous watch's unfinished work {self.path} is unusable ({exc}); moved to "
                             f"{aside}; run the watch with --initial-scan to cover it") from exc
        inside = [r.path for r in roots]

        def ours(p: str) -> bool:
            return os.path.isabs(p) and "\0" not in p and any(_within(p, r) for r in inside)

        kept_files, kept_trees = [p for p in files if ours(p)], [p for p in trees if ours(p)]
        if len(kept_files) + len(kept_trees) < len(files) + len(trees):
            logger.warning("ignored %d backlog paths outside the watched folders",
                           len(files) + len(trees) - len(kept_files) - len(kept_trees))
        return kept_files, kept_trees

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _b64(path: str) -> str:
    return base64.b64encode(os.fsencode(path)).decode("ascii")


def _b64_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} is not a list of strings")
    return [os.fsdecode(base64.b64decode(v, validate=True)) for v in value]


def _roots(paths: Iterable[str]) -> list[str]:
    """The folders to watch, by real path, each once, none inside another."""
    found: list[str] = []
    for given in paths:
        if not os.path.isdir(given):
            what = "not found" if not os.path.lexists(given) else "not a folder"
            raise UsageError(f"cannot watch {display_path(given)}: {what}")
        found.append(os.path.realpath(given))
    roots: list[str] = []
    for p in sorted(set(found), key=len):
        if not any(_within(p, r) for r in roots):
            roots.append(p)
    return roots


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


# --- the watchdog adapter -----------------------------------------------------------------------------


class _Inotify(InotifyFD):
    """The inotify instance of one watch (its own, not one shared with other observers).

    The one adapter over a watchdog internal: ``InotifyFD.add_callback`` is what watchdog's
    recursive watch calls for each folder, and when it fails below the top folder (watch limit
    reached, access denied) watchdog only logs it and goes on without that folder. Catching the
    failure here tells the watcher, which then rescans that folder periodically instead.
    Checked against watchdog 7.1.1 (the bound in setup.cfg); the test of a folder that cannot be
    watched fails if a later version stops calling it.
    """

    def __init__(self, sink: _Watcher) -> None:
        super().__init__()
        self._sink = sink

    def add_callback(self, path: bytes, mask: Mask, callback: Any, id_: Any) -> WatchDescriptor:
        try:
            return super().add_callback(path, mask, callback, id_)
        except OSError:
            self._sink.unwatched(os.fsdecode(path))
            raise


_EVENTS: list[type[FileSystemEvent]] = [FileClosedEvent, FileCreatedEvent, DirCreatedEvent, FileMovedEvent,
                                        DirMovedEvent, EventsLostEvent]
"""What the watch listens to. Leaving out opens, reads, modifications and attribute changes keeps the
kernel queue (and so the risk of overflow) small: only closes after writing, creations and moves; and
the loss of events (a kernel queue overflow), which watchdog reports after it has rebuilt the watches."""


class _Observer(BaseObserver):
    """An inotify observer with its own inotify instance; full events, so a move from outside keeps its destination."""

    def __init__(self, sink: _Watcher) -> None:
        # watchdog logs overflows itself; the watcher reports them as events instead
        quiet = logging.getLogger("watchdog")
        if not any(isinstance(h, logging.NullHandler) for h in quiet.handlers):
            quiet.addHandler(logging.NullHandler())
        # and it warns when ``mkdir -p`` makes it watch a folder twice, which is harmless
        warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning, module=r"watchdog\.")
        self._reader = _Inotify(sink)
        self._reader.start()
        super().__init__(InotifyFullEmitter, inotify_fd=self._reader)

    def watch(self, path: str, handler: FileSystemEventHandler) -> ObservedWatch:
        return self.schedule(handler, path, recursive=True, event_filter=_EVENTS)

    def reader_alive(self) -> bool:
        return self._reader.is_alive()

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self._reader.stop()
        self._reader.join(2.0)


class _Handler(FileSystemEventHandler):
    """Turns watchdog's events into the watcher's four kinds of news."""

    def __init__(self, sink: _Watcher) -> None:
        self._sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
            if isinstance(event, EventsLostEvent):
                self._sink.kernel_overflow(src)
            elif isinstance(event, FileClosedEvent):
                self._sink.file_written(src)
            elif isinstance(event, FileMovedEvent):
                if dest:
                    self._sink.file_written(dest)
            elif isinstance(event, DirMovedEvent):
                if dest:
                    self._sink.folder_arrived(dest)
            elif isinstance(event, DirCreatedEvent):
                self._sink.folder_arrived(src)
            elif isinstance(event, FileCreatedEvent):
                self._sink.file_created(src)
        except Exception as exc:  # noqa: BLE001 - an exception here would end watchdog's dispatch thread
            with contextlib.suppress(Exception):
                self._sink.report_error(f"handling {event!r} failed: {exc}")
