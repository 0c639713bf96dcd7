"""The bundled signature set: every rule compiles and carries its meta, every rule hits its inert
samples, and no rule hits the clean corpus (the test machine's /usr/bin, /usr/lib, /usr/share and
Python installation) or the scanner's own files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner import inert
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.updates import signatures

BUNDLED = signatures.bundled_set()
REQUIRED_META = ("family", "severity", "description", "reference")


@pytest.fixture(scope="module")
def compiled():  # type: ignore[no-untyped-def]
    return compile_rules(BUNDLED.sources())


def test_bundled_set_has_version_families_and_rules():
    assert signatures.valid_version(BUNDLED.version)
    assert BUNDLED.released is not None
    assert len({f.name for f in BUNDLED.families}) >= 15


def rules_of(path: Path) -> list[tuple[str, dict[str, str], list[str]]]:
    """(name, meta, tags) of every rule in one file."""
    import yara

    rules = yara.compile(
        filepath=os.fspath(path),
        externals=dict.fromkeys(("filename", "filepath", "extension", "filetype", "owner"), ""),
    )
    return [(rule.identifier, dict(rule.meta), list(rule.tags)) for rule in rules]


def rule_metas() -> list[tuple[str, dict[str, str]]]:
    return [(name, meta) for src in BUNDLED.sources() for name, meta, _ in rules_of(src.path)]


RULE_FILES = BUNDLED.rule_files()
MEMORY_RULES = [name for path in RULE_FILES for name, _, tags in rules_of(path) if "memory" in tags]


def test_every_rule_has_required_meta_and_a_known_family():
    names = {f.name for f in BUNDLED.families}
    metas = rule_metas()
    assert len(metas) >= 15
    for rule, meta in metas:
        for key in REQUIRED_META:
            assert str(meta.get(key, "")).strip(), f"{rule} lacks meta {key}"
        assert meta["severity"] in ("low", "medium", "high", "critical"), rule
        assert meta["family"] in names, f"{rule}: family {meta['family']} not in families.toml"
        assert meta["reference"].startswith("https://"), rule


def test_every_rule_has_a_sample_and_hits_it(compiled):
    samples = list(BUNDLED.samples())
    with_samples = {rule for rule, _ in samples}
    assert {rule for rule, _ in rule_metas()} <= with_samples
    assert signatures.check_samples(BUNDLED, compiled) == []


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_has_a_near_miss(path: Path) -> None:
    """Each rule has a clean look-alike (same header, language or words) that it must not match."""
    with_nearmiss = {rule for rule, _ in BUNDLED.nearmisses()}
    missing = [name for name, _, _ in rules_of(path) if name not in with_nearmiss]
    assert not missing, f"{path.name}: no near-miss for {missing}"


def test_no_near_miss_hits_any_rule(compiled):
    assert any(True for _ in BUNDLED.nearmisses())
    assert signatures.check_nearmisses(BUNDLED, compiled) == []


def test_samples_are_up_to_date() -> None:
    """Every sample and near-miss is what tools/make_samples.py builds from tools/sampledefs/."""
    import subprocess
    import sys

    tool = Path(__file__).resolve().parent.parent / "tools" / "make_samples.py"
    res = subprocess.run([sys.executable, os.fspath(tool), "--check"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_samples_are_stored_inert():
    for _, sample in [*BUNDLED.samples(), *BUNDLED.nearmisses()]:
        assert sample.suffix == inert.SUFFIX
        assert inert.is_inert(sample.read_bytes())


def test_no_rule_hits_the_clean_corpus_or_our_own_files(compiled):
    """Zero false positives on every file of the clean corpus (takes a minute or two on a cold cache)."""
    corpus = signatures.clean_corpus()
    assert corpus
    repo = Path(__file__).resolve().parent.parent
    own = [repo / "scanner", repo / "signatures", repo / "tests", repo / "tools", repo / "README.md"]
    assert signatures.check_clean(compiled, [*corpus, *own, *signatures.core_binaries()]) == []


def test_no_rule_hits_the_compiled_rules(compiled, tmp_path):
    """The compiled-rule cache holds every string literal (NUL-terminated): it must not be detected."""
    import yara

    path = tmp_path / "bundled.yarc"
    yara.compile(
        filepaths={s.namespace: os.fspath(s.path) for s in BUNDLED.sources()},
        externals=dict.fromkeys(("filename", "filepath", "extension", "filetype", "owner"), ""),
    ).save(os.fspath(path))
    assert signatures.check_clean(compiled, [tmp_path]) == []


def test_signatures_info_and_test_commands(cli):
    res = cli("signatures", "info", "--format", "json")
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["version"] == BUNDLED.version and info["source"] == "bundled"
    assert info["rule_count"] >= 15 and len(info["families"]) >= 15
    assert cli("signatures", "info").stdout.startswith("Version:")
    res = cli("signatures", "test")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.stdout.startswith("OK: signature set")


def test_a_fresh_install_scans_with_the_bundled_set(cli, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    eicar = next(s for r, s in BUNDLED.samples() if "EICAR" in r)
    (d / "eicar.com").write_bytes(inert.decode(eicar.read_bytes()))
    res = cli("scan", d, "--format", "json")
    assert res.exit_code == 1
    rep = json.loads(res.stdout)
    assert rep["signatures"]["source"] == "bundled"
    assert rep["detections"][0]["family"] == "EICAR-Test-File"


def test_rule_sources_are_namespaced_per_file():
    sources: list[RuleSource] = BUNDLED.sources()
    assert len({s.namespace for s in sources}) == len(sources)
    assert all(s.namespace.startswith("bundled:") for s in sources)


def test_memory_rules_can_match_a_process() -> None:
    """A rule tagged ``memory`` must be able to match a process: YARA leaves ``filesize`` undefined there."""
    import re

    for path in RULE_FILES:
        text = path.read_text()
        for name in (n for n, _, tags in rules_of(path) if "memory" in tags):
            body = re.search(rf"rule {name}\b.*?\n}}", text, re.S)
            assert body is not None, name
            condition = body.group(0).split("condition:", 1)[1]
            assert "filesize" not in condition, f"{name} is tagged memory but its condition uses filesize"


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
@pytest.mark.parametrize("rule", MEMORY_RULES)
def test_memory_rule_detects_a_process_holding_its_indicators(cli, rule: str) -> None:
    """A harmless interpreter holds the decoded sample in its heap; ``scan --pid`` finds it by this rule."""
    import subprocess
    import sys

    sample = next(s for r, s in BUNDLED.samples() if r == rule)
    code = (
        "import sys, time; from scanner import inert; "
        f"keep = inert.decode(open({os.fspath(sample)!r}, 'rb').read()); "
        "print('ready', flush=True); time.sleep(120)"
    )
    repo = Path(__file__).resolve().parent.parent
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=repo)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        res = cli("scan", "--pid", str(child.pid), "--format", "json")
        hits = {d["rule"] for d in json.loads(res.stdout)["detections"]}
        assert rule in hits, res.stdout
    finally:
        child.kill()
        child.wait()
