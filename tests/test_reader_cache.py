"""The page's facts (Reader.describe, Reader.latest_validation) come from one long-lived,
locked-down read-only connection and are computed once per snapshot: a commit is seen by the next
call, each call reads one snapshot whole, threads share the connection while a writer commits,
older snapshots stay readable with `as_of`, and a warehouse deleted or replaced under the reader
is read again. Real DuckLake warehouses throughout."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pytest

from warehouse.lake import WarehouseMissing
from warehouse.reader import Reader
from warehouse.store import Warehouse

RUN_TABLES = ("CREATE TABLE runs (run_id VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ); "
              "CREATE TABLE validation_results (run_id VARCHAR, table_name VARCHAR, expectation VARCHAR, "
              "column_name VARCHAR, is_critical BOOLEAN, success BOOLEAN, element_count BIGINT, "
              "unexpected_count BIGINT)")


def _commit_run(warehouse: Path, run_id: str, notes: int, success: bool = True) -> None:
    """One writer transaction, as a run commits: `notes` rows into notes and into tags (always as
    many), a run row and its validation result."""
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO notes SELECT i, 'note ' || i FROM range(?) t(i)", [notes])
        con.execute("INSERT INTO tags SELECT i, 'tag' FROM range(?) t(i)", [notes])
        now = dt.datetime.now(dt.timezone.utc)
        con.execute("INSERT INTO runs VALUES (?, ?, ?)", [run_id, now, now])
        con.execute("INSERT INTO validation_results VALUES (?, 'notes', 'expect_rows', NULL, true, ?, ?, ?)",
                    [run_id, success, notes, 0 if success else 1])
        con.execute("CALL newsflow.set_commit_message('newsflow', ?)", [run_id])  # the run's snapshot
        con.execute("COMMIT")


@pytest.fixture
def warehouse(tmp_path) -> Path:
    warehouse = tmp_path / "warehouse"
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("CREATE TABLE notes (note_id BIGINT, body VARCHAR); CREATE TABLE tags (note_id BIGINT, tag VARCHAR)")
        con.execute(RUN_TABLES)
    _commit_run(warehouse, "run-1", 3)
    return warehouse


class _Recorded:
    """A real Reader whose connections and computations of the page's facts are counted."""

    def __init__(self, warehouse: Path, **options):
        self.reader = Reader(warehouse, **options)
        self.connections: list[duckdb.DuckDBPyConnection] = []
        self.computed = {"describe": 0, "latest_validation": 0}
        connect, describe, validation = self.reader.connect, self.reader._describe, self.reader._latest_validation

        def recording_connect(*args, **kwargs):
            con = connect(*args, **kwargs)
            self.connections.append(con)
            return con

        def counted(name, compute):
            def run(con):
                self.computed[name] += 1
                return compute(con)
            return run

        self.reader.connect = recording_connect
        self.reader._describe = counted("describe", describe)
        self.reader._latest_validation = counted("latest_validation", validation)


def _rows(reader: Reader) -> dict[str, int | None]:
    return {info.name: info.rows for info in reader.describe()}


def test_one_connection_serves_every_call_and_each_snapshot_is_computed_once(warehouse):
    recorded = _Recorded(warehouse)
    reader = recorded.reader
    for _ in range(5):
        assert _rows(reader)["notes"] == 3
        assert reader.latest_validation().run_id == "run-1"
    assert len(recorded.connections) == 1
    assert recorded.computed == {"describe": 1, "latest_validation": 1}

    _commit_run(warehouse, "run-2", 4, success=False)
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("CREATE TABLE added (x INTEGER); CREATE VIEW newest AS SELECT 1 AS one")
    for _ in range(3):
        rows = _rows(reader)
        report = reader.latest_validation()
    assert (rows["notes"], rows["tags"], rows["added"], rows["newest"]) == (7, 7, 0, None)
    assert "newest" in {i.name for i in reader.describe() if i.kind == "view"}
    assert (report.run_id, report.failed) == ("run-2", 1)
    assert len(recorded.connections) == 1, "the connection was attached again for a new snapshot"
    # one computation for each of the two snapshots the calls saw (the run's, then the tables')
    assert recorded.computed == {"describe": 2, "latest_validation": 2}


def test_the_long_lived_connection_is_locked_down_as_every_other(warehouse, tmp_path):
    recorded = _Recorded(warehouse, memory_limit="64MB")
    recorded.reader.describe()
    (con,) = recorded.connections
    settings = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('memory_limit', 'enable_external_access', 'lock_configuration', 'python_enable_replacements')").fetchall())
    assert settings == {"memory_limit": "61.0 MiB", "enable_external_access": "false", "lock_configuration": "true",
                        "python_enable_replacements": "false"}
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"SELECT * FROM read_csv('{outside}')")
    with pytest.raises(duckdb.Error, match="read-only|read only"):
        con.execute("INSERT INTO notes VALUES (99, 'no')")
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_each_call_reads_one_snapshot_whole_while_threads_share_it_and_a_writer_commits(warehouse):
    reader = Reader(warehouse)
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                rows = _rows(reader)
                report = reader.latest_validation()
            except Exception as err:  # noqa: BLE001 (reported below)
                errors.append(err)
                return
            seen.append((rows["notes"], rows["tags"], rows["runs"], report.run_id))

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        for number in range(2, 8):
            _commit_run(warehouse, f"run-{number}", 1)  # the writer is never kept waiting
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert seen
    # a run's notes and tags are committed together: every call saw both or neither
    assert all(notes == tags for notes, tags, _, _ in seen), {s for s in seen if s[0] != s[1]}
    assert {notes for notes, *_ in seen} <= set(range(3, 10))
    assert _rows(reader)["notes"] == 9 and reader.latest_validation().run_id == "run-7"


def test_older_snapshots_stay_readable_with_as_of(warehouse):
    reader = Reader(warehouse)
    assert _rows(reader)["notes"] == 3
    time.sleep(0.01)
    between = dt.datetime.now(dt.timezone.utc).isoformat()
    _commit_run(warehouse, "run-2", 5)
    assert _rows(reader)["notes"] == 8
    assert reader.sql("SELECT count(*) FROM notes", as_of=between).rows == [[3]]
    assert reader.sql("SELECT count(*) FROM notes", as_of="run-1").rows == [[3]]
    assert reader.sql("SELECT count(*) FROM notes").rows == [[8]]


def test_a_warehouse_deleted_or_replaced_under_the_reader_is_read_again(warehouse, tmp_path):
    reader = Reader(warehouse)
    assert _rows(reader)["notes"] == 3
    spare = tmp_path / "spare"
    shutil.copytree(warehouse, spare)
    shutil.rmtree(warehouse)
    with pytest.raises(WarehouseMissing):
        reader.describe()
    with pytest.raises(WarehouseMissing):
        reader.latest_validation()
    # Another warehouse in its place, with as many snapshots: nothing kept from the first is shown.
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("CREATE TABLE notes (note_id BIGINT, body VARCHAR); CREATE TABLE tags (note_id BIGINT, tag VARCHAR)")
        con.execute(RUN_TABLES)
    _commit_run(warehouse, "other-run", 11)
    assert _rows(reader)["notes"] == 11
    assert reader.latest_validation().run_id == "other-run"
    # and a folder swapped for a copy of the first one while attached
    shutil.rmtree(warehouse)
    shutil.copytree(spare, warehouse)
    assert _rows(reader)["notes"] == 3
    assert reader.latest_validation().run_id == "run-1"
