"""Hard links: within one scan a file's content is matched once, and every name still gets exactly the
detections it would get on its own, including those of rules that look at the file's name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yara
from conftest import REAL_PREPARE_START, wait_for_preparation

from scanner.engine import compiler as engine
from scanner.engine import prepare
from scanner.engine.compiler import CompiledRules, MatchFailed, RuleSource, compile_rules
from scanner.engine.sources import EXTERNALS
from scanner.scanning.facts import file_externals
from scanner.scanning.scan import HardLinks, scan_files
from scanner.scanning.walk import WalkOptions, walk

NAMED_RULES = r"""
private rule named_x { condition: filename contains "x" }
rule content { strings: $a = "LINK-A" condition: $a }
rule by_name { strings: $a = "LINK-A" condition: $a and filename endswith "evil.exe" }
rule by_ext { condition: extension == ".bad" and filesize > 0 }
rule by_dir { strings: $a = "LINK-A" condition: $a and filepath contains "deep" }
rule refers { strings: $a = "LINK-A" condition: named_x and $a }
rule content_only_elf { strings: $a = "LINK-A" condition: uint32(0) == 0x464C457F and $a }
"""


def gated(n: int) -> str:
    return "\n".join(
        f'rule pe_{i} {{ strings: $a = "PE-{i}" condition: uint16(0) == 0x5A4D and $a }}' for i in range(n)
    )


def linked_tree(root: Path) -> dict[str, int]:
    """Files with several names each, in several directories; returns name counts per content."""
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    contents = {
        "text": b"hello LINK-A world\n" * 3,
        "elf": b"\x7fELF\x02\x01LINK-A" + b"\0" * 300_000,
        "mz": b"MZ\x90\x00 LINK-A PE-3" + b"\0" * 1000,
        "clean": b"nothing to see\n",
    }
    names = ["evil.exe", "x.bad", "plain.txt", "a/deep/inner", "b/xname", "b/evil.exe"]
    for label, data in contents.items():
        first = root / f"{label}-{names[0]}" if "/" not in names[0] else root / names[0]
        first.write_bytes(data)
        for n in names[1:]:
            d, _, base = n.rpartition("/")
            os.link(first, root / d / f"{label}-{base}" if d else root / f"{label}-{base}")
    (root / "alone.bad").write_bytes(b"LINK-A")
    return {label: len(names) for label in contents}


def detections(rules: CompiledRules, root: Path, links: HardLinks | None = None) -> set[tuple[str, str]]:
    hits, _skipped, files, _ = scan_files(
        walk([os.fspath(root)], WalkOptions()), rules, jobs=2, timeout=60, max_filesize=None, links=links
    )
    assert files > 0
    return {(os.path.relpath(r.path, root), m.hit.rule) for r in hits for m in r.matches}


def one_by_one(rules: CompiledRules, root: Path) -> set[tuple[str, str]]:
    """Each name scanned on its own (no other name met in the same scan)."""
    out: set[tuple[str, str]] = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            path = Path(dirpath) / f
            hits, _, _, _ = scan_files(
                walk([os.fspath(path)], WalkOptions()), rules, jobs=1, timeout=60, max_filesize=None
            )
            out |= {(os.path.relpath(r.path, root), m.hit.rule) for r in hits for m in r.matches}
    return out


@pytest.fixture
def rule_files(tmp_path: Path) -> list[RuleSource]:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "named.yar").write_text(NAMED_RULES)
    (d / "gated.yar").write_text(gated(40))
    return [RuleSource(p.name, p) for p in sorted(d.glob("*.yar"))]


def test_routed_rules_match_each_content_once_and_name_rules_for_every_name(tmp_path, rule_files):
    root = tmp_path / "tree"
    counts = linked_tree(root)
    rules = compile_rules(rule_files, tmp_path / "cache")
    assert rules.routed and rules.shares_links
    links = HardLinks()
    got = detections(rules, root, links)
    assert got == one_by_one(rules, root)
    assert links.names == sum(n - 1 for n in counts.values())
    rules_hit = {rule for _, rule in got}
    assert rules_hit >= {"content", "by_name", "by_ext", "by_dir", "refers", "content_only_elf", "pe_3"}
    assert ("b/elf-xname", "refers") in got and ("a/deep/elf-inner", "by_dir") in got
    assert ("b/text-evil.exe", "by_name") in got and ("text-x.bad", "by_ext") in got
    assert ("text-plain.txt", "by_name") not in got and ("a/deep/elf-inner", "refers") not in got
    # from the compiled cache too, where the sets of name rules load lazily
    again = compile_rules(rule_files, tmp_path / "cache")
    assert detections(again, root) == got


def test_unrouted_rules_that_look_at_names_match_every_name_in_full(tmp_path):
    root = tmp_path / "tree"
    linked_tree(root)
    rules_file = tmp_path / "named.yar"
    rules_file.write_text(NAMED_RULES)
    rules = compile_rules([RuleSource("n", rules_file)])
    assert not rules.routed and not rules.shares_links
    links = HardLinks()
    assert detections(rules, root, links) == one_by_one(rules, root)
    assert links.names == 0


def test_unrouted_rules_that_ignore_names_share_every_match(tmp_path):
    root = tmp_path / "tree"
    counts = linked_tree(root)
    rules_file = tmp_path / "content.yar"
    rules_file.write_text('rule content { strings: $a = "LINK-A" condition: $a }')
    rules = compile_rules([RuleSource("c", rules_file)])
    assert rules.shares_links and not rules.routed
    links = HardLinks()
    got = detections(rules, root, links)
    assert got == one_by_one(rules, root)
    assert len(got) == 3 * counts["text"] + 1
    assert links.names == sum(n - 1 for n in counts.values())


def test_when_the_first_name_cannot_be_matched_the_others_are_matched_in_full(tmp_path, rule_files, monkeypatch):
    root = tmp_path / "tree"
    linked_tree(root)
    rules = compile_rules(rule_files)
    want = detections(rules, root)
    real = CompiledRules.match_fd
    failed: list[int] = []

    def flaky(self, fd, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not failed and os.fstat(fd).st_nlink > 1:
            failed.append(fd)
            raise MatchFailed("injected")
        return real(self, fd, *args, **kwargs)

    monkeypatch.setattr(CompiledRules, "match_fd", flaky)
    hits, skipped, _, _ = scan_files(
        walk([os.fspath(root)], WalkOptions()), rules, jobs=1, timeout=60, max_filesize=None
    )
    got = {(os.path.relpath(r.path, root), m.hit.rule) for r in hits for m in r.matches}
    assert len(skipped) == 1 and failed
    lost = os.path.relpath(skipped[0].path, root)
    assert got == {d for d in want if d[0] != lost}


def test_a_name_set_that_cannot_be_loaded_means_matching_in_full(tmp_path, rule_files):
    root = tmp_path / "tree"
    linked_tree(root)
    cache = tmp_path / "cache"
    want = detections(compile_rules(rule_files, cache), root)
    for blob in (cache / "routed").rglob("*.paths.yarc"):
        blob.write_bytes(b"garbage")
    links = HardLinks()
    assert detections(compile_rules(rule_files, cache), root, links) == want


def test_the_report_counts_the_names_matched_once(cli, tmp_path, rule_files, monkeypatch, scanner_home):
    """The first scan with these rules (some look at names) is unrouted and matches every name in full;
    once their routed sets are prepared, a further name takes the first name's content matches."""
    root = tmp_path / "tree"
    counts = linked_tree(root)
    monkeypatch.setattr(prepare, "start", REAL_PREPARE_START)
    first = cli("scan", root, "--rules", tmp_path / "rules", "--no-default-rules", "--format", "json", "--no-cache")
    assert first.exit_code == 1, first.stderr
    assert "preparation finished" in wait_for_preparation(scanner_home)
    res = cli("scan", root, "--rules", tmp_path / "rules", "--no-default-rules", "--format", "json", "--no-cache")
    assert res.exit_code == 1, res.stderr
    rep = json.loads(res.stdout)
    assert rep["hard_links"]["names"] == sum(n - 1 for n in counts.values())
    found = [{(d["path"], d["namespace"], d["rule"]) for d in json.loads(r.stdout)["detections"]} for r in (first, res)]
    assert found[0] == found[1]
    text = cli("scan", root, "--rules", tmp_path / "rules", "--no-default-rules", "--no-cache").stdout
    assert "further names (hard links) of files matched under another name" in text


