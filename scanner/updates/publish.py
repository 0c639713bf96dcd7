"""The feed publisher: create a TUF repository of signature bundles, publish, refresh, rotate keys.

Only the ``scanner feed`` commands import this module; signing needs the ``publish``
extra (``cryptography``), which the update client never needs. A feed directory::

    DIR/keys/<role>.pem       Ed25519 private keys (PKCS#8 PEM, 0600) for root, targets, snapshot, timestamp
    DIR/keys/retired/         keys replaced by rotate-key, to destroy once clients have moved on
    DIR/root.json             the newest root: what clients are given as --trusted-root
    DIR/public/               what is served at the feed's base URL:
        metadata/             N.root.json, root.json, N.targets.json, N.snapshot.json, timestamp.json
        targets/              <sha256>.signatures.tar.gz

Each command loads only the keys it signs with, from the ``keys`` directories given
(default ``DIR/keys``), so root, targets and snapshot keys can live offline and only
the timestamp key needs to be where the weekly ``refresh`` runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from scanner import DISTRIBUTION
from scanner.errors import FeedError
from scanner.model import utc_now
from scanner.safefs import create_new, write_atomic
from scanner.updates import bundle, signatures, update
from scanner.updates.bundle import build_bundle as build_bundle
from scanner.updates.feed import BUNDLE_TARGET

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("root", "targets", "snapshot", "timestamp")
"""The four top-level TUF roles, each with one Ed25519 key."""

_S = TypeVar("_S", Root, Targets, Snapshot, Timestamp)
Clock = Callable[[], dt.datetime]


class PublishError(FeedError):
    """A feed could not be created, published to, refreshed or re-keyed; nothing was half-published."""


@dataclass(frozen=True)
class Expiry:
    """How long each role's metadata stays valid after it is signed."""

    root: dt.timedelta = dt.timedelta(days=365)
    """Root: re-signed by rotate-key or renew-root."""
    targets: dt.timedelta = dt.timedelta(days=90)
    """Targets: re-signed by every publish."""
    snapshot: dt.timedelta = dt.timedelta(days=90)
    """Snapshot: re-signed by every publish."""
    timestamp: dt.timedelta = dt.timedelta(days=7)
    """Timestamp: re-signed by every publish and refresh (the weekly job)."""


@dataclass(frozen=True)
class RoleState:
    """One role's current metadata."""

    role: str
    """Role name."""
    version: int
    """Metadata version."""
    expires: dt.datetime
    """Expiry time (UTC)."""


@dataclass(frozen=True)
class FeedStatus:
    """The state of a feed directory after a command."""

    directory: Path
    """The feed directory."""
    public: Path
    """The directory to serve at the feed's base URL."""
    root_file: Path
    """The root.json to give clients as ``--trusted-root``."""
    roles: tuple[RoleState, ...]
    """Version and expiry of root, targets, snapshot and timestamp."""
    signatures_version: str | None
    """The published bundle's version, if any."""
    bundle_sha256: str | None
    """The published bundle's SHA-256, if any."""
    warnings: tuple[str, ...] = ()
    """Metadata that expires soon, and what to run before it does."""


@dataclass(frozen=True)
class _Paths:
    directory: Path

    @property
    def public(self) -> Path:
        return self.directory / "public"

    @property
    def metadata(self) -> Path:
        return self.public / "metadata"

    @property
    def targets(self) -> Path:
        return self.public / "targets"

    @property
    def root_file(self) -> Path:
        return self.directory / "root.json"

    @property
    def default_keys(self) -> Path:
        return self.directory / "keys"


def _now(now: Clock) -> dt.datetime:
    return now().astimezone(dt.UTC).replace(microsecond=0)


def _write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a file atomically (temporary file in the same directory, then rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, mode)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror}") from exc


def _serialize(md: Metadata[Any]) -> bytes:
    return md.to_bytes(JSONSerializer(compact=False))


