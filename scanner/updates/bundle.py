"""A signature bundle (a gzipped tar): written reproducibly (``build_bundle``), and safely extracted into an
empty directory.

A bundle is signed, but it is still treated as hostile input: only regular files and
directories are written, at names that stay inside the destination, within limits on
entry count, per-file size and total size. Nothing from the archive decides modes,
owners or times. This module is pure: no network, no TUF.
"""

from __future__ import annotations

import gzip
import logging
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from scanner.errors import FeedError

logger = logging.getLogger(__name__)

_MAX_NAME = 1024
_MAX_PART = 255


class BundleError(FeedError):
    """The bundle is malformed, unsafe or too large; the message names the entry."""


@dataclass(frozen=True)
class Limits:
    """How much a bundle may unpack to."""

    max_entries: int = 20_000
    """Files plus directories."""
    max_file_bytes: int = 64 * 1024 * 1024
    """Largest single file."""
    max_total_bytes: int = 512 * 1024 * 1024
    """All files together."""


@dataclass(frozen=True)
class Extracted:
    """What an extraction wrote."""

    files: int
    """Regular files written."""
    directories: int
    """Directories created."""
    total_bytes: int
    """Bytes written."""


def member_path(name: str) -> PurePosixPath:
    """The relative path an archive name stands for; BundleError if it is unsafe.

    A leading ``./`` is allowed (tar writes it); absolute names, ``..``, empty or
    over-long names, backslashes and control characters are not.
    """
    if not name or len(name) > _MAX_NAME:
        raise BundleError(f"bundle entry has an empty or over-long name ({len(name)} characters)")
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        raise BundleError(f"bundle entry {name!r} has a control character or backslash in its name")
    if name.startswith("/"):
        raise BundleError(f"bundle entry {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts:
        raise BundleError(f"bundle entry {name!r} names the bundle root")
    for part in parts:
        if part == "..":
            raise BundleError(f"bundle entry {name!r} climbs out of the bundle with '..'")
        if len(part) > _MAX_PART:
            raise BundleError(f"bundle entry {name!r} has a name part longer than {_MAX_PART}")
    return PurePosixPath(*parts)


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    if member.issparse():
        return "a sparse file"
    return f"of unsupported type {member.type!r}"


def extract(archive: Path, dest: Path, limits: Limits | None = None) -> Extracted:
    """Unpack the gzipped tar ``archive`` into the empty directory ``dest``.

    Raises BundleError naming the first offending entry; ``dest`` may then hold a
    partial tree, which the caller discards.
    """
    limits = limits or Limits()
    if any(dest.iterdir()):
        raise BundleError(f"extraction directory {dest} is not empty")
    logger.debug("unpacking %s into %s", archive, dest)
    seen: set[PurePosixPath] = set()
    files = dirs = total = 0
    try:
        # Stream mode reads the archive once, front to back, and never seeks.
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                rel = member_path(member.name)
                if rel in seen:
                    raise BundleError(f"bundle entry {member.name!r} appears twice")
                seen.add(rel)
                if len(seen) > limits.max_entries:
                    raise BundleError(f"bundle has more than {limits.max_entries} entries")
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    _make_dirs(dest, rel)
                    dirs += 1
                    continue
                if not member.isreg() or member.issparse():
                    raise BundleError(
                        f"bundle entry {member.name!r} is {_kind(member)}; only files and folders are allowed"
                    )
                if member.size > limits.max_file_bytes:
                    raise BundleError(
                        f"bundle entry {member.name!r} is {member.size} bytes, over the "
                        f"{limits.max_file_bytes}-byte limit"
                    )
                total += member.size
                if total > limits.max_total_bytes:
                    raise BundleError(f"bundle unpacks to more than {limits.max_total_bytes} bytes")
                if len(rel.parts) > 1:
                    _make_dirs(dest, rel.parent)
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise BundleError(f"bundle entry {member.name!r} has no data")
                _write_file(target, source, member.size, member.name)
                files += 1
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BundleError(f"bundle is not a readable gzipped tar: {exc}") from exc
    except OSError as exc:
        raise BundleError(f"bundle could not be unpacked into {dest}: {exc.strerror or exc}") from exc
    if files == 0:
        raise BundleError("bundle holds no files")
    return Extracted(files=files, directories=dirs, total_bytes=total)


def _make_dirs(dest: Path, rel: PurePosixPath) -> None:
    current = dest
    for part in rel.parts:
        current = current / part
        try:
            current.mkdir(0o755)
        except FileExistsError:
            if not stat.S_ISDIR(current.lstat().st_mode):
                raise BundleError(f"bundle entry {rel.as_posix()!r} needs a directory where a file is") from None


def _write_file(target: Path, src: IO[bytes], size: int, name: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise BundleError(f"bundle entry {name!r} collides with a directory of the same name") from None
    written = 0
    with os.fdopen(fd, "wb") as out:
        while written < size:
            chunk = src.read(min(1 << 20, size - written))
            if not chunk:
                raise BundleError(f"bundle entry {name!r} is truncated")
            out.write(chunk)
            written += len(chunk)


def build_bundle(set_dir: Path, out: Path, mtime: int = 0) -> None:
    """Write ``set_dir`` as a gzipped tar with fixed order, owners, modes and times (reproducible)."""
    files = sorted(p for p in set_dir.rglob("*") if p.is_file() and not p.is_symlink())
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in files:
            info = tarfile.TarInfo(path.relative_to(set_dir).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as f:
                tar.addfile(info, f)
