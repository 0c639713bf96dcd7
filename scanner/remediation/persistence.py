"""Find and undo what a malware family set up to survive a reboot.

Linux: crontabs and cron directories, systemd units (system and user), XDG autostart
entries, shell startup files, ``/etc/ld.so.preload``, ``rc.local``, init scripts and
``authorized_keys``. The flow follows the rest of the scanner:

* ``find_persistence`` reads every location under a *sysroot* (``/`` for this machine,
  a mounted image or a test directory otherwise) and returns findings; it never writes.
* ``plan_cleanup`` turns findings into actions; it is pure, so ``--dry-run`` prints it.
* ``apply_action`` carries out one action after backing the file up through the
  vault's callback and checking that the file is still the one the scan read.

Every path is resolved under the sysroot as if it were ``/`` (absolute symbolic links
and ``..`` never leave it), and changes go through directory descriptors, so a link
swapped in after the scan cannot redirect a write. Paths in the types below are as
they appear on the inspected machine; ``host_path`` gives the path on this one.

Windows (Run keys, services, scheduled tasks) is designed behind a ``Protocol`` at the
end of this module and in docs/decisions/0002-persistence.md; only its matching and
planning, which work on plain data, are implemented here.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fnmatch
import hashlib
import os
import posixpath
import re
import secrets
import shlex
import stat
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Protocol, assert_never

from scanner.errors import PersistenceError, ScannerError
from scanner.model import Skipped, SkipReason

# --------------------------------------------------------------------------- choices


class LocationKind(enum.Enum):
    """What sort of persistence location a file is; decides how it may be cleaned."""

    SYSTEM_CRONTAB = "system crontab"
    """/etc/crontab and /etc/anacrontab (lines carry a user or job-id field)."""
    CRON_D = "cron.d file"
    """A file in /etc/cron.d."""
    CRON_SCRIPT = "periodic cron script"
    """A script in /etc/cron.hourly, daily, weekly or monthly."""
    USER_CRONTAB = "user crontab"
    """A user's crontab in the cron spool."""
    SYSTEMD_UNIT = "systemd unit"
    """A unit file of the system or a user manager."""
    SYSTEMD_DROPIN = "systemd drop-in"
    """A ``*.d/*.conf`` fragment that amends a unit."""
    AUTOSTART = "autostart entry"
    """An XDG autostart ``.desktop`` file."""
    SHELL_RC = "shell startup file"
    """A profile or rc file read by login or interactive shells."""
    LD_PRELOAD = "ld.so.preload"
    """/etc/ld.so.preload: libraries loaded into every dynamically linked program."""
    RC_LOCAL = "rc.local"
    """/etc/rc.local, run once at boot."""
    INIT_SCRIPT = "init script"
    """A SysV script in /etc/init.d."""
    AUTHORIZED_KEYS = "authorized_keys"
    """A user's SSH authorized_keys file."""
    FAMILY_ARTIFACT = "family artifact"
    """A file the family data names as the family's, outside the locations above."""


class Reason(enum.Enum):
    """Why a line or file was judged to be the family's."""

    RUNS_DETECTED_FILE = "runs a detected file"
    """The command, Exec= line or preload entry names a file the scan detected."""
    FAMILY_MARKER = "carries a family marker"
    """The line contains a string the family data lists (URL, wallet, key comment, ...)."""
    FAMILY_PATH = "is a known family artifact"
    """The file's path matches one of the family's known persistence paths."""
    RULE_HIT = "a rule matched inside the file"
    """The scan detected the configuration file itself."""
    TRIGGERS_UNIT = "starts a unit being removed"
    """A timer, path or socket unit whose only job is to start a malicious service."""


class Removal(enum.Enum):
    """What cleaning a finding amounts to."""

    LINES = "remove lines"
    """Remove the offending lines; everything else stays byte for byte."""
    FILE = "remove file"
    """The file exists only for the family: disable (units) and remove it."""
    NONE = "review by hand"
    """Something is wrong but no line can be pinned down safely; nothing is changed."""


class ActionKind(enum.Enum):
    """The kinds of cleanup action, for reports."""

    REMOVE_LINES = "remove-lines"
    REMOVE_PRELOAD_ENTRY = "remove-preload-entry"
    DISABLE_UNIT = "disable-unit"
    DELETE_FILE = "delete-file"


class OutcomeStatus(enum.Enum):
    """How applying one action went."""

    DONE = "done"
    """The change was made (after the backup, when there was something to back up)."""
    REFUSED = "refused"
    """Nothing was changed because the file is no longer what the scan saw."""
    GONE = "gone"
    """The file was already gone; nothing to do."""
    FAILED = "failed"
    """An error stopped the action; the detail says whether anything was changed."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PersistenceLocation:
    """One file in a place the system reads at boot or login."""

    kind: LocationKind
    """What sort of location this is."""
    path: str
    """Path on the inspected machine, with every symbolic link resolved under the sysroot."""
    sysroot: str
    """Absolute path of the sysroot on this machine ("/" for this machine itself)."""
    owner: str | None = None
    """User the file belongs to (home files, user crontabs, user units); None when system-wide."""
    unit: str | None = None
    """Unit name, for systemd units and drop-ins (the unit a drop-in amends)."""
    user_manager: bool = False
    """For units: read by a user's systemd manager rather than the system's."""

    @property
    def host_path(self) -> str:
        """The file's path on this machine."""
        return _host_path(self.sysroot, self.path)


@dataclass(frozen=True)
class PersistenceEntry:
    """One logical line of a location that could start or load something."""

    location: PersistenceLocation
    """The file the line is in."""
    lines: tuple[int, ...]
    """Physical line numbers, from 1; more than one when backslash continuations join them."""
    text: str
    """The logical line, continuations joined, without its newline."""
    command: str = ""
    """The part that is run: a cron line's command, an Exec= value, a forced SSH command; "" if none."""
    key: str = ""
    """For unit and .desktop files, the key (``ExecStart``, ``Exec``, ...); "" otherwise."""


@dataclass(frozen=True)
class ConfigHit:
    """A rule hit inside a configuration file, as the scanner reports it (case b)."""

    family: str
    """The family the rule names."""
    rule: str = ""
    """The rule's name, for the report."""
    offsets: tuple[int, ...] = ()
    """Byte offsets of the rule's string matches in the file; empty when unknown."""
    sha256: str | None = None
    """Hex SHA-256 of the file when it was scanned; offsets are ignored if the file has changed since."""


@dataclass(frozen=True)
class Match:
    """One piece of evidence in a location."""

    reason: Reason
    """Why it counts."""
    evidence: str
    """What matched: the detected file, the marker, the family path pattern, the rule or the unit."""
    family: str | None
    """The family, when known."""
    lines: tuple[int, ...] = ()
    """Physical line numbers (from 1) the evidence is on; empty when it is about the file as a whole."""
    whole_file: bool = False
    """The evidence condemns the whole file (still only lines are removed from protected files)."""
    excerpt: str = ""
    """The offending text, shortened, for the report."""


@dataclass(frozen=True)
class Mention:
    """A line that names a detected file without running it: reported, never changed."""

    location: PersistenceLocation
    """The file the line is in."""
    lines: tuple[int, ...]
    """Physical line numbers (from 1)."""
    detected: str
    """The detected file it names (path on the inspected machine)."""
    excerpt: str
    """The line, shortened, for the report."""

    def describe(self) -> str:
        """One line for the plan and the report."""
        where = f"{self.location.host_path} line {', '.join(map(str, self.lines))}"
        return f"{where} ({self.excerpt}) mentions the detected file {self.detected}: left alone"


@dataclass(frozen=True)
class Symlink:
    """A symbolic link that enables a unit or init script."""

    path: str
    """Path of the link on the inspected machine."""
    target: str
    """What the link pointed to when it was read (``readlink``); it is removed only if still so."""


@dataclass(frozen=True)
class PersistenceFinding:
    """A location the family uses, with the evidence and what cleaning it means."""

    location: PersistenceLocation
    """The file."""
    matches: tuple[Match, ...]
    """All the evidence found in it."""
    sha256: str
    """Hex SHA-256 of the file as read; cleanup refuses to touch it if this changes."""
    removal: Removal
    """What cleaning it amounts to."""
    lines: tuple[int, ...] = ()
    """For ``Removal.LINES``: the physical lines to remove."""
    removed_text: tuple[str, ...] = ()
    """For ``Removal.LINES``: those lines' text, for the report and the dry run."""
    links: tuple[Symlink, ...] = ()
    """For ``Removal.FILE`` of a unit or init script: the links that enable it."""

    @property
    def families(self) -> tuple[str, ...]:
        """The families the evidence names, sorted."""
        return tuple(sorted({m.family for m in self.matches if m.family}))


@dataclass(frozen=True)
class PersistenceResult:
    """What ``find_persistence`` saw."""

    findings: tuple[PersistenceFinding, ...]
    """Locations with evidence, sorted by path."""
    skipped: tuple[Skipped, ...] = ()
    """Locations that exist but could not be read (path on this machine, reason)."""
    locations_checked: int = 0
    """Number of files read."""
    mentions: tuple[Mention, ...] = ()
    """Lines that name a detected file without running it, in files not being removed: left alone."""


