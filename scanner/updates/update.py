"""Signature updates: fetch the feed's bundle, test it, make it active atomically; roll back.

One updater at a time (an exclusive lock in ``StateDir.locks``). A bundle becomes
active only after it unpacked safely, every rule compiled, every shipped sample hit
its rule, and no rule hit the scanner's own files or the host's core binaries; on
any failure the current set stays active and a ``FeedError`` says which check failed.
Every update, refusal and rollback is appended to ``StateDir.logs/update.log``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner.errors import FeedError, RuleError, ScannerError, StateError
from scanner.model import printable, utc_now
from scanner.state import LockBusy, StateDir
from scanner.updates import bundle, feed, signatures, store
from scanner.updates.http import Downloader

logger = logging.getLogger(__name__)

LOG_NAME = "update.log"
LOCK_NAME = "update"
_INCLUDE_RE = re.compile(rb'^\s*include\s+"([^"]*)"', re.MULTILINE)

Clock = Callable[[], dt.datetime]


def _no_checkpoint(_step: str) -> None:
    return None


class UpdateStatus(enum.Enum):
    """What an update or check found and did."""

    UPDATED = "updated"
    """A newer set was installed and is now active."""
    UP_TO_DATE = "up-to-date"
    """The feed offers nothing newer than the active set."""
    AVAILABLE = "available"
    """(check only) The feed offers a newer set."""
    HELD = "held"
    """The feed's newest set is the one rolled back from; it is not reinstalled unless forced."""


@dataclass(frozen=True)
class UpdateOutcome:
    """The result of ``update`` or ``check``."""

    status: UpdateStatus
    """What happened."""
    active_version: str
    """The version active after the run."""
    feed_version: str
    """The version the feed offers."""
    previous_version: str | None = None
    """The version that was active before (when something was installed)."""
    mirror: str = ""
    """The mirror that served the feed."""
    warnings: tuple[str, ...] = ()
    """Mirrors that failed on the way, and why."""


@dataclass(frozen=True)
class RollbackOutcome:
    """The result of ``rollback``."""

    from_version: str
    """The version that was active."""
    to_version: str
    """The version now active."""
    to_bundled: bool
    """Whether the set now active is the one shipped with the package."""


@dataclass(frozen=True)
class StoreStatus:
    """What ``signatures info`` shows about installed sets and the feed's trust anchor."""

    previous_version: str | None
    """The version ``rollback`` would return to, if any."""
    held_version: str | None
    """A version rolled back from, which ``update`` will not reinstall unless forced."""
    trusted_root: feed.AnchorInfo | None
    """The feed's trust anchor, if one was given."""


def current_version(state: StateDir) -> str:
    """Version of the active set (installed update or bundled)."""
    return signatures.active_set(state).version


def status(state: StateDir) -> StoreStatus:
    """The store and trust-anchor state, for ``signatures info``."""
    prev: str | None = None
    if store.has_previous(state):
        prev_dir = store.previous_dir(state)
        prev = signatures.bundled_set().version if prev_dir is None else store.read_version(prev_dir)
    return StoreStatus(
        previous_version=prev,
        held_version=store.held_version(state),
        trusted_root=feed.trusted_root(state.feed),
    )


@contextlib.contextmanager
def update_lock(state: StateDir) -> Iterator[None]:
    """Hold the exclusive update lock; FeedError at once if another updater holds it."""
    try:
        with state.lock(LOCK_NAME, "another signature update or rollback"):
            yield
    except LockBusy as exc:
        raise FeedError(str(exc)) from None


def log_event(state: StateDir, message: str, now: Clock = utc_now) -> None:
    """Append one line to the update log (best effort: an unwritable log does not stop an update), and
    log it (info): every update decision goes through here."""
    stamp = now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = printable(" ".join(message.split()))  # server text and URLs: never a control character in the log
    logger.info("%s", line)
    try:
        logs = state.ensure(state.logs)
        with (logs / LOG_NAME).open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {line}\n")
    except (OSError, StateError) as exc:
        logger.info("update log not written: %s", exc)


def verify_dir(set_dir: Path, clean_paths: Sequence[Path] | None = None, cache_dir: Path | None = None) -> list[str]:
    """Every activation test on an unpacked set; one-line problems, empty when it passes.

    Shared by the client (before a bundle becomes active) and the publisher (before it signs one).
    With ``cache_dir`` (the client's compiled-rule cache), the set's compiled form and routed sets are
    kept there: keyed by content, they serve the installed set's first scan.
    """
    problems = _include_problems(set_dir)
    if problems:
        return problems
    try:
        sigset = signatures.SignatureSet.load(set_dir, "updated")
        if not signatures.valid_version(sigset.version):
            return [f"manifest version {sigset.version!r} is not of the form YYYY.MM.N"]
        paths = signatures.core_binaries() if clean_paths is None else list(clean_paths)
        return signatures.verify_set(sigset, paths, cache_dir)
    except RuleError as exc:
        return [str(exc)]


