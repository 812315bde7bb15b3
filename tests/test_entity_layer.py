"""The entity layer: model mentions linked to canonical entities through a literal actor dictionary."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ENTITY_MENTIONS
from schemas.tables import PLACE_COLUMNS
from transforms.entities import (actor_keys, dateline_free_mentions, entities, keyed_mentions, resolved_mentions,
                                stored_resolved_mentions, upgraded_entity_ids)
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
        ("America", "USA", "USA", "country", "GPE", "United States"),
        ("USA", "USA", "USA", "country", "GPE", "United States"),
        ("Iran", "IRN", "IRN", "country", "GPE", "Iran"),
        ("Iranian", "IRN", "IRN", "nationality", "NORP", "Iran"),
        ("Greece", "GRC", "GRC", "country", "GPE", "Greece"),
        ("Athens", "GRCGOV", "GRC", "capital", "GPE", "Athens"),
        ("Scotland", "GBR", "GBR", "country", "GPE", "United Kingdom"),
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


def _entity_id(name: str, label: str = "") -> str:
    """The id of the entity of that canonical name: the label plays no part (it is a vote)."""
    return pl.select(stable_id(pl.lit(name.lower().replace(".", "")))).item()


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
        pytest.param("America", "GPE", id="america"),
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


AGENTS = pl.DataFrame({"noun": ["government", "police", "senate"], "agent_code": ["GOV", "COP", "LEG"]})


def _resolved_with_agents(rows: list[tuple]) -> pl.DataFrame:
    return resolved_mentions(_mentions(rows), actor_keys(ACTORS.lazy()), AGENTS.lazy()).collect()


def test_one_name_under_several_labels_is_one_entity_labelled_by_its_mentions():
    resolved = _resolved([
        ("a1", "COVID-19", "ORG", 0), ("a2", "COVID-19", "PERSON", 0), ("a3", "COVID-19", "ORG", 0),
        ("a1", "Wiranto", "PERSON", 20), ("a2", "Wiranto", "GPE", 20),
    ])
    assert resolved.filter(pl.col("name") == "COVID-19")["entity_id"].unique().to_list() == [_entity_id("COVID-19")]
    rows = entities(resolved.lazy()).collect()
    # Two votes to one; a tie goes to the label first in alphabetical order (GPE before PERSON).
    assert rows.select("name", "label", "mention_count", "article_count").sort("name").rows() == [
        ("COVID-19", "ORG", 3, 3),
        ("Wiranto", "GPE", 2, 2),
    ]


def test_the_label_vote_does_not_depend_on_the_order_of_the_mentions():
    resolved = _resolved([("a1", "Wiranto", "PERSON", 0), ("a2", "Wiranto", "GPE", 0), ("a3", "Wiranto", "ORG", 0)])
    labels = {entities(resolved.sample(fraction=1.0, shuffle=True, seed=seed).lazy()).collect()["label"].item()
              for seed in range(5)}
    assert labels == {"GPE"}


def test_nationalities_vote_for_their_country():
    resolved = _resolved([("a1", "Qatari", "NORP", 0), ("a2", "Qatari", "NORP", 0), ("a3", "Qatar", "GPE", 0)])
    assert entities(resolved.lazy()).collect().select("name", "label", "mention_count").rows() == [("Qatar", "GPE", 3)]


def _with_geonames(rows: list[tuple]) -> pl.DataFrame:
    """Resolved mentions with the geocoder's geonames_id (Int64, null when not geocoded)."""
    resolved = _resolved([(a, text, label, start) for a, text, label, start, _ in rows])
    return keyed_mentions(resolved.lazy().with_columns(
        geonames_id=pl.Series([g for *_, g in rows], dtype=pl.Int64))).collect()


