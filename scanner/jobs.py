"""The scan-and-act pipeline: scan -> plan -> apply -> history record (and scan log), for every caller.

``run(job, state)`` is what ``scanner scan`` does once its options are parsed, and ``monthly``
(update the signatures, then a quick scan through ``run``) is the monthly run;
``undo(state, scan_id)`` reverses a recorded run. Nothing here prints or exits: each
returns a value (``JobResult``, ``UndoOutcome``) with the report, the outcomes, the notices the
user must see now, and the exit code; ``cli`` renders it.

The record-keeping is ``RunRecord``: the history record of one run written "in progress" before
anything is changed, kept current after each persistence edit, and completed at the end, so
``scanner undo`` works even after a kill. A caller that remediates in batches (the watch: files
into the vault in one ``Vault.batch()``, persistence in a second phase) calls the steps one by
one: ``plan`` (files only, then the rest without the files already taken), ``apply`` (batched),
and one ``RunRecord`` per batch, begun before the first phase and completed after each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scanner import scanlog
from scanner.config import Config
from scanner.engine import prepare
from scanner.engine.prepare import Preparation
from scanner.errors import ScannerError, UsageError
from scanner.fleet.reporter import Reporter
from scanner.history import (
    COMPLETE,
    IN_PROGRESS,
    History,
    HistoryRecord,
    OutcomeRecord,
    history_record,
    undone,
)
from scanner.model import (
    Action,
    Detection,
    ExitCode,
    Family,
    Policy,
    ScanReport,
    ScanType,
    Severity,
    display_path,
    utc_now,
)
from scanner.safefs import read_regular, write_atomic
from scanner.scanning.archives import ArchiveLimits
from scanner.scanning.filecache import CacheMode
from scanner.scanning.scan import Progress, ScanRequest, new_scan_id, run_scan
from scanner.scanning.walk import PathRegexes, WalkOptions, dir_identity
from scanner.state import StateDir
from scanner.updates import signatures

if TYPE_CHECKING:  # imported where used: a report-only scan starts faster without remediation
    from scanner.remediation.packages import PackageIndex
    from scanner.remediation.quarantine import Vault
    from scanner.remediation.remediate import Applied, Outcome, Plan, Systemctl, UndoResult
    from scanner.updates.feed import FeedSettings

logger = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]


def run_systemctl(args: Sequence[str], user: bool) -> str | None:
    """Run ``systemctl [--user] ARGS`` for a persistence clean-up; the first line of its error, or None."""
    from scanner import programs  # subprocess: only when a clean-up needs it

    try:
        res = programs.systemctl(list(args), user=user)
    except ScannerError as exc:
        logger.info("systemctl %s: %s", " ".join(args), exc)
        return str(exc)
    if res.returncode == 0:
        return None
    return (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[0]


class ProgressSink(Protocol):
    """A progress display: called with each snapshot while scanning, closed when the scan ends."""

    def __call__(self, p: Progress) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Job:
    """One scan-and-act run, as a caller asks for it."""

    request: ScanRequest
    """What to scan."""
    loaded: signatures.LoadedRules
    """The rules to scan with (their families guide the persistence search)."""
    policy: Policy
    """What to do with what is found."""
    command: str
    """The command, as the history names it: scan, monthly."""
    dry_run: bool = False
    """Plan only: change nothing, record the plan."""
    warnings: tuple[str, ...] = ()
    """Warnings of the caller that belong in the report (a failed update, a missing path)."""
    vault_dir: Path | None = None
    """Quarantine into a vault at this directory (``--move=DIR``) instead of the state directory's."""
    prepare_routes: bool = True
    """When the rules were compiled afresh, build their routed sets for the next scans in the background once
    the scan has ended ([rules] prepare; ``scanner.engine.prepare``)."""


