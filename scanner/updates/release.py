"""The release pipeline (``scanner feed build``): sources in, a tested bundle and its changelog out.

``build`` gathers the sources (``release_sources``: each with its licence), runs every gate
(``release_gates``, ``release_cost``) and the client's own activation tests, then writes the bundle
``feed publish --bundle`` signs: the gathered set as a gzipped tar, with ``sources.toml`` (licence and
attribution of each source) and ``changelog.json``/``CHANGELOG.txt`` (families and rules added, removed
or changed since ``--previous``, and each gate's figures). Nothing is written unless every gate passed;
``ReleaseRefused`` then carries the gates' figures. See decision 0016.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.engine.compiler import compile_rules
from scanner.errors import FeedError, RuleError
from scanner.model import utc_now
from scanner.safefs import read_regular, write_atomic
from scanner.updates import bundle, release_cost, release_gates, release_sources, signatures, update
from scanner.updates.release_gates import Catalogue, Gate
from scanner.updates.release_gates import CostBudget as CostBudget

logger = logging.getLogger(__name__)

CHANGELOG_JSON = "changelog.json"
"""The changelog in a bundle, for programs (``format`` 1)."""
CHANGELOG_TEXT = "CHANGELOG.txt"
"""The changelog in a bundle, as ``feed build`` prints it."""
FORMAT = 1
"""Version of ``changelog.json``."""
MAX_CHANGELOG = 4 * 1024 * 1024
"""Largest changelog.json read back."""


class ReleaseRefused(FeedError):
    """A gate failed: nothing was written. ``gates`` holds every gate's outcome."""

    def __init__(self, message: str, gates: Sequence[Gate]) -> None:
        super().__init__(message)
        self.gates = tuple(gates)


@dataclass(frozen=True)
class Changes:
    """What changed since the previous release."""

    previous: str | None
    """The previous release's version (None: no --previous, everything counts as added)."""
    families_added: tuple[str, ...]
    families_removed: tuple[str, ...]
    rules_added: tuple[str, ...]
    rules_removed: tuple[str, ...]
    rules_changed: tuple[str, ...]
    rules: int
    """Rules in the new set."""
    families: int
    """Families in the new set."""


@dataclass(frozen=True)
class Release:
    """A built release."""

    bundle: Path
    """The bundle written."""
    sha256: str
    """Its SHA-256."""
    version: str
    """Its version (``manifest.toml``)."""
    changes: Changes
    sources: tuple[release_sources.Source, ...]
    gates: tuple[Gate, ...]
    changelog: str
    """The changelog as printed (CHANGELOG.txt)."""
    data: dict[str, Any]
    """The changelog as in changelog.json."""


def default_version(previous: str | None, today: dt.date) -> str:
    """``YYYY.MM.0`` of ``today``, or the previous release's next N when it is of the same month."""
    this = f"{today.year}.{today.month:02d}"
    if previous and signatures.valid_version(previous) and previous.rsplit(".", 1)[0] == this:
        return f"{this}.{int(previous.rsplit('.', 1)[1]) + 1}"
    return f"{this}.0"


def _families(sigset: signatures.SignatureSet, rules: Sequence[release_gates.RuleEntry]) -> set[str]:
    return {f.name for f in sigset.families} | {r.family for r in rules if r.family}


def _previous(path: Path, tmp: Path) -> tuple[signatures.SignatureSet, Catalogue]:
    """The previous release (a bundle or a set directory) and its rules."""
    if path.is_dir():
        root = path
    else:
        root = tmp / "previous"
        root.mkdir()
        bundle.extract(path, root)  # the client's unpacking rules: a previous bundle is input like any
    sigset = signatures.SignatureSet.load(root, "previous")
    gate, catalogue, _ = release_gates.compile_gate(sigset, whole=False)
    if not gate.passed:
        raise FeedError(f"previous release {path} cannot be read: {gate.failures[0]}")
    return sigset, catalogue


def changes(
    new: signatures.SignatureSet,
    new_rules: Catalogue,
    old: tuple[signatures.SignatureSet, Catalogue] | None,
) -> Changes:
    """Families and rules added, removed and changed (a rule by name; changed: its text differs)."""
    now = {r.name: r.text for r in new_rules.rules if not r.private}
    fam_now = _families(new, new_rules.rules)
    before: dict[str, str] = {}
    fam_before: set[str] = set()
    if old is not None:
        before = {r.name: r.text for r in old[1].rules if not r.private}
        fam_before = _families(old[0], old[1].rules)
    return Changes(
        previous=None if old is None else old[0].version,
        families_added=tuple(sorted(fam_now - fam_before)),
        families_removed=tuple(sorted(fam_before - fam_now)),
        rules_added=tuple(sorted(set(now) - set(before))),
        rules_removed=tuple(sorted(set(before) - set(now))),
        rules_changed=tuple(sorted(n for n in set(now) & set(before) if now[n] != before[n])),
        rules=len(now),
        families=len(fam_now),
    )


