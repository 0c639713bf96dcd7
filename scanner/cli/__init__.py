"""The ``scanner`` command: a thin click skin over the library.

It parses options, calls the library (the ``jobs`` pipeline, the vault, the updater, the scheduler,
the watch), renders results and maps errors to exit codes. Only the modules of this package import
click, print or exit. ``app`` holds the group and what every command shares, ``render`` the progress
line and report output, and one module per command group registers its commands on ``main``:
``scan`` (scan, monthly), ``signatures`` (signatures, update), ``publish`` (feed), ``quarantine``
(quarantine, history, undo), ``schedule`` and ``watch``.
"""

from scanner.cli import publish, quarantine, scan, schedule, signatures, watch
from scanner.cli.app import main

__all__ = ["main"]

_COMMANDS = (publish, quarantine, scan, schedule, signatures, watch)
"""Imported for their side effect: each registers its commands on ``main``."""
