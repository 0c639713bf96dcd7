"""signature-base as a user brings it (issue 15): every rule file loads (or is reported as skipped, with a
reason), and the collection given as its directory and as a generated index of includes is routed alike,
with the detections of plain yara-python. Skipped when ../shared/data/signature-base is not there."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yara

from scanner.engine import analysis, loader, routing, syntax
from scanner.engine.compiler import RuleSource
from scanner.engine.sources import EXTERNALS
from scanner.scanning.facts import file_externals
from scanner.scanning.scan import scan_files
from scanner.scanning.walk import WalkOptions, walk
from scanner.updates import signatures

SIGNATURE_BASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "signature-base" / "yara"
pytestmark = pytest.mark.skipif(not SIGNATURE_BASE.is_dir(), reason="signature-base is not beside the repo")


def plan_for(sources: list[RuleSource]) -> routing.RoutePlan | None:
    """The routing plan of ``sources``, worked out as the compiler does (one analysis per namespace)."""
    groups: dict[str, list[Path]] = {}
    for s in sources:
        groups.setdefault(s.namespace, []).append(s.path)
    analysed = [
        analysis.analyse(ns, os.fspath(paths[0]), b"\n".join(p.read_bytes() for p in paths))
        for ns, paths in groups.items()
    ]
    return routing.plan(analysed)


def comparable(plan: routing.RoutePlan | None, rename: dict[str, str]) -> object:
    assert plan is not None
    return (
        plan.prefixes,
        plan.size_edges,
        sorted(
            (s.name, s.routes, s.rules, s.complete, sorted((rename[ns], text) for ns, text in s.sources.items()))
            for s in plan.sets
        ),
        sorted((rename[ns], rule) for ns, rule in plan.path_rules),
    )


def rule_strings(text: str) -> list[bytes]:
    """Plain text strings of a rule file (enough to make many of its rules match)."""
    out = []
    for m in re.finditer(r'\$\w*\s*=\s*"((?:\\.|[^"\\\n])*)"([^\n]*)', text):
        data = syntax.text_bytes(f'"{m.group(1)}"')
        if data:
            out.append(data)
            if "wide" in m.group(2):
                out.append(data.decode("latin-1").encode("utf-16-le"))
    return out


def samples(where: Path, files: list[Path]) -> list[Path]:
    """A few dozen files: some of /usr/bin, and crafted ones carrying the strings of many rule files."""
    where.mkdir()
    usr_bin = sorted(p for p in Path("/usr/bin").iterdir() if p.is_file() and not p.is_symlink())
    picked = [p for p in usr_bin if p.stat().st_size < (4 << 20)][:: max(1, len(usr_bin) // 24)][:24]
    heads = {"mz": b"MZ\x90\x00\x03\x00", "elf": b"\x7fELF\x02\x01\x01\x00", "php": b"<?php "}
    chunk = max(1, len(files) // 12)
    for k in range(0, len(files), chunk):
        body = b"\n".join(s for p in files[k : k + chunk] for s in rule_strings(p.read_text("utf-8", "replace")))
        for name, head in heads.items():
            (where / f"crafted{k}.{name}").write_bytes(head + b"\n" + body)
    return [*picked, *sorted(where.iterdir())]


def detections(rules: object, paths: list[Path]) -> set[tuple[str, str]]:
    hits, _skipped, scanned, _ = scan_files(
        walk([os.fspath(p) for p in paths], WalkOptions()),
        rules,  # type: ignore[arg-type]
        jobs=2,
        timeout=60,
        max_filesize=None,
    )
    assert scanned == len(paths)
    return {(r.path, m.hit.rule) for r in hits for m in r.matches}


def plain_yara(files: list[Path], paths: list[Path]) -> set[tuple[str, str]]:
    """yara-python alone, every file in one namespace (as ``yara index.yar``)."""
    compiled = yara.compile(
        sources={"index": "".join(f'include "{f}"\n' for f in files)}, externals=dict.fromkeys(EXTERNALS, "")
    )
    out: set[tuple[str, str]] = set()
    for p in paths:
        with open(p, "rb") as fh:
            head = fh.read(16)
        ext = file_externals(os.fspath(p), head, p.stat().st_uid)
        out |= {(os.fspath(p), m.rule) for m in compiled.match(os.fspath(p), externals=ext, timeout=60)}
    return out


def test_signature_base_loads_and_routes_alike_as_directory_and_as_index(tmp_path):
    """One full compile (the index form; a compile costs most of the budget): the directory form gives the
    same files in the same order, one namespace each, and the same routing plan, so the same sets."""
    files = signatures.rule_files(SIGNATURE_BASE)
    index = tmp_path / "index.yar"
    index.write_text("".join(f'include "{f}"\n' for f in files))
    as_dir, cannot_dir = signatures.custom_sources([SIGNATURE_BASE])
    as_index, cannot_index = signatures.custom_sources([index])
    assert cannot_dir == cannot_index == []
    assert [s.path.resolve() for s in as_dir] == [s.path.resolve() for s in as_index]
    rename = {**{s.namespace: s.namespace for s in as_index}}
    rename.update({d.namespace: i.namespace for d, i in zip(as_dir, as_index, strict=True)})
    dir_plan, index_plan = plan_for(as_dir), plan_for(as_index)
    assert dir_plan is not None and index_plan is not None  # both routed
    assert comparable(dir_plan, rename) == comparable(index_plan, {ns: ns for ns in rename.values()})

    loaded = loader.load_collection(as_index, tmp_path / "cache", strict=False)
    for s in loaded.skipped:  # every file compiles, or says where and why not
        assert s.line is not None and s.reason, s
    assert loaded.rules.routed
    assert loaded.rules.rule_count > 5000
    gone = {s.path for s in loaded.skipped}
    kept = [f for f in files if os.fspath(f) not in gone]
    paths = samples(tmp_path / "samples", kept)
    assert len(paths) >= 40
    want = plain_yara(kept, paths)
    assert len(want) > 500
    assert detections(loaded.rules, paths) == want
