"""The warehouse: a DuckLake (see `warehouse.lake`) that each run changes in one snapshot.

A run stages its tables as Parquet under `<warehouse>/staging/<run_id>/` (or, with an object-storage
data path, under its `staging/` prefix: see `Lake.staging_url`), then commits them in
one DuckLake transaction whose commit message is the run id: readers see the snapshot before the
run or after it, never half of it, and a run that fails commits nothing. DuckLake enforces no
keys, so every batch is deduplicated on its table's key before a MERGE. Warehouse-wide counts are
recomputed only for the entities and events the run touched, so a run's cost does not grow with
the warehouse. Exports are written on demand (`export`), whole or as the changes since a run.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from schemas import (
    ARTICLES, BASE_TABLES, CAMEO_CODES, ENTITIES, ENTITY_ALIASES, ENTITY_MERGES, ENTITY_MENTIONS, EVENT_MENTIONS, EVENTS, FETCH_STATE, QUARANTINE,
    RUNS, TABLES, VALIDATION_RESULTS, VIEWS, Table,
)
from schemas.derive import arrow_schema, conformed, duckdb_ddl, duckdb_type
from warehouse.lake import (
    CATALOG, DATA_INLINING_ROW_LIMIT, Lake, SnapshotMissing, WarehouseMissing, _literal, read_consistently,
)
from warehouse.lockdown import CONNECT_CONFIG, check_query, refusal

__all__ = ["EXPORT_FORMATS", "PUBLISHED", "RunTables", "SnapshotMissing", "Warehouse", "WarehouseMissing",
           "relations"]

# Every base table: the ones a run stages, the load's own bookkeeping and the CAMEO codebook.
PUBLISHED = BASE_TABLES
EXPORT_FORMATS = ("parquet", "csv")
RETENTION_DAYS = 30
MERGE_FROM_SMALL_FILES = 8  # after a run, merge a table's small files once it has this many
COMMIT_MEMORY_LIMIT = "1GB"
# Attempts at a run's commit when another connection wrote to the lake since it began.
COMMIT_ATTEMPTS = 5
# Seconds a data file no snapshot references any more is kept before maintenance deletes it: a
# reader (a query, a download) that listed it just before it became unreferenced still reads it.
FILE_GRACE_SECONDS = 3600
TARGET_FILE_SIZE = 16_000_000  # bytes: data files merge up to this size (see Warehouse.maintain)


def relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every table and view of the connection's database (name -> "table" or "view"), tables first."""
    rows = con.execute(
        "SELECT table_name, 'table' FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary "
        "UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY 2, 1"
    ).fetchall()
    return dict(rows)


def _sql(name: str) -> str:
    return files("warehouse").joinpath("sql", f"{name}.sql").read_text()


