"""What a scan covers, and that it never says "clean" when it did not read what it should have:
trees deeper than PATH_MAX, --max-filesize, missing paths, the state directory inside a scanned tree,
web roots, /dev/shm in a full scan, and the monthly run's own paths and rules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import EICAR

from scanner.scanning.walk import PATH_MAX, WalkOptions, walk

LONG = "d" * 200


def deep_dir(top: Path, levels: int) -> tuple[str, int]:
    """Create ``levels`` nested directories of 200-byte names under ``top``; (their path, an open fd of the last)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir(LONG, dir_fd=fd)
        nfd = os.open(LONG, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return os.path.join(top, *[LONG] * levels), fd


def write_at(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def remove_deep(top: Path) -> None:
    """Empty ``top`` of a tree too deep for shutil.rmtree's recursion (pytest's clean-up), lifting each
    folder's entries up into ``top`` before removing the folder."""
    top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    lifted = 0
    try:
        while names := os.listdir(top_fd):
            for name in names:
                if not stat.S_ISDIR(os.stat(name, dir_fd=top_fd, follow_symlinks=False).st_mode):
                    os.unlink(name, dir_fd=top_fd)
                    continue
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=top_fd)
                try:
                    for child in os.listdir(sub):
                        lifted += 1
                        os.rename(child, f"lifted-{lifted}", src_dir_fd=sub, dst_dir_fd=top_fd)
                finally:
                    os.close(sub)
                os.rmdir(name, dir_fd=top_fd)
    finally:
        os.close(top_fd)


def scan_json(cli, *args):  # type: ignore[no-untyped-def]
    res = cli("scan", "--format", "json", *args)
    return res, json.loads(res.stdout) if res.stdout.strip().startswith("{") else None


# --- item 5: deep trees, --max-filesize, incomplete results ------------------------------------------


def test_file_deeper_than_path_max_is_detected_quarantined_and_restored(cli, tmp_path, eicar_rule):
    top = tmp_path / "tree"
    top.mkdir()
    deep, fd = deep_dir(top, 25)  # 25 * 201 bytes: deeper than PATH_MAX
    try:
        write_at(fd, "payload.com", EICAR)
        target = os.path.join(deep, "payload.com")
        assert len(os.fsencode(target)) > PATH_MAX
        res, rep = scan_json(
            cli,
            top,
            "--rules",
            eicar_rule,
            "--no-default-rules",
            "--action",
            "quarantine",
            "--action-min-severity",
            "low",
        )
        assert res.exit_code == 1, res.stderr
        (det,) = rep["detections"]
        assert det["path"] == target
        assert det["action"].startswith("quarantined")
        assert rep["counts"]["not_scanned"] == 0
        with pytest.raises(FileNotFoundError):
            os.stat("payload.com", dir_fd=fd)
        (item,) = json.loads(cli("quarantine", "list", "--format", "json").stdout)
        restored = cli("quarantine", "restore", item["id"])
        assert restored.exit_code == 0, restored.stderr
        fd2 = os.open("payload.com", os.O_RDONLY, dir_fd=fd)
        try:
            assert os.read(fd2, 1000) == EICAR
        finally:
            os.close(fd2)
    finally:
        os.close(fd)


def test_deep_tree_keeps_few_descriptors_open_and_reopens_ancestors(tmp_path):
    # 2100 levels of "a" (deeper than PATH_MAX), each with a file; the first 300 also with a sibling folder
    # the walk comes back to after the deepest level
    found = []
    try:
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        for level in range(2100):
            os.mkdir("a", dir_fd=fd)
            if level < 300:
                os.mkdir("b", dir_fd=fd)
                write_at(fd, "f", b"x")
            nfd = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        write_at(fd, "deepest", b"x")
        os.close(fd)
        before = len(os.listdir("/proc/self/fd"))
        most = 0
        for item in walk([os.fspath(tmp_path)], WalkOptions()):
            found.append(os.path.basename(item.path))
            most = max(most, len(os.listdir("/proc/self/fd")) - before)
            del item
    finally:
        remove_deep(tmp_path)  # pytest's own clean-up would fail on it, in every later session
    assert found == ["f"] * 300 + ["deepest"]
    assert most < 100  # OPEN_ANCESTORS, not one per level
    assert len(os.listdir("/proc/self/fd")) <= before + 1


def test_only_file_over_max_filesize_is_incomplete_exit_2(cli, tmp_path, eicar_rule):
    d = tmp_path / "big"
    d.mkdir()
    (d / "large.bin").write_bytes(EICAR + b"\0" * 4096)
    res = cli("scan", d, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "1K")
    assert res.exit_code == 2, res.stdout
    assert "Result:           incomplete: nothing could be scanned (1 not scanned)" in res.stdout
    assert "larger than --max-filesize" in res.stdout


def test_some_files_not_scanned_is_incomplete_not_clean(cli, tmp_path, eicar_rule):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "small.txt").write_text("hello\n")
    (d / "large.bin").write_bytes(b"\0" * 4096)
    res = cli("scan", d, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "1K")
    assert res.exit_code == 0
    assert "Result:           incomplete (1 not scanned)" in res.stdout
    assert "WARNING: 1 item(s) could not be scanned" in res.stdout
    _, rep = scan_json(cli, d, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "1K")
    assert rep["counts"]["not_scanned"] == 1 and rep["counts"]["files_scanned"] == 1


