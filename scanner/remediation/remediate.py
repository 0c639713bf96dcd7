"""Remediation: plan what to do about detections, then apply the plan, then undo it on request.

``plan(detections, policy, ...)`` is pure apart from reading: it decides, per family, which
processes to kill, which files to move into the vault (or delete), which persistence to clean,
and what needs a person (a file an OS package owns). ``apply(plan, ...)`` carries it out in the
order of ``Step`` and returns one outcome per action; ``apply_batched`` does the same with the
file steps in one ``Vault.batch()`` (the watch's many detections at once).
``--dry-run`` prints the plan and calls nothing else. ``outcome_record`` is the history's form of
an outcome; ``undo(outcomes, ...)`` reverses what an applied plan changed, from those records.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.errors import PersistenceError, QuarantineError, ScannerError
from scanner.history import LinkRecord, OutcomeRecord
from scanner.model import (
    Action,
    Detection,
    ExitCode,
    Family,
    FileIdentity,
    Policy,
    ProcessInfo,
    ScanReport,
    TargetKind,
    display_path,
)
from scanner.remediation import persistence, threshold, tied
from scanner.remediation.packages import PackageIndex
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_batch import VaultBatch
from scanner.remediation.vault_records import ItemKind, QuarantineItem, ScannedFile
from scanner.scanning import processes

logger = logging.getLogger(__name__)


class Step(enum.Enum):
    """The kinds of remediation step, in the order they are applied.

    Persistence goes first: a unit with Restart=always or a cron job would bring a killed process
    back. Then processes, so nothing re-creates the files that are moved last.
    """

    CLEAN = "clean persistence"
    KILL = "kill"
    QUARANTINE = "quarantine"
    REMOVE = "remove"
    MANUAL = "manual"


@dataclass(frozen=True)
class PlannedAction:
    """One thing remediation will do."""

    step: Step
    """What kind of step."""
    target: str
    """The path, or ``pid N``, acted on."""
    families: tuple[str, ...]
    """The families this is about."""
    rules: tuple[str, ...]
    """The rules that matched."""
    reason: str = ""
    """Why (for MANUAL: what the person should do)."""
    path: str | None = None
    """The file (QUARANTINE, REMOVE)."""
    sha256: str | None = None
    """Its content hash as scanned."""
    stamp: FileIdentity | None = None
    """Its identity as scanned."""
    root: str | None = None
    """The scanned root (a real path) the file must still be under when it is acted on."""
    process: ProcessInfo | None = None
    """The process (KILL)."""
    tied_to: str | None = None
    """For a KILL of a process that runs or reads a detected file (not detected itself): that file."""
    cleanup: persistence.PersistenceAction | None = field(default=None, compare=False)
    """The persistence action (CLEAN)."""

    def describe(self) -> str:
        """One line for --dry-run and the report."""
        fam = "/".join(self.families)
        match self.step:
            case Step.KILL:
                assert self.process is not None
                p = self.process
                why = f": {display_path(self.reason)}" if self.reason else ""
                return f"kill pid {p.pid} ({display_path(p.name)}, {display_path(p.exe or '?')}) [{fam}]{why}"
            case Step.QUARANTINE:
                return f"quarantine {display_path(self.target)} [{fam}]"
            case Step.REMOVE:
                return f"delete {display_path(self.target)} [{fam}]"
            case Step.CLEAN:
                assert self.cleanup is not None
                return f"{self.cleanup.describe()} [{fam}]"
            case Step.MANUAL:
                return f"manual step for {display_path(self.target)}: {self.reason} [{fam}]"


@dataclass(frozen=True)
class Plan:
    """Everything remediation will do, in order."""

    actions: tuple[PlannedAction, ...] = ()
    notes: tuple[str, ...] = ()
    """Things the user should know (locations that could not be read, ...)."""
    held: tuple[Detection, ...] = ()
    """Detections not acted on: below the action threshold (``Policy.acts_on``); reported only."""


@dataclass(frozen=True)
class Outcome:
    """What applying one planned action did."""

    action: PlannedAction
    ok: bool
    """Done as asked."""
    message: str
    """killed, quarantined as ID, removed, failed: ..., manual step: ..."""
    vault_id: str | None = None
    """The vault item of a quarantined or removed file."""
    backup_ids: tuple[str, ...] = ()
    """Vault backups of persistence files taken before they were edited."""
    removed_links: tuple[persistence.Symlink, ...] = ()
    """Unit links removed (restored by undo)."""
    other_links: int = 0
    """For a quarantined or removed file: how many other names (hard links) still held its content."""


def _machine_path(path: str, sysroot: Path) -> str:
    root = os.fspath(sysroot).rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def _on_disk_exe(info: ProcessInfo) -> str | None:
    exe = info.exe
    if not exe or exe.endswith(" (deleted)") or exe.startswith("/memfd:") or not exe.startswith("/"):
        return None
    return exe


def plan(
    detections: Sequence[Detection],
    policy: Policy,
    *,
    families: Mapping[str, Family] | None = None,
    packages: PackageIndex | None = None,
    persistence_search: bool = True,
    tied_processes: bool = True,
) -> Plan:
    """Decide what to do about ``detections`` (nothing for the report action).

    With ``persistence_search`` False, only processes and files are planned, and no persistence
    location is read: for a caller (the watch) that has already set aside detected files that are
    persistence locations, and looks for persistence in a second, slower pass. With
    ``tied_processes`` (and ``policy.sysroot`` this machine's root), the processes that run or
    read a file the plan moves are killed first (``processes.tied_to``, decision 0014).
    """
    if policy.action is Action.REPORT or not detections:
        return Plan()
    detections, held = threshold.split(detections, policy)
    if not detections:
        return Plan(held=held)
    families = families or {}
    packages = packages if packages is not None else PackageIndex(policy.sysroot)

    kills, files = _by_target(detections)
    actions: list[PlannedAction] = []
    for dets in kills.values():
        info = dets[0].process
        assert info is not None
        actions.append(PlannedAction(Step.KILL, f"pid {info.pid}", _fams(dets), _rules(dets), process=info))

    search = persistence_search and bool(files or kills)
    config_files = persistence.classify_paths(os.fspath(policy.sysroot), files) if search and files else {}
    config_hits: dict[str, persistence.ConfigHit] = {}
    moved: dict[str, str] = {}
    for path, dets in sorted(files.items()):
        if path in config_files:  # a crontab or .bashrc: lose the offending lines, never the whole file
            d = dets[0]
            offsets = tuple(sorted({o for x in dets for o in x.offsets}))
            config_hits[path] = persistence.ConfigHit(d.hit.family, d.hit.rule, offsets, d.sha256)
            continue
        action, family = _file_action(path, dets, policy, packages)
        actions.append(action)
        if family is not None:
            moved[path] = family
    if tied_processes:
        actions.extend(_tied_kills(actions, kills, policy))

    if not search:
        return Plan(tuple(sorted(actions, key=lambda a: list(Step).index(a.step))), (), held)
    notes = _plan_persistence(policy, families, actions, config_hits, moved)
    order = list(Step)
    actions.sort(key=lambda a: order.index(a.step))
    return Plan(tuple(actions), tuple(notes), held)


def _by_target(detections: Sequence[Detection]) -> tuple[dict[int, list[Detection]], dict[str, list[Detection]]]:
    """The detections grouped by process to kill (pid) and by file to act on (path); a process whose
    image matched and is on disk has its file acted on too."""
    kills: dict[int, list[Detection]] = {}
    files: dict[str, list[Detection]] = {}
    for d in detections:
        if d.kind is TargetKind.PROCESS and d.process is not None:
            kills.setdefault(d.process.pid, []).append(d)
            exe = _on_disk_exe(d.process)
            if d.process.where == "image" and exe is not None:
                files.setdefault(exe, []).append(d)
            elif d.process.where == "script" and d.path is not None and d.stamp is not None:
                files.setdefault(d.path, []).append(d)  # the script an interpreter runs, never the interpreter
        elif d.kind is TargetKind.FILE and d.path is not None:
            files.setdefault(d.path, []).append(d)
        else:
            logger.info("%s: a detection in a stream, not a file on disk: nothing to act on", d.path)
    return kills, files


def _tied_kills(
    actions: Sequence[PlannedAction], detected: Mapping[int, list[Detection]], policy: Policy
) -> list[PlannedAction]:
    """A KILL for each process tied to a file ``actions`` move, and for each process started by a ``detected``
    interpreter that reads a deleted file (a script that deleted itself); not for the pids ``detected``."""
    killed = set(detected)
    moving = [a for a in actions if a.step in FILE_STEPS and a.path is not None]
    about = {a.target: (a.families, a.rules) for a in moving}
    ties = tied.processes_tied_to({a.target: a.stamp for a in moving}, policy.sysroot, killed)
    readers: list[tuple[ProcessInfo, str]] = []
    for dets in detected.values():
        for d in dets:
            if d.process is not None and d.process.where == "open file" and d.path is not None:
                readers.append((d.process, d.path))
                about.setdefault(d.path, (_fams(dets), _rules(dets)))
    ties += tied.started_by_readers(readers, killed)
    return [
        PlannedAction(Step.KILL, f"pid {t.info.pid}", *about[t.path], reason=t.reason, process=t.info, tied_to=t.path)
        for t in ties
    ]


def _file_action(
    path: str, dets: Sequence[Detection], policy: Policy, packages: PackageIndex
) -> tuple[PlannedAction, str | None]:
    """The action on the detected file ``path`` (quarantine or remove; a manual step when an OS package
    owns it and there is no --force), and the family it is moved for (None: it is not moved)."""
    owner = packages.owner(_machine_path(path, policy.sysroot))
    if owner is not None and not policy.force:
        logger.info("%s belongs to package %s: not moved without --force", display_path(path), owner)
        return PlannedAction(
            Step.MANUAL,
            path,
            _fams(dets),
            _rules(dets),
            reason=f"belongs to package {owner}: reinstall it (e.g. apt-get install --reinstall {owner}), "
            "or use --force to move it",
            path=path,
        ), None
    step = Step.REMOVE if policy.action is Action.REMOVE else Step.QUARANTINE
    d = next((x for x in dets if x.stamp is not None), dets[0])
    return PlannedAction(
        step, path, _fams(dets), _rules(dets), path=path, sha256=d.sha256, stamp=d.stamp, root=d.root
    ), d.hit.family


def _plan_persistence(
    policy: Policy,
    families: Mapping[str, Family],
    actions: list[PlannedAction],
    config_hits: dict[str, persistence.ConfigHit],
    moved: dict[str, str],
) -> list[str]:
    """Add the persistence steps for what ``actions`` take (and detected configuration files) to ``actions``;
    the notes for the user (locations not read, mentions that are not cleaned)."""
    notes: list[str] = []
    fams = {f for a in actions for f in a.families} | {h.family for h in config_hits.values()}
    known = [families[f] for f in sorted(fams) if f in families]
    try:
        result = persistence.find_persistence(
            os.fspath(policy.sysroot),
            moved,
            markers={f.name: list(f.persistence_markers) for f in known if f.persistence_markers},
            family_paths={f.name: list(f.persistence_paths) for f in known if f.persistence_paths},
            detected_config_files=config_hits,
        )
    except (PersistenceError, OSError) as exc:
        logger.info("persistence could not be checked: %s", exc)
        notes.append(f"persistence could not be checked: {exc}")
        return notes
    notes.extend(f"persistence location not read: {display_path(s.path)}: {s.reason.value}" for s in result.skipped)
    notes.extend(display_path(m.describe()) for m in result.mentions)
    by_path = {f.location.path: f for f in result.findings}
    for cleanup in persistence.plan_cleanup(result.findings):
        if isinstance(cleanup, persistence.DeleteFile) and _host(cleanup) in moved:
            continue  # the file itself is detected: the vault takes it
        finding = by_path.get(cleanup.path)
        cfams = finding.families if finding is not None else ()
        actions.append(PlannedAction(Step.CLEAN, cleanup.path, cfams, (), cleanup=cleanup))
    for f in result.findings:
        if f.removal is persistence.Removal.NONE:
            logger.info("persistence at %s cannot be cleaned safely: a manual step", display_path(f.location.host_path))
            actions.append(
                PlannedAction(
                    Step.MANUAL,
                    f.location.host_path,
                    f.families,
                    (),
                    reason="suspicious persistence that cannot be cleaned safely: review it",
                )
            )
    return notes


def _host(action: persistence.PersistenceAction) -> str:
    root = action.sysroot.rstrip("/")
    return root + action.path if root else action.path


def _fams(dets: Iterable[Detection]) -> tuple[str, ...]:
    return tuple(sorted({d.hit.family for d in dets}))


def _rules(dets: Iterable[Detection]) -> tuple[str, ...]:
    return tuple(sorted({d.hit.rule for d in dets}))


Systemctl = Callable[[Sequence[str], bool], str | None]
"""Runs ``systemctl [--user] ARGS``; returns an error message or None."""
OnOutcome = Callable[[Sequence["Outcome"]], None]
"""Called after each applied action with the outcomes so far (to keep the history record current)."""


def apply(
    the_plan: Plan,
    vault: Vault,
    scan_id: str,
    policy: Policy,
    *,
    now: Callable[[], dt.datetime],
    systemctl: Systemctl | None = None,
    on_outcome: OnOutcome | None = None,
) -> list[Outcome]:
    """Carry out ``the_plan``; every step is attempted, failures are outcomes, not exceptions.

    ``on_outcome`` is called after each action with the outcomes so far; an exception from it
    is not caught (the caller decides whether carrying on without a record is acceptable).
    """
    outcomes: list[Outcome] = []
    for a in the_plan.actions:
        try:
            outcomes.append(_apply_one(a, vault, scan_id, policy, now, systemctl))
        except ScannerError as exc:
            outcomes.append(Outcome(a, False, f"failed: {exc}"))
        except OSError as exc:
            outcomes.append(Outcome(a, False, f"failed: {exc.strerror or exc}"))
        if on_outcome is not None:
            on_outcome(outcomes)
    return outcomes


FILE_STEPS = frozenset({Step.QUARANTINE, Step.REMOVE})
"""The steps that take a file into the vault (``apply_batched`` does them in one batch)."""


@dataclass(frozen=True)
class Applied:
    """What ``apply_batched`` did."""

    outcomes: tuple[Outcome, ...]
    """One per planned action, in order (as ``apply`` returns them)."""
    vault_error: str | None = None
    """Why the vault's batch failed, if it did; the files were then taken one by one (the batch could
    not begin) or are as the end of the batch left them, each outcome saying which."""


def apply_batched(
    the_plan: Plan,
    vault: Vault,
    scan_id: str,
    policy: Policy,
    *,
    now: Callable[[], dt.datetime],
    systemctl: Systemctl | None = None,
    on_outcome: OnOutcome | None = None,
) -> Applied:
    """``apply``, with the file steps (quarantine, remove; a plan holds them together) in one
    ``Vault.batch()``: one round of flushes for all of them instead of eight per file.

    A file that the end of the batch did not take after all (it changed after it was copied) is a
    failed outcome. When the batch cannot begin (the vault cannot be locked), the files are taken
    one by one, each failure its own outcome. ``on_outcome`` is called as ``apply`` calls it; for
    the file steps, once the batch has ended, with their final outcomes.
    """
    outcomes: list[Outcome] = []
    error: str | None = None
    for files, group in itertools.groupby(the_plan.actions, key=lambda a: a.step in FILE_STEPS):
        part = Plan(tuple(group), the_plan.notes)
        if not files:
            outcomes += apply(
                part,
                vault,
                scan_id,
                policy,
                now=now,
                systemctl=systemctl,
                on_outcome=None if on_outcome is None else _after(outcomes, on_outcome),
            )
            continue
        done, error = _apply_in_batch(part, vault, scan_id, policy, now)
        for o in done:
            outcomes.append(o)
            if on_outcome is not None:
                on_outcome(outcomes)
    return Applied(tuple(outcomes), error)


def _after(before: Sequence[Outcome], on_outcome: OnOutcome) -> OnOutcome:
    """``on_outcome`` for a part of a plan: called with the outcomes of the parts ``before`` it too."""
    earlier = list(before)
    return lambda done: on_outcome([*earlier, *done])


def _apply_in_batch(
    part: Plan, vault: Vault, scan_id: str, policy: Policy, now: Callable[[], dt.datetime]
) -> tuple[list[Outcome], str | None]:
    """The file steps ``part`` in one vault batch; their outcomes, and why the batch failed (or None)."""
    done: list[Outcome] | None = None
    taken = VaultBatch()
    error: str | None = None
    try:
        with vault.batch() as taken:  # one round of flushes for the group, not eight per file
            done = apply(part, vault, scan_id, policy, now=now)
    except QuarantineError as exc:
        error = str(exc)
        if done is None:  # the batch could not begin: file by file, each failure its own outcome
            logger.warning("vault batch could not begin (%s); quarantining file by file", exc)
            done = apply(part, vault, scan_id, policy, now=now)
        else:
            logger.info("the end of a vault batch failed: %s", exc)
    return [_unless_failed(o, taken.failed) for o in done], error


def _unless_failed(outcome: Outcome, failed: dict[str, str]) -> Outcome:
    """A vault step the end of its batch did not finish after all (the original changed) is a failure."""
    if outcome.vault_id is None or outcome.vault_id not in failed:
        return outcome
    return replace(outcome, ok=False, message=f"failed: {failed[outcome.vault_id]}", vault_id=None)


def other_links_note(other: int) -> str:
    """What the user is told when a detected file had further names (hard links) when it was acted on."""
    return f"another name still holds this content: {other} other link(s)"


def _apply_one(
    a: PlannedAction,
    vault: Vault,
    scan_id: str,
    policy: Policy,
    now: Callable[[], dt.datetime],
    systemctl: Systemctl | None,
) -> Outcome:
    match a.step:
        case Step.KILL:
            assert a.process is not None
            k = processes.terminate(a.process, policy.kill_grace)
            return Outcome(a, k.ok, k.message)
        case Step.QUARANTINE | Step.REMOVE:
            assert a.path is not None
            expected = None
            if a.stamp is not None and a.sha256 is not None:
                expected = ScannedFile(a.stamp, a.sha256)
            keep = a.step is Step.QUARANTINE
            try:
                item = vault.quarantine(
                    a.path, expected, ",".join(a.rules), ",".join(a.families), scan_id, keep=keep, within=a.root
                )
            except QuarantineError as exc:
                return Outcome(a, False, f"failed: {exc}")
            message = f"quarantined as {item.id}" if keep else "removed"
            other = max(0, item.links - 1)  # the link count when the file was taken, before its unlink
            if other:
                logger.info("%s had %d other hard link(s) when it was acted on", display_path(a.path), other)
                message += f"; {other_links_note(other)}"
            return Outcome(a, True, message, vault_id=item.id, other_links=other)
        case Step.CLEAN:
            assert a.cleanup is not None
            out = persistence.apply_action(a.cleanup, lambda p: vault.backup(p, scan_id, "persistence cleanup").id, now)
            ok = out.status in (persistence.OutcomeStatus.DONE, persistence.OutcomeStatus.GONE)
            message = out.detail
            if ok and os.path.realpath(policy.sysroot) == "/" and systemctl is not None:
                message += _systemd_follow_up(out, systemctl)
            return Outcome(
                a,
                ok,
                message if ok else f"failed: {message}",
                backup_ids=out.backup_ids,
                removed_links=out.removed_links,
            )
        case Step.MANUAL:
            return Outcome(a, False, f"manual step needed: {a.reason}")


def _systemd_follow_up(out: persistence.PersistenceOutcome, systemctl: Systemctl) -> str:
    notes = ""
    if out.reload is not None:
        user = out.reload.user_manager
        if (err := systemctl(["daemon-reload"], user)) is not None:
            notes += f"; daemon-reload failed: {err}"
        if out.stop_unit and (err := systemctl(["stop", out.stop_unit], user)) is not None:
            notes += f"; stopping {out.stop_unit} failed: {err}"
    return notes


def annotate(
    detections: Sequence[Detection], outcomes: Sequence[Outcome], dry_run: bool, the_plan: Plan
) -> list[Detection]:
    """The detections with their ``action`` field saying what was done (or would be, on a dry run); those
    the plan holds back say so (``threshold.BELOW_THRESHOLD``)."""
    held = set(the_plan.held)
    by_path: dict[str, str] = {}
    by_pid: dict[int, str] = {}
    if dry_run:
        for a in the_plan.actions:
            words = f"would {a.step.value}" if a.step is not Step.MANUAL else f"manual: {a.reason}"
            if a.process is not None:
                by_pid[a.process.pid] = words
            if a.path is not None:
                by_path[a.path] = words
    for o in outcomes:
        if o.action.process is not None:
            by_pid[o.action.process.pid] = o.message
        if o.action.path is not None:
            by_path[o.action.path] = o.message
    out = []
    for d in detections:
        if d in held:
            out.append(replace(d, action=threshold.BELOW_THRESHOLD))
            continue
        said = by_pid.get(d.process.pid) if d.process is not None else None
        if d.path is not None and d.path in by_path:
            said = f"{said}; {by_path[d.path]}" if said else by_path[d.path]
        out.append(replace(d, action=said) if said else d)
    return out


# --- records and undo ----------------------------------------------------------------------------------


def outcome_record(o: Outcome) -> OutcomeRecord:
    """History and report form of one outcome (enough to undo it)."""
    a = o.action
    return OutcomeRecord(
        step=a.step.value,
        target=display_path(a.target),
        ok=o.ok,
        path=a.path,
        pid=a.process.pid if a.process else None,
        families=a.families,
        rules=a.rules,
        description=a.describe(),
        message=o.message,
        vault_id=o.vault_id,
        backup_ids=o.backup_ids,
        removed_links=tuple(LinkRecord(s.path, s.target) for s in o.removed_links),
        other_links=o.other_links,
    )


def plan_json(the_plan: Plan) -> list[dict[str, Any]]:
    """Dry-run form of a plan."""
    return [
        {
            "step": a.step.value,
            "target": display_path(a.target),
            "families": list(a.families),
            "description": a.describe(),
        }
        for a in the_plan.actions
    ]


@dataclass(frozen=True)
class UndoResult:
    """What undoing one scan did."""

    restored: tuple[str, ...]
    """Lines: what was put back."""
    problems: tuple[str, ...]
    """Lines: what could not be put back, and why."""
    notes: tuple[str, ...]
    """Lines: what undo does not do (processes are not restarted, deleted files are gone)."""


def vault_items_of(vault: Vault, scan_id: str) -> list[QuarantineItem]:
    """The vault items a scan's actions created (files taken, configuration backups), oldest first."""
    items = [i for i in vault.list() if i.scan_id == scan_id]
    return sorted(items, key=lambda i: (i.quarantined_at, i.id))


