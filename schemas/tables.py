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
    "DISEASE",  # newsflow's own label (lexicons/ner_patterns.tsv): a topic to count, never an actor
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
    # What each column means, one short line (units, keys, where it comes from): shown by
    # `newsflow describe`, the web page and the lake's column comments.
    descriptions: dict[str, str] = field(default_factory=dict)

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
    descriptions={
        "article_id": "key: 16-hex-digit id of the article identity (canonical URL, else source id, else title + text)",
        "url": "canonical URL of the article (tracking parameters removed); null when the source gave none",
        "domain": "host of `url`, without www.",
        "title": "headline, whitespace-normalized; '' when the source gave none",
        "text": "body text, cleaned of markup and whitespace-normalized; '' when the source gave none",
        "source_name": "publisher as the source names itself (site name)",
        "feed_name": "title of the feed the article came from (feeds only)",
        "author": "author(s) as the source gave them",
        "categories": "tags or categories the feed gave the article",
        "published_at": "publication time in UTC; null when missing or outside 1990-01-01 .. the run's start",
        "source_updated_at": "time the source says it last updated the article, UTC",
        "language": "ISO 639-1 code of the text's language (py3langid); null for empty text",
        "word_count": "whitespace-separated words in title + text",
        "content_hash": "hash of title + text: a change means the article was re-extracted",
        "text_hash": "hash of the text (the title when there is no text): exact duplicates share it",
        "simhash": "64-bit SimHash of the text, for near-duplicate detection",
        "duplicate_of": "article_id of the first article seen with the same or a near-identical text; null if none",
        "similarity": "similarity to `duplicate_of`: 1 - differing SimHash bits / 64 (0..1)",
        "tone": "document tone: % positive words - % negative words (VADER lexicon), -100..100",
        "source_uri": "file or URL the record was read from",
        "record_key": "position or id of the record within `source_uri`",
        "ingested_at": "when a run first loaded the article, UTC",
        "updated_at": "when a run last loaded a changed version of the article, UTC; null if never changed",
    },
)

# A geocoded place's GeoNames feature class, coarsest last (a region is first-order: a US state,
# England, Ontario), and why it was chosen for its name (transforms/geo.py, README "Places").
GEO_PRECISIONS = ("city", "region", "country", "continent")
GEO_METHODS = ("country", "continent", "only_candidate", "article_context", "feature_class", "population")
# entity_mentions' place columns (transforms.geo.GEO_COLUMNS fills them).
PLACE_COLUMNS = ("geonames_id", "geo_name", "geo_country_code", "geo_lat", "geo_lon", "geo_precision", "geo_method")

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
            # The place a GPE/LOC/FAC mention names, chosen in its article's context (transforms.geo).
            "geonames_id": pl.Int64,
            "geo_name": pl.String,
            "geo_country_code": pl.String,
            "geo_lat": pl.Float64,
            "geo_lon": pl.Float64,
            "geo_precision": pl.String,
            "geo_method": pl.String,
        }
    ),
    key=("mention_id",),
    required=("mention_id", "article_id", "entity_id", "field", "text", "label", "start_char", "end_char",
              "sentence_index"),
    allowed={"field": FIELDS, "label": ENTITY_LABELS, "geo_precision": GEO_PRECISIONS, "geo_method": GEO_METHODS},
    ranges={"start_char": (0, None), "sentence_index": (0, None), "geo_lat": (-90.0, 90.0),
            "geo_lon": (-180.0, 180.0)},
    row_checks=("is_span_exact",),
    descriptions={
        "mention_id": "key: id of the span (article, field, start and end offsets)",
        "article_id": "article the span is in (articles.article_id)",
        "entity_id": "canonical entity the span names (entities.entity_id)",
        "field": "which text of the article holds the span: 'title' or 'text'",
        "text": "the span's text, exactly as in the field",
        "label": "spaCy entity label (PERSON, ORG, GPE, ...)",
        "start_char": "offset of the span's first character in the field's text, 0-based",
        "end_char": "offset just past the span's last character in the field's text (exclusive)",
        "sentence_index": "sentence of the field the span is in, 0-based",
        "geonames_id": "GeoNames id of the place a GPE/LOC/FAC span names (geonames.org/<id>); null if not geocoded",
        "geo_name": "GeoNames name of that place",
        "geo_country_code": "country of the place, ISO 3166 alpha-3; null for a continent",
        "geo_lat": "latitude of the place, degrees (a country: its capital; a region: centre of its cities)",
        "geo_lon": "longitude of the place, degrees",
        "geo_precision": "GeoNames feature class of the place: city, region (state, province), country or continent",
        "geo_method": "why this place was chosen for the name: country, continent, only_candidate, article_context, "
                      "feature_class or population",
    },
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
    descriptions={
        "entity_id": "key: id of the canonical entity, from its identity whatever its label: the dictionary "
                     "actor's canonical name, else a geocoded place's GeoNames id, else its canonical name",
        "name": "canonical name of the entity (the dictionary's, else the one its mentions use most)",
        "label": "spaCy entity label most of its mentions carry (PERSON, ORG, GPE, ...; a nationality votes for "
                 "its country, ties to the first label alphabetically)",
        "actor_code": "CAMEO actor code from the actor dictionaries (e.g. USA, PSEREBHMS, IGOUNO); null if none",
        "country_code": "CAMEO / ISO 3166 alpha-3 country the entity belongs to; null if none",
        "mention_count": "mentions of the entity across all stored articles",
        "article_count": "distinct stored articles that mention the entity",
    },
)

