"""Per-record isolation: a failing record is narrowed down and left out, the others go on."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

import flows.pipeline as pipeline
from flows.isolation import isolated
from tests.conftest import SEED_FILE, newsflow


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame({"article_id": [f"a{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)]})


def _step(poison: set[str], calls: list[int] | None = None):
    def step(rows: pl.DataFrame) -> list[str]:
        if calls is not None:
            calls.append(rows.height)
        bad = poison & set(rows["article_id"])
        if bad:
            raise ValueError(f"[E088] text of {sorted(bad)[0]} too long\nsecond line")
        return rows["article_id"].to_list()
    return step


@pytest.mark.parametrize(("poison", "n"), [
    pytest.param(set(), 10, id="nothing-fails"),
    pytest.param({"a3"}, 10, id="one-in-ten"),
    pytest.param({"a0", "a99"}, 100, id="first-and-last"),
    pytest.param({"a0"}, 1, id="alone-in-a-batch-of-one-is-systemic"),
])
def test_failing_rows_are_left_out_with_their_reason(poison, n):
    rows = _rows(n)
    if len(poison) > max(1, n // 10):
        with pytest.raises(ValueError, match="E088"):
            isolated(_step(poison), rows, "article_id")
        return
    result, failed = isolated(_step(poison), rows, "article_id")
    assert result == [k for k in rows["article_id"] if k not in poison]
    assert sorted(failed["article_id"]) == sorted(poison)
    assert all(r.startswith("ValueError: [E088] text of") and "\n" not in r for r in failed["reason"])


def test_narrowing_one_failure_costs_a_logarithmic_number_of_calls():
    calls: list[int] = []
    isolated(_step({"a700"}, calls), _rows(1000), "article_id")
    assert len(calls) <= 2 * 11 + 2  # ~2 calls per halving, plus the first and the final run


def test_a_step_that_fails_on_most_rows_is_broken_not_the_rows():
    with pytest.raises(ValueError):
        isolated(_step({f"a{i}" for i in range(0, 100, 3)}), _rows(100), "article_id")


def test_a_systemic_error_is_raised_at_once():
    calls: list[int] = []

    def step(rows):
        calls.append(rows.height)
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError):
        isolated(step, _rows(50), "article_id")
    assert calls == [50]


def test_a_failure_no_single_row_causes_is_raised():
    def step(rows):
        if rows.height > 3:
            raise RuntimeError("only large batches fail")
        return rows.height

    with pytest.raises(RuntimeError, match="only large batches"):
        isolated(step, _rows(8), "article_id")


@pytest.mark.slow
def test_an_article_the_language_stage_fails_on_is_quarantined_and_the_run_goes_on(prefect_server, tmp_path,
                                                                                   monkeypatch):
    """Fault injection around the real model: the event coder raises on one article of the chunk."""
    real = pipeline.code_events

    def coder_failing_on_one(documents, language, articles, settings):
        if articles["title"].str.contains("Poisoned").any():
            raise RecursionError("maximum recursion depth exceeded while coding")
        return real(documents, language, articles, settings)

    monkeypatch.setattr(pipeline, "code_events", coder_failing_on_one)
    real_normalize, real_validate = pipeline.normalize, pipeline.validate

    def normalize_failing_on_one(records, *args):
        if records["title"].str.contains("Unnormalizable").any():
            raise OverflowError("date value out of range")
        return real_normalize(records, *args)

    def suite_failing_on_one(validator, table_name, frame):
        if table_name == "entity_mentions" and "name" in frame.columns and (frame["name"] == "Cairo").any():
            raise TypeError("'<' not supported between instances of 'str' and 'NoneType'")
        return real_validate(validator, table_name, frame)

    monkeypatch.setattr(pipeline, "normalize", normalize_failing_on_one)
    monkeypatch.setattr(pipeline, "validate", suite_failing_on_one)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(SEED_FILE, inputs / "seed.txt")
    (inputs / "dump.jsonl").write_text(
        '{"title": "Egypt mediates", "text": "Egypt continued its mediating role in Cairo on Sunday."}\n'
        '{"title": "Poisoned record", "text": "Israel struck targets in Gaza on Monday."}\n'
        '{"title": "Unnormalizable record", "text": "Nothing to see."}\n')
    warehouse = tmp_path / "warehouse"
    result = newsflow("run", str(inputs), "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output

    def sql(query):
        out = newsflow("sql", query, "--warehouse", str(warehouse), "--format", "json")
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    assert sorted(r["title"] for r in sql("select title from articles"))[:1] == ["Egypt mediates"]
    assert len(sql("select title from articles")) == 2
    rows = {r["stage"]: r for r in sql("select stage, record_key, reason, octet_length(payload) n from quarantine")}
    assert set(rows) == {"language", "normalize", "validate"}
    assert rows["language"]["record_key"] == "line 2" and rows["language"]["reason"] == (
        "the language model or the event coder failed on this article: "
        "RecursionError: maximum recursion depth exceeded while coding")
    assert rows["normalize"]["record_key"] == "line 3" and rows["normalize"]["reason"] == (
        "normalizing failed with an error: OverflowError: date value out of range")
    assert rows["validate"]["reason"] == ("validation failed with an error: TypeError: '<' not supported between "
                                          "instances of 'str' and 'NoneType'")
    assert all(r["n"] > 0 for r in rows.values())
    names = {r["text"] for r in sql("select m.text from entity_mentions m join articles a using (article_id) "
                                    "where a.title = 'Egypt mediates'")}
    assert "Egypt" in names and "Cairo" not in names
