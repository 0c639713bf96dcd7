"""What the watch's threads hand each other: files waiting for their quiet period (``Pending``), the
bounded queue in front of the scanning threads (``WorkQueue``), trees waiting to be rescanned
(``RescanRequests``), files already judged (``CleanMemo``), and the watch's counters."""

from __future__ import annotations

import collections
import enum
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scanner.model import FileIdentity
from scanner.scanning.walk import FileEntry
from scanner.watch.events import WatchCause, WatchStats
from scanner.watch.scope import within

logger = logging.getLogger(__name__)


class Arrival(enum.Enum):
    """How a waiting file came to the watch's notice."""

    WRITTEN = "written"
    """Closed after writing, or moved in: complete."""
    CREATED = "created"
    """Appeared, but no close seen yet: a file being written, or a hard link."""


@dataclass
class Waiting:
    """A file in ``Pending``."""

    kind: Arrival
    """Complete, or only seen to appear."""
    first: float
    """Monotonic time of its first event (bounds how long closes again and again can delay it)."""
    due: float
    """When its quiet period ends (monotonic)."""
    seq: int
    """Order of the latest event (an older heap entry for the same path is stale)."""
    stamp: tuple[int, int, int] | None = None
    """Size, modification and change time when last looked at (created-only files)."""


class Pending:
    """Paths waiting for their quiet period, soonest first; bounded (``note`` says when it is full)."""

    def __init__(self, debounce: float, settle: float, max_delay: float, capacity: int) -> None:
        self.debounce, self.settle, self.max_delay, self.capacity = debounce, settle, max_delay, capacity
        self._cv = threading.Condition()
        self._entries: dict[str, Waiting] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        """How many paths are waiting."""
        with self._cv:
            return len(self._entries)

    def note(self, path: str, kind: Arrival, now: float) -> bool:
        """Record an event for ``path``; False when the path is new and there is no room for it."""
        with self._cv:
            e = self._entries.get(path)
            if e is None:
                if len(self._entries) >= self.capacity:
                    return False
                e = Waiting(kind, now, now + self.debounce, next(self._seq))
                self._entries[path] = e
            elif kind is Arrival.WRITTEN:
                if e.kind is Arrival.CREATED:
                    e.kind, e.first, e.stamp = Arrival.WRITTEN, now, None
                e.due = min(now + self.debounce, e.first + self.max_delay)
                e.seq = next(self._seq)
            else:
                return True  # already waiting; a creation adds nothing
            self._push(path, e)
            return True

    def recheck(self, path: str, entry: Waiting, stamp: tuple[int, int, int], now: float) -> None:
        """Look at a created-only file again after ``settle`` (unless a newer event has arrived)."""
        with self._cv:
            if path in self._entries:
                return
            e = Waiting(entry.kind, entry.first, now + self.settle, next(self._seq), stamp)
            self._entries[path] = e
            self._push(path, e)

    def _push(self, path: str, e: Waiting) -> None:
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

    def take_due(self, now: float, limit: int) -> list[tuple[str, Waiting]]:
        """Remove and return up to ``limit`` entries that are due."""
        out: list[tuple[str, Waiting]] = []
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
            done = [p for p, e in self._entries.items() if e.kind is Arrival.WRITTEN]
            others = [p for p, e in self._entries.items() if e.kind is not Arrival.WRITTEN]
            self._entries.clear()
            self._heap.clear()
            self._cv.notify_all()
        return done, others