# The names an entity was found under, where the entity layer linked a mention to another name
# (transforms.entities.resolved_mentions: a dictionary alias, a surname, a short form, an acronym).
ENTITY_ALIAS_REASONS = ("dictionary", "surname", "short form", "acronym", "role")
ENTITY_ALIASES = Table(
    name="entity_aliases",
    grain="one row per name an entity was found under that differs from its canonical name",
    schema=pl.Schema(
        {
            "entity_id": pl.String,
            "alias": pl.String,
            "reason": pl.String,
            "run_id": pl.String,
            "first_seen_at": UTC_TS,
        }
    ),
    key=("entity_id", "alias"),
    required=("entity_id", "alias", "reason", "run_id", "first_seen_at"),
    allowed={"reason": ENTITY_ALIAS_REASONS},
    descriptions={
        "entity_id": "key: the entity (entities.entity_id)",
        "alias": "key: the name as an article wrote it, canonical form (a leading 'the' and a possessive removed)",
        "reason": "why the mention was linked to the entity: 'dictionary' (an actor dictionary lists the name), "
                  "'surname' (a full name in the same article), 'short form' (an organisation's full name in the "
                  "same article: 'Congress' after 'United States Congress'), 'acronym' (its initials), 'role' (a "
                  "group's name and a role noun: 'Hamas Leaders' is Hamas)",
        "run_id": "the run that first linked the name to the entity (runs.run_id)",
        "first_seen_at": "when that run started, UTC",
    },
)

# Written by the load itself (not staged by the flow): an entity id that stopped being used
# because its entity became part of another, so that a query or export holding the old id can
# follow it. Ids are a function of the entity's identity (see entities.entity_id), so a run
# merges nothing by itself; the upgrade of a warehouse of label-bound ids does.
ENTITY_MERGES = Table(
    name="entity_merges",
    grain="one row per retired entity id: the entity it became part of, when and why",
    schema=pl.Schema(
        {
            "from_entity_id": pl.String,
            "to_entity_id": pl.String,
            "from_name": pl.String,
            "from_label": pl.String,
            "reason": pl.String,
            "run_id": pl.String,
            "merged_at": UTC_TS,
        }
    ),
    key=("from_entity_id",),
    required=("from_entity_id", "to_entity_id", "reason", "run_id", "merged_at"),
    descriptions={
        "from_entity_id": "key: the retired entity id (no longer in entities or entity_mentions)",
        "to_entity_id": "the entity it is now part of (entities.entity_id)",
        "from_name": "the retired entity's name",
        "from_label": "the retired entity's label",
        "reason": "why: e.g. 'label-free ids' (one entity per name whatever its NER label, issue 20)",
        "run_id": "the run whose commit made the change (runs.run_id)",
        "merged_at": "when, UTC",
    },
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
    descriptions={
        "quarantine_id": "key: id of the reject (stage, source, record, reason)",
        "run_id": "run that first quarantined the record (runs.run_id)",
        "stage": "stage that rejected it: extract, normalize, language or validate",
        "source_uri": "file or URL the record was read from",
        "record_key": "position or id of the record within `source_uri`",
        "reason": "why the record was rejected (failed check or error)",
        "payload": "the raw record (or the rejected row as JSON), bytes",
        "quarantined_at": "when it was first quarantined, UTC",
        "last_seen_run_id": "last run that rejected it again",
        "last_seen_at": "when it was last rejected again, UTC",
    },
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
    descriptions={
        "run_id": "key: id of the pipeline run (the commit message of its snapshot)",
        "started_at": "when the run started, UTC",
        "finished_at": "when the run finished, UTC",
        "status": "'completed' or 'failed'",
        "inputs": "files, folders and URLs the run read",
        "records_read": "raw records read from the inputs",
        "articles_new": "articles stored for the first time",
        "articles_updated": "stored articles whose content changed",
        "articles_unchanged": "articles read again with no change",
        "entity_mentions": "entity mentions the run loaded",
        "quarantined": "records or rows the run quarantined",
        "counts": "the run's summary as JSON: rows in, out and quarantined per stage",
        "snapshot_id": "DuckLake snapshot the run committed (see `newsflow history`)",
    },
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
    descriptions={
        "result_id": "key: id of the result (run, table, position in the suite)",
        "run_id": "run that evaluated the expectation (runs.run_id)",
        "table_name": "table whose batch was checked",
        "expectation": "Great Expectations expectation type",
        "column_name": "column checked; null for table-wide expectations",
        "is_critical": "true when a failure stops the run (nothing is loaded)",
        "success": "true when the batch met the expectation",
        "element_count": "rows checked",
        "unexpected_count": "rows that failed the expectation (quarantined when not critical)",
        "validated_at": "when the check ran, UTC",
    },
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
    descriptions={
        "url": "key: URL fetched",
        "etag": "ETag the server last returned, for If-None-Match",
        "last_modified": "Last-Modified header the server last returned, for If-Modified-Since",
        "status": "HTTP status of the last fetch (304: not modified)",
        "content_hash": "hash of the last body fetched",
        "fetched_at": "when the URL was last fetched, UTC",
    },
)

