"""Cost of looking for the processes tied to detected files (decision 0014), against a plain walk of /proc.

``remediate.plan`` runs ``processes.tied_to`` for every file it acts on, with or without
``--processes``. This starts N idle children (a shell running a script, so interpreters with open
descriptors are among them), then times, in the same run, the tie search for one detected file and a
baseline that reads, for every pid, what any such search needs at least (``/proc/PID/exe``,
``/proc/PID/cmdline`` and the list of ``/proc/PID/fd``). Prints medians and their ratio.

    python bench/bench_tied.py [--children 200] [--rounds 15]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scanner.scanning import processes


def baseline() -> int:
    n = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        n += 1
        try:
            os.readlink(f"/proc/{name}/exe")
            with open(f"/proc/{name}/cmdline", "rb") as f:
                f.read(256 * 1024)
            os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
    return n


def median_ms(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "idle.sh"
        script.write_text("sleep 600\n")
        detected = Path(tmp) / "detected.sh"
        detected.write_text("# not run by anyone\n")
        st = detected.stat()
        kids = [subprocess.Popen(["sh", str(script)]) for _ in range(args.children)]
        try:
            time.sleep(0.5)
            files = {(st.st_dev, st.st_ino): str(detected)}
            pids = baseline()
            base = median_ms(baseline, args.rounds)
            tied = median_ms(lambda: processes.tied_to(files), args.rounds)
        finally:
            for k in kids:
                k.kill()
                k.wait()
    print(f"processes on the machine: {pids} (with {args.children} idle shells started by the bench)")
    print(f"baseline: plain /proc walk (exe, cmdline, fd list), median of {args.rounds}: {base:.1f} ms")
    print(f"tie search for one detected file, median of {args.rounds}:            {tied:.1f} ms")
    print(f"ratio tie search / baseline: {tied / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
