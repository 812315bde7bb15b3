"""The warehouse folder: Parquet staged first, DuckDB loaded in one transaction, exports published."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from schemas import (
    ARTICLES, ENTITIES, ENTITY_MENTIONS, EVENT_MENTIONS, EVENTS, FETCH_STATE, QUARANTINE, TABLE_UPDATES, TABLES, Table,
)
from schemas.derive import arrow_schema, conformed, duckdb_ddl, duckdb_type

DB_FILE = "newsflow.duckdb"
# Every base table: the ones a run stages, and the load's own bookkeeping.
PUBLISHED = {**TABLES, TABLE_UPDATES.name: TABLE_UPDATES}
EXPORT_FORMATS = ("parquet", "csv")


def configured(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con` with the session settings every warehouse connection uses (timestamps shown in UTC)."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def attach_read_only(db_path: Path, config: dict | None = None, catalog: str = "newsflow") -> duckdb.DuckDBPyConnection:
    """A read-only connection to the database file as it is now, in a private DuckDB instance.

    Not `duckdb.connect(path, read_only=True)`: the Python client shares one database instance
    per path inside a process, so while any connection to an older version of the file is open
    (a long download), new ones would be handed that version too, after a run has published a
    newer one. A private in-memory instance that ATTACHes the file sees the file as it is when
    opened, and keeps reading that version until it closes."""
    con = duckdb.connect(":memory:", config=config or {})
    try:
        con.execute(f"ATTACH {_literal(db_path)} AS {catalog} (READ_ONLY)")
        con.execute(f"USE {catalog}")
    except BaseException:
        con.close()
        raise
    return con


def relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every table and view of the connection's database (name -> "table" or "view"), tables first."""
    rows = con.execute(
        "SELECT table_name, 'table' FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary "
        "UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY 2, 1"
    ).fetchall()
    return dict(rows)


class WarehouseMissing(FileNotFoundError):
    """There is no warehouse database at the given folder yet."""


def _sql(name: str) -> str:
    return files("warehouse").joinpath("sql", f"{name}.sql").read_text()


def _views_sql() -> str:
    """The analyst views, with the coder's documented confidence threshold filled in."""
    from flows.lexicons import coder_rules

    return _sql("views").replace("{view_threshold}", repr(float(coder_rules().view_threshold)))


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _upsert(table: Table, staged: Path, assignments: dict[str, str] | None = None, where: str = "") -> str:
    """INSERT of the staged rows; on a key conflict the stored row gets `assignments` (column ->
    SQL expression over `excluded`) when `where` holds, or is left alone when there are none."""
    action = "DO NOTHING"
    if assignments:
        action = "DO UPDATE SET " + ", ".join(f"{c} = {e}" for c, e in assignments.items())
        action += f" WHERE {where}" if where else ""
    return (
        f"INSERT INTO {table.name} BY NAME SELECT * FROM read_parquet({_literal(staged)}) "
        f"ON CONFLICT ({', '.join(table.key)}) {action}"
    )


def _replacing(table: Table, *columns: str) -> dict[str, str]:
    names = columns or [c for c in table.columns if c not in table.key]
    return {c: f"excluded.{c}" for c in names}


@dataclass(frozen=True)
class RunTables:
    """Everything one run publishes, one frame per table (rows of this run only)."""

    articles: pl.DataFrame
    entity_mentions: pl.DataFrame
    entities: pl.DataFrame
    event_mentions: pl.DataFrame
    events: pl.DataFrame
    quarantine: pl.DataFrame
    runs: pl.DataFrame
    validation_results: pl.DataFrame
    fetch_state: pl.DataFrame


