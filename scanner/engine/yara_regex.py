"""YARA regular expressions in Hyperscan's syntax, for the content gates (``gating``, decision 0006).

YARA and Hyperscan (PCRE) read many constructs differently (``\\e``, ``{,n}``, ``[\\b]``, ``\\Q``,
``[[:digit:]]``, ...). This is an allow-list translator: it accepts only the constructs whose meaning
in YARA is documented and known here, and writes each one in a form whose meaning in Hyperscan is
plain (bytes as ``\\xNN``, classes as explicit byte sets). Anything else is refused with a reason, and
the string is left without a gate (its rules are matched on every file, so nothing is lost).

The result may match more than the YARA expression (anchors and word boundaries are dropped), never
less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIMPLE = {"t": 9, "n": 10, "r": 13, "f": 12, "a": 7}
"""Escapes that stand for one byte, in YARA and here."""
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGIT = frozenset(b"0123456789")
_SPACE = frozenset(b"\t\n\x0b\x0c\r ")  # YARA counts vertical tab as white space
_ALL = frozenset(range(256))
_CLASSES = {
    "w": _WORD,
    "W": _ALL - _WORD,
    "d": _DIGIT,
    "D": _ALL - _DIGIT,
    "s": _SPACE,
    "S": _ALL - _SPACE,
}
_PUNCT = frozenset(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
"""Escaped, these stand for themselves in both syntaxes."""
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - frozenset("\\^$|()[].*+?{}")
"""Characters that stand for themselves outside a class, in both syntaxes."""
_QUANTIFIER = re.compile(r"\{(\d*)(,?)(\d*)\}")


class Untranslatable(Exception):
    """A construct this translator does not accept; the message says which and where."""


def _byte(c: int) -> str:
    return f"\\x{c:02x}"


def byte_set(values: frozenset[int] | set[int]) -> str:
    """An explicit class of ``values`` (one byte: that byte alone)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return _byte(ordered[0])
    parts: list[str] = []
    k = 0
    while k < len(ordered):
        j = k
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(_byte(ordered[k]) if j == k else _byte(ordered[k]) + "-" + _byte(ordered[j]))
        k = j + 1
    return "[" + "".join(parts) + "]"


@dataclass
class _Reader:
    body: str
    at: int = 0

    def fail(self, what: str) -> Untranslatable:
        return Untranslatable(f"{what} at offset {self.at} of /{self.body}/")

    def peek(self, n: int = 1) -> str:
        return self.body[self.at : self.at + n]

    def alternation(self, depth: int) -> str:
        branches = [self.sequence(depth)]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence(depth))
        return "|".join(branches)

    def sequence(self, depth: int) -> str:
        out: list[str] = []
        while self.at < len(self.body) and self.peek() != "|" and not (self.peek() == ")" and depth):
            atom = self.atom(depth)
            if atom is None:
                continue
            out.append(atom + self.quantifier())
        if not out:
            raise self.fail("an empty alternative")
        return "".join(out)

    def atom(self, depth: int) -> str | None:
        """The next atom in Hyperscan's syntax; None for an anchor or word boundary (dropped: wider)."""
        c = self.peek()
        if c in ("^", "$"):
            self.at += 1
            return None
        if c == "(":
            if self.peek(2) == "(?":
                raise self.fail("a group with options")
            self.at += 1
            inner = self.alternation(depth + 1)
            if self.peek() != ")":
                raise self.fail("an unclosed group")
            self.at += 1
            return "(?:" + inner + ")"
        if c == "[":
            return self.klass()
        if c == ".":
            self.at += 1
            return "."
        if c == "\\":
            if self.peek(2) in ("\\b", "\\B"):
                self.at += 2
                if self.quantifiable():
                    raise self.fail("a quantified word boundary")
                return None
            values = self.escape(in_class=False)
            return byte_set(values)
        if c in _PLAIN:
            self.at += 1
            return _byte(ord(c))
        raise self.fail(f"the character {c!r}")

    def quantifiable(self) -> bool:
        return self.peek() in ("*", "+", "?", "{")

    def quantifier(self) -> str:
        c = self.peek()
        if c in ("*", "+", "?"):
            self.at += 1
            out = c
        elif c == "{":
            m = _QUANTIFIER.match(self.body, self.at)
            if m is None or not (m.group(1) or m.group(3)):
                raise self.fail("a brace that is not a plain {n}, {n,}, {,m} or {n,m}")
            low, comma, high = m.group(1) or "0", m.group(2), m.group(3)
            if comma and high and int(low) > int(high):
                raise self.fail("a repeat whose minimum exceeds its maximum")
            self.at = m.end()
            out = "{" + low + comma + high + "}"
        else:
            return ""
        if self.peek() == "?":
            self.at += 1  # lazy or greedy, the same bytes can match
        if self.quantifiable():
            raise self.fail("a quantifier after a quantifier")
        return out

    def escape(self, in_class: bool) -> frozenset[int]:
        """The bytes the escape at the reader's position stands for."""
        nxt = self.body[self.at + 1 : self.at + 2]
        if nxt == "x":
            digits = self.body[self.at + 2 : self.at + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise self.fail("a \\x escape without two hex digits")
            self.at += 4
            return frozenset({int(digits, 16)})
        if nxt in _SIMPLE:
            self.at += 2
            return frozenset({_SIMPLE[nxt]})
        if nxt in _CLASSES:
            self.at += 2
            return _CLASSES[nxt]
        if nxt and nxt in _PUNCT:
            self.at += 2
            return frozenset({ord(nxt)})
        raise self.fail(f"the escape \\{nxt}" + (" in a class" if in_class else ""))

    def klass(self) -> str:
        self.at += 1
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        if self.peek() == "]":
            raise self.fail("a class that starts with ]")
        values: set[int] = set()
        while True:
            c = self.peek()
            if not c:
                raise self.fail("an unclosed class")
            if c == "]":
                self.at += 1
                break
            low = self.class_member()
            if self.peek() == "-" and self.peek(2)[1:] not in ("]", ""):
                self.at += 1
                high = self.class_member()
                if len(low) != 1 or len(high) != 1 or min(low) > min(high):
                    raise self.fail("a range that is not between two bytes in order")
                values.update(range(min(low), min(high) + 1))
            else:
                values.update(low)
        if negated:
            values = set(_ALL) - values
        if not values:
            raise self.fail("a class that matches nothing")
        return byte_set(frozenset(values))

    def class_member(self) -> frozenset[int]:
        c = self.peek()
        if c == "\\":
            if self.peek(2) == "\\b":
                raise self.fail("\\b in a class")
            return self.escape(in_class=True)
        if c == "[" or not (" " <= c <= "~"):
            raise self.fail(f"the character {c!r} in a class")
        self.at += 1
        return frozenset({ord(c)})


def to_hyperscan(body: str) -> str:
    """The YARA expression ``body`` (between its slashes) in Hyperscan's syntax.

    Raises Untranslatable for anything this translator does not accept.
    """
    reader = _Reader(body)
    out = reader.alternation(0)
    if reader.at != len(body):
        raise reader.fail("an unbalanced )")
    return out