def test_a_geocoded_place_is_keyed_by_its_geonames_id():
    keyed = _with_geonames([
        ("a1", "Norfolk", "GPE", 0, 2641455),  # Norfolk, England
        ("a2", "Norfolk", "GPE", 0, 4776222),  # Norfolk, Virginia
        ("a3", "Norfolk", "GPE", 0, 4776222),
        ("a4", "Norfolk", "GPE", 0, None),  # not geocoded: its name
        ("a5", "Qatar", "GPE", 0, 289688),  # a dictionary country stays its dictionary entity
    ])
    assert keyed["entity_key"].to_list() == ["geonames:2641455", "geonames:4776222", "geonames:4776222", "norfolk",
                                             "qatar"]
    ids = keyed["entity_id"].to_list()
    assert len(set(ids[:4])) == 3 and ids[1] == ids[2]
    assert ids[3] == _entity_id("Norfolk") and ids[4] == _entity_id("Qatar")
    assert entities(keyed.lazy()).collect().height == 4


def test_the_key_is_the_canonical_name_without_a_geonames_column():
    resolved = _resolved([("a1", "Norfolk", "GPE", 0)])
    assert (resolved["entity_key"].item(), resolved["entity_id"].item()) == ("norfolk", _entity_id("Norfolk"))


@pytest.mark.parametrize(("full", "short", "short_label", "reason"), [
    pytest.param("United States Congress", "Congress", "ORG", "short form", id="after-a-country"),
    pytest.param("U.S. Senate", "Senate", "ORG", "short form", id="after-a-dotted-country"),
    pytest.param("Democratic Party", "Democratic", "NORP", "short form", id="a-partys-adjective"),
    pytest.param("World Health Organization", "WHO", "ORG", "acronym", id="acronym"),
    pytest.param("World Health Organization (WHO", "the WHO", "ORG", "acronym", id="acronym-in-the-span"),
    pytest.param("National Aeronautics and Space Administration", "NASA", "ORG", "acronym", id="acronym-skips-and"),
])
def test_an_organisations_short_form_joins_its_full_name_in_its_article_only(full, short, short_label, reason):
    resolved = _resolved([("a1", full, "ORG", 0), ("a1", short, short_label, 60), ("a2", short, short_label, 0)])
    name = full.removesuffix(" (WHO")
    assert resolved.select("article_id", "name", "label", "alias_reason").rows() == [
        ("a1", name, "ORG", None),
        ("a1", name, "ORG", reason),
        ("a2", short.removeprefix("the "), short_label, None),
    ]
    ids = resolved["entity_id"].to_list()
    assert ids[0] == ids[1] != ids[2]


def test_a_short_form_does_not_take_a_name_the_dictionaries_know():
    resolved = _resolved([("a1", "Hamas Political Bureau", "ORG", 0), ("a1", "Hamas", "ORG", 40),
                          ("a1", "Qatar Investment Authority", "ORG", 60), ("a1", "QIA", "ORG", 99)])
    assert resolved.select("name", "actor_code").rows() == [
        ("Hamas Political Bureau", None), ("Hamas", "PSEREBHMS"),
        ("Qatar Investment Authority", None), ("Qatar Investment Authority", None),
    ]


@pytest.mark.parametrize(("text", "label", "code", "country"), [
    pytest.param("The Iranian Government", "ORG", "IRNGOV", "IRN", id="nationality-and-agent"),
    pytest.param("Iran police", "ORG", "IRNCOP", "IRN", id="country-and-agent"),
    pytest.param("U.S. Senate", "ORG", "USALEG", "USA", id="dotted-country-and-agent"),
    pytest.param("Iranian Cinema", "ORG", None, None, id="no-agent-noun"),
    pytest.param("Hamas Government", "ORG", None, None, id="a-group-is-no-state"),
    pytest.param("Hamas Leaders", "ORG", "PSEREBHMS", "PSE", id="a-group-and-a-role-noun"),
    pytest.param("Hamas Leadership", "ORG", "PSEREBHMS", "PSE", id="a-group-and-its-leadership"),
    pytest.param("Hamas Cinema", "ORG", None, None, id="a-group-and-no-role-noun"),
])
def test_an_actor_and_an_agent_or_role_noun_compose_a_code(text, label, code, country):
    row = _resolved_with_agents([("a1", text, label, 0)]).row(0, named=True)
    assert (row["actor_code"], row["country_code"]) == (code, country)


