"""The Weevely rules against agents written by the real generator (Debian's ``weevely`` package).

Each agent is defused as soon as it is written (``exit;`` right after its ``<?php`` tag) and lives
only in the test's temporary directory; the rest of its bytes are what the generator wrote.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

WEEVELY = Path("/usr/share/weevely/weevely.py")
PYTHON = Path("/usr/bin/python3")  # the interpreter Debian's weevely and python3-mako belong to

pytestmark = pytest.mark.skipif(
    not (WEEVELY.is_file() and PYTHON.is_file()), reason="Debian's weevely package is not installed"
)


def generate(path: Path, password: str, *obfuscator: str) -> None:
    # weevely keeps a log under ~/.weevely: HOME points into the test's directory.
    env = {"HOME": str(path.parent), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run(
        [str(PYTHON), str(WEEVELY), "generate", *obfuscator, password, str(path)],
        check=True,
        capture_output=True,
        timeout=60,
        cwd=path.parent,
        env=env,
    )
    raw = path.read_bytes()
    assert raw.startswith(b"<?php"), raw[:40]
    path.write_bytes(b"<?php exit;" + raw[len(b"<?php") :])


def test_agents_written_by_weevely_are_detected(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    agents = tmp_path / "agents"
    agents.mkdir()
    for i in range(3):
        generate(agents / f"agent{i}.php", f"pw-{i}-inert")
    generate(agents / "clear.php", "pw-clear", "-obfuscator", "cleartext1_php")

    res = cli("scan", agents, "--format", "json")
    assert res.exit_code == 1, res.stdout + res.stderr
    hits = {Path(d["path"]).name: (d["family"], d["rule"]) for d in json.loads(res.stdout)["detections"]}
    assert hits == {
        "agent0.php": ("Weevely", "Weevely_Agent_Obfuscated"),
        "agent1.php": ("Weevely", "Weevely_Agent_Obfuscated"),
        "agent2.php": ("Weevely", "Weevely_Agent_Obfuscated"),
        "clear.php": ("Weevely", "Weevely_Agent_Cleartext"),
    }
