"""Every reader, fed random and mutated documents, ends each input as records or quarantine rows,
never as an exception; and the failures seen in runs (deep JSON, a non-UTF-8 file name, gzip inside
gzip, a server that drips its response) are quarantined with a reason."""

from __future__ import annotations

import gzip
import json
import os
import socket
import tempfile
import threading
import zlib
from pathlib import Path

import feedparser
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.compression import MAX_DOCUMENT_BYTES
from readers.feeds import feed_records
from readers.fetch import fetch_url
from readers.sources import Extracted, extracted_records, read_document, read_file
from transforms.quarantine import REJECTS

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Desk</title><link>https://news.example.com/</link>
<item><title>Talks resume in Cairo</title><link>/cairo</link><guid>cairo</guid>
<pubDate>Sat, 09 Nov 2024 14:30:00 +0200</pubDate><description>&lt;p&gt;Talks resumed on Saturday.&lt;/p&gt;</description></item>
<item><title>Second</title><link>https://news.example.com/second</link></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Desk</title><id>urn:x</id><updated>2024-11-09T12:00:00Z</updated>
<entry><title type="html">A &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; move</title><id>urn:uuid:1</id>
<updated>2024-11-09T12:00:00Z</updated><link href="https://atom.example.org/1"/><content type="html">&lt;p&gt;Body.&lt;/p&gt;</content></entry>
</feed>"""
JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "JSON Desk", "home_page_url": "https://json.example.net/",
    "items": [{"id": "1", "url": "/one", "title": "One", "content_html": "<p>Body one.</p>", "tags": ["a"]},
              {"id": "2", "content_text": "Body two."}],
}).encode()
PAGE = b"""<!DOCTYPE html><html><head><title>Turkey weighs hosting talks | Wire</title>
<meta property="article:published_time" content="2024-11-11T09:00:00+03:00"></head><body><nav>Home | World</nav>
<article><h1>Turkey weighs hosting talks</h1><p>Turkey is considering whether to host the talks, officials said.</p>
<p>Officials in Ankara gave no timeline for a decision and said talks would continue this week.</p></article></body></html>"""

# One valid document per reader, by the file name that picks the reader.
SAMPLES = {
    "story.txt": b"Talks resume in Cairo\nEgypt said on Sunday it would continue to mediate.\n",
    "dump.jsonl": b'{"title": "One", "text": "First body"}\n{"headline": "Two", "body": "Second", "tags": [1, 2]}\n',
    "dump.json": b'[{"title": "A", "text": "a"}, {"title": "B", "url": "https://b.example.com/"}]',
    "dump.csv": b'title,text,url\n"Three","multi\nline","http://x.com/3"\nFour,body,\n',
    "rss.xml": RSS,
    "atom.xml": ATOM,
    "feed.json": JSON_FEED,
    "page.html": PAGE,
}
GZIPPED = {f"{name}.gz": gzip.compress(data) for name, data in SAMPLES.items()}
# Openers that nest: JSON arrays and objects, XML and HTML elements.
NESTERS = [b"[", b'{"a":', b"<a>", b"<div>", b"<item>"]
_FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _checked(out: Extracted, document: bytes) -> Extracted:
    """`out` after checking every reject is a whole quarantine row and everything is storable."""
    for reject in out.rejects:
        assert {k: type(reject[k]) for k in ("source_uri", "record_key", "stage", "reason")} == dict.fromkeys(
            ("source_uri", "record_key", "stage", "reason"), str), reject
        assert reject["stage"] == "extract" and reject["reason"].strip(), reject
        assert reject["payload"] is None or isinstance(reject["payload"], bytes)
    # Polars (then Parquet) takes every string: no lone surrogates, no stray types.
    out.records_frame()
    pl.DataFrame(out.rejects, schema=REJECTS)
    assert out.records or out.rejects or _is_feed_without_items(document), document[:200]
    return out


def _is_feed_without_items(data: bytes) -> bool:
    """A well-formed feed with no items is the one document that yields neither records nor rejects."""
    while data[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(31).decompress(data)
    records, rejects = feed_records(data, "f")
    if records or rejects:
        return False
    try:
        document = json.loads(data)
        return isinstance(document, dict) and document.get("items") == []
    except (ValueError, RecursionError):
        parsed = feedparser.parse(data)
        return bool(parsed.get("version")) and not parsed.get("entries")


def _read(data: bytes, name: str, content_type: str | None = None) -> Extracted:
    out = Extracted(as_of="2026-01-01")
    read_document(data, f"memory/{name}", name, out, content_type)
    return _checked(out, data)


@st.composite
def _mutated(draw, data: bytes) -> bytes:
    """`data` after a few byte flips, insertions, deletions, truncations or deep nestings."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "insert", "delete", "truncate", "nest", "long", "splice"])):
            case "flip" if data:
                at = min(at, len(data) - 1)
                data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
            case "insert":
                data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
            case "delete":
                data = data[:at] + data[at + draw(st.integers(1, 64)):]
            case "truncate":
                data = data[:at]
            case "nest":
                # Most often where a value starts: the document's or a line's first byte.
                starts = [0, at] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
                at = draw(st.sampled_from(starts))
                depth = draw(st.integers(100, 3000))
                data = data[:at] + draw(st.sampled_from(NESTERS)) * depth + data[at:]
            case "long":
                data = data[:at] + draw(st.sampled_from([b"x", b"\xc3\xa9", b"&amp;", b"\\u00e9"])) * draw(
                    st.integers(1000, 50_000)) + data[at:]
            case "splice":  # a piece of another reader's document: a JSON line in a feed, a tag in a CSV...
                other = draw(st.sampled_from(list(SAMPLES.values())))
                start = draw(st.integers(0, len(other)))
                data = data[:at] + other[start:start + draw(st.integers(1, 200))] + data[at:]
    return data


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in SAMPLES])
def test_each_valid_sample_is_read(name):
    for variant, data in ((name, SAMPLES[name]), (f"{name}.gz", GZIPPED[f"{name}.gz"])):
        out = _read(data, variant)
        assert out.records and not out.rejects, (variant, out.rejects)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in [*SAMPLES, *GZIPPED]])
