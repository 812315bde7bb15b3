"""Publishing into a real DuckLake (SQLite catalog, Parquet data files): one snapshot per run,
idempotent without keys, all-or-nothing, time travel, changes since a run, maintenance, migration."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import duckdb
import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from schemas import ARTICLES, BASE_TABLES, TABLES, TABLE_UPDATES, VIEWS
from schemas.derive import duckdb_type
from warehouse import store as store_module
from transforms.normalize import stable_id
from warehouse.store import RunTables, SnapshotMissing, Warehouse, WarehouseMissing

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


def _snapshots(store: Warehouse) -> list[tuple]:
    with store.connect() as con:
        return con.execute("SELECT snapshot_id, commit_message FROM ducklake_snapshots('newsflow') "
                           "WHERE commit_message IS NOT NULL ORDER BY 1").fetchall()


def test_publish_loads_every_table_in_one_snapshot_named_by_the_run(tmp_path):
    store = Warehouse(tmp_path / "wh")
    snapshot = store.publish("r1", _run("r1", T0))
    assert dict(store.table_counts().iter_rows()) == {
        "articles": 1, "entities": 1, "entity_mentions": 1, "event_mentions": 0, "events": 0, "quarantine": 0,
        "runs": 1, "validation_results": 0, "fetch_state": 1, "table_updates": 6, "cameo_codes": 311,
        "entity_aliases": 0, "entity_merges": 0}
    # only the tables the run wrote rows to (the codebook: loaded by the first run)
    assert store.query("SELECT table_name, run_id, rows_written FROM table_updates ORDER BY 1").rows() == [
        ("articles", "r1", 1), ("cameo_codes", "r1", 311), ("entities", "r1", 1), ("entity_mentions", "r1", 1),
        ("fetch_state", "r1", 1), ("runs", "r1", 1)]
    assert store.view_names() == ["actor_network", "confident_events", "daily_event_counts", "entity_co_mentions",
                                  "entity_summary", "event_timeline"]
    assert _snapshots(store) == [(snapshot, "r1")]
    assert store.query("SELECT snapshot_id FROM runs").item() == snapshot
    assert (store.root / "catalog.sqlite").exists()
    assert not store.staging_dir.exists()


def test_a_changed_article_replaces_its_mentions_and_keeps_ingested_at(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    article = store.query("SELECT text, ingested_at, updated_at FROM articles").row(0)
    assert article == ("Egypt mediates.", T0, T1)
    assert store.query("SELECT text FROM entity_mentions").to_series().to_list() == ["Egypt"]
    # the entity no mention points to any more is gone (it was touched: its mention was replaced)
    assert store.query("SELECT name, mention_count FROM entities").rows() == [("Egypt", 1)]


@pytest.mark.slow
def test_republishing_the_same_rows_changes_nothing(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    before = _contents(store)
    second = store.publish("r2", _run("r2", T1))
    after = _contents(store)
    logs = ("runs", "fetch_state")  # what each run did and when it last fetched: expected to move
    assert {k: v for k, v in after.items() if k not in logs} == {k: v for k, v in before.items() if k not in logs}
    with store.connect() as con:  # and the lake recorded no change to the data tables either
        for name in ("articles", "entity_mentions", "entities", "cameo_codes"):
            assert con.execute(f"SELECT count(*) FROM ducklake_table_changes('newsflow', 'main', '{name}', "
                               f"{second}, {second})").fetchone() == (0,), name
        # nor to any table's definition or comments (views are recreated by every run)
        (changes,) = con.execute(f"SELECT changes FROM ducklake_snapshots('newsflow') WHERE snapshot_id = {second}"
                                 ).fetchone()
        assert "tables_altered" not in changes and "tables_created" not in changes, changes


def test_every_table_and_column_carries_its_description_as_a_comment(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    with store.connect() as con:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = 'newsflow'"
                                  ).fetchall())
        views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE database_name = 'newsflow' "
                                 "AND NOT internal").fetchall())
        columns = {(t, c): comment for t, c, comment in con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = 'newsflow' "
            "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = 'newsflow')").fetchall()}
    assert tables == {name: table.grain for name, table in BASE_TABLES.items()}
    assert views == {name: view.grain for name, view in VIEWS.items()}
    assert columns == {(name, c): d for name, table in BASE_TABLES.items() for c, d in table.descriptions.items()}


def test_a_changed_description_is_commented_by_the_next_run(tmp_path, monkeypatch):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    changed = dataclasses.replace(ARTICLES, descriptions={**ARTICLES.descriptions, "title": "the headline"})
    monkeypatch.setitem(store_module.PUBLISHED, "articles", changed)
    store.publish("r2", _run("r2", T1))
    assert store.query("SELECT comment FROM duckdb_columns() WHERE database_name = 'newsflow' "
                       "AND table_name = 'articles' AND column_name = 'title'").item() == "the headline"


def test_the_codebook_is_a_table_and_the_event_views_name_the_codes(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    assert store.query("SELECT * FROM cameo_codes WHERE event_code IN ('174', '01') ORDER BY 1").rows() == [
        ("01", "Make public statement", "01", "01", "Make public statement", 1, "Verbal cooperation", 0.0, ""),
        ("174", "Expel or deport individuals", "174", "17", "Coerce", 4, "Material conflict", -5.0, "COERCE"),
    ]
    with store.connect() as con:  # every declared view column is there, with its declared type
        for name, view in VIEWS.items():
            found = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'newsflow' "
                                "AND table_name = ? ORDER BY column_index", [name]).fetchall()
            declared = [(c, duckdb_type(t).replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"))
                        for c, t in view.schema.items()]
            assert found == declared, name


def test_a_batch_repeating_a_key_loads_one_row_per_key(tmp_path):
    """DuckLake enforces no keys, and a MERGE whose batch repeats a key would insert both."""
    store = Warehouse(tmp_path / "wh")
    tables = _run("r1", T0)
    twice = RunTables(**{**tables.__dict__, "entities": pl.concat([tables.entities, tables.entities]),
                         "articles": pl.concat([tables.articles, tables.articles])})
    store.publish("r1", twice)
    store.publish("r2", twice.__class__(**{**twice.__dict__, "runs": _run("r2", T1).runs}))
    for name, table in TABLES.items():
        keys = ", ".join(table.key)
        assert store.query(f"SELECT count(*) - count(DISTINCT ({keys})) FROM {name}").item() == 0, name
    assert store.query("SELECT count(*) FROM articles").item() == 1


@pytest.mark.slow
def test_a_load_failing_midway_leaves_the_warehouse_as_it_was(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    before, snapshots = _contents(store), _snapshots(store)
    # Same run id again: refused at the runs insert, after articles and mentions were written.
    failing = _run("r1", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),))
    with pytest.raises(duckdb.Error, match="run r1 is already in the warehouse"):
        store.publish("r1", failing)
    assert _contents(store) == before
    assert _snapshots(store) == snapshots
    assert not store.staging_dir.exists()


def test_a_reader_keeps_its_snapshot_while_a_run_commits_the_next(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    with store.connect() as before:  # open while the next run publishes
        assert before.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
        with store.connect() as after:
            assert after.execute("SELECT text FROM articles").fetchall() == [("Egypt mediates.",)]
    assert store.query("SELECT count(*) FROM runs").item() == 2


def test_a_run_can_publish_while_another_process_reads(tmp_path):
    import subprocess
    import sys

    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    # another process keeps a read-only connection open, as a query or a download would
    reader = subprocess.Popen([sys.executable, "-c", (
        "import sys; from warehouse.store import Warehouse; c = Warehouse(sys.argv[1]).connect(); "
        "print(c.execute('select count(*) from runs').fetchone()[0], flush=True); sys.stdin.read(); "
        "print(c.execute('select count(*) from runs').fetchone()[0], flush=True)"),
        str(store.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"
        store.publish("r2", _run("r2", T1))
        assert store.query("SELECT count(*) FROM runs").item() == 2
    finally:
        out, _ = reader.communicate("", timeout=60)
    assert reader.returncode == 0


def test_time_travel_by_run_id_and_by_time(tmp_path):
    store = Warehouse(tmp_path / "wh")
    first = store.publish("r1", _run("r1", T0))
    store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    assert store.snapshot_as_of("r1") == first
    assert store.query("SELECT text FROM articles", snapshot=store.snapshot_as_of("r1")).item() == "Qatar expels Hamas."
    assert store.query("SELECT text FROM articles").item() == "Egypt mediates."
    committed = store.history().filter(pl.col("run_id") == "r1")["committed_at"].item()
    assert store.snapshot_as_of(committed.isoformat()) == first
    assert store.history()["run_id"].to_list() == ["r2", "r1"]
    with pytest.raises(SnapshotMissing, match="neither a run id"):
        store.snapshot_as_of("no-such-run")
    with pytest.raises(SnapshotMissing, match="no snapshot at or before"):
        store.snapshot_as_of("2000-01-01")


@pytest.mark.slow
def test_export_since_a_run_writes_only_what_changed_after_it(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    out = tmp_path / "changes.parquet"
    assert store.export("entities", out, "parquet", since="r1") == 2
    changes = pl.read_parquet(out).sort("change_type")
    assert changes.select("change_type", "entity_id", "name").rows() == [
        ("delete", "e-Qatar", None), ("upsert", "e-Egypt", "Egypt")]
    assert store.export("entities", out, "parquet", since="r2") == 0
    assert store.export("articles", out, "parquet") == 1  # whole table without --since
    with pytest.raises(KeyError, match="not the view"):
        store.export("confident_events", out, "parquet", since="r1")


@pytest.mark.slow
def test_a_run_sends_its_changes_to_an_export_url(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))
    store.publish("r2", _run("r2", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    written = store.export_run_changes("r2", (tmp_path / "out").as_uri())
    names = sorted(Path(u.removeprefix("file://")).parent.name for u in written)
    assert "articles" in names and "entities" in names and "runs" in names
    articles = pl.read_parquet(tmp_path / "out" / "articles" / "r2.parquet")
    assert articles.select("change_type", "text").rows() == [("upsert", "Egypt mediates.")]


@pytest.mark.slow
def test_maintenance_merges_files_and_expires_snapshots_past_retention(tmp_path):
    store = Warehouse(tmp_path / "wh")
    for i in range(6):
        store.publish(f"r{i}", _run(f"r{i}", T0, text=f"Qatar expels Hamas {i}."))
    kept = store.maintain(retention_days=30)
    assert kept["data_files_after"] <= kept["data_files_before"]
    assert kept["snapshots_expired"] == 0
    assert store.query("SELECT text FROM articles", snapshot=store.snapshot_as_of("r0")).item() == "Qatar expels Hamas 0."
    before = _contents(store)
    expired = store.maintain(retention_days=0)
    assert expired["snapshots_expired"] > 0
    assert _contents(store) == before  # the current snapshot is untouched
    with pytest.raises(SnapshotMissing):
        store.query("SELECT 1", snapshot=store.snapshot_as_of("r0"))


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
    with pytest.raises(WarehouseMissing, match="run `newsflow run` first"):
        Warehouse(tmp_path / "none").table_counts()


LEGACY = Path(__file__).parent / "data" / "legacy-warehouse-d475360.duckdb.gz"


@pytest.mark.slow
def test_a_single_file_warehouse_of_the_previous_version_migrates_on_first_use(tmp_path):
    """The fixture is what commit d475360 (the last single-file version) wrote for seeds/."""
    root = tmp_path / "wh"
    root.mkdir()
    with gzip.open(LEGACY) as packed, (root / "newsflow.duckdb").open("wb") as out:
        shutil.copyfileobj(packed, out)
    with duckdb.connect(str(root / "newsflow.duckdb"), read_only=True) as old:
        present = {r[0] for r in old.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        expected = {name: old.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
                    for name in [*TABLES, "table_updates"] if name in present}
        stored_entities = old.execute("SELECT entity_id, name, label FROM entities").pl()
        old_columns = {name: [c[0] for c in old.execute(f"DESCRIBE {name}").fetchall()] for name in expected}
    store = Warehouse(root)
    assert store.needs_migration()
    counts = dict(store.table_counts().iter_rows())  # first use: migrated, then read
    assert not store.needs_migration()
    assert (root / "newsflow.duckdb.migrated").exists() and not (root / "newsflow.duckdb").exists()
    # the old file had no codebook table: the migration loads the shipped one; its entity ids
    # were label + name: each is retired for the id of its name, and recorded
    merges = dict(store.query("SELECT from_entity_id, to_entity_id FROM entity_merges").rows())
    assert set(merges) == set(stored_entities["entity_id"])
    assert store.query("SELECT DISTINCT run_id FROM entity_merges").rows() == [("migrated from newsflow.duckdb",)]
    merged = len(merges) - len(set(merges.values()))  # names the old ids split under two labels
    assert counts == {**{name: len(rows) for name, rows in expected.items()}, "cameo_codes": 311,
                      "entities": len(expected["entities"]) - merged, "entity_aliases": 0,
                      "entity_merges": len(merges)}
    assert counts["articles"] == 1 and counts["entity_mentions"] > 10
    renamed = {"entity_mentions": ("entity_id",), "events": ("actor1_entity_id", "actor2_entity_id")}
    for name, rows in expected.items():
        if name == "entities":
            continue
        columns = [c for c in (TABLES.get(name) or TABLE_UPDATES).columns if c != "snapshot_id"
                   and c in old_columns[name]]  # columns added since (the places) are null
        at = [columns.index(c) for c in renamed.get(name, ())]
        want = sorted(tuple(merges.get(v, v) if i in at else v for i, v in enumerate(r[:len(columns)])) for r in rows)
        got = store.query(f"SELECT {', '.join(columns)} FROM {name} ORDER BY ALL").rows()
        assert got == want, name
    assert store.query("SELECT sum(mention_count) FROM entities").item() == counts["entity_mentions"]
    assert [r for r in store.history()["run_id"]] == ["migrated from newsflow.duckdb"]
    # its places are geocoded in context: a capital is its GeoNames place's entity, a country
    # (dictionary-keyed, as in a run) keeps its name's entity
    doha, qatar = _place_id(290030), pl.select(stable_id(pl.lit("qatar"))).item()
    assert store.query("SELECT DISTINCT text, geonames_id, geo_method, entity_id FROM entity_mentions "
                       "WHERE text IN ('Doha', 'Qatar') ORDER BY 1").rows() == [
        ("Doha", 290030, "only_candidate", doha), ("Qatar", 289688, "country", qatar)]
    assert store.query("SELECT count(*) FROM entity_mentions WHERE label = 'GPE' AND geonames_id IS NULL").item() == 0
    assert store.query(f"SELECT reason FROM entity_merges WHERE to_entity_id = '{doha}'").item() == store_module.PLACE_IDS
    # a run after the migration adds to what was migrated, Doha to the migrated Doha
    store.publish("r1", _run("r1", T0))
    assert store.query("SELECT count(*) FROM articles").item() == 2
    store.publish("r2", _named_run("r2", T1, "a2", "Talks resumed in Doha.", (("Doha", "GPE"),)))
    assert store.query("SELECT entity_id, mention_count, article_count FROM entities WHERE name = 'Doha'").rows() == [
        (doha, 3, 2)]


def test_counts_grow_with_new_articles_and_are_recomputed_when_one_changes(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _run("r1", T0))  # a1 mentions Qatar
    second = _run("r2", T1, text="Qatar hosts talks.", mentions=(("Qatar", 0, 5),))
    second = RunTables(**{**second.__dict__, "articles": second.articles.with_columns(article_id=pl.lit("a2")),
                          "entity_mentions": second.entity_mentions.with_columns(
                              article_id=pl.lit("a2"), mention_id=pl.lit("m-Qatar-a2"))})
    store.publish("r2", second)  # a new article: counts added
    assert store.query("SELECT mention_count, article_count FROM entities WHERE name = 'Qatar'").row(0) == (2, 2)
    # a1 changes and no longer names Qatar: its count is recomputed from what is stored
    store.publish("r3", _run("r3", T1, text="Egypt mediates.", mentions=(("Egypt", 0, 5),)))
    assert store.query("SELECT name, mention_count, article_count FROM entities ORDER BY name").rows() == [
        ("Egypt", 1, 1), ("Qatar", 1, 1)]


def _qatar_run(run_id: str, at: datetime, article_id: str, labels: tuple[str, ...],
               aliases: tuple[tuple[str, str], ...] = ()) -> RunTables:
    """A new article naming the entity 'Qatar' once per label of `labels`, with `aliases` (alias, reason)."""
    run = _run(run_id, at)
    mentions = _frame("entity_mentions", [
        {"mention_id": f"m-{article_id}-{i}", "article_id": article_id, "entity_id": "e-Qatar", "field": "text",
         "text": "Qatar", "label": label, "start_char": 0, "end_char": 5, "sentence_index": 0}
        for i, label in enumerate(labels)])
    vote = max(sorted(set(labels)), key=labels.count)
    return RunTables(**{
        **run.__dict__, "articles": run.articles.with_columns(article_id=pl.lit(article_id)),
        "entity_mentions": mentions,
        "entities": _frame("entities", [{"entity_id": "e-Qatar", "name": "Qatar", "label": vote,
                                         "mention_count": len(labels), "article_count": 1}]),
        "entity_aliases": _frame("entity_aliases", [{"entity_id": "e-Qatar", "alias": a, "reason": r, "run_id": run_id,
                                                     "first_seen_at": at} for a, r in aliases]),
    })


def test_an_entitys_label_is_the_vote_of_all_its_stored_mentions(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _qatar_run("r1", T0, "a1", ("GPE", "GPE", "ORG")))
    # The run's own mentions vote ORG; with the stored ones it is 2 to 2, and a tie goes to GPE.
    store.publish("r2", _qatar_run("r2", T1, "a2", ("ORG",)))
    assert store.query("SELECT label, mention_count FROM entities").row(0) == ("GPE", 4)
    store.publish("r3", _qatar_run("r3", T1, "a3", ("ORG", "ORG")))  # now 4 ORG to 2 GPE
    assert store.query("SELECT label, mention_count FROM entities").row(0) == ("ORG", 6)
    # a changed article's mentions are replaced: a3's two ORG become one GPE, 3 GPE to 2 ORG
    store.publish("r4", _qatar_run("r4", T1, "a3", ("GPE",)))
    assert store.query("SELECT label, mention_count FROM entities").row(0) == ("GPE", 5)


def test_aliases_keep_the_run_that_first_found_them(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _qatar_run("r1", T0, "a1", ("GPE",), aliases=(("Qatari", "dictionary"),)))
    store.publish("r2", _qatar_run("r2", T1, "a2", ("GPE",), aliases=(("Qatari", "dictionary"), ("QA", "acronym"))))
    assert store.query("SELECT alias, reason, run_id FROM entity_aliases ORDER BY alias").rows() == [
        ("QA", "acronym", "r2"), ("Qatari", "dictionary", "r1")]


def test_a_lake_of_label_bound_entity_ids_is_upgraded_and_the_retired_ids_recorded(tmp_path):
    store = Warehouse(tmp_path / "wh")
    first = _run("r1", T0, text="Qatar, Qatar.", mentions=(("Qatar", 0, 5), ("Qatar", 7, 12)))
    # What a version with label-bound ids wrote: "Qatar" as GPE and as ORG, two entities.
    first = RunTables(**{
        **first.__dict__,
        "entity_mentions": first.entity_mentions.with_columns(
            mention_id=pl.Series(["m1", "m2"]), entity_id=pl.Series(["old-gpe", "old-org"]),
            label=pl.Series(["GPE", "ORG"])),
        "entities": _frame("entities", [
            {"entity_id": "old-gpe", "name": "Qatar", "label": "GPE", "mention_count": 1, "article_count": 1},
            {"entity_id": "old-org", "name": "Qatar", "label": "ORG", "mention_count": 1, "article_count": 1}]),
    })
    store.publish("r1", first)
    with store.connect(read_only=False) as con:
        con.execute("DROP TABLE entity_merges; DROP TABLE entity_aliases")
    qatar = pl.select(stable_id(pl.lit("qatar"))).item()
    second = _qatar_run("r2", T1, "a2", ("GPE",))
    second = RunTables(**{**second.__dict__,
                          "entity_mentions": second.entity_mentions.with_columns(entity_id=pl.lit(qatar)),
                          "entities": second.entities.with_columns(entity_id=pl.lit(qatar))})
    store.publish("r2", second)
    assert store.query("SELECT entity_id, name, label, mention_count, article_count FROM entities").rows() == [
        (qatar, "Qatar", "GPE", 3, 2)]
    assert store.query("SELECT DISTINCT entity_id FROM entity_mentions").rows() == [(qatar,)]
    assert store.query("SELECT from_entity_id, to_entity_id, from_label, run_id FROM entity_merges ORDER BY 1").rows() == [
        ("old-gpe", qatar, "GPE", "r2"), ("old-org", qatar, "ORG", "r2")]
    assert store.query("SELECT run_id, rows_written FROM table_updates WHERE table_name = 'entity_merges'").rows() == [
        ("r2", 2)]
    store.publish("r3", _qatar_run("r3", T1, "a3", ("GPE",)))  # upgraded once only
    assert store.query("SELECT count(*) FROM entity_merges").item() == 2


def _named_run(run_id: str, at: datetime, article_id: str, text: str, spans: tuple[tuple[str, str], ...]) -> RunTables:
    """A run of one article whose model `spans` are (text, label), each at its first place in
    `text`, its mentions resolved, geocoded in context and keyed as the language stage does
    (flows.coding.resolved_language), its entities as the run makes them."""
    from lexicons.gazetteer import place_gazetteer
    from lexicons.loaders import actor_dictionary
    from schemas.tables import NER_SPANS
    from transforms.entities import actor_keys, article_entity_mentions, entities, keyed_mentions, resolved_mentions
    from transforms.geo import geocoded_mentions

    documents = pl.LazyFrame({"doc_index": [0], "article_id": [article_id], "field": ["text"], "content": [text]},
                             schema_overrides={"doc_index": pl.Int64})
    ner = pl.LazyFrame([(0, t, label, text.index(t), text.index(t) + len(t), 0) for t, label in spans],
                       schema=NER_SPANS, orient="row")
    resolved = resolved_mentions(article_entity_mentions(documents, ner), actor_keys(actor_dictionary([]).lazy()))
    mentions = keyed_mentions(geocoded_mentions(resolved, place_gazetteer().lazy())).collect()
    run = _run(run_id, at, text=text)
    return RunTables(**{**run.__dict__, "articles": run.articles.with_columns(article_id=pl.lit(article_id)),
                        "entity_mentions": mentions.select(TABLES["entity_mentions"].columns),
                        "entities": entities(mentions.lazy()).collect()})


def _place_id(geonames_id: int) -> str:
    return pl.select(stable_id(pl.lit(f"geonames:{geonames_id}"))).item()


LONDON, NORFOLK_VA = 2643743, 4776222


@pytest.mark.slow
def test_an_upgrade_geocodes_the_stored_places_and_later_runs_add_to_the_same_place(tmp_path):
    store = Warehouse(tmp_path / "wh")
    # What a version with label-bound ids and no geocoding wrote: a South London story naming
    # Norfolk (the English county) and a Virginia one naming Norfolk, one "Norfolk" entity.
    texts = {"a1": "London police and Norfolk police met.", "a2": "Norfolk, Virginia said so."}
    spans = [("m1", "a1", "London", "old-london"), ("m2", "a1", "Norfolk", "old-norfolk"),
             ("m3", "a2", "Norfolk", "old-norfolk"), ("m4", "a2", "Virginia", "old-virginia")]
    first = _run("r1", T0)
    articles = pl.concat([first.articles.with_columns(article_id=pl.lit(a), text=pl.lit(t), content_hash=pl.lit(a))
                          for a, t in texts.items()])
    mentions = _frame("entity_mentions", [
        {"mention_id": m, "article_id": a, "entity_id": e, "field": "text", "text": t, "label": "GPE",
         "start_char": texts[a].index(t), "end_char": texts[a].index(t) + len(t), "sentence_index": 0}
        for m, a, t, e in spans])
    stored_entities = _frame("entities", [
        {"entity_id": "old-london", "name": "London", "label": "GPE", "actor_code": "GBRGOV", "country_code": "GBR",
         "mention_count": 1, "article_count": 1},
        {"entity_id": "old-norfolk", "name": "Norfolk", "label": "GPE", "mention_count": 2, "article_count": 2},
        {"entity_id": "old-virginia", "name": "Virginia", "label": "GPE", "mention_count": 1, "article_count": 1}])
    event = {"event_code": "01", "event_base_code": "01", "event_root_code": "01", "quad_class": 1,
             "goldstein_scale": 0.0, "is_negated": False, "is_hypothetical": False, "num_mentions": 1,
             "num_articles": 1, "first_seen_at": T0, "actor1_entity_id": "old-norfolk"}
    events = _frame("events", [{**event, "event_id": f"ev-{a}"} for a in texts])
    event_mentions = _frame("event_mentions", [
        {"mention_id": f"em-{a}", "event_id": f"ev-{a}", "article_id": a, "field": "text", "sentence_index": 0,
         "sentence_start_char": 0, "sentence_end_char": len(texts[a]), "action_text": "met", "action_start_char": 0,
         "is_negated": False, "is_hypothetical": False, "confidence": 0.9, "coder_version": "old"} for a in texts])
    store.publish("r1", RunTables(**{**first.__dict__, "articles": articles, "entity_mentions": mentions,
                                     "entities": stored_entities, "events": events, "event_mentions": event_mentions}))
    with store.connect(read_only=False) as con:
        con.execute("DROP TABLE entity_merges; DROP TABLE entity_aliases")
    norfolk = pl.select(stable_id(pl.lit("norfolk"))).item()
    # The first run after the upgrade names London: it adds to the upgraded London.
    store.publish("r2", _named_run("r2", T1, "a3", "The Mayor of London spoke.", (("London", "GPE"),)))

    # The stored places are geocoded in their article's context: the Norfolk of the London story
    # is no small town in Virginia, the other one is.
    assert store.query("SELECT mention_id, geonames_id, geo_country_code FROM entity_mentions WHERE "
                       "mention_id LIKE 'm_' ORDER BY 1").rows() == [
        ("m1", LONDON, "GBR"), ("m2", None, None), ("m3", NORFOLK_VA, "USA"), ("m4", 6254928, "USA")]
    assert store.query("SELECT entity_id, name, actor_code, mention_count, article_count FROM entities "
                       "WHERE name IN ('London', 'Norfolk') ORDER BY name, entity_id").rows() == sorted([
        (_place_id(LONDON), "London", "GBRGOV", 2, 2),
        (norfolk, "Norfolk", None, 1, 1), (_place_id(NORFOLK_VA), "Norfolk", None, 1, 1)], key=lambda r: (r[1], r[0]))
    assert store.query("SELECT entity_id FROM entity_mentions WHERE mention_id = 'm2'").item() == norfolk
    # Each event's actor is the Norfolk of its own article.
    assert store.query("SELECT event_id, actor1_entity_id FROM events ORDER BY 1").rows() == [
        ("ev-a1", norfolk), ("ev-a2", _place_id(NORFOLK_VA))]
    merges = {r[0]: r[1:] for r in store.query(
        "SELECT from_entity_id, to_entity_id, reason, run_id FROM entity_merges").rows()}
    assert merges["old-london"] == (_place_id(LONDON), store_module.PLACE_IDS, "r2")
    split_to, split_reason, _ = merges["old-norfolk"]
    assert split_to == min(norfolk, _place_id(NORFOLK_VA))  # one mention each: the smaller id
    assert split_reason.startswith(store_module.SPLIT_PLACES)
    assert norfolk in split_reason and _place_id(NORFOLK_VA) in split_reason
    assert set(merges) == {"old-london", "old-norfolk", "old-virginia"}
    assert store.query("SELECT rows_written FROM table_updates WHERE table_name = 'entity_merges'").item() == 3
    assert store.query("SELECT count(*) FROM entities").item() == 4
    assert store.query("SELECT sum(mention_count) FROM entities").item() == 5


def test_the_entity_summary_has_one_row_per_entity_with_when_it_was_seen_and_its_aliases(tmp_path):
    store = Warehouse(tmp_path / "wh")
    store.publish("r1", _qatar_run("r1", T0, "a1", ("GPE", "GPE"), aliases=(("Qatari", "dictionary"),)))
    store.publish("r2", _qatar_run("r2", T1, "a2", ("ORG",), aliases=(("State of Qatar", "dictionary"),)))
    assert store.query("SELECT name, label, articles, mentions, first_seen_at, last_seen_at, aliases "
                       "FROM entity_summary").rows() == [("Qatar", "GPE", 2, 3, T0, T1, ["Qatari", "State of Qatar"])]
    pairs = store.query("SELECT count(*) FROM entity_co_mentions").item()
    assert pairs == 0  # one entity, whatever its mentions' labels: no pair with itself
