"""The watch's remediation: what the scanning threads found goes into the vault, then persistence is
cleaned, each batch recorded in the history so ``scanner undo SCAN_ID`` reverses it.

Remediation is the pipeline's (``jobs``) plan, apply and record steps, as in ``scan --action
quarantine``, in two phases so that a detected file is in the vault within a fraction of a second:
first the file steps alone (a group of files in one vault batch), then, in another thread, the
full plan (persistence that points at the file or belongs to its family, and detected persistence
files, which lose lines rather than go whole). Both phases of a batch go into one history record
(``jobs.RunRecord``), begun "in progress" before the first, so a watch killed mid-batch leaves a
record that ``scanner undo`` uses, and completed after each phase.

The rest of the watch sees only ``Remediator``: ``prepare``, ``start``, ``submit`` (a match),
and at the stop ``drain`` and ``finish_cleanup``. Everything about how a match is acted on stays
in this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from scanner import jobs
from scanner.errors import ScannerError
from scanner.model import Action, Detection, ExitCode, Policy, ScanCounts, ScanReport, ScanType, display_path
from scanner.remediation import persistence
from scanner.remediation.packages import PackageIndex
from scanner.remediation.quarantine import Vault
from scanner.remediation.remediate import Outcome, annotate, outcome_record
from scanner.remediation.remediate import Systemctl as Systemctl  # part of this module's interface
from scanner.scanning.locations import reroot
from scanner.scanning.scan import FileResult, detections_from, new_scan_id
from scanner.scanning.walk import FileEntry
from scanner.updates import signatures
from scanner.watch.config import WatchConfig
from scanner.watch.events import EventLog, WatchEventKind
from scanner.watch.queues import Counters
from scanner.watch.scope import stat_key

logger = logging.getLogger(__name__)

_DUPLICATE_WINDOW = 60.0
"""Seconds during which the same detected file (path, inode, content) is handled once."""
_LOCATIONS_MAX_AGE = 30.0
"""Seconds between refreshes of the list of persistence locations the first phase leaves alone."""
_GATHER_SECONDS = 0.5
"""During a burst, how long the second phase waits for more batches before it reads persistence."""
_MAX_GROUP = 256
"""Batches that share one second-phase plan at the most."""

_Found = tuple[FileResult, signatures.LoadedRules, FileEntry]


@dataclass
class _Batch:
    """Detections remediated together: one history record, one scan id."""

    report: ScanReport
    """The detections as found (not annotated), with the batch's scan id."""
    loaded: signatures.LoadedRules
    """The rules that found them (their families guide the persistence search)."""
    t0: float
    """When handling began (monotonic)."""
    record: jobs.RunRecord
    """Its history record: begun before the first phase, completed after each."""
    acted: frozenset[str] = frozenset()
    """Files the first phase took care of."""
    outcomes: list[Outcome] = field(default_factory=list)
    """Everything done so far."""
    shown: list[Detection] = field(default_factory=list)
    """First-phase detections, saying what was done."""
    later: list[Detection] = field(default_factory=list)
    """Detections in persistence locations, left to the second phase."""
    unrecorded: bool = False
    """A record that could not be written after changes was said and counted as a failed action already."""


def _concerns(outcome: Outcome, batch: _Batch) -> bool:
    """Whether a second-phase step belongs in ``batch``'s record: its own file, or persistence of its families."""
    a = outcome.action
    if a.path is not None:
        return any(d.path == a.path for d in batch.later)
    return not a.families or bool({d.hit.family for d in batch.report.detections} & set(a.families))


