"""Hostile rule and config files, and out-of-range numbers: one-line errors, never a hang or a traceback.

Issue 13, items 8 and 9. A rule file or config that is a FIFO (no writer ever connects), a
character device (a copy of /dev/zero made with mknod under tmp_path), or a huge file must be
refused at once; those runs go through a real child process with a timeout, so a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import EICAR, EICAR_RULE, run_module

ZERO = os.makedev(1, 5)


def zero_node(path: Path) -> Path:
    """A character device like /dev/zero, at ``path``."""
    os.mknod(path, 0o666 | stat.S_IFCHR, ZERO)
    return path


def sparse(path: Path, size: int) -> Path:
    """A regular file of ``size`` bytes that takes no disk space."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


def assert_one_line_error(res, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("scanner: error: "), res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    p = tmp_path / "data" / "eicar.com"
    p.parent.mkdir()
    p.write_bytes(EICAR)
    return p


def scan_with_rules(rules: Path, sample: Path):  # type: ignore[no-untyped-def]
    # A child process with a timeout: a hang fails the test (TimeoutExpired), it never hangs the suite.
    return run_module("scan", sample, "--rules", rules, "--no-default-rules", timeout=60)


# --- item 8: rule files ---------------------------------------------------------------------------


def test_a_fifo_given_as_rules_is_refused_by_name(tmp_path, sample):  # type: ignore[no-untyped-def]
    fifo = tmp_path / "rules.yar"
    os.mkfifo(fifo)
    assert_one_line_error(scan_with_rules(fifo, sample), "is a FIFO")


@pytest.mark.parametrize("how", ["plain", "after a comment"])
def test_an_included_fifo_is_refused_at_once(tmp_path, sample, how):  # type: ignore[no-untyped-def]
    fifo = tmp_path / "pipe.yar"
    os.mkfifo(fifo)
    rules = tmp_path / "main.yar"
    # After a comment the include is invisible to a line-based scan: libyara's own reading is guarded too.
    prefix = "" if how == "plain" else "/* shared */ "
    rules.write_text(f'{prefix}include "{fifo}"\n{EICAR_RULE}')
    assert_one_line_error(scan_with_rules(rules, sample), "pipe.yar", "a FIFO, not a regular file")


@pytest.mark.parametrize("how", ["plain", "after a comment"])
def test_an_included_character_device_is_refused_at_once(tmp_path, sample, how):  # type: ignore[no-untyped-def]
    zero = zero_node(tmp_path / "zero")
    rules = tmp_path / "main.yar"
    prefix = "" if how == "plain" else "/* shared */ "
    rules.write_text(f'{prefix}include "{zero}"\n{EICAR_RULE}')
    assert_one_line_error(scan_with_rules(rules, sample), "a character device, not a regular file")


def test_a_symlink_to_a_character_device_as_rules_is_refused(tmp_path, sample):  # type: ignore[no-untyped-def]
    link = tmp_path / "rules.yar"
    link.symlink_to(zero_node(tmp_path / "zero"))
    assert_one_line_error(scan_with_rules(link, sample), "character device")


def test_a_rule_file_over_64_mib_is_refused_unread(tmp_path, sample):  # type: ignore[no-untyped-def]
    big = sparse(tmp_path / "big.yar", (64 << 20) + 1)
    assert_one_line_error(scan_with_rules(big, sample), "larger than the limit of 64 MiB")
    rules = tmp_path / "main.yar"
    rules.write_text(f'/* */ include "{big}"\n{EICAR_RULE}')
    assert_one_line_error(scan_with_rules(rules, sample), "larger than the limit of 64 MiB")


def test_relative_includes_still_resolve_from_the_including_file(cli, tmp_path, sample):  # type: ignore[no-untyped-def]
    (tmp_path / "r" / "sub").mkdir(parents=True)
    (tmp_path / "r" / "main.yar").write_text('include "sub/mid.yar"\n')
    (tmp_path / "r" / "sub" / "mid.yar").write_text('include "leaf.yar"\n')
    (tmp_path / "r" / "sub" / "leaf.yar").write_text(EICAR_RULE)
    res = cli("scan", sample, "--rules", tmp_path / "r" / "main.yar", "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    assert "Test_EICAR" in res.stdout


# --- item 8: config files --------------------------------------------------------------------------


def test_a_fifo_as_config_is_refused_at_once(tmp_path, sample):  # type: ignore[no-untyped-def]
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    res = run_module("scan", sample, "--config", fifo, timeout=60)
    assert_one_line_error(res, "is a FIFO, not a regular file")


def test_a_character_device_as_config_is_refused_at_once(tmp_path, sample):  # type: ignore[no-untyped-def]
    res = run_module("scan", sample, "--config", zero_node(tmp_path / "zero"), timeout=60)
    assert_one_line_error(res, "is a character device, not a regular file")


def test_a_config_in_the_state_directory_that_is_a_fifo_is_refused(tmp_path, sample, scanner_home):  # type: ignore[no-untyped-def]
    os.mkfifo(scanner_home / "config.toml")
    res = run_module("scan", sample, timeout=60)
    assert_one_line_error(res, "is a FIFO")


def test_a_config_over_1_mib_is_refused_unread(tmp_path, sample):  # type: ignore[no-untyped-def]
    res = run_module("scan", sample, "--config", sparse(tmp_path / "c.toml", (1 << 20) + 1), timeout=60)
    assert_one_line_error(res, "at most 1 MiB")


# --- item 9: config that does not parse, numbers out of range ------------------------------------


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[scan]\njobs = 4\n\xff\xfe\x00garbage\x80\n", "is not UTF-8 text"),
        (b"a = " + b"[" * 5000, "nested too deeply"),
        (b"[scan]\njobs = 100000\n", "[scan] jobs: must be from 1 to 256, not 100000"),
        (b"[scan]\ntimeout = 0\n", "[scan] timeout: must be from 1 to 86400"),
        (b'[scan]\nmax_filesize = "99999T"\n', "[scan] max_filesize: must be from 0 to 1T"),
        (b'[scan]\nmax_filesize = "' + b"9" * 400 + b'"\n', "[scan] max_filesize: size too large"),
        (b"[processes]\ntimeout = 999999999\n", "[processes] timeout: must be from 1 to 86400"),
        (b'[processes]\nmax_memory = "2000T"\n', "[processes] max_memory: must be from 0 to 1T"),
        (b"[processes]\nkill_grace = nan\n", "[processes] kill_grace: must be a number of seconds from 0 to 3600"),
        (b"[processes]\nkill_grace = 1e300\n", "[processes] kill_grace: must be from 0 to 3600"),
        (b"[update]\nmax_age_days = 99999999999999\n", "[update] max_age_days: must be from 0 to 36500"),
        (b"[quarantine]\nretention_days = 999999999999\n", "[quarantine] retention_days: must be from 0 to 36500"),
    ],
)
def test_bad_config_is_a_one_line_error(cli, tmp_path, content, needle):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    res = cli("quarantine", "purge", "--config", config)
    assert_one_line_error(res, needle)


