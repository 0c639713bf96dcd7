"""Benchmark: the first scan with a new rule collection (fresh state directory) against a yara-python
pool that compiles the same rules and scans the same corpus; then the warm figure and peak memory.

Corpus: bench/common.py (/usr/bin, /usr/lib/<multiarch>, a copy of the Python standard library).
Collections: signature-base (``../shared/data/signature-base/yara`` beside the repository, as a directory)
and a synthetic PE-heavy collection of 1,200 rules (bench_speed.synthetic_rules) written one rule per file
with an ``index.yar`` of ``include`` lines, given as that index (``synthetic-index``); ``synthetic-dir``
gives the same files as a directory (the pool still compiles the index: 1,200 namespaces, each running the
``pe`` module, would make it four times slower).

Each round runs, as child processes, page cache warm:
- pool cold: ``yara.compile`` of the rule files (each in its own namespace; the index: one compile of the
  index), then a thread pool of ``--jobs`` matching every file (bench_speed's baseline);
- scanner cold: ``scanner scan --no-cache --no-archives`` (each file matched as a whole, as the pool does)
  with a new, empty state directory (nothing compiled yet): it compiles the whole set and matches every
  file against it; when it ends it starts the background preparation of the routed sets
  (``scanner.engine.prepare``), which the bench waits for and reports apart (its wall time after the scan,
  CPU time and peak RSS, from the preparation's own log line);
- scanner warm: the same command again with that state directory (compiled rules cached; file cache off);
- scanner cold as by default, looking into archives too (about 3% more matching on this corpus, which the
  pool does not do): a row of its own, not a target.

Both sides also scan inert files made of the rules' own strings (bench_speed.rule_samples), so that there
are detections to compare.

Printed: medians of the rounds, the median of the per-round ratios against the pool, and each side's peak
RSS (``ru_maxrss`` of the child, from wait4; the preparation's from its log). Targets: cold <= 1.0x, warm
<= 0.5x, identical detections (asserted: the bench fails when the scanner and the pool disagree), and the
cold start's peak (the larger of the scan's and the preparation's, which never run together) <= the
pool's + 100 MiB.

    python bench/bench_coldstart.py [--rounds 3] [--jobs 2] [--sets signature-base,synthetic-index]

Writes only under a temporary directory and bench/.corpus (or $SCANNER_BENCH_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import BASELINE, EXTERNALS, SIGNATURE_BASE, rule_files, rule_samples, synthetic_rules
from common import REPO, Run, child_env, corpus_roots, corpus_size, median, python, table, timed

POOL_COLD = (
    "import sys, time, yara\n"
    "t0 = time.perf_counter()\n"
    "_given = sys.argv[2:]\n"
    f"_ext = dict.fromkeys({EXTERNALS!r}, '')\n"
    "if len(_given) == 1 and _given[0].endswith('index.yar'):\n"
    "    rules = yara.compile(filepath=_given[0], externals=_ext, includes=True)\n"
    "else:\n"
    "    rules = yara.compile(filepaths={p: p for p in _given}, externals=_ext)\n"
    "sys.stderr.write(f'compile {time.perf_counter() - t0:.2f}\\n')\n"
    "sys.argv = [sys.argv[0], '-', sys.argv[1], *ROOTS]\n"
) + BASELINE.replace("rules = yara.load(sys.argv[1])\n", "")
"""The baseline: compile (as given: the files or the index), then bench_speed's pool over the corpus."""


def index_collection(where: Path, count: int = 1200) -> Path:
    """The synthetic collection, one rule per file under ``where/rules``, and ``where/index.yar`` including
    each; returns the index."""
    where.mkdir(parents=True, exist_ok=True)
    single = synthetic_rules(where / "all.yar", count)
    lines = single.read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("import ")]
    rules_dir = where / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    includes = []
    for ln in lines:
        m = re.match(r"rule (\w+) ", ln)
        if m:
            (rules_dir / f"{m.group(1)}.yar").write_text("\n".join([*head, ln]) + "\n")
            includes.append(f'include "rules/{m.group(1)}.yar"')
    single.unlink()
    index = where / "index.yar"
    index.write_text("\n".join(includes) + "\n")
    return index


PREPARED = re.compile(r"preparation (finished|gave up[^\n]*?) in ([\d.]+) s \(CPU ([\d.]+) s, peak RSS (\d+) MiB\)")


@dataclass(frozen=True)
class Prepared:
    """The background preparation a cold scan started."""

    after: float
    """Seconds from the scan's end to the preparation's."""
    cpu: float
    rss_mib: float


