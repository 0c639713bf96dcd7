"""Reading persistence files as lines: physical and logical lines, cron fields, entries.

Pure functions of bytes: ``parse_entries`` splits a location's content into the logical
lines that could run or load something, with the command part of each (a cron line's
command, an ``Exec=`` value, a forced SSH command).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import assert_never

from scanner.remediation.persistence.types import LocationKind, PersistenceEntry, PersistenceLocation

EXEC_KEYS = frozenset(
    {
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecCondition",
        "ExecReload",
        "ExecStop",
        "ExecStopPost",
        "Exec",
        "TryExec",
    }
)
"""Keys of unit and ``.desktop`` files whose value is a command."""


def physical_lines(data: bytes) -> list[bytes]:
    """Lines split on LF only (what cron, shells and systemd use), each keeping its newline."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def line_texts(data: bytes) -> list[str]:
    """Each physical line's text, without its line ending; undecodable bytes kept as surrogates."""
    return [ln.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "surrogateescape") for ln in physical_lines(data)]


def _continues(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _logical(texts: list[str], continuation: bool) -> Iterator[tuple[tuple[int, ...], str]]:
    i = 0
    while i < len(texts):
        start = i
        parts = [texts[i]]
        while continuation and _continues(parts[-1]) and not parts[0].lstrip().startswith("#") and i + 1 < len(texts):
            parts[-1] = parts[-1][:-1]
            i += 1
            parts.append(texts[i])
        yield tuple(range(start + 1, i + 2)), " ".join(p.strip() for p in parts).strip()
        i += 1


_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_FORCED_COMMAND = re.compile(r'(?:^|,|\s)command="((?:[^"\\]|\\.)*)"')


def _cron_command(text: str, *, user_field: bool, anacron: bool) -> str:
    if _CRON_ENV.match(text):
        return ""
    fields = 3 if anacron else (1 if text.startswith("@") else 5)
    fields += 1 if user_field and not anacron else 0
    parts = text.split(None, fields)
    return parts[fields] if len(parts) > fields else ""


def parse_entries(location: PersistenceLocation, data: bytes) -> list[PersistenceEntry]:
    """Split a location's content into the logical lines that could run or load something.

    Blank lines, comments and section headers are not entries. Pure: works on ``data``.
    """
    texts = line_texts(data)
    kind = location.kind
    entries: list[PersistenceEntry] = []

    def add(lines: tuple[int, ...], text: str, command: str = "", key: str = "") -> None:
        entries.append(PersistenceEntry(location, lines, text, command, key))

    match kind:
        case LocationKind.SYSTEM_CRONTAB | LocationKind.CRON_D | LocationKind.USER_CRONTAB:
            anacron = location.path.endswith("anacrontab")
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    user_field = kind is not LocationKind.USER_CRONTAB
                    add(lines, text, _cron_command(text, user_field=user_field, anacron=anacron))
        case LocationKind.CRON_SCRIPT | LocationKind.SHELL_RC | LocationKind.RC_LOCAL | LocationKind.INIT_SCRIPT:
            for lines, text in _logical(texts, continuation=True):
                if text and not text.startswith("#"):
                    add(lines, text, text)
        case LocationKind.SYSTEMD_UNIT | LocationKind.SYSTEMD_DROPIN | LocationKind.AUTOSTART:
            for lines, text in _logical(texts, continuation=kind is not LocationKind.AUTOSTART):
                if not text or text[0] in "#;[":
                    continue
                key, sep, value = text.partition("=")
                key, value = key.strip(), value.strip()
                if not sep:
                    add(lines, text)
                elif key in EXEC_KEYS:
                    add(lines, text, value.lstrip("@-:+!|") if kind is not LocationKind.AUTOSTART else value, key)
                else:
                    add(lines, text, "", key)
        case LocationKind.LD_PRELOAD:
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    add(lines, text, text)
        case LocationKind.AUTHORIZED_KEYS:
            for lines, text in _logical(texts, continuation=False):
                if text and not text.startswith("#"):
                    forced = _FORCED_COMMAND.search(text)
                    add(lines, text, forced.group(1).replace('\\"', '"') if forced else "")
        case LocationKind.FAMILY_ARTIFACT:
            pass
        case _:
            assert_never(kind)
    return entries


def offsets_to_lines(data: bytes, offsets: Iterable[int]) -> list[int]:
    """The physical line numbers (from 1) that byte ``offsets`` fall on; offsets past the end are dropped."""
    starts = [0]
    for ln in physical_lines(data)[:-1]:
        starts.append(starts[-1] + len(ln))
    return sorted({bisect_right(starts, off) for off in offsets if 0 <= off < len(data)})


def without_lines(data: bytes, lines: Iterable[int]) -> bytes:
    """``data`` without the physical ``lines`` (from 1), every other byte kept; ValueError if they do not fit."""
    physical = physical_lines(data)
    drop = set(lines)
    if not drop or max(drop) > len(physical) or min(drop) < 1:
        raise ValueError("line numbers do not fit the file")
    return b"".join(ln for i, ln in enumerate(physical, 1) if i not in drop)
