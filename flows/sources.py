"""Reading input files into raw records; what cannot be read becomes a quarantine row."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schemas import RAW_RECORDS
from transforms.parse import record_fields

TEXT_SUFFIXES = {".txt", ".text"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSON_LINES_SUFFIXES | CSV_SUFFIXES

# A NUL byte in the first block is the usual test for "this is not text" (git and grep use it).
_SNIFF_BYTES = 8192


@dataclass
class Extracted:
    """What the extract stage read: raw records, and the rejects with their reasons."""

    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

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


def read_file(path: Path, out: Extracted) -> None:
    """Add the records of one file to `out`, or its reasons for rejection."""
    uri = str(path)
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as err:
        out.reject(uri, "file", f"cannot read file: {err.strerror}", None)
        return
    if suffix not in SUPPORTED_SUFFIXES:
        out.reject(uri, "file", f"unsupported file type '{suffix or '(none)'}': expected one of "
                                f"{', '.join(sorted(SUPPORTED_SUFFIXES))}", data)
        return
    text, problem = _decoded(data)
    if text is None:
        out.reject(uri, "file", problem, data)
    elif suffix in TEXT_SUFFIXES:
        out.add_record(uri, "file", "text", text)
    elif suffix in JSON_LINES_SUFFIXES:
        _read_json_lines(uri, text, out, is_json_file=suffix == ".json")
    else:
        _read_csv(uri, text, out)


def extracted_records(inputs: list[Path]) -> Extracted:
    """Raw records and rejects of every file named by `inputs`."""
    out = Extracted()
    for path in input_files(inputs):
        read_file(path, out)
    return out
