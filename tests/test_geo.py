"""Places in context (geocoded mentions), action geography, and the GeoNames gazetteer."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lexicons.gazetteer import PLACES, place_gazetteer
from schemas import ENTITY_MENTIONS, EVENTS
from schemas.tables import GEO_METHODS, GEO_PRECISIONS, PLACE_COLUMNS
from transforms.geo import ACTION_GEOGRAPHY, GEO_COLUMNS, action_geography, geocoded_mentions

# name, geonames_id, feature_class, country, admin1, lat, lon, population, alternate names, capital, alternate
GAZ = pl.LazyFrame(
    [
        ("Asia", 6255147, "continent", None, None, 29.8, 89.3, 3_812_366_000, None, False, False),
        ("Asia", 1730097, "city", "PHL", "40", 13.8, 122.5, 23_546, 4, False, False),
        ("United Kingdom", 2635167, "country", "GBR", None, 51.5, -0.1, 66_488_991, None, False, False),
        ("United States", 6252001, "country", "USA", None, 38.9, -77.0, 327_167_434, None, False, False),
        ("Brazil", 3469034, "country", "BRA", None, -15.8, -47.9, 209_469_333, None, False, False),
        ("Norway", 3144096, "country", "NOR", None, 59.9, 10.7, 5_314_336, None, False, False),
        ("England", 6269131, "region", "GBR", "ENG", 52.5, -1.0, 51_420_038, None, False, False),
        ("Colorado", 5417618, "region", "USA", "CO", 39.6, -105.0, 3_919_946, None, False, False),
        ("Alabama", 4829764, "region", "USA", "AL", 33.2, -86.8, 2_400_000, None, False, False),
        ("New York", 5128638, "region", "USA", "NY", 42.0, -75.0, 15_000_000, None, False, False),
        ("Colorado", 3465881, "city", "BRA", "18", -22.8, -51.9, 22_896, 1, False, False),
        ("Blenheim", 6243926, "city", "NZL", "F4", -41.5, 173.9, 29_800, 31, False, False),
        ("Norfolk", 4776222, "city", "USA", "VA", 36.8, -76.3, 238_005, 26, False, False),
        ("London", 2643743, "city", "GBR", "ENG", 51.5, -0.1, 8_961_989, 150, True, False),
        ("London", 6058560, "city", "CAN", "08", 43.0, -81.2, 422_324, 40, False, False),
        ("Cambridge", 2653941, "city", "GBR", "ENG", 52.2, 0.1, 145_674, 54, False, False),
        ("Cambridge", 4931972, "city", "USA", "MA", 42.4, -71.1, 110_402, 63, False, False),
        ("Boston", 4930956, "city", "USA", "MA", 42.4, -71.1, 675_647, 90, False, False),
        ("Birmingham", 2655603, "city", "GBR", "ENG", 52.5, -1.9, 1_157_603, 50, False, False),
        ("Birmingham", 4049979, "city", "USA", "AL", 33.5, -86.8, 196_357, 38, False, False),
        ("New York City", 5128581, "city", "USA", "NY", 40.7, -74.0, 8_804_190, 200, False, False),
        ("New York", 5128581, "city", "USA", "NY", 40.7, -74.0, 8_804_190, 200, False, True),
        ("Stavanger", 3137115, "city", "NOR", "14", 59.0, 5.7, 121_610, 30, False, False),
    ],
    schema=PLACES,
    orient="row",
)
MENTIONS = pl.Schema({"mention_id": pl.String, "article_id": pl.String, "field": pl.String, "text": pl.String,
                      "label": pl.String, "start_char": pl.Int32, "end_char": pl.Int32})


def _placed(rows: list[tuple[str, str]], extra: dict | None = None) -> dict[str, tuple]:
    """{text: (geonames_id, geo_method)} of one article's mentions, given as (text, label) in order,
    one space apart ("City, Region" pairs need a comma: give the region's text as ", Alabama")."""
    start, built = 0, []
    for i, (text, label) in enumerate(rows):
        if text.startswith(", "):
            start, text = start + 1, text[2:]
        built.append((f"m{i}", "a", "text", text, label, start, start + len(text)))
        start += len(text) + 1
    mentions = pl.LazyFrame(built, schema=MENTIONS, orient="row")
    if extra:
        mentions = mentions.with_columns(**{k: pl.Series(v) for k, v in extra.items()})
    out = geocoded_mentions(mentions, GAZ).collect()
    return {t: (g, m) for t, g, m in out.select("text", "geonames_id", "geo_method").iter_rows()}


@pytest.mark.parametrize(
    ("rows", "name", "expected"),
    [
        pytest.param([("Blenheim", "GPE"), ("Blenheim Palace", "FAC"), ("England", "GPE")], "Blenheim",
                     (None, None), id="landmark-name-is-not-a-town-abroad"),
        pytest.param([("Blenheim", "GPE"), ("Blenheim Palace", "FAC")], "Blenheim", (None, None),
                     id="landmark-name-without-context"),
        pytest.param([("Blenheim", "GPE")], "Blenheim", (6243926, "only_candidate"), id="lone-town-name"),
        pytest.param([("Blenheim Palace", "FAC"), ("Blenheim", "FAC")], "Blenheim", (None, None),
                     id="a-facility-never-takes-a-town-abroad"),
        pytest.param([("Stavanger", "FAC"), ("Norway", "GPE")], "Stavanger", (3137115, "only_candidate"),
                     id="a-facility-label-on-a-town-in-context"),
        pytest.param([("Colorado", "GPE")], "Colorado", (5417618, "feature_class"), id="state-before-small-town"),
        pytest.param([("Norfolk", "GPE"), ("London", "GPE")], "Norfolk", (None, None),
                     id="obscure-namesake-abroad-unplaced"),
        pytest.param([("Norfolk", "GPE")], "Norfolk", (4776222, "only_candidate"), id="no-context-no-veto"),
        pytest.param([("Asia", "LOC")], "Asia", (6255147, "continent"), id="continent-before-town"),
        pytest.param([("Cambridge", "GPE"), ("Boston", "GPE")], "Cambridge", (4931972, "article_context"),
                     id="city-in-the-articles-country"),
        pytest.param([("Cambridge", "GPE"), ("London", "GPE")], "Cambridge", (2653941, "article_context"),
                     id="city-in-the-articles-other-country"),
        pytest.param([("Cambridge", "GPE")], "Cambridge", (2653941, "population"), id="no-context-population"),
        pytest.param([("Birmingham", "GPE"), (", Alabama", "GPE")], "Birmingham", (4049979, "article_context"),
                     id="city-comma-its-region"),
        pytest.param([("Birmingham", "GPE")], "Birmingham", (2655603, "feature_class"), id="big-city-first"),
        pytest.param([("New York", "GPE")], "New York", (5128581, "feature_class"), id="big-city-before-its-state"),
        pytest.param([("South London", "GPE")], "South London", (2643743, "feature_class"), id="compass-word"),
        pytest.param([("London", "PERSON")], "London", (None, None), id="not-a-place-label"),
        pytest.param([("Atlantis", "GPE")], "Atlantis", (None, None), id="unknown-name"),
    ],
)
def test_place_in_context(rows, name, expected):
    assert _placed(rows)[name] == expected


def test_dictionary_country_for_a_name_the_gazetteer_lacks():
    placed = _placed([("U.S.", "GPE"), ("England", "GPE")],
                     extra={"kind": ["country", "country"], "country_code": ["USA", "GBR"]})
    # "England" is its own region although the actor dictionary codes it as the United Kingdom.
    assert placed == {"U.S.": (6252001, "country"), "England": (6269131, "only_candidate")}


def test_a_nationality_implies_its_country():
    placed = _placed([("British", "NORP"), ("Norfolk", "GPE")],
                     extra={"kind": ["nationality", None], "country_code": ["GBR", None]})
    assert placed["Norfolk"] == (None, None)


def test_output_keeps_rows_and_adds_the_place_columns():
    mentions = pl.LazyFrame([("m1", "a", "text", "Colorado", "GPE", 0, 8), ("m2", "a", "text", "Ann", "PERSON", 9, 12)],
                            schema=MENTIONS, orient="row")
    out = geocoded_mentions(mentions, GAZ).collect()
    assert out.schema == pl.Schema({**MENTIONS, **GEO_COLUMNS})
    assert out.row(0) == ("m1", "a", "text", "Colorado", "GPE", 0, 8, 5417618, "Colorado", "USA", 39.6, -105.0,
                          "region", "feature_class")
    assert out.row(1)[7:] == (None,) * len(GEO_COLUMNS)


def test_empty_frame_schema_and_existing_place_columns_are_replaced():
    empty = pl.LazyFrame(schema={**MENTIONS, **GEO_COLUMNS})
    assert geocoded_mentions(empty, GAZ).collect_schema() == pl.Schema({**MENTIONS, **GEO_COLUMNS})


def test_methods_and_precisions_are_declared():
    placed = geocoded_mentions(pl.LazyFrame(
        [(f"m{i}", "a", "text", t, "GPE", i * 20, i * 20 + len(t)) for i, t in enumerate(
            ["Asia", "Colorado", "Cambridge", "London", "Norway", "Stavanger", "Norfolk", "New York"])],
        schema=MENTIONS, orient="row"), GAZ).collect()
    assert set(placed["geo_method"].drop_nulls()) <= set(GEO_METHODS)
    assert set(placed["geo_precision"].drop_nulls()) <= set(GEO_PRECISIONS)


PLACES_IN = pl.Schema({"event_key": pl.String, "scope": pl.String, "position": pl.Int32, **GEO_COLUMNS})
DOHA = ("Doha", "QAT", 25.3, 51.5, "city", 290030, "only_candidate")
QATAR = ("Qatar", "QAT", 25.3, 51.5, "country", 289688, "country")
TEXAS = ("Texas", "USA", 31.0, -99.0, "region", 4736286, "only_candidate")
NONE = (None,) * 7


def _place(name_row: tuple, scope: str, position: int, key: str = "e") -> tuple:
    name, country, lat, lon, precision, gid, method = name_row
    return (key, scope, position, gid, name, country, lat, lon, precision, method)


def _action(rows: list[tuple]) -> tuple:
    out = action_geography(pl.LazyFrame(rows, schema=PLACES_IN, orient="row")).collect()
    assert out.height == 1
    return out.row(0)[1:]


def _expected(name_row: tuple) -> tuple:
    name, country, lat, lon, precision, gid, method = name_row
    return (name, country, lat, lon, precision, gid, method)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([_place(QATAR, "sentence", 0), _place(DOHA, "sentence", 40)], DOHA, id="sentence-city-beats-country"),
        pytest.param([_place(DOHA, "article", 0), _place(QATAR, "sentence", 40)], QATAR,
                     id="sentence-country-beats-article-city"),
        pytest.param([_place(QATAR, "sentence", 0), _place(TEXAS, "sentence", 40)], TEXAS, id="region-beats-country"),
        pytest.param([_place(TEXAS, "sentence", 0), _place(DOHA, "sentence", 40)], DOHA, id="city-beats-region"),
        pytest.param([("e", "sentence", 0, *(None,) * 7), _place(QATAR, "article", 5)], QATAR,
                     id="unplaced-sentence-mention-skipped"),
        pytest.param([("e", "sentence", 0, *(None,) * 7)], NONE, id="nothing-placed-is-null"),
    ],
)
def test_action_place_choice(rows, expected):
    assert _action(rows) == _expected(expected)


