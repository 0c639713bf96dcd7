"""Where persistence lives under a sysroot: every location, per kind, read and parsed.

``Inventory`` reads the crontabs and cron directories, systemd units and drop-ins (system
and user), XDG autostart entries, shell startup files, ``/etc/ld.so.preload``,
``rc.local``, init scripts and their rc links, and each home's files. A location that
exists but cannot be read becomes a ``Skipped``; a missing one is simply absent.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import logging
import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner import safefs
from scanner.model import Skipped, SkipReason
from scanner.remediation.persistence.files import DIR_CAP, FileTooLarge, Root, sha256_hex
from scanner.remediation.persistence.parse import parse_entries
from scanner.remediation.persistence.types import LocationKind, PersistenceEntry, PersistenceLocation, Symlink

logger = logging.getLogger(__name__)

_UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".target",
)
"""Suffixes of unit files."""
_DEPENDENCY_DIRS = (".wants", ".requires", ".upholds")
_HOME_RC = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
)
_SYSTEM_RC = (
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
    "/etc/zshrc",
    "/etc/zprofile",
    "/etc/zshenv",
    "/etc/zlogin",
)


@dataclass(frozen=True)
class Home:
    """A user's home directory under the sysroot."""

    user: str
    """The user's name."""
    path: str
    """The home, canonical under the sysroot."""


@dataclass
class ParsedFile:
    """A persistence location as read: its content, hash and entries."""

    location: PersistenceLocation
    """Where it is and what sort of location it is."""
    data: bytes
    """The content as read."""
    sha256: str
    """Hex SHA-256 of ``data``."""
    entries: list[PersistenceEntry]
    """Its logical lines that could run or load something (``parse_entries``)."""


@dataclass(frozen=True)
class LocationLink:
    """A symbolic link that enables a unit or an init script, as the inventory found it."""

    link: Symlink
    """The link and its target."""
    canonical: str
    """Where it resolves to under the sysroot."""
    dependency: bool
    """It lives in a ``*.wants``/``*.requires`` directory."""
    user_manager: bool
    """It belongs to a user's systemd manager."""
    owner: str | None
    """The user whose directory it is in; None when system-wide."""


