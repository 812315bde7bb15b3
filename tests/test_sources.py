"""Reading input files: good records, and every kind of bad file quarantined with a reason."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import PurePath

import polars as pl
import pytest

from readers.sources import extracted_records, input_files
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
        pytest.param("items.json", b"[]", "file", r"^empty JSON array: no article to read$", id="empty-json-array"),
        pytest.param("dump.csv", b"title,text\n\n", "file", r"^CSV file has a header row but no rows",
                     id="csv-header-only"),
        pytest.param("dump.jsonl", "\u2028\n\u00a0\n".encode(), "file", r"^blank file: no JSON line to read$",
                     id="unicode-blank-lines"),
        pytest.param("dump.jsonl", b'{"title": 1' + b"0" * 5000 + b"}\n", "line 1",
                     r"^unreadable JSON on line 1: ValueError: Exceeds the limit", id="json-int-too-long"),
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


def test_a_json_line_may_hold_unicode_line_separators(tmp_path):
    path = _write(tmp_path, "dump.jsonl", '{"title": "One\u2028Two", "text": "a\u0085b"}\n'.encode())
    out = extracted_records([path])
    assert [(r["record_key"], r["title"]) for r in out.records] == [("line 1", "One\u2028Two")]


def test_a_json_array_file_is_read_item_by_item(tmp_path):
    path = _write(tmp_path, "items.json", json.dumps([{"title": "A", "text": "a"}, {"title": "B"}]).encode())
    out = extracted_records([path])
    assert [(r["record_key"], r["title"]) for r in out.records] == [("item 1", "A"), ("item 2", "B")]


def test_a_gzip_bomb_is_rejected_not_expanded(tmp_path):
    import gzip

    from readers.sources import MAX_DOCUMENT_BYTES

    bomb = _write(tmp_path, "feed.xml.gz", gzip.compress(b"<rss>" + b" " * (MAX_DOCUMENT_BYTES + 1)))
    out = extracted_records([bomb])
    assert out.records == []
    assert out.rejects[0]["reason"] == "unusable gzip data: it expands to more than 256 MiB"


def test_a_text_file_with_a_wrong_encoding_from_the_bbc_corpus_is_quarantined():
    path = shared_data("bbc-raw", "sport", "199.txt")
    out = extracted_records([path])
    assert out.records == []
    assert re.match(r"not valid UTF-8: byte 0x[0-9a-f]{2} at offset \d+", out.rejects[0]["reason"])


def test_yoast_feeds_load_without_the_footer():
    feeds = shared_data("feeds")
    manifest = pl.read_csv(feeds / "fastfeedparser_benchmark_manifest.csv")
    column = next(c for c in manifest.columns if "appeared" in c)
    names = manifest.filter(pl.col(column) > 0)[manifest.columns[0]].to_list()
    assert len(names) == 11
    paths = [next(feeds.rglob(f"{PurePath(name).name}*")) for name in names]
    out = extracted_records(paths)
    assert out.rejects == []
    assert sum("appeared first on" in (r["text"] or "") for r in out.records) > 100
    articles = articles_from_records(out.records_frame().lazy(), datetime(2026, 1, 1, tzinfo=timezone.utc)).collect()
    assert articles.height > 150
    assert not articles["text"].str.contains("appeared first on").any()
    assert articles.filter(pl.col("source_uri").str.contains("boston-com"))["source_name"].unique().to_list() == [
        "Boston.com"]


def test_every_feed_of_the_folder_is_read_or_quarantined_with_a_reason():
    out = extracted_records([shared_data("feeds")])
    by_file: dict[str, int] = {}
    for record in out.records:
        by_file[record["source_uri"]] = by_file.get(record["source_uri"], 0) + 1
    feeds = [p for p in shared_data("feeds").rglob("*") if p.is_file() and p.suffix not in (".md", ".csv")]
    assert len(feeds) == 96
    assert all(str(p) in by_file for p in feeds)  # every feed yields items (broken ones are recovered)
    assert all(r["reason"] for r in out.rejects)
    # items of the three folders: 1,807 + 100 + 191
    assert sum(by_file[str(p)] for p in feeds) == 2098


def test_every_evaluation_page_yields_an_article():
    html = shared_data("html-dev", "html")
    out = extracted_records([html], as_of="2026-01-01")
    pages = sorted(html.rglob("*.htm*"))
    assert len(out.records) + len(out.rejects) == len(pages) == 159
    assert len(out.records) >= 155
    assert all(r["format"] == "page" and (r["title"] or r["text"]) for r in out.records)


def test_gzipped_files_are_read_by_their_inner_type_and_fake_gzip_is_rejected(tmp_path):
    import gzip

    _write(tmp_path, "dump.jsonl.gz", gzip.compress(b'{"title": "Zipped", "text": "body"}\n'))
    _write(tmp_path, "fake.csv.gz", b"title,text\nA,B\n")
    out = extracted_records([tmp_path])
    assert [(r["record_key"], r["title"]) for r in out.records] == [("line 1", "Zipped")]
    assert [r["source_uri"].rsplit("/", 1)[1] for r in out.rejects] == ["fake.csv.gz"]
    assert out.rejects[0]["reason"].startswith("unsupported document type (file type '.gz'")


def test_a_record_over_the_record_cap_is_quarantined_unread_with_the_start_of_its_payload(tmp_path):
    from readers.sources import QUARANTINED_PREFIX_CHARS, extracted_records

    body = "word " * 300_000
    (tmp_path / "dump.jsonl").write_text(
        json.dumps({"title": "Huge", "text": body}) + "\n" + json.dumps({"title": "Fine", "text": "ok"}) + "\n")
    out = extracted_records([tmp_path], max_record_chars=1_000_000)
    assert [r["title"] for r in out.records] == ["Fine"]
    (reject,) = out.rejects
    assert reject["record_key"] == "line 1"
    assert reject["reason"].startswith("record of 1500029 characters is over the cap of 1000000 (setting max_text_chars")
    assert len(reject["payload"]) == QUARANTINED_PREFIX_CHARS
