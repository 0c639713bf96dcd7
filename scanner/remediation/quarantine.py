"""The quarantine vault: detected files kept inert and restorable, and backups of edited config files.

An item is two files in ``<state>/quarantine/items/``: ``<id>.inert`` (the content in
``scanner.inert`` form, so it can neither run nor be re-detected) and ``<id>.json`` (its
record). The record's arrival is the commit point. Every operation that changes anything
first writes a journal entry; ``Vault.recover()`` finishes or rolls back whatever a crash
interrupted. The file acted on is the file that was scanned: it is opened without following
symlinks and its device, inode and SHA-256 are checked before its name is unlinked.
docs/decisions/0001-quarantine-format.md describes the on-disk format and the recovery rules.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import ctypes
import enum
import errno
import fcntl
import grp
import hashlib
import json
import logging
import os
import pwd
import re
import secrets
import signal
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from scanner import inert
from scanner.errors import QuarantineError, UsageError
from scanner.model import display_path, json_path
from scanner.state import fsync_dir

logger = logging.getLogger(__name__)

FORMAT = 1
"""Version of the record and journal layout; bumped on any incompatible change."""
DEFAULT_RETENTION_DAYS = 90
"""How long items are kept when no retention is configured."""
ENV_FAULT = "SCANNER_FAULT_STEP"
"""Test-only: the fault step at which the process kills itself (see ``_fault``)."""

FAULT_STEPS: dict[str, tuple[str, ...]] = {
    "quarantine": (
        "quarantine:journaled",
        "quarantine:content-written",
        "quarantine:content-stored",
        "quarantine:record-written",
        "quarantine:recorded",
        "quarantine:unlinked",
    ),
    "remove": ("remove:journaled", "remove:record-written", "remove:recorded", "remove:unlinked"),
    "backup": (
        "backup:journaled",
        "backup:content-written",
        "backup:content-stored",
        "backup:record-written",
        "backup:recorded",
    ),
    "restore": (
        "restore:journaled",
        "restore:temp-written",
        "restore:placed",
        "restore:synced",
        "restore:record-removed",
        "restore:content-removed",
    ),
    "delete": ("delete:journaled", "delete:record-removed", "delete:content-removed"),
    "batch": ("batch:journaled", "batch:recorded", "batch:unlinked"),
}
"""Every point, per operation, where a crash is simulated by the fault-injection tests, in order."""

_VERBS = {"quarantine": "quarantine", "remove": "remove", "backup": "back up"}
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for the file must not hang us; it is refused after fstat.
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_O_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_RESTORE_TMP_PREFIX = ".scanner-restore-"
_CHUNK = 1 << 20
# What a record may hold: exactly what the tool writes, so a tampered or corrupt record is refused.
_ITEM_ID_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\Z")
_SCAN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
"""Never set by restore (see ``QuarantineItem.restore_mode``)."""
_MAX_RECORD_BYTES = 4 << 20
_MAX_PATH_BYTES = 1 << 16
_NAME_MAX = 255
_MAX_TEXT = 1 << 16
_MAX_NAME_TEXT = 256
_MAX_ID = (1 << 32) - 2  # uid/gid; 2**32-1 means "leave unchanged" to chown
_MAX_U64 = (1 << 64) - 1
_MIN_I64, _MAX_I64 = -(1 << 63), (1 << 63) - 1
_BOUNDS = (
    ("size", 0, _MAX_I64),
    ("mode", 0, 0o7777),
    ("uid", 0, _MAX_ID),
    ("gid", 0, _MAX_ID),
    ("atime_ns", _MIN_I64, _MAX_I64),
    ("mtime_ns", _MIN_I64, _MAX_I64),
    ("ctime_ns", _MIN_I64, _MAX_I64),
    ("dev", 0, _MAX_U64),
    ("ino", 0, _MAX_U64),
    ("links", 0, _MAX_U64),
    ("parent_mode", 0, 0o7777),
    ("parent_uid", 0, _MAX_ID),
    ("parent_gid", 0, _MAX_ID),
)
"""The integer fields of a record and the range each must lie in."""


def _fault(step: str) -> None:
    """Test-only hook: die by SIGKILL at ``step`` when ``SCANNER_FAULT_STEP`` names it.

    The fault-injection tests run an operation in a child process once per step of
    ``FAULT_STEPS`` and check that ``Vault.recover()`` leaves no file lost and no half-state.
    """
    if os.environ.get(ENV_FAULT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


class ItemKind(enum.Enum):
    """What a vault item holds."""

    QUARANTINE = "quarantine"
    """A malicious file, moved into the vault in inert form; restorable."""
    REMOVED = "removed"
    """A malicious file deleted by the remove action; only the record is kept, for history."""
    BACKUP = "backup"
    """A copy of a configuration file taken before a line was removed from it; the original stays."""


@dataclass(frozen=True)
class FileIdentity:
    """What pins down the file a scan looked at, so the action touches that file and no other."""

    dev: int
    """Device number (st_dev)."""
    ino: int
    """Inode number (st_ino)."""
    size: int
    """Size in bytes when scanned."""
    mtime_ns: int
    """Modification time when scanned; informational, a touch alone does not change what was detected."""
    sha256: str
    """Hex SHA-256 of the content that was scanned."""

    @classmethod
    def from_stat(cls, st: os.stat_result, sha256: str) -> FileIdentity:
        """The identity of a file from its (l)stat and the hash of its content."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, sha256)


