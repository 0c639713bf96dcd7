"""The safe-filesystem primitives every writer shares: descriptor-relative opens that follow no
symlink, atomic and durable writes, bounded reads that never hang on a FIFO, and file locks.

Whoever touches the disk on the user's behalf (the vault, the state directory, the report and
unit writers) goes through these, so a symlink or a FIFO planted on the way is handled the same
way everywhere. Unix-only calls (``fcntl``, ``dir_fd``) run only where they are used, so the
module imports on Windows too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
"""The mode of every file the tool keeps for itself."""
PRIVATE_DIR_MODE = 0o700
"""The mode of every folder the tool keeps for itself."""


def _flag(name: str) -> int:
    """``os.<name>``, or 0 where the platform lacks it (Windows has no O_NOFOLLOW, O_DIRECTORY...;
    it has no descriptor-relative calls either, so nothing here relies on the missing flag there)."""
    return int(getattr(os, name, 0))


O_DIR = os.O_RDONLY | _flag("O_DIRECTORY") | _flag("O_CLOEXEC")
"""Open a directory, to use as ``dir_fd``; ``O_DIR_NOFOLLOW`` to refuse a symlink in its place."""
O_DIR_NOFOLLOW = O_DIR | _flag("O_NOFOLLOW")
"""Open a directory, never through a symlink (ELOOP or ENOTDIR if one has its name)."""
O_READ_NOFOLLOW = os.O_RDONLY | _flag("O_NOFOLLOW") | _flag("O_NONBLOCK") | _flag("O_NOCTTY") | _flag("O_CLOEXEC")
"""Open a file for reading, never through a symlink; O_NONBLOCK so a FIFO swapped in for it does
not hang the reader (it is refused after fstat)."""
O_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _flag("O_NOFOLLOW") | _flag("O_CLOEXEC")
"""Create a new file; fails if anything, a symlink included, has the name already."""
_CHUNK = 1 << 20


class RefusedPath(Exception):
    """``open_dir`` refused a path: a ``..`` component, or a folder on the way that is a symlink."""

    def __init__(self, path: str, component: str) -> None:
        super().__init__(f"{path!r}: component {component!r} is refused")
        self.path = path
        """The path that was being opened."""
        self.component = component
        """The component refused: ``..``, or the name of the symlink."""


class NotRegular(OSError):
    """What was opened is not a regular file (a FIFO, a device, a directory...)."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(errno.EINVAL, "not a regular file", path)
        self.mode = mode
        """The ``st_mode`` of what was found."""


# -- descriptor-relative access ------------------------------------------------------------


