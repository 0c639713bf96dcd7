"""Walking the filesystem: which files a scan reads, and which it passes over and why.

Rules, each of which has a test:
- a symlink named as a root is followed; a symlink met inside the tree is never followed
  (one whose target lies outside every root is listed as skipped; one inside is scanned under
  its real path anyway), so the walk cannot loop;
- a directory reached twice (bind mounts) is entered once;
- FIFOs, sockets and devices are listed as skipped and never opened here;
- ``--exclude`` globs: a pattern containing ``/`` is matched against the whole path, any other
  pattern against the name alone; an excluded directory is not entered;
- clamscan's regular expressions (``--exclude-regex``/``--include`` for files, ``--exclude-dir``/
  ``--include-dir`` for directories) are searched for anywhere in the whole path, as clamscan does;
- ``--modified-since``: a file whose mtime and ctime are both older than the cut-off is not scanned
  (nor listed: it is outside the scan, as an excluded file is);
- ``--one-file-system`` does not cross into another filesystem below a root;
- ``prune`` paths (pseudo and network filesystems in a full scan) are listed once and not entered;
- the scanner's own state directory (``skip_dirs``, by device and inode) is never entered;
- the walk goes by directory descriptors, so a tree deeper than PATH_MAX is walked and its files
  can be opened (through ``FileEntry.parent``).
"""

from __future__ import annotations

import errno
import fnmatch
import itertools
import logging
import operator
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from scanner.model import FileIdentity, Skipped, SkipReason, display_path
from scanner.safefs import O_DIR_NOFOLLOW

logger = logging.getLogger(__name__)

UNKNOWN = -1
"""A FileEntry field the walk did not look up (WalkOptions.stat_files is False)."""
UNKNOWN_IDENTITY = FileIdentity(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
"""The identity of a FileEntry the walk did not lstat."""


PATH_MAX = 4096
"""Linux's limit on a path given to a system call, in bytes."""
_LONG_DIR = PATH_MAX - 256 - 1
"""A directory path longer than this (bytes) may hold files whose paths the kernel will not take whole."""
OPEN_ANCESTORS = 64
"""Descriptors the walk keeps on its current branch (deeper trees reopen an ancestor when they return to it)."""
SPARE_HANDLES = 256
"""Open directories beyond which files are opened by path again (those of long paths excepted), so a
process with many directories in flight never runs out of descriptors."""


class _Budget:
    """How many directory descriptors the walks of this process hold open (lock-free: two counters whose
    steps the GIL keeps exact; the figures read may lag a step behind, which is all a budget needs)."""

    def __init__(self) -> None:
        self._opened_n = itertools.count(1)
        self._closed_n = itertools.count(1)
        self.opened = 0
        self.closed = 0

    def open(self) -> None:
        self.opened = max(self.opened, next(self._opened_n))

    def close(self) -> None:
        self.closed = max(self.closed, next(self._closed_n))

    def spare(self) -> bool:
        return self.opened - self.closed < SPARE_HANDLES


_BUDGET = _Budget()
"""One budget for the process: a watch runs several walks whose entries wait in its queues together."""


class DirHandle:
    """An open directory, closed when its last holder (the walk, or a FileEntry waiting to be scanned)
    lets go of it."""

    __slots__ = ("_budget", "fd")

    def __init__(self, fd: int, budget: _Budget | None = None) -> None:
        self.fd = fd
        """The descriptor (O_DIRECTORY, opened without following a symlink)."""
        self._budget = budget
        if budget is not None:
            budget.open()

    def __del__(self, _close: Callable[[int], None] = os.close) -> None:
        _close(self.fd)
        if self._budget is not None:
            self._budget.close()


class FileEntry(NamedTuple):
    """A regular file found by the walk, with the lstat facts the scan needs (a tuple: the walk makes one
    per file, and a rescan from the file cache does little else)."""

    path: str
    """Path as walked (under the root as given)."""
    identity: FileIdentity
    """Device, inode, size and times at walk time (UNKNOWN_IDENTITY when the walk did not lstat it); the file
    cache's key."""
    uid: int
    """Owner uid."""
    parent: DirHandle | None = None
    """The directory the walk found it in, open: the scan opens the file by name through it (None: by path)."""

    @classmethod
    def from_stat(cls, path: str, st: os.stat_result, parent: DirHandle | None = None) -> FileEntry:
        """The entry of the file at ``path`` with (l)stat result ``st``."""
        return cls(
            path, FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), st.st_uid, parent
        )


