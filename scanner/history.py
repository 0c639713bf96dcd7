"""The scan history: one typed, versioned record per scan, with what its remediation changed, for undo.

Records live in ``StateDir.history`` as ``<scan_id>.json``, written atomically (temp file,
fsync, rename), so a crash leaves the previous version or the new one, never half of one.

A remediating run writes its record before it acts (``state`` "in progress") and again when it
is done ("complete"), so a run killed in the middle still has a record to undo; what it moved
meanwhile is found in the vault by scan id. Paths are kept as ``report.path_fields`` writes them
(the text, plus ``<key>_b64`` with the exact bytes of a name that is not valid UTF-8), so a
record is valid UTF-8 JSON whatever the file names, and undo gets the exact path back.

``HistoryRecord`` and ``OutcomeRecord`` are the record types; ``from_json`` checks every field, so a
damaged record is a ``StateError``, never a ``KeyError`` or ``TypeError``. Records are written as
``scanner.history/2``; ``scanner.history/1`` records (written before the types, some without
``state`` or the ``*_b64`` fields) still load: see docs/decisions/0009-history-records.md.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from scanner.errors import StateError, UsageError
from scanner.model import ScanCounts, ScanReport, display_path
from scanner.report import path_fields, path_from_fields
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

SCHEMA = "scanner.history/2"
"""The schema written: every field present, ``state`` always set."""
SCHEMA_V1 = "scanner.history/1"
"""The schema before the typed records: fields added over time may be missing (read with defaults)."""
IN_PROGRESS = "in progress"
"""``state`` of a record written before the run acted: the run is still going, or was interrupted."""
COMPLETE = "complete"
"""``state`` of a record written after every action of the run (v1 records without ``state`` are too)."""
STATES = (IN_PROGRESS, COMPLETE)

T = TypeVar("T")
_REQUIRED: Any = object()


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


def _get(
    data: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...], where: str, default: Any = _REQUIRED
) -> T:
    """``data[key]`` if it has type ``kind``; ``default`` when missing (if given); else StateError."""
    if key not in data:
        if default is _REQUIRED:
            raise StateError(f"{where}: field {key!r} is missing")
        return default  # type: ignore[no-any-return]
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # JSON true is no number
        raise StateError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value  # type: ignore[return-value]


def _strings(data: Mapping[str, Any], key: str, where: str, default: Any = _REQUIRED) -> tuple[str, ...]:
    values = _get(data, key, list, where, default)
    if not all(isinstance(v, str) for v in values):
        raise StateError(f"{where}: field {key!r} must be a list of strings")
    return tuple(values)


def _path(data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    """The exact path of ``key`` (``report.path_from_fields``), checked: None only when ``optional``."""
    text = _get(data, key, (str, type(None)) if optional else str, where, None if optional else _REQUIRED)
    _get(data, f"{key}_b64", (str, type(None)), where, None)
    if text is None:
        return None
    try:
        return path_from_fields(data, key)
    except (binascii.Error, ValueError) as exc:
        raise StateError(f"{where}: field {key}_b64 is not base64: {exc}") from exc


def _mapping(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise StateError(f"{where}: not a JSON object")
    return data


@dataclass(frozen=True)
class LinkRecord:
    """A symbolic link that a persistence clean-up removed (undo re-creates it)."""

    path: str
    """The link's own path (exact, as an os str)."""
    target: str
    """What it pointed at (exact)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form: each path as ``report.path_fields`` writes it."""
        return {**path_fields(self.path), **path_fields(self.target, "target")}

    @classmethod
    def from_json(cls, data: object, where: str = "removed link") -> LinkRecord:
        """The link of ``data``; StateError when it is damaged."""
        m = _mapping(data, where)
        return cls(_path(m, "path", where) or "", _path(m, "target", where) or "")


