"""Action geography: where an event happened, from the place names around it and a gazetteer."""

from __future__ import annotations

import polars as pl

from transforms.entities import canonical_entity_name

ACTION_GEOGRAPHY = pl.Schema(
    {
        "event_key": pl.String,
        "action_geo_name": pl.String,
        "action_geo_country_code": pl.String,
        "action_geo_lat": pl.Float64,
        "action_geo_lon": pl.Float64,
        "action_geo_precision": pl.String,
    }
)

# The event's own sentence beats the rest of its article; within a scope a city beats a country
# (it is the finer location); then the earliest mention wins.
_SCOPE_RANK = {"sentence": 0, "article": 1}
_PRECISION_RANK = {"city": 0, "country": 1}


def _place_key(name: pl.Expr) -> pl.Expr:
    # "the Netherlands" and "Gaza's" are looked up as "Netherlands" and "Gaza"; the gazetteer's
    # names get the same treatment so that "The Hague" still meets "The Hague".
    return canonical_entity_name(name)


def _gazetteer_keys(gazetteer: pl.LazyFrame) -> pl.LazyFrame:
    """One row per place key; where two names share a key the country, then the more populous
    place, wins."""
    return (
        gazetteer.with_columns(_key=_place_key(pl.col("name")),
                               _rank=pl.col("precision").replace_strict(_PRECISION_RANK, default=9,
                                                                        return_dtype=pl.Int32))
        .sort("_key", pl.col("_rank"), pl.col("population"), "name",
              descending=[False, False, True, False], nulls_last=True)
        .unique("_key", keep="first", maintain_order=True)
        .select("_key", "_rank", "name", "country_code", "lat", "lon", "precision")
    )


def action_geography(places: pl.LazyFrame, gazetteer: pl.LazyFrame) -> pl.LazyFrame:
    """One row per event_key of `places` (first-seen order) with its action place: the first
    sentence city, else sentence country, else article city, else article country; nulls if none."""
    ranked = (
        places.with_row_index("_row")
        .with_columns(
            _key=_place_key(pl.col("place_text")),
            # An unknown scope is a caller's bug: replace_strict raises on it.
            _scope=pl.col("scope").replace_strict(_SCOPE_RANK, return_dtype=pl.Int32),
        )
        .join(_gazetteer_keys(gazetteer), on="_key", how="left", maintain_order="left")
    )
    # Unmatched places come last whatever their scope, so an event with any match gets it.
    order = (pl.col("_rank").is_null(), "_scope", "_rank", "position", "_row")

    def best(column: str) -> pl.Expr:
        return pl.col(column).sort_by(order, nulls_last=True).first()

    return (
        ranked.group_by("event_key")
        .agg(
            pl.col("_row").min().alias("_first_row"),
            best("name").alias("action_geo_name"),
            best("country_code").alias("action_geo_country_code"),
            best("lat").cast(pl.Float64).alias("action_geo_lat"),
            best("lon").cast(pl.Float64).alias("action_geo_lon"),
            best("precision").alias("action_geo_precision"),
        )
        .sort("_first_row")
        .select(ACTION_GEOGRAPHY.names())
    )
