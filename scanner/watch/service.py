"""Real-time folder watch: scan files as they arrive and act on what is found, without missing any.

Data flow: watchdog's inotify observer (``adapter``; recursive, new folders are watched as they
appear) -> ``Intake`` (one entry per path in ``Pending``, waiting for a short quiet period; the
pump thread) -> a bounded work queue -> ``ScanWorkers`` (``scan.scan_one`` with the rules in use)
-> ``Remediator`` (quarantine, then persistence clean-up, one history record per batch) -> events
for the caller, and one line each in the watch log.

A file is scanned once it is complete: when it is closed after writing or moved into the tree.
A file that only appears (a hard link) is scanned once it stops changing. Nothing is missed
silently: when the kernel's event queue overflows, a folder cannot be watched, or the backlog
is full, the affected tree is rescanned by the ``Rescanner`` (files judged earlier and
unchanged since are not read again) and an ``overflow`` event says so. A new active signature
set is picked up between files without a restart.

``Watcher`` wires these together and runs the main thread: it starts everything, checks the
signatures and folders while the watch runs, and at the stop gives each part its share of the
grace period, then saves what is left in the ``Backlog`` for the next watch of the same folders.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from scanner.errors import UsageError, WatchError
from scanner.fleet.metrics import WatchHealth
from scanner.fleet.reporter import Reporter
from scanner.model import Action, ExitCode, display_path, utc_now
from scanner.watch.adapter import FolderWatch
from scanner.watch.backlog import Backlog
from scanner.watch.config import WatchConfig
from scanner.watch.events import LOG_NAME, EventLog, WatchCause, WatchEvent, WatchEventKind, event_ecs
from scanner.watch.folders import FolderGuard
from scanner.watch.intake import Intake
from scanner.watch.queues import CleanMemo, Counters, Pending, RescanRequests, WorkQueue
from scanner.watch.remediator import Remediator, Systemctl
from scanner.watch.rescanner import Rescanner
from scanner.watch.rules import LiveRules
from scanner.watch.scope import Scope
from scanner.watch.workers import ScanWorkers

logger = logging.getLogger(__name__)


def run_watch(
    config: WatchConfig,
    *,
    emit: Callable[[WatchEvent], None],
    stop: threading.Event,
    now: Callable[[], dt.datetime] = utc_now,
    systemctl: Systemctl | None = None,
    fleet: Reporter | None = None,
) -> ExitCode:
    """Watch ``config.paths`` until ``stop`` is set; every event goes to ``emit`` and to the watch log, and
    detections, start, stop, overflows and errors to ``fleet``'s sinks; ``fleet`` writes the watch's
    metrics every ``config.heartbeat_interval`` seconds and at the stop.

    ``emit`` is called from several threads, one event at a time. Returns 0 after a requested
    stop, 3 when detected files were left not quarantined at the stop (saved; the next watch of
    the same folders handles them), 2 when the watch could not keep running (the observer died)
    or unfinished work could not be saved. Raises UsageError for
    bad paths or options, RuleError when the rules do not load, WatchError when the folders
    cannot be watched.
    """
    watcher = Watcher(config, emit, now, systemctl, fleet)
    return watcher.run(stop)


class Watcher:
    """One watch: its parts, wired together, and the main thread that starts, checks and stops them."""

    def __init__(
        self,
        config: WatchConfig,
        emit: Callable[[WatchEvent], None],
        now: Callable[[], dt.datetime],
        systemctl: Systemctl | None,
        fleet: Reporter | None = None,
    ) -> None:
        if config.action not in (Action.QUARANTINE, Action.REPORT):
            raise UsageError(f"watch acts with quarantine or report, not {config.action.value}")
        if not config.paths:
            raise UsageError("give at least one folder to watch")
        if not config.sysroot.is_dir():
            raise UsageError(f"sysroot {config.sysroot} is not a folder")
        self.cfg, self._now = config, now
        self.fleet = fleet or Reporter.off()
        self._emit_fn = emit
        self.started = now()
        self.scope = Scope(config.paths, config.state.root, config.excludes)
        self.events = EventLog(config.state.logs / LOG_NAME, self._emit_and_forward, now)
        self.rules = LiveRules(config, self.events, now)
        self.counters = Counters()
        self.halt = threading.Event()  # pump and rescanner: stop now
        memo = CleanMemo(config.memo_size)
        self.pending = Pending(config.debounce, config.settle, config.max_delay, config.max_pending)
        self.work = WorkQueue(config.queue_size, 8 * max(1, config.jobs))
        self.requests = RescanRequests(self.scope.root_of)
        self.backlog = Backlog.of(config.state.root, self.scope.paths)
        self.remediator = Remediator(config, self.scope.paths, self.events, self.counters, now, systemctl)
        self.intake = Intake(self.scope, self.pending, self.work, self.requests, self.events, self.counters)
        self.workers = ScanWorkers(
            config, self.work, self.rules, memo, self.counters, self.events, self.remediator.submit
        )
        self.rescanner = Rescanner(
            config, self.scope, self.requests, self.work, memo, self.rules, self.backlog, self.events, self.counters
        )
        self.guard = FolderGuard(
            self.scope, self.requests, self.intake.take_unwatched, self.events, self.counters, config.poll_interval
        )
        self.observer: FolderWatch | None = None

    # -- the fleet's sinks and metrics -----------------------------------------------------------------

    def _emit_and_forward(self, ev: WatchEvent) -> None:
        """The caller's ``emit``, then the fleet's sinks (which never raise)."""
        try:
            self._emit_fn(ev)
        finally:
            if (record := event_ecs(ev, self.fleet.host)) is not None:
                self.fleet.emit(record)

    def _heartbeat(self, running: bool) -> None:
        """Write the watch's metrics; say (as warning events) what the sinks dropped since the last beat."""
        if not self.fleet.active:
            return
        stats = self.counters.stats(0, 0)
        self.fleet.watch_heartbeat(
            WatchHealth(
                at=self._now(),
                running=running,
                started_at=self.started,
                queue_length=len(self.pending) + len(self.work),
                files_scanned=stats.files_scanned,
                detections=stats.detections,
                failed_actions=stats.failed_actions,
                overflows=stats.overflows,
                rescans=stats.rescans,
                signatures=self.rules.current.info.version,
            )
        )
        for line in self.fleet.take_warnings():
            self.events.emit(WatchEventKind.WARNING, line)

    # -- run -----------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> ExitCode:
        """Start, watch until ``stop`` is set (or the observer dies), stop; the exit code."""
        self.cfg.state.ensure(self.cfg.state.logs)
        self.remediator.prepare()
        started_at = time.monotonic()
        self.workers.start()
        self.intake.start(self.halt)
        self.rescanner.start(self.halt)
        self.remediator.start()
        try:
            self.observer = observer = FolderWatch(self.intake)
            for root in self.scope.roots:
                observer.add(root.path)
            observer.start()
        except OSError as exc:
            logger.info("cannot watch %s: %s", ", ".join(self.scope.paths), exc)
            self._shutdown(started_at, quiet=True)
            raise WatchError(
                f"cannot watch {', '.join(self.scope.paths)}: {exc.strerror or exc}; "
                "raise fs.inotify.max_user_watches or max_user_instances, or watch fewer folders"
            ) from exc
        self._announce_start()
        self._heartbeat(True)
        code = self._supervise(stop, observer)
        left = self._shutdown(started_at, quiet=False)
        self._heartbeat(False)
        return code or left

    def _announce_start(self) -> None:
        """Say the watch is on, let the backlog be taken up, and queue the initial scan."""
        info, jobs = self.rules.current.info, max(1, self.cfg.jobs)
        self.events.emit(
            WatchEventKind.STARTED,
            f"watching {', '.join(display_path(p) for p in self.scope.paths)}: action "
            f"{self.cfg.action.value}, signatures {info.version} ({info.source}, {info.rule_count} "
            f"rules), {jobs} scanning threads",
            paths=self.scope.paths,
            action=self.cfg.action,
            signatures=info,
        )
        for w in self.rules.current.warnings:
            self.events.emit(WatchEventKind.WARNING, w)
        self.rescanner.watching()
        if self.cfg.initial_scan:
            for path in self.scope.paths:
                self.requests.add(path, WatchCause.INITIAL)

    def _supervise(self, stop: threading.Event, observer: FolderWatch) -> ExitCode:
        """The main thread while the watch runs: signatures, lost watches, polled folders; 2 if the observer died."""
        next_check = next_poll = time.monotonic()
        next_beat = next_check + self.cfg.heartbeat_interval
        while not stop.wait(0.1):
            if not observer.alive():
                logger.info("the observer thread or its inotify reader died")
                self.events.emit(
                    WatchEventKind.ERROR,
                    "the folder watch stopped unexpectedly; restart it (with --initial-scan, to cover the gap)",
                )
                return ExitCode.ERROR
            tick = time.monotonic()
            if tick >= next_check:
                next_check = tick + self.cfg.reload_interval
                if self.rules.check() and self.cfg.rescan_on_reload:
                    for path in self.scope.paths:
                        self.requests.add(path, WatchCause.RELOAD)
                self.guard.check_roots(observer)
            if tick >= next_beat:
                next_beat = tick + self.cfg.heartbeat_interval
                self._heartbeat(True)
            poll = tick >= next_poll
            if poll:
                next_poll = tick + self.cfg.poll_interval
            self.guard.check_unwatched(poll)
        return ExitCode.CLEAN

    # -- stop ----------------------------------------------------------------------------------------

    def _shutdown(self, started_at: float, *, quiet: bool) -> ExitCode:
        """Stop taking events, scan what is complete and act on what was found for about ``shutdown_grace`` s,
        save what is left for the next start; the exit code (3: detected files were left, 2: not saved)."""
        deadline = time.monotonic() + self.cfg.shutdown_grace
        if self.observer is not None:
            self.observer.stop(self.cfg.shutdown_grace)
        self.halt.set()
        self.intake.join(max(0.1, deadline - time.monotonic()))
        self.rescanner.join(max(0.1, deadline - time.monotonic()))
        left = self.intake.flush()  # not scanned: saved for the next start
        left += self.workers.finish(deadline)
        unhandled = self.remediator.drain(deadline)
        left += [item.path for item in self.work.drain()]
        files, trees = self.rescanner.leftovers()
        left += files
        unchecked = self.remediator.finish_cleanup(deadline)
        if quiet:
            return ExitCode.CLEAN
        if unchecked:
            self.events.emit(
                WatchEventKind.WARNING,
                f"persistence was not checked for {unchecked} batches of "
                "detections before the watch stopped; run 'scanner scan "
                "--quick' to check it",
            )
        return self._save_and_report(started_at, left, trees, unhandled)

    def _save_and_report(self, started_at: float, left: list[str], trees: list[str], unhandled: list[str]) -> ExitCode:
        """Save what the stop left in the backlog, emit the ``stopped`` event; the exit code."""
        saved = ""
        if unhandled or left or trees:
            try:
                self.backlog.save(self.scope.paths, unhandled + left, trees, self._now())
                saved = f" (saved in {self.backlog.path}; the next watch of these folders takes them up)"
            except WatchError as exc:
                saved = f" (NOT saved: {exc})"
        else:
            self.backlog.clear()
        stats = self.counters.stats(time.monotonic() - started_at, len(left) + len(trees), len(unhandled))
        tail = ""
        if unhandled or left or trees:
            tail = (
                f"; left at the stop: {len(unhandled)} detected files not quarantined, {len(left)} files "
                f"and {len(trees)} folders not scanned{saved}"
            )
        self.events.emit(
            WatchEventKind.STOPPED,
            f"files scanned {stats.files_scanned}, detections "
            f"{stats.detections}, failed actions {stats.failed_actions}, "
            f"rescans {stats.rescans}, overflows {stats.overflows}{tail}",
            stats=stats,
        )
        if unhandled:
            return ExitCode.ACTION_FAILED
        return ExitCode.ERROR if saved.startswith(" (NOT") else ExitCode.CLEAN
