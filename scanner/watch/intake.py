"""From the observer's news to the work queue: each path waits in ``Pending`` for its quiet period,
then the pump thread hands complete files to the scanning threads. A path that finds no room
becomes a rescan of its folder, so nothing is missed silently."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

from scanner.model import display_path
from scanner.watch.events import EventLog, WatchCause, WatchEventKind
from scanner.watch.queues import Arrival, Counters, Item, Pending, RescanRequests, Waiting, WorkQueue
from scanner.watch.scope import Scope

logger = logging.getLogger(__name__)


class Intake:
    """The observer's ``Sink`` (its calls come from watchdog's threads) and the pump thread."""

    def __init__(
        self,
        scope: Scope,
        pending: Pending,
        work: WorkQueue,
        rescans: RescanRequests,
        events: EventLog,
        counters: Counters,
    ) -> None:
        self._scope, self._pending, self._work, self._rescans = scope, pending, work, rescans
        self._events, self._counters = events, counters
        self._unwatched_lock = threading.Lock()
        self._unwatched: set[str] = set()
        self._thread: threading.Thread | None = None

    # -- the observer's news (quick, never raising) -------------------------------------------------------

    def file_written(self, path: str) -> None:
        """A complete file: scanned after its quiet period."""
        if not self._scope.ignored(path) and not self._pending.note(path, Arrival.WRITTEN, time.monotonic()):
            self._fold(path)

    def file_created(self, path: str) -> None:
        """A file that appeared: scanned once closed, or once it has settled."""
        if not self._scope.ignored(path) and not self._pending.note(path, Arrival.CREATED, time.monotonic()):
            self._fold(path)

    def folder_arrived(self, path: str) -> None:
        """A new folder: rescanned, for files written before its watch existed."""
        if not self._scope.ignored(path):
            self._rescans.add(path, WatchCause.NEW_DIRECTORY)

    def kernel_overflow(self, root: str) -> None:
        """Events under ``root`` were lost: say so and rescan it."""
        logger.info("kernel event queue overflow under %s; rescanning it", root)
        self._counters.add(overflows=1)
        self._events.emit(
            WatchEventKind.OVERFLOW,
            f"the kernel's event queue overflowed; events under {display_path(root)} were lost; rescanning it",
            path=root,
            cause=WatchCause.KERNEL_OVERFLOW,
        )
        self._rescans.add(root, WatchCause.KERNEL_OVERFLOW)

    def report_error(self, message: str) -> None:
        """Handling an event failed: an error event."""
        self._events.emit(WatchEventKind.ERROR, message)

    def unwatched(self, path: str) -> None:
        """A folder inotify refused; the main thread polls it instead (``take_unwatched``)."""
        with self._unwatched_lock:
            self._unwatched.add(path)

    def take_unwatched(self) -> set[str]:
        """The folders refused since the last call."""
        with self._unwatched_lock:
            fresh, self._unwatched = self._unwatched, set()
        return fresh

    def _fold(self, path: str) -> None:
        """No room to remember ``path``: rescan its folder instead."""
        tree = os.path.dirname(path) or path
        if self._rescans.add(tree, WatchCause.QUEUE_FULL):
            logger.info("%d files waiting: %s folded into a rescan of %s", self._pending.capacity, path, tree)
            self._counters.add(overflows=1)
            self._events.emit(
                WatchEventKind.OVERFLOW,
                f"{self._pending.capacity} files are waiting to be scanned; rescanning {display_path(tree)} instead",
                path=tree,
                cause=WatchCause.QUEUE_FULL,
            )

    # -- the pump thread -------------------------------------------------------------------------------

    def start(self, halt: threading.Event) -> None:
        """Start the pump; it runs until ``halt`` is set."""
        self._thread = threading.Thread(target=self._pump, args=(halt,), name="watch-pump", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the pump to end (after ``halt``)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _pump(self, halt: threading.Event) -> None:
        """Move files whose quiet period is over into the work queue."""
        while not halt.is_set():
            self._pending.wait(0.25)
            room = self._work.event_room()
            if room <= 0:
                halt.wait(0.01)
                continue
            now = time.monotonic()
            for path, entry in self._pending.take_due(now, room):
                if entry.kind is Arrival.WRITTEN:
                    self._work.offer_event(Item(path))
                else:
                    self._check_created(path, entry, now)

    def _check_created(self, path: str, entry: Waiting, now: float) -> None:
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
            self._work.offer_event(Item(path))
        elif stamp != entry.stamp:
            self._pending.recheck(path, entry, stamp, now)

    def flush(self) -> list[str]:
        """At the stop: queue the complete files still in their quiet period; return those that found no
        room, then the files that appeared but were never closed (the next start judges them)."""
        left: list[str] = []
        written, others = self._pending.take_written()
        for path in written:
            if os.path.isfile(path) and not self._work.offer_event(Item(path)):
                left.append(path)
        if left or others:
            logger.info(
                "stop: %d waiting files found no room in the queue, %d were never closed", len(left), len(others)
            )
        return left + others
