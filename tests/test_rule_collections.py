"""User rule collections as ``yara`` users bring them (issue 15, items 1-3): files that do not compile are
left out with one warning each (``--strict`` fails instead), the files of one directory or one index share a
namespace, and an index of includes is routed exactly as the same files given as a directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yara
from conftest import run_module

from scanner import jobs
from scanner.config import Config
from scanner.engine import loader, routing
from scanner.engine.compiler import CompiledRules
from scanner.engine.sources import EXTERNALS
from scanner.errors import RuleError
from scanner.scanning.facts import file_externals
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk
from scanner.state import StateDir
from scanner.updates import signatures

COMMON = """
private rule is__elf { condition: uint32(0) == 0x464C457F }
private rule is__pe { condition: uint16(0) == 0x5A4D }
"""
CUCKOO = """
import "cuckoo"
rule Cuckoo_Mutex { condition: cuckoo.sync.mutex(/EVIL/) }
"""
BROKEN = """rule Fine_Before { strings: $a = "FINE" condition: $a }
rule Broken {
  strings: $a = "x"
  condition: $b
}
"""


def numbered(n: int, marker: str, gate: str) -> str:
    return "\n".join(f'rule {marker}_{i} {{ strings: $a = "{marker}-{i}" condition: {gate} and $a }}' for i in range(n))


def write_collection(d: Path) -> None:
    """A collection whose files use the private rules of a shared file, big enough to be routed."""
    d.mkdir(parents=True)
    (d / "000_common_rules.yar").write_text(COMMON)
    (d / "pe_rules.yar").write_text(numbered(30, "PEMARK", "is__pe"))
    (d / "elf_rules.yar").write_text(numbered(25, "ELFMARK", "is__elf and filesize < 200KB"))
    (d / "any_rules.yar").write_text(
        numbered(4, "ANYMARK", "true")
        + '\nrule Script_Ext { strings: $a = "SHMARK" condition: $a and extension == ".sh" }'
        + '\nrule Either { strings: $a = "EITHER" condition: (is__pe or is__elf) and $a }\n'
    )


def write_index(where: Path, coll: Path) -> Path:
    """An index of includes for ``coll``, one of them through a nested index, with relative paths (resolved
    against the including file's directory, as libyara does)."""
    (where / "sub").mkdir(parents=True)
    rel = os.path.relpath(coll, where)
    (where / "sub" / "more.yar").write_text(f'include "../{rel}/elf_rules.yar"\n')
    index = where / "index.yar"
    index.write_text(
        f'// the collection\ninclude "{rel}/000_common_rules.yar"\ninclude "{rel}/pe_rules.yar"\n'
        f'include "sub/more.yar"\n  include "{coll}/any_rules.yar"\n'
    )
    return index


def write_samples(d: Path) -> None:
    d.mkdir()
    markers = b" ".join(
        [b"PEMARK-%d" % i for i in (0, 7, 29)]
        + [b"ELFMARK-%d" % i for i in (1, 24)]
        + [b"ANYMARK-2", b"SHMARK", b"EITHER"]
    )
    heads = {"mz": b"MZ\x90\x00", "elf": b"\x7fELF\x02\x01", "text": b"plain "}
    for name, head in heads.items():
        for size in (0, 150 * 1024, 1100 * 1024):
            data = head + markers
            (d / f"{name}-{size}.sh").write_bytes(data + b"\0" * max(0, size - len(data)))
    (d / "mz-only").write_bytes(b"MZ")
    (d / "empty").write_bytes(b"")


def load(*paths: Path, cache: Path | None = None, strict: bool = False) -> loader.Loaded:
    sources, cannot = signatures.custom_sources(list(paths))
    return loader.load_collection(sources, cache, strict=strict, skipped=cannot)


def detections(rules: CompiledRules, root: Path) -> set[tuple[str, str]]:
    hits, _skipped, files, _ = scan_files(
        walk([os.fspath(root)], WalkOptions()), rules, jobs=2, timeout=60, max_filesize=None
    )
    assert files > 0
    return {(Path(r.path).name, m.hit.rule) for r in hits for m in r.matches}


def plain_yara(files: list[Path], root: Path) -> set[tuple[str, str]]:
    """What yara-python alone finds with every file in one namespace, as ``yara dir/*.yar`` compiles them."""
    compiled = yara.compile(
        sources={"default": "".join(f'include "{f}"\n' for f in files)},
        externals=dict.fromkeys(EXTERNALS, ""),
    )
    out: set[tuple[str, str]] = set()
    for f in sorted(root.iterdir()):
        head = f.read_bytes()[:16]
        externals = file_externals(os.fspath(f), head, f.stat().st_uid)
        out |= {(f.name, m.rule) for m in compiled.match(os.fspath(f), externals=externals)}
    return out


def plan_of(rules: CompiledRules) -> list[tuple[object, ...]]:
    """The routed sets (the namespace's name left out: it is the directory's or the index's)."""
    return sorted(
        (r.name, r.routes, r.rule_count, None if r.name_gates is None else [g[1:] for g in r.name_gates])
        for r in rules.routes
    )


# --- namespaces and includes ----------------------------------------------------------------------------


def test_index_is_routed_exactly_as_the_directory_and_finds_what_yara_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(routing, "SIZE_EDGES", (100 * 1024, 1024 * 1024))
    coll = tmp_path / "rules" / "coll"
    write_collection(coll)
    index = write_index(tmp_path / "idx", coll)
    samples = tmp_path / "samples"
    write_samples(samples)
    as_dir = load(coll, cache=tmp_path / "cache")
    as_index = load(index, cache=tmp_path / "cache")
    assert as_dir.rules.routed and as_index.rules.routed
    assert as_dir.skipped == as_index.skipped == ()
    assert plan_of(as_dir.rules) == plan_of(as_index.rules)
    want = plain_yara(sorted(coll.glob("*.yar")), samples)
    assert ("mz-0.sh", "PEMARK_7") in want and ("elf-0.sh", "ELFMARK_24") in want
    assert ("elf-1100.sh", "ELFMARK_24") not in want and ("text-0.sh", "Script_Ext") in want
    assert detections(as_dir.rules, samples) == want
    assert detections(as_index.rules, samples) == want
    again = load(index, cache=tmp_path / "cache")  # from the compiled-rule cache
    assert plan_of(again.rules) == plan_of(as_index.rules)
    assert detections(again.rules, samples) == want


def test_files_of_one_directory_or_index_share_one_namespace(tmp_path):
    coll = tmp_path / "coll"
    write_collection(coll)
    index = write_index(tmp_path / "idx", coll)
    dir_sources, _ = signatures.custom_sources([coll])
    assert {s.namespace for s in dir_sources} == {"coll"}
    assert next(s.path.name for s in dir_sources) == "000_common_rules.yar"
    index_sources, _ = signatures.custom_sources([index])
    assert {s.namespace for s in index_sources} == {"index.yar"}
    assert [s.path.resolve() for s in index_sources] == [
        (coll / n).resolve() for n in ("000_common_rules.yar", "pe_rules.yar", "elf_rules.yar", "any_rules.yar")
    ]


def test_a_shared_private_rule_is_seen_from_another_file(tmp_path, cli):
    coll = tmp_path / "rules"
    coll.mkdir()
    (coll / "000_common_rules.yar").write_text(COMMON)
    (coll / "linux_miner.yar").write_text('rule Linux_Miner { strings: $a = "STRATUM-X" condition: is__elf and $a }')
    (coll / "sub").mkdir()
    (coll / "sub" / "other.yar").write_text('rule Other { strings: $a = "OTHER-X" condition: $a }')
    index = tmp_path / "index.yar"
    index.write_text('include "rules/000_common_rules.yar"\ninclude "rules/linux_miner.yar"\n')
    data = tmp_path / "data"
    data.mkdir()
    (data / "miner").write_bytes(b"\x7fELF\x02\x01" + b"\0" * 50 + b"STRATUM-X OTHER-X")
    (data / "script").write_bytes(b"#!/bin/sh STRATUM-X\n")
    for given, namespace in ((coll, "rules"), (index, "index.yar")):
        res = cli("scan", "--format", "json", data, "--rules", given, "--no-default-rules")
        assert res.exit_code == 1, res.stderr
        assert "warning" not in res.stderr
        found = {(Path(d["path"]).name, d["namespace"], d["rule"]) for d in json.loads(res.stdout)["detections"]}
        assert ("miner", namespace, "Linux_Miner") in found
        assert not any(name == "script" for name, _, _ in found)
        if given == coll:  # another directory: a namespace of its own (a file alone is named after itself)
            assert ("miner", "rules/sub/other.yar", "Other") in found


def test_the_same_rule_name_in_two_files_of_a_directory_both_fire(tmp_path, cli):
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "000_common_rules.yar").write_text(COMMON)
    (coll / "a.yar").write_text('rule Dup { strings: $a = "DUP-A" condition: $a }')
    (coll / "b.yar").write_text('rule Dup { strings: $a = "DUP-B" condition: is__elf and $a }')
    data = tmp_path / "data"
    data.mkdir()
    (data / "x").write_bytes(b"\x7fELF" + b"\0" * 20 + b"DUP-A DUP-B")
    res = cli("scan", "--format", "json", data, "--rules", coll, "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    found = sorted((d["namespace"], d["rule"]) for d in json.loads(res.stdout)["detections"])
    assert found == [("coll", "Dup"), ("coll/b.yar", "Dup")]  # b.yar apart, with the private rules it uses
    srcs, _ = signatures.custom_sources([coll])
    assert [(s.namespace, s.path.name) for s in srcs] == [
        ("coll", "000_common_rules.yar"),
        ("coll", "a.yar"),
        ("coll/b.yar", "000_common_rules.yar"),
        ("coll/b.yar", "b.yar"),
    ]


def test_an_index_among_the_files_it_names_is_not_loaded_twice(tmp_path):
    coll = tmp_path / "coll"
    write_collection(coll)
    (coll / "index.yar").write_text("".join(f'include "{p.name}"\n' for p in sorted(coll.glob("*_rules.yar"))))
    srcs, _ = signatures.custom_sources([coll])
    assert len(srcs) == 4 and {s.namespace for s in srcs} == {"coll"}
    assert load(coll).rules.rule_count == 30 + 25 + 4 + 2 + 2


# --- load what can be loaded ----------------------------------------------------------------------------


def broken_collection(d: Path) -> Path:
    write_collection(d)
    (d / "cuckoo_rules.yar").write_text(CUCKOO)
    (d / "syntax.yar").write_text(BROKEN)
    return d


def test_files_that_do_not_compile_are_skipped_with_one_warning_each(tmp_path, cli):
    coll = broken_collection(tmp_path / "coll")
    data = tmp_path / "data"
    write_samples(data)
    res = cli("scan", "--format", "json", data, "--rules", coll, "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "skipped" in line]
    assert warnings == [
        f"scanner: warning: rule file {coll}/cuckoo_rules.yar:2 skipped: "
        'unknown module "cuckoo" (this engine lacks it)',
        f'scanner: warning: rule file {coll}/syntax.yar:5 skipped: undefined string "$b"',
    ]
    rep = json.loads(res.stdout)
    assert rep["signatures"]["skipped_rule_files"] == [
        {"path": f"{coll}/cuckoo_rules.yar", "line": 2, "reason": 'unknown module "cuckoo" (this engine lacks it)'},
        {"path": f"{coll}/syntax.yar", "line": 5, "reason": 'undefined string "$b"'},
    ]
    assert rep["signatures"]["rule_count"] == 30 + 25 + 4 + 2 + 2
    assert len(rep["warnings"]) == 2
    assert any(d["rule"] == "PEMARK_7" for d in rep["detections"])
    again = cli("scan", "--format", "json", data, "--rules", coll, "--no-default-rules")  # a warm start says it too
    assert json.loads(again.stdout)["signatures"]["skipped_rule_files"] == rep["signatures"]["skipped_rule_files"]
    text = cli("scan", data, "--rules", coll, "--no-default-rules").stdout
    assert "Signatures:       custom (custom, 63 rules, 2 rule files skipped)" in text
    assert f'WARNING: rule file {coll}/syntax.yar:5 skipped: undefined string "$b"' in text


def test_strict_fails_with_the_file_and_line(tmp_path, cli):
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "good.yar").write_text('rule Good { strings: $a = "GOOD" condition: $a }')
    (coll / "syntax.yar").write_text(BROKEN)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("GOOD")
    res = run_module("scan", data, "--rules", coll, "--no-default-rules", "--strict")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f'scanner: error: rule does not compile: {coll}/syntax.yar(5): undefined string "$b"'
    ]
    config = tmp_path / "config.toml"
    config.write_text("[rules]\nstrict = true\n")
    assert cli("scan", data, "--rules", coll, "--no-default-rules", "--config", config).exit_code == 2
    assert cli("scan", data, "--rules", coll, "--no-default-rules", "--config", config, "--no-strict").exit_code == 1
    config.write_text('[rules]\nstrict = "yes"\n')
    bad = cli("scan", data, "--rules", coll, "--no-default-rules", "--config", config)
    assert bad.exit_code == 2 and "[rules] strict: must be true or false" in bad.stderr


