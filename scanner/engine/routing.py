"""Routing rules by file type and size: which rules can possibly match a file, judged from its first
two bytes and its size.

Most published rules require a file-format magic at offset 0 (``uint16(0) == 0x5A4D`` and the
like) and bound ``filesize``, yet YARA searches every rule's strings in every file before it looks
at a condition, and runs every imported module on every file. This module reads rule sources (it
never compiles them: it is pure), finds for each rule the two-byte prefixes a file must start
with and the largest size it can have for the rule to match, and groups rules into sets by
(prefix, size bucket); a file is then matched against the one set its route selects, which
imports only the modules its rules use.

Soundness comes first: routing must never lose a detection. A rule is routed only when its
condition provably requires one of a few prefixes: a top-level conjunction (``and``) containing a
magic check (``uint16(0) == 0x5A4D``, ``uint32be(0) == 0x7F454C46``, ``$mz at 0`` with a plain
string), a ``pe.``/``elf.`` term that is false for other files, or a reference to a rule that does;
``or`` routes to the union of its branches. Anything else (``not``, loops, unknown shapes) adds no
constraint. A file that uses ``include``, is not UTF-8, or that the small lexer here cannot read,
goes to every set whole. Each generated source keeps the file's namespace, its imports, its global
rules, and every rule a routed rule refers to, so reports are identical to an unrouted scan.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

VERSION = 4
"""Changes whenever routing or gating decisions could change; part of the compiled-rule cache key."""

HEAD_SIZE = 2
"""How many leading bytes of a file routing looks at."""

MIN_RULES = 16
"""A prefix gets its own set only when at least this many reporting rules require it ..."""

MIN_SHARE = 0.02
"""... and at least this share of all reporting rules (a set costs a compiled copy of the any-file rules)."""

MAX_SETS = 6
"""At most this many per-prefix sets (each also holds every rule that may match any file)."""

_MAX_ALTERNATIVES = 64
_MODULE_PREFIXES: Mapping[str, frozenset[bytes]] = {
    # Every non-constant field and function of these modules is undefined (so a comparison with it
    # is false) unless the file parses as that format, which needs its magic at offset 0.
    "pe": frozenset({b"MZ"}),
    "dotnet": frozenset({b"MZ"}),
    "elf": frozenset({b"\x7fE"}),
}
_INT_READERS: Mapping[str, tuple[int, bool]] = {
    "uint8": (1, False), "uint16": (2, False), "uint32": (4, False),
    "uint8be": (1, True), "uint16be": (2, True), "uint32be": (4, True),
    "int8": (1, False), "int16": (2, False), "int32": (4, False),
    "int8be": (1, True), "int16be": (2, True), "int32be": (4, True),
}
_PLAIN_MODIFIERS = frozenset({"ascii", "fullword", "private"})
_NOT_STRICT = frozenset({"not", "defined", "or", "of", "for", "in", "at", "them", "with", "all", "any", "none"})
"""Keywords after which an undefined module value need not make a term false."""
PATH_EXTERNALS = frozenset({"filename", "filepath", "extension"})
"""External variables that differ between two names of one file (hard links); the rest depend on its content
(``filetype``) or its inode (``owner``)."""


class RoutingError(Exception):
    """A rule file the lexer or parser here cannot read with certainty (it then goes to every set whole)."""


class TokenKind(enum.Enum):
    """Lexical classes of YARA source."""

    IDENT = "ident"
    STRING_ID = "string-id"
    TEXT = "text"
    HEX = "hex"
    REGEX = "regex"
    NUMBER = "number"
    PUNCT = "punct"


class Token(NamedTuple):
    """One token of a rule file."""

    kind: TokenKind
    """Its lexical class."""
    text: str
    """The source text it covers."""
    start: int
    """Offset of its first character."""
    end: int
    """Offset just past its last character."""


_SKIP = r"(?:\s+|//[^\n]*|/\*.*?\*/)*"
_TOKEN = re.compile(
    _SKIP + r"""(?:(?P<text>"(?:\\.|[^"\\\n])*")
      |(?P<sid>[$#@][A-Za-z0-9_]*\*?|![A-Za-z0-9_]+\*?|!(?!=))
      |(?P<number>0x[0-9A-Fa-f]+|0o[0-7]+|\d+(?:\.\d+)?(?:KB|MB)?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<punct>==|!=|<=|>=|<<|>>|\.\.|[-+*\\%&|^~<>=().,:\[\]{}])
      |(?P<end>\Z))""",
    re.VERBOSE | re.DOTALL,
)
_REGEX = re.compile(_SKIP + r"(?P<regex>/(?:\\.|[^/\\\n])+/[a-z]*)", re.DOTALL)
_HEX = re.compile(_SKIP + r"(?P<hex>\{(?:[^}/]|//[^\n]*|/\*.*?\*/)*\})", re.DOTALL)
_KIND = {"text": TokenKind.TEXT, "sid": TokenKind.STRING_ID, "number": TokenKind.NUMBER,
         "ident": TokenKind.IDENT, "punct": TokenKind.PUNCT, "regex": TokenKind.REGEX, "hex": TokenKind.HEX}


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, comments dropped. Raises RoutingError on anything unexpected.

    A ``/`` after ``=`` or ``matches`` starts a regular expression and a ``{`` after ``=`` a hex
    string, as in YARA's own grammar; elsewhere they are operators.
    """
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    prev = ""
    token_match, regex_match, hex_match = _TOKEN.match, _REGEX.match, _HEX.match
    while True:
        m = None
        if prev == "=":
            m = hex_match(source, pos) or regex_match(source, pos)
        elif prev == "matches":
            m = regex_match(source, pos)
        if m is None:
            m = token_match(source, pos)
        if m is None:
            raise RoutingError(f"cannot read the rule source at offset {pos}: {source[pos:pos + 20]!r}")
        group = m.lastgroup
        if group == "end" or group is None:
            return tokens
        start = m.start(group)
        prev = m.group(group)
        append(Token(_KIND[group], prev, start, m.end()))
        pos = m.end()


# --- parsing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StringDef:
    """A string of a rule's strings section, as far as routing cares."""

    kind: TokenKind
    """TEXT, HEX or REGEX."""
    value: str
    """The literal as written."""
    modifiers: frozenset[str]
    """Modifier keywords (``ascii``, ``wide``, ``nocase``, ``xor``, ...)."""


Shape = tuple[frozenset[bytes] | None, int | None]
"""One way a condition can hold: the prefixes a file must start with (None: any) and its largest size
(None: any)."""


@dataclass(frozen=True)
class Branch:
    """An operand of an ``or`` in a rule's condition, reached from the top through ``and``, ``or`` and
    parentheses only.

    In YARA (4.x, ``exec.c``) ``or`` takes an undefined operand as false, and a conjunction with a
    false or undefined term is false. So an operand that cannot hold for any file a set serves
    (a magic check for another format, a ``pe.`` term on a file that is not PE, a size bound below
    the set's sizes) has the value false or undefined there, and replacing it by ``false`` gives the
    same value wherever the ``or`` stands, under ``not`` too. Routed sets do that, so a set for
    files that are not PE need not import the ``pe`` module (which costs about 0.3 ms per file).
    """

    span: tuple[int, int]
    """Offsets of its text in the file."""
    prefixes: frozenset[bytes] | None
    """Two-byte prefixes a file must start with for it to hold (None: any)."""
    max_size: int | None
    """The largest file it can hold for (None: any)."""
    stand_in: str
    """What replaces it: ``false``, plus a reference to the strings it names (YARA rejects a string
    that no condition mentions), behind ``false and`` so they are never evaluated."""
    shapes: tuple[Shape, ...] | None = None
    """See RuleInfo.shapes."""


@dataclass(frozen=True)
class RuleInfo:
    """One rule of a file, as routing sees it."""

    name: str
    """The rule's identifier."""
    private: bool
    """Declared ``private`` (never reported by itself)."""
    is_global: bool
    """Declared ``global`` (constrains every rule of its namespace)."""
    references: frozenset[str]
    """Rules of the same file its condition refers to (directly)."""
    prefixes: frozenset[bytes] | None
    """Two-byte prefixes a file must start with for this rule to match; None when it may match any file."""
    max_size: int | None
    """The largest file this rule can match (from ``filesize < N`` and the like); None when unbounded."""
    span: tuple[int, int]
    """Offsets of the rule's text in the file (modifiers to closing brace)."""
    modules: frozenset[str] = frozenset()
    """Imported modules its condition names (a set imports only what its rules use: YARA runs every
    imported module on every file, and the ``pe`` module alone costs more than many rules)."""
    branches: tuple[Branch, ...] = ()
    """Operands of ``or`` in its condition that a set may replace by ``false`` (see Branch)."""
    uses: tuple[tuple[int, str], ...] = ()
    """Where its condition names a module or a rule of its file: (offset in the file, name)."""
    paths: bool = False
    """Its condition names ``filename``, ``filepath`` or ``extension`` (PATH_EXTERNALS)."""
    shapes: tuple[Shape, ...] | None = None
    """The ways it can hold, each as (prefixes or None, largest size or None), one of which must
    hold; sharper than ``prefixes`` and ``max_size`` taken apart (``filesize < 1000 or $gif at 0``
    holds for no big ELF file). None when nothing is known."""
    gates: tuple[str, ...] | None = None
    """For a rule with ``paths``: its condition as ``B1 or B2 or ...`` (parentheses flattened), each
    branch's terms that look only at external variables (``true`` if none), one expression per branch;
    its other terms look at neither the name nor another rule. So two names of one file whose branches
    hold alike get the same result, and a name for which no branch holds gets false. None when the
    condition has no such form."""


@dataclass(frozen=True)
class FileAnalysis:
    """What routing knows about one rule file (one namespace)."""

    namespace: str
    """The namespace it is compiled in."""
    path: str
    """Absolute path of the file."""
    text: str
    """Its source text ('' when it goes whole)."""
    imports: tuple[str, ...] = ()
    """Module names it imports, in order."""
    rules: tuple[RuleInfo, ...] = ()
    """Its rules, in order."""
    whole: str = ""
    """Why the file goes to every set unsplit ('' when it was analysed)."""
    whole_paths: bool = False
    """A file that goes whole mentions ``filename``, ``filepath`` or ``extension`` somewhere."""


@dataclass
class _RawRule:
    name: str
    private: bool
    is_global: bool
    span: tuple[int, int]
    strings: dict[str, StringDef]
    condition: list[Token]


def _parse(tokens: Sequence[Token]) -> tuple[list[str], list[_RawRule]]:
    imports: list[str] = []
    rules: list[_RawRule] = []
    i, n = 0, len(tokens)

    def text_at(k: int) -> str:
        return tokens[k].text if k < n else ""

    while i < n:
        t = tokens[i]
        if t.kind is TokenKind.IDENT and t.text == "import":
            if i + 1 >= n or tokens[i + 1].kind is not TokenKind.TEXT:
                raise RoutingError("import without a module name")
            imports.append(_unquote(tokens[i + 1].text))
            i += 2
            continue
        if t.kind is TokenKind.IDENT and t.text == "include":
            raise RoutingError("uses include")
        start = i
        private = is_global = False
        while text_at(i) in ("private", "global"):
            private |= text_at(i) == "private"
            is_global |= text_at(i) == "global"
            i += 1
        if text_at(i) != "rule" or i + 1 >= n or tokens[i + 1].kind is not TokenKind.IDENT:
            raise RoutingError(f"unexpected {text_at(i)!r} at top level")
        name = tokens[i + 1].text
        i += 2
        if text_at(i) == ":":
            i += 1
            while i < n and tokens[i].kind is TokenKind.IDENT:
                i += 1
        if text_at(i) != "{":
            raise RoutingError(f"rule {name}: expected '{{'")
        body = i + 1
        close = body
        while close < n and not (tokens[close].kind is TokenKind.PUNCT and tokens[close].text in ("{", "}")):
            close += 1
        if close >= n or tokens[close].text != "}":
            raise RoutingError(f"rule {name}: body not closed")
        cond_at = next((k for k in range(body, close - 1)
                        if tokens[k].text == "condition" and tokens[k + 1].text == ":"), None)
        if cond_at is None:
            raise RoutingError(f"rule {name}: no condition")
        strings = _strings(tokens, body, cond_at)
        rules.append(_RawRule(name, private, is_global, (tokens[start].start, tokens[close].end), strings,
                              list(tokens[cond_at + 2:close])))
        i = close + 1
    return imports, rules


def _strings(tokens: Sequence[Token], body: int, cond_at: int) -> dict[str, StringDef]:
    """The string definitions between ``strings:`` and ``condition:`` (others are not needed)."""
    out: dict[str, StringDef] = {}
    k = next((j + 2 for j in range(body, cond_at - 1)
              if tokens[j].text == "strings" and tokens[j + 1].text == ":"), cond_at)
    while k < cond_at:
        if tokens[k].kind is TokenKind.STRING_ID and k + 2 < cond_at and tokens[k + 1].text == "=":
            name, value = tokens[k].text, tokens[k + 2]
            k += 3
            mods: set[str] = set()
            while k < cond_at and tokens[k].kind is not TokenKind.STRING_ID:
                if tokens[k].kind is TokenKind.IDENT:
                    mods.add(tokens[k].text)
                k += 1
            out[name] = StringDef(value.kind, value.text, frozenset(mods))
        else:
            k += 1
    return out


def _unquote(text: str) -> str:
    return text[1:-1]


def _text_bytes(literal: str) -> bytes | None:
    """The bytes of a YARA text string literal (None if it has an escape routing does not read)."""
    body = literal[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in ('"', "\\"):
            out += nxt.encode()
            i += 2
        elif nxt in ("n", "t", "r"):
            out += {"n": b"\n", "t": b"\t", "r": b"\r"}[nxt]
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2:i + 4]):
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:
            return None
    return bytes(out)


