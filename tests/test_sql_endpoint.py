"""The read-only SQL endpoint on a real warehouse: what it refuses (files outside the warehouse,
writes, settings, extensions, other databases), its row and time limits, and its JSON answers."""

from __future__ import annotations

import time

import duckdb
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from warehouse.reader import SQL_ROW_LIMIT, SQL_TIME_LIMIT, read_only_connection
from warehouse.lake import Lake

FILES = "refused: queries may not read or write files outside the warehouse"
READ_ONLY = "refused: the warehouse is read-only: only SELECT queries are allowed"
METHODS = ["GET", "POST"]


@pytest.fixture(scope="module")
def warehouse(seeded):
    return seeded[0]


@pytest.fixture(scope="module")
def client(warehouse):
    with TestClient(create_app(warehouse)) as client:
        yield client


def ask(client: TestClient, method: str, sql: str, limit: int | None = None):
    if method == "GET":
        params = {"sql": sql} | ({"limit": limit} if limit else {})
        return client.get("/api/sql", params=params)
    return client.post("/api/sql", json={"sql": sql} | ({"limit": limit} if limit else {}))


# {warehouse} is the warehouse folder, {tmp} a fresh folder that must stay empty.
REFUSALS = [
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", FILES, id="read_csv"),
    pytest.param("SELECT * FROM read_text('/etc/passwd')", FILES, id="read_text"),
    pytest.param("SELECT * FROM read_blob('/etc/hostname')", FILES, id="read_blob"),
    pytest.param("SELECT * FROM glob('/etc/*')", FILES, id="glob"),
    pytest.param("SELECT * FROM read_text('{warehouse}/../secret.txt')", FILES, id="dotdot-escape"),
    pytest.param("SELECT * FROM read_csv('../../../../../../etc/passwd')", FILES, id="relative-escape"),
    pytest.param("COPY articles TO '{tmp}/articles.csv'", FILES, id="copy-to"),
    pytest.param("COPY (SELECT * FROM runs) TO '{tmp}/runs.parquet' (FORMAT parquet)", FILES, id="copy-query-to"),
    pytest.param("EXPORT DATABASE '{tmp}/dump'", FILES, id="export-database"),
    pytest.param("ATTACH '{tmp}/other.duckdb' AS other", "refused: queries may not attach other databases",
                 id="attach"),
    pytest.param("INSTALL httpfs", "refused: queries may not install or load extensions", id="install"),
    pytest.param("LOAD httpfs", "refused: queries may not install or load extensions", id="load"),
    pytest.param("SET enable_external_access = true", "refused: the configuration is locked", id="set"),
    pytest.param("RESET lock_configuration", "refused: the configuration is locked", id="reset"),
    pytest.param("PRAGMA enable_profiling", "refused: the configuration is locked", id="pragma"),
    pytest.param("INSERT INTO runs (run_id, started_at, status) VALUES ('x', now(), 'completed')", READ_ONLY,
                 id="insert"),
    pytest.param("UPDATE articles SET title = 'x'", READ_ONLY, id="update"),
    pytest.param("DELETE FROM articles", READ_ONLY, id="delete"),
    pytest.param("DROP TABLE articles", READ_ONLY, id="drop"),
    pytest.param("CREATE TABLE stolen AS SELECT * FROM articles", READ_ONLY, id="create-table"),
    pytest.param("CREATE TEMP TABLE t AS SELECT 1", READ_ONLY, id="create-temp-table"),
    pytest.param("SELECT 1; DROP TABLE articles", "refused: send exactly one SQL statement (got 2)",
                 id="two-statements"),
    pytest.param("SELECT * FROM enable_logging()", "refused: enable_logging() would change the server",
                 id="enable-logging"),
    pytest.param("SELECT * FROM query('SELECT * FROM enable_logging()')", "refused: query() would",
                 id="sql-in-a-string"),
    pytest.param("CALL enable_logging(storage = 'file', storage_path = '{tmp}/log')", "refused: CALL is not allowed",
                 id="call"),
    pytest.param("CHECKPOINT", "refused: CALL is not allowed", id="checkpoint"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("sql", "message"), REFUSALS)
def test_refused_with_a_clear_400(client, warehouse, tmp_path, sql, message, method):
    (warehouse.parent / "secret.txt").write_text("beside the warehouse folder, not in it\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    answer = ask(client, method, sql.format(warehouse=warehouse, tmp=outside))
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert not any(outside.iterdir()), "a refused query wrote a file"


def test_file_refusals_carry_duckdbs_reason(client):
    error = ask(client, "GET", "SELECT * FROM read_csv('/etc/passwd')").json()["error"]
    assert error.startswith(FILES)
    assert 'Cannot access file "/etc/passwd" - file system operations are disabled by configuration' in error


def test_nothing_was_changed(client, warehouse):
    answer = ask(client, "GET", "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM runs), "
                                "(SELECT count(*) FROM duckdb_tables() WHERE table_name = 'stolen')")
    assert answer.json()["rows"] == [[1, 1, 0]]


@pytest.mark.parametrize("sql", [
    "COPY articles TO '/tmp/newsflow-test-copy.csv'",
    "ATTACH '/tmp/newsflow-test-other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "INSERT INTO runs (run_id, started_at, status) VALUES ('x', now(), 'completed')",
    "SELECT * FROM read_text('/etc/passwd')",
], ids=["copy", "attach", "install", "load", "set", "insert", "read_text"])
def test_the_connection_itself_refuses_without_the_statement_check(warehouse, sql):
    """The statement check is a second wall: DuckDB's own settings already refuse these."""
    with read_only_connection(Lake(warehouse)) as con, pytest.raises(duckdb.Error) as raised:
        con.execute(sql)
    assert isinstance(raised.value, (duckdb.PermissionException, duckdb.InvalidInputException))
    assert any(word in str(raised.value) for word in ("disabled by configuration", "disabled through configuration", "locked",
                                                "read-only"))


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM range(10000000000)",
    "SELECT sum(hash(i)) FROM range(10000000000) t(i)",
], ids=["count-range", "hash-range"])
def test_a_long_query_is_interrupted_at_the_time_limit(warehouse, sql):
    with TestClient(create_app(warehouse, sql_time_limit=0.5)) as client:
        started = time.monotonic()
        answer = ask(client, "POST", sql)
        elapsed = time.monotonic() - started
        assert answer.status_code == 400
        assert answer.json()["error"].startswith(
            "refused: the query ran longer than the time limit of 0.5 s and was interrupted")
        assert elapsed < 60  # a sanity bound only: the query alone would run for minutes
        assert ask(client, "GET", "SELECT 42").json()["rows"] == [[42]]  # the server still answers


