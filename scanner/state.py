"""Where the scanner keeps everything it writes: the state directory.

``/var/lib/scanner`` as root, the platform's user data directory otherwise;
``--home DIR`` or ``SCANNER_HOME`` overrides both. Every subsystem asks this module
for its location, so tests redirect all of them with one setting.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import StateError
from scanner.safefs import FileLock

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
    def scratch(self) -> Path:
        """Unnamed temporary files (archive members too large to hold in memory)."""
        return self.root / "tmp"

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
    def other_vaults(self) -> Path:
        """Vaults made elsewhere by ``scan --move=DIR``, one absolute path per line."""
        return self.root / "vaults.list"

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
            lock = FileLock(path)
        except OSError as exc:
            raise StateError(f"cannot open lock file {path}: {exc.strerror}") from exc
        with lock:
            if not lock.acquire(wait=False):
                raise LockBusy(f"{what} is in progress (pid {lock.holder()}); try again when it ends")
            lock.claim()
            logger.debug("holding the lock %s (%s)", path, what)
            yield

    def ensure(self, sub: Path | None = None) -> Path:
        """Create the state directory (0700) or ``sub`` inside it; return the path."""
        target = self.root if sub is None else sub
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create state directory {target}: {exc.strerror}; choose another with --home or {ENV_HOME}"
            ) from exc
        return target