@_FAST
@given(data=st.data())
def test_mutated_documents_end_as_records_or_rejects(name, data):
    if name.endswith(".gz"):
        # Either the compressed bytes are damaged, or damaged text is compressed (once or twice).
        inner = SAMPLES[name.removesuffix(".gz")]
        document = data.draw(st.one_of(
            _mutated(GZIPPED[name]),
            _mutated(inner).map(gzip.compress),
            _mutated(inner).map(lambda d: gzip.compress(gzip.compress(d))),
        ))
    else:
        document = data.draw(_mutated(SAMPLES[name]))
    _read(document, name)


@_FAST
@given(document=st.binary(max_size=4096), name=st.sampled_from([*SAMPLES, *GZIPPED, "x.bin", "noext", "feed/"]),
       content_type=st.sampled_from([None, "text/html", "application/rss+xml", "application/json", "text/plain"]))
def test_random_bytes_end_as_records_or_rejects(document, name, content_type):
    _read(document, name, content_type)


@settings(max_examples=30, deadline=None)
@given(document=st.binary(max_size=2048), name=st.binary(min_size=1, max_size=12).filter(
    lambda n: b"/" not in n and b"\0" not in n and n not in (b".", b"..")),
    suffix=st.sampled_from([b".txt", b".jsonl", b".csv", b".xml", b".html", b".json", b""]))