def undo(
    outcomes: Sequence[OutcomeRecord], vault: Vault, sysroot: Path, scan_id: str, *, unfinished: bool = False
) -> UndoResult:
    """Reverse the changes recorded for one scan (its ``outcomes``), newest first.

    Safe to run again after an interruption: what was already put back is passed over. For a
    record that never completed (``unfinished``: its run was killed mid-way, see
    ``HistoryRecord.incomplete``), the vault items carrying ``scan_id`` that the record does not
    list are put back too.
    """
    restored: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    todo = list(outcomes)
    if unfinished:
        listed = {o.vault_id for o in todo} | {b for o in todo for b in o.backup_ids}
        extra = [i for i in vault_items_of(vault, scan_id) if i.id not in listed]
        if extra:
            logger.info("undo %s: %d vault item(s) not in the unfinished record", scan_id, len(extra))
            notes.append(f"the scan did not finish; {len(extra)} change(s) found in the quarantine by its scan id")
        todo.extend(_outcome_of_item(item) for item in extra)
    for o in reversed(todo):
        if not o.changed:
            continue
        if o.step == Step.KILL.value:
            notes.append(f"pid {o.pid} was terminated; processes are not restarted")
        elif o.step == Step.REMOVE.value:
            notes.append(f"{o.target} was deleted (--action remove); it cannot be restored")
        elif o.step == Step.QUARANTINE.value and o.vault_id:
            _undo_quarantine(o, o.vault_id, vault, restored, problems, notes)
        elif o.step == Step.CLEAN.value:
            _undo_cleanup(o, vault, sysroot, scan_id, restored, problems, notes)
    return UndoResult(tuple(restored), tuple(problems), tuple(notes))


