"""Rule collections as YARA users give them: which files share a namespace, index files opened into the
files they include, and where a compile error points.

``yara dir/*.yar`` and ``yara index.yar`` compile every file in one namespace, so a file may use the
(private) rules of another. Here the files of one directory share a namespace, and so do the files
an index names; a file that defines a rule name already taken there gets a namespace of its own, with
the all-private files whose rules it uses (decision 0011). An index (a file of nothing but
``include`` statements) is replaced by the files it names, in its namespace, so it is compiled,
routed and cached exactly as those files given as a directory.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.engine.sources import RuleSource, includable, read_rule_file
from scanner.engine.syntax import TokenKind, UnreadableSource, parse, tokenize
from scanner.errors import RuleError
from scanner.model import RuleFileSkipped, json_path

logger = logging.getLogger(__name__)

MAX_INDEX_DEPTH = 16
"""Indexes nested deeper than this are not opened (libyara's own include depth limit is 16)."""


class RuleCompileError(RuleError):
    """A rule that does not compile, with where libyara says it is."""

    def __init__(self, message: str, file: str | None, line: int | None, reason: str) -> None:
        super().__init__(message)
        self.file = file
        """The file as libyara names it (None for a source given as text)."""
        self.line = line
        """The line, when libyara gives one."""
        self.reason = reason
        """libyara's message without the place."""


_PLACE_RE = re.compile(r"(?P<file>.+)\((?P<line>\d{1,9})\): (?P<reason>.*)", re.DOTALL)
_LINE_RE = re.compile(r"line (?P<line>\d{1,9}): (?P<reason>.*)", re.DOTALL)


def compile_error(message: str, prefix: str) -> RuleCompileError:
    """A RuleCompileError for libyara's ``message`` (``FILE(LINE): REASON`` or ``line LINE: REASON``)."""
    m = _PLACE_RE.fullmatch(message)
    if m is not None:
        return RuleCompileError(f"{prefix}: {message}", m["file"], int(m["line"]), m["reason"])
    m = _LINE_RE.fullmatch(message)
    if m is not None:
        return RuleCompileError(f"{prefix}: {message}", None, int(m["line"]), m["reason"])
    return RuleCompileError(f"{prefix}: {message}", None, None, message)


@dataclass(frozen=True)
class _Names:
    """What a rule file defines and names, for splitting a namespace."""

    defined: tuple[str, ...]
    all_private: bool
    idents: frozenset[str]


_RULE_RE = re.compile(r"\brule\s+([A-Za-z_][A-Za-z0-9_]*)")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RULE_HEAD_RE = re.compile(rb"rule\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:[:{]|/[/*])")
"""``rule NAME`` and the start of what follows a rule's name (not preceded by a word boundary: ``xrule N {``
only adds a name to the superset, and the search is ten times faster without it)."""


def _names(path: Path) -> _Names | None:
    """The rules ``path`` defines and every identifier it names (None when it cannot be read)."""
    try:
        text = read_rule_file(path).decode("utf-8", "replace")
    except (OSError, RuleError):
        return None
    try:
        tokens = tokenize(text)
        _imports, rules = parse(tokens)
    except UnreadableSource:  # read loosely: a comment naming a rule only splits a file off needlessly
        return _Names(tuple(_RULE_RE.findall(text)), False, frozenset(_IDENT_RE.findall(text)))
    idents = frozenset(t.text for t in tokens if t.kind is TokenKind.IDENT)
    return _Names(tuple(r.name for r in rules), all(r.private for r in rules), idents)


def _starts_with_include(raw: bytes) -> bool:
    """Whether the first word of ``raw`` after blanks and comments is ``include`` (a cheap test before the
    lexer: most rule files are not indexes). Linear: each comment is skipped by a plain search."""
    pos, n = 0, len(raw)
    while pos < n:
        if raw[pos : pos + 1].isspace():
            pos += 1
        elif raw.startswith(b"//", pos):
            end = raw.find(b"\n", pos)
            pos = n if end < 0 else end + 1
        elif raw.startswith(b"/*", pos):
            end = raw.find(b"*/", pos + 2)
            pos = n if end < 0 else end + 2
        else:
            return raw.startswith(b"include", pos)
    return False


def index_files(path: Path, depth: int = 0) -> tuple[list[Path], list[RuleFileSkipped]] | None:
    """The files the index ``path`` names (indexes it names opened too), in order, and the includes that
    cannot be followed; None when ``path`` is not an index (it holds more than ``include`` statements and
    comments, or an include this reader does not resolve with certainty).

    A relative include is resolved against the directory of the file that holds it, as libyara does.
    """
    try:
        raw = read_rule_file(path)
        if not _starts_with_include(raw):
            return None
        text = raw.decode("utf-8")
        tokens = tokenize(text)
    except (OSError, RuleError, UnicodeDecodeError, UnreadableSource):
        return None
    if not tokens or len(tokens) % 2 or depth > MAX_INDEX_DEPTH:
        return None
    files: list[Path] = []
    skipped: list[RuleFileSkipped] = []
    for k in range(0, len(tokens), 2):
        word, name = tokens[k], tokens[k + 1]
        if word.text != "include" or name.kind is not TokenKind.TEXT or "\\" in name.text:
            return None
        requested = name.text[1:-1]
        target = Path(requested) if os.path.isabs(requested) else path.parent / requested
        line = text.count("\n", 0, word.start) + 1
        try:
            if not target.is_file():
                why = "no such file" if not os.path.lexists(target) else "not a regular file"
                skipped.append(RuleFileSkipped(os.fsdecode(path), line, f'included file "{requested}": {why}'))
                continue
        except OSError as exc:
            skipped.append(RuleFileSkipped(os.fsdecode(path), line, f'included file "{requested}": {exc.strerror}'))
            continue
        nested = index_files(target, depth + 1)
        if nested is None:
            files.append(target)
        else:
            files.extend(nested[0])
            skipped.extend(nested[1])
    unique = list(dict.fromkeys(files))  # libyara would stop at the second copy's rules: once is meant
    return unique, skipped


def collection_sources(
    given: Path, files: Sequence[Path], used: set[str]
) -> tuple[list[RuleSource], list[RuleFileSkipped]]:
    """Sources for one ``--rules`` path (``files``: the rule files found there), in namespaces as decision
    0011 says, and the includes of its indexes that cannot be followed. ``used`` holds the namespaces
    already taken by earlier paths and is updated."""
    skipped: list[RuleFileSkipped] = []
    groups: dict[str, list[Path]] = {}
    by_directory: set[str] = set()
    listed = {os.path.abspath(f) for f in files}
    for f in files:
        index = index_files(f)
        if index is not None and f != given and all(os.path.abspath(p) in listed for p in index[0]):
            logger.info("rules: %s is an index of files found in %s: they are loaded from the directory", f, given)
            continue
        ns = given.name if f == given else f"{given.name}/{f.relative_to(given).as_posix()}"
        if index is not None:
            logger.info("rules: index %s opened into %d files, in namespace %s", f, len(index[0]), ns)
            groups.setdefault(ns, []).extend(index[0])
            skipped.extend(index[1])
            continue
        if f != given:
            rel = f.parent.relative_to(given).as_posix()
            ns = given.name if rel == "." else f"{given.name}/{rel}"
            by_directory.add(ns)
        groups.setdefault(ns, []).append(f)
    sources: list[RuleSource] = []
    for ns, members in groups.items():
        for part, part_files in _split(ns, members):
            if part == ns and ns in by_directory and len(part_files) == 1:
                part = f"{given.name}/{part_files[0].relative_to(given).as_posix()}"  # a file alone: its path
            part = json_path(part)  # yara-python takes namespaces as UTF-8 text
            unique = part
            n = 1
            while unique in used:
                n += 1
                unique = f"{part}#{n}"
            used.add(unique)
            sources.extend(RuleSource(unique, p) for p in part_files)
    return sources, skipped


def _split(ns: str, files: Sequence[Path]) -> list[tuple[str, list[Path]]]:
    """``files`` of namespace ``ns``: those whose rule names collide with an earlier file's (or whose path
    cannot be written in an include) each in a namespace of their own, named after the file, preceded by
    the all-private files of ``ns`` whose rules they use.

    Names are first found by a loose search (a superset: ``rule NAME`` in comments too); only files whose
    names may collide are parsed."""
    quick = {f: _quick_names(f) for f in files}
    counts = Counter(n for f in files for n in quick[f])
    suspects = {f for f in files if any(counts[n] > 1 for n in quick[f])}
    precise = functools.cache(_names)

    def defined(f: Path) -> set[str]:
        if f not in suspects:
            return quick[f]
        info = precise(f)
        return set(info.defined) if info is not None else set()

    primary: list[Path] = []
    taken: set[str] = set()
    apart: list[tuple[str, list[Path]]] = []
    for f in files:
        names = defined(f)
        alone = len(files) > 1 and not includable(os.fsdecode(f))
        if not alone and not names & taken:
            primary.append(f)
            taken |= names
            continue
        own = f"{ns}/{f.name}"
        helpers = [] if alone else _helpers(f, primary, quick, precise)
        logger.info(
            "rules: %s %s: in namespace %s%s",
            f,
            "cannot be written in an include" if alone else f"defines rule names already in namespace {ns}",
            own,
            f", with {', '.join(h.name for h in helpers)}" if helpers else "",
        )
        apart.append((own, [*helpers, f]))
    return [(ns, primary), *apart] if primary else apart


def _quick_names(path: Path) -> set[str]:
    """A superset of the rule names ``path`` defines: every ``rule NAME`` followed by a rule's header (tags, a
    brace, or a comment before them), in comments and strings too. A plain search: parsing every file of a
    big collection costs a scan's start-up a third of a second."""
    try:
        return {m.decode("ascii") for m in _RULE_HEAD_RE.findall(read_rule_file(path))}
    except (OSError, RuleError):
        return set()


def _helpers(
    f: Path, primary: Sequence[Path], quick: Mapping[Path, set[str]], precise: Callable[[Path], _Names | None]
) -> list[Path]:
    """The files of ``primary`` whose rules ``f`` uses (directly or through them) and that hold only
    private rules (so copying them into another namespace reports nothing twice)."""
    own = precise(f)
    if own is None:
        return []
    defined_by_f = set(own.defined)
    need = set(own.idents) - defined_by_f
    chosen: dict[Path, None] = {}
    changed = True
    while changed:
        changed = False
        for g in primary:
            if g in chosen or not quick[g] & need:
                continue
            info = precise(g)
            if info is None or not set(info.defined) & need:
                continue
            if not info.all_private or set(info.defined) & defined_by_f:
                logger.info("rules: %s is not copied beside %s: it has rules that are reported, or clash", g, f)
                continue
            chosen[g] = None
            need |= set(info.idents) - set(info.defined)
            changed = True
    return [g for g in primary if g in chosen]
