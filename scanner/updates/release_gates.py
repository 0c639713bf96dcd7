"""The tests a release must pass before it is bundled, each a gate that names what failed, with its figures.

- ``compile``: every rule file compiles alone and the whole set compiles, strictly (a libyara warning that
  is not about speed fails too);
- ``samples``: every sample hits its rule and no rule of another family; every rule of a source with
  samples has one;
- ``near-misses``: every near-miss sample hits nothing;
- ``clean corpus``: no rule hits any file under the clean corpus (the set routed, as clients scan);
- ``cost``: no rule takes more than its budget of the set's scan time on a sample of the corpus, and no
  string libyara warns slows scanning (see ``CostBudget``);
- ``agreement``: the routed scan and a plain yara-python match of the whole set find the same rules in
  every sample and near-miss.

The set is the gathered directory of ``release_sources``; this module reads it, writes only into the
temporary directory it is given.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner import inert
from scanner.engine.compiler import CompiledRules, RuleSource, RuleText, compile_rules, inspect_rule_file
from scanner.errors import RuleError
from scanner.safefs import read_regular
from scanner.scanning.facts import file_externals
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk
from scanner.updates import release_sources, signatures

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CostBudget:
    """How much of the set's scan time one rule may take (decision 0016).

    A rule is refused when its share of the whole set's time is over ``max_share`` *and* its own time is
    over ``floor_ms`` (so that a small set, where every rule has a large share of little time, and timer
    noise refuse nothing). Times are measured on ``sample_bytes`` of the clean corpus, held in memory,
    each rule file compiled alone (then each rule of a file over budget alone), best of ``repeats``.
    """

    max_share: float = 0.05
    """Largest share of the set's time a rule may take (0.05: 5%)."""
    floor_ms: float = 100.0
    """A rule whose own time on the sample is at most this is never refused."""
    sample_bytes: int = 16 * 1024 * 1024
    """Bytes of the corpus the rules are timed on."""
    max_sample_file: int = 4 * 1024 * 1024
    """Larger files of the corpus are left out of the timing sample."""
    repeats: int = 5
    """Timings per rule file (the least is kept)."""


@dataclass(frozen=True)
class Gate:
    """One gate's outcome."""

    name: str
    """``compile``, ``samples``, ``near-misses``, ``clean corpus``, ``cost``, ``agreement``."""
    figures: str
    """What it measured, one line."""
    failures: tuple[str, ...] = ()
    """What failed, one line each with its figure (empty: passed)."""
    numbers: dict[str, float | int] = field(default_factory=dict)
    """Its figures as numbers (for changelog.json)."""

    @property
    def passed(self) -> bool:
        """Whether nothing failed."""
        return not self.failures


@dataclass(frozen=True)
class RuleEntry:
    """A rule of the set, as the gates and the changelog know it."""

    name: str
    """Its identifier."""
    file: str
    """Its rule file, relative to the set's ``rules/``."""
    source: str
    """The source it came from."""
    family: str
    """Its ``family`` meta (empty when it has none)."""
    author: str
    """Its ``author`` meta."""
    private: bool
    """Declared private."""
    text: str
    """The rule as written (whitespace collapsed); the whole file's text when the file cannot be split."""


@dataclass
class Catalogue:
    """What the compile gate read: every rule, each file's split into rules, and libyara's speed warnings."""

    rules: list[RuleEntry] = field(default_factory=list)
    """Every rule of every file that compiled."""
    texts: dict[str, tuple[RuleText, ...] | None] = field(default_factory=dict)
    """Rule file (relative to ``rules/``) -> its rules as text (None: it cannot be split)."""
    slow: list[str] = field(default_factory=list)
    """libyara's warnings about speed, one line each naming the file (the cost gate refuses them)."""