def _load(path: Path, kind: type[_S]) -> Metadata[_S]:
    try:
        md: Metadata[Any] = Metadata.from_file(str(path))
    except FileNotFoundError as exc:
        raise PublishError(f"{path} is missing: is this a feed directory made by 'scanner feed init'?") from exc
    except Exception as exc:  # DeserializationError, OSError, ValueError: all mean an unusable file
        raise PublishError(f"{path} cannot be read as TUF metadata: {exc}") from exc
    if not isinstance(md.signed, kind):
        raise PublishError(f"{path} holds {md.signed.type} metadata, not {kind.type}")
    return cast("Metadata[_S]", md)


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as exc:
        raise PublishError(
            f"signing needs the 'cryptography' package: install the publish extra, "
            f"pip install '{DISTRIBUTION}[publish]' (or pip install '.[publish]' in a source checkout)"
        ) from exc
    return serialization


class _Feed:
    """The metadata of a feed directory, and the signers for its roles."""

    def __init__(self, directory: Path, keys: Sequence[Path] | None) -> None:
        self.paths = _Paths(directory)
        self.key_dirs = list(keys) if keys else [self.paths.default_keys]

    def root(self) -> Metadata[Root]:
        return _load(self.paths.metadata / "root.json", Root)

    def timestamp(self) -> Metadata[Timestamp]:
        return _load(self.paths.metadata / "timestamp.json", Timestamp)

    def snapshot(self, timestamp: Timestamp) -> Metadata[Snapshot]:
        return _load(self.paths.metadata / f"{timestamp.snapshot_meta.version}.snapshot.json", Snapshot)

    def targets(self, snapshot: Snapshot) -> Metadata[Targets]:
        meta = snapshot.meta.get("targets.json")
        if meta is None:
            raise PublishError("snapshot does not list targets.json; the feed directory is damaged")
        return _load(self.paths.metadata / f"{meta.version}.targets.json", Targets)

    def signer(self, role: str, root: Root) -> CryptoSigner:
        """The signer for ``role``, from ``<keys>/<role>.pem``, checked against the root's key for it."""
        keyids = root.roles[role].keyids
        serialization = _crypto()
        for key_dir in self.key_dirs:
            path = key_dir / f"{role}.pem"
            try:
                pem = path.read_bytes()
            except FileNotFoundError:
                logger.debug("no %s key in %s", role, key_dir)
                continue
            except OSError as exc:
                raise PublishError(f"cannot read {role} key {path}: {exc.strerror}") from exc
            try:
                private = serialization.load_pem_private_key(pem, password=None)
                candidate = CryptoSigner(private)
            except Exception as exc:  # cryptography raises ValueError/TypeError/UnsupportedAlgorithm
                raise PublishError(f"{path} is not an unencrypted PKCS#8 PEM private key: {exc}") from exc
            for keyid in keyids:
                public = root.keys[keyid]
                if isinstance(public, SSlibKey) and public.keyval == candidate.public_key.keyval:
                    logger.info("signing %s with %s", role, path)
                    return CryptoSigner(private, public)
            raise PublishError(f"{path} is not the {role} key that root.json names (was it rotated?)")
        where = ", ".join(str(d) for d in self.key_dirs)
        raise PublishError(
            f"the {role} key is needed but {role}.pem is not in {where}; bring the offline key and pass --keys DIR"
        )

    def write(self, md: Metadata[Any], name: str) -> bytes:
        logger.info("writing %s (version %d)", self.paths.metadata / name, md.signed.version)
        data = _serialize(md)
        _write_bytes(self.paths.metadata / name, data)
        return data

    def write_root(self, md: Metadata[Root]) -> None:
        data = self.write(md, f"{md.signed.version}.root.json")
        _write_bytes(self.paths.metadata / "root.json", data)
        _write_bytes(self.paths.root_file, data)


def _metafile(version: int, data: bytes) -> MetaFile:
    return MetaFile(version=version, length=len(data), hashes={"sha256": hashlib.sha256(data).hexdigest()})


def _bump(md: Metadata[_S], lifetime: dt.timedelta, now: dt.datetime, signer: CryptoSigner) -> None:
    md.signed.version += 1
    md.signed.expires = now + lifetime
    md.sign(signer, append=False)


