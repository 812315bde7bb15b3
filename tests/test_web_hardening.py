"""The web service and exports under pressure and in hostile hands, on small real warehouses:
bounded queries (memory, result size, a few at a time with 503 + Retry-After, /healthz and the
page answering meanwhile), out-of-range dates, CSV cells neutralised for spreadsheets, tokens
kept out of the access log, no server paths in answers, and one clear line for a damaged catalog."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import shutil
import socket
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import newsflow
from warehouse.lake import WarehouseDamaged
from warehouse.reader import Filters, QueryRefused, Reader
from warehouse.store import Warehouse
from web.app import _RedactTokens, create_app

# Each text below starts with a character a spreadsheet reads as the start of a formula.
FORMULAS = ["=1+2", "+41", "-3", "@SUM(A1:A2)", "\tTAB", "\rCR"]
HARMLESS = ["plain", "a=b", "'quoted", ""]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A warehouse with one table of notes (formula-like and harmless text, negative numbers) and
    one of 400,000 padded numbers for a download that outlasts a client that stops reading."""
    warehouse = tmp_path_factory.mktemp("small") / "warehouse"
    texts = FORMULAS + HARMLESS + [None]
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("CREATE TABLE notes (note_id INTEGER, body VARCHAR, score DOUBLE, tags VARCHAR[])")
        con.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)",
                        [(i, t, -1.5 * i, ["=x"]) for i, t in enumerate(texts)])
        # ~40 MB as CSV: more than socket buffers hold, so a client that stops reading stalls it.
        con.execute("CREATE TABLE numbers AS SELECT i AS number_id, repeat('n', 100) AS pad FROM range(400000) t(i)")
    return warehouse


@pytest.fixture(scope="module")
def client(small):
    with TestClient(create_app(small)) as client:
        yield client


def _csv_rows(data: bytes) -> dict[int, dict[str, str]]:
    return {int(r["note_id"]): r for r in csv.DictReader(io.StringIO(data.decode(), newline=""))}


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "message"), [
    ({"end": "9999-12-31"}, "end 9999-12-31 is out of range: the last day a filter can name is 9999-12-30"),
    ({"start": "0000-01-01"}, "start is not a valid date"),
    ({"end": "2024-13-01"}, "end is not a valid date"),
], ids=["last-day", "year-zero", "month-13"])
def test_out_of_range_dates_answer_400(client, params, message):
    answer = client.get("/api/export/notes", params=params)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_the_last_day_a_python_date_holds_is_refused_in_the_reader_too():
    with pytest.raises(QueryRefused, match="end 9999-12-31 is out of range"):
        Filters(end=__import__("datetime").date.max)


# --- CSV cells -----------------------------------------------------------------------------------

def test_web_csv_neutralises_formula_cells(client):
    answer = client.get("/api/export/notes", params={"format": "csv"})
    assert answer.status_code == 200
    rows = _csv_rows(answer.content)
    assert [rows[i]["body"] for i in range(len(FORMULAS))] == ["'" + f for f in FORMULAS]
    assert [rows[len(FORMULAS) + i]["body"] for i in range(len(HARMLESS))] == HARMLESS
    assert rows[1]["score"] == "-1.5"  # numbers keep their sign
    assert rows[0]["tags"] == '["=x"]'  # lists are JSON text, which starts with [


def test_web_csv_raw_keeps_cells_as_they_are(client):
    rows = _csv_rows(client.get("/api/export/notes", params={"format": "csv", "raw": "true"}).content)
    assert [rows[i]["body"] for i in range(len(FORMULAS))] == FORMULAS


def test_parquet_downloads_are_never_changed(client):
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(client.get("/api/export/notes").content))
    assert table.column("body").to_pylist()[:len(FORMULAS)] == FORMULAS


