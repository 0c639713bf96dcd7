"""The rules a watch scans with, and a new signature set picked up between files without a restart."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from scanner.engine import prepare
from scanner.engine.compiler import included_files
from scanner.errors import ScannerError
from scanner.updates import signatures, store
from scanner.watch.config import WatchConfig
from scanner.watch.events import EventLog, WatchEventKind
from scanner.watch.scope import stat_key

logger = logging.getLogger(__name__)


class LiveRules:
    """The rules in use (``current``), swapped for a new set when the active set or a rule file changes.

    Loading at construction raises RuleError when the rules do not load; a later set that does not
    load is reported and the watch goes on with the one it has. Scanning threads read ``current``
    once per file, so a new set is picked up between files.
    """

    def __init__(self, cfg: WatchConfig, events: EventLog, now: Callable[[], dt.datetime]) -> None:
        self._cfg, self._events, self._now = cfg, events, now
        self._closures: dict[Path, list[tuple[Path, object]]] = {}
        self.current = self._load()
        self._mark = self._signature_mark()
        self._preparation = self._prepare()

    def _prepare(self) -> prepare.Preparation | None:
        """Start building the routed sets of rules compiled afresh (a watch runs on: it switches to them)."""
        return prepare.start(self.current.rules) if self._cfg.prepare_routes else None

    def _prepared(self) -> None:
        """Load the rules again once their background preparation has ended (they are routed from then on,
        from the cache)."""
        preparation = self._preparation
        if preparation is None or not preparation.done:
            return
        self._preparation = None
        try:
            self.current = self._load()  # workers pick it up with their next file
        except ScannerError as exc:
            logger.info("rules not loaded again after their preparation (%s): still unrouted", exc)
            return
        logger.info("the watch's rules are routed from now on (prepared in the background)")

    def _load(self) -> signatures.LoadedRules:
        return signatures.load_rules(
            self._cfg.state,
            list(self._cfg.rules),
            self._cfg.use_default_rules,
            today=self._now().date(),
            max_age_days=self._cfg.max_signature_age_days,
            strict=self._cfg.strict_rules,
        )

    def _signature_mark(self) -> tuple[object, ...]:
        """Cheap fingerprint of the rules in use: the active set's folder and manifest, custom rule files and
        the files they include."""
        parts: list[object] = []
        if self._cfg.use_default_rules:
            base = store.active_dir(self._cfg.state) or signatures.bundled_dir()
            parts += [str(base), stat_key(base / "manifest.toml")]
        for given in self._cfg.rules:
            try:
                files = signatures.rule_files(given)
            except ScannerError as exc:
                logger.debug("rule files under %s not listed for the change check: %s", given, exc)
                files = []
            parts += [(str(p), key) for f in files for p, key in self._tracked(f)]
        return tuple(parts)

    def _tracked(self, path: Path) -> list[tuple[Path, object]]:
        """``path`` and every file it includes (an index's rule files), recursively, with their stat marks.
        The includes are read again only when one of these files has changed since the last check."""
        known = self._closures.get(path)
        if known is not None:
            again: list[tuple[Path, object]] = [(p, stat_key(p)) for p, _ in known]
            if again == known:
                return again
        try:
            files = included_files(path)  # the file first, then what it includes
        except (OSError, ScannerError) as exc:
            logger.debug("includes of %s not followed for the change check: %s", path, exc)
            files = [path]
        now: list[tuple[Path, object]] = [(p, stat_key(p)) for p in files]
        self._closures[path] = now
        return now

    def check(self) -> bool:
        """Load the rules again if they changed; True when a new set is now in use."""
        mark = self._signature_mark()
        if mark == self._mark:
            self._prepared()
            return False
        self._mark = mark
        old = self.current
        try:
            new = self._load()
        except ScannerError as exc:
            logger.info("new signatures did not load (%s); keeping %s", exc, old.info.version)
            self._events.emit(
                WatchEventKind.ERROR,
                f"new signatures could not be loaded: {exc}; still scanning with {old.info.version}",
            )
            return False
        self.current = new  # workers pick it up with their next file
        self._preparation = self._prepare()
        logger.info("signatures %s -> %s", old.info.version, new.info.version)
        self._events.emit(
            WatchEventKind.RELOAD,
            f"signatures {old.info.version} -> {new.info.version} ({new.info.source}, {new.info.rule_count} rules)",
            signatures=new.info,
            previous=old.info.version,
        )
        for w in new.warnings:
            self._events.emit(WatchEventKind.WARNING, w)
        return True
