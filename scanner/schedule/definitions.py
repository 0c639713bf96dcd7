"""The files every scheduler's definitions live in, and the mark that makes them ours.

Every file (or crontab block) this tool writes carries a marker line followed by JSON, so ``status``
can read what was installed and ``remove`` never deletes a file somebody else wrote. This module
writes that line and reads it back, checks that a command can be held in a definition at all, and
reads, replaces and deletes definition files (atomically; a symlink in the way is replaced, never
followed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from scanner.errors import ScheduleError
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

MARKER = "# scanner-schedule:"
"""Starts the line of JSON metadata in every definition we write."""
HEADER = "# Written by `scanner schedule install`; `scanner schedule remove` deletes it. Do not edit."
"""The first line of every unit and cron file we write."""


def meta_line(meta: Mapping[str, Any]) -> str:
    """The marker line carrying ``meta`` as JSON."""
    return f"{MARKER} {json.dumps(dict(meta), sort_keys=True)}"


def read_meta(text: str) -> dict[str, Any] | None:
    """The JSON after the first marker in ``text``; None when there is none or it does not parse."""
    # The marker starts a line in units and cron files and sits inside <Description> in task XML,
    # so the JSON may be followed by other text.
    for line in text.splitlines():
        start = line.find(MARKER)
        if start < 0:
            continue
        try:
            value, _ = json.JSONDecoder().raw_decode(line[start + len(MARKER) :].lstrip())
        except json.JSONDecodeError:
            logger.debug("the scanner-schedule marker is followed by no readable JSON: %r", line)
            return None
        return value if isinstance(value, dict) else None
    return None


def meta_delay(meta: Mapping[str, Any]) -> timedelta | None:
    """The randomized delay recorded in ``meta``, if any."""
    seconds = meta.get("randomized_delay_sec")
    return timedelta(seconds=seconds) if isinstance(seconds, int) else None


def check_argv(argv: Sequence[str], what: str) -> tuple[str, ...]:
    """``argv`` as a tuple, refused when empty or when a word holds a line break or NUL.

    ``what`` names the command in the message (``monthly``, ``watch``, ``service``, ``cron``, ``task``).
    """
    args = tuple(argv)
    if not args:
        raise ScheduleError(f"the {what} command is empty; pass the program and its arguments")
    for arg in args:
        if any(ch in arg for ch in "\0\n\r"):
            raise ScheduleError(
                f"the {what} command contains a line break or NUL, which no scheduler can hold: {arg!r}"
            )
    return args


def read_ours(path: Path) -> str | None:
    """The text of ``path`` if it is a file we wrote, None if absent; refuses anyone else's file."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc
    text = _decode(data)
    if read_meta(text) is None:
        raise ScheduleError(f"{path} was not written by scanner; move it away or remove it by hand")
    return text


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="surrogateescape")


def read_text(path: Path) -> str:
    """The text of ``path`` (undecodable bytes kept as surrogates), or "" if it does not exist."""
    try:
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc


def write(path: Path, text: str, *, utf16: bool = False) -> None:
    """Replace ``path`` atomically (a symlink there is replaced, never followed)."""
    data = text.encode("utf-16") if utf16 else text.encode("utf-8", errors="surrogateescape")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, 0o644, replace_symlink=True)
    except OSError as exc:
        raise ScheduleError(
            f"cannot write {path}: {exc.strerror or exc}; check that the directory exists and is writable"
        ) from exc
    logger.info("wrote %s", path)


def unlink(path: Path) -> None:
    """Delete ``path``; one that is already gone is not an error."""
    try:
        path.unlink()
    except FileNotFoundError:
        logger.debug("%s was already gone", path)
        return
    except OSError as exc:
        raise ScheduleError(f"cannot remove {path}: {exc.strerror}; check the directory's permissions") from exc
    logger.info("removed %s", path)
