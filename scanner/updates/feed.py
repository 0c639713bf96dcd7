"""The update feed client: TUF-verified discovery and download of the signature bundle.

This is the only module that imports ``tuf.ngclient``. A feed is a TUF repository
(``BASE/metadata/``, ``BASE/targets/``) whose one target of interest,
``signatures.tar.gz``, carries ``{"version": "YYYY.MM.N"}`` as custom metadata.

Trust comes only from the operator-given ``root.json``, kept as the anchor under
``StateDir.feed/trusted/`` and passed to every ``Updater`` as its bootstrap root; the
working copy under ``metadata/`` is a cache the Updater verifies against that anchor,
so a deleted or damaged cache is rebuilt from the anchor, never from the network.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Root, TargetFile
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.updater import Updater

from scanner.errors import FeedError
from scanner.safefs import write_atomic
from scanner.updates.http import Downloader, DownloadFailed, DownloadTimeout, HttpSettings

logger = logging.getLogger(__name__)

BUNDLE_TARGET = "signatures.tar.gz"
"""Name of the signature bundle target in the feed."""

PACKAGED_FEED = Path(__file__).resolve().parent.parent / "data" / "feed"
"""Where a release of the package may ship a public feed's ``root.json`` and ``mirrors.txt`` (none yet)."""


@dataclass(frozen=True)
class FeedSettings:
    """Where the feed is and how much to accept from it."""

    mirrors: tuple[str, ...]
    """Base URLs (``https://``, ``http://``, ``file://`` or a local path), tried in order."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """Timeouts, retries, deadline and proxies for every download."""
    max_bundle_bytes: int = 256 * 1024 * 1024
    """A signed bundle larger than this is refused before it is downloaded."""
    root_max_bytes: int = 256 * 1024
    """Largest root metadata file accepted."""
    timestamp_max_bytes: int = 16 * 1024
    """Largest timestamp file accepted (its length is never signed anywhere else)."""
    snapshot_max_bytes: int = 1024 * 1024
    """Largest snapshot file accepted when the timestamp does not give its length."""
    targets_max_bytes: int = 4 * 1024 * 1024
    """Largest targets file accepted when the snapshot does not give its length."""


@dataclass(frozen=True)
class AnchorInfo:
    """The trusted root a feed client starts from."""

    path: Path
    """Where the anchor is kept."""
    version: int
    """Root metadata version."""
    expires: dt.datetime
    """When that root version expires (newer versions from the feed may extend it)."""
    sha256: str
    """Hex SHA-256 of the anchor file."""
    changed: bool = False
    """Whether this call replaced a different anchor (or set the first one)."""


@dataclass(frozen=True)
class Release:
    """What the feed currently offers, as verified by TUF."""

    version: str
    """The bundle's ``custom.version`` (not yet validated as ``YYYY.MM.N``)."""
    released: str | None
    """The bundle's ``custom.released`` date, if the publisher gave one."""
    length: int
    """Signed length of the bundle in bytes."""
    sha256: str | None
    """Signed SHA-256 of the bundle, when the feed lists one."""
    mirror: str
    """The mirror that served it."""
    warnings: tuple[str, ...] = ()
    """Mirrors that failed before this one, and why (a verification failure is never silent)."""


def packaged_feed() -> tuple[tuple[str, ...], Path | None]:
    """The mirrors (one per line in ``mirrors.txt``) and ``root.json`` shipped with the package, if any."""
    root = PACKAGED_FEED / "root.json"
    try:
        lines = (PACKAGED_FEED / "mirrors.txt").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        logger.debug("no feed shipped with the package (%s: %s)", PACKAGED_FEED, exc.strerror)
        lines = []
    mirrors = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return mirrors, root if root.is_file() else None


def anchor_path(feed_dir: Path) -> Path:
    """Where the trusted root is kept."""
    return feed_dir / "trusted" / "root.json"


def mirrors_path(feed_dir: Path) -> Path:
    """Where the mirrors of the last feed given with ``update --feed`` are remembered."""
    return feed_dir / "mirrors.txt"


MAX_MIRRORS_BYTES = 64 * 1024
"""The remembered mirrors file is read only up to this size (it holds a few URLs)."""