def test_a_lone_month_is_no_person_unless_it_is_a_surname_named_in_full():
    resolved = _resolved([("a1", "May", "PERSON", 0), ("a2", "Theresa May", "PERSON", 0), ("a2", "May", "PERSON", 30),
                          ("a3", "June Carter", "PERSON", 0)])
    assert resolved.select("article_id", "name").rows() == [("a2", "Theresa May"), ("a2", "Theresa May"),
                                                             ("a3", "June Carter")]


def test_a_group_and_a_role_noun_are_the_group_entity():
    resolved = _resolved_with_agents([("a1", "Hamas Leaders", "ORG", 0), ("a2", "Hamas", "ORG", 0)])
    assert resolved.select("name", "alias_reason", "kind").rows() == [("Hamas", "role", "group"), ("Hamas", None, "group")]
    assert resolved["entity_id"].n_unique() == 1


def test_an_entity_takes_a_composed_code_without_agents_none():
    assert _resolved([("a1", "The Iranian Government", "ORG", 0)])["actor_code"].to_list() == [None]


@pytest.mark.parametrize(("content", "text", "code"), [
    pytest.param("GREECE\nGreek police arrested two men.", "GREECE", None, id="a-line-of-its-own"),
    pytest.param("Sports\nATHENS 1996-08-22\nGreek police arrested two men.", "ATHENS", None, id="place-and-date"),
    pytest.param("ATHENS, Aug 22 (Reuters) - Greek police arrested two men.", "ATHENS", None, id="agency-dateline"),
    pytest.param("GREECE: Greek police arrested two men.", "GREECE", None, id="place-and-colon"),
    pytest.param("GREECE SAYS TURKEY MUST TALK", "GREECE", "GRC", id="a-headline-in-capitals"),
    pytest.param("GREECE, TURKEY SIGN PACT", "GREECE", "GRC", id="a-headline-listing-countries"),
    pytest.param("Greece said it would talk.", "Greece", "GRC", id="a-sentence-opening-with-the-country"),
    pytest.param("Talks with GREECE - soon", "GREECE", "GRC", id="capitals-inside-a-line"),
    pytest.param("USA - Greece talks", "USA", "USA", id="three-capitals-are-a-country-acting"),
])
def test_a_dateline_names_its_place_but_is_no_actor(content, text, code):
    start = content.index(text)
    documents = pl.DataFrame({"article_id": ["a1"], "field": ["text"], "content": [content]})
    row = dateline_free_mentions(_resolved([("a1", text, "GPE", start)]).lazy(), documents.lazy()).collect().row(
        0, named=True)
    assert row["actor_code"] == code
    assert row["entity_id"] == _entity_id(row["name"])

@pytest.mark.parametrize(("full", "short", "short_label"), [
    pytest.param("District Court", "D.C.", "GPE", id="a-place-is-no-acronym"),
    pytest.param("Scotland Nicola Sturgeon", "Nicola Sturgeon", "PERSON", id="a-person-is-no-short-form"),
])
def test_only_an_organisation_or_group_mention_is_a_short_form(full, short, short_label):
    resolved = _resolved([("a1", full, "ORG", 0), ("a1", short, short_label, 40)])
    assert resolved.select("name", "label", "alias_reason").rows() == [(full, "ORG", None), (short, short_label, None)]


