"""The house style's shape, checked: the layers of the package (which subpackage may import which),
each third-party library imported by exactly one module, no private name used across subpackages,
and a library that never prints, exits or imports click."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "scanner"
MODULES = sorted(p for p in PKG.rglob("*.py") if "_signatures" not in p.parts)


def is_cli(path: Path) -> bool:
    """Whether ``path`` is part of the command line (the ``cli`` package, or ``__main__``): the only
    modules that import click, print or exit."""
    return path.relative_to(PKG).parts[0] in ("cli", "__main__.py")


SHARED = {"errors", "model", "safefs", "state", "inert", "config", "report", "history", "scanlog", "programs"}
"""Top-level modules every layer may use; they use only each other."""
APPLICATION = {"cli", "__main__", "jobs", "__init__", "logsetup"}
"""Top-level modules that may use everything."""
LAYERS: dict[str, set[str]] = {
    "engine": set(),
    "scanning": {"engine"},
    "updates": {"scanning", "engine"},
    "remediation": {"scanning", "engine"},
    "schedule": set(),
    "fleet": {"updates"},
    "watch": {"remediation", "updates", "scanning", "engine", "jobs", "fleet"},
}
"""Which subpackages each subpackage may import, besides itself and the shared modules (the watch also
uses the pipeline, ``jobs``, which is below it: see ``test_the_pipeline_stays_below_its_callers``).
``fleet`` (events and metrics) reads the active signature set through ``updates``; the pipeline, the
CLI and the watch report through it."""

OWNERS = {  # a path ending in "/": any module of that package
    "click": {"cli/"},
    "yara": {"engine/compiler.py"},
    "psutil": {"scanning/processes.py"},
    "libarchive": {"scanning/archives.py"},
    "requests": {"updates/http.py"},
    "watchdog": {"watch/adapter.py"},
    "tuf.ngclient": {"updates/feed.py"},
    "subprocess": {"programs.py"},
    "cryptography": {"updates/publish.py"},
    "hyperscan": {"engine/prefilter.py"},
}


NESTED = sorted(p.parent for p in PKG.glob("*/*/__init__.py"))
"""Packages inside a subpackage (remediation/persistence): the rest of the package uses them only
through the names their ``__init__`` exports."""


def rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


def is_module(dotted: str) -> bool:
    """Whether ``dotted`` (``scanner.x.y``) names a module or a package of ours."""
    path = PKG.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function; ``from scanner.x import y``
    counts as ``scanner.x.y`` when y is a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            for a in node.names:
                if is_module(f"{node.module}.{a.name}"):
                    names.add(f"{node.module}.{a.name}")
    return names


def unit(module: str) -> str:
    """The layer a module belongs to: its subpackage, or its own name at the top level."""
    return module.split(".")[1]


def own_unit(path: Path) -> str:
    parts = path.relative_to(PKG).with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("lib", sorted(OWNERS))
def test_each_third_party_library_lives_in_one_module(lib: str) -> None:
    users = {rel(p) for p in MODULES if any(n == lib or n.startswith(lib + ".") for n in imports(p))}
    strays = {u for u in users if not any(u == o or (o.endswith("/") and u.startswith(o)) for o in OWNERS[lib])}
    assert not strays, f"{lib} imported by {sorted(strays)}"


@pytest.mark.parametrize("path", [p for p in MODULES if not is_cli(p)], ids=rel)
def test_library_does_not_print_or_exit(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            assert name != "print", f"{rel(path)}:{node.lineno} prints"
            assert not (name == "exit" and owner in ("sys", "")), f"{rel(path)}:{node.lineno} exits"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_each_layer_imports_only_the_layers_below_it(path: Path) -> None:
    me = own_unit(path)
    if me in APPLICATION:
        return
    allowed = SHARED if me in SHARED else SHARED | LAYERS[me] | {me}
    used = {unit(m) for m in imports(path) if m.startswith("scanner.")}
    assert used <= allowed, f"{rel(path)} imports {sorted(used - allowed)}, outside its layer"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_other_subpackages_use_only_a_subpackages_public_modules(path: Path) -> None:
    """A subpackage's ``__all__`` names the modules the rest of the package may import."""
    me = own_unit(path)
    for m in imports(path):
        parts = m.split(".")
        if len(parts) < 3 or parts[0] != "scanner" or parts[1] == me or parts[1] not in LAYERS:
            continue
        public = importlib.import_module(f"scanner.{parts[1]}").__all__
        assert parts[2] in public, f"{rel(path)} imports {m}, which scanner.{parts[1]} keeps to itself"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_private_name_crosses_a_subpackage(path: Path) -> None:
    """Neither ``from scanner.x.y import _name`` nor ``y._name`` on a module of another unit."""
    me = own_unit(path)
    tree = ast.parse(path.read_text())
    foreign_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scanner"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                owner = unit(full) if full.count(".") >= 1 else ""
                if owner == me:
                    continue
                assert not (a.name.startswith("_") and not a.name.startswith("__")), (
                    f"{rel(path)}:{node.lineno} imports the private {full}"
                )
                if is_module(full):
                    foreign_aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in foreign_aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"{rel(path)}:{node.lineno} uses the private {node.value.id}.{node.attr}")


