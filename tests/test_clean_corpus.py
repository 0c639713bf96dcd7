"""Zero false positives: the bundled set (all of signatures/) scanned over the clean reference corpus, by the
same gate `scanner feed build --clean-corpus` runs (routed, as clients scan).

The corpus: this machine's system binaries and libraries, Python with its site-packages, and real web
applications from Debian's archive (WordPress, phpMyAdmin, the libjs-* packages under
/usr/share/javascript), which .ci/run installs. Without them the test skips and says so.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from scanner.engine.compiler import compile_rules
from scanner.updates import release_gates, signatures

WEB_APPS = [Path("/usr/share/wordpress"), Path("/usr/share/phpmyadmin"), Path("/usr/share/javascript")]
SYSTEM = [Path("/usr/bin"), Path("/usr/sbin"), Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/share/nodejs")]


def python_paths() -> list[Path]:
    """The interpreter's standard library and every site-packages it (and its venv) uses."""
    found: list[Path] = []
    for scheme_path in ("stdlib", "platstdlib", "purelib", "platlib"):
        for base in {sys.prefix, sys.base_prefix}:
            p = Path(sysconfig.get_paths(vars={"base": base, "platbase": base})[scheme_path])
            if p.is_dir() and not any(p == q or q in p.parents for q in found):
                found = [q for q in found if p not in q.parents] + [p]
    return found


def test_bundled_set_has_no_false_positive_on_the_clean_reference_corpus(capsys):
    missing = [str(p) for p in WEB_APPS if not p.is_dir()]
    if missing:
        pytest.skip(
            f"clean reference corpus incomplete, {', '.join(missing)} missing: install the Debian packages "
            "wordpress phpmyadmin javascript-common libjs-jquery libjs-bootstrap (.ci/run does)"
        )
    corpus = WEB_APPS + [p for p in SYSTEM if p.is_dir()] + python_paths()
    sigset = signatures.bundled_set()
    rules = compile_rules(sigset.sources(), None)
    gate = release_gates.clean_gate(rules, corpus)
    with capsys.disabled():
        print(f"\nclean reference corpus ({rules.rule_count} rules): {gate.figures}")
        print("  " + ", ".join(str(p) for p in corpus))
    assert gate.numbers["files"] > 5000  # the web applications alone are ~6,000 files
    assert not gate.failures, "\n".join(gate.failures[:50])
