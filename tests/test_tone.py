"""Article tone: GDELT's % positive words minus % negative words, over a lexicon."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lexicons.tone import TONE_LEXICON, tone_lexicon
from transforms.tone import ARTICLE_TONE, article_tone

LEXICON = pl.LazyFrame(
    {"word": ["good", "great", "bad", "war", "don't", "neutral"],
     "valence": [1.9, 3.1, -2.5, -2.9, -0.5, 0.0]},
    schema=TONE_LEXICON,
)
ARTICLES = {"article_id": pl.String, "title": pl.String, "text": pl.String}


def _tone(title, text) -> float:
    articles = pl.LazyFrame({"article_id": ["a"], "title": [title], "text": [text]}, schema=ARTICLES)
    return article_tone(articles, LEXICON).collect().item(0, "tone")


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        pytest.param("Good news", "all good", 50.0, id="two-positive-of-four"),
        pytest.param("Bad war", "a good day", -20.0, id="more-negative-than-positive"),
        pytest.param("GOOD", "Great", 100.0, id="case-folded"),
        pytest.param("War", "bad bad bad", -100.0, id="all-negative"),
        pytest.param("It's neutral", "nothing here", 0.0, id="zero-valence-is-neither"),
        pytest.param("I don't know", None, -100.0 / 3, id="inner-apostrophe-word"),
        pytest.param("I don\u2019t know", None, -100.0 / 3, id="curly-apostrophe"),
        pytest.param("'good'", "(bad)", 0.0, id="quotes-and-brackets-are-not-words"),
        pytest.param("good\nbad", "goodbad", 0.0, id="title-and-text-on-separate-lines"),
        pytest.param("123 -- !!!", "", 0.0, id="no-words"),
        pytest.param(None, None, 0.0, id="null-title-and-text"),
    ],
)
def test_tone_is_percent_positive_minus_percent_negative(title, text, expected):
    assert _tone(title, text) == pytest.approx(expected)


def test_every_article_is_kept_in_input_order():
    ids = [f"a{i}" for i in range(50, 0, -1)]
    texts = ["good" if i % 3 == 0 else ("" if i % 3 == 1 else "bad war") for i in range(50)]
    articles = pl.LazyFrame({"article_id": ids, "title": [None] * 50, "text": texts}, schema=ARTICLES)
    expected = pl.DataFrame(
        {"article_id": ids, "tone": [100.0 if i % 3 == 0 else (0.0 if i % 3 == 1 else -100.0) for i in range(50)]},
        schema=ARTICLE_TONE,
    )
    assert_frame_equal(article_tone(articles, LEXICON).collect(), expected)


def test_output_schema_on_an_empty_frame():
    empty = pl.LazyFrame(schema=ARTICLES)
    assert article_tone(empty, LEXICON).collect_schema() == ARTICLE_TONE
    assert_frame_equal(article_tone(empty, LEXICON).collect(), pl.DataFrame(schema=ARTICLE_TONE))


def test_shipped_lexicon_has_one_lower_case_row_per_word():
    lexicon = tone_lexicon()
    assert lexicon.schema == TONE_LEXICON
    assert lexicon.height > 7000
    assert lexicon["word"].is_unique().all()
    assert (lexicon["word"] == lexicon["word"].str.to_lowercase()).all()
    valence = dict(lexicon.filter(pl.col("word").is_in(["good", "war", ":p"])).iter_rows())
    # ":P" (1.4) and ":p" (1.0) collapse into one lower-case row with the mean valence.
    assert valence == {"good": pytest.approx(1.9), "war": pytest.approx(-2.9), ":p": pytest.approx(1.2)}
