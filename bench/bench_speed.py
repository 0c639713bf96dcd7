"""Benchmark: routed, cached `scanner scan` against yara-python, the `yara` command and clamscan.

Corpus: this machine's own files (bench/common.py: /usr/bin, /usr/lib/<multiarch>, a copy of the
Python standard library). Rule sets: signature-base (``../shared/data/signature-base/yara`` beside
the repository, or ``--signature-base``) and a synthetic PE-heavy set generated here (1,200 rules,
most gated on ``uint16(0) == 0x5A4D``, deterministic). Everything runs as child processes, page
cache warm, in the same run; figures are medians.

Measured for each rule set:
- baselines: a plain yara-python thread pool with the same jobs (rules precompiled, loaded with
  ``yara.load``; its compile time is printed apart), the ``yara`` command (``-p`` jobs; Debian's
  ``yara`` package) and ``clamscan`` with the rule files it can load; a missing tool is skipped
  with a note;
- scanner first full scan with the file cache off (target <= 0.5x the yara-python pool, with
  identical detections), a rescan of the unchanged tree with the cache on (target <= 0.05x the
  first scan), start-up to rules ready with a warm compiled-rule cache (target <= 0.5 s): an
  empty directory, and three files (PE, ELF, text) that make every set they need load.

    python bench/bench_speed.py [--rounds 5] [--jobs 2] [--sets signature-base,synthetic] [--no-clamscan]

Needs root for nothing; writes only under bench/.corpus (or $SCANNER_BENCH_DIR) and /tmp.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BASELINE_WALK, REPO, WORK, Run, child_env, corpus_roots, corpus_size, median, python, table, timed

sys.path.insert(0, str(REPO))
from scanner.engine import analysis, routing, syntax

SIGNATURE_BASE = REPO.parent / "shared" / "data" / "signature-base" / "yara"
EXTERNALS = ("filename", "filepath", "extension", "filetype", "owner")

BASELINE = r"""
import json, os, sys
from concurrent.futures import ThreadPoolExecutor
import yara
from scanner.scanning.facts import file_externals
rules = yara.load(sys.argv[1])
jobs = int(sys.argv[2])
BASELINE_WALK
def scan(e):
    try:
        with open(e.path, "rb") as f:
            head = f.read(16)
        ext = file_externals(e.path, head, e.stat(follow_symlinks=False).st_uid)
        return [(e.path, m.rule) for m in rules.match(e.path, externals=ext, timeout=60)]
    except (OSError, yara.Error):
        return []
files = [e for r in sys.argv[3:] for e in walk(r)]
with ThreadPoolExecutor(max_workers=jobs) as ex:
    hits = [h for found in ex.map(scan, files) for h in found]
print(json.dumps({"files": len(files), "hits": sorted(hits)}))
""".replace("BASELINE_WALK\n", BASELINE_WALK)

COMPILE = (
    "import sys, yara; yara.compile(filepaths={p: p for p in sys.argv[2:]}, "
    f"externals=dict.fromkeys({EXTERNALS!r}, '')).save(sys.argv[1])"
)

DRIVER = r"""
import datetime as dt, sys
from pathlib import Path
from scanner import report
from scanner.updates import signatures
from scanner.scanning.filecache import CacheMode
from scanner.model import ScanType
from scanner.scanning.scan import ScanRequest, run_scan
from scanner.state import StateDir, default_home
from scanner.scanning.walk import WalkOptions
mode, jobs, rules, *roots = sys.argv[1:]
state = StateDir(default_home())
loaded = signatures.load_rules(state, [Path(rules)], False, today=dt.date.today(), max_age_days=10**6)
request = ScanRequest(ScanType.CUSTOM, paths=tuple(roots), walk=WalkOptions(max_filesize=None), jobs=int(jobs),
                      cache_dir=state.file_cache, cache=CacheMode(mode))
