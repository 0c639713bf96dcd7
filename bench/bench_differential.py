"""Differential run: routed detections of generated rule sets and files against plain yara-python.

Generates rule files from a grammar of conditions and strings (``tests/test_differential.py``: string
terms, counts, offsets, magic, modules, ``filesize`` near the bucket edges, external variables, nesting,
private and global rules, references; text, hex and regular-expression strings) beside a bulk of gated
rules that makes the set routed, and files (headers, sizes at the edges, planted strings, names, hard
links). Checks that the routed scan (freshly compiled, from the cache, and while the routed sets are
built in the background) finds exactly what plain yara-python finds, with no fallback warned of. The
test suite runs the same property with a small budget; this runs a long one and prints how many
examples ran, how many had detections, and each counter-example as Hypothesis shrinks it.

    python bench/bench_differential.py [--examples 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_differential import Case, cases, check, run_case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # each compile logs its plan
    counts: collections.Counter[str] = collections.Counter()
    failing: list[Case] = []
    started = time.monotonic()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: Case) -> None:
        outcome = run_case(case)
        counts["examples"] += 1
        counts["with detections"] += bool(outcome.want)
        counts["with generated-rule detections"] += any(ns == "gen" for _, ns, _ in outcome.want)
        counts["detections"] += len(outcome.want)
        counts["files"] += len(case.samples)
        counts["hard links"] += sum(len(s.links) for s in case.samples)
        counts["files plain yara-python fails on"] += len(outcome.failed)
        if not outcome.agrees:
            counts["disagreements"] += 1
            failing.append(case)
            check(case)  # raises, saying how

    try:
        run()
    except AssertionError as exc:  # hypothesis has shrunk it
        print(f"counter-example (shrunk):\n{exc}")
    except ExceptionGroup as group:  # several distinct failures, each shrunk
        for exc in group.exceptions:
            print(f"counter-example (shrunk):\n{exc}")
    print(f"examples run: {counts['examples']} in {time.monotonic() - started:.0f} s (seed {args.seed})")
    for what in (
        "with detections",
        "with generated-rule detections",
        "detections",
        "files",
        "hard links",
        "files plain yara-python fails on",
    ):
        print(f"  {what:34} {counts[what]}")
    print(f"  {'disagreements (before shrinking)':34} {counts['disagreements']}")
    if failing:
        return 1
    print("no counter-example")
    return 0


if __name__ == "__main__":
    sys.exit(main())
