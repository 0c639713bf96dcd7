"""The compiled-rule cache's layout on disk: which file holds what, and the record that says so.

A collection compiled under key K is ``K.yarc`` (the whole set) and ``K.json`` (this module's
record: rule count, external variables used, and how the collection is routed). Routed sets, their
content gates and prefilter databases live under ``routed/K/``. The record is written last, so its
presence means the files it names are in place; anything unreadable in it is a cache miss. The
compiled files themselves are written and loaded by ``compiler`` (the only module that imports yara).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

KEEP_ROUTED = 3
"""Routed sets of this many newest rule sets are kept (they take several times the whole set's space)."""


@dataclass(frozen=True)
class RouteInfo:
    """One routed set of a compiled collection (see scanner.engine.routing)."""

    name: str
    """A label such as ``4d5a.0``: prefix in hex (``any`` for the rest) and size bucket."""
    routes: tuple[tuple[bytes, int], ...]
    """The (prefix, size bucket) pairs it serves."""
    rule_count: int
    """Reporting rules in it."""
    name_gates: tuple[tuple[str, str, tuple[str, ...]], ...] | None = None
    """Its rules that look at a file's name, each with the parts of its condition that look only at
    external variables (see analysis.RuleInfo.gates); None: a further name is always matched against them."""


@dataclass(frozen=True)
class SetRecord:
    """What the cache holds for one routed set."""

    info: RouteInfo
    """The set."""
    complete: bool
    """It holds every rule, so the whole set serves and it has no file of its own."""
    paths: bool
    """It has a file of the rules whose result may depend on a file's name (``NAME.paths.yarc``)."""
    gate: tuple[bool, str] | None = None
    """Its content gate: whether it has a rest (``NAME.rest.yarc``) and the name of its prefilter
    database (``DB.hs``); None: no gate."""


@dataclass(frozen=True)
class RoutingRecord:
    """How a cached collection is routed."""

    prefixes: tuple[bytes, ...]
    """Prefixes with sets of their own."""
    size_edges: tuple[int, ...]
    """Size bucket edges."""
    sets: tuple[SetRecord, ...]
    """Every routed set."""
    path_rules: frozenset[tuple[str, str]]
    """(namespace, rule) of the rules whose result may depend on a file's name."""
    path_namespaces: frozenset[str]
    """Namespaces all of whose rules count as such."""


@dataclass(frozen=True)
class Record:
    """The record of one cached collection (``KEY.json``)."""

    rule_count: int
    """Number of rules."""
    uses: frozenset[str]
    """External variables the sources mention."""
    routing: RoutingRecord | None
    """None: the collection is not routed."""


def blob_path(cache_dir: Path, key: str) -> Path:
    """The compiled whole set of collection ``key``."""
    return cache_dir / f"{key}.yarc"


def routed_dir(cache_dir: Path, key: str) -> Path:
    """Where the routed sets, gates and prefilter databases of collection ``key`` live."""
    return cache_dir / "routed" / key


def is_cached(cache_dir: Path, key: str) -> bool:
    """Whether collection ``key`` has its whole set and its record in ``cache_dir``."""
    return blob_path(cache_dir, key).is_file() and (cache_dir / f"{key}.json").is_file()


def write_record(cache_dir: Path, key: str, record: Record, engine: str) -> None:
    """Written last, best effort: its presence means the files it names are in place."""
    meta: dict[str, object] = {"rule_count": record.rule_count, "engine": engine, "uses": sorted(record.uses)}
    if (r := record.routing) is not None:
        meta["routing"] = {
            "prefixes": [p.hex() for p in r.prefixes],
            "size_edges": list(r.size_edges),
            "sets": [
                {
                    "name": s.info.name,
                    "routes": [[p.hex(), b] for p, b in s.info.routes],
                    "rule_count": s.info.rule_count,
                    "complete": s.complete,
                    "paths": s.paths,
                    "name_gates": None if s.info.name_gates is None else [list(g) for g in s.info.name_gates],
                    "gate": None if s.gate is None else {"rest": s.gate[0], "db": s.gate[1]},
                }
                for s in r.sets
            ],
            "path_rules": sorted([ns, rule] for ns, rule in r.path_rules),
            "path_namespaces": sorted(r.path_namespaces),
        }
    try:
        write_atomic(cache_dir / f"{key}.json", json.dumps(meta).encode())
    except OSError as exc:
        logger.info("compiled-rule cache: cannot write %s.json (%s); the next start compiles again", key, exc)


def read_record(cache_dir: Path, key: str) -> Record | None:
    """The record of collection ``key``; None when it is missing or unreadable (a cache miss)."""
    try:
        info = json.loads((cache_dir / f"{key}.json").read_text())
        count = int(info["rule_count"])
        uses = frozenset(str(u) for u in info["uses"])
        routing = _routing(info["routing"]) if info.get("routing") else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if not isinstance(exc, FileNotFoundError):
            logger.info("compiled-rule cache: record %s.json unreadable (%s): compiling again", key, exc)
        return None
    return Record(count, uses, routing)


def _routing(r: Mapping[str, Any]) -> RoutingRecord:
    """A routing record from its JSON form; ValueError for a name that could be a path."""
    sets = []
    for s in r["sets"]:
        name = str(s["name"])
        if not name.replace(".", "").isalnum():
            raise ValueError(f"bad set name {name!r}")
        gates = s["name_gates"]
        info = RouteInfo(
            name,
            tuple((bytes.fromhex(p), int(b)) for p, b in s["routes"]),
            int(s["rule_count"]),
            None if gates is None else tuple((str(ns), str(rule), tuple(str(x) for x in gs)) for ns, rule, gs in gates),
        )
        gate = None
        if s.get("gate"):
            db = str(s["gate"]["db"])
            if not db.isalnum():
                raise ValueError(f"bad database name {db!r}")
            gate = (bool(s["gate"]["rest"]), db)
        sets.append(SetRecord(info, bool(s["complete"]), bool(s["paths"]), gate))
    return RoutingRecord(
        tuple(bytes.fromhex(p) for p in r["prefixes"]),
        tuple(int(e) for e in r["size_edges"]),
        tuple(sets),
        frozenset((str(ns), str(rule)) for ns, rule in r["path_rules"]),
        frozenset(str(ns) for ns in r["path_namespaces"]),
    )


def prune_routed(cache_dir: Path, keep: int = KEEP_ROUTED) -> None:
    """Keep the routed sets of the newest ``keep`` rule sets.

    A scan still using an older set falls back to its whole set if its routed files go.
    """
    with contextlib.suppress(OSError):
        routed = cache_dir / "routed"
        dirs = sorted((d for d in routed.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
        for old in dirs[keep:]:
            logger.debug("compiled-rule cache: removing the routed sets of %s", old.name)
            shutil.rmtree(old, ignore_errors=True)
