"""Plain-text feed layout and dump field aliases."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import RAW_RECORDS
from transforms.parse import parsed_text_records, record_fields, without_yoast_footer


def _parsed(payload: str, fmt: str = "text", **fields) -> dict:
    frame = pl.DataFrame([{"source_uri": "s", "record_key": "file", "format": fmt, "payload": payload, **fields}],
                         schema=RAW_RECORDS)
    return without_yoast_footer(parsed_text_records(frame.lazy())).collect().row(0, named=True)


@pytest.mark.parametrize(
    ("payload", "title", "text", "source_name", "feed_name"),
    [
        pytest.param("Title\nBody one.\nBody two.\nThe post Title appeared first on Israel365 News.\nIsrael in the News",
                     "Title", "Body one.\nBody two.", "Israel365 News", "Israel in the News", id="yoast-footer-and-feed"),
        pytest.param("Title\nBody.\nThe post Title appeared first on Boston.com.\n",
                     "Title", "Body.", "Boston.com", None, id="footer-site-with-dot-no-feed"),
        pytest.param("Title\r\nBody.\r\nThe post Title appeared first on Site\r\n",
                     "Title", "Body.", "Site", None, id="crlf-footer-without-period"),
        pytest.param("Only a title and\nsome body text", "Only a title and", "some body text", None, None,
                     id="no-footer"),
        pytest.param("Just a title", "Just a title", "", None, None, id="title-only"),
    ],
)
def test_text_records_split_title_body_and_footer(payload, title, text, source_name, feed_name):
    row = _parsed(payload)
    assert (row["title"], row["text"], row["source_name"], row["feed_name"]) == (title, text, source_name, feed_name)


def test_non_text_records_keep_their_fields():
    frame = pl.DataFrame([{"source_uri": "s", "record_key": "line 1", "format": "jsonl", "payload": "{}",
                           "title": "T", "text": "B"}], schema=RAW_RECORDS)
    assert_frame_equal(without_yoast_footer(parsed_text_records(frame.lazy())).collect(), frame)


def test_feed_items_lose_the_footer_but_keep_their_own_names():
    row = _parsed("", fmt="feed", title="T", text="Body.\n\nThe post T appeared first on Boston.com.",
                  source_name=None, feed_name="World News")
    assert (row["text"], row["source_name"], row["feed_name"]) == ("Body.", "Boston.com", "World News")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param({"title": "T", "body": "B", "link": "http://x", "date": "2020-01-01"},
                     {"title": "T", "text": "B", "url": "http://x", "published": "2020-01-01"}, id="body-link-date"),
        pytest.param({"Title": " T ", "content": "C", "site": "S", "published": "p"},
                     {"title": "T", "text": "C", "source_name": "S", "published": "p"}, id="case-and-spaces"),
        pytest.param({"title": "T", "text": "", "body": "B"}, {"title": "T", "text": "B"}, id="first-non-empty"),
        pytest.param({"id": 7, "author": ["A", "B"]}, {"id": "7", "author": "A, B"}, id="numbers-and-lists"),
    ],
)
def test_record_fields_map_the_usual_names(record, expected):
    fields = record_fields(record)
    assert {k: v for k, v in fields.items() if v is not None} == expected
