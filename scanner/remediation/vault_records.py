"""The vault's records: what an item is (``QuarantineItem``), its JSON form and its strict reading.

A record holds exactly what the tool writes, and is read back through the same checks it was
built with, so a tampered or corrupt record is refused (decision 0001, "Validation"). Ids,
path encodings and timestamps of records and journal entries live here too.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.errors import QuarantineError
from scanner.model import FileIdentity, decode_path, display_path, encode_path, json_path
from scanner.safefs import O_READ_NOFOLLOW

logger = logging.getLogger(__name__)

FORMAT = 1
"""Version of the record and journal layout; bumped on any incompatible change."""
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")
"""What an item id given on the command line may look like: it cannot leave ``items/``."""
MAX_PATH_BYTES = 1 << 16
"""The longest path a record or journal entry may name."""
MAX_TEXT = 1 << 16
"""The longest free text (rule, family, reason) a record may hold."""
# What a record may hold: exactly what the tool writes, so a tampered or corrupt record is refused.
_ITEM_ID_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\Z")
_SCAN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
"""Never set by restore (see ``QuarantineItem.restore_mode``)."""
_MAX_RECORD_BYTES = 4 << 20
_NAME_MAX = 255
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


class ItemKind(enum.Enum):
    """What a vault item holds."""

    QUARANTINE = "quarantine"
    """A malicious file, moved into the vault in inert form; restorable."""
    REMOVED = "removed"
    """A malicious file deleted by the remove action; only the record is kept, for history."""
    BACKUP = "backup"
    """A copy of a configuration file taken before a line was removed from it; the original stays."""


@dataclass(frozen=True)
class ScannedFile:
    """What pins down the file a scan looked at, so the action touches that file and no other."""

    identity: FileIdentity
    """Device, inode and size (checked), and times (informational: a touch alone does not change what was
    detected) when scanned."""
    sha256: str
    """Hex SHA-256 of the content that was scanned."""

    @classmethod
    def from_stat(cls, st: os.stat_result, sha256: str) -> ScannedFile:
        """The file with (l)stat ``st`` and content hash ``sha256``."""
        return cls(FileIdentity.from_stat(st), sha256)


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
        check_path(self.original_path, "original_path")
        if not _SHA256_RE.match(self.sha256):
            raise ValueError("sha256 is not 64 lowercase hex digits")
        for key, low, high in _BOUNDS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{key} is out of range ({low}..{high})")
        for key, limit in (("user", _MAX_NAME_TEXT), ("group", _MAX_NAME_TEXT), ("rule", MAX_TEXT),
                           ("family", MAX_TEXT), ("reason", MAX_TEXT)):  # fmt: skip
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
            "original_path_b64": encode_path(self.original_path),
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
            "quarantined_at": iso(self.quarantined_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> QuarantineItem:
        """The item a record describes; ValueError if the record is not a valid one."""
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt != FORMAT:
            raise ValueError(f"unsupported record format {fmt!r}")
        when = datetime.fromisoformat(text_field(data, "quarantined_at", 64))
        return cls(
            id=text_field(data, "id"),
            kind=ItemKind(text_field(data, "kind")),
            original_path=decode_path(text_field(data, "original_path_b64", MAX_PATH_BYTES * 2)),
            sha256=text_field(data, "sha256"),
            size=int_field(data, "size"),
            mode=int_field(data, "mode"),
            uid=int_field(data, "uid"),
            gid=int_field(data, "gid"),
            user=optional_text(data, "user"),
            group=optional_text(data, "group"),
            atime_ns=int_field(data, "atime_ns"),
            mtime_ns=int_field(data, "mtime_ns"),
            ctime_ns=int_field(data, "ctime_ns"),
            dev=int_field(data, "dev"),
            ino=int_field(data, "ino"),
            links=int_field(data, "links"),
            parent_mode=int_field(data, "parent_mode"),
            parent_uid=int_field(data, "parent_uid"),
            parent_gid=int_field(data, "parent_gid"),
            rule=optional_text(data, "rule"),
            family=optional_text(data, "family"),
            scan_id=optional_text(data, "scan_id"),
            reason=text_field(data, "reason", MAX_TEXT),
            quarantined_at=when if when.tzinfo else when.replace(tzinfo=UTC),
        )


_VERBS = {"quarantine": "quarantine", "remove": "remove", "backup": "back up"}
_KINDS = {"quarantine": ItemKind.QUARANTINE, "remove": ItemKind.REMOVED, "backup": ItemKind.BACKUP}


@dataclass(frozen=True)
class TakeRequest:
    """What the vault is asked to do with one file: quarantine it, remove it, or back it up."""

    op: str
    """``quarantine``, ``remove`` or ``backup``: the journal's name for the operation."""
    path: str
    """The absolute path of the file."""
    expected: ScannedFile | None
    """The identity the scan captured; the file acted on must match it (None: take it as it is)."""
    rule: str | None
    """The rule that detected the file (none for a backup)."""
    family: str | None
    """The family the rule names (none for a backup)."""
    scan_id: str | None
    """The scan whose action this is."""
    reason: str
    """Why, in words, for the record."""

    @property
    def verb(self) -> str:
        """The operation as a verb, for messages: ``quarantine``, ``remove``, ``back up``."""
        return _VERBS[self.op]

    @property
    def shown(self) -> str:
        """The path as printable text."""
        return display_path(self.path)

    def journal_op(self, item_id: str, st: os.stat_result) -> dict[str, object]:
        """What the journal says of this operation on the file with stat ``st``, as item ``item_id``."""
        return {"op": self.op, "item": item_id, "path_b64": encode_path(self.path), "dev": st.st_dev, "ino": st.st_ino}


