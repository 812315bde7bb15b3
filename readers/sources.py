"""Reading input files into raw records; what cannot be read becomes a quarantine row."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl
from charset_normalizer import from_bytes

from readers.compression import GZIP_MAGIC, MAX_DOCUMENT_BYTES, gunzipped
from readers.feeds import feed_records
from schemas import RAW_RECORDS
from transforms.html import page_fields
from transforms.parse import record_fields

TEXT_SUFFIXES = {".txt", ".text"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}
PAGE_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSON_LINES_SUFFIXES | CSV_SUFFIXES | FEED_SUFFIXES | PAGE_SUFFIXES

# A NUL byte in the first block is the usual test for "this is not text" (git and grep use it).
_SNIFF_BYTES = 8192
# A record's raw payload (its JSON line, CSV row, feed item or file) may be this many times its
# text's cap (setting max_text_chars) before it is quarantined unread: markup and escapes make a
# payload longer than its text; texts between the two caps are quarantined by the normalize stage.
RECORD_CHARS_PER_TEXT_CHAR = 4
QUARANTINED_PREFIX_CHARS = 1 << 20


@dataclass
class Extracted:
    """What the extract stage read: raw records, and the rejects with their reasons."""

    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    # The run's start (ISO date): page dates after it are not believed. None: no bound.
    as_of: str | None = None
    # A record whose raw payload is longer than this many characters is quarantined here, before
    # its copies (text, payload, hashes) fill memory: a 200 MB line took a run to 4.4 GB. None: no cap.
    max_record_chars: int | None = None

    def add_record(self, source_uri: str, record_key: str, fmt: str, payload: str, **fields) -> None:
        if self.too_long(source_uri, record_key, payload):
            return
        self.records.append(_storable({"source_uri": source_uri, "record_key": record_key, "format": fmt,
                                       "payload": payload, **fields}))

    def too_long(self, source_uri: str, record_key: str, payload: str | None) -> bool:
        """Quarantine the record if its payload is over `max_record_chars` (keeping the payload's
        first QUARANTINED_PREFIX_CHARS characters: the whole record stays in its source)."""
        if self.max_record_chars is None or payload is None or len(payload) <= self.max_record_chars:
            return False
        self.reject(source_uri, record_key,
                    f"record of {len(payload)} characters is over the cap of {self.max_record_chars} (setting "
                    f"max_text_chars x {RECORD_CHARS_PER_TEXT_CHAR}); the payload kept here is its first "
                    f"{QUARANTINED_PREFIX_CHARS} characters", payload[:QUARANTINED_PREFIX_CHARS])
        return True

    def reject(self, source_uri: str, record_key: str, reason: str, payload: bytes | str | None) -> None:
        self.rejects.append(_storable({"source_uri": source_uri, "record_key": record_key, "stage": "extract",
                                       "reason": reason, "payload": payload}))

    def records_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.records, schema=RAW_RECORDS)


def input_files(inputs: list[Path]) -> list[Path]:
    """Every file named by `inputs`, directories walked recursively, hidden files skipped, sorted."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


def _decoded(data: bytes) -> tuple[str | None, str | None]:
    """The text of `data`, or the reason it is not text."""
    if not data.strip():
        return None, "empty file: no article to read"
    if b"\x00" in data[:_SNIFF_BYTES]:
        return None, "binary file (NUL bytes in the first block): not a text, JSON Lines or CSV article file"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        bad = data[err.start:err.start + 1].hex()
        return None, (
            f"not valid UTF-8: byte 0x{bad} at offset {err.start} ({err.reason}); "
            "re-encode the file as UTF-8"
        )


def _read_json_lines(uri: str, text: str, out: Extracted, is_json_file: bool) -> None:
    stripped = text.lstrip()
    if is_json_file and stripped.startswith("["):
        # A .json file holding one array of article objects.
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as err:
            out.reject(uri, "file", f"malformed JSON array: {err.msg} at line {err.lineno} column {err.colno}", text)
            return
        except Exception as err:  # noqa: BLE001 -- e.g. RecursionError: the file is quarantined, the run goes on
            out.reject(uri, "file", f"unreadable JSON array: {_error(err)}", text)
            return
        if not items:
            out.reject(uri, "file", "empty JSON array: no article to read", text)
        for position, item in enumerate(items, 1):
            key = f"item {position}"
            try:
                raw = json.dumps(item, ensure_ascii=False)
            except Exception as err:  # noqa: BLE001 -- one item is quarantined, the others are read
                out.reject(uri, key, f"{key} cannot be written back as JSON: {_error(err)}", None)
                continue
            _add_json_item(uri, key, raw, item, out)
        return
    # JSON Lines are separated by "\n" alone: str.splitlines() would also split inside a string at
    # U+2028, U+2029 or U+0085, which JSON allows unescaped.
    for _ in _json_lines(uri, text.split("\n"), out, lambda: text):
        pass