def test_detection_with_files_not_scanned_exits_1_and_says_incomplete(cli, tmp_path, eicar_rule):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "eicar.com").write_bytes(EICAR)
    (d / "large.bin").write_bytes(b"\0" * 4096)
    res = cli("scan", d, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "1K")
    assert res.exit_code == 1
    assert "Result:           threats found; incomplete (1 not scanned)" in res.stdout


def test_max_filesize_0_means_no_limit(cli, tmp_path, eicar_rule):
    d = tmp_path / "d"
    d.mkdir()
    (d / "eicar.com").write_bytes(EICAR + b"\0" * 4096)
    res = cli("scan", d, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "0")
    assert res.exit_code == 1, res.stdout
    assert "Result:           threats found\n" in res.stdout


def test_things_passed_over_by_design_leave_the_result_clean(cli, tmp_path, eicar_rule):
    d = tmp_path / "d"
    d.mkdir()
    (d / "ok.txt").write_text("fine\n")
    os.mkfifo(d / "fifo")
    os.mknod(d / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.symlink("/etc/hostname", d / "out")
    res = cli("scan", d, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 0
    assert "Result:           clean" in res.stdout
    assert "Passed over by design" in res.stdout


# --- item 13: the state directory inside a scanned tree ------------------------------------------------


def test_state_directory_inside_the_scanned_tree_is_never_scanned(cli, tmp_path):
    tree = tmp_path / "tree"
    home = tree / "state"
    home.mkdir(parents=True)
    rules = tmp_path / "marker.yar"
    rules.write_text('rule Marker { meta: family = "Marker" strings: $a = "QZXV-PLAIN-MARKER-7731" condition: $a }\n')
    (tree / "real.txt").write_text("has QZXV-PLAIN-MARKER-7731 in it\n")
    args = (
        "--home",
        home,
        "--rules",
        rules,
        "--no-default-rules",
        "--action",
        "quarantine",
        "--action-min-severity",
        "low",
        "--no-cache",
    )
    for _ in range(2):  # the first run writes the compiled rules into the state directory, the second meets them
        res, rep = scan_json(cli, tree, *args)
        assert [d["path"] for d in rep["detections"]] in ([str(tree / "real.txt")], []), rep["detections"]
        assert all(not d["path"].startswith(str(home)) for d in rep["detections"])
        assert any(s["code"] == "state_directory" and s["path"] == str(home) for s in rep["skipped"])
        assert rep["counts"]["not_scanned"] == 0
    assert res.exit_code == 0  # real.txt was quarantined by the first run
    items = json.loads(cli("quarantine", "list", "--format", "json", "--home", home).stdout)
    assert [i["original_path"] for i in items] == [str(tree / "real.txt")]


# --- item 15: web roots and the monthly run's paths and rules ------------------------------------------


def test_quick_scan_covers_web_roots(cli, tmp_path, eicar_rule):
    root = tmp_path / "root"
    shell = root / "var" / "www" / "html" / "up" / "shell.php"
    shell.parent.mkdir(parents=True)
    shell.write_bytes(b"<?php " + EICAR)
    (root / "srv" / "http").mkdir(parents=True)
    (root / "srv" / "http" / "x.jsp").write_bytes(EICAR)
    res, rep = scan_json(
        cli, "--quick", "--sysroot", root, "--no-processes", "--rules", eicar_rule, "--no-default-rules"
    )
    assert res.exit_code == 1
    assert sorted(d["path"] for d in rep["detections"]) == [str(root / "srv/http/x.jsp"), str(shell)]


def test_monthly_scans_path_arguments_with_rules_argument(cli, tmp_path, eicar_rule, scanner_home):
    root = tmp_path / "root"
    root.mkdir()
    site = tmp_path / "sites" / "blog"
    site.mkdir(parents=True)
    (site / "wp-x.php").write_bytes(EICAR)
    res = cli("monthly", site, "--rules", eicar_rule, "--sysroot", root, "--no-processes", "--action", "report")
    assert res.exit_code == 1, res.stderr
    assert "detection(s): threats found" in res.stdout
    log = (scanner_home / "logs" / "scanner.log").read_text()
    assert "wp-x.php" in log


def test_monthly_reads_paths_and_rules_from_config(cli, tmp_path, scanner_home):
    from conftest import EICAR_RULE

    root = tmp_path / "root"
    root.mkdir()
    site = tmp_path / "srv-sites"
    site.mkdir()
    (site / "shell.php").write_bytes(EICAR)
    (scanner_home / "rules").mkdir()
    (scanner_home / "rules" / "eicar.yar").write_text(EICAR_RULE)
    (scanner_home / "config.toml").write_text(
        f'[monthly]\naction = "report"\npaths = ["{site}", "{tmp_path / "gone"}"]\nrules = ["rules/eicar.yar"]\n'
    )
    res = cli("monthly", "--sysroot", root, "--no-processes")
    assert res.exit_code == 1, res.stderr
    assert "threats found; incomplete (1 not scanned)" in res.stdout
    assert f"path not found: {tmp_path / 'gone'}" in res.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('paths = ["relative/dir"]', "must be absolute"),
        ("paths = [1]", "must be a path or a list of paths"),
        ("rules = 5", "must be a path or a list of paths"),
    ],
)
def test_monthly_config_keys_are_checked(cli, tmp_path, scanner_home, value, message):
    (scanner_home / "config.toml").write_text(f"[monthly]\n{value}\n")
    res = cli("monthly", "--sysroot", tmp_path, "--no-processes")
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