def test_cli_csv_export_neutralises_formula_cells_unless_raw(small, tmp_path):
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert newsflow("export", "notes", "--out", str(safe), "--format", "csv", "--warehouse", str(small)).exit_code == 0
    result = newsflow("export", "notes", "--out", str(raw), "--format", "csv", "--raw-csv", "--warehouse", str(small))
    assert result.exit_code == 0, result.output
    safe_rows, raw_rows = _csv_rows(safe.read_bytes()), _csv_rows(raw.read_bytes())
    assert [safe_rows[i]["body"] for i in range(len(FORMULAS))] == ["'" + f for f in FORMULAS]
    assert [raw_rows[i]["body"] for i in range(len(FORMULAS))] == FORMULAS
    assert [safe_rows[len(FORMULAS) + i]["body"] for i in range(len(HARMLESS))] == \
        [raw_rows[len(FORMULAS) + i]["body"] for i in range(len(HARMLESS))]
    assert safe_rows[1]["score"] == "-1.5"


def test_cli_export_help_documents_the_neutralisation():
    help_text = newsflow("export", "--help").output
    assert "--raw-csv" in help_text and "leading single quote" in help_text


# --- limits of one query -------------------------------------------------------------------------

def test_each_request_has_its_own_memory_limit(small):
    with Reader(small, memory_limit="64MB").connect() as con:
        (limit,) = con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchone()
    assert limit == "61.0 MiB"
    with TestClient(create_app(small, memory_limit="64MB")) as client:
        answer = client.post("/api/sql", json={
            "sql": "SELECT count(*) FROM (SELECT i, repeat('x', 1000) AS s FROM range(300000) t(i) ORDER BY s, i)"})
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("refused: the query needed more than the memory limit of 64MB")
        assert client.get("/api/sql", params={"sql": "SELECT 42"}).json()["rows"] == [[42]]


def test_a_result_past_the_size_limit_is_cut_and_says_so(small):
    with TestClient(create_app(small, sql_result_bytes=100_000)) as client:
        answer = client.get("/api/sql", params={"sql": "SELECT repeat('x', 10000) AS s FROM range(1000)"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["truncated"] and 0 < body["row_count"] < 10
    assert body["note"].startswith(f"cut after {body['row_count']} rows: the answer reached the limit of 100,000 bytes")
    assert len(answer.content) < 100_000 + 1_000


def test_the_row_limit_says_so_too(client):
    body = client.get("/api/sql", params={"sql": "SELECT * FROM range(20)", "limit": 5}).json()
    assert (body["row_count"], body["truncated"], body["note"]) == (5, True, "cut at the row limit (5 rows)")
    whole = client.get("/api/sql", params={"sql": "SELECT * FROM range(5)", "limit": 5}).json()
    assert (whole["truncated"], whole["note"]) == (False, None)


# --- a few at a time -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class _Served:
    """The app on a real uvicorn server in a thread (127.0.0.1), with the DuckDB connections its
    reader opened, so a test can interrupt a query it started."""

    def __init__(self, app, log_level: str = "warning"):
        import uvicorn

        self.app, self.port = app, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.connections = []
        reader = app.state.reader
        connect = reader.connect

        def recording_connect(*args, **kwargs):
            con = connect(*args, **kwargs)
            self.connections.append(con)
            return con

        reader.connect = recording_connect
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level=log_level))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Served:
        self.thread.start()
        assert _wait_until(lambda: self.server.started), "uvicorn did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


ENDLESS = "SELECT count(*) FROM range(1000000000000) a(i)"  # minutes of work: runs until interrupted


