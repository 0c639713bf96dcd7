"""Routing rules by file type and size: the planner that splits a rule collection into routed sets.

Most published rules require a file-format magic at offset 0 (``uint16(0) == 0x5A4D`` and the
like) and bound ``filesize``, yet YARA searches every rule's strings in every file before it looks
at a condition, and runs every imported module on every file. ``analysis`` finds, for each rule,
the two-byte prefixes a file must start with and the largest size it can have for the rule to
match; this module groups rules into sets by (prefix, size bucket), and writes each set's source.
A file is then matched against the one set its route selects, which imports only the modules its
rules use. It never compiles anything: it is pure.

Soundness comes first: routing must never lose a detection. A file that ``analysis`` cannot read
with certainty goes to every set whole (through an ``include``). Each generated source keeps the
file's namespace, its imports, its global rules, and every rule a routed rule refers to, so
reports are identical to an unrouted scan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from scanner.engine.analysis import HEAD_SIZE, Branch, FileAnalysis, RuleInfo
from scanner.engine.sources import includable

logger = logging.getLogger(__name__)

VERSION = 5
"""Changes whenever routing or gating decisions could change; part of the compiled-rule cache key."""
MIN_RULES = 16
"""A prefix gets its own set only when at least this many reporting rules require it ..."""

MIN_SHARE = 0.02
"""... and at least this share of all reporting rules (a set costs a compiled copy of the any-file rules)."""

MAX_SETS = 6
"""At most this many per-prefix sets (each also holds every rule that may match any file)."""


# --- planning ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutedSet:
    """One set of rules to compile, for the files whose route (prefix, size bucket) is in ``routes``."""

    name: str
    """A file-name-safe label, e.g. ``4d5a.0`` (prefix in hex or ``any``, then the size bucket)."""
    routes: tuple[tuple[bytes, int], ...]
    """The (prefix, size bucket) pairs it serves; prefix ``b""`` stands for files of no routed prefix."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Namespace -> YARA source text."""
    rules: int = 0
    """Reporting (non-private) rules in it, counting files that go whole as one each."""
    complete: bool = False
    """It holds every rule of every file (so the unrouted set can stand in for it)."""
    path_sources: Mapping[str, str] = field(default_factory=dict)
    """Namespace -> source of just its rules whose result may depend on the file's name (RoutePlan.path_rules),
    with what they need; empty when it has none. A second name of a file already matched (a hard link)
    is matched against these alone."""
    name_gates: tuple[tuple[str, str, tuple[str, ...]], ...] | None = None
    """For each rule of ``path_sources``: (namespace, rule, RuleInfo.gates); None when one of them has no
    gates (then a further name is always matched against ``path_sources``)."""


@dataclass(frozen=True)
class RoutePlan:
    """How a collection of rule files is split."""

    prefixes: tuple[bytes, ...]
    """The prefixes that have sets of their own; files with any other start use prefix ``b""``."""
    size_edges: tuple[int, ...]
    """Lower edges of the size buckets after the first (bucket of a size: ``size_bucket``)."""
    sets: tuple[RoutedSet, ...]
    """Every set; each (prefix, bucket) pair is served by exactly one."""
    whole: Mapping[str, str]
    """Namespaces that go to every set unsplit, and why."""
    path_rules: frozenset[tuple[str, str]] = frozenset()
    """(namespace, rule) of the rules whose result may depend on a file's name: their conditions name
    ``filename``, ``filepath`` or ``extension``, or a rule that does (global rules included)."""
    path_namespaces: frozenset[str] = frozenset()
    """Namespaces sent whole that mention those variables: every rule of them counts as such."""


SIZE_EDGES: tuple[int, ...] = (1 << 20, 16 << 20)
"""Files are bucketed by size at these edges: most rules bound ``filesize``, and most bytes are in big files."""


def size_bucket(size: int, edges: Sequence[int] = SIZE_EDGES) -> int:
    """The size bucket of a file of ``size`` bytes."""
    return sum(1 for e in edges if size >= e)


def route_of(head: bytes, size: int, prefixes: Iterable[bytes], edges: Sequence[int] = SIZE_EDGES) -> tuple[bytes, int]:
    """The route of a file: its routed prefix (or ``b""``) and its size bucket."""
    p = head[:HEAD_SIZE]
    return (p if p in prefixes else b"", size_bucket(size, edges))


def _include_line(path: str) -> str:
    """The include of a file that goes whole (its path is ``includable``: libyara does not unescape it)."""
    return f'include "{path}"\n'


