"""`scanner scan` through the real CLI on real files: results, reports, exit codes, bad input."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import EICAR, REAL_PREPARE_START, run_module, wait_for_preparation

from scanner.engine import prepare


def scan_json(cli, *args):  # type: ignore[no-untyped-def]
    res = cli("scan", "--format", "json", *args)
    return res, json.loads(res.stdout) if res.stdout.strip().startswith("{") else None


def test_clean_directory_exits_0(cli, tmp_path, eicar_rule):
    (tmp_path / "a.txt").write_text("hello")
    res = cli("scan", tmp_path / "a.txt", "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 0, res.stderr
    assert "Result:           clean" in res.stdout


def test_detection_exits_1_text_lists_detections_before_summary(cli, infected_dir, eicar_rule):
    res = cli("scan", infected_dir, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1
    out = res.stdout
    assert out.index("eicar.com: EICAR-Test-File (Test_EICAR, low)") < out.index("SCAN SUMMARY")
    assert "Files scanned:    2" in out


def test_json_report_is_versioned_and_complete(cli, infected_dir, eicar_rule):
    res, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1
    assert rep["schema"] == "scanner.report/1"
    for key in ("scan_id", "started_at", "finished_at", "signatures", "counts", "detections", "skipped"):
        assert key in rep
    assert rep["signatures"]["rule_count"] == 1
    (det,) = rep["detections"]
    assert det["kind"] == "file"
    assert det["path"] == str(infected_dir / "eicar.com")
    assert det["rule"] == "Test_EICAR"
    assert det["family"] == "EICAR-Test-File"
    assert det["severity"] == "low"
    assert det["namespace"] == "eicar.yar"
    assert det["sha256"] == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    assert det["action"] == "reported"
    assert rep["counts"]["files_scanned"] == 2


def test_output_file_gets_the_report(cli, infected_dir, eicar_rule, tmp_path):
    out = tmp_path / "report.json"
    res = cli("scan", infected_dir, "--rules", eicar_rule, "--no-default-rules", "--format", "json", "-o", out)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert json.loads(out.read_text())["counts"]["detections"] == 1


def test_every_scan_is_logged(cli, infected_dir, eicar_rule, scanner_home):
    cli("scan", infected_dir, "--rules", eicar_rule, "--no-default-rules")
    log = (scanner_home / "logs" / "scanner.log").read_text()
    assert "custom scan" in log and "started" in log
    assert "detected: EICAR-Test-File" in log
    assert "exit code 1" in log


def test_family_and_severity_from_meta(cli, tmp_path):
    rules = tmp_path / "meta.yar"
    rules.write_text("""
rule by_family { meta: family = "Fam1" malware = "x" severity = "critical" strings: $a = "MARKER" condition: $a }
rule by_malware_family { meta: malware_family = "Fam2" malware = "x" strings: $a = "MARKER" condition: $a }
rule by_malware { meta: malware = "Fam3" tc_detection_name = "x" strings: $a = "MARKER" condition: $a }
rule by_tc { meta: tc_detection_name = "Fam4" strings: $a = "MARKER" condition: $a }
rule by_name { meta: severity = "bogus" strings: $a = "MARKER" condition: $a }
""")
    target = tmp_path / "t.bin"
    target.write_bytes(b"..MARKER..")
    _, rep = scan_json(cli, target, "--rules", rules, "--no-default-rules")
    got = {d["rule"]: (d["family"], d["severity"]) for d in rep["detections"]}
    assert got == {
        "by_family": ("Fam1", "critical"),
        "by_malware_family": ("Fam2", "medium"),
        "by_malware": ("Fam3", "medium"),
        "by_tc": ("Fam4", "medium"),
        "by_name": ("by_name", "medium"),
    }


def test_same_rule_name_in_two_collections_coexists(cli, tmp_path, infected_dir):
    for coll in ("one", "two"):
        d = tmp_path / coll
        d.mkdir()
        (d / "rules.yar").write_text('rule Dup { strings: $a = "EICAR-STANDARD" condition: $a }')
    _, rep = scan_json(
        cli, infected_dir, "--rules", tmp_path / "one", "--rules", tmp_path / "two", "--no-default-rules"
    )
    assert sorted(d["namespace"] for d in rep["detections"]) == ["one/rules.yar", "two/rules.yar"]


def test_modules_private_global_includes_and_externals(cli, tmp_path):
    rules = tmp_path / "r"
    rules.mkdir()
    (rules / "inc").mkdir()
    (rules / "inc" / "common.yara").write_text('private rule has_marker { strings: $a = "MARKER" condition: $a }')
    (rules / "main.yar").write_text("""