DATE_PRECISIONS = ("day", "week", "month", "year", "publication")

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
    descriptions={
        "mention_id": "key: id of the coded event mention (article, field, action offset, actors, code)",
        "event_id": "event the mention codes (events.event_id)",
        "article_id": "article the mention is in (articles.article_id)",
        "field": "which text of the article holds the sentence: 'title' or 'text'",
        "sentence_index": "sentence of the field, 0-based",
        "sentence_start_char": "offset of the sentence's first character in the field's text, 0-based",
        "sentence_end_char": "offset just past the sentence's last character (exclusive)",
        "actor1_text": "source actor as written in the sentence; null if none",
        "actor1_start_char": "offset of actor1_text in the field's text, 0-based",
        "actor2_text": "target actor as written in the sentence; null if none",
        "actor2_start_char": "offset of actor2_text in the field's text, 0-based",
        "action_text": "the verb phrase coded as the action",
        "action_start_char": "offset of action_text in the field's text, 0-based",
        "is_negated": "true when the action is negated ('did not expel')",
        "is_hypothetical": "true when the action is only possible, wanted or conditional ('could expel')",
        "confidence": "coder's confidence that the coding is right, 0..1 (views keep >= the coder's view_threshold)",
        "coder_version": "version of the event coder and its lexicons that coded the mention",
    },
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
            "action_geo_geonames_id": pl.Int64,
            "action_geo_method": pl.String,
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
             "action_geo_method": GEO_METHODS, "quad_class": (1, 2, 3, 4)},
    ranges={"goldstein_scale": (-10.0, 10.0), "action_geo_lat": (-90.0, 90.0), "action_geo_lon": (-180.0, 180.0),
            "num_mentions": (1, None), "num_articles": (1, None)},
    row_checks=("is_code_in_codebook", "has_actor"),
    descriptions={
        "event_id": "key: id of the event (date, actors, CAMEO code, negation, modality)",
        "event_date": "day the event happened (resolved from the text, else the publication date)",
        "event_date_precision": "how precise event_date is: day, week, month, year or publication",
        "actor1_name": "source actor's canonical name",
        "actor1_code": "source actor's CAMEO actor code",
        "actor1_country_code": "source actor's country, CAMEO / ISO 3166 alpha-3",
        "actor1_entity_id": "source actor's entity (entities.entity_id)",
        "actor2_name": "target actor's canonical name",
        "actor2_code": "target actor's CAMEO actor code",
        "actor2_country_code": "target actor's country, CAMEO / ISO 3166 alpha-3",
        "actor2_entity_id": "target actor's entity (entities.entity_id)",
        "event_code": "CAMEO event code, 2-4 digits (cameo_codes.event_code)",
        "event_base_code": "CAMEO code cut to 3 digits (cameo_codes.event_code)",
        "event_root_code": "CAMEO root code, 2 digits (cameo_codes.event_code)",
        "quad_class": "CAMEO quad class: 1 verbal cooperation, 2 material cooperation, 3 verbal conflict, "
                      "4 material conflict (name: cameo_codes.quad_class_name)",
        "goldstein_scale": "Goldstein score of the event code: -10 (most conflictual) .. +10 (most cooperative)",
        "plover_event": "PLOVER event category of the code; '' when it has none",
        "is_negated": "true when the action is negated ('did not expel')",
        "is_hypothetical": "true when the action is only possible, wanted or conditional ('could expel')",
        "action_geo_name": "place where the action happened (GeoNames name)",
        "action_geo_country_code": "country of that place, ISO 3166 alpha-3",
        "action_geo_lat": "latitude of the place, degrees",
        "action_geo_lon": "longitude of the place, degrees",
        "action_geo_precision": "how precise the place is: city, region (state, province), country or continent",
        "action_geo_geonames_id": "GeoNames id of the place (entity_mentions.geonames_id of the mention it came from)",
        "action_geo_method": "why that mention's place was chosen for its name (entity_mentions.geo_method)",
        "num_mentions": "event mentions of the event across stored articles",
        "num_articles": "distinct stored articles that mention the event",
        "num_sources": "distinct sources (source name, else domain) that mention the event",
        "avg_tone": "mean tone of the articles that mention the event (articles.tone)",
        "first_seen_at": "when a run first loaded an article mentioning the event, UTC",
    },
)