def test_monthly_and_watch_take_strict(cli):
    for command in ("monthly", "watch"):
        assert "--strict / --no-strict" in cli(command, "--help").stdout


def test_signatures_info_lists_skipped_files(tmp_path, cli):
    coll = broken_collection(tmp_path / "coll")
    res = cli("signatures", "info", "--rules", coll)
    assert res.exit_code == 0, res.stderr
    assert "User rules:     63 in 4 files, 1 namespaces" in res.stdout
    assert "Skipped files:  2 (they do not compile; --strict makes this an error)" in res.stdout
    assert f'  {coll}/syntax.yar:5: undefined string "$b"' in res.stdout
    info = json.loads(cli("signatures", "info", "--format", "json", "--rules", coll).stdout)
    assert [s["path"] for s in info["user_rules"]["skipped_rule_files"]] == [
        f"{coll}/cuckoo_rules.yar",
        f"{coll}/syntax.yar",
    ]


def test_nothing_left_and_too_many_broken_files_are_clear_errors(tmp_path, monkeypatch):
    coll = tmp_path / "coll"
    coll.mkdir()
    for i in range(4):
        (coll / f"bad{i}.yar").write_text(f"rule Bad{i} {{ condition: $nope }}")
    with pytest.raises(RuleError, match=r"no rules left to scan with: .*bad\d.yar\(1\) does not compile: .*3 more"):
        load(coll)
    (coll / "good.yar").write_text("rule Good { condition: true }")
    monkeypatch.setattr(loader, "MAX_SKIPPED", 2)
    with pytest.raises(RuleError, match="more than 2 rule files do not compile"):
        load(coll)


