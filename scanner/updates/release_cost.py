"""The cost gate of a release: each rule's share of the set's scan time on a sample of the clean corpus.

libyara as packaged has no profiler (``Rules.profiling_info`` needs a build with it), so each rule file is
compiled alone and timed on the same in-memory sample, routed as a scan routes each file (a rule that only
ELF files can match costs nothing on a PHP file); the files that cost most (and any over budget) are
timed again rule by rule, each rule compiled with only what it needs (``compiler.RuleText.alone``). The
time of a rule that matches nothing (the fixed cost of a match call) is taken off every figure. A rule's
share is its time over the sum of all rule files' times. See ``release_gates.CostBudget`` and decision 0016.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.engine.compiler import CompiledRules, MatchFailed, MatchTimeout, RuleSource, compile_rules
from scanner.errors import RuleError
from scanner.model import Skipped
from scanner.safefs import read_regular
from scanner.scanning.walk import WalkOptions, walk
from scanner.updates import signatures
from scanner.updates.release_gates import Catalogue, CostBudget, Gate

logger = logging.getLogger(__name__)

TIMEOUT = 60
"""Seconds one rule may take on one file of the sample before it counts as over any budget."""
_DRILL = 3
"""The dearest rule files are timed rule by rule even when under budget (their rules are the figures)."""


def corpus_sample(corpus: Sequence[Path], budget: CostBudget) -> list[bytes]:
    """Up to ``budget.sample_bytes`` of the corpus, files spread evenly over it (by path), in memory."""
    found: list[tuple[str, int]] = []
    for entry in walk([os.fspath(p) for p in corpus], WalkOptions()):
        if isinstance(entry, Skipped):
            continue
        if 0 < entry.identity.size <= budget.max_sample_file:
            found.append((entry.path, entry.identity.size))
    found.sort()
    total = sum(size for _, size in found)
    stride = max(1, -(-total // max(1, budget.sample_bytes)))
    out: list[bytes] = []
    taken = 0
    for path, size in found[::stride]:
        if taken + size > budget.sample_bytes:
            continue
        try:
            out.append(read_regular(Path(path), budget.max_sample_file))
        except (OSError, ValueError) as exc:
            logger.debug("cost sample: %s left out (%s)", path, exc)
            continue
        taken += size
    logger.info("cost sample: %d files, %d bytes of %d files in the corpus", len(out), taken, len(found))
    return out


@dataclass(frozen=True)
class _Timed:
    name: str
    """``rule X (file)`` or ``file F (N rules)``."""
    ms: float
    """Time on the sample, the fixed cost taken off (inf: timed out)."""


def _time(compiled: CompiledRules, sample: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for data in sample:
        compiled.match_file_bytes(data, None, TIMEOUT)
    return (time.perf_counter() - started) * 1000


class _Timer:
    """Times compiled units on the sample: every unit once per round, rounds interleaved with a unit that
    matches nothing (the fixed cost), the least of the rounds kept. On a shared machine load only ever adds
    time, so the least is the figure nearest the rule's own cost."""

    def __init__(self, sample: Sequence[bytes], repeats: int, where: Path) -> None:
        self.sample, self.repeats, self.where = sample, max(1, repeats), where
        self.count = 0
        self.base = self.compile_text("rule release_cost_baseline { condition: false }\n")

    def compile_file(self, rel: str, path: Path) -> CompiledRules:
        return compile_rules([RuleSource(rel, path)], None)

    def compile_text(self, source: str) -> CompiledRules:
        self.count += 1
        path = self.where / f"unit-{self.count}.yar"
        path.write_text(source, encoding="utf-8")
        return compile_rules([RuleSource(f"cost-{self.count}", path)], None)

    def measure(self, units: dict[str, CompiledRules]) -> dict[str, float]:
        """Each unit's time on the sample (ms, the fixed cost taken off; inf when it timed out or failed)."""
        best = dict.fromkeys(units, float("inf"))
        failed: set[str] = set()
        base = float("inf")
        for _ in range(self.repeats):
            base = min(base, _time(self.base, self.sample))
            for name, compiled in units.items():
                if name in failed:
                    continue
                try:
                    best[name] = min(best[name], _time(compiled, self.sample))
                except (MatchTimeout, MatchFailed) as exc:
                    logger.info("cost: %s failed on the sample (%s): over any budget", name, exc)
                    failed.add(name)
                    best[name] = float("inf")
        return {n: float("inf") if n in failed else max(0.0, ms - base) for n, ms in best.items()}


