"""The differential test of routing: generated rule sets and files, routed detections == plain yara-python's.

Rules are drawn from a grammar of conditions (string terms, counts, offsets, file-format magic, module
terms, ``filesize`` near the bucket edges, external variables, ``and``/``or``/``not`` nesting, private and
global rules, references between rules) over strings of every kind (text with modifiers, hex with jumps,
alternatives, wildcards and nibbles, regular expressions of YARA's full syntax from ``test_gating``).
The rules come in one file, in two files of one namespace, through an ``include``, and sometimes with a
second namespace of the same rule names. Files are drawn with format headers (a PE and an ELF file the
modules parse, bare magic, scripts, text, empty, one byte), sizes at and around the (monkeypatched, small)
size edges and the small-file limit, planted strings or none, names the external variables test, and
hard links. A bulk of gated rules beside the generated ones makes the set routed.

Each case is scanned routed (freshly compiled, from the compiled-rule cache, at a first start that leaves
the routed sets to the background preparation, and after that preparation) and with plain yara-python;
every detection must agree, no fallback may be warned of, and a file may be skipped only if plain
yara-python fails on it too. The suite runs a bounded, reproducible budget; ``bench/bench_differential.py``
runs a long one.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yara
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scanner.engine import compiler, routing
from scanner.engine.compiler import CompiledRules, RuleSource, compile_rules
from scanner.engine.sources import EXTERNALS
from scanner.scanning.facts import file_externals, owner_name
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk
from tests.test_gating import planted
from tests.test_routing import gated_rules

SIZE_EDGES = (100, 1024)
"""The size buckets of the test (monkeypatched over routing.SIZE_EDGES): 1KB is an edge, as units write it."""
SMALL_FILE = 600
"""Files above this are matched by descriptor, below it from one read (compiler.SMALL_FILE, monkeypatched)."""
BULK = (
    gated_rules(18, "uint16(0) == 0x5A4D", "PEGATE")
    + "\n"
    + gated_rules(18, "uint32(0) == 0x464C457F", "ELFGATE")
    + "\n"
    + gated_rules(16, "uint16(0) == 0x4B50 and filesize < 1KB", "PKGATE")
    + "\n"
)
"""Enough rules that need a prefix for the set to be routed (routing.MIN_RULES) by MZ, ELF and PK."""
BULK_MARKERS = [b"PEGATE-3", b"ELFGATE-5", b"PKGATE-1"]

Triple = tuple[str, str, str]
"""(file path relative to the sample root, namespace, rule)."""


# --- files --------------------------------------------------------------------------------------------


def tiny_pe() -> bytes:
    """The headers of a PE file with one section (352 bytes) that the pe module parses (``pe.is_pe``)."""
    dos = bytearray(b"MZ" + b"\0" * 62)
    dos[0x3C:0x40] = struct.pack("<I", 0x40)
    file_header = struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    opt = bytearray(0xE0)
    struct.pack_into("<HBBIIIIII", opt, 0, 0x10B, 1, 0, 0x200, 0, 0, 0x1000, 0x1000, 0x1000)
    struct.pack_into(
        "<IIIHHHHHHIIIIHHIIIIII",
        opt,
        28,
        *(0x400000, 0x1000, 0x200, 4, 0, 0, 0, 4, 0, 0, 0x2000, 0x200, 0, 2, 0, 0x100000, 0x1000, 0x100000),
        *(0x1000, 0, 16),
    )
    section = struct.pack("<8sIIIIIIHHI", b".text", 0x100, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    return bytes(dos) + b"PE\0\0" + file_header + bytes(opt) + section


def tiny_elf() -> bytes:
    """An ELF64 executable's header (64 bytes; the elf module parses it in a file of more than 64)."""
    ident = struct.pack("<4sBBBBB7s", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7)
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 0, 0, 0, 64, 56, 0, 64, 0, 0)


