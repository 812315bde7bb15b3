"""Per-record isolation: a step that fails on a batch is retried without the records that make it fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import polars as pl

T = TypeVar("T")

# Failures that say nothing about the records: the machine, the process or the setup is at fault,
# so the run stops (and loads nothing) instead of quarantining good records.
SYSTEMIC = (MemoryError, OSError, ImportError, SystemError)
# Above this share of a batch failing alone, the step is broken, not the records.
MAX_FAILING_SHARE = 0.1


def failure_reason(err: BaseException) -> str:
    """One line naming an exception: its type and the first line of its message."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {message}"[:500] if message else type(err).__name__


def isolated(step: Callable[[pl.DataFrame], T], rows: pl.DataFrame, key: str,
             reraise: tuple[type[BaseException], ...] = ()) -> tuple[T, pl.DataFrame]:
    """`step(rows)`, and the rows (key, reason) it had to leave out: when the step raises, the
    rows that make it raise on their own are found by halving the batch, and the step runs again
    on the others. A systemic error (SYSTEMIC, or more than MAX_FAILING_SHARE of the rows failing
    alone, or no single row failing) is raised as it came, as are the `reraise` types: failures
    that belong to the batch as a whole."""
    empty = pl.DataFrame(schema={key: pl.String, "reason": pl.String})
    passing = SYSTEMIC + reraise
    try:
        return step(rows), empty
    except passing:
        raise
    except Exception as err:
        limit = max(1, int(rows.height * MAX_FAILING_SHARE))
        bad = _failing(step, rows, key, limit, passing, err)
        if not bad or len(bad) > limit:
            raise
    failed = pl.DataFrame(bad, schema=empty.schema, orient="row")
    return step(rows.join(failed, on=key, how="anti", maintain_order="left")), failed


def _failing(step: Callable[[pl.DataFrame], object], rows: pl.DataFrame, key: str, limit: int,
             passing: tuple[type[BaseException], ...], err: BaseException | None = None) -> list[tuple[str, str]]:
    """(key, reason) of each row of `rows` on which `step` fails alone; `err` is the failure of
    `step(rows)` when it is already known. Stops early once more than `limit` rows failed."""
    if rows.is_empty():
        return []
    if err is None:
        try:
            step(rows)
            return []
        except passing:
            raise
        except Exception as raised:  # noqa: BLE001 -- any record-level failure is narrowed down
            err = raised
    if rows.height == 1:
        return [(str(rows[key][0]), failure_reason(err))]
    half = rows.height // 2
    bad = _failing(step, rows.slice(0, half), key, limit, passing)
    if len(bad) > limit:
        return bad
    return bad + _failing(step, rows.slice(half), key, limit - len(bad), passing)
