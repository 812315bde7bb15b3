"""benchmarks/event_audit.py: the calibration table of judged events, on literal judgments."""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("event_audit", ROOT / "benchmarks" / "event_audit.py")
event_audit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = event_audit
_spec.loader.exec_module(event_audit)


@pytest.mark.parametrize(
    ("judged", "edge", "expected"),
    [
        pytest.param([(0.95, True), (0.55, False), (0.65, True)], 0.0, (3, 2 / 3), id="all-at-zero"),
        pytest.param([(0.95, True), (0.55, False), (0.65, True)], 0.6, (2, 1.0), id="above-the-edge"),
        pytest.param([(0.95, False)], 0.9, (1, 0.0), id="one-wrong"),
    ],
)
def test_calibration_counts_the_judged_events_at_or_above_each_edge(judged, edge, expected):
    table = {round(e, 1): (n, p) for e, n, p in event_audit.calibration(judged)}
    assert table[edge] == pytest.approx(expected)


def test_calibration_of_an_edge_with_no_event_is_not_a_number():
    table = event_audit.calibration([(0.1, True)])
    assert [n for _, n, _ in table][1:] == [0] * (len(table) - 1)
    assert all(math.isnan(p) for _, _, p in table[1:])
