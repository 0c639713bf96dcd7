"""The vault's own files and its journal: where records, contents and journal entries live, the
durable writes that change them, and the recovery of whatever a crash interrupted.

Every changing operation writes a journal entry before its first change and removes it last;
``recover_entry`` settles an entry left by a process that died (decision 0001, "Order of writes
and the journal"). The fault hooks let tests kill the process at each step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from scanner import inert, safefs
from scanner.errors import QuarantineError
from scanner.model import decode_path, display_path
from scanner.remediation import vault_files
from scanner.remediation.vault_records import (
    FORMAT,
    MAX_PATH_BYTES,
    QuarantineItem,
    TakeRequest,
    aware,
    check_id,
    check_path,
    iso,
    load_record,
    read_bounded,
    text_field,
)

logger = logging.getLogger(__name__)

ENV_FAULT = "SCANNER_FAULT_STEP"
"""Test-only: the fault step at which the process kills itself (see ``fault``)."""
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
RESTORE_TMP_PREFIX = ".scanner-restore-"
"""The name restore gives its temporary file beside the target."""


def fault(step: str) -> None:
    """Test-only hook: die by SIGKILL at ``step`` when ``SCANNER_FAULT_STEP`` names it.

    The fault-injection tests run an operation in a child process once per step of
    ``FAULT_STEPS`` and check that ``Vault.recover()`` leaves no file lost and no half-state.
    """
    if os.environ.get(ENV_FAULT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


class VaultStore:
    """The files of the vault under ``root``: ``items/``, ``journal/`` and ``tmp/`` (decision 0001).

    It writes nothing without the caller holding the vault's lock.
    """

    def __init__(self, root: Path, now: Callable[[], datetime]) -> None:
        self.root = root
        """The vault folder (``StateDir.quarantine``)."""
        self.now = now
        """The clock for ids and journal entries."""

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

    def record(self, item_id: str) -> Path:
        """Where the record of ``item_id`` is."""
        return self.items_dir / f"{item_id}.json"

    def content(self, item_id: str) -> Path:
        """Where the inert content of ``item_id`` is."""
        return self.items_dir / f"{item_id}{inert.SUFFIX}"

    def part(self, name: str) -> Path:
        """The temporary file in ``tmp/`` that becomes ``name`` when it is complete."""
        return self.tmp_dir / f"{name}.part"

    def record_paths(self) -> list[Path]:
        """Every record, in id (age) order."""
        try:
            return sorted(p for p in self.items_dir.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []

    def load(self, item_id: str) -> QuarantineItem:
        """The item with this id (QuarantineError if it is missing or damaged)."""
        return load_record(self.record(item_id))

    def new_id(self) -> str:
        """A fresh item id: the time now and a random suffix no item has."""
        stamp = aware(self.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            item_id = f"{stamp}-{secrets.token_hex(4)}"
            if not self.record(item_id).exists() and not self.content(item_id).exists():
                return item_id

    def ensure(self) -> None:
        """Create the vault's folders (0700) if they are missing."""
        try:
            for sub in (self.root, self.items_dir, self.journal_dir, self.tmp_dir):
                sub.mkdir(mode=safefs.PRIVATE_DIR_MODE, parents=True, exist_ok=True)
                # mkdir's mode is filtered by the umask, and the folder may predate us.
                sub.chmod(safefs.PRIVATE_DIR_MODE)
        except OSError as exc:
            raise QuarantineError(
                f"cannot create the quarantine vault in {self.root}: {exc.strerror}; "
                "choose another state directory with --home"
            ) from exc

    # -- the journal ---------------------------------------------------------------------

    def begin(self, op: Mapping[str, object]) -> Path:
        """Announce an operation durably before its first change; return its journal entry."""
        path, entry = self.entry(op)
        self.write_json(path, entry)
        logger.debug("journal %s: %s of item %s begins", path.name, op.get("op"), op.get("item"))
        return path

    def entry(self, op: Mapping[str, object]) -> tuple[Path, dict[str, object]]:
        """A new journal entry for ``op``: where it goes, and what it says."""
        op_id = secrets.token_hex(8)
        entry = {"format": FORMAT, "op_id": op_id, "started_at": iso(self.now()), **op}
        return self.journal_dir / f"{op_id}.json", entry

    def end(self, path: Path) -> None:
        """Close the operation of the journal entry ``path``: it is finished or rolled back."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        safefs.fsync_dir(self.journal_dir)

    def write_json(self, dest: Path, data: Mapping[str, object], fault_step: str | None = None) -> None:
        """Write ``dest`` atomically and durably: temp file in tmp/, fsync, rename, fsync the folder."""
        part = self.part(dest.name)
        with open(safefs.create_new(os.fspath(part)), "wb") as f:
            f.write(_json_bytes(data))
            f.flush()
            os.fsync(f.fileno())
        if fault_step:
            fault(fault_step)
        part.rename(dest)
        safefs.fsync_dir(dest.parent)

    def write_json_unsynced(self, dest: Path, data: Mapping[str, object], stay_in_tmp: bool = False) -> None:
        """Write ``dest`` through a temp file in tmp/, not flushed (a batch flushes many at once)."""
        part = self.part(dest.name)
        with open(safefs.create_new(os.fspath(part)), "wb") as f:
            f.write(_json_bytes(data))
        if not stay_in_tmp:
            part.rename(dest)

    # -- taking items out ----------------------------------------------------------------

    def abort(self, item_id: str, journal: Path) -> None:
        """Undo a failed operation that has not touched the original; if that fails, recover() will."""
        logger.debug("rolling back item %s", item_id)
        with contextlib.suppress(OSError):
            self.discard_item(item_id)
            self.end(journal)

    @contextlib.contextmanager
    def aborting(self, item_id: str, journal: Path, request: TakeRequest) -> Iterator[None]:
        """Abort ``item_id`` (``abort``) if the body fails; an OSError becomes the QuarantineError saying
        that nothing was changed."""
        try:
            yield
        except OSError as exc:
            self.abort(item_id, journal)
            raise QuarantineError(
                f"cannot {request.verb} {request.shown}: {exc.strerror}; nothing was changed"
            ) from exc
        except BaseException:
            self.abort(item_id, journal)
            raise

    def discard_item(self, item_id: str) -> None:
        """Remove every trace of an item: the record first, since it is what makes the item exist."""
        for path in (
            self.record(item_id),
            self.content(item_id),
            self.part(f"{item_id}.json"),
            self.part(f"{item_id}{inert.SUFFIX}"),
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        safefs.fsync_dir(self.items_dir)

    def remove_item_files(self, item_id: str, op: str) -> None:
        """Unlink record then content (a record without content would be a broken item)."""
        with contextlib.suppress(FileNotFoundError):
            self.record(item_id).unlink()
        safefs.fsync_dir(self.items_dir)
        fault(f"{op}:record-removed")
        with contextlib.suppress(FileNotFoundError):
            self.content(item_id).unlink()
        safefs.fsync_dir(self.items_dir)
        fault(f"{op}:content-removed")


def _json_bytes(data: Mapping[str, object]) -> bytes:
    """A record or journal entry as stored: sorted keys, indented, ASCII, one final newline."""
    return json.dumps(data, indent=2, sort_keys=True).encode("ascii") + b"\n"


# -- recovery --------------------------------------------------------------------------------


def recover_entry(store: VaultStore, entry: Path) -> str:
    """Settle the journal entry ``entry`` of a process that died; say what was done, in one line.

    An entry that cannot be read is set aside as ``.damaged``; one that cannot be settled now
    stays for the next run.
    """
    try:
        data = json.loads(read_bounded(entry))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a journal entry of this version")
        message = _settle(store, data)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        aside = entry.with_suffix(".damaged")
        with contextlib.suppress(OSError):
            entry.rename(aside)
        return f"journal entry {entry.name} is unusable ({exc}); moved to {aside}; inspect it by hand"
    except QuarantineError as exc:
        return f"could not recover {entry.name}: {exc}; it will be retried by the next run"
    except OSError as exc:
        return f"could not recover {entry.name}: {exc.strerror}; it will be retried by the next run"
    store.end(entry)
    return message


def _settle(store: VaultStore, data: Mapping[str, object]) -> str:
    """Finish or roll back the operation the journal entry ``data`` describes."""
    op = text_field(data, "op")
    item_id = check_id(text_field(data, "item"))
    if op in ("quarantine", "remove"):
        return _recover_take(store, op, item_id, _journal_path(data))
    if op == "backup":
        return _recover_backup(store, item_id, _journal_path(data))
    if op == "restore":
        return _recover_restore(store, data, item_id)
    if op == "delete":
        store.remove_item_files(item_id, "recover")
        return f"finished deleting item {item_id}"
    raise ValueError(f"unknown operation {op!r}")


def _journal_path(data: Mapping[str, object]) -> str:
    """The path a journal entry names, checked like a record's."""
    return check_path(decode_path(text_field(data, "path_b64", MAX_PATH_BYTES * 2)), "path")