@dataclass(frozen=True)
class PathRegexes:
    """clamscan-style regular expressions, each searched for anywhere in a whole path."""

    exclude_files: tuple[re.Pattern[str], ...] = ()
    """A file whose path matches one is not scanned (clamscan's --exclude)."""
    include_files: tuple[re.Pattern[str], ...] = ()
    """When given, only files whose path matches one are scanned (clamscan's --include)."""
    exclude_dirs: tuple[re.Pattern[str], ...] = ()
    """A directory whose path matches one is not entered (--exclude-dir)."""
    include_dirs: tuple[re.Pattern[str], ...] = ()
    """When given, only directories whose path matches one are entered, roots aside (--include-dir)."""

    @property
    def active(self) -> bool:
        """Whether any expression was given."""
        return bool(self.exclude_files or self.include_files or self.exclude_dirs or self.include_dirs)

    def skips_file(self, path: str) -> bool:
        """Whether the file at ``path`` is left out."""
        if any(r.search(path) for r in self.exclude_files):
            return True
        return bool(self.include_files) and not any(r.search(path) for r in self.include_files)

    def skips_dir(self, path: str) -> bool:
        """Whether the directory at ``path`` (below a root) is not entered."""
        if any(r.search(path) for r in self.exclude_dirs):
            return True
        return bool(self.include_dirs) and not any(r.search(path) for r in self.include_dirs)


@dataclass(frozen=True)
class WalkOptions:
    """How to walk."""

    excludes: tuple[str, ...] = ()
    """Glob patterns (see module docstring)."""
    one_file_system: bool = False
    """Stay on each root's filesystem."""
    max_filesize: int | None = None
    """Larger files are skipped (listed); None or 0: no limit (as clamscan's 0)."""
    prune: frozenset[str] = frozenset()
    """Absolute paths not to enter (listed once as skipped)."""
    skip_dirs: frozenset[tuple[int, int]] = frozenset()
    """Directories never entered, by (device, inode): the scanner's state directory (``dir_identity``),
    whose compiled rules and caches hold the very strings rules look for. Listed as passed over by design."""
    stat_files: bool = True
    """lstat() every regular file so FileEntry carries its facts; False leaves them UNKNOWN (and the
    size limit to the scan, which fstat()s each file it opens), saving a system call per file."""
    regex: PathRegexes = field(default_factory=PathRegexes)
    """clamscan's --exclude/--include regular expressions for files and directories."""
    modified_since: float | None = None
    """Scan only files changed (mtime or ctime) at or after this time (seconds since the epoch)."""


class Excluder:
    """Decides whether a path is excluded by the user's globs."""

    def __init__(self, patterns: Iterable[str]) -> None:
        pats = list(patterns)
        self._full = [p for p in pats if "/" in p]
        self._name = [p for p in pats if "/" not in p]
        self.active = bool(pats)
        """Whether any pattern was given (the walk skips the check per entry when not)."""

    def __call__(self, path: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self._name) or any(
            fnmatch.fnmatchcase(path, p) for p in self._full
        )


_by_name = operator.attrgetter("name")


