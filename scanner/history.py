"""The scan history: one JSON record per scan, with what its remediation changed, for undo.

Records live in ``StateDir.history`` as ``<scan_id>.json``, written atomically (temp file,
fsync, rename), so a crash leaves the previous version or the new one, never half of one.

A remediating run writes its record before it acts (``state`` "in progress") and again when it
is done ("complete"), so a run killed in the middle still has a record to undo; what it moved
meanwhile is found in the vault by scan id. Paths are kept as ``report.path_fields`` writes them
(the text, plus ``<key>_b64`` with the exact bytes of a name that is not valid UTF-8), so a
record is valid UTF-8 JSON whatever the file names, and undo gets the exact path back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scanner.errors import StateError, UsageError
from scanner.model import ScanReport, display_path
from scanner.report import path_fields
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

SCHEMA = "scanner.history/1"
IN_PROGRESS = "in progress"
"""``state`` of a record written before the run acted: the run is still going, or was interrupted."""
COMPLETE = "complete"
"""``state`` of a record written after every action of the run (records without ``state`` are too)."""


def _printable(value: Any) -> Any:
    """``value`` with every string made valid UTF-8 (lone surrogates as ``\\xNN``); exact paths are
    kept beside their text in ``*_b64`` fields, so this only touches free text such as messages."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            logger.debug("history: a text field held bytes that are not UTF-8; written as \\xNN")
            return display_path(value)
        return value
    if isinstance(value, Mapping):
        return {str(_printable(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def incomplete(record: Mapping[str, Any]) -> bool:
    """Whether ``record`` was written before its run acted and never completed (still running or killed)."""
    return record.get("state") == IN_PROGRESS


class History:
    """Read and write scan records."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, scan_id: str) -> Path:
        if not scan_id or "/" in scan_id or scan_id.startswith("."):
            raise UsageError(f"not a scan id: {scan_id!r}")
        return self.root / f"{scan_id}.json"

    def save(self, record: Mapping[str, Any]) -> None:
        """Write (or replace) the record of ``record['scan_id']``."""
        target = self._path(str(record["scan_id"]))
        data = json.dumps(_printable({"schema": SCHEMA, **record}), indent=1, ensure_ascii=False).encode("utf-8")
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(target, data)
        except OSError as exc:
            raise StateError(f"cannot write history record {target}: {exc.strerror}") from exc

    def load(self, scan_id: str) -> dict[str, Any]:
        """The record of ``scan_id``; UsageError if there is none."""
        path = self._path(scan_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UsageError(f"no scan with id {scan_id} in the history (see 'scanner history')") from exc
        except (OSError, ValueError) as exc:
            raise StateError(f"history record {path} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise StateError(f"history record {path} is damaged")
        return data

    def all(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first (scan ids sort by time)."""
        out: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return out
        for p in sorted(self.root.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(p.read_text(encoding="utf-8"))
                if isinstance(data, dict) and "scan_id" in data:
                    out.append(data)
        return out

    def last(self, command: str | None = None) -> dict[str, Any] | None:
        """The newest record (of ``command``, e.g. ``monthly``), if any."""
        records = [r for r in self.all() if command is None or r.get("command") == command]
        return records[-1] if records else None


def history_record(report: ScanReport, command: str, outcomes: Sequence[Mapping[str, Any]], dry_run: bool,
                   sysroot: Path, state: str = COMPLETE) -> dict[str, Any]:
    """The history entry of a scan: what ran, what it found, and (``outcomes``, as
    ``remediate.outcome_json`` gives them) what it changed, for undo.

    ``state`` is ``IN_PROGRESS`` for the record written before any action, ``COMPLETE`` after.
    """
    return {
        "scan_id": report.scan_id,
        "command": command,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "scan_type": report.scan_type.value,
        "action": report.action.value,
        "dry_run": dry_run,
        **path_fields(os.fspath(sysroot), "sysroot"),
        "signatures": report.signatures.version,
        "counts": asdict(report.counts),
        "families": sorted({d.hit.family for d in report.detections}),
        "exit_code": report.exit_code,
        "outcomes": list(outcomes),
        "undone_at": None,
        "state": state,
    }
