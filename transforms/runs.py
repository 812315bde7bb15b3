"""Run bookkeeping: which articles are new or changed, and the rows describing a run."""

from __future__ import annotations

import polars as pl

from transforms.duplicates import duplicate_links
from transforms.normalize import stable_id


def article_changes(articles: pl.LazyFrame, known: pl.LazyFrame) -> pl.LazyFrame:
    """The articles (article_id) with `change`: 'new', 'changed' (other content_hash) or 'unchanged'."""
    stored = known.select("article_id", pl.col("content_hash").alias("_stored_hash"))
    return (
        articles.join(stored, on="article_id", how="left", maintain_order="left")
        .with_columns(
            change=pl.when(pl.col("_stored_hash").is_null())
            .then(pl.lit("new"))
            .when(pl.col("_stored_hash") == pl.col("content_hash"))
            .then(pl.lit("unchanged"))
            .otherwise(pl.lit("changed"))
        )
        .drop("_stored_hash")
    )


def planned_articles(articles: pl.LazyFrame, known: pl.LazyFrame) -> pl.LazyFrame:
    """The run's articles (article_id) with `change`, and for new or changed ones `duplicate_of`
    and `similarity` against every article seen before them."""
    compared = article_changes(articles, known)
    fresh = compared.filter(pl.col("change") != "unchanged").drop("duplicate_of", "similarity")
    return pl.concat([
        duplicate_links(fresh, known),
        compared.filter(pl.col("change") == "unchanged"),
    ], how="diagonal_relaxed").select(compared.collect_schema().names())


def validation_result_rows(results: pl.LazyFrame, run_id: str, chunk: int = 0) -> pl.LazyFrame:
    """One row per expectation evaluated in chunk `chunk` of the run (result_id: of the run, the
    chunk and the row's position in it, so every id is distinct, whichever chunk is done first)."""
    return results.with_row_index("_position").with_columns(
        result_id=stable_id(pl.lit(run_id), pl.lit(chunk), pl.col("table_name"), pl.col("_position")),
        run_id=pl.lit(run_id),
    ).drop("_position")


def run_report(status: str, warehouse: str, steps: dict[str, dict[str, int]], failed: list[dict],
               skipped_because: str | None = None) -> str:
    """A run's summary as markdown: rows in, out (loaded), unchanged and quarantined per step,
    then the failed expectations (the Prefect artifact of each run)."""
    if status == "skipped":
        return f"# newsflow run skipped\n\nWarehouse `{warehouse}`: {skipped_because}. Nothing was read or loaded.\n"
    lines = [f"# newsflow run: {status}", "", f"Warehouse `{warehouse}`", "",
             "| step | in | out | unchanged | quarantined |", "|---|---:|---:|---:|---:|"]
    for step, counts in steps.items():
        unchanged = counts.get("unchanged")
        lines.append(f"| {step} | {counts['in']} | {counts['out']} | {'' if unchanged is None else unchanged} "
                     f"| {counts['quarantined']} |")
    lines += ["", f"## Failed expectations: {len(failed)}", ""]
    if failed:
        lines += ["| table | expectation | column | unexpected rows |", "|---|---|---|---:|"]
        lines += [f"| {f['table_name']} | {f['expectation']} | {f.get('column_name') or ''} "
                  f"| {'' if f.get('unexpected_count') is None else f['unexpected_count']} |" for f in failed]
    else:
        lines.append("Every expectation passed.")
    return "\n".join(lines) + "\n"
