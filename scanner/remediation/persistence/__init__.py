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
swapped in after the scan cannot redirect a write. Paths in the types are as they
appear on the inspected machine; ``host_path`` gives the path on this one.

Modules, lowest first: ``files`` (sysroot file access), ``types`` (choices, findings,
actions, outcomes), ``parse`` (lines and entries), ``commands`` (which files a shell
line runs), ``inventory`` (where persistence lives), ``match`` (evidence in one line),
``find`` (findings and decisions), ``apply`` (plan, apply, restore links). Other
modules use this package through the names below. Windows is a design only, in
docs/decisions/0002-persistence.md.
"""

from scanner.remediation.persistence.apply import apply_action, plan_cleanup, restore_links
from scanner.remediation.persistence.find import find_persistence
from scanner.remediation.persistence.inventory import classify_paths, list_locations
from scanner.remediation.persistence.parse import parse_entries
from scanner.remediation.persistence.types import (
    ActionKind,
    ConfigHit,
    DeleteFile,
    DisableUnit,
    LocationKind,
    Match,
    Mention,
    OutcomeStatus,
    PersistenceAction,
    PersistenceEntry,
    PersistenceFinding,
    PersistenceLocation,
    PersistenceOutcome,
    PersistenceResult,
    Reason,
    Removal,
    RemoveLines,
    RemovePreloadEntry,
    Symlink,
    SystemdReload,
)

__all__ = [
    "ActionKind",
    "ConfigHit",
    "DeleteFile",
    "DisableUnit",
    "LocationKind",
    "Match",
    "Mention",
    "OutcomeStatus",
    "PersistenceAction",
    "PersistenceEntry",
    "PersistenceFinding",
    "PersistenceLocation",
    "PersistenceOutcome",
    "PersistenceResult",
    "Reason",
    "Removal",
    "RemoveLines",
    "RemovePreloadEntry",
    "Symlink",
    "SystemdReload",
    "apply_action",
    "classify_paths",
    "find_persistence",
    "list_locations",
    "parse_entries",
    "plan_cleanup",
    "restore_links",
]