def _closure(fa: FileAnalysis, roots: Iterable[str], refs: Mapping[str, frozenset[str]] | None = None) -> set[str]:
    """``roots`` and every rule of ``fa`` they refer to, directly or not (``refs``: the references to follow)."""
    by_name = {r.name: r for r in fa.rules}
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].references if refs is None else refs[name])
    return seen


_Route = tuple[bytes, int]


def _dead_branches(
    rule: RuleInfo, routes: Sequence[_Route], lows: Sequence[int], chosen: frozenset[bytes]
) -> list[Branch]:
    """The outermost branches of ``rule`` that hold for no file of ``routes`` (see Branch)."""
    out: list[Branch] = []
    for b in rule.branches:
        if any(o.span[0] <= b.span[0] and b.span[1] <= o.span[1] for o in out):
            continue
        if not any(may_match(b, prefix, lows[bucket], chosen) for prefix, bucket in routes):
            out.append(b)
    return out


def source_for(fa: FileAnalysis, selected: set[str], dead: Mapping[str, Sequence[Branch]] | None = None) -> str:
    """Source for the ``selected`` rules of ``fa`` with what they need, ``dead`` branches replaced."""
    dead = dead or {}
    live_uses: dict[str, list[str]] = {}
    for r in fa.rules:
        spans = [b.span for b in dead.get(r.name, ())]
        live_uses[r.name] = [n for off, n in r.uses if not any(a <= off < b for a, b in spans)]
    refs = {name: frozenset(uses) for name, uses in live_uses.items()}
    keep = _closure(fa, selected | {r.name for r in fa.rules if r.is_global}, refs)
    used = {m for r in fa.rules if r.name in keep for m in live_uses[r.name]}
    lines = [f'import "{m}"\n' for m in fa.imports if m in used]
    for r in fa.rules:
        if r.name in keep:
            text = fa.text[r.span[0] : r.span[1]]
            for b in sorted(dead.get(r.name, ()), key=lambda b: -b.span[0]):
                a, z = b.span[0] - r.span[0], b.span[1] - r.span[0]
                text = text[:a] + b.stand_in + text[z:]
            lines.append(text + "\n")
    return "".join(lines)


def may_match(rule: RuleInfo | Branch, prefix: bytes, low: int, chosen: frozenset[bytes]) -> bool:
    """Whether ``rule`` (or a branch) can hold for some file of route (``prefix``, bucket starting at ``low`` bytes)."""
    shapes = rule.shapes if rule.shapes is not None else ((rule.prefixes, rule.max_size),)
    return any(_shape_fits(prefixes, max_size, prefix, low, chosen) for prefixes, max_size in shapes)


def _shape_fits(
    prefixes: frozenset[bytes] | None, max_size: int | None, prefix: bytes, low: int, chosen: frozenset[bytes]
) -> bool:
    if max_size is not None and max_size < low:
        return False
    if prefixes is None:
        return True
    if prefix == b"":
        return not prefixes <= chosen  # files of a prefix that has no set of its own come here
    return prefix in prefixes


def _path_dependent(fa: FileAnalysis) -> set[str]:
    """Rules of ``fa`` whose result may depend on a file's name (see RoutePlan.path_rules)."""
    found = {r.name for r in fa.rules if r.paths}
    changed = True
    while changed:
        changed = False
        for r in fa.rules:
            if r.name not in found and r.references & found:
                found.add(r.name)
                changed = True
    if any(r.is_global and r.name in found for r in fa.rules):
        found = {r.name for r in fa.rules}
    return found


