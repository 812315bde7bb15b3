"""Publishing into a real DuckDB file and Parquet exports: idempotent, all-or-nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import polars as pl
import pytest

from schemas import TABLES
from warehouse.store import RunTables, Warehouse

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 2, tzinfo=timezone.utc)


def _frame(table: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[table].schema
    return pl.DataFrame([{c: r.get(c) for c in schema.names()} for r in rows], schema=schema)


def _run(run_id: str, at: datetime, text: str = "Qatar expels Hamas.", mentions=(("Qatar", 0, 5),)) -> RunTables:
    article = {"article_id": "a1", "title": "T", "text": text, "word_count": 3, "content_hash": f"h-{text}", "text_hash": f"t-{text}",
               "source_uri": "in.txt", "record_key": "file", "ingested_at": at}
    mention_rows = [{"mention_id": f"m-{t}", "article_id": "a1", "entity_id": f"e-{t}", "field": "text", "text": t,
                     "label": "GPE", "start_char": s, "end_char": e, "sentence_index": 0} for t, s, e in mentions]
    entity_rows = [{"entity_id": f"e-{t}", "name": t, "label": "GPE", "mention_count": 1, "article_count": 1}
                   for t, _, _ in mentions]
    return RunTables(
        articles=_frame("articles", [article]),
        entity_mentions=_frame("entity_mentions", mention_rows),
        entities=_frame("entities", entity_rows),
        event_mentions=_frame("event_mentions", []),
        events=_frame("events", []),
        quarantine=_frame("quarantine", []),
        runs=_frame("runs", [{"run_id": run_id, "started_at": at, "status": "completed", "inputs": ["in.txt"]}]),
        validation_results=_frame("validation_results", []),
        fetch_state=_frame("fetch_state", [{"url": "http://127.0.0.1/feed.xml", "etag": '"v1"', "status": 200,
                                            "fetched_at": at}]),
    )


def _contents(store: Warehouse) -> dict[str, list]:
    return {name: store.query(f"SELECT * FROM {name} ORDER BY ALL").rows() for name in TABLES}


def _exports(store: Warehouse) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.parquet_dir.rglob("*.parquet"))}


def test_publish_loads_every_table_and_exports_parquet(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    assert dict(store.table_counts().iter_rows()) == {
        "articles": 1, "entities": 1, "entity_mentions": 1, "event_mentions": 0, "events": 0, "quarantine": 0,
        "runs": 1, "validation_results": 0, "fetch_state": 1, "table_updates": 5}
    # only the tables the run wrote rows to
    assert store.query("SELECT table_name, run_id, rows_written FROM table_updates ORDER BY 1").rows() == [
        ("articles", "r1", 1), ("entities", "r1", 1), ("entity_mentions", "r1", 1), ("fetch_state", "r1", 1),
        ("runs", "r1", 1)]
    assert store.view_names() == ["actor_network", "confident_events", "daily_event_counts", "entity_co_mentions", "event_timeline"]
    for name in TABLES:
        exported = pl.read_parquet(store.parquet_dir / name / f"{name}.parquet")
        assert exported.height == store.query(f"SELECT count(*) AS n FROM {name}").item()
    assert not store.staging_dir.exists()


def test_a_changed_article_replaces_its_mentions_and_keeps_ingested_at(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    article = store.query("SELECT text, ingested_at, updated_at FROM articles").row(0)
    assert article == ("Egypt mediates.", T0, T1)
    assert store.query("SELECT text FROM entity_mentions").to_series().to_list() == ["Egypt"]
    assert store.query("SELECT name, mention_count FROM entities").rows() == [("Egypt", 1)]


def test_republishing_the_same_rows_changes_nothing(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    before = _contents(store)
    store.publish("r2", _run("r2", T1))
    after = _contents(store)
    logs = ("runs", "fetch_state")  # what each run did and when it last fetched: expected to move
    assert {k: v for k, v in after.items() if k not in logs} == {k: v for k, v in before.items() if k not in logs}


def test_a_load_failing_midway_leaves_database_and_exports_as_they_were(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    before, exports = _contents(store), _exports(store)
    # Same run id again: the runs insert, after articles and mentions were written, violates the key.
    failing = _run("r1", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),))
    with pytest.raises(duckdb.ConstraintException, match="run_id"):
        store.publish("r1", failing)
    assert _contents(store) == before
    assert _exports(store) == exports
    assert not list(store.parquet_dir.rglob("*.tmp"))
    assert not list(store.root.glob(".*.tmp*"))  # the run's private copy of the database is gone


def test_a_reader_sees_the_version_it_opened_and_the_next_reader_the_new_one(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    with store.connect() as before:  # open while the next run publishes
        store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
        with store.connect() as after:  # same process, old version still open: the new one is served
            assert after.execute("SELECT text FROM articles").fetchall() == [("Egypt mediates.",)]
        assert before.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        assert before.execute("SELECT text FROM entity_mentions").fetchall() == [("Qatar",)]
    assert store.query("SELECT count(*) FROM runs").item() == 2


def test_a_run_can_publish_while_a_reader_holds_the_database_open(tmp_path):
    import subprocess
    import sys

    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    # another process keeps a read-only connection open, as a query or a download would
    reader = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(c.execute('select count(*) from runs').fetchone()[0], flush=True); sys.stdin.read()"),
        str(store.db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"
        store.publish("r2", _run("r2", T1))
        assert store.query("SELECT count(*) FROM runs").item() == 2
    finally:
        reader.communicate("", timeout=30)


def test_export_writes_parquet_and_csv_and_names_unknown_tables(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    assert store.export("articles", tmp_path / "out" / "a.parquet", "parquet") == 1
    assert pl.read_parquet(tmp_path / "out" / "a.parquet")["article_id"].to_list() == ["a1"]
    assert store.export("entities", tmp_path / "e.csv", "csv") == 1
    assert pl.read_csv(tmp_path / "e.csv")["name"].to_list() == ["Qatar"]
    with pytest.raises(KeyError, match="no table 'nope'"):
        store.export("nope", tmp_path / "x.parquet", "parquet")


def test_reading_a_missing_warehouse_says_so(tmp_path):
    from warehouse.store import WarehouseMissing

    with pytest.raises(WarehouseMissing, match="run `newsflow run` first"):
        Warehouse(tmp_path / "none").table_counts()
