"""The scan: targets -> engine -> detections, in a bounded pool of threads.

Each file is opened here (no symlink followed, never blocking on a FIFO swapped in after the
walk), checked to be a regular file, and handed to the engine by descriptor, so the bytes
matched are those of the file that was opened. yara-python releases the GIL while matching,
so threads scale with cores.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import queue
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from scanner.engine.compiler import CompiledRules, Match, MatchFailed, MatchTimeout
from scanner.model import (
    Detection,
    ExitCode,
    FileIdentity,
    ScanCounts,
    ScanReport,
    ScanType,
    SignatureSetInfo,
    Skipped,
    SkipReason,
    TargetKind,
    display_path,
    printable,
    utc_now,
)
from scanner.scanning import locations
from scanner.scanning.archives import PROBE_SIZE, ArchiveLimits, archive_kind, scan_archive
from scanner.scanning.facts import file_externals
from scanner.scanning.filecache import CacheMode, FileCache
from scanner.scanning.results import FileResult as FileResult
from scanner.scanning.results import found_blob as found_blob
from scanner.scanning.results import from_found_blob as from_found_blob
from scanner.scanning.walk import FileEntry, WalkOptions, skip_for_oserror, walk

logger = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class ScanRequest:
    """What to scan and how."""

    scan_type: ScanType
    """Custom, quick or full."""
    paths: tuple[str, ...] = ()
    """Paths named by the user (custom scans; added to quick/full scans)."""
    sysroot: Path = Path("/")
    """Filesystem root for quick and full scan locations."""
    walk: WalkOptions = field(default_factory=WalkOptions)
    """Walk options."""
    jobs: int = 1
    """Scanning threads."""
    timeout: int = 60
    """Per-file timeout in seconds."""
    files: bool = True
    """Walk and scan files (False for a --pid-only scan)."""
    processes: bool = False
    """Scan running processes (all, or ``pids``)."""
    pids: tuple[int, ...] = ()
    """Scan only these processes."""
    process_timeout: int = 30
    """Per-process timeout in seconds (image and memory each)."""
    process_max_memory: int = 2 * 1024 * 1024 * 1024
    """Processes with a larger resident size are scanned by image only."""
    cache_dir: Path | None = None
    """Where the file cache lives (normally ``StateDir.file_cache``); None: no cache."""
    cache: CacheMode = CacheMode.USE
    """How the scan uses that cache: USE, REFRESH (read every file, record what it gives) or OFF (--no-cache)."""
    stdin: bytes | None = None
    """Data read from standard input, matched as one file named ``stdin`` (clamscan's ``-``)."""
    on_clean: Callable[[str], None] | None = field(default=None, compare=False)
    """Called (from a scanning thread) with each file's path when it is found clean (clamscan's "OK" lines)."""
    archives: ArchiveLimits | None = None
    """Look inside archives within these limits; None: archives are matched as files only (--no-archives)."""


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running scan, for a progress display."""

    files: int
    bytes: int
    skipped: int
    detections: int
    current: str
    elapsed: float


class HardLinks:
    """The names of one file (hard links) met in one scan: its content is matched once.

    The first name to arrive matches the file; the others wait for it and take its matches of rules
    that do not look at the file's name, deciding the rules that do from their name-only terms where
    they can, and matching them otherwise (CompiledRules.match_fd_again).
    A name is taken for the same file only if device, inode, size, mtime and ctime all agree.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[FileIdentity, _LinkSlot] = {}
        self.names = 0
        """Names whose content was taken from another name."""
        self.bytes = 0
        """Their bytes."""

    def claim(self, key: FileIdentity) -> tuple[_LinkSlot, bool]:
        """The slot for ``key``, and whether the caller is the first (and must fill it)."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                return slot, False
            slot = self._slots[key] = _LinkSlot()
            return slot, True

    def taken(self, size: int) -> None:
        with self._lock:
            self.names += 1
            self.bytes += size


class _LinkSlot:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._first: tuple[tuple[Match, ...], Mapping[str, str]] | None = None

    def fill(self, first: tuple[tuple[Match, ...], Mapping[str, str]] | None) -> None:
        """The first name's matches and external variables (None: it could not be matched; the others
        match in full)."""
        self._first = first
        self._done.set()

    def wait(self) -> tuple[tuple[Match, ...], Mapping[str, str]] | None:
        self._done.wait()
        return self._first


def new_scan_id(now: dt.datetime) -> str:
    """A unique, sortable scan id: UTC time plus a random suffix."""
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def roots_for(request: ScanRequest) -> tuple[list[str], WalkOptions]:
    """The roots to walk and the walk options (with full-scan pruning) for ``request``."""
    opts = request.walk
    roots = list(request.paths)
    if request.scan_type is ScanType.QUICK:
        roots = locations.quick_roots(request.sysroot) + roots
    elif request.scan_type is ScanType.FULL:
        roots = [os.fspath(request.sysroot), *locations.full_extra_roots(request.sysroot), *roots]
        named = {os.path.abspath(p) for p in request.paths}
        prune = frozenset(p for p in locations.full_prune(request.sysroot) if p not in named)
        opts = replace(opts, prune=opts.prune | prune)
    return roots, opts


def scan_one(
    entry: FileEntry,
    rules: CompiledRules,
    timeout: int,
    max_filesize: int | None,
    links: HardLinks | None = None,
    archives: ArchiveLimits | None = None,
) -> FileResult:
    """Open and match one file; any failure is a Skipped value.

    With ``links``, a file with several names is matched in full only under the first of them. With
    ``archives``, an archive's members are matched too (``scanning.archives``).
    """
    path = entry.path
    try:
        if entry.parent is not None:  # by name in the directory the walk listed (paths deeper than PATH_MAX too)
            fd = os.open(path.rpartition("/")[2], _OPEN_FLAGS, dir_fd=entry.parent.fd)
        else:
            fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return FileResult(path, skipped=skip_for_oserror(path, exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileResult(path, skipped=Skipped(path, SkipReason.SPECIAL_FILE))
        if max_filesize and st.st_size > max_filesize:  # None or 0: no limit
            return FileResult(path, skipped=Skipped(path, SkipReason.TOO_LARGE, f"{st.st_size} bytes"))
        probe = os.pread(fd, PROBE_SIZE, 0) if archives is not None else b""
        kind = archive_kind(probe) if archives is not None else None
        head = (probe[:16] if archives is not None else os.pread(fd, 16, 0)) if rules.needs_head else None
        ext = file_externals(path, head, st.st_uid, rules.uses)
        key = FileIdentity.from_stat(st)
        slot, first = None, True
        if links is not None and st.st_nlink > 1 and rules.shares_links:
            slot, first = links.claim(key)
        matches = None
        try:
            if slot is not None and not first and (known := slot.wait()) is not None:
                matches = rules.match_fd_again(fd, ext, timeout, head, st.st_size, *known)
                if matches is not None and FileIdentity.from_stat(os.fstat(fd)) != key:
                    matches = None  # changed meanwhile: match it in full
                if matches is not None and links is not None:
                    links.taken(st.st_size)
            if matches is None:
                matches = rules.match_fd(fd, ext, timeout, head=head, size=st.st_size)
        except MatchTimeout as exc:
            return FileResult(path, skipped=Skipped(path, SkipReason.TIMEOUT, str(exc)))
        except MatchFailed as exc:
            return FileResult(path, skipped=Skipped(path, SkipReason.READ_ERROR, str(exc)))
        finally:
            if slot is not None and first:
                slot.fill(None if matches is None else (tuple(matches), ext))
        inside = scan_archive(fd, path, rules, archives, timeout, st.st_uid, kind) if kind and archives else None
        hits = inside.hits if inside is not None else ()
        result = FileResult(path, tuple(matches), _sha256_fd(fd) if matches or hits else None, st.st_size, identity=key)
        if inside is None:
            return result
        return replace(result, members=hits, archive=(inside.members, inside.bytes), incomplete=inside.notes)
    except OSError as exc:
        return FileResult(path, skipped=Skipped(path, SkipReason.READ_ERROR, exc.strerror or str(exc)))
    finally:
        os.close(fd)


STDIN = "stdin"
"""The name standard input is matched and reported under (clamscan's)."""


def scan_stream(name: str, data: bytes, rules: CompiledRules, timeout: int) -> FileResult:
    """Match data read from a stream (standard input) as one file called ``name``; it is not on disk, so
    its detections are reported and never acted on."""
    ext = file_externals(name, data[:16], None, rules.uses)
    try:
        matches = rules.match_data(data, ext, timeout)
    except MatchTimeout as exc:
        return FileResult(name, skipped=Skipped(name, SkipReason.TIMEOUT, str(exc)))
    except MatchFailed as exc:
        return FileResult(name, skipped=Skipped(name, SkipReason.READ_ERROR, str(exc)))
    logger.info("standard input: %d bytes, %d match(es)", len(data), len(matches))
    return FileResult(name, tuple(matches), hashlib.sha256(data).hexdigest() if matches else None, len(data))


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


class _Collector:
    """Thread-safe accumulation of results, readable as a progress snapshot."""

    def __init__(self, on_clean: Callable[[str], None] | None = None) -> None:
        self.on_clean = on_clean
        self.lock = threading.Lock()
        self.results: list[FileResult] = []
        self.skipped: list[Skipped] = []
        self.files = 0
        self.bytes = 0
        self.detections = 0
        self.current = ""
        self.archives = [0, 0, 0]
        """Archives looked into, their members read, the bytes extracted."""

    def add(self, result: FileResult) -> None:
        with self.lock:
            self.current = result.path
            if result.skipped is not None:
                self.skipped.append(result.skipped)
                return
            self.files += 1
            self.bytes += result.size
            self.skipped.extend(result.incomplete)
            if result.archive is not None:
                self.archives = [
                    self.archives[0] + 1,
                    self.archives[1] + result.archive[0],
                    self.archives[2] + result.archive[1],
                ]
            if result.found:
                self.results.append(result)
                self.detections += len(result.matches) + len(result.members)
            elif self.on_clean is not None:
                self.on_clean(result.path)

    def clean(self, path: str, size: int) -> None:
        """A file found clean (without a FileResult: the cache's hits, many and cheap)."""
        with self.lock:
            self.current = path
            self.files += 1
            self.bytes += size
            if self.on_clean is not None:
                self.on_clean(path)

    def skip(self, skipped: Skipped) -> None:
        with self.lock:
            self.skipped.append(skipped)

    def snapshot(self, started: float) -> Progress:
        with self.lock:
            return Progress(
                self.files, self.bytes, len(self.skipped), self.detections, self.current, time.monotonic() - started
            )


def scan_files(
    items: Iterable[FileEntry | Skipped],
    rules: CompiledRules,
    *,
    jobs: int,
    timeout: int,
    max_filesize: int | None,
    progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 0.25,
    cache: FileCache | None = None,
    links: HardLinks | None = None,
    on_clean: Callable[[str], None] | None = None,
    archives: ArchiveLimits | None = None,
    archive_totals: list[int] | None = None,
) -> tuple[list[FileResult], list[Skipped], int, int]:
    """Scan every file of ``items`` with ``jobs`` threads; returns (hits, skipped, files, bytes).

    With ``cache``, a file judged before and unchanged since is counted as scanned without being
    read (a detection then comes from the cache, as first found), and what is found now is
    recorded. Each file with several names (hard links) is matched in full once (``links``, which
    counts the names that took its matches; a fresh one when not given). With ``archives``, the members
    of archives are matched too (``archive_totals``, if given, is set to [archives, members, bytes extracted]).
    """
    links = HardLinks() if links is None else links
    collector = _Collector(on_clean)
    work: queue.Queue[FileEntry | None] = queue.Queue(maxsize=max(1, jobs) * 32)
    stop = threading.Event()

    debug = logger.isEnabledFor(logging.DEBUG)  # per file: decided once, so it costs nothing when off
    scan = functools.partial(
        scan_one, rules=rules, timeout=timeout, max_filesize=max_filesize, links=links, archives=archives
    )
    threads = [
        threading.Thread(
            target=_worker, args=(work, stop, scan, cache, collector, debug), name=f"scan-{i}", daemon=True
        )
        for i in range(max(1, jobs))
    ]
    for t in threads:
        t.start()
    started = last = time.monotonic()

    def tick() -> None:
        nonlocal last
        if progress is not None and time.monotonic() - last >= progress_interval:
            last = time.monotonic()
            progress(collector.snapshot(started))

    try:
        _feed(items, work, cache, collector, tick, progress_interval, debug)
    except BaseException:
        stop.set()
        raise
    finally:
        for _ in threads:
            work.put(None)
        for t in threads:
            while t.is_alive():
                t.join(progress_interval)
                tick()
    if progress is not None:
        progress(collector.snapshot(started))
    if archive_totals is not None:
        archive_totals[:] = collector.archives
    return collector.results, collector.skipped, collector.files, collector.bytes


def _worker(
    work: queue.Queue[FileEntry | None],
    stop: threading.Event,
    scan: Callable[[FileEntry], FileResult],
    cache: FileCache | None,
    collector: _Collector,
    debug: bool,
) -> None:
    """One scanning thread: scan each file ``work`` hands over (once ``stop`` is set, only drain it) until
    it hands None; record what was found in ``cache`` and ``collector``."""
    while (entry := work.get()) is not None:
        if not stop.is_set():
            result = scan(entry)
            if debug:
                log_result(result)
            # an archive not fully scanned is read again next time rather than trusted as it was seen
            if cache is not None and result.identity is not None and not result.incomplete:
                cache.record(result.path, result.identity, found_blob(result) if result.found else b"")
            collector.add(result)


def _feed(
    items: Iterable[FileEntry | Skipped],
    work: queue.Queue[FileEntry | None],
    cache: FileCache | None,
    collector: _Collector,
    tick: Callable[[], None],
    interval: float,
    debug: bool,
) -> None:
    """Hand each file of ``items`` to the workers, unless the cache answers for it; list what was skipped.
    ``tick`` reports progress at least every ``interval`` seconds while the workers are busy."""
    for item in items:
        if isinstance(item, Skipped):
            collector.skip(item)
            continue
        if cache is not None and answered_by_cache(item, cache, collector, debug):
            tick()
            continue
        while True:
            try:
                work.put(item, timeout=interval)
                break
            except queue.Full:
                tick()
        tick()


def answered_by_cache(item: FileEntry, cache: FileCache, collector: _Collector, debug: bool) -> bool:
    """Whether the cache knows ``item`` unchanged since it was judged (its result is then counted in
    ``collector``); False when the file must be read."""
    found = cache.lookup(item.path, item.identity)
    if found == b"":
        if debug:
            logger.debug("cache hit: %s judged clean before and unchanged since", display_path(item.path))
        collector.clean(item.path, item.identity.size)
        return True
    # a detection that does not decode (never written so) is read again rather than trusted or lost
    if (cached := from_found_blob(item, found)) is not None:
        if debug:
            logger.debug("cache hit: %s detected before and unchanged since", display_path(item.path))
        collector.add(cached)
        return True
    if debug:
        logger.debug(
            "cache miss: %s %s",
            display_path(item.path),
            "has a cached detection that does not decode; reading it again"
            if found
            else "is new, changed, or not judged under these rules",
        )
    return False


def log_result(result: FileResult) -> None:
    """One debug line for a file the scan read (or could not read)."""
    shown = display_path(result.path)
    if result.skipped is not None:
        logger.debug("not scanned: %s: %s %s", shown, result.skipped.reason.value, result.skipped.detail)
    elif result.found:
        found = [m.hit.rule for m in result.matches] + [f"{m.match.hit.rule} in {m.member}" for m in result.members]
        logger.debug("scanned %s: %s", shown, printable(", ".join(found)))
    else:
        logger.debug("scanned %s: clean", shown)


def detections_from(results: Sequence[FileResult], roots: Sequence[str] = ()) -> list[Detection]:
    """One detection per (file, rule); each carries the deepest of ``roots`` (real paths) it lies under."""
    out: list[Detection] = []
    for r in sorted(results, key=lambda r: r.path):
        root = max((x for x in roots if r.path == x or r.path.startswith(x.rstrip("/") + "/")), key=len, default=None)
        found = [(None, m) for m in r.matches] + [(mh.member, mh.match) for mh in r.members]
        out.extend(
            Detection(
                TargetKind.STREAM if r.path == STDIN else TargetKind.FILE,
                r.path,
                m.hit,
                sha256=r.sha256,
                size=r.size,
                stamp=r.identity,
                offsets=m.offsets,
                root=root,
                member=member,
            )
            for member, m in found
        )
    return out


NOT_SCANNED = frozenset(
    {
        SkipReason.PERMISSION_DENIED,
        SkipReason.READ_ERROR,
        SkipReason.TIMEOUT,
        SkipReason.NOT_FOUND,
        SkipReason.ACCESS_DENIED,
        SkipReason.TOO_LARGE,
        SkipReason.ARCHIVE_LIMIT,
        SkipReason.ARCHIVE_ENCRYPTED,
        SkipReason.ARCHIVE_DAMAGED,
    }
)
"""Skip reasons that leave a scan incomplete: something it should have read was not (unreadable, too deep
to open, timed out, over --max-filesize, a named path or process missing). The others are by design and
never make a result incomplete: excluded paths (not even listed), symlinks not followed, FIFOs, sockets
and devices, other, pseudo and network filesystems, the scanner's own state directory, files deleted
between the walk and the read (VANISHED) and processes that exited."""


def exit_code(detections: int, failed_actions: int, scanned: int, skipped: Iterable[Skipped]) -> ExitCode:
    """clamscan's convention: 0 clean, 1 found, 2 nothing could be scanned, 3 found and an action failed.

    A scan that read something but not everything stays 0 (or 1, 3); its report says it is incomplete
    (``ScanCounts.not_scanned``)."""
    if detections:
        return ExitCode.ACTION_FAILED if failed_actions else ExitCode.FOUND
    if scanned == 0 and any(s.reason in NOT_SCANNED for s in skipped):
        return ExitCode.ERROR
    return ExitCode.CLEAN


def incomplete_warning(not_scanned: int) -> str:
    """The warning of a scan that could not read everything it should have."""
    return (
        f"{not_scanned} item(s) could not be scanned (listed under 'Not scanned'); the result covers only what was read"
    )


def scan_processes(request: ScanRequest, rules: CompiledRules, jobs: int) -> tuple[list[Detection], list[Skipped], int]:
    """Scan processes: (detections, skipped, processes scanned)."""
    from concurrent.futures import ThreadPoolExecutor

    from scanner.scanning import processes

    found = list(processes.targets(list(request.pids) if request.pids else None))
    skipped = [t for t in found if isinstance(t, Skipped)]
    targets = [t for t in found if isinstance(t, processes.ProcessTarget)]
    cache: dict[tuple[int, int], tuple[Match, ...]] = {}

    def one(t: processes.ProcessTarget) -> processes.ProcessResult:
        return processes.scan_process(
            t, rules, timeout=request.process_timeout, max_memory=request.process_max_memory, image_cache=cache
        )

    logger.info("scanning %d process(es); %d passed over", len(targets), len(skipped))
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="proc") as pool:
        results = list(pool.map(one, targets))
    detections: list[Detection] = []
    for res in results:
        skipped.extend(res.skipped)
        digest, stamp = None, None
        if res.image_matches:
            try:
                fd = os.open(f"/proc/{res.info.pid}/exe", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    st = os.fstat(fd)
                    digest = _sha256_fd(fd)
                    stamp = FileIdentity.from_stat(st)
                finally:
                    os.close(fd)
            except OSError as exc:
                logger.debug("process %d: no digest of its image (%s)", res.info.pid, exc.strerror or exc)
                digest = None
        for where, matches in (("image", res.image_matches), ("memory", res.memory_matches)):
            info = processes.with_where(res.info, where)
            detections.extend(
                Detection(
                    TargetKind.PROCESS,
                    res.info.exe,
                    m.hit,
                    sha256=digest if where == "image" else None,
                    process=info,
                    stamp=stamp if where == "image" else None,
                )
                for m in matches
            )
        detections.extend(  # an interpreter's script, or a deleted file it reads: processes.interpreter_files
            Detection(
                TargetKind.PROCESS,
                h.path,
                m.hit,
                sha256=h.sha256,
                size=h.stamp.size,
                process=processes.with_where(res.info, h.where),
                stamp=h.stamp if h.on_disk else None,
            )
            for h in res.held
            for m in h.matches
        )
    return detections, skipped, sum(1 for r in results if r.scanned)


def open_cache(request: ScanRequest, rules: CompiledRules, now: Callable[[], dt.datetime]) -> FileCache | None:
    """The file cache of a scan of ``request`` (None: no files to scan, no state directory, or --no-cache)."""
    if not request.files:
        return None
    if request.cache_dir is None or request.cache is CacheMode.OFF:
        logger.info("file cache not used (%s)", "turned off" if request.cache_dir is not None else "no state directory")
        return None
    logger.info("file cache %s: %s", request.cache.value, request.cache_dir)
    # what a file was judged depends on whether, and how far, the scan looked inside archives
    key = rules.key if request.archives is None else f"{rules.key}+archives-{request.archives.fingerprint()}"
    return FileCache(request.cache_dir, key, mode=request.cache, now=lambda: int(now().timestamp() * 1_000_000_000))


def close_cache(cache: FileCache, extra: dict[str, object]) -> str:
    """Close ``cache`` and say what it did in ``extra`` (the report's ``file_cache``); its problem ('' if none)."""
    stats = cache.close()
    extra["file_cache"] = {
        "mode": stats.mode.value,
        "hits": stats.hits,
        "recorded": stats.recorded,
        "detections": stats.detections,
    }
    logger.info("file cache: %d hit(s), %d result(s) recorded", stats.hits, stats.recorded)
    return stats.problem


def _scan_roots(
    request: ScanRequest,
    rules: CompiledRules,
    roots: Sequence[str],
    opts: WalkOptions,
    progress: Callable[[Progress], None] | None,
    now: Callable[[], dt.datetime],
    extra: dict[str, object],
) -> tuple[list[FileResult], list[Skipped], int, int, str]:
    """Walk ``roots`` and scan their files through the file cache: (hits, skipped, files, bytes, the cache's
    problem or ''). What the cache did and the hard links met go into ``extra`` (the report's)."""
    cache = open_cache(request, rules, now)
    if request.files:
        logger.info(
            "%s scan of %s (%d thread(s), size limit %s, archives %s)",
            request.scan_type.value,
            ", ".join(map(display_path, roots)) or "nothing",
            request.jobs,
            opts.max_filesize or "none",
            "looked into" if request.archives is not None else "not looked into",
        )
    # only a cache lookup needs the walk to lstat() each file; otherwise the scan's own fstat() will do
    opts = replace(opts, stat_files=cache is not None and request.cache is CacheMode.USE)
    links = HardLinks()
    totals: list[int] = []
    problem = ""
    try:
        results, skipped, files, nbytes = scan_files(
            walk(roots, opts),
            rules,
            jobs=request.jobs,
            timeout=request.timeout,
            max_filesize=opts.max_filesize,
            progress=progress,
            cache=cache,
            links=links,
            on_clean=request.on_clean,
            archives=request.archives,
            archive_totals=totals,
        )
    finally:
        if cache is not None:
            problem = close_cache(cache, extra)
    if totals and totals[0]:
        extra["archives"] = {"archives": totals[0], "members": totals[1], "bytes": totals[2]}
    if links.names:
        extra["hard_links"] = {"names": links.names, "bytes": links.bytes}
    return results, skipped, files, nbytes, problem


def run_scan(
    request: ScanRequest,
    rules: CompiledRules,
    signatures: SignatureSetInfo,
    *,
    progress: Callable[[Progress], None] | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    warnings: Sequence[str] = (),
    extra: Mapping[str, object] | None = None,
) -> ScanReport:
    """Walk and scan the files of ``request``; the report of what was found (nothing is changed)."""
    started_at = now()
    t0 = time.monotonic()
    roots, opts = roots_for(request) if request.files else ([], request.walk)
    extra = dict(extra or {})
    real_roots = [os.path.realpath(r) for r in roots]  # as the walk resolves them; actions stay under them
    results, skipped, files, nbytes, problem = _scan_roots(request, rules, roots, opts, progress, now, extra)
    if request.stdin is not None:
        got = scan_stream(STDIN, request.stdin, rules, request.timeout)
        files, nbytes = files + (got.skipped is None), nbytes + got.size
        if got.skipped is not None:
            skipped.append(got.skipped)
        elif got.matches:
            results.append(got)
        elif request.on_clean is not None:
            request.on_clean(STDIN)
    if problem:
        warnings = (*warnings, problem)
    detections = detections_from(results, real_roots)
    nprocs = 0
    if request.processes:
        from scanner.scanning import processes  # psutil: only when processes are scanned

        proc_detections, proc_skipped, nprocs = scan_processes(request, rules, request.jobs)
        detections = processes.without_scripts_found(proc_detections, detections) + detections
        skipped.extend(proc_skipped)
    finished_at = now()
    not_scanned = sum(1 for s in skipped if s.reason in NOT_SCANNED)
    if not_scanned:
        logger.info("%d item(s) could not be scanned: the result is incomplete", not_scanned)
        warnings = (*warnings, incomplete_warning(not_scanned))
    counts = ScanCounts(
        files_scanned=files,
        bytes_scanned=nbytes,
        processes_scanned=nprocs,
        detections=len(detections),
        skipped=len(skipped),
        not_scanned=not_scanned,
    )
    return ScanReport(
        scan_id=new_scan_id(started_at),
        scan_type=request.scan_type,
        roots=tuple(roots),
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=finished_at.isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - t0, 3),
        signatures=signatures,
        counts=counts,
        detections=tuple(detections),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        warnings=tuple(warnings),
        exit_code=exit_code(len(detections), 0, files + nprocs, skipped),
        extra=extra,
    )
