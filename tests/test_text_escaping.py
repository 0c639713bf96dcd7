"""Outside text never reaches a terminal or a log raw: file names, server answers and rule meta with
control characters are escaped in every human-readable output, and kept exactly in JSON."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from conftest import EICAR, EICAR_RULE
from feed_helpers import Handler, make_feed, serve

from scanner.model import display_path, json_path, printable
from scanner.state import StateDir
from scanner.updates import update

HOSTILE = [
    "clear\x1b[2J.txt",
    "cr\rFOUND 0 detection(s):",
    "lf\nFOUND 0 detection(s):\nResult:           clean",
    "bs\x08\x08\x08\x08x",
    "osc\x1b]0;pwned\x07title",
    "c1\x9b2Jcsi",
    "bidi\u202etxt.exe\u2028next",
    "del\x7fend",
]
"""File names that would clear the screen, forge report lines, set the title or reorder text."""

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""A control character other than the newline that ends a line."""


def _run(*args: str | os.PathLike[str], home: Path) -> tuple[int, str, str]:
    """``python -m scanner`` in a real child process; its output decoded strictly as UTF-8."""
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", *map(os.fspath, args), "--home", os.fspath(home)],
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def _assert_clean(*texts: str) -> None:
    for text in texts:
        assert not RAW.findall(text), f"raw control character(s) {RAW.findall(text)!r} in {text!r}"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "target"
    target.mkdir()
    for name in HOSTILE:
        (target / name).write_bytes(b"junk " + EICAR)
    rules = tmp_path / "eicar.yar"
    rules.write_text(EICAR_RULE)
    return target, rules


def test_printable_escapes_every_control_and_is_idempotent() -> None:
    text = "a\x00\x1b[2J\r\n\t\x7f\x9b\u2028\u2029\u202e\u2066é" + os.fsdecode(b"\xff") + "\\x1b"
    shown = printable(text)
    assert shown == "a\\x00\\x1b[2J\\x0d\\x0a\\x09\\x7f\\x9b\\u2028\\u2029\\u202e\\u2066é\\xff\\x1b"
    assert printable(shown) == shown
    assert display_path(text) == shown
    assert json_path("x\x1b" + os.fsdecode(b"\xff")) == "x\x1b\\xff"  # JSON text: exact but for undecodable bytes


def test_hostile_names_are_escaped_in_the_report_and_log_and_exact_in_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target, rules = _tree(tmp_path)
    code, out, err = _run("scan", target, "--rules", rules, "--no-default-rules", home=home)
    assert code == 1, err
    _assert_clean(out, err)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("FOUND")] == [f"FOUND {len(HOSTILE)} detection(s):"]
    assert not any(line.startswith("Result:") and "clean" in line for line in lines)
    for name in HOSTILE:
        assert f"  {printable(str(target / name))}: EICAR-Test-File" in out
    log = (home / "logs" / "scanner.log").read_bytes().decode("utf-8")
    _assert_clean(log)
    assert sum(line.startswith("  detected:") for line in log.splitlines()) == len(HOSTILE)

    code, out, err = _run("scan", target, "--rules", rules, "--no-default-rules", "--format", "json", home=home)
    assert code == 1, err
    _assert_clean(out, err)  # JSON escapes with \\uNNNN, so the value is exact and the text still safe
    found = {d["path"] for d in json.loads(out)["detections"]}
    assert found == {str(target / name) for name in HOSTILE}


def test_progress_line_escapes_the_current_name(tmp_path: Path) -> None:
    target, rules = _tree(tmp_path)
    main_fd, term_fd = pty.openpty()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                os.fspath(target),
                "--rules",
                os.fspath(rules),
                "--no-default-rules",
                "--home",
                os.fspath(tmp_path / "home"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=term_fd,
            timeout=120,
        )
        os.close(term_fd)
        term_fd = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the child side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main_fd)
        if term_fd >= 0:
            os.close(term_fd)
    assert proc.returncode == 1
    shown = b"".join(chunks).decode("utf-8")
    assert "files," in shown  # the progress line was drawn
    # the line's own carriage return and erase-line are the only control sequences (the pty adds \r to \n)
    _assert_clean(shown.replace("\r\x1b[K", "").replace("\r\n", "\n"))