@dataclass(frozen=True)
class SystemdReload:
    """A systemd manager that must re-read its units after a change."""

    user_manager: bool = False
    """A user manager rather than the system's."""
    user: str | None = None
    """The user whose manager it is; None with ``user_manager`` means every user's."""

    def describe(self) -> str:
        """The command an adapter would run, as one line."""
        if not self.user_manager:
            return "systemctl daemon-reload"
        if self.user is None:
            return "systemctl --user daemon-reload (for every logged-in user)"
        return f"systemctl --user -M {self.user}@ daemon-reload"


@dataclass(frozen=True)
class RemoveLines:
    """Remove some lines of a file, keeping every other byte."""

    sysroot: str
    """Absolute path of the sysroot on this machine."""
    path: str
    """The file, on the inspected machine."""
    sha256: str
    """The file's SHA-256 when planned; the action is refused if it differs."""
    lines: tuple[int, ...]
    """Physical line numbers to remove, from 1."""
    texts: tuple[str, ...] = ()
    """Those lines' text, for the description."""
    reload: SystemdReload | None = None
    """The systemd manager to reload afterwards, for units and drop-ins."""

    @property
    def kind(self) -> ActionKind:
        """The action's kind."""
        return ActionKind.REMOVE_LINES

    def describe(self) -> str:
        """One line for --dry-run."""
        numbers = ", ".join(map(str, self.lines))
        first = f": {_shorten(self.texts[0], 80)}" if self.texts else ""
        more = f" (+{len(self.texts) - 1} more)" if len(self.texts) > 1 else ""
        where = _host_path(self.sysroot, self.path)
        return f"remove {_plural(len(self.lines), 'line')} {numbers} from {where}{first}{more}"


@dataclass(frozen=True)
class RemovePreloadEntry:
    """Remove libraries from /etc/ld.so.preload (one entry a line), keeping the file."""

    sysroot: str
    """Absolute path of the sysroot on this machine."""
    path: str
    """The preload file, on the inspected machine."""
    sha256: str
    """The file's SHA-256 when planned; the action is refused if it differs."""
    lines: tuple[int, ...]
    """Physical line numbers of the entries, from 1."""
    libraries: tuple[str, ...] = ()
    """The entries' text (library paths), for the description."""

    @property
    def kind(self) -> ActionKind:
        """The action's kind."""
        return ActionKind.REMOVE_PRELOAD_ENTRY

    def describe(self) -> str:
        """One line for --dry-run."""
        libs = ", ".join(self.libraries) or f"line {', '.join(map(str, self.lines))}"
        return f"remove preload entry {libs} from {_host_path(self.sysroot, self.path)}"


@dataclass(frozen=True)
class DisableUnit:
    """Disable a systemd unit by removing the links that pull it in."""

    sysroot: str
    """Absolute path of the sysroot on this machine."""
    path: str
    """The unit file, on the inspected machine."""
    unit: str
    """The unit's name."""
    links: tuple[Symlink, ...]
    """``*.wants``/``*.requires`` links and aliases to remove."""
    reload: SystemdReload = field(default_factory=SystemdReload)
    """The manager that owns the unit; it must be reloaded and the unit stopped."""

    @property
    def kind(self) -> ActionKind:
        """The action's kind."""
        return ActionKind.DISABLE_UNIT

    def describe(self) -> str:
        """One line for --dry-run."""
        scope = "user unit" if self.reload.user_manager else "unit"
        links = f"{len(self.links)} {_plural(len(self.links), 'link')}"
        return f"disable {scope} {self.unit} ({links}), then {self.reload.describe()}"


@dataclass(frozen=True)
class DeleteFile:
    """Remove a file that exists only for the family (after backing it up)."""

    sysroot: str
    """Absolute path of the sysroot on this machine."""
    path: str
    """The file, on the inspected machine."""
    sha256: str
    """The file's SHA-256 when planned; the action is refused if it differs."""
    kind_of_location: LocationKind
    """What the file is (cron.d file, unit, autostart entry, ...)."""
    links: tuple[Symlink, ...] = ()
    """Links that point at it and go with it (rc?.d links of an init script)."""
    reload: SystemdReload | None = None
    """The systemd manager to reload afterwards, for units and drop-ins."""

    @property
    def kind(self) -> ActionKind:
        """The action's kind."""
        return ActionKind.DELETE_FILE

    def describe(self) -> str:
        """One line for --dry-run."""
        extra = f" and {len(self.links)} {_plural(len(self.links), 'link')} to it" if self.links else ""
        return f"remove {self.kind_of_location.value} {_host_path(self.sysroot, self.path)}{extra}"


PersistenceAction = RemoveLines | RemovePreloadEntry | DisableUnit | DeleteFile
"""Any cleanup action."""


@dataclass(frozen=True)
class PersistenceOutcome:
    """What applying one action did."""

    action: PersistenceAction
    """The action."""
    status: OutcomeStatus
    """How it went."""
    detail: str
    """One line: what was done, or why not."""
    at: str
    """ISO 8601 time it finished, from the injected clock."""
    backup_ids: tuple[str, ...] = ()
    """Vault ids of the backups taken before the change; restoring them is the undo."""
    removed_links: tuple[Symlink, ...] = ()
    """Links removed (not in the vault): ``restore_links`` puts them back."""
    reload: SystemdReload | None = None
    """A systemd manager the caller must reload (``systemctl daemon-reload``)."""
    stop_unit: str | None = None
    """A unit the caller should stop in that manager (``systemctl stop``)."""


# --------------------------------------------------------------------------- limits

_READ_CAP = 4 * 1024 * 1024
"""Configuration files larger than this are reported as skipped, not read."""
_DIR_CAP = 20_000
"""Entries read from one directory; a flooded directory must not stall the scan."""
_MAX_HOPS = 40
"""Symbolic links followed while resolving one path, as the kernel allows."""
_MIN_MARKER = 4
"""Shorter markers are ignored: they would match ordinary lines."""

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_DELETABLE = frozenset(
    {
        LocationKind.CRON_D,
        LocationKind.CRON_SCRIPT,
        LocationKind.SYSTEMD_UNIT,
        LocationKind.SYSTEMD_DROPIN,
        LocationKind.AUTOSTART,
        LocationKind.INIT_SCRIPT,
        LocationKind.FAMILY_ARTIFACT,
    }
)
"""Kinds whose file may be removed as a whole; all others only ever lose lines."""

_UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".target",
)
_DEPENDENCY_DIRS = (".wants", ".requires", ".upholds")
_EXEC_KEYS = frozenset(
    {
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecCondition",
        "ExecReload",
        "ExecStop",
        "ExecStopPost",
        "Exec",
        "TryExec",
    }
)
_AUX_EXEC_KEYS = _EXEC_KEYS - {"ExecStart", "Exec", "TryExec"}
"""Exec keys that are not a unit's main command: removing them leaves a working unit."""
_PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_HOME_RC = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
)
_SYSTEM_RC = (
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
    "/etc/zshrc",
    "/etc/zprofile",
    "/etc/zshenv",
    "/etc/zlogin",
)

# --------------------------------------------------------------------------- sysroot access


def _host_path(sysroot: str, machine: str) -> str:
    return machine if sysroot == "/" else sysroot + machine


def _norm(path: str) -> str:
    """Absolute, lexically normalised path (no ``.``, ``..`` or doubled slashes)."""
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
        else:
            parts.append(comp)
    return "/" + "/".join(parts)


class _NotRegular(OSError):
    """The path resolved to something other than a regular file."""

    def __init__(self, canonical: str) -> None:
        super().__init__(errno.EINVAL, "not a regular file", canonical)
        self.canonical = canonical


class _TooLarge(OSError):
    """The file is larger than we read."""


@dataclass
class _Walk:
    fd: int
    """Open directory the walk stopped in (the caller closes it)."""
    parents: list[str]
    """Components of that directory's path."""
    rest: list[str]
    """Unwalked components: [name] when the final one exists, more when something is missing."""