def test_config_values_at_the_bounds_are_accepted(cli, tmp_path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(
        '[scan]\njobs = 256\ntimeout = 86400\nmax_filesize = "1T"\n'
        "[processes]\ntimeout = 1\nkill_grace = 0\nmax_memory = 0\n"
        "[update]\nmax_age_days = 36500\n[quarantine]\nretention_days = 36500\n"
    )
    res = cli("quarantine", "purge", "--config", config)
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan", "--jobs", "100000", "."], "'--jobs' / '-j': 100000 is not in the range 1<=x<=256"),
        (["scan", "--timeout", "99999999999", "."], "'--timeout': 99999999999 is not in the range 1<=x<=86400"),
        (["scan", "--max-filesize", "9" * 400, "."], "'--max-filesize': size too large"),
        (["scan", "--max-filesize", "2T", "."], "'--max-filesize': must be from 0 to 1T"),
        (["scan", "--pid", "99999999999"], "'--pid': 99999999999 is not in the range 1<=x<=4194304"),
        (["quarantine", "purge", "--older-than", "999999999999"], "999999999999 is not in the range 0<=x<=36500"),
        (["update", "--deadline", "nan", "--feed", "file:///nowhere"], "'nan' is not a number in the range"),
        (["update", "--deadline", "1e999", "--feed", "file:///nowhere"], "is not in the range 1<=x<=86400"),
        (["watch", "--jobs", "100000", "."], "'--jobs' / '-j': 100000 is not in the range 1<=x<=256"),
    ],
)
def test_out_of_range_options_are_one_line_errors(cli, args, needle):  # type: ignore[no-untyped-def]
    assert_one_line_error(cli(*args), needle, " --help')")


def test_jobs_100000_in_a_real_process_is_a_one_line_error(sample):  # type: ignore[no-untyped-def]
    res = run_module("scan", "--jobs", "100000", "--no-default-rules", "--rules", sample, sample, timeout=60)
    assert_one_line_error(res, "not in the range 1<=x<=256")


def test_purge_at_the_largest_bound_works(cli):  # type: ignore[no-untyped-def]
    res = cli("quarantine", "purge", "--older-than", "36500")
    assert res.exit_code == 0, res.stderr


def test_a_version_with_thousands_of_digits_is_invalid_not_a_crash() -> None:
    from scanner.updates.signatures import valid_version, version_key

    huge = "2026.1." + "9" * 5000  # int() of it raises ValueError (more than 4300 digits)
    assert not valid_version(huge)
    assert version_key(huge) == (0,)
    assert version_key("2026.12.999999999") == (2026, 12, 999999999)


def test_a_group_without_a_command_still_shows_its_help(cli):  # type: ignore[no-untyped-def]
    res = cli("quarantine")
    assert res.stdout.startswith("Usage:") or res.stderr.startswith("Usage:")
    assert "scanner: error" not in res.stderr
    res = cli("quarantine", "bogus")
    assert_one_line_error(res, "No such command 'bogus'")
    assert_one_line_error(cli("--bogus"), "No such option '--bogus'")


def test_rule_files_that_are_not_utf8_still_compile_with_their_exact_bytes(cli, tmp_path):  # type: ignore[no-untyped-def]
    # A Latin-1 string literal must keep its byte (0xE9), as when libyara read the file itself.
    rule = b'rule Latin1 { meta: family = "Latin" strings: $a = "caf\xe9-marker" condition: $a }\n'
    (tmp_path / "latin1.yar").write_bytes(rule)
    (tmp_path / "main.yar").write_text('include "inc/latin1.yar"\n')
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "latin1.yar").write_bytes(rule.replace(b"Latin1", b"Latin1_inc"))
    target = tmp_path / "sample.bin"
    target.write_bytes(b"xx caf\xe9-marker xx")
    for rules, name in ((tmp_path / "latin1.yar", "Latin1"), (tmp_path / "main.yar", "Latin1_inc")):
        res = cli("scan", target, "--rules", rules, "--no-default-rules")
        assert res.exit_code == 1, res.stderr
        assert f"({name}, " in res.stdout