def dir_identity(path: str | os.PathLike[str]) -> frozenset[tuple[int, int]]:
    """``{(device, inode)}`` of directory ``path`` for ``WalkOptions.skip_dirs`` (empty if it is not there)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        logger.debug("no directory to keep out of the walk at %s: %s", path, exc.strerror)
        return frozenset()
    return frozenset({(st.st_dev, st.st_ino)}) if stat.S_ISDIR(st.st_mode) else frozenset()


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def skip_for_oserror(path: str, exc: OSError) -> Skipped:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Skipped(path, SkipReason.PERMISSION_DENIED, exc.strerror or "")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return Skipped(path, SkipReason.VANISHED, exc.strerror or "")
    if exc.errno == errno.ELOOP:
        return Skipped(path, SkipReason.SYMLINK_LOOP, exc.strerror or "")
    return Skipped(path, SkipReason.READ_ERROR, exc.strerror or str(exc))


def walk(roots: Sequence[str], options: WalkOptions) -> Iterator[FileEntry | Skipped]:
    """Every regular file under ``roots`` (files or directories), and everything passed over."""
    excluded = Excluder(options.excludes)
    real_roots = [os.path.realpath(r) for r in roots]
    visited: set[tuple[int, int]] = set()
    budget = _BUDGET
    for given in roots:
        try:
            st = os.stat(given)  # a root that is a symlink is followed ...
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                yield Skipped(given, SkipReason.NOT_FOUND)
            else:
                yield skip_for_oserror(given, exc)
            continue
        root = os.path.realpath(given)  # ... and reported (and acted on) under its real path
        if excluded(root, os.path.basename(root.rstrip("/")) or root):
            logger.info("not scanning %s: excluded by a pattern", display_path(root))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(root, st, real_roots, options, excluded, visited, budget)
        elif not _left_out(root, st, options):
            yield _file_or_skip(root, st, options)


def _left_out(path: str, st: os.stat_result, options: WalkOptions) -> bool:
    """Whether a regular file is outside the scan by a clamscan regex or --modified-since (logged at debug)."""
    if not stat.S_ISREG(st.st_mode):
        return False
    if options.regex.skips_file(path):
        logger.debug("passing over %s: left out by a regular expression", display_path(path))
        return True
    if options.modified_since is not None and max(st.st_mtime, st.st_ctime) < options.modified_since:
        logger.debug("passing over %s: not changed since the --modified-since cut-off", display_path(path))
        return True
    return False


def _file_or_skip(
    path: str, st: os.stat_result, options: WalkOptions, parent: DirHandle | None = None
) -> FileEntry | Skipped:
    if not stat.S_ISREG(st.st_mode):
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("passing over %s: not a regular file (mode %o)", display_path(path), st.st_mode)
        return Skipped(path, SkipReason.SPECIAL_FILE)
    if options.max_filesize and st.st_size > options.max_filesize:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("passing over %s: %d bytes, above the size limit", display_path(path), st.st_size)
        return Skipped(path, SkipReason.TOO_LARGE, f"{st.st_size} bytes")
    # FileEntry.from_stat spelt out: one call less per file on the walk's hot path
    return FileEntry(
        path, FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), st.st_uid, parent
    )


class _Dir:
    """A directory on the walk's current branch, with its descriptor while it holds one."""

    __slots__ = ("depth", "handle", "ident", "name", "parent", "path")

    def __init__(
        self, path: str, name: str, parent: _Dir | None, ident: tuple[int, int], handle: DirHandle, depth: int
    ) -> None:
        self.path, self.name, self.parent, self.ident, self.depth = path, name, parent, ident, depth
        self.handle: DirHandle | None = handle


def _open_dir(name: str, parent: DirHandle | None, ident: tuple[int, int], budget: _Budget) -> DirHandle:
    """Open directory ``name`` (below ``parent``, else a path) without following a symlink, and check it is
    the directory the walk saw (device and inode); OSError if not."""
    fd = os.open(name, O_DIR_NOFOLLOW, dir_fd=parent.fd if parent is not None else None)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != ident:
            raise OSError(errno.ENOENT, "replaced during the scan")
    except BaseException:
        os.close(fd)
        raise
    return DirHandle(fd, budget)


def _handle_of(node: _Dir, budget: _Budget) -> DirHandle:
    """``node``'s descriptor, reopened from its nearest open ancestor when the walk let it go (deep trees)."""
    lost: list[_Dir] = []
    up: _Dir | None = node
    while up is not None and up.handle is None:
        lost.append(up)
        up = up.parent
    for d in reversed(lost):
        parent = d.parent.handle if d.parent is not None else None
        d.handle = _open_dir(d.name if parent is not None else d.path, parent, d.ident, budget)
    assert node.handle is not None
    return node.handle