class Inventory:
    """Every persistence location under a sysroot, read and parsed."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.files: dict[str, ParsedFile] = {}
        self.skipped: list[Skipped] = []
        self.unit_links: list[LocationLink] = []
        self.rc_links: list[LocationLink] = []
        self.homes = self._homes()
        self._collect()

    # -- homes

    def _homes(self) -> list[Home]:
        candidates: list[tuple[str, str]] = []
        try:
            _, passwd = self.root.read("/etc/passwd")
        except OSError:
            passwd = b""
        for line in passwd.decode("utf-8", "surrogateescape").splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and fields[0] and fields[5].startswith("/"):
                candidates.append((fields[0], fields[5]))
        candidates.append(("root", "/root"))
        with contextlib.suppress(OSError):
            candidates.extend((name, f"/home/{name}") for name, kind in self.root.listdir("/home") if kind == "dir")
        homes: list[Home] = []
        seen: set[str] = set()
        for user, path in candidates:
            canonical = self.root.canonical(path)
            if canonical in seen or canonical == "/":
                continue
            try:
                self.root.listdir(canonical)
            except OSError:
                continue
            seen.add(canonical)
            homes.append(Home(user, canonical))
        return homes

    def home_of(self, user: str | None) -> str | None:
        """The home of ``user`` under the sysroot, if it has one."""
        for home in self.homes:
            if home.user == user:
                return home.path
        return None

    # -- reading

    def _skip(self, machine: str, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            return
        if isinstance(exc, safefs.NotRegular):
            if exc.filename == "/dev/null":  # a masked unit
                logger.debug("%s is masked (a link to /dev/null); nothing to read", machine)
                return
            reason = SkipReason.SPECIAL_FILE
        elif isinstance(exc, FileTooLarge):
            reason = SkipReason.TOO_LARGE
        elif isinstance(exc, PermissionError):
            reason = SkipReason.PERMISSION_DENIED
        elif exc.errno == errno.ELOOP:
            reason = SkipReason.SYMLINK_LOOP
        else:
            reason = SkipReason.READ_ERROR
        logger.debug("persistence location %s not read: %s", self.root.host_path(machine), exc.strerror or exc)
        self.skipped.append(Skipped(self.root.host_path(machine), reason, exc.strerror or str(exc)))

    def add(
        self,
        kind: LocationKind,
        machine: str,
        owner: str | None = None,
        *,
        unit: str | None = None,
        user_manager: bool = False,
    ) -> ParsedFile | None:
        """Read and parse the location ``machine`` of ``kind``; None (and a skip) when it cannot be read."""
        try:
            canonical, data = self.root.read(machine)
        except OSError as exc:
            self._skip(machine, exc)
            return None
        if canonical in self.files:
            return self.files[canonical]
        if kind is LocationKind.SYSTEMD_UNIT:
            unit = posixpath.basename(canonical)
        location = PersistenceLocation(kind, canonical, self.root.host, owner, unit, user_manager)
        parsed = ParsedFile(location, data, sha256_hex(data), parse_entries(location, data))
        self.files[canonical] = parsed
        return parsed

    def _list(self, machine: str) -> list[tuple[str, str]]:
        try:
            return self.root.listdir(machine)
        except OSError as exc:
            self._skip(machine, exc)
            return []

    def _add_dir(self, kind: LocationKind, directory: str, owner: str | None = None, suffix: str = "") -> None:
        for name, typ in self._list(directory):
            if typ != "dir" and name.endswith(suffix):
                self.add(kind, f"{directory}/{name}", owner)

    def _link(self, path: str, *, dependency: bool, user_manager: bool, owner: str | None) -> LocationLink | None:
        try:
            target = self.root.readlink(path)
        except OSError:
            return None
        return LocationLink(Symlink(path, target), self.root.canonical(path), dependency, user_manager, owner)

    def _add_units(self, directory: str, owner: str | None, user_manager: bool, depth: int = 0) -> None:
        for name, typ in self._list(directory):
            path = f"{directory}/{name}"
            if typ == "dir" and depth < 3:
                if name.endswith(".d"):
                    for conf, ctyp in self._list(path):
                        if ctyp in ("file", "link") and conf.endswith(".conf"):
                            self.add(
                                LocationKind.SYSTEMD_DROPIN,
                                f"{path}/{conf}",
                                owner,
                                unit=name[:-2],
                                user_manager=user_manager,
                            )
                elif name.endswith(_DEPENDENCY_DIRS):
                    for dep, dtyp in self._list(path):
                        if dtyp == "link":
                            link = self._link(f"{path}/{dep}", dependency=True, user_manager=user_manager, owner=owner)
                            if link:
                                self.unit_links.append(link)
                        elif dtyp == "file" and dep.endswith(_UNIT_SUFFIXES):
                            self.add(LocationKind.SYSTEMD_UNIT, f"{path}/{dep}", owner, user_manager=user_manager)
                else:
                    self._add_units(path, owner, user_manager, depth + 1)
            elif typ in ("file", "link") and name.endswith(_UNIT_SUFFIXES):
                if typ == "link":
                    link = self._link(path, dependency=False, user_manager=user_manager, owner=owner)
                    if link:
                        self.unit_links.append(link)
                self.add(LocationKind.SYSTEMD_UNIT, path, owner, user_manager=user_manager)

    def _collect(self) -> None:
        """Read every location, in a fixed order: a file reached twice keeps its first kind."""
        self._collect_system()
        self._collect_rc_links()
        for home in self.homes:
            self._collect_home(home)

    def _collect_system(self) -> None:
        K = LocationKind
        for path in ("/etc/crontab", "/etc/anacrontab"):
            self.add(K.SYSTEM_CRONTAB, path)
        self._add_dir(K.CRON_D, "/etc/cron.d")
        for period in ("hourly", "daily", "weekly", "monthly"):
            self._add_dir(K.CRON_SCRIPT, f"/etc/cron.{period}")
        for spool in ("/var/spool/cron/crontabs", "/var/spool/cron", "/var/spool/cron/tabs"):
            for name, typ in self._list(spool):
                if typ != "dir":
                    self.add(K.USER_CRONTAB, f"{spool}/{name}", name)
        for directory in (
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/local/lib/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ):
            self._add_units(directory, None, False)
        for directory in ("/etc/systemd/user", "/usr/lib/systemd/user"):
            self._add_units(directory, None, True)
        self._add_dir(K.AUTOSTART, "/etc/xdg/autostart", suffix=".desktop")
        for path in _SYSTEM_RC:
            self.add(K.SHELL_RC, path)
        self._add_dir(K.SHELL_RC, "/etc/profile.d")
        self._add_dir(K.SHELL_RC, "/etc/zsh")
        self.add(K.LD_PRELOAD, "/etc/ld.so.preload")
        for path in ("/etc/rc.local", "/etc/rc.d/rc.local"):
            self.add(K.RC_LOCAL, path)
        for directory in ("/etc/init.d", "/etc/rc.d/init.d"):
            self._add_dir(K.INIT_SCRIPT, directory)

    def _collect_rc_links(self) -> None:
        for level in "0123456S":
            for directory in (f"/etc/rc{level}.d", f"/etc/rc.d/rc{level}.d"):
                for name, typ in self._list(directory):
                    if typ != "link":
                        continue
                    link = self._link(f"{directory}/{name}", dependency=True, user_manager=False, owner=None)
                    if link:
                        self.rc_links.append(link)

    def _collect_home(self, home: Home) -> None:
        K = LocationKind
        for directory in (f"{home.path}/.config/systemd/user", f"{home.path}/.local/share/systemd/user"):
            self._add_units(directory, home.user, True)
        self._add_dir(K.AUTOSTART, f"{home.path}/.config/autostart", home.user, ".desktop")
        for name in _HOME_RC:
            self.add(K.SHELL_RC, f"{home.path}/{name}", home.user)
        for name in ("authorized_keys", "authorized_keys2"):
            self.add(K.AUTHORIZED_KEYS, f"{home.path}/.ssh/{name}", home.user)


def list_locations(sysroot: str | os.PathLike[str]) -> tuple[list[PersistenceLocation], list[Skipped]]:
    """Every persistence location that exists under ``sysroot``, and those that could not be read."""
    inventory = Inventory(Root(sysroot))
    return [p.location for p in inventory.files.values()], list(inventory.skipped)


def classify_paths(sysroot: str | os.PathLike[str], paths: Iterable[str]) -> dict[str, PersistenceLocation]:
    """Which of ``paths`` (as the scanner saw them) are persistence locations.

    Remediation asks this before quarantining a detected file: a detected crontab or
    ``.bashrc`` must lose lines (``find_persistence`` case b), not disappear whole.
    """
    root = Root(sysroot)
    inventory = Inventory(root)
    out: dict[str, PersistenceLocation] = {}
    for path in paths:
        parsed = inventory.files.get(root.canonical(root.to_machine(path)))
        if parsed is not None:
            out[path] = parsed.location
    return out


def glob_family_paths(root: Root, pattern: str, homes: Sequence[Home]) -> list[str]:
    """Expand a family path pattern under the sysroot; ``~/`` means every home."""
    if pattern.startswith("~/"):
        bases = [h.path + pattern[1:] for h in homes]
    elif pattern.startswith("/"):
        bases = [pattern]
    else:
        return []
    out: list[str] = []
    for base in bases:
        current = ["/"]
        for comp in (c for c in base.split("/") if c):
            if not any(ch in comp for ch in "*?["):
                current = [posixpath.join(d, comp) for d in current]
                continue
            expanded: list[str] = []
            for directory in current:
                with contextlib.suppress(OSError):
                    expanded.extend(
                        posixpath.join(directory, name)
                        for name, _ in root.listdir(directory)
                        if fnmatch.fnmatchcase(name, comp) and (comp.startswith(".") or not name.startswith("."))
                    )
            current = expanded[:DIR_CAP]
        out.extend(current)
    return out
