"""Benchmark: `scanner scan` against a plain yara-python thread pool on ~10k real files.

Baseline, measured in the same run: os.scandir walk + ThreadPoolExecutor calling
``rules.match(path, externals=...)`` with the same rule and the same number of threads.
Both run as child processes (start-up included), page cache warm, interleaved, N rounds;
the figures are medians. Target: time ratio <= 1.2 and peak memory no higher.

    python bench/bench_scan.py [--rounds 5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BASELINE_WALK, child_env, corpus_roots, corpus_size, median, python, table, timed

RULE = 'rule bench_single_string { strings: $a = "scanner-bench-marker-7f3a9c" condition: $a }\n'

BASELINE = r"""
import os, sys, stat
from concurrent.futures import ThreadPoolExecutor
import yara
rules = yara.compile(filepath=sys.argv[1])
jobs = int(sys.argv[2])
BASELINE_WALK
def scan(path):
    try:
        return len(rules.match(path, externals={"filename": os.path.basename(path),
                   "filepath": os.path.dirname(path), "extension": os.path.splitext(path)[1].lower()}))
    except yara.Error:
        return 0
files = [e.path for r in sys.argv[3:] for e in walk(r)]
with ThreadPoolExecutor(max_workers=jobs) as ex:
    hits = sum(ex.map(scan, files))
print(len(files), hits)
""".replace("BASELINE_WALK\n", BASELINE_WALK)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    roots = corpus_roots()
    nfiles, nbytes = corpus_size(roots)
    with tempfile.TemporaryDirectory() as tmp:
        rule = Path(tmp) / "bench.yar"
        rule.write_text(RULE)
        base_py = Path(tmp) / "baseline.py"
        base_py.write_text(BASELINE)
        env = child_env(SCANNER_HOME=str(Path(tmp) / "home"))
        scanner = [
            python(),
            "-m",
            "scanner",
            "scan",
            "--no-default-rules",
            "--rules",
            str(rule),
            "--jobs",
            str(args.jobs),
            "--max-filesize",
            "4G",
            "--no-progress",
            "--no-cache",
            "--format",
            "json",
            *roots,
        ]
        baseline = [python(), str(base_py), str(rule), str(args.jobs), *roots]
        timed(baseline)  # warm the page cache and the compiled-rule cache
        warm = timed(scanner, env)
        report = json.loads(warm.stdout)
        runs: dict[str, list] = {"baseline": [], "scanner": []}
        for _ in range(args.rounds):
            runs["baseline"].append(timed(baseline))
            runs["scanner"].append(timed(scanner, env))
    b_t = median([r.seconds for r in runs["baseline"]])
    s_t = median([r.seconds for r in runs["scanner"]])
    b_m = median([r.max_rss_kib for r in runs["baseline"]])
    s_m = median([r.max_rss_kib for r in runs["scanner"]])
    print(
        f"corpus: {nfiles} files, {nbytes / 2**30:.2f} GiB in {', '.join(roots)}; "
        f"scanner scanned {report['counts']['files_scanned']} files; jobs {args.jobs}; {args.rounds} rounds"
    )
    print(
        table(
            [
                ["plain yara-python thread pool", f"{b_t:.2f}", f"{b_m / 1024:.1f}", "1.00", "1.00"],
                ["scanner scan", f"{s_t:.2f}", f"{s_m / 1024:.1f}", f"{s_t / b_t:.2f}", f"{s_m / b_m:.2f}"],
            ],
            ["", "median s", "median peak RSS MiB", "time ratio", "memory ratio"],
        )
    )
    ok = s_t / b_t <= 1.2 and s_m <= b_m
    print(f"target: time ratio <= 1.20 and memory ratio <= 1.00: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
