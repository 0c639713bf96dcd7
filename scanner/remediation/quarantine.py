"""The quarantine vault: detected files kept inert and restorable, and backups of edited config files.

An item is two files in ``<state>/quarantine/items/``: ``<id>.inert`` (the content in
``scanner.inert`` form, so it can neither run nor be re-detected) and ``<id>.json`` (its
record). The record's arrival is the commit point. Every operation that changes anything
first writes a journal entry; ``Vault.recover()`` finishes or rolls back whatever a crash
interrupted. The file acted on is the file that was scanned: it is opened without following
symlinks and its device, inode and SHA-256 are checked before its name is unlinked.
docs/decisions/0001-quarantine-format.md describes the on-disk format and the recovery rules.

This module is the vault's public face (``Vault``); its parts are ``vault_records`` (what an
item is), ``vault_files`` (the files acted on), ``vault_journal`` (the vault's own files, the
journal and recovery) and ``vault_batch`` (batched quarantine).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from scanner import inert, safefs
from scanner.errors import QuarantineError, UsageError
from scanner.model import display_path, encode_path, utc_now
from scanner.remediation import vault_batch, vault_files, vault_journal
from scanner.remediation.vault_batch import VaultBatch
from scanner.remediation.vault_journal import RESTORE_TMP_PREFIX, VaultStore, recover_entry
from scanner.remediation.vault_records import (
    NAME_RE,
    QuarantineItem,
    ScannedFile,
    TakeRequest,
    aware,
    check_id,
    new_item,
)

logger = logging.getLogger(__name__)


class Vault:
    """The quarantine vault under ``root`` (``StateDir.quarantine``).

    Mutating operations hold an exclusive lock on ``root/.lock`` for their whole duration,
    so a journal entry seen under the lock always belongs to a process that died. Call
    ``recover()`` before anything else in every command that uses the vault.
    """

    def __init__(self, root: Path, now: Callable[[], datetime] | None = None) -> None:
        self.root = Path(root)
        """The vault folder."""
        self._store = VaultStore(self.root, now if now is not None else utc_now)
        self._local = threading.local()  # the batch open in this thread, if any (see ``batch``)

    @property
    def items_dir(self) -> Path:
        """Records and inert contents."""
        return self._store.items_dir

    @property
    def journal_dir(self) -> Path:
        """One entry per operation in progress."""
        return self._store.journal_dir

    @property
    def tmp_dir(self) -> Path:
        """Files being written; empty whenever no operation runs."""
        return self._store.tmp_dir

    # -- reading -------------------------------------------------------------------------

    def list(self) -> builtins.list[QuarantineItem]:
        """Every readable item, oldest first (see ``damaged()`` for the others)."""
        items = []
        for path in self._store.record_paths():
            try:
                items.append(self._store.load(path.stem))
            except QuarantineError as exc:
                logger.debug("not listed: %s", exc)
        return items

    def damaged(self) -> builtins.list[Path]:
        """Records that cannot be read; they are left alone for a human to inspect."""
        bad = []
        for path in self._store.record_paths():
            try:
                self._store.load(path.stem)
            except QuarantineError:
                bad.append(path)
        return bad

    def get(self, item_id: str) -> QuarantineItem:
        """The item with this id."""
        return self._store.load(check_id(item_id))

    def has(self, item_id: str) -> bool:
        """Whether the vault holds a record named ``item_id`` (readable or damaged)."""
        return NAME_RE.match(item_id) is not None and os.path.lexists(self._store.record(item_id))

    # -- acting --------------------------------------------------------------------------

    def quarantine(
        self,
        path: str,
        expected: ScannedFile | None,
        rule: str,
        family: str,
        scan_id: str | None,
        keep: bool = True,
        within: str | None = None,
    ) -> QuarantineItem:
        """Move the file at ``path`` into the vault (``keep=False``: delete it, keeping only a record).

        ``expected`` is the identity captured by the scan; the file acted on must match it
        (device, inode, size, SHA-256) or nothing is changed. Without it, the file found at
        ``path`` is taken as it is. ``path`` is reached from ``/`` without following any symlink
        (the scan reports real paths), and with ``within`` (the scanned root, resolved when the
        scan started) it must lie under that root, or nothing is changed.
        """
        reason = f"detected by rule {rule} (family {family})"
        op = "quarantine" if keep else "remove"
        return self._act(TakeRequest(op, safefs.absolute(path), expected, rule, family, scan_id, reason), within)

    def backup(self, path: str, scan_id: str | None, reason: str) -> QuarantineItem:
        """Keep a copy of the configuration file at ``path`` before it is edited; the file stays.

        A backup only reads, so the folder of ``path`` is resolved (symlinks followed) first and
        the item records the real path, which restore then reaches without following links.
        """
        parent, name = vault_files.split(safefs.absolute(path))
        real = os.path.join(os.path.realpath(parent), name)
        if real != safefs.absolute(path):
            logger.info("backing up %r under its real path %r", path, real)
        return self._act(TakeRequest("backup", real, None, None, None, scan_id, reason), None)

    def restore(self, item_id: str, to: str | None = None, overwrite: bool = False) -> str:
        """Put an item's content back and take it out of the vault; return the path written.

        ``to`` restores elsewhere (into it, if it is a directory). An existing file is
        replaced (atomically) only with ``overwrite=True``, which undo uses to put a
        configuration backup back over the edited file.
        """
        with self._locked(f"restore item {item_id}"):
            return self._restore_locked(check_id(item_id), to, overwrite)

    def delete(self, item_id: str) -> None:
        """Remove an item from the vault for good."""
        with self._locked(f"delete item {item_id}"):
            self._delete_locked(self.get(item_id))

    def purge(self, older_than_days: int, now: datetime | None = None) -> builtins.list[str]:
        """Delete items created more than ``older_than_days`` days before ``now``; return their ids."""
        if older_than_days < 0:
            raise UsageError(f"--older-than must be 0 days or more, not {older_than_days}")
        cutoff = aware(now if now is not None else self._store.now()) - timedelta(days=older_than_days)
        purged = []
        with self._locked("purge the quarantine vault"):
            for item in self.list():
                if item.quarantined_at < cutoff:
                    logger.info("purging item %s (%s, from %s)", item.id, item.display_path, item.quarantined_at)
                    self._delete_locked(item)
                    purged.append(item.id)
        return purged

    def recover(self) -> builtins.list[str]:
        """Finish or roll back every interrupted operation; one line per thing done. Idempotent.

        quarantine/remove: rolled back while the record is missing (the original was never
        touched); rolled forward once it exists (the original is unlinked if it is still the
        same file). backup: kept if recorded, discarded if not. restore: finished if the
        target holds the item's content, else the temporary file is removed and the item
        stays. delete: finished.
        """
        if not self.journal_dir.is_dir():
            return []
        done: builtins.list[str] = []
        with self._locked("recover the quarantine vault"):
            for entry in sorted(self.journal_dir.iterdir()):
                if entry.suffix != ".json":
                    continue
                done.append(recover_entry(self._store, entry))
                logger.info("vault recovery: %s", done[-1])
            for leftover in self.tmp_dir.iterdir():
                # Temporary files only ever hold copies; the journal has dealt with originals.
                logger.debug("removing the leftover temporary file %s", leftover)
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        return done

    @contextlib.contextmanager
    def batch(self) -> Iterator[VaultBatch]:
        """Quarantine (or remove) many files with one round of flushes, not eight flushes per file.

        Inside the block, ``quarantine()`` calls from this thread copy the file and return its
        item at once, but the original stays in place until the block ends. Then, under the lock
        held for the whole block: every journal entry is made durable (one folder flush), then
        every copy and record (one folder flush), then each original is unlinked if it is still
        the file that was copied, then the folders of the originals are flushed and the journal
        entries removed. Crash safety is that of single quarantines: no original is unlinked
        before its journal entry, copy and record are on disk, so ``recover()`` rolls each item
        back (no record) or forward (record written) exactly as it does for one. An original
        that changed before its turn is kept and its item discarded: ``VaultBatch.failed`` says
        so, and the caller must not report it quarantined.
        """
        with self._locked("quarantine a batch of files"):
            open_batch = VaultBatch()
            self._local.batch = open_batch
            try:
                yield open_batch
            finally:
                self._local.batch = None
                vault_batch.commit(self._store, open_batch)

    # -- internals: quarantine, remove, backup ------------------------------------------

    def _act(self, request: TakeRequest, within: str | None) -> QuarantineItem:
        """Open the file of ``request`` safely and hand it to ``_take``."""
        parent, name = vault_files.split(request.path)
        shown = request.shown
        if within is not None and not safefs.is_under(request.path, within):
            logger.info("refused to %s %r: not under the scanned root %r", request.verb, request.path, within)
            raise QuarantineError(
                f"{shown} is not under the scanned root {display_path(within)}; nothing was changed; scan it again"
            )
        with self._locked(f"{request.verb} {shown}"):
            try:
                pfd = vault_files.open_dir(parent)
            except OSError as exc:
                raise QuarantineError(
                    f"cannot open the folder of {shown}: {exc.strerror}; nothing was changed"
                ) from exc
            try:
                fd = vault_files.open_regular(pfd, name, shown)
                try:
                    return self._take(request, pfd, fd, name)
                finally:
                    os.close(fd)
            finally:
                os.close(pfd)

    def _take(self, request: TakeRequest, pfd: int, fd: int, name: str) -> QuarantineItem:
        """Copy (or, for remove, hash) the open file, record it, then unlink it unless it is a backup."""
        op, shown, store = request.op, request.shown, self._store
        st = os.fstat(fd)
        if request.expected is not None:
            vault_files.check_identity(request.expected, st, shown)
        open_batch: VaultBatch | None = getattr(self._local, "batch", None)
        if open_batch is not None and op != "backup":
            return vault_batch.stage(store, open_batch, request, pfd, fd, name, st)
        item_id = store.new_id()
        journal = store.begin(request.journal_op(item_id, st))
        vault_journal.fault(f"{op}:journaled")
        with store.aborting(item_id, journal, request):
            read = safefs.hash_fd(fd) if op == "remove" else self._store_content(fd, item_id, op)
            vault_files.check_read(fd, st, read, request.expected, shown)
            item = new_item(item_id, request, st, os.fstat(pfd), read[0], store.now())
            store.write_json(store.record(item_id), item.to_json(), fault_step=f"{op}:record-written")
            vault_journal.fault(f"{op}:recorded")
            if op != "backup":
                vault_files.unlink_same(pfd, name, st, shown)
        if op != "backup":
            vault_journal.fault(f"{op}:unlinked")
            with contextlib.suppress(OSError):
                os.fsync(pfd)
        store.end(journal)
        logger.info("%s: %s is item %s", op, shown, item_id)
        return item

    def _store_content(self, fd: int, item_id: str, op: str) -> tuple[str, int]:
        """Write the open file's content into the vault in inert form; return its SHA-256 and size."""
        part = self._store.part(f"{item_id}{inert.SUFFIX}")
        read = vault_files.copy_inert(fd, part, sync=True)
        vault_journal.fault(f"{op}:content-written")
        part.rename(self._store.content(item_id))
        safefs.fsync_dir(self.items_dir)
        vault_journal.fault(f"{op}:content-stored")
        return read

    # -- internals: restore and delete ---------------------------------------------------

    def _restore_locked(self, item_id: str, to: str | None, overwrite: bool) -> str:
        item = self.get(item_id)
        if not item.restorable:
            raise QuarantineError(
                f"item {item_id} was deleted by the remove action and its content was not kept; "
                "there is nothing to restore"
            )
        target = item.original_path if to is None else vault_files.chosen_target(to, item)
        parent, name = vault_files.split(target)
        shown = display_path(target)
        src = self._open_copy(item)
        try:
            tmp_name = RESTORE_TMP_PREFIX + secrets.token_hex(8)
            journal = self._store.begin(
                {
                    "op": "restore",
                    "item": item_id,
                    "parent_b64": encode_path(parent),
                    "name_b64": encode_path(name),
                    "tmp_name": tmp_name,
                    "sha256": item.sha256,
                }
            )
            vault_journal.fault("restore:journaled")
            pfd = self._open_restore_folder(item, parent, shown, journal)
            try:
                self._place(item, src, pfd, (name, tmp_name), overwrite, shown, journal)
            finally:
                os.close(pfd)
        finally:
            os.close(src)
        try:
            self._store.remove_item_files(item_id, "restore")
            self._store.end(journal)
        except OSError as exc:
            raise QuarantineError(
                f"restored {shown} but could not take item {item_id} out of the vault: {exc.strerror}; "
                "the next vault command finishes this"
            ) from exc
        logger.info("restored item %s to %s", item_id, shown)
        return target

    def _open_copy(self, item: QuarantineItem) -> int:
        """The vault copy of ``item``, open for reading, checked to be a regular file of the right size."""
        content = self._store.content(item.id)
        try:
            if not stat.S_ISREG(os.stat(content, follow_symlinks=False).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")  # never open a device or FIFO put there
            src = os.open(content, safefs.O_READ_NOFOLLOW)
        except FileNotFoundError as exc:
            raise QuarantineError(
                f"the vault copy of item {item.id} is missing; it cannot be restored; "
                f"remove its record with 'scanner quarantine delete {item.id}'"
            ) from exc
        except OSError as exc:  # a symlink in its place (O_NOFOLLOW), or unreadable
            raise QuarantineError(
                f"the vault copy of item {item.id} is damaged ({exc.strerror}); nothing was restored; "
                "keep the vault for inspection"
            ) from exc
        try:
            st = os.fstat(src)
        except BaseException:
            os.close(src)
            raise
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(inert.MAGIC) + item.size:
            os.close(src)
            raise QuarantineError(
                f"the vault copy of item {item.id} is damaged (not a regular file of the recorded size); "
                "nothing was restored; keep the vault for inspection"
            )
        return src

    def _open_restore_folder(self, item: QuarantineItem, parent: str, shown: str, journal: Path) -> int:
        """The folder restore writes into, made (as the item recorded it) if it is missing."""
        try:
            # Folders restore has to make get no setuid or setgid bit either; a sticky bit stays,
            # since a world-writable folder is safer with it than without.
            mode = item.parent_mode & ~(stat.S_ISUID | stat.S_ISGID)
            return vault_files.open_dir(parent, create=(mode, item.parent_uid, item.parent_gid))
        except OSError as exc:
            self._store.end(journal)
            raise QuarantineError(
                f"cannot create or open the folder of {shown}: {exc.strerror}; "
                "the item stays in the vault; restore elsewhere with --to PATH"
            ) from exc
        except QuarantineError as exc:
            self._store.end(journal)
            raise QuarantineError(
                f"cannot restore {shown}: a folder on the way is a symbolic link, which restore does not "
                "follow; the item stays in the vault; restore elsewhere with --to PATH"
            ) from exc
        except BaseException:
            self._store.end(journal)
            raise

    def _place(
        self,
        item: QuarantineItem,
        src: int,
        pfd: int,
        names: tuple[str, str],
        overwrite: bool,
        shown: str,
        journal: Path,
    ) -> None:
        """Write the content beside the target, then link or rename it into place; fsync.

        ``names`` is the target's name and the temporary name beside it.
        """
        name, tmp_name = names
        try:
            if not overwrite and safefs.lexists_at(pfd, name):
                raise QuarantineError(f"{shown} already exists; move it away first or restore elsewhere with --to PATH")
            vault_files.write_restored(item, src, pfd, tmp_name)
            vault_journal.fault("restore:temp-written")
            if overwrite:
                os.rename(tmp_name, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            else:
                vault_files.link_no_replace(pfd, tmp_name, name, shown)
        except OSError as exc:
            vault_files.unlink_quietly(pfd, tmp_name)
            self._store.end(journal)
            raise QuarantineError(f"cannot restore {shown}: {exc.strerror}; the item stays in the vault") from exc
        except BaseException:
            vault_files.unlink_quietly(pfd, tmp_name)
            self._store.end(journal)
            raise
        vault_journal.fault("restore:placed")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name, dir_fd=pfd)
        os.fsync(pfd)
        vault_journal.fault("restore:synced")

    def _delete_locked(self, item: QuarantineItem) -> None:
        journal = self._store.begin({"op": "delete", "item": item.id})
        vault_journal.fault("delete:journaled")
        try:
            self._store.remove_item_files(item.id, "delete")
        except OSError as exc:
            raise QuarantineError(
                f"cannot delete item {item.id}: {exc.strerror}; the next vault command finishes this"
            ) from exc
        self._store.end(journal)
        logger.info("deleted item %s (%s)", item.id, item.display_path)

    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        """Hold the vault's lock; turn a stray OSError into a QuarantineError about ``action``."""
        if getattr(self._local, "batch", None) is not None:
            try:  # this thread's batch holds the lock already (a second flock would wait for itself)
                yield
            except OSError as exc:
                raise QuarantineError(f"cannot {action}: {exc.strerror or exc}") from exc
            return
        self._store.ensure()
        try:
            lock = safefs.FileLock(self.root / ".lock")
        except OSError as exc:
            raise QuarantineError(f"cannot lock the quarantine vault in {self.root}: {exc.strerror}") from exc
        with lock:
            try:
                if not lock.acquire(wait=False):
                    logger.debug("another process holds the vault lock; waiting for it to %s", action)
                    lock.acquire()
                yield
            except OSError as exc:
                where = f" ({display_path(os.fsdecode(exc.filename))})" if exc.filename else ""
                raise QuarantineError(
                    f"cannot {action}: {exc.strerror or exc}{where}; "
                    "the next vault command finishes or rolls back what was started"
                ) from exc
