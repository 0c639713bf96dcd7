"""The on-disk store of installed signature sets and which one is active.

Layout under ``StateDir.signatures``::

    sets/<version>-<suffix>/   complete sets (rules/, samples/, families.toml, manifest.toml)
    active -> sets/...         symlink; replaced atomically (new symlink + rename)
    previous -> sets/...       the set that was active before the last swap ("@bundled" for the bundled set)
    staging/<random>/          sets being unpacked and tested; never pointed to, removed by cleanup
    held                       a version rolled back from, which ``update`` will not reinstall unforced

No ``active`` link (or one pointing at ``@bundled``) means the bundled set is active.

Why this is safe against kill -9: a set is only ever written in ``staging/``, moved
whole into ``sets/`` by one rename, and made active by renaming a new symlink over
``active``. Every step is a single atomic rename, so ``active`` always names either
the old complete set or the new complete set, never a half-written one. Sets are
never changed once in ``sets/``, so a scan that loaded a set keeps a consistent view.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

from scanner.errors import StateError
from scanner.safefs import fsync_dir, write_atomic
from scanner.state import StateDir

logger = logging.getLogger(__name__)

ACTIVE = "active"
PREVIOUS = "previous"
SETS = "sets"
STAGING = "staging"
HELD = "held"
BUNDLED = "@bundled"
"""Link target that stands for the set shipped with the package."""

Checkpoint = Callable[[str], None]
"""Called with a step name between the steps of a swap (tests use it to crash there)."""


def _no_checkpoint(_step: str) -> None:
    return None


def _link_target(state: StateDir, name: str) -> str | None:
    try:
        return str((state.signatures / name).readlink())
    except OSError:
        return None


def _resolve(state: StateDir, target: str | None) -> Path | None:
    if target is None or target == BUNDLED:
        return None
    path = (state.signatures / target).resolve()
    return path if path.is_dir() else None


def active_dir(state: StateDir) -> Path | None:
    """The directory of the installed active set, or None when the bundled set is active."""
    return _resolve(state, _link_target(state, ACTIVE))


def previous_dir(state: StateDir) -> Path | None:
    """The set ``rollback`` returns to, or None when that is the bundled set (or there is none)."""
    return _resolve(state, _link_target(state, PREVIOUS))


def has_previous(state: StateDir) -> bool:
    """Whether there is anything to roll back to (an installed set, or the bundled set)."""
    target = _link_target(state, PREVIOUS)
    return target == BUNDLED or _resolve(state, target) is not None


def read_version(set_dir: Path) -> str | None:
    """The ``version`` in a set's manifest.toml, if it can be read."""
    try:
        with (set_dir / "manifest.toml").open("rb") as f:
            value = tomllib.load(f).get("version")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        logger.info("no version read from %s: %s", set_dir / "manifest.toml", exc)
        return None
    return value if isinstance(value, str) else None


def new_staging(state: StateDir) -> Path:
    """A fresh, empty directory inside the store (same filesystem, so it can be renamed into place)."""
    base = state.ensure(state.signatures / STAGING)
    path = base / secrets.token_hex(8)
    try:
        path.mkdir(mode=0o755)
    except OSError as exc:
        raise StateError(f"cannot create staging directory {path}: {exc.strerror}") from exc
    return path


def install(state: StateDir, staged: Path, version: str) -> Path:
    """Move the complete, tested set at ``staged`` into ``sets/``; returns its new place.

    Everything is flushed to disk first, so the set is whole even after a power cut.
    """
    sets = state.ensure(state.signatures / SETS)
    target = sets / f"{version}-{secrets.token_hex(4)}"
    try:
        _fsync_tree(staged)
        staged.rename(target)
        fsync_dir(sets)
    except OSError as exc:
        raise StateError(f"cannot install signature set into {target}: {exc.strerror}") from exc
    return target


def swap(state: StateDir, new_set: Path | None, checkpoint: Checkpoint = _no_checkpoint) -> None:
    """Make ``new_set`` (None: the bundled set) active and the current one ``previous``.

    ``previous`` is written first: a crash between the two renames leaves both links on
    the old set, which is simply "the update did not happen".
    """
    current = _link_target(state, ACTIVE)
    if current is None or _resolve(state, current) is None:
        current = BUNDLED
    _set_link(state, PREVIOUS, current)
    checkpoint("previous-linked")
    target = BUNDLED if new_set is None else _relative(state, new_set)
    logger.info("signature store: active -> %s, previous -> %s", target, current)
    _set_link(state, ACTIVE, target)
    checkpoint("activated")


def rollback(state: StateDir) -> tuple[Path | None, Path | None]:
    """Make the previous set active again and the current one previous; returns (from, to) dirs.

    None stands for the bundled set. StateError when there is nothing to roll back to.
    """
    if not has_previous(state):
        raise StateError("there is no previous signature set to roll back to")
    prev_target = _link_target(state, PREVIOUS)
    assert prev_target is not None
    cur_target = _link_target(state, ACTIVE)
    if cur_target is None or _resolve(state, cur_target) is None:
        cur_target = BUNDLED
    before = _resolve(state, cur_target)
    after = _resolve(state, prev_target)
    logger.info("signature store: rolling back, active -> %s, previous -> %s", prev_target, cur_target)
    _set_link(state, ACTIVE, prev_target)
    _set_link(state, PREVIOUS, cur_target)
    return before, after


def held_version(state: StateDir) -> str | None:
    """The version rolled back from, which ``update`` does not reinstall unless forced."""
    try:
        text = (state.signatures / HELD).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def set_held(state: StateDir, version: str | None) -> None:
    """Record (or with None, clear) the held-back version."""
    path = state.signatures / HELD
    try:
        if version is None:
            path.unlink(missing_ok=True)
            return
        state.ensure(state.signatures)
        write_atomic(path, (version + "\n").encode("utf-8"), 0o644)
    except OSError as exc:
        raise StateError(f"cannot record held-back version in {path}: {exc.strerror}") from exc


def cleanup(state: StateDir) -> list[Path]:
    """Remove leftovers: staging directories, stray temporary links, and sets neither active nor previous.

    Must only run under the update lock (it would delete a set being staged). Returns what it removed.
    """
    removed: list[Path] = []
    keep = {p for p in (active_dir(state), previous_dir(state)) if p is not None}
    staging = state.signatures / STAGING
    with contextlib.suppress(OSError):
        for entry in staging.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    with contextlib.suppress(OSError):
        for entry in (state.signatures / SETS).iterdir():
            if entry.resolve() not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    with contextlib.suppress(OSError):
        for entry in state.signatures.iterdir():
            if entry.name.startswith(".") and ".tmp-" in entry.name:
                entry.unlink(missing_ok=True)
                removed.append(entry)
    for entry in removed:
        logger.info("signature store: removed the leftover %s", entry)
    return removed


def _relative(state: StateDir, set_dir: Path) -> str:
    try:
        return set_dir.resolve().relative_to(state.signatures.resolve()).as_posix()
    except ValueError as exc:
        raise StateError(f"{set_dir} is not inside the signature store {state.signatures}") from exc


def _set_link(state: StateDir, name: str, target: str) -> None:
    link = state.signatures / name
    tmp = state.signatures / f".{name}.tmp-{secrets.token_hex(4)}"
    try:
        state.ensure(state.signatures)
        tmp.symlink_to(target)
        tmp.replace(link)
        fsync_dir(state.signatures)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StateError(f"cannot point {link} at {target}: {exc.strerror}") from exc


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(Path(dirpath, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
