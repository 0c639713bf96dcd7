"""The YARA engine: compile rule sources (with a compiled-rule cache) and match them.

This is the only module that imports ``yara``. Everything it returns is our own
types; every ``yara.Error`` is turned into a ``RuleError`` or a ``Skipped`` value.

It is the engine's public module: ``RuleSource`` and ``EXTERNALS`` live in ``sources`` (rule-file
reading and the cache key), ``Match``, ``MatchFailed`` and ``MatchTimeout`` in ``matches``; they
are imported here on purpose, so other subpackages import everything from ``compiler``. The
cache's layout on disk is ``cache``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import yara

from scanner import __version__, inert
from scanner.engine import analysis, cache, coldstart, gating, prefilter, routing
from scanner.engine.cache import RouteInfo
from scanner.engine.collection import compile_error
from scanner.engine.matches import TOO_MANY_MATCHES, EngineWarnings, match_of
from scanner.engine.matches import Match as Match
from scanner.engine.matches import MatchFailed as MatchFailed
from scanner.engine.matches import MatchTimeout as MatchTimeout
from scanner.engine.rule_texts import RuleText as RuleText
from scanner.engine.rule_texts import split_rules
from scanner.engine.sources import EXTERNALS as EXTERNALS
from scanner.engine.sources import (
    IncludeReader,
    encodable,
    includable,
    read_rule_file,
    unseen_includes,
    used_externals,
)
from scanner.engine.sources import RuleSource as RuleSource
from scanner.engine.sources import included_files as included_files
from scanner.errors import RuleError
from scanner.model import display_path
from scanner.safefs import write_atomic

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

logger = logging.getLogger(__name__)

_DEFAULT_EXTERNALS: dict[str, str] = dict.fromkeys(EXTERNALS, "")


def engine_version() -> str:
    """Identifies the engine for caches: scanner and libyara versions."""
    return f"scanner-{__version__}/yara-{yara.__version__}/routing-{routing.VERSION}"


def _convert(matches: list[yara.Match]) -> list[Match]:
    return [
        match_of(m.rule, m.namespace, m.tags, m.meta, (inst.offset for s in m.strings for inst in s.instances))
        for m in matches
    ]


SMALL_FILE = 256 * 1024
"""Files up to this size are read once and matched in memory (see CompiledRules.match_fd)."""


class _Lazy:
    """A compiled rule set loaded on first use (once, whichever thread asks first)."""

    def __init__(self, load: Callable[[], yara.Rules], rules: yara.Rules | None = None) -> None:
        self._load = load
        self._rules = rules
        self._lock = threading.Lock()

    def get(self) -> yara.Rules:
        rules = self._rules
        if rules is None:
            with self._lock:
                if self._rules is None:
                    self._rules = self._load()
                rules = self._rules
        return rules

    @property
    def loaded(self) -> bool:
        return self._rules is not None


@dataclass(frozen=True)
class Routing:
    """How files are routed to sets: by their first bytes and their size."""

    prefixes: tuple[bytes, ...]
    """Prefixes with sets of their own (any other start is routed as ``b""``)."""
    size_edges: tuple[int, ...]
    """Size bucket edges."""
    sets: tuple[tuple[RouteInfo, Callable[[], yara.Rules] | None, Callable[[], yara.Rules] | None], ...]
    """Each set with its loader (None: the whole set serves) and the loader of its rules whose result may
    depend on a file's name (None: it has none)."""
    path_rules: frozenset[tuple[str, str]] = frozenset()
    """(namespace, rule) of the rules whose result may depend on a file's name (see routing.RoutePlan)."""
    path_namespaces: frozenset[str] = frozenset()
    """Namespaces all of whose rules count as such."""
    gates: Mapping[str, Callable[[], _GateParts]] = field(default_factory=dict)
    """Set name -> loader of its content gate (scanner.gating), for the sets that have one."""


class _GateParts(NamedTuple):
    gate: gating.Gate
    prefilter: prefilter.Prefilter
    rest: _Lazy | None
    """The rules matched on every file, loaded on first use (None: there are none)."""


class _GateSet:
    """A routed set's content gate, loaded on first use; a gate that cannot be loaded is off (the set serves)."""

    def __init__(self, name: str, load: Callable[[], _GateParts]) -> None:
        self._name = name
        self._load = load
        self._parts: _GateParts | None = None
        self._failed = False
        self._lock = threading.Lock()

    def get(self) -> _GateParts | None:
        if self._parts is None and not self._failed:
            with self._lock:
                if self._parts is None and not self._failed:
                    try:
                        self._parts = self._load()
                    except (OSError, ValueError, KeyError, IndexError, TypeError, prefilter.PrefilterError) as exc:
                        logger.warning(
                            "content gate of routed set %s cannot be loaded (%s): its files are "
                            "matched against the whole set",
                            self._name,
                            exc,
                        )
                        self._failed = True
        return self._parts


class _Gates:
    """The name-only parts of a route's name rules, compiled once, evaluated without reading any file."""

    def __init__(self, gates: tuple[tuple[str, str, tuple[str, ...]], ...]) -> None:
        self._rules = gates
        source = "\n".join(
            f"rule g{i}_{j} {{ condition: {g} }}" for i, (_, _, gs) in enumerate(gates) for j, g in enumerate(gs)
        )
        self._compiled = _Lazy(lambda: _compile(sources={"gates": source or "rule none { condition: false }"}))

    def _values(self, externals: Mapping[str, str]) -> set[str]:
        return {m.rule for m in self._compiled.get().match(data=b"", externals={**_DEFAULT_EXTERNALS, **externals})}

    def decide(
        self, first: Sequence[Match], first_externals: Mapping[str, str], externals: Mapping[str, str]
    ) -> list[Match] | None:
        """The name rules' matches for a further name, or None when some rule needs the file read."""
        before, now = self._values(first_externals), self._values(externals)
        out: list[Match] = []
        for i, (ns, rule, gs) in enumerate(self._rules):
            was = tuple(f"g{i}_{j}" in before for j in range(len(gs)))
            held = tuple(f"g{i}_{j}" in now for j in range(len(gs)))
            if held == was:
                out.extend(m for m in first if m.hit.namespace == ns and m.hit.rule == rule)
            elif any(held):
                return None
        return out


