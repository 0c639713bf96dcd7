"""The scanner's value types: choices as enums, results as frozen dataclasses.

Every layer talks in these types. A file that could not be scanned is a value
(``Skipped``), not an exception. Paths are ``str`` as ``os`` returns them on POSIX:
bytes that are not valid UTF-8 are kept as lone surrogates (``surrogateescape``),
which is lossless; ``report`` turns them into a documented JSON form.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings/overrides/isolates, and
lone surrogates (bytes of a name that are not valid UTF-8, as ``os`` decodes them)."""


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` safe to show on a terminal or write to a log: every control character (C0, DEL, C1),
    line and paragraph separator and bidi control is written as ``\\xNN`` or ``\\uNNNN``, and every
    byte that is not valid UTF-8 as ``\\xNN``.

    The one rule for all human-readable output and logs: backslashes are left as they are, so
    escaping is idempotent (escaping twice gives the same text as once) and any layer may apply it
    as a last line of defence. The result is not reversible (a name may itself contain ``\\x1b``);
    JSON output keeps the exact value instead.
    """
    return _UNPRINTABLE.sub(_escape, text)


def display_path(path: str) -> str:
    """``path`` as printable text (see ``printable``): control characters and bytes that are not valid
    UTF-8 escaped, not reversibly; JSON reports use ``json_path`` and add the exact bytes."""
    return printable(path)


def json_path(path: str) -> str:
    """``path`` as JSON text: exact, except that bytes which are not valid UTF-8 are shown as ``\\xNN``
    (``report.path_fields`` then adds the exact bytes)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def encode_path(path: str) -> str:
    """The base64 of a path's raw bytes (lossless for undecodable names): how records store a path whole
    (the vault, the watch's backlog) or beside its text (``report.path_fields``)."""
    return base64.b64encode(os.fsencode(path)).decode("ascii")


def decode_path(text: str) -> str:
    """The path ``encode_path`` gave ``text`` for; ValueError (binascii.Error) if it is not base64."""
    return os.fsdecode(base64.b64decode(text.encode("ascii"), validate=True))


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC (the default clock wherever a clock is injected)."""
    return dt.datetime.now(dt.UTC)


class ExitCode(enum.IntEnum):
    """The exit codes of every command, in one table (``scanner --help`` lists them)."""

    CLEAN = 0
    """Nothing found (or, for commands that find nothing: done)."""
    FOUND = 1
    """Threats found, and every requested action succeeded."""
    ERROR = 2
    """Bad usage, rules that do not compile, nothing could be scanned, a failed command."""
    ACTION_FAILED = 3
    """Threats found and a requested action failed (or needs a reboot or a manual step)."""
    BROKEN_PIPE = 128 + 13
    """Standard output was closed early (``scanner history | head -1``): what a shell reports for a
    program killed by SIGPIPE, distinct from every result code."""


class Severity(enum.Enum):
    """How bad a detection is, from the rule's meta (``engine.matches.severity_of``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Its place in the order low < medium < high < critical."""
        return list(Severity).index(self)


class FamilySource(enum.Enum):
    """Where a hit's family name came from."""

    META = "meta"
    """The rule's meta (family, malware_family, malware, tc_detection_name)."""
    RULE_NAME = "rule name"
    """The rule names no family: its own name stands in."""


class Action(enum.Enum):
    """What to do with what a scan finds."""

    REPORT = "report"
    """Change nothing; only report."""
    QUARANTINE = "quarantine"
    """Kill the family's processes, move its files into the vault, clean its persistence."""
    REMOVE = "remove"
    """As quarantine, but delete the malicious files instead of keeping them."""


class OutputFormat(enum.Enum):
    """How results are rendered."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"


class ScanType(enum.Enum):
    """MSRT's three scan types."""

    CUSTOM = "custom"
    """The paths given on the command line."""
    QUICK = "quick"
    """Where malware drops and persists on this OS."""
    FULL = "full"
    """Every local filesystem."""


class TargetKind(enum.Enum):
    """What a detection was found in."""

    FILE = "file"
    PROCESS = "process"
    STREAM = "stream"
    """Data read from standard input: reported, never acted on."""


class SkipReason(enum.Enum):
    """Why something was not scanned. None of these is fatal to a scan."""

    PERMISSION_DENIED = "permission denied"
    VANISHED = "vanished before it could be scanned"
    TOO_LARGE = "larger than --max-filesize"
    TIMEOUT = "scan timed out"
    SPECIAL_FILE = "not a regular file (FIFO, socket or device)"
    SYMLINK_OUT_OF_ROOT = "symlink leads out of the scanned roots"
    SYMLINK_LOOP = "symlink loop or directory already visited"
    OTHER_FILESYSTEM = "on another filesystem (--one-file-system)"
    NOT_FOUND = "does not exist"
    READ_ERROR = "could not be read"
    ACCESS_DENIED = "access denied"
    PROCESS_EXITED = "process exited during the scan"
    STATE_DIRECTORY = "the scanner's own state directory"
    ARCHIVE_LIMIT = "not fully scanned"
    """An archive limit was reached (the detail names it: max-files, max-scansize, ...)."""
    ARCHIVE_ENCRYPTED = "encrypted archive member, not scanned"
    ARCHIVE_DAMAGED = "damaged or truncated archive, not fully scanned"


@dataclass(frozen=True)
class Policy:
    """How to remediate what a scan finds (used by remediate.plan and apply)."""

    action: Action
    """report, quarantine or remove."""
    force: bool = False
    """Move files that an OS package owns too."""
    sysroot: Path = Path("/")
    """The filesystem root the detections' paths are under."""
    kill_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""
    min_severity: Severity | None = None
    """Act only on detections at least this severe; None: ``DEFAULT_MIN_SEVERITY`` for rules from
    elsewhere, every severity for the project's own set (``own_namespaces``)."""
    own_namespaces: frozenset[str] = frozenset()
    """Namespaces of the project's own signature set (bundled or updated), trusted at every severity
    unless ``min_severity`` is given."""

    def acts_on(self, hit: RuleHit) -> bool:
        """Whether a detection by ``hit`` is acted on (else only reported: below the action threshold)."""
        if self.min_severity is not None:
            return hit.severity.rank >= self.min_severity.rank
        return hit.namespace in self.own_namespaces or hit.severity.rank >= DEFAULT_MIN_SEVERITY.rank


DEFAULT_MIN_SEVERITY = Severity.HIGH
"""The least severity acted on for rules that are not the project's own, unless configured."""


@dataclass(frozen=True)
class RuleHit:
    """One rule that matched, with what the engine derived from its meta."""

    rule: str
    """The rule's identifier."""
    namespace: str
    """The namespace the rule was compiled in (one per rule file)."""
    family: str
    """The malware family: meta family, malware_family, malware, tc_detection_name, else the rule name
    (``family_source`` says which)."""
    severity: Severity
    """From meta ``severity``, ``score``, ``threat_level`` and ``confidence`` (``engine.matches.severity_of``),
    default medium."""
    tags: tuple[str, ...] = ()
    """The rule's tags."""
    description: str = ""
    """Meta ``description``, if any."""
    author: str = ""
    """Meta ``author``, if any (licences such as the Detection Rule License require it with every match)."""
    reference: str = ""
    """Meta ``reference``, if any."""
    license: str = ""
    """Meta ``license``, if any."""
    family_source: FamilySource = FamilySource.META
    """Whether ``family`` came from the meta or is the rule name standing in."""

    def attribution(self) -> str:
        """Who wrote the rule, under what licence, and its reference, as ``author X; license Y; ref Z``
        (empty when the meta names none): every message based on a match carries it, as licences such as
        the Detection Rule License require. Not escaped: renderers escape whole lines (``printable``)."""
        given = (("author", self.author), ("license", self.license), ("ref", self.reference))
        return "; ".join(f"{name} {value}" for name, value in given if value)


@dataclass(frozen=True)
class ProcessInfo:
    """What identifies a running process, captured when it was scanned."""

    pid: int
    """Process id."""
    name: str
    """Process name (comm)."""
    exe: str | None
    """Path of the executable image, as the kernel reports it (may end in ' (deleted)')."""
    cmdline: tuple[str, ...]
    """Command line arguments."""
    user: str | None
    """Owner's user name, or uid as text when it has no name."""
    start_time: float
    """Start time in seconds since the epoch; with the pid, identifies the process."""
    where: str = "image"
    """Where the hit was: ``image`` (the executable) or ``memory`` (only in memory)."""


class FileIdentity(NamedTuple):
    """The stat facts that pin down one version of one file: the scan captures them so an action later
    touches exactly that file, and the file cache keys a result on them (a tuple: the walk and the cache
    build one per file, so it is cheap to make, compare and hash)."""

    dev: int
    """Device number (st_dev)."""
    ino: int
    """Inode number (st_ino)."""
    size: int
    """Size in bytes."""
    mtime_ns: int
    """Modification time."""
    ctime_ns: int
    """Status-change time (moves on any write, rename, chmod or chown; cannot be set by a program)."""

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileIdentity:
        """The identity of a (l|f)stat result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class Detection:
    """One rule that matched one target."""

    kind: TargetKind
    """File or process."""
    path: str | None
    """The file's path (for a process, its executable's path, if known)."""
    hit: RuleHit
    """The rule that matched and the family it names."""
    sha256: str | None = None
    """Hex SHA-256 of the file's content (files only)."""
    size: int | None = None
    """Size of the file in bytes (files only)."""
    process: ProcessInfo | None = None
    """The process (processes only)."""
    action: str = "reported"
    """The action taken: reported, quarantined, removed, killed, failed: ..., or a dry-run plan."""
    stamp: FileIdentity | None = None
    """Identity of the file as scanned (files, and process images on disk)."""
    offsets: tuple[int, ...] = ()
    """Where the rule's strings matched (byte offsets), to find offending lines in a configuration file."""
    root: str | None = None
    """The scanned root the file was found under, resolved when the scan started (files only); an action
    on the file is refused if its path is no longer under it."""
    member: str | None = None
    """The member of the archive ``path`` the rule matched in (nested members joined by ``!``, a ``!`` in a
    name written ``\\x21``); None when it matched the file itself. Actions take the whole archive."""

    @property
    def shown_path(self) -> str | None:
        """The name reports give the target: ``archive.zip!dir/member.php`` for a member, else ``path``."""
        if self.member is None or self.path is None:
            return self.path
        return f"{self.path}!{self.member}"


@dataclass(frozen=True)
class Skipped:
    """Something that was not scanned, and why."""

    path: str
    """The path (or ``pid:N`` for a process)."""
    reason: SkipReason
    """Why it was not scanned."""
    detail: str = ""
    """Extra detail, such as the OS error message."""


@dataclass(frozen=True)
class RuleFileSkipped:
    """A user rule file left out of a scan because it does not compile (the rest of its collection loads)."""

    path: str
    """The rule file, as found (for an error inside a file it includes: the file given or listed)."""
    line: int | None
    """The line the error is on, when the engine names one."""
    reason: str
    """Why, in the engine's words (``unknown module "cuckoo"``, ``syntax error, unexpected ...``)."""

    def describe(self) -> str:
        """One printable line: ``rule file PATH:LINE skipped: REASON``."""
        where = display_path(self.path) + (f":{self.line}" if self.line is not None else "")
        return printable(f"rule file {where} skipped: {self.reason}")


@dataclass(frozen=True)
class SignatureSetInfo:
    """The signature set a scan used."""

    version: str
    """Version of the active set, ``YYYY.MM.N``; ``custom`` when only --rules were used."""
    rule_count: int
    """Number of rules compiled."""
    source: str
    """``bundled``, ``updated`` or ``custom``."""
    released: str | None = None
    """Release date of the set (ISO 8601 date), when known."""
    age_days: int | None = None
    """Days since the release, when known."""
    families: tuple[str, ...] = ()
    """Family names the set detects, from its family data."""
    skipped_rule_files: tuple[RuleFileSkipped, ...] = ()
    """User rule files left out because they do not compile (empty with --strict, which fails instead)."""


@dataclass(frozen=True)
class ScanCounts:
    """Totals of one scan."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    processes_scanned: int = 0
    detections: int = 0
    skipped: int = 0
    not_scanned: int = 0
    """Of ``skipped``, those that leave the scan incomplete (``scan.NOT_SCANNED``: could not be read, too
    large, a named path missing...) rather than passed over by design."""


@dataclass(frozen=True)
class ScanReport:
    """The canonical result of one scan; JSON and text are rendered from it."""

    scan_id: str
    """Unique, sortable id of the scan (UTC time plus random suffix)."""
    scan_type: ScanType
    """Custom, quick or full."""
    roots: tuple[str, ...]
    """The paths that were walked."""
    started_at: str
    """ISO 8601 UTC time the scan started."""
    finished_at: str
    """ISO 8601 UTC time the scan finished."""
    duration_s: float
    """Wall-clock seconds."""
    signatures: SignatureSetInfo
    """The rules used."""
    counts: ScanCounts
    """Totals."""
    detections: tuple[Detection, ...] = ()
    """Every rule hit on every target."""
    skipped: tuple[Skipped, ...] = ()
    """Everything that was not scanned, with the reason."""
    warnings: tuple[str, ...] = ()
    """Things the user should know (stale signatures, ...)."""
    action: Action = Action.REPORT
    """The action that was requested."""
    exit_code: ExitCode = ExitCode.CLEAN
    """The exit code the scan maps to (clean, found, error, or found and an action failed)."""
    extra: Mapping[str, object] = field(default_factory=dict)
    """Additional report sections added by later stages (remediation outcomes, ...)."""


@dataclass(frozen=True)
class Family:
    """What the signature set knows about one malware family."""

    name: str
    """The family name, as rules name it in meta ``family``."""
    aliases: tuple[str, ...] = ()
    """Other names vendors use."""
    platforms: tuple[str, ...] = ()
    """linux, windows or any."""
    kind: str = ""
    """miner, ddos-bot, backdoor, rootkit, webshell, ..."""
    description: str = ""
    """One sentence."""
    references: tuple[str, ...] = ()
    """Public sources."""
    persistence_paths: tuple[str, ...] = ()
    """Files the family drops to persist (absolute paths on the infected machine; globs allowed)."""
    persistence_markers: tuple[str, ...] = ()
    """Substrings that mark a cron/rc/unit/autostart line as this family's persistence."""