def test_engine_keeps_name_rules_apart_in_its_cache_metadata(tmp_path, rule_files):
    cache = tmp_path / "cache"
    rules = compile_rules(rule_files, cache)
    meta = json.loads((cache / f"{rules.key}.json").read_text())
    assert ["named.yar", "by_name"] in meta["routing"]["path_rules"]
    assert ["named.yar", "refers"] in meta["routing"]["path_rules"]
    assert ["named.yar", "content"] not in meta["routing"]["path_rules"]
    assert engine.routing.VERSION >= 2


def test_rules_that_look_at_the_name_are_decided_from_their_name_terms_without_reading(tmp_path, monkeypatch):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    gateable = "\n".join(line for line in NAMED_RULES.splitlines() if "named_x" not in line)
    gateable += (
        '\nrule by_either { strings: $a = "LINK-A" condition: (filename == "x.bad" and $a) or '
        '(extension == ".txt" and #a > 1) }'
    )
    (rules_dir / "named.yar").write_text(gateable)
    (rules_dir / "gated.yar").write_text(gated(40))
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    root = tmp_path / "tree"
    counts = linked_tree(root)
    rules = compile_rules(sources, tmp_path / "cache")
    want = one_by_one(rules, root)
    calls: list[int] = []
    real = CompiledRules._match

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(CompiledRules, "_match", counting)
    links = HardLinks()
    assert detections(rules, root, links) == want
    names = sum(counts.values()) + 1  # and alone.bad
    assert links.names == sum(n - 1 for n in counts.values())
    assert len(calls) <= names - len(counts), calls  # several further names needed no matching at all
    assert {rule for _, rule in want} >= {"by_name", "by_ext", "by_dir", "by_either", "content"}


