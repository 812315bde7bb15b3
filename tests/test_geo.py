"""Action geography from place mentions and a gazetteer; the GeoNames gazetteer itself."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lexicons.gazetteer import GAZETTEER, gazetteer
from transforms.geo import ACTION_GEOGRAPHY, action_geography

PLACES = pl.Schema({"event_key": pl.String, "place_text": pl.String, "scope": pl.String, "position": pl.Int32})

GAZ = pl.LazyFrame(
    [
        ("Doha", "QAT", 25.3, 51.5, "city", 344_939),
        ("Qatar", "QAT", 25.3, 51.5, "country", 2_781_677),
        ("Gaza", "PSE", 31.5, 34.5, "city", 410_000),
        ("Israel", "ISR", 31.8, 35.2, "country", 8_883_800),
        ("The Hague", "NLD", 52.1, 4.3, "city", 474_292),
        ("The Netherlands", "NLD", 52.4, 4.9, "country", 17_231_017),
        ("Paris", "FRA", 48.9, 2.3, "city", 2_138_551),
        ("Hague", "USA", 40.0, -75.0, "city", 20_000),
    ],
    schema=GAZETTEER,
    orient="row",
)

DOHA = ("Doha", "QAT", 25.3, 51.5, "city")
QATAR = ("Qatar", "QAT", 25.3, 51.5, "country")
GAZA = ("Gaza", "PSE", 31.5, 34.5, "city")
ISRAEL = ("Israel", "ISR", 31.8, 35.2, "country")
NONE = (None, None, None, None, None)


def _geo(rows: list[tuple[str, str, int]]) -> tuple:
    places = pl.LazyFrame([("e", text, scope, pos) for text, scope, pos in rows], schema=PLACES, orient="row")
    out = action_geography(places, GAZ).collect()
    assert out.height == 1
    return out.row(0)[1:]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([("Qatar", "sentence", 0), ("Doha", "sentence", 40)], DOHA, id="sentence-city-beats-earlier-country"),
        pytest.param([("Doha", "article", 0), ("Qatar", "sentence", 40)], QATAR, id="sentence-country-beats-article-city"),
        pytest.param([("Gaza", "sentence", 50), ("Doha", "sentence", 10)], DOHA, id="first-city-by-position"),
        pytest.param([("Israel", "article", 90), ("Qatar", "article", 20)], QATAR, id="first-article-country"),
        pytest.param([("Gaza", "article", 90), ("Israel", "article", 20)], GAZA, id="article-city-beats-country"),
        pytest.param([("Atlantis", "sentence", 0), ("Israel", "article", 20)], ISRAEL, id="unmatched-sentence-place-skipped"),
        pytest.param([("Gaza's", "sentence", 0)], GAZA, id="possessive"),
        pytest.param([("Gaza\u2019s", "sentence", 0)], GAZA, id="curly-possessive"),
        pytest.param([("the Netherlands", "sentence", 0)], ("The Netherlands", "NLD", 52.4, 4.9, "country"),
                     id="leading-the-on-both-sides"),
        pytest.param([("The Hague", "sentence", 0)], ("The Hague", "NLD", 52.1, 4.3, "city"),
                     id="the-hague-beats-a-smaller-hague"),
        pytest.param([("doha", "sentence", 0)], NONE, id="case-sensitive"),
        pytest.param([("Atlantis", "sentence", 0), ("Mordor", "article", 3)], NONE, id="no-match-is-null"),
    ],
)
def test_action_place_choice(rows, expected):
    assert _geo(rows) == expected


def test_one_row_per_event_in_first_seen_order():
    places = pl.LazyFrame(
        [
            ("e3", "Qatar", "article", 5),
            ("e1", "Atlantis", "sentence", 1),
            ("e3", "Doha", "sentence", 90),
            ("e2", "Paris", "article", 7),
            ("e1", "Mordor", "article", 2),
            ("e2", "Israel", "sentence", 3),
        ],
        schema=PLACES,
        orient="row",
    )
    expected = pl.DataFrame(
        [("e3", *DOHA), ("e1", *NONE), ("e2", *ISRAEL)], schema=ACTION_GEOGRAPHY, orient="row"
    )
    assert_frame_equal(action_geography(places, GAZ).collect(), expected)


def test_output_schema_on_an_empty_frame():
    empty = action_geography(pl.LazyFrame(schema=PLACES), GAZ)
    assert empty.collect_schema() == ACTION_GEOGRAPHY
    assert_frame_equal(empty.collect(), pl.DataFrame(schema=ACTION_GEOGRAPHY))


def test_unknown_scope_raises():
    places = pl.LazyFrame([("e", "Doha", "paragraph", 0)], schema=PLACES, orient="row")
    with pytest.raises(pl.exceptions.InvalidOperationError, match="incomplete mapping"):
        action_geography(places, GAZ).collect()


@pytest.fixture(scope="module")
def real_gazetteer() -> pl.DataFrame:
    return gazetteer()


@pytest.mark.parametrize(
    ("name", "country_code", "precision"),
    [
        pytest.param("Doha", "QAT", "city", id="doha"),
        pytest.param("Qatar", "QAT", "country", id="qatar"),
        pytest.param("Gaza", "PSE", "city", id="gaza-city"),
        pytest.param("Paris", "FRA", "city", id="most-populous-paris"),
        pytest.param("Lebanon", "LBN", "country", id="country-beats-us-city"),
    ],
)
def test_real_gazetteer_rows(real_gazetteer, name, country_code, precision):
    row = real_gazetteer.filter(pl.col("name") == name)
    assert row.select("country_code", "precision").rows() == [(country_code, precision)]


def test_real_gazetteer_shape(real_gazetteer):
    assert real_gazetteer.schema == GAZETTEER
    assert real_gazetteer["name"].is_unique().all()
    assert real_gazetteer["country_code"].str.len_chars().eq(3).all()
    cities = real_gazetteer.filter(pl.col("precision") == "city")
    assert cities.height > 25_000 and cities["population"].min() >= 15_000
    # Country rows carry their capital's coordinates.
    qatar, doha = (real_gazetteer.filter(pl.col("name") == n).select("lat", "lon").row(0) for n in ("Qatar", "Doha"))
    assert qatar == doha