def test_random_files_with_random_names_end_as_records_or_rejects(document, name, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(os.fsencode(folder), b"n" + name + suffix)  # "n": never a hidden file
        with open(path, "wb") as file:
            file.write(document)
        out = Extracted()
        read_file(Path(os.fsdecode(path)), out)
        _checked(out, document)


# --- the failures seen in runs ---------------------------------------------------------------

DEEP = "[" * 1500 + "]" * 1500  # 3 KB, deeper than Python's recursion limit


@pytest.mark.parametrize(
    ("name", "data", "records", "key", "reason"),
    [
        pytest.param("dump.jsonl", f'{{"title": "a"}}\n{DEEP}\n{{"title": "b"}}\n'.encode(), 2, "line 2",
                     "unreadable JSON on line 2: nested too deeply to read (RecursionError)", id="jsonl-line"),
        pytest.param("dump.jsonl", f'{{"title": "a", "author": {DEEP}}}\n'.replace(
            DEEP, "[" * 900 + '"x"' + "]" * 900).encode(), 0, "line 1",
                     "line 1 has unreadable article fields: nested too deeply to read (RecursionError)",
                     id="jsonl-fields"),
        pytest.param("dump.json", f"[{DEEP}]".encode(), 0, "file",
                     "unreadable JSON array: nested too deeply to read (RecursionError)", id="json-array"),
        pytest.param("feed.json", b'{"version": "https://jsonfeed.org/version/1", "items": [' + DEEP.encode() + b"]}",
                     0, "file", "unreadable JSON Feed: nested too deeply to read (RecursionError)", id="json-feed"),
    ],
)
def test_deeply_nested_json_is_quarantined_and_the_run_goes_on(tmp_path, name, data, records, key, reason):
    (tmp_path / name).write_bytes(data)
    out = _checked(extracted_records([tmp_path]), data)
    assert len(out.records) == records
    assert [(r["record_key"], r["reason"]) for r in out.rejects] == [(key, reason)]


def test_a_file_name_that_is_not_utf8_is_read_and_recorded(tmp_path):
    folder = os.fsencode(tmp_path)
    for name, data in [(b"caf\xe9.txt", b"Caf\xc3\xa9 opens\nA body."), (b"caf\xe9.pdf", b"%PDF-1.4")]:
        fd = os.open(os.path.join(folder, name), os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, data)
        os.close(fd)
    out = _checked(extracted_records([tmp_path]), b"")
    assert [r["source_uri"] for r in out.records] == [f"{tmp_path}/caf\\xe9.txt"]
    assert out.records_frame()["payload"].to_list() == ["Caf\u00e9 opens\nA body."]
    assert [r["source_uri"] for r in out.rejects] == [f"{tmp_path}/caf\\xe9.pdf"]
    assert out.rejects[0]["reason"].startswith("unsupported document type (file type '.pdf'")


def test_lone_surrogate_escapes_in_json_are_kept_as_escapes():
    out = _read(b'{"title": "Bad \\ud800 title", "text": "body"}\n[{"x": "\\udfff"}]\n', "dump.jsonl")
    assert out.records[0]["title"] == "Bad \\ud800 title"
    assert out.rejects[0]["payload"] == b'[{"x": "\\udfff"}]'


def _nested_gzip_bomb(size: int) -> bytes:
    """gzip(gzip(`size` zero bytes)), built in 1 MiB steps so the test never holds `size` bytes."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    layer = b"".join(inner.compress(zeros) for _ in range(size >> 20)) + inner.flush()
    return gzip.compress(layer)


def test_gzip_inside_gzip_is_capped_across_layers(tmp_path):
    bomb = _nested_gzip_bomb(MAX_DOCUMENT_BYTES + (32 << 20))
    assert len(bomb) < 4096  # a few KB on disk
    (tmp_path / "feed.xml.gz").write_bytes(bomb)
    out = _checked(extracted_records([tmp_path]), bomb)
    assert [(r["record_key"], r["reason"]) for r in out.rejects] == [
        ("file", "unusable gzip data: it expands to more than 256 MiB")]
    records, rejects = feed_records(bomb, "feeds/bomb")  # the feed reader's own entry point
    assert (records, [r["reason"] for r in rejects]) == ([], ["unusable gzip data: it expands to more than 256 MiB"])


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("dump.jsonl.gz", gzip.compress(gzip.compress(SAMPLES["dump.jsonl"])), id="gzip-twice"),
        pytest.param("dump.jsonl.gz", gzip.compress(b'{"title": "One"}\n') + gzip.compress(b'{"title": "Two"}\n'),
                     id="two-gzip-members"),
    ],
)
def test_honest_layered_gzip_is_read_whole(name, data):
    out = _read(data, name)
    assert [r["title"] for r in out.records] == ["One", "Two"] and out.rejects == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("story.txt", b"Title\n" + b"word " * 220_000, id="text"),
        pytest.param("dump.jsonl", json.dumps({"title": "Long", "text": "word " * 220_000}).encode(), id="jsonl"),
        pytest.param("dump.csv", b'title,text\nLong,"' + b"word " * 220_000 + b'"\n', id="csv"),
        pytest.param("rss.xml", RSS.replace(b"Talks resumed on Saturday.", b"word " * 220_000), id="feed"),
        pytest.param("feed.json", JSON_FEED.replace(b"Body two.", b"word " * 220_000), id="json-feed"),
    ],
)
def test_fields_over_a_million_characters_are_read_not_rejected(name, data):
    out = _read(data, name)
    assert out.rejects == []
    assert max(len(r.get("text") or r["payload"]) for r in out.records) > 1_000_000


# --- HTTP: the total deadline, decoded size --------------------------------------------------

def _serve(respond) -> tuple[str, threading.Event]:
    """A one-connection-at-a-time server on 127.0.0.1 whose `respond(connection, stop)` writes
    the response; returns its URL and the event that stops it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        with listener:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                with connection:
                    connection.recv(65536)  # the request
                    try:
                        respond(connection, stop)
                    except OSError:  # the client hung up
                        pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/feed.xml", stop


@pytest.mark.parametrize(
    ("head", "dripped", "status"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n",
                     RSS[:1000], 200, id="body"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n", b"X-Padding: " + b"x" * 500, 0,
                     id="headers"),
    ],
)
def test_a_server_dripping_its_response_is_cut_off_at_the_deadline(head, dripped, status):
    def respond(connection, stop):
        connection.sendall(head)
        for byte in dripped:  # one byte every 0.5 s: each read is well within the 5 s timeout
            if stop.wait(0.5):
                return
            connection.sendall(bytes([byte]))

    url, stop = _serve(respond)
    try:
        fetched = fetch_url(url, 5.0, 1 << 20, deadline=2.0)
    finally:
        stop.set()
    assert fetched.problem == "no complete response within 2 s (total deadline)"
    assert (fetched.status, fetched.body) == (status, None)