def module_name(path: Path) -> str:
    return "scanner." + ".".join(path.relative_to(PKG).with_suffix("").parts)


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_private_name_crosses_a_module(path: Path) -> None:
    """Inside a subpackage too: no module imports another's ``_name`` or reads ``module._name``; a helper
    another module needs is public (with a docstring) in the module that owns it."""
    me = module_name(path)
    tree = ast.parse(path.read_text())
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scanner"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if (PKG.parent / full.replace(".", "/")).with_suffix(".py").exists():
                    if full != me:
                        aliases.add(a.asname or a.name)
                elif node.module != me:
                    assert not (a.name.startswith("_") and not a.name.startswith("__")), (
                        f"{rel(path)}:{node.lineno} imports the private {full}"
                    )
        elif isinstance(node, ast.Import):
            aliases.update(a.asname for a in node.names if a.name.startswith("scanner.") and a.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"{rel(path)}:{node.lineno} uses the private {node.value.id}.{node.attr}")


LOGGING_CONFIG_CALLS = {"basicConfig", "setLevel", "addHandler", "dictConfig", "fileConfig"}


@pytest.mark.parametrize("path", [p for p in MODULES if not is_cli(p) and p.name != "logsetup.py"], ids=rel)
def test_library_never_configures_logging(path: Path) -> None:
    """Only the CLI (through logsetup) sets up handlers and levels; a library module just logs (a
    NullHandler that quiets a third-party library's own logger is not a configuration of ours)."""
    for node in ast.walk(ast.parse(path.read_text())):
        f = node.func if isinstance(node, ast.Call) else None
        if isinstance(f, ast.Attribute) and f.attr in LOGGING_CONFIG_CALLS:
            quiet = node.func.attr == "addHandler" and "NullHandler" in ast.unparse(node)
            assert quiet, f"{rel(path)}:{node.lineno} configures logging ({node.func.attr})"


PURE = {"errors.py", "model.py", "inert.py", "report.py", "facts.py", "__init__.py", "__main__.py"}
"""Modules that decide nothing a user may ask about: values, encodings and rendering."""


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if own_unit(p) in {"scanning", "updates"} | SHARED and p.name not in PURE],
    ids=rel,
)
def test_each_deciding_module_has_its_own_logger(path: Path) -> None:
    assert "logger = logging.getLogger(__name__)" in path.read_text(), f"{rel(path)} has no logger"


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_each_subpackage_says_what_it_owns_and_exports(package: str) -> None:
    mod = importlib.import_module(f"scanner.{package}")
    assert mod.__doc__ and len(mod.__doc__.split()) >= 10
    assert mod.__all__ and all(is_module(f"scanner.{package}.{name}") for name in mod.__all__)


@pytest.mark.parametrize("package", NESTED, ids=rel)
def test_a_nested_package_is_used_only_through_its_public_names(package: Path) -> None:
    """Outside ``package``, no module imports one of its modules, and every name taken from it
    (``from ... import name`` or ``alias.name``) is in its ``__all__``."""
    dotted = "scanner." + ".".join(package.relative_to(PKG).parts)
    mod = importlib.import_module(dotted)
    assert mod.__doc__ and len(mod.__doc__.split()) >= 10
    public = set(mod.__all__)
    parent, _, last = dotted.rpartition(".")
    for path in MODULES:
        if package in path.parents:
            continue
        tree = ast.parse(path.read_text())
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                inside = [a.name for a in node.names if a.name.startswith(dotted + ".")]
                assert not inside, f"{rel(path)}:{node.lineno} imports {inside}, inside {dotted}"
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith(dotted + "."), (
                    f"{rel(path)}:{node.lineno} imports {node.module}, inside {dotted}"
                )
                if node.module == dotted:
                    hidden = sorted({a.name for a in node.names} - public)
                    assert not hidden, f"{rel(path)}:{node.lineno} imports {hidden}, not exported by {dotted}"
                elif node.module == parent:
                    aliases.update(a.asname or a.name for a in node.names if a.name == last)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                assert node.attr in public, f"{rel(path)}:{node.lineno} uses {dotted}.{node.attr}, not exported"