import "pe"
import "elf"
import "math"
import "hash"
include "inc/common.yara"
global private rule small { condition: filesize < 1MB }
rule uses_include { condition: has_marker }
rule uses_externals {
    condition: has_marker and filename == "probe.txt" and extension == ".txt" and filetype == ""
        and filepath endswith "/target" and owner != ""
}
rule uses_modules { condition: has_marker and not pe.is_pe and math.entropy(0, filesize) > 0
    and hash.md5(0, 5) != "" }
rule elf_type { condition: elf.type == elf.ET_EXEC and has_marker }
""")
    target = tmp_path / "target"
    target.mkdir()
    (target / "probe.txt").write_bytes(b"xx MARKER xx")
    (target / "big.txt").write_bytes(b"MARKER" + b"\0" * (1024 * 1024 + 10))
    res, rep = scan_json(cli, target, "--rules", rules, "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    hits = sorted((Path(d["path"]).name, d["rule"]) for d in rep["detections"])
    # the global rule keeps everything off the 1 MiB file; the ELF rule does not hit a text file
    assert hits == [("probe.txt", "uses_externals"), ("probe.txt", "uses_include"), ("probe.txt", "uses_modules")]


def test_filetype_external_names_the_format(cli, tmp_path):
    rules = tmp_path / "ft.yar"
    rules.write_text('rule is_exe { condition: filetype == "EXE" } rule is_elf { condition: filetype == "ELF" }')
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.exe").write_bytes(b"MZ" + b"\0" * 100)
    (tmp_path / "d" / "b").write_bytes(b"\x7fELF" + b"\0" * 100)
    _, rep = scan_json(cli, tmp_path / "d", "--rules", rules, "--no-default-rules")
    assert sorted((Path(d["path"]).name, d["rule"]) for d in rep["detections"]) == [
        ("a.exe", "is_exe"),
        ("b", "is_elf"),
    ]


def test_compiled_rules_are_cached_and_invalidated(cli, tmp_path, infected_dir, scanner_home, monkeypatch):
    """A first scan with new rules leaves their compiled form to the background preparation; the next scan
    uses it and prepares nothing; a changed rule file is a new compiled form."""
    monkeypatch.setattr(prepare, "start", REAL_PREPARE_START)
    rules = tmp_path / "c.yar"
    rules.write_text('rule A { strings: $a = "EICAR" condition: $a }')
    cli("scan", infected_dir, "--rules", rules, "--no-default-rules")
    wait_for_preparation(scanner_home)
    cache = scanner_home / "cache" / "rules"
    first = {p.name for p in cache.glob("*.yarc")}
    assert len(first) == 1
    cli("scan", infected_dir, "--rules", rules, "--no-default-rules")
    assert {p.name for p in cache.glob("*.yarc")} == first
    rules.write_text('rule B { strings: $a = "EICAR" condition: $a }')
    _, rep = scan_json(cli, infected_dir, "--rules", rules, "--no-default-rules")
    assert [d["rule"] for d in rep["detections"]] == ["B"]
    log = wait_for_preparation(scanner_home, count=2)
    assert log.count("preparation finished") == 2
    assert len(list(cache.glob("*.yarc"))) == 2


def test_a_changed_include_invalidates_the_cache(cli, tmp_path, infected_dir):
    (tmp_path / "inc.yar").write_text('rule Inc1 { strings: $a = "EICAR" condition: $a }')
    main = tmp_path / "main.yar"
    main.write_text('include "inc.yar"')
    _, rep = scan_json(cli, infected_dir, "--rules", main, "--no-default-rules")
    assert [d["rule"] for d in rep["detections"]] == ["Inc1"]
    (tmp_path / "inc.yar").write_text('rule Inc2 { strings: $a = "EICAR" condition: $a }')
    _, rep = scan_json(cli, infected_dir, "--rules", main, "--no-default-rules")
    assert [d["rule"] for d in rep["detections"]] == ["Inc2"]


def test_exclude_globs(cli, infected_dir, eicar_rule):
    (infected_dir / "sub").mkdir()
    (infected_dir / "sub" / "x.com").write_bytes(EICAR)
    _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--exclude", "*.com")
    assert rep["detections"] == []
    _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--exclude", "*/sub")
    assert [Path(d["path"]).name for d in rep["detections"]] == ["eicar.com"]


def test_oversize_file_is_listed_as_skipped(cli, infected_dir, eicar_rule):
    (infected_dir / "big.bin").write_bytes(EICAR + b"\0" * 5000)
    _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--max-filesize", "1K")
    skipped = {Path(s["path"]).name: s["code"] for s in rep["skipped"]}
    assert skipped == {"big.bin": "too_large"}
    assert len(rep["detections"]) == 1


def test_undecodable_file_name_is_scanned_and_reported_losslessly(cli, tmp_path, eicar_rule):
    d = tmp_path / "names"
    d.mkdir()
    raw = os.fsencode(d) + b"/caf\xe9-\xff.com"
    with open(raw, "wb") as f:
        f.write(EICAR)
    res, rep = scan_json(cli, d, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1
    (det,) = rep["detections"]
    assert det["path"].endswith("caf\\xe9-\\xff.com")
    assert base64.b64decode(det["path_b64"]) == raw
    text = cli("scan", d, "--rules", eicar_rule, "--no-default-rules").stdout
    assert "caf\\xe9-\\xff.com: EICAR-Test-File" in text


def test_symlink_loop_terminates(cli, infected_dir, eicar_rule):
    (infected_dir / "loop").symlink_to(infected_dir)
    (infected_dir / "a").symlink_to(infected_dir / "b")
    (infected_dir / "b").symlink_to(infected_dir / "a")
    res, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1
    assert len(rep["detections"]) == 1
    assert {Path(s["path"]).name: s["code"] for s in rep["skipped"]} == {"a": "symlink_loop", "b": "symlink_loop"}


def test_symlink_out_of_the_root_is_not_followed(cli, tmp_path, eicar_rule):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.com").write_bytes(EICAR)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.com").symlink_to(outside / "evil.com")
    (root / "dirlink").symlink_to(outside)
    (root / "chain").symlink_to("link.com")  # beside it, but itself a link that leads out
    (root / "dangling").symlink_to("nowhere")
    res, rep = scan_json(cli, root, "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 0
    assert rep["detections"] == []
    assert {Path(s["path"]).name: s["code"] for s in rep["skipped"]} == dict.fromkeys(
        ("link.com", "dirlink", "chain"), "symlink_out_of_root"
    )
    # named on the command line, the same symlink is followed
    res, rep = scan_json(cli, root / "link.com", "--rules", eicar_rule, "--no-default-rules")
    assert res.exit_code == 1


def test_symlink_inside_the_root_is_scanned_once(cli, infected_dir, eicar_rule):
    (infected_dir / "alias.com").symlink_to(infected_dir / "eicar.com")
    (infected_dir / "relative.com").symlink_to("eicar.com")  # a link to a file beside it, the usual case
    _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules")
    assert [Path(d["path"]).name for d in rep["detections"]] == ["eicar.com"]
    assert rep["skipped"] == []


def test_fifo_and_socket_are_skipped_without_blocking(tmp_path, eicar_rule):
    import socket

    d = tmp_path / "special"
    d.mkdir()
    os.mkfifo(d / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.fspath(d / "sock"))
    try:
        (d / "e.com").write_bytes(EICAR)
        res = run_module("scan", d, "--rules", eicar_rule, "--no-default-rules", "--format", "json", timeout=60)
    finally:
        sock.close()
    assert res.exit_code == 1, res.stderr
    rep = json.loads(res.stdout)
    assert {Path(s["path"]).name: s["code"] for s in rep["skipped"]} == {"fifo": "special_file", "sock": "special_file"}


def test_fifo_named_on_the_command_line_does_not_block(tmp_path, eicar_rule):
    os.mkfifo(tmp_path / "fifo")
    res = run_module("scan", tmp_path / "fifo", "--rules", eicar_rule, "--no-default-rules", timeout=60)
    assert res.exit_code == 0
    assert "FIFOs, sockets or devices: 1" in res.stdout


def run_as_nobody(args: list[str], home: Path) -> tuple[int, str]:
    """Run the CLI in a forked child that dropped root, so file permissions apply; (exit code, stdout)."""
    import sys
    import tempfile

    from scanner.cli import main

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 99
            try:
                os.setgid(65534)
                os.setuid(65534)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                os.environ["SCANNER_HOME"] = str(home)
                main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 98
            finally:
                sys.stdout.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        return os.waitstatus_to_exitcode(status), out.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to nobody to make permissions apply")
def test_unreadable_file_and_directory_are_skipped_not_fatal(eicar_rule):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="scanner-perm-"))
    try:
        base.chmod(0o755)
        d = base / "perm"
        d.mkdir(mode=0o755)
        (d / "ok.com").write_bytes(EICAR)
        (d / "secret.bin").write_bytes(b"x")
        (d / "secret.bin").chmod(0o000)
        (d / "closed").mkdir(mode=0o000)
        rules = base / "r.yar"
        rules.write_bytes(eicar_rule.read_bytes())
        rules.chmod(0o644)
        home = base / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        code, out = run_as_nobody(
            ["scan", str(d), "--rules", str(rules), "--no-default-rules", "--format", "json"], home
        )
        assert code == 1, out
        rep = json.loads(out)
        assert {Path(s["path"]).name: s["code"] for s in rep["skipped"]} == {
            "secret.bin": "permission_denied",
            "closed": "permission_denied",
        }
        # nothing readable at all: exit 2
        code, out = run_as_nobody(["scan", str(d / "closed"), "--rules", str(rules), "--no-default-rules"], home)
        assert code == 2, out
    finally:
        (base / "perm" / "closed").chmod(0o755)
        shutil.rmtree(base)


def test_vanished_file_is_skipped(tmp_path):
    from scanner.engine.compiler import RuleSource, compile_rules
    from scanner.scanning.scan import scan_one
    from scanner.scanning.walk import FileEntry

    f = tmp_path / "gone"
    f.write_text("x")
    st = f.stat()
    entry = FileEntry.from_stat(os.fspath(f), st)
    f.unlink()
    r = tmp_path / "r.yar"
    r.write_text("rule any_ { condition: true }")
    res = scan_one(entry, compile_rules([RuleSource("r", r)]), 10, None)
    assert res.skipped is not None and res.skipped.reason.name == "VANISHED"


def test_timeout_is_skipped_not_fatal(cli, tmp_path):
    rules = tmp_path / "slow.yar"
    rules.write_text("""
