"""Two warehouses' tables, made comparable: every table without the columns that stamp a run (its
id, its clock), sorted by what identifies a row. Used to show that two ways of running the same
input (the default runner and a Dask cluster) load the same rows."""

from __future__ import annotations

import json

import polars as pl

from schemas import TABLES
from warehouse.store import Warehouse

# Columns that stamp a run by definition (its id, its clock) and so differ between any two runs.
STAMP_COLUMNS = {
    "run_id", "last_seen_run_id",  # the Prefect flow run ids
    "result_id",  # validation_results key: a hash of the run id and the expectation's position
    "ingested_at", "updated_at", "first_seen_at", "last_seen_at", "quarantined_at", "validated_at",
    "fetched_at", "started_at", "finished_at",
}
# runs.counts is the run summary as JSON: these of its fields are stamps too (the warehouse is a temp folder).
STAMP_COUNTS = {"run_id", "warehouse"}
# validation_results and table_updates lose their key with the stamps: sorted by what identifies a row there.
SORT_WITHOUT_KEY = {"validation_results": ["table_name", "expectation", "column_name"],
                    "table_updates": ["table_name"]}


def comparable_tables(store: Warehouse) -> dict[str, pl.DataFrame]:
    """Every table of the warehouse without its stamp columns, sorted by what identifies a row."""
    tables = {}
    for name in store.table_names():
        frame = store.query(f"select * from {name}")
        if name == "runs":
            frame = frame.with_columns(pl.col("counts").map_elements(
                lambda c: json.dumps({k: v for k, v in json.loads(c).items() if k not in STAMP_COUNTS},
                                     sort_keys=True), return_dtype=pl.String))
        frame = frame.drop([c for c in frame.columns if c in STAMP_COLUMNS])
        key = [c for c in (TABLES[name].key if name in TABLES else ()) if c in frame.columns]
        # without a key: its identifying columns first, then every column (a run of several chunks
        # has one validation result per chunk for each expectation)
        first = SORT_WITHOUT_KEY.get(name, [])
        tables[name] = frame.sort(key or [*first, *(c for c in frame.columns if c not in first)])
    return tables