def cost_gate(
    sigset: signatures.SignatureSet, catalogue: Catalogue, corpus: Sequence[Path], budget: CostBudget, where: Path
) -> Gate:
    """Time every rule file, then the dearest files' rules, and refuse what is over ``budget``."""
    sample = corpus_sample(corpus, budget)
    size = sum(len(d) for d in sample)
    slow = list(catalogue.slow)
    if not sample:
        return Gate("cost", "no corpus file to time the rules on", tuple(slow), {"sample_files": 0})
    where.mkdir(parents=True, exist_ok=True)
    timer = _Timer(sample, budget.repeats, where)
    compiled: dict[str, CompiledRules] = {}
    for path in sigset.rule_files():
        rel = path.relative_to(sigset.rules_dir).as_posix()
        try:
            compiled[rel] = timer.compile_file(rel, path)
        except RuleError as exc:  # the compile gate failed it already
            logger.info("cost: %s not timed (%s)", rel, exc)
    units, total = _units(timer, compiled, catalogue, budget)
    units.sort(key=lambda u: -u.ms)
    failures = [
        f"{u.name} takes {_share(u.ms, total)} of the set's scan time ({_ms(u.ms)} of {total:.0f} ms on "
        f"{size / 1e6:.1f} MB; budget {budget.max_share:.0%} above {budget.floor_ms:.0f} ms)"
        for u in units
        if u.ms / total > budget.max_share and u.ms > budget.floor_ms
    ]
    top = "; ".join(f"{u.name} {_share(u.ms, total)} ({_ms(u.ms)})" for u in units[:3])
    figures = (
        f"{len(compiled)} rule files timed on {len(sample)} files, {size / 1e6:.1f} MB: set {total:.0f} ms; "
        f"dearest {top}; budget {budget.max_share:.0%} above {budget.floor_ms:.0f} ms; "
        f"{len(slow)} slow-string warnings"
    )
    logger.info("cost: %s", figures)
    numbers: dict[str, float | int] = {
        "sample_files": len(sample),
        "sample_bytes": size,
        "set_ms": round(total, 1),
        "dearest_share": round(units[0].ms / total, 4) if units and units[0].ms != float("inf") else 1.0,
    }
    return Gate("cost", figures, tuple(failures + slow), numbers)


def _units(
    timer: _Timer, compiled: dict[str, CompiledRules], catalogue: Catalogue, budget: CostBudget
) -> tuple[list[_Timed], float]:
    """Every rule (or unsplittable file) with its time, and the set's time (the sum of its files').

    The files over budget and the dearest are timed again rule by rule, in the same rounds as every file
    again, so that a rule's share is of a total measured under the same load."""
    files = timer.measure(compiled)
    total = sum(v for v in files.values() if v != float("inf")) or 1e-9
    over = {f for f, ms in files.items() if ms / total > budget.max_share and ms > budget.floor_ms}
    drill = over | set(sorted(files, key=lambda f: -files[f])[:_DRILL])
    alone: dict[str, CompiledRules] = {}
    for rel in drill:
        public = [t for t in catalogue.texts.get(rel) or () if not t.private]
        if len(public) > 1:
            alone.update({f"rule {t.name} ({rel})": timer.compile_text(t.alone) for t in public})
    if alone:
        again = timer.measure({**compiled, **alone})
        files = {rel: again[rel] for rel in files}
        total = sum(v for v in files.values() if v != float("inf")) or 1e-9
        drilled = {name: again[name] for name in alone}
    else:
        drilled = {}
    units = [_Timed(name, ms) for name, ms in drilled.items()]
    split = {name.rsplit(" (", 1)[1][:-1] for name in drilled}
    for rel, ms in files.items():
        if rel in split:
            continue
        public = [t for t in catalogue.texts.get(rel) or () if not t.private]
        if len(public) == 1:
            units.append(_Timed(f"rule {public[0].name} ({rel})", ms))
        else:
            units.append(_Timed(f"file {rel} ({len(public) or '?'} rules)", ms))
    return units, total


def _share(ms: float, total: float) -> str:
    return "all" if ms == float("inf") else f"{ms / total:.1%}"


def _ms(ms: float) -> str:
    return f"over {TIMEOUT} s on a file" if ms == float("inf") else f"{ms:.1f} ms"
