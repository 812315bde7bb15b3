"""Feeds and pages served over HTTP from 127.0.0.1: conditional requests, retries, failures, updates."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import newsflow
from tests.test_end_to_end import sql

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Gulf Desk</title><link>{base}/news/</link>
<item><title>Qatar tells Hamas leaders to leave Doha</title><link>/news/qatar-hamas?utm_source=rss</link>
<guid>qatar-hamas</guid><pubDate>Sat, 09 Nov 2024 14:30:00 +0200</pubDate><dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">By Jane Roe</dc:creator>
<content:encoded><![CDATA[<p>{body}</p><p>The post <a href="{base}/news/qatar-hamas">Qatar tells Hamas leaders to leave Doha</a> appeared first on <a href="{base}">Gulf Desk Daily</a>.</p>]]></content:encoded></item>
<item><title>Egypt keeps mediating</title><link>{base}/news/egypt</link><guid>egypt</guid>
<pubDate>Sun, 10 Nov 2024 08:00:00 GMT</pubDate><description>&lt;p&gt;Egypt said on Sunday it would continue to mediate between Israel and Hamas in Cairo.&lt;/p&gt;</description></item>
<item><title>Briefly: talks to resume in Cairo</title><link>{base}/news/brief</link></item>
</channel></rss>"""
BODY_V1 = "Qatar has told Hamas leaders in Doha that they must leave, U.S. officials said on Saturday."
BODY_V2 = "Qatar has told Hamas leaders in Doha that they must leave within a week, Turkey said on Sunday."
PAGE = """<!DOCTYPE html><html lang="en"><head><title>Turkey weighs hosting Hamas leaders | Anatolia Wire</title>
<link rel="canonical" href="{base}/story/turkey-hamas"><meta property="og:site_name" content="Anatolia Wire">
<meta name="author" content="Ali Veli"><meta property="article:published_time" content="2024-11-11T09:00:00+03:00">
</head><body><nav>Home | World | Sport</nav><article><h1>Turkey weighs hosting Hamas leaders</h1>
<p>Turkey is considering whether to host Hamas leaders expelled from Qatar, officials in Ankara said on Monday.</p>
<p>The United States has said it does not want its allies to host the group, which it lists as a terrorist organisation.</p>
<p>Officials in Ankara gave no timeline for a decision and said talks with Doha would continue this week.</p>
</article><footer>Copyright Anatolia Wire</footer></body></html>"""
ERROR_PAGE = "<!DOCTYPE html><html><head><title>503 Site under maintenance</title></head><body>Back soon</body></html>"


