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
