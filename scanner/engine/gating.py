"""Content gates for routed sets (``docs/decisions/0006-content-gates.md``).

Most rules of a set that may match any file still need some of their strings to be present. A gate
splits a set into:

- the *rest*: rules YARA always matches (their value may not depend on their strings, or some string
  has no prefilter form);
- the *gated* rules: rules that are false whenever none of their strings (or of the rules they
  refer to) is present.

Every string of a gated rule has patterns (literals, regular expressions) that any match of it
contains, so a prefilter (``scanner.prefilter``) that finds none of them proves the string absent.
Each gated rule's condition is kept as a small tree over four values (false, undefined, maybe,
true); a file for which no gated rule can be anything but false or undefined is matched against the
rest only, with the same result as the whole set. Otherwise the whole set is matched.

Nothing here imports yara or the prefilter library: plans are plain data, kept as JSON.
"""

from __future__ import annotations

import base64
import logging
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner.engine import analysis, routing, syntax, yara_regex
from scanner.engine.syntax import Token, TokenKind

logger = logging.getLogger(__name__)

F, U, M, T = 0, 1, 2, 3
"""False, undefined (false wherever it stands, but its negation is not true), maybe, true."""

Node = list[Any]
"""A condition tree (JSON): see ``_build`` for the forms."""


@dataclass(frozen=True)
class Pattern:
    """What any match of a string contains: a literal or a regular expression (bytes, latin-1 safe)."""

    expression: bytes
    """Hyperscan syntax."""
    caseless: bool = False
    dotall: bool = True
    approximate: bool = False
    """A regular expression the prefilter may widen (prefilter mode): never narrower than the string."""


@dataclass(frozen=True)
class RuleString:
    """One string of a rule, as gating reads it."""

    name: str
    """Its identifier as written (``$a``, or ``$`` for an anonymous one)."""
    value: Token
    """The literal: TEXT, HEX or REGEX."""
    modifiers: tuple[Token, ...]
    """Every token after the literal up to the next string (keywords, and arguments such as ``xor(1-3)``)."""


@dataclass(frozen=True)
class Rule:
    """One rule of a set's source, with every string (anonymous ones too), as gating reads it."""

    name: str
    """The rule's identifier."""
    private: bool
    """Declared ``private``."""
    is_global: bool
    """Declared ``global``."""
    strings: tuple[RuleString, ...]
    """Its strings, in order (a string's key is its index here)."""
    condition: list[Token]
    """The tokens of its condition."""


# --- patterns -------------------------------------------------------------------------------------


def _esc(data: bytes | Iterable[int]) -> bytes:
    return b"".join(b"\\x%02x" % c for c in data)


def _xor_keys(mods: Sequence[Token]) -> range | None:
    for j, t in enumerate(mods):
        if t.kind is TokenKind.IDENT and t.text == "xor":
            rest = mods[j + 1 :]
            if len(rest) >= 3 and rest[0].text == "(" and rest[2].text == ")":
                v = syntax.number(rest[1])
                return range(v, v + 1) if v is not None and v < 256 else range(256)
            if len(rest) >= 5 and rest[0].text == "(" and rest[2].text == "-" and rest[4].text == ")":
                lo, hi = syntax.number(rest[1]), syntax.number(rest[3])
                return range(lo, hi + 1) if lo is not None and hi is not None and lo <= hi < 256 else range(256)
            return range(256)
    return None


def _widen(data: bytes) -> bytes:
    return bytes(b for c in data for b in (c, 0))


def _base64_cores(data: bytes) -> list[bytes] | None:
    """Parts of data's standard base64 form, at each of its three alignments, that every encoding at that
    alignment contains (four characters dropped at each end, more than YARA trims)."""
    out = []
    for shift in range(3):
        core = base64.b64encode(b"\0" * shift + data)[4:-4]
        if len(core) < 4:
            return None
        out.append(core)
    return out


