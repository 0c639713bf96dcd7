"""Content gates: the prefilter forms of strings, the condition trees, and proof that gated scans find
exactly what unrouted scans find."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yara
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import gating, prefilter, routing, syntax, yara_regex
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


# --- YARA's syntax, not Hyperscan's: each string as YARA reads it, in a file big enough to be gated ---

BIG = 1 << 20
"""The smallest size that content gates serve (routing.SIZE_EDGES)."""

CONSTRUCTS = [  # (string, bytes YARA matches with it); the comment says how Hyperscan read the old form
    (r"/ab\ecd/", b"abecd"),  # \e: ESC
    (r"/ab{,2}c/", b"abbc"),  # {,2}: the literal "{,2}"
    (r"/ab{1, 2}c/", b"abbc"),  # spaced: literal
    (r"/ab{2, }c/", b"abbbc"),  # spaced: literal
    (r"/xa[\b]c/", b"xabc"),  # [\b]: backspace
    (r"/xa\hc/", b"xahc"),  # \h: horizontal white space
    (r"/xa\vc/", b"xavc"),  # \v: vertical white space
    (r"/xa\Ac/", b"xaAc"),  # \A: start of data
    (r"/xa\Zc/", b"xaZc"),  # \Z: end of data
    (r"/xa\Qb\Ec/", b"xaQbEc"),  # \Q...\E: quoting
    (r"/xa[[:digit:]]c/", b"xa:]c"),  # a POSIX class; YARA: the class "[:digit" then "]"
    (r"/GATE-RE\s+[0-9]{2,}$/", b"GATE-RE \x0b 42"),  # still gated: \s holds vertical tab in YARA
    (r"/gate-(one|two)[^a-z]\x41{2}/i", b"GATE-TWO\nAa"),  # still gated: classes, groups, nocase
    (r"/gate.??x\w+?\.\d{1,}?/", b"gatex_9.1"),  # still gated: lazy, escaped punctuation
    (r'"gate-quote\"q"', b'gate-quote"q'),
    (r'"gate-back\\slash"', b"gate-back\\slash"),
    (r'"gate\ttab\nline\x41"', b"gate\ttab\nlineA"),
    (r'"gate-nocase" nocase', b"GaTe-NoCaSe"),
    (r'"gate-wide" wide', "gate-wide".encode("utf-16-le")),
    (r'"gate-both" ascii wide nocase', "GATE-BOTH".encode("utf-16-le")),
    (r'"gate-full" fullword', b" gate-full "),
    (r'"gate-xor-wide" xor(0x10-0x20) wide', bytes(c ^ 0x15 for c in "gate-xor-wide".encode("utf-16-le"))),
    (r'"gate-base64-wide" base64 wide', base64.b64encode(b"x" + "gate-base64-wide".encode("utf-16-le"))),
    (r'"gate-base64wide" base64wide', bytes(b for c in base64.b64encode(b"xy-gate-base64wide") for b in (c, 0))),
]

CONSTRUCT_RULES = "\n".join(
    f"rule c{i} {{ strings: $a = {string} condition: $a }}" for i, (string, _) in enumerate(CONSTRUCTS)
)


@pytest.fixture(scope="module")
def construct_rules(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    root = tmp_path_factory.mktemp("constructs")
    rules = root / "rules.yar"
    rules.write_text(CONSTRUCT_RULES + "\n" + PE_RULES)
    compiled = compile_rules([RuleSource("t", rules)], root / "cache")
    assert compiled.routed and compiled._content_gates
    return compiled, rules


@needs_prefilter
@pytest.mark.parametrize("index", range(len(CONSTRUCTS)), ids=[s for s, _ in CONSTRUCTS])
def test_big_files_are_matched_as_yara_reads_each_construct(tmp_path, monkeypatch, construct_rules, index):
    compiled, rules = construct_rules
    body = CONSTRUCTS[index][1]
    data = b"=" * (BIG - len(body)) + body  # at the end: some constructs are anchored there
    assert len(data) >= BIG
    want = {m.rule for m in yara.compile(source=rules.read_text()).match(data=data)}
    assert f"c{index}" in want  # the sample is a match as YARA reads it
    (tmp_path / "big").write_bytes(data)
    decisions: list[bool] = []
    may_hold = gating.Gate.may_hold

    def counted(self, present, size, head):  # type: ignore[no-untyped-def]
        decisions.append(may_hold(self, present, size, head))
        return decisions[-1]

    monkeypatch.setattr(gating.Gate, "may_hold", counted)
    assert {rule for _, _, rule in detections(compiled, tmp_path)} == want
    assert decisions  # the file went through its set's content gate


def test_constructs_hyperscan_reads_otherwise_are_left_ungated_with_a_logged_reason(caplog):
    caplog.set_level("INFO", logger="scanner.engine.gating")
    rules = gating._rules(CONSTRUCT_RULES) or []
    ungated = {r.name for r in rules if gating.string_patterns(r.strings[0]) is None}
    assert ungated == {f"c{i}" for i in range(11)} - {"c1"}  # {,2} is translated: {0,2}
    assert "string $a = /ab\\ecd/ has no content gate: the escape \\e at offset 2 of /ab\\ecd/" in caplog.text
    assert all(f"$a = {s} has no content gate: " in caplog.text for s, _ in CONSTRUCTS[:11] if s != CONSTRUCTS[1][0])


def test_yara_regular_expressions_become_explicit_hyperscan_expressions():
    assert yara_regex.to_hyperscan(r"ab{,2}c") == r"\x61\x62{0,2}\x63"
    assert yara_regex.to_hyperscan(r"^a(b|c)*?[^\n]$") == r"\x61(?:\x62|\x63)*[\x00-\x09\x0b-\xff]"
    assert yara_regex.to_hyperscan(r"\s\d[a-]") == r"[\x09-\x0d\x20][\x30-\x39][\x2d\x61]"
    for refused in (r"a\e", r"a{1, 2}", r"[\b]", r"[[:digit:]]", r"a(?:b)", r"a{c", r"a}", "é", r"a||b", r"[z-a]"):
        with pytest.raises(yara_regex.Untranslatable):
            yara_regex.to_hyperscan(refused)


# --- a property: wherever YARA finds a regular expression, its gate reports it present ---

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_PUNCT = ".-/:;,!@#%&=_~<>\"'`"  # plain outside a class, unless a metacharacter (escaped below)
_META = "\\^$|()[].*+?{}"
_DIGITS, _WORD = b"0123456789", (_LETTERS + "_").encode()
_SPACE = b"\t\n\x0b\x0c\r "


@st.composite
def _atom(draw: st.DrawFn, depth: int) -> tuple[str, bytes]:
    """One atom of YARA's regex syntax and bytes it matches (as YARA reads it, where this knows; a wrong
    guess only makes YARA not match, and then nothing is asserted)."""
    kind = draw(st.sampled_from(["char", "char", "char", "meta", "escape", "odd", "dot", "class", "group"]))
    if kind == "char":
        c = draw(st.sampled_from(_LETTERS + _PUNCT))
        return c, c.encode()
    if kind == "meta":
        c = draw(st.sampled_from(_META))
        return "\\" + c, c.encode()
    if kind == "escape":
        e = draw(st.sampled_from(["w", "W", "d", "D", "s", "S", "t", "n", "r", "f", "a", "x"]))
        if e == "x":
            b = draw(st.integers(0, 255))
            return f"\\x{b:02x}", bytes([b])
        pools = {"w": _WORD, "d": _DIGITS, "s": _SPACE, "t": b"\t", "n": b"\n", "r": b"\r", "f": b"\f", "a": b"\a"}
        pool = pools.get(e.lower() if e in "WDS" else e, b"")
        if e in "WDS":
            pool = bytes(c for c in range(256) if c not in pools[e.lower()])
        return "\\" + e, bytes([draw(st.sampled_from(pool))])
    if kind == "odd":  # escapes and anchors that Hyperscan reads otherwise, or not at all
        e = draw(st.sampled_from(["e", "h", "v", "A", "Z", "z", "G", "Q", "E", "K", "b", "B", "^", "$"]))
        if e in "^$":
            return e, b""
        return "\\" + e, b"" if e in "bB" else e.encode()
    if kind == "dot":
        return ".", bytes([draw(st.integers(0, 255).filter(lambda c: c != 10))])
    if kind == "class":
        return draw(_klass())
    inner, sample = draw(_alternation(depth + 1)) if depth < 2 else draw(_atom(depth + 1))
    return f"({inner})", sample


@st.composite
def _klass(draw: st.DrawFn) -> tuple[str, bytes]:
    members = draw(
        st.lists(
            st.sampled_from(["a-f", "0-9", "x", "-", "\\]", "\\d", "\\w", "\\s", "\\b", "[:digit:]", "\\x41", "."]),
            min_size=1,
            max_size=4,
        )
    )
    negated = draw(st.booleans())
    text = "[" + ("^" if negated else "") + "".join(members) + "]"
    first = members[0]
    guess = {"a-f": b"c", "0-9": b"5", "\\]": b"]", "\\d": b"7", "\\w": b"_", "\\s": b" ", "\\x41": b"A"}
    sample = guess.get(first, first[-1:].encode())
    return text, (b"\xfe" if negated else sample)


@st.composite
def _quantified(draw: st.DrawFn, depth: int) -> tuple[str, bytes]:
    text, sample = draw(_atom(depth))
    forms = ["", "", "", "*", "+", "?", "{n}", "{n,}", "{,m}", "{n,m}", "{n, m}", "{n, }", "{ n}"]
    if text.startswith("("):  # libyara can loop for ever on an unbounded repeat of a group that matches empty
        forms = ["", "", "?", "{n}", "{,m}", "{n,m}", "{n, m}"]
    q = draw(st.sampled_from(forms))
    n, m = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    n, m = min(n, m), max(n, m)
    count = {"": 1, "*": m, "+": max(1, m), "?": min(1, m), "{n}": n, "{,m}": m}.get(
        q, max(n, 1) if "m" not in q else m
    )
    lazy = "\0" if q else ""  # "?" or nothing, one choice for the whole expression (YARA does not mix them)
    return text + q.replace("n", str(n)).replace("m", str(m)) + lazy, sample * max(count, n if "n" in q else 0)


@st.composite
def _sequence(draw: st.DrawFn, depth: int) -> tuple[str, bytes]:
    parts = draw(st.lists(_quantified(depth), min_size=1, max_size=5))
    return "".join(t for t, _ in parts), b"".join(s for _, s in parts)


@st.composite
def _alternation(draw: st.DrawFn, depth: int = 0) -> tuple[str, bytes]:
    branches = draw(st.lists(_sequence(depth), min_size=1, max_size=3))
    chosen = draw(st.integers(0, len(branches) - 1))
    return "|".join(t for t, _ in branches), branches[chosen][1]


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, bytes]:
    """A YARA regular expression string (with flags) and data with a planted match of it, as far as this
    generator knows YARA's reading."""
    body, sample = draw(_alternation())
    body = body.replace("\0", "?" if draw(st.booleans()) else "")
    flags = draw(st.sampled_from(["", "", "i", "s", "is"]))
    if "i" in flags and draw(st.booleans()):
        sample = sample.swapcase()
    data = draw(st.binary(max_size=40)) + sample + draw(st.binary(max_size=40))
    return f"/{body.replace('/', chr(92) + '/')}/{flags}", data


def gate_outcome(string: str, data: bytes) -> str:
    """How the content gate of ``string`` does on ``data`` against YARA: "missed" (YARA matches, the gate
    reports the string absent: a lost detection), "reported", "ungated" (no patterns, or Hyperscan refuses
    them: present in every file), "no match" (YARA does not match; the gate may say anything) or "invalid"
    (YARA refuses the string)."""
    source = f"rule r {{ strings: $a = {string} condition: $a }}"
    try:
        matched = bool(yara.compile(source=source).match(data=data))
    except yara.Error:
        return "invalid"
    if not matched:
        return "no match"
    rules = gating._rules(source)
    assert rules is not None
    patterns = gating.string_patterns(rules[0].strings[0])
    keyed = [(0, p) for p in patterns or []]
    if patterns is None or prefilter.refused(keyed):
        return "ungated"
    return "reported" if 0 in prefilter.Prefilter(prefilter.build(keyed)).present(data) else "missed"


@needs_prefilter
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(planted())
def test_no_generated_regular_expression_is_missed_by_its_gate(case: tuple[str, bytes]) -> None:
    assert gate_outcome(*case) != "missed"
