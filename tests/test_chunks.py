"""A run processes its records in chunks (normalize, parse, code, validate, stage), then commits
them all as one snapshot: the warehouse gets the same rows whatever the chunk size, and change
and duplicate detection see across chunks."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from tests.conftest import newsflow, shared_data
from tests.test_dask import FEED_FILES, _tables
from warehouse.store import Warehouse

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

STORY = ("Qatar ordered the political leaders of Hamas to leave Doha within a week, officials in the Gulf state "
         "said on Tuesday, after months of stalled talks over a ceasefire in Gaza and the release of hostages.")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two news feeds (about 35 articles), and one story published twice under two URLs, in files
    read first and last, so that the copy lands in a later chunk than its original."""
    folder = tmp_path_factory.mktemp("chunk-inputs")
    source = shared_data("feeds", "fastfeedparser_benchmark")
    for name in FEED_FILES[1:]:
        shutil.copy(source / name, folder / name)
    for name, url in (("0-first.jsonl", "https://gulf.example/qatar-hamas"),
                      ("z-last.jsonl", "https://copy.example/qatar-hamas")):
        (folder / name).write_text(json.dumps({"title": "Qatar orders Hamas out", "text": STORY, "url": url}) + "\n")
    return folder


@pytest.fixture(scope="module")
def warehouses(prefect_server, inputs, tmp_path_factory):
    root = tmp_path_factory.mktemp("chunked")
    out = {}
    with pytest.MonkeyPatch.context() as env:
        for label, size in (("one", "100000"), ("chunked", "7")):
            env.setenv("NEWSFLOW_CHUNK_SIZE", size)
            result = newsflow("run", str(inputs), "--warehouse", str(root / label))
            assert result.exit_code == 0, result.output
            out[label] = root / label
    return out


def test_chunks_load_the_same_rows_as_one_chunk(warehouses):
    one, chunked = _tables(warehouses["one"]), _tables(warehouses["chunked"])
    assert sorted(one) == sorted(chunked)
    assert one["articles"].height >= 25
    for name in one:
        if name == "validation_results":  # each chunk is validated on its own: more results, same verdicts
            continue
        if name == "table_updates":
            one[name], chunked[name] = (t.filter(pl.col("table_name") != "validation_results") for t in (one[name], chunked[name]))
        assert one[name].equals(chunked[name]), name
    results = {label: Warehouse(w).query("SELECT count(*) AS n, bool_and(success) AS ok FROM validation_results").row(0)
               for label, w in warehouses.items()}
    assert results["chunked"][0] > 5 * results["one"][0]  # there were many chunks
    assert results["chunked"][1] == results["one"][1]
    assert not (warehouses["chunked"] / "staging").exists()


def test_a_copy_in_a_later_chunk_points_at_its_original(warehouses):
    copies = Warehouse(warehouses["chunked"]).query(
        "SELECT c.url, o.url AS original_url FROM articles AS c JOIN articles AS o ON o.article_id = c.duplicate_of "
        "WHERE c.url LIKE '%qatar-hamas'")
    assert copies.rows() == [("https://copy.example/qatar-hamas", "https://gulf.example/qatar-hamas")]


def test_a_chunked_rerun_over_the_same_input_changes_nothing(warehouses, inputs):
    store = Warehouse(warehouses["chunked"])
    before = _tables(warehouses["chunked"])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NEWSFLOW_CHUNK_SIZE", "7")
        result = newsflow("run", str(inputs), "--warehouse", str(warehouses["chunked"]))
    assert result.exit_code == 0, result.output
    # every chunk is unchanged: nothing is validated, parsed or written, not even a runs row
    assert "nothing new: 37 articles unchanged; the warehouse was not changed" in result.stdout
    after = _tables(warehouses["chunked"])
    for name in ("articles", "entity_mentions", "entities", "event_mentions", "events"):
        assert before[name].equals(after[name]), name
    assert store.query("SELECT count(*) FROM runs").item() == 1


def test_every_step_of_a_run_balances(warehouses):
    """Rows in = loaded + unchanged + quarantined, for every step of the run's summary."""
    for label, warehouse in warehouses.items():
        (counts,) = Warehouse(warehouse).query("SELECT counts FROM runs ORDER BY started_at LIMIT 1")["counts"]
        steps = json.loads(counts)["steps"]
        assert set(steps) >= {"records", "articles", "entity_mentions", "entities", "event_mentions", "events"}
        for step, c in steps.items():
            assert c["in"] == c["out"] + c.get("unchanged", 0) + c["quarantined"], (label, step, c)
