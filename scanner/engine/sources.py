"""Rule files as the engine reads them: checked before reading, hashed for the compiled-rule cache's key,
and read in libyara's stead when they ``include`` others.

A rule file is read only when it is a regular file of at most 64 MiB (never a FIFO or a device).
``source_key`` identifies the compiled form of a collection by the content of every file it reads,
includes too; content hashes are memoised by the files' stat facts so a warm start need not read
every rule file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import RuleError
from scanner.model import display_path, json_path
from scanner.safefs import describe_mode, read_regular, write_atomic

logger = logging.getLogger(__name__)

MAX_RULE_FILE = 64 << 20
"""A rule file (or a file it includes) larger than this (64 MiB) is refused unread."""

EXTERNALS: tuple[str, ...] = ("filename", "filepath", "extension", "filetype", "owner")
"""External variables every rule may use (the LOKI/THOR convention); always defined, as strings."""


@dataclass(frozen=True)
class RuleSource:
    """One rule file to compile, in its own namespace."""

    namespace: str
    """Namespace its rules are compiled in; unique within one compilation."""
    path: Path
    """The rule file."""


_INCLUDE_RE = re.compile(rb'(?<![A-Za-z0-9_])include[ \t]+"([^"]+)"')
"""An include as libyara's lexer reads it (``include``, blanks, then a name up to the next quote, no escapes),
wherever it stands; one inside a comment or a string is found too, which only adds a file to the key."""
_EXTERNAL_NAMES = tuple(name.encode() for name in EXTERNALS)
_EXTERNAL_RE = re.compile(rb"\b(" + b"|".join(_EXTERNAL_NAMES) + rb")\b")


class _DigestMemo:
    """Content hashes of rule files by their stat facts, so a warm start need not read every rule file.

    Kept in the compiled-rule cache directory; trusted like it. ctime moves on any change to a
    file and cannot be set by a program; files changed in the last two seconds are not memoised.
    """

    NAME = "digests.json"
    SETTLE_NS = 2_000_000_000

    def __init__(self, cache_dir: Path | None, engine: str) -> None:
        self._path = cache_dir / self.NAME if cache_dir is not None else None
        self._engine = engine
        self._entries: dict[str, list[object]] = {}
        self._changed = False
        if self._path is not None:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(self._path.read_text())
                if isinstance(loaded, dict) and loaded.get("engine") == engine:
                    self._entries = dict(loaded.get("files", {}))

    def digest(self, path: Path) -> tuple[str, list[bytes]]:
        """(sha256 or ``missing``, include targets as written) of ``path``."""
        key = json_path(os.fsdecode(path))
        try:
            st = path.stat()
        except OSError:
            return "missing", []
        _check_rule_file(path, st.st_mode, st.st_size)
        facts = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = self._entries.get(key)
        if isinstance(known, list) and len(known) == 7 and known[:5] == facts and isinstance(known[6], list):
            return str(known[5]), [os.fsencode(str(n)) for n in known[6]]
        try:
            content = read_rule_file(path)
        except OSError:
            return "missing", []
        digest = hashlib.sha256(content).hexdigest()
        includes = _INCLUDE_RE.findall(content) if b"include" in content else []  # a plain search first: fast
        settled = time.time_ns() - self.SETTLE_NS
        if self._path is not None and st.st_mtime_ns < settled and st.st_ctime_ns < settled:
            self._entries[key] = [*facts, digest, [os.fsdecode(n) for n in includes]]
            self._changed = True
        return digest, includes

    def save(self) -> None:
        """Best effort, like the compiled-rule cache."""
        if self._path is None or not self._changed:
            return
        with contextlib.suppress(OSError):
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self._path, json.dumps({"engine": self._engine, "files": self._entries}).encode())


def _check_rule_file(path: Path, mode: int, size: int) -> None:
    """RuleError unless ``path`` (its ``st_mode`` and size) is a regular file libyara may read."""
    if not stat.S_ISREG(mode):
        raise _refused(path, f"it is {describe_mode(mode)}, not a regular file")
    if size > MAX_RULE_FILE:
        raise _refused(path, "it is larger than the limit of 64 MiB")


def _refused(path: Path, why: str) -> RuleError:
    logger.info("refusing rule file %s: %s", path, why)
    return RuleError(
        f"rule file {display_path(os.fsdecode(path))} refused: {why}; "
        "rules are read only from regular files of at most 64 MiB"
    )


def read_rule_file(path: Path) -> bytes:
    """The content of the rule file at ``path``: a regular file of at most 64 MiB, else RuleError.

    Never blocks on a FIFO nor runs away on a device. Raises OSError when it cannot be read.
    """
    try:
        return read_regular(path, MAX_RULE_FILE)
    except ValueError as exc:
        raise _refused(path, str(exc)) from exc


def _include_closure(path: Path, seen: dict[Path, str], memo: _DigestMemo) -> None:
    """Record ``path`` and every file it includes (recursively) with their content hashes."""
    if path in seen:
        return
    digest, includes = memo.digest(path)
    seen[path] = digest
    for name in includes:
        target = Path(os.fsdecode(name))
        _include_closure(target if target.is_absolute() else path.parent / target, seen, memo)


def included_files(path: Path) -> list[Path]:
    """``path`` and every file it includes, recursively (see _INCLUDE_RE; a missing file is listed too)."""
    seen: dict[Path, str] = {}
    _include_closure(path, seen, _DigestMemo(None, ""))
    return list(seen)


def used_externals(paths: Sequence[Path]) -> frozenset[str]:
    """Which of EXTERNALS the rule files ``paths`` mention (a file that cannot be read mentions none)."""
    used: set[bytes] = set()
    for p in paths:
        if len(used) == len(_EXTERNAL_NAMES):  # every one is used: the rest need not be read
            break
        with contextlib.suppress(OSError):
            raw = read_rule_file(p)
            if any(name in raw for name in _EXTERNAL_NAMES if name not in used):  # a plain search first
                used.update(_EXTERNAL_RE.findall(raw))
    return frozenset(name.decode() for name in used)


def source_key(sources: Sequence[RuleSource], engine: str, cache_dir: Path | None = None) -> tuple[str, list[Path]]:
    """Hash identifying the compiled form of ``sources`` (content, includes, namespaces, and ``engine``: the
    engine's version), and every file read for it.

    With ``cache_dir``, content hashes are memoised there by the files' stat facts.
    """
    h = hashlib.sha256(engine.encode())
    files: dict[Path, str] = {}
    memo = _DigestMemo(cache_dir, engine)
    for src in sources:
        before = len(files)
        _include_closure(src.path, files, memo)
        h.update(f"\0ns={src.namespace}\0path={src.path}\0".encode("utf-8", "surrogateescape"))
        if len(files) == before:  # the same file twice: its hash is already in
            h.update(files[src.path].encode())
    for p, digest in sorted(files.items()):
        h.update(f"\0{p}\0{digest}".encode("utf-8", "surrogateescape"))
    memo.save()
    return h.hexdigest(), sorted(files)


class IncludeReader:
    """Reads the files rules ``include`` in libyara's stead, so each is checked like a rule file.

    libyara's own reading would block on a FIFO and grow without bound on ``/dev/zero``. A
    relative include is resolved against the directory of the file that includes it, as
    libyara does; libyara names an included file by its name as written, so that name is
    mapped back to the path it was read from. libyara takes text from here: a file that is
    not UTF-8 is noted in ``not_text`` and refused, and the caller compiles again without
    this reader (only files already checked by ``source_key`` are then read by libyara).
    """

    def __init__(self) -> None:
        self.read_from: dict[str, str] = {}
        """Each include as libyara requested it -> the path it was read from."""
        self.error: RuleError | None = None
        self.not_text: str | None = None

    def __call__(self, requested: str, calling: str | None, namespace: str) -> str | None:
        base = self.read_from.get(calling, calling) if calling else None
        target = requested if os.path.isabs(requested) or not base else os.path.join(os.path.dirname(base), requested)
        try:
            text = read_rule_file(Path(target)).decode("utf-8")
        except RuleError as exc:
            self.error = exc
            return None
        except OSError as exc:
            self.error = RuleError(f"cannot read included rule file {display_path(target)}: {exc.strerror}")
            return None
        except UnicodeDecodeError:
            self.not_text = target
            return None
        self.read_from[requested] = target
        return text


def unseen_includes(reader: IncludeReader, files: Sequence[Path]) -> set[str]:
    """Files libyara included through ``reader`` that are not among ``files`` (what the key was computed from)."""
    known = {os.path.abspath(p) for p in files}
    return {t for t in reader.read_from.values() if os.path.abspath(t) not in known}


def includable(path: str) -> bool:
    """Whether ``path`` can be written in an include statement (libyara reads it up to the next quote, and
    yara-python takes sources as UTF-8 text: a name that is not is never written there)."""
    return not any(c in path for c in '"\\\n\r') and encodable(path)


def encodable(text: str) -> bool:
    """Whether yara-python can take ``text`` (a path from ``os.fsdecode``) as a string: valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


DigestMemo = _DigestMemo
"""The content-hash memo under a public name, for ``coldstart.content_key``."""
