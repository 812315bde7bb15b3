"""End to end in a real browser: `newsflow web` as a subprocess on 127.0.0.1, the page in
headless Chromium (Debian's, driven by Playwright), the articles Parquet download read back."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import ROOT, newsflow
from tests.test_web import duck

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / "test-artifacts" / "web-page.png"
DESKTOP_SCREENSHOT = ROOT / "test-artifacts" / "web-charts-desktop.png"
PHONE_SCREENSHOT = ROOT / "test-artifacts" / "web-phone.png"
WIKINEWS = ROOT / "samples" / "wikinews" / "wikinews_2019.csv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_health(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"newsflow web exited with {server.returncode}:\n{server.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


@contextlib.contextmanager
def serving(warehouse: Path, token: str | None = None):
    """`newsflow web` on a free port of 127.0.0.1 over `warehouse`, as a real process; its base URL."""
    port = _free_port()
    newsflow = Path(sys.executable).parent / "newsflow"
    env = {k: v for k, v in os.environ.items() if k != "NEWSFLOW_WEB_TOKEN"}
    server = subprocess.Popen([str(newsflow), "web", "--port", str(port), "--warehouse", str(warehouse)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env | ({"NEWSFLOW_WEB_TOKEN": token} if token else {}))
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(30)


@pytest.fixture
def web(seeded):
    warehouse, _ = seeded
    with serving(warehouse) as base:
        yield base, warehouse


@contextlib.contextmanager
def launched_chromium(monkeypatch):
    """Debian's headless Chromium, driven by Playwright (which never downloads a browser of its own)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium package")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_the_articles_parquet_button_downloads_the_table(web, tmp_path, monkeypatch):
    base, warehouse = web
    with launched_chromium(monkeypatch) as browser:
        page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        assert page.title() == "newsflow warehouse"
        assert page.locator("#table-articles .rows").inner_text() == "1"
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        with page.expect_download() as started:
            page.click("#download-articles-parquet")
        download = started.value
        assert download.failure() is None
        assert download.suggested_filename == "articles.parquet"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
    downloaded = pl.from_arrow(pq.read_table(io.BytesIO(saved.read_bytes())))
    assert_frame_equal(downloaded.sort("article_id"), duck(warehouse, "SELECT * FROM articles").sort("article_id"))
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_api_docs_render_with_the_network_off(web, monkeypatch):
    base, _ = web
    elsewhere: list[str] = []

    def only_the_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:  # the network is "off": anything not from newsflow's own server fails
            elsewhere.append(route.request.url)
            route.abort()

    with launched_chromium(monkeypatch) as browser:
        page = browser.new_page()
        page.route("**/*", only_the_server)
        page.goto(base + "/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        assert "newsflow" in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".swagger-ui .opblock").count() >= 5  # the API's operations are listed
    assert elsewhere == []


def _readme_curl_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Serve, query and download\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("curl ")]


