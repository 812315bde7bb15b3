"""Entity mentions and canonical entities from literal model spans."""

from __future__ import annotations

import polars as pl
import pytest

from schemas import ARTICLES, NER_SPANS
from transforms.entities import (
    article_entity_mentions,
    canonical_entity_name,
    entities,
    mention_checks,
    nlp_documents,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Donald Trump’s", "Donald Trump", id="curly-possessive"),
        pytest.param("Hamas's", "Hamas", id="straight-possessive"),
        pytest.param("the United States", "United States", id="leading-the"),
        pytest.param("The  Times of\nIsrael", "Times of Israel", id="the-and-whitespace"),
        pytest.param("Boston Celtics’", "Boston Celtics", id="plural-possessive"),
        pytest.param("Theresa May", "Theresa May", id="the-inside-a-word"),
        pytest.param("World Health Organization (WHO", "World Health Organization", id="acronym-run-into"),
        pytest.param("World Health Organization (WHO)", "World Health Organization", id="acronym-in-brackets"),
    ],
)
def test_canonical_entity_name(raw, expected):
    assert pl.select(canonical_entity_name(pl.lit(raw))).item() == expected


def _articles() -> pl.DataFrame:
    rows = [
        {"article_id": "a1", "title": "Trump’s win", "text": "Donald Trump won. Qatar agreed."},
        {"article_id": "a2", "title": "", "text": "Qatar's role."},
    ]
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None).cast(t).alias(n) for n, t in ARTICLES.schema.items() if n not in ("article_id", "title", "text")]
    ).select(ARTICLES.columns)


def _spans() -> pl.DataFrame:
    # doc 0: a1 title, doc 1: a1 text, doc 2: a2 text (a2's empty title is not sent to the model)
    return pl.DataFrame(
        [
            (0, "Trump’s", "PERSON", 0, 7, 0),
            (1, "Donald Trump", "PERSON", 0, 12, 0),
            (1, "Qatar", "GPE", 18, 23, 1),
            (2, "Qatar's", "GPE", 0, 7, 0),
            (2, "2024", "DATE", 8, 12, 0),
        ],
        schema=NER_SPANS,
        orient="row",
    )


def test_documents_are_non_empty_fields_title_first():
    docs = nlp_documents(_articles().lazy()).collect()
    assert docs.select("doc_index", "article_id", "field").rows() == [(0, "a1", "title"), (1, "a1", "text"),
                                                                        (2, "a2", "text")]


def test_mentions_point_at_their_article_field_and_share_entity_ids():
    docs = nlp_documents(_articles().lazy())
    mentions = article_entity_mentions(docs, _spans().lazy()).collect()
    assert mentions.select("article_id", "field", "text", "label").rows() == [
        ("a1", "title", "Trump’s", "PERSON"),
        ("a1", "text", "Donald Trump", "PERSON"),
        ("a1", "text", "Qatar", "GPE"),
        ("a2", "text", "Qatar's", "GPE"),
    ]  # DATE is not a named entity
    qatar = mentions.filter(pl.col("label") == "GPE")["entity_id"]
    assert qatar.n_unique() == 1
    assert mentions["mention_id"].n_unique() == 4


def test_span_check_compares_the_stored_text():
    articles = _articles()
    mentions = article_entity_mentions(nlp_documents(articles.lazy()), _spans().lazy())
    shifted = mentions.with_columns(
        pl.when(pl.col("text") == "Qatar").then(pl.col("start_char") + 1).otherwise(pl.col("start_char"))
        .alias("start_char")
    )
    checked = mention_checks(shifted, articles.lazy()).collect()
    assert dict(zip(checked["text"], checked["is_span_exact"])) == {
        "Trump’s": True, "Donald Trump": True, "Qatar": False, "Qatar's": True,
    }


def test_entities_count_mentions_and_articles_under_the_canonical_name():
    mentions = article_entity_mentions(nlp_documents(_articles().lazy()), _spans().lazy())
    out = entities(mentions).collect().sort("name")
    assert out.select("name", "label", "mention_count", "article_count").rows() == [
        ("Donald Trump", "PERSON", 1, 1),
        ("Qatar", "GPE", 2, 2),
        ("Trump", "PERSON", 1, 1),
    ]


def test_only_articles_in_the_models_language_go_to_the_model():
    articles = pl.DataFrame({"article_id": ["en", "de", "unknown"], "title": ["Rain", "Regen", "?"],
                             "text": ["It rained.", "Es regnete.", ""], "language": ["en", "de", None]})
    documents = nlp_documents(articles.lazy()).collect()
    assert documents.select("article_id", "field").rows() == [("en", "title"), ("en", "text"), ("unknown", "title")]
