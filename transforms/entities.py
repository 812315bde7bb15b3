"""From articles and model spans to entity mentions and canonical entities."""

from __future__ import annotations

import polars as pl

from schemas import ENTITY_LABELS, ENTITY_MENTIONS
from schemas.tables import PLACE_COLUMNS
from transforms.normalize import stable_id


def nlp_documents(articles: pl.LazyFrame, languages: tuple[str, ...] = ("en",)) -> pl.LazyFrame:
    """One row per non-empty article field (doc_index, article_id, field, content) to send to
    the model, in a stable order (article order, title before text). Only articles in one of the
    model's `languages` go (or of unknown language): an English model reads German as noise."""
    if "language" in articles.collect_schema().names():
        articles = articles.filter(pl.col("language").is_null() | pl.col("language").is_in(list(languages)))
    fields = [
        articles.select("article_id", pl.lit(field).alias("field"), pl.col(field).alias("content"),
                        pl.int_range(pl.len()).alias("_article_order"))
        for field in ("title", "text")
    ]
    return (
        pl.concat(fields)
        .filter(pl.col("content").is_not_null() & (pl.col("content") != ""))
        .sort("_article_order", pl.col("field") == "text")
        .drop("_article_order")
        .with_row_index("doc_index")
        .with_columns(pl.col("doc_index").cast(pl.Int64))
    )


def canonical_entity_name(expr: pl.Expr) -> pl.Expr:
    """The entity's canonical name: whitespace folded, a leading "the" and a possessive removed."""
    return (
        expr.str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.replace(r"(?i)^the ", "")
        .str.replace(r"['’]s$", "")
        .str.replace(r"(s)['’]$", "${1}")
        .str.strip_chars()
    )


def _entity_id(name: pl.Expr, label: pl.Expr) -> pl.Expr:
    return stable_id(label, name.str.to_lowercase())


def article_entity_mentions(documents: pl.LazyFrame, spans: pl.LazyFrame) -> pl.LazyFrame:
    """One row per entity span in an article field (mention_id), offsets into that field."""
    return (
        spans.filter(pl.col("label").is_in(ENTITY_LABELS))
        .join(documents.select("doc_index", "article_id", "field"), on="doc_index", how="inner",
              maintain_order="left")
        .with_columns(
            mention_id=stable_id(pl.col("article_id"), pl.col("field"), pl.col("start_char"), pl.col("end_char")),
            entity_id=_entity_id(canonical_entity_name(pl.col("text")), pl.col("label")),
        )
        # Places are geocoded later, in their article's context (transforms.geo.geocoded_mentions).
        .with_columns(pl.lit(None, ENTITY_MENTIONS.schema[c]).alias(c) for c in PLACE_COLUMNS)
        .select(ENTITY_MENTIONS.columns)
    )


def mention_checks(mentions: pl.LazyFrame, articles: pl.LazyFrame) -> pl.LazyFrame:
    """The mentions with `is_span_exact`: the span of the stored field text equals the mention."""
    texts = articles.select("article_id", "title", "text").unpivot(
        index="article_id", on=["title", "text"], variable_name="field", value_name="_content"
    )
    span = pl.col("_content").str.slice(pl.col("start_char"), pl.col("end_char") - pl.col("start_char"))
    return (
        mentions.join(texts, on=["article_id", "field"], how="left", maintain_order="left")
        .with_columns(is_span_exact=(span == pl.col("text")).fill_null(False))
        .drop("_content")
    )


# Which dictionary entry wins when two spell the same lookup key ("US" the country, not a person).
_KIND_PRIORITY = {"country": 0, "nationality": 1, "igo": 2, "group": 3, "person": 4, "capital": 5}


def _lookup_key(expr: pl.Expr) -> pl.Expr:
    """The form names are matched on: canonical, lower-case, without dots ("U.S." == "US")."""
    return canonical_entity_name(expr).str.to_lowercase().str.replace_all(r"\.", "").str.replace_all(r"\s+", " ")


def actor_keys(actors: pl.LazyFrame) -> pl.LazyFrame:
    """One row per lookup key (key) of an actor dictionary (name, code, country_code, kind, label,
    canonical): the entry of the most specific kind, earlier rows winning ties."""
    return (
        actors.with_row_index("_order")
        .with_columns(
            key=_lookup_key(pl.col("name")),
            _priority=pl.col("kind").replace_strict(_KIND_PRIORITY, default=9, return_dtype=pl.Int32),
        )
        .filter(pl.col("key") != "")
        .sort("key", "_priority", "_order")
        .unique("key", keep="first", maintain_order=True)
        .select("key", pl.col("code").alias("actor_code"), pl.col("country_code").replace("", None),
                "kind", pl.col("label").alias("actor_label"), pl.col("canonical").alias("actor_name"))
    )


