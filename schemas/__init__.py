"""Table declarations and what is derived from them (Arrow, DuckDB DDL, expectation suites)."""

from schemas.tables import (
    ARTICLES,
    BASE_TABLES,
    CAMEO_CODES,
    CODED_EVENTS,
    ENTITIES,
    ENTITY_ALIASES,
    ENTITY_MERGES,
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
from schemas.views import VIEWS

# Every table and view of the warehouse, by name.
RELATIONS: dict[str, Table] = {**BASE_TABLES, **VIEWS}

__all__ = [
    "ARTICLES", "BASE_TABLES", "CAMEO_CODES", "RELATIONS", "VIEWS", "CODED_EVENTS", "ENTITIES", "ENTITY_ALIASES", "ENTITY_MERGES", "ENTITY_LABELS", "ENTITY_MENTIONS", "EVENT_MENTIONS", "EVENTS", "FETCH_STATE", "NER_SPANS", "QUARANTINE", "RAW_RECORDS",
    "RUN_STARTED_AT", "RUNS", "SLICING", "TABLE_UPDATES", "TABLES", "TOKENS", "VALIDATION_RESULTS", "Slicing", "Table",
]