print(report.dumps(report.report_json(run_scan(request, loaded.rules, loaded.info))), end="")
"""


def synthetic_rules(path: Path, count: int = 1200, seed: int = 20240601) -> Path:
    """A PE-heavy rule set: 85% gated on MZ, 5% on ELF, 10% for any file; a few strings match real files."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
            for _ in range(rng.randint(8, 14))
        )

    # a few strings that occur in a handful of the corpus's files, so detections can be compared
    real_elf = ["SQLite format 3", "deflate 1.2"]
    real_any = ["xkcd.com/353", "Gzip file support"]
    lines = ['import "pe"', ""]
    for i in range(count):
        kind = i % 20
        strings = [word() for _ in range(rng.randint(2, 4))]
        if kind == 0:
            gate = "uint32(0) == 0x464C457F"
            if i // 20 < len(real_elf):
                strings[0] = real_elf[i // 20]
            cond = f"{gate} and any of them"
        elif kind in (1, 2):
            if (i // 20) < len(real_any) and kind == 1:
                strings[0] = real_any[i // 20]
            cond = "any of them"
        elif kind == 3:
            cond = f"pe.number_of_sections > 1 and filesize < {rng.randint(100, 4000)}KB and any of them"
        else:
            cond = f"uint16(0) == 0x5A4D and filesize < {rng.randint(50, 8000)}KB and 2 of them"
        decl = " ".join(
            f'$s{k} = "{s}"' + (" wide ascii" if k == 0 and kind > 10 else "") for k, s in enumerate(strings)
        )
        lines.append(f'rule synth_{i:04d} {{ meta: family = "Synth{i % 37}" strings: {decl} condition: {cond} }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def rule_samples(files: list[Path], dest: Path) -> Path:
    """Inert files made of each rule file's plain text strings, under several heads, so that the
    detection comparison has detections to compare (the corpus itself has none for most rule sets)."""
    dest.mkdir(exist_ok=True)
    literal = re.compile(r'\$\w*\s*=\s*("(?:\\.|[^"\\\n])*")([^\n]*)')
    heads = {"mz": b"MZ\x90\x00\x03\x00", "elf": b"\x7fELF\x02\x01\x01\x00", "txt": b"<?php ", "raw": b"\x00\x01"}
    for p in files:
        found = []
        for m in literal.finditer(p.read_text(encoding="utf-8", errors="replace")):
            data = syntax.text_bytes(m.group(1))
            if data:
                found.append(data.decode("latin-1").encode("utf-16-le") if "wide" in m.group(2) else data)
        if found:
            for head_name, head in heads.items():
                (dest / f"{p.stem}.{head_name}").write_bytes(head + b"\n" + b"\n".join(found))
    return dest


def rule_files(rules: Path) -> list[Path]:
    return sorted(p for p in rules.rglob("*") if p.suffix in (".yar", ".yara")) if rules.is_dir() else [rules]


def plan_summary(files: list[Path]) -> str:
    analysed = [analysis.analyse(p.name, str(p), p.read_bytes()) for p in files]
    plan = routing.plan(analysed)
    reporting = sum(1 for fa in analysed for r in fa.rules if not r.private)
    if plan is None:
        return f"{reporting} rules: not routed"
    sets = ", ".join(f"{s.name} {s.rules}" for s in plan.sets)
    return f"{reporting} rules; sets (prefix.size-bucket rules): {sets}"


def clamav_db(files: list[Path], cache: Path, empty: Path) -> tuple[Path, list[Path], int]:
    """A database directory of the rule files clamscan loads without an error, and how many rules it loads.

    Each file is tried alone on an empty file; ClamAV's YARA support lacks modules, external
    variables and some functions, and it drops a file at its first rule it cannot parse.
    """
    digest = hashlib.sha256("".join(f"{p}:{p.stat().st_mtime_ns}" for p in files).encode()).hexdigest()[:16]
    memo = cache / f"clamav-accepted-{digest}.json"
    dbdir = cache / f"clamav-db-{digest}"
    if memo.is_file() and dbdir.is_dir():
        data = json.loads(memo.read_text())
        return dbdir, [Path(p) for p in data["files"]], int(data["rules"])
    ok: list[Path] = []
    for p in files:
        res = subprocess.run(["clamscan", "-d", str(p), str(empty)], capture_output=True, text=True)
        if res.returncode == 0 and "Error" not in res.stderr and "Known viruses: 0" not in res.stdout:
            ok.append(p)
    rules = 0
    shutil.rmtree(dbdir, ignore_errors=True)
    dbdir.mkdir(parents=True)
    for k, p in enumerate(ok):
        shutil.copyfile(p, dbdir / f"{k:04d}-{p.name}")  # benchmark scratch under bench/.corpus, never committed
    if ok:
        res = subprocess.run(["clamscan", "-d", str(dbdir), str(empty)], capture_output=True, text=True)
        m = re.search(r"Known viruses: (\d+)", res.stdout)
        rules = int(m.group(1)) if m else 0
    memo.write_text(json.dumps({"files": [str(p) for p in ok], "rules": rules}))
    return dbdir, ok, rules


def yarac_accepted(files: list[Path], out: Path) -> tuple[list[Path], bool]:
    """Compile with the packaged yarac; files it rejects are left out (its libyara may be older)."""
    defs = [a for e in EXTERNALS for a in ("-d", f"{e}=")]
    if subprocess.run(["yarac", "-w", *defs, *map(str, files), str(out)], capture_output=True).returncode == 0:
        return files, True
    ok = [
        p
        for p in files
        if subprocess.run(["yarac", "-w", *defs, str(p), str(out)], capture_output=True).returncode == 0
    ]
    res = subprocess.run(["yarac", "-w", *defs, *map(str, ok), str(out)], capture_output=True)
    return ok, res.returncode == 0


def mib(run: Run) -> str:
    return f"{run.max_rss_kib / 1024:.0f}"


def bench_set(
    name: str, rules: Path, roots: list[str], args: argparse.Namespace, tmp: Path, use_cli: bool
) -> list[str]:
    files = rule_files(rules)
    print(f"\n## {name}: {len(files)} file(s); {plan_summary(files)}", flush=True)
    home = tmp / f"home-{name}"
    env = child_env(SCANNER_HOME=str(home), PYTHONPATH=str(REPO))
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    three = tmp / "three"
    if not three.is_dir():
        three.mkdir()
        shutil.copyfile("/bin/ls", three / "elf")
        (three / "pe.exe").write_bytes(b"MZ\x90\x00" + b"\0" * 4096)
        (three / "text.txt").write_text("hello\n" * 100)
    base = [
        python(),
        "-m",
        "scanner",
        "scan",
        "--no-progress",
        "--no-default-rules",
        "--rules",
        str(rules),
        "--format",
        "json",
        "--max-filesize",
        "4G",
        "--jobs",
        str(args.jobs),
    ]

    def ours(mode: str, where: list[str] = roots) -> list[str]:
        if use_cli:
            return [*base, *(["--no-cache"] if mode == "off" else []), *where]
        return [python(), str(tmp / "driver.py"), mode, str(args.jobs), str(rules), *where]

    cold = timed([*base, str(empty)], env)
    startup = [timed([*base, str(empty)], env) for _ in range(5)]
    ready = [timed([*base, str(three)], env) for _ in range(5)]

    compiled = tmp / f"{name}.yarc"
    compile_run = timed([python(), "-c", COMPILE, str(compiled), *map(str, files)], env)
    baseline = [python(), str(tmp / "baseline.py"), str(compiled), str(args.jobs), *roots]
    timed(baseline, env)  # page cache warm
    first, pool, rescan = [], [], []
    for _ in range(args.rounds):
        pool.append(timed(baseline, env))
        first.append(timed(ours("off"), env))
    timed(ours("use"), env)  # fills the clean-file cache
    for _ in range(args.rounds):
        rescan.append(timed(ours("use"), env))
    want = {tuple(h) for h in json.loads(pool[-1].stdout)["hits"]}
    rep = json.loads(first[-1].stdout)
    got = {(d["path"], d["rule"]) for d in rep["detections"]}
    again = json.loads(rescan[-1].stdout)
    got_again = {(d["path"], d["rule"]) for d in again["detections"]}
    samples = str(rule_samples(files, tmp / f"samples-{name}"))
    sample_want = {tuple(h) for h in json.loads(timed([*baseline[: -len(roots)], samples], env).stdout)["hits"]}
    sample_got = {(d["path"], d["rule"]) for d in json.loads(timed(ours("off", [samples]), env).stdout)["detections"]}

    rows: list[list[object]] = []
    p_t = median([r.seconds for r in pool])
    rows.append(
        ["plain yara-python thread pool", f"{p_t:.2f}", mib(pool[-1]), "1.00", f"jobs {args.jobs}, rules precompiled"]
    )
    notes = []
    if shutil.which("yara") and shutil.which("yarac"):
        ok, fine = yarac_accepted(files, tmp / f"{name}.yara42c")
        if fine:
            cmd = " ; ".join(f"yara -w -N -r -p {args.jobs} -C {tmp / f'{name}.yara42c'} '{r}'" for r in roots)
            ycli = timed(["sh", "-c", cmd])
            ver = subprocess.run(["yara", "--version"], capture_output=True, text=True).stdout.strip()
            rows.append(
                [
                    f"yara {ver} command",
                    f"{ycli.seconds:.2f}",
                    mib(ycli),
                    f"{ycli.seconds / p_t:.2f}",
                    f"-p {args.jobs}; {len(ok)}/{len(files)} files compile with its yarac",
                ]
            )
        else:
            notes.append("yara command: its yarac compiles none of these files; skipped")
    else:
        notes.append("yara command not installed (apt-get install yara); skipped")
    if args.no_clamscan:
        notes.append("clamscan skipped (--no-clamscan)")
    elif shutil.which("clamscan"):
        empty_file = tmp / "empty-file"
        empty_file.write_bytes(b"")
        dbdir, ok, nrules = clamav_db(files, WORK, empty_file)
        if ok:
            # ClamAV's default size limits: files past them are read only in part, so this is a lower bound
            clam = timed(["clamscan", "-d", str(dbdir), "-r", "-i", "--no-summary", *roots])
            rows.append(
                [
                    "clamscan (one thread)",
                    f"{clam.seconds:.2f}",
                    mib(clam),
                    f"{clam.seconds / p_t:.2f}",
                    f"{nrules} rules from {len(ok)}/{len(files)} files it loads; its default size limits",
                ]
            )
        else:
            notes.append("clamscan loads none of these rule files; skipped")
    else:
        notes.append("clamscan not installed (apt-get install clamav); skipped")
    f_t = median([r.seconds for r in first])
    r_t = median([r.seconds for r in rescan])
    # rounds are paired (pool, then scanner): the median of the per-round ratios is the least disturbed by
    # the machine's drifts; CPU time (user + system) is less disturbed still by waiting on I/O
    paired = sorted(f.seconds / p.seconds for f, p in zip(first, pool, strict=True))
    cpu = median([f.cpu_seconds for f in first]) / median([p.cpu_seconds for p in pool])
    ratio = median(paired)
    links = rep.get("hard_links", {"names": 0, "bytes": 0})
    rows.append(
        [
            "scanner first scan, file cache off",
            f"{f_t:.2f}",
            mib(first[-1]),
            f"{ratio:.2f} (rounds {paired[0]:.2f}-{paired[-1]:.2f}; CPU time {cpu:.2f})",
            f"{rep['counts']['files_scanned']} files, {links['names']} of them further names of a file "
            f"already matched (hard links, {links['bytes'] / 2**20:.0f} MiB); detections "
            f"{'identical' if got == want else 'DIFFER'} ({len(got)})",
        ]
    )
    rows.append(
        [
            "scanner rescan, unchanged tree, cache on",
            f"{r_t:.2f}",
            mib(rescan[-1]),
            f"{r_t / p_t:.3f}",
            f"{r_t / f_t:.3f}x the first scan; {again['file_cache']['hits'] if 'file_cache' in again else '?'} "
            f"files from the cache; detections {'identical' if got_again == want else 'DIFFER'}",
        ]
    )
    rows.append(
        [
            "detections on samples made of the rules' own strings",
            "",
            "",
            "",
            f"{'identical' if sample_got == sample_want else 'DIFFER'} ({len(sample_want)} detections, "
            f"{len(os.listdir(samples))} files; pool vs scanner, routed, no cache)",
        ]
    )
    s_t = median([r.seconds for r in startup])
    rd_t = median([r.seconds for r in ready])
    rows.append(
        [
            "scanner start-up, empty directory (warm rule cache)",
            f"{s_t:.2f}",
            mib(startup[-1]),
            "",
            "process start to exit; sets load on first use",
        ]
    )
    rows.append(
        [
            "scanner start-up + rules ready, PE, ELF and text file",
            f"{rd_t:.2f}",
            mib(ready[-1]),
            "",
            "loads every set those files need, and matches them",
        ]
    )
    rows.append(
        [
            "scanner first start, compiling from source",
            f"{cold.seconds:.2f}",
            mib(cold),
            "",
            "whole set plus routed sets, then cached",
        ]
    )
    rows.append(
        [
            "(yara-python compiling the same rules)",
            f"{compile_run.seconds:.2f}",
            mib(compile_run),
            "",
            "not part of the pool's time above",
        ]
    )
    print(table(rows, ["", "median s", "peak RSS MiB", "vs yara-python", "notes"]))
    for n in notes:
        print(f"note: {n}")
    verdicts = [
        f"first scan <= 0.5x yara-python with identical detections: "
        f"{'met' if ratio <= 0.5 and got == want and sample_got == sample_want else 'NOT met'} ({ratio:.2f}x, "
        f"median of {len(paired)} paired rounds; CPU time {cpu:.2f}x)",
        f"rescan <= 0.05x first scan: {'met' if r_t <= 0.05 * f_t else 'NOT met'} ({r_t / f_t:.3f}x)",
        f"start-up to rules ready <= 0.5 s: {'met' if rd_t <= 0.5 else 'NOT met'} ({rd_t:.2f} s with PE, ELF, text; "
        f"{s_t:.2f} s empty)",
    ]
    for v in verdicts:
        print(f"target: {v}")
    return verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sets", default="signature-base,synthetic")
    ap.add_argument("--signature-base", type=Path, default=SIGNATURE_BASE)
    ap.add_argument("--no-clamscan", action="store_true", help="skip clamscan (minutes with signature-base)")
    args = ap.parse_args()
    roots = corpus_roots()
    nfiles, nbytes = corpus_size(roots)
    print(
        f"corpus: {nfiles} files, {nbytes / 2**30:.2f} GiB in {', '.join(roots)}; jobs {args.jobs}; "
        f"{args.rounds} rounds; {os.cpu_count()} CPUs"
    )
    help_text = subprocess.run(
        [python(), "-m", "scanner", "scan", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    use_cli = "--no-cache" in help_text
    if not use_cli:
        print(
            "note: this CLI has no --no-cache yet: scans run through bench's driver (library calls as the CLI "
            "makes them, without the scan log and history)"
        )
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as t:
        tmp = Path(t)
        (tmp / "baseline.py").write_text(BASELINE)
        (tmp / "driver.py").write_text(DRIVER)
        for name in args.sets.split(","):
            if name == "signature-base":
                if not args.signature_base.is_dir():
                    print(f"note: signature-base not found at {args.signature_base}; skipped")
                    continue
                bench_set(name, args.signature_base, roots, args, tmp, use_cli)
            elif name == "synthetic":
                bench_set(name, synthetic_rules(tmp / "synthetic-pe-heavy.yar"), roots, args, tmp, use_cli)


if __name__ == "__main__":
    main()
