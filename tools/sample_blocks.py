"""Building blocks for the inert samples of the default signature set (see make_samples.py).

A sample is a bare ELF or PE header (no code, no sections, nothing that can run) followed by the
published indicator strings a rule keys on, or a page/script whose indicator text sits inside a
comment or after an early exit. A near-miss is a clean file that shares a rule's surface features
(same header, same language, some of the same words) and must match nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

Builder = Callable[[], dict[str, bytes]]
"""Returns raw (not yet inert-encoded) file contents by sample name."""
Builders = dict[str, Builder]
"""Builders by rule name."""

# Documentation-only address (RFC 5737) and a made-up wallet: nothing in a sample points anywhere real.
HOST = "198.51.100.23"
WALLET = "4A" + ("inertTestWa" * 9)[:93]  # 95 characters of the Monero base58 alphabet, owned by no one
INERT_NOTE = "inert test sample of the scanner project: carries indicators only, does nothing"


# ---------------------------------------------------------------- building blocks


def elf(*parts: bytes, e_type: int = 2) -> bytes:
    """A 64-byte ELF64 little-endian header (x86-64, no program or section headers) and ``parts``."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", e_type, 0x3E, 1, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0)
    return header + b"\0" * 64 + b"\0".join(parts) + b"\0" * 64


def pe(*parts: bytes) -> bytes:
    """A DOS stub pointing at a bare PE signature and COFF header (i386, no sections) and ``parts``."""
    dos = b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 0, 0x0102)
    return dos + coff + b"\0" * 64 + b"\0".join(parts) + b"\0" * 64


def a(*texts: str) -> list[bytes]:
    """ASCII strings."""
    return [t.encode("ascii") for t in texts]


def w(*texts: str) -> list[bytes]:
    """UTF-16LE strings, as .NET and Windows resources store them."""
    return [t.encode("utf-16-le") for t in texts]


def xored(key: int, *texts: str) -> list[bytes]:
    """Strings XORed byte by byte with ``key`` (how Mirai and Azazel keep their tables)."""
    return [bytes(b ^ key for b in t.encode("ascii")) for t in texts]


def text(*lines: str) -> bytes:
    """A text file from ``lines``."""
    return ("\n".join(lines) + "\n").encode("utf-8")


def split(*parts: str) -> str:
    """``parts`` joined: text rules would match this very file if some indicators stood whole in it."""
    return "".join(parts)


def flat(groups: Iterable[list[bytes]]) -> list[bytes]:
    return [item for group in groups for item in group]


def macho(*parts: bytes) -> bytes:
    """A bare 64-bit Mach-O header (x86-64 executable, no load commands, nothing to run) and ``parts``."""
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0, 0)
    return header + b"\0" * 64 + b"\0".join(parts) + b"\0" * 64
