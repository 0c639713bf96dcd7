"""File access confined to a sysroot, for finding and cleaning persistence.

``Root`` resolves every path as if the sysroot were ``/`` (absolute links and ``..``
never leave it) and opens one component at a time relative to directory descriptors,
with no-follow flags, so a link swapped in after the scan cannot redirect a read or a
write. ``open_planned`` and ``replace_atomically`` are what cleanup uses to check a
file and rewrite it in place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from scanner import safefs
from scanner.errors import PersistenceError

logger = logging.getLogger(__name__)

_READ_CAP = 4 * 1024 * 1024
"""Configuration files larger than this are reported as skipped, not read."""
DIR_CAP = 20_000
"""Entries read from one directory; a flooded directory must not stall the scan."""
_MAX_HOPS = 40
"""Symbolic links followed while resolving one path, as the kernel allows."""


def host_path(sysroot: str, machine: str) -> str:
    """The path on this machine of ``machine``, a path on the machine under ``sysroot``."""
    return machine if sysroot == "/" else sysroot + machine


def normalize(path: str) -> str:
    """Absolute, lexically normalised path (no ``.``, ``..`` or doubled slashes)."""
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
        else:
            parts.append(comp)
    return "/" + "/".join(parts)


class FileTooLarge(OSError):
    """The file is larger than we read."""


@dataclass
class Walk:
    """Where ``Root.walk`` stopped: an open directory and what is left of the path."""

    fd: int
    """Open directory the walk stopped in (the caller closes it)."""
    parents: list[str]
    """Components of that directory's path."""
    rest: list[str]
    """Unwalked components: [name] when the final one exists, more when something is missing."""


