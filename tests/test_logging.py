"""Logging through the CLI (issue 14, item 4): --verbose/-v and --debug on every command, [logging] level
in the config file, one handler on stderr set up by the CLI only, every line escaped."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from conftest import Result, run_module

from scanner import logsetup

Cli = object


def scan(cli, data: Path, rule: Path, *extra: str | os.PathLike[str]) -> Result:  # type: ignore[no-untyped-def]
    return cli("scan", data, "--rules", rule, "--no-default-rules", "--no-progress", *extra)  # type: ignore[no-any-return]


def lines(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"scanner: {level}: ")]


def test_the_default_shows_neither_info_nor_debug_lines(cli, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    res = scan(cli, infected_dir, eicar_rule)
    assert res.exit_code == 1, res.stderr
    assert not lines(res.stderr, "info") and not lines(res.stderr, "debug"), res.stderr


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_shows_what_the_scan_decided(cli, infected_dir, eicar_rule, flag: str) -> None:  # type: ignore[no-untyped-def]
    res = scan(cli, infected_dir, eicar_rule, flag)
    assert res.exit_code == 1, res.stderr
    info = lines(res.stderr, "info")
    assert any(f"rules: {eicar_rule} (--rules)" in line for line in info), res.stderr
    assert any("custom scan of" in line for line in info), res.stderr
    assert any(line.startswith("scanner: info: file cache") for line in info), res.stderr
    assert not lines(res.stderr, "debug"), res.stderr
    # the logger's name is shown only at debug
    assert not any("scanner.scanning" in line for line in info), res.stderr
    # the report itself is unchanged on stdout
    assert "FOUND 1 detection(s)" in res.stdout and "scanner:" not in res.stdout


def test_debug_shows_each_file_with_the_loggers_name(cli, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    res = scan(cli, infected_dir, eicar_rule, "--debug")
    assert res.exit_code == 1, res.stderr
    debug = lines(res.stderr, "debug")
    clean = f"scanner: debug: scanner.scanning.scan: scanned {infected_dir / 'clean.txt'}: clean"
    found = f"scanner: debug: scanner.scanning.scan: scanned {infected_dir / 'eicar.com'}: Test_EICAR"
    assert clean in debug and found in debug, res.stderr
    assert lines(res.stderr, "info"), "debug includes info"


def test_the_flag_is_accepted_on_the_group_too(cli, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    res = cli("-v", "scan", infected_dir, "--rules", eicar_rule, "--no-default-rules", "--no-progress")
    assert res.exit_code == 1, res.stderr
    assert lines(res.stderr, "info"), res.stderr


def test_a_cached_file_is_a_logged_cache_hit(cli, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    time.sleep(2.1)  # settled: the cache records only files not changed (ctime) in the last two seconds
    assert scan(cli, infected_dir, eicar_rule).exit_code == 1
    res = scan(cli, infected_dir, eicar_rule, "--debug")
    debug = lines(res.stderr, "debug")
    assert any(f"cache hit: {infected_dir / 'clean.txt'} judged clean" in line for line in debug), res.stderr
    assert any(f"cache hit: {infected_dir / 'eicar.com'} detected before" in line for line in debug), res.stderr


def test_files_passed_over_say_why_at_debug(cli, tmp_path, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("x")
    (data / "skip.log").write_text("x")
    os.mkfifo(data / "pipe")
    os.symlink("/etc/hostname", data / "out")
    res = scan(cli, data, eicar_rule, "--debug", "--exclude", "*.log")
    debug = "\n".join(lines(res.stderr, "debug"))
    assert f"passing over {data / 'skip.log'}: excluded by a pattern" in debug, res.stderr
    assert f"passing over {data / 'pipe'}: not a regular file" in debug, res.stderr
    assert f"symlink {data / 'out'} not followed" in debug, res.stderr


def test_a_control_character_in_a_logged_file_name_is_escaped(cli, tmp_path, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "evil\x1b[31m\nname.txt").write_text("clean\n")
    res = scan(cli, data, eicar_rule, "--debug")
    assert res.exit_code == 0, res.stderr
    assert "\x1b" not in res.stderr
    assert "scanned " + str(data) + "/evil\\x1b[31m\\x0aname.txt: clean" in res.stderr, res.stderr
    assert all(line.startswith("scanner: ") for line in res.stderr.splitlines()), res.stderr


def config_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_the_config_file_sets_the_level(cli, tmp_path, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    cfg = config_file(tmp_path, '[logging]\nlevel = "info"\n')
    res = scan(cli, infected_dir, eicar_rule, "--config", cfg)
    assert lines(res.stderr, "info") and not lines(res.stderr, "debug"), res.stderr
    cfg = config_file(tmp_path, '[logging]\nlevel = "DEBUG"\n')
    res = scan(cli, infected_dir, eicar_rule, "--config", cfg)
    assert lines(res.stderr, "debug"), res.stderr


def test_the_command_line_flag_wins_over_the_config(cli, tmp_path, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    cfg = config_file(tmp_path, '[logging]\nlevel = "error"\n')
    res = scan(cli, infected_dir, eicar_rule, "--config", cfg, "-v")
    assert lines(res.stderr, "info") and not lines(res.stderr, "debug"), res.stderr
    cfg = config_file(tmp_path, '[logging]\nlevel = "debug"\n')
    res = scan(cli, infected_dir, eicar_rule, "--config", cfg, "-v")
    assert lines(res.stderr, "info") and not lines(res.stderr, "debug"), res.stderr


@pytest.mark.parametrize("value", ['"loud"', "3", '""'])
def test_a_bad_level_is_a_one_line_error(cli, tmp_path, infected_dir, eicar_rule, value: str) -> None:  # type: ignore[no-untyped-def]
    cfg = config_file(tmp_path, f"[logging]\nlevel = {value}\n")
    res = scan(cli, infected_dir, eicar_rule, "--config", cfg)
    assert res.exit_code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("scanner: error: "), res.stderr
    assert "[logging] level: must be one of debug, info, warning, error" in res.stderr, res.stderr


def test_a_library_warning_is_shown_once_by_default(cli, tmp_path, infected_dir) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "eicar.yar").write_text('rule T { strings: $a = "EICAR-STANDARD" condition: $a }\n')
    os.mkfifo(rules / "pipe.yar")
    res = scan(cli, infected_dir, rules)
    assert res.exit_code == 1, res.stderr
    warning = f"scanner: warning: skipping {rules / 'pipe.yar'} in the rules directory: not a regular file"
    assert res.stderr.splitlines().count(warning) == 1, res.stderr
    assert res.stderr.count("pipe.yar") == 1, res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["feed", "status", "--debug"],
        ["feed", "refresh", "-v"],
        ["schedule", "remove", "-v", "--unit-dir"],
        ["quarantine", "list", "-v"],
        ["signatures", "info", "--debug"],
        ["history", "-v"],
    ],
)
def test_every_command_takes_the_flags(cli, tmp_path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "target"
    target.mkdir()
    needs_dir = args[0] in ("feed", "schedule")
    res = cli(*args, *([target] if needs_dir else []))
    assert "No such option" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_the_cli_leaves_no_handler_behind(cli, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    scan(cli, infected_dir, eicar_rule, "--debug")
    root = logging.getLogger("scanner")
    assert logsetup.HANDLER not in root.handlers
    assert root.level == logging.NOTSET


def test_a_real_process_logs_on_stderr_only(tmp_path, infected_dir, eicar_rule) -> None:  # type: ignore[no-untyped-def]
    res = run_module(
        "scan", infected_dir, "--rules", eicar_rule, "--no-default-rules", "--no-progress", "-v", "--format", "json"
    )
    assert res.exit_code == 1, res.stderr
    assert lines(res.stderr, "info") and not lines(res.stderr, "debug"), res.stderr
    assert res.stdout.lstrip().startswith("{") and "scanner: info" not in res.stdout
    quiet = run_module("scan", infected_dir, "--rules", eicar_rule, "--no-default-rules", "--no-progress")
    assert quiet.exit_code == 1 and quiet.stderr == "", quiet.stderr
