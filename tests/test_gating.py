"""Content gates: the prefilter forms of strings, the condition trees, and proof that gated scans find
exactly what unrouted scans find."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from scanner.engine import gating, prefilter, routing, syntax
from scanner.engine.compiler import RuleSource, compile_rules
from tests.test_routing import SIGNATURE_BASE, detections, needs_signature_base

needs_prefilter = pytest.mark.skipif(not prefilter.available(), reason="Hyperscan is not installed")


def _rendering(s: gating.RuleString) -> bytes | None:
    """Bytes that the string matches (one of its forms)."""
    words = {t.text for t in s.modifiers if t.kind is syntax.TokenKind.IDENT}
    if s.value.kind is syntax.TokenKind.TEXT:
        data = syntax.text_bytes(s.value.text)
        if not data or any(t.kind is syntax.TokenKind.TEXT for t in s.modifiers):
            return None
        if "wide" in words and "ascii" not in words:
            data = gating._widen(data)
        if "base64" in words or "base64wide" in words:
            data = base64.b64encode(b"--" + data + b"--")
            return gating._widen(data) if "base64" not in words else data
        keys = gating._xor_keys(s.modifiers)
        if keys is not None:
            key = keys[len(keys) // 2]
            data = bytes(c ^ key for c in data)
        return data
    if s.value.kind is syntax.TokenKind.HEX:
        inner = re.sub(r"//[^\n]*|/\*.*?\*/", " ", s.value.text[1:-1], flags=re.DOTALL)
        inner = re.sub(r"\(([^|()]*)\|[^()]*\)", r"\1", inner)  # first alternative
        out = bytearray()
        for tok in gating._HEX_TOKEN.findall(inner):
            if tok.startswith("["):
                out += b"\x00" * int(re.match(r"\d*", tok[1:]).group() or 0)  # type: ignore[union-attr]
            elif tok.startswith("~"):
                out.append(gating._nibble_values(tok[1:].replace("?", "0"))[0] ^ 0xFF)
            elif tok not in "()|":
                out.append(int(tok.replace("?", "0"), 16))
        return bytes(out)
    return None


def rule_file_samples(path: Path) -> bytes:
    rules = gating._rules(path.read_text(encoding="utf-8", errors="replace")) or []
    parts = [r for rule in rules for s in rule.strings if (r := _rendering(s))]
    return b"\n".join(parts)


@needs_prefilter
@needs_signature_base
def test_signature_base_gated_detections_equal_unrouted_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64, 1 << 20))  # nearly every sample is gated
    files = sorted(SIGNATURE_BASE.glob("*.yar"))
    sources = [RuleSource(p.name, p) for p in files]
    samples = tmp_path / "samples"
    samples.mkdir()
    heads = {"elf": b"\x7fELF\x02\x01\x01\x00", "txt": b"<?php ", "raw": b"\x00\x01", "mz": b"MZ\x90\x00\x03\x00"}
    for p in files:
        body = rule_file_samples(p)
        for name, head in heads.items():
            (samples / f"{p.stem}.{name}").write_bytes(head + b"\n" + body)
    gated = compile_rules(sources, tmp_path / "cache")
    assert gated.routed and gated._content_gates
    unrouted = compile_rules(sources, route=False)
    want = detections(unrouted, samples)
    assert len(want) > 1000
    decisions: list[bool] = []
    may_hold = gating.Gate.may_hold

    def counted(self, present, size, head):  # type: ignore[no-untyped-def]
        decisions.append(may_hold(self, present, size, head))
        return decisions[-1]

    monkeypatch.setattr(gating.Gate, "may_hold", counted)
    assert detections(gated, samples) == want
    assert decisions.count(False) > 300 and decisions.count(True) > 100  # many files: the rest alone
    decisions.clear()
    cached = compile_rules(sources, tmp_path / "cache")  # gates loaded from the cache
    assert detections(cached, samples) == want
    assert decisions.count(False) > 300


TRICKY = r"""
rule lit { strings: $a = "GATE-LITERAL" condition: $a }
rule wide_nocase { strings: $a = "gate-wide" wide nocase condition: $a }
rule xored { strings: $a = "GATE-XOR-STRING" xor(0x01-0x7f) condition: $a and filesize > 10 }
rule b64 { strings: $a = "GATE-BASE64-STRING" base64 condition: $a }
rule hexed { strings: $a = { 47 41 ?? 45 [2-4] 2D 4? ~00 } condition: #a == 1 }
rule regexed { strings: $a = /GATE-RE\s+[0-9]{2,}$/ condition: $a }
rule counted { strings: $a = "GATE-COUNT" condition: #a < 2 and filesize > 100 }
rule nothing_of { strings: $a = "GATE-NONE" $b = "GATE-NONE-2" condition: none of them and filesize > 2000 }
rule offsets { strings: $a = "GATE-AT" condition: uint8(@a[1] + 5) == 0x41 }
private rule helper { strings: $a = "GATE-HELPER" condition: $a }
rule uses_helper { strings: $b = "GATE-USER" condition: helper and $b }
rule them_two { strings: $a = "GATE-T1" $b = "GATE-T2" $c = "GATE-T3" condition: 2 of them }
rule not_undefined { strings: $a = "GATE-UNDEF" condition: not (@a[1] > 5) and filesize > 3000 }
"""

PE_RULES = (
    "\n".join(f'rule pe{i} {{ strings: $a = "PE-{i}" condition: uint16(0) == 0x5A4D and $a }}' for i in range(40))
    + """
rule tiny_only { strings: $a = "TINY" condition: filesize < 60 and $a }
"""
)  # enough for files to be routed at all, and by size


@needs_prefilter
@pytest.mark.parametrize(
    "body",
    [
        b"GATE-LITERAL",
        "GATE-WIDE".encode("utf-16-le"),
        bytes(c ^ 0x33 for c in b"GATE-XOR-STRING"),
        base64.b64encode(b"xyGATE-BASE64-STRING--"),
        b"GAxE..-A\x01",
        b"GATE-RE  42",
        b"GATE-RE 42\n",
        b"GATE-COUNT",
        b"GATE-AT....A",
        b"GATE-HELPER GATE-USER",
        b"GATE-T1 GATE-T3",
        b"GATE-UNDEF......",
        b"",
    ],
)
def test_gated_and_unrouted_scans_agree_on_each_string_form(tmp_path, monkeypatch, body):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64,))
    rules = tmp_path / "rules.yar"
    rules.write_text(TRICKY + PE_RULES)
    samples = tmp_path / "samples"
    samples.mkdir()
    for size in (100, 2500, 5000):
        (samples / f"s{size}").write_bytes(body + b"." * max(0, size - len(body)))
    gated = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    assert gated._content_gates
    unrouted = compile_rules([RuleSource("t", rules)], route=False)
    assert detections(gated, samples) == detections(unrouted, samples)


@needs_prefilter
def test_a_set_of_small_and_big_files_gates_only_the_big_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64,))
    rules = tmp_path / "rules.yar"
    rules.write_text(
        TRICKY
        + PE_RULES.replace("rule tiny_only", "rule tiny_but_pe").replace(
            "filesize < 60", "uint16(0) == 0x5A4D and filesize < 60"
        )
    )  # no rule for small files only: no split
    gated = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    spanning = [r for r in gated.routes if {b for _, b in r.routes} == {0, 1}]
    assert spanning and {r for info in spanning for r in info.routes if r[1] == 1} <= set(gated._content_gates)
    assert all(bucket == 1 for _, bucket in gated._content_gates)
    samples = tmp_path / "samples"
    samples.mkdir()
    for i, body in enumerate((b"GATE-LITERAL", b"GATE-T1 GATE-T2", b"plain", b"GATE-COUNT")):
        for size in (20, 63, 64, 5000):
            (samples / f"s{i}-{size}").write_bytes(body + b"." * max(0, size - len(body)))
    sizes: list[int] = []
    may_hold = gating.Gate.may_hold

    def counted(self, present, size, head):  # type: ignore[no-untyped-def]
        sizes.append(size)
        return may_hold(self, present, size, head)

    monkeypatch.setattr(gating.Gate, "may_hold", counted)
    assert detections(gated, samples) == detections(compile_rules([RuleSource("t", rules)], route=False), samples)
    assert sorted(set(sizes)) == [64, 5000]


def test_hex_strings_become_expressions_that_match_the_same_bytes():
    assert gating.hex_expression("{ 4D 5A ?? [2-4] (01 | 02 03) ~00 4? }") == (
        rb"\x4d\x5a..{2,4}(?:\x01|\x02\x03)"
        + b"["
        + gating._esc(range(1, 256))
        + b"]"
        + b"["
        + gating._esc(range(0x40, 0x50))
        + b"]"
    )
    assert gating.hex_expression("{ 4D [-] 5A }") == rb"\x4d.{0,}\x5a"
    assert gating.hex_expression("{ 4D [3] 5A }") == rb"\x4d.{3}\x5a"


@needs_prefilter
def test_cached_prefilter_databases_are_not_detected_by_the_rules_they_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64,))
    rules = tmp_path / "rules.yar"
    rules.write_text(TRICKY + PE_RULES)
    compiled = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    assert compiled._content_gates and list((tmp_path / "cache").rglob("*.hs"))
    found = detections(compile_rules([RuleSource("t", rules)], route=False), tmp_path / "cache")
    anywhere = {"counted", "nothing_of"}  # hold for any big enough file, without their strings
    assert {(name, rule) for name, _, rule in found if name.endswith(".hs") and rule not in anywhere} == set()
    cached = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    assert all(g.get() is not None for g in cached._content_gates.values())


def test_without_hyperscan_no_set_has_a_gate(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64,))
    monkeypatch.setattr(prefilter, "_hs", None)
    rules = tmp_path / "rules.yar"
    rules.write_text(TRICKY + PE_RULES)
    compiled = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    assert compiled.routed and not compiled._content_gates


def test_a_damaged_gate_is_off_and_the_set_serves(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (64,))
    rules = tmp_path / "rules.yar"
    rules.write_text(TRICKY + PE_RULES)
    compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    for f in (tmp_path / "cache").rglob("*.hs"):
        f.write_bytes(b"not a database")
    cached = compile_rules([RuleSource("t", rules)], tmp_path / "cache")
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "x").write_bytes(b"GATE-LITERAL" + b"." * 200)
    want = detections(compile_rules([RuleSource("t", rules)], route=False), samples)
    assert detections(cached, samples) == want and {r for _, _, r in want} >= {"lit"}
    assert cached._content_gates and all(g.get() is None for g in cached._content_gates.values())