def wait_prepared(home: Path, started: float, limit: float = 900) -> Prepared:
    """Wait for the preparation the scan with state directory ``home`` started (its log line)."""
    log = home / "cache" / "rules" / "prepare.log"
    while time.perf_counter() - started < limit:
        m = PREPARED.search(log.read_text(errors="replace")) if log.is_file() else None
        if m:
            if m.group(1) != "finished":
                raise SystemExit(f"the preparation did not finish: {m.group(0)}")
            return Prepared(time.perf_counter() - started, float(m.group(3)), float(m.group(4)))
        if log.is_file() and "preparation failed" in log.read_text(errors="replace"):
            raise SystemExit(f"the preparation failed: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"no preparation finished within {limit:.0f} s (log {log})")


def hits_of_pool(run: Run) -> set[tuple[str, str]]:
    return {(p, r) for p, r in json.loads(run.stdout)["hits"]}


def hits_of_scanner(run: Run) -> set[tuple[str, str]]:
    assert run.returncode in (0, 1), f"the scanner failed (exit {run.returncode}): {run.stdout[:500]}"
    return {(d["path"], d["rule"]) for d in json.loads(run.stdout)["detections"]}


def bench_set(
    name: str, rules: Path, roots: list[str], args: argparse.Namespace, tmp: Path, pool_rules: Path | None = None
) -> list[str]:
    """Rounds of pool, cold and warm for the collection ``rules`` (the pool compiles ``pool_rules`` when given:
    the same rules in another form)."""
    files = rule_files(pool_rules or rules) if (pool_rules or rules).is_dir() else [pool_rules or rules]
    # inert files made of the rules' own strings, scanned by both sides, so that there are detections to compare
    samples = rule_samples(rule_files(rules) if rules.is_dir() else rule_files(rules.parent), tmp / f"samples-{name}")
    roots = [*roots, str(samples)]
    print(f"\n## {name}: {rules}; the pool compiles {len(files)} file(s)", flush=True)
    pool_script = tmp / "pool_cold.py"
    pool_script.write_text(POOL_COLD.replace("*ROOTS", ", ".join(repr(r) for r in roots)))
    env = child_env(PYTHONPATH=str(REPO))
    pool_argv = [python(), str(pool_script), str(args.jobs), *map(str, files)]

    def scanner_argv(archives: bool = False) -> list[str]:
        return [
            python(),
            "-m",
            "scanner",
            "scan",
            "--no-progress",
            "--no-default-rules",
            "--no-cache",
            *([] if archives else ["--no-archives"]),
            "--rules",
            str(rules),
            "--format",
            "json",
            "--max-filesize",
            "4G",
            "--jobs",
            str(args.jobs),
            *roots,
        ]

    timed(pool_argv, env)  # page cache warm
    pool: list[Run] = []
    cold: list[Run] = []
    warm: list[Run] = []
    prepared: list[Prepared] = []
    default: list[Run] = []
    for k in range(args.rounds):
        home = tmp / f"home-{name}-{k}"
        shutil.rmtree(home, ignore_errors=True)
        scan_env = {**env, "SCANNER_HOME": str(home)}
        pool.append(timed(pool_argv, env))
        cold.append(timed(scanner_argv(), scan_env))
        if cold[-1].returncode not in (0, 1):
            raise SystemExit(f"scanner exit {cold[-1].returncode}: {cold[-1].stderr_tail}")
        prepared.append(wait_prepared(home, time.perf_counter()))
        warm.append(timed(scanner_argv(), scan_env))
        other = tmp / f"home-{name}-{k}-default"  # cold again, archives looked into; no preparation after it
        other.mkdir(parents=True)
        (other / "config.toml").write_text("[rules]\nprepare = false\n")
        default.append(timed(scanner_argv(archives=True), {**env, "SCANNER_HOME": str(other)}))
        print(
            f"round {k + 1}: pool {pool[-1].seconds:.2f} s, cold {cold[-1].seconds:.2f} s, "
            f"then the preparation {prepared[-1].after:.2f} s, warm {warm[-1].seconds:.2f} s, "
            f"cold looking into archives {default[-1].seconds:.2f} s",
            flush=True,
        )
        shutil.rmtree(other, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    want = hits_of_pool(pool[-1])
    got_cold = [hits_of_scanner(r) for r in cold]
    got_warm = [hits_of_scanner(r) for r in warm]
    same = all(g == want for g in got_cold + got_warm)

    p_t = median([r.seconds for r in pool])
    c_rounds = [c.seconds / p.seconds for c, p in zip(cold, pool, strict=True)]
    w_rounds = [w.seconds / p.seconds for w, p in zip(warm, pool, strict=True)]
    d_rounds = [d.seconds / p.seconds for d, p in zip(default, pool, strict=True)]
    c_ratio, w_ratio = median(c_rounds), median(w_rounds)
    mem = {k: median([r.max_rss_kib / 1024 for r in v]) for k, v in (("pool", pool), ("cold", cold), ("warm", warm))}
    mem["prepare"] = median([p.rss_mib for p in prepared])
    cold_peak = median([max(c.max_rss_kib / 1024, p.rss_mib) for c, p in zip(cold, prepared, strict=True)])
    rows = [
        ["yara-python pool, compiling", f"{p_t:.2f}", f"{mem['pool']:.0f}", "1.00", f"jobs {args.jobs}"],
        [
            "scanner cold (fresh state directory)",
            f"{median([r.seconds for r in cold]):.2f}",
            f"{mem['cold']:.0f}",
            f"{c_ratio:.2f} (rounds {', '.join(f'{r:.2f}' for r in c_rounds)})",
            f"CPU {median([r.cpu_seconds for r in cold]) / median([r.cpu_seconds for r in pool]):.2f}x",
        ],
        [
            "scanner cold, archives looked into (the default; the pool cannot)",
            f"{median([r.seconds for r in default]):.2f}",
            f"{median([r.max_rss_kib / 1024 for r in default]):.0f}",
            f"{median(d_rounds):.2f} (rounds {', '.join(f'{r:.2f}' for r in d_rounds)})",
            f"CPU {median([r.cpu_seconds for r in default]) / median([r.cpu_seconds for r in pool]):.2f}x",
        ],
        [
            "then its background preparation (idle priority)",
            f"{median([p.after for p in prepared]):.2f}",
            f"{mem['prepare']:.0f}",
            "",
            f"CPU {median([p.cpu for p in prepared]):.1f} s, after the scan ended",
        ],
        [
            "scanner warm (compiled rules cached)",
            f"{median([r.seconds for r in warm]):.2f}",
            f"{mem['warm']:.0f}",
            f"{w_ratio:.2f} (rounds {', '.join(f'{r:.2f}' for r in w_rounds)})",
            f"CPU {median([r.cpu_seconds for r in warm]) / median([r.cpu_seconds for r in pool]):.2f}x",
        ],
    ]
    print(table(rows, ["", "median s", "median peak RSS MiB", "vs pool (median of rounds)", "notes"]))
    print(f"detections: {len(want)} on the pool's side; scanner {'identical' if same else 'DIFFER'} in every round")
    verdicts = [
        f"{name} cold <= 1.0x: {'met' if c_ratio <= 1.0 else 'NOT met'} ({c_ratio:.2f}x)",
        f"{name} warm <= 0.5x: {'met' if w_ratio <= 0.5 else 'NOT met'} ({w_ratio:.2f}x)",
        f"{name} cold peak RSS (scan or preparation) <= pool + 100 MiB: "
        f"{'met' if cold_peak <= mem['pool'] + 100 else 'NOT met'} ({cold_peak:.0f} vs {mem['pool']:.0f} MiB)",
    ]
    for v in verdicts:
        print(f"target: {v}", flush=True)
    if not same:
        for label, got in (("cold", got_cold[-1]), ("warm", got_warm[-1])):
            print(f"{label}: missing {sorted(want - got)[:5]}, extra {sorted(got - want)[:5]}")
    assert same, f"{name}: the scanner's detections differ from the yara-python pool's"
    return verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sets", default="signature-base,synthetic-index")
    ap.add_argument("--signature-base", type=Path, default=SIGNATURE_BASE)
    args = ap.parse_args()
    roots = corpus_roots()
    nfiles, nbytes = corpus_size(roots)
    print(
        f"corpus: {nfiles} files, {nbytes / 2**30:.2f} GiB in {', '.join(roots)}; jobs {args.jobs}; "
        f"{args.rounds} rounds; {os.cpu_count()} CPUs"
    )
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as t:
        tmp = Path(t)
        for name in args.sets.split(","):
            if name == "signature-base":
                if not args.signature_base.is_dir():
                    print(f"note: signature-base not found at {args.signature_base}; skipped")
                    continue
                verdicts += bench_set(name, args.signature_base, roots, args, tmp)
            elif name in ("synthetic-index", "synthetic-dir"):
                index = index_collection(tmp / "synthetic")
                given = index if name == "synthetic-index" else index.parent / "rules"
                verdicts += bench_set(name, given, roots, args, tmp, pool_rules=index)
            else:
                raise SystemExit(f"unknown set {name}")
    print("\n" + "\n".join(f"target: {v}" for v in verdicts))


if __name__ == "__main__":
    main()
