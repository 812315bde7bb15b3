"""Places in context: each place mention's GeoNames place, chosen with the rest of its article; and
an event's action geography from the places around it."""

from __future__ import annotations

import polars as pl

from schemas import ENTITY_MENTIONS
from schemas.tables import PLACE_COLUMNS
from transforms.entities import canonical_entity_name

PLACE_LABELS = ("GPE", "LOC", "FAC")

# What geocoding adds to a mention (null when the mention is not geocoded): entity_mentions' place
# columns, declared in schemas/tables.py.
GEO_COLUMNS = pl.Schema({c: ENTITY_MENTIONS.schema[c] for c in PLACE_COLUMNS})

# geo_method, why a place was chosen for its name (schemas.tables.GEO_METHODS):
# country      the name (or, for a name the gazetteer lacks, the dictionary's country) is a country's
# continent    the name is a continent's
# only_candidate  one place in the gazetteer has the name
# article_context the place is in a country the article's other places or nationalities imply
#              (or in the region named right after it: "Birmingham, Alabama"), and that decided
# feature_class  a region, a big city or a capital before smaller places of the name
# population   the most populous of equally ranked places of the name

# A city this big (or a capital) outranks a region of its name ("New York"). A city smaller than
# SMALL_CITY_POPULATION outside the article's countries is not taken at all ("Norfolk", VA, in a
# South London story): a namesake town abroad is likelier a place the gazetteer lacks (the county).
BIG_CITY_POPULATION = 1_000_000
SMALL_CITY_POPULATION = 300_000
# A place name implies its country for the rest of the article when its most populous place
# outnumbers every namesake in another country this many times ("Croydon": GB 173k, Victoria 27k).
DOMINANT_RATIO = 5
ANCHOR_POPULATION = 100_000
# A city with this many GeoNames alternate names is widely known (Geneva 60, Lyon 51, Cannes 48;
# Norfolk, VA 26, Blenheim, NZ 31, Colorado, BR 1): it is not passed over for an obscure namesake
# in the article's countries, and not dropped as out of context.
PROMINENT_ALTERNATE_NAMES = 40

ACTION_GEOGRAPHY = pl.Schema(
    {
        "event_key": pl.String,
        "action_geo_name": pl.String,
        "action_geo_country_code": pl.String,
        "action_geo_lat": pl.Float64,
        "action_geo_lon": pl.Float64,
        "action_geo_precision": pl.String,
        "action_geo_geonames_id": pl.Int64,
        "action_geo_method": pl.String,
    }
)

# The event's own sentence beats the rest of its article; within a scope the finer place wins
# (a city, then a region, then a country, then a continent); then the earliest mention.
_SCOPE_RANK = {"sentence": 0, "article": 1}
_PRECISION_RANK = {"city": 0, "region": 1, "country": 2, "continent": 3}
_COARSE = ("continent", "country")
_COMPASS = r"^(?i:north|south|east|west|northern|southern|eastern|western|central|north-east|north-west|south-east|south-west|northeast|northwest|southeast|southwest) "


def _place_key(name: pl.Expr) -> pl.Expr:
    # "the Netherlands" and "Gaza's" are looked up as "Netherlands" and "Gaza"; the gazetteer's
    # names get the same treatment so that "The Hague" still meets "The Hague".
    return canonical_entity_name(name)