HEADS = {
    "pe": tiny_pe(),
    "mz": b"MZ\x90\x00\x03\x00",
    "elf": tiny_elf(),
    "elf-short": b"\x7fELF\x02\x01",
    "sh": b"#!/bin/sh\n",
    "pk": b"PK\x03\x04",
    "text": b"plain text ",
    "none": b"",
    "one": b"M",
}
SIZES = sorted({0, 1, 2, 3} | {e + d for e in (*SIZE_EDGES, SMALL_FILE, 352) for d in (-1, 0, 1)} | {2000})
NAMES = ["a.exe", "A.EXE", "b.txt", "run.sh", "lib.so", "data", "x.dll"]
DIRS = ["", "sub/", "sub/deep/"]


@dataclass(frozen=True)
class Sample:
    """A file to write: where, what, and its further names (hard links)."""

    path: str
    data: bytes
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One example: the generated rule file, the files, and what they plant."""

    rules: str
    samples: tuple[Sample, ...]
    plants: tuple[bytes, ...] = field(default=(), compare=False)
    layout: str = "one"
    """How ``rules`` is given: ``one`` file, ``split`` in two files of one namespace, through an ``include``."""
    rules2: str = ""
    """Rules of a second namespace (``gen2``: the same rule names, another file)."""

    def rule_files(self, where: Path) -> list[tuple[str, str, str]]:
        """(file name, namespace or "" for an included file, text) of the generated rules, bulk last."""
        out = []
        if self.layout == "split" and "\n\n" in self.rules:
            first, rest = self.rules.split("\n\n", 1)
            out += [("gen-a.yar", "gen", first + "\n"), ("gen-b.yar", "gen", rest)]
        elif self.layout == "include":
            out += [("gen.yar", "gen", f'include "{where / "gen.inc"}"\n'), ("gen.inc", "", self.rules)]
        else:
            out.append(("gen.yar", "gen", self.rules))
        if self.rules2:
            out.append(("gen2.yar", "gen2", self.rules2))
        return [*out, ("bulk.yar", "bulk", BULK)]

    def __str__(self) -> str:
        files = "\n".join(f"  {s.path} {list(s.links)} {len(s.data)} bytes: {s.data[:120]!r}" for s in self.samples)
        second = f"rules of gen2:\n{self.rules2}\n" if self.rules2 else ""
        return f"rules ({self.layout}):\n{self.rules}\n{second}files:\n{files}"


# --- strings ------------------------------------------------------------------------------------------

MARKERS = [
    b"alpha",
    b"Bravo-7",
    b"CHARLIE",
    b"d3lta",
    b"echo.exe",
    b"MZ",
    b"foxtrot golf",
    b"\0hi",
    b'q"uo}te',
    b"back\\slash",
    b"/*no*/",
]


def _text_literal(data: bytes) -> str:
    """``data`` as the inside of a YARA text string."""
    out = []
    for c in data:
        ch = chr(c)
        out.append("\\" + ch if ch in '"\\' else ch if 32 <= c < 127 else f"\\x{c:02x}")
    return "".join(out)


def _regex_literal(data: bytes) -> str:
    """``data`` as a YARA regular expression that matches exactly it."""
    return "".join(f"\\x{c:02x}" if not chr(c).isalnum() else chr(c) for c in data)


def _widen(data: bytes) -> bytes:
    return bytes(b for c in data for b in (c, 0))


@st.composite
def text_string(draw: st.DrawFn) -> tuple[str, bytes]:
    """A text string with modifiers, and bytes it matches."""
    data = draw(st.sampled_from(MARKERS))
    marker = _text_literal(data)
    mods = draw(
        st.sampled_from(
            [
                "",
                "",
                "nocase",
                "wide",
                "ascii wide",
                "wide nocase",
                "fullword",
                "ascii fullword",
                "xor",
                "xor(1-3)",
                "xor(7) wide",
                "base64",
                "base64wide",
                'base64("!\\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopq")',
                "private",
            ]
        )
    )
    if "nocase" in mods and draw(st.booleans()):
        data = data.swapcase()
    if "wide" in mods.split() and ("ascii" not in mods or draw(st.booleans())):
        data = _widen(data)
    if mods.startswith("xor"):
        key = draw(st.sampled_from([0, 1, 3] if mods == "xor(1-3)" else [7] if "7" in mods else [0, 0x20, 0xFF]))
        key = max(key, 1) if mods == "xor(1-3)" else key
        data = bytes(c ^ key for c in data)
    if mods.startswith("base64"):
        data = base64.b64encode(draw(st.sampled_from([b"", b"x", b"yz"])) + data)
        if mods == "base64wide":
            data = _widen(data)
        if "(" in mods:
            data = b""  # a custom alphabet: no plant, only the rule
    if "fullword" in mods:
        data = b" " + data + b" "
    return f'"{marker}" {mods}'.strip(), data


@st.composite
def hex_string(draw: st.DrawFn) -> tuple[str, bytes]:
    """A hex string with wildcards, nibbles, negations, jumps and alternatives, and bytes it matches."""
    data = draw(st.sampled_from(MARKERS))
    parts, plant = [f"{data[0]:02X}"], bytearray(data[:1])
    for c in data[1:]:
        kind = draw(st.sampled_from(["byte", "byte", "byte", "any", "hi", "lo", "not", "jump", "range", "alt"]))
        if kind == "any":
            parts.append("??")
        elif kind == "hi":
            parts.append(f"{c >> 4:X}?")
        elif kind == "lo":
            parts.append(f"?{c & 15:X}")
        elif kind == "not":
            parts.append(f"~{c ^ 0x01:02X}")
        elif kind in ("jump", "range"):
            n = draw(st.integers(0, 3))
            parts.append(f"[{n}]" if kind == "jump" else draw(st.sampled_from([f"[{n}-{n + 2}]", f"[{n}-]", "[-]"])))
            filler = draw(st.sampled_from([b"\0", b"..", b"xyz"]))
            plant += (filler * 4)[:n]
            parts.append(f"{c:02X}")
            plant.append(c)
            continue
        elif kind == "alt":
            other = f"{c ^ 0x20:02X}"
            parts.append(f"( {c:02X} | {other} )" if draw(st.booleans()) else f"( {other} | {c:02X} ?? | {c:02X} )")
        else:
            parts.append(f"{c:02X}")
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.sampled_from(["/* } */", "// ]\n"])))
        plant.append(c)
    return "{ " + " ".join(parts) + " }", bytes(plant)


@st.composite
def regex_string(draw: st.DrawFn) -> tuple[str, bytes]:
    """A regular expression: of YARA's full grammar (test_gating's), or a marker's with a few constructs."""
    if draw(st.booleans()):
        string, data = draw(planted())
    else:
        raw = draw(st.sampled_from(MARKERS))
        printable = all(32 <= c < 127 for c in raw)
        marker = (
            re.escape(raw.decode()).replace("/", "\\/") if printable and draw(st.booleans()) else _regex_literal(raw)
        )
        tail = draw(st.sampled_from(["", "[0-9]?", "\\s*x{0,2}", "(\\.exe|\\.dll)?", "[^\\n]{0,3}$"]))
        flags = draw(st.sampled_from(["", "i", "s"]))
        string, data = f"/{marker}{tail}/{flags}", raw
    mods = draw(st.sampled_from(["", "", "wide", "ascii wide", "nocase", "fullword", "private"]))
    if "wide" in mods:
        data = _widen(data)
    return f"{string} {mods}".strip(), data