class Warehouse:
    """A warehouse folder: `newsflow.duckdb`, `parquet/<table>/<table>.parquet`, `docs/`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.db_path = self.root / DB_FILE
        self.parquet_dir = self.root / "parquet"
        self.docs_dir = self.root / "docs"
        self.staging_dir = self.root / "staging"

    def exists(self) -> bool:
        return self.db_path.exists()

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A connection to the database; read-only ones fail with WarehouseMissing when there is none."""
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            return configured(duckdb.connect(str(self.db_path)))
        if not self.exists():
            raise WarehouseMissing(f"no warehouse at {self.root} (no {DB_FILE}); run `newsflow run` first")
        return configured(attach_read_only(self.db_path))

    def known_articles(self) -> pl.DataFrame:
        """One row per stored article (article_id) with what change and duplicate detection need;
        empty before the first run."""
        return self._stored(ARTICLES, ["article_id", "content_hash", "text_hash", "simhash", "duplicate_of",
                                       "ingested_at"])

    def fetch_state(self) -> pl.DataFrame:
        """One row per URL fetched before (url) with its validators for a conditional request."""
        return self._stored(FETCH_STATE, FETCH_STATE.columns)

    def _stored(self, table: Table, columns: list[str]) -> pl.DataFrame:
        empty = pl.DataFrame(schema={c: table.schema[c] for c in columns})
        if not self.exists():
            return empty
        with self.connect() as con:
            present = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name]
            ).fetchall()}
            if not present:
                return empty
            selected = ", ".join(c if c in present else f"NULL AS {c}" for c in columns)
            stored = pl.from_arrow(con.execute(f"SELECT {selected} FROM {table.name}").to_arrow_table())
        return stored.cast(empty.schema)

    def publish(self, run_id: str, tables: RunTables) -> None:
        """Make the run visible in one atomic step, or not at all.

        The run's tables are staged as Parquet, then loaded in one transaction into a private
        copy of the database (`.newsflow.duckdb.<run_id>.tmp`), which is checkpointed, closed and
        renamed over `newsflow.duckdb`. Readers therefore never wait for a run (DuckDB lets one
        process hold a file for writing) and see the database as it was before the run or after
        it, never half-loaded; a run that fails leaves the file untouched. The Parquet exports are
        replaced after the swap. Runs must not publish concurrently: see `warehouse.lock`.
        """
        staging = self.staging_dir / run_id
        staged = self._stage(staging, tables)
        work = self.root / f".{DB_FILE}.{run_id}.tmp"
        exports: dict[str, Path] = {}
        try:
            if self.exists():
                shutil.copyfile(self.db_path, work)
            with configured(duckdb.connect(str(work))) as con:
                con.execute("BEGIN TRANSACTION")
                for table in PUBLISHED.values():
                    self._create_or_migrate(con, table)
                self._load(con, staged)
                self._record_updates(con, run_id, staged)
                for name, table in PUBLISHED.items():
                    target = self.parquet_dir / name
                    target.mkdir(parents=True, exist_ok=True)
                    exports[name] = target / f".{name}.parquet.{run_id}.tmp"
                    con.execute(
                        f"COPY (SELECT * FROM {name} ORDER BY {', '.join(table.key)}) "
                        f"TO {_literal(exports[name])} (FORMAT parquet)"
                    )
                con.execute("COMMIT")
                con.execute("CHECKPOINT")  # everything in the file itself, no WAL beside it
            os.replace(work, self.db_path)
        except BaseException:
            for leftover in (work, work.with_name(work.name + ".wal"), *exports.values()):
                leftover.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if self.staging_dir.exists() and not any(self.staging_dir.iterdir()):
                self.staging_dir.rmdir()
        for name, tmp in exports.items():
            os.replace(tmp, self.parquet_dir / name / f"{name}.parquet")

    def copy_exports(self, url: str) -> list[str]:
        """Copy the published Parquet exports to `url`, any fsspec file system URL
        (`s3://bucket/prefix`, `gs://...`, `az://...`, `file:///...`, `memory://...`), as
        `<url>/<table>/<table>.parquet`. Returns the URLs written."""
        import fsspec

        fs, base = fsspec.core.url_to_fs(url)
        written = []
        for name in PUBLISHED:
            local = self.parquet_dir / name / f"{name}.parquet"
            if not local.exists():
                continue
            folder = f"{base.rstrip('/')}/{name}"
            fs.makedirs(folder, exist_ok=True)
            fs.put_file(str(local), f"{folder}/{name}.parquet")
            written.append(f"{url.rstrip('/')}/{name}/{name}.parquet")
        return written

    @staticmethod
    def _record_updates(con: duckdb.DuckDBPyConnection, run_id: str, staged: dict[str, Path]) -> None:
        """`table_updates` gets this run for every table it wrote rows to."""
        for name, path in staged.items():
            rows = pq.ParquetFile(path).metadata.num_rows
            if rows:
                con.execute(
                    "INSERT OR REPLACE INTO table_updates VALUES (?, now(), ?, ?)", [name, run_id, rows]
                )

    def _stage(self, staging: Path, tables: RunTables) -> dict[str, Path]:
        staging.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, table in TABLES.items():
            frame = conformed(getattr(tables, name), table)
            paths[name] = staging / f"{name}.parquet"
            pq.write_table(frame.to_arrow().cast(arrow_schema(table)), paths[name])
        return paths

    @staticmethod
    def _create_or_migrate(con: duckdb.DuckDBPyConnection, table: Table) -> None:
        """Create the table, or add the columns its declaration gained since it was created."""
        con.execute(duckdb_ddl(table))
        present = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name]
        ).fetchall()}
        for name, dtype in table.schema.items():
            if name not in present:
                con.execute(f"ALTER TABLE {table.name} ADD COLUMN {name} {duckdb_type(dtype)}")

    @staticmethod
    def _load(con: duckdb.DuckDBPyConnection, staged: dict[str, Path]) -> None:
        # A changed article keeps its first ingested_at; updated_at says when it changed.
        article_changes = {c: e for c, e in _replacing(ARTICLES).items() if c != "ingested_at"}
        article_changes["updated_at"] = "excluded.ingested_at"
        con.execute(_upsert(ARTICLES, staged["articles"], article_changes,
                            where="articles.content_hash IS DISTINCT FROM excluded.content_hash"))
        # Mentions of a re-extracted article are replaced: first the ones that disappeared, then an
        # upsert (DuckDB rejects a delete and re-insert of one key inside one transaction).
        for mentions in (ENTITY_MENTIONS, EVENT_MENTIONS):
            con.execute(
                f"DELETE FROM {mentions.name} WHERE article_id IN (SELECT article_id FROM read_parquet("
                f"{_literal(staged['articles'])})) AND mention_id NOT IN (SELECT mention_id FROM read_parquet("
                f"{_literal(staged[mentions.name])}))"
            )
            con.execute(_upsert(mentions, staged[mentions.name], _replacing(mentions)))
        con.execute(_upsert(ENTITIES, staged["entities"]))
        con.execute(_sql("refresh_entity_counts"))
        con.execute(_upsert(EVENTS, staged["events"]))
        con.execute(_sql("refresh_event_counts"))
        con.execute(_views_sql())
        con.execute(_upsert(QUARANTINE, staged["quarantine"],
                            _replacing(QUARANTINE, "last_seen_run_id", "last_seen_at", "payload")))
        con.execute(f"INSERT INTO runs BY NAME SELECT * FROM read_parquet({_literal(staged['runs'])})")
        con.execute(f"INSERT INTO validation_results BY NAME SELECT * FROM read_parquet("
                    f"{_literal(staged['validation_results'])})")
        con.execute(_upsert(FETCH_STATE, staged["fetch_state"], _replacing(FETCH_STATE)))

    def table_names(self) -> list[str]:
        with self.connect() as con:
            return [name for name, kind in relations(con).items() if kind == "table"]

    def view_names(self) -> list[str]:
        """The ready-made analyst views (see warehouse/sql/views.sql)."""
        with self.connect() as con:
            return [name for name, kind in relations(con).items() if kind == "view"]

    def table_counts(self) -> pl.DataFrame:
        """One row per table (table_name) with its row count."""
        names = self.table_names()
        with self.connect() as con:
            counts = [con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names]
        return pl.DataFrame({"table_name": names, "rows": counts}, schema={"table_name": pl.String, "rows": pl.Int64})

    def query(self, sql: str) -> pl.DataFrame:
        """The result of one SQL statement, run on a read-only connection."""
        with self.connect() as con:
            return pl.from_arrow(con.execute(sql).to_arrow_table())

    def export(self, table: str, out: Path, fmt: str) -> int:
        """Write `table` to `out` as Parquet or CSV; returns the number of rows written."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
        names = self.table_names() + self.view_names()
        if table not in names:
            raise KeyError(f"no table {table!r} in the warehouse; tables: {', '.join(names)}")
        out.parent.mkdir(parents=True, exist_ok=True)
        options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
        with self.connect() as con:
            con.execute(f'COPY (SELECT * FROM "{table}") TO {_literal(out)} ({options})')
            return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
