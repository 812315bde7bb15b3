"""The web service on real warehouses: table listing, streamed Parquet/CSV downloads (whole and
filtered), the page, OpenAPI, tokens; a warehouse after a real run on seeds/ and one after a real
run on two small dated feeds."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import threading
import time
from html import unescape as html_unescape
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape as html_escape  # as the page's templates escape
from polars.testing import assert_frame_equal

from web.app import create_app
from schemas import ARTICLES, BASE_TABLES, SLICING, TABLES, VIEWS
from tests.conftest import newsflow
from warehouse.reader import Filters, Reader, filtered_query
from warehouse.store import Warehouse

GULF = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Gulf Wire</title><link>https://gulfwire.example/</link><description>News</description>
<item><title>Qatar expels Hamas leaders</title><link>https://gulfwire.example/2024/03/01/qatar-expels</link>
<pubDate>Fri, 01 Mar 2024 09:00:00 +0000</pubDate><category>Politics</category><category>Gulf</category>
<description>Qatar expelled Hamas leaders from Doha on Friday, officials said.</description></item>
<item><title>Egypt mediates talks</title><link>https://gulfwire.example/2024/03/15/egypt-mediates</link>
<pubDate>Fri, 15 Mar 2024 23:30:00 +0000</pubDate><category>Diplomacy</category>
<description>Egypt hosted talks in Cairo between Israeli and Palestinian officials.</description></item>
</channel></rss>
"""
LEVANT = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Levant Daily</title><link>https://levant.example/</link><description>News</description>
<item><title>Jordan condemns strike</title><link>https://levant.example/jordan-condemns</link>
<pubDate>Sun, 10 Mar 2024 12:00:00 +0000</pubDate>
<description>Jordan condemned an Israeli strike in Gaza, the foreign ministry said.</description></item>
<item><title>Lebanon rejects proposal</title><link>https://levant.example/lebanon-rejects</link>
<pubDate>Tue, 02 Apr 2024 00:15:00 +0000</pubDate>
<description>Lebanon rejected a French proposal on the border, officials in Beirut said.</description></item>
</channel></rss>
"""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def duck(warehouse: Path, query: str, params=None) -> pl.DataFrame:
    """A query's answer straight from DuckDB (a plain read-only attach, timestamps in UTC)."""
    with Warehouse(warehouse).connect() as con:
        return pl.from_arrow(con.execute(query, params or []).to_arrow_table())


