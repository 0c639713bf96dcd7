"""Where quick and full scans look, re-rooted under ``--sysroot``.

A quick scan covers where malware drops and persists on Linux; a full scan covers every
local filesystem but pseudo and network filesystems. Both read only below the sysroot, so
a mounted disk of another machine can be scanned and tests never touch the real system.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

WEB_ROOTS: tuple[str, ...] = (
    "/var/www",
    "/srv/www",
    "/srv/http",
    "/usr/share/nginx/html",
    "/usr/local/www",
    "/usr/local/apache2/htdocs",
    "/opt/lampp/htdocs",
)
"""Usual web roots (Debian/RHEL, SUSE, Arch, nginx, BSD-style, Apache from source, XAMPP): where web shells
are dropped."""

QUICK_SYSTEM_PATHS: tuple[str, ...] = (
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/var/spool/cron",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/etc/xdg/autostart",
    "/etc/init.d",
    "/etc/ld.so.preload",
    "/etc/rc.local",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/zsh",
    "/root/.ssh/authorized_keys",
    *WEB_ROOTS,
)
"""System-wide quick-scan locations (absolute on the scanned machine), web roots included (where web
shells are dropped): those that exist are scanned."""

QUICK_HOME_PATHS: tuple[str, ...] = (
    "Downloads",
    ".cache",
    ".config/autostart",
    ".config/systemd/user",
    ".local/bin",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".ssh/authorized_keys",
)
"""Quick-scan locations relative to each home directory."""

PSEUDO_FS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "tracefs",
        "debugfs",
        "securityfs",
        "pstore",
        "bpf",
        "autofs",
        "mqueue",
        "hugetlbfs",
        "configfs",
        "fusectl",
        "binfmt_misc",
        "efivarfs",
        "rpc_pipefs",
        "nsfs",
        "selinuxfs",
    }
)
NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.glusterfs",
        "davfs",
        "fuse.davfs2",
        "lustre",
        "gpfs",
    }
)
FULL_SKIPPED_DIRS: tuple[str, ...] = ("/proc", "/sys", "/dev")
"""Always skipped by a full scan unless named on the command line."""
FULL_EXTRA_ROOTS: tuple[str, ...] = ("/dev/shm",)
"""Scanned by a full scan although below a skipped directory: /dev/shm is a world-writable tmpfs where
malware drops files (the quick scan covers it too). The rest of /dev holds device nodes, terminals
(devpts), message queues (mqueue) and huge pages, never files to scan."""


def reroot(sysroot: Path, path: str) -> str:
    """``path`` (absolute on the scanned machine) as seen from here."""
    return os.path.join(os.fspath(sysroot), path.lstrip("/")) if str(sysroot) != "/" else path


def home_dirs(sysroot: Path) -> list[str]:
    """Home directories on the scanned machine (as seen from here): from its passwd, plus /root and /home/*."""
    homes: list[str] = []
    passwd = Path(reroot(sysroot, "/etc/passwd"))
    try:
        lines = passwd.read_text(errors="replace").splitlines()
    except OSError as exc:
        logger.info("no passwd file at %s (%s): home directories from /root and /home only", passwd, exc.strerror)
        lines = []
    for line in lines:
        parts = line.split(":")
        if len(parts) >= 6 and parts[5].startswith("/") and parts[5] not in ("/", "/nonexistent"):
            homes.append(reroot(sysroot, parts[5]))
    homes.append(reroot(sysroot, "/root"))
    home_root = reroot(sysroot, "/home")
    with contextlib.suppress(OSError):
        homes.extend(e.path for e in os.scandir(home_root) if e.is_dir(follow_symlinks=False))
    return [h for h in dict.fromkeys(homes) if os.path.isdir(h)]


def quick_roots(sysroot: Path) -> list[str]:
    """Existing quick-scan locations under ``sysroot``."""
    candidates = [reroot(sysroot, p) for p in QUICK_SYSTEM_PATHS]
    for home in home_dirs(sysroot):
        candidates.extend(os.path.join(home, p) for p in QUICK_HOME_PATHS)
    # Under another machine's root, an absolute symlink would lead back into this machine: not followed.
    on_host = os.path.realpath(sysroot) == "/"
    roots = [p for p in candidates if os.path.lexists(p) and (on_host or not os.path.islink(p))]
    if not on_host:
        for p in candidates:
            if os.path.islink(p):
                logger.info("not scanning %s: a symlink under another machine's root", p)
    logger.info("quick scan: %d of %d locations exist under %s", len(roots), len(candidates), sysroot)
    return roots


def full_extra_roots(sysroot: Path) -> list[str]:
    """The FULL_EXTRA_ROOTS that are directories under ``sysroot`` (a symlink only on this machine's root,
    as for quick-scan locations)."""
    on_host = os.path.realpath(sysroot) == "/"
    found = [reroot(sysroot, p) for p in FULL_EXTRA_ROOTS]
    return [p for p in found if os.path.isdir(p) and (on_host or not os.path.islink(p))]


def _mounts() -> Iterator[tuple[str, str]]:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    yield parts[1].replace("\\040", " ").replace("\\011", "\t"), parts[2]
    except OSError as exc:
        logger.info("mounts not read (%s): pseudo and network filesystems not pruned by type", exc.strerror)
        return


def full_prune(sysroot: Path) -> frozenset[str]:
    """Paths a full scan of ``sysroot`` does not enter: /proc, /sys, /dev, pseudo and network mounts."""
    prune = {reroot(sysroot, d) for d in FULL_SKIPPED_DIRS}
    root = os.path.realpath(sysroot)
    for mountpoint, fstype in _mounts():
        if fstype in PSEUDO_FS or fstype in NETWORK_FS:
            if root == "/":
                prune.add(mountpoint)
            elif mountpoint.startswith(root.rstrip("/") + "/"):
                prune.add(os.path.join(os.fspath(sysroot), os.path.relpath(mountpoint, root)))
    logger.debug("a full scan does not enter: %s", ", ".join(sorted(prune)))
    return frozenset(prune)