def test_the_default_limits():
    assert (SQL_ROW_LIMIT, SQL_TIME_LIMIT) == (10_000, 10.0)


@pytest.mark.parametrize("method", METHODS)
def test_the_row_limit_truncates(client, method):
    capped = ask(client, method, "SELECT * FROM range(25000)").json()
    assert (capped["row_count"], capped["truncated"], len(capped["rows"])) == (10_000, True, 10_000)
    asked = ask(client, method, "SELECT * FROM range(25000)", limit=5).json()
    assert (asked["rows"], asked["truncated"]) == ([[0], [1], [2], [3], [4]], True)
    exact = ask(client, method, "SELECT * FROM range(5)", limit=5).json()
    assert (exact["row_count"], exact["truncated"]) == (5, False)
    beyond = ask(client, method, "SELECT * FROM range(20000)", limit=50_000).json()
    assert (beyond["row_count"], beyond["truncated"]) == (10_000, True)


@pytest.mark.parametrize("method", METHODS)
def test_a_select_answers_columns_types_and_rows(client, method):
    answer = ask(client, method, "SELECT title, source_name, word_count > 0 AS has_words FROM articles")
    assert answer.status_code == 200
    assert answer.json() == {
        "columns": ["title", "source_name", "has_words"],
        "types": ["VARCHAR", "VARCHAR", "BOOLEAN"],
        "rows": [["Qatar Orders Hamas Leaders Out as Terror Group’s Safe Haven Crumbles", "Israel365 News", True]],
        "row_count": 1,
        "truncated": False,
        "note": None,
    }


def test_values_are_json_safe(client):
    answer = ask(client, "POST", """
        SELECT '\\x01\\xff'::BLOB AS b, 1.50::DECIMAL(5, 2) AS d, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS t,
               DATE '2024-01-02' AS day, [1, 2] AS l, {'a': 1, 'b': 'x'} AS s, 'NaN'::DOUBLE AS n,
               18446744073709551615::UBIGINT AS big, INTERVAL 1 DAY AS i, NULL AS nothing
    """)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [["Af8=", "1.50", "2024-01-02T03:04:05+00:00", "2024-01-02", [1, 2],
                                      {"a": 1, "b": "x"}, None, 18446744073709551615, "1 day, 0:00:00", None]]


def test_views_and_catalog_queries_are_allowed(client):
    assert ask(client, "GET", "SELECT count(*) FROM event_timeline").status_code == 200
    tables = ask(client, "GET", "SHOW TABLES").json()
    assert ["articles"] in tables["rows"]
    explained = ask(client, "GET", "EXPLAIN SELECT * FROM articles").json()
    assert explained["columns"] == ["explain_key", "explain_value"]


def test_a_syntax_error_is_a_400_with_duckdbs_message(client):
    answer = ask(client, "GET", "SELEC 1")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("query failed: Parser Error")


def test_a_missing_sql_parameter_is_422(client):
    assert client.get("/api/sql").status_code == 422
    assert client.post("/api/sql", json={"limit": 3}).status_code == 422
