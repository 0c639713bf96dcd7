"""Cold start: a cache key made of the rules' content alone.

The compiled form of a collection depends on its files' content (includes too), their namespaces and
the engine, not on where the files are: ``content_key`` leaves paths out, so a signature set compiled
while its update is tested in a staging directory is found again once the set is installed, and the
same collection under another directory is not compiled twice.

A first start with a new collection compiles its whole set (about a second) and scans unrouted; the
routed sets and their content gates are built for the next scans by ``prepare`` (a process of its own, at
idle priority, once the scan has ended).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from scanner.engine.sources import DigestMemo, RuleSource

logger = logging.getLogger(__name__)


def _tree_digest(path: Path, memo: DigestMemo, files: dict[Path, str], stack: tuple[Path, ...]) -> str:
    """Hash of ``path``'s content and, for each include in it (its name as written), of the included file's
    own tree; records every file read in ``files``. An include cycle hashes as such (libyara refuses it)."""
    if path in stack:
        return "cycle"
    digest, includes = memo.digest(path)
    files[path] = digest
    h = hashlib.sha256(digest.encode())
    for name in includes:
        target = Path(os.fsdecode(name))
        resolved = target if target.is_absolute() else path.parent / target
        h.update(b"\0include\0" + name + b"\0" + _tree_digest(resolved, memo, files, (*stack, path)).encode())
    return h.hexdigest()


def content_key(sources: Sequence[RuleSource], engine: str, cache_dir: Path | None = None) -> tuple[str, list[Path]]:
    """Hash identifying the compiled form of ``sources`` by content alone (each file's namespace and content,
    the files it includes by their names as written and their content, recursively, and ``engine``), and
    every file read for it. Two copies of a collection in different directories have the same key.

    With ``cache_dir``, content hashes are memoised there by the files' stat facts (see sources).
    """
    h = hashlib.sha256(engine.encode())
    files: dict[Path, str] = {}
    memo = DigestMemo(cache_dir, engine)
    for src in sources:
        tree = _tree_digest(src.path, memo, files, ())
        h.update(f"\0ns={src.namespace}\0".encode("utf-8", "surrogateescape") + tree.encode())
    memo.save()
    return h.hexdigest(), sorted(files)
