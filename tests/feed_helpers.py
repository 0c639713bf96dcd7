"""Shared helpers for the feed, bundle and update tests: signature sets, feeds, HTTP servers.

Everything is built for real in temporary directories: signature sets with inert samples,
feeds made with the publisher (or signed directly with python-tuf's Metadata API), and a
ThreadingHTTPServer on 127.0.0.1 whose handler can misbehave on purpose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scanner import inert
from scanner.state import StateDir
from scanner.updates import publish, signatures, store
from scanner.updates.feed import BUNDLE_TARGET, FeedSettings
from scanner.updates.http import HttpSettings

MARKER_A = b"SCANNER-FEED-TEST-MARKER-ALPHA-51c9"
MARKER_B = b"SCANNER-FEED-TEST-MARKER-BRAVO-8e02"

RULE_A = """
rule Feed_Test_Alpha
{
    meta:
        family = "FeedTestAlpha"
        severity = "high"
    strings:
        $m = "MARKER"
    condition:
        $m
}
""".replace("MARKER", MARKER_A.decode())

RULE_B = """
rule Feed_Test_Bravo
{
    meta:
        family = "FeedTestBravo"
    strings:
        $m = "MARKER"
    condition:
        $m
}
""".replace("MARKER", MARKER_B.decode())

FAMILIES = """
[[family]]
name = "FeedTestAlpha"
kind = "test"
"""


def write_set(
    root: Path,
    rules: dict[str, str] | None = None,
    samples: dict[tuple[str, str], bytes] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A signature-set source directory: rules/<name>, samples/<RULE>/<name>.inert, families.toml."""
    rules = {"alpha.yar": RULE_A} if rules is None else rules
    samples = {("Feed_Test_Alpha", "alpha.bin"): b"head " + MARKER_A + b" tail"} if samples is None else samples
    (root / "rules").mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        path = root / "rules" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for (rule, name), data in samples.items():
        path = root / "samples" / rule / (name + inert.SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(inert.encode(data))
    (root / "families.toml").write_text(FAMILIES)
    for name, data in (extra or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def clean_dir(base: Path) -> Path:
    """A small clean corpus (keeps tests fast; one test uses the real core-binaries list)."""
    d = base / "clean"
    d.mkdir(parents=True, exist_ok=True)
    (d / "hello.txt").write_bytes(b"nothing to see here\n")
    return d


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A gzipped tar built entry by entry (hostile ones included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def file_entry(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def special_entry(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


@dataclass
class Feed:
    """A feed made with the publisher."""

    directory: Path
    clean: Path

    @property
    def public(self) -> Path:
        return self.directory / "public"

    @property
    def root(self) -> Path:
        return self.directory / "root.json"

    @property
    def metadata(self) -> Path:
        return self.public / "metadata"

    def publish(self, src: Path, version: str, **kw: object) -> publish.FeedStatus:
        return publish.publish(self.directory, src, version, clean_paths=[self.clean], **kw)  # type: ignore[arg-type]

    def bundle_file(self) -> Path:
        files = list((self.public / "targets").glob(f"*.{BUNDLE_TARGET}"))
        status = publish.status(self.directory)
        return next(f for f in files if f.name.startswith(str(status.bundle_sha256)))


def make_feed(base: Path, version: str | None = "2990.01.1", src: Path | None = None, **init_kw: object) -> Feed:
    """Init a feed under ``base/feed`` and (unless version is None) publish a good set to it."""
    feed = Feed(base / "feed", clean_dir(base))
    publish.init(feed.directory, **init_kw)  # type: ignore[arg-type]
    if version is not None:
        feed.publish(src or write_set(base / f"src-{version}"), version)
    return feed


def sign_raw_bundle(feed: Feed, data: bytes, version: str) -> None:
    """Publish ``data`` as the bundle WITHOUT the publisher's tests, signing with python-tuf directly.

    Stands for a correctly signed feed whose content is bad (a compromised or careless publisher).
    """
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, MetaFile, TargetFile

    meta = feed.metadata
    keys = feed.directory / "keys"

    def signer(role: str) -> CryptoSigner:
        return CryptoSigner(load_pem_private_key((keys / f"{role}.pem").read_bytes(), None))

    digest = hashlib.sha256(data).hexdigest()
    (feed.public / "targets" / f"{digest}.{BUNDLE_TARGET}").write_bytes(data)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ts = Metadata.from_file(str(meta / "timestamp.json"))
    snap = Metadata.from_file(str(meta / f"{ts.signed.snapshot_meta.version}.snapshot.json"))
    tgt = Metadata.from_file(str(meta / f"{snap.signed.meta['targets.json'].version}.targets.json"))
    tgt.signed.targets = {
        BUNDLE_TARGET: TargetFile(len(data), {"sha256": digest}, BUNDLE_TARGET, {"custom": {"version": version}})
    }
    tgt.signed.version += 1
    tgt.signed.expires = now + dt.timedelta(days=30)
    tgt.sign(signer("targets"))
    tgt_bytes = tgt.to_bytes()
    (meta / f"{tgt.signed.version}.targets.json").write_bytes(tgt_bytes)
    snap.signed.meta["targets.json"] = MetaFile(tgt.signed.version)
    snap.signed.version += 1
    snap.signed.expires = now + dt.timedelta(days=30)
    snap.sign(signer("snapshot"))
    snap_bytes = snap.to_bytes()
    (meta / f"{snap.signed.version}.snapshot.json").write_bytes(snap_bytes)
    ts.signed.snapshot_meta = MetaFile(snap.signed.version)
    ts.signed.version += 1
    ts.signed.expires = now + dt.timedelta(days=1)
    ts.sign(signer("timestamp"))
    (meta / "timestamp.json").write_bytes(ts.to_bytes())


# --- HTTP ---------------------------------------------------------------------------------------

Behaviour = Callable[["Handler", str], bool]
"""Called for every GET with the path; returns True when it answered the request itself."""


@dataclass
class ServerState:
    """What a test can inspect and change while the server runs."""

    directory: Path
    behaviour: Behaviour | None = None
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    url: str = ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState  # set on a per-server subclass

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        path = self.path
        if "://" in path:  # a proxy receives absolute URLs
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
        self.state.requests.append(path)
        if self.state.behaviour is not None and self.state.behaviour(self, path):
            return
        self.serve_file(path)

    def serve_file(self, path: str) -> None:
        target = (self.state.directory / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.state.directory.resolve()) or not target.is_file():
            self.send_status(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_status(self, code: int, headers: dict[str, str] | None = None) -> None:
        body = f"{code}\n".encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # clients hanging up on a stalling handler is the point of some tests


@contextlib.contextmanager
def serve(directory: Path, behaviour: Behaviour | None = None) -> Iterator[ServerState]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields its state (``.url`` is the base)."""
    state = ServerState(directory, behaviour)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fast_http(**kw: object) -> HttpSettings:
    """Short timeouts so hostile-server tests finish quickly."""
    base: dict[str, object] = {
        "connect_timeout": 2.0,
        "read_timeout": 1.0,
        "deadline": 10.0,
        "retries": 2,
        "backoff": 0.05,
    }
    base.update(kw)
    return HttpSettings(**base)  # type: ignore[arg-type]


def settings(*mirrors: str, **http_kw: object) -> FeedSettings:
    return FeedSettings(mirrors=tuple(mirrors), http=fast_http(**http_kw))


def new_state(base: Path) -> StateDir:
    state = StateDir(base / "home")
    state.ensure()
    return state


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@dataclass(frozen=True)
class InstalledSet:
    """One set in the store's ``sets/`` (what the tests check the store holds)."""

    path: Path
    version: str
    active: bool
    previous: bool


def installed_sets(state: StateDir) -> list[InstalledSet]:
    """Every installed set, oldest version first (moved here from the store, where only tests used it)."""
    sets_dir = state.signatures / store.SETS
    active, previous = store.active_dir(state), store.previous_dir(state)
    try:
        entries = sorted(sets_dir.iterdir())
    except FileNotFoundError:
        return []
    dirs = [p.resolve() for p in entries if p.is_dir() and not p.is_symlink()]
    found = [InstalledSet(d, store.read_version(d) or "?", d == active, d == previous) for d in dirs]
    return sorted(found, key=lambda s: (signatures.version_key(s.version), s.path.name))
