"""benchmarks/entity_quality.py: which pairs of entities are one real thing, on literal entities."""

from __future__ import annotations

import polars as pl

from benchmarks.entity_quality import splits
from transforms.entities import actor_keys

ACTORS = pl.DataFrame(
    [
        ("United States", "USA", "USA", "country", "GPE", "United States"),
        ("U.S.", "USA", "USA", "country", "GPE", "United States"),
    ],
    schema=["name", "code", "country_code", "kind", "label", "canonical"],
    orient="row",
)


def _ranked(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Entities (entity_id, name, label) ranked in the order given."""
    return pl.DataFrame(
        [(i, n, lab, None, 10 - r, 10 - r, r + 1) for r, (i, n, lab) in enumerate(rows)],
        schema={"entity_id": pl.String, "name": pl.String, "label": pl.String, "actor_code": pl.String,
                "article_count": pl.Int64, "mention_count": pl.Int64, "rank": pl.UInt32},
        orient="row",
    )


def test_pairs_are_found_by_name_dictionary_short_form_and_recorded_alias():
    ranked = _ranked([
        ("covid-org", "COVID-19", "ORG"),
        ("usa", "United States", "GPE"),
        ("congress", "Congress", "ORG"),
        ("usc", "United States Congress", "ORG"),
        ("trump-full", "Donald Trump", "PERSON"),
        ("covid-person", "COVID-19", "PERSON"),
        ("us-dotted", "U.S.", "GPE"),
        ("trump", "Trump", "PERSON"),
        ("dc", "D.C.", "GPE"),
        ("court", "District Court", "ORG"),
    ])
    aliases = pl.DataFrame({"entity_id": ["trump-full"], "alias": ["Trump"], "reason": ["surname"]})
    found = splits(ranked, aliases, actor_keys(ACTORS.lazy()).collect(), top=5)
    assert found.select("name", "label", "name_other", "label_other", "rule").rows() == [
        ("COVID-19", "ORG", "COVID-19", "PERSON", "same name"),
        ("United States", "GPE", "U.S.", "GPE", "dictionary"),
        ("Congress", "ORG", "United States Congress", "ORG", "short form"),
        ("Donald Trump", "PERSON", "Trump", "PERSON", "linked in another article"),
    ]


def test_a_pair_outside_the_top_is_left_out():
    ranked = _ranked([("a", "Qatar", "GPE"), ("b", "Egypt", "GPE"), ("c", "Egypt", "ORG")])
    aliases = pl.DataFrame(schema={"entity_id": pl.String, "alias": pl.String, "reason": pl.String})
    assert splits(ranked, aliases, actor_keys(ACTORS.lazy()).collect(), top=1).height == 0
    assert splits(ranked, aliases, actor_keys(ACTORS.lazy()).collect(), top=2)["name_other"].to_list() == ["Egypt"]
