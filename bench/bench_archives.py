"""Benchmark: `scanner scan` of a corpus of many archives against a plain loop that extracts with the
same library (libarchive, through libarchive-c) and matches every member with yara-python.

The corpus is built once under ``bench/.corpus/archives`` (override with ``SCANNER_BENCH_DIR``):
- wheels: each top-level package of this Python's site-packages repacked as a zip (``.whl``);
- sdists: the same packages as ``.tar.gz``;
- Debian packages: ``.deb`` files from /var/cache/apt/archives, if present (an ``ar`` archive holding
  ``control.tar.*`` and ``data.tar.*``: archives inside an archive), at most ``--debs`` of them of at
  most 4 MiB each, taken evenly across the sorted list.

Baseline, measured in the same run: os.scandir walk, a thread pool over the files; each file is
matched whole (``rules.match(path)``), then, when libarchive reads it as an archive, each member is
read into memory and matched (``rules.match(data=...)``), and members that are archives themselves are
opened in turn (no limits, no cache; the same formats and filters as the scanner's). Both run as
child processes (start-up included), page cache warm, interleaved, N rounds; the figures are medians.
A third row, ``scanner scan --no-archives``, shows what matching the archives as files alone costs.
CPU seconds (user + system of the child) are given beside wall time: on a shared machine they vary less.

    python bench/bench_archives.py [--rounds 5] [--jobs 2] [--debs 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import site
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BASELINE_WALK, WORK, child_env, median, python, table, timed

RULE = 'rule bench_single_string { strings: $a = "scanner-bench-marker-7f3a9c" condition: $a }\n'
APT = Path("/var/cache/apt/archives")
MAX_DEB = 4 << 20

BASELINE = r"""
import ctypes, os, sys
from concurrent.futures import ThreadPoolExecutor
import yara
import libarchive.ffi as la
from libarchive.exception import ArchiveError
rules = yara.compile(filepath=sys.argv[1])
jobs = int(sys.argv[2])
BASELINE_WALK
MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf\x27\x1c",
         b"Rar!\x1a\x07", b"!<arch>\n")
def is_archive(head):
    return head.startswith(MAGIC) or head[257:262] == b"ustar"
def members(open_it):
    a = la.read_new()
    hits = 0
    try:
        for name in ("gzip", "bzip2", "xz", "lzma", "lzip", "zstd", "lz4", "compress", "rpm"):
            la.get_read_filter_function(name)(a)
        for name in ("7zip", "ar", "cab", "cpio", "rar", "rar5", "tar", "zip", "raw"):
            la.get_read_format_function(name)(a)
        open_it(a)
        e = la.entry_new()
        buf = ctypes.create_string_buffer(1 << 18)
        try:
            while la.read_next_header2(a, e) != la.ARCHIVE_EOF:
                if la.format_name(a) == b"raw" and la.filter_count(a) <= 1:
                    break
                if la.entry_filetype(e) != 0o100000:
                    continue
                parts = []
                while (n := la.read_data(a, buf, len(buf))) > 0:
                    parts.append(ctypes.string_at(buf, n))
                data = b"".join(parts)
                hits += len(rules.match(data=data))
                if is_archive(data[:512]):
                    keep = ctypes.create_string_buffer(data, len(data))
                    hits += members(lambda b: la.read_open_memory(b, ctypes.cast(keep, ctypes.c_void_p), len(data)))
        finally:
            la.entry_free(e)
    except ArchiveError:
        pass
    finally:
        la.read_free(a)
    return hits
def scan(path):
    try:
        hits = len(rules.match(path))
        fd = os.open(path, os.O_RDONLY)
        try:
            if is_archive(os.pread(fd, 512, 0)):
                hits += members(lambda a: la.read_open_fd(a, fd, 1 << 18))
        finally:
            os.close(fd)
        return hits
    except (OSError, yara.Error):
        return 0
files = [e.path for e in walk(sys.argv[3])]
with ThreadPoolExecutor(max_workers=jobs) as ex:
    hits = sum(ex.map(scan, files))
