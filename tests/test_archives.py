"""Looking inside archives: every format, nesting, every limit, bombs, encrypted, hostile and damaged
members, the file cache, quarantine and restore of an archive, and the watch.

Archives are built here, in tmp_path: with the standard library (zip, tar, gzip, bzip2, xz), with
libarchive's writer (7z, zstd, an encrypted zip) and by hand (a stored RAR 4 archive: no free program
writes RAR). Bombs are written as repeated, fully flushed deflate blocks, so a 10 GB member costs a few
megabytes and no time to build.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libarchive
import pytest
from conftest import EICAR, Result, run_module
from test_watch import Kind, Running

from scanner.model import Severity
from scanner.scanning.archives import member_name
from scanner.state import StateDir
from scanner.watch.config import WatchConfig

MIB = 1 << 20
RULES = ("--no-default-rules",)


# ---- builders -------------------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes] | list[tuple[str | bytes, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``members``; a name given as bytes is written as those exact bytes (through a placeholder
    of the same length: zipfile itself writes only UTF-8 or cp437 names)."""
    buf = io.BytesIO()
    items = list(members.items() if isinstance(members, dict) else members)
    raw = [(n, bytes(b if b < 0x80 else 0x40 for b in n)) for n, _ in items if isinstance(n, bytes)]
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in items:
            shown = bytes(b if b < 0x80 else 0x40 for b in name).decode() if isinstance(name, bytes) else name
            zf.writestr(zipfile.ZipInfo(shown, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    out = buf.getvalue()
    for name, placeholder in raw:
        out = out.replace(placeholder, name)
    return out


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def libarchive_bytes(tmp_path: Path, fmt: str, flt: str | None, name: str, data: bytes) -> bytes:
    out = tmp_path / f"built.{fmt}.{flt}"
    with libarchive.file_writer(os.fspath(out), fmt, flt) as w:
        w.add_file_from_memory(name, len(data), data)
    blob = out.read_bytes()
    out.unlink()
    return blob


def rar4_bytes(name: bytes, data: bytes) -> bytes:
    """A RAR 4 archive with one stored member (the published format: marker, archive, file, end blocks)."""

    def block(kind: int, flags: int, body: bytes) -> bytes:
        head = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head

    body = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), 0x5A000000, 20, 0x30, len(name), 0x81A4)
    return (
        b"Rar!\x1a\x07\x00"
        + block(0x73, 0, b"\0" * 6)
        + block(0x74, 0x8000, body + name)
        + data
        + block(0x7B, 0x4000, b"")
    )


