"""The YARA engine: compile rule sources (with a compiled-rule cache) and match them.

This is the only module that imports ``yara``. Everything it returns is our own
types; every ``yara.Error`` is turned into a ``RuleError`` or a ``Skipped`` value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yara

from scanner import __version__
from scanner.errors import RuleError
from scanner.model import RuleHit, Severity

EXTERNALS: tuple[str, ...] = ("filename", "filepath", "extension", "filetype", "owner")
"""External variables every rule may use (the LOKI/THOR convention); always defined, as strings."""

FAMILY_META_KEYS: tuple[str, ...] = ("family", "malware_family", "malware", "tc_detection_name")
"""Rule meta keys that name the family, in order of preference."""

_DEFAULT_EXTERNALS: dict[str, str] = dict.fromkeys(EXTERNALS, "")
_INCLUDE_RE = re.compile(rb'^\s*include\s+"([^"]+)"', re.MULTILINE)
_MAX_OFFSETS = 64
"""How many string-match offsets a match keeps (enough to find offending lines in a config file)."""


def engine_version() -> str:
    """Identifies the engine for caches: scanner and libyara versions."""
    return f"scanner-{__version__}/yara-{yara.__version__}"


@dataclass(frozen=True)
class RuleSource:
    """One rule file to compile, in its own namespace."""

    namespace: str
    """Namespace its rules are compiled in; unique within one compilation."""
    path: Path
    """The rule file."""


@dataclass(frozen=True)
class Match:
    """A rule that matched, with where its strings matched."""

    hit: RuleHit
    """The rule and the family it names."""
    offsets: tuple[int, ...] = ()
    """Offsets of string matches in the scanned data (at most 64, sorted)."""


class MatchTimeout(Exception):
    """Matching took longer than the per-target timeout."""


class MatchFailed(Exception):
    """The target could not be read or scanned; the message says why."""


def _hit_from(match: yara.Match) -> RuleHit:
    meta: Mapping[str, object] = match.meta
    family = next(
        (str(meta[key]).strip() for key in FAMILY_META_KEYS if str(meta.get(key, "")).strip()),
        match.rule,
    )
    description = meta.get("description", "")
    return RuleHit(
        rule=match.rule,
        namespace=match.namespace,
        family=family,
        severity=Severity.parse(meta.get("severity")),
        tags=tuple(match.tags),
        description=description if isinstance(description, str) else str(description),
    )


def _convert(matches: list[yara.Match]) -> list[Match]:
    out = []
    for m in matches:
        offsets = sorted({inst.offset for s in m.strings for inst in s.instances})
        out.append(Match(_hit_from(m), tuple(offsets[:_MAX_OFFSETS])))
    return out


class CompiledRules:
    """A compiled rule set, safe to match from many threads at once."""

    def __init__(self, rules: yara.Rules, rule_count: int, key: str, uses: frozenset[str]) -> None:
        self._rules = rules
        self.rule_count = rule_count
        """Number of rules."""
        self.key = key
        """Hash of the sources and engine version; identifies this set in caches."""
        self.uses = uses
        """Which external variables the sources mention (the scanner computes only those)."""

    def match_fd(self, fd: int, externals: Mapping[str, str], timeout: int) -> list[Match]:
        """Match an open regular file by descriptor (via /proc/self/fd, so no path race and no encoding issue)."""
        return self._match(f"/proc/self/fd/{fd}", None, externals, timeout)

    def match_path(self, path: str, externals: Mapping[str, str], timeout: int) -> list[Match]:
        """Match a file by path (for paths yara can open itself, such as /proc/PID/exe)."""
        return self._match(path, None, externals, timeout)

    def match_data(self, data: bytes, externals: Mapping[str, str] | None = None, timeout: int = 60) -> list[Match]:
        """Match bytes in memory."""
        return self._match(None, data, externals or {}, timeout)

    def match_pid(self, pid: int, timeout: int) -> list[Match]:
        """Match the memory of a running process."""
        try:
            return _convert(self._rules.match(pid=pid, timeout=timeout))
        except yara.TimeoutError as exc:
            raise MatchTimeout(str(exc)) from exc
        except yara.Error as exc:
            raise MatchFailed(str(exc)) from exc

    def _match(self, path: str | None, data: bytes | None, externals: Mapping[str, str], timeout: int) -> list[Match]:
        ext = {**_DEFAULT_EXTERNALS, **externals}
        try:
            if path is not None:
                found = self._rules.match(path, externals=ext, timeout=timeout)
            else:
                found = self._rules.match(data=data, externals=ext, timeout=timeout)
        except yara.TimeoutError as exc:
            raise MatchTimeout(f"no result within {timeout} s") from exc
        except yara.Error as exc:
            raise MatchFailed(str(exc)) from exc
        return _convert(found)


def _include_closure(path: Path, seen: dict[Path, str]) -> None:
    """Record ``path`` and every file it includes (recursively) with their content hashes."""
    if path in seen:
        return
    try:
        content = path.read_bytes()
    except OSError:
        seen[path] = "missing"
        return
    seen[path] = hashlib.sha256(content).hexdigest()
    for name in _INCLUDE_RE.findall(content):
        target = Path(os.fsdecode(name))
        _include_closure(target if target.is_absolute() else path.parent / target, seen)


def _used_externals(paths: Sequence[Path]) -> frozenset[str]:
    used: set[str] = set()
    for p in paths:
        with contextlib.suppress(OSError):
            content = p.read_bytes()
            used.update(name for name in EXTERNALS if re.search(rb"\b" + name.encode() + rb"\b", content))
    return frozenset(used)


def source_key(sources: Sequence[RuleSource]) -> tuple[str, list[Path]]:
    """Hash identifying the compiled form of ``sources`` (content, includes, namespaces, engine)."""
    h = hashlib.sha256(engine_version().encode())
    files: dict[Path, str] = {}
    for src in sources:
        before = len(files)
        _include_closure(src.path, files)
        h.update(f"\0ns={src.namespace}\0path={src.path}\0".encode("utf-8", "surrogateescape"))
        if len(files) == before:  # the same file twice: its hash is already in
            h.update(files[src.path].encode())
    for p, digest in sorted(files.items()):
        h.update(f"\0{p}\0{digest}".encode("utf-8", "surrogateescape"))
    return h.hexdigest(), sorted(files)


def compile_rules(sources: Sequence[RuleSource], cache_dir: Path | None = None) -> CompiledRules:
    """Compile ``sources``, loading from / saving to ``cache_dir`` when given.

    Raises RuleError naming the file and line when a rule does not compile.
    """
    if not sources:
        raise RuleError("no rules to compile: give --rules PATH or drop --no-default-rules")
    key, files = source_key(sources)
    uses = _used_externals(files)
    cached = _load_cached(cache_dir, key, uses) if cache_dir is not None else None
    if cached is not None:
        return cached
    filepaths = {src.namespace: os.fsdecode(src.path) for src in sources}
    try:
        rules = yara.compile(filepaths=filepaths, externals=_DEFAULT_EXTERNALS, includes=True)
    except yara.SyntaxError as exc:
        raise RuleError(f"rule does not compile: {exc}") from exc
    except yara.Error as exc:
        raise RuleError(f"rules could not be compiled: {exc}") from exc
    count = sum(1 for _ in rules)
    compiled = CompiledRules(rules, count, key, uses)
    if cache_dir is not None:
        _save_cached(cache_dir, key, rules, count)
    return compiled


def _load_cached(cache_dir: Path, key: str, uses: frozenset[str]) -> CompiledRules | None:
    blob, meta = cache_dir / f"{key}.yarc", cache_dir / f"{key}.json"
    try:
        info = json.loads(meta.read_text())
        rules = yara.load(os.fsdecode(blob))
    except (OSError, ValueError, yara.Error):
        return None
    return CompiledRules(rules, int(info["rule_count"]), key, uses)


def _save_cached(cache_dir: Path, key: str, rules: yara.Rules, count: int) -> None:
    """Best effort: a cache that cannot be written only costs a recompile next time."""
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".yarc")
        os.close(fd)
        try:
            rules.save(tmp)
            os.replace(tmp, cache_dir / f"{key}.yarc")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        meta_tmp = cache_dir / f".tmp-{key}.json"
        meta_tmp.write_text(json.dumps({"rule_count": count, "engine": engine_version()}))
        os.replace(meta_tmp, cache_dir / f"{key}.json")
    except (OSError, yara.Error):
        return


def cache_state(cache_dir: Path, sources: Sequence[RuleSource]) -> bool:
    """Whether a compiled form of ``sources`` is in ``cache_dir``."""
    key, _ = source_key(sources)
    return (cache_dir / f"{key}.yarc").is_file() and (cache_dir / f"{key}.json").is_file()