def _undo_quarantine(
    o: OutcomeRecord, vault_id: str, vault: Vault, restored: list[str], problems: list[str], notes: list[str]
) -> None:
    if not vault.has(vault_id):  # a damaged item is still there: restoring it fails, as a problem
        notes.append(f"{o.target}: no longer in the quarantine (already restored or deleted)")
        return
    try:
        note = vault.get(vault_id).restore_note
        path = vault.restore(vault_id)
        restored.append(f"restored {display_path(path)}")
        if note:
            notes.append(note)
    except QuarantineError as exc:
        problems.append(f"{o.target}: {exc}")


def _undo_cleanup(
    o: OutcomeRecord,
    vault: Vault,
    sysroot: Path,
    scan_id: str,
    restored: list[str],
    problems: list[str],
    notes: list[str],
) -> None:
    links = [persistence.Symlink(x.path, x.target) for x in o.removed_links]
    problems.extend(persistence.restore_links(os.fspath(sysroot), links))
    restored.extend(f"re-created link {display_path(x.path)}" for x in links)
    for bid in o.backup_ids:
        if not vault.has(bid):
            notes.append(f"{o.target}: backup {bid} no longer in the quarantine (already restored?)")
            continue
        try:
            item = vault.get(bid)
            target = item.original_path
            if os.path.lexists(target):  # keep what is there now before putting the old one back
                vault.backup(target, f"undo-{scan_id}", "state before undo")
            vault.restore(bid, overwrite=True)
            restored.append(f"restored {display_path(target)} as it was before the cleanup")
        except QuarantineError as exc:
            problems.append(f"{o.target}: {exc}")


