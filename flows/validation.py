"""Running the expectation suites with Great Expectations and rendering Data Docs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from flows.data_docs import keep_index_entries, publish_docs
from schemas import Table
from schemas.expectations import table_checks

DOCS_SITE = "newsflow"


class CriticalValidationError(RuntimeError):
    """A table-level expectation failed: nothing of the run may be published."""


@dataclass
class TableValidation:
    """Outcome of one table's suite: a row per expectation, and the failing keys with reasons."""

    results: list[dict] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)  # key value -> reasons

    def failures_frame(self, key: str) -> pl.DataFrame:
        return pl.DataFrame(
            {key: list(self.failures), "reason": ["; ".join(r) for r in self.failures.values()]},
            schema={key: pl.String, "reason": pl.String},
        )


class Validator:
    """One Great Expectations ephemeral context for a chunk's work (`flows.pipeline.work_chunk`):
    `validate` per table, then `build_docs`; its results go with it, so a run holds one chunk's.
    Great Expectations (~2.5 s to import) is imported and its context made at the first `validate`:
    a run with nothing to validate never pays for it."""

    def __init__(self, docs_dir: Path, run_started_at: datetime):
        self.docs_dir = docs_dir
        self.run_started_at = run_started_at
        self.run_name = f"run-{run_started_at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"
        self._context = None
        self._source = None  # the context's pandas data source
        self._definitions: dict[str, tuple] = {}  # table -> (checks, validation definition), reused when a table is validated again (a chunk halved)

    @property
    def context(self):
        """The run's GE context, with the Data Docs site writing into `docs_dir` (made at first use)."""
        if self._context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            # GE sets INFO on some of its own loggers (e.g. data_context.types.base) at import time.
            for name in ("great_expectations", "great_expectations.data_context.types.base"):
                logging.getLogger(name).setLevel(logging.ERROR)
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            for name in list(context.list_data_docs_sites()):
                context.delete_data_docs_site(name)  # the default site writes to a temporary folder
            context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                      "base_directory": str(self.docs_dir.resolve())},
                    "show_how_to_buttons": False,
                },
            )
            self._source = context.data_sources.add_pandas(name="newsflow")
            self._context = context
        return self._context

    def validate(self, table: Table, frame: pl.DataFrame) -> TableValidation:
        """Run `table`'s suite on `frame` (its columns plus any row-check columns)."""
        key = table.key[0]
        if table.name not in self._definitions:  # a run validates each table once per chunk
            context = self.context
            import great_expectations as gx  # imported by the context already

            checks = table_checks(table, self.run_started_at)
            suite = gx.ExpectationSuite(name=table.name)
            for check in checks:
                suite.add_expectation(check.expectation)
            suite = context.suites.add(suite)
            batch = self._source.add_dataframe_asset(name=table.name).add_batch_definition_whole_dataframe("run")
            self._definitions[table.name] = (checks, context.validation_definitions.add(
                gx.ValidationDefinition(name=table.name, data=batch, suite=suite)))
        checks, definition = self._definitions[table.name]
        from great_expectations.core.run_identifier import RunIdentifier

        outcome = definition.run(
            batch_parameters={"dataframe": frame.to_pandas()},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key]},
            # Named after the newsflow run (its start), so that the Data Docs index tells runs apart.
            run_id=RunIdentifier(run_name=self.run_name, run_time=datetime.now(timezone.utc)),
        )
        by_id = {r.expectation_config.id: r for r in outcome.results}
        validation = TableValidation()
        for check in checks:
            result = by_id[check.expectation.id]
            config = result.expectation_config
            stats = result.result or {}
            validation.results.append({
                "table_name": table.name,
                "expectation": config.type,
                "column_name": check.column,
                "is_critical": check.is_critical,
                "success": bool(result.success),
                "element_count": stats.get("element_count"),
                "unexpected_count": stats.get("unexpected_count"),
            })
            if result.success:
                continue
            if check.is_critical:
                raise CriticalValidationError(
                    f"{table.name}: {config.type} failed on column {check.column!r} "
                    f"({stats.get('unexpected_count')} of {stats.get('element_count')} rows); nothing was loaded"
                )
            reason = f"failed {config.type} on {check.column}"
            for row in stats.get("unexpected_index_list") or []:
                value = row.get(check.column) if isinstance(row, dict) else None
                value = value.item() if hasattr(value, "item") else value
                key_value = row[key] if isinstance(row, dict) else row
                validation.failures.setdefault(str(key_value), []).append(f"{reason} (value {value!r})")
        return validation

    def build_docs(self) -> None:
        """Render the Data Docs pages of every suite run in this context into the docs folder, with
        an index entry per validation (`publish_docs` builds the index over every run's entries);
        nothing when nothing was validated."""
        if self._context is None:
            return
        self.context.build_data_docs(site_names=[DOCS_SITE], build_index=False)
        keep_index_entries(self.context, self.docs_dir)

    @staticmethod
    def publish_docs(staging: Path, docs: Path) -> None:
        """Copy a run's Data Docs into the warehouse's `docs`, offline-ready, and rebuild the index
        over every run (see flows/data_docs.py)."""
        publish_docs(staging, docs)
