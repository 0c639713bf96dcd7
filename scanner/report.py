"""Rendering results: the versioned JSON report (canonical), the readable text report, and clamscan's
format for scripts written for it.

Paths in JSON: ``path`` is the name as text; when the name is not valid UTF-8, each byte that
is not is written as ``\\xNN`` in ``path`` and the exact bytes are given, base64-encoded, in
``path_b64``. ``path_b64`` is present only for such names, so its absence means ``path`` is exact.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from scanner import __version__
from scanner.model import (
    Detection,
    ExitCode,
    ProcessInfo,
    RuleHit,
    ScanReport,
    SignatureSetInfo,
    Skipped,
    SkipReason,
    decode_path,
    display_path,
    encode_path,
    json_path,
    printable,
)

SCHEMA = "scanner.report/1"
TEXT_SKIPPED_LIMIT = 20
"""The text report lists at most this many skipped items (the JSON report lists all)."""


def path_fields(path: str | None, key: str = "path") -> dict[str, str | None]:
    """``{key: text}`` plus ``{key}_b64`` with the exact bytes when ``path`` is not valid UTF-8."""
    if path is None:
        return {key: None}
    out: dict[str, str | None] = {key: json_path(path)}
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        out[f"{key}_b64"] = encode_path(path)
    return out


def path_from_fields(fields: Mapping[str, Any], key: str = "path") -> str:
    """Inverse of ``path_fields``: the exact path (as an os str) from a JSON object."""
    b64 = fields.get(f"{key}_b64")
    if b64:
        return decode_path(b64)
    return str(fields[key])


def process_json(info: ProcessInfo) -> dict[str, Any]:
    """JSON form of a process."""
    d = asdict(info)
    d["cmdline"] = list(info.cmdline)
    return d


def detection_json(d: Detection) -> dict[str, Any]:
    """JSON form of one detection."""
    out: dict[str, Any] = {"kind": d.kind.value, **path_fields(d.shown_path)}
    if d.member is not None:  # "path" names the member (archive.zip!dir/x.php); actions take the archive
        out.update(path_fields(d.path, "archive"), member=json_path(d.member))
    out.update(
        rule=d.hit.rule,
        namespace=d.hit.namespace,
        family=d.hit.family,
        family_source=d.hit.family_source.value,
        severity=d.hit.severity.value,
        tags=list(d.hit.tags),
        description=d.hit.description,
        author=d.hit.author,
        reference=d.hit.reference,
        license=d.hit.license,
        sha256=d.sha256,
        size=d.size,
        pid=d.process.pid if d.process else None,
        action=d.action,
    )
    if d.process is not None:
        out["process"] = process_json(d.process)
    return out


def skipped_json(s: Skipped) -> dict[str, Any]:
    """JSON form of one skipped item."""
    return {**path_fields(s.path), "reason": s.reason.value, "code": s.reason.name.lower(), "detail": s.detail}


def signatures_json(info: SignatureSetInfo) -> dict[str, Any]:
    """JSON form of a signature set's description."""
    d = asdict(info)
    d["families"] = list(info.families)
    d["skipped_rule_files"] = [
        {"path": json_path(s.path), "line": s.line, "reason": s.reason} for s in info.skipped_rule_files
    ]
    return d


def report_json(report: ScanReport) -> dict[str, Any]:
    """The versioned JSON report (schema ``scanner.report/1``)."""
    return {
        "schema": SCHEMA,
        "scan_id": report.scan_id,
        "scan_type": report.scan_type.value,
        "roots": [json_path(r) for r in report.roots],
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration_s": report.duration_s,
        "signatures": signatures_json(report.signatures),
        "counts": asdict(report.counts),
        "action": report.action.value,
        "detections": [detection_json(d) for d in report.detections],
        "skipped": [skipped_json(s) for s in report.skipped],
        "warnings": list(report.warnings),
        "exit_code": report.exit_code,
        **dict(report.extra),
    }


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw but a terminal acts on (DEL, C1 controls,
separators, bidi controls) or UTF-8 cannot carry (lone surrogates); JSON's own ``\\uNNNN`` keeps the value."""


