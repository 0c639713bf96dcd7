"""The signed update feed end to end: publisher, real HTTP server on 127.0.0.1, TUF client, attacks.

Each attack test fails if the defence it names is removed: the client either refuses the
feed with a one-line reason, or ends up with the previously active set untouched.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from feed_helpers import (
    MARKER_B,
    RULE_A,
    RULE_B,
    Feed,
    Handler,
    file_entry,
    installed_sets,
    make_feed,
    new_state,
    serve,
    settings,
    sign_raw_bundle,
    special_entry,
    tar_bytes,
    write_set,
)

from scanner.errors import FeedError
from scanner.state import StateDir
from scanner.updates import feed as feedmod
from scanner.updates import publish, signatures, store, update
from scanner.updates.feed import BUNDLE_TARGET, FeedSettings
from scanner.updates.http import Downloader, DownloadFailed, DownloadTimeout
from scanner.updates.update import UpdateStatus

V1, V2, V3 = "2990.01.1", "2990.02.1", "2990.03.1"
REPO = Path(__file__).resolve().parent.parent
DAY = dt.timedelta(days=1)


def _update(state: StateDir, *mirrors: str, root: Path | None = None, **kw: object) -> update.UpdateOutcome:
    http_kw = {k: kw.pop(k) for k in list(kw) if k in ("deadline", "read_timeout", "retries", "backoff")}
    return update.update(state, settings(*mirrors, **http_kw), trusted_root=root, **kw)  # type: ignore[arg-type]


def _src(tmp_path: Path, name: str, **kw: object) -> Path:
    return write_set(tmp_path / f"src-{name}", **kw)  # type: ignore[arg-type]


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return make_feed(tmp_path, V1)


# --- the happy paths ----------------------------------------------------------------------------


def test_update_over_http_then_up_to_date(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    with serve(feed.public) as srv:
        checked = update.check(state, settings(srv.url), trusted_root=feed.root)
        assert checked.status is UpdateStatus.AVAILABLE and checked.feed_version == V1
        assert not any(r.startswith("/targets/") for r in srv.requests)  # --check downloads no bundle

        out = _update(state, srv.url)
        assert out.status is UpdateStatus.UPDATED
        assert (out.active_version, out.previous_version) == (V1, signatures.bundled_set().version)
        assert signatures.active_set(state).version == V1
        assert any(r.startswith("/targets/") and r.endswith(f".{BUNDLE_TARGET}") for r in srv.requests)

        again = _update(state, srv.url)  # the anchor was kept: no --trusted-root needed now
        assert again.status is UpdateStatus.UP_TO_DATE
        assert update.check(state, settings(srv.url)).status is UpdateStatus.UP_TO_DATE

        feed.publish(
            _src(
                tmp_path,
                "v2",
                rules={"a.yar": RULE_A, "b.yar": RULE_B},
                samples={("Feed_Test_Bravo", "b.bin"): MARKER_B},
            ),
            V2,
        )
        out = _update(state, srv.url)
        assert (out.status, out.active_version, out.previous_version) == (UpdateStatus.UPDATED, V2, V1)
    sigset = signatures.active_set(state)
    assert sigset.released == dt.datetime.now(dt.UTC).date()
    assert [r for r, _ in sigset.samples()] == ["Feed_Test_Bravo"]
    log = (state.logs / update.LOG_NAME).read_text()
    assert f"-> {V1} from {srv.url}" in log and f"{V1} -> {V2}" in log


def test_file_url_and_plain_path_feeds(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    assert _update(state, feed.public.as_uri(), root=feed.root).status is UpdateStatus.UPDATED
    feed.publish(_src(tmp_path, "v2"), V2)
    assert _update(state, str(feed.public)).active_version == V2


def test_rolled_back_version_is_not_reinstalled_unless_forced(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    url = feed.public.as_uri()
    _update(state, url, root=feed.root)
    update.rollback(state)
    assert _update(state, url).status is UpdateStatus.HELD
    assert signatures.active_set(state).source == "bundled"
    assert _update(state, url, force=True).status is UpdateStatus.UPDATED
    assert signatures.active_set(state).version == V1


def test_feed_built_with_python_tuf_metadata_api(tmp_path: Path) -> None:
    """A feed made without our publisher: the client reads the standard format."""
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp

    base = tmp_path / "repo"
    (base / "metadata").mkdir(parents=True)
    (base / "targets").mkdir()
    keys = {r: CryptoSigner.generate_ed25519() for r in ("root", "targets", "snapshot", "timestamp")}
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + 30 * DAY

    bundle = tar_bytes(
        [
            file_entry("rules/alpha.yar", RULE_A.encode()),
            file_entry(
                "samples/Feed_Test_Alpha/a.bin.inert",
                (write_set(tmp_path / "s") / "samples" / "Feed_Test_Alpha" / "alpha.bin.inert").read_bytes(),
            ),
        ]
    )
    digest = hashlib.sha256(bundle).hexdigest()
    (base / "targets" / f"{digest}.{BUNDLE_TARGET}").write_bytes(bundle)

    root = Metadata(Root(expires=expires))
    for role, signer in keys.items():
        root.signed.add_key(signer.public_key, role)
    root.sign(keys["root"])
    root.to_file(str(base / "metadata" / "1.root.json"))
    targets = Metadata(Targets(expires=expires))
    targets.signed.targets[BUNDLE_TARGET] = TargetFile(
        len(bundle), {"sha256": digest}, BUNDLE_TARGET, {"custom": {"version": V1}}
    )
    targets.sign(keys["targets"])
    targets.to_file(str(base / "metadata" / "1.targets.json"))
    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.sign(keys["snapshot"])
    snapshot.to_file(str(base / "metadata" / "1.snapshot.json"))
    timestamp = Metadata(Timestamp(expires=expires, snapshot_meta=MetaFile(1)))
    timestamp.sign(keys["timestamp"])
    timestamp.to_file(str(base / "metadata" / "timestamp.json"))

    state = new_state(tmp_path)
    with serve(base) as srv:
        out = _update(state, srv.url, root=base / "metadata" / "1.root.json")
    assert out.status is UpdateStatus.UPDATED
    sigset = signatures.active_set(state)
    assert sigset.version == V1
    assert sigset.released == dt.datetime.now(dt.UTC).date()  # no date in the feed: today


# --- configuration and trust anchor -------------------------------------------------------------


def test_no_feed_configured_says_how(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match=r"no update feed is configured: pass --feed URL .* config.toml"):
        update.update(state, FeedSettings(mirrors=()))


def test_feed_shipped_with_the_package_is_the_default(
    tmp_path: Path, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "packaged"
    packaged.mkdir()
    shutil.copy(feed.root, packaged / "root.json")
    (packaged / "mirrors.txt").write_text(f"# public mirrors\n{feed.public.as_uri()}\n")
    monkeypatch.setattr(feedmod, "PACKAGED_FEED", packaged)
    state = new_state(tmp_path)
    assert update.update(state, FeedSettings(mirrors=())).active_version == V1
    info = feedmod.trusted_root(state.feed)
    assert info is not None and info.sha256 == hashlib.sha256(feed.root.read_bytes()).hexdigest()


def test_never_trusts_on_first_use(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    with serve(feed.public) as srv, pytest.raises(FeedError, match=r"no trusted root .* never taken from the network"):
        _update(state, srv.url)
    assert srv.requests == []


def test_trusted_root_must_be_a_self_signed_root(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match=r"is targets metadata, not a root.json"):
        _update(state, feed.public.as_uri(), root=feed.metadata / "1.targets.json")
    forged = tmp_path / "forged-root.json"
    forged.write_bytes(feed.root.read_bytes().replace(b'"version": 1', b'"version": 7'))
    with pytest.raises(FeedError, match=r"not a valid self-signed TUF root.json"):
        _update(state, feed.public.as_uri(), root=forged)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(FeedError, match="not a valid"):
        _update(state, feed.public.as_uri(), root=garbage)
    assert feedmod.trusted_root(state.feed) is None


def test_corrupt_local_metadata_is_reanchored(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    url = feed.public.as_uri()
    _update(state, url, root=feed.root)
    work = feedmod.metadata_dir(state.feed)
    for path in work.rglob("*.json"):
        if path.is_file() and not path.is_symlink():
            path.write_bytes(b"\x00garbage" * 10)
    (work / "root.json").unlink()
    feed.publish(_src(tmp_path, "v2"), V2)
    assert _update(state, url).active_version == V2

    shutil.rmtree(work)
    work.write_text("not a directory")
    feed.publish(_src(tmp_path, "v3"), V3)
    assert _update(state, url).active_version == V3


def test_planted_local_root_does_not_replace_the_anchor(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    _update(state, feed.public.as_uri(), root=feed.root)
    evil = make_feed(tmp_path / "evil", V2)
    work = feedmod.metadata_dir(state.feed)
    for target in (work / "root_history" / "1.root.json", work / "root_history" / "2.root.json"):
        target.write_bytes(evil.root.read_bytes())
    (work / "root.json").unlink()
    (work / "root.json").write_bytes(evil.root.read_bytes())
    with pytest.raises(FeedError, match="not signed by enough trusted keys"):
        _update(state, evil.public.as_uri())
    assert signatures.active_set(state).version == V1


# --- attacks on metadata ------------------------------------------------------------------------


def test_metadata_signed_by_unknown_key(tmp_path: Path, feed: Feed) -> None:
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    ts_path = feed.metadata / "timestamp.json"
    md = Metadata.from_file(str(ts_path))
    md.signed.version += 1
    md.sign(CryptoSigner.generate_ed25519())
    md.to_file(str(ts_path))
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="not signed by enough trusted keys"):
        _update(state, feed.public.as_uri(), root=feed.root)
    assert store.active_dir(state) is None


def test_another_feeds_metadata_is_refused(tmp_path: Path, feed: Feed) -> None:
    other = make_feed(tmp_path / "other", V2)
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="not signed by enough trusted keys"):
        _update(state, other.public.as_uri(), root=feed.root)


def _v1_copy_then_v2(tmp_path: Path, feed: Feed) -> tuple[StateDir, Path]:
    old = tmp_path / "old-public"
    shutil.copytree(feed.public, old)
    state = new_state(tmp_path)
    feed.publish(_src(tmp_path, "v2"), V2)
    _update(state, feed.public.as_uri(), root=feed.root)
    assert signatures.active_set(state).version == V2
    return state, old


def test_rollback_to_older_metadata_is_refused(tmp_path: Path, feed: Feed) -> None:
    state, old = _v1_copy_then_v2(tmp_path, feed)
    with serve(old) as srv, pytest.raises(FeedError, match="older than what is already trusted"):
        _update(state, srv.url)
    assert signatures.active_set(state).version == V2


def test_replay_of_an_older_timestamp_is_refused(tmp_path: Path, feed: Feed) -> None:
    state, old = _v1_copy_then_v2(tmp_path, feed)
    shutil.copy(old / "metadata" / "timestamp.json", feed.metadata / "timestamp.json")
    with pytest.raises(FeedError, match="older than what is already trusted"):
        _update(state, feed.public.as_uri())
    assert signatures.active_set(state).version == V2


def test_downgrade_after_wiped_metadata_is_still_refused(tmp_path: Path, feed: Feed) -> None:
    # With the local metadata gone TUF cannot see the rollback; the version check still does.
    state, old = _v1_copy_then_v2(tmp_path, feed)
    shutil.rmtree(feedmod.metadata_dir(state.feed))
    out = _update(state, old.as_uri())
    assert out.status is UpdateStatus.UP_TO_DATE and out.feed_version == V1
    assert signatures.active_set(state).version == V2


@pytest.mark.parametrize("name", ["snapshot", "targets"])
def test_mix_and_match_of_versions_is_refused(tmp_path: Path, feed: Feed, name: str) -> None:
    feed.publish(_src(tmp_path, "v2"), V2)
    status = publish.status(feed.directory)
    current = next(r.version for r in status.roles if r.role == name)
    shutil.copy(feed.metadata / f"{current - 1}.{name}.json", feed.metadata / f"{current}.{name}.json")
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match=r"does not match its signed length or hash|older than"):
        _update(state, feed.public.as_uri(), root=feed.root)
    assert store.active_dir(state) is None


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "root"])
def test_expired_metadata_is_refused(tmp_path: Path, role: str) -> None:
    expired = publish.Expiry(**{role: -DAY})
    if role == "root":
        feed = make_feed(tmp_path, V1, expiry=expired)
    else:
        feed = make_feed(tmp_path, None)
        feed.publish(_src(tmp_path, "v1"), V1, expiry=expired)
    assert any(role in w and "expired" in w for w in publish.status(feed.directory).warnings)
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match=f"metadata has expired: .*{role}"):
        _update(state, feed.public.as_uri(), root=feed.root)
    assert store.active_dir(state) is None


def test_oversize_metadata_is_cut_off(tmp_path: Path, feed: Feed) -> None:
    ts = feed.metadata / "timestamp.json"
    ts.write_bytes(ts.read_bytes() + b" " * 20_000)  # still valid JSON, and still correctly signed
    state = new_state(tmp_path)
    with serve(feed.public) as srv, pytest.raises(FeedError, match="more bytes than signed or allowed"):
        _update(state, srv.url, root=feed.root)


# --- attacks on the bundle ----------------------------------------------------------------------


def test_tampered_bundle_of_the_same_length(tmp_path: Path, feed: Feed) -> None:
    path = feed.bundle_file()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    state = new_state(tmp_path)
    with serve(feed.public) as srv, pytest.raises(FeedError, match="does not match its signed length or hash"):
        _update(state, srv.url, root=feed.root)
    assert store.active_dir(state) is None
    assert list((state.feed / "downloads").iterdir()) == []


def test_bundle_longer_than_signed(tmp_path: Path, feed: Feed) -> None:
    path = feed.bundle_file()
    path.write_bytes(path.read_bytes() + b"extra payload")
    state = new_state(tmp_path)
    with serve(feed.public) as srv, pytest.raises(FeedError, match="more bytes than signed"):
        _update(state, srv.url, root=feed.root)
    assert store.active_dir(state) is None


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([file_entry("rules/bad.yar", b"rule broken { condition: }")], "activation tests: .*compile"),
        (
            [
                file_entry("rules/a.yar", RULE_A.encode()),
                file_entry("samples/Feed_Test_Alpha/x.bin.inert", __import__("scanner.inert").inert.encode(b"nope")),
            ],
            "does not hit rule Feed_Test_Alpha",
        ),
        ([file_entry("rules/a.yar", RULE_A.encode()), file_entry("../escape.yar", b"x")], "climbs out"),
        ([file_entry("/abs.yar", b"x")], "absolute path"),
        (
            [file_entry("rules/a.yar", RULE_A.encode()), special_entry("rules/l.yar", b"2", "/etc/shadow")],
            "symbolic link",
        ),
        ([file_entry("rules/a.yar", RULE_A.encode()), special_entry("rules/dev", b"3")], "device"),
    ],
)
def test_correctly_signed_but_bad_bundle_is_not_activated(
    tmp_path: Path,
    feed: Feed,
    entries: list,
    reason: str,  # type: ignore[type-arg]
) -> None:
    state = new_state(tmp_path)
    url = feed.public.as_uri()
    _update(state, url, root=feed.root)
    sign_raw_bundle(feed, tar_bytes(entries), V2)
    with pytest.raises(FeedError, match=reason) as info:
        _update(state, url)
    assert "\n" not in str(info.value)
    assert signatures.active_set(state).version == V1
    assert not (tmp_path / "escape.yar").exists()
    assert [s.version for s in installed_sets(state)] == [V1]


def test_non_version_custom_metadata_is_refused(tmp_path: Path, feed: Feed) -> None:
    sign_raw_bundle(feed, feed.bundle_file().read_bytes(), "latest")
    with pytest.raises(FeedError, match=r"not of the form YYYY.MM.N"):
        _update(new_state(tmp_path), feed.public.as_uri(), root=feed.root)


# --- hostile or broken servers ------------------------------------------------------------------


def test_stalling_server_times_out(tmp_path: Path, feed: Feed) -> None:
    def stall(h: Handler, path: str) -> bool:
        if path.endswith("timestamp.json"):
            h.send_response(200)
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.state.stop.wait(30)
            return True
        return False

    state = new_state(tmp_path)
    with serve(feed.public, stall) as srv, pytest.raises(FeedError, match="stalled"):
        _update(state, srv.url, root=feed.root, read_timeout=0.5)


def test_server_that_never_answers_times_out_after_retries(tmp_path: Path, feed: Feed) -> None:
    def silent(h: Handler, path: str) -> bool:
        if path.endswith("timestamp.json"):
            h.state.stop.wait(30)
            return True
        return False

    state = new_state(tmp_path)
    with serve(feed.public, silent) as srv, pytest.raises(FeedError, match="timed out after 2 attempts"):
        _update(state, srv.url, root=feed.root, read_timeout=0.3, retries=1)
    assert srv.requests.count("/metadata/timestamp.json") == 2


def test_trickling_server_is_cut_off_by_the_deadline(tmp_path: Path, feed: Feed) -> None:
    def trickle(h: Handler, path: str) -> bool:
        if path.startswith("/targets/"):
            h.send_response(200)
            h.send_header("Content-Length", str(feed.bundle_file().stat().st_size))
            h.end_headers()
            while not h.state.stop.wait(0.1):  # one byte well inside every read timeout
                h.wfile.write(b"\x1f")
                h.wfile.flush()
            return True
        return False

    state = new_state(tmp_path)
    with serve(feed.public, trickle) as srv, pytest.raises(FeedError, match="deadline of 2 s passed"):
        _update(state, srv.url, root=feed.root, deadline=2.0, read_timeout=1.0)
    assert store.active_dir(state) is None


def test_404_on_first_mirror_then_good_second(tmp_path: Path, feed: Feed) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    state = new_state(tmp_path)
    with serve(empty) as bad, serve(feed.public) as good:
        out = _update(state, bad.url, good.url, root=feed.root)
    assert out.status is UpdateStatus.UPDATED and out.mirror == good.url
    assert any(bad.url in w and "404" in w for w in out.warnings)
    assert "update warning: mirror" in (state.logs / update.LOG_NAME).read_text()


def test_bundle_missing_on_first_mirror_is_fetched_from_the_second(tmp_path: Path, feed: Feed) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(feed.public, partial)
    shutil.rmtree(partial / "targets")
    state = new_state(tmp_path)
    with serve(partial) as first, serve(feed.public) as second:
        out = _update(state, first.url, second.url, root=feed.root)
        assert out.status is UpdateStatus.UPDATED and out.mirror == second.url
        assert any(first.url in w and "404" in w for w in out.warnings)
        assert any(r.startswith("/targets/") for r in second.requests)


def test_unreachable_first_mirror_then_file_mirror(tmp_path: Path, feed: Feed) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        state = new_state(tmp_path)
        out = _update(state, dead, feed.public.as_uri(), root=feed.root, retries=0)
    assert out.status is UpdateStatus.UPDATED
    assert any("could not connect" in w for w in out.warnings)


def test_tampering_mirror_falls_through_but_is_reported(tmp_path: Path, feed: Feed) -> None:
    evil = tmp_path / "evil-mirror"
    shutil.copytree(feed.public, evil)
    bundle = next((evil / "targets").iterdir())
    data = bytearray(bundle.read_bytes())
    data[-5] ^= 1
    bundle.write_bytes(bytes(data))
    state = new_state(tmp_path)
    out = _update(state, evil.as_uri(), feed.public.as_uri(), root=feed.root)
    assert out.status is UpdateStatus.UPDATED and out.mirror == feed.public.as_uri() + "/"
    assert any("signed length or hash" in w for w in out.warnings)

    # With only bad mirrors, the verification failure is what the error leads with.
    with pytest.raises(FeedError, match=r"every feed mirror failed \(2\): .*signed length or hash"):
        _update(new_state(tmp_path / "b"), str(tmp_path / "nowhere"), evil.as_uri(), root=feed.root)


def test_5xx_is_retried_with_backoff(tmp_path: Path, feed: Feed) -> None:
    failures = {"n": 0}

    def flaky(h: Handler, path: str) -> bool:
        if path.endswith("timestamp.json") and failures["n"] < 2:
            failures["n"] += 1
            h.send_status(502 if failures["n"] == 1 else 500)
            return True
        return False

    state = new_state(tmp_path)
    pauses: list[float] = []
    with serve(feed.public, flaky) as srv:
        dl = Downloader(settings(srv.url).http, sleep=pauses.append)
        out = update.update(state, settings(srv.url), trusted_root=feed.root, downloader=dl)
    assert out.status is UpdateStatus.UPDATED
    assert srv.requests.count("/metadata/timestamp.json") == 3
    assert pauses == [0.05, 0.1]


def test_5xx_gives_up_after_retries(tmp_path: Path, feed: Feed) -> None:
    def broken(h: Handler, path: str) -> bool:
        h.send_status(500)
        return True

    with serve(feed.public, broken) as srv, pytest.raises(FeedError, match="HTTP 500 after 3 attempts"):
        _update(new_state(tmp_path), srv.url, root=feed.root)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_respected(tmp_path: Path, feed: Feed, status: int) -> None:
    seen = {"n": 0}

    def busy(h: Handler, path: str) -> bool:
        if path.endswith("timestamp.json") and seen["n"] == 0:
            seen["n"] += 1
            h.send_status(status, {"Retry-After": "1"})
            return True
        return False

    pauses: list[float] = []
    with serve(feed.public, busy) as srv:
        dl = Downloader(settings(srv.url).http, sleep=pauses.append)
        out = update.update(new_state(tmp_path), settings(srv.url), trusted_root=feed.root, downloader=dl)
    assert out.status is UpdateStatus.UPDATED
    assert pauses == [1.0]


def test_retry_after_beyond_the_deadline_gives_up(tmp_path: Path, feed: Feed) -> None:
    def busy(h: Handler, path: str) -> bool:
        h.send_status(429, {"Retry-After": "3600"})
        return True

    pauses: list[float] = []
    with serve(feed.public, busy) as srv:
        s = settings(srv.url, deadline=5.0)
        dl = Downloader(s.http, sleep=pauses.append)
        with pytest.raises(FeedError, match="wait of 30 s would pass the update deadline"):
            update.update(new_state(tmp_path), s, trusted_root=feed.root, downloader=dl)
    assert pauses == []


def test_proxy_from_the_environment_is_used(tmp_path: Path, feed: Feed, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with serve(feed.public) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        out = _update(new_state(tmp_path), "http://signatures.feed.invalid/", root=feed.root)
    assert out.status is UpdateStatus.UPDATED
    assert "/metadata/timestamp.json" in proxy.requests


def test_downloader_file_urls(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc" * 100_000)
    with Downloader(settings("x").http) as dl:
        assert b"".join(dl.stream(f.as_uri())) == f.read_bytes()
        with pytest.raises(DownloadFailed) as info:
            dl.stream((tmp_path / "missing").as_uri())
        assert info.value.status == 404
        with pytest.raises(DownloadFailed, match="unsupported URL scheme"):
            dl.stream("ftp://example.invalid/x")


def test_downloader_deadline_covers_everything(tmp_path: Path) -> None:
    clock = {"t": 0.0}
    dl = Downloader(settings("x", deadline=10.0).http, clock=lambda: clock["t"])
    f = tmp_path / "x.bin"
    f.write_bytes(b"a" * 10)
    assert b"".join(dl.stream(f.as_uri())) == b"a" * 10
    clock["t"] = 11.0
    with pytest.raises(DownloadTimeout, match="deadline"):
        b"".join(dl.stream(f.as_uri()))


# --- publisher ----------------------------------------------------------------------------------


def test_publish_refuses_a_version_not_higher(tmp_path: Path, feed: Feed) -> None:
    for version in (V1, "2989.12.9"):
        with pytest.raises(publish.PublishError, match="not higher than the published"):
            feed.publish(_src(tmp_path, "again"), version)
    with pytest.raises(publish.PublishError, match=r"YYYY.MM.N"):
        feed.publish(_src(tmp_path, "again"), "2990.1")


def test_publish_runs_the_activation_tests(tmp_path: Path, feed: Feed) -> None:
    before = sorted(p.name for p in feed.metadata.iterdir())
    bad = _src(tmp_path, "bad", samples={("Feed_Test_Alpha", "x.bin"): b"no marker"})
    with pytest.raises(publish.PublishError, match="does not hit rule Feed_Test_Alpha"):
        feed.publish(bad, V2)
    elf = _src(tmp_path, "elf", rules={"a.yar": RULE_A, "e.yar": "rule E { condition: uint32(0) == 0x464c457f }"})
    with pytest.raises(publish.PublishError, match="hits clean file"):
        publish.publish(feed.directory, elf, V2)  # the real core-binaries list
    link = _src(tmp_path, "link")
    (link / "rules" / "l.yar").symlink_to("/etc/passwd")
    with pytest.raises(publish.PublishError, match="not a regular file"):
        feed.publish(link, V2)
    assert sorted(p.name for p in feed.metadata.iterdir()) == before


def test_init_refuses_an_existing_feed_and_keeps_keys_private(tmp_path: Path, feed: Feed) -> None:
    with pytest.raises(publish.PublishError, match="already holds a feed"):
        publish.init(feed.directory)
    keys = feed.directory / "keys"
    assert sorted(p.name for p in keys.iterdir()) == ["root.pem", "snapshot.pem", "targets.pem", "timestamp.pem"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in keys.iterdir())
    assert keys.stat().st_mode & 0o077 == 0
    assert not any(p.suffix == ".pem" for p in feed.public.rglob("*"))
    roles = {r.role: r for r in publish.status(feed.directory).roles}
    now = dt.datetime.now(dt.UTC)
    assert 364 <= (roles["root"].expires - now).days <= 365
    assert 6 <= (roles["timestamp"].expires - now).days <= 7


def test_refresh_needs_only_the_timestamp_key(tmp_path: Path, feed: Feed) -> None:
    online = tmp_path / "online-keys"
    online.mkdir()
    shutil.copy(feed.directory / "keys" / "timestamp.pem", online)
    before = {r.role: r.version for r in publish.status(feed.directory).roles}
    status = publish.refresh(feed.directory, keys=[online])
    after = {r.role: r.version for r in status.roles}
    assert after == {**before, "timestamp": before["timestamp"] + 1}
    with pytest.raises(publish.PublishError, match=r"targets key is needed .* bring the offline key"):
        publish.publish(feed.directory, _src(tmp_path, "v2"), V2, keys=[online])
    state = new_state(tmp_path)
    assert _update(state, feed.public.as_uri(), root=feed.root).active_version == V1


def test_expired_timestamp_recovers_after_refresh(tmp_path: Path) -> None:
    feed = make_feed(tmp_path, None)
    feed.publish(_src(tmp_path, "v1"), V1, expiry=publish.Expiry(timestamp=-DAY))
    state = new_state(tmp_path)
    with pytest.raises(FeedError, match="expired"):
        _update(state, feed.public.as_uri(), root=feed.root)
    publish.refresh(feed.directory)
    assert _update(state, feed.public.as_uri()).active_version == V1


@pytest.mark.parametrize("role", ["root", "targets", "snapshot", "timestamp"])
def test_key_rotation_is_followed_by_clients(tmp_path: Path, feed: Feed, role: str) -> None:
    state = new_state(tmp_path)
    url = feed.public.as_uri()
    _update(state, url, root=feed.root)  # anchored on root version 1
    old_key = (feed.directory / "keys" / f"{role}.pem").read_bytes()
    status = publish.rotate_key(feed.directory, role)
    assert next(r.version for r in status.roles if r.role == "root") == 2
    assert (feed.directory / "keys" / f"{role}.pem").read_bytes() != old_key
    assert [p.read_bytes() for p in (feed.directory / "keys" / "retired").iterdir()] == [old_key]
    feed.publish(_src(tmp_path, "v2"), V2)
    assert _update(state, url).active_version == V2
    # A brand-new client anchored on the old root follows the rotation too.
    fresh = new_state(tmp_path / "fresh")
    assert _update(fresh, url, root=feed.metadata / "1.root.json").active_version == V2


def test_old_key_is_useless_after_rotation(tmp_path: Path, feed: Feed) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    old = (feed.directory / "keys" / "timestamp.pem").read_bytes()
    publish.rotate_key(feed.directory, "timestamp")
    ts = feed.metadata / "timestamp.json"
    md = Metadata.from_file(str(ts))
    md.signed.version += 1
    md.sign(CryptoSigner(load_pem_private_key(old, None)))
    md.to_file(str(ts))
    with pytest.raises(FeedError, match="not signed by enough trusted keys"):
        _update(new_state(tmp_path), feed.public.as_uri(), root=feed.root)


def test_renew_root_extends_expiry(tmp_path: Path) -> None:
    feed = make_feed(tmp_path, V1, expiry=publish.Expiry(root=10 * DAY))
    assert any("root" in w for w in publish.status(feed.directory).warnings)
    status = publish.renew_root(feed.directory)
    root = next(r for r in status.roles if r.role == "root")
    assert root.version == 2 and (root.expires - dt.datetime.now(dt.UTC)).days >= 364
    assert not status.warnings
    state = new_state(tmp_path)
    assert _update(state, feed.public.as_uri(), root=feed.metadata / "1.root.json").active_version == V1


def test_published_bundle_is_reproducible(tmp_path: Path) -> None:
    src = write_set(tmp_path / "src")
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    publish.build_bundle(src, a, 1_000_000)
    os.utime(src / "rules" / "alpha.yar", (0, 0))
    publish.build_bundle(src, b, 1_000_000)
    assert a.read_bytes() == b.read_bytes()


# --- layering -----------------------------------------------------------------------------------


def test_client_works_without_cryptography(tmp_path: Path, feed: Feed) -> None:
    state = new_state(tmp_path)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["cryptography"] = None  # any import of it now fails
        from pathlib import Path
        from scanner.updates import update
        from scanner.updates.feed import FeedSettings
        from scanner.state import StateDir
        import securesystemslib.signer._key as key
        assert key.CRYPTO_IMPORT_ERROR, "cryptography was importable"
        out = update.update(StateDir(Path({str(state.root)!r})), FeedSettings(mirrors=({feed.public.as_uri()!r},)),
                            trusted_root=Path({str(feed.root)!r}))
        assert "scanner.updates.publish" not in sys.modules
        print(out.status.value, out.active_version)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["updated", V1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_each_library_lives_in_one_module() -> None:
    modules = {p.stem: _imports(p) for p in (REPO / "scanner").rglob("*.py")}
    assert {m for m, names in modules.items() if any(n.split(".")[0] == "requests" for n in names)} == {"http"}
    assert {m for m, names in modules.items() if any(n.startswith("tuf.ngclient") for n in names)} == {"feed"}
    assert {m for m, names in modules.items() if "scanner.updates.publish" in names} <= {"cli", "publish"}
    for client in ("bundle", "store", "http", "feed", "update"):
        assert not any(n.startswith(("cryptography", "scanner.updates.publish")) for n in modules[client])
    assert not any(n.startswith(("tuf", "requests")) for n in modules["bundle"] | modules["store"])