def new_item(
    item_id: str, request: TakeRequest, st: os.stat_result, pst: os.stat_result, sha256: str, when: datetime
) -> QuarantineItem:
    """The item for ``request``'s file, with stat ``st``, in a folder with stat ``pst``.

    QuarantineError if the record would be one the vault refuses to read back.
    """
    try:
        return QuarantineItem(
            id=item_id,
            kind=_KINDS[request.op],
            original_path=request.path,
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
            rule=request.rule,
            family=request.family,
            scan_id=request.scan_id,
            reason=request.reason,
            quarantined_at=aware(when),
        )
    except ValueError as exc:  # the vault would refuse to read such a record back
        logger.info("refused to %s %s: %s", request.verb, request.shown, exc)
        raise QuarantineError(f"cannot {request.verb} {request.shown}: {exc}; nothing was changed") from exc


def load_record(path: Path) -> QuarantineItem:
    """The item the record at ``path`` describes, checked as strictly as ``QuarantineItem`` is built.

    A record that is not a bounded regular file, not JSON, or holds a value the tool would
    never write (a relative path, ``..``, a mode beyond the permission bits, an
    out-of-range number, a wrong type) is damaged: QuarantineError, and ``Vault.damaged()`` lists it.
    """
    try:
        raw = read_bounded(path)
    except FileNotFoundError as exc:
        raise QuarantineError(f"no quarantine item {path.stem!r}; 'scanner quarantine list' shows the items") from exc
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


def read_bounded(path: Path) -> bytes:
    """The bytes of the vault file ``path``: a regular file (never a symlink, FIFO or device) of bounded size.

    OSError if it cannot be opened (FileNotFoundError when it is not there); ValueError if it is
    not a regular file or is too big.
    """
    if not stat.S_ISREG(os.stat(path, follow_symlinks=False).st_mode):
        raise ValueError("not a regular file")  # checked before open: opening a device can have effects
    fd = os.open(path, O_READ_NOFOLLOW)
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


def check_id(item_id: str) -> str:
    """``item_id`` if it can name an item (see ``NAME_RE``); else QuarantineError."""
    if not NAME_RE.match(item_id):
        raise QuarantineError(f"{item_id!r} is not a quarantine item id; 'scanner quarantine list' shows them")
    return item_id


def check_path(path: str, what: str) -> str:
    """``path`` if it is as the tool writes one: absolute, normalised, no NUL, sane lengths; else ValueError."""
    raw = os.fsencode(path)
    if not raw.startswith(b"/"):
        raise ValueError(f"{what} is not an absolute path")
    if b"\0" in raw:
        raise ValueError(f"{what} holds a NUL byte")
    if len(raw) > MAX_PATH_BYTES:
        raise ValueError(f"{what} is longer than {MAX_PATH_BYTES} bytes")
    parts = raw[1:].split(b"/")
    if any(part in (b"", b".", b"..") for part in parts):
        raise ValueError(f"{what} is not a normalised path of a file (an empty, '.' or '..' component)")
    if any(len(part) > _NAME_MAX for part in parts):
        raise ValueError(f"{what} has a component longer than {_NAME_MAX} bytes")
    return path


def text_field(data: Mapping[str, object], key: str, limit: int = MAX_TEXT) -> str:
    """The string ``data[key]`` of at most ``limit`` characters; KeyError or ValueError otherwise."""
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value


def optional_text(data: Mapping[str, object], key: str, limit: int = MAX_TEXT) -> str | None:
    """``text_field``, or None when the key is missing or null."""
    if data.get(key) is None:
        return None
    return text_field(data, key, limit)


def int_field(data: Mapping[str, object], key: str) -> int:
    """The integer (not a bool) ``data[key]``; KeyError or ValueError otherwise."""
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def _user_name(uid: int) -> str | None:
    import pwd  # Unix-only: imported where it is used

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    import grp  # Unix-only: imported where it is used

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def aware(when: datetime) -> datetime:
    """``when`` with a time zone; a naive time (as frozen clocks give) is taken as UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    """``when`` as records store it: ISO 8601 in UTC, to the second, with ``Z``."""
    return aware(when).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
