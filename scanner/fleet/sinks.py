"""Where events go: the sink URLs (``--events``, ``[events] sinks``), RFC 5424 framing, and delivery that
never blocks a run for long and never fails it.

``syslog:`` (the local socket, ``/dev/log``, in the form ``syslog(3)`` writes there; ``syslog:/path/to/socket``
names another socket), ``udp://HOST:PORT`` (one RFC 5424 message per datagram, RFC 5426),
``tcp://HOST:PORT`` (RFC 5424 in octet-counted frames, RFC 6587),
``file:///path.jsonl`` (one JSON event per line) and ``-`` (standard output, one JSON event per line, for
systemd's journal). Every send has a timeout; a name is resolved once, with the same bound. A sink
that fails is left alone for ``RETRY_SECONDS`` and its events in that time are dropped and counted,
so a down collector costs one timeout per half minute, not one per event. Nothing is spooled: see
docs/decisions/0015-fleet-events-and-metrics.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import errno
import logging
import os
import socket
import stat
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from scanner.errors import UsageError
from scanner.model import printable
from scanner.safefs import describe_mode

logger = logging.getLogger(__name__)

DEFAULT_SYSLOG_SOCKET = "/dev/log"
"""The local syslog socket ``syslog:`` means."""
MAX_URL = 2_048
"""A sink URL longer than this is refused."""
DEFAULT_TIMEOUT = 2.0
"""Seconds each send (and each connect, each name lookup) may take ([events] timeout)."""
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 60.0
"""The range of [events] timeout."""
RETRY_SECONDS = 30.0
"""After a failure, a sink is not tried again for this long (its events are dropped and counted)."""
MAX_EVENTS_PER_SINK = 100_000
"""At most this many events go to one sink in one run; the rest are dropped and counted."""
APP_NAME = "scanner"
"""RFC 5424 APP-NAME."""
FACILITIES = {
    "daemon": 3,
    "auth": 4,
    "authpriv": 10,
    "security": 13,
    "user": 1,
    **{f"local{i}": 16 + i for i in range(8)},
}
"""The syslog facilities [events] facility accepts, and their numbers."""
DEFAULT_FACILITY = "daemon"
"""The default syslog facility."""


class SinkKind(enum.Enum):
    """The kinds of event sink."""

    SYSLOG = "syslog"
    UDP = "udp"
    TCP = "tcp"
    FILE = "file"
    STDOUT = "-"


@dataclass(frozen=True)
class SinkSpec:
    """One sink, as its URL names it."""

    url: str
    """The URL as given."""
    kind: SinkKind
    """What kind of sink."""
    path: str = ""
    """The socket (syslog) or file (file) path."""
    host: str = ""
    """The host (udp, tcp)."""
    port: int = 0
    """The port (udp, tcp)."""


URL_HELP = "give syslog:, syslog:/path/to/socket, udp://HOST:PORT, tcp://HOST:PORT, file:///path.jsonl or -"


def parse_sink(url: str) -> SinkSpec:
    """The sink ``url`` names; UsageError (saying what is accepted) for anything else."""
    shown = printable(url[:200])
    if len(url) > MAX_URL or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UsageError(f"event sink {shown!r} refused: too long or contains control characters; {URL_HELP}")
    if url == "-":
        return SinkSpec(url, SinkKind.STDOUT)
    scheme, sep, rest = url.partition(":")
    match scheme.lower() if sep else "":
        case "syslog":
            path = rest or DEFAULT_SYSLOG_SOCKET
            if not path.startswith("/"):
                raise UsageError(f"event sink {shown!r}: the syslog socket must be an absolute path; {URL_HELP}")
            return SinkSpec(url, SinkKind.SYSLOG, path=path)
        case "udp" | "tcp":
            return _network(url, shown)
        case "file":
            parts = urllib.parse.urlsplit(url)
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query or parts.fragment:
                raise UsageError(f"event sink {shown!r}: write file:///absolute/path.jsonl; {URL_HELP}")
            return SinkSpec(url, SinkKind.FILE, path=urllib.parse.unquote(parts.path))
    raise UsageError(f"unknown event sink {shown!r}; {URL_HELP}")


def _network(url: str, shown: str) -> SinkSpec:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or port == 0 or parts.username or parts.path not in ("", "/"):
        raise UsageError(
            f"event sink {shown!r}: write {parts.scheme.lower()}://HOST:PORT (port 1 to 65535); {URL_HELP}"
        )
    return SinkSpec(url, SinkKind(parts.scheme.lower()), host=parts.hostname, port=port)


def rfc5424(
    message: bytes, *, at: dt.datetime, severity: int, facility: int, hostname: str, msgid: str, pid: int
) -> bytes:
    """One RFC 5424 syslog message carrying ``message`` (the JSON event: ASCII, so no BOM) as MSG."""
    stamp = at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    header = (
        f"<{facility * 8 + severity}>1 {stamp} {header_word(hostname, 255)} {APP_NAME} {pid} {header_word(msgid, 32)} -"
    )
    return header.encode("ascii") + b" " + message


def local_syslog(message: bytes, *, at: dt.datetime, severity: int, facility: int, pid: int) -> bytes:
    """One message for the local socket in the form ``syslog(3)`` writes (``<PRI>Mmm dd hh:mm:ss
    scanner[PID]: MSG``, local time), the only form every reader of ``/dev/log`` parses: rsyslog's
    imuxsock (its default parser takes an RFC 5424 header for part of the message) and journald."""
    local = at.astimezone()
    stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
    return f"<{facility * 8 + severity}>{stamp} {APP_NAME}[{pid}]: ".encode("ascii") + message


def header_word(text: str, limit: int) -> str:
    """A header field: printable ASCII without spaces (RFC 5424 PRINTUSASCII), at most ``limit`` long;
    ``-`` when empty."""
    word = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in text)[:limit]
    return word or "-"


class Transport(Protocol):
    """An open connection to one sink."""

    def send(self, frame: bytes) -> None:
        """Send one event's bytes; OSError when it cannot be sent in time."""

    def close(self) -> None:
        """Let go of the connection."""