def test_quarantine_list_show_restore_and_undo_escape_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target, rules = _tree(tmp_path)
    code, out, err = _run(
        "scan",
        target,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--format",
        "json",
        home=home,
    )
    assert code == 1, err
    _assert_clean(err)
    assert not any(target.iterdir())

    code, out, err = _run("quarantine", "list", home=home)
    assert code == 0, err
    _assert_clean(out, err)
    assert len(out.splitlines()) == len(HOSTILE)
    code, listed, err = _run("quarantine", "list", "--format", "json", home=home)
    items = json.loads(listed)
    assert {i["original_path"] for i in items} == {str(target / name) for name in HOSTILE}
    for item in items:
        code, out, err = _run("quarantine", "show", item["id"], home=home)
        assert code == 0, err
        _assert_clean(out, err)
        assert f"original_path:    {printable(item['original_path'])}" in out.splitlines()
        code, out, err = _run("quarantine", "restore", item["id"], home=home)
        assert code == 0, err
        _assert_clean(out, err)
        assert out == f"restored {printable(item['original_path'])}\n"
    assert sorted(os.listdir(target)) == sorted(HOSTILE)

    code, out, err = _run(
        "scan",
        target,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--format",
        "json",
        home=home,
    )
    assert code == 1, err
    code, out, err = _run("undo", json.loads(out)["scan_id"], home=home)
    assert code == 0, err
    _assert_clean(out, err)
    assert sorted(os.listdir(target)) == sorted(HOSTILE)


def test_rule_meta_is_escaped_in_the_text_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = tmp_path / "t"
    target.mkdir()
    (target / "sample").write_bytes(EICAR)
    rules = tmp_path / "r.yar"
    rules.write_text(EICAR_RULE.replace('family = "EICAR-Test-File"', 'family = "Evil\\x1b[2J\\x0dFOUND 0"'))
    code, out, err = _run("scan", target, "--rules", rules, "--no-default-rules", home=home)
    assert code == 1, err
    _assert_clean(out, err, (home / "logs" / "scanner.log").read_text())
    assert "Evil\\x1b[2J\\x0dFOUND 0" in out


def test_update_log_escapes_server_and_url_text(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "home")
    update.log_event(state, "mirror http://m/\x1b[2J failed: HTTP 500 (\x1b]0;pwned\x07\x9b)")
    log = (state.logs / update.LOG_NAME).read_text()
    _assert_clean(log)
    assert "http://m/\\x1b[2J failed: HTTP 500 (\\x1b]0;pwned\\x07\\x9b)" in log


def test_http_status_line_with_control_characters_is_escaped(tmp_path: Path) -> None:
    feed = make_feed(tmp_path, "2990.01.1")
    reason = b"Not\x1b[2J\x1b]0;pwned\x07\x08\x08FOUND 0 detection(s):"

    def hostile(h: Handler, path: str) -> bool:
        h.wfile.write(b"HTTP/1.1 2000 " + b"A" * 200 + reason + b"\r\nContent-Length: 0\r\n\r\n")
        h.close_connection = True
        return True

    home = tmp_path / "home"
    with serve(feed.public, hostile) as srv:
        code, out, err = _run("update", "--feed", srv.url + "\x1b[2J/", "--trusted-root", feed.root, home=home)
    assert code == 2
    _assert_clean(out, err)
    assert err.startswith("scanner: error: ") and err.count("\n") == 1
    log = (home / "logs" / update.LOG_NAME).read_bytes().decode("utf-8")
    _assert_clean(log)
    assert "update failed" in log
