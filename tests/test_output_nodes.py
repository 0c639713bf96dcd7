"""Writing reports and state never replaces what is not a regular file (issue 13, item 1).

``-o /dev/null`` as root used to replace the machine's /dev/null with a 0600 regular file, and
``-o /dev/stdout`` replaced the symlink. These tests use real nodes made under tmp_path: a copy
of /dev/null (mknod, we are root), real FIFOs with a real reader, a real unix socket.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EICAR

from scanner.safefs import write_atomic

NULL = os.makedev(1, 3)


def null_node(path: Path) -> Path:
    """A character device like /dev/null, at ``path``."""
    os.mknod(path, 0o666 | stat.S_IFCHR, NULL)
    return path


def assert_null_node(path: Path) -> None:
    st = os.lstat(path)
    assert stat.S_ISCHR(st.st_mode), f"{path} is no longer a character device"
    assert st.st_rdev == NULL


class FifoReader:
    """A thread that opens the FIFO for reading and collects everything written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = b""
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # Non-blocking open: the FIFO has a reader from here on. Before the writer connects a read
        # gives EOF too, so EOF ends the loop only once data came.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.opened.set()
        chunks: list[bytes] = []
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                if chunk:
                    chunks.append(chunk)
                elif chunks:
                    break
                else:
                    time.sleep(0.001)
        finally:
            os.close(fd)
        self.data = b"".join(chunks)

    def wait(self) -> bytes:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the writer never closed the FIFO"
        return self.data


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    yield p


def test_a_character_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    node = null_node(tmp_path / "null")
    write_atomic(node, b"report\n")
    assert_null_node(node)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left beside it


def test_a_symlink_to_a_character_device_is_written_through(tmp_path: Path) -> None:
    node = null_node(tmp_path / "null")
    link = tmp_path / "stdout"
    link.symlink_to(node)
    write_atomic(link, b"report\n")
    assert link.is_symlink() and os.readlink(link) == str(node)
    assert_null_node(node)


def test_a_fifo_with_a_reader_receives_the_data_and_stays(fifo: Path) -> None:
    reader = FifoReader(fifo)
    assert reader.opened.wait(10)
    data = b"x" * 300_000  # more than a pipe buffer: the writes must block, not fail with EAGAIN
    write_atomic(fifo, data)
    assert reader.wait() == data
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_without_a_reader_fails_at_once_and_stays(fifo: Path) -> None:
    with pytest.raises(OSError) as caught:
        write_atomic(fifo, b"report\n")
    assert caught.value.errno == errno.ENXIO
    assert "no reader" in str(caught.value.strerror)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_socket_a_block_device_and_a_directory_are_refused_and_kept(tmp_path: Path) -> None:
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.fspath(sock_path))
    block = tmp_path / "block"
    os.mknod(block, 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # never opened: refused on sight
    directory = tmp_path / "dir"
    directory.mkdir()
    try:
        for path, kind, test in (
            (sock_path, "a socket", stat.S_ISSOCK),
            (block, "a block device", stat.S_ISBLK),
            (directory, "a directory", stat.S_ISDIR),
        ):
            with pytest.raises(OSError) as caught:
                write_atomic(path, b"report\n")
            assert kind in str(caught.value.strerror)
            assert test(os.lstat(path).st_mode), f"{path} was replaced"
    finally:
        sock.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block", "dir", "sock"]


def test_a_symlink_to_a_regular_file_is_refused_and_both_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError) as caught:
        write_atomic(link, b"report\n")
    assert "symbolic link to a regular file" in str(caught.value.strerror)
    with pytest.raises(OSError, match="symbolic link to nothing"):
        write_atomic(dangling, b"report\n")
    assert link.is_symlink() and dangling.is_symlink()
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / "nowhere").exists()


def test_a_regular_file_is_still_replaced_atomically_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write_atomic(tmp_path / "fresh.json", b"x", 0o640)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.json").st_mode) == 0o640


def test_replace_symlink_replaces_the_link_never_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    unit = tmp_path / "unit.timer"
    unit.symlink_to(victim)
    write_atomic(unit, b"[Timer]\n", 0o644, replace_symlink=True)
    assert not unit.is_symlink() and unit.read_bytes() == b"[Timer]\n"
    assert victim.read_text() == "keep me\n"


# --- through the CLI ------------------------------------------------------------------------------


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    p = tmp_path / "data" / "eicar.com"
    p.parent.mkdir()
    p.write_bytes(EICAR)
    return p


def test_scan_output_to_a_device_node_keeps_the_node(cli, tmp_path, sample, eicar_rule):  # type: ignore[no-untyped-def]
    node = null_node(tmp_path / "null")
    res = cli("scan", sample, "--rules", eicar_rule, "--no-default-rules", "--output", node)
    assert res.exit_code == 1, res.stderr
    assert_null_node(node)
    link = tmp_path / "stdout"
    link.symlink_to(node)
    res = cli("scan", sample, "--rules", eicar_rule, "--no-default-rules", "-o", link, "--format", "json")
    assert res.exit_code == 1, res.stderr
    assert link.is_symlink()
    assert_null_node(node)


def test_scan_output_to_a_fifo_reaches_its_reader(cli, fifo, sample, eicar_rule):  # type: ignore[no-untyped-def]
    reader = FifoReader(fifo)
    assert reader.opened.wait(10)
    res = cli("scan", sample, "--rules", eicar_rule, "--no-default-rules", "--output", fifo)
    assert res.exit_code == 1, res.stderr
    assert b"EICAR-Test-File" in reader.wait()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_scan_output_to_a_fifo_without_reader_is_a_one_line_error(cli, fifo, sample, eicar_rule):  # type: ignore[no-untyped-def]
    res = cli("scan", sample, "--rules", eicar_rule, "--no-default-rules", "--output", fifo)
    assert res.exit_code == 2
    assert res.stderr.startswith("scanner: error: cannot write report to") and res.stderr.count("\n") == 1
    assert "FIFO with no reader" in res.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_scan_output_to_a_socket_is_refused(cli, tmp_path, sample, eicar_rule):  # type: ignore[no-untyped-def]
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(os.fspath(sock_path))
        res = cli("scan", sample, "--rules", eicar_rule, "--no-default-rules", "--output", sock_path)
        assert res.exit_code == 2
        assert "it is a socket; refusing to replace it" in res.stderr
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)


def test_monthly_report_to_a_device_node_keeps_the_node(cli, tmp_path):  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    root.mkdir()
    node = null_node(tmp_path / "null")
    res = cli("monthly", "--feed", "http://127.0.0.1:9/", "--sysroot", root, "--no-processes", "--report", node)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert_null_node(node)
