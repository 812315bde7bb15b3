"""Reading a run's input a chunk at a time (readers.sources.RecordChunks): the same records and
rejects in the same order as reading it all at once, cut into chunks of the run's size, each file
read as its records are needed."""

from __future__ import annotations

import gzip
import json

import pytest

from readers.sources import Extracted, RecordChunks, extracted_records, read_document
from tests.conftest import SEED_FILE

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Desk</title><link>https://news.example.com/</link>
<item><title>Talks resume in Cairo</title><link>https://news.example.com/cairo</link><description>Talks resumed.</description></item>
<item><title>Second</title><link>https://news.example.com/second</link><description>More.</description></item>
</channel></rss>"""

# Every kind of file, good and bad, in reading order (input_files sorts by name).
FILES = {
    "a.csv": b'title,text,url\n"One","multi\nline body","http://x.com/1"\nTwo,body two,\nThree,b,c,extra\nFour,body four,\n',
    "b.jsonl": b'{"title": "Five", "text": "x"}\nnot json\n\n{"headline": "Six", "content": "y"}\r\n[1]\n',
    "c.txt": SEED_FILE.read_bytes(),
    "d.xml": RSS,
    "e.csv.gz": gzip.compress(b"title,text\nSeven,body seven\n"),
    "f.csv": b"title,text\n" + b"Eight,body\n" * 1000 + b"Nine,caf\xe9\n",  # not UTF-8, after the first block
    "g.jsonl": "\u2028\n\u00a0\n".encode(),  # blank to str.strip, not to bytes.strip
    "h.csv": b"title,text\n",  # a header and no rows
    "i.ndjson": b'\xef\xbb\xbf{"title": "Ten", "text": "with a BOM"}\n{"title": "Eleven", "text": "' + b"z" * 500 + b'"}\n',
    "j.jsonl": b"   \n\t\n",  # whitespace only
    "k.csv": b'title,text\n"unclosed,quote\n',
    "l.jsonl": b'{"title": "Twelve", "text": "ok"}\n{"title": "nul \\u0000", "text": "\x00"}\n',  # NUL: rejected whole
}


@pytest.fixture
def inputs(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _chunks(inputs, size: int, **kwargs) -> list:
    return list(RecordChunks([inputs], size, as_of="2026-01-01", **kwargs))


@pytest.mark.parametrize("size", [pytest.param(n, id=f"chunks-of-{n}") for n in (1, 2, 3, 1000)])
@pytest.mark.parametrize("cap", [pytest.param(None, id="no-cap"), pytest.param(200, id="cap-200-chars")])
def test_the_chunks_hold_the_records_and_rejects_of_reading_all_at_once(inputs, size, cap):
    whole = extracted_records([inputs], as_of="2026-01-01", max_record_chars=cap)
    chunks = _chunks(inputs, size, max_record_chars=cap)
    assert len(whole.records) >= 8 and len(whole.rejects) >= 8
    assert [r for c in chunks for r in c.records] == whole.records
    assert [r for c in chunks for r in c.rejects] == whole.rejects
    assert [len(c.records) for c in chunks[:-1]] == [size] * (len(chunks) - 1)
    assert 1 <= len(chunks[-1].records) <= size
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.is_last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].chunks == len(chunks)
    assert all(c.chunks > c.index for c in chunks)
    assert chunks[0].records_frame().height == len(chunks[0].records)


@pytest.mark.parametrize("name", ["a.csv", "b.jsonl", "f.csv", "g.jsonl", "h.csv", "i.ndjson", "j.jsonl", "k.csv",
                                  "l.jsonl"])
def test_a_streamed_file_reads_as_the_whole_document_reads(tmp_path, name):
    """Each CSV or JSON Lines file's rows, read row by row, as read_document reads its bytes whole."""
    path = tmp_path / name
    path.write_bytes(FILES[name])
    before = Extracted(as_of="2026-01-01")
    read_document(FILES[name], str(path), name, before)
    chunks = _chunks(path, 2)
    assert [r for c in chunks for r in c.records] == before.records
    assert [r for c in chunks for r in c.rejects] == before.rejects


def test_a_reject_goes_with_the_chunk_being_filled(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"title": "one"}\nbad\n{"title": "two"}\n{"title": "three"}\nworse\n')
    chunks = _chunks(tmp_path, 1)
    assert [([r["title"] for r in c.records], [r["record_key"] for r in c.rejects]) for c in chunks] == [
        (["one"], ["line 2"]), (["two"], []), (["three"], ["line 5"])]


@pytest.mark.parametrize(("files", "records", "rejects"), [
    pytest.param({}, 0, 0, id="no-file"),
    pytest.param({"a.jsonl": b"bad\nworse\n", "b.pdf": b"%PDF"}, 0, 3, id="only-rejects"),
])
def test_an_input_with_no_record_is_one_chunk(tmp_path, files, records, rejects):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (chunk,) = _chunks(tmp_path, 10)
    assert (len(chunk.records), len(chunk.rejects), chunk.index, chunk.is_last, chunk.chunks) == (records, rejects, 0, True, 1)


def test_fetched_documents_come_after_the_files(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"title": "file one"}\n{"title": "file two"}\n')
    fetched = Extracted(as_of="2026-01-01")
    read_document(RSS, "https://news.example.com/feed", "/feed", fetched, "application/rss+xml")
    fetched.reject("https://down.example.com/", "url", "HTTP 503", None)
    chunks = _chunks(tmp_path, 3, fetched=fetched)
    assert [[r["title"] for r in c.records] for c in chunks] == [["file one", "file two", "Talks resume in Cairo"],
                                                                 ["Second"]]
    assert [[r["reason"] for r in c.rejects] for c in chunks] == [[], ["HTTP 503"]]


def test_a_file_is_read_as_its_records_are_needed(tmp_path):
    """A row appended to a CSV file after its first chunk was read is read too: the reader had not
    read the file to its end (its rows are far longer than a read buffer)."""
    path = tmp_path / "big.csv"
    body = "word " * 20_000
    path.write_text("title,text\n" + "".join(f"Title {n},{body}\n" for n in range(4)))
    reader = RecordChunks([tmp_path], 1)
    first = reader.next_chunk()
    with path.open("a") as file:
        file.write("Late,written after the first chunk\n")
    rest = list(reader)
    assert [r["title"] for r in first.records] == ["Title 0"]
    assert [r["title"] for c in rest for r in c.records] == ["Title 1", "Title 2", "Title 3", "Late"]
    assert reader.next_chunk() is None


def test_a_record_over_the_cap_is_rejected_in_its_chunk(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"title": "short"}) + "\n" + json.dumps({"title": "x" * 500}) + "\n"
                                      + json.dumps({"title": "after"}) + "\n")
    chunks = _chunks(tmp_path, 1, max_record_chars=100)
    assert [[r["title"] for r in c.records] for c in chunks] == [["short"], ["after"]]
    assert [[r["record_key"] for r in c.rejects] for c in chunks] == [["line 2"], []]
    assert chunks[0].rejects[0]["reason"].startswith("record of 513 characters is over the cap of 100")
