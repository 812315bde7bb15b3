"""Rows a rejection elsewhere takes with it are quarantined with a reason, so every table's counts
balance: rows in = rows loaded + rows quarantined."""

from __future__ import annotations

import polars as pl

from transforms.quarantine import cascaded_failures

KEYS = {"entity_mentions": "mention_id", "entities": "entity_id", "event_mentions": "mention_id", "events": "event_id"}


def _failures(key: str, rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={key: pl.String, "reason": pl.String}, orient="row")


def _frames() -> dict[str, pl.DataFrame]:
    return {
        "entity_mentions": pl.DataFrame({"mention_id": ["m1", "m2", "m3"], "entity_id": ["e1", "e1", "e2"]}),
        "entities": pl.DataFrame({"entity_id": ["e1", "e2"]}),
        "event_mentions": pl.DataFrame({"mention_id": ["v1", "v2", "v3"], "event_id": ["x1", "x1", "x2"]}),
        "events": pl.DataFrame({"event_id": ["x1", "x2"]}),
    }


def test_mentions_of_a_quarantined_entity_go_with_it_and_counts_balance():
    frames = _frames()
    out = cascaded_failures(frames, {"entities": _failures("entity_id", [("e1", "failed name not null")])}, KEYS)
    assert out["entity_mentions"].sort("mention_id").rows() == [
        ("m1", "its entity e1 was quarantined (failed name not null)"),
        ("m2", "its entity e1 was quarantined (failed name not null)")]
    for name, frame in frames.items():
        loaded = frame.join(out[name], on=KEYS[name], how="anti").height
        assert frame.height == loaded + out[name].height, name


def test_an_event_whose_every_mention_failed_is_quarantined_too():
    frames = _frames()
    out = cascaded_failures(frames, {"event_mentions": _failures("mention_id", [("v3", "failed is_span_exact")])}, KEYS)
    assert out["events"].rows() == [("x2", "no row of event_mentions is left for it (all were quarantined)")]
    assert out["event_mentions"].rows() == [("v3", "failed is_span_exact")]  # x1 keeps v1 and v2


def test_a_quarantined_event_takes_its_mentions_and_nothing_else():
    frames = _frames()
    out = cascaded_failures(frames, {"events": _failures("event_id", [("x1", "failed is_code_in_codebook")])}, KEYS)
    assert sorted(out["event_mentions"]["mention_id"]) == ["v1", "v2"]
    assert out["events"]["event_id"].to_list() == ["x1"]
    assert out["entities"].height == 0 and out["entity_mentions"].height == 0


def test_nothing_failed_nothing_cascades():
    out = cascaded_failures(_frames(), {}, KEYS)
    assert all(frame.height == 0 for frame in out.values())
