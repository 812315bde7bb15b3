"""The analyst views (warehouse/sql/views.sql), declared like the tables: columns, types, grain and
what each column means. A column a view takes from a table keeps that table's description."""

from __future__ import annotations

import polars as pl

from schemas.tables import UTC_TS, ARTICLES, CAMEO_CODES, ENTITIES, EVENT_MENTIONS, EVENTS, Table


def _taken(table: Table, *columns: str) -> tuple[dict[str, pl.DataType], dict[str, str]]:
    """Types and descriptions of `columns` as `table` declares them (all of them when none given)."""
    names = columns or tuple(table.columns)
    return {c: table.schema[c] for c in names}, {c: table.descriptions[c] for c in names}


def _view(name: str, grain: str, key: tuple[str, ...], *parts: tuple[dict, dict]) -> Table:
    schema, descriptions = {}, {}
    for types, described in parts:
        schema.update(types)
        descriptions.update(described)
    return Table(name=name, grain=grain, schema=pl.Schema(schema), key=key, descriptions=descriptions)


def _own(**columns: tuple[pl.DataType, str]) -> tuple[dict, dict]:
    """Columns a view computes: name=(type, description)."""
    return {c: t for c, (t, _) in columns.items()}, {c: d for c, (_, d) in columns.items()}


_CONFIDENT = "events with a mention at or above the learned coder's view_threshold (lexicons/event_coder.json.gz)"
_COUNTED = "negated and hypothetical events left out"

CONFIDENT_EVENTS = _view(
    "confident_events", f"one row per event: the {_CONFIDENT}, with the names of its codes", ("event_id",),
    _taken(EVENTS),
    _taken(CAMEO_CODES, "event_name", "event_root_name", "quad_class_name"),
)

DAILY_EVENT_COUNTS = _view(
    "daily_event_counts", f"one row per day, CAMEO root code and quad class: counts of confident events ({_COUNTED})",
    ("event_date", "event_root_code", "quad_class"),
    _taken(EVENTS, "event_date", "event_root_code"),
    _taken(CAMEO_CODES, "event_root_name"),
    _taken(EVENTS, "quad_class"),
    _taken(CAMEO_CODES, "quad_class_name"),
    _own(
        events=(pl.Int64, "confident events that day with this root code and quad class"),
        mentions=(pl.Int128, "their event mentions (sum of events.num_mentions)"),
        mean_goldstein=(pl.Float64, "mean Goldstein score of those events, -10..+10"),
    ),
)

ACTOR_NETWORK = _view(
    "actor_network", f"one row per (source actor, target actor) pair of confident events, each actor with its "
                     f"country ({_COUNTED})",
    ("actor1", "actor1_country_code", "actor2", "actor2_country_code"),
    _own(actor1=(pl.String, "source actor: its CAMEO actor code, else its name")),
    _taken(EVENTS, "actor1_country_code"),
    _own(actor2=(pl.String, "target actor: its CAMEO actor code, else its name")),
    _taken(EVENTS, "actor2_country_code"),
    _own(
        events=(pl.Int64, "confident events from actor1 to actor2"),
        mentions=(pl.Int128, "their event mentions (sum of events.num_mentions)"),
        mean_goldstein=(pl.Float64, "mean Goldstein score of those events, -10..+10"),
        first_event_date=(pl.Date, "date of the first of those events"),
        last_event_date=(pl.Date, "date of the last of those events"),
    ),
)

ENTITY_SUMMARY = _view(
    "entity_summary", "one row per canonical entity: its label, actor code, how many articles name it, first and "
                      "last seen, and the other names it was found under",
    ("entity_id",),
    _taken(ENTITIES, "entity_id", "name", "label", "actor_code", "country_code"),
    _own(
        articles=(pl.Int64, "stored articles that mention the entity (entities.article_count)"),
        mentions=(pl.Int64, "its mentions across those articles (entities.mention_count)"),
        first_seen_at=(UTC_TS, "publication time of the first article that names it (else when that article was "
                               "first loaded), UTC"),
        last_seen_at=(UTC_TS, "publication time of the last article that names it (else its load time), UTC"),
        aliases=(pl.List(pl.String), "other names the entity layer linked to it (entity_aliases.alias), sorted"),
    ),
)

ENTITY_CO_MENTIONS = _view(
    "entity_co_mentions", "one row per pair of canonical entities named in the same article (entity1_id < entity2_id; "
                          "an entity is one real thing whatever its mentions' labels)",
    ("entity1_id", "entity2_id"),
    _own(
        entity1_id=(pl.String, "first entity of the pair (entities.entity_id; the smaller id)"),
        entity1_name=(pl.String, "canonical name of entity1 (entities.name)"),
        entity1_label=(pl.String, "spaCy entity label of entity1 (entities.label: PERSON, ORG, GPE, ...)"),
        entity1_country_code=(pl.String, "country entity1 belongs to, CAMEO / ISO 3166 alpha-3 "
                                         "(entities.country_code); null if none"),
        entity2_id=(pl.String, "second entity of the pair (entities.entity_id)"),
        entity2_name=(pl.String, "canonical name of entity2 (entities.name)"),
        entity2_label=(pl.String, "spaCy entity label of entity2 (entities.label)"),
        entity2_country_code=(pl.String, "country entity2 belongs to (entities.country_code); null if none"),
        articles=(pl.Int64, "stored articles that name both entities"),
    ),
)

EVENT_TIMELINE = _view(
    "event_timeline", "one row per event mention at or above the coder's view_threshold, with its evidence sentence",
    ("mention_id",),
    _taken(EVENT_MENTIONS, "event_id"),
    _taken(EVENTS, "event_date", "event_date_precision", "actor1_name", "actor1_code", "actor1_country_code",
           "actor1_entity_id", "event_code"),
    _taken(CAMEO_CODES, "event_name", "quad_class_name"),
    _taken(EVENTS, "plover_event", "actor2_name", "actor2_code", "actor2_country_code", "actor2_entity_id",
           "goldstein_scale", "is_negated", "is_hypothetical", "action_geo_name", "action_geo_country_code"),
    _taken(EVENT_MENTIONS, "actor1_text", "action_text", "actor2_text", "mention_id", "article_id"),
    _own(article_title=(pl.String, "headline of the article (articles.title)")),
    _taken(ARTICLES, "url"),
    _taken(EVENT_MENTIONS, "field", "sentence_index"),
    _own(evidence_sentence=(pl.String, "the sentence the event was coded from, cut from the article's field")),
    _taken(EVENT_MENTIONS, "confidence"),
)

VIEWS: dict[str, Table] = {
    v.name: v for v in (CONFIDENT_EVENTS, DAILY_EVENT_COUNTS, ACTOR_NETWORK, ENTITY_SUMMARY, ENTITY_CO_MENTIONS,
                        EVENT_TIMELINE)
}
