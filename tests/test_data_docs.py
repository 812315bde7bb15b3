"""Data Docs offline: two real runs into one warehouse, then the docs in headless Chromium (Debian's,
driven by Playwright) with every request outside the server refused: served by `newsflow web`
under /data-docs/, and opened from the file system."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.data_docs import offline_page
from tests.conftest import ROOT, SEEDS, newsflow
from tests.test_web_browser import launched_chromium, serving

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

ARTIFACTS = ROOT / "test-artifacts"
SUITES = {"articles", "entities", "entity_mentions", "event_mentions", "events", "quarantine"}
INDEX_ROWS = "#section-1-content-block-2-1-body-table tbody tr"  # GE's validation results table

SECOND_ARTICLE = """Germany and France sign energy pact in Berlin
Germany and France signed an agreement in Berlin on Tuesday to share electricity during the winter.
Chancellor Olaf Scholz met President Emmanuel Macron, who praised the deal. Officials in Paris said
the pact would lower prices for households.
"""


@pytest.fixture(scope="module")
def two_runs(prefect_server, tmp_path_factory):
    """A warehouse after two real runs (seeds/, then one new article): its folder."""
    folder = tmp_path_factory.mktemp("data-docs")
    warehouse, second = folder / "warehouse", folder / "second"
    second.mkdir()
    (second / "energy-pact.txt").write_text(SECOND_ARTICLE)
    for inputs in (SEEDS, second):
        done = newsflow("run", str(inputs), "--warehouse", str(warehouse))
        assert done.exit_code == 0, done.output
    return warehouse


def _validation_pages(warehouse: Path) -> list[str]:
    docs = warehouse / "docs"
    return sorted(str(p.relative_to(docs)) for p in (docs / "validations").rglob("*.html"))


@pytest.fixture
def chromium(monkeypatch):
    with launched_chromium(monkeypatch) as browser:
        yield browser


class _Offline:
    """A page whose requests outside `allowed` are refused (the network is "off"), recording those
    and every request that failed or answered an error."""

    def __init__(self, browser, allowed: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.elsewhere: list[str] = []
        self.failed: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: self.failed.append(f"{r.url} ({r.status})") if r.status >= 400 else None)
        self.allowed = allowed

    def _route(self, route):
        if route.request.url.startswith(self.allowed):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def settled(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate("document.fonts.ready.then(() => true)")


def _index_rows(page) -> list[dict]:
    return page.eval_on_selector_all(INDEX_ROWS, """rows => rows.map(row => {
        const cells = [...row.querySelectorAll('td')].map(td => td.innerText.trim());
        const icon = row.querySelector('td i');
        const box = icon ? icon.getBoundingClientRect() : {width: 0, height: 0};
        return {run_name: cells[2], suite: cells[5], href: row.dataset.href,
                icon: icon ? icon.className : '', width: box.width, height: box.height};
    })""")


def _status_icons(page) -> list[dict]:
    """Every pass/fail icon of a validation page's Status cells (GE: fa-check-circle passed, fa-times
    failed, fa-exclamation-triangle raised): its class, size and glyph."""
    return page.eval_on_selector_all(
        "td i.fa-check-circle, td i.fa-times, td i.fa-exclamation-triangle", """icons => icons.map(i => {
        const box = i.getBoundingClientRect();
        return {cls: i.className, width: box.width, height: box.height,
                glyph: getComputedStyle(i, '::before').content, font: getComputedStyle(i).fontFamily};
    })""")


def _assert_styled(page) -> None:
    # Bootstrap's tab bar border and its system font stack, neither of which the browser has alone.
    assert page.eval_on_selector(".nav-tabs", "e => getComputedStyle(e).borderBottomStyle") == "solid"
    assert "BlinkMacSystemFont" in page.evaluate("getComputedStyle(document.body).fontFamily")


def test_the_data_docs_work_served_with_the_network_off(two_runs, chromium):
    warehouse = two_runs
    pages = _validation_pages(warehouse)
    assert len(pages) == 2 * len(SUITES)  # each run validated every table once (one chunk)
    with serving(warehouse) as base:
        offline = _Offline(chromium, base)
        page = offline.page
        offline.settled(base + "/data-docs/index.html")
        _assert_styled(page)
        rows = _index_rows(page)
        # Every validation of both runs is listed, newest first, each row opening its page.
        assert sorted(r["href"] for r in rows) == pages
        assert len({r["run_name"] for r in rows}) == 2
        assert {r["suite"] for r in rows} == SUITES
        assert all("fa-check-circle" in r["icon"] and r["width"] > 0 and r["height"] > 0 for r in rows), rows
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "data-docs-index.png"), full_page=True)

        # The search box of the table stand-in filters the rows.
        page.fill("#section-1-content-block-2-1-body-table-toolbar input[type=search]", "event_mentions")
        assert {r["suite"] for r in _index_rows(page)} == {"event_mentions"}
        page.click("text=Clear Filters")
        assert len(_index_rows(page)) == len(pages)

        # A row opens its validation page, whose Status column shows each expectation's icon.
        articles = next(r for r in rows if r["suite"] == "articles")
        page.click(f'{INDEX_ROWS}[data-href="{articles["href"]}"] td:nth-child(2)')
        page.wait_for_url(f"**/data-docs/{articles['href']}")
        page.wait_for_load_state("networkidle")
        page.evaluate("document.fonts.ready.then(() => true)")
        assert page.eval_on_selector(".card", "e => getComputedStyle(e).borderTopStyle") == "solid"  # Bootstrap's card
        statistics = page.locator("table", has_text="Evaluated Expectations").inner_text()
        evaluated = int(re.search(r"Evaluated Expectations\s+(\d+)", statistics)[1])
        icons = _status_icons(page)
        assert len(icons) == evaluated > 0
        # Drawn by Font Awesome's font: a glyph with a size, not an empty <i>.
        assert all(i["width"] > 0 and i["height"] > 0 and i["glyph"] not in ("none", "normal", '""')
                   and "Font Awesome" in i["font"] for i in icons), icons[:3]
        assert page.evaluate("""document.fonts.check('900 16px "Font Awesome 6 Free"')""")
        page.screenshot(path=str(ARTIFACTS / "data-docs-validation.png"))
    assert offline.elsewhere == []
    assert offline.failed == []


def test_the_data_docs_work_opened_from_the_file_system(two_runs, chromium):
    docs = two_runs / "docs"
    offline = _Offline(chromium, "file://")
    page = offline.page
    offline.settled((docs / "index.html").as_uri())
    _assert_styled(page)
    rows = _index_rows(page)
    assert sorted(r["href"] for r in rows) == _validation_pages(two_runs)
    offline.settled((docs / rows[0]["href"]).as_uri())
    icons = _status_icons(page)
    assert icons and all(i["width"] > 0 and "Font Awesome" in i["font"] for i in icons)
    assert offline.elsewhere == []
    assert offline.failed == []


def test_no_published_page_names_an_asset_elsewhere(two_runs):
    """No <script src> or <link href> outside the docs folder (links to GE's site may stay)."""
    docs = two_runs / "docs"
    for file in [*docs.rglob("*.html"), *docs.rglob("*.css")]:
        text = file.read_text(encoding="utf-8")
        assert not re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="https?://', text), file
        assert not re.findall(r"url\(['\"]?https?://", text), file


def test_every_cdn_tag_of_the_ge_templates_is_replaced_or_dropped():
    """Guards a GE upgrade: each CDN tag in GE's page templates maps to a local copy or is dropped."""
    import great_expectations

    from flows.data_docs import _packaged_assets

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    assets = _packaged_assets()
    for name in ("page.j2", "index_page.j2", "js_script_imports.j2"):
        text = offline_page((templates / name).read_text(encoding="utf-8"), 2, assets)
        assert not re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="https?://', text), name
    # The tags that remain point two folders up, into docs/static/.
    local = offline_page((templates / "js_script_imports.j2").read_text(encoding="utf-8"), 2, assets)
    assert re.findall(r'src="([^"]+)"', local) == [
        next(f"../../{p}" for p in assets if p.endswith("jquery.min.js")),
        next(f"../../{p}" for p in assets if p.endswith("bootstrap.bundle.min.js")),
        "../../static/newsflow/table.js",
    ]


def test_importing_the_validation_module_does_not_import_great_expectations():
    done = subprocess.run([sys.executable, "-c", "import sys, flows.validation, flows.pipeline; "
                           "print('great_expectations' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
