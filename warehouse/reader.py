"""Reading the warehouse for others: locked-down read-only connections, table facts, streamed
downloads and SQL with row, time, memory and result-size limits. Used by the web service (`web/app.py`).

Every connection here is a private in-memory DuckDB instance that attaches the lake read-only
(`warehouse.lake.Lake.connect`) at its last committed snapshot (or the one asked for with
`as_of`), then disables access to any file but the lake's data files and locks its
configuration. Each SQL query and download gets an instance of its own (its own memory limit,
interrupted alone); private instances also keep instance-wide state (settings, logging) from
being shared between requests. The page's table facts and validation results come from one
long-lived instance instead (attaching costs a few tenths of a second): each call reads the last
committed snapshot in a transaction of its own, and what it computes is kept per snapshot, so a
run's snapshot is seen by the next request, and a reader never waits for a run.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import os
import re
import sys
import threading
from contextlib import contextmanager
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from schemas import RELATIONS, SLICING, Slicing
from warehouse import charts
from warehouse.lake import READ_ATTEMPTS, Lake, ReadInterrupted, SnapshotMissing, read_consistently, rewritten_since
from warehouse.lockdown import CONNECT_CONFIG, QueryRefused, check_query, refusal
from warehouse.store import EXPORT_FORMATS, Warehouse, csv_safe_text, relations

CATALOG = "newsflow"
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}
SQL_ROW_LIMIT = 10_000
SQL_TIME_LIMIT = 10.0  # seconds
# DuckDB's memory limit of each request's instance (its default is 80% of the machine's memory).
# Results are not spilled to disk: past the limit a query fails. DuckDB does not count the text of
# values a query computes against it (e.g. repeat('x', 100000)): those are bounded by the result
# cap below and by the number of queries the web service runs at once, not by this limit.
SQL_MEMORY_LIMIT = "512MB"
SQL_RESULT_BYTES = 16 * 1024 * 1024  # most bytes of JSON rows an answer carries; then it is cut
EXPORT_BATCH_ROWS = 65_536

# Column types a CSV cell cannot hold as they are, by DuckDB type id.
_NESTED_TYPES = {"list", "struct", "map", "array", "union"}


class UnknownTable(KeyError):
    """A table or view the warehouse does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_only_connection(lake: Lake, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A private, locked-down connection to the lake (at `snapshot`, else the last one committed):
    read-only, no access to files but the lake's data files, no extension installs or loads, no
    setting changes, timestamps in UTC."""
    return lake.connect(read_only=True, snapshot=snapshot, config=CONNECT_CONFIG, allow_files=False)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str | None = None  # from schemas/ (None for a column no declaration names)


@dataclass(frozen=True)
class TableInfo:
    """One table or view: its columns, row count (None for views) and last update."""

    name: str
    kind: str  # "table" or "view"
    columns: tuple[Column, ...]
    grain: str | None = None  # from schemas/
    rows: int | None = None
    updated_at: dt.datetime | None = None
    can_filter_by_date: bool = False
    can_filter_by_source: bool = False


@dataclass(frozen=True)
class ValidationReport:
    """The latest run (by finished_at) and its validation results, failures first."""

    run_id: str | None
    finished_at: dt.datetime | None
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()

    @property
    def failed(self) -> int:
        index = self.columns.index("success") if "success" in self.columns else None
        return 0 if index is None else sum(1 for row in self.rows if row[index] is False)


@dataclass(frozen=True)
class Filters:
    """A download's cut: inclusive UTC dates and a source name, domain or feed title."""

    start: dt.date | None = None
    end: dt.date | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end >= dt.date.max:
            # The cut ends before the next day, which Python dates cannot hold past 9999-12-31.
            raise QueryRefused(f"end {self.end.isoformat()} is out of range: the last day a filter can name "
                               f"is {(dt.date.max - dt.timedelta(days=1)).isoformat()}")

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None or bool(self.source)

    def file_stem(self, table: str) -> str:
        """The download's file name without extension: the table, then the filters."""
        parts = [table]
        if self.start:
            parts.append(f"from-{self.start.isoformat()}")
        if self.end:
            parts.append(f"to-{self.end.isoformat()}")
        if self.source:
            parts.append("source-" + (re.sub(r"[^A-Za-z0-9.-]+", "-", self.source).strip("-.")[:60] or "x"))
        return "_".join(parts)


@dataclass(frozen=True)
class SqlResult:
    """One query's answer as JSON-safe values, cut at the row limit."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    note: str | None = None  # why the rows were cut, when they were

    @property
    def row_count(self) -> int:
        return len(self.rows)


def _slice_condition(table: str, slicing: dict[str, Slicing], filters: Filters, dimension: str,
                     seen: tuple[str, ...] = ()) -> tuple[str, list] | None:
    """A WHERE condition (and its parameters) cutting `table` on one dimension ("date" or
    "source"), through `via` tables when the table has no such column; None when it cannot be cut."""
    spec = slicing.get(table)
    if spec is None or table in seen:
        return None
    if dimension == "date" and spec.date:
        column, conditions, params = _ident(spec.date), [], []
        if filters.start:
            conditions.append(f"{column} >= ?")
            params.append(filters.start)
        if filters.end:
            # Dates are inclusive: everything before the next day (UTC, the session's zone).
            conditions.append(f"{column} < ?")
            params.append(filters.end + dt.timedelta(days=1))
        return " AND ".join(conditions), params
    if dimension == "source" and spec.sources:
        columns = ", ".join(f"lower({_ident(c)})" for c in spec.sources)
        return f"lower(?) IN ({columns})", [filters.source]
    if spec.via:
        key, other = spec.via
        inner = _slice_condition(other, slicing, filters, dimension, (*seen, table))
        if inner is not None:
            return f"{_ident(key)} IN (SELECT {_ident(key)} FROM {_ident(other)} WHERE {inner[0]})", inner[1]
    return None


def filtered_query(table: str, filters: Filters, slicing: dict[str, Slicing] = SLICING) -> tuple[str, list]:
    """`SELECT * FROM table` cut by `filters` (bound parameters), or QueryRefused when the table
    has no date or source to cut by."""
    conditions, params = [], []
    wanted = [d for d, on in (("date", filters.start or filters.end), ("source", filters.source)) if on]
    for dimension in wanted:
        condition = _slice_condition(table, slicing, filters, dimension)
        if condition is None:
            raise QueryRefused(
                f"table {table!r} cannot be filtered by {dimension}: it has no {dimension} column "
                f"and no article to take one from"
            )
        conditions.append(f"({condition[0]})")
        params.extend(condition[1])
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM {_ident(table)}{where}", params


class _Sink(io.RawIOBase):
    """A write-only file that keeps what was written until it is drained."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


class ExportStream:
    """The bytes of one download, produced one record batch at a time from its own read-only
    connection; the connection closes when the stream ends or `close()` is called."""

    def __init__(self, con: duckdb.DuckDBPyConnection, query: str, params: list, fmt: str, filename: str,
                 batch_rows: int = EXPORT_BATCH_ROWS, on_close=None):
        self.filename = filename
        self.media_type = MEDIA_TYPES[fmt]
        self._con = con
        self._on_close = on_close
        self._closed = False
        # Run now, so that a failing query fails before a response has started.
        self._chunks = self._produce(con.execute(query, params).to_arrow_reader(batch_rows), fmt)

    @staticmethod
    def _produce(reader, fmt: str) -> Iterator[bytes]:
        sink = _Sink()
        writer = (pq.ParquetWriter(sink, reader.schema) if fmt == "parquet"
                  else pacsv.CSVWriter(sink, reader.schema))
        for batch in reader:
            writer.write_batch(batch)
            chunk = sink.drain()
            if chunk:
                yield chunk
        writer.close()
        yield sink.drain()

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._chunks.close()
        finally:
            self._con.close()
            if self._on_close:
                self._on_close()


def _json_safe(value: Any) -> Any:
    """A value as JSON can hold it: ISO dates and times, base64 bytes, decimals as strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


@dataclass
class Reader:
    """Read access to one warehouse folder for the web service: a new connection per query or
    download; the page's facts from one long-lived connection, kept per snapshot."""

    root: Path
    catalog: str = ""  # see config.settings.Settings.catalog / data_path
    data_path: str = ""
    sql_row_limit: int = SQL_ROW_LIMIT
    sql_time_limit: float = SQL_TIME_LIMIT
    memory_limit: str = SQL_MEMORY_LIMIT  # DuckDB's, per connection (so per request)
    sql_result_bytes: int = SQL_RESULT_BYTES
    slicing: dict[str, Slicing] = field(default_factory=lambda: SLICING)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _open_exports: int = field(default=0, repr=False)
    # The long-lived connection of `_per_snapshot` (one thread at a time: `_latest_lock`) and what
    # it computed, by name: (snapshot, value).
    _latest_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _latest_con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _facts: dict[str, tuple[tuple, Any]] = field(default_factory=dict, repr=False)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.root, self.catalog, self.data_path)

    @property
    def docs_index(self) -> Path:
        """The Great Expectations Data Docs home page a run writes."""
        return Path(self.root) / "docs" / "index.html"

    @property
    def open_exports(self) -> int:
        """Downloads whose connection is still open."""
        return self._open_exports

    def exists(self) -> bool:
        return self.warehouse.exists()

    def snapshot(self, as_of: str | None) -> int | None:
        """The snapshot `as_of` (a run id or a timestamp) names; None for the latest."""
        if not as_of:
            return None
        try:
            return self.warehouse.snapshot_as_of(as_of)
        except SnapshotMissing as err:
            raise QueryRefused(str(err)) from None

    def connect(self, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
        """A locked-down connection (see read_only_connection) at `as_of`, else the last snapshot."""
        config = {**CONNECT_CONFIG, "memory_limit": self.memory_limit, "temp_directory": ""}
        return self.warehouse.connect(snapshot=self.snapshot(as_of), config=config, allow_files=False)

    @cached_property
    def _server_paths(self) -> tuple[re.Pattern, dict[str, str]]:
        lake = self.warehouse.lake
        named = {str(Path(self.root).resolve()): "<warehouse>", lake.data_url.rstrip("/"): "<warehouse data>",
                 lake.catalog_spec: "<catalog>"}  # a Postgres catalog's spec may hold its password
        if lake.catalog_file is not None:
            named[str(lake.catalog_file)] = "<catalog>"
        for place in (os.getcwd(), sys.prefix, sys.base_prefix, str(Path.home()), str(Path(duckdb.__file__).parent)):
            named.setdefault(place, "<server>")
        # Relative names ("warehouse") and "/" would hide words and every path, not the server's.
        named = {k: v for k, v in named.items() if len(k) > 1 and (Path(k).is_absolute() or ":" in k)}
        # Longest first, so a path inside another is named by the closer one; not inside a longer
        # name (/root in /rooted, or in a URL), but before a dot (DuckDB's "..." when it cuts a line).
        alternatives = "|".join(re.escape(k) for k in sorted(named, key=len, reverse=True))
        return re.compile(f"(?<![\\w.-])({alternatives})(?![\\w-])"), named

    def redacted(self, text: str) -> str:
        """`text` with the server's own paths (warehouse, catalog, data, home, installation) named
        by placeholders such as <warehouse>: answers never show where the server keeps things."""
        pattern, named = self._server_paths
        return pattern.sub(lambda m: named[m.group(1)], text)

    def _redacted_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redacted(value)
        if isinstance(value, list):
            return [self._redacted_value(v) for v in value]
        if isinstance(value, dict):
            return {self.redacted(k): self._redacted_value(v) for k, v in value.items()}
        return value

    # --- what is there -------------------------------------------------------------------------

    def _last_updates(self, con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> dict[str, dt.datetime]:
        if tables.get("table_updates") == "table":
            updates = dict(con.execute("SELECT table_name, updated_at FROM table_updates").fetchall())
            if updates:  # the bookkeeping table itself changes with every row it records
                updates.setdefault("table_updates", max(updates.values()))
            return updates
        if tables.get("runs") == "table":
            # An older warehouse without table_updates: every table is as new as the last run.
            (latest,) = con.execute("SELECT max(finished_at) FROM runs").fetchone()
            return {name: latest for name, kind in tables.items() if kind == "table" and latest is not None}
        return {}

    def _per_snapshot(self, name: str, compute: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """`compute(con)` on the last committed snapshot, computed once per snapshot and kept as
        `name`. One long-lived connection serves every call, one thread at a time (its cursors
        would not share its time zone, which the locked configuration cannot set again), each call
        in a read transaction of its own: the snapshot's id and time, read first, key what is kept
        and pin what `compute` reads, so a run's commit is seen by the next call. A read
        transaction takes no lock a run waits for (the SQLite catalog is opened per transaction)."""
        with self._latest_lock:
            try:
                return self._kept(name, compute)
            except duckdb.Error:
                # The lake went away or changed under the connection (a deleted or replaced
                # warehouse folder): attach it again, once; a missing or damaged warehouse then
                # fails as any connection's would.
                return self._kept(name, compute)

    def _kept(self, name: str, compute: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        con = self._latest_con = self._latest_con or self.connect()
        try:
            for _ in range(READ_ATTEMPTS):
                con.execute("BEGIN TRANSACTION")
                try:
                    # From the catalog's own table, by its key: ducklake_snapshots() reads every snapshot
                    # with its changes, which grows with the warehouse.
                    snapshot = con.execute(f"SELECT snapshot_id, snapshot_time FROM __ducklake_metadata_{CATALOG}"
                                           ".ducklake_snapshot ORDER BY snapshot_id DESC LIMIT 1").fetchone()
                    kept = self._facts.get(name)
                    if kept is not None and kept[0] == snapshot:
                        return kept[1]
                    value = compute(con)
                finally:
                    con.execute("ROLLBACK")
                # A compaction committed while `compute` read may have hidden rows from it (see
                # warehouse.lake.read_consistently): such a value is not kept, it is computed again.
                if not rewritten_since(con, snapshot[0]):
                    self._facts[name] = (snapshot, value)
                    return value
            raise ReadInterrupted(f"the warehouse was compacted during each of {READ_ATTEMPTS} attempts at "
                                  f"reading it; try again (maintenance is running)")
        except duckdb.Error:
            self._latest_con = None
            con.close()
            raise

    def describe(self) -> list[TableInfo]:
        """Every base table (with its row count and last update), then every view (columns only),
        at the last snapshot (computed once per snapshot)."""
        return list(self._per_snapshot("describe", self._describe))

    def _describe(self, con: duckdb.DuckDBPyConnection) -> tuple[TableInfo, ...]:
        present = relations(con)
        columns: dict[str, list[Column]] = {}
        for table, column, dtype in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_name, column_index"
        ).fetchall():
            declared = RELATIONS.get(table)
            description = declared.descriptions.get(column) if declared else None
            columns.setdefault(table, []).append(Column(column, dtype, description))
        updates = self._last_updates(con, present)
        infos = []
        for name, kind in present.items():
            rows = con.execute(f"SELECT count(*) FROM {_ident(name)}").fetchone()[0] if kind == "table" else None
            infos.append(TableInfo(
                name=name, kind=kind, columns=tuple(columns.get(name, ())), rows=rows,
                grain=RELATIONS[name].grain if name in RELATIONS else None,
                updated_at=updates.get(name) if kind == "table" else None,
                can_filter_by_date=_slice_condition(name, self.slicing, Filters(start=dt.date.min), "date") is not None,
                can_filter_by_source=_slice_condition(name, self.slicing, Filters(source="x"), "source") is not None,
            ))
        return tuple(infos)

    def latest_validation(self) -> ValidationReport:
        """The validation results of the latest run (runs ordered by finished_at), at the last
        snapshot (computed once per snapshot)."""
        return self._per_snapshot("latest_validation", self._latest_validation)

    @staticmethod
    def _latest_validation(con: duckdb.DuckDBPyConnection) -> ValidationReport:
        present = relations(con)
        if present.get("runs") != "table":
            return ValidationReport(None, None)
        latest = con.execute(
            "SELECT run_id, finished_at FROM runs ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1"
        ).fetchone()
        if latest is None or present.get("validation_results") != "table":
            return ValidationReport(*(latest or (None, None)))
        result = con.execute(
            "SELECT table_name, expectation, column_name, is_critical, success, element_count, unexpected_count "
            "FROM validation_results WHERE run_id = ? ORDER BY success, table_name, expectation, column_name",
            [latest[0]],
        )
        names = tuple(d[0] for d in result.description)
        return ValidationReport(latest[0], latest[1], names, tuple(result.fetchall()))

    # --- downloads -----------------------------------------------------------------------------

    def export(self, table: str, fmt: str, filters: Filters = Filters(), batch_rows: int = EXPORT_BATCH_ROWS,
               as_of: str | None = None, raw: bool = False) -> ExportStream:
        """A stream of `table` (cut by `filters`) as Parquet or CSV. Blobs become base64 and
        nested values JSON text in CSV, which has no such types; text cells a spreadsheet would
        run as a formula get a leading `'` (warehouse.store.csv_safe_text) unless `raw`."""
        if fmt not in EXPORT_FORMATS:
            raise QueryRefused(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
        con = self.connect(as_of)
        try:
            present = relations(con)
            if table not in present:
                raise UnknownTable(f"no table {table!r} in the warehouse; tables: {', '.join(present)}")
            query, params = filtered_query(table, filters, self.slicing)
            if fmt == "csv":
                query, params = self._csv_ready(con, table, query, raw), params
            with self._lock:
                self._open_exports += 1
            return ExportStream(con, query, params, fmt, f"{filters.file_stem(table)}.{fmt}", batch_rows,
                                on_close=self._export_closed)
        except BaseException:
            con.close()
            raise

    def _export_closed(self) -> None:
        with self._lock:
            self._open_exports -= 1

    @staticmethod
    def _csv_ready(con: duckdb.DuckDBPyConnection, table: str, query: str, raw: bool = False,
                   relation: str | None = None) -> str:
        # `relation`: SQL of a relation to take the column types from instead of the table's
        types = con.execute(f"SELECT * FROM {relation or _ident(table)} LIMIT 0").description
        selected = []
        for name, dtype, *_ in types:
            column = _ident(name)
            if dtype.id == "blob":
                selected.append(f"base64({column}) AS {column}")
            elif dtype.id in _NESTED_TYPES:
                selected.append(f"CAST(to_json({column}) AS VARCHAR) AS {column}")
            elif dtype.id == "varchar" and not raw:
                selected.append(f"{csv_safe_text(column)} AS {column}")
            else:
                selected.append(column)
        return f"SELECT {', '.join(selected)} FROM ({query}) AS t"

    # --- SQL -----------------------------------------------------------------------------------

    def sql(self, query: str, limit: int | None = None, as_of: str | None = None) -> SqlResult:
        """Run one read-only SELECT (or EXPLAIN) within the row, time, memory and result-size
        limits; QueryRefused says what was refused and why, with DuckDB's message where DuckDB
        refused it. Server paths in values and messages are replaced (see `redacted`)."""
        limit = self.sql_row_limit if limit is None else max(1, min(limit, self.sql_row_limit))
        con = self.connect(as_of)
        timer = threading.Timer(self.sql_time_limit, con.interrupt)
        timer.daemon = True
        try:
            check_query(con, query)
            timer.start()

            def read(c: duckdb.DuckDBPyConnection):
                result = c.execute(query)
                return ([self.redacted(d[0]) for d in result.description], [str(d[1]) for d in result.description],
                        *self._fetched(result, limit + 1))

            names, types, rows, over_size = read_consistently(con, read)
        except ReadInterrupted as err:
            raise QueryRefused(f"refused for now: {err}") from err
        except duckdb.InterruptException as err:
            raise QueryRefused(
                f"refused: the query ran longer than the time limit of {self.sql_time_limit:g} s and was "
                f"interrupted ({err})"
            ) from err
        except duckdb.Error as err:
            raise QueryRefused(self.redacted(str(refusal(err, self.memory_limit)))) from err
        finally:
            timer.cancel()
            con.close()
        if over_size:
            return SqlResult(names, types, rows, truncated=True, note=(
                f"cut after {len(rows)} rows: the answer reached the limit of {self.sql_result_bytes:,} bytes "
                f"of JSON rows; select fewer or narrower columns, or fewer rows"))
        if len(rows) > limit:
            return SqlResult(names, types, rows[:limit], truncated=True, note=f"cut at the row limit ({limit} rows)")
        return SqlResult(names, types, rows, truncated=False)

    def _fetched(self, result: duckdb.DuckDBPyConnection, most: int) -> tuple[list[list[Any]], bool]:
        """Up to `most` rows of `result` as JSON-safe, redacted values, and whether more would have
        passed `sql_result_bytes`. Rows are fetched a few at a time, so no more than about a
        sixteenth of the cap is converted past it."""
        rows: list[list[Any]] = []
        size, chunk = 2, 1  # "[]"; the first row tells how wide rows are
        while len(rows) < most:
            batch = result.fetchmany(min(chunk, most - len(rows)))
            if not batch:
                break
            for raw in batch:
                row = self._redacted_value(_json_safe(list(raw)))
                size += len(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()) + 1
                if size > self.sql_result_bytes:
                    return rows, True
                rows.append(row)
            average = size / len(rows)
            chunk = max(1, min(2 * chunk, 2048, int(self.sql_result_bytes / 16 / average)))
        return rows, False

    # --- the page's charts and SQL downloads (warehouse.charts) -----------------------------------

    def _timer(self, con: duckdb.DuckDBPyConnection) -> threading.Timer:
        """A timer (not started) that interrupts `con` at the SQL time limit."""
        timer = threading.Timer(self.sql_time_limit, con.interrupt)
        timer.daemon = True
        return timer

    @contextmanager
    def _refusals(self):
        """DuckDB's errors, and an interrupt at the time limit, as QueryRefused."""
        try:
            yield
        except duckdb.InterruptException as err:
            raise QueryRefused(f"refused: the query ran longer than the time limit of {self.sql_time_limit:g} s "
                               f"and was interrupted ({err})") from err
        except duckdb.Error as err:
            raise QueryRefused(self.redacted(str(refusal(err, self.memory_limit)))) from err

    @contextmanager
    def _limited(self):
        """A connection (the latest snapshot) interrupted at the SQL time limit, errors as QueryRefused."""
        with self.connect() as con, self._refusals():
            timer = self._timer(con)
            timer.start()
            try:
                yield con
            finally:
                timer.cancel()

    def _cut(self, table: str, filters: Filters, events: str) -> tuple[str, list]:
        if events not in charts.EVENT_SCOPES:
            raise QueryRefused(f"unknown events {events!r}: use one of {', '.join(charts.EVENT_SCOPES)}")
        query, params = filtered_query(table, filters, self.slicing)
        return charts.cut_relation(table, query, events), params

    @staticmethod
    def _records(result: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        return {"columns": [d[0] for d in result.description],
                "rows": [_json_safe(list(row)) for row in result.fetchall()]}

    def charts(self, filters: Filters = Filters(), events: str = "confident", label: str | None = None) -> dict:
        """Every chart's counts (warehouse.charts.CHARTS) over the warehouse cut by `filters`, with
        the entity labels of the cut and how many events and articles have no date. The page's
        first view (no filter, no label) is kept per snapshot, from the long-lived connection."""
        if events not in charts.EVENT_SCOPES:
            raise QueryRefused(f"unknown events {events!r}: use one of {', '.join(charts.EVENT_SCOPES)}")
        if not filters and label is None:
            return self._per_snapshot(f"charts:{events}", lambda con: self._charts(con, filters, events, label))
        with self._limited() as con:
            return self._charts(con, filters, events, label)

    def _charts(self, con: duckdb.DuckDBPyConnection, filters: Filters, events: str, label: str | None) -> dict:
        answer: dict[str, Any] = {"charts": {}, "undated": {}}
        for chart in charts.CHARTS.values():
            cut, params = self._cut(chart.table, filters, events)
            extra = [label, label] if chart.name == "top_entities" else []
            records = self._records(con.execute(charts.with_cut(cut, chart.counts), params + extra))
            answer["charts"][chart.name] = {"title": chart.title, "keys": list(chart.keys), **records}
        cut, params = self._cut("entity_mentions", filters, events)
        answer["entity_labels"] = self._records(con.execute(charts.with_cut(cut, charts.ENTITY_LABELS), params))
        for table, query in charts.UNDATED.items():
            cut, params = self._cut(table, filters, events)
            total, undated = con.execute(charts.with_cut(cut, query), params).fetchone()
            answer["undated"][table] = {"total": total, "undated": undated}
        return answer

    def chart_rows(self, chart: str, keys: list[str], filters: Filters = Filters(), events: str = "confident",
                   limit: int | None = None) -> SqlResult:
        """The rows behind one mark of `chart`: `keys` name it (the chart's `keys`, in order)."""
        spec = charts.CHARTS.get(chart)
        if spec is None:
            raise UnknownTable(f"no chart {chart!r}; charts: {', '.join(charts.CHARTS)}")
        if len(keys) != len(spec.keys):
            raise QueryRefused(f"chart {chart!r} takes {len(spec.keys)} keys ({', '.join(spec.keys)}), got {len(keys)}")
        limit = self.sql_row_limit if limit is None else max(1, min(limit, self.sql_row_limit))
        cut, params = self._cut(spec.table, filters, events)
        with self._limited() as con:
            result = con.execute(charts.with_cut(cut, spec.rows) + " LIMIT ?", params + list(keys) + [limit + 1])
            names, types = [d[0] for d in result.description], [str(d[1]) for d in result.description]
            rows, over_size = self._fetched(result, limit + 1)
        truncated = over_size or len(rows) > limit
        return SqlResult(names, types, rows[:limit], truncated=truncated,
                         note=f"cut at {min(len(rows), limit)} rows" if truncated else None)

    def export_sql(self, query: str, fmt: str, as_of: str | None = None, raw: bool = False) -> ExportStream:
        """A stream of one read-only SELECT's result (what `sql` answers, within its row, time and
        memory limits) as Parquet or CSV, made as `export` makes a table's."""
        if fmt not in EXPORT_FORMATS:
            raise QueryRefused(f"unknown format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
        con = self.connect(as_of)
        timer = self._timer(con)

        def closed() -> None:
            timer.cancel()
            self._export_closed()

        try:
            with self._refusals():
                check_query(con, query)
                (statement,) = duckdb.extract_statements(query)
                if statement.type != duckdb.StatementType.SELECT:
                    raise QueryRefused("refused: a download takes a SELECT query (not EXPLAIN)")
                text = statement.query
                last = duckdb.tokenize(text)[-1][0]  # (comments are not tokens)
                if text[last] == ";":
                    text = text[:last]
                relation = f"({text}\n) AS q"  # the newline ends a trailing -- comment
                limited = f"SELECT * FROM {relation} LIMIT {self.sql_row_limit}"
                if fmt == "csv":
                    limited = self._csv_ready(con, "query", limited, raw, relation=relation)
                timer.start()
                stream = ExportStream(con, limited, [], fmt, f"query.{fmt}", on_close=closed)
        except BaseException:
            timer.cancel()
            con.close()
            raise
        with self._lock:
            self._open_exports += 1
        return stream
