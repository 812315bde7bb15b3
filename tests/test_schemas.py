"""Every table's declaration yields matching Arrow, DuckDB and transform output schemas."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import polars as pl
import pytest

from schemas import ARTICLES, ENTITIES, ENTITY_MENTIONS, QUARANTINE, RAW_RECORDS, NER_SPANS, RELATIONS, TABLES
from schemas.derive import arrow_schema, duckdb_ddl
from schemas.expectations import table_checks
from transforms.entities import article_entity_mentions, entities, nlp_documents
from transforms.normalize import articles_from_records
from transforms.quarantine import REJECTS, quarantine_records

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_duckdb_table_from_ddl_has_the_declared_columns(table):
    con = duckdb.connect()
    con.execute(duckdb_ddl(table))
    columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
    assert columns == table.columns


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_arrow_schema_round_trips_through_duckdb(table):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(duckdb_ddl(table))
    empty = pl.DataFrame(schema=table.schema).to_arrow().cast(arrow_schema(table))
    con.register("staged", empty)
    con.execute(f"INSERT INTO {table.name} SELECT * FROM staged")
    back = pl.from_arrow(con.execute(f"SELECT * FROM {table.name}").to_arrow_table())
    assert back.schema == table.schema


def test_normalized_articles_carry_every_article_column():
    out = articles_from_records(pl.LazyFrame(schema=RAW_RECORDS), NOW).collect_schema()
    assert {k: out[k] for k in ARTICLES.columns} == dict(ARTICLES.schema)


def test_mentions_and_entities_have_their_table_schemas():
    documents = nlp_documents(pl.LazyFrame(schema=ARTICLES.schema))
    mentions = article_entity_mentions(documents, pl.LazyFrame(schema=NER_SPANS))
    assert mentions.collect_schema() == ENTITY_MENTIONS.schema
    assert entities(mentions).collect_schema() == ENTITIES.schema


def test_quarantine_records_have_the_quarantine_schema():
    out = quarantine_records(pl.LazyFrame(schema=REJECTS), "run-1", NOW)
    assert out.collect_schema() == QUARANTINE.schema


def test_checks_resolve_the_run_start_bound_and_mark_key_checks_critical():
    checks = table_checks(ARTICLES, NOW)
    between = [c.expectation for c in checks
               if c.column == "published_at" and type(c.expectation).__name__ == "ExpectColumnValuesToBeBetween"]
    assert [b.max_value for b in between] == [NOW]
    critical = {(type(c.expectation).__name__, c.column) for c in checks if c.is_critical}
    assert ("ExpectColumnValuesToBeUnique", "article_id") in critical
    assert ("ExpectColumnValuesToNotBeNull", "title") not in critical


@pytest.mark.parametrize("table", list(RELATIONS.values()), ids=list(RELATIONS))
def test_every_column_of_every_table_and_view_says_what_it_means(table):
    assert table.grain.strip()
    assert list(table.descriptions) == table.columns  # one each, in column order, none for a dropped column
    assert all(d.strip() and "\n" not in d for d in table.descriptions.values())
    assert set(table.key) <= set(table.columns)
