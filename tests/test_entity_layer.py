"""The entity layer: model mentions linked to canonical entities through a literal actor dictionary."""

from __future__ import annotations

import polars as pl
import pytest

from schemas import ENTITY_MENTIONS
from schemas.tables import PLACE_COLUMNS
from transforms.entities import actor_keys, entities, resolved_mentions
from transforms.normalize import stable_id

ACTORS = pl.DataFrame(
    [
        ("United States", "USA", "USA", "country", "GPE", "United States"),
        ("U.S.", "USA", "USA", "country", "GPE", "United States"),
        ("US", "USUS", "", "person", "PERSON", "Us Somebody"),  # loses "us" to the country
        ("Qatar", "QAT", "QAT", "country", "GPE", "Qatar"),
        ("Qatari", "QAT", "QAT", "nationality", "NORP", "Qatar"),
        ("Hamas", "PSEREBHMS", "PSE", "group", "ORG", "Hamas"),
        ("Khaled Meshaal", "PSEREBHMS", "PSE", "group", "ORG", "Hamas"),
        ("Donald Trump", "USAELI", "USA", "person", "PERSON", "Donald Trump"),
        ("Washington", "USAGOV", "USA", "capital", "GPE", "Washington"),
    ],
    schema=["name", "code", "country_code", "kind", "label", "canonical"],
    orient="row",
)


def _mentions(rows: list[tuple]) -> pl.LazyFrame:
    """ENTITY_MENTIONS rows from (article_id, text, label, start_char); entity ids as the model layer
    gives them (text and label), to be recomputed."""
    spans = {c: ENTITY_MENTIONS.schema[c] for c in ENTITY_MENTIONS.columns if c not in PLACE_COLUMNS}
    return pl.DataFrame(
        [(f"{a}-{start}", a, f"raw-{text}-{label}", "text", text, label, start, start + len(text), 0)
         for a, text, label, start in rows],
        schema=spans, orient="row",
    ).lazy()


def _resolved(rows: list[tuple]) -> pl.DataFrame:
    return resolved_mentions(_mentions(rows), actor_keys(ACTORS.lazy())).collect()


def _entity_id(name: str, label: str) -> str:
    return pl.select(stable_id(pl.lit(label), pl.lit(name.lower()))).item()


def test_actor_keys_keep_the_most_specific_kind_per_key():
    keys = actor_keys(ACTORS.lazy()).collect()
    assert keys["key"].is_unique().all()
    us = keys.filter(pl.col("key") == "us").row(0, named=True)
    assert (us["actor_code"], us["kind"], us["actor_name"], us["country_code"]) == ("USA", "country",
                                                                                    "United States", "USA")


def test_empty_country_codes_become_null():
    actors = pl.DataFrame([("Somebody", "XYZ", "", "person", "PERSON", "Somebody")],
                          schema=ACTORS.columns, orient="row")
    assert actor_keys(actors.lazy()).collect()["country_code"].to_list() == [None]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        pytest.param("U.S.", "GPE", id="dotted"),
        pytest.param("US", "GPE", id="undotted"),
        pytest.param("US", "ORG", id="undotted-mislabelled"),
        pytest.param("United States", "GPE", id="full-name"),
        pytest.param("the United States", "GPE", id="with-the"),
    ],
)
def test_spellings_of_a_country_are_one_entity(text, label):
    row = _resolved([("a1", text, label, 0)]).row(0, named=True)
    assert (row["name"], row["entity_label"], row["label"], row["actor_code"], row["country_code"], row["kind"]) == (
        "United States", "GPE", "GPE", "USA", "USA", "country")
    assert row["entity_id"] == _entity_id("United States", "GPE")


def test_a_nationality_names_its_country_and_keeps_its_label():
    resolved = _resolved([("a1", "Qatari", "NORP", 0), ("a1", "Qatar", "GPE", 20)])
    assert resolved.select("text", "label", "name", "entity_label", "actor_code").rows() == [
        ("Qatari", "NORP", "Qatar", "GPE", "QAT"),
        ("Qatar", "GPE", "Qatar", "GPE", "QAT"),
    ]
    assert resolved["entity_id"].n_unique() == 1


def test_a_surname_joins_the_full_name_in_its_article_only():
    resolved = _resolved([
        ("a1", "Donald Trump", "PERSON", 0),
        ("a1", "Trump", "ORG", 40),
        ("a2", "Trump", "ORG", 0),
    ])
    assert resolved.select("article_id", "text", "name", "label", "actor_code").rows() == [
        ("a1", "Donald Trump", "Donald Trump", "PERSON", "USAELI"),
        ("a1", "Trump", "Donald Trump", "PERSON", "USAELI"),
        ("a2", "Trump", "Trump", "ORG", None),
    ]
    ids = resolved["entity_id"].to_list()
    assert ids[0] == ids[1] == _entity_id("Donald Trump", "PERSON")
    assert ids[2] == _entity_id("Trump", "ORG")


def test_a_person_listed_under_a_group_keeps_their_name_and_takes_its_code():
    resolved = _resolved([("a1", "Khaled Meshaal", "PERSON", 0), ("a1", "Hamas", "ORG", 30)])
    assert resolved.select("name", "label", "entity_label", "actor_code", "country_code").rows() == [
        ("Khaled Meshaal", "PERSON", "PERSON", "PSEREBHMS", "PSE"),
        ("Hamas", "ORG", "ORG", "PSEREBHMS", "PSE"),
    ]
    assert resolved["entity_id"].n_unique() == 2


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param("Donald Trump’s", "Donald Trump", id="curly"),
        pytest.param("Donald Trump's", "Donald Trump", id="straight"),
        pytest.param("Hamas's", "Hamas", id="dictionary-name"),
    ],
)
def test_a_possessive_is_the_entity_itself(text, name):
    label = "ORG" if name == "Hamas" else "PERSON"
    row = _resolved([("a1", text, label, 0)]).row(0, named=True)
    assert row["name"] == name
    assert row["entity_id"] == _entity_id(name, label)


def test_entities_have_one_row_per_entity_with_codes_and_counts():
    resolved = _resolved([
        ("a1", "U.S.", "GPE", 0),
        ("a1", "the United States", "GPE", 10),
        ("a2", "US", "GPE", 0),
        ("a1", "Qatari", "NORP", 40),
        ("a2", "Unknown Corp", "ORG", 10),
    ])
    rows = entities(resolved.lazy()).collect()
    assert rows["entity_id"].is_unique().all()
    assert rows.select("name", "label", "actor_code", "country_code", "mention_count", "article_count").sort(
        "name").rows() == [
        ("Qatar", "GPE", "QAT", "QAT", 1, 1),
        ("United States", "GPE", "USA", "USA", 3, 2),
        ("Unknown Corp", "ORG", None, None, 1, 1),
    ]


@pytest.mark.parametrize(("label", "code"), [
    pytest.param("GPE", "USAGOV", id="the-capital-stands-for-its-government"),
    pytest.param("PERSON", None, id="a-person-named-like-a-capital-is-no-capital"),
])
def test_a_capital_is_coded_only_as_a_place(label, code):
    resolved = _resolved([("a1", "Washington", label, 0)])
    assert resolved.select("actor_code", "entity_label", "name").row(0) == (code, label, "Washington")
