"""The CAMEO codebook as a warehouse table: names of each code's root and quad class."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from lexicons.loaders import CAMEO_CODES_SCHEMA, QUAD_CLASSES_SCHEMA, cameo_codes, quad_classes
from schemas import CAMEO_CODES
from transforms.codebook import cameo_code_rows

CODES = pl.DataFrame(
    {"event_code": ["17", "174", "01"], "name": ["Coerce", "Expel or deport individuals", "Make public statement"],
     "goldstein": [-7.0, -5.0, 0.0], "event_base_code": ["17", "174", "01"], "event_root_code": ["17", "17", "01"],
     "quad_class": [4, 4, 1], "plover_event": ["COERCE", "COERCE", ""]},
    schema=CAMEO_CODES_SCHEMA,
)
QUADS = pl.DataFrame({"quad_class": [1, 4], "quad_class_name": ["Verbal cooperation", "Material conflict"]},
                     schema=QUAD_CLASSES_SCHEMA)


def test_each_code_gets_its_roots_name_and_its_quad_class_name():
    expected = pl.DataFrame(
        {"event_code": ["01", "17", "174"],
         "event_name": ["Make public statement", "Coerce", "Expel or deport individuals"],
         "event_base_code": ["01", "17", "174"], "event_root_code": ["01", "17", "17"],
         "event_root_name": ["Make public statement", "Coerce", "Coerce"], "quad_class": [1, 4, 4],
         "quad_class_name": ["Verbal cooperation", "Material conflict", "Material conflict"],
         "goldstein_scale": [0.0, -7.0, -5.0], "plover_event": ["", "COERCE", "COERCE"]},
        schema=CAMEO_CODES.schema,
    )
    assert_frame_equal(cameo_code_rows(CODES.lazy(), QUADS.lazy()).collect(), expected)


def test_the_output_schema_is_the_declared_one_on_an_empty_frame():
    empty = cameo_code_rows(CODES.clear().lazy(), QUADS.clear().lazy())
    assert empty.collect_schema() == CAMEO_CODES.schema


def test_every_shipped_code_has_a_root_and_quad_class_name():
    rows = cameo_code_rows(cameo_codes().lazy(), quad_classes().lazy()).collect()
    assert rows.height == cameo_codes().height and rows["event_code"].is_unique().all()
    assert rows.select(CAMEO_CODES.required).null_count().sum_horizontal().item() == 0
    assert set(rows["quad_class_name"]) == {"Verbal cooperation", "Material cooperation", "Verbal conflict",
                                            "Material conflict"}