@dataclass(frozen=True)
class OutcomeRecord:
    """What one remediation step did, as the history keeps it (enough to undo it)."""

    step: str
    """The kind of step: ``remediate.Step`` value (clean persistence, kill, quarantine, remove, manual)."""
    target: str
    """What was acted on, as printable text (a path or ``pid N``)."""
    ok: bool
    """Done as asked."""
    path: str | None = None
    """The file acted on, exact (quarantine, remove)."""
    pid: int | None = None
    """The process terminated (kill)."""
    families: tuple[str, ...] = ()
    """The families the step is about."""
    rules: tuple[str, ...] = ()
    """The rules that matched."""
    description: str = ""
    """One line saying what the step was (as ``--dry-run`` shows it)."""
    message: str = ""
    """What happened: killed, quarantined as ID, removed, failed: ..., manual step needed: ..."""
    vault_id: str | None = None
    """The vault item of a quarantined or removed file."""
    backup_ids: tuple[str, ...] = ()
    """Vault backups of persistence files taken before they were edited."""
    removed_links: tuple[LinkRecord, ...] = ()
    """Unit links removed (undo re-creates them)."""
    other_links: int = 0
    """For a quarantined or removed file: how many other names (hard links) still held its content."""

    @property
    def changed(self) -> bool:
        """Whether this step may have changed something that undo can look at."""
        return self.ok or bool(self.vault_id) or bool(self.backup_ids)

    def to_json(self) -> dict[str, Any]:
        """JSON form (field names as in every history record since v1; also the report's form)."""
        return {
            "step": self.step,
            "target": self.target,
            **path_fields(self.path),
            "pid": self.pid,
            "families": list(self.families),
            "rules": list(self.rules),
            "description": self.description,
            "ok": self.ok,
            "message": self.message,
            "vault_id": self.vault_id,
            "backup_ids": list(self.backup_ids),
            "removed_links": [link.to_json() for link in self.removed_links],
            "other_links": self.other_links,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "outcome") -> OutcomeRecord:
        """The outcome of ``data``; StateError when a field is missing or has the wrong type.

        ``step``, ``target`` and ``ok`` are required; the rest were added over time and default.
        """
        m = _mapping(data, where)
        links = _get(m, "removed_links", list, where, [])
        return cls(
            step=_get(m, "step", str, where),
            target=_get(m, "target", str, where),
            ok=_get(m, "ok", bool, where),
            path=_path(m, "path", where, optional=True),
            pid=_get(m, "pid", (int, type(None)), where, None),
            families=_strings(m, "families", where, []),
            rules=_strings(m, "rules", where, []),
            description=_get(m, "description", str, where, ""),
            message=_get(m, "message", str, where, ""),
            vault_id=_get(m, "vault_id", (str, type(None)), where, None),
            backup_ids=_strings(m, "backup_ids", where, []),
            removed_links=tuple(LinkRecord.from_json(x, f"{where}: removed link") for x in links),
            other_links=_get(m, "other_links", int, where, 0),
        )


