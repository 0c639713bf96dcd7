"""The files the vault acts on, outside the vault: reached without following symlinks, checked to
be the file that was scanned before they are unlinked, and written back safely on restore.

Built on ``scanner.safefs``; this module adds the vault's rules and its messages (every refusal
says that nothing was changed and what to do).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
from pathlib import Path

from scanner import inert, safefs
from scanner.errors import QuarantineError
from scanner.model import display_path
from scanner.remediation.vault_records import QuarantineItem, ScannedFile

logger = logging.getLogger(__name__)


def split(path: str) -> tuple[str, str]:
    """The folder and the name of the file ``path``; QuarantineError if it names no file."""
    parent, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise QuarantineError(f"{display_path(path)} does not name a file; give the path of a file")
    return parent or "/", name


def open_dir(path: str, create: tuple[int, int, int] | None = None) -> int:
    """``safefs.open_dir``, its refusals told as QuarantineError; other failures raise OSError.

    Paths acted on are resolved once, when they are scanned (the walk reports real paths), so a
    symlink among the components now was swapped in since.
    """
    try:
        return safefs.open_dir(path, create)
    except safefs.RefusedPath as exc:
        if exc.component == "..":
            raise QuarantineError(
                f"{display_path(path)} has a '..' component; nothing was changed; give a real path"
            ) from None
        raise QuarantineError(
            f"{display_path(path)}: folder {display_path(exc.component)} is a symbolic link (swapped in after the "
            "scan?); links on the way are not followed, whoever owns them; nothing was changed; scan the real location"
        ) from exc


def open_regular(pfd: int, name: str, shown: str) -> int:
    """Open ``name`` in ``pfd`` for reading, refusing symlinks and anything but a regular file."""
    try:
        return safefs.open_regular_at(pfd, name)
    except safefs.NotRegular as exc:
        logger.info("refused %s: it is %s", shown, safefs.describe_mode(exc.mode))
        raise QuarantineError(f"{shown} is not a regular file; nothing was changed; scan it again") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            logger.info("refused %s: it is a symbolic link", shown)
            raise QuarantineError(
                f"{shown} is a symbolic link (was it swapped after the scan?); it is not followed; "
                "nothing was changed; scan it again"
            ) from exc
        raise QuarantineError(f"cannot open {shown}: {exc.strerror}; nothing was changed") from exc


def identify(path: str) -> ScannedFile:
    """The identity of the regular file at ``path`` now (not following a symlink at the end)."""
    parent, name = split(safefs.absolute(path))
    try:
        pfd = open_dir(parent)
        try:
            fd = open_regular(pfd, name, display_path(path))
            try:
                st = os.fstat(fd)
                return ScannedFile.from_stat(st, safefs.hash_fd(fd)[0])
            finally:
                os.close(fd)
        finally:
            os.close(pfd)
    except OSError as exc:
        raise QuarantineError(f"cannot read {display_path(path)}: {exc.strerror}") from exc


def check_identity(expected: ScannedFile, st: os.stat_result, shown: str) -> None:
    """QuarantineError unless ``st`` is the inode the scan saw, of the size it saw."""
    if (st.st_dev, st.st_ino) != (expected.identity.dev, expected.identity.ino):
        logger.info("refused %s: device/inode changed since the scan", shown)
        raise QuarantineError(
            f"{shown} is no longer the file that was scanned (device/inode changed); nothing was changed; scan it again"
        )
    if st.st_size != expected.identity.size:
        logger.info("refused %s: size changed since the scan", shown)
        raise QuarantineError(
            f"{shown} changed size since the scan ({expected.identity.size} -> {st.st_size} bytes); "
            "nothing was changed; scan it again"
        )


def check_read(fd: int, st: os.stat_result, read: tuple[str, int], expected: ScannedFile | None, shown: str) -> None:
    """QuarantineError unless the file read (``read`` = its SHA-256 and size) is the one scanned.

    ``st`` is the file's stat before the read: a change of size or time during it, or a hash
    other than the scan's, means the copy cannot stand for what was detected.
    """
    sha256, size = read
    after = os.fstat(fd)
    if size != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        logger.info("refused %s: it changed while it was being read", shown)
        raise QuarantineError(f"{shown} changed while it was being read; nothing was changed; scan again")
    if expected is not None and sha256 != expected.sha256:
        logger.info("refused %s: its content is not the one scanned", shown)
        raise QuarantineError(
            f"{shown} no longer has the content that was scanned (sha256 {sha256[:12]}..., "
            f"scanned {expected.sha256[:12]}...); nothing was changed; scan it again"
        )


def copy_inert(fd: int, dest: Path, *, sync: bool) -> tuple[str, int]:
    """Write the open file's content to the new file ``dest`` in inert form; its SHA-256 and size.

    ``sync`` fsyncs the copy (a batch leaves that to one flush of the whole file system).
    """
    digest = hashlib.sha256()
    size = 0
    out = safefs.create_new(os.fspath(dest))
    os.lseek(fd, 0, os.SEEK_SET)
    with open(out, "wb") as dst, open(fd, "rb", closefd=False) as src:
        for chunk in inert.encode_stream(src, dst):
            digest.update(chunk)
            size += len(chunk)
        if sync:
            dst.flush()
            os.fsync(dst.fileno())
    return digest.hexdigest(), size


def unlink_same(pfd: int, name: str, st: os.stat_result, shown: str) -> None:
    """Unlink ``name`` only if it still is the inode described by ``st``."""
    if not safefs.same_file_at(pfd, name, st):
        logger.info("kept %s: it was replaced while it was being quarantined", shown)
        raise QuarantineError(
            f"{shown} was replaced while it was being quarantined; nothing was changed; scan it again"
        )
    os.unlink(name, dir_fd=pfd)


def unlink_if_same(path: str, item: QuarantineItem) -> bool:
    """Unlink ``path`` if it is still the file ``item`` recorded (inode and content); report if it did."""
    parent, name = split(path)
    try:
        pfd = open_dir(parent)
    except (FileNotFoundError, NotADirectoryError, QuarantineError):
        logger.debug("%s is gone or reachable only through a link: not the recorded file", display_path(path))
        return False
    try:
        try:
            fd = os.open(name, safefs.O_READ_NOFOLLOW, dir_fd=pfd)
        except OSError as exc:
            logger.debug("cannot open %s (%s): not the recorded file", display_path(path), exc.strerror)
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (item.dev, item.ino):
                logger.debug("%s is another file than item %s recorded", display_path(path), item.id)
                return False
            if safefs.hash_fd(fd)[0] != item.sha256 or not safefs.same_file_at(pfd, name, st):
                logger.debug("%s changed since item %s was recorded", display_path(path), item.id)
                return False
            os.unlink(name, dir_fd=pfd)
            os.fsync(pfd)
            return True
        finally:
            os.close(fd)
    finally:
        os.close(pfd)


def has_content(pfd: int, name: str, sha256: str) -> bool:
    """Whether ``name`` in ``pfd`` is a regular file (not a symlink) with this SHA-256."""
    try:
        fd = os.open(name, safefs.O_READ_NOFOLLOW, dir_fd=pfd)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and safefs.hash_fd(fd)[0] == sha256
    finally:
        os.close(fd)


def write_restored(item: QuarantineItem, src: int, pfd: int, tmp_name: str) -> None:
    """Decode the vault copy into ``tmp_name``, check its hash, set owner, mode and times, fsync."""
    fd = safefs.create_new(tmp_name, dir_fd=pfd)
    try:
        digest = hashlib.sha256()
        os.lseek(src, 0, os.SEEK_SET)
        with open(src, "rb", closefd=False) as s, open(fd, "wb", closefd=False) as d:
            try:
                for chunk in inert.decode_stream(s, d):
                    digest.update(chunk)
            except ValueError as exc:
                raise QuarantineError(
                    f"the vault copy of item {item.id} is damaged ({exc}); nothing was restored"
                ) from exc
            d.flush()
        if digest.hexdigest() != item.sha256:
            raise QuarantineError(
                f"the vault copy of item {item.id} is damaged (sha256 {digest.hexdigest()[:12]}..., "
                f"recorded {item.sha256[:12]}...); nothing was restored; keep the vault for inspection"
            )
        if os.geteuid() == 0:
            os.fchown(fd, item.uid, item.gid)
        else:
            logger.debug("not root: item %s is restored owned by us, not uid %d", item.id, item.uid)
        if item.restore_mode != item.mode:
            logger.info("restoring item %s as mode %04o, not %04o", item.id, item.restore_mode, item.mode)
        os.fchmod(fd, item.restore_mode)
        os.utime(fd, ns=(item.atime_ns, item.mtime_ns))
        os.fsync(fd)
    finally:
        os.close(fd)


def chosen_target(to: str, item: QuarantineItem) -> str:
    """Where ``restore --to`` writes: into ``to`` if it is a folder, else at ``to``.

    The user chose the place, so its folder is resolved (symlinks followed) here, once; the
    final name itself is never followed (an existing one, even a dangling link, is refused).
    """
    dest = safefs.absolute(to)
    if os.path.isdir(dest):
        return os.path.join(os.path.realpath(dest), os.path.basename(item.original_path))
    parent, name = split(dest)
    return os.path.join(os.path.realpath(parent), name)


def link_no_replace(pfd: int, tmp_name: str, name: str, shown: str) -> None:
    """Give the finished temp file its final name unless that name exists (link fails then)."""
    try:
        os.link(tmp_name, name, src_dir_fd=pfd, dst_dir_fd=pfd, follow_symlinks=False)
    except FileExistsError as exc:
        raise QuarantineError(
            f"{shown} appeared while it was being restored; move it away first or restore elsewhere with --to PATH"
        ) from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        # A file system without hard links: check, then rename (a small race we cannot close).
        logger.info("cannot hard-link %s (%s); checking, then renaming", shown, exc.strerror)
        if safefs.lexists_at(pfd, name):
            raise QuarantineError(f"{shown} appeared while it was being restored; move it away first") from exc
        os.rename(tmp_name, name, src_dir_fd=pfd, dst_dir_fd=pfd)


def unlink_quietly(pfd: int, name: str) -> None:
    """Remove ``name`` from ``pfd`` if it is there (a temporary file of ours)."""
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=pfd)