def _hex_prefix(literal: str) -> bytes:
    """The fixed bytes a hex string starts with (up to its first wildcard, jump or alternative)."""
    inner = re.sub(r"//[^\n]*|/\*.*?\*/", " ", literal[1:-1], flags=re.DOTALL)
    out = bytearray()
    for tok in re.findall(r"[0-9A-Fa-f?~]{2}|\S", inner.replace(" ", " ")):
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", tok):
            break
        out.append(int(tok, 16))
    return bytes(out)


# --- condition analysis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Alt:
    """One way a condition can be true: bytes pinned at offsets, prefixes allowed, largest file size."""

    pinned: tuple[tuple[int, int], ...] = ()
    prefixes: frozenset[bytes] | None = None
    max_size: int | None = None

    @property
    def free(self) -> bool:
        """Holds for any file."""
        return not self.pinned and self.prefixes is None and self.max_size is None


_Req = list[_Alt] | None
"""Alternatives one of which must hold; None means nothing is known (any file)."""


def _combine(a: _Alt, b: _Alt) -> _Alt | None:
    """Both hold; None when they contradict."""
    pinned = dict(a.pinned)
    for off, val in b.pinned:
        if pinned.get(off, val) != val:
            return None
        pinned[off] = val
    if a.prefixes is None:
        prefixes = b.prefixes
    elif b.prefixes is None:
        prefixes = a.prefixes
    else:
        prefixes = a.prefixes & b.prefixes
        if not prefixes:
            return None
    sizes = [m for m in (a.max_size, b.max_size) if m is not None]
    return _Alt(tuple(sorted(pinned.items())), prefixes, min(sizes) if sizes else None)