def _recover_take(store: VaultStore, op: str, item_id: str, path: str) -> str:
    shown = display_path(path)
    verb = "quarantine" if op == "quarantine" else "removal"
    if not store.record(item_id).exists():
        store.discard_item(item_id)
        return f"rolled back the interrupted {verb} of {shown}; the file was not touched"
    item = store.load(item_id)
    if vault_files.unlink_if_same(path, item):
        return f"finished the interrupted {verb} of {shown} (item {item_id})"
    if safefs.lexists(path):
        if op == "remove":
            store.discard_item(item_id)
            return f"rolled back the interrupted removal of {shown}; it changed since the scan and was kept"
        return (
            f"{shown} changed after an interrupted quarantine and was left in place; "
            f"item {item_id} keeps the copy that was scanned"
        )
    return f"finished the interrupted {verb} of {shown} (item {item_id})"


def _recover_backup(store: VaultStore, item_id: str, path: str) -> str:
    if store.record(item_id).exists():
        return f"finished the interrupted backup of {display_path(path)} (item {item_id})"
    store.discard_item(item_id)
    return f"discarded an incomplete backup of {display_path(path)}; the file itself was not touched"


def _recover_restore(store: VaultStore, data: Mapping[str, object], item_id: str) -> str:
    parent = decode_path(text_field(data, "parent_b64", MAX_PATH_BYTES * 2))
    name = decode_path(text_field(data, "name_b64", MAX_PATH_BYTES * 2))
    if "/" in name:
        raise ValueError(f"bad file name {name!r}")
    check_path(os.path.join(parent, name), "path")
    tmp_name = text_field(data, "tmp_name")
    if not tmp_name.startswith(RESTORE_TMP_PREFIX) or "/" in tmp_name:
        raise ValueError(f"bad temporary name {tmp_name!r}")
    shown = display_path(str(Path(parent, name)))
    try:
        pfd = vault_files.open_dir(parent)
    except (FileNotFoundError, NotADirectoryError, QuarantineError):
        # The folder is not there (or not trusted): the content cannot have been placed in it.
        return f"rolled back the interrupted restore of {shown}; item {item_id} stays in the vault"
    try:
        placed = vault_files.has_content(pfd, name, text_field(data, "sha256"))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name, dir_fd=pfd)
        os.fsync(pfd)
    finally:
        os.close(pfd)
    if placed:
        store.remove_item_files(item_id, "recover")
        return f"finished the interrupted restore of {shown} (item {item_id} left the vault)"
    return f"rolled back the interrupted restore of {shown}; item {item_id} stays in the vault"