def test_the_pipeline_stays_below_its_callers() -> None:
    """``jobs`` (scan -> plan -> apply -> record) is called by the CLI, the monthly run and the watch: it
    imports neither the CLI nor the watch."""
    used = {unit(m) for m in imports(PKG / "jobs.py") if m.startswith("scanner.")}
    assert not used & {"cli", "__main__", "watch"}, sorted(used & {"cli", "__main__", "watch"})


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_the_cli_is_on_top(path: Path) -> None:
    """Nothing but ``__main__`` and the ``cli`` package itself imports ``scanner.cli``; inside it, the
    shared base (``app``: the group, options, errors; ``render``) imports no command module, so
    the command modules stand side by side on it."""
    used = {m for m in imports(path) if m == "scanner.cli" or m.startswith("scanner.cli.")}
    if not is_cli(path):
        assert not used, f"{rel(path)} imports {sorted(used)}, the command line above it"
    elif rel(path) in ("cli/app.py", "cli/render.py"):
        assert used <= {"scanner.cli.app"}, f"{rel(path)} imports {sorted(used - {'scanner.cli.app'})}"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_exit_codes_are_named(path: Path) -> None:
    """Exit codes come from ``model.ExitCode``: no ``exit_code=<number>``, ``sys.exit(<number>)`` or
    ``return <number>`` in a function that returns an ``ExitCode``."""
    for node in ast.walk(ast.parse(path.read_text())):
        literal = None
        if isinstance(node, ast.keyword) and node.arg == "exit_code":
            literal = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit":
            literal = node.args[0] if node.args else None
        elif isinstance(node, ast.FunctionDef) and ast.unparse(node.returns or ast.Constant(None)) == "ExitCode":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Constant):
                    raise AssertionError(f"{rel(path)}:{inner.lineno} returns a bare exit code")
        if isinstance(literal, ast.Constant) and isinstance(literal.value, int):
            raise AssertionError(f"{rel(path)}:{node.lineno} uses a bare exit code")


def test_every_module_belongs_to_a_known_layer() -> None:
    units = {own_unit(p) for p in MODULES}
    assert units <= SHARED | APPLICATION | set(LAYERS), sorted(units - SHARED - APPLICATION - set(LAYERS))


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
            assert m.group(1).split("[")[0] in ("{DISTRIBUTION}", "."), f"{rel(path)}: {m.group(0)}"


def test_publish_without_cryptography_names_our_distribution(tmp_path: Path) -> None:
    """A real child process in which 'cryptography' cannot be imported: the error tells the user to
    install our distribution's publish extra, never ``scanner[publish]``."""
    import subprocess
    import sys

    from scanner import DISTRIBUTION

    code = "import sys; sys.modules['cryptography'] = None; from scanner.cli import main; main()"
    res = subprocess.run(
        [sys.executable, "-c", code, "feed", "init", str(tmp_path / "feed")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert f"pip install '{DISTRIBUTION}[publish]'" in res.stderr
    assert "'scanner[publish]'" not in res.stderr
    assert "Traceback" not in res.stderr


UNIX_ONLY = {"fcntl", "pwd", "grp", "termios", "resource", "tty", "pty", "syslog", "posix"}
"""Standard modules that exist only on Unix."""
WINDOWS_SAFE = ("schedule/", "programs.py")
"""Modules the Windows task code runs through: none may import a Unix-only module at load time."""


@pytest.mark.parametrize("path", [p for p in MODULES if rel(p).startswith(WINDOWS_SAFE)], ids=rel)
def test_windows_code_imports_no_unix_only_module_at_load(path: Path) -> None:
    """A Unix-only module is imported inside the function that uses it, never at module level."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {node.module.split(".")[0]}
        else:
            continue
        assert not names & UNIX_ONLY, f"{rel(path)}:{node.lineno} imports {sorted(names & UNIX_ONLY)} at load time"


ONE_HOME = {
    "tempfile.mkstemp": "safefs.py",  # atomic writes: safefs.write_atomic
    "b64encode(os.fsencode": "model.py",  # a path's bytes in base64: model.encode_path
    "class FileIdentity": "model.py",  # a file's stat identity: model.FileIdentity
}
"""Helpers written once: the text that spells each, and the one module allowed to spell it."""


@pytest.mark.parametrize("text", sorted(ONE_HOME))
def test_shared_helpers_are_written_once(text: str) -> None:
    """Atomic writes, the base64 of a path and a file's stat identity each have one home that every other
    module calls (the vault's and the persistence cleaner's descriptor-relative writes create their
    temporary files with safefs.create_new instead)."""
    users = {rel(p) for p in MODULES if text in p.read_text()}
    assert users == {ONE_HOME[text]}, sorted(users)


def test_every_package_is_installed() -> None:
    """A fresh ``pip install .`` installs every subpackage: setup.cfg lists each folder with an
    ``__init__.py`` (a missing one installs a package whose command fails on import)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(PKG.parent / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    present = {
        ".".join(p.parent.relative_to(PKG.parent).parts)
        for p in PKG.rglob("__init__.py")
        if "_signatures" not in p.parts
    }
    assert present <= listed, f"setup.cfg [options] packages lacks {sorted(present - listed)}"