@dataclass(frozen=True)
class QuarantineItem:
    """One item of the vault, as its record describes it."""

    id: str
    """Unique, sortable id: UTC time of the action plus a random suffix."""
    kind: ItemKind
    """Quarantined file, removed file (record only) or configuration backup."""
    original_path: str
    """Where the file was, as ``os`` spells it (undecodable bytes as surrogate escapes; lossless)."""
    sha256: str
    """Hex SHA-256 of the original content."""
    size: int
    """Original size in bytes."""
    mode: int
    """Permission bits of the file (``st_mode & 0o7777``)."""
    uid: int
    """Owner's user id."""
    gid: int
    """Owner's group id."""
    user: str | None
    """Owner's user name when it had one."""
    group: str | None
    """Owner's group name when it had one."""
    atime_ns: int
    """Access time before the vault read the file."""
    mtime_ns: int
    """Modification time."""
    ctime_ns: int
    """Status-change time; informational, it cannot be set back."""
    dev: int
    """Device number the file was on."""
    ino: int
    """Inode number the file had."""
    links: int
    """Hard links the file had; above one, the content was still reachable through the other names."""
    parent_mode: int
    """Permission bits of the containing directory, used when restore has to recreate it."""
    parent_uid: int
    """Owner of the containing directory."""
    parent_gid: int
    """Group of the containing directory."""
    rule: str | None
    """The rule that detected the file (none for a backup)."""
    family: str | None
    """The malware family the rule names (none for a backup)."""
    scan_id: str | None
    """The scan whose action created the item, so an undo can find it."""
    reason: str
    """Why the item exists, in words (the detection, or why a configuration file was backed up)."""
    quarantined_at: datetime
    """When the item was created (UTC)."""

    def __post_init__(self) -> None:
        """Refuse values the tool never writes (ValueError), so a tampered record cannot be used."""
        if not _ITEM_ID_RE.match(self.id):
            raise ValueError(f"id {self.id!r} is not of the form YYYYMMDDTHHMMSSZ-xxxxxxxx")
        if not isinstance(self.kind, ItemKind):
            raise ValueError(f"kind {self.kind!r} is not an item kind")
        _check_path(self.original_path, "original_path")
        if not _SHA256_RE.match(self.sha256):
            raise ValueError("sha256 is not 64 lowercase hex digits")
        for key, low, high in _BOUNDS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{key} is out of range ({low}..{high})")
        for key, limit in (("user", _MAX_NAME_TEXT), ("group", _MAX_NAME_TEXT), ("rule", _MAX_TEXT),
                           ("family", _MAX_TEXT), ("reason", _MAX_TEXT)):  # fmt: skip
            text = getattr(self, key)
            if text is not None and (len(text) > limit or "\0" in text):
                raise ValueError(f"{key} is longer than {limit} characters or holds a NUL")
        if self.scan_id is not None and not _SCAN_ID_RE.match(self.scan_id):
            raise ValueError(f"scan_id {self.scan_id!r} is not a scan id")
        if self.quarantined_at.tzinfo is None:
            raise ValueError("quarantined_at has no time zone")

    @property
    def restore_mode(self) -> int:
        """The mode restore sets: the recorded permission bits without setuid, setgid and sticky.

        A record cannot prove it was not edited, so restore never creates a set-id file; a
        person who trusts the file sets the bits again with chmod (see ``restore_note``).
        """
        return self.mode & ~_SPECIAL_BITS

    @property
    def restore_note(self) -> str | None:
        """What restore leaves out of the recorded mode, in words (None when nothing)."""
        if not self.mode & _SPECIAL_BITS:
            return None
        return (
            f"{self.display_path} was recorded with mode {self.mode:04o}; it is restored as "
            f"{self.restore_mode:04o} (restore never sets setuid, setgid or sticky bits); "
            "if you trust the file, set them again with chmod"
        )

    @property
    def restorable(self) -> bool:
        """Whether the vault holds the content (everything except removed files)."""
        return self.kind is not ItemKind.REMOVED

    @property
    def display_path(self) -> str:
        """The original path as printable text (undecodable bytes as ``\\xNN``)."""
        return display_path(self.original_path)

    def to_json(self) -> dict[str, object]:
        """The record as a JSON-ready dict (the on-disk record and ``quarantine list --format json``)."""
        return {
            "format": FORMAT,
            "id": self.id,
            "kind": self.kind.value,
            "original_path": json_path(self.original_path),
            "original_path_b64": base64.b64encode(os.fsencode(self.original_path)).decode("ascii"),
            "sha256": self.sha256,
            "size": self.size,
            "mode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "user": self.user,
            "group": self.group,
            "atime_ns": self.atime_ns,
            "mtime_ns": self.mtime_ns,
            "ctime_ns": self.ctime_ns,
            "dev": self.dev,
            "ino": self.ino,
            "links": self.links,
            "parent_mode": self.parent_mode,
            "parent_uid": self.parent_uid,
            "parent_gid": self.parent_gid,
            "rule": self.rule,
            "family": self.family,
            "scan_id": self.scan_id,
            "reason": self.reason,
            "quarantined_at": _iso(self.quarantined_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> QuarantineItem:
        """The item a record describes; ValueError if the record is not a valid one."""
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt != FORMAT:
            raise ValueError(f"unsupported record format {fmt!r}")
        when = datetime.fromisoformat(_str(data, "quarantined_at", 64))
        return cls(
            id=_str(data, "id"),
            kind=ItemKind(_str(data, "kind")),
            original_path=_b64_path(_str(data, "original_path_b64", _MAX_PATH_BYTES * 2)),
            sha256=_str(data, "sha256"),
            size=_int(data, "size"),
            mode=_int(data, "mode"),
            uid=_int(data, "uid"),
            gid=_int(data, "gid"),
            user=_opt_str(data, "user"),
            group=_opt_str(data, "group"),
            atime_ns=_int(data, "atime_ns"),
            mtime_ns=_int(data, "mtime_ns"),
            ctime_ns=_int(data, "ctime_ns"),
            dev=_int(data, "dev"),
            ino=_int(data, "ino"),
            links=_int(data, "links"),
            parent_mode=_int(data, "parent_mode"),
            parent_uid=_int(data, "parent_uid"),
            parent_gid=_int(data, "parent_gid"),
            rule=_opt_str(data, "rule"),
            family=_opt_str(data, "family"),
            scan_id=_opt_str(data, "scan_id"),
            reason=_str(data, "reason", _MAX_TEXT),
            quarantined_at=when if when.tzinfo else when.replace(tzinfo=UTC),
        )


def identify(path: str) -> FileIdentity:
    """The identity of the regular file at ``path`` now (not following a symlink at the end)."""
    parent, name = _split(_absolute(path))
    try:
        pfd = _open_dir(parent)
        try:
            fd = _open_regular(pfd, name, display_path(path))
            try:
                st = os.fstat(fd)
                digest = hashlib.sha256()
                with open(fd, "rb", closefd=False) as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                return FileIdentity.from_stat(st, digest.hexdigest())
            finally:
                os.close(fd)
        finally:
            os.close(pfd)
    except OSError as exc:
        raise QuarantineError(f"cannot read {display_path(path)}: {exc.strerror}") from exc


class Vault:
    """The quarantine vault under ``root`` (``StateDir.quarantine``).

    Mutating operations hold an exclusive lock on ``root/.lock`` for their whole duration,
    so a journal entry seen under the lock always belongs to a process that died. Call
    ``recover()`` before anything else in every command that uses the vault.
    """

    def __init__(self, root: Path, now: Callable[[], datetime] | None = None) -> None:
        self.root = Path(root)
        self._now = now if now is not None else _utc_now
        self._local = threading.local()  # the batch open in this thread, if any (see ``batch``)

    @property
    def items_dir(self) -> Path:
        """Records and inert contents."""
        return self.root / "items"

    @property
    def journal_dir(self) -> Path:
        """One entry per operation in progress."""
        return self.root / "journal"

    @property
    def tmp_dir(self) -> Path:
        """Files being written; empty whenever no operation runs."""
        return self.root / "tmp"

    # -- reading -------------------------------------------------------------------------

    def list(self) -> builtins.list[QuarantineItem]:
        """Every readable item, oldest first (see ``damaged()`` for the others)."""
        items = []
        for path in self._record_paths():
            with contextlib.suppress(QuarantineError):
                items.append(self._load(path))
        return items

    def damaged(self) -> builtins.list[Path]:
        """Records that cannot be read; they are left alone for a human to inspect."""
        bad = []
        for path in self._record_paths():
            try:
                self._load(path)
            except QuarantineError:
                bad.append(path)
        return bad

    def get(self, item_id: str) -> QuarantineItem:
        """The item with this id."""
        return self._load(self._record(_check_id(item_id)))

    # -- acting --------------------------------------------------------------------------

    def quarantine(
        self,
        path: str,
        expected: FileIdentity | None,
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
        op = "quarantine" if keep else "remove"
        reason = f"detected by rule {rule} (family {family})"
        return self._act(op, path, expected, rule=rule, family=family, scan_id=scan_id, reason=reason, within=within)

    def backup(self, path: str, scan_id: str | None, reason: str) -> QuarantineItem:
        """Keep a copy of the configuration file at ``path`` before it is edited; the file stays.

        A backup only reads, so the folder of ``path`` is resolved (symlinks followed) first and
        the item records the real path, which restore then reaches without following links.
        """
        parent, name = _split(_absolute(path))
        real = os.path.join(os.path.realpath(parent), name)
        if real != _absolute(path):
            logger.info("backing up %r under its real path %r", path, real)
        return self._act("backup", real, None, rule=None, family=None, scan_id=scan_id, reason=reason)

    def has(self, item_id: str) -> bool:
        """Whether the vault holds a record named ``item_id`` (readable or damaged)."""
        return _ID_RE.match(item_id) is not None and os.path.lexists(self._record(item_id))

    def restore(self, item_id: str, to: str | None = None, overwrite: bool = False) -> str:
        """Put an item's content back and take it out of the vault; return the path written.

        ``to`` restores elsewhere (into it, if it is a directory). An existing file is
        replaced (atomically) only with ``overwrite=True``, which undo uses to put a
        configuration backup back over the edited file.
        """
        with self._locked(f"restore item {item_id}"):
            return self._restore_locked(_check_id(item_id), to, overwrite)

    def delete(self, item_id: str) -> None:
        """Remove an item from the vault for good."""
        with self._locked(f"delete item {item_id}"):
            self._delete_locked(self.get(item_id))

    def purge(self, older_than_days: int, now: datetime | None = None) -> builtins.list[str]:
        """Delete items created more than ``older_than_days`` days before ``now``; return their ids."""
        if older_than_days < 0:
            raise UsageError(f"--older-than must be 0 days or more, not {older_than_days}")
        cutoff = _aware(now if now is not None else self._now()) - timedelta(days=older_than_days)
        purged = []
        with self._locked("purge the quarantine vault"):
            for item in self.list():
                if item.quarantined_at < cutoff:
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
                done.extend(self._recover_one(entry))
            for leftover in self.tmp_dir.iterdir():
                # Temporary files only ever hold copies; the journal has dealt with originals.
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
                self._commit(open_batch)

    # -- internals: quarantine, remove, backup ------------------------------------------

    def _act(
        self,
        op: str,
        path: str,
        expected: FileIdentity | None,
        *,
        rule: str | None,
        family: str | None,
        scan_id: str | None,
        reason: str,
        within: str | None = None,
    ) -> QuarantineItem:
        """Open the file at ``path`` safely and hand it to ``_take``."""
        path = _absolute(path)
        parent, name = _split(path)
        shown = display_path(path)
        if within is not None and not _under(path, within):
            logger.info("refused to %s %r: not under the scanned root %r", _VERBS[op], path, within)
            raise QuarantineError(
                f"{shown} is not under the scanned root {display_path(within)}; nothing was changed; scan it again"
            )
        with self._locked(f"{_VERBS[op]} {shown}"):
            try:
                pfd = _open_dir(parent)
            except OSError as exc:
                raise QuarantineError(
                    f"cannot open the folder of {shown}: {exc.strerror}; nothing was changed"
                ) from exc
            try:
                fd = _open_regular(pfd, name, shown)
                try:
                    return self._take(
                        op, pfd, fd, name, path, expected, rule=rule, family=family, scan_id=scan_id, reason=reason
                    )
                finally:
                    os.close(fd)
            finally:
                os.close(pfd)

    def _take(
        self,
        op: str,
        pfd: int,
        fd: int,
        name: str,
        path: str,
        expected: FileIdentity | None,
        *,
        rule: str | None,
        family: str | None,
        scan_id: str | None,
        reason: str,
    ) -> QuarantineItem:
        """Copy (or, for remove, hash) the open file, record it, then unlink it unless ``op`` is backup."""
        shown = display_path(path)
        st = os.fstat(fd)
        if expected is not None:
            _check_identity(expected, st, shown)
        open_batch: VaultBatch | None = getattr(self._local, "batch", None)
        if open_batch is not None and op != "backup":
            return self._stage(open_batch, op, pfd, fd, name, path, st, expected, rule, family, scan_id, reason)
        item_id = self._new_id()
        journal = self._journal_begin(
            {"op": op, "item": item_id, "path_b64": _b64(path), "dev": st.st_dev, "ino": st.st_ino}
        )
        _fault(f"{op}:journaled")
        try:
            if op == "remove":
                sha256, size = _hash_fd(fd)
            else:
                sha256, size = self._store_content(fd, item_id, op)
            after = os.fstat(fd)
            if size != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                raise QuarantineError(f"{shown} changed while it was being read; nothing was changed; scan again")
            if expected is not None and sha256 != expected.sha256:
                raise QuarantineError(
                    f"{shown} no longer has the content that was scanned (sha256 {sha256[:12]}..., "
                    f"scanned {expected.sha256[:12]}...); nothing was changed; scan it again"
                )
            try:
                item = self._make_item(item_id, op, path, st, os.fstat(pfd), sha256, rule, family, scan_id, reason)
            except ValueError as exc:  # the vault would refuse to read such a record back
                raise QuarantineError(f"cannot {_VERBS[op]} {shown}: {exc}; nothing was changed") from exc
            self._write_json(self._record(item_id), item.to_json(), fault=f"{op}:record-written")
            _fault(f"{op}:recorded")
            if op != "backup":
                _unlink_same(pfd, name, st, shown)
        except OSError as exc:
            self._abort(item_id, journal)
            raise QuarantineError(f"cannot {_VERBS[op]} {shown}: {exc.strerror}; nothing was changed") from exc
        except BaseException:
            self._abort(item_id, journal)
            raise
        if op != "backup":
            _fault(f"{op}:unlinked")
            with contextlib.suppress(OSError):
                os.fsync(pfd)
        self._journal_end(journal)
        return item

    def _stage(
        self,
        open_batch: VaultBatch,
        op: str,
        pfd: int,
        fd: int,
        name: str,
        path: str,
        st: os.stat_result,
        expected: FileIdentity | None,
        rule: str | None,
        family: str | None,
        scan_id: str | None,
        reason: str,
    ) -> QuarantineItem:
        """The first half of a batched quarantine: journal entry and copy written, nothing flushed or unlinked."""
        shown = display_path(path)
        item_id = self._new_id()
        while item_id in open_batch.ids:
            item_id = self._new_id()
        op_id = secrets.token_hex(8)
        journal = self.journal_dir / f"{op_id}.json"
        entry = {
            "format": FORMAT,
            "op_id": op_id,
            "started_at": _iso(self._now()),
            "op": op,
            "item": item_id,
            "path_b64": _b64(path),
            "dev": st.st_dev,
            "ino": st.st_ino,
        }
        part = self.tmp_dir / f"{item_id}.inert.part"
        try:
            self._write_json_unsynced(journal, entry)
            if op == "remove":
                sha256, size = _hash_fd(fd)
            else:
                out = _create(os.fspath(part))
                os.lseek(fd, 0, os.SEEK_SET)
                digest, size = hashlib.sha256(), 0
                with open(out, "wb") as dst, open(fd, "rb", closefd=False) as src:
                    for chunk in inert.encode_stream(src, dst):
                        digest.update(chunk)
                        size += len(chunk)
                sha256 = digest.hexdigest()
            after = os.fstat(fd)
            if size != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                raise QuarantineError(f"{shown} changed while it was being read; nothing was changed; scan again")
            if expected is not None and sha256 != expected.sha256:
                raise QuarantineError(
                    f"{shown} no longer has the content that was scanned (sha256 {sha256[:12]}..., "
                    f"scanned {expected.sha256[:12]}...); nothing was changed; scan it again"
                )
            item = self._make_item(item_id, op, path, st, os.fstat(pfd), sha256, rule, family, scan_id, reason)
            held = os.dup(pfd)
        except OSError as exc:
            self._abort(item_id, journal)
            raise QuarantineError(f"cannot {_VERBS[op]} {shown}: {exc.strerror}; nothing was changed") from exc
        except BaseException:
            self._abort(item_id, journal)
            raise
        open_batch.staged.append(_Staged(item, journal, part if op != "remove" else None, held, name, st, shown))
        open_batch.ids.add(item_id)
        return item

    def _commit(self, open_batch: VaultBatch) -> None:
        """The second half of a batch (the lock is held): flush, record, unlink, flush, close the journal."""
        staged, open_batch.staged = open_batch.staged, []
        if not staged:
            return
        logger.debug("committing a batch of %d vault items", len(staged))
        try:
            _flush(self.root, [s.journal for s in staged] + [self.journal_dir])
            _fault("batch:journaled")
            for s in staged:
                self._write_json_unsynced(self._record(s.item.id), s.item.to_json(), stay_in_tmp=True)
            for s in staged:
                if s.part is not None:
                    s.part.rename(self._content(s.item.id))
                (self.tmp_dir / f"{s.item.id}.json.part").rename(self._record(s.item.id))
            _flush(
                self.root,
                [self.items_dir / f"{s.item.id}{ext}" for s in staged for ext in (".inert", ".json")]
                + [self.items_dir],
            )
            _fault("batch:recorded")
        except OSError as exc:
            logger.warning("a batch of %d vault items could not be recorded: %s", len(staged), exc)
            for s in staged:
                self._abort(s.item.id, s.journal)
                open_batch.failed[s.item.id] = (
                    f"cannot quarantine {s.shown}: {exc.strerror or exc}; nothing was changed"
                )
                os.close(s.pfd)
            return
        try:
            for s in staged:
                try:
                    now = os.stat(s.name, dir_fd=s.pfd, follow_symlinks=False)
                    if (now.st_size, now.st_mtime_ns) != (s.st.st_size, s.st.st_mtime_ns):
                        raise QuarantineError(
                            f"{s.shown} changed after it was copied; nothing was changed; scan it again"
                        )
                    _unlink_same(s.pfd, s.name, s.st, s.shown)
                except (OSError, QuarantineError) as exc:
                    why = (
                        str(exc)
                        if isinstance(exc, QuarantineError)
                        else (f"cannot quarantine {s.shown}: {exc.strerror}; nothing was changed")
                    )
                    logger.info("batched quarantine of %s not finished: %s", s.shown, why)
                    self._abort(s.item.id, s.journal)
                    open_batch.failed[s.item.id] = why
            _fault("batch:unlinked")
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
                fsync_dir(self.journal_dir)
        finally:
            for s in staged:
                os.close(s.pfd)

    def _store_content(self, fd: int, item_id: str, op: str) -> tuple[str, int]:
        """Write the open file's content into the vault in inert form; return its SHA-256 and size."""
        part = self.tmp_dir / f"{item_id}.inert.part"
        digest = hashlib.sha256()
        size = 0
        out = _create(os.fspath(part))
        os.lseek(fd, 0, os.SEEK_SET)
        with open(out, "wb") as dst, open(fd, "rb", closefd=False) as src:
            for chunk in inert.encode_stream(src, dst):
                digest.update(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        _fault(f"{op}:content-written")
        part.rename(self._content(item_id))
        fsync_dir(self.items_dir)
        _fault(f"{op}:content-stored")
        return digest.hexdigest(), size

    def _make_item(
        self,
        item_id: str,
        op: str,
        path: str,
        st: os.stat_result,
        pst: os.stat_result,
        sha256: str,
        rule: str | None,
        family: str | None,
        scan_id: str | None,
        reason: str,
    ) -> QuarantineItem:
        kind = {"quarantine": ItemKind.QUARANTINE, "remove": ItemKind.REMOVED, "backup": ItemKind.BACKUP}[op]
        return QuarantineItem(
            id=item_id,
            kind=kind,
            original_path=path,
            sha256=sha256,
            size=st.st_size,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            user=_user_name(st.st_uid),
            group=_group_name(st.st_gid),
            atime_ns=st.st_atime_ns,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            dev=st.st_dev,
            ino=st.st_ino,
            links=st.st_nlink,
            parent_mode=stat.S_IMODE(pst.st_mode),
            parent_uid=pst.st_uid,
            parent_gid=pst.st_gid,
            rule=rule,
            family=family,
            scan_id=scan_id,
            reason=reason,
            quarantined_at=_aware(self._now()),
        )

    def _abort(self, item_id: str, journal: Path) -> None:
        """Undo a failed operation that has not touched the original; if that fails, recover() will."""
        with contextlib.suppress(OSError):
            self._discard_item(item_id)
            self._journal_end(journal)

    def _discard_item(self, item_id: str) -> None:
        """Remove every trace of an item: the record first, since it is what makes the item exist."""
        for path in (
            self._record(item_id),
            self._content(item_id),
            self.tmp_dir / f"{item_id}.json.part",
            self.tmp_dir / f"{item_id}.inert.part",
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        fsync_dir(self.items_dir)

    # -- internals: restore and delete ---------------------------------------------------

    def _restore_locked(self, item_id: str, to: str | None, overwrite: bool) -> str:
        item = self.get(item_id)
        if not item.restorable:
            raise QuarantineError(
                f"item {item_id} was deleted by the remove action and its content was not kept; "
                "there is nothing to restore"
            )
        target = item.original_path
        if to is not None:
            target = _chosen_target(to, item)
        parent, name = _split(target)
        shown = display_path(target)
        try:
            if not stat.S_ISREG(os.stat(self._content(item_id), follow_symlinks=False).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")  # never open a device or FIFO put there
            src = os.open(self._content(item_id), _O_READ)
        except FileNotFoundError as exc:
            raise QuarantineError(
                f"the vault copy of item {item_id} is missing; it cannot be restored; "
                f"remove its record with 'scanner quarantine delete {item_id}'"
            ) from exc
        except OSError as exc:  # a symlink in its place (O_NOFOLLOW), or unreadable
            raise QuarantineError(
                f"the vault copy of item {item_id} is damaged ({exc.strerror}); nothing was restored; "
                "keep the vault for inspection"
            ) from exc
        try:
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode) or st.st_size != len(inert.MAGIC) + item.size:
                raise QuarantineError(
                    f"the vault copy of item {item_id} is damaged (not a regular file of the recorded size); "
                    "nothing was restored; keep the vault for inspection"
                )
            tmp_name = _RESTORE_TMP_PREFIX + secrets.token_hex(8)
            journal = self._journal_begin(
                {
                    "op": "restore",
                    "item": item_id,
                    "parent_b64": _b64(parent),
                    "name_b64": _b64(name),
                    "tmp_name": tmp_name,
                    "sha256": item.sha256,
                }
            )
            _fault("restore:journaled")
            try:
                # Folders restore has to make get no setuid or setgid bit either; a sticky bit stays,
                # since a world-writable folder is safer with it than without.
                mode = item.parent_mode & ~(stat.S_ISUID | stat.S_ISGID)
                pfd = _open_dir(parent, create=(mode, item.parent_uid, item.parent_gid))
            except OSError as exc:
                self._journal_end(journal)
                raise QuarantineError(
                    f"cannot create or open the folder of {shown}: {exc.strerror}; "
                    "the item stays in the vault; restore elsewhere with --to PATH"
                ) from exc
            except QuarantineError as exc:
                self._journal_end(journal)
                raise QuarantineError(
                    f"cannot restore {shown}: a folder on the way is a symbolic link, which restore does not "
                    "follow; the item stays in the vault; restore elsewhere with --to PATH"
                ) from exc
            except BaseException:
                self._journal_end(journal)
                raise
            try:
                self._place(item, src, pfd, name, tmp_name, overwrite, shown, journal)
            finally:
                os.close(pfd)
        finally:
            os.close(src)
        try:
            self._remove_item_files(item_id, "restore")
            self._journal_end(journal)
        except OSError as exc:
            raise QuarantineError(
                f"restored {shown} but could not take item {item_id} out of the vault: {exc.strerror}; "
                "the next vault command finishes this"
            ) from exc
        return target

    def _place(
        self,
        item: QuarantineItem,
        src: int,
        pfd: int,
        name: str,
        tmp_name: str,
        overwrite: bool,
        shown: str,
        journal: Path,
    ) -> None:
        """Write the content beside the target, then link or rename it into place; fsync."""
        try:
            if not overwrite and _lexists(pfd, name):
                raise QuarantineError(f"{shown} already exists; move it away first or restore elsewhere with --to PATH")
            _write_restored(item, src, pfd, tmp_name)
            _fault("restore:temp-written")
            if overwrite:
                os.rename(tmp_name, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            else:
                _link_no_replace(pfd, tmp_name, name, shown)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name, dir_fd=pfd)
            self._journal_end(journal)
            raise QuarantineError(f"cannot restore {shown}: {exc.strerror}; the item stays in the vault") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name, dir_fd=pfd)
            self._journal_end(journal)
            raise
        _fault("restore:placed")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name, dir_fd=pfd)
        os.fsync(pfd)
        _fault("restore:synced")

    def _delete_locked(self, item: QuarantineItem) -> None:
        journal = self._journal_begin({"op": "delete", "item": item.id})
        _fault("delete:journaled")
        try:
            self._remove_item_files(item.id, "delete")
        except OSError as exc:
            raise QuarantineError(
                f"cannot delete item {item.id}: {exc.strerror}; the next vault command finishes this"
            ) from exc
        self._journal_end(journal)

    def _remove_item_files(self, item_id: str, op: str) -> None:
        """Unlink record then content (a record without content would be a broken item)."""
        with contextlib.suppress(FileNotFoundError):
            self._record(item_id).unlink()
        fsync_dir(self.items_dir)
        _fault(f"{op}:record-removed")
        with contextlib.suppress(FileNotFoundError):
            self._content(item_id).unlink()
        fsync_dir(self.items_dir)
        _fault(f"{op}:content-removed")

    # -- internals: recovery -------------------------------------------------------------

    def _recover_one(self, entry: Path) -> builtins.list[str]:
        try:
            data = json.loads(_read_small(entry))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a journal entry of this version")
            op = _str(data, "op")
            item_id = _check_id(_str(data, "item"))
            if op in ("quarantine", "remove"):
                message = self._recover_take(op, item_id, _journal_path(data))
            elif op == "backup":
                message = self._recover_backup(item_id, _journal_path(data))
            elif op == "restore":
                message = self._recover_restore(data, item_id)
            elif op == "delete":
                self._remove_item_files(item_id, "recover")
                message = f"finished deleting item {item_id}"
            else:
                raise ValueError(f"unknown operation {op!r}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            aside = entry.with_suffix(".damaged")
            with contextlib.suppress(OSError):
                entry.rename(aside)
            return [f"journal entry {entry.name} is unusable ({exc}); moved to {aside}; inspect it by hand"]
        except QuarantineError as exc:
            return [f"could not recover {entry.name}: {exc}; it will be retried by the next run"]
        except OSError as exc:
            return [f"could not recover {entry.name}: {exc.strerror}; it will be retried by the next run"]
        self._journal_end(entry)
        return [message]

    def _recover_take(self, op: str, item_id: str, path: str) -> str:
        shown = display_path(path)
        verb = "quarantine" if op == "quarantine" else "removal"
        if not self._record(item_id).exists():
            self._discard_item(item_id)
            return f"rolled back the interrupted {verb} of {shown}; the file was not touched"
        item = self._load(self._record(item_id))
        if _unlink_if_same(path, item):
            return f"finished the interrupted {verb} of {shown} (item {item_id})"
        if _lexists_path(path):
            if op == "remove":
                self._discard_item(item_id)
                return f"rolled back the interrupted removal of {shown}; it changed since the scan and was kept"
            return (
                f"{shown} changed after an interrupted quarantine and was left in place; "
                f"item {item_id} keeps the copy that was scanned"
            )
        return f"finished the interrupted {verb} of {shown} (item {item_id})"

    def _recover_backup(self, item_id: str, path: str) -> str:
        if self._record(item_id).exists():
            return f"finished the interrupted backup of {display_path(path)} (item {item_id})"
        self._discard_item(item_id)
        return f"discarded an incomplete backup of {display_path(path)}; the file itself was not touched"

    def _recover_restore(self, data: Mapping[str, object], item_id: str) -> str:
        parent = _b64_path(_str(data, "parent_b64", _MAX_PATH_BYTES * 2))
        name = _b64_path(_str(data, "name_b64", _MAX_PATH_BYTES * 2))
        if "/" in name:
            raise ValueError(f"bad file name {name!r}")
        _check_path(os.path.join(parent, name), "path")
        tmp_name = _str(data, "tmp_name")
        if not tmp_name.startswith(_RESTORE_TMP_PREFIX) or "/" in tmp_name:
            raise ValueError(f"bad temporary name {tmp_name!r}")
        shown = display_path(str(Path(parent, name)))
        try:
            pfd = _open_dir(parent)
        except (FileNotFoundError, NotADirectoryError, QuarantineError):
            # The folder is not there (or not trusted): the content cannot have been placed in it.
            return f"rolled back the interrupted restore of {shown}; item {item_id} stays in the vault"
        try:
            placed = _has_content(pfd, name, _str(data, "sha256"))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name, dir_fd=pfd)
            os.fsync(pfd)
        finally:
            os.close(pfd)
        if placed:
            self._remove_item_files(item_id, "recover")
            return f"finished the interrupted restore of {shown} (item {item_id} left the vault)"
        return f"rolled back the interrupted restore of {shown}; item {item_id} stays in the vault"

    # -- internals: files of the vault ---------------------------------------------------

    def _record(self, item_id: str) -> Path:
        return self.items_dir / f"{item_id}.json"

    def _content(self, item_id: str) -> Path:
        return self.items_dir / f"{item_id}{inert.SUFFIX}"

    def _record_paths(self) -> builtins.list[Path]:
        try:
            return sorted(p for p in self.items_dir.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []

    def _load(self, path: Path) -> QuarantineItem:
        """The item the record at ``path`` describes, checked as strictly as ``QuarantineItem`` is built.

        A record that is not a bounded regular file, not JSON, or holds a value the tool would
        never write (a relative path, ``..``, a mode beyond the permission bits, an
        out-of-range number, a wrong type) is damaged: QuarantineError, and ``damaged()`` lists it.
        """
        try:
            raw = _read_small(path)
        except FileNotFoundError as exc:
            raise QuarantineError(
                f"no quarantine item {path.stem!r}; 'scanner quarantine list' shows the items"
            ) from exc
        except OSError as exc:
            raise QuarantineError(f"cannot read quarantine record {path}: {exc.strerror}") from exc
        except ValueError as exc:
            logger.info("quarantine record %s refused: %s", path, exc)
            raise QuarantineError(
                f"quarantine record {path} is damaged ({exc}); move it out of the vault and inspect it"
            ) from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            item = QuarantineItem.from_json(data)
            if item.id != path.stem:
                raise ValueError(f"it names item {item.id!r}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            logger.info("quarantine record %s refused: %s", path, exc)
            raise QuarantineError(
                f"quarantine record {path} is damaged ({exc}); move it out of the vault and inspect it"
            ) from exc
        return item

    def _new_id(self) -> str:
        stamp = _aware(self._now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            item_id = f"{stamp}-{secrets.token_hex(4)}"
            if not self._record(item_id).exists() and not self._content(item_id).exists():
                return item_id

    def _ensure(self) -> None:
        try:
            for sub in (self.root, self.items_dir, self.journal_dir, self.tmp_dir):
                sub.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
                # mkdir's mode is filtered by the umask, and the folder may predate us.
                sub.chmod(_DIR_MODE)
        except OSError as exc:
            raise QuarantineError(
                f"cannot create the quarantine vault in {self.root}: {exc.strerror}; "
                "choose another state directory with --home"
            ) from exc

    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        """Hold the vault's lock; turn a stray OSError into a QuarantineError about ``action``."""
        if getattr(self._local, "batch", None) is not None:
            try:  # this thread's batch holds the lock already (a second flock would wait for itself)
                yield
            except OSError as exc:
                raise QuarantineError(f"cannot {action}: {exc.strerror or exc}") from exc
            return
        self._ensure()
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
        except OSError as exc:
            raise QuarantineError(f"cannot lock the quarantine vault in {self.root}: {exc.strerror}") from exc
        try:
            os.fchmod(fd, _FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        except OSError as exc:
            where = f" ({display_path(os.fsdecode(exc.filename))})" if exc.filename else ""
            raise QuarantineError(
                f"cannot {action}: {exc.strerror or exc}{where}; "
                "the next vault command finishes or rolls back what was started"
            ) from exc
        finally:
            os.close(fd)

    def _journal_begin(self, op: Mapping[str, object]) -> Path:
        """Announce an operation durably before its first change."""
        op_id = secrets.token_hex(8)
        path = self.journal_dir / f"{op_id}.json"
        self._write_json(path, {"format": FORMAT, "op_id": op_id, "started_at": _iso(self._now()), **op})
        return path

    def _journal_end(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fsync_dir(self.journal_dir)

    def _write_json(self, dest: Path, data: Mapping[str, object], fault: str | None = None) -> None:
        """Write ``dest`` atomically and durably: temp file in tmp/, fsync, rename, fsync the folder."""
        part = self.tmp_dir / f"{dest.name}.part"
        fd = _create(os.fspath(part))
        with open(fd, "wb") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True).encode("ascii") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if fault:
            _fault(fault)
        part.rename(dest)
        fsync_dir(dest.parent)

    def _write_json_unsynced(self, dest: Path, data: Mapping[str, object], stay_in_tmp: bool = False) -> None:
        """Write ``dest`` through a temp file in tmp/, not flushed (a batch flushes many at once)."""
        part = self.tmp_dir / f"{dest.name}.part"
        fd = _create(os.fspath(part))
        with open(fd, "wb") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True).encode("ascii") + b"\n")
        if not stay_in_tmp:
            part.rename(dest)


@dataclass
class _Staged:
    """A file of an open batch: copied and journaled, not yet flushed or unlinked."""

    item: QuarantineItem
    journal: Path
    part: Path | None
    """The inert copy in tmp/ (None for remove)."""
    pfd: int
    """The original's folder, held open until the unlink."""
    name: str
    st: os.stat_result
    shown: str


@dataclass
class VaultBatch:
    """What ``Vault.batch()`` did not finish: read it after the ``with`` block."""

    failed: dict[str, str] = field(default_factory=dict)
    """Item id -> why the file was not quarantined after all (its original was kept, the item discarded)."""
    staged: builtins.list[_Staged] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def _flush(root: Path, paths: builtins.list[Path]) -> None:
    """Make ``paths`` (files and folders under ``root``, all on its file system) durable.

    One ``syncfs`` of the vault's file system is one journal commit for a whole batch, where an
    fsync per file would be one commit each (and a file whose data is not yet allocated cannot
    join another file's commit). Where ``syncfs`` is missing or fails, each path is fsynced.
    """
    if _syncfs is not None:
        fd = os.open(root, _O_DIR)
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
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        logger.debug("syncfs is not available; batches flush file by file")
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return cast(Callable[[int], int], fn)


_syncfs = _load_syncfs()


# -- file-system helpers -----------------------------------------------------------------


def _open_dir(path: str, create: tuple[int, int, int] | None = None) -> int:
    """Open the directory ``path`` one component at a time from ``/``, following no symlink at all.

    Paths acted on are resolved once, when they are scanned (the walk reports real paths), so a
    symlink among the components now, whoever owns it, was swapped in since: it is refused, as
    is a ``..`` component, and the folder reached is the one the path names. With
    ``create=(mode, uid, gid)``, missing folders are made with that mode and owner.
    """
    if ".." in path.split("/"):
        raise QuarantineError(f"{display_path(path)} has a '..' component; nothing was changed; give a real path")
    fd = os.open("/", _O_DIR)
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
    try:
        return os.open(part, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if create is None:
            raise
        made = True
        try:
            os.mkdir(part, _DIR_MODE, dir_fd=fd)
        except FileExistsError:
            made = False
        nfd = os.open(part, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
        if made:
            mode, uid, gid = create
            if os.geteuid() == 0:
                os.fchown(nfd, uid, gid)
            os.fchmod(nfd, mode)
        return nfd
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if not stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
            raise
        logger.info("refused the symbolic link %r on the way to %r", part, path)
        raise QuarantineError(
            f"{display_path(path)}: folder {display_path(part)} is a symbolic link (swapped in after the scan?); "
            "links on the way are not followed, whoever owns them; nothing was changed; scan the real location"
        ) from exc


def _open_regular(pfd: int, name: str, shown: str) -> int:
    """Open ``name`` in ``pfd`` for reading, refusing symlinks and anything but a regular file."""
    try:
        fd = os.open(name, _O_READ, dir_fd=pfd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise QuarantineError(
                f"{shown} is a symbolic link (was it swapped after the scan?); it is not followed; "
                "nothing was changed; scan it again"
            ) from exc
        raise QuarantineError(f"cannot open {shown}: {exc.strerror}; nothing was changed") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise QuarantineError(f"{shown} is not a regular file; nothing was changed; scan it again")
    return fd


def _check_identity(expected: FileIdentity, st: os.stat_result, shown: str) -> None:
    if (st.st_dev, st.st_ino) != (expected.dev, expected.ino):
        raise QuarantineError(
            f"{shown} is no longer the file that was scanned (device/inode changed); nothing was changed; scan it again"
        )
    if st.st_size != expected.size:
        raise QuarantineError(
            f"{shown} changed size since the scan ({expected.size} -> {st.st_size} bytes); "
            "nothing was changed; scan it again"
        )


def _unlink_same(pfd: int, name: str, st: os.stat_result, shown: str) -> None:
    """Unlink ``name`` only if it still is the inode described by ``st``."""
    now = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        raise QuarantineError(
            f"{shown} was replaced while it was being quarantined; nothing was changed; scan it again"
        )
    os.unlink(name, dir_fd=pfd)


def _unlink_if_same(path: str, item: QuarantineItem) -> bool:
    """Unlink ``path`` if it is still the file ``item`` recorded (inode and content); report if it did."""
    parent, name = _split(path)
    try:
        pfd = _open_dir(parent)
    except (FileNotFoundError, NotADirectoryError, QuarantineError):
        # Gone, or reachable only through a link we do not follow: not the recorded file.
        return False
    try:
        try:
            fd = os.open(name, _O_READ, dir_fd=pfd)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (item.dev, item.ino):
                return False
            if _hash_fd(fd)[0] != item.sha256:
                return False
            now = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return False
            os.unlink(name, dir_fd=pfd)
            os.fsync(pfd)
            return True
        finally:
            os.close(fd)
    finally:
        os.close(pfd)


def _has_content(pfd: int, name: str, sha256: str) -> bool:
    """Whether ``name`` in ``pfd`` is a regular file (not a symlink) with this SHA-256."""
    try:
        fd = os.open(name, _O_READ, dir_fd=pfd)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and _hash_fd(fd)[0] == sha256
    finally:
        os.close(fd)


def _write_restored(item: QuarantineItem, src: int, pfd: int, tmp_name: str) -> None:
    """Decode the vault copy into ``tmp_name``, check its hash, set owner, mode and times, fsync."""
    fd = os.open(tmp_name, _O_CREATE, _FILE_MODE, dir_fd=pfd)
    try:
        os.fchmod(fd, _FILE_MODE)
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
        if item.restore_mode != item.mode:
            logger.info("restoring item %s as mode %04o, not %04o", item.id, item.restore_mode, item.mode)
        os.fchmod(fd, item.restore_mode)
        os.utime(fd, ns=(item.atime_ns, item.mtime_ns))
        os.fsync(fd)
    finally:
        os.close(fd)


def _chosen_target(to: str, item: QuarantineItem) -> str:
    """Where ``restore --to`` writes: into ``to`` if it is a folder, else at ``to``.

    The user chose the place, so its folder is resolved (symlinks followed) here, once; the
    final name itself is never followed (an existing one, even a dangling link, is refused).
    """
    dest = _absolute(to)
    if os.path.isdir(dest):
        return os.path.join(os.path.realpath(dest), os.path.basename(item.original_path))
    parent, name = _split(dest)
    return os.path.join(os.path.realpath(parent), name)


def _link_no_replace(pfd: int, tmp_name: str, name: str, shown: str) -> None:
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
        if _lexists(pfd, name):
            raise QuarantineError(f"{shown} appeared while it was being restored; move it away first") from exc
        os.rename(tmp_name, name, src_dir_fd=pfd, dst_dir_fd=pfd)


def _lexists(pfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _lexists_path(path: str) -> bool:
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _hash_fd(fd: int) -> tuple[str, int]:
    """SHA-256 and size of an open file, read from the start."""
    digest = hashlib.sha256()
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _create(path: str) -> int:
    """Create a new private file; the mode is set explicitly because open() filters it by the umask."""
    fd = os.open(path, _O_CREATE, _FILE_MODE)
    os.fchmod(fd, _FILE_MODE)
    return fd


def _absolute(path: str) -> str:
    """``path`` made absolute without resolving symlinks or ``..`` (the walk handles those)."""
    return str(Path(path).absolute())


def _under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing normalised text (neither is resolved here)."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _split(path: str) -> tuple[str, str]:
    parent, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise QuarantineError(f"{display_path(path)} does not name a file; give the path of a file")
    return parent or "/", name


def _check_id(item_id: str) -> str:
    if not _ID_RE.match(item_id):
        raise QuarantineError(f"{item_id!r} is not a quarantine item id; 'scanner quarantine list' shows them")
    return item_id


def _b64(path: str) -> str:
    return base64.b64encode(os.fsencode(path)).decode("ascii")


def _journal_path(data: Mapping[str, object]) -> str:
    """The path a journal entry names, checked like a record's."""
    return _check_path(_b64_path(_str(data, "path_b64", _MAX_PATH_BYTES * 2)), "path")


def _b64_path(text: str) -> str:
    return os.fsdecode(base64.b64decode(text.encode("ascii"), validate=True))


def _str(data: Mapping[str, object], key: str, limit: int = _MAX_TEXT) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value


def _opt_str(data: Mapping[str, object], key: str, limit: int = _MAX_TEXT) -> str | None:
    if data.get(key) is None:
        return None
    return _str(data, key, limit)


def _check_path(path: str, what: str) -> str:
    """``path`` if it is as the tool writes one: absolute, normalised, no NUL, sane lengths; else ValueError."""
    raw = os.fsencode(path)
    if not raw.startswith(b"/"):
        raise ValueError(f"{what} is not an absolute path")
    if b"\0" in raw:
        raise ValueError(f"{what} holds a NUL byte")
    if len(raw) > _MAX_PATH_BYTES:
        raise ValueError(f"{what} is longer than {_MAX_PATH_BYTES} bytes")
    parts = raw[1:].split(b"/")
    if any(part in (b"", b".", b"..") for part in parts):
        raise ValueError(f"{what} is not a normalised path of a file (an empty, '.' or '..' component)")
    if any(len(part) > _NAME_MAX for part in parts):
        raise ValueError(f"{what} has a component longer than {_NAME_MAX} bytes")
    return path


def _read_small(path: Path) -> bytes:
    """The bytes of the vault file ``path``: a regular file (never a symlink, FIFO or device) of bounded size.

    OSError if it cannot be opened (FileNotFoundError when it is not there); ValueError if it is
    not a regular file or is too big.
    """
    if not stat.S_ISREG(os.stat(path, follow_symlinks=False).st_mode):
        raise ValueError("not a regular file")  # checked before open: opening a device can have effects
    fd = os.open(path, _O_READ)
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > _MAX_RECORD_BYTES:
            raise ValueError(f"{st.st_size} bytes, more than a record can hold ({_MAX_RECORD_BYTES})")
        data = f.read(_MAX_RECORD_BYTES + 1)
    if len(data) > _MAX_RECORD_BYTES:
        raise ValueError(f"more than {_MAX_RECORD_BYTES} bytes")
    return data


def _int(data: Mapping[str, object], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    """``when`` with a time zone; a naive time (as frozen clocks give) is taken as UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return _aware(when).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