# Loaded by the commit from the shipped codebook (lexicons/cameo_codes.tsv, not staged by the flow),
# so that codes have names in SQL: join events on event_code.
CAMEO_CODES = Table(
    name="cameo_codes",
    grain="one row per CAMEO event code (2-digit root, 3-digit base and 4-digit codes) of the shipped codebook",
    schema=pl.Schema(
        {
            "event_code": pl.String,
            "event_name": pl.String,
            "event_base_code": pl.String,
            "event_root_code": pl.String,
            "event_root_name": pl.String,
            "quad_class": pl.Int32,
            "quad_class_name": pl.String,
            "goldstein_scale": pl.Float64,
            "plover_event": pl.String,
        }
    ),
    key=("event_code",),
    required=("event_code", "event_name", "event_base_code", "event_root_code", "event_root_name", "quad_class",
              "quad_class_name", "goldstein_scale"),
    allowed={"quad_class": (1, 2, 3, 4)},
    ranges={"goldstein_scale": (-10.0, 10.0)},
    descriptions={
        "event_code": "key: CAMEO event code, 2-4 digits as text (keeps leading zeros: '010')",
        "event_name": "the code's name in the CAMEO codebook (e.g. 'Expel or deport individuals')",
        "event_base_code": "the code cut to 3 digits",
        "event_root_code": "the code's root, 2 digits",
        "event_root_name": "the root code's name (e.g. 'Coerce')",
        "quad_class": "CAMEO quad class: 1 verbal cooperation, 2 material cooperation, 3 verbal conflict, "
                      "4 material conflict",
        "quad_class_name": "name of quad_class (lexicons/quad_classes.tsv)",
        "goldstein_scale": "Goldstein score of the code: -10 (most conflictual) .. +10 (most cooperative)",
        "plover_event": "PLOVER event category the code maps to; '' when it has none",
    },
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
    descriptions={
        "table_name": "key: warehouse table",
        "updated_at": "when a run last wrote rows to it, UTC",
        "run_id": "that run (runs.run_id)",
        "rows_written": "distinct keys that run wrote to the table",
    },
)

# The tables a run stages (one frame each per chunk).
TABLES: dict[str, Table] = {
    t.name: t for t in (ARTICLES, ENTITY_MENTIONS, ENTITIES, ENTITY_ALIASES, EVENT_MENTIONS, EVENTS, QUARANTINE, RUNS,
                        VALIDATION_RESULTS, FETCH_STATE)
}
# Every base table of the warehouse: the staged ones and those the commit writes itself.
BASE_TABLES: dict[str, Table] = {**TABLES, ENTITY_MERGES.name: ENTITY_MERGES, TABLE_UPDATES.name: TABLE_UPDATES,
                                  CAMEO_CODES.name: CAMEO_CODES}


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
    "entity_aliases": Slicing(via=("entity_id", "entity_mentions")),
    "entity_merges": Slicing(date="merged_at"),
    "events": Slicing(date="event_date", via=("event_id", "event_mentions")),
    "quarantine": Slicing(date="quarantined_at"),
    "runs": Slicing(date="started_at"),
    "validation_results": Slicing(date="validated_at"),
    "fetch_state": Slicing(date="fetched_at"),
    "table_updates": Slicing(date="updated_at"),
    "cameo_codes": Slicing(),
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