def test_queries_past_the_concurrency_limit_answer_503_at_once_while_health_and_page_answer(small):
    app = create_app(small, sql_concurrency=2, sql_time_limit=600)
    with _Served(app) as served:
        answers = []

        def ask_endless():
            answers.append(httpx.post(f"{served.base}/api/sql", json={"sql": ENDLESS}, timeout=600))

        holders = [threading.Thread(target=ask_endless) for _ in range(2)]
        for holder in holders:
            holder.start()
        assert _wait_until(lambda: app.state.sql_gate.held == 2)
        try:
            for _ in range(5):
                refused = httpx.get(f"{served.base}/api/sql", params={"sql": "SELECT 1"}, timeout=30)
                assert refused.status_code == 503
                assert refused.headers["retry-after"] == "600"
                assert "retry in 600 s" in refused.json()["error"]
            assert httpx.get(f"{served.base}/healthz", timeout=30).json() == {"status": "ok"}
            assert httpx.get(f"{served.base}/", timeout=30).status_code == 200
            assert httpx.get(f"{served.base}/api/tables", timeout=30).status_code == 200
            assert app.state.sql_gate.held == 2  # both queries were still running through all of this
        finally:
            for con in served.connections:
                with contextlib.suppress(duckdb.ConnectionException):  # the page's, already closed
                    con.interrupt()
            for holder in holders:
                holder.join(60)
        assert [a.status_code for a in answers] == [400, 400]  # interrupted
        assert app.state.sql_gate.held == 0
        assert httpx.get(f"{served.base}/api/sql", params={"sql": "SELECT 1"}, timeout=30).json()["rows"] == [[1]]


