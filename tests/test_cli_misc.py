"""The CLI's edges a new user meets: output piped into ``head``, each command's exit codes in its
help, and ``schedule status``/``remove`` with ``--unit-dir``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EICAR, EICAR_RULE

from scanner.model import ExitCode


def _closed_pipe_run(args: list[str], home: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m scanner ARGS`` with standard output a pipe nobody reads any more (what
    ``| head -1`` leaves once head has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "scanner", *args, "--home", str(home)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", [["history"], ["signatures", "info"], ["quarantine", "list"], ["scan"]])
def test_closed_standard_output_ends_quietly(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "home"
    if command == ["scan"]:
        target = tmp_path / "t"
        target.mkdir()
        (target / "eicar.com").write_bytes(EICAR)
        rules = tmp_path / "r.yar"
        rules.write_text(EICAR_RULE)
        command = ["scan", str(target), "--rules", str(rules), "--no-default-rules"]
    proc = _closed_pipe_run(command, home)
    assert proc.stderr == b""
    assert proc.returncode == ExitCode.BROKEN_PIPE
    if command[0] == "scan":  # the scan itself was complete: logged and in the history
        assert "detected: EICAR-Test-File" in (home / "logs" / "scanner.log").read_text()


def test_history_piped_into_head(tmp_path: Path) -> None:
    """The pipeline from the report: a real shell, a real head."""
    home = tmp_path / "home"
    empty = tmp_path / "empty"
    empty.mkdir()
    rules = tmp_path / "r.yar"
    rules.write_text(EICAR_RULE)
    for _ in range(2):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                str(empty),
                "--rules",
                str(rules),
                "--no-default-rules",
                "--home",
                str(home),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    proc = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -m scanner history --home "{home}" | head -1'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    assert proc.stderr == ""


@pytest.mark.parametrize("command", ["update", "watch"])
def test_help_lists_the_commands_own_exit_codes(cli: object, command: str) -> None:
    res = cli(command, "--help")  # type: ignore[operator]
    assert res.exit_code == 0
    assert "Exit codes:" in res.stdout
    assert "threats found" not in res.stdout and "nothing found" not in res.stdout
    assert "  2  " in res.stdout


def test_scan_help_still_lists_the_scan_exit_codes(cli: object) -> None:
    res = cli("scan", "--help")  # type: ignore[operator]
    assert "1  threats found" in res.stdout and f"{ExitCode.BROKEN_PIPE}  standard output was closed" in res.stdout


@pytest.mark.parametrize("command", ["status", "remove"])
def test_unit_dir_help_says_what_the_command_does(cli: object, command: str) -> None:
    res = cli("schedule", command, "--help")  # type: ignore[operator]
    text = " ".join(res.stdout.split())
    assert "--unit-dir DIRECTORY" in text
    assert "Write the definitions" not in text
    assert ("Read the definitions from DIR" if command == "status" else "Delete the definitions from DIR") in text


@pytest.mark.parametrize("scheduler", ["systemd", "cron"])
def test_status_and_remove_with_unit_dir_find_what_is_there(tmp_path: Path, cli: object, scheduler: str) -> None:
    units = tmp_path / "units"
    run = cli  # type: ignore[assignment]
    res = run("schedule", "install", "--scheduler", scheduler, "--unit-dir", units)
    assert res.exit_code == 0, res.stderr
    written = sorted(os.listdir(units))
    assert written

    res = run("schedule", "status", "--unit-dir", units)  # --scheduler auto: whatever is running here
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"installed: {scheduler}"), res.stdout
    assert "not installed" not in res.stdout

    res = run("schedule", "remove", "--unit-dir", units)
    assert res.exit_code == 0, res.stderr
    assert [line.split("/")[-1] for line in res.stdout.splitlines()] == written
    assert os.listdir(units) == []


def test_schedule_runs_where_there_is_no_euid(tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no ``os.geteuid``: choosing the scheduler must not need it (it raised AttributeError
    before any schedule code ran)."""
    monkeypatch.delattr(os, "geteuid")
    units = tmp_path / "units"
    run = cli  # type: ignore[assignment]
    res = run("schedule", "install", "--scheduler", "windows", "--unit-dir", units)
    assert res.exit_code == 0, res.stderr
    assert os.listdir(units)
    res = run("schedule", "status", "--scheduler", "windows", "--unit-dir", units)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("installed: windows-task"), res.stdout
