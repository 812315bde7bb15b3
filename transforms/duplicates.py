"""Duplicate articles: exact (same text) and near (SimHash of word shingles within a few bits)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import polars as pl

# Texts shorter than this have too few shingles for a meaningful SimHash; they match exactly or not at all.
MIN_WORDS = 20
SHINGLE_WORDS = 3
# Two texts whose 64-bit SimHashes differ in at most this many bits are near-duplicates (Manku et
# al., WWW 2007, use 3 for web pages; news copies with an edited sentence or two land within 5).
MAX_DISTANCE = 5
# Cutting the hash into MAX_DISTANCE + 1 blocks guarantees a near-duplicate shares one whole block.
BLOCK_BITS = (0, 11, 22, 33, 44, 55, 64)
_BLOCK_BITS = BLOCK_BITS
# Distinct SimHashes per block value an article is compared with (the earliest ones): many
# articles sharing one block are near-copies of each other, and the earliest is the original.
BUCKET_CANDIDATES = 16
_WORD = re.compile(r"\w+")
_BIT_WEIGHTS = np.uint64(1) << np.arange(64, dtype=np.uint64)


def _simhash_one(text: str | None) -> int | None:
    words = _WORD.findall(text.lower()) if text else []
    if len(words) < MIN_WORDS:
        return None
    shingles = {" ".join(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in shingles),
        dtype=np.uint64, count=len(shingles),
    )
    bits = (hashes[:, None] & _BIT_WEIGHTS) != 0
    votes = bits.sum(axis=0) * 2 - len(shingles)
    return int(_BIT_WEIGHTS[votes > 0].sum())


def simhash(expr: pl.Expr) -> pl.Expr:
    """64-bit SimHash of the text's word 3-shingles; null for texts under MIN_WORDS words."""
    return expr.map_batches(lambda s: pl.Series([_simhash_one(t) for t in s], dtype=pl.UInt64),
                            return_dtype=pl.UInt64)


def _blocks(frame: pl.LazyFrame) -> pl.LazyFrame:
    parts = [
        frame.select("article_id", "_order", "simhash", pl.lit(i).alias("_block"),
                     ((pl.col("simhash") // (1 << lo)) % (1 << (hi - lo))).alias("_value"))
        for i, (lo, hi) in enumerate(zip(_BLOCK_BITS, _BLOCK_BITS[1:]))
    ]
    return pl.concat(parts).filter(pl.col("simhash").is_not_null())


def simhash_blocks(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One row per distinct (block, bits) of the frame's `simhash` values: what a stored article
    must share with one of them to be a near-duplicate candidate."""
    return pl.concat([
        frame.select(pl.lit(i, pl.Int32).alias("block"),
                     ((pl.col("simhash") // (1 << lo)) % (1 << (hi - lo))).cast(pl.UInt64).alias("bits"))
        for i, (lo, hi) in enumerate(zip(BLOCK_BITS, BLOCK_BITS[1:]))
    ]).drop_nulls().unique()


def _firsts(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """One row per non-null value of `column`: the first article (lowest `_order`) having it."""
    return frame.filter(pl.col(column).is_not_null()).group_by(column).agg(
        pl.col("article_id").sort_by("_order").first().alias("article_id_o"), pl.col("_order").min().alias("_order_o"))


def duplicate_links(articles: pl.LazyFrame, known: pl.LazyFrame) -> pl.LazyFrame:
    """The run's articles (article_id) with `duplicate_of` (the first article seen, stored ones
    first, with the same or a near-identical text) and `similarity` (1 - differing bits / 64)."""
    run = articles.select("article_id", "text_hash", "simhash").with_row_index("_order")
    offset = pl.len().cast(pl.Int64)
    stored = (
        known.join(run.select("article_id"), on="article_id", how="anti")
        .sort("ingested_at", "article_id")
        .select("article_id", "text_hash", "simhash", pl.col("duplicate_of").alias("_stored_root"))
        .with_row_index("_order")
    )
    stored_count = stored.select(offset).collect().item()
    universe = pl.concat([
        stored.with_columns(pl.col("_order").cast(pl.Int64)),
        run.with_columns(pl.col("_order").cast(pl.Int64) + stored_count, _stored_root=pl.lit(None, pl.String)),
    ], how="diagonal")
    current = universe.join(run.select("article_id"), on="article_id", how="semi")
    # Each article is compared with the first article of its text hash and of its SimHash, and with
    # the first BUCKET_CANDIDATES distinct SimHashes of each block it falls in: linear in the
    # articles, where comparing every pair of a block made 12,000 copies of one text 144M pairs.
    exact = pl.concat([
        current.join(_firsts(universe, column), on=column)
        .filter(pl.col("_order_o") < pl.col("_order"))
        .select("article_id", "_order", "article_id_o", "_order_o", distance=pl.lit(0, pl.UInt32))
        for column in ("text_hash", "simhash")
    ])
    representatives = _firsts(universe, "simhash").select(
        "simhash", pl.col("article_id_o").alias("article_id"), pl.col("_order_o").alias("_order"))
    buckets = _blocks(representatives).filter(
        pl.col("_order").rank("ordinal").over("_block", "_value") <= BUCKET_CANDIDATES)
    near = (
        _blocks(current).join(buckets, on=["_block", "_value"], suffix="_o")
        .filter(pl.col("_order_o") < pl.col("_order"))
        .unique(["article_id", "article_id_o"])
        .with_columns(distance=(pl.col("simhash").xor(pl.col("simhash_o"))).bitwise_count_ones())
        .filter(pl.col("distance") <= MAX_DISTANCE)
        .select("article_id", "_order", "article_id_o", "_order_o", pl.col("distance").cast(pl.UInt32))
    )
    first_match = (
        pl.concat([exact, near])
        .sort("article_id", "_order_o", "distance")
        .unique("article_id", keep="first", maintain_order=True)
        .select("article_id", pl.col("article_id_o").alias("duplicate_of"),
                (1 - pl.col("distance").cast(pl.Float64) / 64).alias("similarity"))
    )
    # An article matching a copy points at that copy's original, so every copy names the first.
    roots = pl.concat([
        stored.select("article_id", pl.col("_stored_root").alias("_root")),
        first_match.select("article_id", pl.col("duplicate_of").alias("_root")),
    ])
    resolved = first_match
    for _ in range(3):
        resolved = resolved.join(roots, left_on="duplicate_of", right_on="article_id", how="left").with_columns(
            duplicate_of=pl.coalesce("_root", "duplicate_of")
        ).drop("_root")
    return articles.join(resolved, on="article_id", how="left", maintain_order="left")
