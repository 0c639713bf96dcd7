"""Walking the filesystem: which files a scan reads, and which it passes over and why.

Rules, each of which has a test:
- a symlink named as a root is followed; a symlink met inside the tree is never followed
  (one whose target lies outside every root is listed as skipped; one inside is scanned under
  its real path anyway), so the walk cannot loop;
- a directory reached twice (bind mounts) is entered once;
- FIFOs, sockets and devices are listed as skipped and never opened here;
- ``--exclude`` globs: a pattern containing ``/`` is matched against the whole path, any other
  pattern against the name alone; an excluded directory is not entered;
- ``--one-file-system`` does not cross into another filesystem below a root;
- ``prune`` paths (pseudo and network filesystems in a full scan) are listed once and not entered.
"""

from __future__ import annotations

import errno
import fnmatch
import operator
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from scanner.model import Skipped, SkipReason

UNKNOWN = -1
"""A FileEntry field the walk did not look up (WalkOptions.stat_files is False)."""


class FileEntry(NamedTuple):
    """A regular file found by the walk, with the lstat facts the scan needs (a tuple: the walk makes one
    per file, and a rescan from the file cache does little else)."""

    path: str
    """Path as walked (under the root as given)."""
    size: int
    """Size in bytes at walk time."""
    dev: int
    """Device number."""
    ino: int
    """Inode number."""
    uid: int
    """Owner uid."""
    mtime_ns: int
    """Modification time."""
    ctime_ns: int
    """Status-change time."""


@dataclass(frozen=True)
class WalkOptions:
    """How to walk."""

    excludes: tuple[str, ...] = ()
    """Glob patterns (see module docstring)."""
    one_file_system: bool = False
    """Stay on each root's filesystem."""
    max_filesize: int | None = None
    """Larger files are skipped (listed)."""
    prune: frozenset[str] = frozenset()
    """Absolute paths not to enter (listed once as skipped)."""
    stat_files: bool = True
    """lstat() every regular file so FileEntry carries its facts; False leaves them UNKNOWN (and the
    size limit to the scan, which fstat()s each file it opens), saving a system call per file."""


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
    for given in roots:
        try:
            st = os.stat(given)  # a root that is a symlink is followed ...
        except OSError as exc:
            yield skip_for_oserror(given, exc)
            continue
        root = os.path.realpath(given)  # ... and reported (and acted on) under its real path
        if excluded(root, os.path.basename(root.rstrip("/")) or root):
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(root, st, real_roots, options, excluded, visited)
        else:
            yield _file_or_skip(root, st, options)


def _file_or_skip(path: str, st: os.stat_result, options: WalkOptions) -> FileEntry | Skipped:
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, SkipReason.SPECIAL_FILE)
    if options.max_filesize is not None and st.st_size > options.max_filesize:
        return Skipped(path, SkipReason.TOO_LARGE, f"{st.st_size} bytes")
    return FileEntry(path, st.st_size, st.st_dev, st.st_ino, st.st_uid, st.st_mtime_ns, st.st_ctime_ns)


def _walk_dir(
    top: str,
    top_st: os.stat_result,
    real_roots: Sequence[str],
    options: WalkOptions,
    excluded: Excluder,
    visited: set[tuple[int, int]],
) -> Iterator[FileEntry | Skipped]:
    root_dev = top_st.st_dev
    stack = [(top, top_st)]
    while stack:
        dirpath, dst = stack.pop()
        ident = (dst.st_dev, dst.st_ino)
        if ident in visited:
            continue
        visited.add(ident)
        try:
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=_by_name)
        except OSError as exc:
            yield skip_for_oserror(dirpath, exc)
            continue
        subdirs = []
        check = excluded.active
        for entry in entries:
            path = entry.path
            if check and excluded(path, entry.name):
                continue
            try:
                if not options.stat_files and entry.is_file(follow_symlinks=False):
                    # the file type from the directory entry is enough: the scan fstat()s what it opens
                    yield FileEntry(path, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield skip_for_oserror(path, exc)
                continue
            if stat.S_ISLNK(st.st_mode):
                skip = _symlink(path, dirpath, real_roots)
                if skip is not None:
                    yield skip
            elif stat.S_ISDIR(st.st_mode):
                if path in options.prune:
                    yield Skipped(path, SkipReason.OTHER_FILESYSTEM, "pseudo or network filesystem; name it to scan it")
                elif options.one_file_system and st.st_dev != root_dev:
                    yield Skipped(path, SkipReason.OTHER_FILESYSTEM)
                else:
                    subdirs.append((path, st))
            else:
                yield _file_or_skip(path, st, options)
        stack.extend(reversed(subdirs))


def _symlink(path: str, dirpath: str, real_roots: Sequence[str]) -> Skipped | None:
    """A symlink inside the tree: never followed; say so when it leads elsewhere.

    ``dirpath`` is the real path of its directory (the walk never follows links). The usual case,
    a link to a regular file or directory beside it (``libx.so -> libx.so.1``), is settled with one
    readlink and one lstat; anything else is resolved in full.
    """
    try:
        target = os.readlink(path)
        if "/" not in target and target not in (".", "..") \
                and not stat.S_ISLNK(os.lstat(os.path.join(dirpath, target)).st_mode):
            return None  # beside it, inside the tree: scanned under its own name
    except OSError:
        pass
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skipped(path, SkipReason.SYMLINK_LOOP)
        return None  # dangling: nothing to scan
    if _inside(target, real_roots):
        return None  # scanned under its real path
    return Skipped(path, SkipReason.SYMLINK_OUT_OF_ROOT, f"-> {target}")
