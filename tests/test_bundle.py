"""Safe extraction of signature bundles: every hostile entry is refused and nothing lands outside."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from feed_helpers import file_entry, special_entry, tar_bytes

from scanner.errors import FeedError
from scanner.updates.bundle import BundleError, Limits, extract, member_path


def _archive(tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(tar_bytes(entries))
    return path


def _dest(tmp_path: Path) -> Path:
    d = tmp_path / "out" / "dest"
    d.mkdir(parents=True)
    return d


def test_extracts_files_and_directories(tmp_path: Path) -> None:
    d = tarfile.TarInfo("rules")
    d.type = tarfile.DIRTYPE
    archive = _archive(
        tmp_path,
        [
            (d, None),
            file_entry("rules/a.yar", b"rule a { condition: true }"),
            file_entry("./samples/A/x.inert", b"xyz"),
            file_entry("families.toml", b""),
        ],
    )
    dest = _dest(tmp_path)
    result = extract(archive, dest)
    assert (dest / "rules" / "a.yar").read_bytes() == b"rule a { condition: true }"
    assert (dest / "samples" / "A" / "x.inert").read_bytes() == b"xyz"
    assert result.files == 3
    assert result.directories == 1
    assert result.total_bytes == len(b"rule a { condition: true }") + 3
    # Modes come from us, not from the archive.
    assert (dest / "rules" / "a.yar").stat().st_mode & 0o7777 == 0o644


def test_archive_modes_and_owners_are_ignored(tmp_path: Path) -> None:
    info, data = file_entry("rules/a.yar", b"x")
    info.mode = 0o4777
    info.uid = 12345
    archive = _archive(tmp_path, [(info, data)])
    dest = _dest(tmp_path)
    extract(archive, dest)
    st = (dest / "rules" / "a.yar").stat()
    assert st.st_mode & 0o7777 == 0o644


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/etc/evil.yar", "absolute"),
        ("../evil.yar", ".."),
        ("rules/../../evil.yar", ".."),
        ("rules\\..\\evil.yar", "backslash"),
        ("rules/a\nb.yar", "control"),
        ("", "empty"),
        (".", "root"),
    ],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    archive = _archive(tmp_path, [file_entry("rules/ok.yar", b"ok"), file_entry(name, b"pwned")])
    dest = _dest(tmp_path)
    with pytest.raises(BundleError, match=reason):
        extract(archive, dest)
    assert not (tmp_path / "out" / "evil.yar").exists()
    assert not (tmp_path / "evil.yar").exists()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (special_entry("rules/link.yar", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (special_entry("rules/up", tarfile.SYMTYPE, ".."), "symbolic link"),
        (special_entry("rules/hard.yar", tarfile.LNKTYPE, "rules/ok.yar"), "hard link"),
        (special_entry("rules/null", tarfile.CHRTYPE), "device"),
        (special_entry("rules/disk", tarfile.BLKTYPE), "device"),
        (special_entry("rules/fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_links_and_devices_are_refused(tmp_path: Path, entry: tuple[tarfile.TarInfo, None], reason: str) -> None:
    archive = _archive(tmp_path, [file_entry("rules/ok.yar", b"ok"), entry])
    dest = _dest(tmp_path)
    with pytest.raises(BundleError, match=reason):
        extract(archive, dest)
    assert not (dest / entry[0].name).exists()
    assert not (dest / entry[0].name).is_symlink()


def test_symlink_then_file_through_it_cannot_escape(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _archive(
        tmp_path,
        [special_entry("rules", tarfile.SYMTYPE, str(outside)), file_entry("rules/evil.yar", b"pwned")],
    )
    with pytest.raises(BundleError):
        extract(archive, _dest(tmp_path))
    assert list(outside.iterdir()) == []


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry("rules/a.yar", b"one"), file_entry("./rules/a.yar", b"two")])
    with pytest.raises(BundleError, match="twice"):
        extract(archive, _dest(tmp_path))


def test_file_where_a_directory_is_needed_is_refused(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry("rules", b"file"), file_entry("rules/a.yar", b"x")])
    with pytest.raises(BundleError, match="directory"):
        extract(archive, _dest(tmp_path))


def test_entry_count_limit(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry(f"rules/{i}.yar", b"x") for i in range(6)])
    with pytest.raises(BundleError, match="more than 5 entries"):
        extract(archive, _dest(tmp_path), Limits(max_entries=5))


def test_file_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry("rules/big.yar", b"x" * 2000)])
    dest = _dest(tmp_path)
    with pytest.raises(BundleError, match="over the 1000-byte limit"):
        extract(archive, dest, Limits(max_file_bytes=1000))
    assert not (dest / "rules" / "big.yar").exists()


def test_total_size_limit(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry(f"rules/{i}.yar", b"x" * 400) for i in range(3)])
    with pytest.raises(BundleError, match="more than 1000 bytes"):
        extract(archive, _dest(tmp_path), Limits(max_total_bytes=1000))


def test_highly_compressed_bundle_is_cut_at_the_limit(tmp_path: Path) -> None:
    # 64 MiB of zeros compresses to ~64 KiB: the limit applies to what it unpacks to.
    archive = _archive(tmp_path, [file_entry("rules/zeros.yar", bytes(64 * 1024 * 1024))])
    assert archive.stat().st_size < 1024 * 1024
    with pytest.raises(BundleError, match="limit"):
        extract(archive, _dest(tmp_path), Limits(max_file_bytes=1024 * 1024))


def test_not_a_gzip_tar(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(BundleError, match="not a readable gzipped tar"):
        extract(archive, _dest(tmp_path))


def test_truncated_archive(tmp_path: Path) -> None:
    data = tar_bytes([file_entry("rules/a.yar", b"x" * 100_000)])
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError):
        extract(archive, _dest(tmp_path))


def test_gzip_of_something_else(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(gzip.compress(b"plain text, not a tar" * 100))
    with pytest.raises(BundleError):
        extract(archive, _dest(tmp_path))


def test_empty_bundle_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz"):
        pass
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(BundleError, match="no files"):
        extract(archive, _dest(tmp_path))


def test_destination_must_be_empty(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [file_entry("rules/a.yar", b"x")])
    dest = _dest(tmp_path)
    (dest / "left-over").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        extract(archive, dest)


def test_member_path_normalises_dot_prefix() -> None:
    assert member_path("./rules/./a.yar").as_posix() == "rules/a.yar"


def test_bundle_error_is_a_feed_error() -> None:
    assert issubclass(BundleError, FeedError)
