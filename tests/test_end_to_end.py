"""The real flow, through the `newsflow` CLI, on seeds/ and on bad input, into temporary warehouses."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from tests.conftest import SEED_FILE, SEEDS, newsflow
from warehouse.store import Warehouse

SEED_TITLE = "Qatar Orders Hamas Leaders Out as Terror Group’s Safe Haven Crumbles"
SPAN_SQL = """
    SELECT m.*, substring(CASE m.field WHEN 'title' THEN a.title ELSE a.text END,
                          m.start_char + 1, m.end_char - m.start_char) AS stored_span
    FROM entity_mentions m JOIN articles a USING (article_id)
"""


def sql(warehouse, query: str) -> list[dict]:
    result = newsflow("sql", query, "--warehouse", str(warehouse), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_prints_a_summary(seeded):
    _, output = seeded
    assert "records read                   1" in output
    assert "articles new                   1" in output
    assert "quarantined                    0" in output
    assert "entity_mentions" in output and "warehouse tables:" in output


def test_seed_article_is_loaded_with_its_feed_metadata(seeded):
    warehouse, _ = seeded
    rows = sql(warehouse, "select title, source_name, feed_name, text, language, published_at from articles")
    assert len(rows) == 1
    article = rows[0]
    assert article["title"] == SEED_TITLE
    assert article["source_name"] == "Israel365 News"
    assert article["feed_name"] == "Israel in the News"
    assert "appeared first on" not in article["text"]
    assert article["text"].startswith("In a significant blow to Hamas’s international standing")
    assert article["text"].endswith("potentially accelerating its eventual defeat in Gaza.")
    assert article["language"] == "en"
    assert article["published_at"] is None  # the seed carries no date; none is invented


def test_entity_mentions_hold_the_seed_entities_with_exact_spans(seeded):
    warehouse, _ = seeded
    mentions = sql(warehouse, SPAN_SQL)
    found = {(m["text"], m["label"]) for m in mentions}
    for expected in [("Qatar", "GPE"), ("Hamas", "ORG"), ("Khaled Meshaal", "PERSON"),
                     ("Hersh Goldberg-Polin", "PERSON")]:
        assert expected in found
    assert all(m["stored_span"] == m["text"] for m in mentions)
    assert {m["field"] for m in mentions} == {"title", "text"}
    article_text = sql(warehouse, "select text from articles")[0]["text"]
    sentences = [m for m in mentions if m["field"] == "text" and m["text"] == "Khaled Meshaal"]
    assert article_text[sentences[0]["start_char"]:sentences[0]["end_char"]] == "Khaled Meshaal"


def test_entities_use_canonical_names(seeded):
    warehouse, _ = seeded
    names = {r["name"]: r for r in sql(warehouse, "select * from entities")}
    assert "Donald Trump" in names and "Donald Trump’s" not in names
    assert "United States" in names and "the United States" not in names
    assert names["Hamas"]["mention_count"] >= 10 and names["Hamas"]["article_count"] == 1


def test_validation_results_and_data_docs_are_written(seeded):
    warehouse, _ = seeded
    results = sql(warehouse, "select table_name, count(*) n, bool_and(success) ok from validation_results "
                             "group by 1 order by 1")
    assert [(r["table_name"], r["ok"]) for r in results] == [
        ("articles", True), ("entities", True), ("entity_mentions", True), ("event_mentions", True), ("events", True),
        ("quarantine", True)]
    assert (warehouse / "docs" / "index.html").is_file()
    assert list((warehouse / "docs" / "validations" / "entity_mentions").rglob("*.html"))


@pytest.mark.slow
def test_the_lake_is_parquet_files_and_every_table_exports_whole(seeded, tmp_path):
    warehouse, _ = seeded
    store = Warehouse(warehouse)
    assert (warehouse / "catalog.sqlite").is_file()
    for name, rows in store.table_counts().iter_rows():
        assert store.export(name, tmp_path / f"{name}.parquet", "parquet") == rows
        assert pl.read_parquet(tmp_path / f"{name}.parquet").height == rows


EVENT_SPAN_SQL = """
    SELECT m.*, e.event_code, e.event_root_code, e.actor1_code, e.actor2_code, e.quad_class, e.goldstein_scale,
           e.plover_event, e.event_date, CASE m.field WHEN 'title' THEN a.title ELSE a.text END AS content
    FROM event_mentions m JOIN events e USING (event_id) JOIN articles a USING (article_id)