def _candidates(mentions: pl.LazyFrame, places: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (mention, place of its name). A name the gazetteer lacks is looked up without
    a leading compass word ("South London" as London, "northern Iraq" as Iraq), else, when the
    entity layer linked it to a country ("U.S.", "Britain": kind country), as that country."""
    keyed = places.with_columns(_key=_place_key(pl.col("name")))
    known = keyed.select("_key").unique()
    by_code = (keyed.filter((pl.col("feature_class") == "country") & ~pl.col("is_alternate"))
               .select(pl.col("country_code").alias("_dict_country"), pl.col("_key").alias("_country_key")))
    stripped = pl.col("_key").str.replace(_COMPASS, "")
    return (
        mentions.join(known.with_columns(_known=pl.lit(True)), on="_key", how="left")
        .join(known.select(pl.col("_key").alias("_stripped"), _stripped_known=pl.lit(True)),
              left_on=stripped, right_on="_stripped", how="left")
        .join(by_code, on="_dict_country", how="left")
        .with_columns(_key=pl.when(pl.col("_known")).then("_key")
                      .when(pl.col("_stripped_known")).then(stripped)
                      .otherwise(pl.coalesce("_country_key", "_key")))
        .drop("_known", "_stripped_known", "_country_key")
        .join(keyed.drop("name", "is_alternate").unique(["_key", "geonames_id"]), on="_key", how="inner")
    )


def _anchors(candidates: pl.LazyFrame) -> pl.LazyFrame:
    """(article_id, country_code, _key, _strong): the countries the article's place names imply
    by themselves. A name implies the country of its first place (a country, else a region, else
    the most populous city) when all its places are in that country, or when that place is a
    country or region, or a city of ANCHOR_POPULATION people outnumbering every namesake abroad
    DOMINANT_RATIO times. A lone small town ("Croydon") is weak: it supports its country but
    does not rule out places elsewhere."""
    per_country = (
        candidates.filter(pl.col("country_code").is_not_null())
        .group_by("article_id", "_key", "country_code")
        .agg(pl.col("population").max().alias("_pop"),
             pl.when(pl.col("feature_class") == "country").then(0)
             .when(pl.col("feature_class") == "region").then(1).otherwise(2).min().alias("_rank"))
    )

    def ranked(column: str) -> pl.Expr:
        # Sorted inside the aggregation: the streaming engine keeps no row order across a group_by.
        return pl.col(column).sort_by("_rank", "_pop", "country_code", descending=[False, True, False],
                                      nulls_last=True)

    first = per_country.group_by("article_id", "_key").agg(
        ranked("country_code").first(), ranked("_rank").first(), ranked("_pop").first().alias("_top"),
        ranked("_pop").slice(1, 1).first().alias("_second"))
    strong = (pl.col("_rank") <= 1) | (
        (pl.col("_top") >= ANCHOR_POPULATION)
        & (pl.col("_second").is_null() | (pl.col("_top") >= DOMINANT_RATIO * pl.col("_second"))))
    return (first.filter(strong | pl.col("_second").is_null())
            .select("article_id", "country_code", "_key", strong.alias("_strong")))


def _landmark_names(placed: pl.LazyFrame, mentions: pl.LazyFrame) -> pl.LazyFrame:
    """_row of the place mentions whose name starts a longer FAC/ORG name of their article:
    "Blenheim" beside "Blenheim Palace" (FAC), "Chelsea" beside "Chelsea Football Club" (ORG)."""
    longer = mentions.filter(pl.col("label").is_in(["FAC", "ORG"])).select("article_id", pl.col("_key").alias("_longer"))
    return (
        placed.select("_row", "article_id", "_key")
        .join(longer, on="article_id", how="inner")
        .filter(pl.col("_longer").str.starts_with(pl.concat_str(pl.col("_key"), pl.lit(" "))))
        .select("_row").unique().with_columns(_in_landmark=pl.lit(True))
    )


def _cities_before_their_region(candidates: pl.LazyFrame) -> pl.LazyFrame:
    """(_row, geonames_id) of city candidates followed, after ", ", by a name of their own region:
    "Birmingham, Alabama" is the Alabama Birmingham."""
    regions = (
        candidates.filter(pl.col("feature_class") == "region")
        .select("article_id", "field", pl.col("start_char").alias("_region_start"), "country_code", "admin1_code")
        .unique()
    )
    return (
        candidates.filter(pl.col("feature_class") == "city")
        .select("_row", "article_id", "field", "end_char", "geonames_id", "country_code", "admin1_code")
        .join(regions, on=["article_id", "field", "country_code", "admin1_code"], how="inner")
        .filter((pl.col("_region_start") > pl.col("end_char")) & (pl.col("_region_start") <= pl.col("end_char") + 2))
        .select("_row", "geonames_id").unique().with_columns(_in_region=pl.lit(True))
    )


def geocoded_mentions(mentions: pl.LazyFrame, places: pl.LazyFrame) -> pl.LazyFrame:
    """The mentions (mention_id, order kept) with GEO_COLUMNS: the GeoNames place of each GPE, LOC
    and FAC mention, chosen in its article's context; nulls for other labels and unplaced names.

    `mentions` needs article_id, field, start_char, end_char, text and label; the entity layer's
    `kind` and `country_code` are used when present (a dictionary country; a nationality implies
    its country).
    `places` is lexicons.gazetteer.PLACES. The article's countries are those its other place names
    and nationalities imply (_anchors). Rules, in order:
    - a FAC mention (a building, a palace) takes a city or region only in the article's countries
      (the model labels some towns FAC), and a name that starts a longer FAC/ORG name of the
      article ("Blenheim" beside "Blenheim Palace") takes a small city only there;
    - where the article has countries, a small, little-known city outside them is no candidate:
      the name stays unplaced rather than guessed ("Norfolk", VA, in a South London story);
    - a country or continent of the name wins;
    - then a city in the region named right after it, a well-known place (a region, a big or
      widely named city) in the article's countries, a well-known place anywhere, a little-known
      one in the article's countries, the rest;
    - then a big city or capital, a region, a smaller city; then population.
    """
    mentions = mentions.drop(GEO_COLUMNS.names(), strict=False)
    names = mentions.collect_schema().names()
    kind = pl.col("kind") if "kind" in names else pl.lit(None, pl.String)
    dict_country = pl.col("country_code") if "country_code" in names else pl.lit(None, pl.String)
    base = mentions.with_row_index("_row").with_columns(
        _key=_place_key(pl.col("text")),
        _dict_country=pl.when(kind == "country").then(dict_country),
        _nationality=pl.when(kind == "nationality").then(dict_country),
    )
    placed = base.filter(pl.col("label").is_in(PLACE_LABELS)).select(
        "_row", "article_id", "field", "start_char", "end_char", "label", "_key", "_dict_country")
    candidates = _candidates(placed, places)
    landmark = _landmark_names(placed, base)
    # Buildings and landmark-like names say nothing about the article's countries.
    anchors = pl.concat([
        _anchors(candidates.filter(pl.col("label") != "FAC").join(landmark, on="_row", how="anti")),
        base.filter(pl.col("_nationality").is_not_null())
        .select("article_id", pl.col("_nationality").alias("country_code"), "_key", _strong=pl.lit(True)),
    ]).unique()
    other_anchors = anchors.rename({"_key": "_anchor_key"})
    # Each candidate's support: the other names of the article that imply its country.
    support = (
        candidates.select("_row", "article_id", "_key", "geonames_id", "country_code")
        .join(other_anchors.drop("_strong"), on=["article_id", "country_code"], how="inner")
        .filter(pl.col("_anchor_key") != pl.col("_key"))
        .group_by("_row", "geonames_id").agg(pl.len().alias("_support"))
    )
    # Whether the article's other names imply any country firmly (a country, region or big city).
    has_context = (
        placed.select("_row", "article_id", "_key")
        .join(other_anchors.filter("_strong"), on="article_id", how="inner")
        .filter(pl.col("_anchor_key") != pl.col("_key"))
        .select("_row").unique().with_columns(_has_context=pl.lit(True))
    )
    big = (pl.col("population") >= BIG_CITY_POPULATION) | pl.col("is_capital")
    prominent = (pl.col("feature_class") != "city") | big | (pl.col("alternate_names") >= PROMINENT_ALTERNATE_NAMES)
    in_context = pl.col("_support").fill_null(0) > 0
    small_city = (pl.col("feature_class") == "city") & (pl.col("population") < SMALL_CITY_POPULATION) & ~big
    scored = (
        candidates.join(support, on=["_row", "geonames_id"], how="left")
        .join(has_context, on="_row", how="left")
        .join(landmark, on="_row", how="left")
        .join(_cities_before_their_region(candidates), on=["_row", "geonames_id"], how="left")
        .with_columns(pl.col("_has_context", "_in_landmark", "_in_region").fill_null(False), _in_context=in_context,
                      _prominent=prominent)
        # What the name offered before the rules, for geo_method.
        .with_columns(_n_all=pl.len().over("_row"))
        .filter(
            ~((pl.col("label") == "FAC") & pl.col("feature_class").is_in(["city", "region"]) & ~pl.col("_in_context"))
            & ~(pl.col("_in_landmark") & small_city & ~pl.col("_in_context"))
            & ~(pl.col("_has_context") & small_city & ~pl.col("_prominent") & ~pl.col("_in_context"))
        )
        .with_columns(
            _coarse=pl.col("feature_class").is_in(_COARSE),
            # A place in a region the article names, then a known place in its countries, then a
            # known place anywhere, then an obscure one in its countries, then the rest.
            _tier=pl.when(pl.col("_in_region")).then(0)
            .when(pl.col("_in_context") & pl.col("_prominent")).then(1)
            .when(pl.col("_prominent")).then(2)
            .when(pl.col("_in_context")).then(3).otherwise(4),
            _class=pl.when(pl.col("feature_class").is_in(_COARSE)).then(0)
            .when((pl.col("feature_class") == "city") & big).then(1)
            .when(pl.col("feature_class") == "region").then(2).otherwise(3),
        )
    )

    def ranked(column: str) -> pl.Expr:
        # Best first; sorted inside the aggregation (no row order survives a streaming group_by).
        return pl.col(column).sort_by("_coarse", "_tier", "_class", "population", "geonames_id",
                                      descending=[True, False, False, True, False], nulls_last=True)

    chosen = scored.group_by("_row").agg(
        *(ranked(c).first() for c in ("geonames_id", "feature_class", "country_code", "lat", "lon", "_in_context",
                                      "_in_region", "_tier", "_class", "_n_all")),
        ranked("_tier").slice(1).min().alias("_next_tier"),
        ranked("_class").slice(1).min().alias("_next_class"),
        pl.len().alias("_n_left"),
    )
    # Context decided when it ruled the namesakes out, or ranked the place above them.
    by_context = (pl.col("_in_context") | pl.col("_in_region")) & (
        (pl.col("_n_all") > pl.col("_n_left")) | (pl.col("_tier") < pl.col("_next_tier").fill_null(9)))
    method = (
        pl.when(pl.col("feature_class") == "country").then(pl.lit("country"))
        .when(pl.col("feature_class") == "continent").then(pl.lit("continent"))
        .when(pl.col("_n_all") == 1).then(pl.lit("only_candidate"))
        .when(by_context).then(pl.lit("article_context"))
        .when(pl.col("_class") < pl.col("_next_class").fill_null(9)).then(pl.lit("feature_class"))
        .otherwise(pl.lit("population"))
    )
    names_by_id = places.filter(~pl.col("is_alternate")).select("geonames_id", pl.col("name").alias("geo_name")).unique(
        "geonames_id")
    geo = chosen.join(names_by_id, on="geonames_id", how="left").select(
        "_row", "geonames_id", "geo_name", pl.col("country_code").alias("geo_country_code"),
        pl.col("lat").cast(pl.Float64).alias("geo_lat"), pl.col("lon").cast(pl.Float64).alias("geo_lon"),
        pl.col("feature_class").alias("geo_precision"), method.alias("geo_method"),
    )
    return (
        base.join(geo, on="_row", how="left")
        .sort("_row")
        .drop("_row", "_key", "_dict_country", "_nationality")
        .cast(dict(GEO_COLUMNS))
    )


def action_geography(places: pl.LazyFrame) -> pl.LazyFrame:
    """One row per event_key of `places` (first-seen order) with its action place: among the
    event's geocoded place mentions (GEO_COLUMNS, a scope "sentence" or "article" and a position),
    the finest in its sentence, else the finest in the article; the earliest of equals. Nulls if
    none is geocoded."""
    ranked = places.with_row_index("_row").with_columns(
        # An unknown scope is a caller's bug: replace_strict raises on it.
        _scope=pl.col("scope").replace_strict(_SCOPE_RANK, return_dtype=pl.Int32),
        _rank=pl.col("geo_precision").replace_strict(_PRECISION_RANK, default=None, return_dtype=pl.Int32),
    )
    # Unplaced mentions come last whatever their scope, so an event with any place gets it.
    order = (pl.col("geonames_id").is_null(), "_scope", "_rank", "position", "_row")

    def best(column: str) -> pl.Expr:
        return pl.col(column).sort_by(order, nulls_last=True).first()

    return (
        ranked.group_by("event_key")
        .agg(
            pl.col("_row").min().alias("_first_row"),
            *(best(geo).alias(action) for geo, action in (
                ("geo_name", "action_geo_name"), ("geo_country_code", "action_geo_country_code"),
                ("geo_lat", "action_geo_lat"), ("geo_lon", "action_geo_lon"),
                ("geo_precision", "action_geo_precision"), ("geonames_id", "action_geo_geonames_id"),
                ("geo_method", "action_geo_method"))),
        )
        .sort("_first_row")
        .select(ACTION_GEOGRAPHY.names())
        .cast(dict(ACTION_GEOGRAPHY))
    )
