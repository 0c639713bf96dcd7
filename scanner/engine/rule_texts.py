"""Each rule of a rule file as text of its own: what it says (to tell a changed rule from an unchanged one)
and a source that compiles with that rule alone (to measure what one rule costs).

Pure: reads YARA source with ``syntax``, compiles nothing. A file ``syntax`` cannot read with certainty
(``include``, unusual syntax) gives None and is then taken whole by the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scanner.engine import syntax

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleText:
    """One rule of a file, as written and as a source of its own."""

    name: str
    """The rule's identifier."""
    private: bool
    """Declared ``private`` (it never reports a match of its own)."""
    text: str
    """The rule as written, whitespace runs collapsed (comments inside it kept)."""
    alone: str
    """A source holding the file's imports, its global rules, the rules this one refers to (transitively, in
    file order) and this rule: it compiles without the rest of the file."""


def split_rules(source: str) -> list[RuleText] | None:
    """Every rule of the rule file text ``source``; None when it cannot be read with certainty."""
    try:
        imports, raw = syntax.parse(syntax.tokenize(source))
    except syntax.UnreadableSource as exc:
        logger.debug("rule file not split into rules (%s): taken whole", exc)
        return None
    names = {r.name: k for k, r in enumerate(raw)}
    refs = [{names[t.text] for t in r.condition if t.kind is syntax.TokenKind.IDENT and t.text in names} for r in raw]
    globals_ = {k for k, r in enumerate(raw) if r.is_global}
    head = "".join(f'import "{m}"\n' for m in imports)
    out: list[RuleText] = []
    for k, r in enumerate(raw):
        need = {k} | globals_
        todo = list(need)
        while todo:
            for ref in refs[todo.pop()]:
                if ref not in need:
                    need.add(ref)
                    todo.append(ref)
        body = "\n\n".join(source[raw[j].span[0] : raw[j].span[1]] for j in sorted(need))
        text = " ".join(source[r.span[0] : r.span[1]].split())
        out.append(RuleText(r.name, r.private, text, head + body + "\n"))
    return out