def json_text(data: object, indent: int | None = None) -> str:
    """``data`` as JSON with every control character escaped, so the exact values are kept and the
    text is still safe on a terminal."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps(data: object) -> str:
    """Stable, readable JSON text (control characters escaped, see ``json_text``)."""
    return json_text(data, indent=2) + "\n"


def human_bytes(n: float) -> str:
    """``n`` bytes as B, KiB, MiB, GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _detection_line(d: Detection) -> str:
    where = display_path(d.shown_path) if d.shown_path else "?"
    if d.process is not None:
        where = f"pid {d.process.pid} ({d.process.name}, {d.process.where}) {where}"
    action = "" if d.action == "reported" else f"  [{d.action}]"
    return f"{where}: {d.hit.family} ({rule_words(d.hit)}){action}"


def rule_words(hit: RuleHit) -> str:
    """The rule, its severity and its attribution, for a one-line message about a match (the Detection Rule
    License asks for the author in every message based on one): ``Rule, high; author X; license Y``."""
    attribution = hit.attribution()
    return f"{hit.rule}, {hit.severity.value}" + (f"; {attribution}" if attribution else "")


BY_DESIGN = {
    SkipReason.SYMLINK_OUT_OF_ROOT: "symlinks out of the scanned roots (not followed)",
    SkipReason.SYMLINK_LOOP: "symlink loops",
    SkipReason.SPECIAL_FILE: "FIFOs, sockets or devices",
    SkipReason.OTHER_FILESYSTEM: "other or pseudo filesystems",
    SkipReason.STATE_DIRECTORY: "the scanner's own state directory",
    SkipReason.VANISHED: "deleted before they could be read",
    SkipReason.PROCESS_EXITED: "processes that exited",
}
"""Things passed over on purpose: the text report counts them; the JSON report lists each."""


def _skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    problems = [s for s in skipped if s.reason not in BY_DESIGN]
    lines = []
    if problems:
        lines.append(f"Not scanned ({len(problems)}):")
        lines.extend(
            f"  {display_path(s.path)}: {s.reason.value}" + (f" ({s.detail})" if s.detail else "")
            for s in problems[:TEXT_SKIPPED_LIMIT]
        )
        if len(problems) > TEXT_SKIPPED_LIMIT:
            lines.append(f"  ... and {len(problems) - TEXT_SKIPPED_LIMIT} more (see --format json)")
    by_design = Counter(s.reason for s in skipped if s.reason in BY_DESIGN)
    if by_design:
        lines.append("Passed over by design: " + ", ".join(f"{BY_DESIGN[r]}: {n}" for r, n in by_design.items()))
    return lines


def _remediation_lines(section: object) -> list[str]:
    if not isinstance(section, Mapping):
        return []
    lines: list[str] = []
    if section.get("dry_run"):
        lines.append("Dry run: nothing was changed. The plan:")
        lines.extend(f"  {p['description']}" for p in section.get("plan", []))
    elif section.get("outcomes"):
        lines.append("Actions:")
        lines.extend(
            f"  {'done  ' if o['ok'] else 'FAILED'}  {o['description']}: {o['message']}" for o in section["outcomes"]
        )
    lines.extend(f"  note: {n}" for n in section.get("notes", []))
    held = section.get("not_acted_on", [])
    if held:
        lines.append("Not acted on (below the action threshold; --action-min-severity):")
        lines.extend(f"  {h['target']}: {h['rule']} ({h['severity']})" for h in held)
    return [*lines, ""] if lines else []


def _files_note(cache: object, links: object) -> str:
    notes = []
    if isinstance(cache, Mapping) and cache.get("hits"):
        found = f", {cache['detections']} of them detections" if cache.get("detections") else ""
        notes.append(f"{cache['hits']} unchanged since the last result{found}: not read again")
    if isinstance(links, Mapping) and links.get("names"):
        notes.append(f"{links['names']} further names (hard links) of files matched under another name")
    return f" ({'; '.join(notes)})" if notes else ""


def render_text(report: ScanReport, *, summary: bool = True, infected_only: bool = False) -> str:
    """The readable report: detections first, then a summary (``summary``); ``infected_only`` (clamscan's
    ``-i``) leaves out the list of what was not scanned."""
    lines: list[str] = []
    if report.detections:
        lines.append(f"FOUND {len(report.detections)} detection(s):")
        lines.extend(f"  {_detection_line(d)}" for d in report.detections)
        lines.append("")
    lines.extend(_remediation_lines(report.extra.get("remediation")))
    if report.skipped and not infected_only:
        lines.extend(_skipped_lines(report.skipped))
        lines.append("")
    for w in report.warnings:
        lines.append(f"WARNING: {w}")
    if summary:
        lines.extend(_summary_lines(report))
    # names, rule meta, OS and remediation messages are outside text: no line may carry a control character
    return "".join(printable(line) + "\n" for line in lines)


