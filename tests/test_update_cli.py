"""The update commands as a user meets them: the feed is remembered, rollbacks respect the held-back
set, ``--check`` says when the newer set is held back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from feed_helpers import Feed, make_feed, serve, write_set

from scanner.state import StateDir
from scanner.updates import feed as feedmod
from scanner.updates import signatures, store

V1, V2 = "2990.01.1", "2990.02.1"


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return make_feed(tmp_path, V1)


def _info(cli: object, home: Path, *extra: object) -> dict[str, object]:
    res = cli("signatures", "info", "--format", "json", "--home", home, *extra)  # type: ignore[operator]
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_feed_is_remembered_after_the_first_successful_update(tmp_path: Path, feed: Feed, cli: object) -> None:
    home = tmp_path / "home"
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    run = cli  # type: ignore[assignment]
    with serve(feed.public) as srv:
        res = run("update", "--home", home)
        assert res.exit_code == 2 and "no update feed configured" in res.stderr

        res = run("update", "--feed", srv.url + "nothing-here/", "--trusted-root", feed.root, "--home", home)
        assert res.exit_code == 2  # a feed that did not work is not remembered
        assert _info(cli, home)["feeds"] == []

        res = run("update", "--feed", srv.url, "--trusted-root", feed.root, "--home", home)
        assert res.exit_code == 0, res.stderr
        assert f"-> {V1}" in res.stdout

        res = run("update", "--home", home)  # what the error message promised: once is enough
        assert res.exit_code == 0, res.stderr
        assert f"signatures are up to date: {V1}" in res.stdout
        res = run("update", "--check", "--home", home)
        assert res.exit_code == 0 and "up to date" in res.stdout, res.stderr

        info = _info(cli, home)
        assert (info["feeds"], info["feeds_source"]) == ([srv.url], "remembered")
        text = run("signatures", "info", "--home", home).stdout
        assert f"Update feed:    {srv.url} (remembered from 'scanner update --feed')" in text

        feed.publish(write_set(tmp_path / "src-v2"), V2)
        res = run("monthly", "--sysroot", sysroot, "--no-processes", "--action", "report", "--home", home)
        assert "no update feed configured" not in res.stderr
        assert res.exit_code == 0, res.stderr
        assert signatures.active_set(StateDir(home)).version == V2
        requests = len(srv.requests)

    # --feed replaces the remembered feed
    with serve(feed.public) as other:
        assert other.url != srv.url
        res = run("update", "--feed", other.url, "--home", home)
        assert res.exit_code == 0, res.stderr
        assert _info(cli, home)["feeds"] == [other.url]
        # the config file comes before the remembered feed
        config = tmp_path / "config.toml"
        config.write_text(f'[update]\nfeeds = ["{srv.url}"]\n')
        info = _info(cli, home, "--config", config)
        assert (info["feeds"], info["feeds_source"]) == ([srv.url], "config")
    assert requests > 0


def test_remembered_feed_file_that_is_not_a_regular_file_is_ignored(tmp_path: Path) -> None:
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    os.mkfifo(feedmod.mirrors_path(feed_dir))  # would block a plain open
    assert feedmod.remembered_mirrors(feed_dir) == ()
    os.unlink(feedmod.mirrors_path(feed_dir))
    feedmod.mirrors_path(feed_dir).write_bytes(b"x" * (feedmod.MAX_MIRRORS_BYTES + 1))
    assert feedmod.remembered_mirrors(feed_dir) == ()
    assert feedmod.remember_mirrors(feed_dir, ("http://127.0.0.1:1/a",))
    assert feedmod.remembered_mirrors(feed_dir) == ("http://127.0.0.1:1/a/",)
    assert not feedmod.remember_mirrors(feed_dir, ("http://127.0.0.1:1/a",))


def test_second_rollback_and_check_respect_the_held_back_set(tmp_path: Path, feed: Feed, cli: object) -> None:
    home = tmp_path / "home"
    run = cli  # type: ignore[assignment]
    url = feed.public.as_uri()
    assert run("update", "--feed", url, "--trusted-root", feed.root, "--home", home).exit_code == 0
    bundled = signatures.bundled_set().version

    res = run("signatures", "rollback", "--home", home)
    assert res.exit_code == 0, res.stderr
    assert store.held_version(StateDir(home)) == V1

    res = run("update", "--check", "--home", home)
    assert res.exit_code == 0, res.stderr
    assert "held back" in res.stdout and V1 in res.stdout and "newer signature set is available" not in res.stdout

    res = run("signatures", "rollback", "--home", home)  # would re-activate the held-back set
    assert res.exit_code == 2
    assert f"{V1} is the one rolled back from and is held back" in res.stderr and "--force" in res.stderr
    assert signatures.active_set(StateDir(home)).version == bundled

    res = run("signatures", "rollback", "--force", "--home", home)
    assert res.exit_code == 0, res.stderr
    assert signatures.active_set(StateDir(home)).version == V1
    assert store.held_version(StateDir(home)) is None
