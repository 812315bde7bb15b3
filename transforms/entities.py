"""From articles and model spans to entity mentions and canonical entities."""

from __future__ import annotations

import polars as pl

from schemas import ENTITY_LABELS, ENTITY_MENTIONS
from transforms.normalize import stable_id


def nlp_documents(articles: pl.LazyFrame) -> pl.LazyFrame:
    """One row per non-empty article field (doc_index, article_id, field, content) to send to
    the model, in a stable order (article order, title before text)."""
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


def entities(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per canonical entity (entity_id) with its most used name and its counts."""
    named = mentions.with_columns(name=canonical_entity_name(pl.col("text")))
    names = (
        named.group_by("entity_id", "name")
        .agg(pl.len().alias("_uses"))
        .sort("entity_id", "_uses", "name", descending=[False, True, False])
        .unique("entity_id", keep="first", maintain_order=True)
        .select("entity_id", "name")
    )
    counts = named.group_by("entity_id").agg(
        pl.col("label").first(),
        pl.len().cast(pl.Int64).alias("mention_count"),
        pl.col("article_id").n_unique().cast(pl.Int64).alias("article_count"),
    )
    return (
        names.join(counts, on="entity_id", how="inner")
        .select("entity_id", "name", "label", "mention_count", "article_count")
        .sort("entity_id")
    )
