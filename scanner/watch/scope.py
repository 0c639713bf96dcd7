"""The watched folders: which they are (real paths, none inside another), and which paths under them
the watch leaves alone (the state directory, ``--exclude``); small stat helpers for change marks."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import UsageError
from scanner.model import display_path
from scanner.scanning.walk import Excluder

logger = logging.getLogger(__name__)


def within(path: str, tree: str) -> bool:
    """Whether ``path`` is ``tree`` or below it (string paths, no file system access)."""
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _watch_roots(paths: Iterable[str]) -> list[str]:
    """The folders to watch, by real path, each once, none inside another; UsageError for a bad one."""
    found: list[str] = []
    for given in paths:
        if not os.path.isdir(given):
            what = "not found" if not os.path.lexists(given) else "not a folder"
            raise UsageError(f"cannot watch {display_path(given)}: {what}")
        found.append(os.path.realpath(given))
    roots: list[str] = []
    for p in sorted(set(found), key=len):
        if not any(within(p, r) for r in roots):
            roots.append(p)
    return roots


def folder_ident(path: str) -> tuple[int, int] | None:
    """Device and inode of the folder at ``path`` (following links), or None when it is no folder."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def stat_key(path: Path) -> tuple[int, int] | None:
    """Inode and modification time of ``path``: a cheap mark that changes when the file is replaced."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


@dataclass
class Root:
    """One watched folder, as the watch last saw it."""

    path: str
    """Real path."""
    ident: tuple[int, int] | None
    """Its device and inode when its watch was set up (a folder replaced since is watched again)."""
    lost: bool = False
    """Gone, and said so; watched again when it is back."""


class Scope:
    """The watched folders and what under them is not scanned."""

    def __init__(self, paths: Iterable[str], state_root: Path, excludes: tuple[str, ...]) -> None:
        self.roots = [Root(p, folder_ident(p)) for p in _watch_roots(paths)]
        self.state_root = os.path.realpath(state_root)
        """The state directory (vault, logs, caches): written by the watch itself, never scanned."""
        self._excluded = Excluder(excludes) if excludes else None

    @property
    def paths(self) -> tuple[str, ...]:
        """The watched folders' real paths."""
        return tuple(r.path for r in self.roots)

    def root_of(self, path: str) -> str:
        """The watched folder ``path`` is in (``path`` itself when it is in none)."""
        for r in self.roots:
            if within(path, r.path):
                return r.path
        return path

    def ignored(self, path: str) -> bool:
        """Whether ``path`` is left alone: inside the state directory, or excluded (itself or a folder above it)."""
        if within(path, self.state_root):
            return True  # the vault, logs and caches: written by us, never scanned here
        if self._excluded is None:
            return False
        root = self.root_of(path)
        rel = path[len(root) :].strip("/")
        prefix = root.rstrip("/")
        for name in rel.split("/") if rel else []:
            prefix = f"{prefix}/{name}"
            if self._excluded(prefix, name):
                return True
        return False
