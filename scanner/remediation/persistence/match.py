"""Whether one line of a persistence location runs a detected file or carries a family marker.

``Matcher`` holds the detected files (each in the forms it may be named by: as given,
canonical under the sysroot, by bare name when it sits in a ``PATH`` directory) and the
family markers, and turns each ``PersistenceEntry`` into evidence (``Match``) or, for a
line that only names a detected file, a ``Mention`` that is reported and never changed.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence

from scanner.remediation.persistence.commands import ASSIGNMENT, executed_words, expand_home, loaded_values, shell_words
from scanner.remediation.persistence.files import Root, normalize
from scanner.remediation.persistence.types import LocationKind, Match, Mention, PersistenceEntry, Reason, shorten

logger = logging.getLogger(__name__)

_MIN_MARKER = 4
"""Shorter markers are ignored: they would match ordinary lines."""
_PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_PATH_RE = re.compile(r"(?<![^\s'\"`=:;|&(<>,])(/[^\s'\"`;|&<>(),:$]+)")
"""Absolute paths anywhere in a line: quoted, after ``=``, inside ``sh -c '...'``, in PATH lists."""


class Matcher:
    """Decides whether a line runs a detected file or carries a family marker."""

    def __init__(
        self,
        root: Root,
        detected: Mapping[str, str | None],
        markers: Mapping[str, Sequence[str]],
    ) -> None:
        self.root = root
        self.paths: dict[str, tuple[str, str | None]] = {}
        self.names: dict[str, tuple[str, str | None]] = {}
        path_dirs = {root.canonical(d) for d in _PATH_DIRS} | set(_PATH_DIRS)
        for machine, family in detected.items():
            for form in (machine, root.canonical(machine)):
                self.paths.setdefault(form, (machine, family))
                if posixpath.dirname(form) in path_dirs:
                    self.names.setdefault(posixpath.basename(form), (machine, family))
        self.markers = [
            (m.lower(), m, family) for family, ms in markers.items() for m in ms if len(m.strip()) >= _MIN_MARKER
        ]

    def _lookup(self, candidate: str) -> tuple[str, str | None] | None:
        candidate = normalize(candidate)
        return self.paths.get(candidate) or self.paths.get(self.root.canonical(candidate))

    def match(self, entry: PersistenceEntry, home: str | None, mentions: list[Mention] | None = None) -> list[Match]:
        """The evidence in ``entry``. A detected path the line names without running it (an argument
        of ``rm`` or ``echo``, an ``--exclude``) is no evidence: it goes to ``mentions`` instead."""
        unit_home = entry.location.user_manager and entry.location.kind in (
            LocationKind.SYSTEMD_UNIT,
            LocationKind.SYSTEMD_DROPIN,
        )
        text = expand_home(entry.text, home, unit_home)
        found: dict[str, str | None] = {}
        if self.paths:
            for word, bare in self._run_by(entry, home, unit_home):
                hit = self.names.get(word) if bare else self._lookup(word)
                if hit:
                    found.setdefault(*hit)
        excerpt = shorten(entry.text)
        matches = [
            Match(Reason.RUNS_DETECTED_FILE, path, family, entry.lines, excerpt=excerpt)
            for path, family in found.items()
        ]
        for path in found:
            logger.debug("%s line %s runs the detected file %s", entry.location.path, entry.lines[0], path)
        if self.paths and mentions is not None and not found:
            named: dict[str, str | None] = {}
            for m in _PATH_RE.finditer(text):
                if not m.group(1).startswith("//"):
                    hit = self._lookup(m.group(1))
                    if hit:
                        named.setdefault(*hit)
            for path in named:
                logger.debug("%s line %s names %s without running it", entry.location.path, entry.lines[0], path)
            mentions.extend(Mention(entry.location, entry.lines, path, excerpt) for path in named)
        lowered = entry.text.lower()
        matches.extend(
            Match(Reason.FAMILY_MARKER, marker, family, entry.lines, excerpt=excerpt)
            for low, marker, family in self.markers
            if low in lowered
        )
        return matches

    @staticmethod
    def _run_by(entry: PersistenceEntry, home: str | None, unit_home: bool) -> Iterator[tuple[str, bool]]:
        """The files ``entry`` runs or loads, as ``executed_words`` gives them."""
        if entry.location.kind is LocationKind.LD_PRELOAD:  # every entry of the list is loaded
            yield from ((w, False) for w in re.split(r"[\s:]+", entry.text) if w.startswith("/"))
        elif entry.command:
            yield from executed_words(expand_home(entry.command, home, unit_home), home)
        else:  # a setting, not a command: only a variable whose value is loaded or run counts
            for word in shell_words(expand_home(entry.text, home, unit_home)):
                for part in (word, word.partition("=")[2]):  # Environment=LD_PRELOAD=/x
                    if ASSIGNMENT.match(part):
                        yield from ((v, False) for v in loaded_values(part))
