"""The result of scanning one file (``FileResult``), and the form the file cache keeps a detection in."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from scanner import inert
from scanner.engine.compiler import Match
from scanner.model import FamilySource, FileIdentity, RuleHit, Severity, Skipped
from scanner.scanning.archives import MemberHit
from scanner.scanning.walk import FileEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    """What scanning one file gave."""

    path: str
    matches: tuple[Match, ...] = ()
    sha256: str | None = None
    size: int = 0
    skipped: Skipped | None = None
    identity: FileIdentity | None = None
    """The file's stat facts just before it was read (what the file cache records, and what an action on a
    detection checks); for a detection taken from the cache, its walk-time facts. None when not read in full."""
    members: tuple[MemberHit, ...] = ()
    """Rules that matched members, when the file is an archive."""
    archive: tuple[int, int] | None = None
    """When looked into as an archive: (members read, bytes extracted), at every depth."""
    incomplete: tuple[Skipped, ...] = ()
    """What was not fully scanned inside the archive (limits, encrypted or damaged members): the file was
    scanned, but not all of it."""

    @property
    def found(self) -> bool:
        """Whether a rule matched the file or one of its members."""
        return bool(self.matches or self.members)


def found_blob(result: FileResult) -> bytes:
    """What the file cache keeps of a file's detection: its matches (with the member of an archive each
    matched in, if any) and digest, in the inert container (rule names and descriptions could otherwise
    make the cache itself a detection)."""
    found = [(None, m) for m in result.matches] + [(mh.member, mh.match) for mh in result.members]
    hits = [
        [
            m.hit.rule,
            m.hit.namespace,
            m.hit.family,
            m.hit.severity.value,
            list(m.hit.tags),
            m.hit.description,
            list(m.offsets),
            [m.hit.author, m.hit.reference, m.hit.license, m.hit.family_source.value],
            *([] if member is None else [member]),
        ]
        for member, m in found
    ]
    return inert.encode(json.dumps({"sha256": result.sha256, "matches": hits}, separators=(",", ":")).encode())


def _cached_match(item: list[Any]) -> tuple[str | None, Match]:
    """One entry of ``found_blob``'s list: (member or None, match)."""
    rule, ns, family, severity, tags, desc, offsets, (author, reference, licence, source), *member = item
    hit = RuleHit(
        str(rule),
        str(ns),
        str(family),
        Severity(severity),
        tuple(map(str, tags)),
        str(desc),
        str(author),
        str(reference),
        str(licence),
        FamilySource(source),
    )
    if len(member) > 1:
        raise ValueError("too many fields")
    return (str(member[0]) if member else None), Match(hit, tuple(map(int, offsets)))


def from_found_blob(entry: FileEntry, found: bytes | None) -> FileResult | None:
    """The detection ``found_blob`` kept for ``entry`` (unchanged since: its walk-time stat facts are the
    cached ones); None for nothing or something that does not decode."""
    if not found or not inert.is_inert(found):
        return None
    try:
        data = json.loads(inert.decode(found))
        pairs = [_cached_match(item) for item in data["matches"]]
        digest = data["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        logger.debug("cached detection of %s does not decode (%s): the file is read again", entry.path, exc)
        return None
    matches = tuple(m for member, m in pairs if member is None)
    members = tuple(MemberHit(member, m) for member, m in pairs if member is not None)
    if not pairs or not isinstance(digest, str | None):
        return None
    return FileResult(entry.path, matches, digest, entry.identity.size, identity=entry.identity, members=members)