@dataclass(frozen=True)
class UndoRecord:
    """What ``scanner undo`` did to a scan."""

    restored: tuple[str, ...] = ()
    """Lines: what was put back."""
    problems: tuple[str, ...] = ()
    """Lines: what could not be put back, and why."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"restored": list(self.restored), "problems": list(self.problems)}

    @classmethod
    def from_json(cls, data: object, where: str = "undo") -> UndoRecord:
        """The undo of ``data``; StateError when it is damaged."""
        m = _mapping(data, where)
        return cls(_strings(m, "restored", where, []), _strings(m, "problems", where, []))


@dataclass(frozen=True)
class HistoryRecord:
    """One scan in the history: what ran, what it found, what it changed (for undo)."""

    scan_id: str
    """The scan's id (sortable by time); the record's file name."""
    command: str
    """The command that ran: scan, monthly, watch; ``unknown`` for a record rebuilt from the vault."""
    started_at: str | None = None
    """ISO 8601 UTC time the scan started (None in a record rebuilt from the vault)."""
    finished_at: str | None = None
    """ISO 8601 UTC time the scan finished."""
    scan_type: str | None = None
    """custom, quick or full."""
    action: str | None = None
    """report, quarantine or remove."""
    dry_run: bool = False
    """Whether the run only planned."""
    sysroot: str = "/"
    """The filesystem root the paths are under (exact)."""
    signatures: str | None = None
    """Version of the signature set used."""
    counts: ScanCounts = field(default_factory=ScanCounts)
    """Totals of the scan."""
    families: tuple[str, ...] = ()
    """The families found, sorted."""
    exit_code: int | None = None
    """The run's exit code (``model.ExitCode``)."""
    outcomes: tuple[OutcomeRecord, ...] = ()
    """Every remediation step and what it did, in the order applied."""
    undone_at: str | None = None
    """ISO 8601 UTC time ``scanner undo`` reversed it, if it did."""
    state: str = COMPLETE
    """``IN_PROGRESS`` (written before acting, and the run never finished) or ``COMPLETE``."""
    undo: UndoRecord | None = None
    """What undo did, once it ran."""

    @property
    def incomplete(self) -> bool:
        """Whether the record was written before its run acted and never completed (still running or killed)."""
        return self.state == IN_PROGRESS

    def to_json(self) -> dict[str, Any]:
        """JSON form, ``scanner.history/2`` (the field names of v1, all of them present)."""
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "scan_id": self.scan_id,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "scan_type": self.scan_type,
            "action": self.action,
            "dry_run": self.dry_run,
            **path_fields(self.sysroot, "sysroot"),
            "signatures": self.signatures,
            "counts": asdict(self.counts),
            "families": list(self.families),
            "exit_code": None if self.exit_code is None else int(self.exit_code),
            "outcomes": [o.to_json() for o in self.outcomes],
            "undone_at": self.undone_at,
            "state": self.state,
        }
        if self.undo is not None:
            out["undo"] = self.undo.to_json()
        return out

    @classmethod
    def from_json(cls, data: object, where: str = "history record") -> HistoryRecord:
        """The record of ``data`` (v1 or v2); StateError when it is damaged or of another schema."""
        m = _mapping(data, where)
        schema = m.get("schema", SCHEMA_V1)
        if schema not in (SCHEMA_V1, SCHEMA):
            raise StateError(f"{where}: unknown schema {schema!r} (written by a newer scanner?)")
        optional = None if schema == SCHEMA_V1 else _REQUIRED
        text = (str, type(None))
        state = _get(m, "state", str, where, COMPLETE if schema == SCHEMA_V1 else _REQUIRED)
        if state not in STATES:
            raise StateError(f"{where}: unknown state {state!r}")
        undo = m.get("undo")
        return cls(
            scan_id=_get(m, "scan_id", str, where),
            command=_get(m, "command", str, where, "scan" if optional is None else _REQUIRED),
            started_at=_get(m, "started_at", text, where, optional),
            finished_at=_get(m, "finished_at", text, where, optional),
            scan_type=_get(m, "scan_type", text, where, optional),
            action=_get(m, "action", text, where, optional),
            dry_run=_get(m, "dry_run", bool, where, False if optional is None else _REQUIRED),
            sysroot=_path(m, "sysroot", where, optional=optional is None) or "/",
            signatures=_get(m, "signatures", text, where, optional),
            counts=_counts(_get(m, "counts", dict, where, {} if optional is None else _REQUIRED), where),
            families=_strings(m, "families", where, [] if optional is None else _REQUIRED),
            exit_code=_get(m, "exit_code", (int, type(None)), where, optional),
            outcomes=tuple(
                OutcomeRecord.from_json(o, f"{where}: outcome {i}")
                for i, o in enumerate(_get(m, "outcomes", list, where, [] if optional is None else _REQUIRED))
            ),
            undone_at=_get(m, "undone_at", text, where, optional),
            state=state,
            undo=None if undo is None else UndoRecord.from_json(undo, f"{where}: undo"),
        )


