"""Per-rule analysis for routing: which files a rule can possibly match, judged from their first two
bytes and their size, and which of its terms look only at a file's name.

For each rule of a file this finds the two-byte prefixes a file must start with and the largest size
it can have for the rule to match (``RuleInfo``), the ``or`` branches a set may replace by ``false``
(``Branch``), the imported modules and rules it names, and whether it looks at ``filename``,
``filepath`` or ``extension``. Soundness comes first: anything not understood adds no constraint,
and a file that cannot be read with certainty is marked to go whole (``FileAnalysis.whole``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scanner.engine.syntax import (
    RawRule,
    StringDef,
    Token,
    TokenKind,
    UnreadableSource,
    closing,
    enclosed,
    number,
    parse,
    split,
    split_punct,
    text_bytes,
    tokenize,
)

HEAD_SIZE = 2
"""How many leading bytes of a file routing looks at."""

_MAX_ALTERNATIVES = 64
_MODULE_PREFIXES: Mapping[str, frozenset[bytes]] = {
    # Every non-constant field and function of these modules is undefined (so a comparison with it
    # is false) unless the file parses as that format, which needs its magic at offset 0.
    "pe": frozenset({b"MZ"}),
    "dotnet": frozenset({b"MZ"}),
    "elf": frozenset({b"\x7fE"}),
}
_INT_READERS: Mapping[str, tuple[int, bool]] = {
    "uint8": (1, False),
    "uint16": (2, False),
    "uint32": (4, False),
    "uint8be": (1, True),
    "uint16be": (2, True),
    "uint32be": (4, True),
    "int8": (1, False),
    "int16": (2, False),
    "int32": (4, False),
    "int8be": (1, True),
    "int16be": (2, True),
    "int32be": (4, True),
}
_PLAIN_MODIFIERS = frozenset({"ascii", "fullword", "private"})
_NOT_STRICT = frozenset({"not", "defined", "and", "or", "of", "for", "in", "at", "them", "with", "all", "any", "none"})
"""Keywords after which an undefined module value need not make a term false (nor its negation: YARA's
``and`` turns an undefined operand into false, so ``not (pe.x and $b)`` is true for any other file)."""
PATH_EXTERNALS = frozenset({"filename", "filepath", "extension"})
"""External variables that differ between two names of one file (hard links); the rest depend on its content
(``filetype``) or its inode (``owner``)."""


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
    """What routing knows about one namespace: one rule file, or several read one after the other."""

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
    format_terms: tuple[str, ...] = ()
    """The module terms its rules are routed on as format gates (``pe.x``, ``not pe.x``, a loop over a
    ``pe.`` range, ``$a at pe.x``): each must be false for files of other formats."""
    files: tuple[str, ...] = ()
    """When the namespace is several files read one after the other (``text`` is theirs joined by line
    breaks; ``path`` is the first): their absolute paths, in order, each included when it goes whole."""


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


class _Analyser:
    """Condition analysis for the rules of one file (rules refer only to rules of their own file)."""

    def __init__(self) -> None:
        self.rule_reqs: dict[str, _Req] = {}
        self.strings: dict[str, StringDef] = {}
        self.module_terms: list[str] = []

    def expr(self, tokens: Sequence[Token]) -> _Req:
        out: list[_Alt] = []
        for branch in split(tokens, "or"):
            alts = [_Alt()]
            for term in split(branch, "and"):
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
        parts = split(tokens, "or")
        for part in parts:
            if not part:
                continue
            if len(parts) > 1:
                req = self.expr(part)
                out.append(
                    Branch(
                        (part[0].start, part[-1].end),
                        _prefixes_of(req),
                        _max_size_of(req),
                        _stand_in(part),
                        _shapes_of(req),
                    )
                )
            for term in split(part, "and"):
                if enclosed(term):
                    out.extend(self.branches(term[1:-1]))
        return out

    def term(self, t: Sequence[Token]) -> _Req:
        if not t:
            return None
        if enclosed(t):
            return self.expr(t[1:-1])
        first = t[0]
        if len(t) == 1 and first.kind is TokenKind.IDENT:
            return self.rule_reqs.get(first.text)  # a reference to an earlier rule
        if len(t) == 6 and t[1].text == "(" and t[3].text == ")" and t[4].text == "==":
            return self._magic(t[0], t[2], t[5])
        if len(t) == 6 and t[1].text == "==" and t[3].text == "(" and t[5].text == ")":
            return self._magic(t[2], t[4], t[0])
        if len(t) == 3 and first.kind is TokenKind.STRING_ID and t[1].text == "at" and number(t[2]) == 0:
            return self._string_at_0(first.text)
        if first.kind is TokenKind.IDENT and first.text in _MODULE_PREFIXES:
            return self._module_term(t)
        if first.kind is TokenKind.IDENT and first.text == "not":
            inner = t[2:-1] if enclosed(t[1:]) else t[1:]
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
            n = number(t[2])
        else:
            n = number(t[0])
            op = {">": "<", ">=": "<=", "==": "=="}.get(op, "")
        if n is None:
            return None
        bound = {"<": n - 1, "<=": n, "==": n}.get(op)
        return None if bound is None or bound < 0 else [_Alt(max_size=bound)]

    def _magic(self, reader: Token, offset: Token, value: Token) -> _Req:
        spec = _INT_READERS.get(reader.text)
        off, val = number(offset), number(value)
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
            data = text_bytes(sdef.value) or b""
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
        close = closing(t, k + 1)
        if close is None or close + 2 >= len(t) or t[close + 1].text != ":" or not enclosed(t[close + 2 :]):
            return None
        bounds = split_punct(t[k + 2 : close], "..")
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
            if not enclosed(rest):
                return None
            parts = split_punct(rest[1:-1], "..")
            if len(parts) != 2:
                return None
            module = _undefined_elsewhere(parts[0]) or _undefined_elsewhere(parts[1])
        else:
            module = _undefined_elsewhere(rest)
        if module is None:
            return None
        self.module_terms.append(" ".join(tok.text for tok in t))
        return [_Alt(prefixes=_MODULE_PREFIXES[module])]


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
        if (
            tok.kind is TokenKind.NUMBER
            or (tok.kind is TokenKind.PUNCT and tok.text in _ARITHMETIC)
            or (tok.kind is TokenKind.IDENT and tok.text == "filesize")
        ):
            k += 1
            continue
        if (
            tok.kind is TokenKind.IDENT
            and tok.text in _MODULE_PREFIXES
            and k + 2 < len(t)
            and t[k + 1].text == "."
            and t[k + 2].kind is TokenKind.IDENT
        ):
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
    return tuple(
        sorted(
            {(_prefixes_of([alt]), alt.max_size) for alt in req},
            key=lambda s: (sorted(s[0] or ()), -1 if s[1] is None else s[1]),
        )
    )


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
_GATE_WORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "true",
        "false",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "iequals",
        "matches",
    }
)


def _gates(condition: Sequence[Token], rule_names: frozenset[str]) -> tuple[str, ...] | None:
    """RuleInfo.gates of a condition (None when it has no such form)."""

    def flat(tokens: Sequence[Token], word: str) -> list[Sequence[Token]]:
        out: list[Sequence[Token]] = []
        for part in split(tokens, word):
            inner = part[1:-1] if enclosed(part) else None
            # ``and`` binds tighter than ``or``: a parenthesised operand holding an ``or`` is one term of
            # its conjunction, never flattened into it
            flattens = (
                inner is not None and len(split(inner, word)) > 1 and (word == "or" or len(split(inner, "or")) == 1)
            )
            out.extend(flat(inner, word) if inner is not None and flattens else [part])
        return out

    gates = []
    for branch in flat(condition, "or"):
        while enclosed(branch) and len(split(branch[1:-1], "or")) == 1:
            branch = branch[1:-1]
        pure = []
        for term in flat(branch, "and"):
            if all(
                t.kind in (TokenKind.TEXT, TokenKind.REGEX, TokenKind.NUMBER)
                or (t.kind is TokenKind.PUNCT and t.text in ("(", ")", "==", "!="))
                or (t.kind is TokenKind.IDENT and (t.text in _EXTERNALS or t.text in _GATE_WORDS))
                for t in term
            ):
                pure.append(" ".join(t.text for t in term))
            elif any(t.kind is TokenKind.IDENT and (t.text in PATH_EXTERNALS or t.text in rule_names) for t in term):
                return None  # a term that mixes the name with content, or depends on another rule
        gates.append(" and ".join(f"({g})" for g in pure) or "true")
    return tuple(gates)


_PATH_WORDS = re.compile(rb"\b(?:filename|filepath|extension)\b")


def analyse(
    namespace: str, path: str, raw: bytes, parsed: tuple[list[str], list[RawRule]] | None = None
) -> FileAnalysis:
    """Analyse one rule file (``parsed``: its text's ``parse``, when already known); a file that cannot be
    analysed with certainty is marked to go whole."""
    paths = _PATH_WORDS.search(raw) is not None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return FileAnalysis(namespace, path, "", whole="not UTF-8", whole_paths=paths)
    try:
        imports, raw_rules = parsed or parse(tokenize(text))
    except UnreadableSource as exc:
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
        rules.append(
            RuleInfo(
                r.name,
                r.private,
                r.is_global,
                references,
                prefixes,
                max_size,
                r.span,
                modules,
                tuple(branches[r.name]),
                uses,
                mentions_paths,
                _shapes_of(req),
                gates,
            )
        )
    return FileAnalysis(
        namespace,
        path,
        text,
        tuple(dict.fromkeys(imports)),  # files of one namespace may each import a module
        tuple(rules),
        format_terms=tuple(dict.fromkeys(an.module_terms)),
    )