print(len(files), hits)
""".replace("BASELINE_WALK\n", BASELINE_WALK)


def build_corpus(debs: int) -> Path:
    """The archive corpus (built once): wheels, sdists and .deb files."""
    root = WORK / f"archives-{debs}"
    if root.is_dir():
        return root
    tmp = WORK / f"archives-{debs}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wheels").mkdir(parents=True)
    (tmp / "sdists").mkdir()
    (tmp / "debs").mkdir()
    packages = sorted(
        p for sp in site.getsitepackages() for p in Path(sp).iterdir() if p.is_dir() and not p.name.endswith("-info")
    )
    for pkg in packages:
        if pkg.name.startswith(("_", ".")) or pkg.name == "__pycache__":
            continue
        files = [f for f in pkg.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
        with zipfile.ZipFile(tmp / "wheels" / f"{pkg.name}-0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.relative_to(pkg.parent))
        with tarfile.open(tmp / "sdists" / f"{pkg.name}-0.tar.gz", "w:gz") as tf:
            for f in files:
                tf.add(f, f"{pkg.name}-0/{f.relative_to(pkg.parent)}")
    found = sorted(p for p in APT.glob("*.deb") if p.stat().st_size <= MAX_DEB) if APT.is_dir() else []
    step = max(1, len(found) // debs) if debs else 0
    for deb in found[::step][:debs] if step else []:
        shutil.copyfile(deb, tmp / "debs" / deb.name)
    tmp.rename(root)
    return root


def corpus_facts(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--debs", type=int, default=300)
    args = ap.parse_args()
    root = build_corpus(args.debs)
    nfiles, nbytes = corpus_facts(root)
    with tempfile.TemporaryDirectory() as tmp:
        rule = Path(tmp) / "bench.yar"
        rule.write_text(RULE)
        base_py = Path(tmp) / "baseline.py"
        base_py.write_text(BASELINE)
        env = child_env(SCANNER_HOME=str(Path(tmp) / "home"))
        common = [python(), "-m", "scanner", "scan", "--no-default-rules", "--rules", str(rule)]
        common += ["--jobs", str(args.jobs), "--max-filesize", "4G", "--no-progress", "--no-cache", "--format", "json"]
        scanner = [*common, str(root)]
        plain = [*common, "--no-archives", str(root)]
        baseline = [python(), str(base_py), str(rule), str(args.jobs), str(root)]
        timed(baseline)  # warm the page cache and the compiled-rule cache
        report = json.loads(timed(scanner, env).stdout)
        runs: dict[str, list] = {"baseline": [], "scanner": [], "plain": []}
        for _ in range(args.rounds):
            runs["baseline"].append(timed(baseline))
            runs["scanner"].append(timed(scanner, env))
            runs["plain"].append(timed(plain, env))
    t = {k: median([r.seconds for r in v]) for k, v in runs.items()}
    m = {k: median([r.max_rss_kib for r in v]) for k, v in runs.items()}
    cpu = {k: median([r.cpu_seconds for r in v]) for k, v in runs.items()}
    print(
        f"corpus: {nfiles} archives ({nbytes / 2**20:.0f} MiB) in {root}; scanner read "
        f"{report['counts']['bytes_scanned'] / 2**20:.0f} MiB of files, {len(report['skipped'])} not fully "
        f"scanned; jobs {args.jobs}; {args.rounds} rounds"
    )
    names = {
        "baseline": "plain loop: libarchive + yara-python",
        "scanner": "scanner scan",
        "plain": "scanner scan --no-archives",
    }
    rows = [
        (names[k], f"{t[k]:.2f}", f"{t[k] / t['baseline']:.2f}", f"{cpu[k]:.2f}", f"{cpu[k] / cpu['baseline']:.2f}")
        for k in names
    ]
    rows = [(*row, f"{m[k] / 1024:.1f}") for row, k in zip(rows, names, strict=True)]
    print(table(rows, ["", "median s", "time ratio", "median CPU s", "CPU ratio", "median peak RSS MiB"]))


if __name__ == "__main__":
    main()