def _json_lines(uri: str, lines: Iterable[str], out: Extracted, whole: Callable[[], str]) -> Iterator[None]:
    """Add the records of JSON Lines `lines` (each without its "\n") to `out`, yielding before each
    line; `whole()` is the document's text, the payload of a blank file's reject."""
    content = False
    for number, line in enumerate(lines, 1):
        yield
        if not line.strip():  # e.g. only U+2028 or NBSP: blank to str.strip, not to bytes.strip
            continue
        content = True
        key = f"line {number}"
        if out.too_long(uri, key, line):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            out.reject(uri, key, f"malformed JSON on line {number}: {err.msg} (column {err.colno})", line)
            continue
        except Exception as err:  # noqa: BLE001 -- e.g. RecursionError: one line is quarantined, the run goes on
            out.reject(uri, key, f"unreadable JSON on line {number}: {_error(err)}", line)
            continue
        _add_json_item(uri, key, line.removesuffix("\r"), item, out)
    if not content:
        out.reject(uri, "file", "blank file: no JSON line to read", whole())


def _add_json_item(uri: str, key: str, raw: str, item, out: Extracted) -> None:
    if not isinstance(item, dict):
        out.reject(uri, key, f"{key} is a JSON {type(item).__name__}, not an object with article fields", raw)
        return
    try:
        fields = record_fields(item)
    except Exception as err:  # noqa: BLE001 -- one record is quarantined, the others are read
        out.reject(uri, key, f"{key} has unreadable article fields: {_error(err)}", raw)
        return
    out.add_record(uri, key, "jsonl", raw, **fields)


def _read_csv(uri: str, text: str, out: Extracted) -> None:
    for _ in _csv_rows(uri, io.StringIO(text, newline=""), out, lambda: text):
        pass


def _csv_rows(uri: str, lines: Iterable[str], out: Extracted, whole: Callable[[], str]) -> Iterator[None]:
    """Add the records of the CSV document `lines` (read with newline="") to `out`, yielding before
    each row; `whole()` is the document's text, the payload of a reject of the whole file."""
    # Python's default limit is 128 KiB per field; an article body may be longer, and a later stage
    # reads long texts in pieces. Every field sits in the document, itself capped in size.
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(lines)
    try:
        if not reader.fieldnames:
            out.reject(uri, "file", "CSV file has no header row", whole())
            return
        number = 0
        for number, row in enumerate(reader, 1):
            yield
            key = f"row {number}"
            try:
                raw = json.dumps(row, ensure_ascii=False)
                if None in row:
                    out.reject(uri, key, f"row {number} has more fields than the header's {len(reader.fieldnames)}",
                               raw)
                    continue
                fields = record_fields(row)
            except Exception as err:  # noqa: BLE001 -- one row is quarantined, the others are read
                out.reject(uri, key, f"row {number} is unreadable: {_error(err)}", None)
                continue
            out.add_record(uri, key, "csv", raw, **fields)
        if number == 0:
            out.reject(uri, "file", "CSV file has a header row but no rows: no article to read", whole())
    except csv.Error as err:
        out.reject(uri, f"row {reader.line_num}", f"malformed CSV at line {reader.line_num}: {err}", whole())