def _string_compiles(string: str) -> bool:
    try:
        yara.compile(source=f"rule r {{ strings: $a = {string} condition: $a }}")
    except (yara.Error, ValueError):
        return False
    return True


@st.composite
def rule_string(draw: st.DrawFn) -> tuple[str, bytes]:
    """Any string; one YARA refuses is replaced by a plain one (so nearly every rule compiles)."""
    string, data = draw(st.one_of(text_string(), text_string(), hex_string(), regex_string()))
    if not _string_compiles(string):
        return '"alpha"', b"alpha"
    return string, data


# --- conditions ---------------------------------------------------------------------------------------

MAGIC = [
    "uint16(0) == 0x5A4D",
    "0x5A4D == uint16(0)",
    "uint16(0) == 23117",
    "uint16(0)==0x5a4d",
    "uint16be(0) == 0x4D5A",
    "uint8(0) == 0x4D and uint8(1) == 0x5A",
    "uint8(0) == 0x4D",
    "uint32(0) == 0x464C457F",
    "uint32be(0) == 0x7F454C46",
    "uint16(0) == 0x457F",
    "uint16(0) == 0x4B50",
    "uint32(0) == 0x04034B50",
    "uint16(0) == 0x2123",
    "uint16(0) != 0x5A4D",
    "int16(0) == 0x5A4D",
    "uint16(1) == 0x455A",
    "uint16(0x40) == 0x4550",
    "uint32(uint32(0x3C)) == 0x00004550",
    "uint32(12) == 0",
    "uint8(15) != 0x41",
    "uint16(14) == 0",
]
MODULE = [
    "pe.is_pe",
    "not pe.is_pe",
    "pe.number_of_sections > 0",
    "pe.number_of_sections == 1",
    "pe.is_signed",
    "pe.is_dll()",
    "not pe.is_dll()",
    "pe.number_of_signatures == 0",
    "not pe.number_of_signatures > 0",
    'pe.imphash() == "00000000000000000000000000000000"',
    'pe.exports("Run")',
    "pe.characteristics & pe.DLL",
    "pe.entry_point == 0x200",
    'for any i in (0..pe.number_of_sections - 1): (pe.sections[i].name == ".text")',
    "defined pe.number_of_sections",
    "not defined pe.entry_point",
    "elf.type == elf.ET_EXEC",
    "elf.number_of_sections == 0",
    "elf.machine == elf.EM_X86_64",
    "math.entropy(0, filesize) > 3",
    "math.entropy(0, filesize) >= 0",
    "dotnet.is_dotnet",
    "dotnet.number_of_streams > 0",
    'hash.md5(0, 2) == "0b4d3ea4c6b9c5c8a1f7e7e07c7e0e8f"',
    'hash.md5(0, filesize) != ""',
]
OFFSET_MODULE = ["{s} at pe.entry_point", "{s} in (0..pe.entry_point + 0x100)", "{s} at elf.entry_point"]
SIZE_VALUES = [
    *("0", "1", "2", "99", "100", "101", "351", "352", "599", "600", "1023", "1024", "1025", "1KB", "2KB"),
    *("0x64", "0x400", "0x3FF"),
]
EXTERNAL_TERMS = [
    'filename == "a.exe"',
    'filename iequals "A.exe"',
    'filename startswith "run"',
    "filename matches /\\.(exe|dll)$/i",
    'extension == ".exe"',
    'extension == ""',
    'filepath contains "sub"',
    "filepath matches /sub$/",
    'filepath == ""',
    'filename != "x or y" and filepath != "and"',
    "filepath matches /(a|b) or c/",
    'filetype == "EXE"',
    'filetype == "ELF"',
    'filetype != "SCRIPT"',
]