"""


def _span(content: str, start, text) -> str | None:
    return None if start is None else content[start:start + len(text)]


# Issue 20: newsflow's NER, fine-tuned on WikiGold (never title case), reads the seed's headline
# "Qatar Orders Hamas Leaders Out" as the organisation "Hamas Leaders", which has no actor code.
# A known regression in the NER's model card, left visible rather than the test loosened.
def test_seed_events_hold_qatar_expelling_hamas_with_its_evidence(seeded):
    warehouse, _ = seeded
    rows = sql(warehouse, EVENT_SPAN_SQL)
    expulsions = [r for r in rows if r["actor1_code"] == "QAT" and (r["actor2_code"] or "").startswith("PSE")
                  and r["event_root_code"] == "17"]
    assert expulsions, [(r["actor1_code"], r["event_code"], r["actor2_code"]) for r in rows]
    # The headline is coded. The body's "Qatar has informed the terror organization's leadership that
    # they are no longer welcome" is an expulsion the learned coder misses (its gate scores
    # "agreed ... to expel" 0.40, under the 0.55 it emits at): a known miss, in the README's model card.
    assert "title" in {r["field"] for r in expulsions}
    for r in expulsions:
        sentence = r["content"][r["sentence_start_char"]:r["sentence_end_char"]]
        assert r["actor1_text"] in sentence and r["actor2_text"] in sentence and r["action_text"] in sentence
        assert r["quad_class"] == 4 and -10 <= r["goldstein_scale"] < 0 and r["plover_event"]
    # every stored span equals its stored text, for every event mention
    for r in rows:
        assert _span(r["content"], r["action_start_char"], r["action_text"]) == r["action_text"]
        for actor in ("actor1", "actor2"):
            if r[f"{actor}_text"] is not None:
                assert _span(r["content"], r[f"{actor}_start_char"], r[f"{actor}_text"]) == r[f"{actor}_text"]
    assert all(r["event_date"] is None for r in rows)  # the seed has no date: none is invented


def test_seed_entities_are_linked_to_canonical_things(seeded):
    warehouse, _ = seeded
    ids = {(r["text"], r["entity_id"]) for r in sql(warehouse, "select text, entity_id from entity_mentions")}
    by_text: dict[str, set] = {}
    for text, entity_id in ids:
        by_text.setdefault(text, set()).add(entity_id)
    united_states = set().union(*(v for k, v in by_text.items() if k.endswith("United States")))
    assert by_text["U.S."] == united_states and len(united_states) == 1
    # The NER (issue 20) reads "Donald Trump’s" as the name without its possessive.
    assert by_text["Trump"] == by_text["Donald Trump"]
    assert by_text["Israeli"] == by_text["Israel"]  # a nationality links to its country
    entity = sql(warehouse, "select * from entities where name = 'United States'")[0]
    assert (entity["actor_code"], entity["country_code"], entity["label"]) == ("USA", "USA", "GPE")


def test_views_hold_exactly_the_confident_events(seeded):
    from transforms.coder.models import coder_model

    warehouse, _ = seeded
    threshold = coder_model().view_threshold
    confident = {r["event_id"] for r in sql(warehouse, "select event_id from confident_events")}
    expected = {r["event_id"] for r in sql(
        warehouse, f"select distinct event_id from event_mentions where confidence >= {threshold}")}
    assert confident == expected
    below = {r["event_id"] for r in sql(warehouse, "select event_id from events")} - confident
    assert below, "the seed's events are all under the views' threshold (README, 'On the sample article')"
    timeline = sql(warehouse, "select * from event_timeline")
    assert {r["mention_id"] for r in timeline} == {r["mention_id"] for r in sql(
        warehouse, f"select mention_id from event_mentions where confidence >= {threshold}")}
    assert all(r["action_text"] in r["evidence_sentence"] for r in timeline)
    assert sql(warehouse, "select * from entity_co_mentions where entity1_name = 'Hamas' or entity2_name = 'Hamas'")


def test_the_views_carry_the_ids_and_countries_to_filter_and_join_on(seeded, tmp_path):
    from warehouse.store import _sql

    warehouse = tmp_path / "warehouse"
    shutil.copytree(seeded[0], warehouse)
    # The seed's events are under the coder's threshold: the views' own SQL, keeping every event.
    with Warehouse(warehouse).connect(read_only=False) as con:
        con.execute(_sql("views").replace("{view_threshold}", "0.0"))
    timeline = sql(warehouse, "select t.*, e.actor1_country_code as e1_country, e.actor2_country_code as e2_country, "
                              "e.actor1_entity_id as e1_entity, e.actor2_entity_id as e2_entity, "
                              "e.action_geo_country_code as e_geo, a.title "
                              "from event_timeline as t join events as e using (event_id) "
                              "join articles as a using (article_id)")
    assert len(timeline) == len(sql(warehouse, "select mention_id from event_mentions")) == 4
    assert all((r["actor1_country_code"], r["actor2_country_code"], r["actor1_entity_id"], r["actor2_entity_id"],
                r["action_geo_country_code"], r["article_title"])
               == (r["e1_country"], r["e2_country"], r["e1_entity"], r["e2_entity"], r["e_geo"], r["title"])
               for r in timeline)
    by_country = sql(warehouse, "select actor1_name, event_code, actor2_name from event_timeline "
                                "where actor1_country_code = 'QAT'")
    assert by_country == [{"actor1_name": "Qatar", "event_code": "174", "actor2_name": "Hamas"}]
    entities = {r["entity_id"]: r for r in sql(warehouse, "select entity_id, name, country_code from entities")}
    assert any(r["actor2_entity_id"] for r in timeline)
    assert all(entities[r["actor2_entity_id"]]["name"] == r["actor2_name"] for r in timeline if r["actor2_entity_id"])
    network = sql(warehouse, "select * from actor_network where actor1 = 'QAT'")
    assert [(r["actor1_country_code"], r["actor2"], r["actor2_country_code"]) for r in network] == [
        ("QAT", "PSEREBHMS", "PSE")]
    pairs = sql(warehouse, "select p.*, e1.label as l1, e1.country_code as c1, e2.label as l2, e2.country_code as c2 "
                           "from entity_co_mentions as p join entities as e1 on e1.entity_id = p.entity1_id "
                           "join entities as e2 on e2.entity_id = p.entity2_id")
    assert pairs and all((r["entity1_label"], r["entity1_country_code"], r["entity2_label"], r["entity2_country_code"])
                         == (r["l1"], r["c1"], r["l2"], r["c2"]) for r in pairs)
    assert any(r["entity1_country_code"] for r in pairs)


def test_codes_have_names_in_the_warehouse_and_its_views(seeded):
    warehouse, _ = seeded
    assert sql(warehouse, "select event_name, event_root_name, quad_class_name from cameo_codes "
                          "where event_code = '174'") == [
        {"event_name": "Expel or deport individuals", "event_root_name": "Coerce", "quad_class_name": "Material conflict"}]
    # every confident event's code has its name (the codebook holds every code the coder writes)
    unnamed = sql(warehouse, "select count(*) as n from confident_events where event_name is null or "
                             "event_root_name is null or quad_class_name is null")
    assert unnamed == [{"n": 0}]
    # the seed's events are under the views' threshold: their names through the codebook table
    expulsions = sql(warehouse, "select c.event_name, c.event_root_name, c.quad_class_name from events e "
                                "join cameo_codes c using (event_code) where e.event_root_code = '17'")
    assert expulsions and all(r["event_root_name"] == "Coerce" and r["quad_class_name"] == "Material conflict"
                              and r["event_name"] for r in expulsions)
    # the lake carries the meaning too: column comments a DuckDB client shows
    comment = sql(warehouse, "select comment from duckdb_columns() where table_name = 'entity_mentions' "
                             "and column_name = 'start_char'")
    assert comment == [{"comment": "offset of the span's first character in the field's text, 0-based"}]


@pytest.mark.parametrize("name", ["cameo_codes", "event_timeline", "articles"])
def test_describe_prints_grain_key_and_every_column_with_type_and_meaning(name):
    from schemas import RELATIONS
    from schemas.derive import duckdb_type

    declared = RELATIONS[name]
    described = newsflow("describe", name)
    assert described.exit_code == 0, described.output
    lines = described.stdout.splitlines()
    assert lines[0].startswith(f"{name} (") and declared.grain in lines[0]
    assert lines[1] == f"key: {', '.join(declared.key)}"
    rows = [line.split(maxsplit=2) for line in lines[3:]]
    assert rows == [[c, duckdb_type(t), declared.descriptions[c]] for c, t in declared.schema.items()]


def test_describe_an_unknown_table_is_one_line_and_exit_2():
    described = newsflow("describe", "nope")
    assert described.exit_code == 2
    assert described.output.count("\n") == 1 and "no table or view 'nope'" in described.output


@pytest.mark.slow
def test_a_second_article_on_the_same_event_raises_num_articles(seeded, tmp_path):
    warehouse, _ = seeded
    copy = tmp_path / "warehouse"
    shutil.copytree(warehouse, copy)
    before = {r["event_id"]: r["num_articles"] for r in sql(copy, "select event_id, num_articles from events")}
    second = tmp_path / "second.txt"
    second.write_text("Qatar Orders Hamas Leaders Out\nQatar expelled Hamas leaders from Doha, officials said.\n")
    result = newsflow("run", str(second), "--warehouse", str(copy))
    assert result.exit_code == 0, result.output
    after = {r["event_id"]: r for r in sql(copy, "select * from events")}
    raised = [e for e, n in before.items() if after[e]["num_articles"] == n + 1]
    assert raised and any(after[e]["event_root_code"] == "17" for e in raised)
    assert set(before) <= set(after)


@pytest.mark.slow
def test_running_again_on_unchanged_input_writes_nothing_and_loads_neither_spacy_nor_gx(seeded, tmp_path):
    """A real `newsflow run` process (against the session's Prefect server) on the seeded input:
    it says nothing is new, leaves every table and the catalog as they were (no runs row, no
    validation results, no snapshot), and never imports spaCy or Great Expectations."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    warehouse, _ = seeded
    copy = tmp_path / "warehouse"
    shutil.copytree(warehouse, copy)
    tables = ["articles", "entity_mentions", "entities", "event_mentions", "events", "quarantine", "runs",
              "validation_results", "fetch_state"]
    before = {t: sql(copy, f"select * from {t} order by all") for t in tables}
    catalog = (copy / "catalog.sqlite").read_bytes()
    script = ("import sys\nfrom cli.app import app\ntry:\n    app()\nexcept SystemExit as end:\n    code = end.code\n"
              "print('imported:', sorted(m for m in ('spacy', 'great_expectations', 'thinc') if m in sys.modules))\n"
              "sys.exit(code)\n")
    again = subprocess.run([sys.executable, "-c", script, "run", str(SEEDS), "--warehouse", str(copy)],
                           env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing new: 1 article unchanged; the warehouse was not changed" in again.stdout
    assert "imported: []" in again.stdout
    assert "parsing" not in again.stderr  # no progress: nothing was parsed
    assert (copy / "catalog.sqlite").read_bytes() == catalog
    assert {t: sql(copy, f"select * from {t} order by all") for t in tables} == before
    assert len(before["runs"]) == 1


@pytest.mark.slow
def test_bad_files_are_quarantined_and_good_articles_load(prefect_server, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(SEED_FILE, inputs / "seed.txt")
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (inputs / "latin1.txt").write_bytes("Caf\u00e9 owners protest\nParis caf\u00e9s closed.".encode("latin-1"))
    (inputs / "dump.jsonl").write_text(
        '{"title": "Egypt mediates", "text": "Egypt continued its mediating role in Cairo.", "date": "2024-11-09"}\n'
        '{"title": "Broken", "text": \n'
        '{"title": "From the future", "text": "Not yet.", "date": "2999-01-01"}\n'
        '{"title": "Epoch default", "text": "A date field left at zero.", "date": "1970-01-01T00:00:00Z"}\n'
    )
    warehouse = tmp_path / "warehouse"
    result = newsflow("run", str(inputs), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    quarantined = {(r["source_uri"].rsplit("/", 1)[1], r["record_key"]): r for r in
                   sql(warehouse, "select source_uri, record_key, stage, reason, octet_length(payload) n "
                                  "from quarantine")}
    assert quarantined[("empty.txt", "file")]["reason"].startswith("empty file")
    assert quarantined[("image.txt", "file")]["reason"].startswith("binary file")
    assert quarantined[("latin1.txt", "file")]["reason"].startswith("not valid UTF-8")
    assert quarantined[("latin1.txt", "file")]["n"] > 0
    assert quarantined[("dump.jsonl", "line 2")]["reason"].startswith("malformed JSON on line 2")
    # dates outside 1990 .. the run's start are dropped with a reason; their articles load without them
    out_of_range = [r for r in quarantined.values() if "the article is loaded without it" in r["reason"]]
    assert len(out_of_range) == 2 and all(r["stage"] == "normalize" and r["n"] for r in out_of_range)
    titles = sorted((r["title"], r["published_at"] is None)
                    for r in sql(warehouse, "select title, published_at from articles"))
    assert titles == [("Egypt mediates", False), ("Epoch default", True), ("From the future", True),
                      (SEED_TITLE, True)]
    run = sql(warehouse, "select records_read, quarantined from runs")[0]
    assert run == {"records_read": 8, "quarantined": 6}


def test_a_missing_input_is_a_usage_error_naming_it(tmp_path):
    result = newsflow("run", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "wh"))
    assert result.exit_code == 2
    assert "nope' does not exist" in result.output


def test_a_failed_run_exits_1_and_leaves_the_warehouse_as_it_was(prefect_server, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    (warehouse / "catalog.sqlite").write_bytes(b"this is not a SQLite catalog")
    result = newsflow("run", str(SEEDS), "--warehouse", str(warehouse))
    assert result.exit_code == 1
    assert "run failed: " in result.output
    assert "nothing was loaded; the warehouse was left as it was" in result.output
    assert (warehouse / "catalog.sqlite").read_bytes() == b"this is not a SQLite catalog"
    # nothing else was written; the run lock's (empty) file stays, as OS lock files do
    assert sorted(p.name for p in warehouse.iterdir()) == [".lock", "catalog.sqlite"]
    assert (warehouse / ".lock").stat().st_size == 0


@pytest.mark.slow
def test_a_failed_run_says_what_failed_in_its_own_lines_and_shows_tracebacks_only_when_verbose(prefect_server,
                                                                                               tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from prefect.settings import PREFECT_API_URL

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    (warehouse / "catalog.sqlite").write_bytes(b"this is not a SQLite catalog")
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"}
    command = [str(Path(sys.executable).parent / "newsflow"), "run", str(SEED_FILE), "--warehouse", str(warehouse)]
    quiet = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 1
    assert quiet.stdout == ""
    lines = quiet.stderr.splitlines()
    assert lines[0].startswith("newsflow: run failed: WarehouseDamaged: the warehouse catalog "), quiet.stderr
    assert lines[1:] == ["nothing was loaded; the warehouse was left as it was"], quiet.stderr
    verbose = subprocess.run([*command, "--verbose"], env=env, capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr and "Task run 'extract-" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == "nothing was loaded; the warehouse was left as it was"


def test_tables_and_export_commands(seeded, tmp_path):
    warehouse, _ = seeded
    listed = newsflow("tables", "--warehouse", str(warehouse))
    assert listed.exit_code == 0 and "entity_mentions" in listed.stdout
    out = tmp_path / "articles.parquet"
    exported = newsflow("export", "articles", "--out", str(out), "--warehouse", str(warehouse))
    assert exported.exit_code == 0, exported.output
    assert pl.read_parquet(out)["title"].to_list() == [SEED_TITLE]
    csv_out = tmp_path / "entities.csv"
    assert newsflow("export", "entities", "--out", str(csv_out), "--format", "csv",
                    "--warehouse", str(warehouse)).exit_code == 0
    assert "Khaled Meshaal" in csv_out.read_text()
    unknown = newsflow("export", "nope", "--out", str(out), "--warehouse", str(warehouse))
    assert unknown.exit_code == 2 and "no table 'nope'" in unknown.output


def test_sql_on_a_missing_warehouse_is_a_usage_error(tmp_path):
    result = newsflow("sql", "select 1", "--warehouse", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "no warehouse at" in result.output


def test_the_warehouse_opens_in_the_duckdb_cli(seeded):
    """An outside DuckDB client (the `duckdb` shell of the same version) with the DuckLake
    extension reads the lake: the README's recipe."""
    import subprocess
    import sys
    from pathlib import Path

    from warehouse.lake import extension_path

    warehouse, _ = seeded
    duckdb_cli = Path(sys.executable).parent / "duckdb"
    script = (f"LOAD '{extension_path('ducklake')}'; LOAD '{extension_path('sqlite_scanner')}'; "
              f"ATTACH 'ducklake:sqlite:{warehouse / 'catalog.sqlite'}' AS newsflow (READ_ONLY); USE newsflow; "
              "select count(*) as n from entity_mentions where label = 'PERSON';")
    out = subprocess.run([str(duckdb_cli), "-csv", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == "n"
    assert int(out.stdout.splitlines()[1]) >= 2


@pytest.mark.slow
def test_a_user_actor_dictionary_codes_its_actors(prefect_server, tmp_path):
    actors = tmp_path / "my-actors.tsv"
    actors.write_text("name\tcode\tcountry_code\tkind\tlabel\tcanonical\n"
                      "Acme Liberation Front\tXYZREB\tXYZ\tgroup\tORG\tAcme Liberation Front\n")
    article = tmp_path / "acme.txt"
    article.write_text("Rebels strike\nThe Acme Liberation Front attacked Qatar on Monday.\n")
    warehouse = tmp_path / "warehouse"
    result = newsflow("run", str(article), "--actors", str(actors), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    events = sql(warehouse, "select actor1_name, actor1_code, actor1_country_code, event_root_code, actor2_code "
                            "from events")
    assert {"actor1_name": "Acme Liberation Front", "actor1_code": "XYZREB", "actor1_country_code": "XYZ",
            "event_root_code": "19", "actor2_code": "QAT"} in events
    missing = newsflow("run", str(article), "--actors", str(tmp_path / "nope.tsv"), "--warehouse", str(warehouse))
    assert missing.exit_code == 2 and "nope.tsv' does not exist" in missing.output