# --- item 16: /dev/shm in a full scan ------------------------------------------------------------------


def test_full_scan_covers_dev_shm_but_not_the_rest_of_dev(cli, tmp_path, eicar_rule):
    root = tmp_path / "root"
    shm = root / "dev" / "shm"
    shm.mkdir(parents=True)
    (shm / ".x").write_bytes(EICAR)
    os.mkfifo(shm / "fifo")  # listed, never opened (opening it would block)
    os.mknod(root / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (root / "dev" / "elsewhere").write_bytes(EICAR)
    res, rep = scan_json(
        cli, "--full", "--sysroot", root, "--no-processes", "--rules", eicar_rule, "--no-default-rules"
    )
    assert res.exit_code == 1
    assert [d["path"] for d in rep["detections"]] == [str(shm / ".x")]
    assert str(root / "dev" / "shm") in rep["roots"]


# --- item 17: missing paths, --quick --full -------------------------------------------------------------


def test_missing_path_is_a_warning_and_the_rest_is_scanned(cli, tmp_path, infected_dir, eicar_rule):
    res = cli("scan", tmp_path / "nope", infected_dir, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1
    assert f"scanner: warning: path not found: {tmp_path / 'nope'}; scanning the rest" in res.stderr
    assert "threats found; incomplete (1 not scanned)" in res.stdout
    assert "does not exist" in res.stdout


def test_missing_path_beside_a_clean_one_is_incomplete_not_clean(cli, tmp_path, eicar_rule):
    (tmp_path / "a.txt").write_text("hello")
    res = cli("scan", tmp_path / "nope", tmp_path / "a.txt", "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 0
    assert "Result:           incomplete (1 not scanned)" in res.stdout


def test_all_paths_missing_is_exit_2_in_one_line(cli, tmp_path, eicar_rule):
    res = cli("scan", tmp_path / "nope", tmp_path / "nope2", "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and "path not found" in res.stderr


def test_quick_and_full_together_is_a_usage_error(cli, tmp_path):
    res = cli("scan", "--quick", "--full", "--sysroot", tmp_path)
    assert res.exit_code == 2
    assert res.stderr == "scanner: error: --quick and --full cannot be used together: choose one\n"