def _counts(data: Mapping[str, Any], where: str) -> ScanCounts:
    known = {f.name for f in fields(ScanCounts)}
    values: dict[str, int] = {}
    for key, value in data.items():
        if key not in known:
            logger.debug("%s: count %r is not known here; ignored", where, key)
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise StateError(f"{where}: count {key!r} is not a number")
        values[key] = value
    return ScanCounts(**values)


class History:
    """Read and write scan records."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, scan_id: str) -> Path:
        if not scan_id or "/" in scan_id or scan_id.startswith("."):
            raise UsageError(f"not a scan id: {scan_id!r}")
        return self.root / f"{scan_id}.json"

    def save(self, record: HistoryRecord) -> None:
        """Write (or replace) the record of ``record.scan_id``."""
        target = self._path(record.scan_id)
        data = json.dumps(_printable(record.to_json()), indent=1, ensure_ascii=False).encode("utf-8")
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(target, data)
        except OSError as exc:
            raise StateError(f"cannot write history record {target}: {exc.strerror}") from exc

    def load(self, scan_id: str) -> HistoryRecord:
        """The record of ``scan_id``; UsageError if there is none, StateError if it is damaged."""
        path = self._path(scan_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UsageError(f"no scan with id {scan_id} in the history (see 'scanner history')") from exc
        except (OSError, ValueError) as exc:
            raise StateError(f"history record {path} cannot be read: {exc}") from exc
        try:
            return HistoryRecord.from_json(data, f"history record {path}")
        except StateError as exc:
            raise StateError(f"{exc}: the record is damaged") from exc

    def all(self) -> list[HistoryRecord]:
        """Every readable record, oldest first (scan ids sort by time to the second; scans of the same second
        by when their record was written); damaged ones are passed over."""
        out: list[HistoryRecord] = []
        if not self.root.is_dir():
            return out
        for p in sorted(self.root.glob("*.json"), key=_time_order):
            with contextlib.suppress(OSError, ValueError, StateError):
                out.append(HistoryRecord.from_json(json.loads(p.read_text(encoding="utf-8")), f"history record {p}"))
                continue
            logger.info("history record %s cannot be read or is damaged; not listed", p)
        return out

    def last(self, command: str | None = None) -> HistoryRecord | None:
        """The newest record (of ``command``, e.g. ``monthly``), if any."""
        records = [r for r in self.all() if command is None or r.command == command]
        return records[-1] if records else None


def _time_order(path: Path) -> tuple[str, int, str]:
    """A record's place in time: its scan id's second (the id's part before the random suffix), then when
    the record was last written (two scans can start within one second), then its name."""
    try:
        written = path.lstat().st_mtime_ns
    except OSError:
        written = 0
    return path.name.partition("-")[0], written, path.name


def history_record(
    report: ScanReport,
    command: str,
    outcomes: Sequence[OutcomeRecord],
    dry_run: bool,
    sysroot: Path,
    state: str = COMPLETE,
) -> HistoryRecord:
    """The history entry of a scan: what ran, what it found, and (``outcomes``, as
    ``remediate.outcome_record`` gives them) what it changed, for undo.

    ``state`` is ``IN_PROGRESS`` for the record written before any action, ``COMPLETE`` after.
    """
    return HistoryRecord(
        scan_id=report.scan_id,
        command=command,
        started_at=report.started_at,
        finished_at=report.finished_at,
        scan_type=report.scan_type.value,
        action=report.action.value,
        dry_run=dry_run,
        sysroot=os.fspath(sysroot),
        signatures=report.signatures.version,
        counts=report.counts,
        families=tuple(sorted({d.hit.family for d in report.detections})),
        exit_code=int(report.exit_code),
        outcomes=tuple(outcomes),
        undone_at=None,
        state=state,
    )


def undone(record: HistoryRecord, at: str, restored: Sequence[str], problems: Sequence[str]) -> HistoryRecord:
    """``record`` marked as undone at ``at``, with what undo put back and what it could not."""
    return replace(record, undone_at=at, undo=UndoRecord(tuple(restored), tuple(problems)))