def _sniffed_kind(data: bytes, content_type: str | None) -> str | None:
    """'feed', 'page' or 'jsonfeed' from a media type or the document's first bytes."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media.endswith(("rss+xml", "atom+xml", "rdf+xml")) or media in ("application/xml", "text/xml"):
        return "feed"
    if media in ("text/html", "application/xhtml+xml"):
        return "page"
    if media in ("application/feed+json", "application/json"):
        return "jsonfeed"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or (head.startswith(b"<?xml") and b"<html" in head):
        return "page"
    if head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf:rdf")):
        return "feed"
    if head.startswith(b"{") and b"jsonfeed.org" in head:
        return "jsonfeed"
    return None


def _looks_like_feed_url(name: str) -> bool:
    return re.search(r"/(?:feeds?|rss|atom)(?:/|\.|$)|[?&]feed=", name.lower()) is not None


def read_document(data: bytes, uri: str, name: str, out: Extracted, content_type: str | None = None,
                  base_url: str | None = None) -> None:
    """Add the records of one document (a file's or an HTTP response's bytes) to `out`, or its
    reasons for rejection. `name` (file name or URL path) and `content_type` decide the reader.
    Never raises: a failure that belongs to no one record quarantines the whole document (key
    "file") and takes back whatever of it had been added."""
    records, rejects = len(out.records), len(out.rejects)
    try:
        _read_document(data, uri, name, out, content_type, base_url)
    except Exception as err:  # noqa: BLE001 -- the extract stage quarantines a document, it never stops on one
        del out.records[records:], out.rejects[rejects:]
        out.reject(uri, "file", f"unreadable document: {_error(err)}", data)


def _read_document(data: bytes, uri: str, name: str, out: Extracted, content_type: str | None,
                   base_url: str | None) -> None:
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzipped(data, MAX_DOCUMENT_BYTES)
        except (EOFError, zlib.error, ValueError) as err:
            out.reject(uri, "file", f"unusable gzip data: {err}", data)
            return
        name = name[:-3] if name.lower().endswith(".gz") else name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".json" or suffix not in SUPPORTED_SUFFIXES:
        sniffed = _sniffed_kind(data, content_type)
        if sniffed == "page" and _looks_like_feed_url(name):
            sniffed = "feed"  # a feed address answering with HTML is a broken feed, not an article
        if sniffed is None and suffix not in SUPPORTED_SUFFIXES:
            out.reject(uri, "file", f"unsupported document type (file type '{suffix or '(none)'}', media type "
                                    f"'{content_type or 'unknown'}'): expected a feed, a web page, or one of "
                                    f"{', '.join(sorted(SUPPORTED_SUFFIXES))} (each optionally .gz)", data)
            return
        kind = sniffed or "jsonl"
    elif suffix in FEED_SUFFIXES:
        kind = "feed"
    elif suffix in PAGE_SUFFIXES:
        kind = "page"
    else:
        kind = suffix
    if kind in ("feed", "jsonfeed"):
        records, rejects = feed_records(data, uri, base_url)
        out.records.extend(_storable(r) for r in records if not out.too_long(r["source_uri"], r["record_key"],
                                                                              r["payload"]))
        out.rejects.extend(map(_storable, rejects))
        return
    if kind == "page":
        _read_page(data, uri, base_url, out)
        return
    text, problem = _decoded(data)
    if text is None:
        out.reject(uri, "file", problem, data)
    elif kind in TEXT_SUFFIXES:
        out.add_record(uri, "file", "text", text)
    elif kind in JSON_LINES_SUFFIXES or kind == "jsonl":
        _read_json_lines(uri, text, out, is_json_file=suffix == ".json")
    else:
        _read_csv(uri, text, out)


def _read_page(data: bytes, uri: str, base_url: str | None, out: Extracted) -> None:
    html = data.decode("utf-8") if _is_utf8(data) else str(from_bytes(data).best() or data.decode("latin-1"))
    try:
        fields = page_fields(html, base_url or (uri if "://" in uri else None), max_date=out.as_of)
    except Exception as err:  # noqa: BLE001 -- e.g. markup nested too deeply for the extractor
        out.reject(uri, "page", f"unreadable web page: {_error(err)}", data)
        return
    if not (fields.get("title") or fields.get("text")):
        out.reject(uri, "page", "no article found in the page: it has neither a title nor main text", data)
        return
    out.add_record(uri, "page", "page", html, id=None, url=fields.get("url"), title=fields.get("title"),
                   text=fields.get("text") or "", source_name=fields.get("source_name"), feed_name=None,
                   author=fields.get("author"), published=fields.get("published"), updated=None, categories=[])


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_file(path: Path, out: Extracted) -> None:
    """Add the records of one file to `out`, or its reasons for rejection. Never raises."""
    uri = _path_text(path)
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            with path.open("rb") as head:
                out.reject(uri, "file", f"file of {size} bytes is over the {MAX_DOCUMENT_BYTES >> 20} MiB cap for one "
                                        f"document; the payload kept here is its first {QUARANTINED_PREFIX_CHARS} "
                                        "bytes", head.read(QUARANTINED_PREFIX_CHARS))
            return
        data = path.read_bytes()
    except OSError as err:
        out.reject(uri, "file", f"cannot read file: {err.strerror or err}", None)
        return
    except Exception as err:  # noqa: BLE001 -- e.g. MemoryError: the file is quarantined, the run goes on
        out.reject(uri, "file", f"cannot read file: {_error(err)}", None)
        return
    if not data.strip():
        out.reject(uri, "file", "empty file: no article to read", data)
        return
    read_document(data, uri, _path_text(path.name), out)


def extracted_records(inputs: list[Path], as_of: str | None = None, max_record_chars: int | None = None) -> Extracted:
    """Raw records and rejects of every file named by `inputs`, all held (a run reads them in
    chunks instead: `RecordChunks`)."""
    out = Extracted(as_of=as_of, max_record_chars=max_record_chars)
    for kind, row in _read_rows(input_files(inputs), Extracted(as_of=as_of, max_record_chars=max_record_chars)):
        (out.records if kind == "record" else out.rejects).append(row)
    return out


@dataclass
class ExtractedChunk:
    """Up to a chunk's size of raw records (`index` of a run's chunks, from 0), in reading order, and
    the rejects read with them (after the previous chunk's last record, up to the next chunk's first)."""

    index: int
    records: list[dict]
    rejects: list[dict]
    is_last: bool
    # The run's number of chunks as far as can be told: exact once the last chunk is read, else
    # estimated from the input bytes read so far.
    chunks: int

    def records_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.records, schema=RAW_RECORDS)


class RecordChunks:
    """The raw records of the files named by `inputs`, then those of `fetched` (the documents a run
    fetched), in chunks of `size` records, read as they are needed: a CSV or JSON Lines file row by
    row, any other file whole, one at a time. The same records and rejects, in the same order, as
    `extracted_records` (then `fetched`'s), so a run's memory holds one chunk of its input, not all.

    A CSV or JSON Lines file is checked whole first (not gzip, not empty, no NUL in its first block,
    valid UTF-8: what rejects a whole file), reading it once in blocks; a file that fails is read
    whole, as `read_file` reads it, and gets the same reject. One difference: an error that belongs
    to no row in the middle of a streamed file (none is known: every row's errors are caught, e.g.
    the file vanished) rejects the file as "unreadable document" but keeps the rows before it, which
    may be in an earlier chunk already, where `read_file` would take them back."""

    def __init__(self, inputs: list[Path], size: int, as_of: str | None = None, max_record_chars: int | None = None,
                 fetched: Extracted | None = None):
        self.size = max(1, size)
        self.files = input_files(inputs)
        self.fetched = fetched or Extracted()
        self._out = Extracted(as_of=as_of, max_record_chars=max_record_chars)
        self._rows = _read_rows(self.files, self._out, self.fetched, self._progress)
        self._total_bytes = sum(_size(path) for path in self.files)
        self._bytes_read = 0
        self._records_read = 0
        self._ahead: dict | None = None  # the next chunk's first record, read to know this one is the last
        self._index = 0
        self._done = False

    def _progress(self, read: int) -> None:
        self._bytes_read += read

    def __iter__(self) -> Iterator[ExtractedChunk]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    def next_chunk(self) -> ExtractedChunk | None:
        """The next chunk; None after the last. There is always one chunk, empty when there is
        nothing to read."""
        if self._done:
            return None
        records, rejects = ([self._ahead] if self._ahead is not None else []), []
        self._ahead = None
        for kind, row in self._rows:
            if kind == "reject":
                rejects.append(row)
            elif len(records) < self.size:
                records.append(row)
            else:
                self._ahead = row
                break
        else:
            self._done = True
        self._records_read += len(records)
        chunk = ExtractedChunk(self._index, records, rejects, self._done, self._chunks())
        self._index += 1
        return chunk

    def _chunks(self) -> int:
        done = self._index + 1
        if self._done:
            return done
        files_left = max(0, self._total_bytes - self._bytes_read)
        per_byte = self._records_read / self._bytes_read if self._bytes_read else 0
        left = files_left * per_byte + len(self.fetched.records) + 1  # + 1: the record read ahead
        return done + max(1, -(-int(left) // self.size))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# Files read row by row (when `_streamable`); every other file is read whole.
_STREAMED_SUFFIXES = {".csv", ".jsonl", ".ndjson"}
_CHECK_BLOCK_BYTES = 1 << 20


def _read_rows(files: list[Path], out: Extracted, then: Extracted | None = None,
               progress: Callable[[int], None] = lambda read: None) -> Iterator[tuple[str, dict]]:
    """("record", raw record) and ("reject", quarantine row) of `files` in reading order, then
    `then`'s records and rejects; `out` (empty) is the reading buffer, drained as rows come.
    `progress` is told the bytes of the files read so far (roughly, as they are read)."""
    for path in files:
        for _ in _file_rows(path, out, progress):
            yield from (("record", r) for r in out.records)
            yield from (("reject", r) for r in out.rejects)
            out.records.clear()
            out.rejects.clear()
    if then is not None:
        yield from (("record", r) for r in then.records)
        yield from (("reject", r) for r in then.rejects)


def _file_rows(path: Path, out: Extracted, progress: Callable[[int], None]) -> Iterator[None]:
    """Add the records of one file to `out`, or its reasons for rejection, yielding whenever `out`
    may be drained. Never raises."""
    kind = _streamable(path)
    if kind is None:
        read_file(path, out)
        progress(_size(path))
        yield
        return
    uri = _path_text(path)

    def whole() -> str:
        return path.read_bytes().decode("utf-8-sig")

    def counted(lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            progress(len(line))  # characters for bytes: an estimate is all it is for
            yield line

    try:
        with path.open(encoding="utf-8-sig", newline="" if kind == ".csv" else "\n") as text:
            if kind == ".csv":
                yield from _csv_rows(uri, counted(text), out, whole)
            else:
                yield from _json_lines(uri, (line.removesuffix("\n") for line in counted(text)), out, whole)
    except Exception as err:  # noqa: BLE001 -- see RecordChunks: the file is quarantined, the run goes on
        try:
            payload = path.read_bytes()
        except OSError:
            payload = None
        out.reject(uri, "file", f"unreadable document: {_error(err)}", payload)
    yield


def _streamable(path: Path) -> str | None:
    """The suffix of a CSV or JSON Lines file (by its name, as `read_document` picks the reader)
    that passes the checks that would reject it whole, reading it in blocks; None for any other."""
    suffix = PurePosixPath(_path_text(path.name)).suffix.lower()
    if suffix not in _STREAMED_SUFFIXES:
        return None
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            return None
        decoder = codecs.getincrementaldecoder("utf-8")()
        has_content = False
        with path.open("rb") as file:
            block = file.read(_SNIFF_BYTES)
            if block[:2] == GZIP_MAGIC or b"\x00" in block:
                return None
            while block:
                decoder.decode(block)
                has_content = has_content or bool(block.strip())
                block = file.read(_CHECK_BLOCK_BYTES)
            decoder.decode(b"", final=True)
    except (OSError, UnicodeDecodeError):
        return None
    return suffix if has_content else None


def _path_text(path: Path | str) -> str:
    """`path` as a storable string: the bytes of a name that is not UTF-8 as backslash escapes
    (b"caf\\xe9.txt" -> "caf\\\\xe9.txt"), as Python holds them as lone surrogates no encoder takes."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from the file system
        return _storable_text(str(path))


def _storable(row: dict) -> dict:
    """`row` with every string valid Unicode, so Polars and Parquet take it, and a str payload as bytes."""
    clean = {}
    for name, value in row.items():
        if isinstance(value, str):
            value = _storable_text(value)
        elif isinstance(value, list):
            value = [_storable_text(v) if isinstance(v, str) else v for v in value]
        clean[name] = value
    if row.get("stage") is not None:  # a reject: its payload is bytes (the binary column of the quarantine)
        payload = row.get("payload")
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "backslashreplace")
        elif payload is not None and not isinstance(payload, bytes):
            try:
                payload = bytes(payload)
            except (TypeError, ValueError):
                payload = None
        clean["payload"] = payload
    return clean


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable_text(text: str) -> str:
    # A JSON "\\ud800" escape decodes to a lone surrogate, which no UTF-8 encoder takes: written
    # back as the same escape.
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply to read (RecursionError)"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
