"""Events as Elastic Common Schema records: one builder per thing that happens, and the bounded encoding.

Each builder is pure (values in, a nested ``dict`` out) and uses ECS field names: ``@timestamp``,
``event.*`` (kind, category, type, action, outcome, reason, severity, duration), ``host.*``,
``agent.*``, ``file.path``, ``file.hash.sha256``, ``process.pid``, ``threat.software.name`` (the
family), ``rule.*`` (the YARA rule) and ``message``. What ECS has no field for lives under the custom
``scanner.*`` namespace (scan id, command, counts, exit code, signature versions), as ECS asks of
custom fields.

``ecs-logging`` (Elastic's logging Formatter) was considered and not used: see
docs/decisions/0015-fleet-events-and-metrics.md. ``encode`` bounds every event (each string, each
list, the whole record) so it fits one syslog message; JSON escapes every control character, so
nothing inside the record is escaped otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner import __version__
from scanner.history import OutcomeRecord
from scanner.model import Detection, ExitCode, ScanReport, Severity, encode_path, json_path

logger = logging.getLogger(__name__)

ECS_VERSION = "8.11.0"
"""The ECS version whose field names the events use."""
MAX_EVENT_BYTES = 7_680
"""An encoded event is at most this long, so that with its RFC 5424 header it fits rsyslog's default
8 KiB message size (larger events lose their longest strings first: see ``encode``)."""
MAX_STRING = 2_048
"""Any string field longer than this is cut (a path, a command line, a rule description)."""
MAX_LIST = 64
"""Any list longer than this is cut (paths watched, rule authors, warnings)."""
TRUNCATED = "...[truncated]"
"""Ends a string that was cut."""

Event = dict[str, Any]
"""One ECS record (nested objects, as ECS documents them)."""

SEVERITY_SCORE: Mapping[Severity, int] = {
    Severity.LOW: 21,
    Severity.MEDIUM: 47,
    Severity.HIGH: 73,
    Severity.CRITICAL: 99,
}
"""``event.severity`` of a detection (the numeric scale Elastic's detection rules use)."""

STEP_ACTIONS: Mapping[str, tuple[str, str, str]] = {
    "quarantine": ("file-quarantined", "file", "deletion"),
    "remove": ("file-removed", "file", "deletion"),
    "kill": ("process-killed", "process", "end"),
    "clean persistence": ("persistence-cleaned", "configuration", "change"),
    "manual": ("manual-step-needed", "malware", "info"),
}
"""``event.action``, ``event.category`` and ``event.type`` of each remediation step (``history.OutcomeRecord.step``)."""


@dataclass(frozen=True)
class Host:
    """Who sends the events: ``host.*`` and ``agent.*``."""

    hostname: str
    """This machine's name."""

    @classmethod
    def here(cls) -> Host:
        """This machine."""
        return cls(socket.gethostname())


def timestamp(at: dt.datetime) -> str:
    """``@timestamp``: UTC, milliseconds, ``Z``."""
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def base(
    host: Host,
    at: dt.datetime,
    action: str,
    *,
    kind: str = "event",
    category: Sequence[str] = ("malware",),
    types: Sequence[str] = ("info",),
    outcome: str | None = None,
    message: str = "",
) -> Event:
    """The fields every event has."""
    event: dict[str, Any] = {
        "kind": kind,
        "category": list(category),
        "type": list(types),
        "action": action,
        "module": "scanner",
        "dataset": "scanner.events",
    }
    if outcome is not None:
        event["outcome"] = outcome
    return {
        "@timestamp": timestamp(at),
        "ecs": {"version": ECS_VERSION},
        "event": event,
        "host": {"hostname": host.hostname, "name": host.hostname},
        "agent": {"type": "scanner", "name": "scanner", "version": __version__},
        "message": message,
    }


def path_fields(path: str) -> dict[str, Any]:
    """``file.path``, ``file.name`` and ``file.directory``; a name that is not UTF-8 shows its bytes as
    ``\\xNN`` and keeps them exact in ``file.path_b64`` (base64)."""
    text = json_path(path)
    out: dict[str, Any] = {"path": text, "name": os.path.basename(text), "directory": os.path.dirname(text)}
    if text != path:
        out["path_b64"] = encode_path(path)
    return out


def run_fields(scan_id: str | None, command: str) -> dict[str, Any]:
    """``scanner.scan_id`` (``scanner undo SCAN_ID``) and ``scanner.command``."""
    out: dict[str, Any] = {"command": command}
    if scan_id is not None:
        out["scan_id"] = scan_id
    return out


def scan_started(
    host: Host, at: dt.datetime, scan_id: str, command: str, scan_type: str, paths: Sequence[str]
) -> Event:
    """A scan begins."""
    ev = base(host, at, "scan-started", types=("start",), message=f"{command}: {scan_type} scan {scan_id} started")
    ev["scanner"] = {**run_fields(scan_id, command), "scan_type": scan_type, "paths": [json_path(p) for p in paths]}
    return ev


def result_name(code: int) -> str:
    """The name of an exit code as metrics and events show it: clean, found, error, action_failed."""
    try:
        return ExitCode(code).name.lower()
    except ValueError:
        return "unknown"


def scan_ended(host: Host, at: dt.datetime, report: ScanReport, command: str, *, dry_run: bool = False) -> Event:
    """A scan ends: its counts, duration, signature version and exit code."""
    c = report.counts
    ok = report.exit_code in (ExitCode.CLEAN, ExitCode.FOUND)
    ev = base(
        host,
        at,
        "scan-ended",
        types=("end",),
        outcome="success" if ok else "failure",
        message=f"{command}: scan {report.scan_id} ended: {c.detections} detection(s), {c.files_scanned} files, "
        f"exit code {int(report.exit_code)} ({result_name(report.exit_code)})",
    )
    ev["event"].update(start=report.started_at, end=report.finished_at, duration=int(report.duration_s * 1_000_000_000))
    ev["scanner"] = {
        **run_fields(report.scan_id, command),
        "scan_type": report.scan_type.value,
        "action": report.action.value,
        "dry_run": dry_run,
        "exit_code": int(report.exit_code),
        "result": result_name(report.exit_code),
        "counts": {
            "files_scanned": c.files_scanned,
            "bytes_scanned": c.bytes_scanned,
            "processes_scanned": c.processes_scanned,
            "detections": c.detections,
            "skipped": c.skipped,
            "not_scanned": c.not_scanned,
        },
        "signatures": {"version": report.signatures.version, "age_days": report.signatures.age_days},
        "warnings": list(report.warnings),
    }
    return ev


def scan_failed(host: Host, at: dt.datetime, scan_id: str | None, command: str, error: str) -> Event:
    """A scan could not run or finish (rules that do not load, nothing could be scanned): exit code 2."""
    ev = base(
        host,
        at,
        "scan-ended",
        types=("end",),
        outcome="failure",
        message=f"{command}: scan failed: {error}",
    )
    ev["event"]["reason"] = error
    code = int(ExitCode.ERROR)
    ev["scanner"] = {**run_fields(scan_id, command), "exit_code": code, "result": result_name(code)}
    return ev


def detection(host: Host, at: dt.datetime, d: Detection, scan_id: str | None, command: str) -> Event:
    """A rule matched a file or a process: what, which family and rule, how severe, and what was done."""
    hit = d.hit
    where = d.path if d.path is not None else f"pid {d.process.pid}" if d.process else "?"
    ev = base(
        host,
        at,
        "malware-detected",
        kind="alert",
        category=("malware", "file" if d.path is not None else "process"),
        message=f"{hit.family} ({hit.rule}, {hit.severity.value}) in {json_path(where)}: {d.action}",
    )
    ev["event"]["severity"] = SEVERITY_SCORE[hit.severity]
    if d.path is not None:
        file: dict[str, Any] = path_fields(d.path)
        if d.size is not None:
            file["size"] = d.size
        if d.sha256:
            file["hash"] = {"sha256": d.sha256}
        ev["file"] = file
    if d.process is not None:
        ev["process"] = process_fields(d)
    ev["threat"] = {"software": {"name": hit.family, "type": "Malware"}}
    rule: dict[str, Any] = {"name": hit.rule, "ruleset": hit.namespace}
    for key, value in (("description", hit.description), ("reference", hit.reference), ("license", hit.license)):
        if value:
            rule[key] = value
    if hit.author:
        rule["author"] = [hit.author]
    ev["rule"] = rule
    ev["scanner"] = {
        **run_fields(scan_id, command),
        "severity": hit.severity.value,
        "family_source": hit.family_source.value,
        "tags": list(hit.tags),
        "action": d.action,
    }
    return ev


def process_fields(d: Detection) -> dict[str, Any]:
    """``process.*`` of a detection in a running process."""
    p = d.process
    assert p is not None
    out: dict[str, Any] = {"pid": p.pid, "name": p.name, "args": list(p.cmdline)}
    if p.exe:
        out["executable"] = json_path(p.exe)
    if p.cmdline:
        out["command_line"] = " ".join(p.cmdline)
    if p.user:
        out["user"] = {"name": p.user}
    return out


def action(host: Host, at: dt.datetime, o: OutcomeRecord, scan_id: str | None, command: str) -> Event:
    """A remediation step: done, failed or refused, and why (``event.reason``)."""
    name, category, kind = STEP_ACTIONS.get(o.step, ("remediation-step", "malware", "info"))
    ev = base(
        host,
        at,
        name,
        category=("malware", category) if category != "malware" else ("malware",),
        types=(kind,),
        outcome="success" if o.ok else "failure",
        message=f"{o.step} {json_path(o.target)}: {o.message}",
    )
    if not o.ok:
        ev["event"]["reason"] = o.message
    if o.path is not None:
        ev["file"] = path_fields(o.path)
    if o.pid is not None:
        ev["process"] = {"pid": o.pid}
    if o.families:
        ev["threat"] = {"software": {"name": o.families[0], "type": "Malware"}}
    if o.rules:
        ev["rule"] = {"name": o.rules[0]}
    ev["scanner"] = {
        **run_fields(scan_id, command),
        "step": o.step,
        "target": o.target,
        "families": list(o.families),
        "rules": list(o.rules),
        "vault_id": o.vault_id,
    }
    return ev


def update(
    host: Host,
    at: dt.datetime,
    status: str,
    *,
    active: str,
    previous: str | None = None,
    offered: str | None = None,
    mirror: str = "",
    refused: str | None = None,
) -> Event:
    """A signature update: installed (from, to), found nothing newer, held back, or refused (the check that
    refused it in ``event.reason``)."""
    if refused is not None:
        ev = base(
            host,
            at,
            "signatures-update-refused",
            category=("configuration",),
            types=("denied",),
            outcome="failure",
            message=f"signature update refused; {active} stays active: {refused}",
        )
        ev["event"]["reason"] = refused
    else:
        changed = status == "updated"
        ev = base(
            host,
            at,
            "signatures-updated" if changed else "signatures-update-checked",
            category=("configuration",),
            types=("change",) if changed else ("info",),
            outcome="success",
            message=f"signatures updated {previous} -> {active}"
            if changed
            else f"signature update: {status}; {active} active, the feed offers {offered}",
        )
    ev["scanner"] = {
        "command": "update",
        "update": {"status": status, "from": previous, "to": active, "offered": offered},
    }
    if mirror:
        ev["url"] = {"full": mirror}
    return ev


def rollback(host: Host, at: dt.datetime, from_version: str, to_version: str) -> Event:
    """The signature set was rolled back."""
    ev = base(
        host,
        at,
        "signatures-rolled-back",
        category=("configuration",),
        types=("change",),
        outcome="success",
        message=f"signatures rolled back from {from_version} to {to_version}",
    )
    ev["scanner"] = {"command": "rollback", "update": {"status": "rolled-back", "from": from_version, "to": to_version}}
    return ev


WATCH_ACTIONS: Mapping[str, tuple[str, str | None]] = {
    "started": ("watch-started", "start"),
    "stopped": ("watch-stopped", "end"),
    "overflow": ("watch-overflow", "info"),
    "error": ("watch-error", "error"),
}
"""``event.action`` and ``event.type`` of the watch events that are sent (``watch.events.WatchEventKind`` values)."""


def watch(host: Host, at: dt.datetime, kind: str, message: str, *, details: Mapping[str, Any] | None = None) -> Event:
    """A watch starts, stops, loses events (overflow: a rescan follows) or fails; ``details`` go under
    ``scanner.watch`` (paths, cause, counts)."""
    name, etype = WATCH_ACTIONS[kind]
    ev = base(
        host,
        at,
        name,
        category=("malware", "host"),
        types=("info",) if etype == "error" else (etype or "info",),
        outcome="failure" if kind == "error" else None,
        message=message,
    )
    ev["scanner"] = {"command": "watch", "watch": dict(details or {})}
    return ev


def syslog_severity(ev: Mapping[str, Any]) -> int:
    """The RFC 5424 severity of an event: detections by their severity, failures err, the rest info."""
    e = ev.get("event", {})
    score = e.get("severity")
    if isinstance(score, int):
        return 2 if score >= 90 else 3 if score >= 70 else 4 if score >= 40 else 5
    if e.get("outcome") == "failure":
        return 3
    return 6


def bounded(value: Any, limit: int) -> Any:
    """``value`` with every string cut to ``limit`` characters and every list to ``MAX_LIST`` items."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[: max(0, limit - len(TRUNCATED))] + TRUNCATED
    if isinstance(value, Mapping):
        return {k: bounded(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [bounded(v, limit) for v in value[:MAX_LIST]]
        return [*items, TRUNCATED] if len(value) > MAX_LIST else items
    return value


def encode(ev: Mapping[str, Any], max_bytes: int = MAX_EVENT_BYTES) -> bytes:
    """The event as one line of compact, ASCII-only JSON (every control character and non-ASCII character
    JSON-escaped), at most ``max_bytes`` long: strings are cut shorter and shorter until it fits; the last resort
    keeps only the fields that identify the event."""
    for limit in (MAX_STRING, 512, 128, 32):
        data = json.dumps(bounded(ev, limit), ensure_ascii=True, separators=(",", ":")).encode("ascii")
        if len(data) <= max_bytes:
            if limit != MAX_STRING:
                logger.debug("event %s cut to strings of %d characters to fit", ev.get("event"), limit)
            return data
    essential = {k: ev[k] for k in ("@timestamp", "ecs", "event", "host", "agent") if k in ev}
    essential["message"] = TRUNCATED
    return json.dumps(bounded(essential, 32), ensure_ascii=True, separators=(",", ":")).encode("ascii")
