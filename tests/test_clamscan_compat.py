"""clamscan's and maldet's options on ``scan``, each through the CLI, as their manual pages describe them.

clamscan(1): -r scans directories recursively; -i prints only infected files; --remove[=yes/no] removes
infected files; --move=DIRECTORY moves them; -l/--log=FILE saves the scan report to FILE; --exclude=REGEX,
--exclude-dir=REGEX, --include=REGEX and --include-dir=REGEX filter by regular expression; --quiet prints
only error messages; --no-summary drops the summary; -d/--database loads signatures from FILE or DIR;
-f/--file-list=FILE scans the files listed in FILE; '-' scans standard input. Output lines are
'PATH: NAME FOUND' (and 'PATH: OK' for clean files); exit codes 0 clean, 1 found, 2 error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EICAR, run_module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/{eicar.com, clean.txt, sub/eicar.php, skip/eicar.bin}."""
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "skip").mkdir()
    (d / "eicar.com").write_bytes(EICAR)
    (d / "clean.txt").write_text("nothing to see here\n")
    (d / "sub" / "eicar.php").write_bytes(EICAR)
    (d / "skip" / "eicar.bin").write_bytes(EICAR)
    return d


def found(stdout: str) -> set[str]:
    """The paths of clamscan's FOUND lines."""
    return {line.rsplit(": ", 1)[0] for line in stdout.splitlines() if line.endswith(" FOUND")}


def test_clamscan_format_lines_and_summary(cli, tree: Path) -> None:
    res = cli("scan", tree, "--format", "clamscan")
    assert res.exit_code == 1
    assert f"{tree}/eicar.com: EICAR-Test-File.EICAR_Test_File FOUND" in res.stdout.splitlines()
    assert found(res.stdout) == {f"{tree}/eicar.com", f"{tree}/sub/eicar.php", f"{tree}/skip/eicar.bin"}
    assert "----------- SCAN SUMMARY -----------" in res.stdout
    assert "Infected files: 3" in res.stdout and "Scanned files: 4" in res.stdout
    assert ": OK" not in res.stdout


def test_verbose_prints_ok_lines_and_infected_only_drops_them(cli, tree: Path) -> None:
    res = cli("scan", tree, "--format", "clamscan", "-v")
    assert f"{tree}/clean.txt: OK" in res.stdout.splitlines()
    res = cli("scan", tree, "--format", "clamscan", "-v", "-i")
    assert ": OK" not in res.stdout and len(found(res.stdout)) == 3


