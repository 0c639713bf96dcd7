"""Running processes: enumerate them, scan image and memory, and terminate them safely.

This is the only module that imports psutil. The executable image is read through
``/proc/PID/exe``, so a binary deleted from disk or a memfd-backed process is still scanned.
Memory is scanned with YARA's process scanner (yara-python >= 4.5, which no longer hangs on
device mappings), with a timeout and a resident-size cap.

Killing is guarded: never PID 1, never a kernel thread, never this process or its ancestors,
and only after re-checking that the pid still names the process that was scanned (same start
time and executable), so a recycled pid is never hit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import psutil

from scanner.engine.compiler import CompiledRules, Match, MatchFailed, MatchTimeout
from scanner.model import Detection, FileIdentity, ProcessInfo, Skipped, SkipReason, display_path, printable
from scanner.scanning import interpreters
from scanner.scanning.facts import file_externals

logger = logging.getLogger(__name__)

_YARA_LIB = re.compile(r"/(?:lib)?yara[^/]*\.so(?:\.[0-9.]+)?$")


@dataclass(frozen=True)
class ProcessTarget:
    """A process to scan."""

    info: ProcessInfo
    """Identity and description."""
    rss: int
    """Resident memory in bytes."""
    image_id: tuple[int, int] | None
    """(device, inode) of the executable image, to scan each image once."""


@dataclass(frozen=True)
class HeldFile:
    """A file an interpreter process runs or reads, scanned with it (``interpreter_files``)."""

    where: str
    """``script`` (its script argument) or ``open file`` (a deleted file or memfd it holds open)."""
    path: str
    """The file's name: the script's real path, or the descriptor's target (``... (deleted)``)."""
    on_disk: bool
    """Whether ``path`` names the file on disk (a script), so that it can be acted on."""
    sha256: str
    """Hex SHA-256 of the content scanned."""
    stamp: FileIdentity
    """Its identity when scanned."""
    matches: tuple[Match, ...]
    """What matched."""


