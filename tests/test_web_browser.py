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

from tests.conftest import ROOT
from tests.test_web import duck

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / "test-artifacts" / "web-page.png"


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


def test_the_articles_parquet_button_downloads_the_table(web, tmp_path, monkeypatch):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium package")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build
    from playwright.sync_api import sync_playwright

    base, warehouse = web
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
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
        finally:
            browser.close()
    downloaded = pl.from_arrow(pq.read_table(io.BytesIO(saved.read_bytes())))
    assert_frame_equal(downloaded.sort("article_id"), duck(warehouse, "SELECT * FROM articles").sort("article_id"))
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_api_docs_render_with_the_network_off(web, monkeypatch):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium package")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    base, _ = web
    elsewhere: list[str] = []

    def only_the_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:  # the network is "off": anything not from newsflow's own server fails
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_server)
            page.goto(base + "/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            assert "newsflow" in page.locator(".swagger-ui .info .title").inner_text()
            assert page.locator(".swagger-ui .opblock").count() >= 5  # the API's operations are listed
        finally:
            browser.close()
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
    assert {p.name for p in tmp_path.iterdir()} == {"articles.parquet", "entity_mentions_source-Israel365-News.csv"}
    # The filtered download matches rows of the seeded warehouse, not only the header.
    assert len((tmp_path / "entity_mentions_source-Israel365-News.csv").read_text().splitlines()) > 1