_TEXT_MODIFIERS = frozenset({"nocase", "wide", "ascii", "fullword", "private", "xor", "base64", "base64wide"})
"""Modifiers of text strings whose effect on the bytes matched the patterns below express exactly."""
_REGEX_MODIFIERS = frozenset({"ascii", "nocase", "fullword", "private"})
"""Modifiers of regular expressions that the patterns below express (fullword only narrows a match)."""


def _ungated(s: RuleString, reason: str) -> list[Pattern] | None:
    """No patterns for ``s`` (it counts as present in every file), logged with the reason."""
    logger.info("string %s = %.60s has no content gate: %s", s.name, s.value.text, reason)
    return None


def string_patterns(s: RuleString) -> list[Pattern] | None:
    """Patterns one of which every match of ``s`` contains; None when there are none to give (logged)."""
    words = {t.text for t in s.modifiers if t.kind is TokenKind.IDENT}
    if any(t.kind is TokenKind.TEXT for t in s.modifiers):
        return _ungated(s, "a custom base64 alphabet")
    ascii_form, wide_form = "wide" not in words or "ascii" in words, "wide" in words
    if s.value.kind is TokenKind.TEXT:
        if words - _TEXT_MODIFIERS:
            return _ungated(s, f"the modifiers {sorted(words - _TEXT_MODIFIERS)}")
        raw = syntax.text_bytes(s.value.text)
        if not raw:
            return _ungated(s, "an empty literal or an escape not known here")
        forms = ([raw] if ascii_form else []) + ([_widen(raw)] if wide_form else [])
        caseless = "nocase" in words
        if words & {"base64", "base64wide"}:
            if words & {"xor", "nocase"}:
                return _ungated(s, "base64 with xor or nocase")
            out = []
            for form in forms:
                cores = _base64_cores(form)
                if cores is None:
                    return _ungated(s, "too short for its base64 forms to have a fixed core")
                out += [Pattern(_esc(c)) for c in cores if "base64" in words]
                out += [Pattern(_esc(_widen(c))) for c in cores if "base64wide" in words]
            return out
        keys = _xor_keys(s.modifiers)
        if keys is None:
            return [Pattern(_esc(f), caseless) for f in forms]
        if caseless:
            return _ungated(s, "xor with nocase")
        return [Pattern(_esc(bytes(c ^ k for c in f))) for k in keys for f in forms]
    if s.value.kind is TokenKind.HEX:
        if words - {"private"}:
            return _ungated(s, f"a hex string with the modifiers {sorted(words - {'private'})}")
        expr = hex_expression(s.value.text)
        return _ungated(s, "an unreadable hex string") if expr is None else [Pattern(expr, approximate=True)]
    if s.value.kind is TokenKind.REGEX:
        if wide_form or words - _REGEX_MODIFIERS:
            return _ungated(s, f"a regular expression with the modifiers {sorted(words - _REGEX_MODIFIERS)}")
        m = re.fullmatch(r"/(.*)/([is]*)", s.value.text, re.DOTALL)
        if m is None:
            return _ungated(s, "unreadable flags")
        try:
            body = yara_regex.to_hyperscan(m.group(1)).encode("ascii")
        except yara_regex.Untranslatable as exc:
            return _ungated(s, str(exc))
        return [Pattern(body, "i" in m.group(2) or "nocase" in words, "s" in m.group(2), approximate=True)]
    return _ungated(s, f"a literal of kind {s.value.kind.name}")


_HEX_TOKEN = re.compile(r"~?[0-9A-Fa-f?]{2}|\[[^\]]*\]|[()|]")


def _nibble_values(tok: str) -> list[int]:
    hi, lo = tok[0], tok[1]
    his = range(16) if hi == "?" else [int(hi, 16)]
    los = range(16) if lo == "?" else [int(lo, 16)]
    return [h * 16 + low for h in his for low in los]


def _byte_class(values: Sequence[int]) -> bytes:
    if len(values) == 1:
        return _esc(values)
    if len(values) == 256:
        return b"."
    return b"[" + _esc(values) + b"]"


