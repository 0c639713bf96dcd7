"""Configuration: defaults, the TOML config file, and parsing of option values.

The file (``config.toml`` in the state directory, or ``--config FILE``) holds defaults;
command-line flags win over it. Unknown keys are errors, because a typo that silently
does nothing is worse than a refusal.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path

from scanner.errors import ConfigError, UsageError
from scanner.model import Action, Severity
from scanner.safefs import read_regular

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILESIZE = 256 * 1024 * 1024
MAX_CONFIG_SIZE = 1 << 20
"""A config file larger than this (1 MiB) is refused unread."""

MAX_JOBS = 256
"""Scanning threads: 1 to this many ([scan] jobs, --jobs)."""
MAX_SECONDS = 86_400
"""Timeouts: 1 second to a day ([scan] timeout, [processes] timeout, --timeout)."""
MAX_KILL_GRACE = 3_600.0
"""Seconds between SIGTERM and SIGKILL: 0 to an hour ([processes] kill_grace)."""
MAX_DAYS = 36_500
"""Day counts: 0 to 100 years ([quarantine] retention_days, [update] max_age_days, --older-than)."""
MAX_SIZE = 1 << 40
"""Sizes: 0 to 1 TiB ([scan] max_filesize, [processes] max_memory, --max-filesize)."""

RANGES: Mapping[str, tuple[float, float]] = {
    "jobs": (1, MAX_JOBS),
    "timeout": (1, MAX_SECONDS),
    "process_timeout": (1, MAX_SECONDS),
    "kill_grace": (0, MAX_KILL_GRACE),
    "max_signature_age_days": (0, MAX_DAYS),
    "quarantine_retention_days": (0, MAX_DAYS),
    "max_filesize": (0, MAX_SIZE),
    "process_max_memory": (0, MAX_SIZE),
    "event_timeout": (0.1, 60),
    "hook_timeout": (1, MAX_SECONDS),
    "archive_max_scansize": (1, MAX_SIZE),
    "archive_max_filesize": (1, MAX_SIZE),
    "archive_max_recursion": (1, 64),
    "archive_max_files": (1, 10_000_000),
    "archive_max_ratio": (2, 1_000_000),
    "archive_max_scantime": (1, MAX_SECONDS),
}
"""The accepted range of every numeric setting, by Config field."""

LOG_LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
"""The names [logging] level accepts, and the logging level each stands for."""

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes in ``text`` such as ``256M``, ``1.5G``, ``4096``, ``512KiB`` (binary units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"size must not be negative: {text}")
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise UsageError(f"not a size: {text!r} (examples: 4096, 512K, 256M, 2G)")
    if len(m.group(1)) > 30:  # exact arithmetic below: keep it cheap; any such size is out of range anyway
        raise UsageError(f"size too large: {text!r} (at most 1T)")
    return int(Fraction(m.group(1)) * _UNITS[m.group(2).lower()])


def check_range(name: str, value: float) -> None:
    """UsageError unless ``value`` is within ``RANGES[name]`` (the message says the range)."""
    lo, hi = RANGES[name]
    if not lo <= value <= hi:
        sizes = name in ("max_filesize", "process_max_memory", "archive_max_scansize", "archive_max_filesize")
        shown = f"{'0' if lo == 0 else '1'} to 1T" if sizes else f"{_num(lo)} to {_num(hi)}"
        raise UsageError(f"must be from {shown}, not {_num(value)}")


def _num(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{value:g}"


@dataclass(frozen=True)
class Config:
    """Effective defaults for every command."""

    excludes: tuple[str, ...] = ()
    """Glob patterns of paths not to scan ([scan] exclude)."""
    max_filesize: int = DEFAULT_MAX_FILESIZE
    """Files larger than this are listed as skipped ([scan] max_filesize)."""
    jobs: int | None = None
    """Scanning threads; None means the CPU count ([scan] jobs)."""
    timeout: int = 60
    """Per-file YARA timeout in seconds ([scan] timeout)."""
    action: Action = Action.REPORT
    """Default action of ``scan`` ([scan] action)."""
    monthly_action: Action = Action.QUARANTINE
    """Action of the monthly run ([monthly] action)."""
    action_min_severity: Severity | None = None
    """``scan`` acts only on detections at least this severe ([scan] action_min_severity); None: high for
    rules that are not the project's own, every severity for the project's set."""
    monthly_action_min_severity: Severity | None = None
    """The same for the monthly run ([monthly] action_min_severity)."""
    monthly_paths: tuple[str, ...] = ()
    """Absolute paths the monthly run scans besides the quick-scan locations ([monthly] paths)."""
    monthly_rules: tuple[Path, ...] = ()
    """Rule files or directories the monthly run uses besides the active set ([monthly] rules; relative
    to the config file's folder)."""
    process_timeout: int = 30
    """Per-process memory-scan timeout in seconds ([processes] timeout)."""
    process_max_memory: int = 2 * 1024 * 1024 * 1024
    """Processes with a larger resident size are scanned by image only ([processes] max_memory)."""
    kill_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL ([processes] kill_grace)."""
    feeds: tuple[str, ...] = ()
    """Update feed base URLs, tried in order ([update] feeds)."""
    trusted_root: Path | None = None
    """The feed's root.json trust anchor ([update] trusted_root)."""
    max_signature_age_days: int = 45
    """Scans warn when the active set is older ([update] max_age_days)."""
    quarantine_retention_days: int = 90
    """Default of ``quarantine purge`` ([quarantine] retention_days)."""
    event_sinks: tuple[str, ...] = ()
    """Where events go: syslog:, udp://HOST:PORT, tcp://HOST:PORT, file:///path.jsonl, - ([events] sinks;
    checked by ``fleet.sinks.parse_sink`` when a command starts)."""
    event_timeout: float = 2.0
    """Seconds each event send may take, 0.1 to 60 ([events] timeout)."""
    event_facility: str = "daemon"
    """The syslog facility of the events ([events] facility)."""
    metrics_dir: Path | None = None
    """node_exporter's textfile-collector directory the metrics are written to ([metrics] dir)."""
    output_format: str = "text"
    """``scan``'s report format when --format is not given: text, json or clamscan ([scan] format)."""
    after_scan: tuple[str, ...] = ()
    """A command run after every ``scan`` and monthly run with the JSON report on its standard input
    ([hooks] after_scan: a list of arguments, or one string split as a shell would, without a shell)."""
    hook_timeout: int = 60
    """Seconds a hook may run before it is killed ([hooks] timeout)."""
    strict_rules: bool = False
    """A user rule file that does not compile fails the command instead of being left out with a warning
    ([rules] strict; --strict)."""
    prepare_routes: bool = True
    """After a scan that compiled a new collection, build its routed sets for the next scans in a background
    process at idle priority ([rules] prepare; see ``scanner.engine.prepare``)."""
    archives: bool = True
    """Look inside archives ([archives] scan; --no-archives turns it off for one command)."""
    archive_max_scansize: int = 400 * 1024 * 1024
    """Bytes extracted from one archive in all, every depth ([archives] max_scansize; ClamAV's MaxScanSize)."""
    archive_max_filesize: int = 100 * 1024 * 1024
    """A larger member is not matched ([archives] max_filesize; ClamAV's MaxFileSize)."""
    archive_max_recursion: int = 17
    """Depth of archives inside archives ([archives] max_recursion; ClamAV's MaxRecursion)."""
    archive_max_files: int = 10_000
    """Members read from one archive ([archives] max_files; ClamAV's MaxFiles)."""
    archive_max_ratio: int = 1000
    """Bytes given per byte read beyond which a level of an archive is taken for a bomb ([archives] max_ratio)."""
    archive_max_scantime: int = 120
    """Seconds spent in one archive ([archives] max_scantime; ClamAV's MaxScanTime)."""
    log_level: str = "warning"
    """How much the command tells on stderr: one of ``LOG_LEVELS`` ([logging] level; --verbose and
    --debug win over it)."""
    source: Path | None = field(default=None, compare=False)
    """The file these values came from, if any."""

    @property
    def logging_level(self) -> int:
        """The ``logging`` level that ``log_level`` names."""
        return LOG_LEVELS[self.log_level]


_KEYS: Mapping[str, Mapping[str, str]] = {
    "scan": {
        "exclude": "excludes",
        "max_filesize": "max_filesize",
        "jobs": "jobs",
        "timeout": "timeout",
        "action": "action",
        "action_min_severity": "action_min_severity",
        "format": "output_format",
    },
    "monthly": {
        "action": "monthly_action",
        "action_min_severity": "monthly_action_min_severity",
        "paths": "monthly_paths",
        "rules": "monthly_rules",
    },
    "processes": {"timeout": "process_timeout", "max_memory": "process_max_memory", "kill_grace": "kill_grace"},
    "update": {
        "feeds": "feeds",
        "feed": "feeds",
        "trusted_root": "trusted_root",
        "max_age_days": "max_signature_age_days",
    },
    "quarantine": {"retention_days": "quarantine_retention_days"},
    "archives": {
        "scan": "archives",
        "max_scansize": "archive_max_scansize",
        "max_filesize": "archive_max_filesize",
        "max_recursion": "archive_max_recursion",
        "max_files": "archive_max_files",
        "max_ratio": "archive_max_ratio",
        "max_scantime": "archive_max_scantime",
    },
    "logging": {"level": "log_level"},
    "events": {"sinks": "event_sinks", "timeout": "event_timeout", "facility": "event_facility"},
    "metrics": {"dir": "metrics_dir"},
    "hooks": {"after_scan": "after_scan", "timeout": "hook_timeout"},
    "rules": {"strict": "strict_rules", "prepare": "prepare_routes"},
}

OUTPUT_FORMATS = ("text", "json", "clamscan")
"""The report formats of ``scan`` (--format, [scan] format)."""
MAX_HOOK_ARGS = 256
"""Arguments of a hook command at most."""


def load_config(path: Path, *, required: bool) -> Config:
    """Read ``path``; a missing file gives the defaults unless ``required``."""
    try:
        raw = read_regular(path, MAX_CONFIG_SIZE)
    except FileNotFoundError as exc:
        if required:
            raise ConfigError(f"config file not found: {path}") from exc
        logger.info("no configuration file at %s: using the defaults", path)
        return Config()
    except ValueError as exc:  # a FIFO, a device, too large: refused unread
        raise ConfigError(f"config file {path} refused: {exc}; give a TOML file of at most 1 MiB") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (bad byte at offset {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} does not parse: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"config file {path} does not parse: nested too deeply") from exc
    logger.info("configuration read from %s", path)
    return replace(_from_mapping(data, path), source=path)


def _from_mapping(data: Mapping[str, object], path: Path) -> Config:
    values: dict[str, object] = {}
    for section, table in data.items():
        if section not in _KEYS or not isinstance(table, dict):
            raise ConfigError(f"config file {path}: unknown section [{section}] (known: {', '.join(_KEYS)})")
        for key, value in table.items():
            if key not in _KEYS[section]:
                known = ", ".join(_KEYS[section])
                raise ConfigError(f"config file {path}: unknown key {key!r} in [{section}] (known: {known})")
            name = _KEYS[section][key]
            try:
                values[name] = _convert(name, value, path)
            except (UsageError, ValueError, TypeError) as exc:
                raise ConfigError(f"config file {path}: [{section}] {key}: {exc}") from exc
    assert set(values) <= {f.name for f in fields(Config)}
    return Config(**values)  # type: ignore[arg-type]


def _convert(name: str, value: object, path: Path) -> object:
    match name:
        case "excludes" | "feeds" | "event_sinks":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise TypeError("must be a string or a list of strings")
            return tuple(items)
        case "monthly_paths" | "monthly_rules":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
                raise TypeError("must be a path or a list of paths")
            if name == "monthly_rules":
                return tuple((path.parent / Path(v).expanduser()).resolve() for v in items)
            if not all(v.startswith("/") for v in items):
                raise ValueError("must be absolute paths (the run is unattended: there is no current folder)")
            return tuple(items)
        case "archives":
            if not isinstance(value, bool):
                raise TypeError("must be true or false")
            return value
        case "max_filesize" | "process_max_memory" | "archive_max_scansize" | "archive_max_filesize":
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise TypeError("must be a size such as 256M")
            size = parse_size(value)
            check_range(name, size)
            return size
        case "action" | "monthly_action":
            return parse_action(str(value))
        case "action_min_severity" | "monthly_action_min_severity":
            return parse_severity(str(value))
        case "output_format":
            if not isinstance(value, str) or value.strip().lower() not in OUTPUT_FORMATS:
                raise ValueError(f"must be one of {', '.join(OUTPUT_FORMATS)}, not {value!r}")
            return value.strip().lower()
        case "after_scan":
            return _command(value)
        case "log_level":
            if not isinstance(value, str) or value.strip().lower() not in LOG_LEVELS:
                raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
            return value.strip().lower()
        case "event_facility":
            if not isinstance(value, str):
                raise TypeError("must be a syslog facility name such as daemon or local0")
            return value.strip().lower()
        case "metrics_dir":
            if not isinstance(value, str) or not value.startswith("/"):
                raise ValueError("must be an absolute path (node_exporter's textfile directory)")
            return Path(value)
        case "event_timeout":
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise TypeError("must be a number of seconds from 0.1 to 60")
            check_range(name, value)
            return float(value)
        case "strict_rules" | "prepare_routes":
            if not isinstance(value, bool):
                raise TypeError("must be true or false")
            return value
        case "trusted_root":
            return (path.parent / Path(str(value)).expanduser()).resolve()
        case "kill_grace":
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise TypeError(f"must be a number of seconds from 0 to {MAX_KILL_GRACE:g}")
            check_range(name, value)
            return float(value)
        case _:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("must be a whole number")
            check_range(name, value)
            return value


def _command(value: object) -> tuple[str, ...]:
    """A hook's argv from a list of strings, or one string split as a POSIX shell splits words (no shell runs)."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"does not split into arguments: {exc}") from exc
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        argv = list(value)
    else:
        raise TypeError("must be a command: a string, or a list of strings")
    if not argv or not argv[0]:
        raise ValueError("must name a program")
    if len(argv) > MAX_HOOK_ARGS or any("\0" in a for a in argv):
        raise ValueError(f"must be at most {MAX_HOOK_ARGS} arguments without NUL characters")
    return tuple(argv)


def parse_action(text: str) -> Action:
    """The action named ``text``."""
    try:
        return Action(text.strip().lower())
    except ValueError as exc:
        raise UsageError(f"unknown action {text!r} (choose report, quarantine or remove)") from exc


def parse_severity(text: str) -> Severity:
    """The severity named ``text`` (low, medium, high or critical)."""
    try:
        return Severity(text.strip().lower())
    except ValueError as exc:
        raise UsageError(f"unknown severity {text!r} (choose low, medium, high or critical)") from exc
