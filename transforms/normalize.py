"""From parsed records to normalized articles: clean text, ids, hashes, dates, language."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import polars as pl

from schemas.tables import EARLIEST_PUBLISHED_AT
from transforms.duplicates import simhash
from transforms.parse import parsed_text_records, without_yoast_footer

_SEP = "\x1f"

# Query parameters that identify a campaign or a click, not a page.
_TRACKING_PARAMS = r"utm_[^=&]*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|_ga|yclid|ref_src"

# Formats seen in feeds and dumps; naive ones are taken as UTC (the input says nothing else).
_ZONED_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%a, %d %b %Y %H:%M:%S %z",
    "%d %b %Y %H:%M:%S %z",
    "%a, %d %b %Y %H:%M %z",
)
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)


def _hex_digest(values: pl.Series) -> pl.Series:
    # Polars' own hash is not stable across versions; ids must be, so they are blake2b digests.
    return pl.Series(
        [None if v is None else hashlib.blake2b(v.encode(), digest_size=8).hexdigest() for v in values],
        dtype=pl.String,
    )


def stable_id(*parts: pl.Expr) -> pl.Expr:
    """A 16-hex-digit id that depends only on the parts' values (null parts count as empty)."""
    joined = pl.concat_str([p.cast(pl.String).fill_null("") for p in parts], separator=_SEP)
    return joined.map_batches(_hex_digest, return_dtype=pl.String)


def folded_line(expr: pl.Expr) -> pl.Expr:
    """NFC text on one line: every run of whitespace becomes one space, ends trimmed."""
    return expr.str.normalize("NFC").str.replace_all(r"\s+", " ").str.strip_chars()


def folded_text(expr: pl.Expr) -> pl.Expr:
    """NFC text with paragraphs kept: spaces folded within lines, at most one blank line between."""
    return (
        expr.str.normalize("NFC")
        .str.replace_all(r"\r\n?", "\n")
        .str.replace_all(r"[^\S\n]+", " ")
        .str.replace_all(r" ?\n ?", "\n")
        .str.replace_all(r"\n{3,}", "\n\n")
        .str.strip_chars()
    )


