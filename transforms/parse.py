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
    """Raw records (one per source record) with title, text, source and feed names filled in for
    plain-text records: first line the title, the rest the body, a Yoast footer parsed and removed."""
    payload = pl.col("payload").str.replace_all(r"\r\n?", "\n").str.strip_chars()
    rest = payload.str.replace(r"^[^\n]*\n?", "")
    footer = rest.str.extract_groups(_YOAST)
    is_text = pl.col("format") == "text"
    has_footer = footer.struct.field("body").is_not_null()

    def _text_field(value: pl.Expr, name: str) -> pl.Expr:
        return pl.when(is_text).then(value).otherwise(pl.col(name)).alias(name)

    return records.with_columns(
        _text_field(payload.str.extract(r"^([^\n]*)"), "title"),
        _text_field(pl.when(has_footer).then(footer.struct.field("body")).otherwise(rest), "text"),
        _text_field(footer.struct.field("site").str.strip_chars(), "source_name"),
        _text_field(footer.struct.field("feed").str.strip_chars(), "feed_name"),
    )
