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


def rule_metas() -> list[tuple[str, dict[str, str]]]:
    import yara

    out = []
    for src in BUNDLED.sources():
        for rule in yara.compile(
            filepath=os.fspath(src.path),
            externals=dict.fromkeys(("filename", "filepath", "extension", "filetype", "owner"), ""),
        ):
            out.append((rule.identifier, dict(rule.meta)))
    return out


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


def test_samples_are_stored_inert():
    for _, sample in BUNDLED.samples():
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