def _both(a: _Req, b: _Req) -> _Req:
    """Both requirements hold (dropping ``b`` when the alternatives grow too many: a looser bound)."""
    if a is None or b is None:
        return b if a is None else a
    out = [c for x in a for y in b if (c := _combine(x, y)) is not None]
    return a if len(out) > _MAX_ALTERNATIVES else out


def _split(tokens: Sequence[Token], word: str, kind: TokenKind = TokenKind.IDENT) -> list[list[Token]]:
    """Split at ``word`` (a keyword, or punctuation with ``kind`` PUNCT) outside parentheses and brackets."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind is TokenKind.PUNCT and t.text in ("(", "["):
            depth += 1
        elif t.kind is TokenKind.PUNCT and t.text in (")", "]"):
            depth -= 1
        elif depth == 0 and t.kind is kind and t.text == word:
            parts.append([])
            continue
        parts[-1].append(t)
    return parts


def _enclosed(tokens: Sequence[Token]) -> bool:
    """Whether the whole of ``tokens`` is one parenthesised expression."""
    if len(tokens) < 2 or tokens[0].text != "(" or tokens[-1].text != ")":
        return False
    depth = 0
    for k, t in enumerate(tokens):
        if t.kind is TokenKind.PUNCT and t.text in ("(", "["):
            depth += 1
        elif t.kind is TokenKind.PUNCT and t.text in (")", "]"):
            depth -= 1
            if depth == 0 and k != len(tokens) - 1:
                return False
    return True


def _int(tok: Token) -> int | None:
    if tok.kind is not TokenKind.NUMBER:
        return None
    t = tok.text
    if t.startswith("0x"):
        return int(t, 16)
    scale = {"KB": 1024, "MB": 1024 * 1024}.get(t[-2:], 1)
    digits = t[:-2] if scale > 1 else t
    return int(digits) * scale if digits.isdigit() else None


class _Analyser:
    """Condition analysis for the rules of one file (rules refer only to rules of their own file)."""

    def __init__(self) -> None:
        self.rule_reqs: dict[str, _Req] = {}
        self.strings: dict[str, StringDef] = {}
        self.module_terms: list[str] = []

    def expr(self, tokens: Sequence[Token]) -> _Req:
        out: list[_Alt] = []
        for branch in _split(tokens, "or"):
            alts = [_Alt()]
            for term in _split(branch, "and"):
                req = self.term(term)
                if req is None:
                    continue
                alts = [c for a in alts for b in req if (c := _combine(a, b)) is not None]
                if len(alts) > _MAX_ALTERNATIVES:
                    return None
            if any(a.free for a in alts):
                return None  # this branch holds for any file, so the whole disjunction may
            out.extend(alts)
        return out

    def branches(self, tokens: Sequence[Token]) -> list[Branch]:
        """Every ``or`` operand of ``tokens`` reached through ``and``, ``or`` and parentheses, outer first."""
        out: list[Branch] = []
        parts = _split(tokens, "or")
        for part in parts:
            if not part:
                continue
            if len(parts) > 1:
                req = self.expr(part)
                out.append(Branch((part[0].start, part[-1].end), _prefixes_of(req), _max_size_of(req),
                                  _stand_in(part), _shapes_of(req)))
            for term in _split(part, "and"):
                if _enclosed(term):
                    out.extend(self.branches(term[1:-1]))
        return out

    def term(self, t: Sequence[Token]) -> _Req:
        if not t:
            return None
        if _enclosed(t):
            return self.expr(t[1:-1])
        first = t[0]
        if len(t) == 1 and first.kind is TokenKind.IDENT:
            return self.rule_reqs.get(first.text)  # a reference to an earlier rule
        if len(t) == 6 and t[1].text == "(" and t[3].text == ")" and t[4].text == "==":
            return self._magic(t[0], t[2], t[5])
        if len(t) == 6 and t[1].text == "==" and t[3].text == "(" and t[5].text == ")":
            return self._magic(t[2], t[4], t[0])
        if len(t) == 3 and first.kind is TokenKind.STRING_ID and t[1].text == "at" and _int(t[2]) == 0:
            return self._string_at_0(first.text)
        if first.kind is TokenKind.IDENT and first.text in _MODULE_PREFIXES:
            return self._module_term(t)
        if first.kind is TokenKind.IDENT and first.text == "not":
            inner = t[2:-1] if _enclosed(t[1:]) else t[1:]
            if inner and inner[0].kind is TokenKind.IDENT and inner[0].text in _MODULE_PREFIXES:
                return self._module_term(inner, negated=True)
            return None
        if first.kind is TokenKind.IDENT and first.text == "for":
            return self._for_range(t)
        if first.kind is TokenKind.STRING_ID and first.text[:1] == "$" and len(t) > 2 and t[1].text in ("at", "in"):
            return self._string_offset(t)
        if len(t) == 3 and "filesize" in (t[0].text, t[2].text):
            return self._size_bound(t)
        return None

    @staticmethod
    def _size_bound(t: Sequence[Token]) -> _Req:
        """``filesize < N`` and its variants: the largest size a file can have."""
        op = t[1].text
        if t[0].text == "filesize":
            n = _int(t[2])
        else:
            n = _int(t[0])
            op = {">": "<", ">=": "<=", "==": "=="}.get(op, "")
        if n is None:
            return None
        bound = {"<": n - 1, "<=": n, "==": n}.get(op)
        return None if bound is None or bound < 0 else [_Alt(max_size=bound)]

    def _magic(self, reader: Token, offset: Token, value: Token) -> _Req:
        spec = _INT_READERS.get(reader.text)
        off, val = _int(offset), _int(value)
        if spec is None or off is None or val is None or reader.text.startswith("int"):
            return None  # signed readers sign-extend: leave them alone
        size, big = spec
        if val >= 1 << (8 * size):
            return None
        data = val.to_bytes(size, "big" if big else "little")
        return [_Alt(tuple((off + k, b) for k, b in enumerate(data)))]

    def _string_at_0(self, name: str) -> _Req:
        sdef = self.strings.get(name)
        if sdef is None:
            return None
        if sdef.kind is TokenKind.HEX:
            data = _hex_prefix(sdef.value)
        elif sdef.kind is TokenKind.TEXT and sdef.modifiers <= _PLAIN_MODIFIERS:
            data = _text_bytes(sdef.value) or b""
        else:
            return None
        if len(data) < HEAD_SIZE:
            return None
        return [_Alt(tuple(enumerate(data[:HEAD_SIZE])))]

    def _module_term(self, t: Sequence[Token], *, negated: bool = False) -> _Req:
        # ``pe.is_pe`` alone; or a term starting with a lowercase field or function of the module
        # (``pe.number_of_sections == 3``, ``pe.imphash() == "..."``, ``pe.exports("x")``): those
        # are undefined for other files, and undefined compares false. ``pe.is_pe`` is defined (0)
        # for any file, so it counts only on its own; constants (``pe.DLL``) are defined everywhere.
        # ``not`` keeps a value undefined, so the negation of such a term (never of ``pe.is_pe``)
        # is false for other files too.
        if len(t) < 3 or t[1].text != "." or t[2].kind is not TokenKind.IDENT:
            return None
        field_name = t[2].text
        if any(tok.kind is TokenKind.IDENT and tok.text in _NOT_STRICT for tok in t):
            return None
        if field_name == "is_pe":
            if len(t) != 3 or negated:
                return None
        elif not field_name.islower() or (field_name.startswith("is_") and len(t) == 3):
            return None
        self.module_terms.append(("not " if negated else "") + " ".join(tok.text for tok in t))
        return [_Alt(prefixes=_MODULE_PREFIXES[t[0].text])]

    def _for_range(self, t: Sequence[Token]) -> _Req:
        """``for <quantifier> <vars> in (A .. B) : (...)`` with A or B undefined for other files: YARA then
        iterates nothing and the loop is false (``any``, ``all`` and ``none`` alike)."""
        k = next((j for j, tok in enumerate(t) if tok.kind is TokenKind.IDENT and tok.text == "in"), None)
        if k is None or k + 1 >= len(t) or t[k + 1].text != "(":
            return None
        close = _closing(t, k + 1)
        if close is None or close + 2 >= len(t) or t[close + 1].text != ":" or not _enclosed(t[close + 2:]):
            return None
        bounds = _split_punct(t[k + 2:close], "..")
        if len(bounds) != 2:
            return None
        module = _undefined_elsewhere(bounds[0]) or _undefined_elsewhere(bounds[1])
        if module is None:
            return None
        self.module_terms.append(" ".join(tok.text for tok in t))
        return [_Alt(prefixes=_MODULE_PREFIXES[module])]

    def _string_offset(self, t: Sequence[Token]) -> _Req:
        """``$a at E`` or ``$a in (A .. B)`` with E, A or B undefined for other files: then undefined too."""
        rest = t[2:]
        if t[1].text == "in":
            if not _enclosed(rest):
                return None
            parts = _split_punct(rest[1:-1], "..")
            if len(parts) != 2:
                return None
            module = _undefined_elsewhere(parts[0]) or _undefined_elsewhere(parts[1])
        else:
            module = _undefined_elsewhere(rest)
        if module is None:
            return None
        self.module_terms.append(" ".join(tok.text for tok in t))
        return [_Alt(prefixes=_MODULE_PREFIXES[module])]


def _closing(t: Sequence[Token], k: int) -> int | None:
    """Index of the parenthesis closing the one at ``k``."""
    depth = 0
    for j in range(k, len(t)):
        if t[j].kind is TokenKind.PUNCT and t[j].text in ("(", "["):
            depth += 1
        elif t[j].kind is TokenKind.PUNCT and t[j].text in (")", "]"):
            depth -= 1
            if depth == 0:
                return j
    return None


def _split_punct(t: Sequence[Token], mark: str) -> list[list[Token]]:
    """Split at the punctuation ``mark`` outside parentheses (a comma anywhere at top level: one part)."""
    if len(_split(t, ",", TokenKind.PUNCT)) > 1:
        return [list(t)]
    return _split(t, mark, TokenKind.PUNCT)


_ARITHMETIC = frozenset({"+", "-", "*", "(", ")"})


def _undefined_elsewhere(t: Sequence[Token]) -> str | None:
    """The module whose lowercase field makes the integer expression ``t`` undefined for files of other formats.

    Only numbers, ``filesize``, ``+ - *``, parentheses and plain field paths (``pe.entry_point``,
    ``pe.number_of_sections``; no calls, no indexing, no constants) are accepted: arithmetic keeps
    an undefined operand undefined.
    """
    module = None
    k = 0
    while k < len(t):
        tok = t[k]
        if tok.kind is TokenKind.NUMBER or (tok.kind is TokenKind.PUNCT and tok.text in _ARITHMETIC) \
                or (tok.kind is TokenKind.IDENT and tok.text == "filesize"):
            k += 1
            continue
        if tok.kind is TokenKind.IDENT and tok.text in _MODULE_PREFIXES and k + 2 < len(t) \
                and t[k + 1].text == "." and t[k + 2].kind is TokenKind.IDENT:
            field_name = t[k + 2].text
            if not field_name.islower() or field_name.startswith("is_"):
                return None
            if module is not None and _MODULE_PREFIXES[module] != _MODULE_PREFIXES[tok.text]:
                return None
            module = tok.text
            k += 3
            if k < len(t) and t[k].text in (".", "[", "("):
                return None
            continue
        return None
    return module


def _stand_in(tokens: Sequence[Token]) -> str:
    """``false``, still naming every string that ``tokens`` name (see Branch.stand_in)."""
    names: dict[str, None] = {}
    for t in tokens:
        if (t.kind is TokenKind.IDENT and t.text == "them") or (t.kind is TokenKind.STRING_ID and t.text[1:] == "*"):
            return "(false and any of them)"
        if t.kind is TokenKind.STRING_ID and t.text[1:] not in ("", "*"):
            names["$" + t.text[1:]] = None  # $a, #a, @a and !a all name the string $a; $a* stays a wildcard
    return f"(false and any of ({', '.join(names)}))" if names else "false"


def _prefixes_of(req: _Req) -> frozenset[bytes] | None:
    """The two-byte prefixes that cover every alternative, or None when some alternative allows any file."""
    if not req:
        return None  # nothing can satisfy it, or nothing is known: never route on that
    found: set[bytes] = set()
    for alt in req:
        pinned = dict(alt.pinned)
        if all(k in pinned for k in range(HEAD_SIZE)):
            head = bytes(pinned[k] for k in range(HEAD_SIZE))
            if alt.prefixes is not None and head not in alt.prefixes:
                continue  # contradictory: cannot hold
            found.add(head)
        elif alt.prefixes is not None:
            found.update(alt.prefixes)
        else:
            return None
    return frozenset(found) if found else None


def _shapes_of(req: _Req) -> tuple[Shape, ...] | None:
    """Each alternative's prefixes and largest size (None when nothing is known)."""
    if not req:
        return None
    return tuple(sorted({(_prefixes_of([alt]), alt.max_size) for alt in req},
                        key=lambda s: (sorted(s[0] or ()), -1 if s[1] is None else s[1])))


