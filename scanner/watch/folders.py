"""The main thread's care of the watched folders: a watched folder removed or replaced (or whose
watch died) is watched again when it is back, and a folder inotify refused is rescanned
periodically instead; each is said with an ``overflow`` event and followed by a rescan."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from scanner.model import display_path
from scanner.watch.adapter import FolderWatch
from scanner.watch.events import EventLog, WatchCause, WatchEventKind
from scanner.watch.queues import Counters, RescanRequests
from scanner.watch.scope import Scope, folder_ident

logger = logging.getLogger(__name__)


class FolderGuard:
    """Checks, from the main thread, that every folder meant to be watched is watched or polled."""

    def __init__(
        self,
        scope: Scope,
        requests: RescanRequests,
        take_unwatched: Callable[[], set[str]],
        events: EventLog,
        counters: Counters,
        poll_interval: float,
    ) -> None:
        self._scope, self._requests, self._take_unwatched = scope, requests, take_unwatched
        self._events, self._counters, self._poll_interval = events, counters, poll_interval
        self._polled: set[str] = set()

    def check_roots(self, observer: FolderWatch) -> None:
        """A watched folder removed (or replaced, or whose watch died) is watched again when it is back."""
        for root in self._scope.roots:
            ident = folder_ident(root.path)
            if ident is not None and ident == root.ident and observer.healthy(root.path):
                continue
            if ident is None:
                if not root.lost:
                    root.lost = True
                    logger.info("watched folder %s is gone", root.path)
                    self._overflow(
                        f"watched folder {display_path(root.path)} is gone; it is watched again when it comes back",
                        root.path,
                    )
                continue
            try:
                observer.rewatch(root.path)
            except OSError as exc:
                logger.info("cannot watch %s again: %s", root.path, exc)
                self._events.emit(
                    WatchEventKind.ERROR,
                    f"cannot watch {display_path(root.path)} again: {exc.strerror}",
                    path=root.path,
                )
                continue
            root.ident, root.lost = ident, False
            logger.info("watch on %s is back; rescanning it", root.path)
            self._overflow(f"watch on {display_path(root.path)} was lost and is back; rescanning it", root.path)
            self._requests.add(root.path, WatchCause.WATCH_LOST)

    def check_unwatched(self, poll: bool) -> None:
        """Folders inotify refused are said once and rescanned; with ``poll``, every such folder again."""
        for path in sorted(self._take_unwatched()):
            if path in self._polled or not os.path.isdir(path) or self._scope.ignored(path):
                continue  # gone again (a short-lived folder is not a lost watch)
            self._polled.add(path)
            logger.info("cannot watch %s; polling it every %g s", path, self._poll_interval)
            self._overflow(
                f"cannot watch {display_path(path)} (inotify watch limit, or access denied); "
                f"rescanning it every {self._poll_interval:g} s instead",
                path,
            )
            self._requests.add(path, WatchCause.WATCH_LOST)
        if poll:
            for path in sorted(self._polled):
                if os.path.isdir(path):
                    self._requests.add(path, WatchCause.POLL)
                else:
                    logger.debug("polled folder %s is gone; no longer polled", path)
                    self._polled.discard(path)

    def _overflow(self, message: str, path: str) -> None:
        self._counters.add(overflows=1)
        self._events.emit(WatchEventKind.OVERFLOW, message, path=path, cause=WatchCause.WATCH_LOST)