def _include_problems(set_dir: Path) -> list[str]:
    """Rules may include only files inside the set's rules/ (a bundle must not read the host's files)."""
    rules = (set_dir / "rules").resolve()
    problems: list[str] = []
    for path in signatures.rule_files(rules) if rules.is_dir() else []:
        try:
            content = path.read_bytes()
        except OSError as exc:
            problems.append(f"rule file {path.relative_to(rules)} cannot be read: {exc.strerror}")
            continue
        for raw in _INCLUDE_RE.findall(content):
            name = os.fsdecode(raw)
            target = (path.parent / name).resolve()
            if Path(name).is_absolute() or not target.is_relative_to(rules):
                rel = path.relative_to(rules)
                problems.append(f"rule file {rel} includes {name!r}, which is outside the set's rules")
    return problems


def write_manifest(set_dir: Path, version: str, released: dt.date) -> None:
    """Write the set's manifest.toml (the feed's signed version is authoritative)."""
    (set_dir / "manifest.toml").write_text(
        f'version = "{version}"\nreleased = "{released.isoformat()}"\n', encoding="utf-8"
    )


def _release_date(set_dir: Path, signed: str | None, now: Clock) -> dt.date:
    """The release date: the feed's signed one, else the bundle manifest's, else today."""
    candidates: list[object] = [signed]
    with contextlib.suppress(RuleError):
        candidates.append(signatures.SignatureSet.load(set_dir, "updated").released)
    for value in candidates:
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(value)
    return now().date()


