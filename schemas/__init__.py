"""Table declarations and what is derived from them (Arrow, DuckDB DDL, expectation suites)."""

from schemas.tables import (
    ARTICLES,
    ENTITIES,
    ENTITY_LABELS,
    ENTITY_MENTIONS,
    FETCH_STATE,
    NER_SPANS,
    QUARANTINE,
    RAW_RECORDS,
    RUN_STARTED_AT,
    RUNS,
    TABLES,
    VALIDATION_RESULTS,
    Table,
)

__all__ = [
    "ARTICLES", "ENTITIES", "ENTITY_LABELS", "ENTITY_MENTIONS", "FETCH_STATE", "NER_SPANS", "QUARANTINE", "RAW_RECORDS",
    "RUN_STARTED_AT", "RUNS", "TABLES", "VALIDATION_RESULTS", "Table",
]