@dataclass
class _Context:
    """What a condition may name: its rule's strings and the rules before it."""

    strings: list[str]
    rules: list[str]
    anonymous: bool = False


def _string_term(draw: st.DrawFn, ctx: _Context) -> str:
    if ctx.anonymous:
        n = draw(st.integers(0, 3))
        return draw(st.sampled_from(["any of them", "all of them", f"{n} of them", "none of them", "any of ($*)"]))
    s = draw(st.sampled_from(ctx.strings))
    n = draw(st.integers(0, 3))
    big = draw(st.sampled_from(["0", "1", "6", "12", "100", "400", "filesize - 10"]))
    forms = {  # by what they ask of the string: drawn kind first, so that each kind is common
        "present": [
            s,
            f"{s} at {draw(st.sampled_from(['0', '2', '6', '11', '64']))}",
            f"{s} in (0..{big})",
            f"{s} in ({n}..filesize)",
            "any of ($s*)",
            f"any of ({', '.join(ctx.strings)})",
            "all of them at 0",
            f"any of them in (0..{big})",
            "for any of ($s*) : ( $ at 0 )",
            draw(st.sampled_from(OFFSET_MODULE)).format(s=s),
        ],
        "counted": [
            f"#{s[1:]} > {n}",
            f"#{s[1:]} == {n}",
            f"{n} of them",
            "all of them",
            "50% of them",
            f"#{s[1:]} in (0..{big}) > {n}",
            "for any of them : ( # > 1 )",
        ],
        "absent": [
            f"#{s[1:]} == 0",
            f"#{s[1:]} < {n}",
            f"not {s}",
            "none of them",
            f"not ({s} or #{s[1:]} > 2)",
            f"for all i in (1..#{s[1:]}) : ( @{s[1:]}[i] < {big} )",
            f"#{s[1:]} in (0..{big}) == 0",
        ],
        "offset": [
            f"@{s[1:]}[1] < {big}",
            f"@{s[1:]}[1] == {big}",
            f"!{s[1:]}[1] > {n}",
            f"@{s[1:]}[#{s[1:]}] > {n}",
            f"defined @{s[1:]}[1]",
            f"uint16(@{s[1:]}[1]) == 0x6C61",
            f"{s} and uint8(@{s[1:]}[1] + 1) != 0",
            f"for any i in (1..3) : ( @{s[1:]}[i] > {n} )",
            f"not @{s[1:]}[1] > {n}",
        ],
    }
    return draw(st.sampled_from(forms[draw(st.sampled_from(sorted(forms)))]))