@dataclass(frozen=True)
class JobResult:
    """What a run found and did."""

    report: ScanReport
    """The report, annotated with what was done; its warnings include every warning of the run."""
    outcomes: tuple[OutcomeRecord, ...]
    """What each remediation step did, as recorded in the history."""
    notices: tuple[str, ...]
    """Warnings the user must see now, beyond the report (quarantine recovery, a record or log not written)."""
    preparation: Preparation | None = None
    """The background preparation of the rules' routed sets this run started, if any."""

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code."""
        return ExitCode(self.report.exit_code)


def open_vault(state: StateDir, root: Path | None = None) -> tuple[Vault, list[str]]:
    """The quarantine vault (the state directory's, or the one at ``root``: ``--move=DIR``), after finishing
    or rolling back anything a crash interrupted, and what to tell the user about that. A vault at ``root``
    is remembered in the state directory, so the quarantine commands and ``undo`` find its items."""
    from scanner.remediation.quarantine import Vault

    if root is not None and os.path.abspath(root) != os.path.abspath(state.quarantine):
        remember_vault(state, root)
    vault = Vault(state.quarantine if root is None else Path(os.path.abspath(root)))
    notices = [f"quarantine: {line}" for line in vault.recover()]
    notices += [f"quarantine: damaged record {bad} (left alone)" for bad in vault.damaged()]
    return vault, notices


MONTHLY_PREPARE_WAIT = 30 * 60
"""Seconds the monthly run waits for the background preparation it started before it ends."""
MAX_VAULTS = 64
"""Vaults outside the state directory (``--move=DIR``) remembered at most; the oldest is forgotten first
(its items stay where they are, and ``--move`` to it again remembers it again)."""


def vault_roots(state: StateDir) -> list[Path]:
    """The state directory's vault, then every vault ``--move=DIR`` made that still exists."""
    roots = [state.quarantine]
    try:
        text = read_regular(state.other_vaults, 64 * 1024).decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return roots
    except (OSError, ValueError) as exc:
        logger.warning("list of other vaults %s not read: %s", state.other_vaults, exc)
        return roots
    for line in text.splitlines()[-MAX_VAULTS:]:
        if line.startswith("/") and "\0" not in line and os.path.isdir(line) and Path(line) not in roots:
            roots.append(Path(line))
    return roots


def remember_vault(state: StateDir, root: Path) -> None:
    """Add ``root`` (made absolute) to the vaults the quarantine commands and ``undo`` look in."""
    known = vault_roots(state)[1:]
    where = Path(os.path.abspath(root))
    if where in known:
        return
    known = [*known, where][-MAX_VAULTS:]
    state.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = "".join(os.fsdecode(p) + "\n" for p in known).encode("utf-8", "surrogateescape")
    write_atomic(state.other_vaults, data)
    logger.info("vault %s remembered in %s", display_path(os.fspath(where)), state.other_vaults)


def vault_holding(state: StateDir, item_id: str | None = None, scan_id: str | None = None) -> Path:
    """The root of the vault that holds item ``item_id`` (or an item of scan ``scan_id``); the state
    directory's vault when none does."""
    from scanner.remediation.quarantine import Vault

    for root in vault_roots(state):
        vault = Vault(root)
        if item_id is not None and vault.has(item_id):
            return root
        if scan_id is not None and any(i.scan_id == scan_id for i in vault.list()):
            return root
    return state.quarantine


class RunRecord:
    """The history record of one run while it acts: begun, kept current, completed.

    A record that cannot be written is remembered (``failure``) rather than raised: the run goes on,
    and the caller tells the user, since what was changed is still in the vault under the scan id.
    """

    def __init__(
        self, history: History, report: ScanReport, command: str, sysroot: Path, dry_run: bool = False
    ) -> None:
        self.history = history
        self.report = report
        self.command = command
        self.sysroot = sysroot
        self.dry_run = dry_run
        self.failure: str | None = None
        """Why the last write failed, or None when the record on disk is current."""

    @classmethod
    def of(cls, state: StateDir, report: ScanReport, command: str, sysroot: Path, dry_run: bool = False) -> RunRecord:
        """The record of a run in ``state``'s history (not written yet: see ``begin`` and ``complete``)."""
        return cls(History(state.history), report, command, sysroot, dry_run)

    def begin(self) -> None:
        """Write the record "in progress", before anything is changed."""
        self._save(self.report, [], IN_PROGRESS)
        if self.failure is not None:
            logger.warning("history record of %s not written before acting: %s", self.report.scan_id, self.failure)

    def keep_current(self, done: Sequence[Outcome]) -> None:
        """After each applied step (``remediate.apply``'s ``on_outcome``): record persistence edits as they
        happen (removed unit links are not in the vault; moved files are found there by scan id)."""
        from scanner.remediation.remediate import Step, outcome_record

        if done[-1].action.step is Step.CLEAN and self.failure is None:
            with contextlib.suppress(ScannerError):
                self.history.save(
                    history_record(
                        self.report,
                        self.command,
                        [outcome_record(o) for o in done],
                        self.dry_run,
                        self.sysroot,
                        state=IN_PROGRESS,
                    )
                )

    def complete(self, report: ScanReport, outcomes: Sequence[OutcomeRecord]) -> str | None:
        """Write the finished record (again, for a batch that gained outcomes); why it failed, or None."""
        self.report = report
        self._save(report, outcomes)
        return self.failure

    def _save(self, report: ScanReport, outcomes: Sequence[OutcomeRecord], state: str = COMPLETE) -> None:
        try:
            self.history.save(history_record(report, self.command, outcomes, self.dry_run, self.sysroot, state))
            self.failure = None
        except ScannerError as exc:
            self.failure = str(exc)


def not_recorded(scan_id: str, failure: str) -> str:
    """What the user is told when the history record of a run that changed something could not be written."""
    return (
        f"the history record of scan {scan_id} could not be written ({failure}); "
        f"what it changed is in the quarantine: try 'scanner undo {scan_id}' or "
        "'scanner quarantine list'"
    )


def families_of(*loaded: signatures.LoadedRules) -> dict[str, Family]:
    """The families of the rule sets (their markers and paths guide the persistence search), by name."""
    return {f.name: f for rules in loaded if rules.sigset for f in rules.sigset.families}


def own_namespaces(loaded: signatures.LoadedRules) -> frozenset[str]:
    """The namespaces of the project's own signature set among ``loaded`` (acted on at every severity
    unless a minimum is configured); none with --no-default-rules."""
    return frozenset(s.namespace for s in loaded.sigset.sources()) if loaded.sigset else frozenset()


def plan(
    detections: Sequence[Detection],
    policy: Policy,
    *,
    families: Mapping[str, Family] | None = None,
    packages: PackageIndex | None = None,
    persistence_search: bool = True,
    done: frozenset[str] = frozenset(),
) -> Plan:
    """What to do about ``detections`` (``remediate.plan``), without the steps on files in ``done``.

    A caller that acts in phases plans the files alone first (``persistence_search`` False: no
    persistence location is read), then everything, with the files the first phase took as ``done``.
    """
    from scanner.remediation import remediate

    the_plan = remediate.plan(
        detections, policy, families=families, packages=packages, persistence_search=persistence_search
    )
    if not done:
        return the_plan
    kept = tuple(a for a in the_plan.actions if (a.path or a.tied_to) not in done)
    return remediate.Plan(kept, the_plan.notes, the_plan.held)


def apply(
    the_plan: Plan,
    vault: Vault,
    scan_id: str,
    policy: Policy,
    *,
    now: Now,
    systemctl: Systemctl | None = None,
    batched: bool = False,
) -> Applied:
    """Carry out ``the_plan`` (every step is attempted; failures are outcomes), the files into the vault
    in one batch when ``batched`` (``remediate.apply_batched``: one round of flushes for many files)."""
    from scanner.remediation import remediate

    if batched:
        return remediate.apply_batched(the_plan, vault, scan_id, policy, now=now, systemctl=systemctl)
    return remediate.Applied(tuple(remediate.apply(the_plan, vault, scan_id, policy, now=now, systemctl=systemctl)))


def act(
    report: ScanReport, job: Job, state: StateDir, record: RunRecord, *, now: Now, systemctl: Systemctl | None
) -> tuple[ScanReport, list[OutcomeRecord], list[str]]:
    """Plan and (unless a dry run) apply remediation of ``report``, keeping ``record`` current.

    Returns the annotated report, the outcomes, and the notices of opening the vault.
    """
    from scanner.remediation import remediate

    families = families_of(job.loaded)
    vault, notices = open_vault(state, job.vault_dir)
    if not job.dry_run:
        record.begin()
    result, done = remediate.remediate(
        report,
        job.policy,
        vault,
        dry_run=job.dry_run,
        families=families,
        now=now,
        systemctl=systemctl,
        on_outcome=None if job.dry_run else record.keep_current,
    )
    return result, [remediate.outcome_record(o) for o in done], notices


def run(
    job: Job,
    state: StateDir,
    *,
    progress: ProgressSink | None = None,
    now: Now = utc_now,
    systemctl: Systemctl | None = run_systemctl,
    fleet: Reporter | None = None,
) -> JobResult:
    """Scan, remediate as ``job.policy`` says, record the run in the history, and log it; events and
    metrics go to ``fleet`` (a sink that is down is a notice, never a failure of the run).

    A record that cannot be written after something was changed is a loud notice, a report warning
    and ``ExitCode.ACTION_FAILED``, never "all actions done".
    """
    fleet = fleet or Reporter.off()
    scan_id = new_scan_id(now())  # the scan-started event carries the id the report and the history will have
    fleet.scan_started(scan_id, job.command, job.request.scan_type.value, job.request.paths)
    try:
        report = run_scan(
            job.request,
            job.loaded.rules,
            job.loaded.info,
            progress=progress,
            warnings=(*job.warnings, *job.loaded.warnings),
        )
    except ScannerError as exc:
        fleet.scan_failed(scan_id, job.command, exc)
        raise
    finally:
        if progress is not None:
            progress.close()
    report = replace(report, scan_id=scan_id)
    if engine_warnings := job.loaded.rules.engine_warnings.take():
        report = replace(report, warnings=(*report.warnings, *engine_warnings))
    record = RunRecord.of(
        state, replace(report, action=job.policy.action), job.command, job.policy.sysroot, job.dry_run
    )
    outcomes: list[OutcomeRecord] = []
    notices: list[str] = []
    if report.detections and job.policy.action is not Action.REPORT:
        report, outcomes, notices = act(record.report, job, state, record, now=now, systemctl=systemctl)
    else:
        report = record.report
    if (failure := record.complete(report, outcomes)) is not None:
        if any(o.changed for o in outcomes):
            message = not_recorded(report.scan_id, failure)
            logger.info("%s", message)  # the CLI says it as a warning
            report = replace(report, exit_code=ExitCode.ACTION_FAILED, warnings=(*report.warnings, message))
            notices.append(f"NOT RECORDED: {message}")
        else:
            notices.append(failure)
    try:
        scanlog.append(state.scan_log, scanlog.format_block(report, job.command))
    except OSError as exc:
        notices.append(f"cannot write the scan log {state.scan_log}: {exc.strerror}")
    fleet.scan_finished(report, outcomes, job.command, dry_run=job.dry_run)
    notices.extend(fleet.take_warnings())
    preparation = None
    if job.prepare_routes:
        preparation = prepare.start(job.loaded.rules)  # now that the scan is over: never beside it
    elif job.loaded.rules.unprepared is not None:
        logger.info("routed sets not prepared for the next scans: [rules] prepare is false")
    return JobResult(report, tuple(outcomes), tuple(notices), preparation)


def after_scan_hook(config: Config, report: ScanReport) -> str | None:
    """Run ``[hooks] after_scan`` with the JSON report on its standard input; a warning when it failed."""
    if not config.after_scan:
        return None
    from scanner import programs
    from scanner import report as reports

    data = reports.dumps(reports.report_json(report)).encode("utf-8")
    problem = programs.run_hook(config.after_scan, data, config.hook_timeout)
    if problem is not None:
        logger.info("after-scan hook: %s", problem)
        return f"after-scan hook: {problem}"
    logger.info("after-scan hook %s done", config.after_scan[0])
    return None


def size_limit(max_filesize: int) -> int | None:
    """The walk's size limit: 0 means none (as clamscan's --max-filesize=0)."""
    return max_filesize or None


def cache_mode(kind: ScanType, no_cache: bool) -> CacheMode:
    """--no-cache reads everything and records nothing; a full scan re-reads every file but refreshes the cache."""
    if no_cache:
        return CacheMode.OFF
    return CacheMode.REFRESH if kind is ScanType.FULL else CacheMode.USE


def archive_limits(state: StateDir, config: Config, no_archives: bool = False) -> ArchiveLimits | None:
    """How far scans look inside archives (``[archives]``); None when --no-archives or ``[archives] scan =
    false`` turns it off. Members too large for memory go to the state directory's ``scratch``."""
    if no_archives or not config.archives:
        logger.info("archives: not looked into (%s)", "--no-archives" if no_archives else "[archives] scan = false")
        return None
    return ArchiveLimits(
        max_scansize=config.archive_max_scansize,
        max_filesize=config.archive_max_filesize,
        max_recursion=config.archive_max_recursion,
        max_files=config.archive_max_files,
        max_ratio=config.archive_max_ratio,
        max_scantime=float(config.archive_max_scantime),
        tmp_dir=state.scratch,
    )


def load_rules(
    state: StateDir,
    config: Config,
    extra: Sequence[Path],
    use_default: bool,
    *,
    now: Now = utc_now,
    strict: bool | None = None,
) -> signatures.LoadedRules:
    """The rules a scan uses (the active set unless not ``use_default``, plus ``extra``), with a freshness
    warning when the set is older than the configuration allows, and one per file of ``extra`` left out
    because it does not compile (``strict``, else ``[rules] strict``: fail instead)."""
    return signatures.load_rules(
        state,
        extra,
        use_default,
        today=now().date(),
        max_age_days=config.max_signature_age_days,
        strict=config.strict_rules if strict is None else strict,
    )


@dataclass(frozen=True)
class ScanOptions:
    """The ``scan`` command's options; None where the configuration decides."""

    paths: tuple[str, ...] = ()
    """What to scan (with none, and no ``pids``, a quick scan)."""
    scan_type: ScanType | None = None
    """--quick or --full; None: a custom scan of ``paths`` or ``pids``, else a quick scan."""
    sysroot: Path = Path("/")
    """The filesystem root for quick and full scan locations."""
    excludes: tuple[str, ...] = ()
    """Globs not scanned, after the configuration's."""
    one_file_system: bool = False
    """Do not cross into other filesystems below a root."""
    max_filesize: int | None = None
    """Skip larger files (0: no limit)."""
    timeout: int | None = None
    """Per-file timeout in seconds."""
    jobs: int | None = None
    """Scanning threads; None: the configuration's, else the CPU count."""
    processes: bool | None = None
    """Scan running processes; None: for quick and full scans of this machine's root."""
    pids: tuple[int, ...] = ()
    """Processes to scan (no files then, unless ``paths`` or ``scan_type`` ask for them)."""
    action: Action | None = None
    """What to do with what is found."""
    action_min_severity: Severity | None = None
    """Act only on detections at least this severe; None: ``[scan] action_min_severity``."""
    force: bool = False
    """Also move detected files that an installed OS package owns."""
    dry_run: bool = False
    """Plan, and change nothing."""
    no_cache: bool = False
    """Read every file, even one judged before and unchanged since."""
    regex: PathRegexes = field(default_factory=PathRegexes)
    """clamscan's --exclude-regex, --include, --exclude-dir and --include-dir."""
    modified_since_days: float | None = None
    """Scan only files changed in the last this many days (maldet's habit)."""
    stdin: bytes | None = None
    """Data read from standard input, scanned as one file named ``stdin``."""
    on_clean: Callable[[str], None] | None = field(default=None, compare=False)
    """Called with each path found clean (clamscan's "OK" lines)."""
    vault_dir: Path | None = None
    """Quarantine into a vault at this directory (``--move=DIR``)."""
    no_archives: bool = False
    """Match archives as files only, without looking inside (--no-archives)."""


def missing_paths(options: ScanOptions) -> list[str]:
    """A warning for each of ``options.paths`` that does not exist (the scan goes on with the rest, and
    says it is incomplete); UsageError when none exists and nothing else was asked for."""
    missing = [p for p in options.paths if not os.path.lexists(p)]
    if missing and len(missing) == len(options.paths) and options.scan_type is None and not options.pids:
        raise UsageError(f"path not found: {', '.join(display_path(p) for p in missing)}; nothing to scan")
    return [f"path not found: {display_path(p)}; scanning the rest" for p in missing]


def scan_job(state: StateDir, config: Config, options: ScanOptions, rules: signatures.LoadedRules) -> Job:
    """The ``scan`` command's job: its options over the configuration's defaults."""
    custom = options.paths or options.pids or options.stdin is not None
    kind = options.scan_type or (ScanType.CUSTOM if custom else ScanType.QUICK)
    # processes belong to this machine: not scanned by default when looking at another root
    on_host = os.path.realpath(options.sysroot) == "/"
    default_procs = kind is not ScanType.CUSTOM and on_host
    processes = bool(options.pids) or (options.processes if options.processes is not None else default_procs)
    logger.info("scan: %s scan; processes %s", kind.value, "scanned" if processes else "not scanned")
    max_filesize = options.max_filesize if options.max_filesize is not None else config.max_filesize
    request = ScanRequest(
        scan_type=kind,
        paths=options.paths,
        sysroot=options.sysroot,
        walk=WalkOptions(
            excludes=config.excludes + options.excludes,
            one_file_system=options.one_file_system,
            max_filesize=size_limit(max_filesize),
            skip_dirs=dir_identity(state.root),
            regex=options.regex,
            modified_since=modified_since(options.modified_since_days),
        ),
        jobs=options.jobs or config.jobs or os.cpu_count() or 1,
        timeout=options.timeout or config.timeout,
        files=bool(options.paths) or (options.stdin is None and not options.pids) or options.scan_type is not None,
        processes=processes,
        pids=options.pids,
        process_timeout=config.process_timeout,
        process_max_memory=config.process_max_memory,
        cache_dir=state.file_cache,
        cache=cache_mode(kind, options.no_cache),
        stdin=options.stdin,
        on_clean=options.on_clean,
        archives=archive_limits(state, config, options.no_archives),
    )
    policy = Policy(
        options.action or config.action,
        force=options.force,
        sysroot=options.sysroot,
        kill_grace=config.kill_grace,
        min_severity=options.action_min_severity or config.action_min_severity,
        own_namespaces=own_namespaces(rules),
    )
    return Job(
        request,
        rules,
        policy,
        "scan",
        dry_run=options.dry_run,
        vault_dir=options.vault_dir,
        prepare_routes=config.prepare_routes,
    )


def modified_since(days: float | None, now: Callable[[], float] = time.time) -> float | None:
    """The --modified-since cut-off (seconds since the epoch) for files changed in the last ``days`` days."""
    if days is None:
        return None
    cutoff = now() - days * 86400
    logger.info("scanning only files changed since %s", dt.datetime.fromtimestamp(cutoff, dt.UTC).isoformat())
    return cutoff


@dataclass(frozen=True)
class MonthlyRequest:
    """The monthly run's options (the configuration's ``[monthly]`` section adds to them)."""

    paths: tuple[str, ...] = ()
    """Scanned too (as seen from here, not under ``sysroot``), after ``[monthly] paths``."""
    rules: tuple[Path, ...] = ()
    """Rules used too, after ``[monthly] rules``."""
    feed: FeedSettings | None = None
    """The feed to update from; None: no feed configured (the run says so and scans with the current set)."""
    trusted_root: Path | None = None
    """The feed's trust anchor, if given."""
    remember_feed: bool = False
    """Remember the feed for later runs (it was named on the command line)."""
    sysroot: Path = Path("/")
    """The filesystem root to scan."""
    processes: bool | None = None
    """Scan running processes; None: only when ``sysroot`` is this machine's root."""
    action: Action | None = None
    """What to do with what is found; None: ``[monthly] action``."""
    action_min_severity: Severity | None = None
    """Act only on detections at least this severe; None: ``[monthly] action_min_severity``."""
    no_cache: bool = False
    """Read every file, even one judged before and unchanged since."""
    strict_rules: bool | None = None
    """A rule file that does not compile fails the run; None: ``[rules] strict``."""
    no_archives: bool = False
    """Match archives as files only, without looking inside (--no-archives)."""


def update_signatures(state: StateDir, request: MonthlyRequest, fleet: Reporter | None = None) -> list[str]:
    """Update the signature set from the feed; the warnings (a failed update is one: the run goes on)."""
    from scanner.updates import update

    if request.feed is None:
        return ["no update feed configured; scanning with the current signature set"]
    fleet = fleet or Reporter.off()
    try:
        out = update.update(state, request.feed, trusted_root=request.trusted_root, remember=request.remember_feed)
    except ScannerError as exc:
        logger.info("monthly: the signature update failed: %s", exc)
        fleet.update_refused(state, exc)
        return [f"signature update failed; scanning with the current set: {exc}"]
    fleet.update_done(state, out)
    return list(out.warnings)


def monthly(
    state: StateDir,
    config: Config,
    request: MonthlyRequest,
    *,
    now: Now = utc_now,
    systemctl: Systemctl | None = run_systemctl,
    fleet: Reporter | None = None,
) -> JobResult:
    """The unattended monthly run: update the signatures, then a quick scan (with processes on this
    machine) remediated as ``[monthly] action`` says, through ``run``. One monthly run at a time."""
    with state.lock("monthly", "another monthly run"):
        warnings = update_signatures(state, request, fleet)
        try:
            loaded = load_rules(
                state, config, (*config.monthly_rules, *request.rules), True, now=now, strict=request.strict_rules
            )
        except ScannerError as exc:
            (fleet or Reporter.off()).scan_failed(None, "monthly", exc)
            raise
        scan_paths = tuple(dict.fromkeys((*config.monthly_paths, *request.paths)))
        warnings.extend(
            f"path not found: {display_path(p)}; scanning the rest" for p in scan_paths if not os.path.lexists(p)
        )
        on_host = os.path.realpath(request.sysroot) == "/"
        scan = ScanRequest(
            scan_type=ScanType.QUICK,
            paths=scan_paths,
            sysroot=request.sysroot,
            walk=WalkOptions(
                excludes=config.excludes,
                max_filesize=size_limit(config.max_filesize),
                skip_dirs=dir_identity(state.root),
            ),
            jobs=config.jobs or os.cpu_count() or 1,
            timeout=config.timeout,
            processes=request.processes if request.processes is not None else on_host,
            process_timeout=config.process_timeout,
            process_max_memory=config.process_max_memory,
            cache_dir=state.file_cache,
            cache=cache_mode(ScanType.QUICK, request.no_cache),
            archives=archive_limits(state, config, request.no_archives),
        )
        policy = Policy(
            request.action or config.monthly_action,
            sysroot=request.sysroot,
            kill_grace=config.kill_grace,
            min_severity=request.action_min_severity or config.monthly_action_min_severity,
            own_namespaces=own_namespaces(loaded),
        )
        job = Job(scan, loaded, policy, "monthly", warnings=tuple(warnings), prepare_routes=config.prepare_routes)
        result = run(job, state, now=now, systemctl=systemctl, fleet=fleet)
        # unattended: wait for it (a service manager may stop what a finished run leaves behind)
        if result.preparation is not None and not result.preparation.wait(MONTHLY_PREPARE_WAIT):
            logger.info(
                "the preparation of routed sets goes on after the monthly run (process %d)", result.preparation.pid
            )
        return result


# --- undo ----------------------------------------------------------------------------------------------


class UndoStatus(enum.Enum):
    """What ``undo`` made of a scan id."""

    UNDONE = "undone"
    """Its changes were reversed (see ``UndoOutcome.result`` for what could not be)."""
    ALREADY_UNDONE = "already undone"
    """Its record says it was undone before; nothing was done."""
    NOTHING_TO_UNDO = "nothing to undo"
    """It changed nothing."""


@dataclass(frozen=True)
class UndoOutcome:
    """What undoing one scan did."""

    scan_id: str
    """The scan."""
    status: UndoStatus
    """Undone, already undone, or nothing to undo."""
    record: HistoryRecord
    """Its history record (as written after the undo; rebuilt from the vault when there was none)."""
    result: UndoResult | None = None
    """What was put back, the problems and notes (UNDONE only)."""
    notices: tuple[str, ...] = ()
    """Warnings the user must see (quarantine recovery, undo without a history record)."""

    @property
    def exit_code(self) -> ExitCode:
        """ERROR when something could not be put back, else CLEAN."""
        return ExitCode.ERROR if self.result is not None and self.result.problems else ExitCode.CLEAN


def undo(state: StateDir, scan_id: str, *, now: Now = utc_now) -> UndoOutcome:
    """Reverse everything scan ``scan_id`` changed, from its history record, and mark the record undone.

    A scan that was interrupted, or whose record could not be written, is undone from what the
    quarantine holds under its scan id. UsageError when there is neither a record nor a vault item.
    """
    from scanner.remediation.remediate import undo as undo_scan
    from scanner.remediation.remediate import vault_items_of

    history = History(state.history)
    notices: list[str] = []
    vault: Vault | None = None
    holder = vault_holding(state, scan_id=scan_id)
    try:
        record = history.load(scan_id)
    except UsageError:
        vault, notices = open_vault(state, holder)
        if not vault_items_of(vault, scan_id):
            raise
        logger.info("undo %s: no history record; using the quarantine items of that scan", scan_id)
        notices.append(f"no history record of scan {scan_id}; undoing what the quarantine holds for it")
        record = HistoryRecord(scan_id, "unknown", state=IN_PROGRESS)
    if record.undone_at:
        logger.info("undo %s: already undone at %s", scan_id, record.undone_at)
        return UndoOutcome(scan_id, UndoStatus.ALREADY_UNDONE, record, notices=tuple(notices))
    if not record.incomplete and not any(o.changed for o in record.outcomes):
        logger.info("undo %s: the scan changed nothing", scan_id)
        return UndoOutcome(scan_id, UndoStatus.NOTHING_TO_UNDO, record, notices=tuple(notices))
    if vault is None:
        vault, notices = open_vault(state, holder)
    result = undo_scan(record.outcomes, vault, Path(record.sysroot), scan_id, unfinished=record.incomplete)
    record = undone(record, now().isoformat(timespec="seconds"), result.restored, result.problems)
    history.save(record)
    return UndoOutcome(scan_id, UndoStatus.UNDONE, record, result, tuple(notices))
