"""Arrow schemas and DuckDB DDL derived from the table declarations."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from schemas.tables import Table


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema Parquet files of `table` are written with."""
    return pl.DataFrame(schema=table.schema).to_arrow().schema


def duckdb_type(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "VARCHAR"
    if dtype == pl.Binary:
        return "BLOB"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype == pl.Int32:
        return "INTEGER"
    if dtype == pl.Int64:
        return "BIGINT"
    if dtype == pl.UInt64:
        return "UBIGINT"
    if dtype == pl.Int128:
        return "HUGEINT"  # what DuckDB's sum() of BIGINTs returns (views)
    if dtype == pl.Float64:
        return "DOUBLE"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    raise TypeError(f"no DuckDB type declared for Polars type {dtype}")


def duckdb_ddl(table: Table) -> str:
    """`CREATE TABLE IF NOT EXISTS` for `table`. DuckLake enforces no keys: the load keeps
    `table.key` unique (batches deduplicated, then MERGE) and the suites check it."""
    columns = [
        f"{name} {duckdb_type(dtype)}{' NOT NULL' if name in table.required else ''}"
        for name, dtype in table.schema.items()
    ]
    body = ",\n  ".join(columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {body}\n)"


def conformed(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """`frame` with exactly the table's columns, in order and cast to their declared types."""
    return frame.select([pl.col(name).cast(dtype) for name, dtype in table.schema.items()])
