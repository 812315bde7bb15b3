"""Event dates from DATE-entity text, resolved against the article's publication time.

Hand-written rules rather than `dateparser` (installed, via trafilatura): dateparser fills a
missing year, month or day from the clock, and its "Monday"/"last week" semantics differ from
the ones below. Precision says how much of the date the text supports.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import polars as pl

# Widest to narrowest: 'publication' means the text gave no usable date and the event is dated
# by the article's publication day.
PRECISIONS = ("day", "week", "month", "year", "publication")
EVENT_DATE_COLUMNS = pl.Schema({"event_date": pl.Date, "event_date_precision": pl.String})

# A bare year below this is more likely a count or a history reference than the event's year.
EARLIEST_EVENT_YEAR = 1990

_MONTHS = {name: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
     ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"),
     ("october", "oct"), ("november", "nov"), ("december", "dec")], start=1) for name in names}
_WEEKDAYS = {name: i for i, name in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a couple": 2,
            "a few": 3, "few": 3, "several": 3, "a": 1, "an": 1}

_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_WEEKDAY = r"(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
_HEDGE = r"(?:(?:approximately|about|around|roughly|nearly|almost|some|just|only|more than|over)\s+)?"
_COUNT = _HEDGE + r"(?P<n>\d+|" + "|".join(re.escape(k) for k in sorted(_NUMBERS, key=len, reverse=True)) + r")"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_ISO_DAY = _rx(r"\b(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})\b")
_MONTH_DAY_YEAR = _rx(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b")
_DAY_MONTH_YEAR = _rx(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b")
_MONTH_DAY = _rx(rf"\b{_MONTH}\s+{_DAY}\b(?!\s*,?\s*\d)")
_DAY_MONTH = _rx(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b(?!\s*,?\s*\d)")
_MONTH_YEAR = _rx(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b")
# A month name not followed by a day or year: those forms are the rules above ("Feb. 30, 2023",
# an impossible date, must not fall back to February alone).
_MONTH_ONLY = _rx(rf"\b{_MONTH}(?!\w|\.?\s*,?\s*\d)")
_YEAR_ONLY = _rx(r"^(?:(?:in|during|since|of|the year|early|late|mid-?)\s*)*(?P<year>\d{4})$")
_SAME_DAY = _rx(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b")
_YESTERDAY = _rx(r"\b(?:yesterday|last night)\b")
_TOMORROW = _rx(r"\btomorrow\b")
_DAYS_AGO = _rx(rf"\b{_COUNT}\s+days?\s+ago\b")
_NEXT_WEEKDAY = _rx(rf"\bnext\s+{_WEEKDAY}\b")
_WEEKDAY_PAST = _rx(rf"\b{_WEEKDAY}\b")
_WEEKS_AGO = _rx(rf"\b{_COUNT}\s+weeks?\s+ago\b")
_LAST_WEEK = _rx(r"\b(?:last|past|previous)\s+week\b")
_THIS_WEEK = _rx(r"\bthis\s+week\b")
_NEXT_WEEK = _rx(r"\bnext\s+week\b")
_MONTHS_AGO = _rx(rf"\b{_COUNT}\s+months?\s+ago\b")
_LAST_MONTH = _rx(r"\b(?:last|past|previous)\s+month\b")
_THIS_MONTH = _rx(r"\bthis\s+month\b")
_NEXT_MONTH = _rx(r"\bnext\s+month\b")
_YEARS_AGO = _rx(rf"\b{_COUNT}\s+years?\s+ago\b")
_LAST_YEAR = _rx(r"\b(?:last|past|previous)\s+year\b")
_THIS_YEAR = _rx(r"\bthis\s+year\b")
_NEXT_YEAR = _rx(r"\bnext\s+year\b")

Resolved = tuple[date | None, str | None]
_Rule = Callable[[re.Match[str], date | None], Resolved | None]


def _count(match: re.Match[str]) -> int:
    n = match.group("n").lower()
    return int(n) if n.isdigit() else _NUMBERS[n]


def _month(match: re.Match[str]) -> int | None:
    word = match.group("month")
    # Lower-case "may" is the verb far more often than the month.
    return None if word == "may" else _MONTHS[word.lower().rstrip(".")]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


FUTURE_PENALTY_DAYS = 31


def _nearest_year(month: int, day: int, published: date) -> date | None:
    """The date with that month and day closest to publication (a January article's "December 28"
    is last year's)."""
    candidates = [_safe_date(published.year + k, month, day) for k in (-1, 0, 1)]
    valid = [c for c in candidates if c is not None]
    # News reports the past: a date ahead of publication wins only when it is more than a month
    # nearer ("in June" in a December article is the June before, not the next).
    return min(valid, key=lambda c: abs((c - published).days) + (FUTURE_PENALTY_DAYS if c > published else 0)) \
        if valid else None


def _absolute_day(match: re.Match[str], published: date | None) -> Resolved | None:
    month = int(match.group("month")) if match.group("month").isdigit() else _month(match)
    found = month and _safe_date(int(match.group("year")), month, int(match.group("day")))
    return (found, "day") if found else None


def _month_day(match: re.Match[str], published: date | None) -> Resolved | None:
    month = _month(match)
    if published is None or month is None:
        return None
    found = _nearest_year(month, int(match.group("day")), published)
    return (found, "day") if found else None


def _month_alone(match: re.Match[str], published: date | None) -> Resolved | None:
    month = _month(match)
    if published is None or month is None:
        return None
    found = _nearest_year(month, 1, published.replace(day=1))
    return (found, "month") if found else None


def _month_year(match: re.Match[str], published: date | None) -> Resolved | None:
    month = _month(match)
    return (date(int(match.group("year")), month, 1), "month") if month else None


def _year(match: re.Match[str], published: date | None) -> Resolved | None:
    year = int(match.group("year"))
    latest = published.year if published else None
    if year < EARLIEST_EVENT_YEAR or (latest is not None and year > latest):
        return None
    return date(year, 1, 1), "year"


def _relative(shift: Callable[[date, re.Match[str]], date], precision: str) -> _Rule:
    def rule(match: re.Match[str], published: date | None) -> Resolved | None:
        return None if published is None else (shift(published, match), precision)
    return rule


def _weekday_before(published: date, match: re.Match[str]) -> date:
    # News reports the past: the latest such weekday on or before publication ("on Friday" in a
    # Friday article is that day); "last Friday" in a Friday article is the week before.
    back = (published.weekday() - _WEEKDAYS[match.group("weekday").lower()]) % 7
    if back == 0 and re.search(r"\b(?:last|past|previous)\s+$", match.string[:match.start()], re.IGNORECASE):
        back = 7
    return published - timedelta(days=back)


def _weekday_after(published: date, match: re.Match[str]) -> date:
    ahead = (_WEEKDAYS[match.group("weekday").lower()] - published.weekday() - 1) % 7 + 1
    return published + timedelta(days=ahead)


# Tried in order, finest precision first, so that "Monday, March 3, 2024" is a day, and a
# relative expression wins over a looser one in the same text.
_RULES: tuple[tuple[re.Pattern[str], _Rule], ...] = (
    (_ISO_DAY, _absolute_day),
    (_MONTH_DAY_YEAR, _absolute_day),
    (_DAY_MONTH_YEAR, _absolute_day),
    (_MONTH_DAY, _month_day),
    (_DAY_MONTH, _month_day),
    (_SAME_DAY, _relative(lambda p, m: p, "day")),
    (_YESTERDAY, _relative(lambda p, m: p - timedelta(days=1), "day")),
    (_TOMORROW, _relative(lambda p, m: p + timedelta(days=1), "day")),
    (_DAYS_AGO, _relative(lambda p, m: p - timedelta(days=_count(m)), "day")),
    (_NEXT_WEEKDAY, _relative(_weekday_after, "day")),
    (_WEEKDAY_PAST, _relative(_weekday_before, "day")),
    (_WEEKS_AGO, _relative(lambda p, m: p - timedelta(weeks=_count(m)), "week")),
    (_LAST_WEEK, _relative(lambda p, m: p - timedelta(weeks=1), "week")),
    (_THIS_WEEK, _relative(lambda p, m: p - timedelta(days=p.weekday()), "week")),
    (_NEXT_WEEK, _relative(lambda p, m: p + timedelta(weeks=1), "week")),
    (_MONTH_YEAR, _month_year),
    (_MONTHS_AGO, _relative(lambda p, m: _shift_months(p, -_count(m)), "month")),
    (_LAST_MONTH, _relative(lambda p, m: _shift_months(p, -1), "month")),
    (_THIS_MONTH, _relative(lambda p, m: p.replace(day=1), "month")),
    (_NEXT_MONTH, _relative(lambda p, m: _shift_months(p, 1), "month")),
    (_MONTH_ONLY, _month_alone),
    (_YEARS_AGO, _relative(lambda p, m: _shift_months(p, -12 * _count(m)), "year")),
    (_LAST_YEAR, _relative(lambda p, m: _shift_months(p, -12), "year")),
    (_THIS_YEAR, _relative(lambda p, m: date(p.year, 1, 1), "year")),
    (_NEXT_YEAR, _relative(lambda p, m: _shift_months(p, 12), "year")),
)


def _publication_day(published_at: datetime | None) -> date | None:
    if published_at is None:
        return None
    # Aware timestamps are dated in UTC, like the stored `published_at`; naive ones are taken as UTC.
    return (published_at.astimezone(timezone.utc) if published_at.tzinfo else published_at).date()


def resolved_date(expression: str | None, published_at: datetime | None) -> Resolved:
    """The (event date, precision) one DATE expression stands for, given the publication time;
    (None, None) when neither the text nor the publication time gives a date."""
    published = _publication_day(published_at)
    text = " ".join((expression or "").split())
    if text:
        for pattern, rule in _RULES:
            for match in pattern.finditer(text):
                resolved = rule(match, published)
                if resolved is not None:
                    return resolved
        year = _YEAR_ONLY.match(text)
        if year is not None and (resolved := _year(year, published)) is not None:
            return resolved
    return (published, "publication") if published is not None else (None, None)


def _resolved_batch(pairs: pl.Series) -> pl.Series:
    cache: dict[tuple[str | None, date | None], Resolved] = {}
    rows = []
    for pair in pairs.to_list():
        text, published_at = (pair or {}).get("date_text"), (pair or {}).get("published_at")
        key = (text, _publication_day(published_at))
        if key not in cache:
            cache[key] = resolved_date(text, published_at)
        found, precision = cache[key]
        rows.append({"event_date": found, "event_date_precision": precision})
    return pl.Series(rows, dtype=pl.Struct(EVENT_DATE_COLUMNS))


def resolved_event_dates(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """The input rows (same grain, key and order) with event_date (Date) and event_date_precision
    resolved from date_text against published_at."""
    # Per-row Python is unavoidable for these rules; each batch resolves a distinct (text, day) once.
    resolved = pl.struct("date_text", "published_at").map_batches(
        _resolved_batch, return_dtype=pl.Struct(EVENT_DATE_COLUMNS)
    )
    return mentions.with_columns(resolved.alias("_resolved")).unnest("_resolved")
