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
    with at least half of the article's country mentions (title mentions counting twice)."""
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
        code, n = counts.most_common(1)[0]
        if n / sum(counts.values()) >= DOMINANT_SHARE:
            out[article_id] = code
    return out


def in_context(actor: _Actor | None, country: str | None) -> _Actor | None:
    """The actor with the article's country in front of a bare agent code (GOV, COP, MIL...)."""
    if actor is None or country is None or actor.country_code is not None or not actor.code:
        return actor
    if actor.entity_id is not None or len(actor.code) != 3 or actor.code[:3] in ("IGO", "NGO", "MNC", "IMG"):
        return actor
    return replace(actor, code=country + actor.code, country_code=country)