def _max_size_of(req: _Req) -> int | None:
    """The largest file size any alternative allows, or None when some alternative allows any size."""
    if not req or any(alt.max_size is None for alt in req):
        return None
    return max(alt.max_size for alt in req if alt.max_size is not None)


def _uses(condition: Sequence[Token], imports: Sequence[str], names: Iterable[str]) -> tuple[tuple[int, str], ...]:
    """Where ``condition`` names an imported module or a rule of the file: (offset, name), in order."""
    known = list(names)
    out: list[tuple[int, str]] = []
    for k, t in enumerate(condition):
        if t.kind is not TokenKind.IDENT:
            continue
        if k > 0 and condition[k - 1].text == ".":
            continue  # a field (pe.exports), not a module or rule of its own
        if k + 1 < len(condition) and condition[k + 1].text == "*":
            out.extend((t.start, n) for n in known if n.startswith(t.text))  # a rule set such as ``any of (Foo*)``
        elif t.text in imports or t.text in known:
            out.append((t.start, t.text))
    return tuple(out)


_EXTERNALS = frozenset({*PATH_EXTERNALS, "filetype", "owner"})
_GATE_WORDS = frozenset({"and", "or", "not", "true", "false", "contains", "icontains", "startswith", "istartswith",
                         "endswith", "iendswith", "iequals", "matches"})


