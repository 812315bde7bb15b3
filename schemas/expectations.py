"""Great Expectations suites derived from the table declarations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.tables import RUN_STARTED_AT, Table


@dataclass(frozen=True)
class Check:
    """One expectation of a suite; critical ones fail the run, the others quarantine rows."""

    expectation: object  # a great_expectations Expectation
    column: str | None
    is_critical: bool


def _bound(value, run_started_at: datetime):
    return run_started_at if value == RUN_STARTED_AT else value


def table_checks(table: Table, run_started_at: datetime) -> list[Check]:
    """The expectations every batch of `table` must meet, in declaration order."""
    import great_expectations.expectations as gxe  # heavy import, only when validating

    checks = [Check(gxe.ExpectColumnToExist(column=c), c, True) for c in table.columns]
    if len(table.key) == 1:
        checks.append(Check(gxe.ExpectColumnValuesToBeUnique(column=table.key[0]), table.key[0], True))
    else:
        checks.append(Check(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(table.key)), None, True))
    for column in table.required:
        checks.append(Check(gxe.ExpectColumnValuesToNotBeNull(column=column), column, column in table.key))
    for column, values in table.allowed.items():
        checks.append(Check(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)), column, False))
    for column, (low, high) in table.ranges.items():
        checks.append(Check(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=_bound(low, run_started_at), max_value=_bound(high, run_started_at)
            ),
            column,
            False,
        ))
    for column in table.row_checks:
        checks.append(Check(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True]), column, False))
    return checks