class Remediator:
    """The two remediation threads of a watch (``watch-act``, ``watch-clean``) and what they share."""

    def __init__(
        self,
        cfg: WatchConfig,
        roots: tuple[str, ...],
        events: EventLog,
        counters: Counters,
        now: Callable[[], dt.datetime],
        systemctl: Systemctl | None,
    ) -> None:
        self._cfg, self._roots, self._events, self._counters = cfg, roots, events, counters
        self._now, self._systemctl = now, systemctl
        self._vault = Vault(cfg.state.quarantine, now=now)
        self._found: queue.Queue[_Found] = queue.Queue(maxsize=4096)
        self._second: queue.Queue[_Batch] = queue.Queue(maxsize=1024)
        self._scanned_all = threading.Event()  # act: handle what was found, then stop
        self._stop_acting = threading.Event()  # act: stop after the current batch
        self._acted_all = threading.Event()  # clean: finish what is queued, then stop
        self._abandon_cleanup = threading.Event()  # clean: stop after the current batch
        self._in_hand: list[str] = []  # the detections the act thread is handling
        self._recent: dict[tuple[str, int, str | None], float] = {}
        self._noted: set[str] = set()
        self._packages: PackageIndex | None = None
        self._packages_mark: tuple[int, int] | None = None
        self._packages_lock = threading.Lock()
        self._locations: frozenset[str] = frozenset()
        self._location_dirs: frozenset[str] = frozenset()
        self._locations_at = 0.0
        self._act = threading.Thread(target=self._act_loop, name="watch-act", daemon=True)
        self._clean = threading.Thread(target=self._clean_loop, name="watch-clean", daemon=True)

    # -- the interface -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Before the threads start: finish what an earlier crash left in the vault; list persistence locations."""
        for line in self._vault.recover():
            self._events.emit(WatchEventKind.WARNING, f"quarantine: {line}")
        self._refresh_locations()

    def start(self) -> None:
        """Start both threads."""
        self._act.start()
        self._clean.start()

    def submit(
        self, result: FileResult, loaded: signatures.LoadedRules, entry: FileEntry, give_up: threading.Event
    ) -> None:
        """A file ``loaded`` matched (``entry``: its facts when scanned); waits for room until ``give_up``."""
        while not give_up.is_set():
            with contextlib.suppress(queue.Full):
                self._found.put((result, loaded, entry), timeout=0.1)
                return

    def drain(self, deadline: float) -> list[str]:
        """At the stop: handle what was found until ``deadline`` (monotonic; at least ``shutdown_grace``
        seconds), then the batch in hand; the detected files left not handled (to be saved)."""
        self._scanned_all.set()  # what was found goes into the vault while the grace period lasts
        self._act.join(max(self._cfg.shutdown_grace, deadline - time.monotonic()))
        if self._act.is_alive():
            logger.info("stop: detections still waiting at the deadline; finishing the batch in hand only")
            self._stop_acting.set()  # finish the batch in hand; the rest is saved
            self._act.join(60.0)
        unhandled: list[str] = []
        if self._act.is_alive():  # stuck (the vault locked by another command): its batch is saved too
            logger.warning("the remediation thread did not finish its batch; saving it for the next start")
            unhandled += self._in_hand
        with contextlib.suppress(queue.Empty):
            while True:
                result, _loaded, entry = self._found.get_nowait()
                if (result.path, entry.identity.ino, result.sha256) in self._recent or not os.path.lexists(result.path):
                    continue  # found twice (an event and a rescan) and handled already, or gone since
                unhandled.append(result.path)
        return list(dict.fromkeys(unhandled))

    def finish_cleanup(self, deadline: float) -> int:
        """At the stop, after ``drain``: clean persistence until ``deadline`` (at least half a second),
        then stop after the current batch; how many batches were left unchecked."""
        self._acted_all.set()
        self._clean.join(max(0.5, deadline - time.monotonic()))
        if self._clean.is_alive():
            logger.info("stop: persistence clean-up still busy at the deadline; stopping after its batch")
            self._abandon_cleanup.set()
            self._clean.join(self._cfg.shutdown_grace)
        return self._second.qsize()

    # -- first phase: the files --------------------------------------------------------------------------

    def _act_loop(self) -> None:
        with contextlib.suppress(Exception):  # loads the package index before it is first needed
            self._package_index().owner("/")
        while not self._stop_acting.is_set():
            try:
                batch = [self._found.get(timeout=0.1)]
            except queue.Empty:
                if self._scanned_all.is_set():
                    return
                continue
            with contextlib.suppress(queue.Empty):
                while len(batch) < 64:
                    batch.append(self._found.get_nowait())
            self._in_hand = [r.path for r, _l, _e in batch]  # saved by a stop that cannot wait for them
            groups: dict[int, list[_Found]] = {}
            for found in batch:
                groups.setdefault(id(found[1]), []).append(found)
            for group in groups.values():
                try:
                    self._handle(group)
                except Exception as exc:  # one failed batch must not end the watch
                    logger.debug("handling a batch of detections failed", exc_info=True)
                    paths = ", ".join(display_path(r.path) for r, _l, _e in group)
                    self._events.emit(WatchEventKind.ERROR, f"handling detections in {paths} failed: {exc}")
            self._in_hand = []

    def _fresh(self, group: Iterable[_Found]) -> list[FileResult]:
        """The results not handled already (an event and a rescan can both find the same file)."""
        now = time.monotonic()
        self._recent = {k: t for k, t in self._recent.items() if now - t < _DUPLICATE_WINDOW}
        out = []
        for result, _loaded, entry in group:
            key = (result.path, entry.identity.ino, result.sha256)
            if key not in self._recent:
                self._recent[key] = now
                out.append(result)
            else:
                logger.debug("%s found again within %g s; handled already", result.path, _DUPLICATE_WINDOW)
        return out

    def _handle(self, group: list[_Found]) -> None:
        """A group found with the same rules: one batch, one scan id; its files into the vault at once."""
        loaded = group[0][1]
        results = self._fresh(group)
        if not results:
            return
        started = self._now()
        detections = detections_from(results, list(self._roots))
        report = ScanReport(
            scan_id=new_scan_id(started),
            scan_type=ScanType.CUSTOM,
            roots=self._roots,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=started.isoformat(timespec="seconds"),
            duration_s=0.0,
            signatures=loaded.info,
            counts=ScanCounts(
                files_scanned=len(results), bytes_scanned=sum(r.size for r in results), detections=len(detections)
            ),
            detections=tuple(detections),
            action=self._cfg.action,
            exit_code=ExitCode.FOUND,
        )
        record = jobs.RunRecord.of(self._cfg.state, report, "watch", self._cfg.sysroot)
        batch = _Batch(report, loaded, time.monotonic(), record)
        if self._cfg.action is Action.REPORT:
            self._record(batch, detections)
            self._announce(batch, detections)
            return
        record.begin()  # before anything moves: a watch killed mid-batch leaves a record undo can use
        self._take_files(batch, detections)
        self._record(batch, batch.shown + batch.later)
        self._announce(batch, batch.shown)
        while True:  # the second phase must not be lost; waiting here slows the first phase down instead
            with contextlib.suppress(queue.Full):
                self._second.put(batch, timeout=0.5)
                return

    def _take_files(self, batch: _Batch, detections: list[Detection]) -> None:
        """First phase of remediation: take the detected files into the vault at once.

        The plan here is ``jobs.plan`` without the persistence search, which holds the file
        steps (quarantine, or a manual step for a file a package owns) and nothing else, so it
        reads no persistence location; ``jobs.apply`` takes the files in one vault batch. A
        detected file that is itself a persistence location (a crontab, a ``.bashrc``) must lose
        lines rather than go whole, so it waits for the second phase.
        """
        now_ = [d for d in detections if not self._maybe_persistence(d.path)]
        batch.later = [d for d in detections if self._maybe_persistence(d.path)]
        if batch.later:
            logger.info(
                "%d detections in persistence locations left to the clean-up: %s",
                len(batch.later),
                ", ".join(d.path or "?" for d in batch.later),
            )
        if not now_:
            return
        policy = self._policy(batch.loaded)
        first = jobs.plan(now_, policy, packages=self._package_index(), persistence_search=False)
        applied = jobs.apply(first, self._vault, batch.report.scan_id, policy, now=self._now, batched=True)
        if applied.vault_error is not None:
            self._events.emit(WatchEventKind.ERROR, f"quarantine vault: {applied.vault_error}")
        batch.outcomes = list(applied.outcomes)
        self._counters.add(failed=sum(1 for o in batch.outcomes if not o.ok))
        batch.acted = frozenset(d.path for d in now_ if d.path is not None)
        batch.shown = annotate(now_, batch.outcomes, False, first)

    # -- second phase: persistence ---------------------------------------------------------------------

    def _clean_loop(self) -> None:
        while not self._abandon_cleanup.is_set():
            try:
                batches = [self._second.get(timeout=0.1)]
            except queue.Empty:
                if self._acted_all.is_set():
                    return
                if time.monotonic() - self._locations_at > _LOCATIONS_MAX_AGE:
                    self._refresh_locations()
                continue
            self._gather(batches)
            try:
                self._clean_up(batches)
            except Exception as exc:  # one failed clean-up must not end the watch
                logger.debug("persistence clean-up failed", exc_info=True)
                ids = ", ".join(b.report.scan_id for b in batches)
                self._events.emit(WatchEventKind.ERROR, f"persistence clean-up for {ids} failed: {exc}")
            if time.monotonic() - self._locations_at > _LOCATIONS_MAX_AGE:
                self._refresh_locations()

    def _gather(self, batches: list[_Batch]) -> None:
        """Add the batches waiting for the second phase to ``batches``; while the first phase still has
        detections queued (a burst), wait up to ``_GATHER_SECONDS`` for more, so one reading of every
        persistence location serves many batches instead of each taking the CPU from quarantining."""
        until = time.monotonic() + _GATHER_SECONDS
        while len(batches) < _MAX_GROUP:
            try:
                batches.append(self._second.get_nowait())
                continue
            except queue.Empty:
                pass
            if self._found.empty() or time.monotonic() >= until or self._abandon_cleanup.is_set():
                return
            time.sleep(0.02)

    def _clean_up(self, batches: list[_Batch]) -> None:
        """Second phase: the full ``jobs.plan`` against the real root, without the steps already taken.

        It finds persistence that points at the quarantined files or belongs to their families,
        and handles detected persistence files line by line, as ``scan --action quarantine`` does.
        Batches waiting together share one plan (reading every persistence location costs the
        same for one detection as for fifty); each step goes into the history record of the
        batches it concerns, so ``scanner undo`` of a batch reverses both phases.
        """
        policy = self._policy(*(b.loaded for b in batches))
        acted = frozenset[str]().union(*(b.acted for b in batches))
        detections = [d for b in batches for d in b.report.detections]
        rest = jobs.plan(
            detections,
            policy,
            families=jobs.families_of(*(b.loaded for b in batches)),
            packages=self._package_index(),
            done=acted,
        )
        logger.debug("clean-up of %d batches: %d steps", len(batches), len(rest.actions))
        more = jobs.apply(
            rest, self._vault, batches[0].report.scan_id, policy, now=self._now, systemctl=self._systemctl
        ).outcomes
        self._counters.add(failed=sum(1 for o in more if not o.ok))
        for batch in batches:
            mine = [o for o in more if _concerns(o, batch)]
            late = annotate(batch.later, mine, False, rest)
            batch.outcomes = batch.outcomes + mine
            self._record(batch, batch.shown + late)
            self._announce(batch, late)
        for o in more:
            if o.action.path is not None and any(o.action.path in {d.path for d in b.later} for b in batches):
                continue  # told with its detection
            owner = next((b for b in batches if any(o is m for m in b.outcomes)), batches[0])
            self._events.emit(
                WatchEventKind.CLEANUP,
                f"{o.action.describe()}: {o.message} [{owner.report.scan_id}]",
                path=o.action.target,
                scan_id=owner.report.scan_id,
            )
        for note in rest.notes:
            if note not in self._noted:
                self._noted.add(note)
                self._events.emit(WatchEventKind.WARNING, note)

    # -- both phases ---------------------------------------------------------------------------------

    def _record(self, batch: _Batch, detections: list[Detection]) -> None:
        """Complete the batch's history record with what was done so far, so ``scanner undo`` can reverse it.

        A record that cannot be written after something was changed is a failed action and a
        warning (once per batch), as it is for ``scanner scan``.
        """
        failed = any(not o.ok for o in batch.outcomes)
        report = replace(
            batch.report,
            detections=tuple(detections),
            finished_at=self._now().isoformat(timespec="seconds"),
            duration_s=round(time.monotonic() - batch.t0, 3),
            exit_code=ExitCode.ACTION_FAILED if failed else ExitCode.FOUND,
        )
        outcomes = [outcome_record(o) for o in batch.outcomes]
        if (failure := batch.record.complete(report, outcomes)) is None:
            return
        scan_id = report.scan_id
        logger.info("history record of %s not written: %s", scan_id, failure)
        if not any(o.changed for o in outcomes):
            self._events.emit(WatchEventKind.WARNING, f"{failure}; 'scanner undo {scan_id}' will not work")
            return
        if not batch.unrecorded:  # said once per batch, though both phases may fail to write it
            batch.unrecorded = True
            self._counters.add(failed=1)
            self._events.emit(WatchEventKind.WARNING, f"NOT RECORDED: {jobs.not_recorded(scan_id, failure)}")

    def _announce(self, batch: _Batch, detections: list[Detection]) -> None:
        scan_id = batch.report.scan_id
        self._counters.add(detections=len(detections))
        for d in detections:
            by = f"; {attribution}" if (attribution := d.hit.attribution()) else ""
            self._events.emit(
                WatchEventKind.DETECTION,
                f"{d.hit.family} ({d.hit.namespace}:{d.hit.rule}) in "
                f"{display_path(d.shown_path or '?')} -> {d.action} [{scan_id}]{by}",
                path=d.path,
                detection=d,
                scan_id=scan_id,
            )

    def _policy(self, *loaded: signatures.LoadedRules) -> Policy:
        """What the watch does with what it finds (quarantine or report), on its root; the project's own
        rules among ``loaded`` are acted on at every severity unless a minimum is set."""
        return Policy(
            self._cfg.action,
            sysroot=self._cfg.sysroot,
            kill_grace=self._cfg.kill_grace,
            min_severity=self._cfg.action_min_severity,
            own_namespaces=frozenset[str]().union(*(jobs.own_namespaces(x) for x in loaded)),
        )

    def _maybe_persistence(self, path: str | None) -> bool:
        """Whether a detected file is (or, being new in such a folder, may be) a persistence location."""
        real = os.path.realpath(path or "")
        return real in self._locations or os.path.dirname(real) in self._location_dirs

    def _refresh_locations(self) -> None:
        """The persistence locations that exist now (what the first phase must leave to the second)."""
        try:
            found, _skipped = persistence.list_locations(self._cfg.sysroot)
        except (ScannerError, OSError) as exc:
            logger.info("persistence locations could not be listed: %s", exc)
            self._events.emit(WatchEventKind.WARNING, f"persistence locations could not be listed: {exc}")
            found = []
        self._locations = frozenset(os.path.realpath(loc.host_path) for loc in found)
        self._location_dirs = frozenset(os.path.dirname(p) for p in self._locations)
        self._locations_at = time.monotonic()

    def _package_index(self) -> PackageIndex:
        """Which package owns a file; read again when the dpkg database changes."""
        mark = stat_key(Path(reroot(self._cfg.sysroot, "/var/lib/dpkg/info")))
        with self._packages_lock:
            if self._packages is None or mark != self._packages_mark:
                logger.debug("package index (re)read for %s", self._cfg.sysroot)
                self._packages, self._packages_mark = PackageIndex(self._cfg.sysroot), mark
            return self._packages
