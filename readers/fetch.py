"""HTTP fetching of feeds and pages: timeout, total deadline, size cap (of decoded bytes), gzip,
conditional requests."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from readers.compression import ExpandsTooFar, UnsupportedEncoding, content_decoded

USER_AGENT = "newsflow/0.1 (news pipeline; +https://example.invalid/newsflow)"
# Statuses worth asking again after a pause: the server said it is busy or broken right now.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Seconds for a whole fetch (connect, redirects, headers and body); `timeout` bounds each step.
DEFAULT_DEADLINE = 60.0


class TransientFetchError(RuntimeError):
    """A failure that may pass on its own (timeout, connection error, 5xx): worth asking again."""


@dataclass(frozen=True)
class Fetched:
    """One HTTP response as the pipeline needs it; `problem` is set when it carries no document."""

    url: str
    status: int
    final_url: str
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    problem: str | None = None
    # The server could not be reached, or kept failing, through every attempt: there is no
    # response to remember for a conditional request.
    is_unreachable: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def body_hash(self) -> str | None:
        return None if self.body is None else hashlib.blake2b(self.body, digest_size=8).hexdigest()


def fetch_url(url: str, timeout: float, max_bytes: int, etag: str | None = None,
              last_modified: str | None = None, *, deadline: float = DEFAULT_DEADLINE) -> Fetched:
    """GET `url` (conditionally when validators are given); transient failures raise
    TransientFetchError, permanent ones come back as a Fetched with `problem` set.

    `timeout` bounds each connect, read and write; `deadline` (seconds) bounds the whole fetch,
    redirects, headers and body included, so a server that drips a byte at a time cannot hold the
    run: past it the fetch comes back with a problem, not retried (another try would hold the run
    as long again; the next run asks again). Name resolution is not bounded by either."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    watch = _Deadline(timeout, deadline)
    status, final_url = 0, url
    try:
        with watch, httpx.Client(follow_redirects=True, max_redirects=5) as client, \
                client.stream("GET", url, headers=headers, extensions=watch.extensions()) as response:
            status, final_url = response.status_code, str(response.url)
            validators = {"etag": response.headers.get("etag"), "last_modified": response.headers.get("last-modified")}
            if status == 304:
                return Fetched(url, status, final_url, etag=validators["etag"] or etag,
                               last_modified=validators["last_modified"] or last_modified)
            if status in TRANSIENT_STATUSES:
                raise TransientFetchError(f"HTTP {status} {response.reason_phrase} from {url}")
            if status >= 400:
                return Fetched(url, status, final_url,
                               problem=f"HTTP {status} {response.reason_phrase}: the server has no document here")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                return Fetched(url, status, final_url, problem=_too_large(declared, max_bytes))
            # Raw bytes, decoded below in one bounded step: httpx would inflate each network chunk
            # whole before the size check (a 64 KiB chunk of gzip can be 64 MiB, and a chunk of
            # "Content-Encoding: gzip, gzip" far more).
            raw = bytearray()
            for chunk in response.iter_raw():
                raw.extend(chunk)
                if len(raw) > max_bytes:
                    return Fetched(url, status, final_url, problem=_too_large(len(raw), max_bytes))
                if watch.is_past():
                    return Fetched(url, status, final_url, problem=_past_deadline(deadline))
            encodings = response.headers.get("content-encoding", "").split(",")
            try:
                body = content_decoded(bytes(raw), encodings, max_bytes)
            except ExpandsTooFar:
                return Fetched(url, status, final_url,
                               problem=f"response expands beyond the {_mebibytes(max_bytes)} cap once its Content-"
                                       f"Encoding '{response.headers.get('content-encoding')}' is undone; "
                                       "raise NEWSFLOW_HTTP_MAX_BYTES")
            except (UnsupportedEncoding, EOFError, zlib.error) as err:
                return Fetched(url, status, final_url,
                               problem=f"undecodable response body (Content-Encoding "
                                       f"'{response.headers.get('content-encoding')}'): {err}")
            return Fetched(url, status, final_url, body, response.headers.get("content-type"), **validators)
    except httpx.TimeoutException as err:
        if watch.is_past():
            return Fetched(url, status, final_url, problem=_past_deadline(deadline))
        raise TransientFetchError(f"timed out after {timeout:g} s fetching {url} ({type(err).__name__})") from err
    except httpx.UnsupportedProtocol as err:
        return Fetched(url, 0, url, problem=f"invalid URL: {err}")
    except httpx.TransportError as err:
        if watch.is_past():
            return Fetched(url, status, final_url, problem=_past_deadline(deadline))
        raise TransientFetchError(f"could not fetch {url}: {type(err).__name__}: {err}") from err
    except httpx.TooManyRedirects as err:
        return Fetched(url, status, final_url, problem=f"too many redirects: {err}")
    except httpx.InvalidURL as err:
        return Fetched(url, 0, url, problem=f"invalid URL: {err}")