def _names(label: str, names: Sequence[str]) -> list[str]:
    return [f"  {label} ({len(names)}): {', '.join(names)}"] if names else []


def render(
    version: str, released: dt.date, ch: Changes, sources: Sequence[release_sources.Source], gates: Sequence[Gate]
) -> str:
    """The changelog as text: what changed, the sources and their licences, each gate's figures."""
    since = f"since {ch.previous}" if ch.previous else "first release (no --previous)"
    lines = [
        f"Signature set {version} ({released.isoformat()}), {since}",
        f"Families: {ch.families} (+{len(ch.families_added)} added, -{len(ch.families_removed)} removed)",
        *_names("added", ch.families_added),
        *_names("removed", ch.families_removed),
        f"Rules: {ch.rules} (+{len(ch.rules_added)} added, -{len(ch.rules_removed)} removed, "
        f"{len(ch.rules_changed)} changed)",
        *_names("added", ch.rules_added),
        *_names("removed", ch.rules_removed),
        *_names("changed", ch.rules_changed),
        "Sources:",
        *(
            f"  {s.name}: {s.rules} rules in {s.rule_files} files, licence {s.licence} "
            f"(licences/{s.name}/{s.licence_file}); attribution: {s.attribution or ', '.join(s.authors[:5]) or '-'}"
            for s in sources
        ),
        "Gates:",
        *(f"  {g.name}: {'passed' if g.passed else 'FAILED'}: {g.figures}" for g in gates),
    ]
    for g in gates:
        lines += [f"  {g.name} failed: {f}" for f in g.failures]
    return "\n".join(lines) + "\n"


def _json(
    version: str, released: dt.date, ch: Changes, sources: Sequence[release_sources.Source], gates: Sequence[Gate]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": version,
        "released": released.isoformat(),
        "previous": ch.previous,
        "families": {"count": ch.families, "added": list(ch.families_added), "removed": list(ch.families_removed)},
        "rules": {
            "count": ch.rules,
            "added": list(ch.rules_added),
            "removed": list(ch.rules_removed),
            "changed": list(ch.rules_changed),
        },
        "sources": [
            {"name": s.name, "licence": s.licence, "rules": s.rules, "attribution": s.attribution} for s in sources
        ],
        "gates": [
            {
                "name": g.name,
                "passed": g.passed,
                "figures": g.figures,
                "numbers": g.numbers,
                "failures": list(g.failures),
            }
            for g in gates
        ],
    }


def run_gates(
    sigset: signatures.SignatureSet, corpus: Sequence[Path], budget: CostBudget, tmp: Path
) -> tuple[list[Gate], Catalogue]:
    """Every gate on the gathered set (the later ones only when the set compiles)."""
    gate, catalogue, routed = release_gates.compile_gate(sigset)
    gates = [gate]
    if routed is None:
        return gates, catalogue
    plain = compile_rules(sigset.sources(), None, route=False)
    gates += release_gates.probe_gates(sigset, catalogue, routed, plain, tmp / "probes")
    gates.append(release_gates.clean_gate(routed, corpus))
    gates.append(release_cost.cost_gate(sigset, catalogue, corpus, budget, tmp / "cost"))
    problems = update.verify_dir(sigset.root)  # the client's activation tests, as `scanner update` runs them
    gates.append(Gate("activation", "as `scanner update` tests a bundle before it becomes active", tuple(problems)))
    return gates, catalogue