def init(
    directory: Path,
    *,
    keys_dir: Path | None = None,
    expiry: Expiry | None = None,
    now: Clock = utc_now,
) -> FeedStatus:
    """Create a new, empty feed: four Ed25519 keys and version 1 of every role's metadata."""
    expiry = expiry or Expiry()
    paths = _Paths(directory)
    keys_dir = keys_dir or paths.default_keys
    if (paths.metadata / "root.json").exists():
        raise PublishError(f"{directory} already holds a feed; use publish, refresh or rotate-key")
    _crypto()
    at = _now(now)
    signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}
    for role, signer in signers.items():
        _write_key(keys_dir / f"{role}.pem", signer)

    feed = _Feed(directory, [keys_dir])
    root = Metadata(Root(expires=at + expiry.root, consistent_snapshot=True))
    for role, signer in signers.items():
        root.signed.add_key(signer.public_key, role)
    root.sign(signers["root"])
    feed.write_root(root)

    targets = Metadata(Targets(expires=at + expiry.targets))
    targets.sign(signers["targets"])
    targets_data = feed.write(targets, "1.targets.json")
    snapshot = Metadata(Snapshot(expires=at + expiry.snapshot, meta={"targets.json": _metafile(1, targets_data)}))
    snapshot.sign(signers["snapshot"])
    snapshot_data = feed.write(snapshot, "1.snapshot.json")
    timestamp = Metadata(Timestamp(expires=at + expiry.timestamp, snapshot_meta=_metafile(1, snapshot_data)))
    timestamp.sign(signers["timestamp"])
    feed.write(timestamp, "timestamp.json")
    paths.targets.mkdir(parents=True, exist_ok=True)
    return status(directory, now=now)