class Site:
    """What the local server serves and what it was asked."""

    def __init__(self):
        self.body = BODY_V1
        self.etag = '"v1"'
        self.requests: list[tuple[str, str | None]] = []

    def respond(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
        path = handler.path
        self.requests.append((path, handler.headers.get("If-None-Match")))
        base = f"http://{handler.headers['Host']}"
        if path == "/news/feed.xml":
            if handler.headers.get("If-None-Match") == self.etag:
                return 304, {"ETag": self.etag}, b""
            body = FEED.format(base=base, body=self.body).encode()
            return 200, {"Content-Type": "application/rss+xml", "ETag": self.etag}, body
        if path == "/story/turkey-hamas":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.format(base=base).encode()
        if path == "/broken.xml":
            return 500, {}, b"Internal Server Error"
        if path == "/slow.xml":
            time.sleep(1.5)
            return 200, {"Content-Type": "application/rss+xml"}, FEED.format(base=base, body=self.body).encode()
        if path == "/maintenance/feed/":
            return 200, {"Content-Type": "text/html"}, ERROR_PAGE.encode()
        return 404, {}, b"Not Found"


@pytest.fixture()
def site():
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            status, headers, body = state.respond(self)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # /slow.xml's client has gone when it answers: the broken pipe is expected, not worth a traceback
    server.handle_error = lambda request, client_address: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_feeds_and_pages_over_http_across_runs(prefect_server, site, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_HTTP_TIMEOUT", "0.5")
    monkeypatch.setenv("NEWSFLOW_HTTP_RETRIES", "1")
    monkeypatch.setenv("NEWSFLOW_HTTP_RETRY_DELAY", "0.1")
    sources = tmp_path / "sources.txt"
    sources.write_text("\n".join([
        "# feeds and pages of the local test site",
        f"{site.base}/news/feed.xml",
        f"{site.base}/story/turkey-hamas",
        f"{site.base}/broken.xml",
        f"{site.base}/slow.xml   # times out",
        f"{site.base}/gone.html",
        f"{site.base}/maintenance/feed/",
    ]))
    warehouse = str(tmp_path / "warehouse")

    first = newsflow("run", "--sources", str(sources), "--warehouse", warehouse)
    assert first.exit_code == 0, first.output
    # each URL that gave no document is one line of the summary, with its reason; no tracebacks
    assert "Traceback" not in first.output
    assert f"  {site.base}/broken.xml: fetch failed after 2 attempts: HTTP 500 Internal Server Error" in first.stdout
    assert f"  {site.base}/slow.xml: fetch failed after 2 attempts: timed out" in first.stdout
    assert f"  {site.base}/gone.html: HTTP 404 Not Found" in first.stdout
    articles = {r["title"]: r for r in sql(warehouse, "select * from articles")}
    assert set(articles) == {"Qatar tells Hamas leaders to leave Doha", "Egypt keeps mediating",
                             "Turkey weighs hosting Hamas leaders", "Briefly: talks to resume in Cairo"}
    assert articles["Briefly: talks to resume in Cairo"]["text"] == ""  # no body, still an article
    qatar = articles["Qatar tells Hamas leaders to leave Doha"]
    assert qatar["url"] == f"{site.base}/news/qatar-hamas"  # relative link resolved, utm_ dropped
    assert qatar["source_name"] == "Gulf Desk Daily" and qatar["feed_name"] == "Gulf Desk"
    assert qatar["author"] == "Jane Roe"
    assert qatar["published_at"].startswith("2024-11-09T12:30:00")
    assert qatar["text"] == BODY_V1
    assert articles["Egypt keeps mediating"]["text"].startswith("Egypt said on Sunday")
    page = articles["Turkey weighs hosting Hamas leaders"]
    assert page["url"] == f"{site.base}/story/turkey-hamas"
    assert page["source_name"] == "Anatolia Wire" and page["author"] == "Ali Veli"
    assert "Home | World" not in page["text"] and "expelled from Qatar" in page["text"]

    reasons = {r["source_uri"].removeprefix(site.base): r["reason"]
               for r in sql(warehouse, "select source_uri, reason from quarantine")}
    assert reasons["/broken.xml"].startswith("fetch failed after 2 attempts: HTTP 500")
    assert "timed out" in reasons["/slow.xml"]
    assert reasons["/gone.html"].startswith("HTTP 404")
    assert "expected a feed" in reasons["/maintenance/feed/"]
    assert site.requests.count(("/broken.xml", None)) == 2
    mentions_before = sql(warehouse, "select mention_id, text from entity_mentions where article_id = "
                                     f"'{qatar['article_id']}' order by all")

    second = newsflow("run", "--sources", str(sources), "--warehouse", warehouse)
    assert second.exit_code == 0, second.output
    assert ("/news/feed.xml", '"v1"') in site.requests
    assert "URLs not modified (304)        1" in second.stdout
    assert "articles new                   0" in second.stdout
    assert sql(warehouse, "select status from fetch_state where url like '%/news/feed.xml'") == [{"status": 304}]

    site.body, site.etag = BODY_V2, '"v2"'
    third = newsflow("run", f"{site.base}/news/feed.xml", "--warehouse", warehouse)
    assert third.exit_code == 0, third.output
    assert "articles updated               1" in third.stdout
    updated = sql(warehouse, f"select text, updated_at, ingested_at from articles "
                             f"where article_id = '{qatar['article_id']}'")[0]
    assert updated["text"] == BODY_V2 and updated["updated_at"] > updated["ingested_at"]
    mentions_after = sql(warehouse, "select mention_id, text from entity_mentions where article_id = "
                                    f"'{qatar['article_id']}' order by all")
    assert mentions_after != mentions_before
    assert "Turkey" in {m["text"] for m in mentions_after}
    assert "U.S." not in {m["text"] for m in mentions_after}
    assert len(sql(warehouse, "select * from articles")) == 4
