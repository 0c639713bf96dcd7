"""Benchmark: the real-time watch under a burst of 10,000 files.

A watch runs in a child process on an empty folder, exactly as ``scanner watch`` runs it
(``service.run_watch`` with the bundled signatures, action quarantine, SIGTERM to stop, JSON
lines on stdout). This process is the writer:

1. baseline, measured in the same run: infected files written one at a time into the idle watch;
2. the burst: 10,000 files in about 10 s (20 subfolders; content copied from the Python standard
   library, files up to 64 KiB), 50 of them carrying the EICAR test file decoded from the bundled
   inert sample, plus one infected file written slowly in several pieces through one open
   descriptor and one renamed into place from outside the tree.

Latency of an infected file: from the writer's close (or rename) to the timestamp of its
detection event, which the watch emits once the file is in the vault. Memory: the child's
resident size, sampled every 50 ms. Checks: every infected file quarantined, no clean file
touched, exit 0 soon after SIGTERM. Targets: median <= 0.5 s, p99 <= 2 s.

Then the quarantine rate (issue 13):

3. the vault alone, in this process: the plain loop of ``Vault.quarantine`` one file at a time
   (the baseline, what the watch did before) against ``Vault.batch()`` in groups of 64 (what it
   does now), on the same files, ``--rounds`` times; files per second, flushes (fsync and syncfs
   calls) per file, and the rate a disk whose flush costs 4 ms would allow (the machine of the
   issue: 32 files/s with eight flushes per file);
4. a burst of ``--burst-files`` files, every ``--burst-every``-th infected, into a fresh watch:
   detections per second while it lasts; SIGTERM once half of the infected files are detected:
   time to stop, exit code, what the stop line says was left; then a new watch of the same folder
   takes up the saved backlog: time until every infected file is quarantined.

    python bench/bench_watch.py [--files 10000] [--infected 50] [--seconds 10] [--jobs 2]
                                [--burst-files 20000] [--burst-every 4] [--rounds 3] [--only quarantine]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WORK, corpus_roots, median, python, table

sys.path.insert(0, str(REPO))
from scanner import inert
from scanner.remediation import vault_batch
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_files import identify
from scanner.updates import signatures

DRIVER = """
import json, signal, sys, threading
from pathlib import Path
from scanner.state import StateDir
try:
    from scanner.watch.config import WatchConfig
    from scanner.watch.events import event_json
    from scanner.watch.service import run_watch
except ImportError:  # --baseline-src: a checkout from before the watch was split
    try:
        from scanner.watch.watcher import WatchConfig, event_json, run_watch
    except ImportError:  # from before the subpackages (scanner/watch.py)
        from scanner.watch import WatchConfig, event_json, run_watch

stop = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda signum, frame: stop.set())
from scanner.model import Action
action = Action(sys.argv[4]) if len(sys.argv) > 4 else Action.QUARANTINE
config = WatchConfig(paths=(sys.argv[1],), state=StateDir(Path(sys.argv[2])), jobs=int(sys.argv[3]), action=action)
def emit(ev):
    sys.stdout.write(json.dumps(event_json(ev)) + "\\n")
    sys.stdout.flush()
