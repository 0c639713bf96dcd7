"""Differential run: content gates of generated YARA regular expressions against yara-python.

Generates regular expressions from a grammar of YARA's regex syntax (``tests/test_gating.py``:
literals, escapes, classes, quantifiers with the spaced forms, groups, alternation, anchors) and data
with a planted match, and checks that wherever yara-python matches, the string's content gate reports
it present (or leaves it ungated). The test suite runs the same property with a small budget; this
runs a long one and prints how many examples ran, how they ended, and any counter-example.

    python bench/bench_differential_gates.py [--examples 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_gating import gate_outcome, planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # each ungated string logs its reason
    outcomes: collections.Counter[str] = collections.Counter()
    missed: list[tuple[str, bytes]] = []

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(planted())
    def run(case: tuple[str, bytes]) -> None:
        outcome = gate_outcome(*case)
        outcomes[outcome] += 1
        if outcome == "missed":
            missed.append(case)
        assert outcome != "missed"

    with contextlib.suppress(AssertionError):  # hypothesis has shrunk it: the smallest is printed below
        run()
    print(f"examples run: {sum(outcomes.values())}")
    for outcome, n in outcomes.most_common():
        print(f"  {outcome:10} {n}")
    if missed:
        print("counter-examples (string, data), smallest last:")
        for string, data in missed[:1] + missed[-1:]:
            print(f"  {string}  {data!r}")
        return 1
    print("no counter-example")
    return 0


if __name__ == "__main__":
    sys.exit(main())