def _gates(condition: Sequence[Token], rule_names: frozenset[str]) -> tuple[str, ...] | None:
    """RuleInfo.gates of a condition (None when it has no such form)."""
    def flat(tokens: Sequence[Token], word: str) -> list[Sequence[Token]]:
        out: list[Sequence[Token]] = []
        for part in _split(tokens, word):
            inner = part[1:-1] if _enclosed(part) else None
            out.extend(flat(inner, word) if inner is not None and len(_split(inner, word)) > 1 else [part])
        return out

    gates = []
    for branch in flat(condition, "or"):
        while _enclosed(branch) and len(_split(branch[1:-1], "or")) == 1:
            branch = branch[1:-1]
        pure = []
        for term in flat(branch, "and"):
            if all(t.kind in (TokenKind.TEXT, TokenKind.REGEX, TokenKind.NUMBER)
                   or (t.kind is TokenKind.PUNCT and t.text in ("(", ")", "==", "!="))
                   or (t.kind is TokenKind.IDENT and (t.text in _EXTERNALS or t.text in _GATE_WORDS)) for t in term):
                pure.append(" ".join(t.text for t in term))
            elif any(t.kind is TokenKind.IDENT and (t.text in PATH_EXTERNALS or t.text in rule_names) for t in term):
                return None  # a term that mixes the name with content, or depends on another rule
        gates.append(" and ".join(f"({g})" for g in pure) or "true")
    return tuple(gates)


