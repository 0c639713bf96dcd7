"""Finding the persistence a scan's detections point to, and deciding what cleaning it means.

``find_persistence`` reads every location (``inventory``), matches each line against the
detected files and family markers (``match``), adds the family's own files and the rule
hits inside configuration files, then decides per file (``Removal``): remove lines, remove
the file, or leave it for review. It reads only; ``apply`` makes the changes.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from scanner.remediation.persistence.files import Root, sha256_hex
from scanner.remediation.persistence.inventory import Inventory, ParsedFile, glob_family_paths
from scanner.remediation.persistence.match import Matcher
from scanner.remediation.persistence.parse import EXEC_KEYS, line_texts, offsets_to_lines
from scanner.remediation.persistence.types import (
    ConfigHit,
    LocationKind,
    Match,
    Mention,
    PersistenceFinding,
    PersistenceLocation,
    PersistenceResult,
    Reason,
    Removal,
    Symlink,
    shorten,
)

logger = logging.getLogger(__name__)

_DELETABLE = frozenset(
    {
        LocationKind.CRON_D,
        LocationKind.CRON_SCRIPT,
        LocationKind.SYSTEMD_UNIT,
        LocationKind.SYSTEMD_DROPIN,
        LocationKind.AUTOSTART,
        LocationKind.INIT_SCRIPT,
        LocationKind.FAMILY_ARTIFACT,
    }
)
"""Kinds whose file may be removed as a whole; all others only ever lose lines."""

_AUX_EXEC_KEYS = EXEC_KEYS - {"ExecStart", "Exec", "TryExec"}
"""Exec keys that are not a unit's main command: removing them leaves a working unit."""

_TRIVIAL_SCRIPT_LINE = re.compile(r"^(exit(\s+\d+)?|true|:|set\s+[-+]\w+)$")
"""Script lines that do no real work: a file left with only these goes as a whole."""


def find_persistence(
    sysroot: str | os.PathLike[str],
    detected_paths: Collection[str] | Mapping[str, str],
    markers: Mapping[str, Sequence[str]] | None = None,
    family_paths: Mapping[str, Sequence[str]] | None = None,
    detected_config_files: Mapping[str, ConfigHit] | None = None,
) -> PersistenceResult:
    """Find the persistence a scan's detections point to, under ``sysroot``. Reads only.

    ``detected_paths`` are the detected files as the scanner saw them (under the sysroot,
    or as paths of the inspected machine); a mapping gives each one's family. ``markers``
    and ``family_paths`` come from the family data (substrings; path patterns with ``*``,
    ``?``, ``[...]`` per component and ``~/`` for every home). ``detected_config_files``
    are rule hits inside configuration files, keyed like ``detected_paths``; a detected
    path that turns out to be a persistence location is treated as one of them.
    """
    root = Root(sysroot)
    inventory = Inventory(root)
    config_hits, targets = _split_detections(root, inventory, detected_paths, detected_config_files or {})
    matcher = Matcher(root, targets, markers or {})
    extra: dict[str, list[Match]] = {}
    _add_family_paths(root, inventory, matcher, family_paths or {}, extra)
    _add_rule_hits(inventory, config_hits, extra)
    found, mentions = _collect_matches(inventory, matcher, extra)

    decisions = {c: _decide(p, ms) for c, (p, ms) in found.items()}
    _add_triggers(inventory, found, decisions)

    findings = [
        _finding(inventory, parsed, matches, *decisions[canonical])
        for canonical, (parsed, matches) in sorted(found.items())
    ]
    kept = [m for m in mentions if decisions.get(m.location.path, (Removal.NONE, ()))[0] is not Removal.FILE]
    for mention in kept:
        logger.info("%s", mention.describe())
    return PersistenceResult(
        tuple(findings),
        tuple(inventory.skipped),
        tuple(sorted(kept, key=lambda m: (m.location.path, m.lines))),
    )


def _split_detections(
    root: Root,
    inventory: Inventory,
    detected_paths: Collection[str] | Mapping[str, str],
    detected_config_files: Mapping[str, ConfigHit],
) -> tuple[dict[str, ConfigHit], dict[str, str | None]]:
    """(rule hits by canonical path, detected files to look for): a detected persistence
    location joins the rule hits instead of the files whose mention counts as evidence."""
    config_hits: dict[str, ConfigHit] = {}
    for path, hit in detected_config_files.items():
        config_hits[root.canonical(root.to_machine(path))] = hit
    targets: dict[str, str | None] = {}
    for machine, family in _detected_map(root, detected_paths).items():
        canonical = root.canonical(machine)
        if canonical in inventory.files:
            # Sourcing or mentioning a detected .bashrc is not itself malicious: the
            # file is cleaned line by line below instead.
            logger.debug("detected file %s is a persistence location: cleaned by line, not sought", canonical)
            config_hits.setdefault(canonical, ConfigHit(family or "unknown", sha256=None))
        else:
            targets[machine] = family
    return config_hits, targets


