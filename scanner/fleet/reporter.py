"""The one small interface the pipeline, the update commands and the watch report through.

A ``Reporter`` is built from ``FleetSettings`` (the configuration's ``[events]`` and ``[metrics]``, plus
``--events`` and ``--metrics-dir``). Callers say what happened (``scan_started``, ``scan_finished``,
``update_done``, ``update_refused``, ``rolled_back``, ``emit`` for a watch event, ``watch_heartbeat``);
the reporter builds the ECS events, frames them for each sink, writes the metrics file, and never
raises: what could not be delivered or written is counted and comes back from ``take_warnings`` as
one printable line per sink, for the caller to show. With no sink and no metrics directory it does
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.config import Config
from scanner.errors import ScannerError, UsageError
from scanner.fleet import ecs, metrics, sinks
from scanner.fleet.sinks import DEFAULT_FACILITY, DEFAULT_TIMEOUT
from scanner.history import OutcomeRecord
from scanner.model import ScanReport, printable, utc_now
from scanner.state import StateDir

if TYPE_CHECKING:  # imported where used: a scan that reports nothing loads no update code
    from scanner.updates.update import RollbackOutcome, UpdateOutcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetSettings:
    """Where events and metrics go."""

    sinks: tuple[str, ...] = ()
    """Event sink URLs ([events] sinks, then each --events)."""
    metrics_dir: Path | None = None
    """node_exporter's textfile directory ([metrics] dir, or --metrics-dir); None: no metrics."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds each send may take ([events] timeout)."""
    facility: str = DEFAULT_FACILITY
    """The syslog facility of the events ([events] facility)."""

    @classmethod
    def of(cls, config: Config, events: Sequence[str] = (), metrics_dir: Path | None = None) -> FleetSettings:
        """The configuration's settings with the command line's added (sinks) or winning (metrics directory)."""
        return cls(
            sinks=tuple(dict.fromkeys((*config.event_sinks, *events))),
            metrics_dir=metrics_dir if metrics_dir is not None else config.metrics_dir,
            timeout=config.event_timeout,
            facility=config.event_facility,
        )


