"""Looking inside archives: each member matched as a file of its own, nested archives to a depth, all
within ClamAV-style limits.

The one module that imports libarchive (libarchive-c over the system's libarchive): it reads zip (and
jar, apk, docx...), tar, 7z, rar (v4 and v5, with libarchive's own free decoder), cpio, ar (.deb), rpm
and cab, and single streams compressed with gzip, bzip2, xz, lzma, zstd, lz4 or compress. A file is
looked into only when its first bytes are an archive's or a compressed stream's magic (``archive_kind``).

Members are read block by block into memory (bounded by ``ArchiveLimits.memory``) or, beyond that,
into an unnamed temporary file in the state directory (``O_TMPFILE``: gone when closed, even after a
crash); nothing is ever extracted beside the archive, and a member's name is never used as a path.
Every limit reached is a value (``Skipped`` with ``SkipReason.ARCHIVE_LIMIT``), never silent.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import libarchive.ffi as la
from libarchive.exception import ArchiveError

from scanner.engine.compiler import CompiledRules, Match, MatchFailed, MatchTimeout
from scanner.model import Skipped, SkipReason, display_path, printable
from scanner.scanning.facts import file_externals

logger = logging.getLogger(__name__)

MIB = 1 << 20

_is_encrypted = la.ffi("entry_is_encrypted", [la.c_archive_entry_p], ctypes.c_int)
# libarchive-c logs libarchive's warnings (about the archive's content, which this module reports itself)
# on its own logger, which has no handler: Python's last-resort handler would print them on the terminal
logging.getLogger("libarchive").addHandler(logging.NullHandler())

FORMATS = ("7zip", "ar", "cab", "cpio", "rar", "rar5", "tar", "zip", "raw")
"""The formats read. Not ``all``: its mtree reader takes text for a list of files and reads them from
this machine's disk, and its text-sniffing formats make every compressed text member slow to open."""
FILTERS = ("gzip", "bzip2", "xz", "lzma", "lzip", "zstd", "lz4", "compress", "rpm")
"""The compressions read. Not ``all``: lrzip, lzop and grzip run an external program."""


def _supported(kind: str, names: tuple[str, ...]) -> list[Callable[[int], object]]:
    get = la.get_read_format_function if kind == "format" else la.get_read_filter_function
    found = []
    for name in names:
        try:
            found.append(get(name))
        except ValueError:
            logger.info(
                "libarchive %s has no %s %s: such archives are matched as files only", la.version_number(), kind, name
            )
    return found


_SUPPORT = [*_supported("filter", FILTERS), *_supported("format", FORMATS)]
_AE_IFREG = 0o100000
_BLOCK = 256 * 1024
MAX_NOTES = 20
"""Notes (limits, encrypted or damaged members) kept per archive; the rest are counted in one more."""
RATIO_FLOOR = 16 * MIB
"""The compression-ratio limit applies once a level of an archive has given this many bytes."""
PROBE_SIZE = 512
"""Bytes ``archive_kind`` needs (a tar header's magic is at offset 257)."""

