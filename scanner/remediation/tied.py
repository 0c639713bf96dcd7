"""The processes to kill because they run or read a file that remediation moves (decision 0014).

``remediate.plan`` asks ``processes_tied_to`` for the files it will quarantine or delete, whether
or not the scan looked at processes: a script's interpreter (``bash d2.sh``), a binary run from
the file, a shell reading it on its standard input. Only on this machine's root: a scan of
another root (``--sysroot``) has no processes of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from scanner.model import FileIdentity, ProcessInfo, display_path
from scanner.scanning import processes

logger = logging.getLogger(__name__)


def processes_tied_to(files: Mapping[str, FileIdentity | None], sysroot: Path, passed: set[int]) -> list[processes.Tie]:
    """The processes tied to ``files`` (path -> identity as scanned, None: stat it now), one per pid, except
    the pids in ``passed`` (already planned); each pid found is added to ``passed``."""
    keys: dict[processes.FileKey, str] = {}
    for path, stamp in files.items():
        key = (stamp.dev, stamp.ino) if stamp is not None else _file_key(path)
        if key is not None:
            keys[key] = path
    if not keys:
        return []
    if os.path.realpath(sysroot) != "/":
        logger.info("processes not looked at for the detected files: they are under another root (%s)", sysroot)
        return []
    logger.info(
        "looking for processes that run or read the %d file(s) to act on (done with or without --processes)",
        len(keys),
    )
    found: list[processes.Tie] = []
    for tie in processes.tied_to(keys):
        if tie.info.pid not in passed:
            passed.add(tie.info.pid)
            found.append(tie)
    return found


def started_by_readers(readers: Iterable[tuple[ProcessInfo, str]], passed: set[int]) -> list[processes.Tie]:
    """The processes started by detected interpreters that read a deleted file (``where`` ``open file``: a
    script that deleted itself; ``readers`` gives each with that file's name), except the pids in
    ``passed``; each pid found is added to ``passed``. A process detected only by its memory is not one of
    them: a long-lived interpreter (a web application) whose memory matched may have started anything."""
    found: list[processes.Tie] = []
    for info, path in readers:
        for tie in processes.started_by(info, path, f"reads {path}"):
            if tie.info.pid not in passed:
                passed.add(tie.info.pid)
                found.append(tie)
    return found


def _file_key(path: str) -> processes.FileKey | None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        logger.debug("%s: not identified for the process search (%s)", display_path(path), exc.strerror)
        return None
    return (st.st_dev, st.st_ino)
