"""The scanning threads: each takes a file from the work queue, matches it with the rules in use
(``scan.scan_one``), remembers it as judged, and hands a match on to the remediator."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from scanner.model import FileIdentity, Skipped, SkipReason, display_path
from scanner.scanning.scan import FileResult, scan_one
from scanner.scanning.walk import FileEntry, skip_for_oserror
from scanner.updates import signatures
from scanner.watch.config import WatchConfig
from scanner.watch.events import EventLog, WatchEventKind
from scanner.watch.queues import CleanMemo, Counters, Item, WorkQueue, file_entry
from scanner.watch.rules import LiveRules

logger = logging.getLogger(__name__)

_QUIET_SKIPS = frozenset({SkipReason.VANISHED, SkipReason.NOT_FOUND, SkipReason.SPECIAL_FILE, SkipReason.SYMLINK_LOOP})
"""Reasons a file from an event is passed over without a word: it went away, or is not a regular file."""

Submit = Callable[[FileResult, signatures.LoadedRules, FileEntry, threading.Event], None]
"""Hands a match to the remediator (result, the rules that found it, the file's facts); waits for room
until the event is set."""


def _same(e: FileEntry, st: os.stat_result) -> bool:
    return e.identity == FileIdentity.from_stat(st)


class ScanWorkers:
    """A pool of ``cfg.jobs`` scanning threads over the work queue."""

    def __init__(
        self,
        cfg: WatchConfig,
        work: WorkQueue,
        rules: LiveRules,
        memo: CleanMemo,
        counters: Counters,
        events: EventLog,
        submit: Submit,
    ) -> None:
        self._cfg, self._work, self._rules, self._memo = cfg, work, rules, memo
        self._counters, self._events, self._submit = counters, events, submit
        limits = cfg.archives
        self._archives = replace(limits, tmp_dir=cfg.state.scratch) if limits and limits.tmp_dir is None else limits
        self._stopping = threading.Event()  # finish what is queued, then stop
        self._abandon = threading.Event()  # stop after the current file
        self._threads = [
            threading.Thread(target=self._worker, name=f"watch-scan-{i}", daemon=True) for i in range(max(1, cfg.jobs))
        ]

    def start(self) -> None:
        """Start the threads."""
        for t in self._threads:
            t.start()

    def finish(self, deadline: float) -> list[str]:
        """Scan what is queued until ``deadline`` (monotonic), then stop; the files left in the queue.

        A file being matched cannot be interrupted: a thread still busy after a second more is left
        behind (a daemon thread) and its result ignored.
        """
        self._stopping.set()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        left: list[str] = []
        if any(t.is_alive() for t in self._threads):
            self._abandon.set()
            left += [item.path for item in self._work.drain()]
            logger.info("stop: scanning threads still busy at the deadline; %d queued files left", len(left))
            for t in self._threads:
                t.join(1.0)
        return left

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
            except Exception as exc:  # one file must not end the watch
                logger.debug("scanning %s failed", item.path, exc_info=True)
                self._events.emit(
                    WatchEventKind.ERROR, f"scanning {display_path(item.path)} failed: {exc}", path=item.path
                )
            finally:
                if item.job is not None:
                    item.job.finish_one(detected, size)

    def _scan(self, item: Item) -> tuple[bool, int]:
        """Scan one file; (detected, size)."""
        loaded = self._rules.current
        entry = item.entry
        if entry is None:
            try:
                st = os.lstat(item.path)
            except OSError as exc:
                self._skipped(skip_for_oserror(item.path, exc))
                return False, 0
            if not stat.S_ISREG(st.st_mode):
                return False, 0
            entry = file_entry(item.path, st)
        result = scan_one(entry, loaded.rules, self._cfg.timeout, self._cfg.max_filesize, archives=self._archives)
        if result.skipped is not None:
            self._skipped(result.skipped)
            return False, 0
        self._counters.add(files=1, bytes=result.size)
        for note in result.incomplete:  # inside an archive: a limit, an encrypted or a damaged member
            self._skipped(note)
        try:
            judged = _same(entry, os.lstat(item.path))
        except OSError:
            judged = False
        # a detected file too: a rescan need not find it again while it is unchanged (an archive not fully
        # scanned is read again)
        if judged and not result.incomplete:
            self._memo.remember(entry, loaded.rules.key)
        if not result.found:
            return False, result.size
        self._submit(result, loaded, entry, self._abandon)
        return True, result.size

    def _skipped(self, skipped: Skipped) -> None:
        if skipped.reason in _QUIET_SKIPS:
            logger.debug("passed over %s: %s", skipped.path, skipped.reason.value)
            return
        logger.info("not scanned: %s: %s %s", skipped.path, skipped.reason.value, skipped.detail or "")
        self._counters.add(skipped=1)
        why = f"{skipped.reason.value}" + (f" ({skipped.detail})" if skipped.detail else "")
        self._events.emit(
            WatchEventKind.SKIPPED,
            f"not scanned: {display_path(skipped.path)}: {why}",
            path=skipped.path,
            skipped=skipped,
        )