def open_dir(path: str, create: tuple[int, int, int] | None = None) -> int:
    """Open the directory ``path`` one component at a time from ``/``, following no symlink at all.

    A symlink among the components, whoever owns it, or a ``..`` component is refused
    (RefusedPath), so the folder reached is the one the path names. With
    ``create=(mode, uid, gid)``, missing folders are made with that mode (and that owner, as
    root). Other failures raise OSError.
    """
    if ".." in path.split("/"):
        logger.info("refused %r: it has a '..' component", path)
        raise RefusedPath(path, "..")
    fd = os.open("/", O_DIR)
    try:
        for part in path.split("/"):
            if part in ("", "."):
                continue
            nfd = _open_component(fd, part, path, create)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(fd: int, part: str, path: str, create: tuple[int, int, int] | None) -> int:
    """Open the folder ``part`` in ``fd`` without following it (making it with ``create``)."""
    try:
        return os.open(part, O_DIR_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if create is None:
            raise
        made = True
        try:
            os.mkdir(part, PRIVATE_DIR_MODE, dir_fd=fd)
        except FileExistsError:
            made = False
        nfd = os.open(part, O_DIR_NOFOLLOW, dir_fd=fd)
        if made:
            mode, uid, gid = create
            if os.geteuid() == 0:
                os.fchown(nfd, uid, gid)
            os.fchmod(nfd, mode)
            logger.debug("made the folder %r on the way to %r (mode %04o)", part, path, mode)
        return nfd
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if not stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
            raise
        logger.info("refused the symbolic link %r on the way to %r", part, path)
        raise RefusedPath(path, part) from exc


def open_regular_at(dir_fd: int, name: str) -> int:
    """Open ``name`` in ``dir_fd`` for reading, never through a symlink (OSError ELOOP).

    Anything but a regular file is closed again and refused with NotRegular.
    """
    fd = os.open(name, O_READ_NOFOLLOW, dir_fd=dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(name, mode)
    return fd


def lexists_at(dir_fd: int, name: str) -> bool:
    """Whether anything (a dangling symlink included) has the name ``name`` in ``dir_fd``."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def lexists(path: str) -> bool:
    """Whether anything is at ``path`` (not following a final symlink); other errors raise OSError."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def same_file_at(dir_fd: int, name: str, st: os.stat_result) -> bool:
    """Whether ``name`` in ``dir_fd`` (not followed) is still the inode ``st`` describes."""
    now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def hash_fd(fd: int) -> tuple[str, int]:
    """SHA-256 (hex) and size of an open file, read from the start."""
    digest = hashlib.sha256()
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def create_new(path: str, *, dir_fd: int | None = None, mode: int = PRIVATE_FILE_MODE) -> int:
    """Create the new file ``path`` (in ``dir_fd``) for writing, with ``mode`` whatever the umask.

    Fails (FileExistsError) if anything, a symlink included, has the name already.
    """
    fd = os.open(path, O_CREATE_NEW, mode, dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode)  # open() filters the mode by the umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def absolute(path: str) -> str:
    """``path`` made absolute without resolving symlinks or ``..``."""
    return str(Path(path).absolute())


def is_under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing normalised text (neither is resolved here)."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in directory ``path`` durable."""
    fd = os.open(path, O_DIR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- whole files by name -------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, replace_symlink: bool = False) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one, never half.

    The temporary file beside it is created exclusively (a symlink planted there is never
    followed), given ``mode`` whatever the umask, fsynced, then renamed over ``path``; it never
    outlives a failure.

    Only a regular file (or nothing) is ever replaced. A character device or a FIFO at ``path``
    (``-o /dev/null``), or a symlink to one (``-o /dev/stdout``), is written in place: the node
    and the link stay. Anything else is refused with an OSError naming what is there: a
    directory, a socket, a block device, a symlink to a regular file or to nothing (write to
    the target itself). With ``replace_symlink``, a symlink at ``path`` is replaced by the new
    file instead, never followed (files the tool owns, such as unit files). Raises OSError.
    """
    verdict, why = _existing_kind(path, replace_symlink=replace_symlink)
    if verdict == "in place":
        _write_in_place(path, data)
        return
    if verdict == "refuse":
        logger.info("refusing to write %s: %s", path, why)
        raise OSError(errno.EEXIST, why, str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _existing_kind(path: Path, *, replace_symlink: bool) -> tuple[str, str]:
    """(``replace``, ``in place`` or ``refuse``, and why when refused) for what is at ``path``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "replace", ""
    if stat.S_ISREG(st.st_mode):
        return "replace", ""
    if stat.S_ISLNK(st.st_mode):
        if replace_symlink:
            return "replace", ""
        try:
            target = os.stat(path)
        except FileNotFoundError:
            return "refuse", "it is a symbolic link to nothing; refusing to replace it"
        if stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode):
            return "in place", ""
        return "refuse", (
            f"it is a symbolic link to {describe_mode(target.st_mode)}; refusing to replace "
            "the link or write through it: give the target's own path"
        )
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "in place", ""
    return "refuse", f"it is {describe_mode(st.st_mode)}; refusing to replace it"


def describe_mode(mode: int) -> str:
    """What kind of file ``mode`` (``st_mode``) is, for messages: ``a directory``, ``a FIFO``..."""
    kinds = [
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _write_in_place(path: Path, data: bytes) -> None:
    """Write ``data`` into the character device or FIFO at ``path`` without replacing it.

    Opened without O_CREAT or O_TRUNC, and non-blocking so a FIFO nobody reads fails at once
    (ENXIO) instead of hanging; blocking again for the writes themselves.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO with no reader; start the reader first", str(path)) from exc
        raise
    try:
        st = os.fstat(fd)
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):  # swapped since it was looked at
            raise OSError(errno.EEXIST, f"it is now {describe_mode(st.st_mode)}; refusing to write into it", str(path))
        _write_all(fd, data)
    finally:
        os.close(fd)
    logger.debug("wrote %d bytes in place to %s", len(data), path)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, opened non-blocking (so that opening a FIFO could not hang), now blocking."""
    os.set_blocking(fd, True)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_to(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Append ``data`` to the regular file at ``path`` (created with ``mode`` if missing), or write it into a
    character device or FIFO there; a symlink to either is followed. A directory, a socket and a block
    device are refused, and a FIFO with no reader fails at once (ENXIO) instead of hanging."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO with no reader, or a socket; start the reader first", str(path)) from exc
        raise
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise OSError(errno.EINVAL, f"it is {describe_mode(st.st_mode)}; refusing to write into it", str(path))
        _write_all(fd, data)
    finally:
        os.close(fd)
    logger.debug("appended %d bytes to %s", len(data), path)


def read_regular(path: Path, limit: int) -> bytes:
    """The content of the regular file at ``path`` (a symlink to one is followed), at most ``limit`` bytes.

    A FIFO, a device, a directory or a socket is refused before it is opened, so reading never
    hangs and never runs away (``/dev/zero``); so is a file larger than ``limit``. Raises
    OSError when the file cannot be read, ValueError (a one-line reason) when it is refused.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"it is {describe_mode(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise ValueError(f"it is larger than the limit of {_human(limit)}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since it was looked at
            raise ValueError(f"it is {describe_mode(st.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"it is larger than the limit of {_human(limit)}")
    finally:
        os.close(fd)
    return b"".join(chunks)


def _human(n: int) -> str:
    """``n`` bytes in the largest binary unit that divides it (``4 MiB``), for messages."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


# -- locks ---------------------------------------------------------------------------------


class FileLock:
    """An exclusive ``flock(2)`` on a lock file, released when closed or when the holder dies.

    Opening (the constructor) creates the file, never through a symlink; OSError if it cannot.
    Use it as a context manager so the descriptor, and with it the lock, is always released:
    ``with FileLock(path) as lock: lock.acquire()``. The kernel drops the lock of a process that
    dies, so a crash never leaves it stuck.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        """The lock file."""
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | _flag("O_NOFOLLOW") | _flag("O_CLOEXEC"), PRIVATE_FILE_MODE)
        """Its open descriptor."""

    def acquire(self, *, wait: bool = True) -> bool:
        """Take the lock, waiting for the holder unless ``wait`` is false; whether it was taken.

        The file is made private (0600) first, whatever mode it had. OSError if that fails.
        """
        import fcntl  # Unix-only: imported where a lock is taken, so the package imports on Windows

        os.fchmod(self.fd, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            logger.debug("lock %s is held by another process", self.path)
            return False
        return True

    def holder(self) -> str:
        """The pid the holder wrote (``claim``), or ``unknown``."""
        return os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"

    def claim(self) -> None:
        """Write our pid into the file, for the message another process shows while we hold it."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        """Release the lock and close the file."""
        os.close(self.fd)

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