def fetch_with_retries(url: str, timeout: float, max_bytes: int, etag: str | None = None,
                       last_modified: str | None = None, *, deadline: float = DEFAULT_DEADLINE, retries: int = 0,
                       retry_delay: float = 0.0,
                       on_retry: Callable[[TransientFetchError, float], None] | None = None) -> Fetched:
    """`fetch_url`, asked again after each transient failure up to `retries` times, first after
    `retry_delay` seconds, then twice as long each time (`on_retry` hears of each failure and the
    wait). After the last attempt the failure comes back as a Fetched with `problem` set and
    `is_unreachable`, not as an exception: an unreachable feed is an expected outcome of a run."""
    for attempt in range(retries + 1):
        try:
            return fetch_url(url, timeout, max_bytes, etag, last_modified, deadline=deadline)
        except TransientFetchError as err:
            if attempt == retries:
                return Fetched(url, 0, url, problem=f"fetch failed after {retries + 1} attempts: {err}",
                               is_unreachable=True)
            wait = retry_delay * 2 ** attempt
            if on_retry is not None:
                on_retry(err, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")  # the loop returns on its last attempt


class _Deadline:
    """One fetch's total deadline, kept through two of httpcore's request extensions (httpx passes
    them on to every redirect): "timeout" clips each connect, and each phase's read and write
    timeout, to the time left; "trace" hands over each connection's socket, shut down when the
    deadline passes, which ends a read in progress (one of a server that sends a byte at a time,
    each well within the read timeout, would otherwise go on)."""

    def __init__(self, timeout: float, seconds: float):
        self.ends_at = time.monotonic() + seconds
        self._timeouts = _ClippedTimeouts(timeout, self.ends_at)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()

    def extensions(self) -> dict:
        return {"timeout": self._timeouts, "trace": self._trace}

    def is_past(self) -> bool:
        # A few milliseconds early counts: a wait clipped to the deadline may wake just before it.
        return time.monotonic() >= self.ends_at - 0.005

    def _trace(self, event: str, info: dict) -> None:
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                with self._lock:
                    self._sockets.append(sock)
                if self.is_past():
                    self._cut()

    def _cut(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass


class _ClippedTimeouts(dict):
    """httpx's timeouts of one request (connect, read, write, pool), each clipped to the time left."""

    def __init__(self, timeout: float, ends_at: float):
        super().__init__(connect=timeout, read=timeout, write=timeout, pool=timeout)
        self.ends_at = ends_at

    def get(self, key, default=None):
        value = super().get(key, default)
        # Never 0 or less: a socket timeout of 0 means "do not block", which fails as an error,
        # not as a timeout.
        left = max(self.ends_at - time.monotonic(), 0.001)
        return left if value is None else min(value, left)

    def __getitem__(self, key):
        return self.get(key)


def _past_deadline(deadline: float) -> str:
    return f"no complete response within {deadline:g} s (total deadline)"


def _too_large(size: int, cap: int) -> str:
    return f"response larger than the {_mebibytes(cap)} cap ({size} bytes or more); raise NEWSFLOW_HTTP_MAX_BYTES"


def _mebibytes(size: int) -> str:
    return f"{size // (1 << 20)} MiB" if size >= 1 << 20 else f"{size} bytes"
