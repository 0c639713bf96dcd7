"""YARA syntax as the engine reads it without compiling: tokens, a small lexer, and a parser of rule files.

Routing (``analysis``, ``routing``) and content gates (``gating``) both read rule sources this way. The
lexer and parser are deliberately small: anything they cannot read with certainty raises
``UnreadableSource`` and the file is then used whole, never guessed at.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


class UnreadableSource(Exception):
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


_SKIP = r"(?:\s+|//[^\n]*|/\*.*?\*/)*+"  # possessive: backtracking into blanks and comments is exponential
_TOKEN = re.compile(
    _SKIP
    + r"""(?:(?P<text>"(?:\\.|[^"\\\n])*")
      |(?P<sid>[$#@][A-Za-z0-9_]*\*?|![A-Za-z0-9_]+\*?|!(?!=))
      |(?P<number>0x[0-9A-Fa-f]+|0o[0-7]+|\d+(?:\.\d+)?(?:KB|MB)?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<punct>==|!=|<=|>=|<<|>>|\.\.|[-+*\\%&|^~<>=().,:\[\]{}])
      |(?P<end>\Z))""",
    re.VERBOSE | re.DOTALL,
)
_REGEX = re.compile(_SKIP + r"(?P<regex>/(?:\\.|[^/\\\n])+/[a-z]*)", re.DOTALL)
_HEX = re.compile(_SKIP + r"(?P<hex>\{(?:[^}/]|//[^\n]*|/\*.*?\*/)*+\})", re.DOTALL)
_KIND = {
    "text": TokenKind.TEXT,
    "sid": TokenKind.STRING_ID,
    "number": TokenKind.NUMBER,
    "ident": TokenKind.IDENT,
    "punct": TokenKind.PUNCT,
    "regex": TokenKind.REGEX,
    "hex": TokenKind.HEX,
}


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, comments dropped. Raises UnreadableSource on anything unexpected.

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
            raise UnreadableSource(f"cannot read the rule source at offset {pos}: {source[pos : pos + 20]!r}")
        group = m.lastgroup
        if group == "end" or group is None:
            return tokens
        start = m.start(group)
        prev = m.group(group)
        append(Token(_KIND[group], prev, start, m.end()))
        pos = m.end()


@dataclass(frozen=True)
class StringDef:
    """A string of a rule's strings section, as far as routing cares."""

    kind: TokenKind
    """TEXT, HEX or REGEX."""
    value: str
    """The literal as written."""
    modifiers: frozenset[str]
    """Modifier keywords (``ascii``, ``wide``, ``nocase``, ``xor``, ...)."""


@dataclass
class RawRule:
    """One rule of a file as parsed, before any analysis."""

    name: str
    """The rule's identifier."""
    private: bool
    """Declared ``private``."""
    is_global: bool
    """Declared ``global``."""
    span: tuple[int, int]
    """Offsets of the rule's text in the file (modifiers to closing brace)."""
    strings: dict[str, StringDef]
    """Its named strings (an anonymous ``$`` keeps the last one)."""
    condition: list[Token]
    """The tokens of its condition."""


def parse(tokens: Sequence[Token]) -> tuple[list[str], list[RawRule]]:
    """The imports and rules of a rule file's ``tokens``; UnreadableSource on anything this parser does not
    read with certainty (``include`` among them)."""
    imports: list[str] = []
    rules: list[RawRule] = []
    i, n = 0, len(tokens)

    def text_at(k: int) -> str:
        return tokens[k].text if k < n else ""

    while i < n:
        t = tokens[i]
        if t.kind is TokenKind.IDENT and t.text == "import":
            if i + 1 >= n or tokens[i + 1].kind is not TokenKind.TEXT:
                raise UnreadableSource("import without a module name")
            imports.append(_unquote(tokens[i + 1].text))
            i += 2
            continue
        if t.kind is TokenKind.IDENT and t.text == "include":
            raise UnreadableSource("uses include")
        start = i
        private = is_global = False
        while text_at(i) in ("private", "global"):
            private |= text_at(i) == "private"
            is_global |= text_at(i) == "global"
            i += 1
        if text_at(i) != "rule" or i + 1 >= n or tokens[i + 1].kind is not TokenKind.IDENT:
            raise UnreadableSource(f"unexpected {text_at(i)!r} at top level")
        name = tokens[i + 1].text
        i += 2
        if text_at(i) == ":":
            i += 1
            while i < n and tokens[i].kind is TokenKind.IDENT:
                i += 1
        if text_at(i) != "{":
            raise UnreadableSource(f"rule {name}: expected '{{'")
        body = i + 1
        close = body
        while close < n and not (tokens[close].kind is TokenKind.PUNCT and tokens[close].text in ("{", "}")):
            close += 1
        if close >= n or tokens[close].text != "}":
            raise UnreadableSource(f"rule {name}: body not closed")
        cond_at = next(
            (k for k in range(body, close - 1) if tokens[k].text == "condition" and tokens[k + 1].text == ":"), None
        )
        if cond_at is None:
            raise UnreadableSource(f"rule {name}: no condition")
        strings = _strings(tokens, body, cond_at)
        rules.append(
            RawRule(
                name,
                private,
                is_global,
                (tokens[start].start, tokens[close].end),
                strings,
                list(tokens[cond_at + 2 : close]),
            )
        )
        i = close + 1
    return imports, rules


def _strings(tokens: Sequence[Token], body: int, cond_at: int) -> dict[str, StringDef]:
    """The string definitions between ``strings:`` and ``condition:`` (others are not needed)."""
    out: dict[str, StringDef] = {}
    k = next(
        (j + 2 for j in range(body, cond_at - 1) if tokens[j].text == "strings" and tokens[j + 1].text == ":"), cond_at
    )
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


def text_bytes(literal: str) -> bytes | None:
    """The bytes of a YARA text string literal (None if it has an escape this reader does not know)."""
    body = literal[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in ('"', "\\"):
            out += nxt.encode()
            i += 2
        elif nxt in ("n", "t", "r"):
            out += {"n": b"\n", "t": b"\t", "r": b"\r"}[nxt]
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2 : i + 4]):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            return None
    return bytes(out)


def split(tokens: Sequence[Token], word: str, kind: TokenKind = TokenKind.IDENT) -> list[list[Token]]:
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


def enclosed(tokens: Sequence[Token]) -> bool:
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


def number(tok: Token) -> int | None:
    """The value of a NUMBER token (``0x10``, ``12``, ``4KB``, ``1MB``); None for any other token or form."""
    if tok.kind is not TokenKind.NUMBER:
        return None
    t = tok.text
    if t.startswith("0x"):
        return int(t, 16)
    scale = {"KB": 1024, "MB": 1024 * 1024}.get(t[-2:], 1)
    digits = t[:-2] if scale > 1 else t
    return int(digits) * scale if digits.isdigit() else None


def closing(t: Sequence[Token], k: int) -> int | None:
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


def split_punct(t: Sequence[Token], mark: str) -> list[list[Token]]:
    """Split at the punctuation ``mark`` outside parentheses (a comma anywhere at top level: one part)."""
    if len(split(t, ",", TokenKind.PUNCT)) > 1:
        return [list(t)]
    return split(t, mark, TokenKind.PUNCT)
