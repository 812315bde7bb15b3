"""Every warehouse table, declared once: its Polars schema, key and row rules.

The Arrow schema, the DuckDB DDL and the Great Expectations suite are all derived from these
declarations (see `schemas.derive` and `schemas.expectations`), so a column is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

# spaCy's named-entity labels for people, organisations, places and other named things. The
# numeric and temporal labels (DATE, MONEY, CARDINAL, ...) are not entities a user counts.
ENTITY_LABELS = (
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
)
FIELDS = ("title", "text")
RUN_STATUSES = ("completed", "failed")
QUARANTINE_STAGES = ("extract", "normalize", "language", "validate")

# Marks a bound that is only known when a run starts (e.g. "no date after the run started").
RUN_STARTED_AT = "run_started_at"
# No news article in scope predates this; earlier dates are parse errors or epoch defaults.
EARLIEST_PUBLISHED_AT = datetime(1990, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Table:
    """A warehouse table: columns, key and the rules each row must meet."""

    name: str
    grain: str
    schema: pl.Schema
    key: tuple[str, ...]
    required: tuple[str, ...] = ()
    allowed: dict[str, tuple] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)
    # Boolean columns computed for validation only (not stored) that must be true on every row.
    row_checks: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names())


ARTICLES = Table(
    name="articles",
    grain="one row per article identity (canonical URL, else source id, else title + text)",
    schema=pl.Schema(
        {
            "article_id": pl.String,
            "url": pl.String,
            "domain": pl.String,
            "title": pl.String,
            "text": pl.String,
            "source_name": pl.String,
            "feed_name": pl.String,
            "author": pl.String,
            "categories": pl.List(pl.String),
            "published_at": UTC_TS,
            "source_updated_at": UTC_TS,
            "language": pl.String,
            "word_count": pl.Int32,
            "content_hash": pl.String,
            "text_hash": pl.String,
            "simhash": pl.UInt64,
            "duplicate_of": pl.String,
            "similarity": pl.Float64,
            "tone": pl.Float64,  # GDELT-style document tone: % positive words - % negative words (VADER lexicon)
            "source_uri": pl.String,
            "record_key": pl.String,
            "ingested_at": UTC_TS,
            "updated_at": UTC_TS,
        }
    ),
    key=("article_id",),
    required=("article_id", "title", "text", "word_count", "content_hash", "text_hash", "source_uri",
              "ingested_at"),
    ranges={"word_count": (0, None), "published_at": (EARLIEST_PUBLISHED_AT, RUN_STARTED_AT),
            "source_updated_at": (EARLIEST_PUBLISHED_AT, RUN_STARTED_AT), "similarity": (0.0, 1.0), "tone": (-100.0, 100.0)},
    row_checks=("has_title_or_text",),
)

ENTITY_MENTIONS = Table(
    name="entity_mentions",
    grain="one row per named-entity span in an article's title or text",
    schema=pl.Schema(
        {
            "mention_id": pl.String,
            "article_id": pl.String,
            "entity_id": pl.String,
            "field": pl.String,
            "text": pl.String,
            "label": pl.String,
            "start_char": pl.Int32,
            "end_char": pl.Int32,
            "sentence_index": pl.Int32,
        }
    ),
    key=("mention_id",),
    required=("mention_id", "article_id", "entity_id", "field", "text", "label", "start_char", "end_char",
              "sentence_index"),
    allowed={"field": FIELDS, "label": ENTITY_LABELS},
    ranges={"start_char": (0, None), "sentence_index": (0, None)},
    row_checks=("is_span_exact",),
)

ENTITIES = Table(
    name="entities",
    grain="one row per canonical entity (a real-world thing) across all articles",
    schema=pl.Schema(
        {
            "entity_id": pl.String,
            "name": pl.String,
            "label": pl.String,
            "actor_code": pl.String,  # CAMEO actor code from the actor dictionaries (USA, PSEREBHMS, IGOUNO)
            "country_code": pl.String,  # CAMEO/ISO 3166 alpha-3 country the entity belongs to
            "mention_count": pl.Int64,
            "article_count": pl.Int64,
        }
    ),
    key=("entity_id",),
    required=("entity_id", "name", "label", "mention_count", "article_count"),
    allowed={"label": ENTITY_LABELS},
    ranges={"mention_count": (1, None), "article_count": (1, None)},
)

QUARANTINE = Table(
    name="quarantine",
    grain="one row per distinct rejected record (source, record, stage, reason)",
    schema=pl.Schema(
        {
            "quarantine_id": pl.String,
            "run_id": pl.String,
            "stage": pl.String,
            "source_uri": pl.String,
            "record_key": pl.String,
            "reason": pl.String,
            "payload": pl.Binary,
            "quarantined_at": UTC_TS,
            "last_seen_run_id": pl.String,
            "last_seen_at": UTC_TS,
        }
    ),
    key=("quarantine_id",),
    required=("quarantine_id", "run_id", "stage", "source_uri", "reason", "quarantined_at"),
    allowed={"stage": QUARANTINE_STAGES},
)

RUNS = Table(
    name="runs",
    grain="one row per completed pipeline run",
    schema=pl.Schema(
        {
            "run_id": pl.String,
            "started_at": UTC_TS,
            "finished_at": UTC_TS,
            "status": pl.String,
            "inputs": pl.List(pl.String),
            "records_read": pl.Int64,
            "articles_new": pl.Int64,
            "articles_updated": pl.Int64,
            "articles_unchanged": pl.Int64,
            "entity_mentions": pl.Int64,
            "quarantined": pl.Int64,
            "counts": pl.String,
            "snapshot_id": pl.Int64,  # the DuckLake snapshot the run committed (newsflow history)
        }
    ),
    key=("run_id",),
    required=("run_id", "started_at", "status"),
    allowed={"status": RUN_STATUSES},
)

VALIDATION_RESULTS = Table(
    name="validation_results",
    grain="one row per expectation evaluated in a run",
    schema=pl.Schema(
        {
            "result_id": pl.String,
            "run_id": pl.String,
            "table_name": pl.String,
            "expectation": pl.String,
            "column_name": pl.String,
            "is_critical": pl.Boolean,
            "success": pl.Boolean,
            "element_count": pl.Int64,
            "unexpected_count": pl.Int64,
            "validated_at": UTC_TS,
        }
    ),
    key=("result_id",),
    required=("result_id", "run_id", "table_name", "expectation", "success", "validated_at"),
)

FETCH_STATE = Table(
    name="fetch_state",
    grain="one row per fetched URL: what the last fetch returned, for conditional requests",
    schema=pl.Schema(
        {
            "url": pl.String,
            "etag": pl.String,
            "last_modified": pl.String,
            "status": pl.Int32,
            "content_hash": pl.String,
            "fetched_at": UTC_TS,
        }
    ),
    key=("url",),
    required=("url", "status", "fetched_at"),
)

DATE_PRECISIONS = ("day", "week", "month", "year", "publication")
GEO_PRECISIONS = ("city", "country")

EVENT_MENTIONS = Table(
    name="event_mentions",
    grain="one row per event coded in a sentence of an article's title or text",
    schema=pl.Schema(
        {
            "mention_id": pl.String,
            "event_id": pl.String,
            "article_id": pl.String,
            "field": pl.String,
            "sentence_index": pl.Int32,
            "sentence_start_char": pl.Int32,
            "sentence_end_char": pl.Int32,
            "actor1_text": pl.String,
            "actor1_start_char": pl.Int32,
            "actor2_text": pl.String,
            "actor2_start_char": pl.Int32,
            "action_text": pl.String,
            "action_start_char": pl.Int32,
            "is_negated": pl.Boolean,
            "is_hypothetical": pl.Boolean,
            "confidence": pl.Float64,
            "coder_version": pl.String,
        }
    ),
    key=("mention_id",),
    required=("mention_id", "event_id", "article_id", "field", "sentence_index", "sentence_start_char",
              "sentence_end_char", "action_text", "action_start_char", "is_negated", "is_hypothetical",
              "confidence", "coder_version"),
    allowed={"field": FIELDS},
    ranges={"sentence_index": (0, None), "sentence_start_char": (0, None), "confidence": (0.0, 1.0)},
    row_checks=("is_span_exact", "has_event"),
)

EVENTS = Table(
    name="events",
    grain="one row per distinct event (date, actors, CAMEO code, negation, modality) across all articles",
    schema=pl.Schema(
        {
            "event_id": pl.String,
            "event_date": pl.Date,
            "event_date_precision": pl.String,
            "actor1_name": pl.String,
            "actor1_code": pl.String,
            "actor1_country_code": pl.String,
            "actor1_entity_id": pl.String,
            "actor2_name": pl.String,
            "actor2_code": pl.String,
            "actor2_country_code": pl.String,
            "actor2_entity_id": pl.String,
            "event_code": pl.String,
            "event_base_code": pl.String,
            "event_root_code": pl.String,
            "quad_class": pl.Int32,
            "goldstein_scale": pl.Float64,
            "plover_event": pl.String,
            "is_negated": pl.Boolean,
            "is_hypothetical": pl.Boolean,
            "action_geo_name": pl.String,
            "action_geo_country_code": pl.String,
            "action_geo_lat": pl.Float64,
            "action_geo_lon": pl.Float64,
            "action_geo_precision": pl.String,
            "num_mentions": pl.Int64,
            "num_articles": pl.Int64,
            "num_sources": pl.Int64,
            "avg_tone": pl.Float64,
            "first_seen_at": UTC_TS,
        }
    ),
    key=("event_id",),
    required=("event_id", "event_code", "event_base_code", "event_root_code", "quad_class", "goldstein_scale",
              "is_negated", "is_hypothetical", "num_mentions", "num_articles", "first_seen_at"),
    allowed={"event_date_precision": DATE_PRECISIONS, "action_geo_precision": GEO_PRECISIONS,
             "quad_class": (1, 2, 3, 4)},
    ranges={"goldstein_scale": (-10.0, 10.0), "action_geo_lat": (-90.0, 90.0), "action_geo_lon": (-180.0, 180.0),
            "num_mentions": (1, None), "num_articles": (1, None)},
    row_checks=("is_code_in_codebook", "has_actor"),
)

# Written by the load itself (not staged by the flow): when each table last received rows.
TABLE_UPDATES = Table(
    name="table_updates",
    grain="one row per warehouse table: the last run that wrote rows to it",
    schema=pl.Schema(
        {
            "table_name": pl.String,
            "updated_at": UTC_TS,
            "run_id": pl.String,
            "rows_written": pl.Int64,
        }
    ),
    key=("table_name",),
    required=("table_name", "updated_at", "run_id", "rows_written"),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ARTICLES, ENTITY_MENTIONS, ENTITIES, EVENT_MENTIONS, EVENTS, QUARANTINE, RUNS,
                        VALIDATION_RESULTS, FETCH_STATE)
}


@dataclass(frozen=True)
class Slicing:
    """How a table's downloads are cut by date range and by source: by its own columns, else
    through `via`, a (key column, table) pair: the rows whose key is among that table's cut rows."""

    date: str | None = None  # a DATE or TIMESTAMPTZ column; a range covers whole days in UTC
    sources: tuple[str, ...] = ()  # a row is from a source when any of these equals it (any case)
    via: tuple[str, str] | None = None


