"""The VADER sentiment lexicon as a word -> valence table, read from the installed package."""

from __future__ import annotations

from importlib.resources import files

import polars as pl

TONE_LEXICON = pl.Schema({"word": pl.String, "valence": pl.Float64})


def tone_lexicon() -> pl.DataFrame:
    """One row per lower-cased lexicon word (key: word) with its mean VADER valence (-4..4)."""
    raw = files("vaderSentiment").joinpath("vader_lexicon.txt").read_bytes()
    # Columns: token, mean valence, standard deviation, the ten raters' scores. No quoting: tokens
    # such as `"` and `'}{'` are emoticons, not quoted fields.
    table = pl.read_csv(raw, separator="\t", has_header=False, quote_char=None, infer_schema=False)
    return (
        table.select(pl.col("column_0").str.to_lowercase().alias("word"),
                     pl.col("column_1").cast(pl.Float64).alias("valence"))
        # A few tokens occur twice: emoticons that differ only in case (":P" 1.4, ":p" 1.0) and words
        # listed both among the emoticons and the words ("lol" 2.9 and 1.8, "ok", "sob"). Their
        # valences are averaged so that a join on word never duplicates a token.
        .group_by("word")
        .agg(pl.col("valence").mean())
        .sort("word")
        .cast(dict(TONE_LEXICON))
    )
