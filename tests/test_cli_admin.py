"""The update, feed, signatures, monthly and schedule commands through the real CLI.

The libraries behind them have their own tests; these prove the commands a user types work end to
end: a feed made with `scanner feed`, served on 127.0.0.1, updated from, rolled back, and the whole
monthly job against it on a fake sysroot.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REAL_PREPARE_START, run_module
from feed_helpers import MARKER_A, serve, write_set

from scanner.engine import prepare
from scanner.state import StateDir


@pytest.fixture
def served_feed(tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    """A feed created and published with the CLI, served over HTTP on 127.0.0.1."""
    feed_dir = tmp_path / "feed"
    res = cli("feed", "init", feed_dir)
    assert res.exit_code == 0, res.stderr
    src = write_set(tmp_path / "src")
    res = cli("feed", "publish", feed_dir, "--signatures", src, "--version", "2990.01.1")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "signatures 2990.01.1" in res.stdout
    with serve(feed_dir / "public") as server:
        yield server.url, feed_dir / "root.json"


def test_update_without_a_feed_says_how_to_configure_one(cli):
    res = cli("update")
    assert res.exit_code == 2
    assert "no update feed configured" in res.stderr and "--trusted-root" in res.stderr


def test_update_check_rollback_and_hold(cli, served_feed):
    url, root = served_feed
    res = cli("update", "--feed", url, "--trusted-root", root, "--check")
    assert res.exit_code == 0 and "newer signature set is available: 2990.01.1" in res.stdout
    assert json.loads(cli("signatures", "info", "--format", "json").stdout)["source"] == "bundled"
    res = cli("update", "--feed", url)  # the anchor given once is kept
    assert res.exit_code == 0, res.stderr
    assert "-> 2990.01.1" in res.stdout
    info = json.loads(cli("signatures", "info", "--format", "json").stdout)
    assert info["version"] == "2990.01.1" and info["source"] == "updated"
    assert info["previous_version"] and info["trusted_root"]["version"] == 1
    res = cli("update", "--feed", url)
    assert "up to date" in res.stdout
    res = cli("signatures", "rollback")
    assert res.exit_code == 0 and "rolled back from 2990.01.1" in res.stdout
    assert json.loads(cli("signatures", "info", "--format", "json").stdout)["source"] == "bundled"
    res = cli("update", "--feed", url)
    assert res.exit_code == 0 and "held back" in res.stdout
    res = cli("signatures", "rollback")  # a second rollback would re-activate the held-back set
    assert res.exit_code == 2 and "held back" in res.stderr and "--force" in res.stderr
    res = cli("signatures", "rollback", "--force")  # which it does only when asked to
    assert res.exit_code == 0 and "to 2990.01.1" in res.stdout and "reinstalled" not in res.stdout


def test_scans_use_the_updated_set(cli, served_feed, tmp_path):
    url, root = served_feed
    assert cli("update", "--feed", url, "--trusted-root", root).exit_code == 0
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.bin").write_bytes(b"..." + MARKER_A + b"...")
    res = cli("scan", d, "--format", "json")
    rep = json.loads(res.stdout)
    assert res.exit_code == 1
    assert rep["signatures"]["version"] == "2990.01.1" and rep["signatures"]["source"] == "updated"
    assert rep["detections"][0]["family"] == "FeedTestAlpha"


def test_a_tampered_bundle_is_refused_and_the_set_kept(cli, served_feed, tmp_path):
    url, root = served_feed
    feed_public = tmp_path / "feed" / "public" / "targets"
    (bundle,) = list(feed_public.glob("*.signatures.tar.gz"))
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    res = cli("update", "--feed", url, "--trusted-root", root)
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3
    assert json.loads(cli("signatures", "info", "--format", "json").stdout)["source"] == "bundled"


def planted_root(tmp_path: Path) -> Path:
    root = tmp_path / "sysroot"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    dl = root / "home" / "alice" / "Downloads"
    dl.mkdir(parents=True)
    (dl / "invoice.pdf.bin").write_bytes(b"%PDF-1.4 " + MARKER_A + b" trailer")
    (dl / "notes.txt").write_text("clean\n")
    return root


def test_monthly_job_updates_quarantines_logs_and_exits_1(cli, served_feed, tmp_path, scanner_home):
    url, root_json = served_feed
    root = planted_root(tmp_path)
    report = tmp_path / "monthly.json"
    res = cli(
        "monthly", "--feed", url, "--trusted-root", root_json, "--sysroot", root, "--no-processes", "--report", report
    )
    assert res.exit_code == 1, res.stdout + res.stderr
    assert not (root / "home" / "alice" / "Downloads" / "invoice.pdf.bin").exists()
    assert (root / "home" / "alice" / "Downloads" / "notes.txt").exists()
    rep = json.loads(report.read_text())
    assert rep["signatures"]["version"] == "2990.01.1" and rep["action"] == "quarantine"
    assert rep["detections"][0]["action"].startswith("quarantined as ")
    log = (scanner_home / "logs" / "scanner.log").read_text()
    assert "monthly" in log and "exit code 1" in log
    assert "update" in (scanner_home / "logs" / "update.log").read_text()
    (hist,) = json.loads(cli("history", "--format", "json").stdout)
    assert hist["command"] == "monthly"
    assert cli("undo", hist["scan_id"]).exit_code == 0
    assert (root / "home" / "alice" / "Downloads" / "invoice.pdf.bin").exists()


def test_monthly_goes_on_when_the_update_fails(cli, tmp_path, scanner_home):
    root = planted_root(tmp_path)
    res = cli("monthly", "--feed", "http://127.0.0.1:9/", "--sysroot", root, "--no-processes")
    assert res.exit_code == 0, res.stdout + res.stderr  # bundled rules do not know the planted marker
    assert "signature update failed" in res.stderr
    assert "signature update failed" in (scanner_home / "logs" / "scanner.log").read_text()


def test_the_monthly_run_waits_for_the_preparation_it_started(cli, tmp_path, scanner_home, monkeypatch):
    """Unattended, under a service manager that stops what a finished unit leaves behind: the monthly run
    ends only once the routed sets of the rules it compiled afresh (the bundled set here) are prepared."""
    monkeypatch.setattr(prepare, "start", REAL_PREPARE_START)
    root = planted_root(tmp_path)
    res = cli("monthly", "--sysroot", root, "--no-processes")
    assert res.exit_code == 0, res.stdout + res.stderr
    log = (scanner_home / "cache" / "rules" / prepare.LOG_NAME).read_text()
    assert "preparation finished" in log, log


def test_a_second_monthly_run_is_refused(tmp_path, scanner_home):
    root = planted_root(tmp_path)
    with StateDir(scanner_home).lock("monthly", "another monthly run"):
        res = run_module(
            "monthly", "--sysroot", root, "--no-processes", env={**os.environ, "SCANNER_HOME": str(scanner_home)}
        )
    assert res.exit_code == 2
    assert "another monthly run is in progress" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_schedule_install_status_remove_in_a_unit_dir(cli, tmp_path):
    import subprocess

    units = tmp_path / "units"
    res = cli("schedule", "install", "--unit-dir", units, "--scheduler", "systemd")
    assert res.exit_code == 0, res.stderr
    assert "to activate, run: systemctl" in res.stdout
    timer = (units / "scanner-monthly.timer").read_text()
    assert "OnCalendar=Tue *-*-08..14 20:00:00 UTC" in timer and "Persistent=true" in timer
    service = (units / "scanner-monthly.service").read_text()
    assert f"{__import__('sys').executable} -m scanner monthly --home " in service
    verify = subprocess.run(
        ["systemd-analyze", "verify", *map(str, sorted(units.iterdir()))], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    st = json.loads(cli("schedule", "status", "--unit-dir", units, "--scheduler", "systemd", "--format", "json").stdout)
    assert st["installed"] and st["next_run"].endswith("+00:00") and st["last_run"] is None
    res = cli("schedule", "remove", "--unit-dir", units, "--scheduler", "systemd")
    assert res.exit_code == 0 and not list(units.iterdir())


def test_schedule_cron_entry_guards_the_weekday(cli, tmp_path):
    d = tmp_path / "cron.d"
    assert cli("schedule", "install", "--unit-dir", d, "--scheduler", "cron").exit_code == 0
    text = (d / "scanner").read_text()
    assert '[ "$(date +\\%u)" = 2 ]' in text and " 8-14 * * " in text


def test_feed_commands_report_errors_in_one_line(cli, tmp_path):
    res = cli("feed", "publish", tmp_path, "--signatures", tmp_path, "--version", "2990.01.1")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    feed_dir = tmp_path / "feed"
    assert cli("feed", "init", feed_dir).exit_code == 0
    res = cli("feed", "init", feed_dir)
    assert res.exit_code == 2 and "already holds a feed" in res.stderr
    res = cli("feed", "publish", feed_dir, "--signatures", write_set(tmp_path / "s"), "--version", "26.1")
    assert res.exit_code == 2 and "YYYY.MM.N" in res.stderr
    assert cli("feed", "refresh", feed_dir).exit_code == 0
    res = cli("feed", "rotate-key", feed_dir, "timestamp")
    assert res.exit_code == 0, res.stderr
    assert "timestamp" in cli("feed", "status", feed_dir).stdout


def test_rollback_with_nothing_to_return_to(cli):
    res = cli("signatures", "rollback")
    assert res.exit_code == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1
