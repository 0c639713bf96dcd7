"""The inert container: bytes that cannot run and that no scanner re-detects.

Quarantined files and the positive samples shipped with signature sets are kept in
this form. The content is XORed with a fixed 16-byte key of distinct bytes (so it
is not YARA's single-byte ``xor`` modifier either) behind a magic header; it is
reversible by anyone, which is the point: it neutralises, it does not hide.

Layout: ``MAGIC`` (16 bytes) followed by ``data[i] ^ KEY[i % 16]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

MAGIC = b"SCANNER-INERT/1\n"
KEY = bytes.fromhex("a35c19e7d2468bf0317e95c4bd02689f")
SUFFIX = ".inert"
"""File name suffix of an inert file."""
_CHUNK = 1 << 20


def _xor(data: bytes, offset: int) -> bytes:
    """XOR ``data`` with the key, as if it started ``offset`` bytes into the stream."""
    start = offset % len(KEY)
    key = (KEY[start:] + KEY[:start]) * (len(data) // len(KEY) + 1)
    return (int.from_bytes(data, "little") ^ int.from_bytes(key[: len(data)], "little")).to_bytes(len(data), "little")


def encode(data: bytes) -> bytes:
    """The inert form of ``data``."""
    return MAGIC + _xor(data, 0)


def is_inert(blob: bytes) -> bool:
    """Whether ``blob`` starts with the inert container's header."""
    return blob.startswith(MAGIC)


def decode(blob: bytes) -> bytes:
    """The original bytes of an inert ``blob``; ValueError if it is not one."""
    if not is_inert(blob):
        raise ValueError("not an inert container (bad header)")
    return _xor(blob[len(MAGIC) :], 0)


def encode_stream(src: BinaryIO, dst: BinaryIO) -> Iterator[bytes]:
    """Copy ``src`` to ``dst`` in inert form; yields each original chunk (for hashing)."""
    dst.write(MAGIC)
    offset = 0
    while chunk := src.read(_CHUNK):
        dst.write(_xor(chunk, offset))
        offset += len(chunk)
        yield chunk


def decode_stream(src: BinaryIO, dst: BinaryIO) -> Iterator[bytes]:
    """Copy inert ``src`` to ``dst`` in original form; yields each original chunk (for hashing)."""
    if src.read(len(MAGIC)) != MAGIC:
        raise ValueError("not an inert container (bad header)")
    offset = 0
    while chunk := src.read(_CHUNK):
        plain = _xor(chunk, offset)
        dst.write(plain)
        offset += len(chunk)
        yield plain