def resolved_mentions(mentions: pl.LazyFrame, keys: pl.LazyFrame) -> pl.LazyFrame:
    """The mentions (mention_id) linked to canonical entities: dictionary names get their canonical
    name, label and CAMEO codes ("U.S." -> United States, USA; "Qatari" -> Qatar); inside an article
    a lone surname joins the full name mentioned there ("Trump" -> Donald Trump, as PERSON).
    Adds name, entity_label, actor_code, country_code, kind and recomputes entity_id."""
    base = (
        mentions.with_columns(key=_lookup_key(pl.col("text")), _name=canonical_entity_name(pl.col("text")))
        .join(keys, on="key", how="left", maintain_order="left")
        # A capital's name on a person ("Denzel Washington" is not; "Washington" labelled PERSON
        # might be) is no capital.
        .with_columns(
            pl.when((pl.col("kind") == "capital") & (pl.col("label") == "PERSON")).then(None).otherwise(pl.col(c))
            .alias(c) for c in ("actor_code", "country_code", "kind", "actor_label", "actor_name")
        )
        # A one-word alias of a group or IGO ("Foundation" for El Rukn) is often a common word: it
        # links only in capitals ("ETA") or in an article that also names the actor in full.
        .join(mentions.select("article_id", canonical_entity_name(pl.col("text")).str.to_lowercase()
                              .alias("_full_named")).unique(), how="left", maintain_order="left",
              left_on=["article_id", pl.col("actor_name").str.to_lowercase()],
              right_on=["article_id", "_full_named"], coalesce=False)
        .with_columns(
            pl.when(pl.col("kind").is_in(["group", "igo"]) & ~pl.col("_name").str.contains(" ")
                    & (pl.col("_name").str.to_lowercase() != pl.col("actor_name").str.to_lowercase())
                    & (pl.col("text") != pl.col("text").str.to_uppercase()) & pl.col("_full_named").is_null())
            .then(None).otherwise(pl.col(c)).alias(c)
            for c in ("actor_code", "country_code", "kind", "actor_label", "actor_name")
        )
        .drop("_full_named")
        # A person the dictionaries list under a group ("Khaled Meshaal" under Hamas) keeps their
        # own name and PERSON label and takes the group's code, as CAMEO codes them.
        .with_columns(
            actor_name=pl.when(pl.col("kind").is_in(["group", "igo"]) & (pl.col("label") == "PERSON")
                               & (pl.col("actor_name") != pl.col("_name"))).then(pl.col("_name"))
            .otherwise(pl.col("actor_name")),
            actor_label=pl.when(pl.col("kind").is_in(["group", "igo"]) & (pl.col("label") == "PERSON")
                                & (pl.col("actor_name") != pl.col("_name"))).then(pl.lit("PERSON"))
            .otherwise(pl.col("actor_label")),
        )
        .with_columns(
            name=pl.coalesce("actor_name", "_name"),
            entity_label=pl.when(pl.col("kind").is_in(["country", "nationality"])).then(pl.lit("GPE"))
            .otherwise(pl.coalesce("actor_label", "label")),
        )
    )
    people = (
        base.filter((pl.col("entity_label") == "PERSON") & pl.col("name").str.contains(" "))
        .group_by("article_id", "name")
        .agg(pl.len().alias("_uses"), pl.col("start_char").min().alias("_first"),
             pl.col("actor_code").drop_nulls().first(), pl.col("country_code").drop_nulls().first(),
             pl.col("kind").drop_nulls().first())
        .with_columns(_short=pl.col("name").str.split(" ").list.last())
        .sort("article_id", "_short", "_uses", "_first", "name", descending=[False, False, True, False, False])
        .unique(["article_id", "_short"], keep="first", maintain_order=True)
        .select("article_id", "_short", pl.col("name").alias("_full"), pl.col("actor_code").alias("_full_code"),
                pl.col("country_code").alias("_full_country"), pl.col("kind").alias("_full_kind"))
    )
    linkable = pl.col("_full").is_not_null() & pl.col("actor_code").is_null() & ~pl.col("name").str.contains(" ")
    return (
        base.join(people, left_on=["article_id", "name"], right_on=["article_id", "_short"], how="left",
                  maintain_order="left")
        .with_columns(
            name=pl.when(linkable).then("_full").otherwise("name"),
            entity_label=pl.when(linkable).then(pl.lit("PERSON")).otherwise("entity_label"),
            actor_code=pl.when(linkable).then("_full_code").otherwise("actor_code"),
            country_code=pl.when(linkable).then("_full_country").otherwise("country_code"),
            kind=pl.when(linkable).then("_full_kind").otherwise("kind"),
        )
        .with_columns(
            # The mention keeps its own label unless the entity layer corrected it; a nationality
            # stays NORP while its entity is the country.
            label=pl.when(pl.col("kind") == "nationality").then(pl.lit("NORP")).otherwise("entity_label"),
            entity_id=_entity_id(pl.col("name"), pl.col("entity_label")),
        )
        .drop("key", "_name", "actor_label", "actor_name", "_full", "_full_code", "_full_country", "_full_kind")
    )


def entities(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per canonical entity (entity_id) with its name, label, codes and counts."""
    if "entity_label" not in mentions.collect_schema().names():
        mentions = mentions.with_columns(entity_label=pl.col("label"), name=canonical_entity_name(pl.col("text")),
                                         actor_code=pl.lit(None, pl.String), country_code=pl.lit(None, pl.String))
    names = (
        mentions.group_by("entity_id", "name")
        .agg(pl.len().alias("_uses"))
        .sort("entity_id", "_uses", "name", descending=[False, True, False])
        .unique("entity_id", keep="first", maintain_order=True)
        .select("entity_id", "name")
    )
    counts = mentions.group_by("entity_id").agg(
        pl.col("entity_label").first().alias("label"),
        pl.col("actor_code").drop_nulls().first(),
        pl.col("country_code").drop_nulls().first(),
        pl.len().cast(pl.Int64).alias("mention_count"),
        pl.col("article_id").n_unique().cast(pl.Int64).alias("article_count"),
    )
    return (
        names.join(counts, on="entity_id", how="inner")
        .select("entity_id", "name", "label", "actor_code", "country_code", "mention_count", "article_count")
        .sort("entity_id")
    )
