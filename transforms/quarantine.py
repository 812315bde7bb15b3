"""Rejected records, from any stage, shaped as quarantine rows."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from schemas import QUARANTINE
from transforms.normalize import stable_id

REJECTS = pl.Schema(
    {"source_uri": pl.String, "record_key": pl.String, "stage": pl.String, "reason": pl.String,
     "payload": pl.Binary}
)


def normalize_rejects(articles: pl.LazyFrame) -> pl.LazyFrame:
    """One reject per normalized record that carries a `reject_reason`, and one per loaded record
    whose given date was dropped (`date_note`: the date is kept only here), with its raw payload."""
    reason = pl.coalesce("reject_reason", "date_note")
    return articles.filter(reason.is_not_null()).select(
        "source_uri", "record_key", stage=pl.lit("normalize"), reason=reason,
        payload=pl.col("payload").cast(pl.Binary),
    )


def validation_rejects(frame: pl.LazyFrame, failures: pl.LazyFrame, key: str,
                       payload: pl.Expr | None = None) -> pl.LazyFrame:
    """One reject per row of `frame` whose `key` is in `failures` (key, reason); the payload is
    `payload`, or the row itself as JSON."""
    payload = payload if payload is not None else pl.struct(pl.all()).struct.json_encode()
    return frame.join(failures, on=key, how="inner", maintain_order="left").select(
        source_uri=pl.col("source_uri") if "source_uri" in frame.collect_schema() else pl.lit(None, pl.String),
        record_key=pl.col(key),
        stage=pl.lit("validate"),
        reason=pl.col("reason"),
        payload=payload.cast(pl.Binary),
    )


def language_rejects(articles: pl.LazyFrame, failures: pl.LazyFrame) -> pl.LazyFrame:
    """One reject per article (article_id in `failures`: article_id, reason) that the language
    model or the event coder failed on, with the article's raw payload."""
    return articles.join(failures, on="article_id", how="inner", maintain_order="left").select(
        "source_uri", "record_key", stage=pl.lit("language"),
        reason=pl.format("the language model or the event coder failed on this article: {}", pl.col("reason")),
        payload=pl.col("payload").cast(pl.Binary),
    )


def quarantine_records(rejects: pl.LazyFrame, run_id: str, seen_at: datetime) -> pl.LazyFrame:
    """One quarantine row per distinct reject (quarantine_id: stage, source, record, reason)."""
    at = pl.lit(seen_at).cast(pl.Datetime("us", "UTC"))
    return (
        rejects.with_columns(
            quarantine_id=stable_id(pl.col("stage"), pl.col("source_uri"), pl.col("record_key"), pl.col("reason")),
            run_id=pl.lit(run_id),
            quarantined_at=at,
            last_seen_run_id=pl.lit(run_id),
            last_seen_at=at,
        )
        .unique("quarantine_id", keep="first", maintain_order=True)
        .select(QUARANTINE.columns)
    )


# How the run's tables hang together, for the rows a rejection elsewhere takes with it:
# (child table, column, parent table). A child row whose parent was rejected is rejected too, and
# a parent that `NEEDS_A_CHILD` with no child row left is rejected.
REQUIRES_PARENT = (("entity_mentions", "entity_id", "entities"), ("event_mentions", "event_id", "events"))
NEEDS_A_CHILD = (("events", "event_id", "event_mentions"),)
_SINGULAR = {"entities": "entity", "events": "event"}


def cascaded_failures(frames: dict[str, pl.DataFrame], failures: dict[str, pl.DataFrame],
                      keys: dict[str, str]) -> dict[str, pl.DataFrame]:
    """`failures` (table -> key, reason) grown by the cascades above, until nothing changes: every
    row that will not be loaded has a reason, so each table's rows in = out + quarantined."""
    failures = {name: failures.get(name, pl.DataFrame(schema={keys[name]: pl.String, "reason": pl.String}))
                for name in frames}
    changed = True
    while changed:
        changed = False
        for child, column, parent in REQUIRES_PARENT:
            key = keys[child]
            parents = failures[parent].select(pl.col(keys[parent]).alias(column), pl.col("reason").alias("_why"))
            hit = (frames[child].select(key, column)
                   .join(failures[child], on=key, how="anti")
                   .join(parents, on=column, how="inner")
                   .select(key, reason=pl.format("its {} {} was quarantined ({})", pl.lit(_SINGULAR[parent]),
                                                 pl.col(column), pl.col("_why"))))
            if hit.height:
                failures[child] = pl.concat([failures[child], hit.unique(key, keep="first", maintain_order=True)])
                changed = True
        for parent, column, child in NEEDS_A_CHILD:
            key = keys[parent]
            alive = frames[child].join(failures[child], on=keys[child], how="anti").select(column).unique()
            hit = (frames[parent].select(key)
                   .join(failures[parent], on=key, how="anti")
                   .join(alive.rename({column: key}), on=key, how="anti")
                   .with_columns(reason=pl.lit(f"no row of {child} is left for it (all were quarantined)")))
            if hit.height:
                failures[parent] = pl.concat([failures[parent], hit])
                changed = True
    return failures