def activate(
    state: StateDir,
    archive: Path,
    version: str,
    *,
    released: str | None = None,
    clean_paths: Sequence[Path] | None = None,
    limits: bundle.Limits | None = None,
    now: Clock = utc_now,
    checkpoint: store.Checkpoint = _no_checkpoint,
) -> Path:
    """Unpack, test and install the bundle ``archive`` as ``version``, then make it active.

    The caller holds the update lock. ``checkpoint`` is called between steps (tests crash
    there). FeedError names the failed check; the active set is then unchanged.
    """
    store.cleanup(state)
    staging = store.new_staging(state)
    logger.info("testing signature set %s in %s", version, staging)
    try:
        checkpoint("staging")
        unpacked = bundle.extract(archive, staging, limits)
        logger.info(
            "bundle unpacked: %d file(s), %d folder(s), %d bytes",
            unpacked.files,
            unpacked.directories,
            unpacked.total_bytes,
        )
        checkpoint("extracted")
        write_manifest(staging, version, _release_date(staging, released, now))
        problems = verify_dir(staging, clean_paths, state.rule_cache)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FeedError(f"signature set {version} failed its activation tests: {problems[0]}{more}")
        checkpoint("verified")
        installed = store.install(state, staging, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    checkpoint("installed")
    store.swap(state, installed, checkpoint)
    logger.info("signature set %s is active: %s", version, installed)
    held = store.held_version(state)
    if held is not None and signatures.version_key(version) >= signatures.version_key(held):
        logger.info("signature set %s is no longer held back", held)
        store.set_held(state, None)
    store.cleanup(state)
    checkpoint("cleaned")
    return installed


def check(
    state: StateDir,
    settings: feed.FeedSettings,
    *,
    trusted_root: Path | None = None,
    remember: bool = False,
    downloader: Downloader | None = None,
    now: Clock = utc_now,
) -> UpdateOutcome:
    """Whether the feed offers a newer set than the active one (refreshes metadata, downloads no bundle).

    A newer set that was rolled back from is reported as HELD. ``remember``: see ``update``.
    """
    with update_lock(state):
        settings = _anchor(state, settings, trusted_root, now)
        with feed.FeedClient(state.feed, settings, downloader=downloader) as client:
            release = client.latest()
        _check_version(release)
        if remember:
            _remember(state, settings, now)
        active = current_version(state)
        newer = signatures.version_key(release.version) > signatures.version_key(active)
        held = newer and release.version == store.held_version(state)
        return UpdateOutcome(
            status=UpdateStatus.HELD if held else UpdateStatus.AVAILABLE if newer else UpdateStatus.UP_TO_DATE,
            active_version=active,
            feed_version=release.version,
            mirror=release.mirror,
            warnings=release.warnings,
        )


def update(
    state: StateDir,
    settings: feed.FeedSettings,
    *,
    trusted_root: Path | None = None,
    force: bool = False,
    remember: bool = False,
    downloader: Downloader | None = None,
    clean_paths: Sequence[Path] | None = None,
    limits: bundle.Limits | None = None,
    now: Clock = utc_now,
) -> UpdateOutcome:
    """Install the feed's set when it is newer than the active one (or always, with ``force``).

    ``remember``: the mirrors were given on the command line; once the update succeeded they are
    kept in the state directory (``feed.remembered_mirrors``) for runs that name no feed.
    FeedError (one line, naming the failed step) on any failure; the active set is then unchanged.
    """
    try:
        with update_lock(state):
            out = _update_locked(state, settings, trusted_root, force, downloader, clean_paths, limits, now)
            if remember:
                _remember(state, settings, now)
            return out
    except ScannerError as exc:
        log_event(state, f"update failed: {exc}", now)
        raise


def _remember(state: StateDir, settings: feed.FeedSettings, now: Clock) -> None:
    """Keep the mirrors of a feed that just worked, for the runs that name none (logged when they change)."""
    if feed.remember_mirrors(state.feed, settings.mirrors):
        log_event(state, f"feed remembered for later updates: {' '.join(settings.mirrors)}", now)


def _update_locked(
    state: StateDir,
    settings: feed.FeedSettings,
    trusted_root: Path | None,
    force: bool,
    downloader: Downloader | None,
    clean_paths: Sequence[Path] | None,
    limits: bundle.Limits | None,
    now: Clock,
) -> UpdateOutcome:
    settings = _anchor(state, settings, trusted_root, now)
    active = current_version(state)
    with feed.FeedClient(state.feed, settings, downloader=downloader) as client:
        release = client.latest()
        _check_version(release)
        for warning in release.warnings:
            log_event(state, f"update warning: {warning}", now)
        outcome = UpdateOutcome(
            UpdateStatus.UP_TO_DATE, active, release.version, mirror=release.mirror, warnings=release.warnings
        )
        if not force:
            if signatures.version_key(release.version) <= signatures.version_key(active):
                logger.info("up to date: the feed offers %s, %s is active", release.version, active)
                return outcome
            if release.version == store.held_version(state):
                log_event(state, f"update skipped {release.version}: it was rolled back from", now)
                return replace(outcome, status=UpdateStatus.HELD)
        downloads = state.ensure(state.feed / "downloads")
        archive = downloads / f"bundle-{secrets.token_hex(6)}.tar.gz"
        try:
            release = client.download(archive)
            activate(
                state,
                archive,
                release.version,
                released=release.released,
                clean_paths=clean_paths,
                limits=limits,
                now=now,
            )
        finally:
            archive.unlink(missing_ok=True)
    log_event(state, f"update {active} -> {release.version} from {release.mirror}", now)
    return UpdateOutcome(
        UpdateStatus.UPDATED,
        release.version,
        release.version,
        previous_version=active,
        mirror=release.mirror,
        warnings=release.warnings,
    )


def rollback(state: StateDir, *, force: bool = False, now: Clock = utc_now) -> RollbackOutcome:
    """Return to the previous set; the set left is held back from automatic reinstall. Logged.

    When the previous set is the held-back one (a rollback of a rollback), FeedError unless ``force``.
    """
    with update_lock(state):
        before = current_version(state)
        held = store.held_version(state)
        if held is not None and store.has_previous(state):
            prev_dir = store.previous_dir(state)
            target = signatures.bundled_set().version if prev_dir is None else store.read_version(prev_dir)
            if target == held and not force:
                log_event(state, f"rollback {before} -> {held} refused: {held} is held back", now)
                raise FeedError(
                    f"the previous signature set {held} is the one rolled back from and is held back; "
                    "'scanner signatures rollback --force' re-activates it"
                )
        _from_dir, to_dir = store.rollback(state)
        after = current_version(state)
        if signatures.version_key(before) > signatures.version_key(after):
            store.set_held(state, before)
        else:
            store.set_held(state, None)
        log_event(state, f"rollback {before} -> {after}{' (bundled)' if to_dir is None else ''}", now)
        return RollbackOutcome(before, after, to_dir is None)


def _anchor(state: StateDir, settings: feed.FeedSettings, trusted_root: Path | None, now: Clock) -> feed.FeedSettings:
    """Store a given trust anchor; fall back to the feed shipped with the package, if it ships one."""
    packaged_mirrors, packaged_root = feed.packaged_feed()
    if not settings.mirrors and packaged_mirrors:
        logger.info("no feed named: using the feed shipped with the package (%s)", " ".join(packaged_mirrors))
        settings = replace(settings, mirrors=packaged_mirrors)
    if trusted_root is None and packaged_root is not None and feed.trusted_root(state.feed) is None:
        logger.info("no trust anchor stored: using the root shipped with the package (%s)", packaged_root)
        trusted_root = packaged_root
    if trusted_root is not None:
        _set_anchor(state, trusted_root, now)
    return settings


def _set_anchor(state: StateDir, trusted_root: Path, now: Clock) -> None:
    info = feed.set_trusted_root(state.feed, trusted_root)
    if info.changed:
        what = f"version {info.version}, sha256 {info.sha256}"
        log_event(state, f"trusted root set from {trusted_root}: {what}", now)


def _check_version(release: feed.Release) -> None:
    if not signatures.valid_version(release.version):
        raise FeedError(f"feed {release.mirror} offers version {release.version!r}, which is not of the form YYYY.MM.N")