def test_an_include_that_cannot_be_followed_is_skipped_where_it_is_written(tmp_path):
    coll = tmp_path / "coll"
    write_collection(coll)
    os.mkfifo(coll / "fifo.yar")
    index = tmp_path / "index.yar"
    index.write_text(
        'include "coll/000_common_rules.yar"\ninclude "coll/missing.yar"\ninclude "coll/fifo.yar"\n'
        'include "coll/pe_rules.yar"\n'
    )
    got = load(index)
    assert [(s.path, s.line, s.reason) for s in got.skipped] == [
        (str(index), 2, 'included file "coll/missing.yar": no such file'),
        (str(index), 3, 'included file "coll/fifo.yar": not a regular file'),
    ]
    assert got.rules.rule_count == 32
    with pytest.raises(RuleError, match=r"index.yar:2 skipped: .*--strict"):
        load(index, strict=True)


def test_the_signature_set_stays_strict(tmp_path):
    root = tmp_path / "set"
    (root / "rules").mkdir(parents=True)
    (root / "manifest.toml").write_text('version = "2026.01.1"\n')
    (root / "rules" / "good.yar").write_text("rule Good { condition: false }")
    (root / "rules" / "bad.yar").write_text(BROKEN)
    sigset = signatures.SignatureSet.load(root, "updated")
    with pytest.raises(RuleError, match=r"bad.yar\(5\)"):
        signatures.verify_set(sigset, [])
    own = sigset.sources()
    with pytest.raises(RuleError, match=r"bad.yar\(5\)"):
        loader.load_collection(own, None, strict=False, fixed=[s.path for s in own])


