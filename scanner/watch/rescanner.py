"""The rescan thread: walks trees whose events were or could have been lost (and the initial scan),
queues the files not judged since they last changed, reports each rescan once its last file is
done, and first takes up the backlog the previous watch of the same folders left."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

from scanner.errors import WatchError
from scanner.model import Skipped, SkipReason, display_path
from scanner.scanning.walk import WalkOptions, walk
from scanner.watch.backlog import Backlog
from scanner.watch.config import WatchConfig
from scanner.watch.events import CAUSE_TEXT, EventLog, WatchCause, WatchEventKind, WatchStats
from scanner.watch.queues import CleanMemo, Counters, Item, RescanJob, RescanRequests, WorkQueue, file_entry
from scanner.watch.rules import LiveRules
from scanner.watch.scope import Scope

logger = logging.getLogger(__name__)

_COUNTED_SKIPS = frozenset(
    {SkipReason.PERMISSION_DENIED, SkipReason.READ_ERROR, SkipReason.TOO_LARGE, SkipReason.TIMEOUT}
)
"""Reasons a rescan walk counts a path as skipped."""


class Rescanner:
    """The ``watch-rescan`` thread, and what it leaves at a stop (``leftovers``)."""

    def __init__(
        self,
        cfg: WatchConfig,
        scope: Scope,
        requests: RescanRequests,
        work: WorkQueue,
        memo: CleanMemo,
        rules: LiveRules,
        backlog: Backlog,
        events: EventLog,
        counters: Counters,
    ) -> None:
        self._cfg, self._scope, self._requests, self._work, self._memo = cfg, scope, requests, work, memo
        self._rules, self._backlog, self._events, self._counters = rules, backlog, events, counters
        self._started = threading.Event()  # every folder is watched (the backlog is taken up after that)
        self._cut_trees: list[str] = []  # rescans the stop interrupted
        self._resumed = False  # the previous watch's backlog is queued (or there was none)
        self._unqueued: tuple[list[str], list[str]] = ([], [])  # its files and folders a stop cut short
        self._thread: threading.Thread | None = None

    def start(self, halt: threading.Event) -> None:
        """Start the thread; it runs until ``halt`` is set."""
        self._thread = threading.Thread(target=self._run, args=(halt,), name="watch-rescan", daemon=True)
        self._thread.start()

    def watching(self) -> None:
        """Every folder is watched now: take up the previous watch's backlog."""
        self._started.set()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (after ``halt``)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def leftovers(self) -> tuple[list[str], list[str]]:
        """After the thread ended: the files and the trees not rescanned (requests waiting, walks cut
        short, and what is left of the previous watch's backlog)."""
        files: list[str] = []
        trees = self._requests.clear() + self._cut_trees
        if not self._resumed:  # stopped before the previous backlog was read: keep its content
            try:
                earlier = self._backlog.load(self._scope.paths)
            except WatchError as exc:
                logger.info("stop: the previous backlog is not kept: %s", exc)
                earlier = None
            if earlier is not None:
                files += earlier[0]
                trees += earlier[1]
        files += self._unqueued[0]
        trees += self._unqueued[1]
        return files, trees

    def _run(self, halt: threading.Event) -> None:
        self._resume(halt)
        while not halt.is_set():
            req = self._requests.take(0.25)
            if req is not None:
                try:
                    self._rescan(*req, halt)
                except Exception as exc:  # one failed rescan must not end the watch
                    logger.debug("rescan of %s failed", req[0], exc_info=True)
                    self._events.emit(
                        WatchEventKind.ERROR, f"rescan of {display_path(req[0])} failed: {exc}", path=req[0]
                    )

    def _rescan(self, tree: str, cause: WatchCause, halt: threading.Event) -> None:
        routine = cause in (WatchCause.NEW_DIRECTORY, WatchCause.POLL)
        logger.log(logging.DEBUG if routine else logging.INFO, "rescanning %s (%s)", tree, CAUSE_TEXT[cause])
        job = RescanJob(tree, cause, self._rescan_done)
        key = self._rules.current.rules.key
        opts = WalkOptions(
            excludes=self._cfg.excludes, max_filesize=self._cfg.max_filesize, prune=frozenset({self._scope.state_root})
        )
        try:
            for found in walk([tree], opts):
                if halt.is_set():
                    self._cut_trees.append(tree)
                    break
                if isinstance(found, Skipped):
                    job.count(skipped=int(found.reason in _COUNTED_SKIPS))
                elif self._memo.unchanged(found, key):
                    job.count(unchanged=1)
                else:
                    job.add()
                    if not self._work.put_rescan(Item(found.path, found, job), halt):
                        job.finish_one(False, 0)
                        self._cut_trees.append(tree)
                        break
        finally:
            job.walk_done()

    def _resume(self, halt: threading.Event) -> None:
        """Queue what the previous watch of these folders left (its backlog file), then forget the file."""
        while not self._started.wait(0.1):
            if halt.is_set():
                return  # not loaded: the stop keeps the file's content
        try:
            left = self._backlog.load(self._scope.paths)
        except WatchError as exc:
            self._resumed = True
            self._events.emit(WatchEventKind.WARNING, str(exc))
            return
        self._resumed = True
        if left is None:
            return
        files, trees = left
        logger.info("taking up the previous watch's backlog: %d files, %d folders", len(files), len(trees))
        self._events.emit(
            WatchEventKind.RESCAN,
            f"taking up what the previous watch left: {len(files)} files, {len(trees)} folders",
            cause=WatchCause.BACKLOG,
        )
        job = RescanJob(self._scope.roots[0].path, WatchCause.BACKLOG, self._rescan_done)
        try:
            self._queue_backlog(files, trees, job, halt)
        finally:
            job.walk_done()
            self._backlog.clear()  # queued, or in ``_unqueued``: a stop from now on saves what is left

    def _queue_backlog(self, files: list[str], trees: list[str], job: RescanJob, halt: threading.Event) -> None:
        for i, path in enumerate(files):
            if halt.is_set():
                self._unqueued = (files[i:], trees)  # the stop saves them again
                return
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone since
            if self._scope.ignored(path) or not stat.S_ISREG(st.st_mode):
                continue
            job.add()
            if not self._work.put_rescan(Item(path, file_entry(path, st), job), halt):
                job.finish_one(False, 0)
                self._unqueued = (files[i:], trees)
                return
        for tree in trees:
            self._requests.add(tree, WatchCause.BACKLOG)

    def _rescan_done(self, job: RescanJob) -> None:
        self._counters.add(rescans=1, unchanged=job.unchanged)
        seconds = time.monotonic() - job.started
        logger.debug(
            "rescan of %s (%s) done: read %d, unchanged %d, skipped %d, detections %d, %.2f s",
            job.tree,
            job.cause.value,
            job.queued,
            job.unchanged,
            job.skipped,
            job.detections,
            seconds,
        )
        if job.cause is WatchCause.NEW_DIRECTORY and not job.detections:
            return  # routine; only worth a line when it found something
        if job.cause is WatchCause.POLL and not job.queued:
            return
        stats = WatchStats(
            files_scanned=job.queued,
            bytes_scanned=job.bytes,
            unchanged=job.unchanged,
            detections=job.detections,
            skipped=job.skipped,
            rescans=1,
            seconds=round(seconds, 3),
        )
        self._events.emit(
            WatchEventKind.RESCAN,
            f"rescanned {display_path(job.tree)} ({CAUSE_TEXT[job.cause]}): files read {job.queued}, "
            f"unchanged {job.unchanged}, skipped {job.skipped}, with detections {job.detections}, "
            f"{seconds:.2f} s",
            path=job.tree,
            cause=job.cause,
            stats=stats,
        )
