"""Commands say what went wrong in one line, with the documented exit code: a run that reads
nothing usable (3), `newsflow sql` locked down like the web endpoint (2), `export` to a path it
cannot write (2), unreachable feeds listed in the run's summary without tracebacks."""

from __future__ import annotations

import re

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import newsflow
from tests.test_end_to_end import sql
from tests.test_sql_endpoint import REFUSALS


def _one_line_error(result) -> str:
    """The command's error output, which must be one line starting "newsflow: " and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsflow: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_an_empty_folder_says_so_and_exits_3_before_any_flow(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").write_text("skipped, as in a run")
    result = newsflow("run", str(empty), "--warehouse", str(tmp_path / "wh"))
    assert result.exit_code == 3
    assert f"nothing to read: {empty} holds no files" in _one_line_error(result)
    assert not (tmp_path / "wh").exists()


UNKNOWN_TABLE = "query failed: Catalog Error: Table with name nope does not exist!"


@pytest.mark.parametrize(("query", "message"), [
    *REFUSALS,
    pytest.param("select 1; select 2", "refused: send exactly one SQL statement (got 2)", id="two-selects"),
    pytest.param("select * from nope", UNKNOWN_TABLE, id="unknown-table"),
    pytest.param("selec 1", "query failed: Parser Error: syntax error", id="syntax-error"),
])
def test_sql_refuses_what_the_web_endpoint_refuses_in_one_line_with_exit_2(seeded, tmp_path, query, message):
    warehouse, _ = seeded
    outside = tmp_path / "outside"
    outside.mkdir()
    result = newsflow("sql", query.format(warehouse=warehouse, tmp=outside), "--warehouse", str(warehouse))
    assert result.exit_code == 2, result.output
    assert _one_line_error(result).startswith(f"newsflow: {message}")
    assert not any(outside.iterdir()), "a refused query wrote a file"
    assert result.stdout == ""


def test_sql_still_answers_selects_and_explain(seeded):
    warehouse, _ = seeded
    assert sql(warehouse, "select count(*) as n from articles") == [{"n": 1}]
    explained = newsflow("sql", "explain select * from articles", "--warehouse", str(warehouse))
    assert explained.exit_code == 0 and "explain_value" in explained.stdout


@pytest.mark.parametrize(("out", "extra", "message"), [
    pytest.param("{tmp}", [], "is a folder; name a file in it", id="existing-folder"),
    pytest.param("{tmp}/a-file/articles.parquet", [], "cannot be written: {tmp}/a-file is a file, not a folder",
                 id="under-a-file"),
    pytest.param("/proc/articles.parquet", [], "cannot be written", id="unwritable-folder"),
    pytest.param("{tmp}/articles.xlsx", [], "name the file .parquet or .csv", id="unknown-extension"),
    pytest.param("{tmp}/articles", [], "name the file .parquet or .csv", id="no-extension"),
    pytest.param("{tmp}/articles.csv", ["--format", "parquet"], "names a csv file but --format is parquet",
                 id="format-disagrees"),
])
def test_export_to_a_path_it_cannot_write_is_one_line_and_exit_2(seeded, tmp_path, out, extra, message):
    warehouse, _ = seeded
    (tmp_path / "a-file").write_text("a file, not a folder")
    before = sorted(tmp_path.rglob("*"))
    result = newsflow("export", "articles", "--out", out.format(tmp=tmp_path), *extra, "--warehouse", str(warehouse))
    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp_path) in _one_line_error(result)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the probe


def test_export_takes_its_format_from_the_file_name(seeded, tmp_path):
    warehouse, _ = seeded
    out = tmp_path / "deep" / "articles.csv"
    result = newsflow("export", "articles", "--out", str(out), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("article_id,")
    assert [p.name for p in out.parent.iterdir()] == ["articles.csv"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed: connections are refused


@pytest.fixture()
def failing_site():
    """A server on 127.0.0.1 answering 500 to everything; yields its base URL and the paths asked."""
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            asked.append(self.path)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_a_run_of_unreachable_feeds_lists_them_loads_the_quarantine_and_exits_3(
        prefect_server, failing_site, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("NEWSFLOW_HTTP_RETRIES", "1")
    monkeypatch.setenv("NEWSFLOW_HTTP_RETRY_DELAY", "0.1")
    base, asked = failing_site
    refused = f"http://127.0.0.1:{_closed_port()}/feed.xml"
    warehouse = tmp_path / "warehouse"
    result = newsflow("run", f"{base}/feed.xml", refused, "--warehouse", str(warehouse))
    logged = capfd.readouterr()
    assert result.exit_code == 3, result.output
    # Python's "--- Logging error ---" reports come from Prefect's console handler still holding a
    # stream an earlier in-process command closed (a test-session artifact, not the run's output).
    printed = re.sub(r"--- Logging error ---.*?\nArguments: [^\n]*\n", "", result.output + logged.out + logged.err,
                     flags=re.S)
    assert "Traceback" not in printed
    assert asked == ["/feed.xml", "/feed.xml"]  # retried once, as set
    lines = result.stdout.splitlines()
    assert f"  {base}/feed.xml: fetch failed after 2 attempts: HTTP 500 Internal Server Error from {base}/feed.xml" \
        in lines
    assert any(line.startswith(f"  {refused}: fetch failed after 2 attempts: could not fetch {refused}: ConnectError")
               for line in lines), result.stdout
    # stderr holds the flow's log (one line a retry, no traceback), then the verdict
    assert result.stderr.splitlines()[-1].endswith(
        "read nothing usable: all 2 records and inputs read were quarantined; only the quarantine rows were loaded")
    reasons = sql(warehouse, "select source_uri, stage from quarantine order by 1")
    assert reasons == sorted([{"source_uri": f"{base}/feed.xml", "stage": "extract"},
                              {"source_uri": refused, "stage": "extract"}], key=lambda r: r["source_uri"])
    assert sql(warehouse, "select count(*) as n from fetch_state") == [{"n": 0}]


def test_fetch_with_retries_gives_up_with_a_problem_not_an_exception(failing_site):
    from readers.fetch import fetch_with_retries

    base, asked = failing_site
    waits = []
    fetched = fetch_with_retries(f"{base}/feed.xml", 2.0, 1 << 20, retries=2, retry_delay=0.01,
                                 on_retry=lambda err, wait: waits.append(wait))
    assert fetched.is_unreachable
    assert fetched.problem == (f"fetch failed after 3 attempts: HTTP 500 Internal Server Error from {base}/feed.xml")
    assert waits == [0.01, 0.02] and len(asked) == 3


@pytest.mark.parametrize("query", ["select * from nope", "selec 1", "select 1; select 2"])
def test_the_web_endpoint_answers_the_same_errors_in_one_line(seeded, query):
    from fastapi.testclient import TestClient

    from web.app import create_app

    warehouse, _ = seeded
    with TestClient(create_app(warehouse)) as client:
        answer = client.get("/api/sql", params={"sql": query})
    cli = newsflow("sql", query, "--warehouse", str(warehouse))
    assert answer.status_code == 400 and cli.exit_code == 2
    error = answer.json()["error"]
    assert "\n" not in error and "LINE 1" not in error
    assert _one_line_error(cli) == f"newsflow: {error}"


# --- help, tables, describe ----------------------------------------------------------------------


def _commands(group=None, path: tuple[str, ...] = ()) -> dict:
    """Every command and command group of the CLI, by its words (("prefect", "start"), ...)."""
    import typer

    from cli.app import app

    group = group or typer.main.get_command(app)
    found = {}
    for name, command in getattr(group, "commands", {}).items():
        found[(*path, name)] = command
        found.update(_commands(command, (*path, name)))
    return found


@pytest.mark.parametrize("words", sorted(_commands()), ids=" ".join)
def test_every_help_text_keeps_its_square_brackets_and_h_is_help(words):
    command = _commands()[words]
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    brackets = [" ".join(b.split()) for text in texts for b in re.findall(r"\[[^\]\n]*\]", text)]
    short, long = newsflow(*words, "-h"), newsflow(*words, "--help")
    assert short.exit_code == 0 and short.stdout == long.stdout and short.stdout.startswith("Usage: ")
    shown = " ".join(short.stdout.split())
    assert [b for b in brackets if b not in shown] == []


def test_the_help_texts_with_brackets_show_them():
    """The texts whose brackets Rich markup used to drop ("[run] catalog" printed as "catalog")."""
    assert "or [run] catalog)" in " ".join(newsflow("run", "-h").stdout.split())
    assert "with the matched words in [brackets]" in " ".join(newsflow("search", "-h").stdout.split())
    assert newsflow("-h").stdout == newsflow("--help").stdout


def test_tables_lists_the_tables_then_the_views_with_rows_and_grain(seeded):
    from schemas import BASE_TABLES, VIEWS

    warehouse, _ = seeded
    result = newsflow("tables", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    rows = [line.split(maxsplit=3) for line in result.stdout.splitlines()]
    kinds = {name: kind for name, kind, *_ in rows}
    assert [n for n, k in kinds.items() if k == "view"] == sorted(VIEWS)
    assert set(BASE_TABLES) <= {n for n, k in kinds.items() if k == "table"}
    assert [k for k in kinds.values()] == sorted(kinds.values(), key=lambda k: k == "view")  # tables first
    from schemas import RELATIONS

    for name, kind, count, grain in rows:
        assert int(count) == sql(warehouse, f"select count(*) as n from {name}")[0]["n"]
        assert grain == RELATIONS[name].grain


def test_describe_takes_a_warehouse_and_prints_its_rows(seeded, tmp_path):
    warehouse, _ = seeded
    plain = newsflow("describe", "event_timeline")
    result = newsflow("describe", "event_timeline", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    rows = sql(warehouse, "select count(*) as n from event_timeline")[0]["n"]
    lines = result.stdout.splitlines()
    assert lines[2] == f"rows: {rows} (in {warehouse})"
    assert lines[:2] + lines[3:] == plain.stdout.splitlines()  # the same declarations otherwise
    missing = newsflow("describe", "articles", "-w", str(tmp_path / "none"))
    assert missing.exit_code == 2 and "no warehouse at" in _one_line_error(missing)