def _inspect(rel: str, path: Path, catalogue: Catalogue, source: str) -> list[str]:
    try:
        info = inspect_rule_file(RuleSource(rel, path))
    except RuleError as exc:
        return [f"{rel}: {exc}"]
    catalogue.texts[rel] = info.texts
    texts = {t.name: t for t in info.texts or ()}
    whole = " ".join(path.read_text(encoding="utf-8", errors="replace").split()) if info.texts is None else ""
    for name, meta in info.metas.items():
        t = texts.get(name)
        catalogue.rules.append(
            RuleEntry(
                name,
                rel,
                source,
                str(meta.get("family", meta.get("malware_family", ""))),
                str(meta.get("author", "")),
                t.private if t else False,
                t.text if t else whole,
            )
        )
    problems = []
    for w in info.warnings:
        if "slow" in w or "consider using" in w:
            catalogue.slow.append(f"{rel}: libyara warns: {w}")
        else:
            problems.append(f"{rel}: libyara warns (strict): {w}")
    return problems


def compile_gate(
    sigset: signatures.SignatureSet, *, whole: bool = True
) -> tuple[Gate, Catalogue, CompiledRules | None]:
    """Every rule file alone, then (``whole``) the whole set, routed as clients compile it (None when not
    compiled)."""
    catalogue = Catalogue()
    failures: list[str] = []
    files = sigset.rule_files()
    for path in files:
        rel = path.relative_to(sigset.rules_dir).as_posix()
        failures += _inspect(rel, path, catalogue, release_sources.source_of(path, sigset.rules_dir))
    compiled = None
    if whole and not failures:
        try:
            compiled = compile_rules(sigset.sources(), None)
        except RuleError as exc:
            failures.append(f"the whole set: {exc}")
    n = len(catalogue.rules)
    figures = f"{len(files)} rule files, {n} rules, {len(failures)} not compiling"
    return Gate("compile", figures, tuple(failures), {"files": len(files), "rules": n}), catalogue, compiled


@dataclass(frozen=True)
class Probe:
    """A sample or near-miss written out (decoded) for matching as a real file."""

    kind: str
    """``samples`` or ``nearmiss``."""
    rule: str
    """The rule it is filed under."""
    shown: str
    """Its path in the set (``samples/<RULE>/<name>.inert``)."""
    path: Path
    """The decoded file."""


def write_probes(sigset: signatures.SignatureSet, where: Path) -> tuple[list[Probe], list[str]]:
    """Decode every sample and near-miss into ``where/<kind>/<RULE>/<name>`` (the name without
    ``.inert``, so file-name rules see the name the sample stands for); also what cannot be decoded."""
    probes: list[Probe] = []
    problems: list[str] = []
    for kind, items in (("samples", sigset.samples()), ("nearmiss", release_sources.nearmisses(sigset))):
        for rule, sample in items:
            shown = sample.relative_to(sigset.root).as_posix()
            try:
                data = inert.decode(read_regular(sample, release_sources.MAX_FILE))
            except (OSError, ValueError) as exc:
                problems.append(f"{shown} cannot be decoded: {exc}")
                continue
            dest = where / kind / rule / sample.stem
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            probes.append(Probe(kind, rule, shown, dest))
    return probes, problems


def _plain(compiled: CompiledRules, path: Path) -> set[str]:
    """The rules a plain yara-python match of the whole set finds in ``path`` (externals as a scan gives)."""
    st = path.stat()
    head = path.read_bytes()[:16]
    ext = file_externals(os.fspath(path), head, st.st_uid, compiled.uses)
    return {m.hit.rule for m in compiled.match_path(os.fspath(path), ext, 60)}


