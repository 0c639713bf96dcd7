"""What ``scan`` accepts for users coming from clamscan and Linux Malware Detect (maldet).

clamscan's spellings map onto what the scanner already does (the README's "Coming from clamscan"
table lists each): ``-r``, ``-i``, ``--remove[=yes|no]``, ``--move=DIR``, ``-l/--log=FILE``, the
regular-expression filters, ``--quiet``, ``--no-summary``, ``-d/--database``, ``-f/--file-list``
and ``-`` for standard input; maldet's ``--modified-since DAYS``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from scanner.errors import UsageError
from scanner.safefs import read_regular
from scanner.scanning.walk import PathRegexes

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

STDIN = "-"
"""The path that means standard input (scanned as one file), as for clamscan."""
MAX_FILE_LIST = 64 << 20
"""A --file-list larger than this (64 MiB) is refused."""
MAX_LISTED_PATHS = 1_000_000
"""Paths a --file-list may name at most."""
MAX_REGEX = 4096
"""Characters of one --exclude-regex/--include/--exclude-dir/--include-dir expression at most."""
MAX_STDIN = 1 << 30
"""Standard input (``-``) is held in memory to be matched: at most this much (1 GiB), whatever --max-filesize."""
REGEX_ONLY = re.compile(r"\^|\$|\\\.|\||\.\*|\.\+")
"""Syntax that only makes sense in a regular expression: a --exclude glob holding it was likely meant as one."""


class ClamscanCommand(click.Command):
    """``scan``'s command class: ``--remove=yes``/``--remove=no`` as clamscan's optional argument takes them
    (``--remove`` alone means yes; a bare word after it is a path, never its value)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            if arg.startswith("--remove="):
                value = arg.split("=", 1)[1].lower()
                if value in ("yes", "no"):
                    logger.debug("%s: clamscan's optional argument", arg)
                    if value == "yes":
                        rewritten.append("--remove")
                    continue
                raise click.BadParameter(f"{value!r} is not yes or no", param_hint="'--remove'")
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _regexes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    out = []
    for text in values:
        if len(text) > MAX_REGEX:
            raise click.BadParameter(f"longer than {MAX_REGEX} characters")
        try:
            out.append(re.compile(text))
        except re.error as exc:
            raise click.BadParameter(f"{text!r} is not a regular expression: {exc}") from exc
    return tuple(out)