def remembered_mirrors(feed_dir: Path) -> tuple[str, ...]:
    """The mirrors remembered from the last successful ``update --feed``, one URL a line; () when none.

    Read only from a regular file of bounded size: a damaged or replaced file is ignored (logged),
    as if nothing were remembered.
    """
    path = mirrors_path(feed_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        logger.debug("no remembered feed mirrors at %s", path)
        return ()
    except OSError as exc:
        logger.warning("remembered feed mirrors %s not read: %s", path, exc.strerror)
        return ()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            logger.warning("remembered feed mirrors %s is not a regular file; ignored", path)
            return ()
        data = os.read(fd, MAX_MIRRORS_BYTES + 1)
    except OSError as exc:
        logger.warning("remembered feed mirrors %s not read: %s", path, exc.strerror)
        return ()
    finally:
        os.close(fd)
    if len(data) > MAX_MIRRORS_BYTES:
        logger.warning("remembered feed mirrors %s is larger than %d bytes; ignored", path, MAX_MIRRORS_BYTES)
        return ()
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        logger.warning("remembered feed mirrors %s is not UTF-8 text; ignored", path)
        return ()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def remember_mirrors(feed_dir: Path, mirrors: tuple[str, ...]) -> bool:
    """Keep ``mirrors`` (normalised) as the feed to use when none is given; True when they changed."""
    urls = tuple(normalize_mirror(m) for m in mirrors)
    if not urls or remembered_mirrors(feed_dir) == urls:
        return False
    path = mirrors_path(feed_dir)
    text = "# the feed given to 'scanner update --feed'; replaced by the next one given\n" + "".join(
        f"{u}\n" for u in urls
    )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8", "surrogateescape"), 0o600)
    except OSError as exc:
        raise FeedError(f"cannot remember the feed in {path}: {exc.strerror}") from exc
    return True


def metadata_dir(feed_dir: Path) -> Path:
    """The Updater's working copy of the metadata (a cache, re-anchored when damaged)."""
    return feed_dir / "metadata"


def normalize_mirror(text: str) -> str:
    """A base URL from ``text``: a local path becomes a ``file://`` URL; a trailing slash is added."""
    text = text.strip()
    if "://" not in text:
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = path.resolve()
        text = path.as_uri()
    return text if text.endswith("/") else text + "/"


def choose_mirrors(given: Sequence[str], configured: tuple[str, ...], feed_dir: Path) -> tuple[tuple[str, ...], str]:
    """The mirrors to use and where they come from: ``given`` ("command line"), else ``configured``
    ("config"), else those remembered in ``feed_dir`` from the last successful ``update --feed``
    ("remembered"), else none ("none": the package's own feed, if it ships one)."""
    if given:
        mirrors, source = tuple(given), "command line"
    elif configured:
        mirrors, source = configured, "config"
    else:
        mirrors = remembered_mirrors(feed_dir)
        source = "remembered" if mirrors else "none"
    logger.info("feed mirrors (%s): %s", source, " ".join(mirrors) or "none")
    return mirrors, source


def feed_available(settings: FeedSettings) -> bool:
    """Whether there is a feed to update from (given, configured, remembered, or shipped with the package)."""
    return bool(settings.mirrors or packaged_feed()[0])


def _parse_root(data: bytes, origin: str) -> Metadata[Root]:
    try:
        md = Metadata[Root].from_bytes(data)
        if not isinstance(md.signed, Root):
            raise FeedError(f"{origin} is {md.signed.type} metadata, not a root.json")
        md.signed.verify_delegate(Root.type, md.signed_bytes, md.signatures)
    except FeedError:
        raise
    except (tuf_errors.RepositoryError, ValueError, KeyError, TypeError) as exc:
        raise FeedError(f"{origin} is not a valid self-signed TUF root.json ({_one_line(exc)})") from exc
    return md


def set_trusted_root(feed_dir: Path, root_file: Path) -> AnchorInfo:
    """Validate ``root_file`` (TUF root metadata signed by its own root keys) and keep it as the anchor."""
    try:
        data = root_file.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read trusted root {root_file}: {exc.strerror}") from exc
    md = _parse_root(data, str(root_file))
    anchor = anchor_path(feed_dir)
    digest = hashlib.sha256(data).hexdigest()
    try:
        old = anchor.read_bytes()
    except OSError:
        old = None
    changed = old != data
    if changed:
        try:
            anchor.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(anchor, data, 0o644)
        except OSError as exc:
            raise FeedError(f"cannot store trusted root in {anchor}: {exc.strerror}") from exc
    return AnchorInfo(anchor, md.signed.version, md.signed.expires, digest, changed)


def trusted_root(feed_dir: Path) -> AnchorInfo | None:
    """The anchor in use, or None when no trusted root has been given yet."""
    anchor = anchor_path(feed_dir)
    try:
        data = anchor.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FeedError(f"cannot read trusted root {anchor}: {exc.strerror}") from exc
    md = _parse_root(data, f"stored trusted root {anchor} (give --trusted-root FILE again)")
    return AnchorInfo(anchor, md.signed.version, md.signed.expires, hashlib.sha256(data).hexdigest())


class _TufFetcher(FetcherInterface):
    """Hands TUF's downloads to our Downloader and translates its errors into TUF's."""

    def __init__(self, downloader: Downloader) -> None:
        self._dl = downloader

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            chunks = self._dl.stream(url)
        except DownloadFailed as exc:
            raise _to_tuf(exc) from exc
        return self._relay(chunks)

    @staticmethod
    def _relay(chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from chunks
        except DownloadFailed as exc:
            raise _to_tuf(exc) from exc


def _to_tuf(exc: DownloadFailed) -> tuf_errors.DownloadError:
    if isinstance(exc, DownloadTimeout):
        return tuf_errors.SlowRetrievalError(str(exc))
    if exc.status is not None:
        return tuf_errors.DownloadHTTPError(str(exc), exc.status)
    return tuf_errors.DownloadError(str(exc))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _describe(exc: Exception) -> tuple[str, bool]:
    """A one-line reason for a failed mirror, and whether it was a verification (security) failure."""
    msg = _one_line(exc)
    cause = exc.__cause__
    if isinstance(cause, DownloadFailed):
        msg = _one_line(cause)
    match exc:
        case tuf_errors.DownloadLengthMismatchError():
            return f"the server sent more bytes than signed or allowed ({msg})", True
        case tuf_errors.SlowRetrievalError():
            return f"too slow: {msg}", False
        case tuf_errors.DownloadError():
            return msg, False
        case tuf_errors.UnsignedMetadataError():
            return f"metadata is not signed by enough trusted keys (unknown key or tampering): {msg}", True
        case tuf_errors.EqualVersionNumberError() | tuf_errors.BadVersionNumberError():
            return f"metadata is older than what is already trusted (rollback or replay): {msg}", True
        case tuf_errors.ExpiredMetadataError():
            return f"metadata has expired: {msg}", True
        case tuf_errors.LengthOrHashMismatchError():
            return f"a file does not match its signed length or hash (tampered or corrupt): {msg}", True
        case tuf_errors.RepositoryError():
            return f"metadata failed verification: {msg}", True
        case _:
            return msg, False


class FeedClient:
    """One update run against a feed: refresh metadata, look up and download the bundle.

    The Downloader (and so the overall deadline) is shared by every mirror tried.
    """

    def __init__(
        self,
        feed_dir: Path,
        settings: FeedSettings,
        *,
        downloader: Downloader | None = None,
    ) -> None:
        if not settings.mirrors:
            raise FeedError(
                "no update feed is configured: pass --feed URL (repeat for mirrors) and --trusted-root "
                "FILE, or set [update] feeds and trusted_root in config.toml"
            )
        self.feed_dir = feed_dir
        self.settings = settings
        self._mirrors = tuple(normalize_mirror(m) for m in settings.mirrors)
        self._dl = downloader or Downloader(settings.http)
        self._own_dl = downloader is None
        self._found: tuple[Updater, TargetFile, Release] | None = None

    def close(self) -> None:
        """Release network resources."""
        if self._own_dl:
            self._dl.close()

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def latest(self) -> Release:
        """Refresh the metadata and describe the bundle the feed offers, without downloading it."""
        self._found = None
        return self._each_mirror(self._lookup, self._mirrors, [])

    def download(self, dest: Path) -> Release:
        """Download the bundle into the file ``dest`` (written only once verified).

        Uses the mirror ``latest()`` found, if it was called; otherwise refreshes first.
        """
        failures: list[tuple[str, str, bool]] = []
        mirrors = self._mirrors
        if self._found is not None:
            up, info, release = self._found
            try:
                _download(up, info, dest)
                logger.info("bundle %s downloaded from %s", release.version, release.mirror)
                return release
            except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
                failures.append((release.mirror, *_describe(exc)))
                logger.info("mirror %s refused: %s; trying the others", release.mirror, failures[-1][1])
                mirrors = tuple(m for m in mirrors if m != release.mirror)

        def fetch(up: Updater, base: str, warnings: tuple[str, ...]) -> Release:
            release = self._lookup(up, base, warnings)
            assert self._found is not None
            _download(up, self._found[1], dest)
            return release

        return self._each_mirror(fetch, mirrors, failures)

    def _anchor_bytes(self) -> bytes:
        if trusted_root(self.feed_dir) is None:
            raise FeedError(
                "no trusted root for the update feed: give the feed's root.json once with --trusted-root "
                "FILE (or [update] trusted_root in config.toml); it is never taken from the network"
            )
        return anchor_path(self.feed_dir).read_bytes()

    def _updater(self, base: str, anchor: bytes) -> Updater:
        config = UpdaterConfig(
            root_max_length=self.settings.root_max_bytes,
            timestamp_max_length=self.settings.timestamp_max_bytes,
            snapshot_max_length=self.settings.snapshot_max_bytes,
            targets_max_length=self.settings.targets_max_bytes,
            app_user_agent=self.settings.http.user_agent,
        )
        work = metadata_dir(self.feed_dir)

        def make() -> Updater:
            work.mkdir(mode=0o700, parents=True, exist_ok=True)
            return Updater(
                metadata_dir=str(work),
                metadata_base_url=base + "metadata/",
                target_base_url=base + "targets/",
                fetcher=_TufFetcher(self._dl),
                config=config,
                bootstrap=anchor,
            )

        try:
            return make()
        except (OSError, tuf_errors.RepositoryError) as exc:
            # The working copy is only a cache: start it again from the anchor.
            logger.info("feed metadata in %s not usable (%s): starting again from the trusted root", work, exc)
            _remove(work)
            try:
                return make()
            except OSError as exc:
                raise FeedError(f"cannot write feed metadata in {work}: {exc.strerror}") from exc

    def _lookup(self, up: Updater, base: str, warnings: tuple[str, ...]) -> Release:
        up.refresh()
        info = up.get_targetinfo(BUNDLE_TARGET)
        if info is None:
            raise FeedError(f"feed {base} does not list {BUNDLE_TARGET}; is this a signature feed?")
        release = self._release(info, base, warnings)
        self._found = (up, info, release)
        return release

    def _release(self, info: TargetFile, base: str, warnings: tuple[str, ...]) -> Release:
        custom = info.custom if isinstance(info.custom, dict) else {}
        version = custom.get("version")
        if not isinstance(version, str):
            raise FeedError(f"feed {base}: {BUNDLE_TARGET} has no custom version in its signed metadata")
        if info.length > self.settings.max_bundle_bytes:
            raise FeedError(
                f"feed {base}: {BUNDLE_TARGET} is {info.length} bytes, over the "
                f"{self.settings.max_bundle_bytes}-byte limit"
            )
        released = custom.get("released")
        return Release(
            version=version,
            released=released if isinstance(released, str) else None,
            length=info.length,
            sha256=info.hashes.get("sha256"),
            mirror=base,
            warnings=warnings,
        )

    def _each_mirror(
        self,
        action: Callable[[Updater, str, tuple[str, ...]], Release],
        mirrors: tuple[str, ...],
        failures: list[tuple[str, str, bool]],
    ) -> Release:
        anchor = self._anchor_bytes()
        for base in mirrors:
            if self._dl.expired():
                logger.info("mirror %s not tried: the update deadline had passed", base)
                failures.append((base, "not tried: the update deadline had passed", False))
                continue
            warnings = tuple(f"mirror {b} failed: {why}" for b, why, _ in failures)
            logger.info("trying feed mirror %s", base)
            try:
                release = action(self._updater(base, anchor), base, warnings)
            except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
                why, security = _describe(exc)
                logger.info("mirror %s refused%s: %s", base, " (verification failed)" if security else "", why)
                failures.append((base, why, security))
            except OSError as exc:
                raise FeedError(f"cannot write feed data under {self.feed_dir}: {exc.strerror}") from exc
            else:
                logger.info("feed mirror %s offers signature set %s", base, release.version)
                return release
        raise FeedError(_summary(failures))


def _download(up: Updater, info: TargetFile, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
    try:
        up.download_target(info, filepath=str(tmp))
        tmp.replace(dest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _summary(failures: list[tuple[str, str, bool]]) -> str:
    if len(failures) == 1:
        base, why, _ = failures[0]
        return f"update feed {base}: {why}"
    # A verification failure matters more than an unreachable mirror, so it comes first.
    ordered = sorted(failures, key=lambda f: not f[2])
    parts = "; ".join(f"{base}: {why}" for base, why, _ in ordered)
    return f"every feed mirror failed ({len(failures)}): {parts}"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
