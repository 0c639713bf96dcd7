"""`scanner feed build`: sources with licences in, a tested bundle and its changelog out; each gate refuses
what it must (a rule that does not compile, a sample that misses, a near-miss that hits, a hit on a clean
WordPress file, a rule over the cost budget, a source without a licence), and `feed publish --bundle`
signs what it built. Everything through the CLI on real files in tmp_path."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from feed_helpers import MARKER_A, RULE_A, clean_dir, serve, write_set

from scanner import inert
from scanner.updates import release_sources

LICENCE = b"SPDX-License-Identifier: Apache-2.0\nTest rules for the release pipeline.\n"
WORDPRESS_FILE = Path("/usr/share/wordpress/wp-includes/version.php")

RULE_NEW = """
rule Release_Test_New
{
    meta:
        family = "ReleaseTestNew"
        author = "release tests"
    strings:
        $m = "RELEASE-TEST-NEW-MARKER-7f1d"
    condition:
        $m
}
"""

DEAR_RULE = """
rule Release_Test_Dear
{
    meta:
        family = "ReleaseTestDear"
    condition:
        for any i in (0 .. filesize - 4) : ( uint32(i) == 0x12345678 )
}
"""


def source(base: Path, rules: dict[str, str] | None = None, samples: dict | None = None, **kw: bytes) -> Path:
    """A set-layout source with a licence file (and ``kw``: extra files, such as near-misses)."""
    extra = {"LICENSE": LICENCE, **{k.replace("__", "/"): v for k, v in kw.items()}}
    return write_set(base, rules, samples, extra)


def nearmiss(rule: str, data: bytes) -> dict[str, bytes]:
    return {f"nearmiss__{rule}__near.bin.inert": inert.encode(data)}


def build(cli, out: Path, *sources: Path, corpus: Path, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    args: list[str | os.PathLike[str]] = ["feed", "build", out]
    for s in sources:
        args += ["--source", s]
    return cli(*args, "--clean-corpus", corpus, *extra)


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_build_writes_a_bundle_with_licences_and_changelog(cli, tmp_path):
    src = source(tmp_path / "ours", samples=None, **nearmiss("Feed_Test_Alpha", b"head SCANNER-FEED-TEST tail"))
    out = tmp_path / "release.tar.gz"
    res = build(cli, out, src, corpus=clean_dir(tmp_path), extra=("--version", "2990.01.0"))
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "Signature set 2990.01.0" in res.stdout and "first release" in res.stdout
    assert "Rules: 1 (+1 added, -0 removed, 0 changed)" in res.stdout
    for gate in ("compile", "samples", "near-misses", "clean corpus", "cost", "agreement", "activation"):
        assert f"  {gate}: passed: " in res.stdout
    assert "1 near-misses for 1 of 1 rules, 0 hitting" in res.stdout
    assert "licence Apache-2.0" in res.stdout
    files = members(out)
    assert "rules/ours/alpha.yar" in files and "licences/ours/LICENSE" in files
    assert "nearmiss/Feed_Test_Alpha/near.bin.inert" in files
    manifest = files["sources.toml"].decode()
    assert 'licence = "Apache-2.0"' in manifest and 'name = "ours"' in manifest
    changelog = json.loads(files["changelog.json"])
    assert changelog["version"] == "2990.01.0" and changelog["rules"]["added"] == ["Feed_Test_Alpha"]
    assert {g["name"] for g in changelog["gates"]} >= {"cost", "clean corpus"}
    assert files["CHANGELOG.txt"].decode() in res.stdout


def test_published_bundle_is_installed_and_signatures_info_shows_its_changelog(cli, tmp_path):
    out = tmp_path / "release.tar.gz"
    res = build(cli, out, source(tmp_path / "ours"), corpus=clean_dir(tmp_path), extra=("--version", "2990.02.0"))
    assert res.exit_code == 0, res.stderr
    feed_dir = tmp_path / "feed"
    assert cli("feed", "init", feed_dir).exit_code == 0
    res = cli("feed", "publish", feed_dir, "--bundle", out, "--version", "2990.02.1")
    assert res.exit_code == 2 and "was built as 2990.02.0" in res.stderr
    res = cli("feed", "publish", feed_dir, "--bundle", out)  # the version is the bundle's own
    assert res.exit_code == 0, res.stderr
    assert "signatures 2990.02.0" in res.stdout
    res = cli("feed", "publish", feed_dir)
    assert res.exit_code == 2 and "--signatures DIR or --bundle FILE" in res.stderr
    with serve(feed_dir / "public") as server:
        res = cli("update", "--feed", server.url, "--trusted-root", feed_dir / "root.json")
        assert res.exit_code == 0, res.stderr
    res = cli("signatures", "info")
    assert res.exit_code == 0
    assert "Changelog:      2990.02.0" in res.stdout and "gate:         clean corpus: passed" in res.stdout
    assert "source:       ours: 1 rules, licence Apache-2.0" in res.stdout
    info = json.loads(cli("signatures", "info", "--format", "json").stdout)
    assert info["changelog"]["rules"]["added"] == ["Feed_Test_Alpha"]


def test_changelog_says_what_changed_since_the_previous_release(cli, tmp_path):
    corpus = clean_dir(tmp_path)
    first = tmp_path / "first.tar.gz"
    assert build(cli, first, source(tmp_path / "v1"), corpus=corpus, extra=("--version", "2990.03.0")).exit_code == 0
    changed_a = RULE_A.replace('severity = "high"', 'severity = "critical"')
    samples = {
        ("Feed_Test_Alpha", "alpha.bin"): b"head " + MARKER_A + b" tail",
        ("Release_Test_New", "new.bin"): b"RELEASE-TEST-NEW-MARKER-7f1d",
    }
    v2 = source(tmp_path / "v2", {"alpha.yar": changed_a, "new.yar": RULE_NEW}, samples)
    res = build(cli, tmp_path / "second.tar.gz", v2, corpus=corpus, extra=("--previous", str(first)))
    assert res.exit_code == 0, res.stderr
    assert "since 2990.03.0" in res.stdout
    assert "Rules: 2 (+1 added, -0 removed, 1 changed)" in res.stdout
    assert "  added (1): Release_Test_New" in res.stdout and "  changed (1): Feed_Test_Alpha" in res.stdout
    assert "  added (1): ReleaseTestNew" in res.stdout  # the family
    res = build(cli, tmp_path / "third.tar.gz", source(tmp_path / "v3"), corpus=corpus, extra=("--previous", str(v2)))
    assert res.exit_code == 0, res.stderr
    assert "  removed (1): Release_Test_New" in res.stdout and "  removed (1): ReleaseTestNew" in res.stdout


def refused(res, out: Path, gate: str, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert res.exit_code == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert f"gate {gate}: FAILED" in res.stderr
    assert f"refused by the {gate}" in res.stderr.splitlines()[-1]
    for w in words:
        assert w in res.stderr
    assert not out.exists()


def test_refuses_a_rule_that_does_not_compile(cli, tmp_path):
    src = source(tmp_path / "s", {"alpha.yar": RULE_A, "broken.yar": "rule Broken { condition: $nope }"})
    out = tmp_path / "r.tar.gz"
    refused(build(cli, out, src, corpus=clean_dir(tmp_path)), out, "compile", "s/broken.yar", "undefined string")


def test_refuses_a_sample_that_misses(cli, tmp_path):
    src = source(tmp_path / "s", samples={("Feed_Test_Alpha", "miss.bin"): b"no marker here"})
    out = tmp_path / "r.tar.gz"
    refused(
        build(cli, out, src, corpus=clean_dir(tmp_path)),
        out,
        "samples",
        "samples/Feed_Test_Alpha/miss.bin.inert does not hit rule Feed_Test_Alpha",
    )


def test_refuses_a_near_miss_that_hits(cli, tmp_path):
    src = source(tmp_path / "s", **nearmiss("Feed_Test_Alpha", b"a near miss that is not: " + MARKER_A))
    out = tmp_path / "r.tar.gz"
    refused(
        build(cli, out, src, corpus=clean_dir(tmp_path)),
        out,
        "near-misses",
        "nearmiss/Feed_Test_Alpha/near.bin.inert hits rule Feed_Test_Alpha",
    )


def test_refuses_a_rule_that_hits_a_clean_wordpress_file(cli, tmp_path):
    """A real WordPress file when the Debian package is installed (CI installs it), else a stand-in."""
    if WORDPRESS_FILE.is_file():
        corpus = WORDPRESS_FILE
    else:
        corpus = tmp_path / "wordpress" / "version.php"
        corpus.parent.mkdir()
        corpus.write_bytes(b"<?php\n$wp_version = '6.1.1';\n$wp_db_version = 53496;\n")
    rule = 'rule Greedy_PHP { meta: family = "Greedy" strings: $v = "$wp_version" condition: $v }'
    src = source(tmp_path / "s", {"greedy.yar": rule}, {("Greedy_PHP", "shell.php"): b"<?php $wp_version; ?>"})
    out = tmp_path / "r.tar.gz"
    refused(build(cli, out, src, corpus=corpus), out, "clean corpus", f"rule Greedy_PHP hits clean file {corpus}")


def test_refuses_a_rule_over_the_cost_budget(cli, tmp_path):
    corpus = clean_dir(tmp_path)
    (corpus / "big.bin").write_bytes(b"A" * (2 * 1024 * 1024))
    samples = {
        ("Feed_Test_Alpha", "alpha.bin"): b"head " + MARKER_A + b" tail",
        ("Release_Test_Dear", "dear.bin"): b"\x78\x56\x34\x12",
    }
    src = source(tmp_path / "s", {"alpha.yar": RULE_A, "dear.yar": DEAR_RULE}, samples)
    out = tmp_path / "r.tar.gz"
    res = build(cli, out, src, corpus=corpus, extra=("--rule-floor-ms", "1"))
    refused(res, out, "cost", "rule Release_Test_Dear (s/dear.yar) takes", "budget 5% above 1 ms")


def test_refuses_a_regex_libyara_warns_is_slow(cli, tmp_path):
    rule = 'rule Slow_Regex { meta: family = "Slow" strings: $r = /SLOWTEST.*END/ condition: $r }'
    src = source(tmp_path / "s", {"slow.yar": rule}, {("Slow_Regex", "x.bin"): b"SLOWTEST and END"})
    out = tmp_path / "r.tar.gz"
    refused(build(cli, out, src, corpus=clean_dir(tmp_path)), out, "cost", "s/slow.yar: libyara warns", "slow")


def test_refuses_a_source_without_a_licence(cli, tmp_path):
    ours = source(tmp_path / "ours")
    theirs = write_set(tmp_path / "theirs", {"t.yar": RULE_NEW}, {})
    out = tmp_path / "r.tar.gz"
    res = build(cli, out, ours, theirs, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert f"source {tmp_path / 'theirs'} has no licence file" in res.stderr
    assert not out.exists()


def test_community_collection_is_taken_with_its_licence_and_authors(cli, tmp_path):
    """A collection laid out as signature-base is (rule files anywhere, a DRL licence): no samples needed."""
    coll = tmp_path / "community"
    (coll / "yara").mkdir(parents=True)
    (coll / "yara" / "new.yar").write_text(RULE_NEW)
    (coll / "LICENSE").write_text("# Detection Rule License (DRL) 1.1\n\nPermission is hereby granted ...\n")
    out = tmp_path / "r.tar.gz"
    res = build(cli, out, source(tmp_path / "ours"), coll, corpus=clean_dir(tmp_path))
    assert res.exit_code == 0, res.stderr
    assert "community: 1 rules in 1 files, licence DRL-1.1" in res.stdout and "release tests" in res.stdout
    files = members(out)
    assert "rules/community/yara/new.yar" in files and "licences/community/LICENSE" in files
    assert 'attribution = "release tests"' in files["sources.toml"].decode()


def test_a_fifo_among_the_rules_is_refused_without_hanging(cli, tmp_path):
    src = source(tmp_path / "s")
    os.mkfifo(src / "rules" / "trap.yar")
    out = tmp_path / "r.tar.gz"
    res = build(cli, out, src, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "trap.yar is a FIFO" in res.stderr and not out.exists()


def test_bad_arguments_give_one_line_errors(cli, tmp_path):
    src = source(tmp_path / "s")
    res = build(cli, tmp_path / "missing-dir" / "r.tar.gz", src, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "is not a directory" in res.stderr and res.stderr.count("\n") == 1
    res = build(cli, tmp_path, src, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    res = build(cli, tmp_path / "r.tar.gz", src, corpus=clean_dir(tmp_path), extra=("--version", "26.1"))
    assert res.exit_code == 2 and "YYYY.MM.N" in res.stderr


@pytest.mark.parametrize(
    ("text", "ident"),
    [
        ("# Detection Rule License (DRL) 1.1\n\nPermission is hereby granted", "DRL-1.1"),
        ("SPDX-License-Identifier: GPL-2.0-only\n", "GPL-2.0-only"),
        (
            "                                 Apache License\n                           Version 2.0, January",
            "Apache-2.0",
        ),
        ("MIT License\n\nCopyright (c) someone", "MIT"),
        ("All rights reserved by nobody in particular.", "unknown"),
    ],
)
def test_licence_is_named_from_its_text(text, ident):
    assert release_sources.licence_id(text) == ident


def test_monthly_workflow_runs_the_tested_commands_on_the_second_tuesday():
    """The scheduled workflow cannot run here: its schedule, its guard and its commands are checked as text."""
    text = (Path(__file__).parent.parent / ".github" / "workflows" / "monthly-release.yml").read_text()
    assert 'cron: "30 6 8-14 * *"' in text  # days 8-14 (a weekday in the same entry would mean "or")
    assert '[ "$(date -u +%u)" = 2 ]' in text  # ... and the guard lets only the Tuesday through
    assert "scanner feed build release/signatures.tar.gz" in text and "--source signatures" in text
    assert "--clean-corpus /usr/share/wordpress" in text
    assert "scanner feed publish feed --bundle release/signatures.tar.gz" in text
    assert "secrets.FEED_TARGETS_KEY" in text and "BEGIN" not in text  # keys come from secrets, never the file
    assert "tests/test_release.py tests/test_clean_corpus.py" in text


def test_a_fifo_named_license_is_no_licence_and_a_bad_source_toml_is_one_line(cli, tmp_path):
    src = write_set(tmp_path / "s")
    os.mkfifo(src / "LICENSE")
    out = tmp_path / "r.tar.gz"
    res = build(cli, out, src, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "has no licence file" in res.stderr and not out.exists()
    src2 = source(tmp_path / "s2", **{"source.toml": b"name = [unclosed"})
    res = build(cli, out, src2, corpus=clean_dir(tmp_path))
    assert res.exit_code == 2 and "source.toml cannot be read" in res.stderr and "Traceback" not in res.stderr


def test_agreement_gate_names_each_file_where_routed_and_plain_differ(tmp_path):
    """Routing never differs from plain yara-python on a correct set; the gate's report is checked by
    handing it two different sets as "routed" and "plain"."""
    from scanner.engine.compiler import RuleSource, compile_rules
    from scanner.updates import release_gates, signatures

    src = source(tmp_path / "s")
    sigset = signatures.SignatureSet.load(src, "test")
    gate, catalogue, routed = release_gates.compile_gate(sigset)
    assert gate.passed and routed is not None
    other = tmp_path / "other.yar"
    other.write_text(RULE_NEW)
    plain = compile_rules([RuleSource("other", other)], None, route=False)
    gates = {g.name: g for g in release_gates.probe_gates(sigset, catalogue, routed, plain, tmp_path / "probes")}
    assert gates["agreement"].failures == (
        "samples/Feed_Test_Alpha/alpha.bin.inert: routed scan finds Feed_Test_Alpha, plain yara-python nothing",
    )
