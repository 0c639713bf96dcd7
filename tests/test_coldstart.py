"""Cold start: the compiled-rule cache is keyed by content, a new collection is routed in the background with
the same detections as unrouted, and an activated update's first scan finds everything compiled."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import pytest
from feed_helpers import RULE_A, clean_dir, new_state, write_set
from test_routing import TRICKY_RULES, detections, gated_rules, write_samples

from scanner.engine import compiler, routing
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.updates import publish, signatures, update


def _collection(root: Path) -> list[RuleSource]:
    """A routable collection with an include (the included file's content is part of the key)."""
    (root / "sub").mkdir(parents=True)
    (root / "pe_heavy.yar").write_text(gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE"))
    (root / "elf_heavy.yar").write_text(gated_rules(30, "uint32(0) == 0x464C457F and filesize < 200KB", "ELFGATE"))
    (root / "sub" / "tricky.yar").write_text(TRICKY_RULES)
    (root / "inc.yar").write_text('include "sub/tricky.yar"\n')
    return [RuleSource(p.name, p) for p in sorted(root.glob("*.yar"))]


def test_the_same_content_at_two_paths_is_compiled_once(tmp_path, caplog):
    first = _collection(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = [RuleSource(s.namespace, tmp_path / "b" / s.path.name) for s in first]
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        one = compile_rules(first, cache)
    assert "cache miss" in caplog.text and "compiling" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        two = compile_rules(second, cache)
    assert two.key == one.key and two.routed
    assert "cache hit" in caplog.text and "keyed by content" in caplog.text
    assert "compiling" not in caplog.text
    assert len(list(cache.glob("*.yarc"))) == 1

    # content still counts, included files too: a change under b/ only is a new compiled form
    (tmp_path / "b" / "sub" / "tricky.yar").write_text(TRICKY_RULES + "\nrule extra { condition: false }\n")
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        three = compile_rules(second, cache)
    assert three.key != one.key and "cache miss" in caplog.text
    # and the namespace counts: the same file in another namespace is another compiled form
    assert compile_rules([RuleSource("other", first[0].path)], cache).key != compile_rules(first[:1], cache).key


def test_background_routing_finds_exactly_what_the_unrouted_scan_finds(tmp_path, monkeypatch, caplog):
    """While the routed sets are built, files are matched against the whole set; then they are routed. Both
    give the detections of an unrouted scan, and what the build saved serves the next start."""
    monkeypatch.setattr(routing, "SIZE_EDGES", (100 * 1024, 1024 * 1024))
    sources = _collection(tmp_path / "rules")
    samples = tmp_path / "samples"
    write_samples(samples)
    want = detections(compile_rules(sources, route=False), samples)
    assert len(want) > 100

    release = threading.Event()
    real = compiler._compile_routes

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler, "_compile_routes", held)
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules(sources, cache, background=True)
        assert compiled.background is not None and not compiled.routed
        assert detections(compiled, samples) == want  # unrouted, the whole set
        release.set()
        assert compiled.background.wait(60)
    assert compiled.routed and {r.name for r in compiled.routes} >= {"4d5a.0", "7f45.0", "any.0"}
    assert "scan unrouted" in caplog.text and "routed sets ready" in caplog.text
    assert detections(compiled, samples) == want  # routed now
    assert set(compiled.loaded()) - {"full"}

    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        cached = compile_rules(sources, cache, background=True)
    assert "cache hit" in caplog.text and cached.background is None and cached.routed
    assert detections(cached, samples) == want


def test_a_scan_that_switches_to_routed_sets_midway_loses_nothing(tmp_path, monkeypatch):
    """The switch happens while files are being matched from several threads."""
    monkeypatch.setattr(routing, "SIZE_EDGES", (100 * 1024, 1024 * 1024))
    sources = _collection(tmp_path / "rules")
    samples = tmp_path / "samples"
    write_samples(samples)
    want = detections(compile_rules(sources, route=False), samples)
    compiled = compile_rules(sources, tmp_path / "cache", background=True)
    got = [detections(compiled, samples) for _ in range(3)]
    assert compiled.background is not None and compiled.background.wait(120)
    got.append(detections(compiled, samples))
    assert compiled.routed and all(g == want for g in got)


def test_a_failed_background_build_leaves_the_scan_unrouted(tmp_path, monkeypatch, caplog):
    sources = _collection(tmp_path / "rules")
    samples = tmp_path / "samples"
    write_samples(samples)
    want = detections(compile_rules(sources, route=False), samples)

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("analysis bug")

    monkeypatch.setattr(compiler, "_compile_routes", broken)
    with caplog.at_level("INFO", logger="scanner.engine"):
        compiled = compile_rules(sources, tmp_path / "cache", background=True)
        assert compiled.background is not None and compiled.background.wait(60)
    assert not compiled.routed and detections(compiled, samples) == want
    assert "building routed sets failed: the scan goes on unrouted" in caplog.text


def test_an_activated_update_is_compiled_and_routed_before_its_first_scan(tmp_path, caplog):
    state = new_state(tmp_path)
    src = write_set(
        tmp_path / "src",
        rules={"alpha.yar": RULE_A, "pe.yar": gated_rules(40, "uint16(0) == 0x5A4D", "PEGATE")},
    )
    archive = tmp_path / "set.tar.gz"
    publish.build_bundle(src, archive)
    with caplog.at_level("INFO", logger="scanner.engine"):
        update.activate(state, archive, "2990.01.1", clean_paths=[clean_dir(tmp_path)])
    assert "compiling" in caplog.text  # the activation tests compiled it, in the staging directory
    caplog.clear()
    with caplog.at_level("INFO", logger="scanner.engine"):
        loaded = signatures.load_rules(state, [], True, today=dt.date(2990, 1, 2), max_age_days=10**6)
    assert loaded.info.version == "2990.01.1"
    assert "cache hit" in caplog.text and "compiling" not in caplog.text
    assert loaded.rules.routed and loaded.rules.background is None


@pytest.mark.parametrize("route", [True, False])
def test_cache_state_agrees_with_the_content_key(tmp_path, route):
    sources = _collection(tmp_path / "a")
    cache = tmp_path / "cache"
    assert not compiler.cache_state(cache, sources)
    compile_rules(sources, cache, route=route)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = [RuleSource(s.namespace, tmp_path / "b" / s.path.name) for s in sources]
    assert compiler.cache_state(cache, moved) is route  # cache_state asks about the routed form