def canonical_url(expr: pl.Expr) -> pl.Expr:
    """The URL with scheme and host lower-cased, fragment and tracking parameters dropped, and
    duplicate slashes in the path folded; null when empty."""
    url = expr.str.strip_chars().str.replace(r"#.*$", "")
    parts = url.str.extract_groups(r"^(?P<origin>[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
    origin = parts.struct.field("origin").str.to_lowercase()
    path = parts.struct.field("path").str.replace_all(r"/{2,}", "/")
    query = (
        parts.struct.field("query")
        .str.replace_all(rf"(?:^|&)(?:{_TRACKING_PARAMS})(?:=[^&]*)?", "")
        .str.strip_chars("&")
    )
    rebuilt = pl.concat_str(
        [origin, path, pl.when(query.str.len_chars() > 0).then(pl.lit("?") + query).otherwise(pl.lit(""))]
    )
    return pl.when(origin.is_not_null()).then(rebuilt).otherwise(url.replace("", None))


def published_at(expr: pl.Expr) -> pl.Expr:
    """The publication time in UTC, honouring a stated offset; null when absent or unparseable."""
    raw = (
        expr.str.strip_chars()
        .str.replace(r"(?i)\s*(?:GMT|UTC|Z)$", "+0000")
        .str.replace(r"([+-]\d\d):(\d\d)$", "${1}${2}")
    )
    attempts = [
        raw.str.to_datetime(f, time_unit="us", strict=False).dt.convert_time_zone("UTC") for f in _ZONED_FORMATS
    ]
    attempts += [
        raw.str.to_datetime(f, time_unit="us", strict=False).dt.replace_time_zone("UTC") for f in _NAIVE_FORMATS
    ]
    attempts.append(
        raw.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    return pl.coalesce(attempts)


def url_domain(url: pl.Expr) -> pl.Expr:
    """The host of a canonical URL without a leading "www."; null when there is no URL."""
    return url.str.extract(r"^[a-z][a-z0-9+.\-]*://(?:[^@/]*@)?([^/:?#]+)").str.replace(r"^www\.", "")


def cleaned_author(author: pl.Expr, *not_authors: pl.Expr) -> pl.Expr:
    """Author names without bylines ("By ..."), e-mail addresses or a site posing as an author
    (equal to one of `not_authors`, or a bare domain/URL); several names joined with ", "."""
    names = (
        folded_line(author)
        .str.replace_all(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "")
        .str.replace_all(r"\(\s*\)|\[\s*\]", "")
        .str.replace(r"(?i)^(?:written |posted |words |story )?by\s*:?\s+", "")
        .str.replace_all(r"\s*[|;/]\s*|\s+(?i:and|&)\s+", ", ")
        .str.replace_all(r"(?:\s*,)+\s*", ", ")
        .str.strip_chars(" ,;:-")
    )
    lowered = names.str.to_lowercase()
    is_site = pl.any_horizontal(
        [lowered == e.str.to_lowercase() for e in not_authors]
        + [lowered.str.contains(r"^(?:https?://|www\.)|^[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}$")]
    ).fill_null(False)
    return pl.when((names != "") & ~is_site).then(names)


def _language_codes(texts: pl.Series) -> pl.Series:
    import py3langid  # the model ships inside the package; imported here to keep start-up light

    # The first few thousand characters decide the language; the rest only costs time.
    return pl.Series(
        [None if not t else py3langid.classify(t[:2000])[0] for t in texts], dtype=pl.String
    )


def detected_language(expr: pl.Expr) -> pl.Expr:
    """ISO 639-1 code of the text's language (py3langid), null for empty text."""
    return expr.map_batches(_language_codes, return_dtype=pl.String)


# A text longer than this is quarantined as too long (setting max_text_chars): a book or a dump
# pasted into one field, not an article. Texts up to it are parsed in pieces (transforms.nlp).
MAX_TEXT_CHARS = 2_000_000


def _sane(stamp: pl.Expr, ingested_at: datetime) -> pl.Expr:
    """`stamp` when it falls between EARLIEST_PUBLISHED_AT and the run's start, else null."""
    return pl.when(stamp.is_between(pl.lit(EARLIEST_PUBLISHED_AT), pl.lit(ingested_at))).then(stamp)


def _date_note(raw: str, stamp: pl.Expr, ingested_at: datetime) -> pl.Expr:
    return pl.when(stamp.is_not_null() & _sane(stamp, ingested_at).is_null()).then(pl.format(
        "{} date '{}' is outside {} .. the run's start: the article is loaded without it",
        pl.lit(raw), pl.col(raw), pl.lit(EARLIEST_PUBLISHED_AT.date().isoformat())))


def normalized_articles(records: pl.LazyFrame, ingested_at: datetime,
                        max_text_chars: int = MAX_TEXT_CHARS) -> pl.LazyFrame:
    """One row per article identity (article_id), first record wins, with normalized fields,
    plus `payload`, `reject_reason` (null when the record is fit to load) and `date_note` (why a
    given date was dropped: outside EARLIEST_PUBLISHED_AT .. the run's start). `duplicate_of` and
    `similarity` stay null here: they depend on the warehouse (see `duplicates.duplicate_links`)."""
    ingested_at = ingested_at if ingested_at.tzinfo else ingested_at.replace(tzinfo=timezone.utc)
    title = folded_line(pl.col("title")).fill_null("")
    # A text over the cap is quarantined below: it is kept as given (for its identity and the
    # quarantine), not folded or shingled.
    long_text = pl.col("text").str.len_chars() > max_text_chars
    text = pl.when(long_text).then(pl.col("text")).otherwise(folded_text(pl.col("text")).fill_null(""))
    url = canonical_url(pl.col("url"))
    published = published_at(pl.col("published"))
    updated = published_at(pl.col("updated"))
    identity = (
        pl.when(pl.col("url").is_not_null())
        .then(pl.concat_str([pl.lit("url"), pl.col("url")], separator=_SEP))
        .when(pl.col("id").is_not_null())
        .then(pl.concat_str([pl.lit("id"), pl.col("source_file"), pl.col("id")], separator=_SEP))
        .otherwise(pl.concat_str([pl.lit("content"), pl.col("title").str.to_lowercase(), pl.col("text")],
                                 separator=_SEP))
    )
    reject_reason = (
        pl.when(pl.col("_text_chars") > max_text_chars)
        .then(pl.format("text of {} characters is over the cap of {} (setting max_text_chars, "
                        "NEWSFLOW_MAX_TEXT_CHARS)", pl.col("_text_chars"), pl.lit(max_text_chars)))
        .when((pl.col("title") == "") & (pl.col("text") == ""))
        .then(pl.lit("record has neither a title nor a text"))
        .when(pl.col("published").is_not_null() & ~pl.col("_published_given"))
        .then(pl.format("published date '{}' is not a date in any known format", pl.col("published")))
    )
    return (
        records.with_columns(
            _text_chars=pl.col("text").str.len_chars(),
            date_note=pl.when(_date_note("published", published, ingested_at).is_not_null()
                              | _date_note("updated", updated, ingested_at).is_not_null())
            .then(pl.concat_str([_date_note("published", published, ingested_at),
                                 _date_note("updated", updated, ingested_at)], separator="; ", ignore_nulls=True)),
            _published_given=published.is_not_null(),
        )
        .with_columns(
            title=title,
            text=text,
            url=url,
            published_at=_sane(published, ingested_at),
            source_updated_at=_sane(updated, ingested_at),
            feed_name=folded_line(pl.col("feed_name")),
            categories=pl.col("categories").list.eval(folded_line(pl.element())).list.filter(
                pl.element() != "").list.unique(maintain_order=True),
            source_file=pl.col("source_uri").str.extract(r"([^/\\]+)$"),
        )
        .with_columns(
            domain=url_domain(pl.col("url")),
            source_name=pl.coalesce(folded_line(pl.col("source_name")), pl.col("feed_name")),
        )
        .with_columns(
            author=cleaned_author(pl.col("author"), pl.col("source_name"), pl.col("feed_name"), pl.col("domain")),
            article_id=stable_id(identity),
            content_hash=stable_id(pl.col("title"), pl.col("text")),
            # Copies are found on the body; an article without one is compared on its title.
            text_hash=stable_id(pl.when(pl.col("text") != "").then(pl.col("text")).otherwise(pl.col("title"))),
            simhash=simhash(pl.when(pl.col("_text_chars") <= max_text_chars).then(pl.col("text"))),
            duplicate_of=pl.lit(None, pl.String),
            similarity=pl.lit(None, pl.Float64),
            word_count=(pl.col("title") + " " + pl.col("text")).str.count_matches(r"\S+").cast(pl.Int32),
            language=detected_language(pl.when(pl.col("text") != "").then(pl.col("text")).otherwise(pl.col("title"))),
            ingested_at=pl.lit(ingested_at).cast(pl.Datetime("us", "UTC")),
            updated_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
            tone=pl.lit(None, dtype=pl.Float64),  # scored once the articles are known new or changed
        )
        .with_columns(reject_reason=reject_reason)
        .drop("_text_chars", "_published_given")
        .unique("article_id", keep="first", maintain_order=True)
    )


def articles_from_records(records: pl.LazyFrame, ingested_at: datetime,
                          max_text_chars: int = MAX_TEXT_CHARS) -> pl.LazyFrame:
    """Raw records of any format parsed and normalized: one row per article identity (article_id)."""
    return normalized_articles(without_yoast_footer(parsed_text_records(records)), ingested_at, max_text_chars)
