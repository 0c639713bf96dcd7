"""Downloading over HTTP(S) and from ``file://`` URLs with timeouts, retries and a deadline.

This is the only module that imports ``requests``. The feed client streams every
metadata file and the signature bundle through one ``Downloader``, whose deadline
covers the whole update: a server that stalls trips the read timeout, and one that
trickles bytes just fast enough to dodge it trips the deadline. Proxies come from
the usual environment variables (``https_proxy``, ``no_proxy``, ...) unless given.
"""

from __future__ import annotations

import email.utils
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3.exceptions

from scanner import __version__
from scanner.errors import FeedError
from scanner.model import printable

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


class DownloadFailed(FeedError):
    """A URL could not be downloaded (after any retries)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of the last answer, when there was one (404 for a missing local file)."""


class DownloadTimeout(DownloadFailed):
    """The server stalled past the read timeout, or the whole update passed its deadline."""


@dataclass(frozen=True)
class HttpSettings:
    """How patient and how persistent downloads are."""

    connect_timeout: float = 10.0
    """Seconds to wait for a connection."""
    read_timeout: float = 30.0
    """Seconds to wait for any byte (headers or body) before giving up on that attempt."""
    deadline: float = 600.0
    """Seconds the whole update may take, across every file and mirror."""
    retries: int = 3
    """Further attempts after a 5xx answer, a refused or dropped connection, or a stall before the body."""
    backoff: float = 0.5
    """First pause between attempts; it doubles with each retry."""
    max_backoff: float = 30.0
    """Longest pause between attempts, whatever the doubling or ``Retry-After`` says."""
    proxies: Mapping[str, str] | None = None
    """Explicit proxies by scheme (``{"https": "http://proxy:3128"}``); None means the environment's."""
    chunk_size: int = 64 * 1024
    """Largest piece handed on at a time."""
    user_agent: str = field(default=f"scanner/{__version__}")
    """User-Agent header."""


class Downloader:
    """Streams URLs under one deadline; one instance per update run."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._clock = clock
        self._sleep = sleep
        self._expires = clock() + self.settings.deadline
        self._session = requests.Session()
        default_agent = str(self._session.headers.get("User-Agent", ""))
        self._session.headers["User-Agent"] = f"{self.settings.user_agent} {default_agent}"
        self._session.max_redirects = 5
        if self.settings.proxies is not None:
            self._session.proxies.update(self.settings.proxies)

    def close(self) -> None:
        """Drop pooled connections."""
        self._session.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self._expires - self._clock())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.remaining() <= 0

    def stream(self, url: str) -> Iterator[bytes]:
        """Open ``url`` (retrying as configured) and return an iterator over its body.

        Raises DownloadFailed (with ``status`` for an HTTP error answer) or DownloadTimeout,
        both when opening and while the iterator is consumed.
        """
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        logger.debug("fetching %s", printable(url))
        if scheme == "file":
            return self._file_chunks(url)
        if scheme not in ("http", "https"):
            raise DownloadFailed(f"unsupported URL scheme in {url}: use https://, http:// or file://")
        return self._body(self._open(url), url)

    def _check_deadline(self, url: str) -> float:
        left = self.remaining()
        if left <= 0:
            raise DownloadTimeout(
                f"update deadline of {self.settings.deadline:g} s passed while fetching {url}; "
                "the server is too slow, try another mirror or a longer deadline"
            )
        return left

    def _pause(self, seconds: float, url: str, why: str) -> None:
        if seconds >= self.remaining():
            raise DownloadTimeout(f"{why} for {url}, but a wait of {seconds:g} s would pass the update deadline")
        self._sleep(seconds)

    def _open(self, url: str) -> requests.Response:
        s = self.settings
        attempt = 0
        while True:
            left = self._check_deadline(url)
            try:
                resp = self._session.get(
                    url, stream=True, timeout=(min(s.connect_timeout, left), min(s.read_timeout, left))
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                timed_out = isinstance(exc, requests.Timeout)
                if attempt >= s.retries:
                    kind = DownloadTimeout if timed_out else DownloadFailed
                    what = "timed out" if timed_out else "could not connect"
                    raise kind(f"{url}: {what} after {attempt + 1} attempts ({_reason(exc)})") from exc
                logger.info(
                    "%s: %s (%s); retrying",
                    printable(url),
                    "timed out" if timed_out else "could not connect",
                    _reason(exc),
                )
                self._pause(self._backoff(attempt), url, "connection failed")
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise DownloadFailed(f"{url}: request failed ({_reason(exc)})") from exc
            status = resp.status_code
            if status == 200:
                return resp
            retry_after = _retry_after(resp.headers.get("Retry-After"), time.time)
            resp.close()
            if status not in _RETRY_STATUSES and status != 429:
                raise DownloadFailed(f"{url}: HTTP {status}", status)
            if attempt >= s.retries:
                raise DownloadFailed(f"{url}: HTTP {status} after {attempt + 1} attempts", status)
            if status in _RETRY_AFTER_STATUSES and retry_after is not None:
                delay = min(retry_after, s.max_backoff)
            else:
                delay = self._backoff(attempt)
            logger.info("%s: HTTP %d; retrying in %g s", printable(url), status, delay)
            self._pause(delay, url, f"server answered HTTP {status}")
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.backoff * (2**attempt), self.settings.max_backoff))

    def _body(self, resp: requests.Response, url: str) -> Iterator[bytes]:
        # read1 hands on whatever one socket read returned, so the deadline is checked
        # between small reads and a trickling server cannot hold a single read open.
        raw = resp.raw
        try:
            while True:
                self._check_deadline(url)
                try:
                    chunk = raw.read1(self.settings.chunk_size, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise DownloadTimeout(
                        f"{url}: no data for {self.settings.read_timeout:g} s; the server stalled"
                    ) from exc
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                    raise DownloadFailed(f"{url}: transfer broke off ({_reason(exc)})") from exc
                if not chunk:
                    return
                yield chunk
        finally:
            resp.close()

    def _file_chunks(self, url: str) -> Iterator[bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise DownloadFailed(f"{url}: file:// URLs must name a local path (file:///path)")
        path = Path(urllib.request.url2pathname(parts.path))
        try:
            f = path.open("rb")
        except FileNotFoundError as exc:
            # Reported as 404 so the feed client treats a missing file like a missing URL.
            raise DownloadFailed(f"{url}: not found", 404) from exc
        except OSError as exc:
            raise DownloadFailed(f"{url}: cannot be read ({exc.strerror})") from exc
        return self._read_file(f, url)

    def _read_file(self, f: BinaryIO, url: str) -> Iterator[bytes]:
        with f:
            while True:
                self._check_deadline(url)
                try:
                    chunk = f.read(self.settings.chunk_size)
                except OSError as exc:
                    raise DownloadFailed(f"{url}: cannot be read ({exc.strerror})") from exc
                if not chunk:
                    return
                yield chunk


def _retry_after(value: str | None, now: Callable[[], float]) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if it parses."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def _reason(exc: BaseException) -> str:
    """A short, one-line cause from a requests/urllib3 exception chain."""
    inner: BaseException = exc
    while inner.__context__ is not None and len(str(inner)) > 200:
        inner = inner.__context__
    text = printable(" ".join(str(inner).split())) or type(inner).__name__  # may quote the server's status line
    return text if len(text) <= 200 else text[:197] + "..."