@pytest.fixture(scope="module")
def dated(prefect_server, tmp_path_factory) -> Path:
    """A warehouse after a real run on two feeds (Gulf Wire, Levant Daily) with dated articles,
    plus a binary file that is quarantined (a blob payload)."""
    inputs = tmp_path_factory.mktemp("dated-inputs")
    (inputs / "gulf.xml").write_text(GULF)
    (inputs / "levant.xml").write_text(LEVANT)
    (inputs / "image.txt").write_bytes(PNG)
    warehouse = tmp_path_factory.mktemp("dated") / "warehouse"
    result = newsflow("run", str(inputs), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    return warehouse


@pytest.fixture(scope="module")
def seeded_client(seeded):
    warehouse, _ = seeded
    with TestClient(create_app(warehouse)) as client:
        yield client


@pytest.fixture(scope="module")
def dated_client(dated):
    with TestClient(create_app(dated)) as client:
        yield client


def _parquet(response) -> pl.DataFrame:
    assert response.status_code == 200, response.text
    return pl.from_arrow(pq.read_table(io.BytesIO(response.content)))


def _titles(response) -> list[str]:
    return sorted(_parquet(response)["title"].to_list())


# --- /api/tables ---------------------------------------------------------------------------------

def test_api_tables_lists_every_table_with_its_row_count_and_columns(seeded, seeded_client):
    warehouse, _ = seeded
    answer = seeded_client.get("/api/tables")
    assert answer.status_code == 200
    listed = {t["name"]: t for t in answer.json()["tables"]}
    assert set(listed) == set(BASE_TABLES)
    for name, table in listed.items():
        assert table["rows"] == duck(warehouse, f"SELECT count(*) AS n FROM {name}").item(), name
        assert table["kind"] == "table"
    assert [c["name"] for c in listed["articles"]["columns"]] == TABLES["articles"].columns
    types = {c["name"]: c["type"] for c in listed["articles"]["columns"]}
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE" and types["categories"] == "VARCHAR[]"
    for name, table in listed.items():  # every column says what it means, as schemas/ declares it
        assert table["grain"] == BASE_TABLES[name].grain
        assert {c["name"]: c["description"] for c in table["columns"]} == BASE_TABLES[name].descriptions, name
    assert listed["articles"]["downloads"] == {
        "parquet": "http://testserver/api/export/articles?format=parquet",
        "csv": "http://testserver/api/export/articles?format=csv",
    }
    assert listed["articles"]["filter_by_source"] and not listed["runs"]["filter_by_source"]
    views = {v["name"]: v for v in answer.json()["views"]}
    assert set(views) == set(VIEWS)
    for name, view in views.items():
        assert {c["name"]: c["description"] for c in view["columns"]} == VIEWS[name].descriptions, name


def test_last_update_comes_from_table_updates(dated, dated_client):
    listed = {t["name"]: t for t in dated_client.get("/api/tables").json()["tables"]}
    updates = dict(duck(dated, "SELECT table_name, updated_at FROM table_updates").iter_rows())
    assert pl.Series([listed["articles"]["last_updated_at"]]).str.to_datetime().dt.convert_time_zone("UTC").item() \
        == updates["articles"]
    assert listed["fetch_state"]["last_updated_at"] is None  # no run wrote rows to it


def test_last_update_falls_back_to_the_latest_run_without_table_updates(dated, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(dated, older)
    with Warehouse(older).connect(read_only=False) as con:
        con.execute("DROP TABLE table_updates")
    finished = duck(older, "SELECT max(finished_at) AS t FROM runs").item()
    with TestClient(create_app(older)) as client:
        listed = client.get("/api/tables").json()["tables"]
    assert {t["name"] for t in listed} == set(BASE_TABLES) - {"table_updates"}
    for table in listed:
        assert pl.Series([table["last_updated_at"]]).str.to_datetime().item() == finished, table["name"]


def test_a_missing_warehouse_answers_503(tmp_path):
    with TestClient(create_app(tmp_path / "nothing")) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.get("/api/tables")
        assert answer.status_code == 503 and "run `newsflow run` first" in answer.json()["error"]
        assert client.get("/").status_code == 503


# --- downloads -----------------------------------------------------------------------------------

@pytest.mark.parametrize("table", [*TABLES, "table_updates"])
def test_parquet_download_equals_the_table(seeded, seeded_client, table):
    warehouse, _ = seeded
    answer = seeded_client.get(f"/api/export/{table}", params={"format": "parquet"})
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    assert answer.headers["content-disposition"] == f'attachment; filename="{table}.parquet"'
    key = list(TABLES[table].key) if table in TABLES else ["table_name"]
    assert_frame_equal(_parquet(answer).sort(key), duck(warehouse, f"SELECT * FROM {table}").sort(key))


@pytest.mark.parametrize("table", [*TABLES, "table_updates"])
def test_csv_download_parses_with_the_same_rows(dated, dated_client, table):
    answer = dated_client.get(f"/api/export/{table}", params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="{table}.csv"'
    parsed = pacsv.read_csv(io.BytesIO(answer.content))
    assert parsed.num_rows == duck(dated, f"SELECT count(*) AS n FROM {table}").item()
    assert parsed.column_names == duck(dated, f"SELECT * FROM {table} LIMIT 0").columns


def test_csv_holds_blobs_as_base64_and_lists_as_json(dated, dated_client):
    quarantine = pacsv.read_csv(io.BytesIO(dated_client.get("/api/export/quarantine?format=csv").content))
    assert [base64.b64decode(p) for p in quarantine["payload"].to_pylist()] == [PNG]
    articles = pacsv.read_csv(io.BytesIO(dated_client.get("/api/export/articles?format=csv").content))
    categories = {t: json.loads(c) for t, c in zip(articles["title"].to_pylist(), articles["categories"].to_pylist())}
    assert categories["Qatar expels Hamas leaders"] == ["Politics", "Gulf"]
    assert categories["Jordan condemns strike"] == []


def test_views_download_too(seeded, seeded_client):
    warehouse, _ = seeded
    answer = seeded_client.get("/api/export/actor_network", params={"format": "parquet"})
    assert _parquet(answer).height == duck(warehouse, "SELECT count(*) FROM actor_network").item()


def test_unknown_table_is_404_and_unknown_format_422(seeded_client):
    missing = seeded_client.get("/api/export/nope")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no table 'nope' in the warehouse; tables: articles")
    bad = seeded_client.get("/api/export/articles", params={"format": "xlsx"})
    assert bad.status_code == 422
    assert "format" in bad.json()["error"]


# --- filters -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "titles"), [
    ({"start": "2024-03-01", "end": "2024-03-15"},
     ["Egypt mediates talks", "Jordan condemns strike", "Qatar expels Hamas leaders"]),  # 23:30 on the 15th is in
    ({"end": "2024-03-14"}, ["Jordan condemns strike", "Qatar expels Hamas leaders"]),
    ({"start": "2024-03-16"}, ["Lebanon rejects proposal"]),
    ({"source": "levant.example"}, ["Jordan condemns strike", "Lebanon rejects proposal"]),
    ({"source": "gulf wire"}, ["Egypt mediates talks", "Qatar expels Hamas leaders"]),
    ({"source": "Levant Daily", "start": "2024-04-01"}, ["Lebanon rejects proposal"]),
    ({"source": "nobody.example"}, []),
    ({"start": "", "end": "", "source": ""},
     ["Egypt mediates talks", "Jordan condemns strike", "Lebanon rejects proposal", "Qatar expels Hamas leaders"]),
], ids=["range-inclusive", "until", "from", "domain", "feed-any-case", "source-and-date", "no-match", "empty-form"])
def test_articles_filters(dated_client, params, titles):
    assert _titles(dated_client.get("/api/export/articles", params=params)) == titles


def test_mentions_and_entities_are_cut_through_their_articles(dated, dated_client):
    levant = "SELECT article_id FROM articles WHERE domain = 'levant.example'"
    mentions = _parquet(dated_client.get("/api/export/entity_mentions", params={"source": "levant.example"}))
    expected = duck(dated, f"SELECT mention_id FROM entity_mentions WHERE article_id IN ({levant})")
    assert sorted(mentions["mention_id"]) == sorted(expected["mention_id"]) and expected.height > 0
    march = "SELECT article_id FROM articles WHERE published_at >= '2024-03-01' AND published_at < '2024-03-11'"
    events = _parquet(dated_client.get("/api/export/event_mentions", params={"start": "2024-03-01", "end": "2024-03-10"}))
    expected = duck(dated, f"SELECT mention_id FROM event_mentions WHERE article_id IN ({march})")
    assert sorted(events["mention_id"]) == sorted(expected["mention_id"]) and expected.height > 0
    entities = _parquet(dated_client.get("/api/export/entities", params={"source": "gulf wire"}))
    expected = duck(dated, "SELECT DISTINCT entity_id FROM entity_mentions JOIN articles USING (article_id) "
                           "WHERE source_name = 'Gulf Wire'")
    assert sorted(entities["entity_id"]) == sorted(expected["entity_id"])


def test_events_are_cut_by_their_own_date_and_by_the_source_of_their_mentions(dated, dated_client):
    in_march = _parquet(dated_client.get("/api/export/events", params={"start": "2024-03-01", "end": "2024-03-10"}))
    expected = duck(dated, "SELECT event_id FROM events WHERE event_date BETWEEN '2024-03-01' AND '2024-03-10'")
    assert sorted(in_march["event_id"]) == sorted(expected["event_id"]) and expected.height > 0
    levant = _parquet(dated_client.get("/api/export/events", params={"source": "Levant Daily", "format": "parquet"}))
    expected = duck(dated, "SELECT DISTINCT event_id FROM event_mentions JOIN articles USING (article_id) "
                           "WHERE feed_name = 'Levant Daily'")
    assert sorted(levant["event_id"]) == sorted(expected["event_id"]) and expected.height > 0


def test_filtered_downloads_name_the_filter_in_the_file_name(dated_client):
    answer = dated_client.get("/api/export/articles", params={
        "format": "csv", "start": "2024-03-01", "end": "2024-03-31", "source": "Gulf Wire"})
    assert answer.headers["content-disposition"] == \
        'attachment; filename="articles_from-2024-03-01_to-2024-03-31_source-Gulf-Wire.csv"'
    assert pacsv.read_csv(io.BytesIO(answer.content)).num_rows == 2


@pytest.mark.parametrize(("table", "params", "message"), [
    ("runs", {"source": "Gulf Wire"}, "table 'runs' cannot be filtered by source: it has no source column"),
    ("actor_network", {"start": "2024-01-01"}, "table 'actor_network' cannot be filtered by date"),
    ("articles", {"start": "March 1"}, "start must be an ISO date YYYY-MM-DD, got 'March 1'"),
    ("articles", {"end": "2024-02-30"}, "end is not a valid date"),
    ("articles", {"start": "2024-04-01", "end": "2024-03-01"}, "start (2024-04-01) is after end (2024-03-01)"),
], ids=["no-source-column", "view-without-date", "not-iso", "no-such-day", "reversed"])
def test_a_filter_a_table_cannot_take_is_400(dated_client, table, params, message):
    answer = dated_client.get(f"/api/export/{table}", params=params)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_filters_are_bound_parameters_never_sql_text():
    query, params = filtered_query("events", Filters(source="x' OR 1=1 --"), SLICING)
    assert "OR 1=1" not in query and params == ["x' OR 1=1 --"]
    assert query == ('SELECT * FROM "events" WHERE ("event_id" IN (SELECT "event_id" FROM "event_mentions" WHERE '
                     '"article_id" IN (SELECT "article_id" FROM "articles" WHERE lower(?) IN (lower("source_name"), '
                     'lower("domain"), lower("feed_name")))))')


def test_an_injection_attempt_in_a_filter_matches_nothing(dated_client):
    answer = dated_client.get("/api/export/articles", params={"source": "x' OR '1'='1"})
    assert _titles(answer) == []


# --- streaming -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A warehouse with one 400,000-row table (~80 MB as CSV), to stream in many batches."""
    warehouse = tmp_path_factory.mktemp("big")
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("CREATE TABLE big AS SELECT i AS id, repeat(chr(97 + (i % 26)::INT), 200) AS pad "
                    "FROM range(400000) t(i)")
    return warehouse


def test_a_download_is_produced_batch_by_batch(big):
    stream = Reader(big).export("big", "parquet", batch_rows=50_000)
    chunks = list(stream)
    assert len(chunks) >= 8  # one row group per batch, each handed on as soon as it is written
    assert pq.read_table(io.BytesIO(b"".join(chunks))).num_rows == 400_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(big):
    """The app on a real uvicorn server in a thread (127.0.0.1), and its reader."""
    import uvicorn

    app = create_app(big)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port, app.state.reader
    server.should_exit = True
    thread.join(30)


def _wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_connection_closes_when_the_client_goes_away(served):
    port, reader = served
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /api/export/big?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = client.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        assert _wait_until(lambda: reader.open_exports == 1)  # the client stopped reading: the stream waits
    assert _wait_until(lambda: reader.open_exports == 0), "the download's DuckDB connection stayed open"


def test_the_connection_closes_when_the_download_ends(served):
    import httpx

    port, reader = served
    answer = httpx.get(f"http://127.0.0.1:{port}/api/export/big", params={"format": "csv"}, timeout=60)
    assert pacsv.read_csv(io.BytesIO(answer.content)).num_rows == 400_000
    assert _wait_until(lambda: reader.open_exports == 0)


def test_a_download_keeps_its_snapshot_while_the_next_request_sees_the_next_one(dated, tmp_path):
    warehouse = tmp_path / "wh"
    shutil.copytree(dated, warehouse)
    reader = Reader(warehouse)
    before = reader.export("articles", "parquet", batch_rows=1)
    first = next(before)
    # Another writer commits a new snapshot while the download is open.
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute("DELETE FROM articles WHERE domain = 'levant.example'")
    with TestClient(create_app(warehouse)) as client:
        assert len(_titles(client.get("/api/export/articles"))) == 2
    assert pq.read_table(io.BytesIO(first + b"".join(before))).num_rows == 4


# --- page, docs, OpenAPI -------------------------------------------------------------------------

def test_the_page_lists_tables_downloads_and_the_latest_validation(seeded, seeded_client):
    warehouse, _ = seeded
    page = seeded_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for name in BASE_TABLES:
        assert f'id="download-{name}-parquet" href="/api/export/{name}?format=parquet"' in html
        assert f'id="download-{name}-csv" href="/api/export/{name}?format=csv"' in html
    assert 'action="/api/export/articles"' in html and 'name="source"' in html
    assert "<code>published_at</code>" in html and "TIMESTAMP WITH TIME ZONE" in html
    assert html_escape(ARTICLES.descriptions["published_at"]) in html and html_escape(ARTICLES.grain) in html
    assert html_escape(VIEWS["event_timeline"].descriptions["evidence_sentence"]) in html
    run_id, results = duck(warehouse, "SELECT run_id, (SELECT count(*) FROM validation_results v "
                                      "WHERE v.run_id = r.run_id) FROM runs r ORDER BY finished_at DESC LIMIT 1").row(0)
    assert f"Run <code>{run_id}</code>" in html and f"{results} expectations" in html
    assert 'href="/data-docs/index.html"' in html


def test_the_data_docs_are_served(seeded_client):
    docs = seeded_client.get("/data-docs/index.html")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert seeded_client.get("/data-docs/../catalog.sqlite").status_code == 404


def test_openapi_documents_the_endpoints(seeded_client):
    schema = seeded_client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/tables", "/api/export/{table}", "/api/sql", "/healthz"} <= set(paths)
    assert set(paths["/api/sql"]) == {"get", "post"}
    export = paths["/api/export/{table}"]["get"]
    assert {"application/vnd.apache.parquet", "text/csv; charset=utf-8"} <= set(export["responses"]["200"]["content"])
    assert {"200", "400", "404", "422"} <= set(export["responses"])
    assert {p["name"] for p in export["parameters"]} == {"table", "format", "start", "end", "source", "as_of", "raw"}
    for path, methods in paths.items():
        for method, operation in methods.items():
            assert all(r.get("description") for r in operation["responses"].values()), (path, method)
    assert seeded_client.get("/docs").status_code == 200


# --- the page's charts, previews and SQL results -------------------------------------------------

COUNTED = "NOT is_negated AND NOT is_hypothetical"  # the charts leave these out, as the views do
SOURCE = "coalesce(source_name, domain, feed_name)"


def _chart(client, name: str, **params) -> list[tuple]:
    answer = client.get("/api/charts", params=params)
    assert answer.status_code == 200, answer.text
    return [tuple(row) for row in answer.json()["charts"][name]["rows"]]


def _rows(client, chart: str, keys: list, **params) -> list[dict]:
    answer = client.get(f"/api/charts/{chart}/rows", params={"key": [str(k) for k in keys], **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [dict(zip(body["columns"], row)) for row in body["rows"]]


def test_the_event_charts_count_the_confident_events_as_the_views_do(dated, dated_client):
    per_day = [(day, quad, events) for day, quad, _, events in _chart(dated_client, "events_per_day")]
    assert per_day == duck(dated, "SELECT CAST(event_date AS VARCHAR), quad_class, sum(events)::BIGINT "
                                  "FROM daily_event_counts WHERE event_date IS NOT NULL GROUP BY ALL ORDER BY ALL").rows()
    pairs = _chart(dated_client, "actor_pairs")
    assert pairs == duck(dated, "SELECT actor1, actor2, events FROM actor_network "
                                "ORDER BY events DESC, actor1, actor2 LIMIT 20").rows()


def test_every_coded_event_counts_with_events_all(dated, dated_client):
    per_day = _chart(dated_client, "events_per_day", events="all")
    expected = duck(dated, f"SELECT CAST(event_date AS VARCHAR), quad_class, count(*) FROM events "
                           f"WHERE {COUNTED} AND event_date IS NOT NULL GROUP BY ALL ORDER BY ALL").rows()
    assert [(day, quad, events) for day, quad, _, events in per_day] == expected and expected
    for day, quad, name, events in per_day:  # a bar opens exactly the events it counts
        rows = _rows(dated_client, "events_per_day", [day, quad], events="all")
        assert len(rows) == events and {r["event_date"] for r in rows} == {day}
        assert name == duck(dated, "SELECT DISTINCT quad_class_name FROM cameo_codes WHERE quad_class = ?", [quad]).item()
    assert sum(events for *_, events in _chart(dated_client, "actor_pairs", events="all")) == duck(
        dated, f"SELECT count(*) FROM events WHERE {COUNTED} AND coalesce(actor1_code, actor1_name) IS NOT NULL "
               "AND coalesce(actor2_code, actor2_name) IS NOT NULL").item()


def test_the_articles_chart_follows_the_date_and_source_filters(dated, dated_client):
    everything = _chart(dated_client, "articles_per_source")
    assert everything == duck(dated, f"SELECT CAST(CAST(published_at AS DATE) AS VARCHAR), {SOURCE}, count(*) "
                                     "FROM articles GROUP BY ALL ORDER BY ALL").rows()
    assert {source for _, source, _ in everything} == {"Gulf Wire", "Levant Daily"}
    assert _chart(dated_client, "articles_per_source", source="levant.example", start="2024-04-01") == [
        ("2024-04-02", "Levant Daily", 1)]
    (rows,) = [_rows(dated_client, "articles_per_source", ["2024-04-02", "Levant Daily"])]
    assert [r["title"] for r in rows] == ["Lebanon rejects proposal"]
    # every event chart is cut the same way: events of March 1-10 only
    march = _chart(dated_client, "events_per_day", events="all", start="2024-03-01", end="2024-03-10")
    assert all("2024-03-01" <= day <= "2024-03-10" for day, *_ in march)
    assert sum(n for *_, n in march) == duck(dated, f"SELECT count(*) FROM events WHERE {COUNTED} "
                                                    "AND event_date BETWEEN '2024-03-01' AND '2024-03-10'").item()


def test_the_top_entities_are_the_most_mentioned_and_take_a_label(dated, dated_client):
    top = _chart(dated_client, "top_entities")
    assert [(i, n) for i, _, _, n in top] == duck(
        dated, "SELECT entity_id, mention_count FROM entities ORDER BY mention_count DESC, name, entity_id LIMIT 15").rows()
    entity_id, _, label, mentions = top[0]
    assert len(_rows(dated_client, "top_entities", [entity_id])) == mentions
    assert {row_label for _, _, row_label, _ in _chart(dated_client, "top_entities", label=label)} == {label}
    labels = [tuple(row) for row in dated_client.get("/api/charts").json()["entity_labels"]["rows"]]
    assert labels == duck(dated, "SELECT e.label, count(*) FROM entity_mentions JOIN entities AS e USING (entity_id) "
                                 "GROUP BY ALL ORDER BY 2 DESC, 1").rows()


@pytest.mark.parametrize(("url", "status", "message"), [
    ("/api/charts/nope/rows?key=x", 404, "no chart 'nope'; charts: events_per_day, actor_pairs"),
    ("/api/charts/actor_pairs/rows?key=x", 400, "chart 'actor_pairs' takes 2 keys (actor1, actor2), got 1"),
    ("/api/charts?events=some", 422, "events"),
    ("/api/charts?start=2024-04-01&end=2024-03-01", 400, "start (2024-04-01) is after end (2024-03-01)"),
], ids=["unknown-chart", "keys", "events", "dates"])
def test_a_bad_chart_request_says_why(dated_client, url, status, message):
    answer = dated_client.get(url)
    assert answer.status_code == status and message in answer.json()["error"]


def _prefilled_query(html: str) -> str:
    return html_unescape(html.split('<textarea name="sql"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])


def test_the_prefilled_query_shows_a_source_and_title_on_every_warehouse(seeded_client, dated_client):
    for client in (seeded_client, dated_client):
        answer = client.get("/api/sql", params={"sql": _prefilled_query(client.get("/").text)}).json()
        assert answer["rows"] and answer["columns"][:3] == ["published_at", "source", "title"]
        assert all(row[1] and row[2] for row in answer["rows"]), answer["rows"]


@pytest.mark.parametrize("query", [
    "select title, categories, published_at, word_count from articles order by title",
    "select title, categories, published_at, word_count from articles order by title;  -- the titles",
])
def test_a_sql_result_downloads_as_parquet_and_csv(dated_client, query):
    shown = dated_client.get("/api/sql", params={"sql": query}).json()
    parquet = dated_client.get("/api/sql/export", params={"sql": query, "format": "parquet"})
    assert parquet.headers["content-disposition"] == 'attachment; filename="query.parquet"'
    assert _parquet(parquet).columns == shown["columns"] and _parquet(parquet)["title"].to_list() == [
        row[0] for row in shown["rows"]] and len(shown["rows"]) == 4
    csv = dated_client.get("/api/sql/export", params={"sql": query, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
    parsed = pacsv.read_csv(io.BytesIO(csv.content))
    assert parsed["title"].to_pylist() == [row[0] for row in shown["rows"]]
    assert [json.loads(c) for c in parsed["categories"].to_pylist()] == [row[1] for row in shown["rows"]]


def test_a_sql_download_keeps_the_guards_and_the_row_limit(dated):
    with TestClient(create_app(dated, sql_row_limit=3)) as client:
        assert _parquet(client.get("/api/sql/export", params={"sql": "select * from articles"})).height == 3
        for query, message in [("delete from articles", "only SELECT queries are allowed"),
                               ("explain select 1", "a download takes a SELECT query"),
                               ("select * from read_csv('/etc/passwd')", "may not read or write files"),
                               ("select 1; select 2", "exactly one SQL statement")]:
            answer = client.get("/api/sql/export", params={"sql": query, "format": "csv"})
            assert answer.status_code == 400 and message in answer.json()["error"], (query, answer.text)
        assert client.app.state.reader.open_exports == 0


def test_the_page_loads_its_charting_library_and_script_from_the_server(seeded_client):
    html = seeded_client.get("/").text
    assert '<script src="/assets/plotly.min.js" defer></script>' in html
    assert '<script src="/static/page.js" defer></script>' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    plotly_js = seeded_client.get("/assets/plotly.min.js")
    assert plotly_js.status_code == 200 and plotly_js.headers["content-type"].startswith("text/javascript")
    assert plotly_js.text.startswith("/**\n* plotly.js v")
    script = seeded_client.get("/static/page.js").text
    assert "innerHTML" not in script.replace("innerHTML = hit.title", "").replace("innerHTML = hit.snippet", "")
    for name in ("events_per_day", "actor_pairs", "top_entities", "articles_per_source"):
        assert f'id="chart-{name}"' in html
    for name in BASE_TABLES:
        assert f'id="preview-{name}" data-relation="{name}"' in html


# --- token ---------------------------------------------------------------------------------------

def test_a_token_guards_every_route_but_healthz(seeded):
    warehouse, _ = seeded
    with TestClient(create_app(warehouse, token="s3cret")) as client:
        assert client.get("/healthz").status_code == 200
        for path in ["/", "/api/tables", "/api/export/runs", "/api/sql?sql=select+1", "/openapi.json", "/docs",
                     "/data-docs/index.html", "/api/charts", "/api/charts/actor_pairs/rows?key=a&key=b",
                     "/api/sql/export?sql=select+1", "/assets/plotly.min.js", "/static/page.js"]:
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/api/tables", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/tables", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.post("/api/sql", json={"sql": "select 1"}).status_code == 401
        # ?token= opens the page and leaves a cookie that its links then carry
        page = client.get("/?token=s3cret")
        assert page.status_code == 200 and "newsflow_token=s3cret" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        assert client.get("/api/export/runs").status_code == 200
        client.cookies.clear()
        assert client.get("/api/export/runs").status_code == 401


def test_the_web_command_refuses_a_public_host_without_a_token(monkeypatch):
    monkeypatch.delenv("NEWSFLOW_WEB_TOKEN", raising=False)
    result = newsflow("web", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without a token" in result.output


def test_the_web_command_takes_its_token_from_the_environment(seeded, monkeypatch):
    import uvicorn

    warehouse, _ = seeded
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    monkeypatch.setenv("NEWSFLOW_WEB_TOKEN", "from-env")
    result = newsflow("web", "--host", "0.0.0.0", "--port", "8123", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    assert (started["host"], started["port"]) == ("0.0.0.0", 8123)
    with TestClient(started["app"]) as client:
        assert client.get("/api/tables").status_code == 401
        assert client.get("/api/tables", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_the_web_command_serves_loopback_by_default(seeded, monkeypatch):
    import uvicorn

    warehouse, _ = seeded
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    monkeypatch.delenv("NEWSFLOW_WEB_TOKEN", raising=False)
    assert newsflow("web", "--warehouse", str(warehouse)).exit_code == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 8000)
