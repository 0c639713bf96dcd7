"""The file cache: files judged by a rule set are not read again while unchanged.

A result is kept per (rule set key, path) with the file's (device, inode, size, mtime, ctime) as
fstat gave them just before it was read. A later scan with the same rule set key (which covers
the rules' content and the engine version) skips a file whose walk-time stat facts are all
equal. Nothing else is trusted: a rename, a rewrite, a ``touch``, a ``chmod`` or ``chown`` (which
move ctime, and ctime cannot be set from user space), a new rule set or engine all mean a re-read.

A result is either clean or a detection. A detection is kept with what was found (opaque bytes
the caller encodes), so an unchanged detected file is reported again without being read: it is
never taken for clean. Skips, timeouts and errors are not recorded, nor files modified within
``settle_ns`` before the scan started (their timestamps could stay the same across a write made
while they were being read).

Storage is one SQLite database in WAL mode (Python's own sqlite3, no new dependency), shared by
concurrent scans: each scan writes its results in batches in short transactions and waits for a
busy database rather than failing. The cache is an optimisation only: a database that cannot be
opened, is corrupt or is locked for too long is discarded or ignored, never fatal.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner.model import FileIdentity

logger = logging.getLogger(__name__)

DB_NAME = "results.sqlite3"
"""File name of the database inside the cache directory."""

SCHEMA_VERSION = 2
"""Stored in the database's user_version; any other value means start afresh."""

MAX_ENTRIES = 2_000_000
"""Upper bound on cached results (about 150 MB at most); the least recently confirmed go first."""

KEEP_RULE_SETS = 3
"""Results are kept for this many most recently used rule sets."""

SETTLE_NS = 2_000_000_000
"""Files modified this recently before a scan started are not recorded (see module docstring)."""

_BATCH = 2000


class CacheMode(enum.Enum):
    """How a scan uses the file cache."""

    USE = "use"
    """Skip unchanged files judged before; record new results."""
    REFRESH = "refresh"
    """Read every file, and record what it gave (a periodic full re-check)."""
    OFF = "off"
    """Neither consult nor update the cache (``--no-cache``)."""


@dataclass(frozen=True)
class CacheStats:
    """What the cache did during one scan."""

    mode: CacheMode
    """How it was used."""
    hits: int
    """Files not read because their result was cached."""
    recorded: int
    """Results written."""
    detections: int = 0
    """Of the hits, files reported as detections from the cache."""
    problem: str = ""
    """Why the cache was ignored or discarded ('' when it worked)."""


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rule_sets (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, used_at INTEGER NOT NULL)",
    # keyed by directory then name: a scan reads a directory's files one after another, so one query
    # per directory answers them all
    # found: b'' for clean, else the caller's bytes for what was found
    "CREATE TABLE IF NOT EXISTS results (rule_set INTEGER NOT NULL, dir BLOB NOT NULL, name BLOB NOT NULL,"
    " dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " ctime_ns INTEGER NOT NULL, seen INTEGER NOT NULL, found BLOB NOT NULL,"
    " PRIMARY KEY (rule_set, dir, name)) WITHOUT ROWID",
)


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _split(path: str) -> tuple[bytes, bytes]:
    raw = path.encode(_FS_ENCODING, _FS_ERRORS)  # os.fsencode, without its per-call checks
    cut = raw.rfind(b"/") + 1
    return raw[:cut], raw[cut:]


