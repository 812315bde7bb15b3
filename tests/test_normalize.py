"""Normalization: text folding, URLs, dates, ids and de-duplication."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import RAW_RECORDS
from transforms.normalize import canonical_url, folded_line, folded_text, normalized_articles, published_at

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _one(expr_fn, value):
    return pl.DataFrame({"v": [value]}, schema={"v": pl.String}).select(expr_fn(pl.col("v"))).item()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("a  b\t c", "a b c", id="spaces"),
        pytest.param(" para one \n\n\n\n para\u00a0two ", "para one\n\npara two", id="paragraphs-kept"),
        pytest.param("line\r\nnext", "line\nnext", id="crlf"),
        pytest.param("Cafe\u0301", "Caf\u00e9", id="nfc"),
    ],
)
def test_folded_text(raw, expected):
    assert _one(folded_text, raw) == expected


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_folding_twice_equals_folding_once(text):
    once = _one(folded_text, text)
    assert _one(folded_text, once) == once
    line = _one(folded_line, text)
    assert _one(folded_line, line) == line


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("HTTPS://En.Wikinews.ORG//wiki/A_b", "https://en.wikinews.org/wiki/A_b", id="case-and-slashes"),
        pytest.param("http://x.com/a?utm_source=f&id=3&fbclid=9#top", "http://x.com/a?id=3", id="tracking-and-fragment"),
        pytest.param("http://x.com/a?gclid=1", "http://x.com/a", id="only-tracking"),
        pytest.param("  ", None, id="blank"),
        pytest.param(None, None, id="null"),
    ],
)
def test_canonical_url(raw, expected):
    assert _one(canonical_url, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2019-01-04", datetime(2019, 1, 4, tzinfo=timezone.utc), id="date-only"),
        pytest.param("Mon, 06 Sep 2021 14:30:00 +0200", datetime(2021, 9, 6, 12, 30, tzinfo=timezone.utc), id="rfc2822"),
        pytest.param("2021-09-06T14:30:00Z", datetime(2021, 9, 6, 14, 30, tzinfo=timezone.utc), id="iso-z"),
        pytest.param("2021-09-06T14:30:00-05:00", datetime(2021, 9, 6, 19, 30, tzinfo=timezone.utc), id="iso-offset"),
        pytest.param("Tue, 10 Jun 2003 04:00:00 GMT", datetime(2003, 6, 10, 4, tzinfo=timezone.utc), id="gmt"),
        pytest.param("yesterday-ish", None, id="unparseable"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_published_at_is_utc(raw, expected):
    assert _one(published_at, raw) == expected


def _records(rows: list[dict]) -> pl.LazyFrame:
    base = {"source_uri": "/in/a.jsonl", "format": "jsonl", "payload": "{}"}
    return pl.DataFrame([{**base, "record_key": f"line {i}", **r} for i, r in enumerate(rows, 1)],
                        schema=RAW_RECORDS).lazy()


def test_same_identity_is_one_row_and_the_first_record_wins():
    out = normalized_articles(_records([
        {"url": "http://x.com/a?utm_source=1", "title": "First", "text": "one"},
        {"url": "HTTP://X.com/a", "title": "Second", "text": "two"},
        {"id": "7", "title": "Third", "text": "three"},
        {"id": "7", "title": "Fourth", "text": "four"},
        {"title": "Fifth", "text": "five"},
        {"title": "fifth", "text": "five"},
    ]), NOW).collect()
    assert out["title"].to_list() == ["First", "Third", "Fifth"]


def test_records_are_rejected_with_a_reason():
    out = normalized_articles(_records([
        {"title": "  ", "text": None},
        {"title": "T", "text": "x", "published": "not a date"},
        {"title": "T2", "text": "y", "published": "2020-02-02"},
    ]), NOW).collect()
    assert out["reject_reason"].to_list() == [
        "record has neither a title nor a text",
        "published date 'not a date' is not a date in any known format",
        None,
    ]
    assert out["published_at"].to_list()[2] == datetime(2020, 2, 2, tzinfo=timezone.utc)


def test_no_date_is_invented_and_fields_are_derived():
    row = normalized_articles(_records([{"title": "Qatar  expels", "text": "Qatar has told the leaders to leave Doha."}]),
                              NOW).collect().row(0, named=True)
    assert row["published_at"] is None
    assert row["title"] == "Qatar expels"
    assert row["word_count"] == 10
    assert row["language"] == "en"
    assert row["ingested_at"] == NOW
    assert len(row["article_id"]) == 16 and len(row["content_hash"]) == 16


@given(st.permutations(range(5)))
@settings(max_examples=20, deadline=None)
def test_ids_are_stable_under_reordering(order):
    rows = [{"title": f"T{i}", "text": f"body {i}", **({"id": str(i)} if i % 2 else {})} for i in range(5)]
    base = normalized_articles(_records(rows), NOW).collect().select("title", "article_id", "content_hash")
    shuffled = normalized_articles(_records([rows[i] for i in order]), NOW).collect()
    assert shuffled.select("title", "article_id", "content_hash").sort("title").equals(base.sort("title"))


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        pytest.param("By Jane Roe", "Jane Roe", id="byline"),
        pytest.param("Jane Roe (jane.roe@example.com)", "Jane Roe", id="email"),
        pytest.param("jane@example.com", None, id="only-email"),
        pytest.param("Jane Roe and John Doe", "Jane Roe, John Doe", id="two-authors"),
        pytest.param("Jane Roe | John Doe", "Jane Roe, John Doe", id="pipe"),
        pytest.param("Boston.com", None, id="domain-as-author"),
        pytest.param("Gulf Desk Daily", None, id="site-name-as-author"),
        pytest.param("  ", None, id="blank"),
    ],
)
def test_cleaned_author(author, expected):
    from transforms.normalize import cleaned_author

    frame = pl.DataFrame({"a": [author], "site": ["Gulf Desk Daily"]})
    assert frame.select(cleaned_author(pl.col("a"), pl.col("site"))).item() == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://www.boston.com/news/x", "boston.com", id="www"),
        pytest.param("http://user@news.example.org:8080/a", "news.example.org", id="port-and-user"),
        pytest.param(None, None, id="none"),
    ],
)
def test_url_domain(url, expected):
    from transforms.normalize import url_domain

    assert _one(url_domain, url) == expected


_record = st.fixed_dictionaries({
    "title": st.sampled_from(["", "Qatar expels Hamas", "Egypt mediates", "  "]),
    "text": st.sampled_from(["", "Body one.", "Body  two.", None]),
    "id": st.sampled_from([None, "1", "2"]),
    "url": st.sampled_from([None, "http://x.com/a", "HTTP://X.COM/a?utm_source=z"]),
    "published": st.sampled_from([None, "2024-01-02", "not a date", "2999-01-01"]),
})


def _identity(record: dict) -> tuple:
    # The identity rule, restated in plain Python for the test's own count.
    if record["url"]:
        return ("url", record["url"].lower().split("?")[0])
    if record["id"]:
        return ("id", record["id"])
    return ("content", " ".join(record["title"].split()).lower(), " ".join((record["text"] or "").split()))


@given(st.lists(_record, max_size=12))
@settings(max_examples=60, deadline=None)
def test_nothing_is_lost_every_identity_is_an_article_or_a_reject(records):
    from transforms.quarantine import normalize_rejects

    out = normalized_articles(_records(records), NOW).collect()
    rejects = normalize_rejects(out.lazy()).collect()
    accepted = out.filter(pl.col("reject_reason").is_null())
    # a dropped date is noted for a record that still loads; a rejected record has no such note
    notes = rejects.filter(pl.col("reason").str.contains("the article is loaded without it"))
    assert notes.height == accepted.filter(pl.col("date_note").is_not_null()).height
    rejected = rejects.join(notes, on=rejects.columns, how="anti")
    first_of_identity: dict[tuple, str] = {}
    for number, record in enumerate(records, 1):
        first_of_identity.setdefault(_identity(record), f"line {number}")
    assert accepted.height + rejected.height == out.height
    assert sorted(out["record_key"]) == sorted(first_of_identity.values())


@pytest.mark.parametrize(
    ("published", "updated", "note"),
    [
        pytest.param("9999-12-31T23:59:59-12:00", None,
                     "published date '9999-12-31T23:59:59-12:00' is outside 1990-01-01 .. the run's start: "
                     "the article is loaded without it", id="past-year-9999-in-utc"),
        pytest.param("1970-01-01T00:00:00Z", None, "published date '1970-01-01T00:00:00Z' is outside", id="epoch"),
        pytest.param("2024-05-01", "2999-01-01", "updated date '2999-01-01' is outside", id="updated-in-future"),
        pytest.param("2024-05-01", "2025-01-01", None, id="both-sane"),
    ],
)
def test_dates_outside_a_sane_range_become_null_with_a_reason(published, updated, note):
    from transforms.quarantine import normalize_rejects

    out = normalized_articles(_records([{"title": "T", "text": "B", "published": published, "updated": updated}]),
                              NOW).collect()
    row = out.row(0, named=True)
    assert row["reject_reason"] is None
    rejects = normalize_rejects(out.lazy()).collect()
    if note is None:
        assert row["date_note"] is None and rejects.height == 0
        assert row["published_at"] is not None and row["source_updated_at"] is not None
        return
    assert row["date_note"].startswith(note)
    assert rejects["reason"].to_list() == [row["date_note"]]
    stamp = "published_at" if note.startswith("published") else "source_updated_at"
    assert row[stamp] is None


def test_a_text_over_the_cap_is_rejected_as_too_long():
    out = normalized_articles(_records([{"title": "Long", "text": "word " * 30}, {"title": "Short", "text": "ok"}]),
                              NOW, max_text_chars=100).collect()
    assert out["reject_reason"].to_list() == [
        "text of 150 characters is over the cap of 100 (setting max_text_chars, NEWSFLOW_MAX_TEXT_CHARS)", None]
