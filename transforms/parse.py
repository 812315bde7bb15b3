"""From raw records to article fields: field aliases of dumps, and the plain-text feed layout."""

from __future__ import annotations

import polars as pl

# The usual names for each article field in JSON Lines and CSV dumps, most specific first.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "article_id", "guid"),
    "url": ("url", "link", "canonical_url"),
    "title": ("title", "headline"),
    "text": ("text", "body", "content", "article"),
    "source_name": ("source_name", "source", "site", "site_name"),
    "feed_name": ("feed_name", "feed"),
    "author": ("author", "authors", "byline"),
    "published": ("published_at", "date", "published", "pubdate", "datetime"),
}


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_as_text(v) for v in value]
        joined = ", ".join(p for p in parts if p)
        return joined or None
    if isinstance(value, dict):
        return _as_text(value.get("name"))
    text = str(value).strip()
    return text or None


def record_fields(record: dict) -> dict[str, str | None]:
    """The article fields of one dump record (dict), by the first non-empty alias of each field."""
    lowered = {str(k).strip().lower(): v for k, v in record.items()}
    fields: dict[str, str | None] = {}
    for name, aliases in FIELD_ALIASES.items():
        fields[name] = next((t for a in aliases if (t := _as_text(lowered.get(a))) is not None), None)
    return fields


# WordPress/Yoast appends "The post <title> appeared first on <site>." to every feed item; a feed
# export may put the feed's own name on one short line after it.
_YOAST = (
    r"(?s)^(?P<body>.*?)\s*The post (?P<post_title>[^\n]+?) appeared first on (?P<site>[^\n]+?)\.?[ \t]*"
    r"(?:\n+[ \t]*(?P<feed>[^\n]{1,120}?))?\s*$"
)


def parsed_text_records(records: pl.LazyFrame) -> pl.LazyFrame:
    """Raw records (one per source record) with title and text filled in for plain-text records:
    the first line is the title, the rest the body."""
    payload = pl.col("payload").str.replace_all(r"\r\n?", "\n").str.strip_chars()
    is_text = pl.col("format") == "text"
    return records.with_columns(
        title=pl.when(is_text).then(payload.str.extract(r"^([^\n]*)")).otherwise(pl.col("title")),
        text=pl.when(is_text).then(payload.str.replace(r"^[^\n]*\n?", "")).otherwise(pl.col("text")),
    )


def without_yoast_footer(records: pl.LazyFrame) -> pl.LazyFrame:
    """Records with the Yoast footer cut from the text; its site fills `source_name` and a feed
    line after it fills `feed_name`, where the record has none of its own."""
    footer = pl.col("text").str.replace_all(r"\r\n?", "\n").str.extract_groups(_YOAST)
    has_footer = footer.struct.field("body").is_not_null()
    return records.with_columns(
        text=pl.when(has_footer).then(footer.struct.field("body")).otherwise(pl.col("text")),
        source_name=pl.coalesce(pl.col("source_name"), footer.struct.field("site").str.strip_chars()),
        feed_name=pl.coalesce(pl.col("feed_name"), footer.struct.field("feed").str.strip_chars()),
    )