# first bytes -> kind; tar is recognised by its ustar magic at offset 257
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"!<arch>\n", "ar"),
    (b"\xed\xab\xee\xdb", "rpm"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"070707", "cpio"),
    (b"MSCF\x00\x00\x00\x00", "cab"),
)
_STREAMS = frozenset({"gzip", "bzip2", "xz", "zstd", "lz4"})
"""Kinds that are one compressed stream (read with libarchive's raw format), not an archive of members."""
_STREAM_SUFFIXES = (".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".lz4", ".z")


def archive_kind(head: bytes) -> str | None:
    """The kind of archive or compressed stream a file starting with ``head`` (``PROBE_SIZE`` bytes) is;
    None for anything else."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[257:262] == b"ustar":
        return "tar"
    return None


@dataclass(frozen=True)
class ArchiveLimits:
    """How far the scanner looks into one archive (ClamAV's limits, with its defaults where it has one)."""

    max_scansize: int = 400 * MIB
    """Bytes extracted from one archive in all (every member at every depth); ClamAV's MaxScanSize."""
    max_filesize: int = 100 * MIB
    """A member larger than this is not matched; ClamAV's MaxFileSize."""
    max_recursion: int = 17
    """Archives inside archives are opened to this depth (the archive itself is depth 1); ClamAV's
    MaxRecursion."""
    max_files: int = 10_000
    """Members read from one archive in all; ClamAV's MaxFiles."""
    max_ratio: int = 1000
    """A level of an archive that gives more than this many bytes per byte it reads (after the first
    ``RATIO_FLOOR`` bytes) is a bomb: the rest of that level is not read (ClamAV has no such limit)."""
    max_scantime: float = 120.0
    """Seconds spent in one archive; ClamAV's MaxScanTime."""
    memory: int = 16 * MIB
    """Member bytes held in memory at once (every depth together); beyond, members go to ``tmp_dir``."""
    tmp_dir: Path | None = field(default=None, compare=False)
    """Where larger members are written, unnamed (the state directory's ``tmp``); None: members up to
    ``max_filesize`` are held in memory."""

    def fingerprint(self) -> str:
        """The limits as text, for the file cache's key (a result depends on how far the scan looked)."""
        return "-".join(
            map(str, (self.max_scansize, self.max_filesize, self.max_recursion, self.max_files, self.max_ratio))
        )


@dataclass(frozen=True)
class MemberHit:
    """A rule that matched one member of an archive."""

    member: str
    """The member's name inside the archive, nested ones joined by ``!`` (``inner.tar.gz!dir/x.php``);
    a ``!`` inside a name is written ``\\x21``."""
    match: Match
    """The rule and where it matched in the member."""


@dataclass(frozen=True)
class ArchiveScan:
    """What looking inside one archive gave."""

    hits: tuple[MemberHit, ...] = ()
    """Rules that matched members."""
    notes: tuple[Skipped, ...] = ()
    """Limits reached, encrypted and damaged members: what was not fully scanned."""
    members: int = 0
    """Members read (at every depth)."""
    bytes: int = 0
    """Member bytes read."""


def member_name(raw: bytes) -> str:
    """A member's name as text: bytes that are not UTF-8 kept as lone surrogates (as ``os`` does for
    paths, shown as ``\\xNN``), ``!`` written ``\\x21`` so the separator stays unambiguous."""
    return raw.decode("utf-8", "surrogateescape").replace("!", "\\x21")


class _Stop(Exception):
    """A limit that ends the whole archive was reached."""


class _Member:
    """One member's bytes: in memory up to a budget, then in an unnamed file of ``tmp_dir``."""

    def __init__(self, walk: _Walk) -> None:
        self._walk = walk
        self.data = bytearray()
        self.fd: int | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self.fd is None and self._walk.take_memory(len(chunk)):
            self.data += chunk
        else:
            if self.fd is None:
                self.fd = self._walk.temp_file()
                os.write(self.fd, self.data)
                self._walk.give_memory(len(self.data))
                self.data = bytearray()
            os.write(self.fd, chunk)
        self.size += len(chunk)

    def head(self) -> bytes:
        if self.fd is None:
            return bytes(self.data[:PROBE_SIZE])
        return os.pread(self.fd, PROBE_SIZE, 0)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self._walk.give_memory(len(self.data))
        self.data = bytearray()


@contextmanager
def _reader(open_it: Callable[[int], object]) -> Iterator[int]:
    """A libarchive reader of ``FORMATS`` (raw: single compressed streams) through ``FILTERS``."""
    archive = la.read_new()
    try:
        for support in _SUPPORT:
            support(archive)
        open_it(archive)
        yield archive
    finally:
        la.read_free(archive)


def _error(archive: int, exc: ArchiveError) -> str:
    """libarchive's message without the pointer libarchive-c appends."""
    text = la.error_string(archive)
    return (text or b"").decode("utf-8", "replace") if text else str(exc).split(" (errno=")[0]


class _Walk:
    """The state of looking inside one archive: counters against the limits, hits and notes."""

    def __init__(self, path: str, rules: CompiledRules, limits: ArchiveLimits, timeout: int, uid: int | None) -> None:
        self.path = path
        self.rules = rules
        self.limits = limits
        self.timeout = timeout
        self.uid = uid
        self.deadline = time.monotonic() + limits.max_scantime
        self.members = 0
        self.bytes = 0
        self.memory = 0
        self.memory_budget = limits.memory if limits.tmp_dir is not None else limits.max_filesize
        self.hits: list[MemberHit] = []
        self.notes: list[Skipped] = []
        self.dropped = 0

    def note(self, where: str, reason: SkipReason, detail: str = "") -> None:
        shown = f"{self.path}!{where}" if where else self.path
        logger.info("%s: %s %s", display_path(shown), reason.value, printable(detail))
        if len(self.notes) < MAX_NOTES:
            self.notes.append(Skipped(shown, reason, detail))
        else:
            self.dropped += 1

    def limit(self, name: str, detail: str) -> None:
        self.note("", SkipReason.ARCHIVE_LIMIT, f"{name}: {detail}")

    def take_memory(self, n: int) -> bool:
        if self.memory + n > self.memory_budget:
            return False
        self.memory += n
        return True

    def give_memory(self, n: int) -> None:
        self.memory -= n

    def temp_file(self) -> int:
        where = self.limits.tmp_dir
        assert where is not None  # without one the budget is max_filesize, and a member never exceeds it
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            return os.open(where, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # a filesystem without O_TMPFILE: a named file, unlinked at once
            logger.debug("O_TMPFILE refused in %s (%s): a named temporary file is used", where, exc.strerror)
            name = os.fspath(where / f"member-{secrets.token_hex(8)}")
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.unlink(name)
            return fd

    def result(self) -> ArchiveScan:
        notes = list(self.notes)
        if self.dropped:
            notes.append(Skipped(self.path, SkipReason.ARCHIVE_LIMIT, f"and {self.dropped} more note(s)"))
        return ArchiveScan(tuple(self.hits), tuple(notes), self.members, self.bytes)

    def level(self, archive: int, prefix: str, depth: int, stream_name: str, kind: str | None) -> None:
        """Read every member of the open ``archive`` of ``kind`` (at ``depth``; ``prefix`` names it inside
        the top one)."""
        entry = la.entry_new()
        buf = ctypes.create_string_buffer(_BLOCK)
        given = 0
        first = True
        try:
            while True:
                try:
                    if la.read_next_header2(archive, entry) == la.ARCHIVE_EOF:
                        return
                except ArchiveError as exc:
                    self.damaged(prefix, _error(archive, exc), kind if first else None)
                    return
                first = False
                raw_format = la.format_name(archive) == b"raw"
                if raw_format and la.filter_count(archive) <= 1:
                    return  # not an archive nor a compressed stream after all: the file itself was matched
                name = stream_name if raw_format else member_name(la.entry_pathname(entry) or b"")
                if la.entry_filetype(entry) != _AE_IFREG:
                    continue
                where = f"{prefix}!{name}" if prefix else name
                if self.members >= self.limits.max_files:
                    self.limit("max-files", f"{self.limits.max_files} members read")
                    raise _Stop
                self.members += 1
                if _is_encrypted(entry):
                    self.note(where, SkipReason.ARCHIVE_ENCRYPTED)
                    continue
                member = _Member(self)
                try:
                    given, whole = self._read(archive, buf, member, where, given)
                    if whole is None:
                        return  # damaged or a bomb: the rest of this level is not read
                    if whole:
                        self._member(member, where, depth)
                finally:
                    member.close()
        finally:
            la.entry_free(entry)

    def _read(
        self, archive: int, buf: ctypes.Array[ctypes.c_char], member: _Member, where: str, given: int
    ) -> tuple[int, bool | None]:
        """Read one member's data into ``member``; (bytes this level gave so far, whether it was read whole:
        False over max-filesize, None when the rest of the level must be left)."""
        limits = self.limits
        while True:
            try:
                n = la.read_data(archive, buf, _BLOCK)
            except ArchiveError as exc:
                message = _error(archive, exc)
                if "assphrase" in message or "ncrypt" in message:
                    self.note(where, SkipReason.ARCHIVE_ENCRYPTED, message)
                    return given, False
                self.damaged(where, message)
                return given, None
            if n <= 0:
                return given, True
            if self.bytes + n > limits.max_scansize:
                self.limit("max-scansize", f"{_size(limits.max_scansize)} extracted")
                raise _Stop
            if member.size + n > limits.max_filesize:
                self.limit("max-filesize", f"member {where} is larger than {_size(limits.max_filesize)}")
                return given, False
            given += n
            self.bytes += n
            consumed = max(1, la.filter_bytes(archive, -1))
            if given > RATIO_FLOOR and given > limits.max_ratio * consumed:
                self.limit("max-ratio", f"member {where} expands more than {limits.max_ratio}-fold")
                return given, None
            if time.monotonic() > self.deadline:
                self.limit("max-scantime", f"{limits.max_scantime:g} s")
                raise _Stop
            member.write(ctypes.string_at(buf, n))

    def damaged(self, where: str, message: str, kind: str | None = None) -> None:
        """``where`` cannot be read on (``kind``: of an archive that gave no member yet)."""
        if kind in _STREAMS and message.startswith("Unrecognized archive format"):
            # the raw format takes any bytes: a compressed stream that gives none is empty, not damaged
            logger.debug("%s: an empty %s stream", display_path(f"{self.path}!{where}" if where else self.path), kind)
            return
        self.note(where, SkipReason.ARCHIVE_DAMAGED, message)

    def _member(self, member: _Member, where: str, depth: int) -> None:
        """Match one member read whole, and look inside it if it is an archive too."""
        head = member.head()
        shown = f"{self.path}!{where}"
        ext = file_externals(shown, head[:16], self.uid, self.rules.uses)
        try:
            if member.fd is None:
                found = self.rules.match_bytes(bytes(member.data), ext, self.timeout)
            else:
                found = self.rules.match_fd(member.fd, ext, self.timeout, head=head[:16], size=member.size)
        except (MatchTimeout, MatchFailed) as exc:
            self.note(where, SkipReason.TIMEOUT if isinstance(exc, MatchTimeout) else SkipReason.READ_ERROR, str(exc))
            found = []
        self.hits.extend(MemberHit(where, m) for m in found)
        if archive_kind(head) is None:
            return
        if depth >= self.limits.max_recursion:
            self.limit("max-recursion", f"{where} is nested deeper than {self.limits.max_recursion}")
            return
        inner = _stream_name(where.rpartition("!")[2].rpartition("/")[2])
        try:
            if member.fd is None:
                # libarchive reads the member's own buffer (not resized while it does): no copy
                data = (ctypes.c_char * len(member.data)).from_buffer(member.data)
                opener: Callable[[int], object] = lambda a: la.read_open_memory(  # noqa: E731
                    a, ctypes.cast(data, ctypes.c_void_p), len(member.data)
                )
            else:
                os.lseek(member.fd, 0, os.SEEK_SET)
                fd = member.fd
                opener = lambda a: la.read_open_fd(a, fd, _BLOCK)  # noqa: E731
            with _reader(opener) as archive:
                self.level(archive, where, depth + 1, inner, archive_kind(head))
        except ArchiveError as exc:
            self.damaged(where, str(exc).split(" (errno=")[0], archive_kind(head))


def _stream_name(name: str) -> str:
    """The name given to the content of a single compressed stream: its file's name less the suffix
    (``x.tgz`` gives ``x.tar``), else ``data``."""
    lowered = name.lower()
    for suffix in _STREAM_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return stem + ".tar" if suffix in (".tgz", ".tbz2", ".txz") else stem
    return "data"


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n} bytes"


def scan_archive(
    fd: int,
    path: str,
    rules: CompiledRules,
    limits: ArchiveLimits,
    timeout: int,
    uid: int | None = None,
    kind: str | None = None,
) -> ArchiveScan:
    """Match every member of the archive open as ``fd`` (a regular file of ``kind``, as ``archive_kind``
    says; read from its start), nested archives too, within ``limits``; ``path`` names it in hits and
    notes. Never raises for what the archive holds: damage, encryption and limits are notes."""
    walk = _Walk(path, rules, limits, timeout, uid)
    name = _stream_name(path.rpartition("/")[2])
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        with _reader(lambda a: la.read_open_fd(a, fd, _BLOCK)) as archive:
            walk.level(archive, "", 1, name, kind)
    except _Stop:
        pass
    except ArchiveError as exc:
        walk.damaged("", str(exc).split(" (errno=")[0], kind)
    except OSError as exc:
        walk.note("", SkipReason.READ_ERROR, exc.strerror or str(exc))
    result = walk.result()
    logger.debug(
        "archive %s: %d member(s), %d byte(s), %d hit(s), %d note(s)",
        display_path(path),
        result.members,
        result.bytes,
        len(result.hits),
        len(result.notes),
    )
    return result