# What a user means by "source" is the publisher as they would name it: the site ("Israel365
# News"), its domain ("israel365news.com") or the feed's title. A mention, entity or event has no
# source of its own: it is cut through the articles that name it. An event's date is its own.
SLICING: dict[str, Slicing] = {
    "articles": Slicing(date="published_at", sources=("source_name", "domain", "feed_name")),
    "entity_mentions": Slicing(via=("article_id", "articles")),
    "event_mentions": Slicing(via=("article_id", "articles")),
    "entities": Slicing(via=("entity_id", "entity_mentions")),
    "events": Slicing(date="event_date", via=("event_id", "event_mentions")),
    "quarantine": Slicing(date="quarantined_at"),
    "runs": Slicing(date="started_at"),
    "validation_results": Slicing(date="validated_at"),
    "fetch_state": Slicing(date="fetched_at"),
    "table_updates": Slicing(date="updated_at"),
}

# Records as the extract stage hands them on, before normalization (not a warehouse table).
# `format` is one of RECORD_FORMATS; `published`/`updated` are date strings as the source gave
# them (or ISO 8601 in UTC where a parser already resolved them); `categories` are feed tags.
RECORD_FORMATS = ("text", "jsonl", "csv", "feed", "page")
RAW_RECORDS = pl.Schema(
    {
        "source_uri": pl.String,
        "record_key": pl.String,
        "format": pl.String,
        "payload": pl.String,
        "id": pl.String,
        "url": pl.String,
        "title": pl.String,
        "text": pl.String,
        "source_name": pl.String,
        "feed_name": pl.String,
        "author": pl.String,
        "published": pl.String,
        "updated": pl.String,
        "categories": pl.List(pl.String),
    }
)

