"""The types of persistence finding and cleanup: choices, findings, actions and outcomes.

Findings (``PersistenceFinding`` in a ``PersistenceResult``) come from ``find``;
actions (``PersistenceAction``) from ``apply.plan_cleanup``; outcomes from
``apply.apply_action``. Paths in them are as they appear on the inspected machine;
``host_path`` gives the path on this one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from scanner.model import Skipped
from scanner.remediation.persistence.files import host_path

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


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` stripped, and cut to ``limit`` characters with "..." when longer: for reports."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        return host_path(self.sysroot, self.path)


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
        first = f": {shorten(self.texts[0], 80)}" if self.texts else ""
        more = f" (+{len(self.texts) - 1} more)" if len(self.texts) > 1 else ""
        where = host_path(self.sysroot, self.path)
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
        return f"remove preload entry {libs} from {host_path(self.sysroot, self.path)}"


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
        return f"remove {self.kind_of_location.value} {host_path(self.sysroot, self.path)}{extra}"


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