def _size_term(draw: st.DrawFn) -> str:
    n = draw(st.sampled_from(SIZE_VALUES))
    return draw(
        st.sampled_from(
            [
                *(f"filesize < {n}", f"filesize <= {n}", f"filesize > {n}", f"filesize == {n}", f"{n} > filesize"),
                *(f"filesize - 10 > {n}", f"filesize \\ 2 < {n}", f"(filesize) < {n}", f"filesize < {n} + 1"),
            ]
        )
    )


def _atom(draw: st.DrawFn, ctx: _Context) -> str:
    kinds = ["magic", "magic", "module", "size", "size", "external", "external", "external", "bool"]
    if ctx.strings:
        kinds += ["string"] * 7
    if ctx.rules:
        kinds += ["rule", "rule"]
    kind = draw(st.sampled_from(kinds))
    if kind == "string":
        return _string_term(draw, ctx)
    if kind == "magic":
        return draw(st.sampled_from(MAGIC))
    if kind == "module":
        return draw(st.sampled_from(MODULE))
    if kind == "size":
        return _size_term(draw)
    if kind == "external":
        return draw(st.sampled_from([*EXTERNAL_TERMS, f'owner == "{owner_name(os.getuid())}"']))
    if kind == "rule":
        return draw(st.sampled_from([*ctx.rules, "any of (r*)", f"not {draw(st.sampled_from(ctx.rules))}"]))
    return draw(st.sampled_from(["true", "false"]))


