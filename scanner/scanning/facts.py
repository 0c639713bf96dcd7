"""What the rules see of a file besides its bytes: the LOKI/THOR external variables.

``filename``, ``filepath``, ``extension``, ``filetype`` (from the first bytes) and ``owner``, computed
only when some rule uses them (collections such as signature-base do).
"""

from __future__ import annotations

import os
from functools import lru_cache

from scanner.engine.compiler import EXTERNALS
from scanner.model import display_path

# First bytes -> the LOKI/THOR ``filetype`` external. Longest magic first.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "DOC"),
    (b"\x7fELF", "ELF"),
    (b"\xfe\xed\xfa\xce", "MACH-O"),
    (b"\xfe\xed\xfa\xcf", "MACH-O"),
    (b"\xce\xfa\xed\xfe", "MACH-O"),
    (b"\xcf\xfa\xed\xfe", "MACH-O"),
    (b"\xca\xfe\xba\xbe", "JAVA"),
    (b"PK\x03\x04", "ZIP"),
    (b"%PDF", "PDF"),
    (b"{\\rtf", "RTF"),
    (b"Rar!", "RAR"),
    (b"7z\xbc\xaf", "7Z"),
    (b"MDMP", "MDMP"),
    (b"<?php", "PHP"),
    (b"<%@", "JSP"),
    (b"\x1f\x8b", "GZIP"),
    (b"MZ", "EXE"),
    (b"#!", "SCRIPT"),
)


def filetype_of(head: bytes) -> str:
    """The ``filetype`` external for a file starting with ``head`` (empty when unknown)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return ""


@lru_cache(maxsize=4096)
def owner_name(uid: int) -> str:
    """User name of ``uid``, or the number as text."""
    import pwd  # Unix only: imported where it is used

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def file_externals(
    path: str, head: bytes | None, uid: int | None, uses: frozenset[str] = frozenset(EXTERNALS)
) -> dict[str, str]:
    """The external variables for a file (LOKI/THOR convention; undecodable bytes shown as \\xNN).

    Only those in ``uses`` are computed; rules that mention none get an empty dict (the
    compile-time defaults apply), which keeps per-file work off the hot path.
    """
    if not uses:
        return {}
    shown = display_path(path)
    name = os.path.basename(shown)
    out = {"filename": name, "filepath": os.path.dirname(shown), "extension": os.path.splitext(name)[1].lower()}
    if "filetype" in uses:
        out["filetype"] = filetype_of(head) if head is not None else ""
    if "owner" in uses:
        out["owner"] = owner_name(uid) if uid is not None else ""
    return out