def test_downloads_past_their_limit_answer_503_and_the_slot_comes_back(small):
    app = create_app(small, export_concurrency=1)
    with _Served(app) as served:
        with socket.create_connection(("127.0.0.1", served.port)) as stalled:
            # A client that stops reading keeps its download (and its slot) open.
            stalled.sendall(b"GET /api/export/numbers?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert stalled.recv(65536).startswith(b"HTTP/1.1 200")
            assert _wait_until(lambda: app.state.export_gate.held == 1)
            refused = httpx.get(f"{served.base}/api/export/notes", timeout=30)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert httpx.get(f"{served.base}/healthz", timeout=30).status_code == 200
        assert _wait_until(lambda: app.state.export_gate.held == 0 and app.state.reader.open_exports == 0)
        assert httpx.get(f"{served.base}/api/export/notes", timeout=30).status_code == 200
        assert _wait_until(lambda: app.state.export_gate.held == 0)  # given back once the last chunk is sent


def test_a_refused_download_gives_its_slot_back(client):
    assert client.get("/api/export/nope").status_code == 404
    assert client.get("/api/export/notes", params={"source": "x"}).status_code == 400
    assert client.app.state.export_gate.held == 0


# --- tokens and paths ----------------------------------------------------------------------------

class _Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_token_in_the_query_never_reaches_the_access_log(small):
    app = create_app(small, token="s3cret-token")
    with _Served(app, log_level="info") as served:
        captured = _Captured()
        access = logging.getLogger("uvicorn.access")
        access.addHandler(captured)
        try:
            page = httpx.get(f"{served.base}/", params={"token": "s3cret-token", "x": "1"}, timeout=30)
            assert page.status_code == 200
            # Not the parameter the gate reads (names are case-sensitive), but a token all the same.
            assert httpx.get(f"{served.base}/api/tables?TOKEN=s3cret-token", timeout=30).status_code == 401
            assert _wait_until(lambda: len(captured.lines) >= 2)
        finally:
            access.removeHandler(captured)
    assert not any("s3cret-token" in line for line in captured.lines), captured.lines
    assert any("/?token=[redacted]&x=1" in line for line in captured.lines), captured.lines


def test_the_filter_redacts_every_token_parameter():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/api/sql?sql=select+1&token=abc%20d&TOKEN=x", "1.1", 200), None)
    assert _RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:1 - "GET /api/sql?sql=select+1&token=[redacted]&TOKEN=[redacted] HTTP/1.1" 200'


@pytest.mark.parametrize("sql", [
    "SELECT * FROM duckdb_settings()",
    "SELECT current_setting('temp_directory')",
    "SELECT * FROM duckdb_databases()",
    "SELECT * FROM pragma_database_list()",
    "SELECT * FROM duckdb_extensions()",
    "SELECT * FROM ducklake_settings('newsflow')",
    "SELECT * FROM ducklake_options('newsflow')",
    "SELECT * FROM ducklake_list_files('newsflow', 'notes')",
], ids=["settings", "current-setting", "databases", "database-list", "extensions", "lake-settings", "lake-options",
        "lake-files"])
def test_functions_that_show_server_paths_are_refused(client, sql):
    answer = client.get("/api/sql", params={"sql": sql})
    assert answer.status_code == 400
    assert "would show the server's files and settings" in answer.json()["error"]


def test_pragma_database_list_is_refused(client):
    assert client.get("/api/sql", params={"sql": "PRAGMA database_list"}).status_code == 400


@pytest.mark.parametrize("sql", [
    "SELECT * FROM __ducklake_metadata_newsflow.ducklake_metadata",
    "SELECT * FROM read_parquet('{warehouse}/data/none.parquet')",
    "SELECT * FROM read_csv('{warehouse}/catalog.sqlite')",
    "SELECT '{warehouse}' AS folder, '{home}/.duckdb' AS home, '{cwd}' AS cwd",
], ids=["lake-metadata", "missing-data-file", "catalog-file", "literal-paths"])
def test_answers_and_errors_carry_no_server_path(client, small, sql):
    text = sql.format(warehouse=small.resolve(), home=Path.home(), cwd=Path.cwd())
    answer = client.get("/api/sql", params={"sql": text})
    assert answer.status_code in (200, 400), answer.text
    for path in (str(small.resolve()), str(Path.home()), str(Path.cwd())):
        assert path not in answer.text
    assert "<warehouse" in answer.text or "<catalog>" in answer.text


def test_the_page_and_a_missing_warehouse_show_no_server_path(small, client, tmp_path):
    page = client.get("/")
    assert page.status_code == 200
    assert str(small.resolve()) not in page.text and f"<code>{small.name}</code>" in page.text
    with TestClient(create_app(tmp_path / "nothing")) as missing:
        answer = missing.get("/api/tables")
        assert answer.status_code == 503 and str(tmp_path) not in answer.text
        assert "no warehouse at <warehouse>" in answer.json()["error"]
        assert str(tmp_path) not in missing.get("/").text


# --- a damaged warehouse -------------------------------------------------------------------------

@pytest.fixture
def damaged(small, tmp_path) -> Path:
    """A copy of the small warehouse whose catalog file was overwritten with noise."""
    warehouse = tmp_path / "damaged"
    shutil.copytree(small, warehouse)
    (warehouse / "catalog.sqlite").write_bytes(bytes(range(256)) * 16)
    return warehouse


def test_a_damaged_catalog_is_one_clear_error(damaged):
    with pytest.raises(WarehouseDamaged, match=r"catalog .*catalog\.sqlite is damaged and cannot be read "
                                               r"\(file is not a database\)"):
        Warehouse(damaged).connect()


@pytest.mark.parametrize("command", [["tables"], ["export", "notes", "--out", "{tmp}/notes.csv", "--format", "csv"]],
                         ids=["tables", "export"])
def test_the_cli_prints_one_line_for_a_damaged_catalog(damaged, tmp_path, command):
    result = newsflow(*[part.format(tmp=tmp_path) for part in command], "--warehouse", str(damaged))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"newsflow: the warehouse catalog {(damaged / 'catalog.sqlite').resolve()} is damaged")


def test_the_web_answers_503_for_a_damaged_catalog(damaged):
    with TestClient(create_app(damaged)) as client:
        answer = client.get("/api/tables")
        assert answer.status_code == 503
        assert answer.json()["error"].startswith("the warehouse catalog <catalog> is damaged")
        assert client.get("/").status_code == 503
        assert client.get("/healthz").status_code == 200