def _walk_dir(
    top: str,
    top_st: os.stat_result,
    real_roots: Sequence[str],
    options: WalkOptions,
    excluded: Excluder,
    visited: set[tuple[int, int]],
    budget: _Budget,
) -> Iterator[FileEntry | Skipped]:
    """Depth first, by descriptors: each directory is opened relative to its parent's descriptor and listed
    through its own, so no path the kernel is given grows with the depth (a tree deeper than PATH_MAX is
    walked whole). The current branch keeps at most OPEN_ANCESTORS descriptors; deeper, an ancestor's is
    let go and reopened (and checked to be the same directory) if the walk comes back to it."""
    root_dev = top_st.st_dev
    chain: list[_Dir] = []
    # (parent, name, path, stat); the root has no parent and is opened by its path
    stack: list[tuple[_Dir | None, str, str, os.stat_result]] = [(None, top, top, top_st)]
    while stack:
        parent, name, dirpath, dst = stack.pop()
        ident = (dst.st_dev, dst.st_ino)
        if ident in visited:
            continue
        visited.add(ident)
        if ident in options.skip_dirs:
            logger.info("not scanning %s: the scanner's own state directory", display_path(dirpath))
            yield Skipped(dirpath, SkipReason.STATE_DIRECTORY)
            continue
        try:
            handle = _open_dir(name, _handle_of(parent, budget) if parent is not None else None, ident, budget)
            with os.scandir(handle.fd) as it:
                entries = sorted(it, key=_by_name)
        except OSError as exc:
            logger.debug("cannot list %s: %s", display_path(dirpath), exc.strerror or exc)
            yield skip_for_oserror(dirpath, exc)
            continue
        debug = logger.isEnabledFor(logging.DEBUG)
        depth = parent.depth + 1 if parent is not None else 0
        node = _Dir(dirpath, name, parent, ident, handle, depth)
        del chain[depth:]
        chain.append(node)
        if depth > OPEN_ANCESTORS:
            chain[depth - OPEN_ANCESTORS].handle = None  # the root's is always kept
        # files are opened for scanning through this directory's descriptor while there are descriptors to spare
        # (and always when their path is too long to open by name)
        long_names = len(dirpath) * 4 > _LONG_DIR and len(os.fsencode(dirpath)) > _LONG_DIR
        files_in = handle if long_names or budget.spare() else None
        fd = handle.fd
        subdirs = []
        check = excluded.active
        regex = options.regex if options.regex.active else None
        stat_files = options.stat_files or options.modified_since is not None
        prefix = dirpath if dirpath.endswith("/") else dirpath + "/"
        for entry in entries:
            ename = entry.name
            path = prefix + ename
            if check and excluded(path, ename):
                if debug:
                    logger.debug("passing over %s: excluded by a pattern", display_path(path))
                continue
            try:
                if not stat_files and entry.is_file(follow_symlinks=False):
                    # the file type from the directory entry is enough: the scan fstat()s what it opens
                    yield FileEntry(path, UNKNOWN_IDENTITY, UNKNOWN, files_in)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                if debug:
                    logger.debug("passing over %s: %s", display_path(path), exc.strerror or exc)
                yield skip_for_oserror(path, exc)
                continue
            if stat.S_ISLNK(st.st_mode):
                skip = _symlink(path, ename, fd, dirpath, real_roots)
                if debug:
                    logger.debug(
                        "symlink %s not followed: %s",
                        display_path(path),
                        skip.reason.value if skip is not None else "its target is scanned in the tree",
                    )
                if skip is not None:
                    yield skip
            elif stat.S_ISDIR(st.st_mode):
                if path in options.prune:
                    logger.info(
                        "not scanning %s: a pseudo or network filesystem (name it to scan it)", display_path(path)
                    )
                    yield Skipped(path, SkipReason.OTHER_FILESYSTEM, "pseudo or network filesystem; name it to scan it")
                elif options.one_file_system and st.st_dev != root_dev:
                    logger.info("not scanning %s: another filesystem (--one-file-system)", display_path(path))
                    yield Skipped(path, SkipReason.OTHER_FILESYSTEM)
                elif regex is not None and regex.skips_dir(path):
                    if debug:
                        logger.debug("not entering %s: left out by a regular expression", display_path(path))
                else:
                    subdirs.append((node, ename, path, st))
            elif (regex is None and options.modified_since is None) or not _left_out(path, st, options):
                yield _file_or_skip(path, st, options, files_in)
        stack.extend(reversed(subdirs))


def _symlink(path: str, name: str, dir_fd: int, dirpath: str, real_roots: Sequence[str]) -> Skipped | None:
    """A symlink inside the tree: never followed; say so when it leads elsewhere.

    ``dirpath`` is the real path of its directory (the walk never follows links) and ``dir_fd`` its
    descriptor. The usual case, a link to a regular file or directory beside it (``libx.so -> libx.so.1``),
    is settled with one readlink and one lstat; anything else is resolved in full.
    """
    try:
        target = os.readlink(name, dir_fd=dir_fd)
        if (
            "/" not in target
            and target not in (".", "..")
            and not stat.S_ISLNK(os.lstat(target, dir_fd=dir_fd).st_mode)
        ):
            return None  # beside it, inside the tree: scanned under its own name
    except OSError:
        pass
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skipped(path, SkipReason.SYMLINK_LOOP)
        return None  # dangling (or too deep to resolve by name): nothing to scan
    if _inside(target, real_roots):
        return None  # scanned under its real path
    return Skipped(path, SkipReason.SYMLINK_OUT_OF_ROOT, f"-> {target}")
