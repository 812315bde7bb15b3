"""Full-text search (warehouse/search.py, `newsflow search`): BM25 ranking on a small literal
corpus, filters, highlighted snippets, user input with FTS5 syntax, incremental updates; and on a
real warehouse, the run's index update, a rerun and --rebuild leaving results unchanged."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3

import polars as pl
import pytest

from tests.conftest import SEEDS, newsflow
from warehouse.search import SearchIndex, SearchQueryError, fts_query
from warehouse.store import Warehouse

UTC = dt.timezone.utc
CORPUS = pl.DataFrame(
    [
        ("title-hit", "Qatar expels Hamas leaders", "Officials in Doha spoke on Friday about the decision.",
         "Gulf Wire", "gulfwire.example", "2024-03-01"),
        ("body-hit", "Gulf diplomacy this week", "The talks in the region touched on Qatar among other things.",
         "Gulf Wire", "gulfwire.example", "2024-03-15"),
        ("many-ceasefire", "Talks resume", "Ceasefire talks: a ceasefire plan and a ceasefire deadline.",
         "Levant Daily", "levant.example", "2024-03-10"),
        ("one-ceasefire", "Talks resume", "Ceasefire talks: a border plan and a market deadline.",
         "Levant Daily", "levant.example", "2024-04-02"),
        ("markets", "Markets rally", "Shares rose in Tokyo and London on strong earnings.",
         "Market Watch", "markets.example", "2024-03-05"),
        ("weather", "Storm warning", "Heavy rain is expected across the coast <script>alert(1)</script>.",
         "Weather Desk", "weather.example", None),
        ("sport", "Cup final", "The home side won the final after extra time.",
         "Sport Today", "sport.example", "2024-03-20"),
    ],
    schema={"article_id": pl.String, "title": pl.String, "text": pl.String, "source_name": pl.String,
            "domain": pl.String, "published_at": pl.String},
    orient="row",
).with_columns(pl.col("published_at").str.to_datetime("%Y-%m-%d", time_zone="UTC"))


@pytest.fixture
def index(tmp_path) -> SearchIndex:
    built = SearchIndex(tmp_path / "search.sqlite")
    assert built.update(CORPUS) == (CORPUS.height, 0)
    return built


def ids(found) -> list[str]:
    return [h.article_id for h in found.hits]


@pytest.mark.parametrize("query, expected", [
    pytest.param("qatar", ["title-hit", "body-hit"], id="a title match outranks a body match"),
    pytest.param("ceasefire", ["many-ceasefire", "one-ceasefire"], id="more matches outrank fewer"),
    pytest.param("qatar hamas", ["title-hit"], id="every word must occur"),
    pytest.param("expelled", ["title-hit"], id="stemming: expelled finds expels"),
    pytest.param('"ceasefire plan"', ["many-ceasefire"], id="a quoted phrase"),
    pytest.param("earn*", ["markets"], id="a prefix"),
    pytest.param("QATAR", ["title-hit", "body-hit"], id="any case"),
    pytest.param("antarctica", [], id="no match"),
])
def test_ranking_on_a_literal_corpus(index, query, expected):
    found = index.search(query)
    hits = found.hits
    assert ids(found) == expected and found.note is None
    assert [h.rank for h in hits] == list(range(1, len(expected) + 1))
    assert all(a.score > b.score for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("kwargs, expected", [
    pytest.param({"start": dt.date(2024, 3, 11)}, ["one-ceasefire"], id="from: that day and after"),
    pytest.param({"start": dt.date(2024, 3, 10), "end": dt.date(2024, 3, 10)}, ["many-ceasefire"],
                 id="one day: both ends included"),
    pytest.param({"end": dt.date(2024, 3, 10)}, ["many-ceasefire"], id="to: that day included"),
    pytest.param({"start": dt.date(2024, 3, 11), "end": dt.date(2024, 4, 1)}, [], id="a range with none"),
    pytest.param({"source": "levant daily"}, ["many-ceasefire", "one-ceasefire"], id="source name, any case"),
    pytest.param({"source": "gulfwire.example"}, [], id="source: another source's domain"),
    pytest.param({"limit": 1}, ["many-ceasefire"], id="limit"),
])
def test_filters(index, kwargs, expected):
    assert ids(index.search("ceasefire", **kwargs)) == expected


def test_a_source_is_also_its_domain(index):
    assert ids(index.search("qatar", source="GulfWire.example")) == ["title-hit", "body-hit"]


def test_an_undated_article_is_found_without_a_date_filter_only(index):
    assert ids(index.search("rain")) == ["weather"]
    assert ids(index.search("rain", start=dt.date(2000, 1, 1))) == []


def test_snippets_highlight_the_matched_words(index):
    hit = index.search("qatar hamas").hits[0]
    assert hit.marked("title") == "[Qatar] expels [Hamas] leaders"
    body = index.search("qatar").hits[1]
    assert "[Qatar]" in body.marked("snippet") and body.marked("title") == "Gulf diplomacy this week"
    assert body.html("snippet").count("<mark>Qatar</mark>") == 1
    assert body.published_at == "2024-03-15T00:00:00+00:00" and body.source == "Gulf Wire"


def test_html_snippets_escape_the_article_text(index):
    snippet = index.search("rain").hits[0].html("snippet")
    assert "<script>" not in snippet and "&lt;script&gt;" in snippet and "<mark>rain</mark>" in snippet


@pytest.mark.parametrize("query", [
    'qatar"', '"qatar', "NEAR(qatar hamas)", "qatar AND", "(qatar", "qatar*", "^qatar",
    "qatar + hamas", "{title}: qatar", "qatar'", "qatar OR", "OR qatar", "qatar NOT", 'qatar -"', "qatar -",
    "qatar:*", '"qatar" "', "qatar) OR (", "qatar NEAR/2 hamas", "qatar* OR * OR", "qatar AND OR NOT",
])
def test_fts5_syntax_in_user_input_is_searched_as_words(index, query):
    found = index.search(query)  # never an FTS5 syntax error
    assert "title-hit" in ids(found)


def test_a_column_filter_is_searched_as_words(index):
    assert ids(index.search("title:qatar")) == []  # the phrase "title qatar", not a filter on titles


@pytest.mark.parametrize("query", ["", "   ", '"', "'", '""', "- : * ( )", '"-"', "OR", "AND NOT", "_"])
def test_a_query_without_words_is_refused(index, query):
    with pytest.raises(SearchQueryError, match="at least one word"):
        index.search(query)


@pytest.mark.parametrize("query", ["NOT qatar", "-qatar -hamas", '-"ceasefire plan"'])
def test_a_query_of_only_words_to_leave_out_is_refused(index, query):
    with pytest.raises(SearchQueryError, match="at least one word .* besides the words to leave out"):
        index.search(query)


def test_fts_query_quotes_every_term():
    assert fts_query('qatar "hamas leaders" expel* a"b NEAR(') == '"qatar" AND "hamas leaders" AND "expel"* AND "b NEAR("'
    assert fts_query('x OR "y z" -w NOT v*') == '(("x" OR "y z")) NOT ("w" OR "v"*)'


# --- the query language: as search engines read a query ------------------------------------------


@pytest.mark.parametrize("query, expected", [
    pytest.param("storm OR cup", ["sport", "weather"], id="OR: either word"),
    pytest.param("cup OR antarctica", ["sport"], id="OR: one side matches nothing"),
    pytest.param("(qatar OR ceasefire) talks", ["many-ceasefire", "one-ceasefire", "body-hit"],
                 id="OR binds its neighbours; the other words still count"),
    pytest.param("ceasefire NOT border", ["many-ceasefire"], id="NOT word"),
    pytest.param("ceasefire -border", ["many-ceasefire"], id="-word"),
    pytest.param('ceasefire -"ceasefire plan"', ["one-ceasefire"], id="-phrase"),
    pytest.param('"ceasefire plan" OR earnings', ["many-ceasefire", "markets"], id="a phrase OR a word"),
    pytest.param('"plan ceasefire"', [], id="a phrase keeps its order"),
    pytest.param('"border plan', ["one-ceasefire"], id="an unclosed quote runs to the end"),
    pytest.param("ceasefire on the border", ["one-ceasefire"], id="function words are dropped"),
    pytest.param("qatar AND hamas", ["title-hit"], id="AND changes nothing"),
    pytest.param("on", ["markets", "title-hit", "body-hit"], id="a function word alone is searched"),
])
def test_the_query_language(index, query, expected):
    found = index.search(query)
    assert ids(found) == expected
    assert found.note is None  # every one of the words (or OR groups) is held by each hit
    assert all(h.words == found.words for h in found.hits)


def test_articles_holding_most_of_the_words_when_none_holds_all(index):
    found = index.search("qatar hamas talks")
    assert found.note == "no article holds every word; showing articles that hold most of them"
    assert found.words == 3
    assert ids(found)[:2] == ["title-hit", "body-hit"]  # two of the three words each, then one
    assert [h.words for h in found.hits] == [2, 2, 1, 1]
    assert set(ids(found)[2:]) == {"many-ceasefire", "one-ceasefire"}
    assert found.hits[0].marked("title") == "[Qatar] expels [Hamas] leaders"


def test_the_partial_fallback_keeps_filters_and_exclusions(index):
    assert ids(index.search("qatar hamas talks", source="levant daily")) == ["many-ceasefire", "one-ceasefire"]
    found = index.search("qatar hamas talks -doha")
    assert ids(found)[0] == "body-hit" and "title-hit" not in ids(found)  # its text says Doha
    nothing = index.search("antarctica penguins")
    assert nothing.hits == [] and nothing.note is None


def test_an_update_replaces_changed_articles_and_removes_deleted_ones(index):
    changed = CORPUS.filter(pl.col("article_id") == "title-hit").with_columns(
        title=pl.lit("Egypt mediates talks"), text=pl.lit("Cairo hosted the delegations."))
    assert index.update(changed, deleted=["markets", "never-indexed"]) == (1, 1)
    assert ids(index.search("qatar")) == ["body-hit"]  # the old title's words no longer match
    assert ids(index.search("cairo")) == ["title-hit"]
    assert ids(index.search("earnings")) == []
    assert ids(index.search("ceasefire")) == ["many-ceasefire", "one-ceasefire"]  # the others are untouched


def test_indexing_the_same_articles_again_leaves_results_unchanged(index):
    before = {q: index.search(q) for q in ("qatar", "ceasefire", "talks", "qatar hamas talks")}
    index.update(CORPUS)
    assert {q: index.search(q) for q in before} == before


def test_a_damaged_index_file_is_started_afresh(tmp_path):
    path = tmp_path / "search.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    fresh = SearchIndex(path)
    assert not fresh.exists()
    fresh.update(CORPUS)
    assert ids(fresh.search("qatar hamas")) == ["title-hit"]


# --- on a real warehouse -------------------------------------------------------------------------


def _search(warehouse, *args: str):
    result = newsflow("search", *args, "--warehouse", str(warehouse), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _meta(warehouse) -> dict[str, str]:
    with sqlite3.connect(warehouse / "search.sqlite") as con:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())


def _current_snapshot(warehouse) -> int:
    with Warehouse(warehouse).connect() as con:
        return con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('newsflow')").fetchone()[0]


QUERIES = [("qatar hamas",), ("doha",), ("ceasefire", "--from", "2000-01-01"), ("hamas", "--source", "nobody")]


def test_runs_keep_the_index_current_and_a_rerun_or_rebuild_changes_no_result(seeded, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(seeded[0], warehouse)
    # The seeded run built the index after its commit.
    assert int(_meta(warehouse)["snapshot_id"]) <= _current_snapshot(warehouse)
    first = _search(warehouse, "qatar hamas")
    assert len(first) == 1 and "[Qatar]" in first[0]["title"] and "[Hamas]" in first[0]["title"]

    second = tmp_path / "second.txt"
    second.write_text("Gulf state acts on Hamas\nQatar agreed to expel Hamas leaders from Doha, officials said.\n")
    assert newsflow("run", str(second), "--warehouse", str(warehouse)).exit_code == 0
    meta = _meta(warehouse)
    assert meta["refreshed_by"] == "update"  # the run wrote its new article, no rebuild
    assert int(meta["snapshot_id"]) >= _current_snapshot(warehouse) - 1  # maintenance may add one after it
    found = _search(warehouse, "doha")
    assert len(found) == 2 and {h["title"] for h in found} >= {"Gulf state acts on Hamas"}
    before = {q: _search(warehouse, *q) for q in QUERIES}

    again = newsflow("run", str(SEEDS), "--warehouse", str(warehouse))
    assert again.exit_code == 0, again.output
    assert {q: _search(warehouse, *q) for q in QUERIES} == before

    rebuilt = newsflow("search", "--rebuild", "--warehouse", str(warehouse))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "search index rebuilt: 2 articles" in rebuilt.stdout
    assert _meta(warehouse)["refreshed_by"] == "rebuild"
    assert {q: _search(warehouse, *q) for q in QUERIES} == before


def test_search_prints_ranked_highlighted_results(seeded):
    result = newsflow("search", "qatar hamas", "--warehouse", str(seeded[0]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("  1. ") and "[Qatar]" in lines[0]
    assert "· score 100 · article " in lines[1]  # the best result's score; the others in proportion


def test_search_says_when_no_article_holds_every_word(seeded):
    result = newsflow("search", "missile attack on qatar", "--warehouse", str(seeded[0]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "no article holds every word; showing articles that hold most of them:"
    assert lines[1].startswith("  1. ") and "[Qatar]" in lines[1]
    assert "· score 100 · 2 of 3 words · article " in lines[2]  # attack and qatar; "on" is no word to find
    as_json = newsflow("search", "missile attack on qatar", "--warehouse", str(seeded[0]), "--format", "json")
    assert as_json.exit_code == 0
    assert len(json.loads(as_json.stdout)) == 1 and isinstance(json.loads(as_json.stdout)[0]["score"], float)
    assert as_json.stderr == "newsflow: no article holds every word; showing articles that hold most of them\n"


@pytest.mark.parametrize("args, message", [
    pytest.param(["   "], "at least one word", id="empty query"),
    pytest.param([], "give the words to search for", id="no query"),
    pytest.param(["qatar", "--from", "2024-13-01"], "not a date", id="bad date"),
])
def test_search_usage_errors_are_one_line_and_exit_2(seeded, args, message):
    result = newsflow("search", *args, "--warehouse", str(seeded[0]))
    assert result.exit_code == 2
    assert message in result.output


def test_search_on_a_missing_warehouse_says_so(tmp_path):
    result = newsflow("search", "qatar", "--warehouse", str(tmp_path / "none"))
    assert result.exit_code == 2 and "no warehouse" in result.output


def test_a_stale_index_is_caught_up_by_search(seeded, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(seeded[0], warehouse)
    (warehouse / "search.sqlite").unlink()
    assert len(_search(warehouse, "qatar hamas")) == 1  # rebuilt by the search itself
    assert _meta(warehouse)["refreshed_by"] == "rebuild"


# --- the web service ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(seeded):
    from fastapi.testclient import TestClient

    from web.app import create_app

    return TestClient(create_app(seeded[0]))


def test_api_search_returns_ranked_highlighted_results_with_links(client):
    answer = client.get("/api/search", params={"q": "qatar hamas"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stale"] is None and body["note"] is None and len(body["results"]) == 1
    hit = body["results"][0]
    assert hit["rank"] == 1 and hit["score"] > 0
    assert "<mark>Qatar</mark>" in hit["title"] and "<mark>" in hit["snippet"]
    entities = client.get(hit["links"]["entities"]).json()
    assert "Hamas" in {row[entities["columns"].index("name")] for row in entities["rows"]}
    events = client.get(hit["links"]["events"]).json()
    assert events["row_count"] >= 1
    article = client.get(hit["links"]["article"]).json()
    assert article["rows"][0][article["columns"].index("article_id")] == hit["article_id"]


@pytest.mark.parametrize("params, status, message", [
    pytest.param({"q": "  "}, 400, "at least one word", id="empty query"),
    pytest.param({"q": "qatar", "from": "2024-02-30"}, 400, "from is not a valid date", id="bad date"),
    pytest.param({"q": "qatar", "from": "2024-03-02", "to": "2024-03-01"}, 400, "from (2024-03-02) is after to",
                 id="reversed range"),
])
def test_api_search_refuses_bad_input(client, params, status, message):
    answer = client.get("/api/search", params=params)
    assert answer.status_code == status and message in answer.json()["error"]


@pytest.mark.parametrize("params, count", [
    pytest.param({"q": "hamas", "source": "nobody"}, 0, id="another source"),
    pytest.param({"q": "hamas", "to": "1990-01-01"}, 0, id="before the article"),
    pytest.param({"q": 'qatar: hamas ("'}, 1, id="FTS5 syntax searched as words"),
    pytest.param({"q": "qatar -hamas"}, 0, id="a word left out"),
    pytest.param({"q": "rubella OR hamas"}, 1, id="OR"),
])
def test_api_search_filters(client, params, count):
    answer = client.get("/api/search", params=params)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["results"]) == count


def test_api_search_says_when_it_shows_articles_holding_most_of_the_words(client):
    answer = client.get("/api/search", params={"q": "missile attack on qatar"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["note"] == "no article holds every word; showing articles that hold most of them"
    assert len(body["results"]) == 1 and "<mark>Qatar</mark>" in body["results"][0]["title"]


def test_the_page_has_a_search_box(client):
    page = client.get("/").text
    assert 'id="search-form"' in page and 'action="/api/search"' in page
    assert not re.search(r'(?:src|href)="(?:[a-z]+:)?//', page)  # nothing from elsewhere


def test_api_search_without_an_index_says_how_to_build_it(seeded, tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app

    warehouse = tmp_path / "warehouse"
    shutil.copytree(seeded[0], warehouse)
    (warehouse / "search.sqlite").unlink()
    answer = TestClient(create_app(warehouse)).get("/api/search", params={"q": "qatar"})
    assert answer.status_code == 503 and "newsflow search --rebuild" in answer.json()["error"]


def test_a_run_whose_index_update_fails_is_still_committed(seeded, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(seeded[0], warehouse)
    (warehouse / "search.sqlite").unlink()
    (warehouse / "search.sqlite").mkdir()  # the index cannot be opened, let alone written
    second = tmp_path / "second.txt"
    second.write_text("Gulf state acts on Hamas\nQatar agreed to expel Hamas leaders from Doha, officials said.\n")
    result = newsflow("run", str(second), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    assert re.search(r"articles new\s+1\n", result.stdout), result.stdout
    failed = newsflow("search", "doha", "--warehouse", str(warehouse))
    assert failed.exit_code == 1 and "could not be built" in failed.output
