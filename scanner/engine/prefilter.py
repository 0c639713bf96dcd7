"""The string prefilter of content gates (``scanner.gating``): Hyperscan, when it is installed.

One database holds the patterns of every gated string of a rule set; scanning a file gives the keys
of the strings that may be present (each pattern reports at most once). Without Hyperscan, or for a
database that cannot be built or loaded, gates are off and every file is matched as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from scanner.engine.gating import Pattern

logger = logging.getLogger(__name__)

_hs: Any
try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - an optional accelerator
    _hs = None


class PrefilterError(Exception):
    """A database that cannot be built, loaded or used."""


def available() -> bool:
    """Whether Hyperscan can be used here."""
    return _hs is not None


def _flags(p: Pattern) -> int:
    assert _hs is not None
    flags: int = _hs.HS_FLAG_SINGLEMATCH | _hs.HS_FLAG_ALLOWEMPTY
    if p.caseless:
        flags |= _hs.HS_FLAG_CASELESS
    if p.dotall:
        flags |= _hs.HS_FLAG_DOTALL
    if p.approximate:
        flags |= _hs.HS_FLAG_PREFILTER
    return flags


def _compile(patterns: Sequence[tuple[int, Pattern]]) -> Any:
    assert _hs is not None
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.expression for _, p in patterns],
        ids=[k for k, _ in patterns],
        elements=len(patterns),
        flags=[_flags(p) for _, p in patterns],
    )
    return db


def refused(patterns: Sequence[tuple[int, Pattern]]) -> set[int]:
    """Keys of the patterns Hyperscan will not compile.

    Literals always compile; expressions are tried in small groups, halved where one fails.
    """
    if _hs is None:
        return {k for k, _ in patterns}
    found: set[int] = set()
    todo = [p for p in patterns if p[1].approximate]
    groups = [todo[i : i + 64] for i in range(0, len(todo), 64)]
    while groups:
        group = groups.pop()
        try:
            _compile(group)
        except _hs.error:
            if len(group) == 1:
                logger.debug("Hyperscan refuses the pattern %r of key %d", group[0][1].expression[:80], group[0][0])
                found.add(group[0][0])
            else:
                groups += [group[: len(group) // 2], group[len(group) // 2 :]]
    return found


def build(patterns: Sequence[tuple[int, Pattern]]) -> bytes:
    """A serialised database reporting each key whose pattern matches (keys may repeat)."""
    if _hs is None:
        raise PrefilterError("Hyperscan is not installed")
    try:
        return bytes(_hs.dumpb(_compile(patterns)))
    except _hs.error as exc:
        raise PrefilterError(str(exc)) from exc


class Prefilter:
    """A loaded database, safe to scan from many threads (each has its own scratch space)."""

    def __init__(self, blob: bytes) -> None:
        if _hs is None:
            raise PrefilterError("Hyperscan is not installed")
        try:
            self._db = _hs.loadb(bytes(blob), _hs.HS_MODE_BLOCK)
            self._scratch = _hs.Scratch(self._db)
        except _hs.error as exc:
            raise PrefilterError(str(exc)) from exc
        self._local = threading.local()
        self._lock = threading.Lock()

    def present(self, data: Any) -> set[int]:
        """Keys of the strings that may occur in ``data`` (bytes, or a buffer such as an mmap)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            with self._lock:
                scratch = self._local.scratch = self._scratch.clone()
        found: set[int] = set()
        add = found.add
        try:
            self._db.scan(data, match_event_handler=lambda key, _start, _end, _flags, _ctx: add(key), scratch=scratch)
        except _hs.error as exc:
            raise PrefilterError(str(exc)) from exc
        return found
