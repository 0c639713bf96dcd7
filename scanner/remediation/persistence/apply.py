"""Planning and applying persistence cleanup, and putting removed links back.

``plan_cleanup`` turns findings into actions; it is pure, so ``--dry-run`` prints it.
``apply_action`` carries out one action after backing the file up through the vault's
callback and checking that the file is still the one the scan read; problems come back
as the outcome's status. ``restore_links`` is the undo of the links an action removed
(the files themselves come back from the vault).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import assert_never

from scanner import safefs
from scanner.errors import PersistenceError, ScannerError
from scanner.remediation.persistence.files import Root, open_planned, read_fd, replace_atomically, sha256_hex
from scanner.remediation.persistence.parse import without_lines
from scanner.remediation.persistence.types import (
    DeleteFile,
    DisableUnit,
    LocationKind,
    OutcomeStatus,
    PersistenceAction,
    PersistenceFinding,
    PersistenceLocation,
    PersistenceOutcome,
    Removal,
    RemoveLines,
    RemovePreloadEntry,
    Symlink,
    SystemdReload,
)

logger = logging.getLogger(__name__)


def _reload_for(location: PersistenceLocation) -> SystemdReload | None:
    """The systemd manager that reads ``location``, for units and drop-ins; None otherwise."""
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
                logger.info("%s: no action planned; review it by hand", loc.host_path)
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


def _remove_links(root: Root, links: Iterable[Symlink]) -> tuple[list[Symlink], list[str]]:
    """Remove each link that still points where it did when read; (removed, problems)."""
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
    root = Root(sysroot)
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
    for problem in problems:
        logger.info("link not restored: %s", problem)
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
        root = Root(action.sysroot)
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
    """The outcome of ``action``, stamped with ``now``; logged, since it says why a file was or was not changed."""
    logger.info("%s: %s: %s", action.describe(), status.value, detail)
    return PersistenceOutcome(action, status, detail, now().isoformat(), backup_ids, removed_links, reload, stop_unit)


def _apply_to_file(
    root: Root,
    action: RemoveLines | RemovePreloadEntry | DeleteFile,
    backup: Callable[[str], str],
    now: Callable[[], datetime],
) -> PersistenceOutcome:
    shown = root.host_path(action.path)
    taken: list[str] = []
    deleting = isinstance(action, DeleteFile)
    try:
        stopped = _change_file(root, action, backup, shown, taken)
    except FileNotFoundError:
        if taken and deleting:
            return _outcome(
                action, now, OutcomeStatus.DONE, f"{shown} was taken away by the backup", backup_ids=tuple(taken)
            )
        return _outcome(action, now, OutcomeStatus.GONE, f"{shown} no longer exists", backup_ids=tuple(taken))
    except PersistenceError as exc:
        return _outcome(action, now, OutcomeStatus.REFUSED, str(exc), backup_ids=tuple(taken))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            status, reason = OutcomeStatus.REFUSED, "is now a symbolic link"
        else:
            status, reason = OutcomeStatus.FAILED, exc.strerror or str(exc)
        return _outcome(action, now, status, f"{shown}: {reason}; the file is unchanged", backup_ids=tuple(taken))
    if stopped is not None:
        return _outcome(action, now, *stopped, backup_ids=tuple(taken))
    return _changed(root, action, now, shown, tuple(taken))


def _change_file(
    root: Root,
    action: RemoveLines | RemovePreloadEntry | DeleteFile,
    backup: Callable[[str], str],
    shown: str,
    taken: list[str],
) -> tuple[OutcomeStatus, str] | None:
    """Check the planned file, back it up (its id goes to ``taken``) and change it; None when done,
    else the status and detail of why nothing was changed. Errors of the file system are raised."""
    with open_planned(root, action.path) as (dir_fd, name, fd, st):
        data = read_fd(fd)
        if sha256_hex(data) != action.sha256:
            return OutcomeStatus.REFUSED, f"{shown} changed since the scan; nothing done, scan again"
        new = b""
        if not isinstance(action, DeleteFile):
            try:
                new = without_lines(data, action.lines)
            except ValueError:
                return OutcomeStatus.REFUSED, f"{shown}: planned lines do not fit the file; scan again"
        try:
            taken.append(backup(shown))
        except (ScannerError, OSError) as exc:
            return OutcomeStatus.FAILED, f"backup of {shown} failed, nothing changed: {exc}"
        # The vault read the file by its path: make sure that was the file we checked.
        if not safefs.same_file_at(dir_fd, name, st) or sha256_hex(read_fd(fd)) != action.sha256:
            return OutcomeStatus.REFUSED, f"{shown} changed during the backup; nothing done, scan again"
        if isinstance(action, DeleteFile):
            os.unlink(name, dir_fd=dir_fd)
            os.fsync(dir_fd)
        else:
            replace_atomically(dir_fd, name, new, fd, st)
    return None


def _changed(
    root: Root,
    action: RemoveLines | RemovePreloadEntry | DeleteFile,
    now: Callable[[], datetime],
    shown: str,
    backup_ids: tuple[str, ...],
) -> PersistenceOutcome:
    """The outcome of a file changed as planned (a removed file's links go with it)."""
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
