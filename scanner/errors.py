"""The scanner's exceptions: one base class and one subclass per subsystem.

Adapters around third-party libraries (yara, requests, tuf, psutil, watchdog) wrap
foreign exceptions in these, so callers only ever handle ``ScannerError``.
Messages say what happened and what to do about it, in one line.
"""

from __future__ import annotations


class ScannerError(Exception):
    """Base class of every error the library raises on purpose."""


class UsageError(ScannerError):
    """The caller asked for something that cannot be done as asked (bad option value, missing path)."""


class ConfigError(ScannerError):
    """The configuration file is missing, unreadable or does not parse."""


class RuleError(ScannerError):
    """A rule set could not be found, read or compiled."""


class StateError(ScannerError):
    """The state directory could not be created, read or locked."""


class QuarantineError(ScannerError):
    """A quarantine vault operation failed; nothing was lost."""


class PersistenceError(ScannerError):
    """A persistence entry could not be read, cleaned or restored."""


class FeedError(ScannerError):
    """A signature update could not be fetched, verified, tested or activated."""


class ScheduleError(ScannerError):
    """The scheduled monthly run could not be installed, removed or inspected."""


class WatchError(ScannerError):
    """The real-time folder watch could not start or keep running."""