def probe_gates(
    sigset: signatures.SignatureSet, catalogue: Catalogue, routed: CompiledRules, plain: CompiledRules, where: Path
) -> list[Gate]:
    """The samples, near-misses and agreement gates."""
    probes, problems = write_probes(sigset, where)
    found = {p.path: _plain(plain, p.path) for p in probes}
    family = {r.name: r.family for r in catalogue.rules}
    sample_fail = list(problems)
    for p in (p for p in probes if p.kind == "samples"):
        if p.rule not in family:
            sample_fail.append(f"{p.shown}: no rule {p.rule} in the set")
        elif p.rule not in found[p.path]:
            sample_fail.append(
                f"{p.shown} does not hit rule {p.rule} (hits: {', '.join(sorted(found[p.path])) or 'none'})"
            )
        for other in sorted(found[p.path] - {p.rule}):
            if family.get(other, "") != family.get(p.rule) or not family.get(other):
                sample_fail.append(f"{p.shown} also hits rule {other} (family {family.get(other) or '?'})")
    with_samples = {p.rule for p in probes if p.kind == "samples"}
    set_sources = {str(e.get("name")) for e in release_sources.read_manifest(sigset.root) if e.get("samples")}
    for r in catalogue.rules:
        if not r.private and r.source in set_sources and r.name not in with_samples:
            sample_fail.append(f"rule {r.name} ({r.file}) has no sample")
    misses = [p for p in probes if p.kind == "nearmiss"]
    near_fail = [f"{p.shown} hits rule {', '.join(sorted(found[p.path]))}" for p in misses if found[p.path]]
    near_fail += [f"{p.shown}: no rule {p.rule} in the set" for p in misses if p.rule not in family]
    n_samples = len(probes) - len(misses)
    public = [r for r in catalogue.rules if not r.private]
    covered = len({p.rule for p in misses} & {r.name for r in public})
    gates = [
        Gate(
            "samples",
            f"{n_samples} samples for {len(with_samples)} rules, {len(sample_fail)} failing",
            tuple(sample_fail),
            {"samples": n_samples, "rules_with_samples": len(with_samples)},
        ),
        Gate(
            "near-misses",
            f"{len(misses)} near-misses for {covered} of {len(public)} rules, {len(near_fail)} hitting",
            tuple(near_fail),
            {"nearmisses": len(misses), "rules_with_nearmisses": covered},
        ),
    ]
    gates.append(_agreement(probes, found, routed))
    return gates


def _agreement(probes: Sequence[Probe], plain: dict[Path, set[str]], routed: CompiledRules) -> Gate:
    entries = walk([os.fspath(p.path) for p in probes], WalkOptions())
    hits, skipped, files, _ = scan_files(entries, routed, jobs=os.cpu_count() or 1, timeout=60, max_filesize=None)
    got: dict[str, set[str]] = {r.path: {m.hit.rule for m in r.matches} for r in hits}
    failures = [f"{s.path} could not be scanned: {s.reason.value}" for s in skipped]
    for p in probes:
        mine = got.get(os.fspath(p.path), set())
        if mine != plain[p.path]:
            failures.append(
                f"{p.shown}: routed scan finds {', '.join(sorted(mine)) or 'nothing'}, "
                f"plain yara-python {', '.join(sorted(plain[p.path])) or 'nothing'}"
            )
    figures = f"{files} samples and near-misses, routed scan {'==' if not failures else '!='} plain yara-python"
    return Gate("agreement", figures, tuple(failures), {"files": files, "differences": len(failures)})


def clean_gate(routed: CompiledRules, corpus: Sequence[Path], timeout: int = 60) -> Gate:
    """No rule may hit any file under ``corpus`` (routed, every file whatever its size)."""
    started = time.monotonic()
    roots = [os.fspath(p) for p in corpus]
    hits, skipped, files, size = scan_files(
        walk(roots, WalkOptions()), routed, jobs=os.cpu_count() or 1, timeout=timeout, max_filesize=None
    )
    seconds = time.monotonic() - started
    failures = [f"rule {m.hit.rule} hits clean file {r.path}" for r in hits for m in r.matches]
    timeouts = [s for s in skipped if s.reason.value == "timeout"]
    failures += [f"clean file {s.path} took over {timeout} s to scan" for s in timeouts]
    why = Counter(s.reason.value for s in skipped)
    passed_over = ", ".join(f"{n} {reason}" for reason, n in why.most_common())
    figures = (
        f"{files} files, {size / 1e6:.1f} MB in {seconds:.1f} s ({len(skipped)} not scanned"
        f"{': ' + passed_over if passed_over else ''}), {len(failures)} false positives"
    )
    logger.info("clean corpus: %s", figures)
    return Gate(
        "clean corpus",
        figures,
        tuple(failures),
        {"files": files, "bytes": size, "seconds": round(seconds, 2), "not_scanned": len(skipped)},
    )
