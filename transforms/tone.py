"""Article tone in GDELT's sense, from a word -> valence lexicon."""

from __future__ import annotations

import polars as pl

ARTICLE_TONE = pl.Schema({"article_id": pl.String, "tone": pl.Float64})

# A word is letters with optional inner apostrophes ("don't", "o'clock"): quotes around a word
# ('hello') are not part of it, so the lexicon still finds "hello".
_WORD = r"[a-z]+(?:'[a-z]+)*"


def article_words(title: pl.Expr, text: pl.Expr) -> pl.Expr:
    """The lower-cased word tokens of title + newline + text, as a list (nulls count as empty)."""
    return (
        pl.concat_str([title.fill_null(""), text.fill_null("")], separator="\n")
        .str.replace_all("\u2019", "'", literal=True)
        .str.to_lowercase()
        .str.extract_all(_WORD)
    )


def article_tone(articles: pl.LazyFrame, lexicon: pl.LazyFrame) -> pl.LazyFrame:
    """One row per input article (key: article_id, input order kept) with its tone in -100..100."""
    indexed = articles.select("article_id", "title", "text").with_row_index("_order")
    valence = lexicon.select("word", "valence")
    counts = (
        indexed.select("_order", article_words(pl.col("title"), pl.col("text")).alias("word"))
        .explode("word")
        .join(valence, on="word", how="left")
        .group_by("_order")
        .agg(
            # Counts are unsigned in Polars; signed so that positive - negative cannot wrap around.
            _words=pl.col("word").count().cast(pl.Int64),
            _positive=(pl.col("valence") > 0).sum().cast(pl.Int64),
            _negative=(pl.col("valence") < 0).sum().cast(pl.Int64),
        )
    )
    # GDELT's document tone: % of words that are positive minus % that are negative. An article
    # without words has tone 0, not null, so averages over articles stay defined.
    tone = (
        pl.when(pl.col("_words") > 0)
        .then(100.0 * (pl.col("_positive") - pl.col("_negative")) / pl.col("_words"))
        .otherwise(0.0)
        .fill_null(0.0)
    )
    return (
        indexed.join(counts, on="_order", how="left")
        .sort("_order")
        .select("article_id", tone.cast(pl.Float64).alias("tone"))
    )
