"""Exact and near-duplicate detection with SimHash, against the run and the stored articles."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from tests.conftest import shared_data
from transforms.duplicates import MIN_WORDS, duplicate_links, simhash
from transforms.normalize import stable_id

STORY = ("Qatar has informed the leadership of Hamas that they are no longer welcome in Doha, marking a "
         "dramatic shift in the Gulf state's long-standing relationship with the Palestinian militant group, "
         "according to United States officials who spoke on condition of anonymity on Saturday evening.")
OTHER = ("Egypt is expected to continue its mediating role due to its proximity to Gaza and its existing "
         "contacts with Hamas leaders in the territory, a diplomat familiar with the talks said in Cairo on "
         "Sunday, adding that no date had been set for the next round of negotiations.")
KNOWN_SCHEMA = {"article_id": pl.String, "text_hash": pl.String, "simhash": pl.UInt64, "duplicate_of": pl.String,
                "ingested_at": pl.Datetime("us", "UTC")}


def _articles(texts: dict[str, str]) -> pl.LazyFrame:
    return pl.LazyFrame({"article_id": list(texts), "text": list(texts.values())}).with_columns(
        text_hash=stable_id(pl.col("text")), simhash=simhash(pl.col("text"))).collect().lazy()


def _links(texts: dict[str, str], known: pl.LazyFrame | None = None) -> dict[str, tuple]:
    known = known if known is not None else pl.LazyFrame(schema=KNOWN_SCHEMA)
    out = duplicate_links(_articles(texts), known).collect()
    return {r["article_id"]: (r["duplicate_of"], r["similarity"]) for r in out.iter_rows(named=True)}


def test_simhash_is_stable_and_null_for_short_texts():
    frame = pl.DataFrame({"text": [STORY, STORY, "too short to compare"]})
    hashes = frame.select(simhash(pl.col("text"))).to_series().to_list()
    assert hashes[0] == hashes[1] and hashes[0] is not None
    assert hashes[2] is None
    assert len("too short to compare".split()) < MIN_WORDS


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        pytest.param({"a": STORY, "b": STORY}, {"a": (None, None), "b": ("a", 1.0)}, id="exact-copy"),
        pytest.param({"a": STORY, "b": STORY.replace("Saturday evening", "Saturday night")},
                     {"a": (None, None), "b": ("a", pytest.approx(1.0, abs=0.08))}, id="lightly-edited"),
        pytest.param({"a": STORY, "b": OTHER}, {"a": (None, None), "b": (None, None)}, id="different-stories"),
        pytest.param({"a": STORY, "b": STORY, "c": STORY}, {"a": (None, None), "b": ("a", 1.0), "c": ("a", 1.0)},
                     id="every-copy-names-the-first"),
    ],
)
def test_duplicate_links(texts, expected):
    links = _links(texts)
    assert {k: (d, s) for k, (d, s) in links.items()} == expected


def test_a_stored_article_is_the_original_of_a_new_copy():
    stored = _articles({"old": STORY, "old-copy": STORY}).with_columns(
        duplicate_of=pl.Series([None, "old"]),
        ingested_at=pl.lit(datetime(2025, 1, 1, tzinfo=timezone.utc)).cast(pl.Datetime("us", "UTC")),
    ).select(list(KNOWN_SCHEMA))
    assert _links({"new": STORY, "fresh": OTHER}, stored) == {"new": ("old", 1.0), "fresh": (None, None)}


def test_every_known_duplicate_body_of_the_bbc_corpus_is_found():
    bbc = pl.read_ndjson(shared_data("corpus", "bbc.jsonl"))
    copies = bbc.height - bbc["body"].n_unique()
    assert copies == 133
    links = duplicate_links(_articles(dict(zip(bbc["id"], bbc["body"]))), pl.LazyFrame(schema=KNOWN_SCHEMA))
    flagged = links.collect().join(bbc.select(pl.col("id").alias("article_id"), "body"), on="article_id")
    exact_copies = flagged.filter(pl.col("body").is_duplicated() & pl.col("duplicate_of").is_not_null())
    assert exact_copies.height == copies
    assert (exact_copies["similarity"] == 1.0).all()


def test_many_copies_of_one_text_all_point_at_the_first_without_pairing_them_all():
    # 12,000 copies once took the run to 6.2 GB comparing every pair; each is now compared with
    # the first article of its hashes and a few of each SimHash block.
    n = 12_000
    base = pl.LazyFrame({"article_id": [f"a{i:05d}" for i in range(n)], "text": [STORY] * n}).with_columns(
        text_hash=stable_id(pl.col("text")), simhash=simhash(pl.col("text")))
    near = [STORY.replace("Saturday", "Monday"), STORY + " More follows.", "Breaking: " + STORY]
    edits = pl.LazyFrame({"article_id": ["b1", "b2", "b3"], "text": near}).with_columns(
        text_hash=stable_id(pl.col("text")), simhash=simhash(pl.col("text")))
    out = duplicate_links(pl.concat([base, edits]).collect().lazy(), pl.LazyFrame(schema=KNOWN_SCHEMA)).collect()
    links = dict(zip(out["article_id"], out["duplicate_of"]))
    assert links["a00000"] is None
    assert {links[f"a{i:05d}"] for i in range(1, n)} == {"a00000"}
    assert {links[k] for k in ("b1", "b2", "b3")} == {"a00000"}