def test_action_geography_one_row_per_event_in_first_seen_order():
    rows = [_place(QATAR, "article", 5, "e3"), ("e1", "sentence", 1, *(None,) * 7), _place(DOHA, "sentence", 90, "e3")]
    out = action_geography(pl.LazyFrame(rows, schema=PLACES_IN, orient="row")).collect()
    expected = pl.DataFrame([("e3", *_expected(DOHA)), ("e1", *NONE)], schema=ACTION_GEOGRAPHY, orient="row")
    assert_frame_equal(out, expected)


def test_action_geography_empty_and_unknown_scope():
    empty = action_geography(pl.LazyFrame(schema=PLACES_IN))
    assert empty.collect_schema() == ACTION_GEOGRAPHY
    with pytest.raises(pl.exceptions.InvalidOperationError, match="incomplete mapping"):
        action_geography(pl.LazyFrame([_place(DOHA, "paragraph", 0)], schema=PLACES_IN, orient="row")).collect()


def test_place_columns_are_declared_once():
    assert {c: ENTITY_MENTIONS.schema[c] for c in PLACE_COLUMNS} == dict(GEO_COLUMNS)
    assert ENTITY_MENTIONS.schema["geonames_id"] == pl.Int64
    assert ENTITY_MENTIONS.allowed["geo_method"] == GEO_METHODS
    assert EVENTS.schema["action_geo_geonames_id"] == pl.Int64
    assert EVENTS.allowed["action_geo_precision"] == GEO_PRECISIONS == ("city", "region", "country", "continent")
    assert {f"action_geo_{c.removeprefix('geo_')}" if c != "geonames_id" else "action_geo_geonames_id"
            for c in PLACE_COLUMNS} <= set(EVENTS.columns)


