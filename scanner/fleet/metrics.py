"""Health in the Prometheus text format, for node_exporter's textfile collector.

Each producer owns one file in the directory (``--metrics-dir``, ``[metrics] dir``) and replaces it
atomically (``safefs.write_atomic``, mode 0644 so node_exporter's own user can read it):
``scanner_scan.prom`` and ``scanner_monthly.prom`` after each scan of that command,
``scanner_update.prom`` after each update, check and rollback, ``scanner_watch.prom`` at each watch
heartbeat and at its stop. No two files hold the same series (a scan's series carry
``command="scan"`` or ``"monthly"``; the others have names of their own), so node_exporter merges them.
Names follow Prometheus conventions: ``scanner_`` prefix, base units (``_seconds``, ``_bytes``),
``_total`` only on counters, ``_info`` for a constant 1 that carries labels.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.history import OutcomeRecord
from scanner.model import Action, ExitCode, ScanReport, printable
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

Labels = Mapping[str, str]
Sample = tuple[Labels, float]

MAX_SERIES = 1_000
"""At most this many series per metric (a scan with more detection families keeps the first)."""
MAX_LABEL = 256
"""A label value longer than this is cut."""
RESULTS = tuple(code.name.lower() for code in (ExitCode.CLEAN, ExitCode.FOUND, ExitCode.ERROR, ExitCode.ACTION_FAILED))
"""The values of the ``result`` label: one series each, 1 for the last result, 0 for the others."""

RESULT_HELP = "The last scan's result: 1 for the result it had, 0 for the others."
TIMESTAMP_HELP = "When the last scan finished (Unix time)."
EXIT_CODE_HELP = "The last scan's exit code (0 clean, 1 found, 2 error, 3 action failed)."


@dataclass
class Metric:
    """One metric family: name, type, help, and its samples."""

    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Metric:
        """One more sample (beyond ``MAX_SERIES``, dropped and logged)."""
        if len(self.samples) >= MAX_SERIES:
            logger.info("metric %s: more than %d series; the rest are left out", self.name, MAX_SERIES)
        else:
            self.samples.append((labels, value))
        return self


def label_value(text: str) -> str:
    """A label value in the text format: control characters escaped as ``model.printable`` does (never a raw
    line break), then backslash, double quote and newline escaped as the format asks; cut to ``MAX_LABEL``."""
    text = printable(text)[:MAX_LABEL]
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value: integers without a fraction, others as Python's shortest repr."""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(metrics: Iterable[Metric]) -> str:
    """The text format: HELP, TYPE and the samples of each family, in order; families with no sample are left out."""
    lines: list[str] = []
    for m in metrics:
        if not m.samples:
            continue
        lines += [f"# HELP {m.name} {m.help}", f"# TYPE {m.name} {m.kind}"]
        for labels, value in m.samples:
            pairs = ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items())
            lines.append(f"{m.name}{{{pairs}}} {number(value)}" if pairs else f"{m.name} {number(value)}")
    return "\n".join(lines) + "\n"


def write(directory: Path, name: str, metrics: Iterable[Metric]) -> Path:
    """Replace ``directory/scanner_NAME.prom`` atomically; OSError when the directory is missing or not
    writable (the directory is node_exporter's: it is never created here)."""
    path = directory / f"scanner_{name}.prom"
    write_atomic(path, render(metrics).encode("utf-8"), 0o644)
    logger.debug("metrics written to %s", path)
    return path


def timestamp(text: str | dt.datetime) -> float:
    """Unix time of an ISO time (a report's ``finished_at``) or a datetime."""
    at = dt.datetime.fromisoformat(text) if isinstance(text, str) else text
    return at.timestamp()


def detection_action(
    report: ScanReport, outcomes: Sequence[OutcomeRecord], path: str | None, pid: int | None, *, dry_run: bool
) -> str:
    """The ``action`` label of one detection: what was done to it, from the run's outcomes.

    ``quarantined``, ``removed``, ``killed`` (all its steps done), ``failed`` (a step failed or needs a
    person), ``reported`` (the action is report, or a dry run), ``not_acted_on`` (held back by the
    action threshold, or no step was planned for it)."""
    mine = [o for o in outcomes if (path is not None and o.path == path) or (pid is not None and o.pid == pid)]
    if any(not o.ok for o in mine):
        return "failed"
    steps = {o.step for o in mine}
    for step, word in (("remove", "removed"), ("quarantine", "quarantined"), ("kill", "killed")):
        if step in steps:
            return word
    if report.action is Action.REPORT or dry_run:
        return "reported"
    return "not_acted_on"