def _outcome_of_item(item: QuarantineItem) -> OutcomeRecord:
    """The history form of the action that created a vault item, for undo of an unfinished record."""
    step = {ItemKind.QUARANTINE: Step.QUARANTINE, ItemKind.REMOVED: Step.REMOVE, ItemKind.BACKUP: Step.CLEAN}[item.kind]
    if step is Step.CLEAN:
        return OutcomeRecord(step.value, item.display_path, True, path=item.original_path, backup_ids=(item.id,))
    return OutcomeRecord(step.value, item.display_path, True, path=item.original_path, vault_id=item.id)


def remediate(
    report: ScanReport,
    policy: Policy,
    vault: Vault,
    *,
    dry_run: bool,
    families: Mapping[str, Family],
    now: Callable[[], dt.datetime],
    systemctl: Systemctl | None = None,
    packages: PackageIndex | None = None,
    on_outcome: OnOutcome | None = None,
) -> tuple[ScanReport, list[Outcome]]:
    """Plan (and unless ``dry_run``, apply) remediation of ``report``; the report says what was done.

    Exit code: FOUND when everything found was handled as asked, ACTION_FAILED when an action failed
    or needs a manual step. ``on_outcome`` is passed to ``apply``.
    """
    if policy.action is Action.REPORT or not report.detections:
        return replace(report, action=policy.action), []
    the_plan = plan(report.detections, policy, families=families, packages=packages)
    outcomes = (
        []
        if dry_run
        else apply(the_plan, vault, report.scan_id, policy, now=now, systemctl=systemctl, on_outcome=on_outcome)
    )
    failed = sum(1 for o in outcomes if not o.ok)
    section: dict[str, Any] = {
        "dry_run": dry_run,
        "plan": plan_json(the_plan),
        "outcomes": [outcome_record(o).to_json() for o in outcomes],
        "notes": list(the_plan.notes),
        "not_acted_on": threshold.held_json(the_plan.held),
    }
    code = report.exit_code
    if not dry_run and report.detections:
        code = ExitCode.ACTION_FAILED if failed else ExitCode.FOUND
    return replace(
        report,
        action=policy.action,
        detections=tuple(annotate(report.detections, outcomes, dry_run, the_plan)),
        exit_code=code,
        extra={**report.extra, "remediation": section},
    ), outcomes