def _add_family_paths(
    root: Root,
    inventory: Inventory,
    matcher: Matcher,
    family_paths: Mapping[str, Sequence[str]],
    extra: dict[str, list[Match]],
) -> None:
    """Evidence for each existing file a family path pattern names (read in as a family artifact
    when it is no other location); detected files are left to the vault."""
    for family, patterns in family_paths.items():
        for pattern in patterns:
            for machine in glob_family_paths(root, pattern, inventory.homes):
                canonical = root.canonical(machine)
                if canonical not in inventory.files:
                    if canonical in matcher.paths:
                        continue  # a detected file: the vault removes it
                    try:
                        _, data = root.read(machine)
                    except OSError as exc:
                        logger.debug("family path %s (%s) not read: %s", machine, pattern, exc)
                        continue
                    location = PersistenceLocation(LocationKind.FAMILY_ARTIFACT, canonical, root.host)
                    inventory.files[canonical] = ParsedFile(location, data, sha256_hex(data), [])
                extra.setdefault(canonical, []).append(
                    Match(Reason.FAMILY_PATH, pattern, family, whole_file=True, excerpt=canonical)
                )


def _add_rule_hits(inventory: Inventory, config_hits: Mapping[str, ConfigHit], extra: dict[str, list[Match]]) -> None:
    """Evidence for each rule hit inside a location: its lines when the offsets still fit."""
    for canonical, hit in config_hits.items():
        parsed = inventory.files.get(canonical)
        if parsed is None:
            continue
        evidence = hit.rule or hit.family
        if hit.sha256 is not None and hit.sha256 != parsed.sha256:
            # Offsets into older content would point at the wrong lines.
            logger.info("%s changed since it was scanned: the rule hit is left for review", canonical)
            extra.setdefault(canonical, []).append(
                Match(Reason.RULE_HIT, evidence, hit.family, excerpt="file changed since it was scanned")
            )
            continue
        hit_lines = offsets_to_lines(parsed.data, hit.offsets)
        if hit_lines:
            excerpt = shorten(line_texts(parsed.data)[hit_lines[0] - 1])
            match = Match(Reason.RULE_HIT, evidence, hit.family, _expand_to_entries(parsed, hit_lines), excerpt=excerpt)
        elif hit.offsets:
            match = Match(Reason.RULE_HIT, evidence, hit.family, excerpt="rule matched beyond the end of the file")
        else:
            match = Match(
                Reason.RULE_HIT, evidence, hit.family, whole_file=True, excerpt="rule matched; offsets unknown"
            )
        extra.setdefault(canonical, []).append(match)


def _collect_matches(
    inventory: Inventory, matcher: Matcher, extra: Mapping[str, list[Match]]
) -> tuple[dict[str, tuple[ParsedFile, list[Match]]], list[Mention]]:
    """(the locations with evidence and their evidence, the lines that only mention a detected file)."""
    found: dict[str, tuple[ParsedFile, list[Match]]] = {}
    mentions: list[Mention] = []
    for canonical, parsed in inventory.files.items():
        home = inventory.home_of(parsed.location.owner)
        matches = [m for entry in parsed.entries for m in matcher.match(entry, home, mentions)]
        matches.extend(extra.get(canonical, ()))
        if matches:
            found[canonical] = (parsed, matches)
    return found, mentions


def _finding(
    inventory: Inventory, parsed: ParsedFile, matches: list[Match], removal: Removal, lines: tuple[int, ...]
) -> PersistenceFinding:
    """The finding for one location, with the links that go with a removed unit or init script."""
    location = parsed.location
    links: tuple[Symlink, ...] = ()
    removed_text: tuple[str, ...] = ()
    if removal is Removal.FILE and location.kind is LocationKind.SYSTEMD_UNIT:
        links = _unit_links(inventory, location)
    elif removal is Removal.FILE and location.kind is LocationKind.INIT_SCRIPT:
        links = _rc_links(inventory, location)
    elif removal is Removal.LINES:
        texts = line_texts(parsed.data)
        removed_text = tuple(texts[n - 1] for n in lines if n <= len(texts))
    return PersistenceFinding(location, tuple(matches), parsed.sha256, removal, lines, removed_text, links)


def _decide(parsed: ParsedFile, matches: Sequence[Match]) -> tuple[Removal, tuple[int, ...]]:
    """What cleaning ``parsed`` amounts to, given its evidence; logs why."""
    removal, lines, why = _decision(parsed, matches)
    where = parsed.location.path
    if removal is Removal.NONE:
        logger.info("%s left alone for review: %s", where, why)
    elif removal is Removal.FILE:
        logger.info("%s to be removed as a whole: %s", where, why)
    else:
        logger.info("%s to lose line(s) %s: %s", where, ", ".join(map(str, lines)), why)
    return removal, lines


