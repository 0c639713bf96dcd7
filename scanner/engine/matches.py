"""What matching returns: a ``Match`` per rule that matched, and the two ways matching a target fails.

A match names its rule, the family and severity the rule's meta gives (``severity_of``,
``family_of``), who wrote the rule and under what licence, its tags, and where its strings
matched. ``compiler`` turns libyara's matches into these. Rule collections are written by others:
meta values may be of any YARA type (text, integer, boolean) and of any length, so every value is
read defensively and text is bounded (``MAX_META_TEXT``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scanner.model import FamilySource, RuleHit, Severity, printable

logger = logging.getLogger(__name__)

FAMILY_META_KEYS: tuple[str, ...] = ("family", "malware_family", "malware", "tc_detection_name")
"""Rule meta keys that name the family, in order of preference; without any, the rule name stands in
(``FamilySource.RULE_NAME``)."""

MAX_OFFSETS = 64
"""How many string-match offsets a match keeps (enough to find offending lines in a config file)."""

MAX_META_TEXT = 300
"""How many characters of one meta value a hit keeps (a rule's meta is someone else's text)."""

SEVERITY_WORDS: Mapping[str, Severity] = {
    "info": Severity.LOW,
    "informational": Severity.LOW,
    "notice": Severity.LOW,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "high": Severity.HIGH,
    "alert": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
"""Words a ``severity`` or ``threat_level`` meta may use, and the level each names."""

SCORE_BANDS: tuple[tuple[int, Severity], ...] = (
    (80, Severity.CRITICAL),
    (60, Severity.HIGH),
    (40, Severity.MEDIUM),
    (0, Severity.LOW),
)
"""A ``score`` (0-100, the LOKI/THOR convention) at or above each bound maps to its level: THOR reports
40-59 as a notice, 60-79 as a warning and 80 or more as an alert, and LOKI uses the same 40 and 60
bounds; below 40 neither reports a finding. See docs/decisions/0010-severity-and-action-threshold.md."""

THREAT_LEVEL_BANDS: tuple[tuple[int, Severity], ...] = (
    (8, Severity.CRITICAL),
    (5, Severity.HIGH),
    (3, Severity.MEDIUM),
    (0, Severity.LOW),
)
"""A numeric ``threat_level`` (0-10, as in Yara-Rules and MISP-style collections) maps the same way."""

LOW_CONFIDENCE: frozenset[str] = frozenset({"low", "weak", "experimental", "testing", "test"})
"""``confidence`` meta words that cap the severity at medium."""


def meta_text(value: object, limit: int = MAX_META_TEXT) -> str:
    """A meta value as text: strings as they are, integers in decimal, booleans as nothing (a flag is not a
    name), cut to ``limit`` characters with an ellipsis. Control characters are kept: every renderer
    escapes them (``model.printable``)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = value.strip() if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 6:
        return int(value.strip())
    return None


def _banded(value: int, bands: Sequence[tuple[int, Severity]]) -> Severity:
    return next((level for bound, level in bands if value >= bound), Severity.LOW)


def _named(value: object) -> Severity | None:
    return SEVERITY_WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def severity_of(meta: Mapping[str, object]) -> Severity:
    """The severity a rule's meta gives, by precedence: ``severity`` naming a level (low, medium, high,
    critical, or a word in ``SEVERITY_WORDS``), then ``score`` (0-100, ``SCORE_BANDS``), then
    ``threat_level`` (a word, or 0-10 in ``THREAT_LEVEL_BANDS``), else medium. A ``confidence`` of low (a
    word in ``LOW_CONFIDENCE``, or a number below 50) caps the result at medium."""
    level = _named(meta.get("severity"))
    if level is None and (score := _number(meta.get("score"))) is not None:
        level = _banded(score, SCORE_BANDS)
    if level is None:
        threat = meta.get("threat_level")
        level = _named(threat)
        if level is None and (n := _number(threat)) is not None:
            level = _banded(n, THREAT_LEVEL_BANDS)
    level = level or Severity.MEDIUM
    confidence = meta.get("confidence")
    number = _number(confidence)
    low = (isinstance(confidence, str) and confidence.strip().lower() in LOW_CONFIDENCE) or (
        number is not None and number < 50
    )
    if low and level in (Severity.HIGH, Severity.CRITICAL):
        return Severity.MEDIUM
    return level


def family_of(rule: str, meta: Mapping[str, object]) -> tuple[str, FamilySource]:
    """The family a rule's meta names (``FAMILY_META_KEYS`` in order), else the rule name, and which it was."""
    for key in FAMILY_META_KEYS:
        if text := meta_text(meta.get(key)):
            return text, FamilySource.META
    return meta_text(rule), FamilySource.RULE_NAME


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
    family, source = family_of(rule, meta)
    hit = RuleHit(
        rule=rule,
        namespace=namespace,
        family=family,
        severity=severity_of(meta),
        tags=tuple(tags),
        description=meta_text(meta.get("description"), 4 * MAX_META_TEXT),
        author=meta_text(meta.get("author")),
        reference=meta_text(meta.get("reference")),
        license=meta_text(meta.get("license")),
        family_source=source,
    )
    return Match(hit, tuple(sorted(set(offsets))[:MAX_OFFSETS]))


TOO_MANY_MATCHES = "too many matches"
"""The engine warning of a string that matched more often than libyara records (a million times):
yara stops recording its matches, so a condition that counts them (``#a > n``) may be decided wrongly."""


class EngineWarnings:
    """Warnings the engine gives while matching (``TOO_MANY_MATCHES``, ...), turned into the scanner's own:
    each is logged once per rule, however many files cause it, and ``take`` counts them for a report.
    Safe to use from many threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, str]] = set()
        self._counts: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, kind: str, namespace: str, rule: str, string: str = "") -> None:
        """The engine said ``kind`` about ``string`` of ``rule`` while matching one target."""
        with self._lock:
            first = (kind, namespace, rule) not in self._seen
            self._seen.add((kind, namespace, rule))
            self._counts[kind, namespace, rule, string] += 1
        if first:
            what = f" for string {string}" if string else ""
            logger.warning("%s", printable(f"yara: {kind}{what} in rule {namespace}:{rule}{_consequence(kind)}"))

    def take(self) -> list[str]:
        """One line per (warning, rule, string) since the last ``take``, with how many targets caused it."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return [
            f"yara: {kind}{f' for string {string}' if string else ''} in rule {namespace}:{rule} "
            f"({n} target{'s' if n != 1 else ''}){_consequence(kind)}"
            for (kind, namespace, rule, string), n in sorted(counts.items())
        ]


def _consequence(kind: str) -> str:
    if kind == TOO_MANY_MATCHES:
        return "; its further matches were not recorded (conditions that count them may be wrong)"
    return ""