def zero_bomb(size: int, name: str = "zeros.bin") -> bytes:
    """A zip whose one member inflates to ``size`` zero bytes, small on disk: one fully flushed deflate
    block of 1 MiB of zeros repeated (each such block stands alone). Its CRC is that of the first MiB
    only: no scanner within its limits reads far enough to check it."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = comp.compress(b"\0" * MIB) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    count = size // MIB
    data_len = len(chunk) * count + len(tail)
    crc = zlib.crc32(b"\0" * MIB)
    fname = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, data_len)  # zip64: the sizes do not fit in 32 bits
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(fname), len(extra)
    )
    out = io.BytesIO()
    out.write(local + fname + extra)
    for _ in range(count):
        out.write(chunk)
    out.write(tail)
    cd_offset = out.tell()
    cextra = struct.pack("<HHQQQ", 1, 24, size, data_len, 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        45,
        45,
        0,
        8,
        0,
        0x21,
        crc,
        0xFFFFFFFF,
        0xFFFFFFFF,
        len(fname),
        len(cextra),
        0,
        0,
        0,
        0,
        0,
    )
    out.write(central + fname + cextra)
    cd_size = out.tell() - cd_offset
    z64_end = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, cd_size, cd_offset))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, z64_end, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return out.getvalue()


def nested_bomb(levels: int, fan: int, leaf: int) -> bytes:
    """42.zip's shape: ``fan`` copies of the level below at each of ``levels`` levels, ``leaf`` zero bytes
    at the bottom (deflate finds the copies within its window, so each level stays small)."""
    blob = zip_bytes({"0.bin": b"\0" * leaf})
    for level in range(levels):
        blob = zip_bytes({f"{level}-{i}.zip": blob for i in range(fan)})
    return blob


# ---- helpers --------------------------------------------------------------------------------------


def scan(cli: Callable[..., Any], eicar_rule: Path, *args: str | Path) -> dict[str, Any]:
    res = cli("scan", "--rules", eicar_rule, *RULES, "--format", "json", *args)
    assert res.exit_code in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    data["exit_code"] = res.exit_code
    return data


def paths(report: dict[str, Any]) -> list[str]:
    """The members detected (an archive that stores a member uncompressed may match as a file too)."""
    return sorted(d["path"] for d in report["detections"] if "member" in d)


def notes(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((s["path"], s["code"], s["detail"]) for s in report["skipped"])


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """The folder a test scans (apart from the rule file, which holds the EICAR string itself)."""
    d = tmp_path / "box"
    d.mkdir()
    return d


def configure(home: Path, **keys: object) -> None:
    lines = ["[archives]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


# ---- formats --------------------------------------------------------------------------------------

FORMATS: dict[str, Callable[[Path], tuple[bytes, str]]] = {
    "a.zip": lambda t: (zip_bytes({"dir/x.php": EICAR}), "dir/x.php"),
    "a.jar": lambda t: (zip_bytes({"META-INF/x.class": EICAR}), "META-INF/x.class"),
    "a.docx": lambda t: (zip_bytes({"word/document.xml": EICAR}), "word/document.xml"),
    "a.tar": lambda t: (tar_bytes({"dir/x.sh": EICAR}), "dir/x.sh"),
    "a.tar.gz": lambda t: (tar_bytes({"dir/x.sh": EICAR}, "w:gz"), "dir/x.sh"),
    "a.tar.bz2": lambda t: (tar_bytes({"dir/x.sh": EICAR}, "w:bz2"), "dir/x.sh"),
    "a.tar.xz": lambda t: (tar_bytes({"dir/x.sh": EICAR}, "w:xz"), "dir/x.sh"),
    "a.tar.zst": lambda t: (libarchive_bytes(t, "gnutar", "zstd", "dir/x.sh", EICAR), "dir/x.sh"),
    "x.sh.gz": lambda t: (gzip.compress(EICAR), "x.sh"),
    "x.sh.bz2": lambda t: (bz2.compress(EICAR), "x.sh"),
    "x.sh.xz": lambda t: (lzma.compress(EICAR), "x.sh"),
    "x.sh.zst": lambda t: (libarchive_bytes(t, "raw", "zstd", "x.sh", EICAR), "x.sh"),
    "a.7z": lambda t: (libarchive_bytes(t, "7zip", None, "dir/x.exe", EICAR), "dir/x.exe"),
    "a.rar": lambda t: (rar4_bytes(b"dir/x.exe", EICAR), "dir/x.exe"),
    "a.cpio": lambda t: (libarchive_bytes(t, "cpio_newc", None, "x.sh", EICAR), "x.sh"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_looked_into(cli: Callable[..., Any], eicar_rule: Path, tmp_path: Path, name: str) -> None:
    blob, member = FORMATS[name](tmp_path)
    target = tmp_path / "in" / name
    target.parent.mkdir()
    target.write_bytes(blob)
    report = scan(cli, eicar_rule, target.parent)
    assert report["exit_code"] == 1
    hits = [d for d in report["detections"] if "member" in d]
    assert [(d["path"], d["archive"], d["member"]) for d in hits] == [(f"{target}!{member}", str(target), member)]
    assert report["counts"]["not_scanned"] == 0


@pytest.mark.parametrize("name", ["plugin.zip", "eicar.com.gz"])
def test_the_bundled_set_finds_eicar_inside_zip_and_gz(cli: Callable[..., Any], tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_bytes(zip_bytes({"eicar.com": EICAR}) if name.endswith(".zip") else gzip.compress(EICAR))
    res = cli("scan", target)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert f"{target}!eicar.com: EICAR-Test-File" in res.stdout


def test_no_archives_matches_the_archive_as_a_file_only(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path
) -> None:
    (box / "a.zip").write_bytes(zip_bytes({"x.php": EICAR}))
    assert scan(cli, eicar_rule, "--no-archives", box)["detections"] == []
    configure(scanner_home, scan=False)
    assert scan(cli, eicar_rule, box)["detections"] == []
    configure(scanner_home, scan=True)
    assert paths(scan(cli, eicar_rule, box)) == [f"{box}/a.zip!x.php"]


def test_a_plain_file_and_a_clean_archive_are_clean(cli: Callable[..., Any], eicar_rule: Path, box: Path) -> None:
    (box / "notes.txt").write_bytes(b"PK is not enough")
    (box / "ok.zip").write_bytes(zip_bytes({"a.txt": b"hello", "b/c.txt": b"world"}))
    (box / "ok.gz").write_bytes(gzip.compress(b"plain text"))
    report = scan(cli, eicar_rule, box)
    assert report["exit_code"] == 0 and report["detections"] == [] and report["skipped"] == []


# ---- nesting and limits ---------------------------------------------------------------------------


def test_nested_archives_are_named_member_by_member(cli: Callable[..., Any], eicar_rule: Path, box: Path) -> None:
    inner = zip_bytes({"wp/shell.php": EICAR})
    middle = tar_bytes({"pkg/inner.zip": inner}, "w:gz")
    (box / "outer.zip").write_bytes(zip_bytes({"mid.tar.gz": middle}))
    report = scan(cli, eicar_rule, box)
    assert paths(report) == [f"{box}/outer.zip!mid.tar.gz!pkg/inner.zip!wp/shell.php"]
    assert report["detections"][0]["archive"] == f"{box}/outer.zip"


def test_max_recursion(cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path) -> None:
    blob = zip_bytes({"x.php": EICAR})
    for depth in range(3):
        blob = zip_bytes({f"level{depth}.zip": blob})
    (box / "deep.zip").write_bytes(blob)  # deep.zip is depth 1, level0.zip depth 4, where the payload is
    configure(scanner_home, max_recursion=3)
    report = scan(cli, eicar_rule, box)
    assert report["detections"] == [] and report["exit_code"] == 0
    [(where, code, detail)] = notes(report)
    assert (where, code) == (f"{box}/deep.zip", "archive_limit")
    assert detail == "max-recursion: level2.zip!level1.zip!level0.zip is nested deeper than 3"
    assert report["counts"]["not_scanned"] == 1
    configure(scanner_home, max_recursion=4)
    assert len(scan(cli, eicar_rule, box)["detections"]) == 1


def test_max_files(cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path) -> None:
    (box / "many.zip").write_bytes(zip_bytes([(f"{i}.txt", b"clean") for i in range(5)] + [("z.php", EICAR)]))
    configure(scanner_home, max_files=5)
    report = scan(cli, eicar_rule, box)
    assert report["detections"] == []
    assert notes(report) == [(f"{box}/many.zip", "archive_limit", "max-files: 5 members read")]
    configure(scanner_home, max_files=6)
    assert len(scan(cli, eicar_rule, box)["detections"]) == 1


def test_max_filesize_passes_over_a_large_member_and_reads_the_rest(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path
) -> None:
    big = EICAR + os.urandom(2 * MIB)
    (box / "a.zip").write_bytes(zip_bytes([("big.bin", big), ("small.php", EICAR)]))
    configure(scanner_home, max_filesize="1M")
    report = scan(cli, eicar_rule, box)
    assert paths(report) == [f"{box}/a.zip!small.php"]
    assert notes(report) == [(f"{box}/a.zip", "archive_limit", "max-filesize: member big.bin is larger than 1 MiB")]
    assert report["exit_code"] == 1


def test_max_scansize(cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path) -> None:
    (box / "a.zip").write_bytes(zip_bytes([(f"{i}.bin", os.urandom(MIB)) for i in range(3)] + [("z", EICAR)]))
    configure(scanner_home, max_scansize="2M")
    report = scan(cli, eicar_rule, box)
    assert report["detections"] == []
    assert notes(report) == [(f"{box}/a.zip", "archive_limit", "max-scansize: 2 MiB extracted")]


def test_members_larger_than_memory_go_through_an_unnamed_file_in_the_state_directory(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path
) -> None:
    payload = os.urandom(20 * MIB) + EICAR  # over the 16 MiB held in memory
    (box / "a.zip").write_bytes(zip_bytes({"big.bin": payload}))
    report = scan(cli, eicar_rule, box)
    assert paths(report) == [f"{box}/a.zip!big.bin"]
    assert sorted(os.listdir(box)) == ["a.zip"]  # nothing extracted beside it
    assert list((scanner_home / "tmp").iterdir()) == []  # and nothing left behind


def test_a_ten_gigabyte_member_is_stopped_by_the_ratio_limit(
    cli: Callable[..., Any], eicar_rule: Path, box: Path
) -> None:
    bomb = zero_bomb(10 << 30)
    assert len(bomb) < 20 * MIB
    (box / "bomb.zip").write_bytes(bomb)
    report = scan(cli, eicar_rule, box)
    [(where, code, detail)] = notes(report)
    assert (where, code) == (f"{box}/bomb.zip", "archive_limit")
    assert detail == "max-ratio: member zeros.bin expands more than 1000-fold"


def test_a_ten_gigabyte_member_is_stopped_by_max_filesize_without_the_ratio_limit(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path
) -> None:
    (box / "bomb.zip").write_bytes(zero_bomb(10 << 30))
    configure(scanner_home, max_ratio=1_000_000)
    report = scan(cli, eicar_rule, box)
    assert notes(report) == [
        (f"{box}/bomb.zip", "archive_limit", "max-filesize: member zeros.bin is larger than 100 MiB")
    ]


def test_max_scantime(cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path) -> None:
    (box / "bomb.zip").write_bytes(zero_bomb(10 << 30))
    configure(scanner_home, max_ratio=1_000_000, max_filesize="1T", max_scansize="1T", max_scantime=1)
    report = scan(cli, eicar_rule, box)
    assert notes(report) == [(f"{box}/bomb.zip", "archive_limit", "max-scantime: 1 s")]


def test_a_nested_bomb_in_a_child_process_stays_within_the_limits_in_bounded_memory(
    eicar_rule: Path, box: Path
) -> None:
    bomb = nested_bomb(levels=4, fan=16, leaf=16 * MIB)  # 42.zip's shape: 16**4 members of 16 MiB, 1 TiB
    assert len(bomb) < MIB
    (box / "42.zip").write_bytes(bomb)
    res, peak = run_with_peak("scan", "--rules", eicar_rule, *RULES, "--format", "json", box)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["counts"]["not_scanned"] >= 1
    assert {s["detail"].split(":")[0] for s in report["skipped"]} <= {"max-scansize", "max-files", "max-ratio"}
    assert peak < 400 * MIB, f"peak resident size {peak} bytes"


_PEAK = (
    "import os, subprocess, sys\n"
    "proc = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "sys.stderr.write(f'\\npeak-kib {usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)
"""Runs a command and says its peak resident size. Linux starts a new program's ``ru_maxrss`` at the peak of
the process that ran it (``exec`` keeps the larger of the two), so ``python -m scanner`` run straight from
pytest, grown by this file's in-process scans, would report pytest's own peak; run from this small process
it reports its own."""


def run_with_peak(*args: str | os.PathLike[str], timeout: float = 120) -> tuple[Result, int]:
    """Run ``python -m scanner``; its result and its peak resident size in bytes."""
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-m", "scanner", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    stderr, _, last = proc.stderr.rstrip("\n").rpartition("\n")
    assert last.startswith("peak-kib "), proc.stderr
    return Result(proc.returncode, proc.stdout, stderr), int(last.split()[1]) * 1024


# ---- encrypted, hostile and damaged members -------------------------------------------------------


def test_an_encrypted_member_is_reported(cli: Callable[..., Any], eicar_rule: Path, box: Path) -> None:
    target = box / "secret.zip"
    with libarchive.file_writer(os.fspath(target), "zip", options="encryption=zipcrypt", passphrase="pw") as w:
        w.add_file_from_memory("secret.php", len(EICAR), EICAR)
    (box / "mixed.zip").write_bytes(_with_encryption_flag(zip_bytes({"locked.txt": b"x" * 100, "open.php": EICAR})))
    report = scan(cli, eicar_rule, box)
    assert paths(report) == [f"{box}/mixed.zip!open.php"]
    coded = [(p, c) for p, c, _ in notes(report)]
    assert coded == [
        (f"{box}/mixed.zip!locked.txt", "archive_encrypted"),
        (f"{target}!secret.php", "archive_encrypted"),
    ]
    text = cli("scan", "--rules", eicar_rule, *RULES, target)
    assert f"{target}!secret.php: encrypted archive member, not scanned" in text.stdout


def _with_encryption_flag(blob: bytes) -> bytes:
    """``blob`` (a zip) with its first member marked encrypted (general-purpose flag bit 0)."""
    out = bytearray(blob)
    out[6] |= 1
    out[blob.index(b"PK\x01\x02") + 8] |= 1
    return bytes(out)


def test_hostile_member_names_are_escaped_and_never_used_as_paths(
    cli: Callable[..., Any], eicar_rule: Path, tmp_path: Path
) -> None:
    target = tmp_path / "in" / "names.zip"
    target.parent.mkdir()
    names: list[tuple[str | bytes, bytes]] = [
        ("a!b/c.php", EICAR),
        (b"bad\xff\xfe.php", EICAR),
        ("../../../etc/cron.d/x", EICAR),
        ("/etc/passwd", EICAR),
        ("esc\x1b[31mred.php", EICAR),
    ]
    target.write_bytes(zip_bytes(names))
    report = scan(cli, eicar_rule, target.parent)
    shown = paths(report)
    assert f"{target}!a\\x21b/c.php" in shown
    assert f"{target}!../../../etc/cron.d/x" in shown and f"{target}!/etc/passwd" in shown
    bad = next(d for d in report["detections"] if "bad" in d["path"])
    assert bad["path"] == f"{target}!bad\\xff\\xfe.php"
    assert os.fsencode(str(target)) + b"!bad\xff\xfe.php" == __import__("base64").b64decode(bad["path_b64"])
    text = cli("scan", "--rules", eicar_rule, *RULES, target.parent).stdout
    assert "esc\\x1b[31mred.php" in text and "\x1b" not in text and "\\xff\\xfe" in text
    assert sorted(os.listdir(target.parent)) == ["names.zip"]
    assert not (tmp_path / "etc").exists()
    assert member_name(b"a!b") == "a\\x21b"


def test_a_truncated_archive_is_reported_and_what_was_read_still_counts(
    cli: Callable[..., Any], eicar_rule: Path, box: Path
) -> None:
    blob = zip_bytes([("first.php", EICAR), ("second.bin", os.urandom(100_000))])
    (box / "cut.zip").write_bytes(blob[: len(blob) // 2])
    (box / "cut.tar.gz").write_bytes(tar_bytes({"x": os.urandom(100_000)}, "w:gz")[:5000])
    (box / "junk.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\xff" * 40)
    report = scan(cli, eicar_rule, box)
    assert paths(report) == [f"{box}/cut.zip!first.php"]
    damaged = {p.split("!")[0] for p, c, _ in notes(report) if c == "archive_damaged"}
    assert damaged == {f"{box}/cut.zip", f"{box}/cut.tar.gz", f"{box}/junk.7z"}
    text = cli("scan", "--rules", eicar_rule, *RULES, box)
    assert "damaged or truncated archive, not fully scanned" in text.stdout and "Traceback" not in text.stderr


# ---- cache, quarantine and restore, the watch -----------------------------------------------------


def test_the_file_cache_keys_the_archive_as_a_whole(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path
) -> None:
    (box / "bad.zip").write_bytes(zip_bytes({"x.php": EICAR}))
    (box / "ok.zip").write_bytes(zip_bytes({"x.txt": b"clean"}))
    (box / "deep.zip").write_bytes(zip_bytes({"a.zip": zip_bytes({"b.txt": b"clean"})}))
    configure(scanner_home, max_recursion=1)
    time.sleep(2.1)  # the cache records only files that have not changed for 2 s (filecache.SETTLE_NS)
    first = scan(cli, eicar_rule, box)
    again = scan(cli, eicar_rule, box)
    assert paths(first) == paths(again) == [f"{box}/bad.zip!x.php"]
    assert again["file_cache"]["hits"] == 2  # bad.zip and ok.zip; deep.zip was not fully scanned: read again
    assert notes(again) == notes(first) and len(notes(first)) == 1
    assert scan(cli, eicar_rule, "--no-archives", box)["detections"] == []  # another key


def test_quarantine_takes_the_whole_archive_and_undo_restores_it_byte_identical(
    cli: Callable[..., Any], eicar_rule: Path, box: Path
) -> None:
    target = box / "theme.zip"
    blob = zip_bytes({"theme/style.css": b"body{}", "theme/up.php": EICAR, "theme/more.php": EICAR})
    target.write_bytes(blob)
    report = scan(cli, eicar_rule, "--action", "quarantine", "--action-min-severity", "low", box)
    assert report["exit_code"] == 1
    assert not target.exists()
    assert {d["archive"] for d in report["detections"]} == {str(target)}
    res = cli("undo", report["scan_id"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert target.read_bytes() == blob


def test_the_watch_detects_a_zip_dropped_into_a_watched_folder(
    tmp_path: Path, scanner_home: Path, eicar_rule: Path
) -> None:
    watched = tmp_path / "uploads"
    watched.mkdir()
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    config = WatchConfig(
        paths=(str(watched),),
        state=StateDir(scanner_home),
        rules=(eicar_rule,),
        use_default_rules=False,
        sysroot=sysroot,
        jobs=2,
        action_min_severity=Severity.LOW,
    )
    running = Running(config)
    try:
        staged = tmp_path / "plugin.zip"
        staged.write_bytes(zip_bytes({"plugin/shell.php": EICAR}))
        os.rename(staged, watched / "plugin.zip")
        ev = running.wait_for(lambda e: e.kind is Kind.DETECTION)
        assert ev.path == str(watched / "plugin.zip")
        assert f"{watched}/plugin.zip!plugin/shell.php -> quarantined" in ev.message
        assert not (watched / "plugin.zip").exists()
    finally:
        assert running.close() == 0


# ---- options and configuration --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "monthly", "watch"])
def test_no_archives_is_on_every_scanning_command(cli: Callable[..., Any], command: str) -> None:
    assert "--no-archives" in cli(command, "--help").stdout


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_recursion", 0, "must be from 1 to 64, not 0"),
        ("max_files", True, "must be a whole number"),
        ("max_scansize", "lots", "not a size"),
        ("max_ratio", 1, "must be from 2 to 1000000, not 1"),
        ("scan", "yes", "must be true or false"),
        ("depth", 3, "unknown key 'depth' in [archives]"),
    ],
)
def test_bad_archive_settings_are_refused_in_one_line(
    cli: Callable[..., Any], eicar_rule: Path, box: Path, scanner_home: Path, key: str, value: object, message: str
) -> None:
    configure(scanner_home, **{key: value})
    res = cli("scan", "--rules", eicar_rule, *RULES, box)
    assert res.exit_code == 2
    assert message in res.stderr and "Traceback" not in res.stderr


def test_an_empty_compressed_stream_is_empty_not_damaged(cli: Callable[..., Any], eicar_rule: Path, box: Path) -> None:
    (box / "empty.gz").write_bytes(gzip.compress(b""))
    (box / "pkg.tar.xz").write_bytes(tar_bytes({"man/x.1.gz": gzip.compress(b""), "x.php": EICAR}, "w:xz"))
    report = scan(cli, eicar_rule, box)
    assert report["skipped"] == [] and paths(report) == [f"{box}/pkg.tar.xz!x.php"]


def test_libarchive_warnings_stay_off_the_terminal(eicar_rule: Path, box: Path) -> None:
    """A text member that libarchive's text-sniffing readers would take for a file list (mtree), in a
    compressed stream: nothing but the report on the terminal, and no file named in it is read."""
    (box / "notes.gz").write_bytes(gzip.compress(b"#mtree\n./etc/shadow type=file\nbad line here\n" * 50))
    res = run_module("scan", "--rules", eicar_rule, *RULES, box)
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
