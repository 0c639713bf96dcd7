"""What to watch and how: ``WatchConfig``, which the CLI fills from its options and the configuration file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import DEFAULT_MAX_FILESIZE
from scanner.model import Action, Severity
from scanner.scanning.archives import ArchiveLimits
from scanner.state import StateDir


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class WatchConfig:
    """What to watch and how; the CLI fills it from options and the configuration file."""

    paths: tuple[str, ...]
    """Folders to watch, recursively."""
    state: StateDir
    """State directory: rules cache, quarantine, history, logs."""
    action: Action = Action.QUARANTINE
    """quarantine (restorable, as ``scan --action quarantine``) or report (only log)."""
    rules: tuple[Path, ...] = ()
    """Extra rule files or folders (--rules)."""
    use_default_rules: bool = True
    """Use the active signature set (False: --no-default-rules)."""
    strict_rules: bool = False
    """A rule file that does not compile fails the load (--strict, [rules] strict); else it is left out."""
    prepare_routes: bool = True
    """Rules compiled afresh get their routed sets built by a background process, and the watch switches to
    them once they are ready ([rules] prepare)."""
    initial_scan: bool = False
    """Scan what is already in the folders at start."""
    jobs: int = field(default_factory=_cpu_count)
    """Scanning threads."""
    timeout: int = 60
    """Per-file YARA timeout in seconds."""
    max_filesize: int | None = DEFAULT_MAX_FILESIZE
    """Larger files are not scanned (a skipped event says so)."""
    excludes: tuple[str, ...] = ()
    """Glob patterns of paths not to scan (as ``scan --exclude``)."""
    archives: ArchiveLimits | None = field(default_factory=ArchiveLimits)
    """Look inside archives within these limits (larger members go to the state directory's ``scratch``
    unless the limits name another place); None: archives are matched as files only (--no-archives)."""
    max_signature_age_days: int = 45
    """Warn when the active set is older."""
    kill_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL when remediation kills a process."""
    action_min_severity: Severity | None = None
    """Act only on detections at least this severe (``model.Policy.min_severity``)."""
    sysroot: Path = Path("/")
    """Filesystem root for persistence clean-up and package ownership (``/`` outside tests)."""
    debounce: float = 0.1
    """Quiet period after the last close or move of a file before it is scanned (seconds)."""
    max_delay: float = 2.0
    """A file closed again and again is scanned at most this long after its first event."""
    settle: float = 5.0
    """A file that appeared without being written (a hard link) is scanned once unchanged this long."""
    queue_size: int = 512
    """Files handed to the scanning threads at most at once (the bounded work queue)."""
    max_pending: int = 20000
    """Files waiting for their quiet period or for room in the queue; beyond it, folders are rescanned."""
    memo_size: int = 200_000
    """Files remembered as judged, so rescans skip them while unchanged."""
    reload_interval: float = 2.0
    """How often to check for a new signature set and for lost top-level watches (seconds)."""
    poll_interval: float = 30.0
    """How often folders that cannot be watched are rescanned (seconds)."""
    shutdown_grace: float = 5.0
    """On stop, queued files are scanned and detections handled for about this long; what is left is
    saved in the state directory (and counted), and the next watch of the same folders takes it up."""
    heartbeat_interval: float = 60.0
    """How often the watch writes its metrics (``fleet.metrics.watch_metrics``), when a metrics directory is set."""
    rescan_on_reload: bool = False
    """Rescan every folder when a new signature set arrives (files from before are judged again)."""