@given(labels=st.lists(st.sampled_from(["PERSON", "ORG", "GPE", "NORP", "PRODUCT"]), min_size=1, max_size=8),
       seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_an_entitys_id_depends_on_its_name_only_and_its_label_on_no_row_order(labels, seed):
    rows = [(f"a{i}", "COVID-19", label, 0) for i, label in enumerate(labels)]
    resolved = _resolved(rows)
    assert resolved["entity_id"].unique().to_list() == [_entity_id("COVID-19")]
    shuffled = _resolved(pl.DataFrame(rows, orient="row").sample(fraction=1.0, shuffle=True, seed=seed).rows())
    assert entities(resolved.lazy()).collect().equals(entities(shuffled.lazy()).collect())


STORED = pl.DataFrame(
    [("e-qatar", "Qatar", "GPE", "QAT", "QAT"), ("e-bare-qatar", "Qatar", "GPE", None, None),
     ("e-athens", "Athens", "GPE", "GRCGOV", "GRC"), ("e-meshaal", "Khaled Meshaal", "PERSON", "PSEREBHMS", "PSE"),
     ("e-bare-meshaal", "Khaled Meshaal", "PERSON", None, None), ("e-norfolk", "Norfolk", "GPE", None, None)],
    schema=["entity_id", "name", "label", "actor_code", "country_code"], orient="row",
)


@pytest.mark.parametrize(("text", "label", "stored_id", "kind", "country"), [
    pytest.param("Qatari", "NORP", "e-qatar", "nationality", "QAT", id="the-texts-kind-as-a-run-looks-it-up"),
    pytest.param("Qatar", "GPE", "e-bare-qatar", "country", "QAT", id="a-country-stored-without-a-code"),
    pytest.param("Athens", "GPE", "e-athens", "capital", "GRC", id="a-capital-is-a-place"),
    pytest.param("Meshaal", "PERSON", "e-meshaal", "group", "PSE", id="a-linked-alias-takes-its-entitys-kind"),
    pytest.param("Meshaal", "PERSON", "e-bare-meshaal", None, None, id="an-unlinked-name-has-none"),
    pytest.param("Norfolk", "GPE", "e-norfolk", None, None, id="a-plain-place"),
    pytest.param("Nowhere", "GPE", "e-gone", None, None, id="an-entity-the-table-lacks"),
])
def test_a_stored_mention_takes_the_kind_a_runs_dictionary_lookup_finds(text, label, stored_id, kind, country):
    mentions = _mentions([("a1", text, label, 0)]).with_columns(entity_id=pl.lit(stored_id))
    row = stored_resolved_mentions(mentions, STORED.lazy(), actor_keys(ACTORS.lazy())).collect().row(0, named=True)
    name = STORED.filter(pl.col("entity_id") == stored_id)["name"].to_list() or [text]
    assert (row["from_entity_id"], row["name"], row["kind"], row["country_code"]) == (stored_id, name[0], kind, country)


def test_an_upgrade_retires_each_id_no_mention_keeps_for_the_entity_most_of_them_went_to():
    moved = pl.LazyFrame(
        [("e-norfolk", "gb"), ("e-norfolk", "va"), ("e-norfolk", "va"),  # one name, two places: split
         ("e-london", "geo-london"),  # all to one place
         ("e-tie", "y"), ("e-tie", "x"),  # a tie goes to the smaller id
         ("e-kept", "e-kept"), ("e-kept", "z")],  # an id some of its mentions keep is not retired
        schema=["from_entity_id", "entity_id"], orient="row")
    stored = pl.LazyFrame(
        [(e, n, "GPE") for e, n in (("e-norfolk", "Norfolk"), ("e-london", "London"), ("e-tie", "Tie"),
                                    ("e-kept", "Kept"), ("e-unmentioned", "Unmentioned"))],
        schema=["entity_id", "name", "label"], orient="row")
    expected = pl.DataFrame(
        [("e-london", "geo-london", "London", "GPE", 1, "geo-london (1)"),
         ("e-norfolk", "va", "Norfolk", "GPE", 2, "va (2), gb (1)"),
         ("e-tie", "x", "Tie", "GPE", 2, "x (1), y (1)"),
         ("e-unmentioned", _entity_id("Unmentioned"), "Unmentioned", "GPE", 1, f"{_entity_id('Unmentioned')} (0)")],
        schema={"from_entity_id": pl.String, "to_entity_id": pl.String, "from_name": pl.String,
                "from_label": pl.String, "targets": pl.Int64, "split_into": pl.String}, orient="row")
    assert_frame_equal(upgraded_entity_ids(moved, stored).collect(), expected)
