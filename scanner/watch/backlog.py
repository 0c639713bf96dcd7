"""The watch's backlog: the file a stopped watch leaves its unfinished work in, for the next watch
of the same folders; written atomically, read back as hostile input."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scanner.errors import ScannerError, WatchError
from scanner.model import decode_path, encode_path
from scanner.safefs import write_atomic
from scanner.watch.scope import within

BACKLOG_FORMAT = "scanner.watch-backlog/1"
"""Version of the file a stopped watch leaves its unfinished work in (``Backlog``)."""

logger = logging.getLogger(__name__)


def _roots_key(roots: Iterable[str]) -> str:
    """A short name for a set of watched folders (each set has its own backlog)."""
    joined = b"\0".join(sorted(os.fsencode(r) for r in roots))
    return hashlib.sha256(joined).hexdigest()[:16]


class Backlog:
    """The file a stopped watch leaves its unfinished work in, for the next watch of the same folders.

    JSON, ``BACKLOG_FORMAT``: the watched folders, the files not scanned or scanned and not yet
    quarantined (a restart scans them again: rules and files may have changed), and the folders
    whose rescan was cut short. Paths are base64 of their bytes, so any name survives. Read back
    as hostile input: a regular file of bounded size, paths absolute and inside the folders.
    """

    MAX_BYTES = 256 * 2**20
    MAX_PATHS = 2_000_000

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, state_root: Path, roots: Iterable[str]) -> Backlog:
        """The backlog of a watch of ``roots`` (real paths), in the state directory."""
        return cls(state_root / f"watch-backlog-{_roots_key(roots)}.json")

    def save(self, roots: Sequence[str], files: list[str], trees: list[str], now: dt.datetime) -> None:
        """Write the files and folders left; WatchError when they cannot be saved."""
        data = {
            "format": BACKLOG_FORMAT,
            "saved_at": now.isoformat(timespec="seconds"),
            "roots_b64": [encode_path(r) for r in roots],
            "files_b64": [encode_path(p) for p in dict.fromkeys(files)],
            "trees_b64": [encode_path(p) for p in dict.fromkeys(trees)],
        }
        try:
            write_atomic(self.path, json.dumps(data).encode("ascii"))
        except (OSError, ScannerError) as exc:
            logger.info("the watch's unfinished work could not be saved in %s: %s", self.path, exc)
            raise WatchError(
                f"cannot save the watch's unfinished work in {self.path}: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        logger.info("saved %d files and %d folders for the next watch in %s", len(files), len(trees), self.path)

    def load(self, roots: Sequence[str]) -> tuple[list[str], list[str]] | None:
        """The files and folders left by the previous watch, or None; WatchError if the file is unusable."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            logger.debug("no backlog from a previous watch in %s", self.path)
            return None
        except OSError as exc:
            logger.info("the backlog %s cannot be opened: %s", self.path, exc)
            raise WatchError(
                f"cannot read the previous watch's unfinished work {self.path}: {exc.strerror}; "
                "run the watch with --initial-scan to cover it"
            ) from exc
        try:
            files, trees = self._read(fd)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            aside = self.path.with_suffix(".damaged")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            logger.info("refused the backlog %s (%s); moved to %s", self.path, exc, aside)
            raise WatchError(
                f"the previous watch's unfinished work {self.path} is unusable ({exc}); moved to "
                f"{aside}; run the watch with --initial-scan to cover it"
            ) from exc

        def ours(p: str) -> bool:
            return os.path.isabs(p) and "\0" not in p and any(within(p, r) for r in roots)

        kept_files, kept_trees = [p for p in files if ours(p)], [p for p in trees if ours(p)]
        if len(kept_files) + len(kept_trees) < len(files) + len(trees):
            logger.warning(
                "ignored %d backlog paths outside the watched folders",
                len(files) + len(trees) - len(kept_files) - len(kept_trees),
            )
        logger.info("read the backlog %s: %d files and %d folders", self.path, len(kept_files), len(kept_trees))
        return kept_files, kept_trees

    def _read(self, fd: int) -> tuple[list[str], list[str]]:
        """The files and folders in the open backlog ``fd`` (closed here); ValueError when malformed."""
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > self.MAX_BYTES:
                raise ValueError("not a regular file of a sane size")
            data = json.loads(f.read(self.MAX_BYTES + 1))
        if not isinstance(data, dict) or data.get("format") != BACKLOG_FORMAT:
            raise ValueError(f"not a {BACKLOG_FORMAT} file")
        files, trees = _b64_list(data, "files_b64"), _b64_list(data, "trees_b64")
        if len(files) + len(trees) > self.MAX_PATHS:
            raise ValueError(f"more than {self.MAX_PATHS} paths")
        return files, trees

    def clear(self) -> None:
        """Remove the file (nothing is left, or all of it is queued)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _b64_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} is not a list of strings")
    return [decode_path(v) for v in value]