def test_a_long_run_of_blanks_or_comments_is_read_in_linear_time(tmp_path):
    """The lexer skipped blanks and comments with a pattern that backtracked exponentially when no token
    followed (40 blanks before a ';' took hours): a hostile rule file hung the scan."""
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "good.yar").write_text('rule Good { strings: $a = "GOOD" condition: $a }')
    (coll / "hostile.yar").write_text("rule H { condition: true }\n" + " " * 4000 + ";" + "/* c */ " * 2000 + ";")
    (coll / "hex.yar").write_text("rule X { strings: $a = { 4D // " + "x" * 3000 + "\n" + "// y\n" * 2000)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("GOOD")
    res = run_module("scan", data, "--rules", coll, "--no-default-rules", timeout=60)
    assert res.exit_code == 1, res.stderr
    assert "hostile.yar:2 skipped" in res.stderr and "hex.yar" in res.stderr


def test_a_file_whose_name_cannot_be_included_loads_beside_a_shared_namespace(tmp_path, cli):
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "000_common_rules.yar").write_text(COMMON)
    (coll / "a.yar").write_text('rule A { strings: $a = "MARK-A" condition: is__elf and $a }')
    (coll / 'we"ird\\.yar').write_text('rule Weird { strings: $a = "MARK-W" condition: $a }')
    data = tmp_path / "data"
    data.mkdir()
    (data / "x").write_bytes(b"\x7fELF" + b"\0" * 20 + b"MARK-A MARK-W")
    res = cli("scan", "--format", "json", data, "--rules", coll, "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    found = sorted((d["namespace"], d["rule"]) for d in json.loads(res.stdout)["detections"])
    assert found == [("coll", "A"), ('coll/we"ird\\.yar', "Weird")]


def test_an_index_skips_the_same_files_as_its_directory(tmp_path):
    coll = broken_collection(tmp_path / "coll")
    index = tmp_path / "malware_index.yar"
    index.write_text("".join(f'include "coll/{p.name}"\n' for p in sorted(coll.glob("*.yar"))))
    as_dir, as_index = load(coll), load(index)
    assert as_dir.skipped == as_index.skipped
    assert [(Path(s.path).name, s.line) for s in as_index.skipped] == [("cuckoo_rules.yar", 2), ("syntax.yar", 5)]
    assert as_dir.rules.rule_count == as_index.rules.rule_count == 63


def test_the_pipeline_takes_strict_from_the_configuration_unless_told(tmp_path, scanner_home):
    coll = broken_collection(tmp_path / "coll")
    state = StateDir(scanner_home)
    strict = Config(strict_rules=True)
    with pytest.raises(RuleError, match="does not compile"):
        jobs.load_rules(state, strict, [coll], False)
    loaded = jobs.load_rules(state, strict, [coll], False, strict=False)
    assert len(loaded.info.skipped_rule_files) == 2 and len(loaded.warnings) == 2
    assert len(jobs.load_rules(state, Config(), [coll], False).info.skipped_rule_files) == 2
    with pytest.raises(RuleError, match="does not compile"):
        jobs.load_rules(state, Config(), [coll], False, strict=True)


def test_rule_files_whose_names_are_not_utf8_load_and_skip_like_others(tmp_path, cli):
    """A rule file named with bytes that are not UTF-8 was handed to yara-python in an include: a TypeError
    traceback. It is now given as its text, and when it does not compile it is found and skipped."""
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "a.yar").write_text('rule A { strings: $a = "MARK-A" condition: $a }')
    odd = Path(os.fsdecode(os.fsencode(coll) + b"/\xff\xfe.yar"))
    odd.write_text('rule NU { strings: $a = "MARK-N" condition: $a }')
    Path(os.fsdecode(os.fsencode(coll) + b"/bad\xff.yar")).write_text(BROKEN)
    data = tmp_path / "data"
    data.mkdir()
    (data / "x").write_text("MARK-A MARK-N")
    res = cli("scan", "--format", "json", data, "--rules", coll, "--no-default-rules")
    assert res.exit_code == 1, res.stderr
    rep = json.loads(res.stdout)
    found = sorted((d["namespace"], d["rule"]) for d in rep["detections"])
    assert found == [("coll/\\xff\\xfe.yar", "NU"), ("coll/a.yar", "A")]  # each file alone: named after itself
    assert rep["signatures"]["skipped_rule_files"] == [
        {"path": f"{coll}/bad\\xff.yar", "line": 5, "reason": 'undefined string "$b"'}
    ]
    single = cli("scan", data, "--rules", odd, "--no-default-rules")
    assert single.exit_code == 1, single.stderr
