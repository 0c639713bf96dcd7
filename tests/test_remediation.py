"""Removal end to end through the CLI: quarantine, remove, dry run, persistence clean-up, history, undo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BACKDOOR_LINE, EICAR, EICAR_RULE, MINER, MINER_RULES

RULES = MINER_RULES + EICAR_RULE


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.yar"
    p.write_text(RULES)
    return p


def run_json(cli, *args):  # type: ignore[no-untyped-def]
    res = cli(*args, "--format", "json")
    assert res.stdout.strip(), res.stderr
    return res, json.loads(res.stdout)


def tree(root: Path) -> dict[str, bytes]:
    """Every file (and symlink target) under root, for before/after comparisons."""
    out: dict[str, bytes] = {}
    for dirpath, dirs, files in os.walk(root):
        for n in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            out[rel] = ("-> " + os.readlink(p)).encode() if os.path.islink(p) else Path(p).read_bytes()
    return out


def test_quarantine_restore_round_trip(cli, tmp_path, rules):
    d = tmp_path / "data"
    d.mkdir()
    f = d / "eicar.com"
    f.write_bytes(EICAR)
    f.chmod(0o640)
    os.utime(f, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    res, rep = run_json(
        cli, "scan", d, "--rules", rules, "--no-default-rules", "--action", "quarantine", "--action-min-severity", "low"
    )
    assert res.exit_code == 1, res.stderr
    assert not f.exists()
    assert rep["detections"][0]["action"].startswith("quarantined as ")
    _, items = run_json(cli, "quarantine", "list")
    (item,) = items
    for key in ("id", "original_path", "sha256", "family", "rule", "quarantined_at"):
        assert item[key]
    assert item["original_path"] == str(f) and item["family"] == "EICAR-Test-File"
    assert cli("quarantine", "show", item["id"]).stdout.count("sha256") == 1
    assert cli("quarantine", "restore", item["id"]).exit_code == 0
    assert f.read_bytes() == EICAR
    st = f.stat()
    assert st.st_mode & 0o777 == 0o640 and st.st_mtime_ns == 1_600_000_000_000_000_000
    assert run_json(cli, "quarantine", "list")[1] == []


def test_a_detection_from_the_file_cache_is_quarantined_and_restored_like_a_fresh_one(cli, tmp_path, rules):
    d = tmp_path / "data"
    d.mkdir()
    f = d / "eicar.com"
    f.write_bytes(EICAR)
    time.sleep(2.2)  # a file changed within 2 s of the scan is never recorded (same-tick writes)
    _, first = run_json(cli, "scan", d, "--rules", rules, "--no-default-rules")
    assert first["file_cache"]["recorded"] == 1
    res, rep = run_json(
        cli, "scan", d, "--rules", rules, "--no-default-rules", "--action", "quarantine", "--action-min-severity", "low"
    )
    assert rep["file_cache"]["detections"] == 1  # not read again, yet its identity and digest are checked
    assert res.exit_code == 1 and rep["detections"][0]["action"].startswith("quarantined as ") and not f.exists()
    (item,) = run_json(cli, "quarantine", "list")[1]
    assert item["sha256"] == first["detections"][0]["sha256"]
    assert cli("quarantine", "restore", item["id"]).exit_code == 0
    _, again = run_json(cli, "scan", d, "--rules", rules, "--no-default-rules")
    assert again["file_cache"]["hits"] == 0 and len(again["detections"]) == 1  # a new file: read, and found


def test_restore_refuses_to_overwrite_and_restores_elsewhere(cli, tmp_path, rules):
    d = tmp_path / "data"
    d.mkdir()
    (d / "e.com").write_bytes(EICAR)
    cli("scan", d, "--rules", rules, "--no-default-rules", "--action", "quarantine", "--action-min-severity", "low")
    (item,) = run_json(cli, "quarantine", "list")[1]
    (d / "e.com").write_text("a new file the user made")
    res = cli("quarantine", "restore", item["id"])
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert (d / "e.com").read_text() == "a new file the user made"
    res = cli("quarantine", "restore", item["id"], "--to", tmp_path / "elsewhere" / "e.com")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "elsewhere" / "e.com").read_bytes() == EICAR


def test_vault_content_is_neutralised(cli, tmp_path, rules, scanner_home):
    d = tmp_path / "data"
    d.mkdir()
    (d / "e.com").write_bytes(EICAR)
    cli("scan", d, "--rules", rules, "--no-default-rules", "--action", "quarantine", "--action-min-severity", "low")
    vault = scanner_home / "quarantine"
    assert vault.stat().st_mode & 0o777 == 0o700
    res = cli("scan", vault, "--rules", rules, "--no-default-rules")
    assert res.exit_code == 0, res.stdout  # nothing in the vault is re-detected
    for p in vault.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o077 == 0, p


def test_dry_run_changes_nothing(cli, tmp_path, rules, scanner_home):
    d = tmp_path / "data"
    d.mkdir()
    (d / "e.com").write_bytes(EICAR)
    before = tree(d)
    res, rep = run_json(
        cli,
        "scan",
        d,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--dry-run",
    )
    assert res.exit_code == 1
    assert tree(d) == before
    assert rep["remediation"]["dry_run"] is True
    assert rep["remediation"]["plan"][0]["description"].startswith("quarantine ")
    assert rep["detections"][0]["action"] == "would quarantine"
    text = cli(
        "scan",
        d,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--dry-run",
    ).stdout
    assert "would quarantine" in text
    assert not any((scanner_home / "quarantine").rglob("*.json"))


def test_remove_deletes_and_undo_says_it_cannot_restore(cli, tmp_path, rules):
    d = tmp_path / "data"
    d.mkdir()
    (d / "e.com").write_bytes(EICAR)
    res, rep = run_json(
        cli, "scan", d, "--rules", rules, "--no-default-rules", "--action", "remove", "--action-min-severity", "low"
    )
    assert res.exit_code == 1
    assert not (d / "e.com").exists()
    res = cli("undo", rep["scan_id"])
    assert "cannot be restored" in res.stdout


def test_package_owned_file_is_not_moved_without_force(cli, tmp_path, rules):
    root = tmp_path / "sysroot"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "info").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "info" / "coreutils.list").write_text("/usr/bin\n/usr/bin/sleep\n")
    target = root / "usr" / "bin" / "sleep"
    target.write_bytes(MINER)
    res, rep = run_json(
        cli,
        "scan",
        "--full",
        "--sysroot",
        root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--no-processes",
    )
    assert res.exit_code == 3
    assert target.exists()
    assert "reinstall" in rep["detections"][0]["action"] and "coreutils" in rep["detections"][0]["action"]
    res, _ = run_json(
        cli,
        "scan",
        "--full",
        "--sysroot",
        root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--no-processes",
        "--force",
    )
    assert res.exit_code == 1
    assert not target.exists()


@pytest.fixture
def infected_root(tmp_path: Path) -> Path:
    """A fake machine: a miner in a home, started by cron, systemd, autostart and a line in .bashrc."""
    root = tmp_path / "sysroot"
    etc = root / "etc"
    home = root / "home" / "alice"
    for d in (
        etc / "systemd" / "system" / "multi-user.target.wants",
        etc / "cron.d",
        root / "var" / "spool" / "cron" / "crontabs",
        home / ".local" / "bin",
        home / ".config" / "autostart",
    ):
        d.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
    miner = home / ".local" / "bin" / "kworkerd"
    miner.write_bytes(MINER)
    miner.chmod(0o755)
    unit = etc / "systemd" / "system" / "kworkerd.service"
    unit.write_text(
        "[Unit]\nDescription=kernel worker\n\n[Service]\nExecStart=/home/alice/.local/bin/kworkerd\n"
        "Restart=always\n\n[Install]\nWantedBy=multi-user.target\n"
    )
    (etc / "systemd" / "system" / "multi-user.target.wants" / "kworkerd.service").symlink_to(
        "/etc/systemd/system/kworkerd.service"
    )
    (root / "var" / "spool" / "cron" / "crontabs" / "alice").write_text(
        "# m h dom mon dow command\n0 3 * * * /usr/bin/backup.sh\n*/5 * * * * /home/alice/.local/bin/kworkerd\n"
    )
    (home / ".config" / "autostart" / "kworkerd.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=kworkerd\nExec=/home/alice/.local/bin/kworkerd\n"
    )
    (home / ".bashrc").write_text(f"# ~/.bashrc\nalias ll='ls -l'\nexport PATH=$HOME/bin:$PATH\n{BACKDOOR_LINE}\n")
    return root


def test_persistence_is_cleaned_and_undo_restores_everything(cli, infected_root, rules, scanner_home):
    before = tree(infected_root)
    res, rep = run_json(
        cli,
        "scan",
        "--quick",
        "--sysroot",
        infected_root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
    )
    assert res.exit_code == 1, (res.stderr, rep.get("remediation"))
    after = tree(infected_root)
    home = "home/alice"
    assert f"{home}/.local/bin/kworkerd" not in after
    assert "etc/systemd/system/kworkerd.service" not in after
    assert "etc/systemd/system/multi-user.target.wants/kworkerd.service" not in after
    assert f"{home}/.config/autostart/kworkerd.desktop" not in after
    assert after["var/spool/cron/crontabs/alice"] == b"# m h dom mon dow command\n0 3 * * * /usr/bin/backup.sh\n"
    assert after[f"{home}/.bashrc"] == b"# ~/.bashrc\nalias ll='ls -l'\nexport PATH=$HOME/bin:$PATH\n"
    steps = [o["step"] for o in rep["remediation"]["outcomes"]]
    assert steps.index("clean persistence") < steps.index("quarantine")
    assert all(o["ok"] for o in rep["remediation"]["outcomes"]), rep["remediation"]["outcomes"]

    (hist,) = run_json(cli, "history")[1]
    assert hist["scan_id"] == rep["scan_id"] and hist["action"] == "quarantine"
    res = cli("undo", rep["scan_id"])
    assert res.exit_code == 0, res.stderr
    assert tree(infected_root) == before
    res = cli("undo", rep["scan_id"])
    assert res.exit_code == 0 and "already undone" in res.stdout
    assert tree(infected_root) == before


def test_dry_run_lists_persistence_plan(cli, infected_root, rules):
    before = tree(infected_root)
    res = cli(
        "scan",
        "--quick",
        "--sysroot",
        infected_root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--dry-run",
        "--format",
        "json",
    )
    rep = json.loads(res.stdout)
    plan = "\n".join(p["description"] for p in rep["remediation"]["plan"])
    assert "remove line" in plan and "kworkerd.service" in plan and "quarantine" in plan
    assert tree(infected_root) == before


def test_undo_of_unknown_scan_is_a_clear_error(cli):
    res = cli("undo", "20260101T000000Z-abcdef")
    assert res.exit_code == 2 and "no scan with id" in res.stderr


# --- processes ---------------------------------------------------------------------------------------


@pytest.fixture
def evil_process(tmp_path: Path):
    exe = tmp_path / "drop" / "kworkerd"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    with exe.open("ab") as f:
        f.write(MINER)
    proc = subprocess.Popen([os.fspath(exe), "120"])
    time.sleep(0.2)
    yield proc, exe
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_process_is_killed_and_its_image_quarantined(cli, rules, evil_process):
    proc, exe = evil_process
    res, rep = run_json(
        cli,
        "scan",
        "--pid",
        str(proc.pid),
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
    )
    assert res.exit_code == 1, (res.stderr, rep.get("remediation"))
    assert proc.wait(timeout=10) is not None
    assert not exe.exists()
    (item,) = run_json(cli, "quarantine", "list")[1]
    assert item["original_path"] == str(exe)
    res = cli("undo", rep["scan_id"])
    assert exe.exists() and "not restarted" in res.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_interpreter_killed_script_quarantined_interpreter_untouched(cli, tmp_path, rules):
    script = tmp_path / "job" / "evil.py"
    script.parent.mkdir()
    marker = "TESTMINER-STRATUM-" + "c0ffee"
    script.write_text(f"import time\nwallet = {marker!r} * 2\nprint('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, os.fspath(script)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    try:
        res, rep = run_json(
            cli,
            "scan",
            script.parent,
            "--pid",
            str(proc.pid),
            "--rules",
            rules,
            "--no-default-rules",
            "--action",
            "quarantine",
            "--action-min-severity",
            "low",
        )
        assert res.exit_code == 1, (res.stderr, rep.get("remediation"))
        kinds = sorted((d["kind"], (d.get("process") or {}).get("where")) for d in rep["detections"])
        assert kinds == [("file", None), ("process", "memory")]
        assert proc.wait(timeout=10) is not None
        assert not script.exists()
        assert Path(sys.executable).exists()
        assert [i["original_path"] for i in run_json(cli, "quarantine", "list")[1]] == [str(script)]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    "step",
    [
        "restore:journaled",
        "restore:temp-written",
        "restore:placed",
        "restore:synced",
        "restore:record-removed",
        "restore:content-removed",
    ],
)
def test_undo_killed_midway_then_run_again_loses_nothing(cli, infected_root, rules, scanner_home, step):
    from conftest import run_module

    before = tree(infected_root)
    _, rep = run_json(
        cli,
        "scan",
        "--quick",
        "--sysroot",
        infected_root,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
    )
    env = {**os.environ, "SCANNER_HOME": str(scanner_home), "SCANNER_FAULT_STEP": step}
    res = run_module("undo", rep["scan_id"], env=env)
    assert res.exit_code == -9, res.stderr  # killed by the injected fault
    res = cli("undo", rep["scan_id"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert tree(infected_root) == before
