"""Bounded decompression: every gzip or deflate layer a reader undoes goes through here, so a small
"bomb" (gzip inside gzip, or a long run of zeros) cannot expand past one cap across all its layers."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

GZIP_MAGIC = b"\x1f\x8b"
MAX_DOCUMENT_BYTES = 256 << 20

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
# Content-Encodings that are real compressions this reader cannot undo (it never asks for them).
_UNSUPPORTED_ENCODINGS = frozenset({"br", "zstd", "compress", "x-compress"})


class ExpandsTooFar(ValueError):
    """The data expands beyond the cap; the message names the cap."""


class UnsupportedEncoding(ValueError):
    """A Content-Encoding that is a compression this reader does not undo."""


def gunzipped(data: bytes, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """`data` with every gzip layer it starts with undone, all layers together writing at most
    `limit` bytes; raises ExpandsTooFar beyond it, EOFError or zlib.error on a broken stream."""
    budget = limit
    while data[:2] == GZIP_MAGIC:
        data = _inflated(data, _GZIP_WBITS, budget, limit)
        budget -= len(data)
    return data


def content_decoded(data: bytes, encodings: Sequence[str], limit: int) -> bytes:
    """An HTTP body with its Content-Encodings (in the order the server applied them) undone, all
    layers together writing at most `limit` bytes; unknown non-compression values are ignored, as
    httpx and browsers do. Raises ExpandsTooFar, UnsupportedEncoding, EOFError or zlib.error."""
    budget = limit
    for encoding in reversed([e.strip().lower() for e in encodings if e.strip()]):
        if encoding in ("gzip", "x-gzip"):
            data = _inflated(data, _GZIP_WBITS, budget, limit)
        elif encoding == "deflate":
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate (httpx
            # and browsers accept both).
            try:
                data = _inflated(data, _ZLIB_WBITS, budget, limit)
            except zlib.error:
                data = _inflated(data, _RAW_DEFLATE_WBITS, budget, limit)
        elif encoding in _UNSUPPORTED_ENCODINGS:
            raise UnsupportedEncoding(f"Content-Encoding '{encoding}' is not supported (only gzip and deflate)")
        else:
            continue
        budget -= len(data)
    return data


def _inflated(data: bytes, wbits: int, budget: int, limit: int) -> bytes:
    """One compressed stream (for gzip: all its concatenated members) inflated, writing at most
    `budget` bytes."""
    parts: list[bytes] = []
    written = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        # One byte over the budget tells "exactly the budget" from "more than the budget".
        part = inflater.decompress(data, max(budget - written, 0) + 1)
        written += len(part)
        if written > budget:
            raise ExpandsTooFar(f"it expands to more than {_mebibytes(limit)}")
        parts.append(part)
        if not inflater.eof:
            raise EOFError("the compressed stream ends early")
        data = inflater.unused_data
        # gzip allows several members one after the other (`cat a.gz b.gz`); anything else after
        # the end (often zero padding) is ignored, as gzip(1) warns and goes on.
        if wbits != _GZIP_WBITS or data[:2] != GZIP_MAGIC:
            return b"".join(parts)


def _mebibytes(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 and not size % (1 << 20) else f"{size} bytes"
