"""Where the scanner keeps everything it writes: the state directory.

``/var/lib/scanner`` as root, the platform's user data directory otherwise;
``--home DIR`` or ``SCANNER_HOME`` overrides both. Every subsystem asks this module
for its location, so tests redirect all of them with one setting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import StateError

logger = logging.getLogger(__name__)


class LockBusy(StateError):
    """Another process holds the lock; the message names its pid."""

ENV_HOME = "SCANNER_HOME"
SYSTEM_HOME = Path("/var/lib/scanner")


def default_home(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The state directory to use when none is given on the command line."""
    env = os.environ if environ is None else environ
    if env.get(ENV_HOME):
        logger.debug("state directory from %s", ENV_HOME)
        return Path(env[ENV_HOME]).expanduser()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        logger.debug("state directory: %s (running as root)", SYSTEM_HOME)
        return SYSTEM_HOME
    import platformdirs  # only needed for non-root users

    return Path(platformdirs.user_data_dir("scanner", appauthor=False))


@dataclass(frozen=True)
class StateDir:
    """The state directory and the fixed places inside it."""

    root: Path

    @property
    def config_file(self) -> Path:
        """The default configuration file."""
        return self.root / "config.toml"

    @property
    def signatures(self) -> Path:
        """Installed (updated) signature sets and the pointer to the active one."""
        return self.root / "signatures"

    @property
    def rule_cache(self) -> Path:
        """Compiled-rule cache, keyed by a hash of the sources and the engine version."""
        return self.root / "cache" / "rules"

    @property
    def file_cache(self) -> Path:
        """Clean-result cache of unchanged files."""
        return self.root / "cache" / "files"

    @property
    def logs(self) -> Path:
        """Plain-text logs."""
        return self.root / "logs"

    @property
    def scan_log(self) -> Path:
        """The scan log every scan appends to, like MSRT's mrt.log."""
        return self.logs / "scanner.log"

    @property
    def quarantine(self) -> Path:
        """The quarantine vault."""
        return self.root / "quarantine"

    @property
    def history(self) -> Path:
        """The scan history."""
        return self.root / "history"

    @property
    def feed(self) -> Path:
        """Trusted update-feed metadata."""
        return self.root / "feed"

    @property
    def locks(self) -> Path:
        """Lock files."""
        return self.root / "locks"

    @contextlib.contextmanager
    def lock(self, name: str, what: str) -> Iterator[None]:
        """Hold the exclusive lock ``name``; LockBusy at once if another process holds it.

        ``what`` names the holder's work for the message ("another monthly run", ...).
        The kernel releases the lock when the holder dies, so a crash never leaves it stuck.
        """
        path = self.ensure(self.locks) / f"{name}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open lock file {path}: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise LockBusy(f"{what} is in progress (pid {holder}); try again when it ends") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    def ensure(self, sub: Path | None = None) -> Path:
        """Create the state directory (0700) or ``sub`` inside it; return the path."""
        target = self.root if sub is None else sub
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create state directory {target}: {exc.strerror}; "
                f"choose another with --home or {ENV_HOME}"
            ) from exc
        return target


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
        return "refuse", (f"it is a symbolic link to {describe_mode(target.st_mode)}; refusing to replace "
                          "the link or write through it: give the target's own path")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "in place", ""
    return "refuse", f"it is {describe_mode(st.st_mode)}; refusing to replace it"


def describe_mode(mode: int) -> str:
    """What kind of file ``mode`` (``st_mode``) is, for messages: ``a directory``, ``a FIFO``..."""
    kinds = [(stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
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
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    logger.debug("wrote %d bytes in place to %s", len(data), path)


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
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