def scan_metrics(
    report: ScanReport, outcomes: Sequence[OutcomeRecord], command: str, *, dry_run: bool = False
) -> list[Metric]:
    """The metrics of one finished scan, each series labelled ``command``."""
    c, cmd = report.counts, {"command": command}
    code = int(report.exit_code)
    result = Metric("scanner_last_scan_result", "gauge", RESULT_HELP)
    for name in RESULTS:
        result.add(1 if ExitCode(code).name.lower() == name else 0, command=command, result=name)
    by: dict[tuple[str, str], int] = {}
    for d in report.detections:
        key = (
            d.hit.family,
            detection_action(report, outcomes, d.path, d.process.pid if d.process else None, dry_run=dry_run),
        )
        by[key] = by.get(key, 0) + 1
    detections = Metric(
        "scanner_last_scan_detections", "gauge", "Detections in the last scan, by family and what was done."
    )
    for (family, action), n in sorted(by.items()):
        detections.add(n, command=command, family=family, action=action)
    sig = report.signatures
    metrics = [
        Metric("scanner_last_scan_timestamp_seconds", "gauge", TIMESTAMP_HELP).add(
            timestamp(report.finished_at), **cmd
        ),
        Metric("scanner_last_scan_duration_seconds", "gauge", "How long the last scan took.").add(
            report.duration_s, **cmd
        ),
        Metric("scanner_last_scan_exit_code", "gauge", EXIT_CODE_HELP).add(code, **cmd),
        result,
        Metric("scanner_last_scan_files_scanned", "gauge", "Files the last scan read and matched.").add(
            c.files_scanned, **cmd
        ),
        Metric("scanner_last_scan_scanned_bytes", "gauge", "Bytes in the files the last scan read.").add(
            c.bytes_scanned, **cmd
        ),
        Metric("scanner_last_scan_processes_scanned", "gauge", "Processes the last scan matched.").add(
            c.processes_scanned, **cmd
        ),
        Metric(
            "scanner_last_scan_not_scanned", "gauge", "Items the last scan could not scan (an incomplete result)."
        ).add(c.not_scanned, **cmd),
        detections,
        Metric("scanner_last_scan_signatures_info", "gauge", "The signature set the last scan used.").add(
            1, command=command, version=sig.version, source=sig.source
        ),
    ]
    if sig.age_days is not None:
        metrics.append(
            Metric(
                "scanner_last_scan_signatures_age_seconds", "gauge", "Age of that signature set when the scan ran."
            ).add(sig.age_days * 86_400, **cmd)
        )
    return metrics


def failed_scan_metrics(at: dt.datetime, command: str) -> list[Metric]:
    """The metrics of a scan that could not run or finish: when, exit code 2, result ``error``."""
    result = Metric("scanner_last_scan_result", "gauge", RESULT_HELP)
    for name in RESULTS:
        result.add(1 if name == "error" else 0, command=command, result=name)
    return [
        Metric("scanner_last_scan_timestamp_seconds", "gauge", TIMESTAMP_HELP).add(at.timestamp(), command=command),
        Metric("scanner_last_scan_exit_code", "gauge", EXIT_CODE_HELP).add(int(ExitCode.ERROR), command=command),
        result,
    ]


def update_metrics(at: dt.datetime, status: str, ok: bool, active: str, released: dt.date | None) -> list[Metric]:
    """The metrics of an update, check or rollback: when, how it went, and the signature set active after it."""
    metrics = [
        Metric(
            "scanner_last_update_timestamp_seconds", "gauge", "When the last update, check or rollback ran (Unix time)."
        ).add(at.timestamp()),
        Metric("scanner_last_update_success", "gauge", "1 when the last update, check or rollback succeeded.").add(
            1 if ok else 0
        ),
        Metric("scanner_last_update_status_info", "gauge", "What the last update, check or rollback did.").add(
            1, status=status
        ),
        Metric("scanner_signatures_info", "gauge", "The active signature set.").add(1, version=active),
    ]
    if released is not None:
        age = max(0.0, (at.date() - released).days * 86_400.0)
        metrics.append(
            Metric(
                "scanner_signatures_age_seconds", "gauge", "Age of the active signature set (from its release date)."
            ).add(age)
        )
    return metrics


@dataclass(frozen=True)
class WatchHealth:
    """A watch's state at a heartbeat."""

    at: dt.datetime
    """When."""
    running: bool
    """False in the last write, at the stop."""
    started_at: dt.datetime
    """When the watch started."""
    queue_length: int
    """Files waiting: noticed but not yet scanned, and queued for the scanning threads."""
    files_scanned: int = 0
    detections: int = 0
    failed_actions: int = 0
    overflows: int = 0
    rescans: int = 0
    signatures: str = ""
    """The version of the rules in use."""


def watch_metrics(h: WatchHealth) -> list[Metric]:
    """The metrics of a running (or just stopped) watch; the counters count since the watch started."""
    return [
        Metric("scanner_watch_up", "gauge", "1 while the watch runs, 0 once it has stopped.").add(
            1 if h.running else 0
        ),
        Metric("scanner_watch_heartbeat_timestamp_seconds", "gauge", "When the watch last wrote these metrics.").add(
            h.at.timestamp()
        ),
        Metric("scanner_watch_start_timestamp_seconds", "gauge", "When the watch started (Unix time).").add(
            h.started_at.timestamp()
        ),
        Metric("scanner_watch_queue_length", "gauge", "Files noticed and waiting to be scanned.").add(h.queue_length),
        Metric("scanner_watch_files_scanned_total", "counter", "Files scanned since the watch started.").add(
            h.files_scanned
        ),
        Metric("scanner_watch_detections_total", "counter", "Detections since the watch started.").add(h.detections),
        Metric(
            "scanner_watch_failed_actions_total", "counter", "Remediation steps that failed since the watch started."
        ).add(h.failed_actions),
        Metric(
            "scanner_watch_overflows_total",
            "counter",
            "Times events were or could have been lost (each followed by a rescan).",
        ).add(h.overflows),
        Metric("scanner_watch_rescans_total", "counter", "Trees rescanned since the watch started.").add(h.rescans),
        Metric("scanner_watch_signatures_info", "gauge", "The signature set the watch uses.").add(
            1, version=h.signatures
        ),
    ]
