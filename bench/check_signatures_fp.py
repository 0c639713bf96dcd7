"""Check the default signature set: compiles, hits its samples, stays silent on a clean corpus.

Not a test (it reads large parts of the machine); run it by hand after editing rules:

    python bench/check_signatures_fp.py                 # every check, default clean corpus
    python bench/check_signatures_fp.py --quick         # skip the clean-corpus walk
    python bench/check_signatures_fp.py --corpus /usr/bin --corpus /opt

Checks: each rule file compiles alone and all compile together (one namespace per file);
every rule has the required meta and at least one sample; every sample (decoded) hits its
own rule and no rule of another family; no rule hits the .yar, .inert or families files
themselves or anything under the shared signature-base copy; no rule hits any file of the
clean corpus. Prints counts and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path

import yara

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.inert import SUFFIX, decode  # noqa: E402

SIG = ROOT / "signatures"
EXTERNALS = {"filename": "", "filepath": "", "extension": "", "filetype": "", "owner": ""}
SEVERITIES = {"low", "medium", "high", "critical"}
REQUIRED_META = ("family", "severity", "description", "reference")
MAX_FILE = 256 * 1024 * 1024


def rule_files() -> dict[str, str]:
    return {p.stem: str(p) for p in sorted((SIG / "rules").glob("*.yar"))}


def compile_all() -> yara.Rules:
    return yara.compile(filepaths=rule_files(), externals=EXTERNALS)


def default_corpus() -> list[str]:
    roots = ["/usr/bin", "/usr/lib", "/usr/share", sys.prefix, sys.base_prefix]
    roots += [sysconfig.get_paths()["purelib"], "/work/venv"]
    out: list[str] = []
    for r in roots:
        r = os.path.realpath(r)
        if os.path.isdir(r) and not any(r == o or r.startswith(o + os.sep) for o in out):
            out = [o for o in out if not o.startswith(r + os.sep)]
            out.append(r)
    return out


def walk(roots: list[str]) -> Iterator[str]:
    seen: set[tuple[int, int]] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size == 0 or st.st_size > MAX_FILE:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                yield path


_RULES: yara.Rules | None = None


def _init() -> None:
    global _RULES
    _RULES = compile_all()


def _scan(path: str) -> tuple[str, int, list[str], str]:
    assert _RULES is not None
    try:
        size = os.path.getsize(path)
        hits = _RULES.match(path, externals=EXTERNALS, timeout=60)
    except yara.TimeoutError:
        return path, 0, [], "timeout"
    except (yara.Error, OSError) as exc:
        return path, 0, [], f"error: {exc}"
    return path, size, [f"{m.namespace}.{m.rule}" for m in hits], ""


def check_compile() -> list[str]:
    errors: list[str] = []
    for ns, path in rule_files().items():
        try:
            yara.compile(filepath=path, externals=EXTERNALS, error_on_warning=True)
        except yara.Error as exc:
            errors.append(f"{ns}: {exc}")
    compile_all()
    return errors


def check_meta_and_samples(rules: yara.Rules) -> tuple[list[str], int]:
    errors: list[str] = []
    families = {f["name"] for f in tomllib.loads((SIG / "families.toml").read_text())["family"]}
    by_rule = {r.identifier: r for r in rules}
    for r in rules:
        meta = r.meta
        for key in REQUIRED_META:
            if not meta.get(key):
                errors.append(f"{r.identifier}: missing meta {key}")
        if meta.get("severity") not in SEVERITIES:
            errors.append(f"{r.identifier}: bad severity {meta.get('severity')!r}")
        if meta.get("family") not in families:
            errors.append(f"{r.identifier}: family {meta.get('family')!r} not in families.toml")
        if not str(meta.get("reference", "")).startswith("https://"):
            errors.append(f"{r.identifier}: reference is not an https URL")
    count = 0
    for rule_dir in sorted((SIG / "samples").iterdir()):
        if rule_dir.name not in by_rule:
            errors.append(f"samples/{rule_dir.name}: no such rule")
            continue
        family = by_rule[rule_dir.name].meta["family"]
        for sample in sorted(rule_dir.glob(f"*{SUFFIX}")):
            count += 1
            data = decode(sample.read_bytes())
            hits = rules.match(data=data, externals=EXTERNALS)
            names = {m.rule for m in hits}
            if rule_dir.name not in names:
                errors.append(f"{sample.relative_to(SIG)}: does not hit {rule_dir.name}")
            for m in hits:
                if m.meta["family"] != family:
                    errors.append(f"{sample.relative_to(SIG)}: also hit {m.rule} ({m.meta['family']})")
    for name in by_rule:
        if not list((SIG / "samples" / name).glob(f"*{SUFFIX}")):
            errors.append(f"{name}: no sample")
    return errors, count


def check_self(rules: yara.Rules) -> list[str]:
    errors: list[str] = []
    targets = [*SIG.rglob("*"), ROOT / "bench" / "check_signatures_fp.py"]
    base = Path("/work/shared/data/signature-base")
    if base.is_dir():
        targets += list(base.rglob("*"))
    n = 0
    for p in targets:
        if p.is_file():
            n += 1
            hits = rules.match(str(p), externals=EXTERNALS, timeout=60)
            if hits:
                errors.append(f"{p}: {[m.rule for m in hits]}")
    print(f"self/signature-base files scanned: {n}")
    return errors


def check_corpus(roots: list[str], jobs: int) -> list[str]:
    errors: list[str] = []
    files = 0
    total = 0
    skipped = 0
    start = time.monotonic()
    print("clean corpus roots:", " ".join(roots))
    with Pool(jobs, initializer=_init) as pool:
        for path, size, hits, problem in pool.imap_unordered(_scan, walk(roots), chunksize=64):
            if problem:
                skipped += 1
                if problem == "timeout":
                    print(f"  timeout: {path}")
                continue
            files += 1
            total += size
            if hits:
                errors.append(f"{path}: {hits}")
                print(f"  HIT {path}: {hits}")
    took = time.monotonic() - start
    print(
        f"clean corpus: {files} files, {total} bytes ({total / 2**30:.2f} GiB), "
        f"{skipped} skipped, {len(errors)} hit, {took:.0f}s"
    )
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the clean-corpus walk")
    ap.add_argument("--corpus", action="append", help="clean-corpus root (repeatable)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    errors = check_compile()
    rules = compile_all()
    print(f"rules: {sum(1 for _ in rules)} in {len(rule_files())} files")
    more, samples = check_meta_and_samples(rules)
    errors += more
    print(f"samples: {samples}")
    errors += check_self(rules)
    if not args.quick:
        errors += check_corpus(args.corpus or default_corpus(), args.jobs)
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else f"{len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