_PATH_WORDS = re.compile(rb"\b(?:filename|filepath|extension)\b")


def analyse(namespace: str, path: str, raw: bytes, parsed: tuple[list[str], list[_RawRule]] | None = None
            ) -> FileAnalysis:
    """Analyse one rule file (``parsed``: its text's ``_parse``, when already known); a file that cannot be
    analysed with certainty is marked to go whole."""
    paths = _PATH_WORDS.search(raw) is not None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return FileAnalysis(namespace, path, "", whole="not UTF-8", whole_paths=paths)
    try:
        imports, raw_rules = parsed or _parse(tokenize(text))
    except RoutingError as exc:
        return FileAnalysis(namespace, path, "", whole=str(exc), whole_paths=paths)
    names = [r.name for r in raw_rules]
    if len(set(names)) != len(names):
        return FileAnalysis(namespace, path, "", whole="duplicate rule names", whole_paths=paths)
    if any(r.is_global and not r.private for r in raw_rules):
        return FileAnalysis(namespace, path, "", whole="non-private global rule", whole_paths=paths)
    an = _Analyser()
    conds: dict[str, _Req] = {}
    branches: dict[str, list[Branch]] = {}
    for r in raw_rules:
        an.strings = r.strings
        conds[r.name] = an.expr(r.condition)
        branches[r.name] = an.branches(r.condition)
        an.rule_reqs[r.name] = conds[r.name]
    global_reqs = [conds[r.name] for r in raw_rules if r.is_global]
    rules = []
    for r in raw_rules:
        prefixes, max_size = _prefixes_of(conds[r.name]), _max_size_of(conds[r.name])
        req = conds[r.name]
        if not r.is_global:
            for g in global_reqs:  # a false global rule makes every rule of the namespace false
                gp, gs = _prefixes_of(g), _max_size_of(g)
                if gp is not None:
                    prefixes = gp if prefixes is None else (prefixes & gp) or prefixes
                if gs is not None:
                    max_size = gs if max_size is None else min(max_size, gs)
                req = _both(req, g)
        uses = _uses(r.condition, imports, names)
        modules = frozenset(n for _, n in uses if n in imports)
        references = frozenset(n for _, n in uses if n in names)
        mentions_paths = any(t.kind is TokenKind.IDENT and t.text in PATH_EXTERNALS for t in r.condition)
        gates = _gates(r.condition, frozenset(names)) if mentions_paths else None
        rules.append(RuleInfo(r.name, r.private, r.is_global, references, prefixes, max_size, r.span, modules,
                              tuple(branches[r.name]), uses, mentions_paths, _shapes_of(req), gates))
    return FileAnalysis(namespace, path, text, tuple(imports), tuple(rules))


