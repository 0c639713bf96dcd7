"""The background preparation: a new collection's routed sets and content gates, built for the next scans
by a process of its own, at idle priority, once the scan that compiled the collection has ended.

A scan that finds a collection's compiled form missing compiles the whole set (about a second), matches
every file against it (as ``yara`` does) and, when it ends, ``start`` runs ``python -m scanner
signatures prepare-job JOB`` (a hidden command that calls ``lower_priority`` and ``run``): a process in a
session of its own (the scan does not wait for it; a
terminal that closes does not stop it) that lowers its priority to ``SCHED_IDLE`` (the kernel gives it
only CPU time nothing else wants, and idle-class I/O), builds the routed sets and their gates into the
compiled-rule cache (``compiler.prepare``: one set in memory at a time), and exits. The next scan finds
them. Decision 0012 says why this is not done during the scan.

One preparation at a time per cache (a lock; a second one waits, then finds the work done). Its log
lines go to ``prepare.log`` in the cache (kept under ``LOG_LIMIT``). A preparation that fails or is
killed leaves nothing half-written: the next scan starts another.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import time
from pathlib import Path

from scanner.engine import compiler
from scanner.engine.compiler import CompiledRules, RuleSource
from scanner.programs import Detached, start_detached
from scanner.safefs import FileLock, read_regular, write_atomic

logger = logging.getLogger(__name__)

LOG_NAME = "prepare.log"
"""The preparation's log, in the compiled-rule cache."""
LOG_LIMIT = 1024 * 1024
"""A log larger than this is emptied before the next preparation writes to it."""
LOCK_NAME = "prepare.lock"
STALE_JOB = 24 * 3600
"""A job file older than this (seconds) belongs to a preparation that was killed: it is removed."""
JOB_LIMIT = 16 * 1024 * 1024
"""Largest job file read (the list of rule files)."""
MAX_CPU_SECONDS = 3600
"""The preparation is stopped by the kernel (SIGXCPU) after this much CPU time: a bound, never reached by
a sane collection (signature-base takes about 25 s)."""
ARENAS = "1"
"""glibc's malloc arenas in the preparation (MALLOC_ARENA_MAX): one for its two threads (376 against 400 MiB
at its peak with two, on signature-base; it runs at idle priority, so the lock they share costs nothing
that matters)."""


Preparation = Detached
"""A preparation started by ``start`` (``done``, ``wait``, ``pid``)."""


def start(compiled: CompiledRules) -> Preparation | None:
    """Start the background preparation of ``compiled``'s routed sets when its compile left them to be built
    (``compiled.unprepared``; once: a second call does nothing). None when there is nothing to prepare or the
    process could not be started (logged: the next scan is unrouted too, and tries again)."""
    job = compiled.unprepared
    if job is None:
        return None
    compiled.unprepared = None
    cache_dir = job.cache_dir
    job_path = cache_dir / f"prepare-{compiled.key[:16]}-{os.getpid()}.json"  # one per scan: none read twice
    log_path = cache_dir / LOG_NAME
    if not sys.executable:
        logger.info("routed sets are not prepared: no Python interpreter to run the preparation with")
        return None
    try:
        sources = [[s.namespace, os.fsdecode(s.path)] for s in job.sources]
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _forget_stale_jobs(cache_dir)
        write_atomic(job_path, json.dumps({"key": compiled.key, "sources": sources}).encode())
        log_fd = _open_log(log_path)
        try:
            argv = [sys.executable, "-m", "scanner", "signatures", "prepare-job", os.fsdecode(job_path)]
            proc = start_detached(argv, log_fd, {**os.environ, "MALLOC_ARENA_MAX": ARENAS})
        finally:
            os.close(log_fd)
    except OSError as exc:
        logger.warning(
            "the routed sets of the rules could not be prepared in the background (%s): the next scan is unrouted too",
            exc.strerror or exc,
        )
        return None
    logger.info(
        "routed sets and content gates of rules %s are prepared in the background for the next scans "
        "(process %d, idle priority; log %s)",
        compiled.key[:12],
        proc.pid,
        log_path,
    )
    return proc


def _forget_stale_jobs(cache_dir: Path) -> None:
    """Remove job files a preparation that was killed left behind (those older than STALE_JOB seconds)."""
    cutoff = time.time() - STALE_JOB
    for old in cache_dir.glob("prepare-*.json"):
        try:
            if old.lstat().st_mtime < cutoff:
                old.unlink()
                logger.info("removed the job of a preparation that did not finish: %s", old)
        except OSError as exc:
            logger.debug("job file %s left: %s", old, exc)


def _open_log(path: Path) -> int:
    """The preparation's log, for appending (emptied when over LOG_LIMIT; never through a symlink; a log that
    is not a regular file is written to as it is, never replaced)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO: no wait
    fd = os.open(path, flags, 0o600)
    st = os.fstat(fd)
    if st.st_size > LOG_LIMIT and stat.S_ISREG(st.st_mode):
        os.ftruncate(fd, 0)
    return fd


def lower_priority() -> None:
    """Make this process a background one: SCHED_IDLE (idle-class I/O comes with it; else nice 19), and at
    most MAX_CPU_SECONDS of CPU time (on systems that have these; Unix modules imported here, so the package
    imports elsewhere)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:
        logger.info("SCHED_IDLE refused (%s): nice 19 instead", exc)
        with contextlib.suppress(AttributeError, OSError):
            os.nice(19 - os.nice(0))
    try:
        import resource
    except ImportError:
        logger.info("no CPU time limit on this system")
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = MAX_CPU_SECONDS if hard == resource.RLIM_INFINITY else min(MAX_CPU_SECONDS, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))


def _usage() -> str:
    """This process's CPU time and peak RSS, for the log."""
    try:
        import resource
    except ImportError:
        return "CPU and peak RSS not known here"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return f"CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss // 1024} MiB"


def _read_job(path: Path) -> list[RuleSource]:
    """The rule files of a job file; ValueError when it is not one."""
    data = json.loads(read_regular(path, JOB_LIMIT))
    items = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(i, list) and len(i) == 2 and all(isinstance(x, str) for x in i) for i in items
    ):
        raise ValueError("not a preparation job")
    return [RuleSource(ns, Path(p)) for ns, p in items]


def run(job_path: Path) -> int:
    """Prepare what the job file ``job_path`` (in the cache) names; the exit code (0: prepared or nothing to
    do, 1: it could not be done, logged)."""
    started = time.monotonic()
    cache_dir = job_path.parent
    try:
        sources = _read_job(job_path)
    except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError and UnicodeDecodeError
        logger.warning("preparation job %s cannot be read (%s)", job_path, exc)
        return 1
    logger.info(
        "%s: preparing routed sets of %d rule files (process %d)",
        time.strftime("%Y-%m-%d %H:%M:%S %z"),
        len(sources),
        os.getpid(),
    )
    try:
        with FileLock(cache_dir / LOCK_NAME) as lock:
            lock.acquire()  # one at a time: a second waits, then finds the work done
            lock.claim()
            prepared = compiler.prepare(sources, cache_dir)
    except Exception:  # the log is the only place anyone will see it
        logger.exception("preparation failed: the next scan is unrouted and tries again")
        return 1
    finally:
        try:
            job_path.unlink()
        except OSError as exc:
            logger.debug("job file %s not removed: %s", job_path, exc)
    logger.info(
        "preparation %s in %.1f s (%s)",
        "finished" if prepared else "gave up: the rules' includes are not all known",
        time.monotonic() - started,
        _usage(),
    )
    return 0 if prepared else 1
