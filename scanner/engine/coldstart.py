"""Cold start: a cache key made of the rules' content alone, and routed sets built in the background.

The compiled form of a collection depends on its files' content (includes too), their namespaces and
the engine, not on where the files are: ``content_key`` leaves paths out, so a signature set compiled
while its update is tested in a staging directory is found again once the set is installed, and the
same collection under another directory is not compiled twice.

A first start with a new collection compiles its whole set (about a second), then scans at once,
unrouted, while ``Background`` builds the routed sets and their content gates in a thread; once they are
built and saved, the scan switches to them (``compiler`` does the switching). A process that ends
first waits for the build before it exits, so the next start finds everything compiled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import ParamSpec, TypeVar

from scanner.engine.sources import DigestMemo, RuleSource

logger = logging.getLogger(__name__)

BACKGROUND_WORKERS = 1
"""Threads that compile routed sets in the background: one, so that the scan keeps the other cores and only
one set's compiler memory is held at a time (not measured against two apart from other changes)."""


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


class Background:
    """One piece of work run in a thread, started at once. The thread is not a daemon: a process that is
    about to end waits for it (Python joins such threads before it exits), so what it saves is there for
    the next start; a second Ctrl-C ends the wait."""

    def __init__(self, name: str, work: Callable[[], None]) -> None:
        self._name = name
        self._work = work
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=False)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self._work()
        except Exception:  # a bug in the background must not end the scan, which goes on unrouted
            logger.exception("%s failed: the scan goes on unrouted", self._name)
        finally:
            logger.debug("%s finished in %.1f s", self._name, time.monotonic() - started)
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether the work has finished (successfully or not)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the work has finished (at most ``timeout`` seconds); whether it has."""
        return self._done.wait(timeout)


_P = ParamSpec("_P")
_T = TypeVar("_T")


class Workers(Executor):
    """At most ``count`` tasks at a time, each in a thread of its own, for work done in the background.

    The standard thread pool refuses new tasks once the main thread has begun to exit, which is when
    ``Background`` work may still be running: these plain threads do not.
    """

    def __init__(self, count: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, count))
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()

        def run() -> None:
            with self._slots:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 (handed to whoever asks for the result)
                    future.set_exception(exc)

        thread = threading.Thread(target=run, name="compile", daemon=False)
        self._threads.append(thread)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if wait:
            for thread in self._threads:
                thread.join()