# --- planning ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutedSet:
    """One set of rules to compile, for the files whose route (prefix, size bucket) is in ``routes``."""

    name: str
    """A file-name-safe label, e.g. ``4d5a.0`` (prefix in hex or ``any``, then the size bucket)."""
    routes: tuple[tuple[bytes, int], ...]
    """The (prefix, size bucket) pairs it serves; prefix ``b""`` stands for files of no routed prefix."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Namespace -> YARA source text."""
    rules: int = 0
    """Reporting (non-private) rules in it, counting files that go whole as one each."""
    complete: bool = False
    """It holds every rule of every file (so the unrouted set can stand in for it)."""
    path_sources: Mapping[str, str] = field(default_factory=dict)
    """Namespace -> source of just its rules whose result may depend on the file's name (RoutePlan.path_rules),
    with what they need; empty when it has none. A second name of a file already matched (a hard link)
    is matched against these alone."""
    name_gates: tuple[tuple[str, str, tuple[str, ...]], ...] | None = None
    """For each rule of ``path_sources``: (namespace, rule, RuleInfo.gates); None when one of them has no
    gates (then a further name is always matched against ``path_sources``)."""


@dataclass(frozen=True)
class RoutePlan:
    """How a collection of rule files is split."""

    prefixes: tuple[bytes, ...]
    """The prefixes that have sets of their own; files with any other start use prefix ``b""``."""
    size_edges: tuple[int, ...]
    """Lower edges of the size buckets after the first (bucket of a size: ``size_bucket``)."""
    sets: tuple[RoutedSet, ...]
    """Every set; each (prefix, bucket) pair is served by exactly one."""
    whole: Mapping[str, str]
    """Namespaces that go to every set unsplit, and why."""
    path_rules: frozenset[tuple[str, str]] = frozenset()
    """(namespace, rule) of the rules whose result may depend on a file's name: their conditions name
    ``filename``, ``filepath`` or ``extension``, or a rule that does (global rules included)."""
    path_namespaces: frozenset[str] = frozenset()
    """Namespaces sent whole that mention those variables: every rule of them counts as such."""


SIZE_EDGES: tuple[int, ...] = (1 << 20, 16 << 20)
"""Files are bucketed by size at these edges: most rules bound ``filesize``, and most bytes are in big files."""


def size_bucket(size: int, edges: Sequence[int] = SIZE_EDGES) -> int:
    """The size bucket of a file of ``size`` bytes."""
    return sum(1 for e in edges if size >= e)


def route_of(head: bytes, size: int, prefixes: Iterable[bytes], edges: Sequence[int] = SIZE_EDGES) -> tuple[bytes, int]:
    """The route of a file: its routed prefix (or ``b""``) and its size bucket."""
    p = head[:HEAD_SIZE]
    return (p if p in prefixes else b"", size_bucket(size, edges))


def _include_line(path: str) -> str:
    return 'include "' + path.replace("\\", "\\\\").replace('"', '\\"') + '"\n'


def _closure(fa: FileAnalysis, roots: Iterable[str], refs: Mapping[str, frozenset[str]] | None = None) -> set[str]:
    """``roots`` and every rule of ``fa`` they refer to, directly or not (``refs``: the references to follow)."""
    by_name = {r.name: r for r in fa.rules}
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].references if refs is None else refs[name])
    return seen


_Route = tuple[bytes, int]


def _dead_branches(rule: RuleInfo, routes: Sequence[_Route], lows: Sequence[int], chosen: frozenset[bytes]
                   ) -> list[Branch]:
    """The outermost branches of ``rule`` that hold for no file of ``routes`` (see Branch)."""
    out: list[Branch] = []
    for b in rule.branches:
        if any(o.span[0] <= b.span[0] and b.span[1] <= o.span[1] for o in out):
            continue
        if not any(_may_match(b, prefix, lows[bucket], chosen) for prefix, bucket in routes):
            out.append(b)
    return out


def _part(fa: FileAnalysis, selected: set[str], dead: Mapping[str, Sequence[Branch]] | None = None) -> str:
    """Source for the ``selected`` rules of ``fa`` with what they need, ``dead`` branches replaced."""
    dead = dead or {}
    live_uses: dict[str, list[str]] = {}
    for r in fa.rules:
        spans = [b.span for b in dead.get(r.name, ())]
        live_uses[r.name] = [n for off, n in r.uses if not any(a <= off < b for a, b in spans)]
    refs = {name: frozenset(uses) for name, uses in live_uses.items()}
    keep = _closure(fa, selected | {r.name for r in fa.rules if r.is_global}, refs)
    used = {m for r in fa.rules if r.name in keep for m in live_uses[r.name]}
    lines = [f'import "{m}"\n' for m in fa.imports if m in used]
    for r in fa.rules:
        if r.name in keep:
            text = fa.text[r.span[0]:r.span[1]]
            for b in sorted(dead.get(r.name, ()), key=lambda b: -b.span[0]):
                a, z = b.span[0] - r.span[0], b.span[1] - r.span[0]
                text = text[:a] + b.stand_in + text[z:]
            lines.append(text + "\n")
    return "".join(lines)