def build(
    out: Path,
    sources: Sequence[Path],
    corpus: Sequence[Path],
    *,
    previous: Path | None = None,
    version: str | None = None,
    budget: CostBudget | None = None,
    now: Any = utc_now,
) -> Release:
    """Gather ``sources``, test them, and write the bundle to ``out`` (only when every gate passed).

    FeedError (``SourceError``) for a source that cannot go in; ``ReleaseRefused`` naming each failed
    gate; nothing is written at ``out`` in either case.
    """
    budget = budget or CostBudget()
    if not corpus:
        raise FeedError("no clean corpus given: pass --clean-corpus DIR (files no rule may hit)")
    for c in corpus:
        if not c.is_dir() and not c.is_file():
            raise FeedError(f"clean corpus {c} is not a file or a directory")
    if out.is_dir() or (out.exists() and not out.is_file()):
        raise FeedError(f"{out} is not a regular file: give the bundle's file name, e.g. signatures.tar.gz")
    released = now().date()
    parent = out.absolute().parent
    if not parent.is_dir():
        raise FeedError(f"{parent} is not a directory: the bundle {out.name} cannot be written there")
    with tempfile.TemporaryDirectory(prefix=".feed-build-", dir=parent) as name:
        tmp = Path(name)
        staged = tmp / "set"
        staged.mkdir()
        gathered = release_sources.gather(sources, staged)
        old = _previous(previous, tmp) if previous is not None else None
        version = version or default_version(old[0].version if old else None, released)
        if not signatures.valid_version(version):
            raise FeedError(f"version {version!r} is not of the form YYYY.MM.N")
        update.write_manifest(staged, version, released)
        sigset = signatures.SignatureSet.load(staged, "updated")
        gates, catalogue = run_gates(sigset, corpus, budget, tmp)
        gathered = _counted(gathered, catalogue)
        release_sources.write_sources(staged, gathered)
        ch = changes(sigset, catalogue, old)
        text = render(version, released, ch, gathered, gates)
        _refuse_if_failed(version, gates)
        (staged / CHANGELOG_TEXT).write_text(text, encoding="utf-8")
        data = _json(version, released, ch, gathered, gates)
        (staged / CHANGELOG_JSON).write_text(json.dumps(data, indent=1), encoding="utf-8")
        archive = tmp / "bundle.tar.gz"
        bundle.build_bundle(staged, archive, int(dt.datetime.combine(released, dt.time(), dt.UTC).timestamp()))
        check = tmp / "check"
        check.mkdir()
        bundle.extract(archive, check)  # the client's unpacking rules and limits, before it is handed on
        blob = archive.read_bytes()
        write_atomic(out, blob)
    logger.info("release %s written to %s (%d bytes)", version, out, len(blob))
    return Release(out, hashlib.sha256(blob).hexdigest(), version, ch, tuple(gathered), tuple(gates), text, data)


def _refuse_if_failed(version: str, gates: Sequence[Gate]) -> None:
    failed = [g for g in gates if not g.passed]
    if not failed:
        return
    count = sum(len(g.failures) for g in failed)
    more = f" (and {count - 1} more)" if count > 1 else ""
    names = ", ".join(g.name for g in failed)
    raise ReleaseRefused(f"release {version} refused by the {names} gate: {failed[0].failures[0]}{more}", gates)


def _counted(gathered: Sequence[release_sources.Source], catalogue: Catalogue) -> list[release_sources.Source]:
    """Each source with its rule count and its rules' authors (most frequent first)."""
    out = []
    for s in gathered:
        mine = [r for r in catalogue.rules if r.source == s.name and not r.private]
        authors = Counter(r.author for r in mine if r.author)
        out.append(dataclasses.replace(s, rules=len(mine), authors=tuple(a for a, _ in authors.most_common())))
    return out


def read_changelog(set_dir: Path) -> dict[str, Any] | None:
    """The ``changelog.json`` of an installed set (None: it has none, or it cannot be read)."""
    path = set_dir / CHANGELOG_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(read_regular(path, MAX_CHANGELOG))
    except (OSError, ValueError) as exc:
        logger.info("%s cannot be read (%s): no changelog shown", path, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        logger.info("%s is not a changelog of format %d: not shown", path, FORMAT)
        return None
    return data


def summary(changelog: dict[str, Any] | None) -> list[str]:
    """What ``signatures info`` shows of a set's changelog (nothing for a set without one)."""
    if changelog is None:
        return ["Changelog:      none (this set was not built by 'scanner feed build')"]
    fam, rules = changelog.get("families") or {}, changelog.get("rules") or {}

    def names(part: dict[str, Any], key: str) -> str:
        items = [str(x) for x in part.get(key) or []]
        return f"{len(items)}" + (f" ({', '.join(items[:20])}{', ...' if len(items) > 20 else ''})" if items else "")

    since = f"since {changelog.get('previous')}" if changelog.get("previous") else "first release"
    lines = [
        f"Changelog:      {changelog.get('version')} ({changelog.get('released')}), {since}",
        f"  families:     added {names(fam, 'added')}; removed {names(fam, 'removed')}",
        f"  rules:        added {names(rules, 'added')}; removed {names(rules, 'removed')}; "
        f"changed {names(rules, 'changed')}",
    ]
    for src in changelog.get("sources") or []:
        if isinstance(src, dict):
            lines.append(f"  source:       {src.get('name')}: {src.get('rules')} rules, licence {src.get('licence')}")
    for gate in changelog.get("gates") or []:
        if isinstance(gate, dict):
            state = "passed" if gate.get("passed") else "FAILED"
            lines.append(f"  gate:         {gate.get('name')}: {state}: {gate.get('figures')}")
    return lines


def bundle_version(archive: Path) -> str | None:
    """The version in a bundle's manifest (unpacked with the client's rules into a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix=".feed-version-") as name:
        try:
            bundle.extract(archive, Path(name))
            return signatures.SignatureSet.load(Path(name), "updated").version
        except (FeedError, RuleError) as exc:
            raise FeedError(f"bundle {archive} cannot be read: {exc}") from exc