def _views_sql() -> str:
    """The analyst views, with the learned coder's confidence threshold filled in."""
    from transforms.coder.models import coder_model

    return _sql("views").replace("{view_threshold}", repr(float(coder_model().view_threshold)))


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the analyst views, each commented with its grain. DuckDB 1.5 comments no view
    column ("not a table"): their meaning is in schemas/views.py (`newsflow describe`, the page)."""
    con.execute(_views_sql())
    for view in VIEWS.values():
        con.execute(f"COMMENT ON VIEW {view.name} IS {_literal(view.grain)}")


def _keys(table: Table) -> str:
    return ", ".join(table.key)


def _staged(staged: str) -> str:
    """Every chunk's staged rows of one table (`staged`: `<staging>/*/<table>.parquet`), with
    `_chunk` (the chunk number) and `_position` (staging order across chunks)."""
    return (f"(SELECT * EXCLUDE (filename, file_row_number), "
            f"CAST(regexp_extract(filename, '/([0-9]+)/[^/]+$', 1) AS INTEGER) AS _chunk, "
            f"row_number() OVER (ORDER BY filename, file_row_number) AS _position "
            f"FROM read_parquet({_literal(staged)}, filename = true, file_row_number = true))")


def _batch(table: Table, staged: str, articles: str | None = None) -> str:
    """The staged rows with one row per key (the last one staged): DuckLake has no key to stop a
    MERGE inserting a repeated key twice. With `articles`, only the rows of the last chunk that
    staged their article (an article changed twice in one run keeps its last mentions)."""
    rows = _staged(staged)
    if articles is not None:
        rows = (f"(SELECT r.* FROM {rows} AS r JOIN (SELECT article_id, max(_chunk) AS _last FROM {_staged(articles)} "
                f"GROUP BY article_id) AS a ON a.article_id = r.article_id AND r._chunk = a._last)")
    return (f"(SELECT * EXCLUDE (_position, _chunk) FROM {rows} "
            f"QUALIFY _position = max(_position) OVER (PARTITION BY {_keys(table)}))")


def _merge(table: Table, staged: str | None, update: list[str] | dict[str, str] | None = None, when: str = "",
           articles: str | None = None, source: str = "") -> str:
    """MERGE of the staged batch (or of `source`, SQL for rows with one per key) into `table` on its
    key: new keys inserted; stored ones get `update` (columns, or column -> expression over `s`)
    when `when` holds (default: when one of them differs, so that an unchanged row is not
    rewritten), else are left alone."""
    on = " AND ".join(f"t.{k} = s.{k}" for k in table.key)
    sql = f"MERGE INTO {table.name} AS t USING {source or _batch(table, staged, articles)} AS s ON {on} "
    if update:
        assignments = update if isinstance(update, dict) else {c: f"s.{c}" for c in update}
        when = when or "(" + " OR ".join(f"t.{c} IS DISTINCT FROM {e}" for c, e in assignments.items()) + ")"
        sql += (f"WHEN MATCHED {'AND ' + when if when else ''} THEN UPDATE SET "
                + ", ".join(f"{c} = {e}" for c, e in assignments.items()) + " ")
    columns = list(table.schema)
    return sql + f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({', '.join('s.' + c for c in columns)})"


def _non_key(table: Table, *columns: str) -> list[str]:
    return list(columns) or [c for c in table.columns if c not in table.key]


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
    entity_aliases: pl.DataFrame | None = None  # none found: an empty frame


class Warehouse:
    """One warehouse: its lake (catalog + data files) and its local folder (lock, `docs/`, staging)."""

    def __init__(self, root: Path, catalog: str = "", data_path: str = ""):
        self.root = Path(root)
        self.lake = Lake(self.root, catalog, data_path)
        self.docs_dir = self.root / "docs"
        self.staging_dir = self.root / "staging"

    @classmethod
    def from_settings(cls, settings) -> "Warehouse":
        return cls(settings.warehouse, settings.catalog, settings.data_path)

    def describe(self) -> str:
        return self.lake.describe()

    def exists(self) -> bool:
        return self.lake.exists() or self.needs_migration()

    def needs_migration(self) -> bool:
        """Whether the folder holds a warehouse of the single-DuckDB-file versions, not migrated yet."""
        return self.lake.legacy_file.exists() and not self.lake.exists()

    def connect(self, read_only: bool = True, snapshot: int | None = None, **options) -> duckdb.DuckDBPyConnection:
        """A connection with the lake attached as `newsflow` (read-only ones fail with
        WarehouseMissing when there is none; `options` as for Lake.connect); an old single-file
        warehouse is migrated first."""
        if self.needs_migration():
            self.migrate()
        return self.lake.connect(read_only=read_only, snapshot=snapshot, **options)

    # --- what a run reads --------------------------------------------------------------------

    def _reading(self, table: str):
        """A read-only connection when the warehouse has `table`, else None (before the first run)."""
        try:
            con = self.connect()
        except WarehouseMissing:
            return None
        if table in relations(con):
            return con
        con.close()
        return None

    def known_articles(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The stored articles (article_id) change and duplicate detection need for `batch`: those
        sharing its article ids, text hashes or a SimHash block (see transforms.duplicates). The
        lake is queried by key and hash; nothing else is loaded."""
        from transforms.duplicates import simhash_blocks

        columns = ["article_id", "content_hash", "text_hash", "simhash", "duplicate_of", "ingested_at"]
        empty = pl.DataFrame(schema={c: ARTICLES.schema[c] for c in columns})
        con = self._reading("articles")
        if con is None:
            return empty
        with con:
            selected = ", ".join(f"a.{c}" for c in columns)
            blocks = simhash_blocks(batch.lazy().select("simhash").drop_nulls()).collect()
            # The batch's keys are written into the query as quoted literals: a bound parameter or a
            # registered frame makes DuckDB import pandas (and pyarrow.dataset), ~0.4 s of a small run.
            ids = _list_literal(batch["article_id"].unique().to_list())
            hashes = _list_literal(batch["text_hash"].drop_nulls().unique().to_list())
            # (NULL, NULL) matches nothing: VALUES needs a row when the batch has no SimHash
            pairs = [f"({int(b)}, {int(v)}::UBIGINT)" for b, v in blocks.select("block", "bits").iter_rows()]
            batch_blocks = f"(VALUES {', '.join(pairs) or '(NULL::INTEGER, NULL::UBIGINT)'}) AS b(block, bits)"
            stored = con.execute(
                f"SELECT {selected} FROM articles AS a WHERE a.article_id IN (SELECT unnest({ids})) "
                f"UNION SELECT {selected} FROM articles AS a WHERE a.text_hash IN (SELECT unnest({hashes})) "
                f"UNION SELECT {selected} FROM articles AS a JOIN {batch_blocks} ON "
                + " OR ".join(f"(b.block = {i} AND b.bits = {expr})" for i, expr in enumerate(_block_sql("a.simhash")))
            ).pl()
        return stored.cast(empty.schema).unique("article_id").sort("article_id")

    def fetch_state(self, urls: list[str]) -> pl.DataFrame:
        """One row per URL of `urls` fetched before (url) with its validators for a conditional request."""
        empty = pl.DataFrame(schema=FETCH_STATE.schema)
        if not urls:
            return empty
        con = self._reading("fetch_state")
        if con is None:
            return empty
        with con:
            con.register("wanted", pl.DataFrame({"url": urls}, schema={"url": pl.String}).to_arrow())
            return con.execute("SELECT f.* FROM fetch_state AS f SEMI JOIN wanted USING (url)").pl().cast(empty.schema)

    # --- what a run writes -------------------------------------------------------------------

    def publish(self, run_id: str, tables: RunTables) -> int:
        """Stage `tables` as the run's only chunk and commit it; returns the snapshot id."""
        try:
            self.stage(run_id, 0, tables)
        except BaseException:
            self.discard(run_id)
            raise
        return self.commit(run_id)

    def stage(self, run_id: str, chunk: int, tables: RunTables) -> None:
        """Write one chunk of the run's tables as Parquet under `staging/<run_id>/<chunk>/`, to be
        committed with the others by `commit`."""
        filesystem, base = self.lake.staging_filesystem()
        folder = f"{base}/{run_id}/{chunk:06d}"
        filesystem.create_dir(folder, recursive=True)
        for name, table in TABLES.items():
            frame = getattr(tables, name)
            frame = conformed(pl.DataFrame(schema=table.schema) if frame is None else frame, table)
            pq.write_table(frame.to_arrow().cast(arrow_schema(table)), f"{folder}/{name}.parquet",
                           filesystem=filesystem)

    def docs_staging(self, run_id: str) -> Path:
        """Where the run renders its Data Docs until its commit (beside its staged tables)."""
        return self.staging_dir / f"{run_id}-docs"

    def discard(self, run_id: str, docs: bool = True) -> None:
        """Remove what the run staged: its tables (`commit` removes them itself) and, with `docs`,
        its Data Docs."""
        shutil.rmtree(self.staging_dir / run_id, ignore_errors=True)
        if self.lake.on_object_storage:
            self._remove_staged(run_id)
        if docs:
            shutil.rmtree(self.docs_staging(run_id), ignore_errors=True)
        if self.staging_dir.exists() and not any(self.staging_dir.iterdir()):
            self.staging_dir.rmdir()

    def _remove_staged(self, run_id: str) -> None:
        """Remove run `run_id`'s staged tables from the object-storage staging prefix."""
        filesystem, base = self.lake.staging_filesystem()
        try:
            filesystem.delete_dir(f"{base}/{run_id}")
        except FileNotFoundError:
            pass

    def commit(self, run_id: str) -> int:
        """Commit every chunk the run staged as one snapshot (commit message: the run id); returns
        its id. Readers see the snapshot before or after it; a run that fails commits nothing,
        and its staging is removed either way. Runs must not commit concurrently: see
        `warehouse.lock`."""
        if self.needs_migration():
            self.migrate()
        try:
            for attempt in range(COMMIT_ATTEMPTS):
                try:
                    return self._commit_once(run_id)
                except duckdb.TransactionException as err:
                    # Another connection (an analyst's, say) wrote to the catalog since this
                    # transaction began: SQLite answers "database is locked" at once, without
                    # waiting; DuckLake reports a conflict. Nothing was committed: start again.
                    if attempt + 1 == COMMIT_ATTEMPTS or not _is_write_conflict(err):
                        raise
                    time.sleep(0.2 * 2 ** attempt)
        finally:
            self.discard(run_id, docs=False)

    def _commit_once(self, run_id: str) -> int:
        """One attempt at the transaction of `commit`."""
        staged = {name: f"{self.lake.staging_url}/{run_id}/*/{name}.parquet" for name in TABLES}
        with self.lake.connect(read_only=False) as con:
            # The commit reads every chunk's staged rows at once: past this much memory DuckDB
            # spills to the staging folder rather than growing with the run's input.
            con.execute(f"SET memory_limit = '{COMMIT_MEMORY_LIMIT}'")
            con.execute(f"SET temp_directory = {_literal(self.staging_dir / run_id / 'spill')}")
            con.execute("BEGIN TRANSACTION")
            label_bound = _has_label_bound_entity_ids(con)
            for table in PUBLISHED.values():
                _create_or_migrate(con, table)
            retired = _retire_label_bound_entity_ids(con, run_id) if label_bound else 0
            snapshot = con.execute(f"SELECT max(snapshot_id) + 1 FROM ducklake_snapshots({_literal(CATALOG)})"
                                   ).fetchone()[0]
            codes = _load_codebook(con)
            self._load(con, staged, snapshot)
            _record_updates(con, run_id, staged)
            if codes:
                _record_update(con, run_id, CAMEO_CODES.name, codes)
            if retired:
                _record_update(con, run_id, ENTITY_MERGES.name, retired)
            con.execute(f"CALL {CATALOG}.set_commit_message('newsflow', {_literal(run_id)})")
            con.execute("COMMIT")
            committed = self._snapshot_of_run(con, run_id)
            if committed != snapshot:  # another writer committed in between: record the true one
                con.execute("UPDATE runs SET snapshot_id = ? WHERE run_id = ?", [committed, run_id])
        return committed

    @staticmethod
    def _load(con: duckdb.DuckDBPyConnection, staged: dict[str, str], snapshot: int) -> None:
        articles = f"(SELECT article_id FROM {_staged(staged['articles'])})"
        (stored,) = con.execute(f"SELECT count(*) FROM articles WHERE article_id IN {articles}").fetchone()
        if stored:
            Warehouse._load_changes(con, staged, articles)
        else:
            Warehouse._load_new(con, staged)
        _create_views(con)
        con.execute(_merge(QUARANTINE, staged["quarantine"],
                           _non_key(QUARANTINE, "last_seen_run_id", "last_seen_at", "payload")))
        # A run id names one snapshot: committing it twice is an error (and rolls back everything above).
        con.execute(f"SELECT error('run ' || run_id || ' is already in the warehouse (snapshot ' || snapshot_id || ')') "
                    f"FROM runs WHERE run_id IN (SELECT run_id FROM {_staged(staged['runs'])})")
        con.execute(f"INSERT INTO runs BY NAME SELECT * REPLACE ({int(snapshot)}::BIGINT AS snapshot_id) "
                    f"FROM {_batch(RUNS, staged['runs'])}")
        con.execute(f"INSERT INTO validation_results BY NAME SELECT * FROM {_batch(VALIDATION_RESULTS, staged['validation_results'])}")
        con.execute(_merge(FETCH_STATE, staged["fetch_state"], _non_key(FETCH_STATE)))

    @staticmethod
    def _load_new(con: duckdb.DuckDBPyConnection, staged: dict[str, str]) -> None:
        """Every staged article is new (the usual scheduled run): its rows are appended, with no
        scan of the stored mentions, and entity counts grow by what the run adds."""
        con.execute(f"INSERT INTO articles BY NAME SELECT * FROM {_batch(ARTICLES, staged['articles'])}")
        for mentions in (ENTITY_MENTIONS, EVENT_MENTIONS):
            con.execute(f"INSERT INTO {mentions.name} BY NAME SELECT * FROM "
                        f"{_batch(mentions, staged[mentions.name], staged['articles'])}")
        counted = {c: duckdb_type(ENTITIES.schema[c]) for c in ("mention_count", "article_count")}
        added = (f"(SELECT entity_id, count(*) AS mention_count, count(DISTINCT article_id) AS article_count "
                 f"FROM {_batch(ENTITY_MENTIONS, staged['entity_mentions'], staged['articles'])} GROUP BY entity_id)")
        columns = list(ENTITIES.schema)
        # The stored label stays right when the run's mentions vote for it too (the sum of two
        # votes won by one label is won by it); an entity they vote otherwise is relabelled from
        # its stored mentions, so a run reads the mentions of those few entities only. So is one
        # whose chunks voted apart (each chunk stages its own row, all read here): their sum
        # may be a tie.
        con.execute(f"CREATE OR REPLACE TEMP TABLE relabel_entities AS SELECT s.entity_id FROM "
                    f"{_staged(staged['entities'])} AS s LEFT JOIN entities AS t USING (entity_id) "
                    f"GROUP BY s.entity_id HAVING count(DISTINCT s.label) > 1 "
                    f"OR bool_or(t.label IS NOT NULL AND t.label IS DISTINCT FROM s.label)")
        con.execute(
            "MERGE INTO entities AS t USING (SELECT e.* REPLACE ("
            + ", ".join(f"CAST(d.{c} AS {t}) AS {c}" for c, t in counted.items())
            + f") FROM {_batch(ENTITIES, staged['entities'])} AS e JOIN {added} AS d USING (entity_id)) AS s "
            f"ON t.entity_id = s.entity_id WHEN MATCHED THEN UPDATE SET "
            + ", ".join(f"{c} = t.{c} + s.{c}" for c in counted)
            + f" WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({', '.join('s.' + c for c in columns)})")
        con.execute(_sql("refresh_entity_labels"))
        con.execute(_merge(ENTITY_ALIASES, staged["entity_aliases"]))
        # Event counts include distinct sources and tone: recomputed for the run's events.
        con.execute(f"CREATE OR REPLACE TEMP TABLE touched_events AS SELECT DISTINCT event_id FROM "
                    f"{_staged(staged['event_mentions'])}")
        con.execute(_merge(EVENTS, staged["events"]))
        con.execute(_sql("refresh_event_counts"))

    @staticmethod
    def _load_changes(con: duckdb.DuckDBPyConnection, staged: dict[str, str], articles: str) -> None:
        """Some staged articles are stored already (changed): their mentions are replaced and the
        counts of every entity and event they touch, before or after, recomputed."""
        # What the counts of this run depend on: the entities and events of the staged mentions,
        # and those the staged articles' stored mentions pointed to before they are replaced.
        for kind, mentions in (("entities", ENTITY_MENTIONS), ("events", EVENT_MENTIONS)):
            key = "entity_id" if kind == "entities" else "event_id"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE touched_{kind} AS "
                f"SELECT {key} FROM {_staged(staged[mentions.name])} "
                f"UNION SELECT {key} FROM {mentions.name} WHERE article_id IN {articles}"
            )
        # A changed article keeps its first ingested_at; updated_at says when it changed.
        article_changes = {c: f"s.{c}" for c in _non_key(ARTICLES) if c not in ("ingested_at", "updated_at")}
        article_changes["updated_at"] = "s.ingested_at"
        con.execute(_merge(ARTICLES, staged["articles"], article_changes,
                           when="t.content_hash IS DISTINCT FROM s.content_hash"))
        # Mentions of a re-extracted article are replaced: those that disappeared are deleted.
        for mentions in (ENTITY_MENTIONS, EVENT_MENTIONS):
            batch = _batch(mentions, staged[mentions.name], staged["articles"])
            con.execute(f"DELETE FROM {mentions.name} WHERE article_id IN {articles} "
                        f"AND mention_id NOT IN (SELECT mention_id FROM {batch})")
            con.execute(_merge(mentions, staged[mentions.name], _non_key(mentions), articles=staged["articles"]))
        con.execute(_merge(ENTITIES, staged["entities"]))
        con.execute(_sql("refresh_entity_counts"))
        # Mentions gone from a changed article vote no more: every touched entity is relabelled.
        con.execute("CREATE OR REPLACE TEMP TABLE relabel_entities AS SELECT entity_id FROM touched_entities")
        con.execute(_sql("refresh_entity_labels"))
        con.execute(_merge(ENTITY_ALIASES, staged["entity_aliases"]))
        con.execute(_merge(EVENTS, staged["events"]))
        con.execute(_sql("refresh_event_counts"))

    # --- snapshots -----------------------------------------------------------------------------

    @staticmethod
    def _snapshot_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> int | None:
        row = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots({_literal(CATALOG)}) "
                          f"WHERE commit_message = ?", [run_id]).fetchone()
        return row[0] if row else None

    def snapshot_as_of(self, as_of: str) -> int:
        """The snapshot a run id or a timestamp names: the run's own snapshot, or the last one
        committed at or before the time. Raises SnapshotMissing when there is none (yet, or any more)."""
        with self.connect() as con:
            snapshot = self._snapshot_of_run(con, as_of)
            if snapshot is None:
                try:
                    moment = datetime.fromisoformat(as_of)
                except ValueError:
                    raise SnapshotMissing(f"{as_of!r} is neither a run id in the warehouse's history nor a timestamp "
                                          f"(YYYY-MM-DD[ HH:MM[:SS][+00:00]]); see `newsflow history`") from None
                snapshot = con.execute(
                    f"SELECT max(snapshot_id) FROM ducklake_snapshots({_literal(CATALOG)}) "
                    f"WHERE snapshot_time <= ?::TIMESTAMPTZ", [moment.isoformat()]).fetchone()[0]
                if snapshot is None:
                    raise SnapshotMissing(f"the warehouse has no snapshot at or before {as_of} (expired or before "
                                          f"the first run); see `newsflow history`")
            return snapshot

    def history(self) -> pl.DataFrame:
        """One row per run snapshot still kept (snapshot_id), newest first, with the run that made
        it (maintenance snapshots, which change no rows, are left out)."""
        with self.connect() as con:
            # A lake whose first commit was interrupted has a catalog but no tables yet.
            has_runs = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'runs'").fetchone()[0]
            runs = "runs" if has_runs else (
                "(SELECT NULL::VARCHAR AS run_id, NULL::BIGINT AS records_read, NULL::BIGINT AS articles_new, "
                "NULL::BIGINT AS articles_updated, NULL::BIGINT AS articles_unchanged, NULL::BIGINT AS quarantined "
                "WHERE false)")
            return con.execute(
                f"SELECT s.snapshot_id, s.snapshot_time AS committed_at, s.commit_message AS run_id, "
                f"r.records_read, r.articles_new, r.articles_updated, r.articles_unchanged, r.quarantined "
                f"FROM ducklake_snapshots({_literal(CATALOG)}) AS s LEFT JOIN {runs} AS r ON r.run_id = s.commit_message "
                f"WHERE s.commit_message IS NOT NULL ORDER BY s.snapshot_id DESC"
            ).pl()

    def remove_leftovers(self, run_id: str) -> list[str]:
        """Remove the staging folders (tables, Data Docs, spill files) of runs that died before
        they could; call it holding the run lock, as run `run_id`. Returns the folders removed."""
        removed = []
        if self.lake.on_object_storage:
            from pyarrow import fs

            filesystem, base = self.lake.staging_filesystem()
            for info in filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True)):
                name = info.path.rsplit("/", 1)[-1]
                if name != run_id:
                    self._remove_staged(name)
                    removed.append(f"{self.lake.staging_url}/{name}")
        if not self.staging_dir.is_dir():
            return removed
        for folder in sorted(self.staging_dir.iterdir()):
            if folder.name not in (run_id, self.docs_staging(run_id).name):
                shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
                removed.append(folder.name)
        return removed

    def maintain(self, retention_days: float = RETENTION_DAYS, merge_from: int = 0,
                 file_grace_seconds: float = FILE_GRACE_SECONDS) -> dict[str, int]:
        """Merge small data files, expire snapshots older than `retention_days`, delete the files
        no kept snapshot references once they have been unreferenced for `file_grace_seconds`.
        Returns what it did (files merged/deleted, snapshots expired). With `merge_from`, small
        files are merged only once a table has that many (what a run does after it commits:
        compaction then runs every few runs, not after each).

        Readers in other processes never wait for maintenance, so nothing here may change what a
        snapshot a reader is using reads (issue 21): rows inlined in the catalog are not flushed
        into files (a reader that took its snapshot before the flush and read the table after it
        saw none of them; runs inline nothing, see warehouse.lake), and a file is deleted only
        `file_grace_seconds` after its last snapshot expired or it was left behind, so a query or
        download that listed it just before still reads it."""
        with self.connect(read_only=False) as con:
            # Files reach at most TARGET_FILE_SIZE by merging, and are never rewritten after: a
            # bigger target would rewrite an ever larger file every run.
            current = dict(con.execute(f"SELECT option_name, value FROM ducklake_options({_literal(CATALOG)})").fetchall())
            if current.get("target_file_size") != str(TARGET_FILE_SIZE):
                con.execute(f"CALL {CATALOG}.set_option('target_file_size', '{TARGET_FILE_SIZE // 1000}KB')")
            # Stored in the catalog too, for writers that attach without the option (the DuckDB CLI).
            if current.get("data_inlining_row_limit") != str(DATA_INLINING_ROW_LIMIT):
                con.execute(f"CALL {CATALOG}.set_option('data_inlining_row_limit', {DATA_INLINING_ROW_LIMIT})")
            before = _file_count(con)
            if not merge_from or max((small for _, small in _data_files(con).values()), default=0) >= merge_from:
                con.execute(f"CALL ducklake_merge_adjacent_files({_literal(CATALOG)})")
            expired = len(con.execute(
                f"CALL ducklake_expire_snapshots({_literal(CATALOG)}, older_than => now() - "
                f"to_milliseconds({int(float(retention_days) * 86_400_000)}::BIGINT))").fetchall())
            grace = f"now() - to_milliseconds({int(float(file_grace_seconds) * 1000)}::BIGINT)"
            deleted = len(con.execute(f"CALL ducklake_cleanup_old_files({_literal(CATALOG)}, older_than => {grace})"
                                      ).fetchall())
            # Files a killed commit wrote but never recorded; runs are serialized by the run lock, and
            # another writer's files in flight are younger than the grace.
            orphans = len(con.execute(f"CALL ducklake_delete_orphaned_files({_literal(CATALOG)}, older_than => {grace})"
                                      ).fetchall())
            return {"data_files_before": before, "data_files_after": _file_count(con), "files_deleted": deleted,
                    "snapshots_expired": expired, "orphaned_files_deleted": orphans}

    # --- migration -------------------------------------------------------------------------------

    def migrate(self) -> dict[str, int]:
        """Copy a single-file warehouse of earlier versions (`newsflow.duckdb`) into the lake in one
        snapshot, then keep the old file as `newsflow.duckdb.migrated`. Returns rows per table."""
        from warehouse.lock import run_lock

        legacy = self.lake.legacy_file
        copied: dict[str, int] = {}
        with run_lock(self.root, "migrate"):
            if not legacy.exists() or self.lake.exists():
                return copied
            with self.lake.connect(read_only=False) as con:
                con.execute(f"ATTACH {_literal(legacy)} AS legacy (READ_ONLY)")
                con.execute("BEGIN TRANSACTION")
                old = {r[0] for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'legacy'").fetchall()}
                for name, table in PUBLISHED.items():
                    _create_or_migrate(con, table)
                    if name in old and name != CAMEO_CODES.name:
                        present = {r[0] for r in con.execute(
                            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'legacy' AND table_name = ?",
                            [name]).fetchall()}
                        columns = [c for c in table.schema if c in present]
                        con.execute(f"INSERT INTO {name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
                                    f"FROM legacy.main.{name}")
                        copied[name] = con.execute(f"SELECT count(*) FROM legacy.main.{name}").fetchone()[0]
                if ENTITIES.name in old:  # every single-file version had label-bound entity ids
                    _retire_label_bound_entity_ids(con, f"migrated from {legacy.name}")
                _load_codebook(con)
                _create_views(con)
                con.execute(f"CALL {CATALOG}.set_commit_message('newsflow', 'migrated from {legacy.name}')")
                con.execute("COMMIT")
            legacy.rename(legacy.with_name(legacy.name + ".migrated"))
            for leftover in ("parquet", "staging"):
                shutil.rmtree(self.root / leftover, ignore_errors=True)
        return copied

    # --- what readers ask ------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        with self.connect() as con:
            return [name for name, kind in relations(con).items() if kind == "table"]

    def view_names(self) -> list[str]:
        """The ready-made analyst views (see warehouse/sql/views.sql)."""
        with self.connect() as con:
            return [name for name, kind in relations(con).items() if kind == "view"]

    def table_counts(self) -> pl.DataFrame:
        """One row per table (table_name) with its row count."""
        with self.connect() as con:
            names = [name for name, kind in relations(con).items() if kind == "table"]
            counts = read_consistently(con, lambda c: c.execute(
                "SELECT " + (", ".join(f'(SELECT count(*) FROM "{n}")' for n in names) or "NULL")).fetchone())
            counts = list(counts) if names else []
        return pl.DataFrame({"table_name": names, "rows": counts}, schema={"table_name": pl.String, "rows": pl.Int64})

    def query(self, sql: str, snapshot: int | None = None) -> pl.DataFrame:
        """The result of one SELECT (or EXPLAIN) statement, run as the web endpoint runs it (see
        warehouse.lockdown): read-only, at `snapshot` if given, no file access but the lake's, no
        attach, no setting changes. Anything else, or a query DuckDB fails on, raises
        QueryRefused with a one-line message."""
        with self.connect(snapshot=snapshot, config=CONNECT_CONFIG, allow_files=False) as con:
            try:
                check_query(con, sql)
                return read_consistently(con, lambda c: pl.from_arrow(c.execute(sql).to_arrow_table()))
            except duckdb.Error as err:
                raise refusal(err) from err

    def export(self, table: str, out: Path, fmt: str, since: str | None = None, raw_csv: bool = False) -> int:
        """Write `table` to `out` as Parquet or CSV; returns the number of rows written. With
        `since` (a run id), only the rows changed after that run: each key inserted or updated
        since, as it is now, with `change_type` "upsert", and each key deleted since, with
        `change_type` "delete" and only its key. In CSV, text cells a spreadsheet would run as a
        formula get a leading `'` (see csv_safe_text) unless `raw_csv`."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
        names = self.table_names() + self.view_names()
        if table not in names:
            raise KeyError(f"no table {table!r} in the warehouse; tables: {', '.join(names)}")
        if since is not None and table not in PUBLISHED:
            raise KeyError(f"--since needs a table, not the view {table!r}; tables: {', '.join(PUBLISHED)}")
        start = None if since is None else self.snapshot_as_of(since) + 1
        return self._write(table, out, fmt, start, safe_csv=fmt == "csv" and not raw_csv)

    def _write(self, table: str, out: Path, fmt: str, start: int | None, end: int | None = None,
               safe_csv: bool = False) -> int:
        out.parent.mkdir(parents=True, exist_ok=True)
        options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
        with self.connect() as con:
            if start is None:
                select = f'SELECT * FROM "{table}"'
            else:
                select = _changes_sql(con, PUBLISHED[table], start, end)
            if safe_csv:
                select = csv_safe_query(con, select)
            con.execute(f"COPY ({select}) TO {_literal(out)} ({options})")
            return con.execute(f"SELECT count(*) FROM ({select})").fetchone()[0]

    def export_run_changes(self, run_id: str, url: str) -> list[str]:
        """Send the rows run `run_id` changed to `url`, any fsspec URL (`s3://bucket/prefix`,
        `file:///...`, ...), as `<url>/<table>/<run_id>.parquet` for every table it changed
        (columns as in `export --since`). Returns the URLs written."""
        import tempfile

        import fsspec

        fs, base = fsspec.core.url_to_fs(url)
        with self.connect() as con:
            snapshot = self._snapshot_of_run(con, run_id)
        if snapshot is None:
            raise SnapshotMissing(f"run {run_id} has no snapshot in the warehouse")
        written = []
        with tempfile.TemporaryDirectory(prefix="newsflow-export-") as tmp:
            for name in PUBLISHED:
                local = Path(tmp) / f"{name}.parquet"
                if not self._write(name, local, "parquet", snapshot, snapshot):
                    continue
                folder = f"{base.rstrip('/')}/{name}"
                fs.makedirs(folder, exist_ok=True)
                fs.put_file(str(local), f"{folder}/{run_id}.parquet")
                written.append(f"{url.rstrip('/')}/{name}/{run_id}.parquet")
        return written


# A CSV cell starting with one of these is run as a formula by spreadsheets (CSV injection):
# such cells get a leading single quote, as OWASP recommends ("CSV Injection").
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(column: str) -> str:
    """SQL for the text column `column` (an SQL expression) with a `'` before each value that
    starts with a CSV_FORMULA_STARTS character, so a spreadsheet shows it instead of running it."""
    starts = ", ".join(f"chr({ord(c)})" for c in CSV_FORMULA_STARTS)
    return f"CASE WHEN left({column}, 1) IN ({starts}) THEN '''' || {column} ELSE {column} END"


def csv_safe_query(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """`query` with its text (VARCHAR) columns made safe for spreadsheets by csv_safe_text; numbers,
    dates, lists and blobs are kept as they are."""
    selected = []
    for name, dtype, *_ in con.execute(f"SELECT * FROM ({query}) LIMIT 0").description:
        column = '"' + name.replace('"', '""') + '"'
        selected.append(f"{csv_safe_text(column)} AS {column}" if dtype.id == "varchar" else column)
    return f"SELECT {', '.join(selected)} FROM ({query}) AS t"


def _list_literal(values: list[str]) -> str:
    """A VARCHAR[] literal of `values`, each quoted (quotes doubled)."""
    return "[" + ", ".join(_literal(v) for v in values) + "]::VARCHAR[]"


def _block_sql(column: str) -> list[str]:
    """SQL for each SimHash block of `column` (as transforms.duplicates cuts it)."""
    from transforms.duplicates import BLOCK_BITS

    return [f"(({column} >> {lo}) & {(1 << (hi - lo)) - 1}::UBIGINT)" for lo, hi in zip(BLOCK_BITS, BLOCK_BITS[1:])]


def _changes_sql(con: duckdb.DuckDBPyConnection, table: Table, start: int, end: int | None) -> str:
    """The net changes of `table` in snapshots start..end (end: the current one)."""
    if end is None:
        end = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots({_literal(CATALOG)})").fetchone()[0]
    keys = _keys(table)
    if start > end:
        return f"SELECT 'upsert' AS change_type, * FROM {table.name} WHERE false"
    changes = (f"(SELECT DISTINCT {keys} FROM ducklake_table_changes({_literal(CATALOG)}, 'main', "
               f"{_literal(table.name)}, {int(start)}, {int(end)}))")
    return (f"SELECT 'upsert' AS change_type, t.* FROM {table.name} AS t SEMI JOIN {changes} AS c USING ({keys}) "
            f"UNION ALL BY NAME SELECT 'delete' AS change_type, c.* FROM {changes} AS c "
            f"ANTI JOIN {table.name} AS t USING ({keys})")


def _data_files(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Per table: the data files the current snapshot reads, and how many of them are under
    TARGET_FILE_SIZE."""
    names = [r[0] for r in con.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = {_literal(CATALOG)}").fetchall()]
    return {name: con.execute(f"SELECT count(*), count(*) FILTER (data_file_size_bytes < {TARGET_FILE_SIZE}) "
                              f"FROM ducklake_list_files({_literal(CATALOG)}, ?)", [name]).fetchone()
            for name in names}


def _file_count(con: duckdb.DuckDBPyConnection) -> int:
    return sum(files for files, _ in _data_files(con).values())


def _create_or_migrate(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the table, or add the columns its declaration gained since it was created; then
    comment it with its grain and its columns with their descriptions, where they differ (an
    unchanged declaration alters nothing)."""
    con.execute(duckdb_ddl(table))
    present = dict(con.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?", [table.name]).fetchall())
    for name, dtype in table.schema.items():
        if name not in present:
            con.execute(f"ALTER TABLE {table.name} ADD COLUMN {name} {duckdb_type(dtype)}")
    (comment,) = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                             "AND schema_name = 'main' AND table_name = ?", [table.name]).fetchone()
    if comment != table.grain:
        con.execute(f"COMMENT ON TABLE {table.name} IS {_literal(table.grain)}")
    for name, description in table.descriptions.items():
        if present.get(name) != description:
            con.execute(f"COMMENT ON COLUMN {table.name}.{name} IS {_literal(description)}")


def _load_codebook(con: duckdb.DuckDBPyConnection) -> int:
    """Bring `cameo_codes` to the shipped codebook: codes added or changed are merged, codes gone
    deleted; returns the rows written (0 when the codebook did not change)."""
    from lexicons.loaders import cameo_codes, quad_classes
    from transforms.codebook import cameo_code_rows

    rows = conformed(cameo_code_rows(cameo_codes().lazy(), quad_classes().lazy()).collect(), CAMEO_CODES)
    con.register("shipped_codes", rows.to_arrow().cast(arrow_schema(CAMEO_CODES)))
    try:
        (merged,) = con.execute(_merge(CAMEO_CODES, None, _non_key(CAMEO_CODES), source="shipped_codes")).fetchone()
        (deleted,) = con.execute("DELETE FROM cameo_codes WHERE event_code NOT IN (SELECT event_code FROM shipped_codes)"
                                 ).fetchone()
    finally:
        con.unregister("shipped_codes")
    return merged + deleted


def _record_updates(con: duckdb.DuckDBPyConnection, run_id: str, staged: dict[str, str]) -> None:
    """`table_updates` gets this run for every table it wrote rows to (rows: distinct keys staged)."""
    for name, path in staged.items():
        (rows,) = con.execute(f"SELECT count(*) FROM {_batch(PUBLISHED[name], path)}").fetchone()  # distinct keys
        if rows:
            _record_update(con, run_id, name, rows)


def _record_update(con: duckdb.DuckDBPyConnection, run_id: str, name: str, rows: int) -> None:
    """`table_updates` gets this run as the last that wrote `rows` rows to table `name`."""
    con.execute(
        "MERGE INTO table_updates AS t USING (SELECT ? AS table_name, now() AS updated_at, ? AS run_id, "
        "?::BIGINT AS rows_written) AS s ON t.table_name = s.table_name "
        "WHEN MATCHED THEN UPDATE SET updated_at = s.updated_at, run_id = s.run_id, rows_written = s.rows_written "
        "WHEN NOT MATCHED THEN INSERT (table_name, updated_at, run_id, rows_written) "
        "VALUES (s.table_name, s.updated_at, s.run_id, s.rows_written)",
        [name, run_id, rows],
    )


def _is_write_conflict(err: duckdb.Error) -> bool:
    """Whether a failed commit met another writer (worth a new attempt), not a fault of its own."""
    message = str(err).lower()
    return "database is locked" in message or "conflict" in message


# The reasons an upgrade records for the entity ids it retires (see _retire_label_bound_entity_ids):
# all its mentions went to its name's entity, to one GeoNames place's, or to several entities.
LABEL_FREE_IDS = "label-free ids: one entity per name whatever its NER label (issue 20)"
PLACE_IDS = "places in context: a geocoded place is the entity of its GeoNames place (issue 20)"
SPLIT_PLACES = ("places in context: its mentions name several places, or some name none; to_entity_id "
                "is the entity most of them went to (issue 20). Split into: ")


def _has_label_bound_entity_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse was written by a version whose entity ids were its label + name: it
    has entities but no entity_merges table (which came with label-free ids)."""
    present = set(relations(con))
    return ENTITIES.name in present and ENTITY_MERGES.name not in present


def _retire_label_bound_entity_ids(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Bring a warehouse of label-bound entity ids and ungeocoded places to what runs now write:
    every stored GPE/LOC/FAC mention is geocoded in its article's context and every mention gets
    the id a run would give it (transforms.entities.keyed_mentions: the dictionary actor's name,
    else the GeoNames place, else the canonical name), so a name split under several labels is
    one entity, and a name a run would place is its place's entity (one old "Norfolk" may become
    two places). Mentions and events point to the new ids, the entities they touch are recounted
    and relabelled by their mentions, and each retired id is recorded in entity_merges (a split
    one with the entity most of its mentions went to, and all of them in its reason). Once per
    warehouse, in the commit's transaction; it reads the whole entities and entity_mentions tables
    (the only time a run does). Returns the ids retired."""
    from lexicons.gazetteer import place_gazetteer
    from lexicons.loaders import actor_dictionary
    from transforms.entities import actor_keys, keyed_mentions, stored_resolved_mentions, upgraded_entity_ids
    from transforms.geo import GEO_COLUMNS, geocoded_mentions

    stored = con.execute("SELECT entity_id, name, label, actor_code, country_code FROM entities").pl()
    mentions = con.execute("SELECT mention_id, article_id, entity_id, field, text, label, start_char, end_char "
                           "FROM entity_mentions").pl()
    # The shipped dictionaries only: the user dictionaries of the runs that wrote the warehouse
    # are not known here (their links survive as the stored entities' names and codes).
    keys = actor_keys(actor_dictionary([]).lazy())
    # The chain a run's mentions go through (flows.coding.resolved_language): geocoded, then keyed.
    keyed = keyed_mentions(geocoded_mentions(stored_resolved_mentions(mentions.lazy(), stored.lazy(), keys),
                                             place_gazetteer().lazy())).collect()
    places = keyed.filter(pl.col("entity_key").str.starts_with("geonames:"))["entity_id"].unique()
    changes = upgraded_entity_ids(keyed.lazy(), stored.lazy()).collect().with_columns(
        reason=pl.when(pl.col("targets") > 1).then(pl.lit(SPLIT_PLACES) + pl.col("split_into"))
        .when(pl.col("to_entity_id").is_in(places.implode())).then(pl.lit(PLACE_IDS)).otherwise(pl.lit(LABEL_FREE_IDS)))
    moved = keyed.filter((pl.col("entity_id") != pl.col("from_entity_id")) | pl.col("geonames_id").is_not_null()
                         ).select("mention_id", "article_id", "from_entity_id", "entity_id", *GEO_COLUMNS.names())
    if not changes.height and not moved.height:
        return 0
    con.register("id_changes", changes.to_arrow())
    con.register("mention_moves", moved.to_arrow())
    try:
        con.execute("UPDATE entity_mentions SET entity_id = m.entity_id, "
                    + ", ".join(f"{c} = m.{c}" for c in GEO_COLUMNS.names())
                    + " FROM mention_moves AS m WHERE entity_mentions.mention_id = m.mention_id")
        # An event's actor is the entity its retired one's mentions in the event's articles went to
        # (the Norfolk of the story the event is in), else the one most of them went to.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE event_actor_moves AS SELECT event_id, from_entity_id, "
            "arg_max(entity_id, (n, entity_id)) AS to_entity_id FROM (SELECT e.event_id, m.from_entity_id, "
            "m.entity_id, count(*) AS n FROM (SELECT DISTINCT event_id, article_id FROM event_mentions) AS e "
            "JOIN mention_moves AS m USING (article_id) "
            "WHERE m.from_entity_id IN (SELECT from_entity_id FROM id_changes) GROUP BY ALL) GROUP BY ALL")
        for actor in ("actor1", "actor2"):
            con.execute(f"UPDATE events SET {actor}_entity_id = a.to_entity_id FROM event_actor_moves AS a "
                        f"WHERE events.event_id = a.event_id AND events.{actor}_entity_id = a.from_entity_id")
            con.execute(f"UPDATE events SET {actor}_entity_id = c.to_entity_id FROM id_changes AS c "
                        f"WHERE events.{actor}_entity_id = c.from_entity_id")
        # One row per new id: the name, codes and label of the old row most of its mentions come
        # from until the counts and labels are refreshed from the mentions below.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE merged_entities AS SELECT m.entity_id, "
            "arg_max(e.name, (m.n, e.name)) AS name, arg_max(e.label, (m.n, e.label)) AS label, "
            "max(e.actor_code) AS actor_code, max(e.country_code) AS country_code, "
            "sum(m.n)::BIGINT AS mention_count, sum(m.n)::BIGINT AS article_count "
            "FROM (SELECT from_entity_id, entity_id, count(*) AS n FROM mention_moves GROUP BY ALL) AS m "
            "JOIN entities AS e ON e.entity_id = m.from_entity_id GROUP BY ALL")
        con.execute("CREATE OR REPLACE TEMP TABLE touched_entities AS SELECT from_entity_id AS entity_id "
                    "FROM id_changes UNION SELECT entity_id FROM merged_entities")
        con.execute("DELETE FROM entities WHERE entity_id IN (SELECT from_entity_id FROM id_changes)")
        con.execute("INSERT INTO entities BY NAME SELECT * FROM merged_entities "
                    "WHERE entity_id NOT IN (SELECT entity_id FROM entities)")
        con.execute(_sql("refresh_entity_counts"))
        con.execute("CREATE OR REPLACE TEMP TABLE relabel_entities AS SELECT entity_id FROM touched_entities")
        con.execute(_sql("refresh_entity_labels"))
        con.execute(
            f"INSERT INTO {ENTITY_MERGES.name} BY NAME SELECT from_entity_id, to_entity_id, from_name, from_label, "
            f"reason, {_literal(run_id)} AS run_id, now() AS merged_at FROM id_changes")
    finally:
        con.unregister("id_changes")
        con.unregister("mention_moves")
    return changes.height