# Rows the spaCy call returns, one per entity span of one input text (not a warehouse table).
NER_SPANS = pl.Schema(
    {
        "doc_index": pl.Int64,
        "text": pl.String,
        "label": pl.String,
        "start_char": pl.Int32,
        "end_char": pl.Int32,
        "sentence_index": pl.Int32,
    }
)

# Rows the spaCy call returns, one per token of one input text (not a warehouse table):
# what the event coder walks. `token_index` and `head_index` count tokens within the text.
TOKENS = pl.Schema(
    {
        "doc_index": pl.Int64,
        "sentence_index": pl.Int32,
        "token_index": pl.Int32,
        "start_char": pl.Int32,
        "end_char": pl.Int32,
        "text": pl.String,
        "lemma": pl.String,
        "pos": pl.String,
        "tag": pl.String,
        "dep": pl.String,
        "head_index": pl.Int32,
    }
)

# Events as the coder finds them in one parsed text (not a warehouse table): one row per
# (doc_index, sentence, action, actor1, actor2); offsets index that text.
CODED_EVENTS = pl.Schema(
    {
        "doc_index": pl.Int64,
        "sentence_index": pl.Int32,
        "sentence_start_char": pl.Int32,
        "sentence_end_char": pl.Int32,
        "actor1_text": pl.String,
        "actor1_start_char": pl.Int32,
        "actor1_end_char": pl.Int32,
        "actor1_code": pl.String,
        "actor1_country_code": pl.String,
        "actor1_entity_id": pl.String,
        "actor1_name": pl.String,
        "actor2_text": pl.String,
        "actor2_start_char": pl.Int32,
        "actor2_end_char": pl.Int32,
        "actor2_code": pl.String,
        "actor2_country_code": pl.String,
        "actor2_entity_id": pl.String,
        "actor2_name": pl.String,
        "action_text": pl.String,
        "action_start_char": pl.Int32,
        "event_code": pl.String,
        "is_negated": pl.Boolean,
        "is_hypothetical": pl.Boolean,
        "confidence": pl.Float64,
    }
)
