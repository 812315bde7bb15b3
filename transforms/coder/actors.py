"""Actors in the article's context: an institution the sentence leaves without a country takes the
article's ("police" in a story about Kenya is KENCOP), judged from the title first, then from the
country the article names most."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import polars as pl

from transforms.events import _Actor

# A country must hold this share of the article's country mentions (title mentions count double)
# to be the article's country; below it the story is international and "the government" stays open.
DOMINANT_SHARE = 0.5


def article_countries(documents: pl.DataFrame, entities: pl.DataFrame) -> dict[str, str]:
    """article_id -> the article's country (ISO-3): the title's only country, else the country
    with at least half of the article's country mentions (title mentions counting twice) and more
    than any other."""
    if entities.height == 0 or "country_code" not in entities.columns:
        return {}
    fields = documents.select("doc_index", "article_id", "field")
    rows = (entities.filter(pl.col("country_code").is_not_null())
            .select("doc_index", "country_code")
            .join(fields, on="doc_index", how="inner"))
    out: dict[str, str] = {}
    for (article_id,), part in rows.group_by("article_id"):
        title = set(part.filter(pl.col("field") == "title")["country_code"].to_list())
        if len(title) == 1:
            out[article_id] = next(iter(title))
            continue
        counts = Counter()
        for field, code in part.select("field", "country_code").iter_rows():
            counts[code] += 2 if field == "title" else 1
        ranked = counts.most_common(2)
        code, n = ranked[0]
        if n / sum(counts.values()) >= DOMINANT_SHARE and (len(ranked) == 1 or n > ranked[1][1]):
            out[article_id] = code
    return out


def in_context(actor: _Actor | None, country: str | None) -> _Actor | None:
    """The actor with the article's country in front of a bare agent code (GOV, COP, MIL...)."""
    if actor is None or country is None or actor.country_code is not None or not actor.code:
        return actor
    if actor.entity_id is not None or len(actor.code) != 3 or actor.code[:3] in ("IGO", "NGO", "MNC", "IMG"):
        return actor
    return replace(actor, code=country + actor.code, country_code=country)


def dated_actor_codes(mentions: pl.LazyFrame, periods: pl.LazyFrame) -> pl.LazyFrame:
    """The event mentions (same rows and order) with each office holder's code the one in force on
    the article's publication day (`published_at`): a leader is GOV in office, ELI after.
    `periods` has canonical, code, start_date, end_date (Date; null is open). A mention with no
    date, or a person with no period covering it, keeps its code."""
    day = pl.col("published_at").dt.date()
    out = mentions.with_row_index("_row")
    for actor in ("actor1", "actor2"):
        in_force = (
            out.select("_row", pl.col(f"{actor}_name").alias("canonical"), day.alias("_day"))
            .join(periods, on="canonical", how="inner")
            .filter((pl.col("start_date").is_null() | (pl.col("start_date") <= pl.col("_day")))
                    & (pl.col("end_date").is_null() | (pl.col("_day") < pl.col("end_date"))))
            .sort("_row", "start_date", nulls_last=False)
            .group_by("_row").agg(pl.col("code").last().alias("_code"))  # the latest period to start
        )
        out = (out.join(in_force, on="_row", how="left")
               .with_columns(pl.coalesce("_code", f"{actor}_code").alias(f"{actor}_code"))
               .drop("_code"))
    return out.sort("_row").drop("_row")
