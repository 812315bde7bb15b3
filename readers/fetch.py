"""HTTP fetching of feeds and pages: timeout, size cap, gzip, conditional requests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

USER_AGENT = "newsflow/0.1 (news pipeline; +https://example.invalid/newsflow)"
# Statuses worth asking again after a pause: the server said it is busy or broken right now.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientFetchError(RuntimeError):
    """A failure that may pass on its own (timeout, connection error, 5xx): the task is retried."""


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

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def body_hash(self) -> str | None:
        return None if self.body is None else hashlib.blake2b(self.body, digest_size=8).hexdigest()


def fetch_url(url: str, timeout: float, max_bytes: int, etag: str | None = None,
              last_modified: str | None = None) -> Fetched:
    """GET `url` (conditionally when validators are given); transient failures raise
    TransientFetchError, permanent ones come back as a Fetched with `problem` set."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client, \
                client.stream("GET", url, headers=headers) as response:
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
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    return Fetched(url, status, final_url, problem=_too_large(len(body), max_bytes))
            return Fetched(url, status, final_url, bytes(body), response.headers.get("content-type"), **validators)
    except httpx.TimeoutException as err:
        raise TransientFetchError(f"timed out after {timeout:g} s fetching {url} ({type(err).__name__})") from err
    except httpx.TransportError as err:
        raise TransientFetchError(f"could not fetch {url}: {type(err).__name__}: {err}") from err
    except httpx.InvalidURL as err:
        return Fetched(url, 0, url, problem=f"invalid URL: {err}")


def _too_large(size: int, cap: int) -> str:
    return f"response larger than the {cap // (1 << 20)} MiB cap ({size} bytes or more); raise NEWSFLOW_HTTP_MAX_BYTES"