def clamscan_options(func: F) -> F:
    """The clamscan and maldet spellings on ``scan`` (each maps onto an existing behaviour)."""
    options = [
        click.option("--recursive", "-r", is_flag=True, help="Accepted for clamscan scripts: scans are recursive."),
        click.option("--infected", "-i", is_flag=True, help="Print only detections (no OK lines, no list of skips)."),
        click.option(
            "--remove", is_flag=True, help="As --action remove (clamscan's --remove[=yes]; --remove=no is ignored)."
        ),
        click.option(
            "--move",
            "move_dir",
            type=click.Path(file_okay=False, path_type=Path),
            metavar="DIR",
            help="Quarantine detected files into a vault in DIR (inert; 'quarantine restore' and 'undo' work).",
        ),
        click.option(
            "--log",
            "-l",
            "log_file",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Also append the report to FILE.",
        ),
        click.option(
            "--exclude-regex",
            multiple=True,
            metavar="REGEX",
            callback=_regexes,
            help="Do not scan files whose path matches REGEX (clamscan's --exclude; repeatable).",
        ),
        click.option(
            "--include",
            multiple=True,
            metavar="REGEX",
            callback=_regexes,
            help="Scan only files whose path matches REGEX (repeatable).",
        ),
        click.option(
            "--exclude-dir",
            multiple=True,
            metavar="REGEX",
            callback=_regexes,
            help="Do not enter directories whose path matches REGEX (repeatable).",
        ),
        click.option(
            "--include-dir",
            multiple=True,
            metavar="REGEX",
            callback=_regexes,
            help="Enter only directories whose path matches REGEX (repeatable).",
        ),
        click.option("--quiet", is_flag=True, help="Print errors only (the exit code still tells the result)."),
        click.option("--no-summary", is_flag=True, help="Leave out the summary block."),
        click.option(
            "--file-list",
            "-f",
            "file_list",
            metavar="FILE",
            help="Also scan the paths listed in FILE, one per line ('-': standard input).",
        ),
        click.option("--null", "-z", is_flag=True, help="The --file-list is NUL-separated (find -print0)."),
        click.option(
            "--modified-since",
            type=click.FloatRange(0, 36_500),
            metavar="DAYS",
            help="Scan only files changed (mtime or ctime) in the last DAYS days (maldet's habit).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True)
class Clamscan:
    """The clamscan and maldet options of one ``scan`` call."""

    infected: bool = False
    remove: bool = False
    move_dir: Path | None = None
    log_file: Path | None = None
    exclude_regex: tuple[re.Pattern[str], ...] = ()
    include: tuple[re.Pattern[str], ...] = ()
    exclude_dir: tuple[re.Pattern[str], ...] = ()
    include_dir: tuple[re.Pattern[str], ...] = ()
    quiet: bool = False
    no_summary: bool = False
    file_list: str | None = None
    null: bool = False
    modified_since: float | None = None

    @classmethod
    def of(cls, kwargs: dict[str, Any]) -> Clamscan:
        """Take this module's options out of a command's keyword arguments (``--recursive`` is dropped)."""
        if kwargs.pop("recursive", False):
            logger.debug("-r/--recursive: accepted; scans are always recursive")
        names = list(cls.__dataclass_fields__)
        return cls(**{name: kwargs.pop(name) for name in names})

    @property
    def regex(self) -> PathRegexes:
        """The walk's regular-expression filters."""
        return PathRegexes(self.exclude_regex, self.include, self.exclude_dir, self.include_dir)


def glob_warnings(globs: tuple[str, ...]) -> list[str]:
    """A warning for each --exclude glob that looks like a regular expression (clamscan's --exclude is one)."""
    return [
        f"--exclude '{g}' is a glob here, and its '{REGEX_ONLY.search(g).group(0)}' is taken literally; "  # type: ignore[union-attr]
        "for clamscan's regular expression use --exclude-regex"
        for g in globs
        if REGEX_ONLY.search(g)
    ]


def listed_paths(source: str, null: bool) -> list[str]:
    """The paths a --file-list names (``-``: standard input), one per line or NUL-separated; blank entries
    are ignored. Undecodable bytes are kept (as surrogate escapes), so any name can be given."""
    try:
        if source == STDIN:
            raw = sys.stdin.buffer.read(MAX_FILE_LIST + 1)
            if len(raw) > MAX_FILE_LIST:
                raise UsageError(f"--file-list on standard input is larger than {MAX_FILE_LIST >> 20} MiB")
        else:
            raw = read_regular(Path(source), MAX_FILE_LIST)
    except ValueError as exc:
        raise UsageError(f"--file-list {source}: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"--file-list {source}: {exc.strerror or exc}") from exc
    sep = b"\0" if null else b"\n"
    entries = [e.rstrip(b"\r") if not null else e for e in raw.split(sep)]
    paths = [e.decode("utf-8", "surrogateescape") for e in entries if e.strip()]
    if len(paths) > MAX_LISTED_PATHS:
        raise UsageError(f"--file-list {source} names more than {MAX_LISTED_PATHS} paths")
    logger.info("--file-list %s: %d path(s)", source, len(paths))
    return paths


def read_stdin(limit: int | None) -> bytes:
    """Standard input, whole, for ``-``: UsageError when it is larger than ``limit`` (--max-filesize; never
    more than ``MAX_STDIN``, since it is matched in memory)."""
    cap = min(limit, MAX_STDIN) if limit else MAX_STDIN
    data = sys.stdin.buffer.read(cap + 1)
    if len(data) > cap:
        raise UsageError(f"standard input is larger than --max-filesize ({cap} bytes); raise the limit to scan it")
    return data