def test_the_readme_curl_examples_work(seeded, tmp_path):
    """Every curl line of the README's 'Serve, query and download' runs as written (on a free port)."""
    warehouse, _ = seeded
    lines = _readme_curl_lines()
    assert len(lines) >= 6
    token = "readme-token"
    with serving(warehouse) as open_base, serving(warehouse, token=token) as guarded_base:
        for line in lines:
            base = guarded_base if "NEWSFLOW_WEB_TOKEN" in line else open_base
            before = set(tmp_path.iterdir())
            done = subprocess.run(["bash", "-c", line.replace("http://127.0.0.1:8000", base)], cwd=tmp_path,
                                  env={**os.environ, "NEWSFLOW_WEB_TOKEN": token}, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, (line, done.stderr)
            if " -OJ " in line:
                (saved,) = set(tmp_path.iterdir()) - before
                assert saved.stat().st_size > 0 and saved.suffix in {".parquet", ".csv"}, line
            else:
                answer = json.loads(done.stdout)
                assert "error" not in answer, (line, answer)
    assert {p.name for p in tmp_path.iterdir()} == {"articles.parquet", "entity_mentions_source-Israel365-News.csv",
                                                    "query.csv"}
    # The filtered download matches rows of the seeded warehouse, not only the header.
    assert len((tmp_path / "entity_mentions_source-Israel365-News.csv").read_text().splitlines()) > 1


# --- the analyst's page: charts, tables in the page, a phone --------------------------------------

@pytest.fixture(scope="module")
def wikinews(prefect_server, tmp_path_factory):
    """A warehouse after a real run on the first 12 Wikinews articles of the shipped sample (no
    source_name: they are known by their domain), served by `newsflow web`."""
    inputs = tmp_path_factory.mktemp("wikinews-inputs")
    pl.read_csv(WIKINEWS).head(12).write_csv(inputs / "wikinews.csv")
    warehouse = tmp_path_factory.mktemp("wikinews") / "warehouse"
    result = newsflow("run", str(inputs), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    with serving(warehouse) as base:
        yield base, warehouse


@contextlib.contextmanager
def offline_browser(base: str, monkeypatch):
    """Chromium whose pages reach only `base` (every other request is aborted and listed)."""
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_server(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def new_page(**options):
        page = browser.new_page(**options)
        page.route("**/*", only_the_server)
        page.on("pageerror", lambda err: errors.append(str(err)))
        return page

    with launched_chromium(monkeypatch) as browser:
        yield new_page
    assert elsewhere == [], "requests outside the server"
    assert errors == [], "script errors in the page"


def _charts_loaded(page, times: int) -> None:
    page.wait_for_selector(f'body[data-charts-loaded="{times}"]', timeout=60_000)


def _marks(page) -> dict[str, int]:
    """The marks each chart drew: plotly's bar rectangles and the matrix's squares, from the DOM."""
    return {"events_per_day": page.locator("#chart-events_per_day .barlayer .point").count(),
            "actor_pairs": page.locator("#chart-actor_pairs .scatterlayer .point").count(),
            "top_entities": page.locator("#chart-top_entities .barlayer .point").count(),
            "articles_per_source": page.locator("#chart-articles_per_source .barlayer .point").count()}


def _drawn_total(page, chart: str) -> int:
    """The sum of the values the chart's traces draw (bar heights or lengths, the matrix's counts)."""
    return page.evaluate("""name => document.getElementById("chart-" + name).data.reduce((sum, trace) =>
        sum + (trace.type === "scatter" ? trace.text.map(Number) : (trace.orientation === "h" ? trace.x : trace.y))
              .reduce((a, b) => a + b, 0), 0)""", chart)


def _expected(warehouse: Path, events: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per chart: how many marks it should draw and what they add up to, counted in SQL."""
    where = "NOT is_negated AND NOT is_hypothetical" + (
        " AND event_id IN (SELECT event_id FROM confident_events)" if events == "confident" else "")
    per_day = duck(warehouse, f"SELECT count(DISTINCT (event_date, quad_class)) AS marks, count(*) AS total "
                              f"FROM events WHERE {where} AND event_date IS NOT NULL").row(0)
    pairs = duck(warehouse, f"SELECT count(*) AS marks, coalesce(sum(n), 0) AS total FROM (SELECT count(*) AS n "
                            f"FROM events WHERE {where} AND coalesce(actor1_code, actor1_name) IS NOT NULL "
                            "AND coalesce(actor2_code, actor2_name) IS NOT NULL GROUP BY coalesce(actor1_code, "
                            "actor1_name), coalesce(actor2_code, actor2_name) ORDER BY n DESC LIMIT 20)").row(0)
    entities = duck(warehouse, "SELECT count(*), sum(mention_count) FROM (SELECT mention_count FROM entities "
                               "ORDER BY mention_count DESC LIMIT 15)").row(0)
    sources = duck(warehouse, "SELECT count(DISTINCT (CAST(published_at AS DATE), coalesce(source_name, domain, "
                              "feed_name))), count(published_at) FROM articles").row(0)
    names = ("events_per_day", "actor_pairs", "top_entities", "articles_per_source")
    rows = (per_day, pairs, entities, sources)
    return {n: r[0] for n, r in zip(names, rows)}, {n: r[1] for n, r in zip(names, rows)}


def test_each_chart_draws_one_mark_per_sql_count_and_opens_its_rows(wikinews, monkeypatch):
    base, warehouse = wikinews
    with offline_browser(base, monkeypatch) as new_page:
        page = new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        _charts_loaded(page, 1)  # confident events by default
        marks, totals = _expected(warehouse, "confident")
        assert _marks(page) == marks
        assert {name: _drawn_total(page, name) for name in marks} == totals
        page.select_option("#page-filters select[name=events]", "all")
        page.click("#page-filters button[type=submit]")
        _charts_loaded(page, 2)
        marks, totals = _expected(warehouse, "all")
        assert _marks(page) == marks and min(marks.values()) > 0
        assert {name: _drawn_total(page, name) for name in marks} == totals
        # A square of the actor matrix opens its events in the page, as a table.
        square = page.locator("#chart-actor_pairs .scatterlayer .point").first
        box = square.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#chart-rows table.data")
        pair_events = page.evaluate("""() => { const t = document.getElementById("chart-actor_pairs").data[0];
            return Number(t.text[0]); }""")
        assert page.locator("#chart-rows table.data tbody tr").count() == pair_events
        # The date filter cuts the charts: articles of 2019-01-04 .. 2019-01-06 only.
        page.fill("#page-filters input[name=start]", "2019-01-04")
        page.fill("#page-filters input[name=end]", "2019-01-06")
        page.click("#page-filters button[type=submit]")
        _charts_loaded(page, 3)
        assert _drawn_total(page, "articles_per_source") == duck(
            warehouse, "SELECT count(*) FROM articles WHERE published_at >= '2019-01-04' "
                       "AND published_at < '2019-01-07'").item() > 0
        # A search result's links open as tables under the result, not as raw JSON.
        page.fill("#search-form input[name=q]", "Magnitogorsk")
        page.click("#search-form button[type=submit]")
        page.click("#hit-1 a.in-page >> text=entities")
        page.wait_for_selector("#hit-1 .hit-rows table.data")
        assert page.url == base + "/"
        assert "· score 100 ·" in page.locator("#hit-1").inner_text()  # out of 100 for the best, not raw BM25
        # No article holds every word: those holding most of them, and the page says so.
        page.fill("#search-form input[name=q]", "Magnitogorsk zeppelin")
        page.click("#search-form button[type=submit]")
        page.wait_for_selector("#search-results >> text=no article holds every word")
        assert "Magnitogorsk" in page.locator("#hit-1 .title").inner_text()
        page.screenshot(path=str(DESKTOP_SCREENSHOT), full_page=True)
    assert DESKTOP_SCREENSHOT.stat().st_size > 10_000


def test_nothing_is_wider_than_a_phone_with_every_section_open(wikinews, monkeypatch):
    base, _ = wikinews
    with offline_browser(base, monkeypatch) as new_page:
        page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page.goto(base + "/")
        _charts_loaded(page, 1)
        page.click("#preview-articles")
        page.wait_for_selector("#preview table.data")
        assert page.locator("#preview table.data tbody tr").count() == 12
        page.click("#sql-form button[type=submit]")
        page.wait_for_selector("#sql-result table.data")
        sources = page.locator("#sql-result table.data tbody tr td:nth-child(2)").all_inner_texts()
        assert sources and set(sources) == {"en.wikinews.org"}  # Wikinews rows have no source_name
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        page.set_viewport_size({"width": 390, "height": 844})  # let the page settle after opening everything
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate("document.body.scrollWidth") <= 390
        for button in ("#sql-download-csv", "#sql-download-parquet", "#page-filters button[type=submit]",
                       "#download-articles-parquet"):
            page.locator(button).scroll_into_view_if_needed()
            box = page.locator(button).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, button
        page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)
    assert PHONE_SCREENSHOT.stat().st_size > 10_000


def test_a_sql_result_downloads_from_the_page(wikinews, monkeypatch, tmp_path):
    base, warehouse = wikinews
    with offline_browser(base, monkeypatch) as new_page:
        page = new_page(accept_downloads=True)
        page.goto(base + "/")
        page.fill("#sql-form textarea", "select article_id, title from articles order by article_id")
        page.click("#sql-form button[type=submit]")
        page.wait_for_selector("#sql-result table.data")
        with page.expect_download() as started:
            page.click("#sql-download-parquet")
        saved = tmp_path / started.value.suggested_filename
        started.value.save_as(saved)
    assert saved.name == "query.parquet"
    assert_frame_equal(pl.read_parquet(saved), duck(warehouse, "SELECT article_id, title FROM articles ORDER BY article_id"))