def _decision(parsed: ParsedFile, matches: Sequence[Match]) -> tuple[Removal, tuple[int, ...], str]:
    kind = parsed.location.kind
    lines = tuple(sorted({n for m in matches for n in m.lines}))
    whole = any(m.whole_file for m in matches)
    if kind not in _DELETABLE:
        if lines:
            return Removal.LINES, lines, f"a {kind.value} only ever loses lines"
        return Removal.NONE, (), f"the evidence pins down no line, and a {kind.value} is never removed whole"
    if not lines and not whole:
        return Removal.NONE, (), "the evidence pins down no line"
    if whole:
        return Removal.FILE, (), "the evidence is about the whole file"
    if kind in (LocationKind.AUTOSTART, LocationKind.FAMILY_ARTIFACT):
        return Removal.FILE, (), f"a {kind.value} that is the family's goes as a whole"
    if kind in (LocationKind.SYSTEMD_UNIT, LocationKind.SYSTEMD_DROPIN):
        hit = set(lines)
        if any(set(e.lines) & hit and e.key not in _AUX_EXEC_KEYS for e in parsed.entries):
            return Removal.FILE, (), "the main command or the unit's own settings are the family's"
        return Removal.LINES, lines, "only auxiliary Exec lines are the family's; the unit works without them"
    if _residue(parsed, set(lines)):
        return Removal.LINES, lines, "other lines of the file still do real work"
    return Removal.FILE, (), "nothing else in the file does real work"


def _residue(parsed: ParsedFile, removed: set[int]) -> bool:
    """Whether anything that does real work would be left after removing ``removed``."""
    for entry in parsed.entries:
        if set(entry.lines) <= removed:
            continue
        if parsed.location.kind is LocationKind.CRON_D:
            if entry.command:
                return True
        elif not _TRIVIAL_SCRIPT_LINE.match(entry.text):
            return True
    return False


def _expand_to_entries(parsed: ParsedFile, lines: Iterable[int]) -> tuple[int, ...]:
    """``lines`` widened to whole logical lines (continuations)."""
    wanted = set(lines)
    for entry in parsed.entries:
        if wanted & set(entry.lines):
            wanted |= set(entry.lines)
    return tuple(sorted(wanted))


def _unit_links(inventory: Inventory, location: PersistenceLocation) -> tuple[Symlink, ...]:
    out: list[Symlink] = []
    for link in inventory.unit_links:
        same_scope = link.user_manager == location.user_manager and (
            location.owner is None or link.owner == location.owner
        )
        by_name = link.dependency and same_scope and posixpath.basename(link.link.path) == location.unit
        if link.canonical == location.path or by_name:
            out.append(link.link)
    return tuple(out)


def _rc_links(inventory: Inventory, location: PersistenceLocation) -> tuple[Symlink, ...]:
    return tuple(link.link for link in inventory.rc_links if link.canonical == location.path)


def _detected_map(root: Root, detected: Collection[str] | Mapping[str, str]) -> dict[str, str | None]:
    families: Mapping[str, str] = detected if isinstance(detected, Mapping) else {}
    out: dict[str, str | None] = {}
    for path in detected:
        clean = path.removesuffix(" (deleted)")  # how the kernel names a running, deleted image
        out[root.to_machine(clean)] = families.get(path)
    return out


def _add_triggers(
    inventory: Inventory,
    found: dict[str, tuple[ParsedFile, list[Match]]],
    decisions: dict[str, tuple[Removal, tuple[int, ...]]],
) -> None:
    """Timers, path and socket units that only start a service being removed go with it."""
    removed: dict[tuple[bool, str | None, str], str | None] = {}
    for canonical, (parsed, matches) in found.items():
        loc = parsed.location
        if loc.kind is LocationKind.SYSTEMD_UNIT and decisions[canonical][0] is Removal.FILE and loc.unit:
            removed[(loc.user_manager, loc.owner, loc.unit)] = next((m.family for m in matches if m.family), None)
    if not removed:
        return
    for canonical, parsed in inventory.files.items():
        loc = parsed.location
        if loc.kind is not LocationKind.SYSTEMD_UNIT or not loc.unit:
            continue
        stem, suffix = posixpath.splitext(loc.unit)
        if suffix not in (".timer", ".path", ".socket"):
            continue
        explicit = [e.text.partition("=")[2].strip() for e in parsed.entries if e.key == "Unit"]
        service = explicit[-1] if explicit else f"{stem}.service"
        key = (loc.user_manager, loc.owner, service)
        if key not in removed or (canonical in decisions and decisions[canonical][0] is Removal.FILE):
            continue
        match = Match(Reason.TRIGGERS_UNIT, service, removed[key], whole_file=True, excerpt=loc.unit)
        entry = found.setdefault(canonical, (parsed, []))
        entry[1].append(match)
        logger.info("%s to be removed: it only starts %s, which is being removed", canonical, service)
        decisions[canonical] = (Removal.FILE, ())
