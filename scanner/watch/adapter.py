"""The watchdog adapter, the only module that imports watchdog (7.1.1 or later 7.1.x).

``FolderWatch`` runs watchdog's inotify observer, recursive on each watched folder (new folders are
watched as they appear), with its own inotify instance, and turns watchdog's events into the
watch's own news (a ``Sink``). A kernel queue overflow arrives through watchdog's public
``EventsLostEvent``; the only internal relied on is isolated in ``_Inotify`` (a folder inotify
refused to watch), because watchdog only logs that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Any, Protocol

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

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """What the observer tells the watch, from its own threads: each call must be quick and not raise."""

    def file_written(self, path: str) -> None:
        """A file was closed after writing, or moved into the tree: it is complete."""

    def file_created(self, path: str) -> None:
        """A file appeared (being written, or a hard link)."""

    def folder_arrived(self, path: str) -> None:
        """A folder was made or moved in (its files may predate its watch)."""

    def kernel_overflow(self, root: str) -> None:
        """The kernel's event queue overflowed: events under ``root`` were lost."""

    def unwatched(self, path: str) -> None:
        """inotify refused to watch the folder ``path`` (watch limit, access denied)."""

    def report_error(self, message: str) -> None:
        """Handling an event failed."""


class _Inotify(InotifyFD):
    """The inotify instance of one watch (its own, not one shared with other observers).

    The one adapter over a watchdog internal: ``InotifyFD.add_callback`` is what watchdog's
    recursive watch calls for each folder, and when it fails below the top folder (watch limit
    reached, access denied) watchdog only logs it and goes on without that folder. Catching the
    failure here tells the watcher, which then rescans that folder periodically instead.
    Checked against watchdog 7.1.1 (the bound in setup.cfg); the test of a folder that cannot be
    watched fails if a later version stops calling it.
    """

    def __init__(self, sink: Sink) -> None:
        super().__init__()
        self._sink = sink

    def add_callback(self, path: bytes, mask: Mask, callback: Any, id_: Any) -> WatchDescriptor:
        try:
            return super().add_callback(path, mask, callback, id_)
        except OSError as exc:
            logger.info("inotify refused to watch %s: %s", os.fsdecode(path), exc)
            self._sink.unwatched(os.fsdecode(path))
            raise


_EVENTS: list[type[FileSystemEvent]] = [
    FileClosedEvent,
    FileCreatedEvent,
    DirCreatedEvent,
    FileMovedEvent,
    DirMovedEvent,
    EventsLostEvent,
]
"""What the watch listens to. Leaving out opens, reads, modifications and attribute changes keeps the
kernel queue (and so the risk of overflow) small: only closes after writing, creations and moves; and
the loss of events (a kernel queue overflow), which watchdog reports after it has rebuilt the watches."""


class _Observer(BaseObserver):
    """An inotify observer with its own inotify instance; full events, so a move from outside keeps its destination."""

    def __init__(self, sink: Sink) -> None:
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

    def __init__(self, sink: Sink) -> None:
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


class FolderWatch:
    """The observer of one watch and its recursive watch on each watched folder.

    Creating it makes the inotify instance (OSError when the system has none to spare); ``add``
    raises OSError when a folder cannot be watched. Events go to ``sink`` once ``start`` is called.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._observer = _Observer(sink)
        self._watches: dict[str, ObservedWatch] = {}

    def add(self, path: str) -> None:
        """Watch the folder ``path`` and everything below it."""
        self._watches[path] = self._observer.watch(path, _Handler(self._sink))

    def healthy(self, path: str) -> bool:
        """Whether ``path`` has a watch whose emitter thread is still running."""
        watch = self._watches.get(path)
        return watch is not None and any(e.watch == watch and e.is_alive() for e in list(self._observer.emitters))

    def rewatch(self, path: str) -> None:
        """Drop the watch on ``path`` (if any) and watch it again (OSError: it has none now)."""
        old = self._watches.pop(path, None)
        if old is not None:
            with contextlib.suppress(KeyError):
                self._observer.unschedule(old)
        self.add(path)

    def start(self) -> None:
        """Start delivering events."""
        self._observer.start()

    def alive(self) -> bool:
        """Whether the observer and its inotify reader still run."""
        return self._observer.is_alive() and self._observer.reader_alive()

    def stop(self, timeout: float) -> None:
        """Stop the observer (also releases the inotify instance of an observer that never started)."""
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout)