def _summary_lines(report: ScanReport) -> list[str]:
    lines: list[str] = []
    c = report.counts
    sig = report.signatures
    age = f", {sig.age_days} days old" if sig.age_days is not None else ""
    rate = human_bytes(c.bytes_scanned / report.duration_s) + "/s" if report.duration_s > 0 else "-"
    lines += [
        "----------- SCAN SUMMARY -----------",
        f"Scan id:          {report.scan_id} ({report.scan_type.value} scan)",
        f"Signatures:       {sig.version} ({sig.source}, {sig.rule_count} rules{age}"
        + (f", {len(sig.skipped_rule_files)} rule files skipped" if sig.skipped_rule_files else "")
        + ")",
        f"Files scanned:    {c.files_scanned}"
        + _files_note(report.extra.get("file_cache"), report.extra.get("hard_links")),
        f"Data scanned:     {human_bytes(c.bytes_scanned)}",
    ]
    if isinstance(inside := report.extra.get("archives"), Mapping):
        lines.append(
            f"Archives:         {inside['archives']} looked into: {inside['members']} member(s), "
            f"{human_bytes(inside['bytes'])} extracted"
        )
    if c.processes_scanned:
        lines.append(f"Processes:        {c.processes_scanned}")
    lines += [
        f"Detections:       {c.detections}",
        f"Skipped:          {c.skipped}",
        f"Time:             {report.duration_s:.2f} s ({rate})",
        f"Result:           {result_words(report)}",
    ]
    return lines


def clamscan_name(hit: RuleHit) -> str:
    """A detection's name as clamscan prints it: ``Family.Rule``, without blanks (parsers split on them)."""
    return "_".join(f"{hit.family}.{hit.rule}".split())


def clamscan_target(d: Detection) -> str:
    """Where a detection is, for a clamscan line: the path, or ``pid N (name)`` for process memory."""
    if d.process is not None and (d.process.where != "image" or not d.path):
        return f"pid {d.process.pid} ({d.process.name})"
    return display_path(d.path) if d.path else "?"


def render_clamscan(report: ScanReport, *, summary: bool = True) -> str:
    """The report as clamscan prints it: ``PATH: NAME FOUND`` per detection, then its summary block."""
    lines = [f"{clamscan_target(d)}: {clamscan_name(d.hit)} FOUND" for d in report.detections]
    lines.extend(f"WARNING: {w}" for w in report.warnings)
    if summary:
        c = report.counts
        infected = len({(d.path, d.process.pid if d.process else None) for d in report.detections})
        secs = report.duration_s
        lines += [
            "",
            "----------- SCAN SUMMARY -----------",
            f"Known viruses: {report.signatures.rule_count}",
            f"Engine version: scanner {__version__}",
            f"Scanned files: {c.files_scanned}",
            f"Infected files: {infected}",
            f"Data scanned: {c.bytes_scanned / 1e6:.2f} MB",
            f"Time: {secs:.3f} sec ({int(secs) // 60} m {int(secs) % 60} s)",
            f"Start Date: {_clam_date(report.started_at)}",
            f"End Date:   {_clam_date(report.finished_at)}",
        ]
    return "".join(printable(line) + "\n" for line in lines)


def _clam_date(iso: str) -> str:
    """An ISO 8601 time as clamscan shows dates (``2026:12:07 06:00:01``), local time."""
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y:%m:%d %H:%M:%S")
    except ValueError:
        return iso


RESULT_WORDS = {
    ExitCode.CLEAN: "clean",
    ExitCode.FOUND: "threats found",
    ExitCode.ERROR: "error",
    ExitCode.ACTION_FAILED: "threats found; an action failed",
}


def result_words(report: ScanReport) -> str:
    """The result in words; never "clean" when something that should have been read was not."""
    n = report.counts.not_scanned
    if not n:
        return RESULT_WORDS.get(report.exit_code, "error")
    if report.exit_code == ExitCode.CLEAN:
        return f"incomplete ({n} not scanned)"
    if report.exit_code == ExitCode.ERROR:
        return f"incomplete: nothing could be scanned ({n} not scanned)"
    return f"{RESULT_WORDS.get(report.exit_code, 'error')}; incomplete ({n} not scanned)"