@pytest.fixture(scope="module")
def real_gazetteer() -> pl.DataFrame:
    return place_gazetteer()


@pytest.mark.parametrize(
    ("name", "feature_class", "country_code", "geonames_id"),
    [
        pytest.param("Asia", "continent", None, 6255147, id="asia-continent"),
        pytest.param("Colorado", "region", "USA", 5417618, id="colorado-state"),
        pytest.param("England", "region", "GBR", 6269131, id="england-region"),
        pytest.param("Ontario", "region", "CAN", 6093943, id="ontario-province"),
        pytest.param("Lebanon", "country", "LBN", 272103, id="lebanon-country"),
        pytest.param("Doha", "city", "QAT", 290030, id="doha-city"),
    ],
)
def test_real_gazetteer_rows(real_gazetteer, name, feature_class, country_code, geonames_id):
    rows = real_gazetteer.filter((pl.col("name") == name) & (pl.col("feature_class") == feature_class))
    assert rows.select("country_code", "geonames_id").rows() == [(country_code, geonames_id)]


def test_real_gazetteer_shape(real_gazetteer):
    assert real_gazetteer.schema == PLACES
    assert real_gazetteer.select("name", "geonames_id").is_unique().all()
    assert set(real_gazetteer["feature_class"]) == {"continent", "country", "region", "city"}
    cities = real_gazetteer.filter(pl.col("feature_class") == "city")
    assert cities["population"].min() >= 15_000
    # Country rows carry their capital's coordinates; a region the centre of its cities.
    qatar, doha = (real_gazetteer.filter(pl.col("name") == n).select("lat", "lon").row(0) for n in ("Qatar", "Doha"))
    assert qatar == doha
    colorado = real_gazetteer.filter(pl.col("geonames_id") == 5417618).row(0, named=True)
    assert 37 < colorado["lat"] < 41 and -109 < colorado["lon"] < -102
    # An alternate name that is another city's own name stays with that city ("New Delhi").
    assert real_gazetteer.filter(pl.col("name") == "New Delhi")["geonames_id"].to_list() == [1261481]
