"""What matching returns: a ``Match`` per rule that matched, and the two ways matching a target fails.

A match names its rule, the family the rule's meta names (``FAMILY_META_KEYS``), its severity and
tags, and where its strings matched. ``compiler`` turns libyara's matches into these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scanner.model import RuleHit, Severity

FAMILY_META_KEYS: tuple[str, ...] = ("family", "malware_family", "malware", "tc_detection_name")
"""Rule meta keys that name the family, in order of preference."""

MAX_OFFSETS = 64
"""How many string-match offsets a match keeps (enough to find offending lines in a config file)."""


@dataclass(frozen=True)
class Match:
    """A rule that matched, with where its strings matched."""

    hit: RuleHit
    """The rule and the family it names."""
    offsets: tuple[int, ...] = ()
    """Offsets of string matches in the scanned data (at most 64, sorted)."""


class MatchTimeout(Exception):
    """Matching took longer than the per-target timeout."""


class MatchFailed(Exception):
    """The target could not be read or scanned; the message says why."""


def match_of(
    rule: str, namespace: str, tags: Sequence[str], meta: Mapping[str, object], offsets: Iterable[int]
) -> Match:
    """The Match of a rule that matched, from its name, namespace, tags, meta and string-match offsets."""
    family = next(
        (str(meta[key]).strip() for key in FAMILY_META_KEYS if str(meta.get(key, "")).strip()),
        rule,
    )
    description = meta.get("description", "")
    hit = RuleHit(
        rule=rule,
        namespace=namespace,
        family=family,
        severity=Severity.parse(meta.get("severity")),
        tags=tuple(tags),
        description=description if isinstance(description, str) else str(description),
    )
    return Match(hit, tuple(sorted(set(offsets))[:MAX_OFFSETS]))