def resolve(host: str, port: int, kind: int, timeout: float) -> tuple[int, tuple[str, int]]:
    """The address family and address of ``host``, looked up in a helper thread so the lookup is bounded
    by ``timeout`` too (``getaddrinfo`` has no timeout of its own); OSError when it fails or takes longer."""
    out: list[tuple[int, tuple[str, int]] | OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=kind)
            out.append((infos[0][0], infos[0][4][:2]))  # type: ignore[arg-type]
        except OSError as exc:
            out.append(exc)

    worker = threading.Thread(target=lookup, name="scanner-events-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not out:
        raise OSError(errno.ETIMEDOUT, f"looking up {host} took longer than {timeout:g} s")
    if isinstance(out[0], OSError):
        raise out[0]
    return out[0]


class SocketTransport:
    """A datagram (syslog socket, UDP) or stream (TCP) socket with a timeout on every operation."""

    def __init__(self, spec: SinkSpec, timeout: float) -> None:
        self.spec = spec
        if spec.kind is SinkKind.SYSLOG:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            address: str | tuple[str, int] = spec.path
        else:
            stream = spec.kind is SinkKind.TCP
            family, address = resolve(
                spec.host, spec.port, socket.SOCK_STREAM if stream else socket.SOCK_DGRAM, timeout
            )
            self.sock = socket.socket(family, socket.SOCK_STREAM if stream else socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise

    def send(self, frame: bytes) -> None:
        """Send ``frame`` (a TCP frame is octet-counted); the timeout bounds the whole send."""
        if self.spec.kind is SinkKind.TCP:
            self.sock.sendall(b"%d " % len(frame) + frame)
        else:
            self.sock.send(frame)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


NOT_REGULAR = "give a regular file to append JSON lines to"


class FileTransport:
    """A JSON-lines file, appended to; only a regular file (created 0600 if absent) is written, and a
    symbolic link at the path is not followed, so a FIFO or a device there never blocks the run."""

    def __init__(self, spec: SinkSpec) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        try:
            self.fd = os.open(spec.path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO nobody reads (non-blocking open)
                raise OSError(errno.EINVAL, f"not a regular file (a FIFO with no reader); {NOT_REGULAR}") from exc
            raise
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise OSError(errno.EINVAL, f"not a regular file ({describe_mode(st.st_mode)}); {NOT_REGULAR}")

    def send(self, frame: bytes) -> None:
        """Append one line."""
        data = memoryview(frame + b"\n")
        while data:
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)


class StdoutTransport:
    """Standard output, one JSON event per line (systemd's journal records it)."""

    def send(self, frame: bytes) -> None:
        """Write one line and flush it."""
        out = sys.stdout
        out.write(frame.decode("ascii") + "\n")
        out.flush()

    def close(self) -> None:
        """Nothing to close."""


def open_transport(spec: SinkSpec, timeout: float) -> Transport:
    """Open the connection to ``spec``; OSError when it cannot be opened in time."""
    match spec.kind:
        case SinkKind.FILE:
            return FileTransport(spec)
        case SinkKind.STDOUT:
            return StdoutTransport()
        case SinkKind.SYSLOG | SinkKind.UDP | SinkKind.TCP:
            return SocketTransport(spec, timeout)


@dataclass
class SinkStats:
    """What happened to the events of one sink in this run."""

    sent: int = 0
    """Events handed to the sink."""
    dropped: int = 0
    """Events not delivered (the sink was down, or refused them)."""
    error: str = ""
    """The last failure, for the warning."""


class Sink:
    """One sink with its delivery rules: open on first use, on failure drop and count for ``RETRY_SECONDS``,
    then try again."""

    def __init__(self, spec: SinkSpec, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec, self.timeout, self.clock = spec, timeout, clock
        self.stats = SinkStats()
        self._transport: Transport | None = None
        self._down_until = 0.0

    @property
    def form(self) -> str:
        """How events are framed for this sink: ``rfc5424`` (UDP, TCP), ``local`` (the local syslog
        socket: ``local_syslog``) or ``json`` (a bare JSON line: file, standard output)."""
        match self.spec.kind:
            case SinkKind.UDP | SinkKind.TCP:
                return "rfc5424"
            case SinkKind.SYSLOG:
                return "local"
            case _:
                return "json"

    def deliver(self, frame: bytes) -> bool:
        """Send one event (already framed); False, counted, when it was dropped. Never raises."""
        if self.stats.sent + self.stats.dropped >= MAX_EVENTS_PER_SINK or self.clock() < self._down_until:
            self.stats.dropped += 1
            return False
        try:
            if self._transport is None:
                self._transport = open_transport(self.spec, self.timeout)
            self._transport.send(frame)
        except (OSError, ValueError) as exc:  # ValueError: standard output already closed
            self._fail(exc)
            return False
        self.stats.sent += 1
        return True

    def _fail(self, exc: Exception) -> None:
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        if isinstance(exc, socket.timeout | TimeoutError):
            why = f"no answer within {self.timeout:g} s"
        first = not self.stats.error
        self.stats.dropped += 1
        self.stats.error = why
        self._down_until = self.clock() + RETRY_SECONDS
        self.close()
        log = logger.info if first else logger.debug
        log("event sink %s failed (%s): its events are dropped for %g s", printable(self.spec.url), why, RETRY_SECONDS)

    def close(self) -> None:
        """Let go of the connection (the next event opens it again)."""
        if self._transport is not None:
            try:
                self._transport.close()
            except OSError as exc:
                logger.debug("closing event sink %s: %s", printable(self.spec.url), exc)
            self._transport = None