def _write_key(path: Path, signer: CryptoSigner) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = create_new(os.fspath(path), mode=0o600)
    except FileExistsError as exc:
        raise PublishError(f"{path} already exists; refusing to overwrite a private key") from exc
    except OSError as exc:
        raise PublishError(f"cannot write key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_bytes)


def _copy_source(source: Path, dest: Path) -> None:
    """Copy a signature set directory, refusing anything but files and directories."""
    if not source.is_dir():
        raise PublishError(f"signature source {source} is not a directory")
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = Path(dirpath).relative_to(source)
        for name in sorted(dirnames + filenames):
            src = Path(dirpath) / name
            rel = rel_dir / name
            mode = src.lstat().st_mode
            if stat.S_ISDIR(mode):
                (dest / rel).mkdir(exist_ok=True)
            elif stat.S_ISREG(mode):
                if rel == Path("manifest.toml"):
                    continue
                shutil.copyfile(src, dest / rel, follow_symlinks=False)
            else:
                raise PublishError(f"{src} is not a regular file or directory; a bundle holds only those")


def _last_version(targets: Targets) -> str | None:
    info = targets.targets.get(BUNDLE_TARGET)
    if info is None:
        return None
    version = info.custom.get("version") if isinstance(info.custom, dict) else None
    return version if isinstance(version, str) else None


def publish(
    directory: Path,
    source: Path | None,
    version: str,
    *,
    bundle_file: Path | None = None,
    keys: Sequence[Path] | None = None,
    expiry: Expiry | None = None,
    clean_paths: Sequence[Path] | None = None,
    now: Clock = utc_now,
) -> FeedStatus:
    """Test the signature set at ``source`` (a directory) or in ``bundle_file`` (a bundle made by ``feed
    build``) as clients will, then publish it as ``version``.

    Refuses a version that is not higher than the one already published.
    """
    if (source is None) == (bundle_file is None):
        raise PublishError("give either a signature set directory or a bundle from 'scanner feed build'")
    expiry = expiry or Expiry()
    if not signatures.valid_version(version):
        raise PublishError(f"version {version!r} is not of the form YYYY.MM.N")
    feed = _Feed(directory, keys)
    root = feed.root().signed
    timestamp = feed.timestamp()
    snapshot = feed.snapshot(timestamp.signed)
    targets = feed.targets(snapshot.signed)
    last = _last_version(targets.signed)
    if last is not None and signatures.version_key(version) <= signatures.version_key(last):
        raise PublishError(f"version {version} is not higher than the published {last}; choose a higher one")
    signers = {role: feed.signer(role, root) for role in ("targets", "snapshot", "timestamp")}
    at = _now(now)
    released = at.date()

    data = _tested_bundle(directory, source, bundle_file, version, released, clean_paths)
    digest = hashlib.sha256(data).hexdigest()
    _write_bytes(feed.paths.targets / f"{digest}.{BUNDLE_TARGET}", data)

    custom = {"version": version, "released": released.isoformat()}
    targets.signed.targets = {
        BUNDLE_TARGET: TargetFile(len(data), {"sha256": digest}, BUNDLE_TARGET, {"custom": custom})
    }
    _bump(targets, expiry.targets, at, signers["targets"])
    targets_data = feed.write(targets, f"{targets.signed.version}.targets.json")
    snapshot.signed.meta["targets.json"] = _metafile(targets.signed.version, targets_data)
    _bump(snapshot, expiry.snapshot, at, signers["snapshot"])
    snapshot_data = feed.write(snapshot, f"{snapshot.signed.version}.snapshot.json")
    # The timestamp is written last: until then clients still see the previous, complete state.
    timestamp.signed.snapshot_meta = _metafile(snapshot.signed.version, snapshot_data)
    _bump(timestamp, expiry.timestamp, at, signers["timestamp"])
    feed.write(timestamp, "timestamp.json")
    return status(directory, now=now)


def _tested_bundle(
    directory: Path,
    source: Path | None,
    bundle_file: Path | None,
    version: str,
    released: dt.date,
    clean_paths: Sequence[Path] | None,
) -> bytes:
    """The bundle of the signature set at ``source`` (or unpacked from ``bundle_file``) as ``version``,
    staged in a temporary folder of ``directory``: tested as clients will activate it, built, and unpacked
    again by the client's rules."""
    with tempfile.TemporaryDirectory(prefix=".publish-", dir=directory) as tmp_name:
        tmp = Path(tmp_name)
        staged = tmp / "set"
        staged.mkdir()
        if bundle_file is not None:
            logger.info("publishing the bundle %s", bundle_file)
            bundle.extract(bundle_file, staged)  # the client's unpacking rules: a bundle is input like any
            built = signatures.SignatureSet.load(staged, "updated").version
            if built != version:  # its changelog names the version it was built as
                raise PublishError(
                    f"bundle {bundle_file} was built as {built}, not {version}: publish it as {built} "
                    f"or build again with --version {version}"
                )
        elif source is not None:
            _copy_source(source, staged)
        update.write_manifest(staged, version, released)
        problems = update.verify_dir(staged, clean_paths)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PublishError(f"signature set {version} failed the activation tests: {problems[0]}{more}")
        logger.info("signature set %s passed the activation tests", version)
        archive = tmp / BUNDLE_TARGET
        build_bundle(staged, archive, int(dt.datetime.combine(released, dt.time(), dt.UTC).timestamp()))
        check = tmp / "check"
        check.mkdir()
        bundle.extract(archive, check)  # the client's unpacking rules and limits, applied before signing
        return archive.read_bytes()


def refresh(
    directory: Path,
    *,
    keys: Sequence[Path] | None = None,
    expiry: Expiry | None = None,
    now: Clock = utc_now,
) -> FeedStatus:
    """Re-sign the timestamp with a fresh expiry (the weekly job; needs only the timestamp key)."""
    expiry = expiry or Expiry()
    feed = _Feed(directory, keys)
    root = feed.root().signed
    timestamp = feed.timestamp()
    feed.snapshot(timestamp.signed)  # refuse to vouch for a snapshot that is not there
    _bump(timestamp, expiry.timestamp, _now(now), feed.signer("timestamp", root))
    feed.write(timestamp, "timestamp.json")
    return status(directory, now=now)


def renew_root(
    directory: Path,
    *,
    keys: Sequence[Path] | None = None,
    expiry: Expiry | None = None,
    now: Clock = utc_now,
) -> FeedStatus:
    """Sign a new root version with a fresh expiry and the same keys (yearly; needs the root key)."""
    expiry = expiry or Expiry()
    feed = _Feed(directory, keys)
    root = feed.root()
    _bump(root, expiry.root, _now(now), feed.signer("root", root.signed))
    feed.write_root(root)
    return status(directory, now=now)


def rotate_key(
    directory: Path,
    role: str,
    *,
    keys: Sequence[Path] | None = None,
    expiry: Expiry | None = None,
    now: Clock = utc_now,
) -> FeedStatus:
    """Replace ``role``'s key with a new one, sign a new root, and re-sign what the key signs.

    The old key file moves to ``keys/retired/``. Needs the root key, plus the keys of the
    roles re-signed after it: targets needs snapshot and timestamp, snapshot needs timestamp.
    A new root key signs alongside the old one, so clients can follow the change.
    """
    if role not in ROLES:
        raise PublishError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    expiry = expiry or Expiry()
    feed = _Feed(directory, keys)
    root = feed.root()
    old_root_signer = feed.signer("root", root.signed)
    later = ROLES[ROLES.index(role) + 1 :] if role != "root" else ()
    signers = {r: feed.signer(r, root.signed) for r in later}
    _crypto()
    new = CryptoSigner.generate_ed25519()
    key_dir = feed.key_dirs[0]
    staged_key = key_dir / f".{role}.pem.new-{secrets.token_hex(4)}"
    _write_key(staged_key, new)
    try:
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
        root.signed.add_key(new.public_key, role)
        at = _now(now)
        root.signed.version += 1
        root.signed.expires = at + expiry.root
        root.sign(old_root_signer, append=False)
        if role == "root":
            root.sign(new, append=True)
        signers[role] = new
        feed.write_root(root)
        if role != "root":
            _resign_from(feed, role, signers, expiry, at)
        _retire(key_dir, role)
        staged_key.replace(key_dir / f"{role}.pem")
    finally:
        with contextlib.suppress(OSError):
            staged_key.unlink()
    return status(directory, now=now)


def _resign_from(feed: _Feed, role: str, signers: dict[str, CryptoSigner], expiry: Expiry, at: dt.datetime) -> None:
    """Re-sign ``role`` and every role below it in the chain (targets -> snapshot -> timestamp)."""
    timestamp = feed.timestamp()
    snapshot = feed.snapshot(timestamp.signed)
    if role == "targets":
        targets = feed.targets(snapshot.signed)
        _bump(targets, expiry.targets, at, signers["targets"])
        data = feed.write(targets, f"{targets.signed.version}.targets.json")
        snapshot.signed.meta["targets.json"] = _metafile(targets.signed.version, data)
    if role in ("targets", "snapshot"):
        _bump(snapshot, expiry.snapshot, at, signers["snapshot"])
        data = feed.write(snapshot, f"{snapshot.signed.version}.snapshot.json")
        timestamp.signed.snapshot_meta = _metafile(snapshot.signed.version, data)
    _bump(timestamp, expiry.timestamp, at, signers["timestamp"])
    feed.write(timestamp, "timestamp.json")


def _retire(key_dir: Path, role: str) -> None:
    current = key_dir / f"{role}.pem"
    if not current.exists():
        return
    retired = key_dir / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    logger.info("retiring the old %s key to %s", role, retired / f"{role}-{stamp}.pem")
    current.replace(retired / f"{role}-{stamp}.pem")


_WARN_WITHIN = {
    "root": dt.timedelta(days=60),
    "targets": dt.timedelta(days=21),
    "snapshot": dt.timedelta(days=21),
    "timestamp": dt.timedelta(days=2),
}
_FIX = {"root": "renew-root", "targets": "publish", "snapshot": "publish", "timestamp": "refresh"}


def status(directory: Path, *, now: Clock = utc_now) -> FeedStatus:
    """Versions and expiries of a feed directory's metadata, with warnings for what expires soon."""
    feed = _Feed(directory, None)
    root = feed.root().signed
    timestamp = feed.timestamp().signed
    snapshot = feed.snapshot(timestamp).signed
    targets = feed.targets(snapshot).signed
    info = targets.targets.get(BUNDLE_TARGET)
    roles = tuple(RoleState(s.type, s.version, s.expires) for s in (root, targets, snapshot, timestamp))
    at = _now(now)
    warnings = tuple(
        f"{r.role} metadata {'has expired' if r.expires <= at else 'expires ' + r.expires.isoformat()}; "
        f"run 'scanner feed {_FIX[r.role]}'"
        for r in roles
        if r.expires - at < _WARN_WITHIN[r.role]
    )
    return FeedStatus(
        directory=directory,
        public=feed.paths.public,
        root_file=feed.paths.root_file,
        roles=roles,
        signatures_version=_last_version(targets),
        bundle_sha256=None if info is None else info.hashes.get("sha256"),
        warnings=warnings,
    )
