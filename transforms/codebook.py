"""The CAMEO codebook as a warehouse table: every code with its root's name and its quad class's name."""

from __future__ import annotations

import polars as pl


def cameo_code_rows(codes: pl.LazyFrame, quad_classes: pl.LazyFrame) -> pl.LazyFrame:
    """One row per CAMEO event code (event_code) with the names of its root code and quad class,
    in the columns of `schemas.CAMEO_CODES`. `codes` is `lexicons.loaders.cameo_codes()`,
    `quad_classes` is `lexicons.loaders.quad_classes()`."""
    roots = codes.select(pl.col("event_code").alias("event_root_code"), pl.col("name").alias("event_root_name"))
    return (
        codes.join(roots, on="event_root_code", how="left", maintain_order="left")
        .join(quad_classes, on="quad_class", how="left", maintain_order="left")
        .select(
            "event_code",
            pl.col("name").alias("event_name"),
            "event_base_code",
            "event_root_code",
            "event_root_name",
            pl.col("quad_class").cast(pl.Int32),
            "quad_class_name",
            pl.col("goldstein").cast(pl.Float64).alias("goldstein_scale"),
            "plover_event",
        )
        .sort("event_code")
    )