@st.composite
def condition(draw: st.DrawFn, ctx: _Context, depth: int = 0) -> str:
    """A boolean expression: atoms joined by ``and``/``or``, negated, parenthesised or not."""
    if depth >= 3 or draw(st.booleans()):
        return _atom(draw, ctx)
    parts = [draw(condition(ctx, depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    text = parts[0]
    for p in parts[1:]:
        space = draw(st.sampled_from([" ", " ", " ", "\n    ", " /* or ( */ ", " // and )\n"]))
        text += f"{space}{draw(st.sampled_from(['and', 'or']))} {p}"
    wrap = draw(st.sampled_from(["", "", "()", "not ()"]))
    return text if not wrap else f"{wrap[:-1]}{text})"


@st.composite
def rule_file(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """A rule file of 1 to 6 rules (imports as its conditions need), and the bytes its strings match."""
    rules: list[str] = []
    names: list[str] = []
    plants: list[bytes] = []
    for i in range(draw(st.integers(1, 6))):
        strings = [draw(rule_string()) for _ in range(draw(st.integers(0, 3)))]
        anonymous = bool(strings) and draw(st.integers(0, 5)) == 0
        ids = ["$" if anonymous else f"$s{k}" for k in range(len(strings))]
        plants.extend(data for _, data in strings if data)
        ctx = _Context(ids, list(names), anonymous)
        cond = draw(condition(ctx))
        unused = [s for s in ids if not re.search(re.escape(s[1:]) + r"\b|\bthem\b|\$s?\*", cond)]
        if anonymous and not re.search(r"\bthem\b|\$\*", cond):
            cond = f"({cond}) {draw(st.sampled_from(['and', 'or']))} any of them"
        elif unused:  # YARA refuses a string no condition names
            cond = f"({cond}) {draw(st.sampled_from(['and', 'or']))} any of ({', '.join(unused)})"
        kind = draw(
            st.sampled_from(["", "", "", "", "", "", "", "", "private ", "private ", "global private ", "global "])
        )
        body = f"strings: {' '.join(f'{i} = {s}' for i, (s, _) in zip(ids, strings, strict=True))} " if strings else ""
        head = draw(st.sampled_from(["", "", " : tagA tagB", ' { meta: note = "} rule x { condition: true }" n = -3']))
        tags, meta = (head, "") if not head.startswith(" {") else ("", head[3:] + " ")
        rules.append(f"{kind}rule r{i}{tags} {{ {meta}{body}condition: {cond} }}")
        names.append(f"r{i}")
    text = "\n\n".join(rules)
    imports = "".join(
        f'import "{m}"\n' for m in ("pe", "elf", "math", "dotnet", "hash") if re.search(rf"\b{m}\.", text)
    )
    return imports + text + "\n", plants


def _compiles(*texts: str) -> bool:
    try:
        yara.compile(
            sources={f"gen{k}": t for k, t in enumerate(texts)} | {"bulk": BULK},
            externals=dict.fromkeys(EXTERNALS, ""),
        )
    except yara.Error:
        return False
    return True


@st.composite
def sample(draw: st.DrawFn, plants: Sequence[bytes], index: int) -> Sample:
    """A file: a header, some planted strings, a size at or around an edge, a name, maybe other names."""
    head = HEADS[draw(st.sampled_from(sorted(HEADS)))]
    pool = [*plants, *(BULK_MARKERS if draw(st.integers(0, 3)) == 0 else ())]
    clean = not pool or draw(st.integers(0, 2)) == 0  # no string at all: what content gates decide alone
    chosen = [] if clean else draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    body = b"".join(p + draw(st.sampled_from([b" ", b"", b"\n", b"\0"])) for p in chosen)
    data = head + body if draw(st.integers(0, 4)) else body + head  # strings at offset 0, sometimes
    size = draw(st.sampled_from([*SIZES, len(data)]))
    if len(data) < size:
        data += draw(st.sampled_from([b"\0", b" ", b"A", b"\xff"])) * (size - len(data))
    elif draw(st.booleans()):
        data = data[:size]
    where = f"{draw(st.sampled_from(DIRS))}f{index}/"
    links = draw(st.lists(st.sampled_from([f"{d}l{index}/{n}" for d in DIRS for n in NAMES]), max_size=2, unique=True))
    if draw(st.booleans()):
        links = []
    return Sample(where + draw(st.sampled_from(NAMES)), data, tuple(links))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A rule file that YARA compiles beside the bulk, and 1 to 8 files."""
    rules, plants = draw(rule_file())
    rules2, plants2 = draw(rule_file()) if draw(st.integers(0, 4)) == 0 else ("", [])
    assume(_compiles(rules, rules2))
    plants += plants2
    samples = tuple(draw(sample(plants, k)) for k in range(draw(st.integers(1, 8))))
    layout = draw(st.sampled_from(["one", "one", "one", "split", "include"]))
    return Case(rules, samples, tuple(plants), layout, rules2)


# --- running one case ---------------------------------------------------------------------------------


def write_case(case: Case, root: Path) -> tuple[list[RuleSource], Path]:
    """The rule files (the generated one, the bulk) and the sample tree of ``case`` under ``root``."""
    rules = root / "rules"
    rules.mkdir()
    sources = []
    for name, namespace, text in case.rule_files(rules):
        (rules / name).write_text(text)
        if namespace:
            sources.append(RuleSource(namespace, rules / name))
    files = root / "files"
    for s in case.samples:
        target = files / s.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s.data)
        for link in s.links:
            (files / link).parent.mkdir(parents=True, exist_ok=True)
            os.link(target, files / link)
    return sources, files


def scanned(rules: CompiledRules, root: Path) -> tuple[set[Triple], set[str]]:
    """What the scanner finds under ``root`` (each name of a hard link reported apart), and the files it skipped."""
    hits, skipped, _files, _ = scan_files(
        walk([os.fspath(root)], WalkOptions()), rules, jobs=2, timeout=60, max_filesize=None
    )
    found = {(os.path.relpath(r.path, root), m.hit.namespace, m.hit.rule) for r in hits for m in r.matches}
    return found, {os.path.relpath(s.path, root) for s in skipped}


def plain(sources: Sequence[RuleSource], root: Path) -> tuple[set[Triple], set[str]]:
    """What plain yara-python finds under ``root``, with the externals the scanner passes (the files of one
    namespace read one after the other, as the scanner reads them), and the files it fails on (a regular
    expression with too many matches in flight, say)."""
    texts: dict[str, list[str]] = {}
    for s in sources:
        texts.setdefault(s.namespace, []).append(s.path.read_text())
    compiled = yara.compile(
        sources={ns: "\n".join(parts) for ns, parts in texts.items()}, externals=dict.fromkeys(EXTERNALS, "")
    )
    out: set[Triple] = set()
    failed: set[str] = set()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                head = fh.read(16)
            externals = file_externals(path, head, os.stat(path).st_uid)
            rel = os.path.relpath(path, root)
            try:
                out |= {(rel, m.namespace, m.rule) for m in compiled.match(path, externals=externals)}
            except yara.Error:
                failed.add(rel)
    return out, failed


class _Warnings(logging.Handler):
    """The engine's warnings (a routed set that does not compile or load: a fallback to unrouted scans)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def engine_warnings() -> Iterator[list[str]]:
    handler = _Warnings()
    logger = logging.getLogger("scanner.engine")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@dataclass(frozen=True)
class Outcome:
    """How a case went."""

    want: set[Triple]
    """Plain yara-python's detections."""
    routed: set[Triple]
    """The routed scan's, freshly compiled."""
    cached: set[Triple]
    """The routed scan's, from the compiled-rule cache."""
    warnings: list[str]
    """The engine's warnings meanwhile."""
    is_routed: bool
    """Whether the set was routed (the bulk makes it so unless the analysis gave up)."""
    failed: set[str] = field(default_factory=set)
    """Files plain yara-python fails on: no oracle, left out of the detections above."""
    skipped: set[str] = field(default_factory=set)
    """Files the scanner skipped (routed or from the cache): each must be one plain yara-python fails on."""
    background: tuple[set[Triple], ...] = ()
    """The scans' of a first start (unrouted, the routed sets left to the background preparation), and of the
    next start (routed from what the preparation saved)."""

    @property
    def agrees(self) -> bool:
        same = self.routed == self.want == self.cached and all(b == self.want for b in self.background)
        same = same and self.skipped <= self.failed
        return same and not self.warnings and self.is_routed


@contextlib.contextmanager
def small_edges() -> Iterator[None]:
    """The test's size edges and small-file limit in place of the real ones."""
    saved = routing.SIZE_EDGES, compiler.SMALL_FILE
    routing.SIZE_EDGES, compiler.SMALL_FILE = SIZE_EDGES, SMALL_FILE
    try:
        yield
    finally:
        routing.SIZE_EDGES, compiler.SMALL_FILE = saved


def run_case(case: Case) -> Outcome:
    """Scan ``case`` routed (compiled, then from the cache) and with plain yara-python."""
    with tempfile.TemporaryDirectory() as tmp, small_edges(), engine_warnings() as warnings:
        root = Path(tmp)
        sources, files = write_case(case, root)
        want, failed = plain(sources, files)
        compiled = compile_rules(sources, root / "cache")
        routed, skipped = scanned(compiled, files)
        cached, skipped_cached = scanned(compile_rules(sources, root / "cache"), files)
        early = compile_rules(sources, root / "cache-2", background=True)
        during, skipped_during = scanned(early, files)  # unrouted: the first start
        compiler.prepare(sources, root / "cache-2")  # what the background preparation does
        after, skipped_after = scanned(compile_rules(sources, root / "cache-2", background=True), files)

        def answered(found: set[Triple]) -> set[Triple]:
            return {t for t in found if t[0] not in failed}

        return Outcome(
            answered(want),
            answered(routed),
            answered(cached),
            list(warnings),
            compiled.routed,
            failed,
            skipped | skipped_cached | skipped_during | skipped_after,
            (answered(during), answered(after)),
        )


def check(case: Case) -> Outcome:
    outcome = run_case(case)
    assert outcome.is_routed, f"not routed\n{case}"
    assert not outcome.warnings, f"{outcome.warnings}\n{case}"
    assert outcome.skipped <= outcome.failed, f"skipped {outcome.skipped - outcome.failed}\n{case}"
    assert outcome.routed == outcome.want, (
        f"routed scan: missing {outcome.want - outcome.routed}, extra {outcome.routed - outcome.want}\n{case}"
    )
    assert outcome.cached == outcome.want, (
        f"from the cache: missing {outcome.want - outcome.cached}, extra {outcome.cached - outcome.want}\n{case}"
    )
    for found in outcome.background:
        assert found == outcome.want, (
            f"first start or prepared: missing {outcome.want - found}, extra {found - outcome.want}\n{case}"
        )
    return outcome


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(cases())
def test_routed_detections_equal_plain_yara_python_detections(case: Case) -> None:
    """The property (about 150 cases, some 20 to 35 s on two cores)."""
    logging.disable(logging.INFO)  # every compile logs its plan; hundreds of lines would drown a failure
    try:
        check(case)
    finally:
        logging.disable(logging.NOTSET)


def test_a_hand_written_case_matches_through_a_hard_link() -> None:
    """The harness itself: a case with known detections (a parsed PE with a wide string, a hex jump, a name
    test that holds for one name of a hard link only) agrees."""
    outcome = run_case(
        Case(
            'import "pe"\nrule r0 { strings: $s0 = "alpha" wide condition: pe.is_pe and #s0 > 0 }\n'
            'rule r1 { strings: $s0 = { 61 [1-2] 70 } condition: $s0 and filename == "a.exe" }\n',
            (
                Sample("f0/a.exe", tiny_pe() + "alpha".encode("utf-16-le") + b"a..pha" * 200, ("l0/b.txt",)),
                Sample("f1/run.sh", b"#!/bin/sh\nalpha PEGATE-3"),
            ),
        )
    )
    assert outcome.want == {("f0/a.exe", "gen", "r0"), ("f0/a.exe", "gen", "r1"), ("l0/b.txt", "gen", "r0")}
    assert outcome.agrees


def test_a_routed_set_that_does_not_compile_is_a_logged_fallback_to_unrouted_scans(tmp_path, monkeypatch, caplog):
    """A split the analysis got wrong (simulated: every routed source is broken) must not fail the compile nor
    lose a detection: the whole set serves, and a warning says so."""
    monkeypatch.setattr(routing, "source_for", lambda *_args, **_kw: "rule broken { condition: }\n")
    case = Case(
        'rule r0 { strings: $s0 = "alpha" condition: uint16(0) == 0x5A4D and $s0 }\n',
        (Sample("f0/a.exe", b"MZ alpha PEGATE-3"), Sample("f1/b.txt", b"alpha")),
    )
    sources, files = write_case(case, tmp_path)
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules(sources, tmp_path / "cache")
    assert not compiled.routed
    fallback = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("a routed set does not compile" in m and "scan unrouted" in m for m in fallback), fallback
    assert (
        scanned(compiled, files)[0]
        == plain(sources, files)[0]
        == {
            ("f0/a.exe", "gen", "r0"),
            ("f0/a.exe", "bulk", "PEGATE_3"),
        }
    )