class FileCache:
    """The file cache of one scan with one rule set; safe to use from the scan's threads."""

    def __init__(
        self,
        directory: Path,
        rules_key: str,
        *,
        mode: CacheMode = CacheMode.USE,
        now: Callable[[], int] = time.time_ns,
        max_entries: int = MAX_ENTRIES,
        keep_rule_sets: int = KEEP_RULE_SETS,
        settle_ns: int = SETTLE_NS,
    ) -> None:
        self.directory = directory
        """Where the database lives."""
        self.mode = mode
        """How this scan uses it."""
        self.hits = 0
        """Files not read thanks to the cache."""
        self.detections = 0
        """Of the hits, files whose cached result is a detection."""
        self.recorded = 0
        """Results written."""
        self.problem = ""
        """Why the cache is not working ('' when it is)."""
        self._now = now
        self._max_entries = max_entries
        self._keep = keep_rule_sets
        self._settled_before = now() - settle_ns
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bytes, bytes, int, int, int, int, int, int, bytes]] = []
        # the results of the directory last looked up: (its path, name -> (stat facts, what was found))
        self._dir_rows: tuple[bytes | None, dict[bytes, tuple[tuple[int, ...], bytes]]] = (None, {})
        self._conn: sqlite3.Connection | None = None
        self._set_id = 0
        self._broken = False
        if mode is CacheMode.OFF:
            return
        try:
            self._open(rules_key)
        except sqlite3.OperationalError as exc:  # busy, read-only, cannot open: leave the file alone
            self._disable(f"cannot use the file cache: {exc}")
        except sqlite3.DatabaseError as exc:
            # a damaged or foreign file: start afresh once
            self._close_conn()
            self._discard()
            try:
                self._open(rules_key)
            except (sqlite3.Error, OSError) as again:
                self._disable(f"cannot use the file cache: {again}")
            else:
                self.problem = f"discarded a damaged file cache ({exc})"
                logger.info("%s: %s", self.problem, self.path)
        except (sqlite3.Error, OSError) as exc:
            self._disable(f"cannot use the file cache: {exc}")

    @property
    def path(self) -> Path:
        """The database file."""
        return self.directory / DB_NAME

    def _open(self, rules_key: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # created 0600 before SQLite opens it: what it holds says which files need no scan
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            logger.info(
                "file cache %s has schema version %s, not %d: starting afresh", self.path, version, SCHEMA_VERSION
            )
            with self._transaction(conn):
                conn.execute("DROP TABLE IF EXISTS results")
                conn.execute("DROP TABLE IF EXISTS rule_sets")
                conn.execute("PRAGMA user_version=0")
            version = 0
        if version == 0:
            with self._transaction(conn):
                for stmt in _SCHEMA:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        with self._transaction(conn):
            conn.execute("INSERT OR IGNORE INTO rule_sets (key, used_at) VALUES (?, ?)", (rules_key, self._now()))
            conn.execute("UPDATE rule_sets SET used_at = ? WHERE key = ?", (self._now(), rules_key))
            self._set_id = conn.execute("SELECT id FROM rule_sets WHERE key = ?", (rules_key,)).fetchone()[0]
        logger.debug("file cache %s opened for rule set %s", self.path, rules_key)

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _disable(self, problem: str) -> None:
        logger.info("%s (%s); the scan reads every file", problem, self.path)
        self._close_conn()
        self._conn = None
        self.problem = problem

    def _fail(self, exc: sqlite3.Error) -> None:
        """A query failed: corruption discards the database at close; anything else just stops using it."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            self._broken = True
        self._disable(f"stopped using the file cache: {exc}")

    def lookup(self, path: str, key: FileIdentity) -> bytes | None:
        """What this rule set found in ``path`` while it had exactly ``key``: b'' for clean, else the bytes
        ``record`` was given; None when no such result is cached."""
        if self.mode is not CacheMode.USE:
            return None
        d, name = _split(path)
        rows = self._dir_rows
        if rows[0] != d:
            with self._lock:
                conn = self._conn
                if conn is None:
                    return None
                try:
                    found = conn.execute(
                        "SELECT name, dev, ino, size, mtime_ns, ctime_ns, found FROM results "
                        "WHERE rule_set = ? AND dir = ?",
                        (self._set_id, d),
                    ).fetchall()
                except sqlite3.Error as exc:
                    self._fail(exc)
                    return None
                # one attribute, swapped whole: a lookup from another thread sees one directory's rows
                self._dir_rows = rows = (d, {r[0]: (r[1:6], r[6]) for r in found})
        row = rows[1].get(name)
        if row is None or row[0] != key:
            return None
        self.hits += 1
        if row[1]:
            self.detections += 1
        return row[1]

    def record(self, path: str, key: FileIdentity, found: bytes = b"") -> None:
        """Remember that ``path``, as ``key`` describes it, was read in full, and what was found in it:
        b'' for nothing, else non-empty bytes that ``lookup`` gives back."""
        if self._conn is None or self.mode is CacheMode.OFF:
            return
        if key.mtime_ns >= self._settled_before or key.ctime_ns >= self._settled_before:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("not cached: %s was modified just before the scan", path)
            return
        d, name = _split(path)
        row = (self._set_id, d, name, key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, self._now(), found)
        with self._lock:
            self._pending.append(row)
            if len(self._pending) >= _BATCH:
                self._flush()

    def _flush(self) -> None:
        rows, self._pending = self._pending, []
        conn = self._conn
        if not rows or conn is None:
            return
        try:
            with self._transaction(conn):
                conn.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:
            # busy for too long, or read-only: these results are simply not cached
            logger.info("%d file cache result(s) not recorded: %s", len(rows), exc)
            return
        except sqlite3.Error as exc:
            self._fail(exc)
            return
        self.recorded += len(rows)

    def close(self) -> CacheStats:
        """Write what is pending, keep the database within bounds, and say what the cache did."""
        with self._lock:
            self._flush()
            conn = self._conn
            if conn is not None:
                try:
                    self._prune(conn)
                except sqlite3.OperationalError as exc:  # another scan holds it: prune next time
                    logger.debug("file cache not pruned this time: %s", exc)
                except sqlite3.Error as exc:
                    self._fail(exc)
            self._close_conn()
            if self._broken:
                self._discard()
        return CacheStats(self.mode, self.hits, self.recorded, self.detections, self.problem)

    def _prune(self, conn: sqlite3.Connection) -> None:
        old = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM rule_sets ORDER BY used_at DESC, id DESC LIMIT -1 OFFSET ?", (self._keep,)
            )
        ]
        if old:
            logger.info("file cache: dropping the results of %d older rule set(s)", len(old))
            with self._transaction(conn):
                for set_id in old:
                    conn.execute("DELETE FROM results WHERE rule_set = ?", (set_id,))
                    conn.execute("DELETE FROM rule_sets WHERE id = ?", (set_id,))
        if self.recorded:
            total = conn.execute("SELECT count(*) FROM results").fetchone()[0]
            if total > self._max_entries:
                logger.info(
                    "file cache: %d results, over %d: dropping the least recently seen", total, self._max_entries
                )
                with self._transaction(conn):
                    conn.execute(
                        "DELETE FROM results WHERE (rule_set, dir, name) IN "
                        "(SELECT rule_set, dir, name FROM results ORDER BY seen LIMIT ?)",
                        (total - self._max_entries,),
                    )

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _discard(self) -> None:
        logger.info("discarding the file cache %s", self.path)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def __enter__(self) -> FileCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