rule slow { condition: for all i in (0..filesize - 1) : ( for all j in (0..filesize - 1) :
    ( uint8(i) != 0xFF or uint8(j) != 0xFE ) ) }
""")
    d = tmp_path / "d"
    d.mkdir()
    (d / "big.bin").write_bytes(b"\0" * 200_000)
    res, rep = scan_json(cli, d, "--rules", rules, "--no-default-rules", "--timeout", "1")
    assert [s["code"] for s in rep["skipped"]] == ["timeout"]
    assert res.exit_code == 2  # nothing could be scanned


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_one_file_system(cli, infected_dir, eicar_rule):
    import subprocess

    mnt = infected_dir / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.fspath(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mnt / "e2.com").write_bytes(EICAR)
        _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules")
        assert len(rep["detections"]) == 2
        _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--one-file-system")
        assert [Path(d["path"]).name for d in rep["detections"]] == ["eicar.com"]
        assert [s["code"] for s in rep["skipped"]] == ["other_filesystem"]
    finally:
        subprocess.run(["umount", os.fspath(mnt)], check=True)


def test_jobs_gives_the_same_result(cli, tmp_path, eicar_rule):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(200):
        (d / f"f{i}.bin").write_bytes(EICAR if i % 7 == 0 else b"clean %d" % i)
    reps = [scan_json(cli, d, "--rules", eicar_rule, "--no-default-rules", "-j", j)[1] for j in ("1", "4")]
    assert [x["path"] for x in reps[0]["detections"]] == [x["path"] for x in reps[1]["detections"]]
    assert len(reps[0]["detections"]) == 29


# --- bad input: one line, exit 2, no traceback ----------------------------------------------------------


def assert_clean_error(res, *fragments):  # type: ignore[no-untyped-def]
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    for f in fragments:
        assert f in res.stderr


def test_broken_rule_names_file_and_line(tmp_path, infected_dir):
    bad = tmp_path / "bad.yar"
    bad.write_text('rule ok { condition: true }\nrule broken {\n  strings: $a = "x"\n  condition: $b\n}\n')
    res = run_module("scan", infected_dir, "--rules", bad, "--no-default-rules")
    assert_clean_error(res, "bad.yar(5)", "does not compile")
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_path(cli, eicar_rule, tmp_path):
    assert_clean_error(cli("scan", tmp_path / "nope", "--rules", eicar_rule), "path not found")


def test_missing_rules_path_and_empty_rules_directory(cli, tmp_path, infected_dir):
    assert_clean_error(cli("scan", infected_dir, "--rules", tmp_path / "nope.yar"), "rules not found")
    (tmp_path / "empty").mkdir()
    assert_clean_error(cli("scan", infected_dir, "--rules", tmp_path / "empty"), "no .yar or .yara files")


def test_unknown_option_value(cli, infected_dir):
    res = cli("scan", infected_dir, "--format", "xml")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    res = cli("scan", infected_dir, "--max-filesize", "lots")
    assert res.exit_code == 2 and "not a size" in res.stderr


def test_config_file_that_does_not_parse(cli, tmp_path, infected_dir, scanner_home):
    (scanner_home / "config.toml").write_text("[scan\nexclude = ")
    assert_clean_error(cli("scan", infected_dir), "does not parse")
    bad = tmp_path / "c.toml"
    bad.write_text("[scan]\nexlude = ['*.iso']\n")
    assert_clean_error(cli("scan", infected_dir, "--config", bad), "unknown key 'exlude'")


def test_config_file_supplies_defaults_and_flags_win(cli, tmp_path, infected_dir, eicar_rule):
    conf = tmp_path / "c.toml"
    conf.write_text("[scan]\nexclude = ['*.com']\nmax_filesize = '1M'\n")
    _, rep = scan_json(cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--config", conf)
    assert rep["detections"] == []
    (infected_dir / "eicar.bin").write_bytes(EICAR + b"\0" * 2000)
    _, rep = scan_json(
        cli, infected_dir, "--rules", eicar_rule, "--no-default-rules", "--config", conf, "--max-filesize", "1K"
    )
    assert [s["code"] for s in rep["skipped"]] == ["too_large"]


def test_python_dash_m_and_version():
    res = run_module("--version")
    assert res.exit_code == 0 and "scanner" in res.stdout
    res = run_module("scan", "--help")
    assert "Exit codes" in res.stdout and "--quick" in res.stdout


def test_unchanged_clean_files_are_not_read_again_unless_no_cache(cli, infected_dir, eicar_rule):
    import time

    time.sleep(2.2)  # a file changed within 2 s of the scan is never recorded (same-tick writes)
    args = ("scan", infected_dir, "--rules", eicar_rule, "--no-default-rules", "--format", "json")
    first = json.loads(cli(*args).stdout)
    assert first["file_cache"]["recorded"] == 2  # the clean file, and the detection as a detection
    again = cli(*args)
    rep = json.loads(again.stdout)
    assert again.exit_code == 1 and rep["detections"] == first["detections"]
    assert rep["file_cache"]["hits"] == 2 and rep["file_cache"]["detections"] == 1
    rep = json.loads(cli(*args, "--no-cache").stdout)
    assert "file_cache" not in rep or rep["file_cache"]["hits"] == 0
    (infected_dir / "clean.txt").write_bytes(EICAR)  # changed: read again, and found
    assert len(json.loads(cli(*args).stdout)["detections"]) == 2