class _Root:
    """File access confined to a sysroot, resolving links as if the sysroot were ``/``."""

    def __init__(self, sysroot: str | os.PathLike[str]) -> None:
        self.host = os.path.abspath(os.fspath(sysroot))
        if not os.path.isdir(self.host):
            raise PersistenceError(f"sysroot {self.host} is not a directory; give an existing directory")
        self._prefixes = sorted({p for p in (self.host, os.path.realpath(self.host)) if p != "/"})
        self._canonical: dict[str, str] = {}

    def host_path(self, machine: str) -> str:
        return _host_path(self.host, machine)

    def to_machine(self, path: str) -> str:
        """Map a path as this machine sees it back to the inspected machine's view."""
        for prefix in self._prefixes:
            if path == prefix:
                return "/"
            if path.startswith(prefix + "/"):
                return _norm(path[len(prefix) :])
        return _norm(path)

    def walk(self, machine: str, *, follow_final: bool, strict: bool = False) -> _Walk:
        """Open the directory holding ``machine``'s last component, one component at a time.

        Each directory is opened relative to the previous one with O_NOFOLLOW, and a link's
        target is spliced into the remaining components (an absolute one restarts at the
        sysroot), so nothing outside the sysroot is ever reached. ``strict`` refuses any
        link on the way, for paths that were canonical when planned.
        """
        root_fd = os.open(self.host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stack = [root_fd]
        names: list[str] = []
        pending = deque(machine.split("/"))
        hops = 0
        try:
            while pending:
                comp = pending.popleft()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if names:
                        os.close(stack.pop())
                        names.pop()
                    continue
                last = all(c in ("", ".") for c in pending)
                try:
                    st = os.stat(comp, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    return _Walk(stack.pop(), names, [comp, *pending])
                if stat.S_ISLNK(st.st_mode) and (follow_final or not last):
                    if strict:
                        raise PersistenceError(
                            f"{machine} now goes through a symbolic link; it changed since the scan, scan again"
                        )
                    hops += 1
                    if hops > _MAX_HOPS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", machine)
                    target = os.readlink(comp, dir_fd=stack[-1])
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                        names.clear()
                    pending.extendleft(reversed(target.split("/")))
                    continue
                if last:
                    return _Walk(stack.pop(), names, [comp])
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", machine)
                stack.append(os.open(comp, _O_DIR, dir_fd=stack[-1]))
                names.append(comp)
            return _Walk(stack.pop(), names, [])
        finally:
            for fd in stack:
                os.close(fd)

    def canonical(self, machine: str) -> str:
        """``machine`` with links resolved under the sysroot; missing tails are kept as written."""
        machine = _norm(machine)
        cached = self._canonical.get(machine)
        if cached is not None:
            return cached
        try:
            w = self.walk(machine, follow_final=True)
        except OSError:
            result = machine
        else:
            os.close(w.fd)
            result = _norm("/".join(["", *w.parents, *w.rest]))
        self._canonical[machine] = result
        return result

    def read(self, machine: str) -> tuple[str, bytes]:
        """The canonical path and content of a regular file."""
        w = self.walk(machine, follow_final=True)
        try:
            if len(w.rest) != 1:
                raise FileNotFoundError(errno.ENOENT, "no such file", machine)
            canonical = _norm("/".join(["", *w.parents, w.rest[0]]))
            fd = os.open(w.rest[0], _O_READ, dir_fd=w.fd)
        finally:
            os.close(w.fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _NotRegular(canonical)
            if st.st_size > _READ_CAP:
                raise _TooLarge(errno.EFBIG, "file too large", machine)
            return canonical, _read_fd(fd)
        finally:
            os.close(fd)

    def listdir(self, machine: str) -> list[tuple[str, str]]:
        """(name, type) of a directory's entries; type is file, dir, link or other."""
        w = self.walk(machine, follow_final=True)
        try:
            if len(w.rest) > 1:
                raise FileNotFoundError(errno.ENOENT, "no such directory", machine)
            fd = os.open(w.rest[0], _O_DIR, dir_fd=w.fd) if w.rest else os.dup(w.fd)
        finally:
            os.close(w.fd)
        out: list[tuple[str, str]] = []
        try:
            with os.scandir(fd) as it:
                for entry in islice(it, _DIR_CAP):
                    if entry.is_symlink():
                        kind = "link"
                    elif entry.is_dir(follow_symlinks=False):
                        kind = "dir"
                    elif entry.is_file(follow_symlinks=False):
                        kind = "file"
                    else:
                        kind = "other"
                    out.append((entry.name, kind))
        finally:
            os.close(fd)
        return sorted(out)

    def readlink(self, machine: str) -> str:
        w = self.walk(machine, follow_final=False)
        try:
            if len(w.rest) != 1:
                raise FileNotFoundError(errno.ENOENT, "no such link", machine)
            return os.readlink(w.rest[0], dir_fd=w.fd)
        finally:
            os.close(w.fd)


def _read_fd(fd: int, start: int = 0) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.pread(fd, 1 << 16, start + total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > _READ_CAP:
            raise _TooLarge(errno.EFBIG, "file grew too large while being read")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _shorten(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- parsing


def _physical(data: bytes) -> list[bytes]:
    """Lines split on LF only (what cron, shells and systemd use), each keeping its newline."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _texts(data: bytes) -> list[str]:
    return [ln.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "surrogateescape") for ln in _physical(data)]


def _continues(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _logical(texts: list[str], continuation: bool) -> Iterator[tuple[tuple[int, ...], str]]:
    i = 0
    while i < len(texts):
        start = i
        parts = [texts[i]]
        while continuation and _continues(parts[-1]) and not parts[0].lstrip().startswith("#") and i + 1 < len(texts):
            parts[-1] = parts[-1][:-1]
            i += 1
            parts.append(texts[i])
        yield tuple(range(start + 1, i + 2)), " ".join(p.strip() for p in parts).strip()
        i += 1


_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_FORCED_COMMAND = re.compile(r'(?:^|,|\s)command="((?:[^"\\]|\\.)*)"')


def _cron_command(text: str, *, user_field: bool, anacron: bool) -> str:
    if _CRON_ENV.match(text):
        return ""
    fields = 3 if anacron else (1 if text.startswith("@") else 5)
    fields += 1 if user_field and not anacron else 0
    parts = text.split(None, fields)
    return parts[fields] if len(parts) > fields else ""


def parse_entries(location: PersistenceLocation, data: bytes) -> list[PersistenceEntry]:
    """Split a location's content into the logical lines that could run or load something.

    Blank lines, comments and section headers are not entries. Pure: works on ``data``.
    """
    texts = _texts(data)
    kind = location.kind
    entries: list[PersistenceEntry] = []

    def add(lines: tuple[int, ...], text: str, command: str = "", key: str = "") -> None:
        entries.append(PersistenceEntry(location, lines, text, command, key))

    match kind:
        case LocationKind.SYSTEM_CRONTAB | LocationKind.CRON_D | LocationKind.USER_CRONTAB:
            anacron = location.path.endswith("anacrontab")
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    user_field = kind is not LocationKind.USER_CRONTAB
                    add(lines, text, _cron_command(text, user_field=user_field, anacron=anacron))
        case LocationKind.CRON_SCRIPT | LocationKind.SHELL_RC | LocationKind.RC_LOCAL | LocationKind.INIT_SCRIPT:
            for lines, text in _logical(texts, continuation=True):
                if text and not text.startswith("#"):
                    add(lines, text, text)
        case LocationKind.SYSTEMD_UNIT | LocationKind.SYSTEMD_DROPIN | LocationKind.AUTOSTART:
            for lines, text in _logical(texts, continuation=kind is not LocationKind.AUTOSTART):
                if not text or text[0] in "#;[":
                    continue
                key, sep, value = text.partition("=")
                key, value = key.strip(), value.strip()
                if not sep:
                    add(lines, text)
                elif key in _EXEC_KEYS:
                    add(lines, text, value.lstrip("@-:+!|") if kind is not LocationKind.AUTOSTART else value, key)
                else:
                    add(lines, text, "", key)
        case LocationKind.LD_PRELOAD:
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    add(lines, text, text)
        case LocationKind.AUTHORIZED_KEYS:
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    forced = _FORCED_COMMAND.search(text)
                    add(lines, text, forced.group(1).replace('\\"', '"') if forced else "")
        case LocationKind.FAMILY_ARTIFACT:
            pass
        case _:
            assert_never(kind)
    return entries


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class _Home:
    user: str
    path: str


@dataclass
class _Parsed:
    location: PersistenceLocation
    data: bytes
    sha256: str
    entries: list[PersistenceEntry]


@dataclass(frozen=True)
class _Link:
    link: Symlink
    canonical: str
    """Where it resolves to under the sysroot."""
    dependency: bool
    """It lives in a ``*.wants``/``*.requires`` directory."""
    user_manager: bool
    owner: str | None


class _Inventory:
    """Every persistence location under a sysroot, read and parsed."""

    def __init__(self, root: _Root) -> None:
        self.root = root
        self.files: dict[str, _Parsed] = {}
        self.skipped: list[Skipped] = []
        self.unit_links: list[_Link] = []
        self.rc_links: list[_Link] = []
        self.homes = self._homes()
        self._collect()

    # -- homes

    def _homes(self) -> list[_Home]:
        candidates: list[tuple[str, str]] = []
        try:
            _, passwd = self.root.read("/etc/passwd")
        except OSError:
            passwd = b""
        for line in passwd.decode("utf-8", "surrogateescape").splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and fields[0] and fields[5].startswith("/"):
                candidates.append((fields[0], fields[5]))
        candidates.append(("root", "/root"))
        with contextlib.suppress(OSError):
            candidates.extend((name, f"/home/{name}") for name, kind in self.root.listdir("/home") if kind == "dir")
        homes: list[_Home] = []
        seen: set[str] = set()
        for user, path in candidates:
            canonical = self.root.canonical(path)
            if canonical in seen or canonical == "/":
                continue
            try:
                self.root.listdir(canonical)
            except OSError:
                continue
            seen.add(canonical)
            homes.append(_Home(user, canonical))
        return homes

    def home_of(self, user: str | None) -> str | None:
        for home in self.homes:
            if home.user == user:
                return home.path
        return None

    # -- reading

    def _skip(self, machine: str, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            return
        if isinstance(exc, _NotRegular):
            if exc.canonical == "/dev/null":  # a masked unit
                return
            reason = SkipReason.SPECIAL_FILE
        elif isinstance(exc, _TooLarge):
            reason = SkipReason.TOO_LARGE
        elif isinstance(exc, PermissionError):
            reason = SkipReason.PERMISSION_DENIED
        elif exc.errno == errno.ELOOP:
            reason = SkipReason.SYMLINK_LOOP
        else:
            reason = SkipReason.READ_ERROR
        self.skipped.append(Skipped(self.root.host_path(machine), reason, exc.strerror or str(exc)))

    def add(
        self,
        kind: LocationKind,
        machine: str,
        owner: str | None = None,
        *,
        unit: str | None = None,
        user_manager: bool = False,
    ) -> _Parsed | None:
        try:
            canonical, data = self.root.read(machine)
        except OSError as exc:
            self._skip(machine, exc)
            return None
        if canonical in self.files:
            return self.files[canonical]
        if kind is LocationKind.SYSTEMD_UNIT:
            unit = posixpath.basename(canonical)
        location = PersistenceLocation(kind, canonical, self.root.host, owner, unit, user_manager)
        parsed = _Parsed(location, data, _sha256(data), parse_entries(location, data))
        self.files[canonical] = parsed
        return parsed

    def _list(self, machine: str) -> list[tuple[str, str]]:
        try:
            return self.root.listdir(machine)
        except OSError as exc:
            self._skip(machine, exc)
            return []

    def _add_dir(self, kind: LocationKind, directory: str, owner: str | None = None, suffix: str = "") -> None:
        for name, typ in self._list(directory):
            if typ != "dir" and name.endswith(suffix):
                self.add(kind, f"{directory}/{name}", owner)

    def _link(self, path: str, *, dependency: bool, user_manager: bool, owner: str | None) -> _Link | None:
        try:
            target = self.root.readlink(path)
        except OSError:
            return None
        return _Link(Symlink(path, target), self.root.canonical(path), dependency, user_manager, owner)

    def _add_units(self, directory: str, owner: str | None, user_manager: bool, depth: int = 0) -> None:
        for name, typ in self._list(directory):
            path = f"{directory}/{name}"
            if typ == "dir" and depth < 3:
                if name.endswith(".d"):
                    for conf, ctyp in self._list(path):
                        if ctyp in ("file", "link") and conf.endswith(".conf"):
                            self.add(
                                LocationKind.SYSTEMD_DROPIN,
                                f"{path}/{conf}",
                                owner,
                                unit=name[:-2],
                                user_manager=user_manager,
                            )
                elif name.endswith(_DEPENDENCY_DIRS):
                    for dep, dtyp in self._list(path):
                        if dtyp == "link":
                            link = self._link(f"{path}/{dep}", dependency=True, user_manager=user_manager, owner=owner)
                            if link:
                                self.unit_links.append(link)
                        elif dtyp == "file" and dep.endswith(_UNIT_SUFFIXES):
                            self.add(LocationKind.SYSTEMD_UNIT, f"{path}/{dep}", owner, user_manager=user_manager)
                else:
                    self._add_units(path, owner, user_manager, depth + 1)
            elif typ in ("file", "link") and name.endswith(_UNIT_SUFFIXES):
                if typ == "link":
                    link = self._link(path, dependency=False, user_manager=user_manager, owner=owner)
                    if link:
                        self.unit_links.append(link)
                self.add(LocationKind.SYSTEMD_UNIT, path, owner, user_manager=user_manager)

    def _collect(self) -> None:
        K = LocationKind
        for path in ("/etc/crontab", "/etc/anacrontab"):
            self.add(K.SYSTEM_CRONTAB, path)
        self._add_dir(K.CRON_D, "/etc/cron.d")
        for period in ("hourly", "daily", "weekly", "monthly"):
            self._add_dir(K.CRON_SCRIPT, f"/etc/cron.{period}")
        for spool in ("/var/spool/cron/crontabs", "/var/spool/cron", "/var/spool/cron/tabs"):
            for name, typ in self._list(spool):
                if typ != "dir":
                    self.add(K.USER_CRONTAB, f"{spool}/{name}", name)
        for directory in (
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/local/lib/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ):
            self._add_units(directory, None, False)
        for directory in ("/etc/systemd/user", "/usr/lib/systemd/user"):
            self._add_units(directory, None, True)
        self._add_dir(K.AUTOSTART, "/etc/xdg/autostart", suffix=".desktop")
        for path in _SYSTEM_RC:
            self.add(K.SHELL_RC, path)
        self._add_dir(K.SHELL_RC, "/etc/profile.d")
        self._add_dir(K.SHELL_RC, "/etc/zsh")
        self.add(K.LD_PRELOAD, "/etc/ld.so.preload")
        for path in ("/etc/rc.local", "/etc/rc.d/rc.local"):
            self.add(K.RC_LOCAL, path)
        for directory in ("/etc/init.d", "/etc/rc.d/init.d"):
            self._add_dir(K.INIT_SCRIPT, directory)
        for level in "0123456S":
            for directory in (f"/etc/rc{level}.d", f"/etc/rc.d/rc{level}.d"):
                for name, typ in self._list(directory):
                    if typ != "link":
                        continue
                    link = self._link(f"{directory}/{name}", dependency=True, user_manager=False, owner=None)
                    if link:
                        self.rc_links.append(link)
        for home in self.homes:
            for directory in (f"{home.path}/.config/systemd/user", f"{home.path}/.local/share/systemd/user"):
                self._add_units(directory, home.user, True)
            self._add_dir(K.AUTOSTART, f"{home.path}/.config/autostart", home.user, ".desktop")
            for name in _HOME_RC:
                self.add(K.SHELL_RC, f"{home.path}/{name}", home.user)
            for name in ("authorized_keys", "authorized_keys2"):
                self.add(K.AUTHORIZED_KEYS, f"{home.path}/.ssh/{name}", home.user)


def list_locations(sysroot: str | os.PathLike[str]) -> tuple[list[PersistenceLocation], list[Skipped]]:
    """Every persistence location that exists under ``sysroot``, and those that could not be read."""
    inventory = _Inventory(_Root(sysroot))
    return [p.location for p in inventory.files.values()], list(inventory.skipped)


def classify_paths(sysroot: str | os.PathLike[str], paths: Iterable[str]) -> dict[str, PersistenceLocation]:
    """Which of ``paths`` (as the scanner saw them) are persistence locations.

    Remediation asks this before quarantining a detected file: a detected crontab or
    ``.bashrc`` must lose lines (``find_persistence`` case b), not disappear whole.
    """
    root = _Root(sysroot)
    inventory = _Inventory(root)
    out: dict[str, PersistenceLocation] = {}
    for path in paths:
        parsed = inventory.files.get(root.canonical(root.to_machine(path)))
        if parsed is not None:
            out[path] = parsed.location
    return out


# --------------------------------------------------------------------------- matching

_PATH_RE = re.compile(r"(?<![^\s'\"`=:;|&(<>,])(/[^\s'\"`;|&<>(),:$]+)")
"""Absolute paths anywhere in a line: quoted, after ``=``, inside ``sh -c '...'``, in PATH lists."""
_HOME_RE = re.compile(r"\$\{HOME\}|\$HOME\b|(?<![^\s'\"=:])~(?=/)")
_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", ";;", "`"})
_KEYWORDS = frozenset({"if", "then", "elif", "else", "do", "while", "until", "!", "{", "}", "fi", "done", "time"})
"""Shell words after which a command follows."""
_WRAPPERS = frozenset(
    {
        "nohup",
        "exec",
        "setsid",
        "nice",
        "ionice",
        "sudo",
        "doas",
        "env",
        "command",
        "builtin",
        "timeout",
        "xargs",
        "stdbuf",
        "chrt",
        "taskset",
        "flock",
        "watch",
        "runuser",
        "setpriv",
        "unbuffer",
    }
)
"""Programs that run the command given after their own options (and, for a few, one argument)."""
_WRAPPER_ARGS = {"timeout": 1, "flock": 1, "taskset": 1, "chrt": 1}
"""Wrappers that take positional arguments before the command (a duration, a lock file, ...)."""
_WRAPPER_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "sudo": frozenset({"-u", "-g", "-C", "-h", "-p", "-U", "-D", "-R", "-T"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S"}),
    "timeout": frozenset({"-s", "-k"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "flock": frozenset({"-w", "-E"}),
    "watch": frozenset({"-n"}),
    "runuser": frozenset({"-u", "-g", "-G"}),
    "exec": frozenset({"-a"}),
    "xargs": frozenset({"-I", "-n", "-P", "-d", "-s", "-L", "-a", "-E"}),
}
"""Wrapper options whose value is the next word (``nice -n 5``, ``sudo -u bob``, ``timeout -s KILL``)."""
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "yash", "fish"})
_INTERPRETER = re.compile(
    r"(?:python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|php[0-9.]*(?:-cli)?|node|nodejs|ruby[0-9.]*|lua[0-9.]*|luajit|"
    r"tclsh[0-9.]*|wish|pwsh|awk|gawk|mawk|source|\.)\Z"
)
"""Programs whose first operand is a script they run (or, for ``.`` and ``source``, read into the shell)."""
_CODE_OPTIONS = frozenset({"-c", "-m", "-e", "-E", "-r", "--eval", "--command"})
"""Interpreter options after which code or a module name follows, not a script file."""
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "tftp", "aria2c", "scp", "rsync"})
"""Programs that write a downloaded file: a detected path among their arguments re-installs it."""
_LOADER_VARIABLES = frozenset({"LD_PRELOAD", "LD_AUDIT", "BASH_ENV", "ENV", "SHELL", "PROMPT_COMMAND"})
"""Variables whose value a program loads or runs: a detected path there counts as running it."""
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _expand_home(text: str, home: str | None, unit_home: bool = False) -> str:
    if home is None:
        return text
    text = _HOME_RE.sub(lambda _m: home, text)
    return text.replace("%h", home) if unit_home else text


def _shell_words(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return command.split()


def _split_commands(words: list[str]) -> Iterator[list[str]]:
    """Simple commands of a word list: split at separators, redirections and their targets dropped."""
    current: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word and all(c in ";&|()<>`" for c in word):
            if word in _SEPARATORS:
                if current:
                    yield current
                current = []
            else:  # a redirection: drop it, its target, and a file descriptor number before it
                if current and current[-1].isdigit():
                    current.pop()
                skip_next = True
            continue
        current.append(word)
    if current:
        yield current


def _resolve(word: str, cwd: str | None, bare_ok: bool) -> tuple[str, bool] | None:
    """(path, is_bare_name) for a word naming a file, or None when it cannot be placed."""
    if word.startswith("/"):
        return word, False
    if "/" not in word and bare_ok:
        return word, True
    if cwd is not None and word and not word.startswith("$"):
        return _norm(f"{cwd}/{word}"), False
    return None


def _loaded_values(word: str) -> Iterator[str]:
    """Paths in the value of an assignment to a variable a program loads or runs (``LD_PRELOAD=...``)."""
    name, _, value = word.partition("=")
    if name in _LOADER_VARIABLES:
        yield from (v for v in re.split(r"[\s:]+", value) if v.startswith("/"))


def _executed_words(command: str, cwd: str | None, depth: int = 0) -> Iterator[tuple[str, bool]]:
    """(path, is_bare_command_name) for each file ``command`` would run, source or load.

    That is: each simple command's command word, through wrappers (``nohup``, ``env``,
    ``timeout 10``, ``sudo -u x``, ...); the script operand of a shell or interpreter; the
    code of ``sh -c``, ``eval``, ``$(...)`` (a few levels deep); values of ``LD_PRELOAD``-like
    assignments; and a path a downloader writes. A path that is only an argument (``rm``,
    ``echo``, ``--exclude``) is not run. Relative paths are resolved against ``cwd`` (the
    owner's home, or a preceding ``cd``).
    """
    for words in _split_commands(_shell_words(command)):
        if depth < 3:
            for word in words:
                for m in _SUBSTITUTION.finditer(word):
                    yield from _executed_words(m.group(1) or m.group(2) or "", cwd, depth + 1)
        cwd = yield from _executed_simple(words, cwd, depth)


def _executed_simple(words: list[str], cwd: str | None, depth: int) -> Generator[tuple[str, bool], None, str | None]:
    """``_executed_words`` for one simple command; returns the working directory after it (``cd``)."""
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word):
            for value in _loaded_values(word):
                yield value, False
            i += 1
        elif word in _KEYWORDS:
            i += 1
        else:
            break
    if i >= len(words):
        return cwd
    head, rest = words[i], words[i + 1 :]
    name = posixpath.basename(head)
    if name == "cd":
        target = rest[0] if rest else None
        if target is not None and target.startswith("/"):
            return _norm(target)
        return _norm(f"{cwd}/{target}") if target is not None and cwd is not None else cwd
    placed = _resolve(head, cwd, bare_ok=True)
    if placed is not None:
        yield placed
    if name == "busybox" and rest:
        yield from _executed_simple(rest, cwd, depth)
    elif name == "command" and any(w in ("-v", "-V") for w in rest[:2]):
        pass  # prints what would run; runs nothing
    elif name in _WRAPPERS:
        j = 0
        while j < len(rest) and (rest[j].startswith("-") or (name == "env" and _ASSIGNMENT.match(rest[j]))):
            if name == "env":
                for value in _loaded_values(rest[j]):
                    yield value, False
            if rest[j] == "--":
                j += 1
                break
            j += 2 if rest[j] in _WRAPPER_VALUE_OPTIONS.get(name, ()) else 1
        j += _WRAPPER_ARGS.get(name, 0)
        if j < len(rest):
            yield from _executed_simple(rest[j:], cwd, depth)
    elif name in ("eval", "su") or name in _SHELLS:
        if name == "eval":
            code: str | None = " ".join(rest)
        elif name == "su":  # su [-] [user] -c CODE: the option may follow the user name
            code = next((rest[k + 1] for k in range(len(rest) - 1) if rest[k] in ("-c", "--command")), None)
        else:
            code = _code_argument(rest)
        if code is not None:
            if depth < 3:
                yield from _executed_words(code, cwd, depth + 1)
        elif name in _SHELLS:
            yield from _script_operand(rest, cwd)
    elif _INTERPRETER.match(name):
        yield from _script_operand(rest, cwd)
    elif name in _DOWNLOADERS:
        for word in rest:
            value = word.partition("=")[2] if word.startswith("--") else word
            value = value.removeprefix("file://")
            if word.startswith("-") and not word.startswith("--") and len(word) > 2:
                value = word[2:]  # -O/tmp/x
            if value.startswith("/"):
                yield value, False
    return cwd


def _code_argument(rest: list[str]) -> str | None:
    """The code string of ``sh -c CODE`` (``-c`` alone or among other letters, ``-ec``), else None."""
    for j, word in enumerate(rest):
        if not word.startswith("-"):
            return None
        if not word.startswith("--") and "c" in word[1:]:
            return rest[j + 1] if j + 1 < len(rest) else None
    return None


def _script_operand(rest: list[str], cwd: str | None) -> Iterator[tuple[str, bool]]:
    """The script a shell or interpreter runs: its first operand, unless code is given inline."""
    for word in rest:
        if word in _CODE_OPTIONS:
            return
        if word.startswith("-"):
            continue
        placed = _resolve(word, cwd, bare_ok=False)
        if placed is not None:
            yield placed
        return


class _Matcher:
    """Decides whether a line runs a detected file or carries a family marker."""

    def __init__(
        self,
        root: _Root,
        detected: Mapping[str, str | None],
        markers: Mapping[str, Sequence[str]],
    ) -> None:
        self.root = root
        self.paths: dict[str, tuple[str, str | None]] = {}
        self.names: dict[str, tuple[str, str | None]] = {}
        path_dirs = {root.canonical(d) for d in _PATH_DIRS} | set(_PATH_DIRS)
        for machine, family in detected.items():
            for form in (machine, root.canonical(machine)):
                self.paths.setdefault(form, (machine, family))
                if posixpath.dirname(form) in path_dirs:
                    self.names.setdefault(posixpath.basename(form), (machine, family))
        self.markers = [
            (m.lower(), m, family) for family, ms in markers.items() for m in ms if len(m.strip()) >= _MIN_MARKER
        ]

    def _lookup(self, candidate: str) -> tuple[str, str | None] | None:
        candidate = _norm(candidate)
        return self.paths.get(candidate) or self.paths.get(self.root.canonical(candidate))

    def match(self, entry: PersistenceEntry, home: str | None, mentions: list[Mention] | None = None) -> list[Match]:
        """The evidence in ``entry``. A detected path the line names without running it (an argument
        of ``rm`` or ``echo``, an ``--exclude``) is no evidence: it goes to ``mentions`` instead."""
        unit_home = entry.location.user_manager and entry.location.kind in (
            LocationKind.SYSTEMD_UNIT,
            LocationKind.SYSTEMD_DROPIN,
        )
        text = _expand_home(entry.text, home, unit_home)
        found: dict[str, str | None] = {}
        if self.paths:
            for word, bare in self._run_by(entry, home, unit_home):
                hit = self.names.get(word) if bare else self._lookup(word)
                if hit:
                    found.setdefault(*hit)
        excerpt = _shorten(entry.text)
        matches = [
            Match(Reason.RUNS_DETECTED_FILE, path, family, entry.lines, excerpt=excerpt)
            for path, family in found.items()
        ]
        if self.paths and mentions is not None and not found:
            named: dict[str, str | None] = {}
            for m in _PATH_RE.finditer(text):
                if not m.group(1).startswith("//"):
                    hit = self._lookup(m.group(1))
                    if hit:
                        named.setdefault(*hit)
            mentions.extend(Mention(entry.location, entry.lines, path, excerpt) for path in named)
        lowered = entry.text.lower()
        matches.extend(
            Match(Reason.FAMILY_MARKER, marker, family, entry.lines, excerpt=excerpt)
            for low, marker, family in self.markers
            if low in lowered
        )
        return matches

    @staticmethod
    def _run_by(entry: PersistenceEntry, home: str | None, unit_home: bool) -> Iterator[tuple[str, bool]]:
        """The files ``entry`` runs or loads, as ``_executed_words`` gives them."""
        if entry.location.kind is LocationKind.LD_PRELOAD:  # every entry of the list is loaded
            yield from ((w, False) for w in re.split(r"[\s:]+", entry.text) if w.startswith("/"))
        elif entry.command:
            yield from _executed_words(_expand_home(entry.command, home, unit_home), home)
        else:  # a setting, not a command: only a variable whose value is loaded or run counts
            for word in _shell_words(_expand_home(entry.text, home, unit_home)):
                for part in (word, word.partition("=")[2]):  # Environment=LD_PRELOAD=/x
                    if _ASSIGNMENT.match(part):
                        yield from ((v, False) for v in _loaded_values(part))


def _glob(root: _Root, pattern: str, homes: Sequence[_Home]) -> list[str]:
    """Expand a family path pattern under the sysroot; ``~/`` means every home."""
    if pattern.startswith("~/"):
        bases = [h.path + pattern[1:] for h in homes]
    elif pattern.startswith("/"):
        bases = [pattern]
    else:
        return []
    out: list[str] = []
    for base in bases:
        current = ["/"]
        for comp in (c for c in base.split("/") if c):
            if not any(ch in comp for ch in "*?["):
                current = [posixpath.join(d, comp) for d in current]
                continue
            expanded: list[str] = []
            for directory in current:
                with contextlib.suppress(OSError):
                    expanded.extend(
                        posixpath.join(directory, name)
                        for name, _ in root.listdir(directory)
                        if fnmatch.fnmatchcase(name, comp) and (comp.startswith(".") or not name.startswith("."))
                    )
            current = expanded[:_DIR_CAP]
        out.extend(current)
    return out


def _offsets_to_lines(data: bytes, offsets: Iterable[int]) -> list[int]:
    starts = [0]
    for ln in _physical(data)[:-1]:
        starts.append(starts[-1] + len(ln))
    return sorted({bisect_right(starts, off) for off in offsets if 0 <= off < len(data)})


# --------------------------------------------------------------------------- findings

_TRIVIAL_SCRIPT_LINE = re.compile(r"^(exit(\s+\d+)?|true|:|set\s+[-+]\w+)$")


def _residue(parsed: _Parsed, removed: set[int]) -> bool:
    """Whether anything that does real work would be left after removing ``removed``."""
    for entry in parsed.entries:
        if set(entry.lines) <= removed:
            continue
        if parsed.location.kind is LocationKind.CRON_D:
            if entry.command:
                return True
        elif not _TRIVIAL_SCRIPT_LINE.match(entry.text):
            return True
    return False


def _decide(parsed: _Parsed, matches: Sequence[Match]) -> tuple[Removal, tuple[int, ...]]:
    kind = parsed.location.kind
    lines = tuple(sorted({n for m in matches for n in m.lines}))
    whole = any(m.whole_file for m in matches)
    if kind not in _DELETABLE:
        return (Removal.LINES, lines) if lines else (Removal.NONE, ())
    if not lines and not whole:
        return Removal.NONE, ()
    if whole or kind in (LocationKind.AUTOSTART, LocationKind.FAMILY_ARTIFACT):
        return Removal.FILE, ()
    if kind in (LocationKind.SYSTEMD_UNIT, LocationKind.SYSTEMD_DROPIN):
        hit = set(lines)
        if any(set(e.lines) & hit and e.key not in _AUX_EXEC_KEYS for e in parsed.entries):
            return Removal.FILE, ()  # the main command or the unit's own settings are the family's
        return Removal.LINES, lines
    return (Removal.LINES, lines) if _residue(parsed, set(lines)) else (Removal.FILE, ())


def _expand_to_entries(parsed: _Parsed, lines: Iterable[int]) -> tuple[int, ...]:
    wanted = set(lines)
    for entry in parsed.entries:
        if wanted & set(entry.lines):
            wanted |= set(entry.lines)
    return tuple(sorted(wanted))


def _unit_links(inventory: _Inventory, location: PersistenceLocation) -> tuple[Symlink, ...]:
    out: list[Symlink] = []
    for link in inventory.unit_links:
        same_scope = link.user_manager == location.user_manager and (
            location.owner is None or link.owner == location.owner
        )
        by_name = link.dependency and same_scope and posixpath.basename(link.link.path) == location.unit
        if link.canonical == location.path or by_name:
            out.append(link.link)
    return tuple(out)


def _rc_links(inventory: _Inventory, location: PersistenceLocation) -> tuple[Symlink, ...]:
    return tuple(link.link for link in inventory.rc_links if link.canonical == location.path)


def _detected_map(root: _Root, detected: Collection[str] | Mapping[str, str]) -> dict[str, str | None]:
    families: Mapping[str, str] = detected if isinstance(detected, Mapping) else {}
    out: dict[str, str | None] = {}
    for path in detected:
        clean = path.removesuffix(" (deleted)")  # how the kernel names a running, deleted image
        out[root.to_machine(clean)] = families.get(path)
    return out


def find_persistence(
    sysroot: str | os.PathLike[str],
    detected_paths: Collection[str] | Mapping[str, str],
    markers: Mapping[str, Sequence[str]] | None = None,
    family_paths: Mapping[str, Sequence[str]] | None = None,
    detected_config_files: Mapping[str, ConfigHit] | None = None,
) -> PersistenceResult:
    """Find the persistence a scan's detections point to, under ``sysroot``. Reads only.

    ``detected_paths`` are the detected files as the scanner saw them (under the sysroot,
    or as paths of the inspected machine); a mapping gives each one's family. ``markers``
    and ``family_paths`` come from the family data (substrings; path patterns with ``*``,
    ``?``, ``[...]`` per component and ``~/`` for every home). ``detected_config_files``
    are rule hits inside configuration files, keyed like ``detected_paths``; a detected
    path that turns out to be a persistence location is treated as one of them.
    """
    root = _Root(sysroot)
    inventory = _Inventory(root)
    detected = _detected_map(root, detected_paths)
    config_hits: dict[str, ConfigHit] = {}
    for path, hit in (detected_config_files or {}).items():
        config_hits[root.canonical(root.to_machine(path))] = hit
    targets: dict[str, str | None] = {}
    for machine, family in detected.items():
        canonical = root.canonical(machine)
        if canonical in inventory.files:
            # Sourcing or mentioning a detected .bashrc is not itself malicious: the
            # file is cleaned line by line below instead.
            config_hits.setdefault(canonical, ConfigHit(family or "unknown", sha256=None))
        else:
            targets[machine] = family
    matcher = _Matcher(root, targets, markers or {})
    extra: dict[str, list[Match]] = {}

    for family, patterns in (family_paths or {}).items():
        for pattern in patterns:
            for machine in _glob(root, pattern, inventory.homes):
                canonical = root.canonical(machine)
                if canonical not in inventory.files:
                    if canonical in matcher.paths:
                        continue  # a detected file: the vault removes it
                    try:
                        _, data = root.read(machine)
                    except OSError:
                        continue
                    location = PersistenceLocation(LocationKind.FAMILY_ARTIFACT, canonical, root.host)
                    inventory.files[canonical] = _Parsed(location, data, _sha256(data), [])
                extra.setdefault(canonical, []).append(
                    Match(Reason.FAMILY_PATH, pattern, family, whole_file=True, excerpt=canonical)
                )

    for canonical, hit in config_hits.items():
        parsed = inventory.files.get(canonical)
        if parsed is None:
            continue
        evidence = hit.rule or hit.family
        if hit.sha256 is not None and hit.sha256 != parsed.sha256:
            # Offsets into older content would point at the wrong lines.
            extra.setdefault(canonical, []).append(
                Match(Reason.RULE_HIT, evidence, hit.family, excerpt="file changed since it was scanned")
            )
            continue
        hit_lines = _offsets_to_lines(parsed.data, hit.offsets)
        if hit_lines:
            excerpt = _shorten(_texts(parsed.data)[hit_lines[0] - 1])
            match = Match(Reason.RULE_HIT, evidence, hit.family, _expand_to_entries(parsed, hit_lines), excerpt=excerpt)
        elif hit.offsets:
            match = Match(Reason.RULE_HIT, evidence, hit.family, excerpt="rule matched beyond the end of the file")
        else:
            match = Match(
                Reason.RULE_HIT, evidence, hit.family, whole_file=True, excerpt="rule matched; offsets unknown"
            )
        extra.setdefault(canonical, []).append(match)

    found: dict[str, tuple[_Parsed, list[Match]]] = {}
    mentions: list[Mention] = []
    for canonical, parsed in inventory.files.items():
        home = inventory.home_of(parsed.location.owner)
        matches = [m for entry in parsed.entries for m in matcher.match(entry, home, mentions)]
        matches.extend(extra.get(canonical, ()))
        if matches:
            found[canonical] = (parsed, matches)

    decisions = {c: _decide(p, ms) for c, (p, ms) in found.items()}
    _add_triggers(inventory, found, decisions)

    findings: list[PersistenceFinding] = []
    for canonical, (parsed, matches) in sorted(found.items()):
        removal, lines = decisions[canonical]
        location = parsed.location
        links: tuple[Symlink, ...] = ()
        removed_text: tuple[str, ...] = ()
        if removal is Removal.FILE and location.kind is LocationKind.SYSTEMD_UNIT:
            links = _unit_links(inventory, location)
        elif removal is Removal.FILE and location.kind is LocationKind.INIT_SCRIPT:
            links = _rc_links(inventory, location)
        elif removal is Removal.LINES:
            texts = _texts(parsed.data)
            removed_text = tuple(texts[n - 1] for n in lines if n <= len(texts))
        findings.append(
            PersistenceFinding(location, tuple(matches), parsed.sha256, removal, lines, removed_text, links)
        )
    kept = [m for m in mentions if decisions.get(m.location.path, (Removal.NONE, ()))[0] is not Removal.FILE]
    return PersistenceResult(
        tuple(findings),
        tuple(inventory.skipped),
        len(inventory.files),
        tuple(sorted(kept, key=lambda m: (m.location.path, m.lines))),
    )


def _add_triggers(
    inventory: _Inventory,
    found: dict[str, tuple[_Parsed, list[Match]]],
    decisions: dict[str, tuple[Removal, tuple[int, ...]]],
) -> None:
    """Timers, path and socket units that only start a service being removed go with it."""
    removed: dict[tuple[bool, str | None, str], str | None] = {}
    for canonical, (parsed, matches) in found.items():
        loc = parsed.location
        if loc.kind is LocationKind.SYSTEMD_UNIT and decisions[canonical][0] is Removal.FILE and loc.unit:
            removed[(loc.user_manager, loc.owner, loc.unit)] = next((m.family for m in matches if m.family), None)
    if not removed:
        return
    for canonical, parsed in inventory.files.items():
        loc = parsed.location
        if loc.kind is not LocationKind.SYSTEMD_UNIT or not loc.unit:
            continue
        stem, suffix = posixpath.splitext(loc.unit)
        if suffix not in (".timer", ".path", ".socket"):
            continue
        explicit = [e.text.partition("=")[2].strip() for e in parsed.entries if e.key == "Unit"]
        service = explicit[-1] if explicit else f"{stem}.service"
        key = (loc.user_manager, loc.owner, service)
        if key not in removed or (canonical in decisions and decisions[canonical][0] is Removal.FILE):
            continue
        match = Match(Reason.TRIGGERS_UNIT, service, removed[key], whole_file=True, excerpt=loc.unit)
        entry = found.setdefault(canonical, (parsed, []))
        entry[1].append(match)
        decisions[canonical] = (Removal.FILE, ())


# --------------------------------------------------------------------------- planning


def _reload_for(location: PersistenceLocation) -> SystemdReload | None:
    if location.kind not in (LocationKind.SYSTEMD_UNIT, LocationKind.SYSTEMD_DROPIN):
        return None
    return SystemdReload(location.user_manager, location.owner if location.user_manager else None)


def plan_cleanup(findings: Iterable[PersistenceFinding]) -> list[PersistenceAction]:
    """The actions that clean ``findings``, in the order to apply them. Pure.

    Findings whose removal is ``Removal.NONE`` produce no action; report them for review.
    """
    actions: list[PersistenceAction] = []
    seen: set[tuple[str, str]] = set()
    for finding in sorted(findings, key=lambda f: (f.location.sysroot, f.location.path)):
        loc = finding.location
        if (loc.sysroot, loc.path) in seen:
            continue
        seen.add((loc.sysroot, loc.path))
        match finding.removal:
            case Removal.NONE:
                continue
            case Removal.LINES:
                if loc.kind is LocationKind.LD_PRELOAD:
                    actions.append(
                        RemovePreloadEntry(loc.sysroot, loc.path, finding.sha256, finding.lines, finding.removed_text)
                    )
                else:
                    actions.append(
                        RemoveLines(
                            loc.sysroot,
                            loc.path,
                            finding.sha256,
                            finding.lines,
                            finding.removed_text,
                            _reload_for(loc),
                        )
                    )
            case Removal.FILE:
                reload = _reload_for(loc)
                if loc.kind is LocationKind.SYSTEMD_UNIT and reload is not None:
                    actions.append(DisableUnit(loc.sysroot, loc.path, loc.unit or "", finding.links, reload))
                    actions.append(DeleteFile(loc.sysroot, loc.path, finding.sha256, loc.kind, (), reload))
                else:
                    actions.append(DeleteFile(loc.sysroot, loc.path, finding.sha256, loc.kind, finding.links, reload))
            case _:
                assert_never(finding.removal)
    return actions


# --------------------------------------------------------------------------- applying


@contextlib.contextmanager
def _open_planned(root: _Root, machine: str) -> Iterator[tuple[int, str, int, os.stat_result]]:
    """(directory fd, name, file fd, stat) of a planned file, refusing any link on the way."""
    w = root.walk(machine, follow_final=False, strict=True)
    try:
        if len(w.rest) != 1:
            raise FileNotFoundError(errno.ENOENT, "no such file", machine)
        fd = os.open(w.rest[0], _O_READ, dir_fd=w.fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise PersistenceError(f"{machine} is no longer a regular file; scan again")
            yield w.fd, w.rest[0], fd, st
        finally:
            os.close(fd)
    finally:
        os.close(w.fd)


def _same_file(dir_fd: int, name: str, st: os.stat_result) -> bool:
    now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) and stat.S_ISREG(now.st_mode)


def _without_lines(data: bytes, lines: Iterable[int]) -> bytes:
    physical = _physical(data)
    drop = set(lines)
    if not drop or max(drop) > len(physical) or min(drop) < 1:
        raise ValueError("line numbers do not fit the file")
    return b"".join(ln for i, ln in enumerate(physical, 1) if i not in drop)


def _replace(dir_fd: int, name: str, content: bytes, src_fd: int, st: os.stat_result) -> None:
    """Atomically replace ``name`` with ``content``, keeping owner, mode and extended attributes.

    Times are not kept on purpose: cron reloads a crontab when its mtime changes, and the
    content did change. The temporary name starts with a dot and has a suffix that cron,
    run-parts and systemd all ignore, so it is never run while it exists.
    """
    tmp = f".{name}.{secrets.token_hex(6)}.scanner-tmp"
    tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(tfd, view) :]
            for attr in _listxattr(src_fd):
                with contextlib.suppress(OSError):
                    os.setxattr(tfd, attr, os.getxattr(src_fd, attr))
            try:
                os.fchown(tfd, st.st_uid, st.st_gid)
            except PermissionError:
                if st.st_uid != os.geteuid():
                    raise
            os.fchmod(tfd, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits
            os.fsync(tfd)
        finally:
            os.close(tfd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)


def _listxattr(fd: int) -> list[str]:
    try:
        return os.listxattr(fd)
    except OSError:
        return []


def _remove_links(root: _Root, links: Iterable[Symlink]) -> tuple[list[Symlink], list[str]]:
    removed: list[Symlink] = []
    problems: list[str] = []
    for link in links:
        try:
            w = root.walk(link.path, follow_final=False, strict=True)
        except FileNotFoundError:
            continue
        except (OSError, PersistenceError) as exc:
            problems.append(f"{link.path}: {exc}")
            continue
        try:
            if len(w.rest) != 1:
                continue
            try:
                target = os.readlink(w.rest[0], dir_fd=w.fd)
            except FileNotFoundError:
                continue
            except OSError:
                problems.append(f"{link.path} is no longer a link; left alone")
                continue
            if target != link.target:
                problems.append(f"{link.path} now points to {target}; left alone")
                continue
            os.unlink(w.rest[0], dir_fd=w.fd)
            os.fsync(w.fd)
            removed.append(link)
        except OSError as exc:
            problems.append(f"{link.path}: {exc.strerror or exc}")
        finally:
            os.close(w.fd)
    return removed, problems


def restore_links(sysroot: str | os.PathLike[str], links: Iterable[Symlink]) -> list[str]:
    """Recreate links an action removed (the undo of ``removed_links``); returns problems."""
    root = _Root(sysroot)
    problems: list[str] = []
    for link in links:
        try:
            w = root.walk(link.path, follow_final=False, strict=True)
        except (OSError, PersistenceError) as exc:
            problems.append(f"{link.path}: {exc}")
            continue
        try:
            if len(w.rest) != 1:
                problems.append(f"{link.path}: its directory is gone")
                continue
            try:
                os.symlink(link.target, w.rest[0], dir_fd=w.fd)
            except FileExistsError:
                if os.readlink(w.rest[0], dir_fd=w.fd) != link.target:
                    problems.append(f"{link.path} exists and points elsewhere; left alone")
        except OSError as exc:
            problems.append(f"{link.path}: {exc.strerror or exc}")
        finally:
            os.close(w.fd)
    return problems


def apply_action(
    action: PersistenceAction,
    backup: Callable[[str], str],
    now: Callable[[], datetime],
) -> PersistenceOutcome:
    """Carry out one planned action; problems come back as the outcome's status, not raised.

    ``backup(path)`` is the vault's backup of a file by its path on this machine; it is
    called before any change and returns the backup id. A file whose SHA-256 is no longer
    the planned one is refused. Nothing here runs systemctl: the outcome says which
    manager to reload and which unit to stop.
    """
    try:
        root = _Root(action.sysroot)
    except PersistenceError as exc:
        return _outcome(action, now, OutcomeStatus.FAILED, str(exc))
    match action:
        case DisableUnit():
            removed, problems = _remove_links(root, action.links)
            return _outcome(
                action,
                now,
                OutcomeStatus.REFUSED if problems else OutcomeStatus.DONE,
                "; ".join([f"removed {len(removed)} link(s) of {action.unit}", *problems]),
                removed_links=tuple(removed),
                reload=action.reload,
                stop_unit=action.unit,
            )
        case RemoveLines() | RemovePreloadEntry() | DeleteFile():
            return _apply_to_file(root, action, backup, now)
        case _:
            assert_never(action)


def _outcome(
    action: PersistenceAction,
    now: Callable[[], datetime],
    status: OutcomeStatus,
    detail: str,
    *,
    backup_ids: tuple[str, ...] = (),
    removed_links: tuple[Symlink, ...] = (),
    reload: SystemdReload | None = None,
    stop_unit: str | None = None,
) -> PersistenceOutcome:
    return PersistenceOutcome(action, status, detail, now().isoformat(), backup_ids, removed_links, reload, stop_unit)


def _apply_to_file(
    root: _Root,
    action: RemoveLines | RemovePreloadEntry | DeleteFile,
    backup: Callable[[str], str],
    now: Callable[[], datetime],
) -> PersistenceOutcome:
    shown = root.host_path(action.path)
    backup_ids: tuple[str, ...] = ()
    deleting = isinstance(action, DeleteFile)
    try:
        with _open_planned(root, action.path) as (dir_fd, name, fd, st):
            data = _read_fd(fd)
            if _sha256(data) != action.sha256:
                return _outcome(
                    action, now, OutcomeStatus.REFUSED, f"{shown} changed since the scan; nothing done, scan again"
                )
            new = b""
            if not isinstance(action, DeleteFile):
                try:
                    new = _without_lines(data, action.lines)
                except ValueError:
                    return _outcome(
                        action, now, OutcomeStatus.REFUSED, f"{shown}: planned lines do not fit the file; scan again"
                    )
            try:
                backup_ids = (backup(shown),)
            except (ScannerError, OSError) as exc:
                return _outcome(action, now, OutcomeStatus.FAILED, f"backup of {shown} failed, nothing changed: {exc}")
            # The vault read the file by its path: make sure that was the file we checked.
            if not _same_file(dir_fd, name, st) or _sha256(_read_fd(fd)) != action.sha256:
                return _outcome(
                    action,
                    now,
                    OutcomeStatus.REFUSED,
                    f"{shown} changed during the backup; nothing done, scan again",
                    backup_ids=backup_ids,
                )
            if deleting:
                os.unlink(name, dir_fd=dir_fd)
                os.fsync(dir_fd)
            else:
                _replace(dir_fd, name, new, fd, st)
    except FileNotFoundError:
        if backup_ids and deleting:
            return _outcome(
                action, now, OutcomeStatus.DONE, f"{shown} was taken away by the backup", backup_ids=backup_ids
            )
        return _outcome(action, now, OutcomeStatus.GONE, f"{shown} no longer exists", backup_ids=backup_ids)
    except PersistenceError as exc:
        return _outcome(action, now, OutcomeStatus.REFUSED, str(exc), backup_ids=backup_ids)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            status, reason = OutcomeStatus.REFUSED, "is now a symbolic link"
        else:
            status, reason = OutcomeStatus.FAILED, exc.strerror or str(exc)
        return _outcome(action, now, status, f"{shown}: {reason}; the file is unchanged", backup_ids=backup_ids)

    if isinstance(action, DeleteFile):
        removed, problems = _remove_links(root, action.links)
        return _outcome(
            action,
            now,
            OutcomeStatus.DONE,
            "; ".join([f"removed {shown}", *problems]),
            backup_ids=backup_ids,
            removed_links=tuple(removed),
            reload=action.reload,
        )
    reload = action.reload if isinstance(action, RemoveLines) else None
    return _outcome(
        action,
        now,
        OutcomeStatus.DONE,
        f"removed {len(action.lines)} line(s) from {shown}",
        backup_ids=backup_ids,
        reload=reload,
    )


def reloads_needed(outcomes: Iterable[PersistenceOutcome]) -> list[SystemdReload]:
    """The distinct systemd managers to reload after a batch of outcomes."""
    out: list[SystemdReload] = []
    for outcome in outcomes:
        if outcome.status is OutcomeStatus.DONE and outcome.reload is not None and outcome.reload not in out:
            out.append(outcome.reload)
    return out


# --------------------------------------------------------------------------- Windows (design)


class WindowsKind(enum.Enum):
    """Windows persistence places covered by the design."""

    RUN_KEY = "Run/RunOnce value"
    """A value under HKLM or HKCU ``...\\CurrentVersion\\Run`` or ``RunOnce``."""
    SERVICE = "service"
    """A service (``HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>``), by its ImagePath or ServiceDll."""
    SCHEDULED_TASK = "scheduled task"
    """A task in the Task Scheduler, by its exec actions."""


class WindowsActionKind(enum.Enum):
    """What removing a Windows entry means."""

    DELETE_VALUE = "delete registry value"
    STOP_AND_DELETE_SERVICE = "stop and delete service"
    DELETE_TASK = "delete scheduled task"


@dataclass(frozen=True)
class WindowsEntry:
    """One Windows persistence entry, as an adapter reads it."""

    kind: WindowsKind
    """Run value, service or task."""
    container: str
    """Registry key of the value, services key, or task folder."""
    name: str
    """Value name, service name or task name."""
    command: str
    """What it runs: value data, ImagePath (or ServiceDll), or the task's exec action and arguments."""
    fingerprint: str
    """Hash of the entry's exported definition; removal is refused if it changes."""


@dataclass(frozen=True)
class WindowsFinding:
    """A Windows entry that runs a detected file or carries a family marker."""

    entry: WindowsEntry
    """The entry."""
    reason: Reason
    """Why it counts."""
    evidence: str
    """The detected path or the marker."""
    family: str | None
    """The family, when known."""


@dataclass(frozen=True)
class WindowsAction:
    """Remove one Windows entry, after exporting it to the vault."""

    kind: WindowsActionKind
    """What removal means for this entry."""
    entry: WindowsEntry
    """The entry, with the fingerprint it must still have."""

    def describe(self) -> str:
        """One line for --dry-run."""
        return f"{self.kind.value} {self.entry.container}\\{self.entry.name}"


class WindowsPersistenceStore(Protocol):
    """What a Windows adapter (winreg, the service manager, the Task Scheduler COM API) provides.

    Applying a ``WindowsAction`` is: ``current(entry)`` must still have the planned
    fingerprint; ``export(entry)`` goes to the vault (a .reg fragment, the service's
    configuration, the task XML); then ``stop(entry)`` for services; then ``remove(entry)``.
    Undo re-imports the export. Not implemented here: nothing on Linux can test it.
    """

    def entries(self) -> Iterable[WindowsEntry]:
        """Every Run value, service and task, read without changing anything."""
        ...

    def current(self, entry: WindowsEntry) -> WindowsEntry | None:
        """The entry as it is now (None if gone), for the changed-since-scan check."""
        ...

    def export(self, entry: WindowsEntry) -> bytes:
        """The entry's full definition, re-importable, for the vault."""
        ...

    def stop(self, entry: WindowsEntry) -> None:
        """Stop a running service or task."""
        ...

    def remove(self, entry: WindowsEntry) -> None:
        """Delete the value, service or task."""
        ...


_WIN_ENV = re.compile(r"%([^%\s]+)%")
_WIN_BEFORE = frozenset(" \t\"'=,;")
_WIN_AFTER = frozenset(" \t\"',;")


def _win_norm(text: str, environment: Mapping[str, str]) -> str:
    env = {k.lower(): v for k, v in environment.items()}
    text = _WIN_ENV.sub(lambda m: env.get(m.group(1).lower(), m.group(0)), text)
    text = text.replace("/", "\\").lower()
    for prefix in ("\\??\\", "\\\\?\\"):
        text = text.replace(prefix, "")
    if text.startswith("\\systemroot\\") and "systemroot" in env:
        text = env["systemroot"].lower() + text[len("\\systemroot") :]
    return text


def find_windows_persistence(
    entries: Iterable[WindowsEntry],
    detected_paths: Collection[str] | Mapping[str, str],
    markers: Mapping[str, Sequence[str]] | None = None,
    environment: Mapping[str, str] | None = None,
) -> list[WindowsFinding]:
    """Entries whose command names a detected file or carries a marker. Pure.

    Windows paths compare case-insensitively, with ``%VAR%`` expanded from
    ``environment``, either slash, and the ``\\??\\`` and ``\\SystemRoot`` forms services use.
    """
    env = environment or {}
    families: Mapping[str, str] = detected_paths if isinstance(detected_paths, Mapping) else {}
    detected = [(_win_norm(p, env), p, families.get(p)) for p in detected_paths]
    marker_list = [(m.lower(), m, f) for f, ms in (markers or {}).items() for m in ms if len(m.strip()) >= _MIN_MARKER]
    findings: list[WindowsFinding] = []
    for entry in entries:
        command = _win_norm(entry.command, env)
        for norm, original, family in detected:
            start = command.find(norm)
            while start != -1:
                end = start + len(norm)
                if (start == 0 or command[start - 1] in _WIN_BEFORE) and (
                    end == len(command) or command[end] in _WIN_AFTER
                ):
                    findings.append(WindowsFinding(entry, Reason.RUNS_DETECTED_FILE, original, family))
                    break
                start = command.find(norm, start + 1)
        lowered = entry.command.lower()
        findings.extend(
            WindowsFinding(entry, Reason.FAMILY_MARKER, marker, family)
            for low, marker, family in marker_list
            if low in lowered
        )
    return findings


def plan_windows_cleanup(findings: Iterable[WindowsFinding]) -> list[WindowsAction]:
    """One removal per entry found, in a stable order. Pure."""
    actions: dict[tuple[WindowsKind, str, str], WindowsAction] = {}
    for finding in findings:
        entry = finding.entry
        match entry.kind:
            case WindowsKind.RUN_KEY:
                kind = WindowsActionKind.DELETE_VALUE
            case WindowsKind.SERVICE:
                kind = WindowsActionKind.STOP_AND_DELETE_SERVICE
            case WindowsKind.SCHEDULED_TASK:
                kind = WindowsActionKind.DELETE_TASK
            case _:
                assert_never(entry.kind)
        actions.setdefault((entry.kind, entry.container.lower(), entry.name.lower()), WindowsAction(kind, entry))
    return [actions[k] for k in sorted(actions, key=lambda k: (k[0].value, k[1], k[2]))]