def _may_match(rule: RuleInfo | Branch, prefix: bytes, low: int, chosen: frozenset[bytes]) -> bool:
    """Whether ``rule`` (or a branch) can hold for some file of route (``prefix``, bucket starting at ``low`` bytes)."""
    shapes = rule.shapes if rule.shapes is not None else ((rule.prefixes, rule.max_size),)
    return any(_shape_fits(prefixes, max_size, prefix, low, chosen) for prefixes, max_size in shapes)


def _shape_fits(prefixes: frozenset[bytes] | None, max_size: int | None, prefix: bytes, low: int,
                chosen: frozenset[bytes]) -> bool:
    if max_size is not None and max_size < low:
        return False
    if prefixes is None:
        return True
    if prefix == b"":
        return not prefixes <= chosen  # files of a prefix that has no set of its own come here
    return prefix in prefixes


def _path_dependent(fa: FileAnalysis) -> set[str]:
    """Rules of ``fa`` whose result may depend on a file's name (see RoutePlan.path_rules)."""
    found = {r.name for r in fa.rules if r.paths}
    changed = True
    while changed:
        changed = False
        for r in fa.rules:
            if r.name not in found and r.references & found:
                found.add(r.name)
                changed = True
    if any(r.is_global and r.name in found for r in fa.rules):
        found = {r.name for r in fa.rules}
    return found


def plan(
    files: Sequence[FileAnalysis], *, min_rules: int | None = None, min_share: float | None = None,
    max_sets: int | None = None, size_edges: Sequence[int] | None = None,
) -> RoutePlan | None:
    """Split ``files`` into sets by prefix and size; None when no set would leave any rule out.

    Parameters left None take the module's constants (read at call time).
    """
    min_rules = MIN_RULES if min_rules is None else min_rules
    min_share = MIN_SHARE if min_share is None else min_share
    max_sets = MAX_SETS if max_sets is None else max_sets
    size_edges = SIZE_EDGES if size_edges is None else tuple(size_edges)
    counts: dict[bytes, int] = {}
    total = 0
    for fa in files:
        for r in fa.rules:
            if not r.private:
                total += 1
                for p in r.prefixes or ():
                    counts[p] = counts.get(p, 0) + 1
    least = max(min_rules, min_share * total)
    chosen = tuple(p for p, c in sorted(counts.items(), key=lambda pc: (-pc[1], pc[0])) if c >= least)[:max_sets]
    chosen_set = frozenset(chosen)
    if any(_include_line(fa.path).count("\n") != 1 for fa in files if fa.whole):
        return None  # a path that cannot be written in an include statement
    lows = (0, *size_edges)
    selections: dict[tuple[bytes, int], dict[str, frozenset[str]]] = {}
    for prefix in (*chosen, b""):
        for bucket, low in enumerate(lows):
            selections[(prefix, bucket)] = {
                fa.namespace: frozenset(r.name for r in fa.rules if not r.private and not r.is_global
                                        and _may_match(r, prefix, low, chosen_set))
                for fa in files if not fa.whole
            }
    everything = {fa.namespace: frozenset(r.name for r in fa.rules if not r.private) for fa in files if not fa.whole}
    if all(sel == everything for sel in selections.values()):
        return None
    groups: dict[tuple[tuple[str, frozenset[str]], ...], list[_Route]] = {}
    for route, sel in selections.items():
        groups.setdefault(tuple(sorted(sel.items())), []).append(route)
    by_path = {fa.namespace: _path_dependent(fa) for fa in files if not fa.whole}
    sets = []
    for sel_items, routes in groups.items():
        sel = dict(sel_items)
        prefix, bucket = min(routes, key=lambda r: (r[0] != b"", r[1]))  # named after its most general route
        sources: dict[str, str] = {}
        path_sources: dict[str, str] = {}
        gates: list[tuple[str, str, tuple[str, ...]]] | None = []
        count = 0
        for fa in files:
            if fa.whole:
                sources[fa.namespace] = _include_line(fa.path)
                if fa.whole_paths:
                    path_sources[fa.namespace] = sources[fa.namespace]
                    gates = None
                count += 1
            elif sel[fa.namespace]:
                dead = {r.name: _dead_branches(r, routes, lows, chosen_set) for r in fa.rules if r.branches}
                sources[fa.namespace] = _part(fa, set(sel[fa.namespace]), dead)
                if on_path := sel[fa.namespace] & by_path[fa.namespace]:
                    path_sources[fa.namespace] = _part(fa, set(on_path), dead)
                    for r in fa.rules:
                        if r.name in on_path and gates is not None:
                            gates = None if r.gates is None or any(g.is_global for g in fa.rules) \
                                else [*gates, (fa.namespace, r.name, r.gates)]
                count += len(sel[fa.namespace])
        sets.append(RoutedSet(f"{prefix.hex() or 'any'}.{bucket}", tuple(routes), sources, count, sel == everything,
                              path_sources, None if gates is None else tuple(gates)))
    whole = {fa.namespace: fa.whole for fa in files if fa.whole}
    path_rules = frozenset((ns, name) for ns, names in by_path.items() for name in names)
    path_namespaces = frozenset(fa.namespace for fa in files if fa.whole and fa.whole_paths)
    return RoutePlan(chosen, tuple(size_edges), tuple(sets), whole, path_rules, path_namespaces)


def module_gates(raw: bytes) -> list[str]:
    """The module terms (``pe.``, ``elf.``, ...) of a rule file that routing takes as format gates.

    For tests that check, against the real engine, that each is false for files of other formats.
    """
    try:
        _imports, raw_rules = _parse(tokenize(raw.decode("utf-8")))
    except (UnicodeDecodeError, RoutingError):
        return []
    an = _Analyser()
    for r in raw_rules:
        an.strings = r.strings
        an.rule_reqs[r.name] = an.expr(r.condition)
    return an.module_terms
