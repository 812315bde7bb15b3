"""Reading input files: good records, and every kind of bad file quarantined with a reason."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import polars as pl
import pytest

from flows.sources import extracted_records, input_files
from tests.conftest import SEED_FILE, shared_data
from transforms.normalize import articles_from_records


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "record_key", "reason"),
    [
        pytest.param("empty.txt", b"", "file", r"^empty file", id="empty"),
        pytest.param("blank.jsonl", b"\n  \n", "file", r"^empty file", id="whitespace-only"),
        pytest.param("bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "file", r"^binary file", id="binary"),
        pytest.param("latin1.txt", "Caf\u00e9 news\nbody".encode("latin-1"), "file",
                     r"^not valid UTF-8: byte 0xe9 at offset 3", id="undecodable"),
        pytest.param("dump.jsonl", b'{"title": "ok", "text": "fine"}\n{"title": broken}\n', "line 2",
                     r"^malformed JSON on line 2: Expecting value", id="malformed-json-line"),
        pytest.param("dump.jsonl", b'[1, 2]\n', "line 1", r"JSON list, not an object", id="json-not-object"),
        pytest.param("dump.csv", b'title,text\nA,B\nC,D,E\n', "row 2", r"more fields than the header", id="csv-extra"),
        pytest.param("notes.pdf", b"%PDF-1.4", "file", r"^unsupported document type \(file type '\.pdf'", id="unsupported"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(tmp_path, name, data, record_key, reason):
    out = extracted_records([_write(tmp_path, name, data)])
    assert len(out.rejects) == 1
    reject = out.rejects[0]
    assert reject["record_key"] == record_key
    assert reject["stage"] == "extract"
    assert reject["source_uri"] == str(tmp_path / name)
    assert reject["payload"] is not None
    assert re.search(reason, reject["reason"]), reject["reason"]


def test_good_records_survive_beside_bad_ones(tmp_path):
    _write(tmp_path, "a.jsonl", b'{"title": "One", "body": "x"}\nnot json\n{"headline": "Two", "content": "y"}\n')
    _write(tmp_path, "b.csv", b'title,text,url\n"Three","multi\nline","http://x.com/3"\n')
    _write(tmp_path, "c.txt", SEED_FILE.read_bytes())
    _write(tmp_path, "d.txt", b"")
    out = extracted_records([tmp_path])
    assert [(r["record_key"], r.get("title")) for r in out.records] == [
        ("line 1", "One"), ("line 3", "Two"), ("row 1", "Three"), ("file", None)]
    assert out.records[2]["text"] == "multi\nline"
    assert sorted(r["record_key"] for r in out.rejects) == ["file", "line 2"]


def test_directories_are_walked_recursively_skipping_hidden_files(tmp_path):
    (tmp_path / "sub" / ".git").mkdir(parents=True)
    for name in ["sub/b.txt", "a.txt", "sub/.git/x.txt", ".hidden.txt"]:
        (tmp_path / name).write_text("t")
    assert [p.relative_to(tmp_path).as_posix() for p in input_files([tmp_path])] == ["a.txt", "sub/b.txt"]


def test_every_corpus_file_loads():
    corpus = shared_data("corpus")
    out = extracted_records([corpus])
    assert out.rejects == []
    articles = articles_from_records(out.records_frame().lazy(),
                                   datetime(2026, 1, 1, tzinfo=timezone.utc)).collect()
    assert articles.height == 2520
    assert articles.filter(pl.col("reject_reason").is_not_null()).height == 0
    wikinews = articles.filter(pl.col("url").is_not_null())
    assert wikinews.height == 295
    assert wikinews["published_at"].null_count() == 0
    assert not wikinews["url"].str.contains("//wiki/").any()


def test_a_json_array_file_is_read_item_by_item(tmp_path):
    path = _write(tmp_path, "items.json", json.dumps([{"title": "A", "text": "a"}, {"title": "B"}]).encode())
    out = extracted_records([path])
    assert [(r["record_key"], r["title"]) for r in out.records] == [("item 1", "A"), ("item 2", "B")]