class Root:
    """File access confined to a sysroot, resolving links as if the sysroot were ``/``."""

    def __init__(self, sysroot: str | os.PathLike[str]) -> None:
        self.host = os.path.abspath(os.fspath(sysroot))
        if not os.path.isdir(self.host):
            raise PersistenceError(f"sysroot {self.host} is not a directory; give an existing directory")
        self._prefixes = sorted({p for p in (self.host, os.path.realpath(self.host)) if p != "/"})
        self._canonical: dict[str, str] = {}

    def host_path(self, machine: str) -> str:
        """The path on this machine of ``machine``."""
        return host_path(self.host, machine)

    def to_machine(self, path: str) -> str:
        """Map a path as this machine sees it back to the inspected machine's view."""
        for prefix in self._prefixes:
            if path == prefix:
                return "/"
            if path.startswith(prefix + "/"):
                return normalize(path[len(prefix) :])
        return normalize(path)

    def walk(self, machine: str, *, follow_final: bool, strict: bool = False) -> Walk:
        """Open the directory holding ``machine``'s last component, one component at a time.

        Each directory is opened relative to the previous one with O_NOFOLLOW, and a link's
        target is spliced into the remaining components (an absolute one restarts at the
        sysroot), so nothing outside the sysroot is ever reached. ``strict`` refuses any
        link on the way, for paths that were canonical when planned.
        """
        root_fd = os.open(self.host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stack = [root_fd]
        names: list[str] = []
        pending = deque(machine.split("/"))
        hops = 0
        try:
            while pending:
                comp = pending.popleft()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if names:
                        os.close(stack.pop())
                        names.pop()
                    continue
                last = all(c in ("", ".") for c in pending)
                try:
                    st = os.stat(comp, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    return Walk(stack.pop(), names, [comp, *pending])
                if stat.S_ISLNK(st.st_mode) and (follow_final or not last):
                    if strict:
                        raise PersistenceError(
                            f"{machine} now goes through a symbolic link; it changed since the scan, scan again"
                        )
                    hops += 1
                    if hops > _MAX_HOPS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", machine)
                    target = os.readlink(comp, dir_fd=stack[-1])
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                        names.clear()
                    pending.extendleft(reversed(target.split("/")))
                    continue
                if last:
                    return Walk(stack.pop(), names, [comp])
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", machine)
                stack.append(os.open(comp, safefs.O_DIR_NOFOLLOW, dir_fd=stack[-1]))
                names.append(comp)
            return Walk(stack.pop(), names, [])
        finally:
            for fd in stack:
                os.close(fd)

    def canonical(self, machine: str) -> str:
        """``machine`` with links resolved under the sysroot; missing tails are kept as written."""
        machine = normalize(machine)
        cached = self._canonical.get(machine)
        if cached is not None:
            return cached
        try:
            w = self.walk(machine, follow_final=True)
        except OSError as exc:
            logger.debug("%s cannot be resolved under %s (%s); kept as written", machine, self.host, exc)
            result = machine
        else:
            os.close(w.fd)
            result = normalize("/".join(["", *w.parents, *w.rest]))
        self._canonical[machine] = result
        return result

    def read(self, machine: str) -> tuple[str, bytes]:
        """The canonical path and content of a regular file; ``safefs.NotRegular`` (naming the canonical
        path) for anything else."""
        w = self.walk(machine, follow_final=True)
        try:
            if len(w.rest) != 1:
                raise FileNotFoundError(errno.ENOENT, "no such file", machine)
            canonical = normalize("/".join(["", *w.parents, w.rest[0]]))
            try:
                fd = safefs.open_regular_at(w.fd, w.rest[0])
            except safefs.NotRegular as exc:
                raise safefs.NotRegular(canonical, exc.mode) from None
        finally:
            os.close(w.fd)
        try:
            if os.fstat(fd).st_size > _READ_CAP:
                raise FileTooLarge(errno.EFBIG, "file too large", machine)
            return canonical, read_fd(fd)
        finally:
            os.close(fd)

    def listdir(self, machine: str) -> list[tuple[str, str]]:
        """(name, type) of a directory's entries; type is file, dir, link or other."""
        w = self.walk(machine, follow_final=True)
        try:
            if len(w.rest) > 1:
                raise FileNotFoundError(errno.ENOENT, "no such directory", machine)
            fd = os.open(w.rest[0], safefs.O_DIR_NOFOLLOW, dir_fd=w.fd) if w.rest else os.dup(w.fd)
        finally:
            os.close(w.fd)
        out: list[tuple[str, str]] = []
        try:
            with os.scandir(fd) as it:
                for entry in islice(it, DIR_CAP):
                    if entry.is_symlink():
                        kind = "link"
                    elif entry.is_dir(follow_symlinks=False):
                        kind = "dir"
                    elif entry.is_file(follow_symlinks=False):
                        kind = "file"
                    else:
                        kind = "other"
                    out.append((entry.name, kind))
        finally:
            os.close(fd)
        return sorted(out)

    def readlink(self, machine: str) -> str:
        """What the link ``machine`` points to (its last component is not followed)."""
        w = self.walk(machine, follow_final=False)
        try:
            if len(w.rest) != 1:
                raise FileNotFoundError(errno.ENOENT, "no such link", machine)
            return os.readlink(w.rest[0], dir_fd=w.fd)
        finally:
            os.close(w.fd)


def read_fd(fd: int) -> bytes:
    """The whole content of an open file, read by offset; ``FileTooLarge`` past ``_READ_CAP``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.pread(fd, 1 << 16, total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > _READ_CAP:
            raise FileTooLarge(errno.EFBIG, "file grew too large while being read")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``: how a finding and an action name the content they were planned on."""
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def open_planned(root: Root, machine: str) -> Iterator[tuple[int, str, int, os.stat_result]]:
    """(directory fd, name, file fd, stat) of a planned file, refusing any link on the way."""
    w = root.walk(machine, follow_final=False, strict=True)
    try:
        if len(w.rest) != 1:
            raise FileNotFoundError(errno.ENOENT, "no such file", machine)
        try:
            fd = safefs.open_regular_at(w.fd, w.rest[0])
        except safefs.NotRegular:
            raise PersistenceError(f"{machine} is no longer a regular file; scan again") from None
        try:
            yield w.fd, w.rest[0], fd, os.fstat(fd)
        finally:
            os.close(fd)
    finally:
        os.close(w.fd)


def replace_atomically(dir_fd: int, name: str, content: bytes, src_fd: int, st: os.stat_result) -> None:
    """Atomically replace ``name`` with ``content``, keeping owner, mode and extended attributes.

    Times are not kept on purpose: cron reloads a crontab when its mtime changes, and the
    content did change. The temporary name starts with a dot and has a suffix that cron,
    run-parts and systemd all ignore, so it is never run while it exists.
    """
    tmp = f".{name}.{secrets.token_hex(6)}.scanner-tmp"
    tfd = safefs.create_new(tmp, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(tfd, view) :]
            for attr in _listxattr(src_fd):
                with contextlib.suppress(OSError):
                    os.setxattr(tfd, attr, os.getxattr(src_fd, attr))
            try:
                os.fchown(tfd, st.st_uid, st.st_gid)
            except PermissionError:
                if st.st_uid != os.geteuid():
                    raise
            os.fchmod(tfd, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits
            os.fsync(tfd)
        finally:
            os.close(tfd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)


def _listxattr(fd: int) -> list[str]:
    try:
        return os.listxattr(fd)
    except OSError:
        return []