class CleanMemo:
    """Files already judged with the current rules (clean, or reported), so a rescan need not read them.

    In memory and bounded: the least recently confirmed entries are forgotten first. A file counts
    as unchanged only when device, inode, size, modification and change times and the rules' key
    all match. Scans triggered by an event never consult it. The shared on-disk file cache of
    ``scan_files`` (issue 7) is to take its place.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._seen: collections.OrderedDict[str, tuple[FileIdentity, str]] = collections.OrderedDict()

    def unchanged(self, e: FileEntry, key: str) -> bool:
        """Whether ``e`` was judged with rules ``key`` and has not changed since."""
        with self._lock:
            if self._seen.get(e.path) == (e.identity, key):
                self._seen.move_to_end(e.path)
                return True
        return False

    def remember(self, e: FileEntry, key: str) -> None:
        """Record that ``e`` was judged with rules ``key``."""
        with self._lock:
            self._seen[e.path] = (e.identity, key)
            self._seen.move_to_end(e.path)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)


class RescanJob:
    """One tree being rescanned: counts what was read, and reports once the last file is done."""

    def __init__(self, tree: str, cause: WatchCause, on_done: Callable[[RescanJob], None]) -> None:
        self.tree, self.cause, self._on_done = tree, cause, on_done
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.queued = self.done = self.unchanged = self.detections = self.skipped = self.bytes = 0
        self._walked = self._reported = False

    def add(self) -> None:
        """One more file queued for scanning."""
        with self._lock:
            self.queued += 1

    def count(self, *, unchanged: int = 0, skipped: int = 0) -> None:
        """Files the walk passed over: unchanged since judged, or not scannable."""
        with self._lock:
            self.unchanged += unchanged
            self.skipped += skipped

    def finish_one(self, detected: bool, size: int) -> None:
        """A queued file is done (scanned, failed, or dropped at a stop)."""
        with self._lock:
            self.done += 1
            self.detections += int(detected)
            self.bytes += size
        self._maybe_report()

    def walk_done(self) -> None:
        """No more files will be queued."""
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
class Item:
    """A file handed to the scanning threads."""

    path: str
    entry: FileEntry | None = None
    """Set for files found by a rescan walk (their lstat facts)."""
    job: RescanJob | None = None
    """The rescan that queued it, if any."""


def file_entry(path: str, st: os.stat_result) -> FileEntry:
    """The walk's ``FileEntry`` for ``path`` from its lstat result."""
    return FileEntry.from_stat(path, st)


class WorkQueue:
    """The bounded queue in front of the scanning threads: a lane for events, and a lane for rescans.

    Events go first, so a long rescan does not delay files as they arrive. Events are offered
    (never waited for: what does not fit stays pending); rescans wait for room.
    """

    def __init__(self, event_capacity: int, rescan_capacity: int) -> None:
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._events: collections.deque[Item] = collections.deque()
        self._rescans: collections.deque[Item] = collections.deque()
        self._event_cap, self._rescan_cap = max(1, event_capacity), max(1, rescan_capacity)

    def __len__(self) -> int:
        """How many items are queued, in both lanes."""
        with self._lock:
            return len(self._events) + len(self._rescans)

    def event_room(self) -> int:
        """How many more event items fit now."""
        with self._lock:
            return self._event_cap - len(self._events)

    def offer_event(self, item: Item) -> bool:
        """Queue a file from an event; False (and not queued) when the event lane is full."""
        with self._lock:
            if len(self._events) >= self._event_cap:
                return False
            self._events.append(item)
            self._not_empty.notify()
            return True

    def put_rescan(self, item: Item, halt: threading.Event) -> bool:
        """Queue a file from a rescan, waiting for room; False (not queued) once ``halt`` is set."""
        with self._lock:
            while len(self._rescans) >= self._rescan_cap:
                if halt.is_set():
                    return False
                self._not_full.wait(0.1)
            self._rescans.append(item)
            self._not_empty.notify()
            return True

    def get(self, timeout: float) -> Item | None:
        """The next file to scan (events first), or None after ``timeout``."""
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

    def drain(self) -> list[Item]:
        """Remove and return everything queued (used on stop)."""
        with self._lock:
            items = [*self._events, *self._rescans]
            self._events.clear()
            self._rescans.clear()
            self._not_full.notify_all()
            return items


class RescanRequests:
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
                wide = self._widen(tree)
                logger.debug("%d rescans waiting: %s widened to %s", len(self._trees), tree, wide)
                tree = wide
            if any(within(tree, t) for t in self._trees):
                return False
            for t in [t for t in self._trees if within(t, tree)]:
                del self._trees[t]
            self._trees[tree] = cause
            self._cv.notify()
        logger.debug("rescan of %s requested (%s)", tree, cause.value)
        return True

    def take(self, timeout: float) -> tuple[str, WatchCause] | None:
        """The next tree to rescan and why, or None after ``timeout``."""
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


class Counters:
    """The watch's running totals, added to from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: collections.Counter[str] = collections.Counter()

    def add(self, **amounts: int) -> None:
        """Add to named totals (files, bytes, unchanged, detections, failed, rescans, overflows, skipped)."""
        with self._lock:
            self._values.update(amounts)

    def stats(self, seconds: float, dropped: int, unhandled: int = 0) -> WatchStats:
        """The totals as ``WatchStats``, with what the stop left."""
        with self._lock:
            v = self._values
            return WatchStats(
                files_scanned=v["files"],
                bytes_scanned=v["bytes"],
                unchanged=v["unchanged"],
                detections=v["detections"],
                failed_actions=v["failed"],
                rescans=v["rescans"],
                overflows=v["overflows"],
                skipped=v["skipped"],
                dropped=dropped,
                unhandled=unhandled,
                seconds=round(seconds, 3),
            )
