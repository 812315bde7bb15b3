"""Reading input files into raw records; what cannot be read becomes a quarantine row."""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl
from charset_normalizer import from_bytes

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

MAX_DOCUMENT_BYTES = 256 << 20

# A NUL byte in the first block is the usual test for "this is not text" (git and grep use it).
_SNIFF_BYTES = 8192


@dataclass
class Extracted:
    """What the extract stage read: raw records, and the rejects with their reasons."""

    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    # The run's start (ISO date): page dates after it are not believed. None: no bound.
    as_of: str | None = None

    def add_record(self, source_uri: str, record_key: str, fmt: str, payload: str, **fields) -> None:
        self.records.append({"source_uri": source_uri, "record_key": record_key, "format": fmt,
                             "payload": payload, **fields})

    def reject(self, source_uri: str, record_key: str, reason: str, payload: bytes | str | None) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        self.rejects.append({"source_uri": source_uri, "record_key": record_key, "stage": "extract",
                             "reason": reason, "payload": payload})

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
        lines = [(f"item {i}", json.dumps(item, ensure_ascii=False), item) for i, item in enumerate(items, 1)]
    else:
        lines = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append((f"line {number}", line, json.loads(line)))
            except json.JSONDecodeError as err:
                out.reject(uri, f"line {number}", f"malformed JSON on line {number}: {err.msg} (column {err.colno})",
                           line)
    for key, raw, item in lines:
        if not isinstance(item, dict):
            out.reject(uri, key, f"{key} is a JSON {type(item).__name__}, not an object with article fields", raw)
            continue
        out.add_record(uri, key, "jsonl", raw, **record_fields(item))


def _read_csv(uri: str, text: str, out: Extracted) -> None:
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        out.reject(uri, "file", "CSV file has no header row", text)
        return
    try:
        for number, row in enumerate(reader, 1):
            raw = json.dumps(row, ensure_ascii=False)
            if None in row:
                out.reject(uri, f"row {number}",
                           f"row {number} has more fields than the header's {len(reader.fieldnames)}", raw)
                continue
            out.add_record(uri, f"row {number}", "csv", raw, **record_fields(row))
    except csv.Error as err:
        out.reject(uri, f"row {reader.line_num}", f"malformed CSV at line {reader.line_num}: {err}", text)


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


def _gunzipped(data: bytes) -> bytes:
    # Bounded, so a small compressed "bomb" cannot expand into all of memory.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inflated = inflater.decompress(data, MAX_DOCUMENT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"it expands to more than {MAX_DOCUMENT_BYTES >> 20} MiB")
    if not inflater.eof:
        raise EOFError("the compressed stream ends early")
    return inflated


def _looks_like_feed_url(name: str) -> bool:
    return re.search(r"/(?:feeds?|rss|atom)(?:/|\.|$)|[?&]feed=", name.lower()) is not None


def read_document(data: bytes, uri: str, name: str, out: Extracted, content_type: str | None = None,
                  base_url: str | None = None) -> None:
    """Add the records of one document (a file's or an HTTP response's bytes) to `out`, or its
    reasons for rejection. `name` (file name or URL path) and `content_type` decide the reader."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = _gunzipped(data)
        except (OSError, EOFError, zlib.error, ValueError) as err:
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
        out.records.extend(records)
        out.rejects.extend(rejects)
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
    fields = page_fields(html, base_url or (uri if "://" in uri else None), max_date=out.as_of)
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
    """Add the records of one file to `out`, or its reasons for rejection."""
    try:
        data = path.read_bytes()
    except OSError as err:
        out.reject(str(path), "file", f"cannot read file: {err.strerror}", None)
        return
    if not data.strip():
        out.reject(str(path), "file", "empty file: no article to read", data)
        return
    read_document(data, str(path), path.name, out)


def extracted_records(inputs: list[Path], as_of: str | None = None) -> Extracted:
    """Raw records and rejects of every file named by `inputs`."""
    out = Extracted(as_of=as_of)
    for path in input_files(inputs):
        read_file(path, out)
    return out
