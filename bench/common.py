"""Shared benchmark helpers: the real-file corpus, timed child processes, medians and tables.

The corpus is this machine's own files: /usr/bin, /usr/lib/x86_64-linux-gnu and a copy of the
Python standard library (about 10.6k files, 1.2 GB on the reference machine). The copy is made
once under ``bench/.corpus`` (override with ``SCANNER_BENCH_DIR``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = Path(os.environ.get("SCANNER_BENCH_DIR", HERE / ".corpus"))


BASELINE_WALK = """def walk(root):
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            it = list(os.scandir(d))
        except OSError:
            continue
        for e in it:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                yield e
"""
"""The baselines' walk (source for their child scripts): os.scandir, no symlinks followed, regular files."""


def corpus_roots() -> list[str]:
    """The directories of the benchmark corpus (copying the standard library the first time)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    copy = WORK / "python-stdlib"
    if not copy.is_dir():
        tmp = WORK / "python-stdlib.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(stdlib, tmp, symlinks=True, ignore=shutil.ignore_patterns("site-packages"))
        tmp.rename(copy)
    roots = [Path("/usr/bin"), Path(f"/usr/lib/{sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'}"), copy]
    return [str(r) for r in roots if r.is_dir()]


def corpus_size(roots: Sequence[str]) -> tuple[int, int]:
    """(regular files, bytes) under ``roots``, not following symlinks."""
    files = size = 0
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                try:
                    st = os.lstat(os.path.join(dirpath, n))
                except OSError:
                    continue
                if st.st_mode & 0o170000 == 0o100000:
                    files += 1
                    size += st.st_size
    return files, size


@dataclass(frozen=True)
class Run:
    """One timed child process."""

    seconds: float
    max_rss_kib: int
    returncode: int
    stdout: str
    cpu_seconds: float = 0.0
    """User plus system time of the child (from wait4)."""
    stderr_tail: str = ""
    """The last 4,000 bytes of its standard error."""


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Run ``argv``; wall time and the child's own peak RSS (from wait4; Linux starts a new program's peak at
    that of the process that ran it, so the figure is never below this benchmark's own, a few tens of MiB)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(max(0, err.seek(0, os.SEEK_END) - 4000))
        tail = err.read().decode(errors="replace")
    return Run(elapsed, usage.ru_maxrss, proc.returncode, out, usage.ru_utime + usage.ru_stime, tail)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def python() -> str:
    return sys.executable


def child_env(**extra: str) -> dict[str, str]:
    """The environment for measured child processes, with the scanner byte-compiled as an installed
    package is (pip compiles on install): a checkout run under PYTHONDONTWRITEBYTECODE would compile
    every module on every start, which no installed copy does."""
    import compileall

    compileall.compile_dir(str(REPO / "scanner"), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}
