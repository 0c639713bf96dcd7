"""The plain-text scan log in the state directory, in the spirit of MSRT's mrt.log.

Every scan appends one block: start, signature version, scan type, results, finish, exit code.
Every line goes through ``model.printable``, so a file name can neither forge a line nor send
control characters to whoever reads the log. Blocks are written with one ``write`` on an
``O_APPEND`` descriptor, so concurrent scans never interleave inside a block. The log is rotated
to ``.1`` when it passes 10 MiB.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from scanner.model import ScanReport, display_path, printable

logger = logging.getLogger(__name__)

MAX_LOG_BYTES = 10 * 1024 * 1024


def format_block(report: ScanReport, command: str = "scan") -> str:
    """The log block of one scan."""
    sig = report.signatures
    lines = [
        "-" * 72,
        f"{report.started_at} {command} {report.scan_id} started: {report.scan_type.value} scan, "
        f"signatures {sig.version} ({sig.source}, {sig.rule_count} rules), action {report.action.value}",
    ]
    lines += [f"  root: {display_path(r)}" for r in report.roots[:50]]
    if len(report.roots) > 50:
        lines.append(f"  ... and {len(report.roots) - 50} more roots")
    for d in report.detections:
        where = display_path(d.shown_path) if d.shown_path else "?"
        if d.process is not None:
            where = f"pid {d.process.pid} {where}"
        by = f"; {attribution}" if (attribution := d.hit.attribution()) else ""
        lines.append(
            f"  detected: {d.hit.family} ({d.hit.namespace}:{d.hit.rule}) in {where} -> {d.action}"
            f"; severity {d.hit.severity.value}{by}"
        )
    lines += _persistence_lines(report)
    lines += [f"  warning: {w}" for w in report.warnings]
    c = report.counts
    lines.append(
        f"{report.finished_at} {command} {report.scan_id} finished: files {c.files_scanned}, "
        f"bytes {c.bytes_scanned}, processes {c.processes_scanned}, detections {c.detections}, "
        f"skipped {c.skipped}, exit code {report.exit_code}"
    )
    # names, rule meta and warnings are outside text: one log line each, never a control character
    return "\n".join(printable(line) for line in lines) + "\n"


def _persistence_lines(report: ScanReport) -> list[str]:
    """One line per persistence edit the remediation made or tried: what, how it went, the backup to undo it."""
    section = report.extra.get("remediation")
    if not isinstance(section, Mapping) or section.get("dry_run"):
        return []
    out = []
    for o in section.get("outcomes", []):
        if not isinstance(o, Mapping) or o.get("step") != "clean persistence":
            continue
        backups = ", ".join(map(str, o.get("backup_ids", []))) or "none"
        links = [display_path(str(x.get("path", "?"))) for x in o.get("removed_links", []) if isinstance(x, Mapping)]
        removed = f"; links removed: {', '.join(links)}" if links else ""
        out.append(
            f"  persistence: {display_path(str(o.get('description', '?')))}: "
            f"{'done' if o.get('ok') else 'FAILED'}: {display_path(str(o.get('message', '')))}; "
            f"backup {backups}{removed}"
        )
    return out


def append(log_path: Path, text: str) -> None:
    """Append ``text`` to the log (creating it 0600), rotating a log that grew too large."""
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if log_path.stat().st_size > MAX_LOG_BYTES:
            logger.info("scan log %s passed %d bytes: rotated to %s.1", log_path, MAX_LOG_BYTES, log_path.name)
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    except FileNotFoundError:
        pass
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode("utf-8", "backslashreplace"))
    finally:
        os.close(fd)