def plan(
    files: Sequence[FileAnalysis],
    *,
    min_rules: int | None = None,
    min_share: float | None = None,
    max_sets: int | None = None,
    size_edges: Sequence[int] | None = None,
) -> RoutePlan | None:
    """Split ``files`` into sets by prefix and size; None when no set would leave any rule out.

    Parameters left None take the module's constants (read at call time).
    """
    min_rules = MIN_RULES if min_rules is None else min_rules
    min_share = MIN_SHARE if min_share is None else min_share
    max_sets = MAX_SETS if max_sets is None else max_sets
    size_edges = SIZE_EDGES if size_edges is None else tuple(size_edges)
    chosen = _chosen_prefixes(files, min_rules, min_share, max_sets)
    chosen_set = frozenset(chosen)
    for fa in files:
        if fa.whole:
            logger.debug("rule file %s is not split: %s", fa.path, fa.whole)
            for path in fa.files or (fa.path,):
                if not includable(path):  # libyara reads an include's name as written, unescaped
                    logger.info("not routed: the path of rule file %r cannot be written in an include statement", path)
                    return None
    lows = (0, *size_edges)
    selections: dict[tuple[bytes, int], dict[str, frozenset[str]]] = {}
    for prefix in (*chosen, b""):
        for bucket, low in enumerate(lows):
            selections[(prefix, bucket)] = {
                fa.namespace: frozenset(
                    r.name
                    for r in fa.rules
                    if not r.private and not r.is_global and may_match(r, prefix, low, chosen_set)
                )
                for fa in files
                if not fa.whole
            }
    everything = {fa.namespace: frozenset(r.name for r in fa.rules if not r.private) for fa in files if not fa.whole}
    if all(sel == everything for sel in selections.values()):
        logger.info("not routed: no routed set would leave any rule out")
        return None
    groups: dict[tuple[tuple[str, frozenset[str]], ...], list[_Route]] = {}
    for route, sel in selections.items():
        groups.setdefault(tuple(sorted(sel.items())), []).append(route)
    by_path = {fa.namespace: _path_dependent(fa) for fa in files if not fa.whole}
    sets = [
        _routed_set(files, dict(sel_items), routes, lows, chosen_set, by_path, everything)
        for sel_items, routes in groups.items()
    ]
    whole = {fa.namespace: fa.whole for fa in files if fa.whole}
    path_rules = frozenset((ns, name) for ns, names in by_path.items() for name in names)
    path_namespaces = frozenset(fa.namespace for fa in files if fa.whole and fa.whole_paths)
    logger.info(
        "routing planned %d sets for prefixes %s (%d of %d rule files not split, %d module terms taken "
        "as format gates)",
        len(sets),
        ", ".join(p.hex() for p in chosen) or "(none)",
        len(whole),
        len(files),
        len({t for fa in files for t in fa.format_terms}),
    )
    return RoutePlan(chosen, tuple(size_edges), tuple(sets), whole, path_rules, path_namespaces)


def _chosen_prefixes(
    files: Sequence[FileAnalysis], min_rules: int, min_share: float, max_sets: int
) -> tuple[bytes, ...]:
    """The prefixes that get sets of their own: those enough reporting rules require, most required first."""
    counts: dict[bytes, int] = {}
    total = 0
    for fa in files:
        for r in fa.rules:
            if not r.private:
                total += 1
                for p in r.prefixes or ():
                    counts[p] = counts.get(p, 0) + 1
    least = max(min_rules, min_share * total)
    return tuple(p for p, c in sorted(counts.items(), key=lambda pc: (-pc[1], pc[0])) if c >= least)[:max_sets]


def _routed_set(
    files: Sequence[FileAnalysis],
    sel: Mapping[str, frozenset[str]],
    routes: Sequence[_Route],
    lows: Sequence[int],
    chosen_set: frozenset[bytes],
    by_path: Mapping[str, set[str]],
    everything: Mapping[str, frozenset[str]],
) -> RoutedSet:
    """The set of the rules ``sel`` (namespace -> rule names) for the files of ``routes``."""
    prefix, bucket = min(routes, key=lambda r: (r[0] != b"", r[1]))  # named after its most general route
    sources: dict[str, str] = {}
    path_sources: dict[str, str] = {}
    gates: list[tuple[str, str, tuple[str, ...]]] | None = []
    count = 0
    for fa in files:
        if fa.whole:
            sources[fa.namespace] = "".join(_include_line(p) for p in fa.files or (fa.path,))
            if fa.whole_paths:
                path_sources[fa.namespace] = sources[fa.namespace]
                gates = None
            count += 1
        elif sel[fa.namespace]:
            dead = {r.name: _dead_branches(r, routes, lows, chosen_set) for r in fa.rules if r.branches}
            sources[fa.namespace] = source_for(fa, set(sel[fa.namespace]), dead)
            if on_path := sel[fa.namespace] & by_path[fa.namespace]:
                path_sources[fa.namespace] = source_for(fa, set(on_path), dead)
                for r in fa.rules:
                    if r.name in on_path and gates is not None:
                        gates = (
                            None
                            if r.gates is None or any(g.is_global for g in fa.rules)
                            else [*gates, (fa.namespace, r.name, r.gates)]
                        )
            count += len(sel[fa.namespace])
    return RoutedSet(
        f"{prefix.hex() or 'any'}.{bucket}",
        tuple(routes),
        sources,
        count,
        sel == everything,
        path_sources,
        None if gates is None else tuple(gates),
    )