# --- counter-examples of issue 15, each against plain yara-python --------------------------------------


def plain_yara(sources: list[RuleSource], root: Path) -> set[tuple[str, str]]:
    """What yara-python alone finds for every name under ``root``, with the scanner's externals."""
    compiled = yara.compile(
        filepaths={s.namespace: os.fsdecode(s.path) for s in sources}, externals=dict.fromkeys(EXTERNALS, "")
    )
    out: set[tuple[str, str]] = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                head = fh.read(16)
            found = compiled.match(path, externals=file_externals(path, head, os.stat(path).st_uid))
            out |= {(os.path.relpath(path, root), m.rule) for m in found}
    return out


OR_UNDER_AND = (
    '$a and (filename == "a.exe" and $b or $c)',
    '$a and ($c or filename == "a.exe" and $b)',
    '$a and (filename != "a.exe" and $b or $c)',
    '(filename == "b.exe" and $b or $c) and $a',
    '$a and (extension == ".dll" and filename == "a.exe" or filename == "b.exe") and #b >= 0 and #c >= 0',
)


def links_both_ways(root: Path, contents: dict[str, bytes], names: tuple[str, str]) -> None:
    """Each content under both names, linked, once with each name met first (the walk goes by name)."""
    for label, data in contents.items():
        for order, (first, second) in enumerate((names, names[::-1])):
            one, two = root / f"{label}{order}-1", root / f"{label}{order}-2"
            one.mkdir(parents=True)
            two.mkdir(parents=True)
            (one / first).write_bytes(data)
            os.link(one / first, two / second)


@pytest.mark.parametrize("condition", OR_UNDER_AND)
def test_an_or_inside_an_and_is_one_term_for_every_name_of_a_hard_link(tmp_path, condition):
    """``$a and (filename == "a.exe" and $b or $c)``: ``and`` binds tighter than ``or``, so the name term
    gates only one branch of the parenthesis; every name of a linked file gets what yara gives it."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    rule = f'rule or_inside {{ strings: $a = "OR-A" $b = "OR-B" $c = "OR-C" condition: {condition} }}'
    (rules_dir / "or.yar").write_text(rule)
    (rules_dir / "gated.yar").write_text(gated(40))
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    root = tmp_path / "tree"
    contents = {"ac": b"OR-A OR-C\n", "ab": b"OR-A OR-B\n", "abc": b"OR-A OR-B OR-C\n", "a": b"OR-A\n"}
    links_both_ways(root, contents, ("a.exe", "b.exe"))
    rules = compile_rules(sources, tmp_path / "cache")
    assert rules.routed and rules.shares_links
    want = plain_yara(sources, root)
    hit = {name for name, rule in want if rule == "or_inside"}
    assert 0 < len(hit) < 4 * len(contents)  # some names of a linked file match, and some do not
    links = HardLinks()
    assert detections(rules, root, links) == want
    assert links.names == 2 * len(contents)


INCLUDED_NAMED = r"""
rule inc_name { strings: $a = "INC-LINK" condition: $a and filename == "b.exe" }
"""


def test_name_rules_behind_an_include_are_matched_for_every_name(tmp_path):
    """A file that goes whole because it includes others counts as looking at names when what it
    includes does: the second name of a hard link is not decided from the first."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "named.inc").write_text(INCLUDED_NAMED)
    (rules_dir / "index.yar").write_text('include "named.inc"\n')
    (rules_dir / "gated.yar").write_text(gated(40))
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    root = tmp_path / "tree"
    links_both_ways(root, {"t": b"INC-LINK\n", "mz": b"MZ\x90\x00 INC-LINK PE-2"}, ("a.exe", "b.exe"))
    rules = compile_rules(sources, tmp_path / "cache")
    assert rules.routed
    want = plain_yara(sources, root)
    assert ("t0-2/b.exe", "inc_name") in want and ("t0-1/a.exe", "inc_name") not in want
    assert detections(rules, root, HardLinks()) == want
