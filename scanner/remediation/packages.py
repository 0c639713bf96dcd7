"""Which installed OS package owns a file (dpkg or rpm database), so it is not moved without --force.

Moving a file that a package installed breaks the system in ways a user did not ask for; the
report instead says which package to reinstall. dpkg's file lists are read directly (they are
plain text under ``<sysroot>/var/lib/dpkg/info``); rpm's database is asked through ``rpm -qf``
(run by ``scanner.programs``) on the host only, because its format is not plain text.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from scanner.errors import ScannerError
from scanner.scanning.locations import reroot


class PackageIndex:
    """Answers ``owner(path)`` for paths as they are on the scanned machine; loaded on first use."""

    def __init__(self, sysroot: Path = Path("/"), rpm_query: Callable[[str], str | None] | None = None) -> None:
        self.sysroot = sysroot
        self._dpkg: dict[str, str] | None = None
        on_host = os.path.realpath(sysroot) == "/"
        # whether rpm is there is decided once per index, not once per file (a watch asks for thousands)
        self._rpm = rpm_query if rpm_query is not None else (_rpm_owner if on_host and _rpm_available() else None)

    def _load_dpkg(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        info = Path(reroot(self.sysroot, "/var/lib/dpkg/info"))
        try:
            lists = sorted(info.glob("*.list"))
        except OSError:
            return owners
        for lst in lists:
            pkg = lst.name[: -len(".list")].split(":")[0]
            try:
                for line in lst.read_bytes().splitlines():
                    if line:
                        owners.setdefault(os.fsdecode(line), pkg)
            except OSError:
                continue
        return owners

    def owner(self, machine_path: str) -> str | None:
        """The package that installed ``machine_path`` (as on the scanned machine), if any."""
        if self._dpkg is None:
            self._dpkg = self._load_dpkg()
        candidates = {machine_path, os.path.normpath(machine_path)}
        # merged /usr: dpkg may list /bin/x for /usr/bin/x and the other way round
        for p in list(candidates):
            if p.startswith("/usr/"):
                candidates.add(p[4:])
            else:
                candidates.add("/usr" + p)
        for p in candidates:
            if p in self._dpkg:
                return self._dpkg[p]
        if self._rpm is not None:
            return self._rpm(machine_path)
        return None


def _rpm_available() -> bool:
    """Whether this host has an rpm database to ask."""
    return shutil.which("rpm") is not None and Path("/var/lib/rpm").exists()


def _rpm_owner(path: str) -> str | None:
    from scanner import programs  # the module that runs external programs

    try:
        proc = programs.run(["rpm", "-qf", "--queryformat", "%{NAME}", path], check=False, timeout=30)
    except ScannerError:
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out and " " not in out else None
