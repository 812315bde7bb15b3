"""Event dates: DATE-entity text resolved against the publication time, with a precision."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms.dates import EVENT_DATE_COLUMNS, PRECISIONS, resolved_date, resolved_event_dates

# A Wednesday, late in the UTC day.
PUBLISHED_AT = datetime(2024, 3, 13, 22, 30, tzinfo=timezone.utc)
PUBLISHED = PUBLISHED_AT.date()
MENTIONS = pl.Schema({"mention_id": pl.String, "date_text": pl.String, "published_at": pl.Datetime("us", "UTC")})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("today", (date(2024, 3, 13), "day"), id="today"),
        pytest.param("this morning", (date(2024, 3, 13), "day"), id="this-morning"),
        pytest.param("tonight", (date(2024, 3, 13), "day"), id="tonight"),
        pytest.param("yesterday", (date(2024, 3, 12), "day"), id="yesterday"),
        pytest.param("last night", (date(2024, 3, 12), "day"), id="last-night"),
        pytest.param("tomorrow", (date(2024, 3, 14), "day"), id="tomorrow"),
        pytest.param("Monday", (date(2024, 3, 11), "day"), id="weekday"),
        pytest.param("on Monday", (date(2024, 3, 11), "day"), id="on-weekday"),
        pytest.param("last Friday", (date(2024, 3, 8), "day"), id="last-weekday"),
        pytest.param("Wednesday", (date(2024, 3, 13), "day"), id="publication-weekday-is-that-day"),
        pytest.param("on Wednesday", (date(2024, 3, 13), "day"), id="on-publication-weekday-is-that-day"),
        pytest.param("last Wednesday", (date(2024, 3, 6), "day"), id="last-publication-weekday-is-a-week-back"),
        pytest.param("next Monday", (date(2024, 3, 18), "day"), id="next-weekday"),
        pytest.param("two days ago", (date(2024, 3, 11), "day"), id="word-days-ago"),
        pytest.param("12 days ago", (date(2024, 3, 1), "day"), id="digit-days-ago"),
        pytest.param("a few days ago", (date(2024, 3, 10), "day"), id="a-few-days-ago"),
        pytest.param("several days ago", (date(2024, 3, 10), "day"), id="several-days-ago"),
        pytest.param("a couple of days ago", (date(2024, 3, 11), "day"), id="a-couple-of-days-ago"),
        pytest.param("about five days ago", (date(2024, 3, 8), "day"), id="hedged-days-ago"),
        pytest.param("more than a week ago", (date(2024, 3, 6), "week"), id="more-than-a-week-ago"),
        pytest.param("two weeks ago", (date(2024, 2, 28), "week"), id="weeks-ago"),
        pytest.param("last week", (date(2024, 3, 6), "week"), id="last-week"),
        pytest.param("earlier this week", (date(2024, 3, 11), "week"), id="this-week-is-its-monday"),
        pytest.param("three months ago", (date(2023, 12, 13), "month"), id="months-ago"),
        pytest.param("last month", (date(2024, 2, 13), "month"), id="last-month"),
        pytest.param("earlier this month", (date(2024, 3, 1), "month"), id="this-month-is-its-first-day"),
        pytest.param("two years ago", (date(2022, 3, 13), "year"), id="years-ago"),
        pytest.param("last year", (date(2023, 3, 13), "year"), id="last-year"),
        pytest.param("earlier this year", (date(2024, 1, 1), "year"), id="this-year-is-january-first"),
        pytest.param("March 3, 2024", (date(2024, 3, 3), "day"), id="month-day-year"),
        pytest.param("3 March 2024", (date(2024, 3, 3), "day"), id="day-month-year"),
        pytest.param("2024-03-03", (date(2024, 3, 3), "day"), id="iso"),
        pytest.param("Jan. 5th, 2025", (date(2025, 1, 5), "day"), id="future-absolute-kept"),
        pytest.param("Monday, March 11", (date(2024, 3, 11), "day"), id="month-day-takes-the-publication-year"),
        pytest.param("December 28", (date(2023, 12, 28), "day"), id="month-day-nearest-year"),
        pytest.param("March 2024", (date(2024, 3, 1), "month"), id="month-year"),
        pytest.param("in September", (date(2023, 9, 1), "month"), id="month-alone-nearest"),
        pytest.param("2012", (date(2012, 1, 1), "year"), id="year"),
        pytest.param("in 2012", (date(2012, 1, 1), "year"), id="in-year"),
        pytest.param("1985", (PUBLISHED, "publication"), id="year-before-1990"),
        pytest.param("2030", (PUBLISHED, "publication"), id="year-after-publication"),
        pytest.param("Feb. 30, 2023", (PUBLISHED, "publication"), id="impossible-date"),
        pytest.param("may", (PUBLISHED, "publication"), id="lower-case-may-is-a-verb"),
        pytest.param("recently", (PUBLISHED, "publication"), id="recently"),
        pytest.param("the 1990s", (PUBLISHED, "publication"), id="decade-unknown"),
        pytest.param("", (PUBLISHED, "publication"), id="empty"),
        pytest.param(None, (PUBLISHED, "publication"), id="null"),
    ],
)
def test_resolved_date_against_publication(expression, expected):
    assert resolved_date(expression, PUBLISHED_AT) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("March 3, 2024", (date(2024, 3, 3), "day"), id="absolute-day"),
        pytest.param("2024-03-03", (date(2024, 3, 3), "day"), id="iso"),
        pytest.param("March 2024", (date(2024, 3, 1), "month"), id="month-year"),
        pytest.param("in 2012", (date(2012, 1, 1), "year"), id="year"),
        pytest.param("yesterday", (None, None), id="relative"),
        pytest.param("Monday", (None, None), id="weekday"),
        pytest.param("December 28", (None, None), id="month-day-without-year"),
        pytest.param("recently", (None, None), id="unknown"),
        pytest.param("1985", (None, None), id="year-before-1990"),
        pytest.param(None, (None, None), id="null"),
    ],
)
def test_without_publication_time_only_absolute_dates_resolve(expression, expected):
    assert resolved_date(expression, None) == expected


def test_publication_day_is_the_utc_day():
    evening_in_new_york = datetime(2024, 3, 13, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert resolved_date("yesterday", evening_in_new_york) == (date(2024, 3, 13), "day")


def test_past_expressions_never_land_after_publication():
    for expression in ["Monday", "Sunday", "last Wednesday", "yesterday", "a week ago", "last month", "last year", "5 days ago"]:
        found, precision = resolved_date(expression, PUBLISHED_AT)
        assert found < PUBLISHED and precision in PRECISIONS


# Friday 2019-12-13: "on Friday" is that day; "in June" is the June before, not the next one;
# "in January" (a month ahead) is the coming one.
FRIDAY_IN_DECEMBER = datetime(2019, 12, 13, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("date_text", "event_date", "precision"),
    [
        pytest.param("on Friday", date(2019, 12, 13), "day", id="publication-weekday-is-that-day"),
        pytest.param("last Friday", date(2019, 12, 6), "day", id="last-publication-weekday-is-a-week-back"),
        pytest.param("Thursday", date(2019, 12, 12), "day", id="weekday-before"),
        pytest.param("in June", date(2019, 6, 1), "month", id="earlier-month-is-this-year"),
        pytest.param("in July", date(2019, 7, 1), "month", id="month-half-a-year-back-is-this-year"),
        pytest.param("June 20", date(2019, 6, 20), "day", id="earlier-month-day-is-this-year"),
        pytest.param("in January", date(2020, 1, 1), "month", id="next-month-is-ahead"),
    ],
)
def test_event_dates_of_a_december_friday_article(date_text, event_date, precision):
    mentions = pl.LazyFrame({"mention_id": ["m"], "date_text": [date_text], "published_at": [FRIDAY_IN_DECEMBER]},
                            schema=MENTIONS)
    expected = mentions.collect().with_columns(pl.Series("event_date", [event_date]),
                                               pl.Series("event_date_precision", [precision]))
    assert_frame_equal(resolved_event_dates(mentions).collect(), expected)


def test_resolved_event_dates_adds_two_columns_and_keeps_rows_and_order():
    other = datetime(2021, 6, 1, 8, tzinfo=timezone.utc)
    mentions = pl.LazyFrame(
        {
            "mention_id": ["m5", "m4", "m3", "m2", "m1", "m0"],
            "date_text": ["yesterday", "yesterday", None, "March 2020", "last week", None],
            "published_at": [PUBLISHED_AT, other, PUBLISHED_AT, None, None, None],
        },
        schema=MENTIONS,
    )
    expected = mentions.collect().with_columns(
        pl.Series("event_date", [date(2024, 3, 12), date(2021, 5, 31), PUBLISHED, date(2020, 3, 1), None, None]),
        pl.Series("event_date_precision", ["day", "day", "publication", "month", None, None]),
    )
    assert_frame_equal(resolved_event_dates(mentions).collect(), expected)


def test_resolved_event_dates_schema_on_an_empty_frame():
    empty = pl.LazyFrame(schema=MENTIONS)
    expected = pl.Schema({**MENTIONS, **EVENT_DATE_COLUMNS})
    assert resolved_event_dates(empty).collect_schema() == expected
    assert_frame_equal(resolved_event_dates(empty).collect(), pl.DataFrame(schema=expected))