def hex_expression(literal: str) -> bytes | None:
    """A hex string as a regular expression that matches exactly what it matches (None: unreadable)."""
    inner = re.sub(r"//[^\n]*|/\*.*?\*/", " ", literal[1:-1], flags=re.DOTALL)
    tokens = _HEX_TOKEN.findall(inner)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", inner):
        return None
    out = []
    for tok in tokens:
        if tok in ("(", ")", "|"):
            out.append({"(": b"(?:", ")": b")", "|": b"|"}[tok])
        elif tok.startswith("["):
            body = tok[1:-1].replace(" ", "")
            m = re.fullmatch(r"(\d*)(-?)(\d*)", body)
            if m is None or (not m.group(1) and not m.group(2)):
                return None
            low, dash, high = m.group(1) or "0", m.group(2), m.group(3)
            out.append(b".{%s}" % low.encode() if not dash else b".{%s,%s}" % (low.encode(), high.encode()))
        elif tok.startswith("~"):
            excluded = set(_nibble_values(tok[1:]))
            out.append(_byte_class([v for v in range(256) if v not in excluded]))
        else:
            out.append(_byte_class(_nibble_values(tok)))
    return b"".join(out) or None


# --- condition trees --------------------------------------------------------------------------------

_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_READERS = {
    "uint8": (1, False),
    "uint16": (2, False),
    "uint32": (4, False),
    "uint8be": (1, True),
    "uint16be": (2, True),
    "uint32be": (4, True),
}
HEAD_SIZE = 16
"""Bytes of a file's start that reader terms (``uint16(0) == ...``) may look at."""
_ARITH = frozenset({"+", "-", "*", "\\", "%", "&", "|", "^", "~", "<<", ">>", "(", ")", "[", "]", *_OPS})
_READER_NAMES = frozenset(
    {*_READERS, "int8", "int16", "int32", "int8be", "int16be", "int32be", "filesize", "entrypoint"}
)