def test_a_server_that_never_answers_is_cut_off_at_the_deadline():
    url, stop = _serve(lambda connection, stop: stop.wait(30))
    try:
        fetched = fetch_url(url, 10.0, 1 << 20, deadline=1.0)
    finally:
        stop.set()
    assert (fetched.status, fetched.problem) == (0, "no complete response within 1 s (total deadline)")


def _answer(headers: bytes, body: bytes):
    def respond(connection, stop):
        connection.sendall(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return respond


@pytest.mark.parametrize(
    ("headers", "body", "problem"),
    [
        pytest.param(b"Content-Encoding: gzip\r\n", gzip.compress(RSS), None, id="gzip"),
        pytest.param(b"Content-Encoding: deflate\r\n", zlib.compress(RSS), None, id="deflate"),
        pytest.param(b"Content-Encoding: gzip\r\n", gzip.compress(bytes(3 << 20)),
                     "response expands beyond the 1 MiB cap once its Content-Encoding 'gzip' is undone; "
                     "raise NEWSFLOW_HTTP_MAX_BYTES", id="gzip-over-cap"),
        pytest.param(b"Content-Encoding: gzip, gzip\r\n", _nested_gzip_bomb(64 << 20),
                     "response expands beyond the 1 MiB cap once its Content-Encoding 'gzip, gzip' is undone; "
                     "raise NEWSFLOW_HTTP_MAX_BYTES", id="gzip-twice-bomb"),
        pytest.param(b"Content-Encoding: gzip\r\n", gzip.compress(RSS)[:50],
                     "undecodable response body (Content-Encoding 'gzip'): the compressed stream ends early",
                     id="truncated-gzip"),
        pytest.param(b"Content-Encoding: br\r\n", b"\x8b\x02\x80hello\x03", "undecodable response body "
                     "(Content-Encoding 'br'): Content-Encoding 'br' is not supported (only gzip and deflate)",
                     id="brotli-not-asked-for"),
    ],
)
def test_the_size_cap_applies_to_decoded_bytes(headers, body, problem):
    url, stop = _serve(_answer(b"Content-Type: application/rss+xml\r\n" + headers, body))
    try:
        fetched = fetch_url(url, 5.0, 1 << 20)
    finally:
        stop.set()
    assert fetched.problem == problem
    if problem is None:
        assert fetched.body == RSS
