"""Routing rules by file type and size: the analysis, and proof that routed scans find exactly what unrouted ones do."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yara

from scanner.engine import analysis, compiler, routing, sources, syntax
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.engine.sources import EXTERNALS
from scanner.scanning.facts import file_externals
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk

SIGNATURE_BASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "signature-base" / "yara"
MZ, ELF = b"MZ", b"\x7fE"


def analysed(text: str) -> dict[str, analysis.RuleInfo]:
    fa = analysis.analyse("ns", "/x.yar", text.encode())
    assert fa.whole == "", fa.whole
    return {r.name: r for r in fa.rules}


def prefixes(cond: str, pre: str = "", imports: str = 'import "pe"\nimport "elf"\n') -> frozenset[bytes] | None:
    rules = analysed(f'{imports}{pre}\nrule t {{ strings: $a = "x" condition: {cond} }}')
    return rules["t"].prefixes


# --- the lexer ---------------------------------------------------------------------------------------


def test_lexer_reads_strings_regexes_hex_and_comments_as_units():
    src = r"""
    /* a comment with rule x { } and "quotes" */
    rule a : tag1 tag2 {  // line comment with {
      meta: author = "me // not a comment" n = 3
      strings:
        $s = "a \"quoted\" } brace" wide
        $r = /ab\/c[}{]+ \/\/ x/is
        $h = { 4D 5A [2-4] ( 90 | ?? ) // a } in a hex comment
               /* and } here */ 00 }
      condition: $s and #r > 2 and !r[1] != 3 and @h[1] == 0 and filesize < 2MB and uint16(0) \ 2 == 1
    }"""
    toks = syntax.tokenize(src)
    kinds = {t.text: t.kind for t in toks}
    assert kinds['"a \\"quoted\\" } brace"'] is syntax.TokenKind.TEXT
    assert kinds[r"/ab\/c[}{]+ \/\/ x/is"] is syntax.TokenKind.REGEX
    assert any(t.kind is syntax.TokenKind.HEX and t.text.endswith("00 }") for t in toks)
    assert kinds["!r"] is syntax.TokenKind.STRING_ID and kinds["!="] is syntax.TokenKind.PUNCT
    assert kinds["2MB"] is syntax.TokenKind.NUMBER
    assert [t.text for t in toks].count("}") == 1  # only the rule's closing brace is punctuation
    assert "\\" in [t.text for t in toks]  # division is an operator


def test_unreadable_sources_go_whole():
    assert analysis.analyse("ns", "/x", b'include "other.yar"\nrule a { condition: true }').whole == "uses include"
    assert analysis.analyse("ns", "/x", b'rule a { strings: $a = "caf\xe9" condition: $a }').whole == "not UTF-8"
    assert analysis.analyse("ns", "/x", b"rule a { condition: true ").whole
    assert analysis.analyse("ns", "/x", b"rule a { condition: ` }").whole
    assert analysis.analyse("ns", "/x", b"global rule g { condition: true } rule a { condition: true }").whole


# --- the analysis -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("uint16(0) == 0x5A4D and $a", {MZ}),
        ("$a and 0x5a4d == uint16(0)", {MZ}),
        ("uint16be(0) == 0x4D5A and $a", {MZ}),
        ("uint8(0) == 0x4D and uint8(1) == 0x5A and $a", {MZ}),
        ("uint32(0) == 0x464C457F and $a", {ELF}),
        ("uint32be(0) == 0x7F454C46 and $a", {ELF}),
        ("(uint16(0) == 0x5A4D or uint32(0) == 0x464C457F) and $a", {MZ, ELF}),
        ("uint16(0) == 0x5A4D and $a or uint16(0) == 0x457F and $a", {MZ, ELF}),
        ("pe.is_pe and $a", {MZ}),
        ("pe.number_of_sections > 2 and $a", {MZ}),
        ('pe.imphash() == "abc" and $a', {MZ}),
        ('pe.exports("Run") and $a', {MZ}),
        ("elf.type == elf.ET_EXEC and $a", {ELF}),
        ("filesize < 1MB and (uint16(0) == 0x5A4D and $a)", {MZ}),
        # ``not`` keeps an undefined value undefined; a loop over an undefined range is false; so is a string
        # at an undefined offset
        ("not pe.number_of_signatures > 0 and $a", {MZ}),
        ('$a and not (pe.imphash() == "abc")', {MZ}),
        ('for any i in (0..pe.number_of_sections - 1): (pe.sections[i].name == ".x") and $a', {MZ}),
        ("for all i in (pe.number_of_sections .. 2): (true) and $a", {MZ}),
        ("$a at pe.entry_point", {MZ}),
        ("$a in (0 .. pe.entry_point + 0x100)", {MZ}),
        ("$a at elf.entry_point", {ELF}),
        # nothing provable: any file
        ("$a", None),
        ("not uint16(0) == 0x5A4D and $a", None),
        ("not pe.is_pe and $a", None),
        ("pe.is_pe == 0 and $a", None),
        ("pe.DLL == 0x2000 and $a", None),
        ("not defined pe.number_of_sections and $a", None),
        ("uint16(0) == 0x5A4D and $a or $a", None),
        ("uint16(0) == 0x5A4D or 3 of them", None),
        ("uint8(0) == 0x4D and $a", None),  # one byte pins no prefix
        ("int16(0) == 0x5A4D and $a", None),  # signed readers are left alone
        ("uint16(2) == 0x5A4D and $a", None),
        ("not pe.DLL and $a", None),
        ("not (pe.is_pe) and $a", None),
        ("not for any i in (0..pe.number_of_sections): (true) and $a", None),
        ("for any i in (0..#a): (true) and $a", None),
        ("for any i in (0, pe.number_of_sections): (true) and $a", None),
        ('for any s in pe.sections: (s.name == ".x") and $a', None),
        ("$a at pe.sections[0].raw_data_offset", None),
        ("$a at pe.rva_to_offset(0)", None),
        ("$a at pe.DLL", None),
        ("(for any i in (0..pe.number_of_sections): (true)) or $a", None),
    ],
)
def test_required_prefixes(cond, expected):
    got = prefixes(cond)
    assert got == (frozenset(expected) if expected is not None else None), cond


def test_string_at_zero_routes_only_plain_strings():
    pre = ""
    cases = {
        '$mz = "MZ"': {MZ},
        '$mz = "MZ" ascii fullword': {MZ},
        "$mz = { 4D 5A 90 00 }": {MZ},
        '$mz = "\\x7fELF"': {ELF},
        '$mz = "MZ" nocase': None,
        '$mz = "MZ" wide': None,
        '$mz = "MZ" xor': None,
        "$mz = { 4D ?? 90 }": None,
        "$mz = /MZ/": None,
    }
    for sdef, expected in cases.items():
        rules = analysed(f'{pre}rule t {{ strings: {sdef} $a = "x" condition: $mz at 0 and $a }}')
        assert rules["t"].prefixes == (frozenset(expected) if expected else None), sdef


def test_references_private_and_global_rules_carry_their_constraints():
    rules = analysed("""
    private rule is_pe { condition: uint16(0) == 0x5A4D }
    rule uses_private { strings: $a = "x" condition: is_pe and $a }
    rule not_private { strings: $a = "x" condition: not is_pe and $a }
    rule other { strings: $a = "y" condition: $a }
    rule set_ref { condition: any of (uses*) }
    """)
    assert rules["uses_private"].prefixes == {MZ}
    assert rules["uses_private"].references == {"is_pe"}
    assert rules["not_private"].prefixes is None
    assert rules["set_ref"].references == {"uses_private"}
    glob = analysed("""
    global private rule only_elf { condition: uint32(0) == 0x464C457F and filesize < 100KB }
    rule any_string { strings: $a = "x" condition: $a }
    """)
    assert glob["any_string"].prefixes == {ELF}
    assert glob["any_string"].max_size == 100 * 1024 - 1


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("filesize < 1MB and $a", 1024 * 1024 - 1),
        ("filesize <= 2KB and $a", 2048),
        ("100 > filesize and $a", 99),
        ("$a and (filesize < 10 or filesize < 20)", 19),
        ("filesize < 10 and $a or $a", None),
        ("filesize > 10 and $a", None),
        ("not filesize < 10 and $a", None),
    ],
)
def test_size_bounds(cond, expected):
    assert analysed(f'rule t {{ strings: $a = "x" condition: {cond} }}')["t"].max_size == expected


def test_plan_keeps_namespaces_imports_dependencies_and_sends_unroutable_files_whole():
    text = """import "pe"
    private rule helper { condition: uint16(0) == 0x5A4D }
    private rule unused { condition: true }
    rule r_pe { strings: $a = "x" condition: helper and pe.number_of_sections > 0 and $a }
    rule r_any { strings: $a = "x" condition: $a }
    """
    a = analysis.analyse("one.yar", "/r/one.yar", text.encode())
    b = analysis.analyse("two.yar", "/r/two.yar", b'include "x.yar"')
    plan = routing.plan([a, b], min_rules=1, min_share=0, size_edges=())
    assert plan is not None and plan.prefixes == (MZ,)
    by_route = {route: s for s in plan.sets for route in s.routes}
    pe_src = by_route[(MZ, 0)].sources
    other_src = by_route[(b"", 0)].sources
    assert set(pe_src) == set(other_src) == {"one.yar", "two.yar"}
    assert pe_src["two.yar"] == other_src["two.yar"] == 'include "/r/two.yar"\n'
    assert 'import "pe"' in pe_src["one.yar"] and "rule helper" in pe_src["one.yar"] and "r_pe" in pe_src["one.yar"]
    assert "unused" not in pe_src["one.yar"]
    assert "r_pe" not in other_src["one.yar"] and "helper" not in other_src["one.yar"]
    assert "import" not in other_src["one.yar"]  # no rule left there uses pe: YARA would run it on every file
    assert plan.whole == {"two.yar": "uses include"}


def test_branches_that_cannot_hold_for_a_set_are_replaced_by_false_keeping_their_strings_named():
    text = """import "pe"
    rule r { strings: $a = "x" $b = "y" $c = "z"
      condition: (uint16(0) == 0x5A4D and pe.number_of_sections > 1 and #a > 2) or $b or ($c and (pe.is_dll() or $b)) }
    rule t { strings: $ = "x" $b = "y" condition: (pe.imphash() == "ab" and 2 of them) or $b }
    rule n { strings: $a = "x" condition: not (pe.is_pe and $a or $a) }
    """ + gated_rules(20, "uint16(0) == 0x5A4D", "PEGATE")
    plan = routing.plan([analysis.analyse("ns", "/r/ns.yar", text.encode())], size_edges=())
    assert plan is not None
    by_route = {route: s for s in plan.sets for route in s.routes}
    other, mz = by_route[(b"", 0)].sources["ns"], by_route[(MZ, 0)].sources["ns"]
    assert "(false and any of ($a)) or $b or ($c and (false or $b))" in other
    assert "(false and any of them) or $b" in other
    assert "not (pe.is_pe and $a or $a)" in other  # nothing is rewritten under ``not``
    assert "pe.number_of_sections > 1 and #a > 2" in mz and "false" not in mz
    assert 'import "pe"' in other and 'import "pe"' in mz  # rule n still needs it
    without_n = text.replace("rule n {", "private rule n {").replace(
        "condition: not (pe.is_pe and $a or $a)", "condition: false"
    )
    plan = routing.plan([analysis.analyse("ns", "/r/ns.yar", without_n.encode())], size_edges=())
    assert plan is not None
    assert 'import "pe"' not in {route: s for s in plan.sets for route in s.routes}[(b"", 0)].sources["ns"]


# --- routed and unrouted scans agree ------------------------------------------------------------------

TRICKY_RULES = r"""
import "pe"
import "elf"
private rule is_mz { condition: uint16(0) == 0x5A4D }
private rule is_elf { condition: uint32(0) == 0x464C457F }
rule mz_or_elf { strings: $a = "TRICK-A" condition: (is_mz or is_elf) and $a }
rule not_mz { strings: $a = "TRICK-A" condition: not is_mz and $a }
rule mz_or_strings { strings: $a = "TRICK-A" $b = "TRICK-B" condition: is_mz and $a or all of them }
rule mz_small { strings: $a = "TRICK-A" condition: is_mz and filesize < 200KB and $a }
rule mz_big_only { strings: $a = "TRICK-A" condition: uint16(0) == 0x5A4D and filesize > 200KB and $a }
rule any_small { strings: $a = "TRICK-B" condition: filesize < 100KB and $a }
rule at_zero { strings: $mz = { 4D 5A } $a = "TRICK-A" condition: $mz at 0 and $a }
rule pe_module { strings: $a = "TRICK-A" condition: not pe.is_pe and $a }
rule ref_public { condition: mz_or_elf and filesize < 1MB }
rule elf_only { strings: $a = "TRICK-B" condition: uint32be(0) == 0x7F454C46 and $a }
rule text_magic { strings: $a = "TRICK-A" condition: uint16(0) == 0x2123 and $a }
rule dead_branches { strings: $a = "TRICK-A" $b = "TRICK-B" condition:
    (uint16(0) == 0x5A4D and pe.number_of_sections > 0 and $a) or (not pe.is_dll() and $b)
    or (filesize > 1000KB and uint32(0) == 0x464C457F and #a > 0) or ($b and (is_elf or @a[1] > 2)) }
rule dead_them { strings: $a = "TRICK-A" $ = "TRICK-B" condition: (is_mz and 2 of them) or filesize < 10 }
rule not_loop { strings: $a = "TRICK-A" condition: not for any i in (0..pe.number_of_sections): (true) and $a }
rule loop_or { strings: $a = "TRICK-A" condition:
    (for any i in (0..pe.number_of_sections - 1): (pe.sections[i].name == ".text") and $a) or $a at 0 or $a at 6 }
rule not_or_dead { strings: $a = "TRICK-A" condition: not (is_mz and $a or is_elf) and $a }
"""


def gated_rules(n: int, gate: str, marker: str) -> str:
    return "\n".join(f'rule {marker}_{i} {{ strings: $a = "{marker}-{i}" condition: {gate} and $a }}' for i in range(n))


def write_samples(d: Path) -> None:
    d.mkdir()
    bodies = {"a": b"TRICK-A", "b": b"TRICK-B", "ab": b"TRICK-A TRICK-B"}
    heads = {"mz": b"MZ\x90\x00", "elf": b"\x7fELF\x02\x01", "sh": b"#!/bin/sh\n", "txt": b"plain "}
    for hname, head in heads.items():
        for bname, body in bodies.items():
            for size in (0, 150 * 1024, 300 * 1024, 1100 * 1024):
                extra = b"".join(f" PEGATE-{i} ELFGATE-{i}".encode() for i in range(0, 30, 7))
                data = head + body + extra
                data += b"\0" * max(0, size - len(data))
                (d / f"{hname}-{bname}-{size}").write_bytes(data)
    (d / "empty").write_bytes(b"")
    (d / "one").write_bytes(b"M")
    (d / "mz-only").write_bytes(b"MZ")


def detections(rules, root: Path) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    hits, _skipped, files, _ = scan_files(
        walk([os.fspath(root)], WalkOptions()), rules, jobs=2, timeout=60, max_filesize=None
    )
    assert files > 0
    return {(Path(r.path).name, m.hit.namespace, m.hit.rule) for r in hits for m in r.matches}


def test_routed_scan_finds_exactly_what_the_unrouted_scan_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (100 * 1024, 1024 * 1024))
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "tricky.yar").write_text(TRICKY_RULES)
    (rules_dir / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    (rules_dir / "elf_heavy.yar").write_text(gated_rules(30, "uint32(0) == 0x464C457F and filesize < 200KB", "ELFGATE"))
    (rules_dir / "inc.yar").write_text('include "tricky.yar"\n')
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    samples = tmp_path / "samples"
    write_samples(samples)
    routed = compile_rules(sources, tmp_path / "cache")
    unrouted = compile_rules(sources, route=False)
    assert routed.routed and not unrouted.routed
    assert {r.name for r in routed.routes} >= {"4d5a.0", "7f45.0", "any.0"}
    want = detections(unrouted, samples)
    got = detections(routed, samples)
    assert got == want
    assert len(want) > 100
    assert {rule for _, _, rule in want} >= {
        "mz_or_elf",
        "not_mz",
        "mz_or_strings",
        "mz_small",
        "mz_big_only",
        "any_small",
        "at_zero",
        "pe_module",
        "ref_public",
        "elf_only",
        "text_magic",
        "dead_branches",
        "dead_them",
        "not_loop",
        "loop_or",
        "not_or_dead",
    }
    # and again from the compiled cache, where every set loads lazily: no file needed the whole set
    cached = compile_rules(sources, tmp_path / "cache")
    assert cached.loaded() == []
    assert detections(cached, samples) == want
    assert "full" not in cached.loaded() and "any.0" in cached.loaded()


def test_a_file_whose_head_changes_during_the_match_is_matched_against_every_rule(tmp_path, monkeypatch):
    rules = tmp_path / "r.yar"
    rules.write_text(gated_rules(20, "uint16(0) == 0x5A4D", "PEGATE"))
    compiled = compile_rules([RuleSource("r", rules)])
    assert compiled.routed
    target = tmp_path / "t.exe"
    target.write_bytes(b"MZ PEGATE-3")
    fd = os.open(target, os.O_RDONLY)
    try:
        # the routing facts say "not MZ", the file says MZ: the engine notices and uses the whole set
        stale = compiled.match_fd(fd, {}, 10, head=b"XX", size=target.stat().st_size)
        assert [m.hit.rule for m in stale] == ["PEGATE_3"]
        stale = compiled.match_fd(fd, {}, 10, head=b"MZ", size=5)
        assert [m.hit.rule for m in stale] == ["PEGATE_3"]
    finally:
        os.close(fd)


def test_a_damaged_routed_set_falls_back_to_the_whole_set(tmp_path):
    rules = tmp_path / "r.yar"
    rules.write_text(gated_rules(20, "uint16(0) == 0x5A4D", "PEGATE"))
    cache = tmp_path / "cache"
    compile_rules([RuleSource("r", rules)], cache)
    for blob in (cache / "routed").rglob("*.yarc"):
        blob.write_bytes(b"garbage")
    compiled = compile_rules([RuleSource("r", rules)], cache)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.exe").write_bytes(b"MZ PEGATE-7")
    assert detections(compiled, tmp_path / "d") == {("x.exe", "r", "PEGATE_7")}
    assert "full" in compiled.loaded()


def test_the_fallbacks_and_the_cache_say_what_they_decided(tmp_path, caplog):
    """A routing fault must not show only as a slowdown: the fallback to the whole set logs a warning
    naming the set, and a cache miss, a compile and a cache hit are logged."""
    rules = tmp_path / "r.yar"
    rules.write_text(gated_rules(20, "uint16(0) == 0x5A4D", "PEGATE"))
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        compile_rules([RuleSource("r", rules)], cache)
    assert "cache miss" in caplog.text and "routing planned" in caplog.text
    for blob in (cache / "routed").rglob("*.yarc"):
        blob.write_bytes(b"garbage")
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules([RuleSource("r", rules)], cache)
        target = tmp_path / "x.txt"
        target.write_bytes(b"XX PEGATE-7")
        fd = os.open(target, os.O_RDONLY)
        try:
            assert compiled.match_fd(fd, {}, 10, head=b"XX", size=target.stat().st_size) == []
        finally:
            os.close(fd)
    assert "cache hit" in caplog.text
    fallback = [r for r in caplog.records if r.levelname == "WARNING" and "cannot be loaded" in r.getMessage()]
    assert fallback and "any.0" in fallback[0].getMessage() and "scan unrouted" in fallback[0].getMessage()


def test_only_the_newest_routed_sets_are_kept(tmp_path):
    rules = tmp_path / "r.yar"
    cache = tmp_path / "cache"
    for k in range(5):
        rules.write_text(gated_rules(20 + k, "uint16(0) == 0x5A4D", "PEGATE"))
        compile_rules([RuleSource("r", rules)], cache)
        # older sets, older times: directories made within one clock tick would otherwise tie
        for n, d in enumerate(sorted((cache / "routed").iterdir(), key=lambda d: d.stat().st_mtime_ns)):
            os.utime(d, ns=(n * 10**9, n * 10**9))
    assert len(list((cache / "routed").iterdir())) == 3
    latest = compile_rules([RuleSource("r", rules)], cache)
    assert latest.routed and latest.routes


def test_small_or_unroutable_sets_are_not_routed(tmp_path):
    rules = tmp_path / "r.yar"
    rules.write_text('rule a { strings: $a = "x" condition: $a }')
    assert not compile_rules([RuleSource("r", rules)]).routed


# --- the real rule collection -------------------------------------------------------------------------

needs_signature_base = pytest.mark.skipif(not SIGNATURE_BASE.is_dir(), reason="signature-base is not beside the repo")


@needs_signature_base
def test_module_gates_used_by_signature_base_are_false_for_other_formats():
    """Every module term routing trusts (``pe.x``, ``not pe.x``, loops over a ``pe.`` range, ``$a at pe.x``)
    really is false, in this libyara, for files of other formats, even where its strings match everywhere."""
    terms = sorted(
        {t for p in SIGNATURE_BASE.glob("*.yar") for t in analysis.analyse(p.name, str(p), p.read_bytes()).format_terms}
    )
    assert len(terms) > 50
    assert any(t.startswith("not ") for t in terms) and any(t.startswith("for ") for t in terms)
    others = {
        "pe": [b"", b"\x7fELF\x02\x01\x01" + b"\0" * 200, b"hello world\n" * 30, b"M", b"MZ"],
        "elf": [b"", b"MZ\x90\x00" + b"\0" * 200, b"hello world\n" * 30, b"\x7fE"],
    }
    for term in terms:
        module = re.search(r"\b(pe|elf|dotnet) \.", term)
        assert module is not None, term
        names = dict.fromkeys(
            t.text[1:]
            for t in syntax.tokenize(term)
            if t.kind is syntax.TokenKind.STRING_ID and t.text[1:].isidentifier()
        )
        strings = " ".join(f"${n} = /[\\x00-\\xff]/" for n in names)  # matches at every offset
        rules = yara.compile(
            source='import "pe"\nimport "elf"\nimport "dotnet"\nimport "math"\n'
            f"rule t {{ {'strings: ' + strings if names else ''} condition: {term} }}"
        )
        for data in others["elf" if module.group(1) == "elf" else "pe"]:
            assert not rules.match(data=data), (term, data[:8])


def _rule_strings(text: str) -> list[bytes]:
    """Plain text strings of a rule file (enough to make many of its rules match)."""
    out = []
    for m in re.finditer(r'\$\w*\s*=\s*"((?:\\.|[^"\\\n])*)"([^\n]*)', text):
        data = syntax.text_bytes(f'"{m.group(1)}"')
        if data:
            out.append(data)
            if "wide" in m.group(2):
                out.append(data.decode("latin-1").encode("utf-16-le"))
    return out


@needs_signature_base
def test_signature_base_routed_and_unrouted_detections_are_identical(tmp_path):
    files = sorted(SIGNATURE_BASE.glob("*.yar"))
    sources = [RuleSource(p.name, p) for p in files]
    samples = tmp_path / "samples"
    samples.mkdir()
    heads = {"mz": b"MZ\x90\x00\x03\x00", "elf": b"\x7fELF\x02\x01\x01\x00", "txt": b"<?php ", "raw": b"\x00\x01"}
    for k, p in enumerate(files):
        strings = _rule_strings(p.read_text(encoding="utf-8", errors="replace"))
        if not strings:
            continue
        body = b"\n".join(strings)
        for name, head in heads.items():
            size = (2 << 20) if k % 17 == 0 else 0  # some past the first size edge
            data = head + b"\n" + body
            (samples / f"{p.stem}.{name}").write_bytes(data + b"\0" * max(0, size - len(data)))
    routed = compile_rules(sources, tmp_path / "cache")
    unrouted = compile_rules(sources, route=False)
    assert routed.routed
    want = detections(unrouted, samples)
    assert len(want) > 1000
    assert detections(routed, samples) == want


def test_alternatives_keep_their_prefix_and_size_together():
    rules = analysed('rule t { strings: $gif = "GIF89a" $a = "x" condition: $a and (filesize < 1000 or $gif at 0) }')
    t = rules["t"]
    assert t.prefixes is None and t.max_size is None  # apart, the two bounds say nothing
    chosen = frozenset({MZ, ELF})
    assert not routing.may_match(t, ELF, 1 << 20, chosen)  # together: no big ELF file
    assert routing.may_match(t, ELF, 0, chosen)  # a small one may
    assert routing.may_match(t, b"", 1 << 20, chosen)  # a big GIF may


# --- counter-examples of issue 15, each against plain yara-python ------------------------------------


def plain_yara(sources: list[RuleSource], root: Path) -> set[tuple[str, str, str]]:
    """What yara-python alone finds under ``root``, with the externals the scanner passes (file_externals)."""
    compiled = yara.compile(
        filepaths={s.namespace: os.fsdecode(s.path) for s in sources},
        externals=dict.fromkeys(EXTERNALS, ""),
        includes=True,
    )
    out: set[tuple[str, str, str]] = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                head = fh.read(16)
            externals = file_externals(path, head, os.stat(path).st_uid)
            out |= {(f, m.namespace, m.rule) for m in compiled.match(path, externals=externals)}
    return out


NOT_AND_RULES = r"""
import "pe"
rule unsigned { strings: $a = "NOTAND-A" condition: $a and not (pe.is_signed and pe.number_of_signatures > 0) }
rule unsigned_or { strings: $a = "NOTAND-B" condition: $a or not (pe.number_of_signatures > 0 and pe.is_signed) }
rule unsigned_or_and { strings: $a = "NOTAND-C"
    condition: filesize < 1 or ($a and not (pe.number_of_sections > 0 and $a)) }
"""


def test_a_module_conjunction_under_not_never_narrows_the_file_type(tmp_path):
    """``not (pe.x and pe.y)`` is true for a file that is not PE (YARA's ``and`` makes undefined false):
    neither the rule nor an ``or`` branch holding it may be left out of the sets for other files."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "notand.yar").write_text(NOT_AND_RULES)
    (rules_dir / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "run.sh").write_bytes(b"#!/bin/sh\necho NOTAND-A NOTAND-C\n")
    (samples / "plain.txt").write_bytes(b"nothing here\n")
    (samples / "x.exe").write_bytes(b"MZ\x90\x00 NOTAND-A PEGATE-3" + b"\0" * 512)
    routed = compile_rules(sources, tmp_path / "cache")
    assert routed.routed
    want = plain_yara(sources, samples)
    assert {("run.sh", "notand.yar", "unsigned"), ("plain.txt", "notand.yar", "unsigned_or")} <= want
    assert ("run.sh", "notand.yar", "unsigned_or_and") in want
    assert detections(routed, samples) == want
    assert detections(compile_rules(sources, tmp_path / "cache"), samples) == want  # from the cache too
    assert analysed(NOT_AND_RULES)["unsigned"].prefixes is None


INCLUDED_NAMED = r"""
rule by_name { strings: $a = "INC-NAME" condition: $a and filename == "b.exe" }
"""


def test_an_include_anywhere_on_its_line_is_followed_for_externals(tmp_path):
    """An include after other text (a rule, a comment) is seen: the externals its rules use are passed."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "named.inc").write_text(INCLUDED_NAMED)
    (rules_dir / "index.yar").write_text('rule other { condition: false } /* the names */ include "named.inc"\n')
    sources = [RuleSource("index.yar", rules_dir / "index.yar")]
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "b.exe").write_bytes(b"INC-NAME\n")
    cache = tmp_path / "cache"
    want = plain_yara(sources, samples)
    assert want == {("b.exe", "index.yar", "by_name")}
    assert detections(compile_rules(sources, cache), samples) == want
    assert detections(compile_rules(sources, cache), samples) == want


def test_a_change_to_a_file_included_mid_line_is_a_new_compiled_form(tmp_path):
    """The compiled-rule cache is keyed by every file libyara reads, wherever its include stands."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "one.inc").write_text('rule one { strings: $a = "INC-ONE" condition: $a }\n')
    (rules_dir / "index.yar").write_text('import "math" include "one.inc"\n')
    sources = [RuleSource("index.yar", rules_dir / "index.yar")]
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "t.txt").write_bytes(b"INC-ONE INC-TWO\n")
    cache = tmp_path / "cache"
    assert detections(compile_rules(sources, cache), samples) == plain_yara(sources, samples) != set()
    (rules_dir / "one.inc").write_text('rule two { strings: $a = "INC-TWO" condition: $a }\n')
    want = plain_yara(sources, samples)
    assert want == {("t.txt", "index.yar", "two")}
    assert detections(compile_rules(sources, cache), samples) == want


def test_a_rule_path_with_a_backslash_is_never_written_into_an_include(tmp_path, caplog):
    """libyara reads an include's name as written: a routed set must not include a file of another name."""
    rules_dir = tmp_path / "ru\\les"
    rules_dir.mkdir()
    (rules_dir / "inc.yar").write_text('include "real.inc"\n')
    (rules_dir / "real.inc").write_text('rule real { strings: $a = "REAL-INC" condition: $a }\n')
    (rules_dir / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    decoy = tmp_path / "ru\\\\les"  # what an escaped include would name
    decoy.mkdir()
    (decoy / "inc.yar").write_text('rule decoy { strings: $a = "REAL-INC" condition: $a }\n')
    sources = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "t.txt").write_bytes(b"REAL-INC\n")
    (samples / "x.exe").write_bytes(b"MZ\x90\x00 PEGATE-1 REAL-INC")
    want = plain_yara(sources, samples)
    assert ("t.txt", "inc.yar", "real") in want
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules(sources, tmp_path / "cache")
    assert detections(compiled, samples) == want
    assert "cannot be written in an include statement" in caplog.text


def test_an_include_libyara_reads_but_the_key_missed_means_no_cache_and_every_external(tmp_path, monkeypatch, caplog):
    """libyara reports every file it includes; one the key was not computed from (simulated here by a scan
    that finds no include) is not cached, gets every external and is scanned unrouted, as logged."""
    monkeypatch.setattr(sources, "_INCLUDE_RE", re.compile(rb"(?!)"))
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "named.inc").write_text(INCLUDED_NAMED)
    (rules_dir / "index.yar").write_text('include "named.inc"\n')
    (rules_dir / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    srcs = [RuleSource(p.name, p) for p in sorted(rules_dir.glob("*.yar"))]
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "b.exe").write_bytes(b"INC-NAME\n")
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules(srcs, cache)
    assert "not found by reading the rule files" in caplog.text
    assert not compiled.routed and compiled.uses == frozenset(EXTERNALS)
    assert detections(compiled, samples) == plain_yara(srcs, samples) == {("b.exe", "index.yar", "by_name")}
    assert not (cache / f"{compiled.key}.json").exists()


def test_a_scan_that_starts_unrouted_saves_no_compiled_set(tmp_path, monkeypatch):
    """libyara's save rewrites a compiled set in place while it writes it out, so saving a set that a scan
    thread is matching crashes the process (it did, when routed sets were built and saved in a thread beside
    the scan). A scan process that compiled its rules afresh saves none; every set is compiled and saved by
    the preparation (``compiler.prepare``), a process that matches nothing."""
    saves: list[str] = []
    save_blob = compiler._save_blob

    def saving(path: Path, rules: yara.Rules) -> None:
        saves.append(path.name)
        save_blob(path, rules)

    monkeypatch.setattr(compiler, "_save_blob", saving)
    rules = tmp_path / "r.yar"
    rules.write_text(
        gated_rules(20, "uint16(0) == 0x5A4D", "PEGATE")
        + '\nrule named { strings: $a = "NAMED" condition: $a and filename == "x.exe" }\n'
    )
    sources = [RuleSource("r", rules)]
    compiled = compile_rules(sources, tmp_path / "cache", background=True)
    write_samples(tmp_path / "samples")
    assert detections(compiled, tmp_path / "samples")
    assert saves == []
    assert compiler.prepare(sources, tmp_path / "cache")
    assert f"{compiled.key}.yarc" in saves and len(saves) > 3