class _Builder:
    def __init__(self, ns: str, rule: Rule, index: Mapping[str, int], key: Callable[[str, str, int], int]) -> None:
        self.ns, self.rule, self.index, self.key = ns, rule, index, key

    def keys(self, k: int) -> int:
        return self.key(self.ns, self.rule.name, k)

    def named(self, name: str) -> int | None:
        found = [k for k, s in enumerate(self.rule.strings) if s.name == name]
        return found[0] if len(found) == 1 and name != "$" else None

    def string_set(self, t: Sequence[Token]) -> list[int] | None:
        if len(t) == 1 and t[0].text == "them":
            return list(range(len(self.rule.strings)))
        if not syntax.enclosed(t):
            return None
        out: list[int] = []
        for part in syntax.split(t[1:-1], ",", TokenKind.PUNCT):
            if len(part) != 1 or part[0].kind is not TokenKind.STRING_ID or not part[0].text.startswith("$"):
                return None
            name = part[0].text
            if name.endswith("*"):
                out += [k for k, s in enumerate(self.rule.strings) if s.name.startswith(name[:-1])]
            elif (k := self.named(name)) is not None:
                out.append(k)
            else:
                return None
        return out

    def expr(self, t: Sequence[Token]) -> Node:
        for word in ("or", "and"):
            parts = syntax.split(t, word)
            if len(parts) > 1:
                return [word, *(self.expr(p) for p in parts)]
        return self.term(t)

    def term(self, t: Sequence[Token]) -> Node:
        if not t:
            return ["M"]
        if syntax.enclosed(t):
            return self.expr(t[1:-1])
        first = t[0]
        if first.kind is TokenKind.IDENT and first.text == "not":
            return ["not", self.term(t[1:])]
        if len(t) == 1 and first.kind is TokenKind.IDENT:
            if first.text in ("true", "false"):
                return ["T" if first.text == "true" else "F"]
            return ["r", self.index[first.text]] if first.text in self.index else ["M"]
        if first.kind is TokenKind.STRING_ID:
            return self.string_term(t)
        if first.kind is TokenKind.IDENT and first.text == "for":
            return ["M"]
        of = next((j for j, x in enumerate(t) if x.kind is TokenKind.IDENT and x.text == "of"), None)
        if of is not None:
            return self.of_term(t[:of], t[of + 1 :])
        if len(t) == 3 and t[1].text in _OPS and "filesize" in (t[0].text, t[2].text):
            left = t[0].text == "filesize"
            n = syntax.number(t[2] if left else t[0])
            return ["M"] if n is None else ["fs", t[1].text if left else _FLIP[t[1].text], n]
        if len(t) == 6 and t[0].text in _READERS and t[1].text == "(" and t[3].text == ")" and t[4].text in _OPS:
            off, val = syntax.number(t[2]), syntax.number(t[5])
            width, big = _READERS[t[0].text]
            if off is None or val is None or off + width > HEAD_SIZE:
                return ["M"]
            return ["rd", off, width, big, t[4].text, val]
        return self.undefined_term(t)

    def string_term(self, t: Sequence[Token]) -> Node:
        first = t[0]
        sigil, name = first.text[0], "$" + first.text[1:]
        k = self.named(name)
        if k is None:
            return ["M"]
        if sigil == "$" and (len(t) == 1 or (t[1].text in ("at", "in") and len(t) > 2)):
            return ["s", self.keys(k)]
        if sigil == "#" and len(t) >= 3 and t[-2].text in _OPS and (n := syntax.number(t[-1])) is not None:
            middle = t[1:-2]
            if not middle or (middle[0].text == "in" and syntax.enclosed(middle[1:])):
                return ["n", self.keys(k), t[-2].text, n]
        return self.undefined_term(t)

    def of_term(self, quantifier: Sequence[Token], rest: Sequence[Token]) -> Node:
        if not rest:
            return ["M"]
        if rest[0].text == "them":
            members, tail = rest[:1], rest[1:]
        else:
            close = syntax.closing(rest, 0) if rest[0].text == "(" else None
            if close is None:
                return ["M"]
            members, tail = rest[: close + 1], rest[close + 1 :]
        if tail and tail[0].text not in ("at", "in"):
            return ["M"]
        found = self.string_set(members)
        if not found:
            return ["M"]
        keys = [self.keys(k) for k in found]
        words = [q.text for q in quantifier]
        if words == ["none"]:
            return ["M"] if tail else ["none", keys]
        need = {"any": 1, "all": len(keys)}.get(words[0]) if len(words) == 1 else None
        if need is None and len(quantifier) == 1:
            need = syntax.number(quantifier[0])
        elif need is None and len(quantifier) == 2 and words[1] == "%" and (pct := syntax.number(quantifier[0])):
            need = -(-pct * len(keys) // 100)
        return ["of", need, keys] if need else ["M"]

    def undefined_term(self, t: Sequence[Token]) -> Node:
        """An arithmetic comparison over ``@a[i]`` or ``!a[i]``: undefined when such a string is absent."""
        keys = []
        for tok in t:
            if tok.kind is TokenKind.STRING_ID:
                k = self.named("$" + tok.text[1:])
                if k is None or tok.text[0] not in "@!#":
                    return ["M"]
                if tok.text[0] != "#":
                    keys.append(self.keys(k))
            elif not (
                tok.kind is TokenKind.NUMBER
                or (tok.kind is TokenKind.PUNCT and tok.text in _ARITH)
                or (tok.kind is TokenKind.IDENT and tok.text in _READER_NAMES)
            ):
                return ["M"]
        return ["u", keys] if keys else ["M"]


_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


# --- parsing ---------------------------------------------------------------------------------------------


def _parsed(text: str) -> tuple[list[syntax.Token], tuple[list[str], list[syntax.RawRule]]] | None:
    """One namespace's source as tokens and parsed (None: the lexer or parser cannot read it)."""
    try:
        tokens = syntax.tokenize(text)
        return tokens, syntax.parse(tokens)
    except syntax.UnreadableSource:
        return None


def _rules(
    text: str, parsed: tuple[list[syntax.Token], tuple[list[str], list[syntax.RawRule]]] | None = None
) -> list[Rule] | None:
    """The rules of one namespace's source (``parsed``: ``_parsed(text)``, when already known), each with
    every string (anonymous ones too)."""
    parsed = parsed or _parsed(text)
    if parsed is None:
        return None
    tokens, (_imports, raw) = parsed
    by_start = {tok.start: k for k, tok in enumerate(tokens)}
    out = []
    for r in raw:
        k = by_start[r.span[0]]
        body = next(j for j in range(k, len(tokens)) if tokens[j].text == "{") + 1
        cond_at = next(
            j for j in range(body, len(tokens) - 1) if tokens[j].text == "condition" and tokens[j + 1].text == ":"
        )
        strings: list[RuleString] = []
        j = next(
            (i + 2 for i in range(body, cond_at - 1) if tokens[i].text == "strings" and tokens[i + 1].text == ":"),
            cond_at,
        )
        while j < cond_at:
            if tokens[j].kind is TokenKind.STRING_ID and j + 2 < cond_at and tokens[j + 1].text == "=":
                end = j + 3
                while end < cond_at and tokens[end].kind is not TokenKind.STRING_ID:
                    end += 1
                strings.append(RuleString(tokens[j].text, tokens[j + 2], tuple(tokens[j + 3 : end])))
                j = end
            else:
                return None
        out.append(Rule(r.name, r.private, r.is_global, tuple(strings), r.condition))
    return out


# --- evaluation --------------------------------------------------------------------------------------------


class Facts:
    """What one file offers a gate: the strings that may be present, its size and first bytes."""

    def __init__(self, present: set[int] | frozenset[int], size: int | None, head: bytes | None) -> None:
        self.present, self.size, self.head = present, size, head
        self.memo: dict[int, int] = {}


Evaluator = Callable[[Facts], int]


def _and(fs: Sequence[Evaluator]) -> Evaluator:
    def run(x: Facts) -> int:
        v = T
        for f in fs:
            r = f(x)
            if r <= U:
                return F
            v = min(v, r)
        return v

    return run


def _or(fs: Sequence[Evaluator]) -> Evaluator:
    def run(x: Facts) -> int:
        v = F
        for f in fs:
            r = f(x)
            if r == T:
                return T
            v = max(v, r)
        return F if v == U else v

    return run


def compile_node(node: Node, rules: Sequence[Evaluator]) -> Evaluator:
    """The evaluator of a condition tree; ``rules`` holds the evaluators of the rules it refers to, by index
    (filled in as they are compiled: a rule refers only to earlier ones)."""
    kind = node[0]
    if kind in ("T", "F", "M"):
        value = {"T": T, "F": F, "M": M}[kind]
        return lambda x: value
    if kind in ("and", "or"):
        parts = [compile_node(n, rules) for n in node[1:]]
        return _and(parts) if kind == "and" else _or(parts)
    if kind == "not":
        inner = compile_node(node[1], rules)
        flip = {F: T, T: F, M: M, U: M}  # YARA keeps ``not undefined`` undefined; M is the safe side
        return lambda x: flip[inner(x)]
    if kind == "s":
        key = int(node[1])
        return lambda x: M if key in x.present else F
    if kind == "n":
        key, zero = int(node[1]), T if _OPS[node[2]](0, int(node[3])) else F
        return lambda x: M if key in x.present else zero
    if kind == "u":
        needed = tuple(int(k) for k in node[1])
        return lambda x: M if all(k in x.present for k in needed) else U
    if kind == "of":
        need, members = int(node[1]), tuple(int(k) for k in node[2])

        def of(x: Facts) -> int:
            return M if sum(1 for k in members if k in x.present) >= need else F

        return of
    if kind == "none":
        absent = tuple(int(k) for k in node[1])
        return lambda x: M if any(k in x.present for k in absent) else T
    if kind == "r":
        index = int(node[1])

        def ref(x: Facts) -> int:
            if index not in x.memo:
                x.memo[index] = rules[index](x)
            return x.memo[index]

        return ref
    if kind == "fs":
        op, n = _OPS[node[1]], int(node[2])
        return lambda x: M if x.size is None else (T if op(x.size, n) else F)
    if kind == "rd":
        off, width, big, op, val = int(node[1]), int(node[2]), bool(node[3]), _OPS[node[4]], int(node[5])

        def read(x: Facts) -> int:
            if x.head is None or len(x.head) < off + width:
                return M
            found = int.from_bytes(x.head[off : off + width], "big" if big else "little")
            return T if op(found, val) else F

        return read
    raise ValueError(f"unknown condition node {kind!r}")


def _keys_of(node: Node) -> Iterable[int]:
    kind = node[0]
    if kind in ("s", "n"):
        yield int(node[1])
    elif kind in ("u", "none"):
        yield from (int(k) for k in node[1])
    elif kind == "of":
        yield from (int(k) for k in node[2])
    elif kind in ("and", "or", "not"):
        for n in node[1:]:
            yield from _keys_of(n)


def _refs_of(node: Node) -> Iterable[int]:
    if node[0] == "r":
        yield int(node[1])
    elif node[0] in ("and", "or", "not"):
        for n in node[1:]:
            yield from _refs_of(n)


class Gate:
    """A loaded gate: decides, from a file's facts, whether any gated rule may hold."""

    def __init__(self, nodes: Sequence[Node], gated: Sequence[int], always: Iterable[int] = ()) -> None:
        self._evaluators: list[Evaluator] = []  # a rule refers only to earlier ones, evaluated by then
        for node in nodes:
            self._evaluators.append(compile_node(node, self._evaluators))
        self._closure: list[set[int]] = []
        for node in nodes:
            self._closure.append(set(_keys_of(node)).union(*(self._closure[r] for r in _refs_of(node))))
        self._always = frozenset(always)
        keys: dict[int, set[int]] = {}
        for i in gated:
            for k in self._closure[i] - self._always:
                keys.setdefault(k, set()).add(i)
        self._triggers = {k: tuple(sorted(v)) for k, v in keys.items()}
        self.keys = frozenset(self._triggers)
        """The string keys whose presence can make a gated rule hold."""

    def looks_at(self, indexes: Iterable[int]) -> set[int]:
        """Every key the rules ``indexes`` look at, directly or through the rules they refer to."""
        return set().union(*(self._closure[i] for i in indexes))

    def value(self, index: int, facts: Facts) -> int:
        """The value of rule ``index`` for ``facts``."""
        return self._evaluators[index](facts)

    def may_hold(self, present: set[int] | frozenset[int], size: int | None, head: bytes | None) -> bool:
        """Whether some gated rule may hold for a file whose possibly present strings are ``present``."""
        facts = Facts(present | self._always if self._always else present, size, head)
        seen: set[int] = set()
        for k in present:
            for i in self._triggers.get(k, ()):
                if i in seen:
                    continue
                seen.add(i)
                if self.value(i, facts) >= M:
                    return True
        return False


# --- planning ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetGate:
    """The gate of one routed set, as planned."""

    rest: dict[str, str]
    """Namespace -> source of the rules matched on every file (empty: none)."""
    nodes: list[Node]
    """Condition trees of every rule of the gated namespaces, in order; ``r`` nodes index this list."""
    gated: list[int]
    """Indexes (into ``nodes``) of the reporting rules that are gated."""
    always: list[int]
    """Keys of strings with no patterns (present for every file)."""
    keys: frozenset[int] = frozenset()
    """The keys the prefilter must report (Gate.keys); not stored, a loaded gate derives them."""

    def to_json(self) -> dict[str, object]:
        return {"nodes": self.nodes, "gated": self.gated, "always": self.always}

    def load(self) -> Gate:
        return Gate(self.nodes, self.gated, self.always)


def load_gate(data: Mapping[str, Any]) -> Gate:
    """A gate from its JSON form (SetGate.to_json)."""
    return Gate(list(data["nodes"]), [int(i) for i in data["gated"]], [int(k) for k in data["always"]])


class KeyTable:
    """String keys shared by the gates of one rule set: (namespace, rule, index of the string) -> int,
    each with its patterns (None: no patterns; such a string counts as present for every file)."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, str, int], int] = {}
        self.patterns: list[list[Pattern] | None] = []

    def key(self, ns: str, rule: str, k: int, patterns: Callable[[], list[Pattern] | None]) -> int:
        at = (ns, rule, k)
        if at not in self.index:
            self.index[at] = len(self.patterns)
            self.patterns.append(patterns())
        return self.index[at]


@dataclass
class Draft:
    """A set's condition trees, before the prefilter has said which patterns it takes."""

    sources: Mapping[str, str]
    nodes: list[Node]
    rules: dict[str, list[tuple[str, int, bool]]]
    """Namespace -> (rule, node index, private) of each rule, for the namespaces that may be gated."""
    analyses: dict[str, analysis.FileAnalysis]


Parsed = tuple[list[Rule] | None, analysis.FileAnalysis]
"""A namespace's source as gating reads it (None: unreadable) and as routing analyses it (see draft_gate)."""


def draft_gate(
    sources: Mapping[str, str], table: KeyTable, parsed: dict[tuple[str, str], Parsed] | None = None
) -> Draft:
    """Condition trees for the rules of ``sources`` (one set's namespaces); their strings join ``table``.

    ``parsed`` memoises the parsing of a namespace's text across the sets of one plan.
    """
    draft = Draft(sources, [], {}, {})
    parsed = {} if parsed is None else parsed
    for ns, text in sources.items():
        if (ns, text) not in parsed:
            read = _parsed(text)  # one parse serves both
            parsed[(ns, text)] = (
                _rules(text, read) if read else None,
                analysis.analyse(ns, ns, text.encode("utf-8"), read[1] if read else None),
            )
        rules, analysed = parsed[(ns, text)]
        if rules is None or analysed.whole or any(r.is_global for r in rules):
            continue
        index: dict[str, int] = {}
        entries = []
        for r in rules:

            def key(ns_: str, rule: str, k: int, r: Rule = r) -> int:
                return table.key(ns_, rule, k, lambda: string_patterns(r.strings[k]))

            draft.nodes.append(_Builder(ns, r, index, key).expr(r.condition))
            index[r.name] = len(draft.nodes) - 1
            entries.append((r.name, index[r.name], r.private))
        draft.rules[ns] = entries
        draft.analyses[ns] = analysed
    return draft


def plan_gate(draft: Draft, always: frozenset[int]) -> SetGate | None:
    """The gate of a drafted set, given the keys of strings without patterns (``always``: present for every
    file); None when it would gate nothing."""
    gate = Gate(draft.nodes, [], always)
    facts = Facts(always, None, None)
    rest: dict[str, str] = {}
    gated: list[int] = []
    for ns, text in draft.sources.items():
        entries = draft.rules.get(ns)
        if entries is None:
            rest[ns] = text
            continue
        kept = set()
        for name, i, private in entries:
            if private:
                continue
            if gate.value(i, facts) <= U:
                gated.append(i)
            else:
                kept.add(name)
        if kept:
            rest[ns] = routing.source_for(draft.analyses[ns], kept)
    if not gated:
        logger.debug("no content gate: no reporting rule of the set is false without its strings")
        return None
    logger.debug("content gate: %d rules gated, %d namespaces keep rules matched on every file", len(gated), len(rest))
    used = gate.looks_at(gated)
    return SetGate(rest, draft.nodes, gated, sorted(used & always), frozenset(used - always))