class CompiledRules:
    """A compiled rule set, safe to match from many threads at once.

    When routed, a file is matched against the one subset of rules that can match a file of its
    first two bytes and its size (see ``scanner.routing``); data and process memory always use the
    whole set. Every set is loaded on first use, so a scan whose files are all in the file
    cache loads none.
    """

    def __init__(
        self,
        rules: yara.Rules | Callable[[], yara.Rules],
        rule_count: int,
        key: str,
        uses: frozenset[str],
        table: Routing | None = None,
    ) -> None:
        self._full = _Lazy(rules) if callable(rules) else _Lazy(lambda: rules, rules)
        self.rule_count = rule_count
        """Number of rules."""
        self.key = key
        """Hash of the sources and engine version; identifies this set in caches."""
        self.uses = uses
        """Which external variables the sources mention (the scanner computes only those)."""
        self.routes: tuple[RouteInfo, ...] = ()
        """The routed sets (empty when every file is matched against the whole set)."""
        self._prefixes: frozenset[bytes] = frozenset()
        self._edges: tuple[int, ...] = ()
        self._table: dict[tuple[bytes, int], tuple[str, _Lazy]] = {}
        self._by_path: dict[tuple[bytes, int], _Lazy | None] = {}
        self._gates: dict[tuple[bytes, int], _Gates | None] = {}
        self._content_gates: dict[tuple[bytes, int], _GateSet] = {}
        self._path_rules: frozenset[tuple[str, str]] = frozenset()
        self._path_namespaces: frozenset[str] = frozenset()
        self.engine_warnings = EngineWarnings()
        """What the engine warned of while matching (logged once per rule; ``take`` for a report)."""
        self._shares_links = not uses & analysis.PATH_EXTERNALS
        self.unprepared: Unprepared | None = None
        """Set on a cache miss of ``compile_rules(..., background=True)``: what ``prepare.start`` needs to build
        the routed sets for the next scans (this one stays unrouted)."""
        if table is not None:
            self._adopt(table)

    @property
    def shares_links(self) -> bool:
        """Whether a second name of a file (a hard link) can take the matches of the first name's content
        (those of rules that do not look at the name), matching only the rest: always when routed (the routed
        sets tell the rules that look at names apart), else only when no rule looks at names."""
        return self._shares_links

    def _adopt(self, table: Routing) -> None:
        """Route files by ``table`` (once, before any file is matched).

        Every part is built apart, then published in an order that would keep a reader in another thread
        right: the parts a route leads to before ``_table`` (which makes ``_route`` route), and
        ``shares_links`` last, so a further name of a hard link never meets path rules without the routes
        that match them.
        """
        by_route: dict[tuple[bytes, int], tuple[str, _Lazy]] = {}
        by_path: dict[tuple[bytes, int], _Lazy | None] = {}
        name_gates: dict[tuple[bytes, int], _Gates | None] = {}
        content_gates: dict[tuple[bytes, int], _GateSet] = {}
        for info, load, load_paths in table.sets:
            lazy = self._full if load is None else _Lazy(self._fallback(info.name, load))
            by_route.update(dict.fromkeys(info.routes, (info.name, lazy)))
            by_path.update(dict.fromkeys(info.routes, None if load_paths is None else _Lazy(load_paths)))
            gates = None if info.name_gates is None else _Gates(info.name_gates)
            name_gates.update(dict.fromkeys(info.routes, gates))
            if info.name in table.gates and load is not None:
                gated = (r for r in info.routes if r[1] >= GATE_MIN_BUCKET)  # small files of the set: no gate
                content_gates.update(dict.fromkeys(gated, _GateSet(info.name, table.gates[info.name])))
        self._prefixes = frozenset(table.prefixes)
        self._edges = table.size_edges
        self._path_rules, self._path_namespaces = table.path_rules, table.path_namespaces
        self._by_path, self._gates, self._content_gates = by_path, name_gates, content_gates
        self.routes = tuple(info for info, _, _ in table.sets)
        self._table = by_route
        self._shares_links = True

    def _fallback(self, name: str, load: Callable[[], yara.Rules]) -> Callable[[], yara.Rules]:
        """A routed set that cannot be loaded is replaced by the whole set: slower, never wrong."""

        def get() -> yara.Rules:
            try:
                return load()
            except (OSError, yara.Error, RuleError) as exc:
                logger.warning(
                    "routed set %s cannot be loaded (%s): its files are matched against the whole set (scan unrouted)",
                    name,
                    exc,
                )
                return self._full.get()

        return get

    @property
    def routed(self) -> bool:
        """Whether files are matched against routed sets."""
        return bool(self._table)

    @property
    def needs_head(self) -> bool:
        """Whether matching a file needs its first bytes (routing, or the ``filetype`` external)."""
        return self.routed or "filetype" in self.uses

    def loaded(self) -> list[str]:
        """Names of the sets loaded so far (``full`` and route names); for tests and benchmarks."""
        names = ["full"] if self._full.loaded else []
        for name, lazy in self._table.values():
            if lazy.loaded and lazy is not self._full and name not in names:
                names.append(name)
        return names

    def _route(self, head: bytes, size: int) -> tuple[str, _Lazy] | None:
        if not self._table:
            return None
        return self._table.get(self._route_key(head, size))

    def match_fd(
        self,
        fd: int,
        externals: Mapping[str, str],
        timeout: int,
        head: bytes | None = None,
        size: int | None = None,
    ) -> list[Match]:
        """Match an open regular file by descriptor, so there is no path race and no encoding issue.

        A file of at most SMALL_FILE bytes (``size``) is read with one pread() and matched in memory:
        for the small files that are most of a disk, that is cheaper than YARA opening and
        mapping it again; routing then decides on exactly the bytes matched. A larger file is
        matched through /proc/self/fd. Given its first bytes ``head`` and ``size``, a routed set
        uses only the rules that can match such a file; if either changed while the file was
        being matched, it is matched again against the whole set, so routing never decides on
        stale facts.
        """
        if size is not None and size <= SMALL_FILE:
            try:
                data = os.pread(fd, size + 1, 0)  # one byte more shows a file that grew since fstat
            except OSError as exc:
                raise MatchFailed(exc.strerror or str(exc)) from exc
            if len(data) <= size:
                return self._match_buffer(data, externals, timeout)
        target = f"/proc/self/fd/{fd}"
        entry = self._route(head, size) if head is not None and size is not None else None
        if entry is None or head is None:
            return self._match(self._full, target, None, externals, timeout)
        if size and self._route_key(head, size) in self._content_gates:
            try:
                with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
                    return self._match_buffer(mapped, externals, timeout)
            except (OSError, ValueError) as exc:  # cannot be mapped (emptied meanwhile, say): matched by path below
                logger.debug("fd %d cannot be mapped (%s): matched by path, without its content gate", fd, exc)
        found = self._match(entry[1], target, None, externals, timeout)
        try:
            same = os.fstat(fd).st_size == size and os.pread(fd, analysis.HEAD_SIZE, 0) == head[: analysis.HEAD_SIZE]
        except OSError:
            same = False
        if same:
            return found
        logger.info(
            "fd %d changed while it was matched against routed set %s: matched again against the whole "
            "set (scan unrouted)",
            fd,
            entry[0],
        )
        return self._match(self._full, target, None, externals, timeout)

    def _match_buffer(self, data: bytes | mmap.mmap, externals: Mapping[str, str], timeout: int) -> list[Match]:
        """Match a whole file's bytes against the set its own first bytes and size select, through that
        set's content gate when it has one."""
        head = bytes(data[: gating.HEAD_SIZE])
        small = self._route(head, len(data))
        if small is None:
            return self._match(self._full, None, data, externals, timeout)
        gate = self._content_gates.get(self._route_key(head, len(data))) if self._content_gates else None
        parts = gate.get() if gate is not None else None
        if parts is not None:
            checker, finder, rest = parts
            try:
                present = finder.present(data)
            except prefilter.PrefilterError as exc:
                logger.info(
                    "prefilter of routed set %s failed (%s): the file is matched without its content gate",
                    small[0],
                    exc,
                )
                present = None
            if present is not None and not checker.may_hold(present, len(data), head):
                return [] if rest is None else self._match(rest, None, data, externals, timeout)
        return self._match(small[1], None, data, externals, timeout)

    def content_part(self, matches: Sequence[Match]) -> tuple[Match, ...]:
        """The matches that hold for every name of the file: those of rules that do not look at the name."""
        if not self._path_rules and not self._path_namespaces:
            return tuple(matches)
        return tuple(m for m in matches if not self._on_path(m))

    def _on_path(self, m: Match) -> bool:
        return m.hit.namespace in self._path_namespaces or (m.hit.namespace, m.hit.rule) in self._path_rules

    def match_fd_again(
        self,
        fd: int,
        externals: Mapping[str, str],
        timeout: int,
        head: bytes | None,
        size: int,
        first: Sequence[Match],
        first_externals: Mapping[str, str],
    ) -> list[Match] | None:
        """Match another name of a file whose first name, with ``first_externals``, gave ``first``.

        The matches of rules that do not look at the name are taken as they are. A rule that does is
        decided without reading the file when the parts of its condition that look only at external
        variables hold alike for both names (then it matched as for the first name) or hold in no
        branch (then it does not match); otherwise the file is matched against the route's rules that
        look at the name. None when none of that can be done (the caller then matches in full).
        """
        if not self.shares_links:
            return None
        content = list(self.content_part(first))
        if not self._table:
            return content
        if head is None:  # read before the scan switched to routed sets, when no head was needed
            head = self._head_of(fd)
        route = self._route_key(head, size) if head is not None else None
        if route not in self._by_path:
            return None
        paths = self._by_path[route]
        if paths is None:
            return content
        gates = self._gates.get(route)
        if gates is not None:
            try:
                decided = gates.decide(first, first_externals, externals)
            except (yara.Error, RuleError) as exc:
                logger.info("name gates of a further name of fd %d failed (%s): its name rules are matched", fd, exc)
                decided = None
            if decided is not None:
                return [*content, *decided]
        try:
            found = self._match(paths, f"/proc/self/fd/{fd}", None, externals, timeout)
        except (OSError, yara.Error, RuleError) as exc:
            logger.info("name rules of a further name of fd %d failed (%s): it is matched in full", fd, exc)
            return None
        return [*content, *(m for m in found if self._on_path(m))]

    @staticmethod
    def _head_of(fd: int) -> bytes | None:
        try:
            return os.pread(fd, gating.HEAD_SIZE, 0)
        except OSError:
            return None

    def _route_key(self, head: bytes, size: int) -> tuple[bytes, int]:
        return routing.route_of(head, size, self._prefixes, self._edges)

    def match_path(self, path: str, externals: Mapping[str, str], timeout: int) -> list[Match]:
        """Match a file by path (for paths yara can open itself, such as /proc/PID/exe)."""
        return self._match(self._full, path, None, externals, timeout)

    def match_bytes(self, data: bytes, externals: Mapping[str, str], timeout: int) -> list[Match]:
        """Match a whole file's bytes held in memory (an archive's member), routed as ``match_fd`` routes
        a small file."""
        return self._match_buffer(data, externals, timeout)

    def match_data(self, data: bytes, externals: Mapping[str, str] | None = None, timeout: int = 60) -> list[Match]:
        """Match bytes in memory."""
        return self._match(self._full, None, data, externals or {}, timeout)

    def match_file_bytes(
        self, data: bytes, externals: Mapping[str, str] | None = None, timeout: int = 60
    ) -> list[Match]:
        """Match a whole file's bytes as a scan of that file matches them: against the routed set its first
        bytes and size select, through that set's content gate (the release's cost gate times this)."""
        return self._match_buffer(data, externals or {}, timeout)

    def match_pid(self, pid: int, timeout: int) -> list[Match]:
        """Match the memory of a running process."""
        try:
            return _convert(self._full.get().match(pid=pid, timeout=timeout, warnings_callback=self._on_warning))
        except yara.TimeoutError as exc:
            raise MatchTimeout(str(exc)) from exc
        except yara.Error as exc:
            raise MatchFailed(str(exc)) from exc

    def _on_warning(self, kind: int, about: object) -> int:
        """yara's ``warnings_callback``: the warning becomes ours (without it, yara-python issues a Python
        ``RuntimeWarning`` that reaches stderr as is)."""
        name = TOO_MANY_MATCHES if kind == yara.CALLBACK_TOO_MANY_MATCHES else f"warning {kind}"
        namespace, rule, string = (str(getattr(about, a, "?")) for a in ("namespace", "rule", "string"))
        self.engine_warnings.add(name, namespace, rule, string)
        return int(yara.CALLBACK_CONTINUE)

    def _match(
        self, lazy: _Lazy, path: str | None, data: bytes | mmap.mmap | None, externals: Mapping[str, str], timeout: int
    ) -> list[Match]:
        rules = lazy.get()
        ext = {**_DEFAULT_EXTERNALS, **externals} if externals else None  # None: compile-time defaults ("")
        warn = self._on_warning
        try:
            if path is not None:
                found = rules.match(path, externals=ext, timeout=timeout, warnings_callback=warn)
            else:
                found = rules.match(data=data, externals=ext, timeout=timeout, warnings_callback=warn)
        except yara.TimeoutError as exc:
            raise MatchTimeout(f"no result within {timeout} s") from exc
        except yara.Error as exc:
            raise MatchFailed(str(exc)) from exc
        return _convert(found)


