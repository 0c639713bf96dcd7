"""The house style's shape, checked: the library never prints, exits or imports click, and each
third-party library is imported by exactly one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "scanner"
MODULES = sorted(p for p in PKG.glob("*.py"))
CLI = {"cli.py", "__main__.py"}

OWNERS = {
    "click": {"cli.py"},
    "yara": {"engine.py"},
    "psutil": {"processes.py"},
    "requests": {"http.py"},
    "watchdog": {"watch.py"},
    "tuf.ngclient": {"feed.py"},
    "subprocess": {"sysctl.py"},
    "cryptography": {"publish.py"},
    "hyperscan": {"prefilter.py"},
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("lib", sorted(OWNERS))
def test_each_third_party_library_lives_in_one_module(lib: str) -> None:
    users = {p.name for p in MODULES if any(n == lib or n.startswith(lib + ".") for n in imports(p))}
    assert users <= OWNERS[lib], f"{lib} imported by {sorted(users - OWNERS[lib])}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.name not in CLI], ids=lambda p: p.name)
def test_library_does_not_print_or_exit(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            assert name != "print", f"{path.name}:{node.lineno} prints"
            assert not (name == "exit" and owner in ("sys", "")), f"{path.name}:{node.lineno} exits"


def test_distribution_name_is_ours_and_the_only_install_command_named() -> None:
    """``scanner`` on the package index is an unrelated project: the metadata and every printed
    install command name our distribution instead."""
    import configparser
    import re

    from scanner import DISTRIBUTION

    cfg = configparser.ConfigParser()
    cfg.read(PKG.parent / "setup.cfg")
    assert cfg["metadata"]["name"] == DISTRIBUTION != "scanner"
    for path in MODULES:
        for m in re.finditer(r"pip install '?([A-Za-z0-9_.{}-]+)", path.read_text()):
            assert m.group(1).split("[")[0] in ("{DISTRIBUTION}", "."), f"{path.name}: {m.group(0)}"


def test_publish_without_cryptography_names_our_distribution(tmp_path: Path) -> None:
    """A real child process in which 'cryptography' cannot be imported: the error tells the user to
    install our distribution's publish extra, never ``scanner[publish]``."""
    import subprocess
    import sys

    from scanner import DISTRIBUTION

    code = "import sys; sys.modules['cryptography'] = None; from scanner.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", code, "feed", "init", str(tmp_path / "feed")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert f"pip install '{DISTRIBUTION}[publish]'" in res.stderr
    assert "'scanner[publish]'" not in res.stderr
    assert "Traceback" not in res.stderr