sys.exit(run_watch(config, emit=emit, stop=stop))
"""
MAX_CLEAN_SIZE = 64 * 1024


def sample_bytes() -> bytes:
    """The EICAR test file, decoded from the bundled inert sample (no raw sample is stored anywhere)."""
    sample = signatures.bundled_dir() / "samples" / "EICAR_Test_File" / "eicar.inert"
    return inert.decode(sample.read_bytes())


def clean_contents() -> list[bytes]:
    stdlib = Path(corpus_roots()[-1])
    out = []
    for p in sorted(stdlib.rglob("*.py")):
        size = p.stat().st_size
        if 0 < size <= MAX_CLEAN_SIZE:
            out.append(p.read_bytes())
    return out


class Watcher:
    """The child process, its events and its memory."""

    def __init__(
        self, folder: Path, home: Path, jobs: int, src: Path | None = None, action: str = "quarantine"
    ) -> None:
        env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None  # another checkout's code
        self.proc = subprocess.Popen(
            [python(), "-c", DRIVER, str(folder), str(home), str(jobs), action],
            cwd=src or REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.detections: dict[str, tuple[float, str]] = {}
        self.events: list[dict[str, object]] = []
        self.cv = threading.Condition()
        self.rss: list[tuple[float, int]] = []
        self._done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self.cv:
                self.events.append(ev)
                if ev["event"] == "detection":
                    at = dt.datetime.fromisoformat(str(ev["time"])).timestamp()
                    self.detections[str(ev["path"])] = (at, str(ev["action"]))
                self.cv.notify_all()
        with self.cv:
            self._done.set()
            self.cv.notify_all()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while not self._done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss.append((time.time(), int(line.split()[1])))
            except OSError:
                return
            time.sleep(0.05)

    def wait(self, pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0 or self._done.is_set():
                    return bool(pred())
                self.cv.wait(left)
            return True

    def kinds(self, kind: str) -> list[dict[str, object]]:
        with self.cv:
            return [e for e in self.events if e["event"] == kind]

    def rss_between(self, t0: float, t1: float) -> list[int]:
        return [kib for t, kib in self.rss if t0 <= t <= t1]


def write(path: Path, data: bytes) -> float:
    with path.open("wb") as f:
        f.write(data)
    return time.time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--infected", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--baseline", type=int, default=10, help="infected files written one at a time first")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--burst-files", type=int, default=20_000)
    ap.add_argument("--burst-every", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vault-files", type=int, default=640)
    ap.add_argument("--only", choices=["latency", "quarantine"])
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="a checkout of the code before (e.g. `git archive ab97208 "
        "scanner signatures | tar -x -C DIR`): the same burst into its watch, for a ratio",
    )
    args = ap.parse_args()
    evil = sample_bytes()
    contents = clean_contents()
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-", dir=WORK))  # on the same disk as a real Downloads folder
    try:
        if args.only != "quarantine":
            (tmp / "latency").mkdir()
            run(args, tmp / "latency", evil, contents)
        if args.only != "latency":
            vault_rates(tmp / "vault", args.vault_files, args.rounds, evil)
            report_vs_quarantine(args, tmp, evil)
            if args.baseline_src is not None:
                rates = {}
                for label, src in (("before", args.baseline_src.resolve()), ("now", None)):
                    rates[label] = burst_rate(args, tmp / f"rate-{label}", evil, src)
                print(
                    f"\nburst into the watch, every infected file quarantined: before {rates['before']:.0f} files/s, "
                    f"now {rates['now']:.0f} files/s, ratio {rates['now'] / rates['before']:.2f}"
                )
            stop_mid_burst(args, tmp / "stop", evil)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Flushes:
    """Counts fsync and syncfs calls in this process (instrumentation for the vault comparison)."""

    def __init__(self) -> None:
        self.count = 0
        real_fsync, real_syncfs = os.fsync, vault_batch._syncfs

        def fsync(fd: int) -> None:
            self.count += 1
            real_fsync(fd)

        def syncfs(fd: int) -> int:
            self.count += 1
            assert real_syncfs is not None
            return real_syncfs(fd)

        os.fsync = fsync  # type: ignore[assignment]
        if real_syncfs is not None:
            vault_batch._syncfs = syncfs


def vault_rates(tmp: Path, n: int, rounds: int, evil: bytes) -> None:
    """The plain per-file loop against ``Vault.batch()``, on the same kind of files, in this process."""
    flushes = Flushes()
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "batch": []}
    for r in range(rounds):
        for mode in ("plain", "batch"):
            case = tmp / f"{mode}-{r}"
            src = case / "src"
            src.mkdir(parents=True)
            paths = []
            for i in range(n):
                p = src / f"f{i:05d}.com"
                p.write_bytes(evil + b"%d\n" % i)
                paths.append(str(p))
            ids = [identify(p) for p in paths]
            vault = Vault(case / "vault")
            vault.recover()
            before, t0 = flushes.count, time.perf_counter()
            if mode == "plain":
                for p, ident in zip(paths, ids, strict=True):
                    vault.quarantine(p, ident, "EICAR", "EICAR-Test-File", "bench")
            else:
                for k in range(0, n, 64):
                    with vault.batch() as taken:
                        for p, ident in zip(paths[k : k + 64], ids[k : k + 64], strict=True):
                            vault.quarantine(p, ident, "EICAR", "EICAR-Test-File", "bench")
                    assert not taken.failed, taken.failed
            seconds = time.perf_counter() - t0
            assert not any(os.path.lexists(p) for p in paths) and len(vault.list()) == n
            results[mode].append((n / seconds, (flushes.count - before) / n))
            shutil.rmtree(case)
    rows = []
    base_rate = median([r for r, _f in results["plain"]])
    for mode, label in (("plain", "baseline: Vault.quarantine per file"), ("batch", "Vault.batch(), groups of 64")):
        rate = median([r for r, _f in results[mode]])
        per = median([f for _r, f in results[mode]])
        slow = 1 / (1 / rate + per * 0.004)  # the same work where each flush costs 4 ms more than here
        rows.append([label, f"{rate:.0f}", f"{rate / base_rate:.2f}", f"{per:.3f}", f"{slow:.0f}"])
    slow_base = float(rows[0][4])
    rows[1].append(f"{float(rows[1][4]) / slow_base:.1f}")
    rows[0].append("1.0")
    print(f"\nquarantine rate, {n} files x {rounds} rounds (medians):")
    print(
        table(
            rows, ["vault", "files/s here", "ratio", "flushes/file", "files/s at 4 ms/flush (model)", "ratio (model)"]
        )
    )


def write_burst(args: argparse.Namespace, folder: Path, evil: bytes) -> list[str]:
    for d in range(20):
        (folder / f"d{d:02d}").mkdir()
    infected: list[str] = []
    for i in range(args.burst_files):
        p = folder / f"d{i % 20:02d}" / f"f{i:05d}.bin"
        if i % args.burst_every == 0:
            p.write_bytes(evil)
            infected.append(str(p))
        else:
            p.write_bytes(b"clean file %d\n" % i)
    return infected


def burst_rate(args: argparse.Namespace, tmp: Path, evil: bytes, src: Path | None, action: str = "quarantine") -> float:
    """Detections per second while a burst is handled to the end (first to last detection)."""
    folder, home = tmp / "watched", tmp / "home"
    folder.mkdir(parents=True)
    w = Watcher(folder, home, args.jobs, src, action)
    if not w.wait(lambda: w.kinds("started"), 60):
        sys.exit(f"the watch did not start: {w.proc.stderr.read() if w.proc.stderr else ''}")
    infected = write_burst(args, folder, evil)
    w.wait(lambda: len(w.detections) >= len(infected), 900)
    with w.cv:
        times = sorted(at for at, _a in w.detections.values())
    w.proc.send_signal(signal.SIGTERM)
    w.proc.wait(300)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def report_vs_quarantine(args: argparse.Namespace, tmp: Path, evil: bytes) -> None:
    """The same burst into a watch that only reports (the baseline: detecting, no action) and into one
    that quarantines, ``--rounds`` paired rounds: how much quarantining costs under load."""
    ratios, rates = [], {"report": [], "quarantine": []}
    for r in range(args.rounds):
        for action in ("report", "quarantine"):
            rates[action].append(burst_rate(args, tmp / f"pair-{action}-{r}", evil, None, action))
        ratios.append(rates["quarantine"][-1] / rates["report"][-1])
    print(
        f"\nburst of {args.burst_files} files, every {args.burst_every}th infected, {args.rounds} paired rounds "
        f"(medians): detections/s when only reporting {median(rates['report']):.0f}, when quarantining "
        f"{median(rates['quarantine']):.0f}; ratio quarantine/report {median(ratios):.2f} "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )


def stop_mid_burst(args: argparse.Namespace, tmp: Path, evil: bytes) -> None:
    """A burst into a fresh watch; SIGTERM half-way; a new watch takes up what was saved."""
    folder, home = tmp / "watched", tmp / "home"
    folder.mkdir(parents=True)
    w = Watcher(folder, home, args.jobs)
    if not w.wait(lambda: w.kinds("started"), 60):
        sys.exit(f"the watch did not start: {w.proc.stderr.read() if w.proc.stderr else ''}")
    t0 = time.time()
    infected = write_burst(args, folder, evil)
    t_written = time.time()
    half = len(infected) // 2
    w.wait(lambda: len(w.detections) >= half, 600)
    t_term = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    with w.cv:
        times = sorted(at for at, _a in w.detections.values())
    code = w.proc.wait(300)
    stop_s = time.monotonic() - t_term
    w.wait(lambda: w.kinds("stopped"), 10)
    stopped = w.kinds("stopped")
    message = str(stopped[0]["message"]) if stopped else "(no stopped event)"
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    quarantined_before = len(w.detections)
    left = [p for p in infected if os.path.lexists(p)]

    w2 = Watcher(folder, home, args.jobs)
    t_restart = time.monotonic()
    w2.wait(lambda: w2.kinds("started"), 60)
    w2.wait(lambda: not any(os.path.lexists(p) for p in left), 600)
    resume_s = time.monotonic() - t_restart
    still = [p for p in infected if os.path.lexists(p)]
    w2.proc.send_signal(signal.SIGTERM)
    code2 = w2.proc.wait(300)
    print(
        f"\nburst into the watch: {args.burst_files} files, {len(infected)} infected, written in "
        f"{t_written - t0:.1f} s; detections {quarantined_before} at {rate:.0f} files/s (first to last "
        f"detection, {times[-1] - times[0] if times else 0:.1f} s)"
    )
    print(
        f"SIGTERM with {len(left)} infected files not yet quarantined: exit {code} after {stop_s:.2f} s; "
        f"stop line: {message}"
    )
    print(
        f"restart: the backlog taken up, every infected file quarantined after {resume_s:.1f} s "
        f"(still in place: {len(still)}); exit {code2}"
    )


def run(args: argparse.Namespace, tmp: Path, evil: bytes, contents: list[bytes]) -> None:
    folder, outside, home = tmp / "watched", tmp / "outside", tmp / "home"
    folder.mkdir()
    outside.mkdir()
    w = Watcher(folder, home, args.jobs)
    if not w.wait(lambda: w.kinds("started"), 60):
        sys.exit(f"the watch did not start: {w.proc.stderr.read() if w.proc.stderr else ''}")
    time.sleep(1.0)
    rss_start = w.rss[-1][1]

    closed: dict[str, float] = {}  # infected path -> close (or rename) time
    for i in range(args.baseline):
        p = folder / f"idle-{i}.com"
        closed[str(p)] = write(p, evil)
        w.wait(lambda p=p: str(p) in w.detections, 10)
        time.sleep(0.3)
    idle = [w.detections[p][0] - t for p, t in closed.items() if p in w.detections]

    for d in range(20):
        (folder / f"d{d:02d}").mkdir()
    burst: dict[str, float] = {}
    clean: dict[Path, bytes] = {}
    every = max(1, args.files // max(1, args.infected))
    slow_path = folder / "d00" / "slow.com"
    renamed_path = folder / "d01" / "renamed.com"

    def slow_writer() -> None:
        # the rule wants the whole string at offset 0: only the finished file matches
        pieces = [evil[:20], evil[20:40], evil[40:], b"\n"]
        time.sleep(args.seconds * 0.2)
        with slow_path.open("wb") as f:
            for piece in pieces:
                f.write(piece)
                f.flush()
                time.sleep(args.seconds * 0.08)
        burst[str(slow_path)] = time.time()

    slow = threading.Thread(target=slow_writer)
    t0 = time.time()
    slow.start()
    written_bytes = 0
    for i in range(args.files):
        target = t0 + i * args.seconds / args.files
        ahead = target - time.time()
        if ahead > 0:
            time.sleep(ahead)
        sub = folder / f"d{i % 20:02d}"
        if i % every == every // 2 and sum(1 for p in burst if "-evil" in p) < args.infected:
            p = sub / f"{i:05d}-evil.com"
            burst[str(p)] = write(p, evil)
        else:
            data = contents[i % len(contents)]
            p = sub / f"{i:05d}.py"
            write(p, data)
            clean[p] = data
            written_bytes += len(data)
        if i == args.files // 2:
            staged = outside / "renamed.com"
            write(staged, evil)
            os.rename(staged, renamed_path)
            burst[str(renamed_path)] = time.time()
    t_written = time.time()
    slow.join()
    infected = set(burst)
    w.wait(lambda: infected <= set(w.detections), 120)
    time.sleep(2.0)  # anything else it would (wrongly) take
    t_burst_end = time.time()

    t_term = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    code = w.proc.wait(60)
    stop_s = time.monotonic() - t_term
    w.wait(lambda: w.kinds("stopped"), 5)

    latencies = [w.detections[p][0] - t for p, t in burst.items() if p in w.detections]
    missing = sorted(infected - set(w.detections))
    not_quarantined = sorted(
        p for p in infected if p in w.detections and not w.detections[p][1].startswith("quarantined as ")
    )
    still_there = sorted(p for p in infected if os.path.lexists(p))
    touched = sum(1 for p, data in clean.items() if not p.is_file() or p.read_bytes() != data)
    extra = sorted(set(w.detections) - infected - set(closed))
    peak = max(w.rss_between(t0, t_burst_end), default=rss_start)
    stopped = w.kinds("stopped")
    stats = stopped[0].get("stats", {}) if stopped else {}
    overflows = w.kinds("overflow")

    def one(p: Path) -> float:
        return w.detections[str(p)][0] - burst[str(p)] if str(p) in w.detections else float("nan")

    med_idle = median(idle) if idle else float("nan")
    med, p99 = median(latencies), percentile(latencies, 0.99)
    print(
        f"burst: {args.files} files ({written_bytes / 2**20:.0f} MiB) written in {t_written - t0:.1f} s into 20 "
        f"folders; {len(infected)} infected (incl. one slow, one renamed); jobs {args.jobs}; "
        f"files scanned {stats.get('files_scanned', '?')}, overflows {len(overflows)}"
    )
    print(
        table(
            [
                [
                    "idle: one file at a time",
                    len(idle),
                    f"{med_idle:.3f}",
                    f"{percentile(idle, 0.99):.3f}",
                    f"{max(idle):.3f}",
                    "1.00",
                ],
                ["burst", len(latencies), f"{med:.3f}", f"{p99:.3f}", f"{max(latencies):.3f}", f"{med / med_idle:.2f}"],
                ["  slow writer (from close)", 1, f"{one(slow_path):.3f}", "", "", ""],
                ["  renamed into place (from rename)", 1, f"{one(renamed_path):.3f}", "", "", ""],
            ],
            ["latency close -> quarantined", "files", "median s", "p99 s", "max s", "median ratio"],
        )
    )
    print(
        f"memory (child RSS): {rss_start / 1024:.1f} MiB before the burst, peak {peak / 1024:.1f} MiB during it "
        f"(+{(peak - rss_start) / 1024:.1f} MiB for {written_bytes / 2**20:.0f} MiB written), "
        f"{(w.rss[-1][1] if w.rss else 0) / 1024:.1f} MiB at the end"
    )
    print(
        f"checks: infected quarantined {len(infected) - len(missing) - len(not_quarantined)}/{len(infected)}; "
        f"infected still in place {len(still_there)}; clean files touched {touched}; other detections {len(extra)}; "
        f"SIGTERM -> exit {code} in {stop_s:.2f} s"
    )
    for p in missing + not_quarantined + still_there + extra:
        print(f"  problem: {p} {w.detections.get(p)}")
    ok = (
        not missing
        and not not_quarantined
        and not still_there
        and not touched
        and not extra
        and code == 0
        and med <= 0.5
        and p99 <= 2.0
    )
    print(
        f"target: every infected file quarantined, no clean file touched, median <= 0.5 s, p99 <= 2 s: "
        f"{'met' if ok else 'NOT met'}"
    )
    err = w.proc.stderr.read().strip() if w.proc.stderr is not None else ""
    if err:
        print(f"watch stderr: {err[:2000]}")


if __name__ == "__main__":
    main()