def test_format_from_the_config(cli, tree: Path, tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[scan]\nformat = "clamscan"\n')
    res = cli("scan", tree, "--config", conf)
    assert len(found(res.stdout)) == 3
    conf.write_text('[scan]\nformat = "xml"\n')
    res = cli("scan", tree, "--config", conf)
    assert res.exit_code == 2 and "format" in res.stderr


def test_a_clamscan_wrapper_works_unchanged(tree: Path, tmp_path: Path) -> None:
    """`clamscan -r -i --no-summary DIR | grep FOUND` with `scanner scan --format clamscan` in its place."""
    cmd = f"{sys.executable} -m scanner scan --format clamscan -r -i --no-summary {tree} | grep FOUND"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1  # the scanner's exit code through pipefail: found
    assert len(done.stdout.splitlines()) == 3
    assert "SCAN SUMMARY" not in done.stdout


def test_recursive_is_accepted(cli, tree: Path) -> None:
    assert cli("scan", "-r", tree).exit_code == 1
    assert cli("scan", "--recursive", tree).exit_code == 1


def test_infected_only_text_report_leaves_out_skips(cli, tree: Path) -> None:
    os.mkfifo(tree / "fifo")
    res = cli("scan", tree, "--format", "text")
    assert "Passed over by design" in res.stdout
    res = cli("scan", tree, "-i")
    assert "Passed over by design" not in res.stdout and "FOUND 3 detection(s)" in res.stdout


def test_no_summary(cli, tree: Path) -> None:
    res = cli("scan", tree, "--no-summary")
    assert res.exit_code == 1 and "SCAN SUMMARY" not in res.stdout and "FOUND 3" in res.stdout


def test_quiet_prints_nothing_but_keeps_the_exit_code(cli, tree: Path, tmp_path: Path) -> None:
    res = cli("scan", tree, tmp_path / "missing", "--quiet")
    assert (res.exit_code, res.stdout, res.stderr) == (1, "", "")
    res = cli("scan", tmp_path / "missing", "--quiet")
    assert res.exit_code == 2 and "error" in res.stderr  # errors still are said


def test_quiet_is_not_mistaken_for_quick(cli, tree: Path) -> None:
    res = cli("scan", "--quiet", tree / "clean.txt")
    assert res.exit_code == 0 and res.stdout == ""


def test_remove_and_its_optional_argument(cli, tree: Path) -> None:
    res = cli("scan", "--remove=no", tree / "eicar.com")
    assert res.exit_code == 1 and (tree / "eicar.com").exists()
    res = cli("scan", "--remove", tree / "eicar.com")  # a bare word after it is a path, as in clamscan
    assert res.exit_code == 1 and not (tree / "eicar.com").exists()
    res = cli("scan", "--remove=yes", tree / "sub")
    assert res.exit_code == 1 and not (tree / "sub" / "eicar.php").exists()
    assert "remove" in json.loads(cli("history", "--format", "json").stdout)[-1]["action"]
    res = cli("scan", "--remove=maybe", tree)
    assert res.exit_code == 2 and "yes or no" in res.stderr


def test_remove_conflicts_are_usage_errors(cli, tree: Path, tmp_path: Path) -> None:
    res = cli("scan", "--remove", "--move", tmp_path / "v", tree)
    assert res.exit_code == 2 and "cannot be used together" in res.stderr
    res = cli("scan", "--remove", "--action", "quarantine", tree)
    assert res.exit_code == 2 and "--action remove" in res.stderr
    assert (tree / "eicar.com").exists()


def test_move_puts_files_in_an_inert_vault_there_and_restore_and_undo_work(cli, tree: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    res = cli("scan", "--move", moved, tree / "eicar.com", "--format", "json")
    assert res.exit_code == 1
    assert not (tree / "eicar.com").exists()
    held = [p for p in moved.rglob("*") if p.is_file()]
    assert held and all(EICAR not in p.read_bytes() for p in held)  # neutralised, not a raw copy
    items = json.loads(cli("quarantine", "list", "--format", "json").stdout)
    assert [i["original_path"] for i in items] == [f"{tree}/eicar.com"]
    assert cli("quarantine", "restore", items[0]["id"]).exit_code == 0
    assert (tree / "eicar.com").read_bytes() == EICAR
    res = cli("scan", f"--move={moved}", tree / "sub", "--format", "json")
    scan_id = json.loads(res.stdout)["scan_id"]
    assert not (tree / "sub" / "eicar.php").exists()
    assert cli("undo", scan_id).exit_code == 0
    assert (tree / "sub" / "eicar.php").read_bytes() == EICAR


def test_log_appends_the_report(cli, tree: Path, tmp_path: Path) -> None:
    log = tmp_path / "scan.log"
    log.write_text("earlier\n")
    cli("scan", tree, "--log", log, "--format", "clamscan")
    cli("scan", tree / "clean.txt", "-l", log)
    text = log.read_text()
    assert text.startswith("earlier\n") and len(found(text)) == 3 and text.count("SCAN SUMMARY") == 2


def test_log_to_a_device_node_or_a_fifo_is_written_in_place(cli, tree: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    null = tmp_path / "null"
    os.mknod(null, 0o666 | 0o020000, os.makedev(1, 3))
    assert cli("scan", tree, "--log", null).exit_code == 1
    assert null.is_char_device()
    res = cli("scan", tree, "--log", tmp_path)  # a directory
    assert res.exit_code == 2 and "is a directory" in res.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = cli("scan", tree, "--log", fifo)  # nobody reads it: a one-line error at once, not a hang
    assert res.exit_code == 2 and "no reader" in res.stderr


def test_exclude_regex_include_and_dirs(cli, tree: Path) -> None:
    res = cli("scan", tree, "--format", "clamscan", "--exclude-regex", r"\.php$")
    assert found(res.stdout) == {f"{tree}/eicar.com", f"{tree}/skip/eicar.bin"}
    res = cli("scan", tree, "--format", "clamscan", "--include", r"\.(com|bin)$")
    assert found(res.stdout) == {f"{tree}/eicar.com", f"{tree}/skip/eicar.bin"}
    res = cli("scan", tree, "--format", "clamscan", "--exclude-dir", "/skip$")
    assert found(res.stdout) == {f"{tree}/eicar.com", f"{tree}/sub/eicar.php"}
    res = cli("scan", tree, "--format", "clamscan", "--include-dir", "/sub$")
    assert found(res.stdout) == {f"{tree}/eicar.com", f"{tree}/sub/eicar.php"}
    res = cli("scan", tree, "--exclude-regex", "(")
    assert res.exit_code == 2 and "not a regular expression" in res.stderr


def test_a_regex_given_to_exclude_gets_a_warning(cli, tree: Path) -> None:
    res = cli("scan", tree, "--exclude", r"\.php$")
    assert "--exclude-regex" in res.stderr and res.exit_code == 1
    assert "--exclude-regex" not in cli("scan", tree, "--exclude", "*.php").stderr


def test_database_is_rules(cli, tree: Path, eicar_rule: Path) -> None:
    for flag in ("-d", "--database"):
        res = cli("scan", tree, flag, eicar_rule, "--no-default-rules", "--format", "clamscan")
        assert found(res.stdout) and "Test_EICAR" in res.stdout


def test_file_list_lines_and_nul_separated(cli, tree: Path, tmp_path: Path) -> None:
    lst = tmp_path / "list"
    lst.write_text(f"{tree}/eicar.com\n\n{tree}/clean.txt\n")
    res = cli("scan", "-f", lst, "--format", "clamscan")
    assert found(res.stdout) == {f"{tree}/eicar.com"} and "Scanned files: 2" in res.stdout
    odd = tree / "na\xefve\udcff.bin"  # a name that is not UTF-8
    shutil.copy(tree / "eicar.com", os.fsencode(odd))
    lst.write_bytes(os.fsencode(f"{tree}/sub/eicar.php") + b"\0" + os.fsencode(str(odd)) + b"\0")
    res = cli("scan", "--file-list", lst, "-z", "--format", "json")
    assert len(json.loads(res.stdout)["detections"]) == 2
    res = cli("scan", "--file-list", tmp_path / "nope")
    assert res.exit_code == 2 and "--file-list" in res.stderr
    os.mkfifo(tmp_path / "fifo")
    res = cli("scan", "--file-list", tmp_path / "fifo")  # refused unread, never a hang
    assert res.exit_code == 2 and "FIFO" in res.stderr


def test_standard_input_is_one_file_called_stdin(cli, tree: Path) -> None:
    res = cli("scan", "-", "--format", "clamscan", input=EICAR.decode())
    assert res.exit_code == 1 and "stdin: EICAR-Test-File.EICAR_Test_File FOUND" in res.stdout
    assert cli("scan", "-", input="hello").exit_code == 0
    res = cli("scan", "-", "--action", "quarantine", "--format", "json", input=EICAR.decode())
    rep = json.loads(res.stdout)
    assert res.exit_code == 1 and rep["detections"][0]["path"] == "stdin"
    res = cli("scan", "-", "--max-filesize", "10", input=EICAR.decode())
    assert res.exit_code == 2 and "larger than --max-filesize" in res.stderr


def test_a_missing_path_is_a_warning_and_the_scan_goes_on(cli, tree: Path, tmp_path: Path) -> None:
    res = cli("scan", tree, tmp_path / "gone", "--format", "clamscan")
    assert res.exit_code == 1 and "path not found" in res.stderr and len(found(res.stdout)) == 3


def test_modified_since(cli, tree: Path) -> None:
    old = time.time() - 10 * 86400
    for p in tree.rglob("*"):
        os.utime(p, (old, old))
    # ctime cannot be set back, so every file still counts as changed now: a far cut-off shows the filter
    res = cli("scan", tree, "--modified-since", "0", "--format", "clamscan")
    assert "Scanned files: 0" in res.stdout and res.exit_code == 0
    res = cli("scan", tree, "--modified-since", "1", "--format", "clamscan")
    assert len(found(res.stdout)) == 3


def test_after_scan_hook_gets_the_json_report(cli, tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "hook-out.json"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[hooks]\nafter_scan = ["sh", "-c", "cat > \'{out}\'"]\n')
    res = cli("scan", tree, "--config", conf)
    assert res.exit_code == 1
    assert len(json.loads(out.read_text())["detections"]) == 3
    conf.write_text("[hooks]\nafter_scan = \"sh -c 'echo no mail server >&2; exit 3'\"\n")
    res = cli("scan", tree, "--config", conf)
    assert res.exit_code == 1 and "after-scan hook: sh failed (exit status 3): no mail server" in res.stderr
    conf.write_text('[hooks]\nafter_scan = "sleep 30"\ntimeout = 1\n')
    t0 = time.monotonic()
    res = cli("scan", tree, "--config", conf)
    assert res.exit_code == 1 and "killed" in res.stderr and time.monotonic() - t0 < 20
    conf.write_text('[hooks]\nafter_scan = "/nonexistent/mailer"\n')
    res = cli("scan", tree, "--config", conf)
    assert res.exit_code == 1 and "cannot run /nonexistent/mailer" in res.stderr


def test_the_module_runs_a_clamscan_line_end_to_end(tree: Path) -> None:
    res = run_module("scan", "-r", "-i", "--no-summary", "--format", "clamscan", tree)
    assert res.exit_code == 1 and len(found(res.stdout)) == 3
