"""Loading what can be loaded: a user's rule collection compiled without the files that do not compile.

A file that imports a module this libyara lacks is left out before compiling; any other file libyara
names in a compile error (syntax, an unknown field, an undefined rule) is left out and the rest compiled
again, at most ``MAX_SKIPPED`` times. Files of the scanner's own signature set are never left out: an
error in one fails the load, as does any error with ``strict``. Which files were left out is kept
beside the compiled-rule cache, keyed like it, so a warm start does not compile them again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.engine.collection import RuleCompileError, collection_sources
from scanner.engine.compiler import CompiledRules, available_modules, compile_rules, engine_version
from scanner.engine.sources import RuleSource, includable, included_files, read_rule_file, source_key
from scanner.errors import RuleError
from scanner.model import RuleFileSkipped, display_path
from scanner.safefs import write_atomic

logger = logging.getLogger(__name__)

MAX_SKIPPED = 64
MAX_MEMOS = 64
"""Records of skipped files kept (the most recently written)."""
"""At most this many files are left out on compile errors (each costs a compile) before the load fails."""

SKIPPED_DIR = "skipped"
"""Under the compiled-rule cache: ``KEY.json``, the files the collection of key KEY loads without."""

_IMPORT_RE = re.compile(rb'(?m)^[ \t]*import[ \t]+"([^"\n]{1,64})"')


@dataclass(frozen=True)
class Loaded:
    """A collection compiled, and the files left out of it."""

    rules: CompiledRules
    """The compiled rules."""
    skipped: tuple[RuleFileSkipped, ...]
    """Files left out, each with where and why."""


def load_collection(
    sources: Sequence[RuleSource],
    cache_dir: Path | None,
    *,
    strict: bool,
    fixed: Collection[Path] = (),
    skipped: Sequence[RuleFileSkipped] = (),
    background: bool = False,
) -> Loaded:
    """Compile ``sources``, leaving out the files that do not compile unless ``strict`` (the files
    ``fixed`` are never left out). ``skipped``: files already left out (includes that cannot be
    followed). ``background``: a cache miss leaves the routed sets to the background preparation
    (``compile_rules``). RuleError when an error cannot be put on a file that may be left out, when more
    than MAX_SKIPPED are, or when none is left."""
    if strict:
        if skipped:
            raise RuleError(f"{skipped[0].describe()} (--strict: fix it or leave out --strict)")
        return Loaded(compile_rules(sources, cache_dir, background=background), ())
    key, _ = source_key(sources, engine_version(), cache_dir)
    known = _read_memo(cache_dir, key)
    found = list(skipped) + (known if known is not None else _missing_modules(sources, fixed))
    for _ in range(MAX_SKIPPED + 1):
        kept = _without(sources, found)
        if not kept:
            raise _none_left(found)
        try:
            rules = compile_rules(kept, cache_dir, background=background)
        except RuleCompileError as exc:
            culprit = _culprit(exc, kept, fixed)
            if culprit is None:
                raise
            found.append(RuleFileSkipped(os.fsdecode(culprit), exc.line, exc.reason))
            logger.info("%s", found[-1].describe())
            continue
        if known is None:
            _write_memo(cache_dir, key, found[len(skipped) :])
        return Loaded(rules, tuple(found))
    raise RuleError(
        f"more than {MAX_SKIPPED} rule files do not compile (the last: {found[-1].describe()}); "
        "give the files that compile, or fix the others"
    )


def user_sources(given: Sequence[tuple[Path, Sequence[Path]]]) -> tuple[list[RuleSource], list[RuleFileSkipped]]:
    """Sources for the ``--rules`` paths (each with the rule files found there), in namespaces as decision
    0011 says (files of one directory, or of one index, share one), and the includes of their index
    files that cannot be followed."""
    used: set[str] = set()
    sources: list[RuleSource] = []
    skipped: list[RuleFileSkipped] = []
    for path, files in given:
        more, cannot = collection_sources(path, files, used)
        sources.extend(more)
        skipped.extend(cannot)
    return sources, skipped


def _without(sources: Sequence[RuleSource], skipped: Sequence[RuleFileSkipped]) -> list[RuleSource]:
    gone = {os.path.abspath(s.path) for s in skipped}
    return [s for s in sources if os.path.abspath(s.path) not in gone]


def _none_left(found: Sequence[RuleFileSkipped]) -> RuleError:
    first = found[0]
    where = display_path(first.path) + (f"({first.line})" if first.line is not None else "")
    more = f" (and {len(found) - 1} more rule files skipped)" if len(found) > 1 else ""
    return RuleError(f"no rules left to scan with: {where} does not compile: {first.reason}{more}")


def _missing_modules(sources: Sequence[RuleSource], fixed: Collection[Path]) -> list[RuleFileSkipped]:
    """User files that import a module this libyara lacks (found without compiling: such files are common
    in published collections, and each would cost a compile)."""
    have = available_modules()
    fixed_paths = {os.path.abspath(p) for p in fixed}
    out: list[RuleFileSkipped] = []
    for src in dict.fromkeys(s.path for s in sources):
        if os.path.abspath(src) in fixed_paths:
            continue
        try:
            raw = read_rule_file(src)
        except (OSError, RuleError):
            continue  # compiling says what is wrong with it
        if b"import" not in raw:  # a plain search first: fast
            continue
        for m in _IMPORT_RE.finditer(raw):
            name = m.group(1).decode("utf-8", "replace")
            if have and name not in have:
                line = raw.count(b"\n", 0, m.start(1)) + 1
                out.append(RuleFileSkipped(os.fsdecode(src), line, f'unknown module "{name}" (this engine lacks it)'))
                logger.info("%s", out[-1].describe())
                break
    return out


def _culprit(exc: RuleCompileError, kept: Sequence[RuleSource], fixed: Collection[Path]) -> Path | None:
    """The file of ``kept`` to leave out for ``exc``: the one libyara names, or the one that includes it;
    None when there is none, or it is one of ``fixed``."""
    fixed_paths = {os.path.abspath(p) for p in fixed}
    if exc.file is None:
        return _unnamed_culprit(exc, kept, fixed_paths)
    named = os.path.abspath(exc.file)
    candidates = [s.path for s in kept if os.path.abspath(s.path) == named]
    if not candidates:  # in a file that a listed file includes (libyara names it as the include is written)
        suffix = "/" + exc.file
        candidates = [
            s.path
            for s in kept
            if any(os.path.abspath(f) == named or os.fsdecode(f).endswith(suffix) for f in included_files(s.path))
        ]
    for path in candidates:
        if os.path.abspath(path) in fixed_paths:
            logger.info("compile error in %s, a file of the signature set: not skipped", path)
            return None
        return path
    logger.info("compile error in %s, which is not a listed rule file: it cannot be skipped", exc.file)
    return None


def _unnamed_culprit(exc: RuleCompileError, kept: Sequence[RuleSource], fixed_paths: set[str]) -> Path | None:
    """The file an error that names none is in: libyara names every file but those given as text (their
    names cannot be written in an include), each alone in its namespace, so each is compiled alone."""
    for src in kept:
        if includable(os.fsdecode(src.path)) or os.path.abspath(src.path) in fixed_paths:
            continue
        try:
            compile_rules([src], None, route=False)
        except RuleCompileError:
            return src.path
    logger.info("compile error names no file (%s): it cannot be skipped", exc)
    return None


def _memo_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / SKIPPED_DIR / f"{key}.json"


def _read_memo(cache_dir: Path | None, key: str) -> list[RuleFileSkipped] | None:
    """The files a collection of ``key`` was loaded without last time (None: not known)."""
    if cache_dir is None:
        return None
    try:
        data = json.loads(_memo_path(cache_dir, key).read_bytes())
        items = data["skipped"] if data.get("engine") == engine_version() else None
        if items is None:
            return None
        return [
            RuleFileSkipped(str(i["path"]), None if i["line"] is None else int(i["line"]), str(i["reason"]))
            for i in items
        ]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.info("skipped-files record of %s cannot be read (%s): compiling to find them", key[:12], exc)
        return None


def _write_memo(cache_dir: Path | None, key: str, found: Sequence[RuleFileSkipped]) -> None:
    """Best effort, like the compiled-rule cache."""
    if cache_dir is None:
        return
    items = [{"path": s.path, "line": s.line, "reason": s.reason} for s in found]
    path = _memo_path(cache_dir, key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"engine": engine_version(), "skipped": items}).encode())
        old = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)[:-MAX_MEMOS]
        for p in old:
            p.unlink(missing_ok=True)
