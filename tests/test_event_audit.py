"""benchmarks/event_audit.py: the confidence fit and the weights it writes, on literal judgments."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("event_audit", ROOT / "benchmarks" / "event_audit.py")
event_audit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = event_audit
_spec.loader.exec_module(event_audit)


def test_a_feature_that_marks_right_events_gets_a_positive_weight():
    rows = [("a", ["coded"], True)] * 8 + [("b", ["coded"], False)] * 2 + [("c", [], False)] * 8 + [("d", [], True)] * 2
    weights = event_audit.fitted_weights(rows, ["coded", "unused"], l2=1.0)
    assert weights["coded"] > 1.0 > weights["unused"] == 0.0
    # the ridge penalty pulls both toward the base rate (0.5) from the observed 0.8 and 0.2
    assert 0.6 < event_audit._probability(weights, ["coded"]) < 0.8
    assert 0.2 < event_audit._probability(weights, []) < 0.4


def test_fitted_weights_replace_only_the_confidence_section(tmp_path):
    toml = tmp_path / "coder.toml"
    toml.write_text("[codes]\nintercept = 9\n\n[confidence]\n# why\nintercept = -0.5\ntitle = 0.1\n", encoding="utf-8")
    event_audit.write_weights({"intercept": 1.25, "title": -0.3}, toml)
    assert toml.read_text(encoding="utf-8") == (
        "[codes]\nintercept = 9\n\n[confidence]\n# why\nintercept = 1.25\ntitle = -0.3\n")


def test_the_recalibrated_intercept_makes_the_mean_confidence_the_share_correct():
    rows = [("a", ["coded"], True)] * 3 + [("b", ["coded"], False)] * 1 + [("c", [], False)] * 4
    weights = {"intercept": 2.0, "coded": 1.0}
    intercept = event_audit.recalibrated_intercept(rows, weights)
    mean = sum(event_audit._probability({**weights, "intercept": intercept}, p) for _, p, _ in rows) / len(rows)
    assert abs(mean - 3 / 8) < 1e-3