def _compile(
    filepaths: Mapping[str, Sequence[str]] | None = None,
    sources: Mapping[str, str] | None = None,
    includes: IncludeReader | None = None,
) -> yara.Rules:
    """Compile rule files (namespace -> its files, in order) or sources, libyara's includes read through
    ``includes`` (a new IncludeReader when None; pass one to learn which files libyara included)."""
    includes = includes or IncludeReader()
    texts = sources
    single = None
    if filepaths is not None:
        texts, single = _namespace_texts(filepaths)
    try:
        if texts is None:
            return _yara_compile(single, None, includes)
        return _yara_compile(None, texts, includes)
    except yara.Error as exc:
        if includes.error is not None:
            raise includes.error from exc
        if includes.not_text is None:
            raise _compile_error(exc) from exc
        logger.info("rule file %s is not UTF-8 text: libyara reads the rules itself", includes.not_text)
    try:
        return _yara_compile(single, texts, None)
    except yara.Error as exc:
        raise _compile_error(exc) from exc


def _namespace_texts(filepaths: Mapping[str, Sequence[str]]) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(namespace -> source, None), or (None, namespace -> path) when every namespace has one file and some
    path cannot be written in an include (libyara then reads the files, and names them in errors); a
    path that is not UTF-8 is never handed to yara-python, which takes only text.

    Each file goes through an include, so that libyara never opens a rule file itself: one swapped
    for a FIFO since it was checked is refused by IncludeReader instead of hanging. Error messages
    name the file as given, as with filepaths. A file whose path cannot be written in an include,
    in a collection with namespaces of several files, is given as its text (``collection`` gives
    such a file a namespace of its own; libyara's errors in it then name no file).
    """
    if all(includable(p) for paths in filepaths.values() for p in paths):
        return {ns: "".join(f'include "{p}"\n' for p in paths) for ns, paths in filepaths.items()}, None
    if all(len(paths) == 1 and encodable(paths[0]) for paths in filepaths.values()):
        return None, {ns: paths[0] for ns, paths in filepaths.items()}
    texts: dict[str, str] = {}
    for ns, paths in filepaths.items():
        if all(includable(p) for p in paths):
            texts[ns] = "".join(f'include "{p}"\n' for p in paths)
            continue
        if len(paths) != 1:
            raise RuleError("rules could not be compiled: a namespace of several files has a path with a quote")
        try:
            texts[ns] = read_rule_file(Path(paths[0])).decode("utf-8")
        except OSError as exc:
            raise RuleError(f"rule file {display_path(paths[0])} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise RuleError(
                f"rule file {display_path(paths[0])} is not UTF-8 text and its name has a quote, a backslash "
                "or bytes that are not UTF-8: rename it"
            ) from exc
    return texts, None


def _grouped(sources: Sequence[RuleSource]) -> dict[str, list[str]]:
    """Namespace -> its files, in order (several files share a namespace as ``collection`` says)."""
    out: dict[str, list[str]] = {}
    for src in sources:
        out.setdefault(src.namespace, []).append(os.fsdecode(src.path))
    return out


def available_modules() -> frozenset[str]:
    """The modules this libyara can import."""
    return frozenset(getattr(yara, "modules", ()))


def _yara_compile(
    filepaths: Mapping[str, str] | None, sources: Mapping[str, str] | None, includes: IncludeReader | None
) -> yara.Rules:
    reader = {} if includes is None else {"include_callback": includes}
    if filepaths is not None:
        return yara.compile(filepaths=dict(filepaths), externals=_DEFAULT_EXTERNALS, includes=True, **reader)
    return yara.compile(sources=dict(sources or {}), externals=_DEFAULT_EXTERNALS, includes=True, **reader)


def _compile_error(exc: yara.Error) -> RuleError:
    """A RuleCompileError, which says where libyara found the error (``collection`` skips that file)."""
    prefix = "rule does not compile" if isinstance(exc, yara.SyntaxError) else "rules could not be compiled"
    return compile_error(str(exc), prefix)


def compile_rules(
    sources: Sequence[RuleSource], cache_dir: Path | None = None, *, route: bool = True, background: bool = False
) -> CompiledRules:
    """Compile ``sources``, loading from / saving to ``cache_dir`` when given (keyed by content, not paths).

    With ``route`` (the default), files are matched only against the rules their first bytes
    and size allow (see ``scanner.engine.routing``); results are the same either way. With
    ``background``, a cache miss returns the whole set, unrouted, as soon as it is compiled, and marked
    ``unprepared``: ``prepare.start`` builds its routed sets for the next scans (decision 0012).
    Raises RuleError naming the file and line when a rule does not compile.
    """
    if not sources:
        raise RuleError("no rules to compile: give --rules PATH or drop --no-default-rules")
    key, files = coldstart.content_key(sources, engine_version(), cache_dir)
    if not route:
        key = hashlib.sha256(f"{key}/unrouted".encode()).hexdigest()

    def recompile() -> yara.Rules:
        return _compile(filepaths=_grouped(sources))

    cached = _load_cached(cache_dir, key, recompile) if cache_dir is not None else None
    if cached is not None:
        logger.info(
            "compiled rules: cache hit %s (%d rules, %s; keyed by content)",
            key[:12],
            cached.rule_count,
            f"{len(cached.routes)} routed sets" if cached.routed else "unrouted",
        )
        return cached
    logger.info(
        "compiled rules: %s %s; compiling %d rule files",
        "cache miss" if cache_dir else "no cache",
        key[:12],
        len(sources),
    )
    started = time.monotonic()
    rules, count, known = _fresh(sources, files)
    uses = used_externals(files) if known else frozenset(EXTERNALS)
    if background and route and known:
        return _unrouted_for_now(sources, cache_dir, CompiledRules(rules, count, key, uses), started)
    routed = _compile_routes(sources) if route and known else None
    cache_dir = cache_dir if known else None
    logger.info(
        "compiled %d rules in %.1f s (%s)",
        count,
        time.monotonic() - started,
        f"{len(routed.sets)} routed sets, {len(routed.gates)} content gates" if routed else "unrouted",
    )
    if cache_dir is not None:
        _save_compiled(cache_dir, key, rules, count, uses, routed)
    table = None if routed is None else _routing_table(routed)
    return CompiledRules(rules, count, key, uses, table)


def _fresh(sources: Sequence[RuleSource], files: Sequence[Path]) -> tuple[yara.Rules, int, bool]:
    """The whole set of ``sources`` compiled afresh, its number of rules, and whether libyara included only
    files among ``files`` (those the cache key was computed from: see ``_known_includes``)."""
    reported = IncludeReader()
    rules = _compile(filepaths=_grouped(sources), includes=reported)
    return rules, sum(1 for _ in rules), _known_includes(reported, files)


def _unrouted_for_now(
    sources: Sequence[RuleSource], cache_dir: Path | None, compiled: CompiledRules, started: float
) -> CompiledRules:
    """``compiled`` (the whole set, unrouted), marked for the background preparation of its routed sets
    (``prepare.start``) when there is a cache to prepare them in."""
    logger.info(
        "compiled %d rules in %.1f s; this scan matches every file against the whole set (scan unrouted)",
        compiled.rule_count,
        time.monotonic() - started,
    )
    if cache_dir is not None:  # the preparation compiles and saves everything, this set too
        compiled.unprepared = Unprepared(cache_dir, tuple(sources))
    return compiled


def prepare(sources: Sequence[RuleSource], cache_dir: Path) -> bool:
    """Build the routed sets and content gates of ``sources`` into ``cache_dir`` unless they are there (the
    background preparation's work: ``scanner.engine.prepare``); whether the cache now holds a compiled form.

    Memory is kept low: the whole set is let go once saved, and each routed set once it is saved.
    """
    key, files = coldstart.content_key(sources, engine_version(), cache_dir)
    if cache.read_record(cache_dir, key) is not None and cache.blob_path(cache_dir, key).is_file():
        logger.info("compiled rules %s: prepared already", key[:12])
        return True
    started = time.monotonic()
    rules, count, known = _fresh(sources, files)
    if not known:
        return False
    _save_blob(cache.blob_path(cache_dir, key), rules)
    del rules
    from concurrent.futures import ThreadPoolExecutor  # one thread: one set's compiler memory at a time

    where = cache.routed_dir(cache_dir, key)
    routed = _compile_routes(sources, ThreadPoolExecutor(max_workers=1), save_to=where)
    _save_record(cache_dir, key, count, used_externals(files), routed)
    logger.info(
        "compiled rules %s prepared in %.1f s (%s)",
        key[:12],
        time.monotonic() - started,
        f"{len(routed.sets)} routed sets, {len(routed.gates)} content gates" if routed else "unrouted",
    )
    return True


def _save_record(cache_dir: Path, key: str, count: int, uses: frozenset[str], routed: _RoutedSets | None) -> None:
    """Keep the record of a compiled set already saved, and the gates of its routed sets, also saved already
    (``_save_sets``), in the cache (best effort)."""
    record = None if routed is None else _save_gates(cache.routed_dir(cache_dir, key), routed)
    cache.write_record(cache_dir, key, cache.Record(count, uses, record), engine_version())
    cache.prune_routed(cache_dir)


def _save_compiled(
    cache_dir: Path, key: str, rules: yara.Rules, count: int, uses: frozenset[str], routed: _RoutedSets | None
) -> None:
    """Keep a compiled set, its routed sets and their record in the cache (best effort)."""
    _save_blob(cache.blob_path(cache_dir, key), rules)
    if routed is not None:
        _save_sets(cache.routed_dir(cache_dir, key), routed)
    _save_record(cache_dir, key, count, uses, routed)


def _routing_table(routed: _RoutedSets) -> Routing:
    """The routing of freshly compiled routed sets: every part is in memory already."""
    finders = {db: _prefilter_loader(_bytes(blob)) for db, blob in routed.databases.items()}
    return Routing(
        routed.prefixes,
        routed.edges,
        tuple((info, _in_memory(r), _in_memory(p)) for info, r, p in routed.sets),
        routed.path_rules,
        routed.path_namespaces,
        {
            name: _gate_loader(planned.load, finders[db], None if rest is None else _given(rest))
            for name, (planned, rest, db) in routed.gates.items()
        },
    )


def _in_memory(rules: yara.Rules | _Saved | None) -> Callable[[], yara.Rules] | None:
    """The loader of a routed set compiled in memory (None: none); a set let go (``SAVED``) has no place in a
    routing table built from memory."""
    if isinstance(rules, _Saved):
        raise TypeError("a routed set saved and let go cannot be matched from memory")
    return None if rules is None else _given(rules)


def _known_includes(reported: IncludeReader, files: Sequence[Path]) -> bool:
    """Whether every file libyara included (as ``reported``) is among ``files``, those the key, the externals
    and routing were worked out from; if not, the collection is not cached, gets every external and is
    scanned unrouted."""
    unseen = unseen_includes(reported, files)
    if unseen:
        logger.info(
            "libyara included %s, not found by reading the rule files: unrouted, every external passed, not cached",
            ", ".join(sorted(unseen)),
        )
    return not unseen


def _save_sets(where: Path, routed: _RoutedSets) -> None:
    """Save the routed sets themselves in ``where`` (best effort; those ``SAVED`` are there already). Never
    while another thread matches them: libyara's save turns the set's pointers into offsets in place, and a
    match then reads them (SIGSEGV)."""
    for info, set_rules, on_path in routed.sets:
        if isinstance(set_rules, yara.Rules):
            _save_blob(where / f"{info.name}.yarc", set_rules)
        if isinstance(on_path, yara.Rules):
            _save_blob(where / f"{info.name}.paths.yarc", on_path)


def _save_gates(where: Path, routed: _RoutedSets) -> cache.RoutingRecord:
    """Save the gates and prefilter databases of routed sets saved already (``_save_sets``) in ``where`` (best
    effort); the record of sets and gates."""
    for db, blob in routed.databases.items():
        with contextlib.suppress(OSError):
            write_atomic(where / f"{db}.hs", inert.encode(blob))  # it holds the rules' strings
    for name, (planned, rest, _db) in routed.gates.items():
        if rest is not None:
            _save_blob(where / f"{name}.rest.yarc", rest)
        with contextlib.suppress(OSError):
            write_atomic(where / f"{name}.gate.json", json.dumps(planned.to_json()).encode())
    sets = tuple(
        cache.SetRecord(
            info,
            set_rules is None,
            on_path is not None,
            None
            if info.name not in routed.gates
            else (routed.gates[info.name][1] is not None, routed.gates[info.name][2]),
        )
        for info, set_rules, on_path in routed.sets
    )
    return cache.RoutingRecord(routed.prefixes, routed.edges, sets, routed.path_rules, routed.path_namespaces)


def _gate_loader(
    gate: Callable[[], gating.Gate], finder: Callable[[], prefilter.Prefilter], rest: Callable[[], yara.Rules] | None
) -> Callable[[], _GateParts]:
    return lambda: _GateParts(gate(), finder(), None if rest is None else _Lazy(rest))


def _prefilter_loader(blob: Callable[[], bytes]) -> Callable[[], prefilter.Prefilter]:
    """The prefilter database the gates of several sets share, loaded once (a failed load is tried again by
    the next gate that asks, and fails alike)."""
    return functools.cache(lambda: prefilter.Prefilter(blob()))


def _bytes(blob: bytes) -> Callable[[], bytes]:
    return lambda: blob


def _inert_file(path: Path) -> Callable[[], bytes]:
    return lambda: inert.decode(path.read_bytes())


def _gate_file(path: Path) -> Callable[[], gating.Gate]:
    return lambda: gating.load_gate(json.loads(path.read_bytes()))


def _given(rules: yara.Rules) -> Callable[[], yara.Rules]:
    return lambda: rules


def _loader(path: Path) -> Callable[[], yara.Rules]:
    return lambda: yara.load(os.fsdecode(path))


class Unprepared(NamedTuple):
    """A compiled set whose routed sets are not built yet: where to build them, and from what."""

    cache_dir: Path
    sources: tuple[RuleSource, ...]


class _Saved:
    """In place of a routed set that was saved to the cache and let go (``prepare`` holds none)."""


SAVED = _Saved()


class _RoutedSets(NamedTuple):
    prefixes: tuple[bytes, ...]
    edges: tuple[int, ...]
    sets: list[tuple[RouteInfo, yara.Rules | _Saved | None, yara.Rules | _Saved | None]]
    """Each set (None: the whole set serves) with its rules that look at a file's name (None: none); SAVED
    when saved to the cache already and let go."""
    path_rules: frozenset[tuple[str, str]]
    path_namespaces: frozenset[str]
    gates: dict[str, tuple[gating.SetGate, yara.Rules | None, str]]
    """Set name -> its content gate, its compiled rest (None: no rest) and the name of its prefilter database."""
    databases: dict[str, bytes]
    """Name -> serialised prefilter database, shared by the gates of the sets of one prefix."""


GATE_MIN_BUCKET = 1
"""Files of at least this size bucket go through their set's content gate, and sets that serve such files
get one (for small files the prefilter's per-file cost outweighs what it saves)."""

_Planned = dict[str, gating.SetGate]


def _plan_gates(
    plan: routing.RoutePlan, pool: Executor
) -> tuple[dict[str, tuple[gating.SetGate, yara.Rules | None, str]], dict[str, bytes]]:
    """Content gates for the routed sets that serve big files, each with its rest and the name of its
    prefilter database, and those databases: one per prefix, for the patterns of all its sets (the set
    for the biggest files holds nearly the same strings as the next one: one build, not two).

    Databases and rests are built in ``pool`` while the next gates are planned.
    """
    if not prefilter.available():
        logger.info("content gates skipped: Hyperscan is not installed")
        return {}, {}
    table = gating.KeyTable()
    parsed: dict[tuple[str, str], gating.Parsed] = {}
    drafts = {
        rs.name: gating.draft_gate(rs.sources, table, parsed)
        for rs in plan.sets
        if not rs.complete and any(bucket >= GATE_MIN_BUCKET for _, bucket in rs.routes)
    }
    nothing = frozenset(k for k, found in enumerate(table.patterns) if found is None)
    groups: dict[str, list[str]] = {}
    for name in drafts:
        groups.setdefault(name.split(".")[0], []).append(name)

    def attempt(
        names: list[str], always: frozenset[int]
    ) -> tuple[_Planned, list[tuple[int, gating.Pattern]], Future[bytes] | None]:
        planned = {n: g for n in names if (g := gating.plan_gate(drafts[n], always)) is not None}
        keys = sorted(frozenset().union(*(g.keys for g in planned.values())))
        patterns = [(k, p) for k in keys for p in table.patterns[k] or ()]
        return planned, patterns, pool.submit(prefilter.build, patterns) if planned else None

    tries = {db: attempt(names, nothing) for db, names in groups.items()}
    rests: dict[str, tuple[gating.SetGate, Future[yara.Rules] | None, str]] = {}
    databases: dict[str, bytes] = {}
    for db, (planned, patterns, build) in tries.items():
        blob = _built(build)
        if blob is None and build is not None:  # a pattern it refuses: its string counts as present
            refused = prefilter.refused(patterns)
            logger.info("prefilter for sets %s refuses %d patterns: their strings count as present", db, len(refused))
            planned, _, build = attempt(groups[db], nothing | refused)
            blob = _built(build)
        if blob is None:
            logger.info(
                "content gates of sets %s skipped: %s",
                db,
                "nothing to gate" if build is None else "the prefilter database cannot be built",
            )
            continue
        logger.debug("content gates planned for sets %s", ", ".join(sorted(planned)) or "(none)")
        databases[db] = blob
        rests.update(
            {n: (g, pool.submit(_compile, sources=g.rest) if g.rest else None, db) for n, g in planned.items()}
        )
    return {n: (g, None if rest is None else rest.result(), db) for n, (g, rest, db) in rests.items()}, databases


def _built(build: Future[bytes] | None) -> bytes | None:
    """The database ``build`` gives (None: nothing to build, or a pattern Hyperscan refuses)."""
    try:
        return None if build is None else build.result()
    except prefilter.PrefilterError:
        return None


def _compile_routes(
    sources: Sequence[RuleSource], workers: Executor | None = None, *, save_to: Path | None = None
) -> _RoutedSets | None:
    """Analyse and compile the routed sets and their content gates (None when routing would not help, or
    fails). With ``save_to``, each set is saved there as soon as it is compiled and let go (``SAVED``).

    libyara and Hyperscan release the GIL while compiling: the sets compile in threads, one per
    core (``workers``, else a thread pool), while the content gates are planned.
    """
    analysed = []
    for ns, paths in _grouped(sources).items():
        fa = _analyse_namespace(ns, [Path(p) for p in paths])
        if fa is None:
            return None
        analysed.append(fa)
    plan = routing.plan(analysed)
    del analysed
    if plan is None:
        return None  # routing.plan said why
    if workers is None:
        from concurrent.futures import ThreadPoolExecutor  # only when compiling: start-up need not import it

        workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="compile")

    def compiled(rule_sources: Mapping[str, str], name: str) -> yara.Rules | _Saved:
        rules = _compile(sources=rule_sources)
        if save_to is None:
            return rules
        _save_blob(save_to / name, rules)
        return SAVED

    with workers as pool:
        pending = [
            (
                rs,
                None if rs.complete else pool.submit(compiled, rs.sources, f"{rs.name}.yarc"),
                pool.submit(compiled, rs.path_sources, f"{rs.name}.paths.yarc") if rs.path_sources else None,
            )
            for rs in plan.sets
        ]
        gates, databases = _gates_of(plan, pool)
        try:
            out = [
                (
                    RouteInfo(rs.name, rs.routes, rs.rules, rs.name_gates),
                    None if c is None else c.result(),
                    None if p is None else p.result(),
                )
                for rs, c, p in pending
            ]
        except RuleError as exc:  # a split the analysis got wrong: scan unrouted rather than fail
            logger.warning("a routed set does not compile (%s): scan unrouted", exc)
            return None
    return _RoutedSets(plan.prefixes, plan.size_edges, out, plan.path_rules, plan.path_namespaces, gates, databases)


def _gates_of(
    plan: routing.RoutePlan, pool: Executor
) -> tuple[dict[str, tuple[gating.SetGate, yara.Rules | None, str]], dict[str, bytes]]:
    """``_plan_gates``, or no gates when a set's rest does not compile."""
    try:
        return _plan_gates(plan, pool)
    except RuleError as exc:  # a rest the analysis got wrong: no gates rather than no routing
        logger.warning("content gates skipped: a set's rest does not compile (%s)", exc)
        return {}, {}


def _analyse_namespace(namespace: str, paths: Sequence[Path]) -> analysis.FileAnalysis | None:
    """Routing's analysis of the files of one namespace, read as libyara reads them: one after the other
    (None: one cannot be read, scan unrouted)."""
    raws = []
    for path in paths:
        try:
            raws.append(read_rule_file(path))
        except OSError as exc:
            logger.info("rule file %s cannot be read for routing (%s): scan unrouted", path, exc)
            return None
    names = tuple(os.fsdecode(p.absolute()) for p in paths)
    fa = analysis.analyse(namespace, names[0], b"\n".join(raws))
    if len(names) > 1:
        fa = dataclasses.replace(fa, files=names)
    if (
        fa.whole
        and not fa.whole_paths
        and used_externals([f for p in paths for f in included_files(p)]) & analysis.PATH_EXTERNALS
    ):
        logger.debug("rule files of namespace %s include rules that look at file names", namespace)
        fa = dataclasses.replace(fa, whole_paths=True)
    return fa


def _load_cached(cache_dir: Path, key: str, recompile: Callable[[], yara.Rules]) -> CompiledRules | None:
    """The cached compiled form, loaded lazily (set by set, on first use)."""
    blob = cache.blob_path(cache_dir, key)
    record = cache.read_record(cache_dir, key)
    if record is None or not blob.is_file():
        return None
    table = None if record.routing is None else _cached_table(cache_dir, key, record.routing)

    def load_full() -> yara.Rules:
        try:
            return yara.load(os.fsdecode(blob))
        except yara.Error as exc:
            logger.warning("compiled-rule cache: %s cannot be loaded (%s): compiling again", blob, exc)
            return recompile()

    return CompiledRules(load_full, record.rule_count, key, record.uses, table)


def _cached_table(cache_dir: Path, key: str, r: cache.RoutingRecord) -> Routing:
    """The routing of cached routed sets: each set, gate and database is loaded from the cache on first use."""
    where = cache.routed_dir(cache_dir, key)
    sets = tuple(
        (
            s.info,
            None if s.complete else _loader(where / f"{s.info.name}.yarc"),
            _loader(where / f"{s.info.name}.paths.yarc") if s.paths else None,
        )
        for s in r.sets
    )
    finders = {
        db: _prefilter_loader(_inert_file(where / f"{db}.hs"))
        for db in {s.gate[1] for s in r.sets if s.gate is not None}
    }
    gates = {
        s.info.name: _gate_loader(
            _gate_file(where / f"{s.info.name}.gate.json"),
            finders[s.gate[1]],
            _loader(where / f"{s.info.name}.rest.yarc") if s.gate[0] else None,
        )
        for s in r.sets
        if s.gate is not None
    }
    return Routing(r.prefixes, r.size_edges, sets, r.path_rules, r.path_namespaces, gates)


def _save_blob(path: Path, rules: yara.Rules) -> None:
    """Best effort: a cache that cannot be written only costs a recompile next time."""
    try:
        for d in reversed([path.parent, *path.parent.parents]):
            if not d.is_dir():
                d.mkdir(mode=0o700, exist_ok=True)  # every level private, not only the last
        buf = io.BytesIO()
        rules.save(file=buf)
        write_atomic(path, buf.getvalue())
    except (OSError, yara.Error) as exc:
        logger.info("compiled-rule cache: cannot save %s (%s); it is compiled again next time", path, exc)
        return


def cache_state(cache_dir: Path, sources: Sequence[RuleSource]) -> bool:
    """Whether a compiled form of ``sources`` is in ``cache_dir``."""
    key, _ = coldstart.content_key(sources, engine_version())
    return cache.is_cached(cache_dir, key)


@dataclass(frozen=True)
class RuleFile:
    """One rule file compiled alone (``inspect_rule_file``): its rules, their meta, and libyara's warnings."""

    metas: Mapping[str, Mapping[str, str | int | bool]]
    """Rule name -> its meta, for every rule of the file (private ones included)."""
    texts: tuple[RuleText, ...] | None
    """Each rule as written and as a source of its own (None: the file cannot be split; take it whole)."""
    warnings: tuple[str, ...]
    """What libyara warned of while compiling it (slow strings, ...), as it says it."""


def inspect_rule_file(source: RuleSource) -> RuleFile:
    """Compile the rule file ``source`` alone, as a release is tested; RuleError when it does not compile."""
    rules = _compile(filepaths={source.namespace: [os.fsdecode(source.path)]})
    metas = {r.identifier: dict(r.meta) for r in rules}
    try:
        texts = split_rules(read_rule_file(source.path).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        logger.info("rule file %s not split into rules (%s): taken whole", source.path, exc)
        texts = None
    return RuleFile(metas, None if texts is None else tuple(texts), tuple(str(w) for w in rules.warnings))
