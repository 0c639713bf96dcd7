"""Batched quarantine: many files into the vault with one round of flushes instead of eight per file.

``Vault.batch()`` opens a ``VaultBatch``; each quarantine inside it is staged (journal entry and
inert copy written, nothing flushed or unlinked) and the batch is committed when the block
ends: journal flushed, copies and records flushed, originals unlinked if unchanged, their
folders flushed, journal closed. Crash safety is that of single quarantines (decision 0007).
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from scanner import inert, safefs
from scanner.errors import QuarantineError
from scanner.remediation import vault_files, vault_journal
from scanner.remediation.vault_journal import VaultStore
from scanner.remediation.vault_records import QuarantineItem, TakeRequest, new_item

logger = logging.getLogger(__name__)


@dataclass
class Staged:
    """A file of an open batch: copied and journaled, not yet flushed or unlinked."""

    item: QuarantineItem
    """The item it will be."""
    journal: Path
    """Its journal entry."""
    part: Path | None
    """The inert copy in tmp/ (None for remove)."""
    pfd: int
    """The original's folder, held open until the unlink."""
    name: str
    """The original's name in that folder."""
    st: os.stat_result
    """The original's stat when it was copied."""
    shown: str
    """The original's path as printable text."""


@dataclass
class VaultBatch:
    """What ``Vault.batch()`` did not finish: read it after the ``with`` block."""

    failed: dict[str, str] = field(default_factory=dict)
    """Item id -> why the file was not quarantined after all (its original was kept, the item discarded)."""
    staged: builtins.list[Staged] = field(default_factory=list)
    """The files staged and not yet committed."""
    ids: set[str] = field(default_factory=set)
    """The item ids given out in this batch (an id not yet on disk must not be given twice)."""


def stage(
    store: VaultStore, batch: VaultBatch, request: TakeRequest, pfd: int, fd: int, name: str, st: os.stat_result
) -> QuarantineItem:
    """The first half of a batched quarantine: journal entry and copy written, nothing flushed or unlinked.

    ``fd`` is the open original (``name`` in ``pfd``), ``st`` its stat, checked already against
    what the scan saw.
    """
    item_id = store.new_id()
    while item_id in batch.ids:
        item_id = store.new_id()
    journal, entry = store.entry(request.journal_op(item_id, st))
    part = store.part(f"{item_id}{inert.SUFFIX}")
    with store.aborting(item_id, journal, request):
        store.write_json_unsynced(journal, entry)
        read = safefs.hash_fd(fd) if request.op == "remove" else vault_files.copy_inert(fd, part, sync=False)
        vault_files.check_read(fd, st, read, request.expected, request.shown)
        item = new_item(item_id, request, st, os.fstat(pfd), read[0], store.now())
        held = os.dup(pfd)
    batch.staged.append(Staged(item, journal, part if request.op != "remove" else None, held, name, st, request.shown))
    batch.ids.add(item_id)
    logger.debug("staged %s as item %s", request.shown, item_id)
    return item


def commit(store: VaultStore, batch: VaultBatch) -> None:
    """The second half of a batch (the lock is held): flush, record, unlink, flush, close the journal."""
    staged, batch.staged = batch.staged, []
    if not staged:
        return
    logger.debug("committing a batch of %d vault items", len(staged))
    if not _record_all(store, batch, staged):
        return
    try:
        for s in staged:
            _unlink_original(store, batch, s)
        vault_journal.fault("batch:unlinked")
        flushed: set[tuple[int, int]] = set()
        for s in staged:
            with contextlib.suppress(OSError):  # the unlink is done; only its durability is at stake
                pst = os.fstat(s.pfd)
                if (pst.st_dev, pst.st_ino) not in flushed:
                    flushed.add((pst.st_dev, pst.st_ino))
                    os.fsync(s.pfd)
        for s in staged:
            with contextlib.suppress(FileNotFoundError):
                s.journal.unlink()
        with contextlib.suppress(OSError):  # recover() finishes whatever is left
            safefs.fsync_dir(store.journal_dir)
    finally:
        for s in staged:
            os.close(s.pfd)


def _record_all(store: VaultStore, batch: VaultBatch, staged: builtins.list[Staged]) -> bool:
    """Make the journal, then every copy and record, durable; whether that worked.

    On failure every item is discarded (its original untouched), told in ``batch.failed``.
    """
    try:
        _flush(store.root, [s.journal for s in staged] + [store.journal_dir])
        vault_journal.fault("batch:journaled")
        for s in staged:
            store.write_json_unsynced(store.record(s.item.id), s.item.to_json(), stay_in_tmp=True)
        for s in staged:
            if s.part is not None:
                s.part.rename(store.content(s.item.id))
            store.part(f"{s.item.id}.json").rename(store.record(s.item.id))
        _flush(
            store.root,
            [p for s in staged for p in (store.content(s.item.id), store.record(s.item.id))] + [store.items_dir],
        )
        vault_journal.fault("batch:recorded")
    except OSError as exc:
        logger.warning("a batch of %d vault items could not be recorded: %s", len(staged), exc)
        for s in staged:
            store.abort(s.item.id, s.journal)
            batch.failed[s.item.id] = f"cannot quarantine {s.shown}: {exc.strerror or exc}; nothing was changed"
            os.close(s.pfd)
        return False
    return True


def _unlink_original(store: VaultStore, batch: VaultBatch, s: Staged) -> None:
    """Unlink the original of ``s`` if it is still the file copied; else keep it and discard the item."""
    try:
        now = os.stat(s.name, dir_fd=s.pfd, follow_symlinks=False)
        if (now.st_size, now.st_mtime_ns) != (s.st.st_size, s.st.st_mtime_ns):
            raise QuarantineError(f"{s.shown} changed after it was copied; nothing was changed; scan it again")
        vault_files.unlink_same(s.pfd, s.name, s.st, s.shown)
    except (OSError, QuarantineError) as exc:
        why = (
            str(exc)
            if isinstance(exc, QuarantineError)
            else (f"cannot quarantine {s.shown}: {exc.strerror}; nothing was changed")
        )
        logger.info("batched quarantine of %s not finished: %s", s.shown, why)
        store.abort(s.item.id, s.journal)
        batch.failed[s.item.id] = why


def _flush(root: Path, paths: builtins.list[Path]) -> None:
    """Make ``paths`` (files and folders under ``root``, all on its file system) durable.

    One ``syncfs`` of the vault's file system is one journal commit for a whole batch, where an
    fsync per file would be one commit each (and a file whose data is not yet allocated cannot
    join another file's commit). Where ``syncfs`` is missing or fails, each path is fsynced.
    """
    if _syncfs is not None:
        fd = os.open(root, safefs.O_DIR)
        try:
            if _syncfs(fd) == 0:
                return
            logger.info("syncfs of %s failed (errno %d); flushing file by file", root, ctypes.get_errno())
        finally:
            os.close(fd)
    for path in paths:
        if not os.path.lexists(path):
            continue  # a remove has no copy
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """The C library's ``syncfs``, or None where there is none (not Linux)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no "this process" library
        logger.debug("syncfs is not available; batches flush file by file")
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return cast(Callable[[int], int], fn)


_syncfs = _load_syncfs()
