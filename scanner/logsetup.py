"""The command's logging: one handler on standard error, set up by the CLI only.

Library modules just log (``logger = logging.getLogger(__name__)``); this module, called by the CLI,
decides where records go and from which level: ``scanner: <level>: <message>`` on stderr (with the
logger's name at debug), every control character escaped, warnings and above by default.
"""

from __future__ import annotations

import logging
import sys

from scanner.model import printable

PACKAGE_LOGGER = "scanner"
"""The logger every module's logger descends from; the handler sits here."""


class EscapingFormatter(logging.Formatter):
    """``scanner: <level>: <message>`` (with the logger's name at debug), every control character
    escaped (``model.printable``): a log line that names a file cannot drive the terminal."""

    def __init__(self, with_name: bool = False) -> None:
        super().__init__("%(message)s")
        self.with_name = with_name

    def format(self, record: logging.LogRecord) -> str:
        where = f"{record.name}: " if self.with_name else ""
        return printable(f"scanner: {record.levelname.lower()}: {where}{super().format(record)}")


class StderrHandler(logging.Handler):
    """Writes each record as one line on the current ``sys.stderr`` (looked up at each record, so it
    follows a replaced stream, as a test runner's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            # on a terminal, first clear the progress line the scan may be showing (it is redrawn after)
            clear = "\r\x1b[K" if stream.isatty() else ""
            stream.write(clear + self.format(record) + "\n")
            stream.flush()
        except (OSError, ValueError):  # a log line never ends the command (a closed or broken stderr)
            self.handleError(record)


HANDLER = StderrHandler()


def set_level(level: int) -> None:
    """Send the package's log records at ``level`` and above to stderr (idempotent)."""
    root = logging.getLogger(PACKAGE_LOGGER)
    if HANDLER not in root.handlers:
        root.addHandler(HANDLER)
    HANDLER.setFormatter(EscapingFormatter(with_name=level <= logging.DEBUG))
    root.setLevel(level)


def stop() -> None:
    """Take the handler off again (the command is over; an in-process caller keeps its own logging)."""
    root = logging.getLogger(PACKAGE_LOGGER)
    root.removeHandler(HANDLER)
    root.setLevel(logging.NOTSET)
