"""What a watch tells its caller: the event types, their JSON and text forms, and the ``EventLog``
that writes each event to the watch log and hands it to the caller."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scanner import scanlog
from scanner.fleet import ecs
from scanner.model import Action, Detection, SignatureSetInfo, Skipped, display_path, printable
from scanner.report import detection_json, path_fields, signatures_json

LOG_NAME = "watch.log"
"""The watch's log, in the state directory's ``logs``: one line per event."""

logger = logging.getLogger(__name__)


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


CAUSE_TEXT = {
    WatchCause.INITIAL: "initial scan",
    WatchCause.KERNEL_OVERFLOW: "the kernel's event queue overflowed",
    WatchCause.WATCH_LOST: "a watch was lost",
    WatchCause.QUEUE_FULL: "the scan backlog was full",
    WatchCause.NEW_DIRECTORY: "new folder",
    WatchCause.POLL: "folder that cannot be watched",
    WatchCause.RELOAD: "new signatures",
    WatchCause.BACKLOG: "left by the previous watch",
}
"""How a rescan's line names its cause."""


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


FORWARDED = frozenset({WatchEventKind.STARTED, WatchEventKind.STOPPED, WatchEventKind.OVERFLOW, WatchEventKind.ERROR})
"""The watch events sent to the fleet's sinks besides detections (warnings stay local: a warning about a sink
that is down must not feed itself)."""


def event_ecs(ev: WatchEvent, host: ecs.Host) -> ecs.Event | None:
    """The ECS record of an event sent to the fleet's sinks (``--events``): detections, start, stop,
    overflow and errors; None for the others."""
    if ev.kind is WatchEventKind.DETECTION and ev.detection is not None:
        return ecs.detection(host, ev.at, ev.detection, ev.scan_id, "watch")
    if ev.kind not in FORWARDED:
        return None
    details = {k: v for k, v in event_json(ev).items() if k not in ("event", "time", "message")}
    return ecs.watch(host, ev.at, ev.kind.value, ev.message, details=details)


def event_text(ev: WatchEvent) -> str:
    """One readable line for an event (the text output and the log)."""
    # messages quote file names and OS text: never a raw control character on the terminal or in the log
    return printable(f"{ev.at.astimezone(dt.UTC).isoformat(timespec='milliseconds')} {ev.kind.value}: {ev.message}")


class EventLog:
    """Where every thread of a watch reports: one line in the watch log, then the caller's ``emit``.

    One event at a time (the caller's ``emit`` is never called from two threads at once). A log
    that cannot be written is said once, as a warning event; an ``emit`` that raises does not stop
    the watch (the log keeps the event and the failure).
    """

    def __init__(self, log: Path, emit: Callable[[WatchEvent], None], now: Callable[[], dt.datetime]) -> None:
        self.log, self.now = log, now
        self._emit_fn = emit
        self._lock = threading.Lock()
        self._log_failed = False

    def emit(self, kind: WatchEventKind, message: str, **fields: Any) -> None:
        """Log and hand on one event; ``fields`` are the other fields of ``WatchEvent``."""
        ev = WatchEvent(kind, self.now(), message, **fields)
        with self._lock:
            try:
                scanlog.append(self.log, event_text(ev) + "\n")
            except OSError as exc:
                if not self._log_failed:
                    self._log_failed = True
                    logger.info("cannot write the watch log %s: %s", self.log, exc)
                    self._call_emit(
                        WatchEvent(
                            WatchEventKind.WARNING, ev.at, f"cannot write the watch log {self.log}: {exc.strerror}"
                        )
                    )
            self._call_emit(ev)

    def _call_emit(self, ev: WatchEvent) -> None:
        try:
            self._emit_fn(ev)
        except Exception as exc:  # noqa: BLE001 - a broken output must not stop the scanning; the log has it
            logger.debug("the caller's emit failed on a %s event: %s", ev.kind.value, exc)
            with contextlib.suppress(OSError):
                scanlog.append(self.log, f"{event_text(ev)}\n  (output failed: {exc})\n")
