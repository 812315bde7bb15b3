"""Table declarations and what is derived from them (Arrow, DuckDB DDL, expectation suites)."""

from schemas.tables import (
    ARTICLES,
    CODED_EVENTS,
    ENTITIES,
    ENTITY_LABELS,
    ENTITY_MENTIONS,
    EVENT_MENTIONS,
    EVENTS,
    FETCH_STATE,
    NER_SPANS,
    QUARANTINE,
    RAW_RECORDS,
    RUN_STARTED_AT,
    RUNS,
    SLICING,
    TABLE_UPDATES,
    TABLES,
    TOKENS,
    VALIDATION_RESULTS,
    Slicing,
    Table,
)

__all__ = [
    "ARTICLES", "CODED_EVENTS", "ENTITIES", "ENTITY_LABELS", "ENTITY_MENTIONS", "EVENT_MENTIONS", "EVENTS", "FETCH_STATE", "NER_SPANS", "QUARANTINE", "RAW_RECORDS",
    "RUN_STARTED_AT", "RUNS", "SLICING", "TABLE_UPDATES", "TABLES", "TOKENS", "VALIDATION_RESULTS", "Slicing", "Table",
]