@dataclass(frozen=True)
class ProcessResult:
    """What scanning one process gave."""

    info: ProcessInfo
    image_matches: tuple[Match, ...] = ()
    memory_matches: tuple[Match, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    scanned: bool = False
    """Whether the image or the memory could be scanned."""
    held: tuple[HeldFile, ...] = ()
    """Files an interpreter runs or reads that matched (its script, deleted files it holds open)."""


def _skip(pid: int, reason: SkipReason, detail: str = "") -> Skipped:
    return Skipped(f"pid:{pid}", reason, detail)


def is_kernel_thread(proc: psutil.Process) -> bool:
    """Kernel threads have no executable and are children of kthreadd (pid 2), or are it."""
    try:
        return proc.pid == 2 or (proc.ppid() == 2 and not proc.exe())
    except psutil.Error as exc:
        logger.debug("process %d: not known to be a kernel thread: %s", proc.pid, exc)
        return False


def _info(proc: psutil.Process) -> ProcessInfo:
    with proc.oneshot():
        try:
            exe: str | None = os.readlink(f"/proc/{proc.pid}/exe")
        except OSError:
            exe = proc.exe() or None
        try:
            user: str | None = proc.username()
        except (KeyError, psutil.Error):
            user = None
        return ProcessInfo(
            pid=proc.pid,
            name=proc.name(),
            exe=exe,
            cmdline=tuple(proc.cmdline()),
            user=user,
            start_time=proc.create_time(),
        )


def targets(pids: Sequence[int] | None = None) -> Iterator[ProcessTarget | Skipped]:
    """Every process (or those in ``pids``) except kernel threads and this process."""
    me = os.getpid()
    procs = [_process(p) for p in pids] if pids is not None else list(psutil.process_iter())
    for item in procs:
        if isinstance(item, Skipped):
            yield item
            continue
        proc = item
        if proc.pid == me:
            logger.debug("process %d passed over: the scanner itself", proc.pid)
            continue
        if is_kernel_thread(proc):
            logger.debug("process %d passed over: a kernel thread", proc.pid)
            continue
        try:
            info = _info(proc)
            rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            logger.debug("process %d passed over: it exited", proc.pid)
            yield _skip(proc.pid, SkipReason.PROCESS_EXITED)
            continue
        except psutil.AccessDenied as exc:
            logger.debug("process %d passed over: access denied (%s)", proc.pid, exc.msg or "not permitted")
            yield _skip(proc.pid, SkipReason.ACCESS_DENIED, str(exc.msg or "not permitted"))
            continue
        try:
            st = os.stat(f"/proc/{proc.pid}/exe")
            image_id: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError as exc:
            logger.debug(
                "process %d: image not identified (%s); scanned without the per-image cache", proc.pid, exc.strerror
            )
            image_id = None
        yield ProcessTarget(info, rss, image_id)


def _process(pid: int) -> psutil.Process | Skipped:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        logger.debug("process %d not scanned: no such process", pid)
        return _skip(pid, SkipReason.NOT_FOUND, "no such process")


def holds_yara_rules(pid: int) -> bool:
    """Whether the process has a YARA engine loaded (this scanner, LOKI, the yara command, ...).

    Such a process holds compiled rules, whose strings every rule matches, in its memory; it is
    scanned by image only. Its executable image is still scanned like any other.
    """
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            return any(_YARA_LIB.search(line.rstrip("\n")) for line in f)
    except OSError as exc:
        logger.debug("process %d: memory map not read (%s); taken to hold no YARA engine", pid, exc.strerror)
        return False


def scan_process(
    target: ProcessTarget,
    rules: CompiledRules,
    *,
    timeout: int,
    max_memory: int,
    scan_memory: bool = True,
    image_cache: dict[tuple[int, int], tuple[Match, ...]] | None = None,
) -> ProcessResult:
    """Scan one process's image (once per image) and, where permitted and small enough, its memory."""
    info = target.info
    pid = info.pid
    skipped: list[Skipped] = []
    image: tuple[Match, ...] = ()
    cache = image_cache if image_cache is not None else {}
    scanned = False
    if target.image_id is not None and target.image_id in cache:
        logger.debug("process %d: image already scanned under another pid", pid)
        image = cache[target.image_id]
        scanned = True
    elif info.exe is not None:
        name = os.path.basename(info.exe.removesuffix(" (deleted)"))
        try:
            image = tuple(rules.match_path(f"/proc/{pid}/exe", {"filename": name}, timeout))
            scanned = True
            if target.image_id is not None:
                cache[target.image_id] = image
        except MatchTimeout as exc:
            skipped.append(_skip(pid, SkipReason.TIMEOUT, f"image: {exc}"))
        except MatchFailed as exc:
            skipped.append(_gone_or(pid, SkipReason.ACCESS_DENIED, f"image: {exc}"))
    memory: tuple[Match, ...] = ()
    yara_inside = scan_memory and holds_yara_rules(pid)
    if yara_inside:
        logger.info(
            "process %d (%s): memory not scanned: it has a YARA engine loaded (image only)", pid, printable(info.name)
        )
    if scan_memory and not yara_inside:
        if target.rss > max_memory:
            logger.info(
                "process %d (%s): memory not scanned: resident size %d bytes is over the limit",
                pid,
                printable(info.name),
                target.rss,
            )
            skipped.append(_skip(pid, SkipReason.TOO_LARGE, f"memory: resident size {target.rss} bytes"))
        else:
            try:
                memory = tuple(rules.match_pid(pid, timeout))
                scanned = True
            except MatchTimeout as exc:
                skipped.append(_skip(pid, SkipReason.TIMEOUT, f"memory: {exc}"))
            except MatchFailed as exc:
                skipped.append(_gone_or(pid, SkipReason.ACCESS_DENIED, f"memory: {exc}"))
    held = tuple(h for h in interpreter_files(info, rules, timeout, skipped) if h.matches)
    image_rules = {m.hit.rule for m in image}
    memory_only = tuple(m for m in memory if m.hit.rule not in image_rules)
    return ProcessResult(info, image, memory_only, tuple(skipped), scanned, held)


HELD_MAX_SIZE = 64 * 1024 * 1024
"""Larger scripts and held files are not scanned with their process (the file walk reads them, if asked)."""
HELD_MAX_FILES = 16
"""At most this many held files are scanned per process."""


def interpreter_files(
    info: ProcessInfo, rules: CompiledRules, timeout: int, skipped: list[Skipped] | None = None
) -> list[HeldFile]:
    """For an interpreter process: its script file and the deleted files and memfds it holds open read-only
    (unless it has a YARA engine loaded: those may be rule files, whose strings every rule matches), each
    read (regular files only, up to ``HELD_MAX_SIZE``) and matched; none for any other process."""
    pid = info.pid
    if interpreters.interpreter_of(info.exe, info.cmdline) is None:
        return []
    candidates: list[tuple[str, str, bool]] = []  # (where, path to read, whether it is the script)
    script = interpreters.script_of(info.exe, info.cmdline)
    if script is not None:
        arg = script.argument
        candidates.append(("script", script_path(pid, arg), True))
    for n in sorted(int(x) for x in _listdir(f"/proc/{pid}/fd") if x.isdigit()):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        if (target.endswith(" (deleted)") or target.startswith("/memfd:")) and _read_only(pid, n):
            candidates.append(("open file", f"/proc/{pid}/fd/{n}", False))
    if len(candidates) > (script is not None) and holds_yara_rules(pid):
        logger.info("process %d: deleted files it holds open not scanned: it has a YARA engine loaded", pid)
        candidates = candidates[: script is not None]
    out: list[HeldFile] = []
    seen: set[tuple[int, int]] = set()
    for where, source, is_script in candidates[: HELD_MAX_FILES + 1]:
        held = _scan_held(pid, where, source, is_script, rules, timeout, seen, skipped)
        if held is not None:
            out.append(held)
    return out


def _scan_held(
    pid: int,
    where: str,
    source: str,
    is_script: bool,
    rules: CompiledRules,
    timeout: int,
    seen: set[tuple[int, int]],
    skipped: list[Skipped] | None,
) -> HeldFile | None:
    """Read and match one held file (a regular file, opened without blocking, read within the size limit)."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        logger.debug("process %d: %s %s not opened (%s)", pid, where, source, exc.strerror)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            return None
        seen.add((st.st_dev, st.st_ino))
        if st.st_size > HELD_MAX_SIZE:
            logger.info(
                "process %d: %s of %d bytes not scanned with the process (over the limit)", pid, where, st.st_size
            )
            return None
        data = os.pread(fd, HELD_MAX_SIZE, 0)
        path = os.path.realpath(source) if is_script else os.readlink(source)
    except OSError as exc:
        logger.debug("process %d: %s %s not read (%s)", pid, where, source, exc.strerror)
        return None
    finally:
        os.close(fd)
    externals = file_externals(path.removesuffix(" (deleted)"), data[:16], st.st_uid)
    try:
        matches = tuple(rules.match_data(data, externals, timeout))
    except (MatchTimeout, MatchFailed) as exc:
        if skipped is not None:
            skipped.append(
                _skip(
                    pid,
                    SkipReason.TIMEOUT if isinstance(exc, MatchTimeout) else SkipReason.READ_ERROR,
                    f"{where}: {exc}",
                )
            )
        return None
    if matches:
        logger.info("process %d: its %s %s matched", pid, where, display_path(path))
    digest = hashlib.sha256(data).hexdigest()
    return HeldFile(where, path, is_script, digest, FileIdentity.from_stat(st), matches)


def without_scripts_found(process_hits: Sequence[Detection], file_hits: Sequence[Detection]) -> list[Detection]:
    """``process_hits`` without the script detections of files the file scan found too (the same file, by
    device and inode): the file's detection stands for it, and remediation finds the process by its tie."""
    known = {(d.stamp.dev, d.stamp.ino) for d in file_hits if d.stamp is not None}
    return [
        d
        for d in process_hits
        if not (
            d.process is not None
            and d.process.where == "script"
            and d.stamp is not None
            and (d.stamp.dev, d.stamp.ino) in known
        )
    ]


def _gone_or(pid: int, reason: SkipReason, detail: str) -> Skipped:
    return _skip(pid, SkipReason.PROCESS_EXITED if not psutil.pid_exists(pid) else reason, detail)


def with_where(info: ProcessInfo, where: str) -> ProcessInfo:
    """``info`` marked as hit in ``image`` or only in ``memory``."""
    return replace(info, where=where)


# --- processes tied to files -------------------------------------------------------------------------

FileKey = tuple[int, int]
"""(device, inode): how a file is recognised whatever name (hard link, symlink, deleted) leads to it."""

_CMDLINE_LIMIT = 256 * 1024
"""Bytes of /proc/PID/cmdline read (Linux caps arguments at a few MiB; a script argument comes early)."""


@dataclass(frozen=True)
class Tie:
    """A running process tied to a detected file: killing it is part of acting on the file."""

    info: ProcessInfo
    """The process."""
    path: str
    """The file, as the caller named it."""
    reason: str
    """Why: ``runs /tmp/d2.sh``, ``runs /tmp/d2.sh (shell script)``, ``holds /tmp/x open``."""


def tied_to(files: Mapping[FileKey, str]) -> list[Tie]:
    """The processes tied to ``files`` ((device, inode) -> path), in one walk of /proc.

    A process is tied to a file when its executable is the file; when it is a known interpreter
    whose script argument (``interpreters.script_of``, resolved against the process's working
    directory and root) is the file; or when it holds the file open read-only, as its standard
    input (``sh < x``) or, for an interpreter, on any descriptor (a script that deleted itself).
    A writer (a logger, a web server's access log) is never tied. PID 1, this process, its
    ancestors and kernel threads are passed over.
    """
    if not files:
        return []
    protected = protected_pids()
    ties: list[Tie] = []
    unreadable = 0
    pids = sorted(int(n) for n in _listdir("/proc") if n.isdigit())
    for pid in pids:
        if pid in protected or any(t.info.pid == pid for t in ties):
            continue
        found = _tie_of(pid, files)
        if isinstance(found, int):
            unreadable += found
        elif found is not None:
            ties.extend(_described(pid, found, protected | {t.info.pid for t in ties}))
    logger.info(
        "looked at %d process(es) for ties to %d detected file(s): %d tied%s",
        len(pids),
        len(files),
        len(ties),
        f"; {unreadable} could not be read (not root?)" if unreadable else "",
    )
    return ties


def _described(pid: int, found: _Found, passed: set[int]) -> list[Tie]:
    """The tie ``found`` of ``pid``, and for an interpreter, one for each of its descendants (what the script
    has started: killing the shell alone would leave them running); none for a kernel thread or a pid gone."""
    try:
        proc = psutil.Process(pid)
        if is_kernel_thread(proc):
            return []
        tie = Tie(_info(proc), found.path, found.reason)
    except psutil.Error as exc:
        logger.debug("process %d tied to %s, but not described (%s)", pid, display_path(found.path), exc)
        return []
    logger.info("process %d (%s) %s", pid, printable(tie.info.name), display_path(found.reason))
    return [tie, *(_started_by(proc, found.path, found.reason, passed) if found.interpreter else [])]


def started_by(info: ProcessInfo, path: str, reason: str) -> list[Tie]:
    """A tie for each process ``info`` has started (its children, theirs, ...), if ``info`` still names the
    live process it named: what a detected script is running. ``reason`` says what ``info`` does."""
    protected = protected_pids()
    proc = same_process(info) if info.pid not in protected else None
    return [] if proc is None else _started_by(proc, path, reason, protected)


def _started_by(proc: psutil.Process, path: str, reason: str, passed: set[int]) -> list[Tie]:
    try:
        children = proc.children(recursive=True)
    except psutil.Error as exc:
        logger.debug("process %d: descendants not listed (%s)", proc.pid, exc)
        return []
    ties: list[Tie] = []
    for child in children:
        if child.pid in passed:
            continue
        try:
            ties.append(Tie(_info(child), path, f"started by pid {proc.pid}, which {reason}"))
        except psutil.Error as exc:
            logger.debug("process %d (started by %d) not described: %s", child.pid, proc.pid, exc)
            continue
        logger.info("process %d (%s) was started by process %d", child.pid, printable(ties[-1].info.name), proc.pid)
    return ties


_OWN_FD = re.compile(r"/(?:dev/fd|proc/self/fd|proc/thread-self/fd)/([0-9]+)")


def script_path(pid: int, argument: str) -> str:
    """Where process ``pid``'s script ``argument`` leads, as seen from here: a relative path under its working
    directory, an absolute one under its root (a container's, for a process in one), and its own descriptors
    (``/dev/fd/N``, ``/proc/self/fd/N``, ``/dev/stdin``), which would otherwise name this process's."""
    if argument == "/dev/stdin":
        return f"/proc/{pid}/fd/0"
    if m := _OWN_FD.fullmatch(argument):
        return f"/proc/{pid}/fd/{m.group(1)}"
    return f"/proc/{pid}/root{argument}" if argument.startswith("/") else f"/proc/{pid}/cwd/{argument}"


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError as exc:
        logger.debug("%s not listed: %s", path, exc.strerror)
        return []


def _known(path: str, files: Mapping[FileKey, str]) -> str | None:
    """The name in ``files`` of the regular file ``path`` leads to (following links), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return files.get((st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else None


@dataclass(frozen=True)
class _Found:
    path: str
    reason: str
    interpreter: bool
    """Tied as an interpreter (by its script or a descriptor), not by its own executable."""


def _tie_of(pid: int, files: Mapping[FileKey, str]) -> _Found | int | None:
    """How process ``pid`` is tied to one of ``files``; 1 if it could not be read; else None."""
    base = f"/proc/{pid}"
    try:
        exe: str | None = os.readlink(f"{base}/exe")
    except PermissionError:
        return 1  # not ours to read (not root): neither its image, nor its directory, nor its descriptors
    except OSError:
        exe = None  # a kernel thread, or a process that exited
    if exe is not None and (path := _known(f"{base}/exe", files)) is not None:
        return _Found(path, f"runs {path}", False)
    cmdline = _cmdline(pid)
    script = interpreters.script_of(exe, cmdline)
    if script is not None:
        arg = script.argument
        where = script_path(pid, arg)
        if (path := _known(where, files)) is not None:
            return _Found(path, f"runs {path} ({script.kind.value} script)", True)
    interpreter = interpreters.interpreter_of(exe, cmdline) is not None
    try:
        fds = sorted(int(n) for n in os.listdir(f"{base}/fd") if n.isdigit()) if interpreter else [0]
    except PermissionError:
        return 1
    except OSError:
        return None  # it exited
    for fd in fds:
        if (path := _known(f"{base}/fd/{fd}", files)) is not None and _read_only(pid, fd):
            return _Found(path, f"holds {path} open", interpreter)
    return None


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(_CMDLINE_LIMIT)
    except OSError:
        return []
    return [os.fsdecode(a) for a in raw.rstrip(b"\0").split(b"\0")] if raw else []


def _read_only(pid: int, fd: int) -> bool:
    """Whether descriptor ``fd`` of ``pid`` is open for reading only (/proc/PID/fdinfo/FD ``flags``, octal)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii", errors="replace") as f:
            for line in f.read(4096).splitlines():
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE == os.O_RDONLY
    except (OSError, ValueError, IndexError) as exc:
        logger.debug("process %d descriptor %d: open mode unknown (%s); not tied by it", pid, fd, exc)
    return False


# --- termination ---------------------------------------------------------------------------------------


def protected_pids() -> set[int]:
    """PID 1, this process and all its ancestors."""
    pids = {0, 1, os.getpid()}
    try:
        for parent in psutil.Process().parents():
            pids.add(parent.pid)
    except psutil.Error:
        pass
    return pids


def same_process(info: ProcessInfo) -> psutil.Process | None:
    """The live process ``info`` describes, or None if that pid now names another process (or none)."""
    try:
        proc = psutil.Process(info.pid)
        if abs(proc.create_time() - info.start_time) > 0.01:
            return None
        try:
            exe: str | None = os.readlink(f"/proc/{info.pid}/exe")
        except OSError:
            exe = proc.exe() or None
        if info.exe is not None and exe != info.exe:
            return None
        return proc
    except psutil.Error:
        return None


@dataclass(frozen=True)
class KillOutcome:
    """What happened when terminating a process."""

    pid: int
    ok: bool
    """The process is gone (or already was)."""
    message: str
    """terminated, killed, already exited, refused: ..., failed: ..."""


def terminate(info: ProcessInfo, grace: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> KillOutcome:
    """SIGTERM, then SIGKILL after ``grace`` seconds, the process ``info`` names, if it is still that one."""
    pid = info.pid
    if pid in protected_pids():
        logger.info("not terminating process %d: pid 1, the scanner itself or one of its ancestors", pid)
        return KillOutcome(pid, False, "refused: pid 1, the scanner itself or one of its ancestors")
    proc = same_process(info)
    if proc is None:
        if not psutil.pid_exists(pid):
            logger.info("process %d already exited", pid)
            return KillOutcome(pid, True, "already exited")
        logger.info("not terminating process %d: the pid now belongs to another process", pid)
        return KillOutcome(pid, False, "refused: the pid now belongs to another process (recycled)")
    if is_kernel_thread(proc):
        logger.info("not terminating process %d: a kernel thread", pid)
        return KillOutcome(pid, False, "refused: kernel thread")
    try:
        logger.info("sending SIGTERM to process %d (then SIGKILL after %gs)", pid, grace)
        proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs([proc], timeout=grace)
        if not alive:
            return KillOutcome(pid, True, "terminated")
        if same_process(info) is None:
            return KillOutcome(pid, True, "terminated")
        proc.send_signal(signal.SIGKILL)
        _, alive = psutil.wait_procs([proc], timeout=max(grace, 2.0))
        return KillOutcome(pid, not alive, "killed" if not alive else "failed: still running after SIGKILL")
    except psutil.NoSuchProcess:
        return KillOutcome(pid, True, "terminated")
    except psutil.AccessDenied:
        return KillOutcome(pid, False, "failed: permission denied (run as root)")