class Reporter:
    """Sends a run's events to its sinks and writes its metrics; never raises, never blocks for long."""

    def __init__(
        self,
        settings: FleetSettings,
        *,
        host: ecs.Host | None = None,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        """UsageError when a sink URL, the facility or the timeout is not valid (before anything runs)."""
        if settings.facility not in sinks.FACILITIES:
            raise UsageError(
                f"unknown syslog facility {printable(settings.facility)!r} (choose {', '.join(sinks.FACILITIES)})"
            )
        if not sinks.MIN_TIMEOUT <= settings.timeout <= sinks.MAX_TIMEOUT:
            raise UsageError(f"event timeout must be from {sinks.MIN_TIMEOUT:g} to {sinks.MAX_TIMEOUT:g} seconds")
        self.settings = settings
        self.sinks = [sinks.Sink(sinks.parse_sink(url), settings.timeout) for url in settings.sinks]
        self.host = host or (ecs.Host.here() if self.sinks else ecs.Host(""))
        self.now = now
        self._lock = threading.Lock()
        self._reported: dict[str, int] = {}
        self._problems: list[str] = []
        self._metrics_failed: set[str] = set()

    @classmethod
    def off(cls) -> Reporter:
        """A reporter with nowhere to report to."""
        return cls(FleetSettings())

    @property
    def active(self) -> bool:
        """Whether it sends or writes anything at all."""
        return bool(self.sinks) or self.settings.metrics_dir is not None

    # -- events --------------------------------------------------------------------------------------

    def emit(self, ev: ecs.Event) -> None:
        """Send one event to every sink (RFC 5424 for syslog sinks, a JSON line for the others)."""
        if not self.sinks:
            return
        data = ecs.encode(ev)
        at, severity, facility = self.now(), ecs.syslog_severity(ev), sinks.FACILITIES[self.settings.facility]
        forms = {
            "json": data,
            "local": sinks.local_syslog(data, at=at, severity=severity, facility=facility, pid=os.getpid()),
            "rfc5424": sinks.rfc5424(
                data,
                at=at,
                severity=severity,
                facility=facility,
                hostname=self.host.hostname,
                msgid=str(ev.get("event", {}).get("action", "-")),
                pid=os.getpid(),
            ),
        }
        with self._lock:
            for sink in self.sinks:
                sink.deliver(forms[sink.form])

    def scan_started(self, scan_id: str, command: str, scan_type: str, paths: Sequence[str]) -> None:
        """A scan begins (before any file is read)."""
        self.emit(ecs.scan_started(self.host, self.now(), scan_id, command, scan_type, paths))

    def scan_finished(
        self, report: ScanReport, outcomes: Sequence[OutcomeRecord], command: str, *, dry_run: bool = False
    ) -> None:
        """A scan ended: one event per detection and per remediation step, the scan's end, then its metrics."""
        if not self.active:
            return
        at = self.now()
        for d in report.detections:
            self.emit(ecs.detection(self.host, at, d, report.scan_id, command))
        for o in outcomes:
            self.emit(ecs.action(self.host, at, o, report.scan_id, command))
        self.emit(ecs.scan_ended(self.host, at, report, command, dry_run=dry_run))
        self.write_metrics(command, lambda: metrics.scan_metrics(report, outcomes, command, dry_run=dry_run))

    def scan_failed(self, scan_id: str | None, command: str, error: ScannerError) -> None:
        """A scan could not run or finish (exit code 2): the scan's end, as a failure, and its metrics."""
        if not self.active:
            return
        at = self.now()
        self.emit(ecs.scan_failed(self.host, at, scan_id, command, str(error)))
        self.write_metrics(command, lambda: metrics.failed_scan_metrics(at, command))

    # -- updates -------------------------------------------------------------------------------------

    def update_done(self, state: StateDir, out: UpdateOutcome) -> None:
        """An update or check ran: what it found and did; the update metrics."""
        if not self.active:
            return
        self.emit(
            ecs.update(
                self.host,
                self.now(),
                out.status.value,
                active=out.active_version,
                previous=out.previous_version,
                offered=out.feed_version,
                mirror=out.mirror,
            )
        )
        self._update_metrics(state, out.status.value, True)

    def update_refused(self, state: StateDir, error: ScannerError | str) -> None:
        """An update or check failed: a feed that could not be reached or verified, a set that failed its
        tests (``error`` says which check refused it); the active set is unchanged."""
        if not self.active:
            return
        active = self._active(state)[0]
        self.emit(ecs.update(self.host, self.now(), "refused", active=active, refused=str(error)))
        self._update_metrics(state, "refused", False)

    def rolled_back(self, state: StateDir, out: RollbackOutcome) -> None:
        """The signature set was rolled back."""
        if not self.active:
            return
        self.emit(ecs.rollback(self.host, self.now(), out.from_version, out.to_version))
        self._update_metrics(state, "rolled-back", True)

    def _active(self, state: StateDir) -> tuple[str, dt.date | None]:
        from scanner.updates import signatures

        try:
            sigset = signatures.active_set(state)
        except (ScannerError, OSError) as exc:
            logger.info("the active signature set cannot be read for the metrics: %s", exc)
            return "unknown", None
        return sigset.version, sigset.released

    def _update_metrics(self, state: StateDir, status: str, ok: bool) -> None:
        if self.settings.metrics_dir is None:
            return
        version, released = self._active(state)
        at = self.now()
        self.write_metrics("update", lambda: metrics.update_metrics(at, status, ok, version, released))

    # -- the watch -----------------------------------------------------------------------------------

    def watch_heartbeat(self, health: metrics.WatchHealth) -> None:
        """The watch's metrics, now."""
        self.write_metrics("watch", lambda: metrics.watch_metrics(health))

    # -- metrics and warnings ------------------------------------------------------------------------

    def write_metrics(self, name: str, build: Callable[[], Sequence[metrics.Metric]]) -> None:
        """Replace ``scanner_NAME.prom`` in the metrics directory; a failure is a warning (said once per file)."""
        directory = self.settings.metrics_dir
        if directory is None:
            return
        try:
            metrics.write(directory, name, build())
        except OSError as exc:
            logger.info("metrics not written to %s: %s", directory, exc)
            with self._lock:
                if name not in self._metrics_failed:
                    self._metrics_failed.add(name)
                    self._problems.append(
                        f"metrics not written to {directory}/scanner_{name}.prom: {exc.strerror or exc}; "
                        "check that the directory exists and is writable"
                    )
        else:
            with self._lock:
                self._metrics_failed.discard(name)

    def take_warnings(self) -> list[str]:
        """What went wrong since the last call, one printable line per sink (events dropped, counted) and per
        metrics file not written."""
        with self._lock:
            lines, self._problems = self._problems, []
            for sink in self.sinks:
                st = sink.stats
                new = st.dropped - self._reported.get(sink.spec.url, 0)
                if new > 0:
                    self._reported[sink.spec.url] = st.dropped
                    lines.append(
                        f"event sink {sink.spec.url}: {new} event(s) dropped ({st.error}); "
                        f"{st.sent} of {st.sent + st.dropped} delivered in all; the run itself is not affected"
                    )
        return [printable(line) for line in lines]

    def close(self) -> list[str]:
        """Close every sink; the warnings not taken yet."""
        with self._lock:
            for sink in self.sinks:
                sink.close()
        return self.take_warnings()

    def stats(self) -> Mapping[str, Any]:
        """Per sink URL: events sent and dropped (for logs and tests)."""
        return {s.spec.url: {"sent": s.stats.sent, "dropped": s.stats.dropped} for s in self.sinks}
