"""What a user's SQL may do on the warehouse, in one place for `newsflow sql` and the web
endpoint: one SELECT (or EXPLAIN) statement on a locked-down connection (see
`warehouse.lake.Lake.connect` with `allow_files=False`) that calls no function changing the
instance or showing the machine's files and settings. Refusals and DuckDB's errors come back as
QueryRefused with a one-line message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import duckdb

# Set when the instance is created; the rest (file access, the lock) once the warehouse is attached.
CONNECT_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    # SQL must not see the calling process's Python variables as tables (replacement scans).
    "python_enable_replacements": False,
}
_STATEMENTS_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
FILES = "queries may not read or write files outside the warehouse"
_READ_ONLY = "the warehouse is read-only: only SELECT queries are allowed"
_REFUSED_STATEMENTS = {
    duckdb.StatementType.COPY: FILES,
    duckdb.StatementType.EXPORT: FILES,
    duckdb.StatementType.COPY_DATABASE: FILES,
    duckdb.StatementType.ATTACH: "queries may not attach other databases",
    duckdb.StatementType.DETACH: "queries may not detach databases",
    duckdb.StatementType.LOAD: "queries may not install or load extensions",
    duckdb.StatementType.EXTENSION: "queries may not install or load extensions",
    duckdb.StatementType.SET: "the configuration is locked: queries may not change settings",
    duckdb.StatementType.VARIABLE_SET: "the configuration is locked: queries may not change settings",
    duckdb.StatementType.PRAGMA: "the configuration is locked: queries may not run PRAGMA statements",
    duckdb.StatementType.CALL: "CALL is not allowed; use SELECT * FROM function(...)",
}
# Table functions that change the state of the database instance (logging, profiling,
# checkpoints), run SQL given as a string (which would escape these checks), or read raw memory.
_FUNCTIONS_REFUSED = {
    "enable_logging", "disable_logging", "truncate_duckdb_logs", "enable_profiling", "disable_profiling",
    "checkpoint", "force_checkpoint", "query", "json_execute_serialized_sql", "arrow_scan", "arrow_scan_dumb",
    "pandas_scan", "python_map_function",
    # DuckLake maintenance and file registration (the lake is attached read-only; refused anyway)
    "ducklake_merge_adjacent_files", "ducklake_expire_snapshots", "ducklake_cleanup_old_files",
    "ducklake_flush_inlined_data", "ducklake_add_data_files", "ducklake_set_option", "ducklake_rewrite_data_files",
    "ducklake_delete_orphaned_files",
}
# Functions that show the server's files, settings, extensions or catalog connection string.
_FUNCTIONS_PRIVATE = {
    "duckdb_settings", "current_setting", "duckdb_databases", "pragma_database_list", "duckdb_extensions",
    "duckdb_temporary_files", "duckdb_secrets", "which_secret", "duckdb_logs", "duckdb_log_contexts",
    "ducklake_settings", "ducklake_options", "ducklake_list_files", "pragma_database_size",
}


class QueryRefused(ValueError):
    """A query or download the reader will not run; the message says what and why."""


def one_line(message: str) -> str:
    """DuckDB's message on one line: its lines joined, without the echo of the query and the caret
    under it ("LINE 1: select ..." / "^")."""
    lines = [line.strip() for line in str(message).splitlines()]
    kept = [line for line in lines if line and not re.match(r"^LINE \d+:", line) and set(line) != {"^"}]
    return " ".join(kept)


def _functions_called(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        name = tree.get("function_name")
        if isinstance(name, str):
            yield name.lower()
        for child in tree.values():
            yield from _functions_called(child)
    elif isinstance(tree, list):
        for child in tree:
            yield from _functions_called(child)


def _tables_named(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        if tree.get("type") == "BASE_TABLE" and isinstance(tree.get("table_name"), str):
            yield tree["table_name"].lower()
        for child in tree.values():
            yield from _tables_named(child)
    elif isinstance(tree, list):
        for child in tree:
            yield from _tables_named(child)


def check_query(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Refuse (QueryRefused) anything but one SELECT or EXPLAIN that calls no state-changing or
    private function."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as err:
        raise QueryRefused(f"query failed: {one_line(err)}") from err
    if len(statements) != 1:
        raise QueryRefused(f"refused: send exactly one SQL statement (got {len(statements)})")
    (statement,) = statements
    try:
        kind = statement.type
        name = kind.name if kind.name.isidentifier() else "an unsupported"  # e.g. UPDATE EXTENSIONS
    except duckdb.Error:
        kind, name = None, "an unsupported"
    if kind not in _STATEMENTS_ALLOWED:
        reason = _REFUSED_STATEMENTS.get(kind, _READ_ONLY)
        raise QueryRefused(f"refused: {reason} (got {name} statement)")
    select = statement.query
    if kind == duckdb.StatementType.EXPLAIN:
        select = re.sub(r"^\s*EXPLAIN(\s+ANALY[SZ]E)?\s+", "", select, flags=re.I)
    (tree,) = con.execute("SELECT json_serialize_sql(?)", [select]).fetchone()
    parsed = json.loads(tree)
    if parsed.get("error"):
        raise QueryRefused(f"refused: only SELECT queries are allowed ({one_line(parsed.get('error_message'))})")
    # PRAGMA database_list arrives as SELECT * FROM pragma_database_list: a table, not a call.
    called = set(_functions_called(parsed)) | set(_tables_named(parsed))
    private = sorted(called & _FUNCTIONS_PRIVATE)
    if private:
        raise QueryRefused(
            f"refused: {', '.join(f + '()' for f in private)} would show the server's files and settings"
        )
    refused = sorted(called & _FUNCTIONS_REFUSED)
    if refused:
        raise QueryRefused(
            f"refused: {', '.join(f + '()' for f in refused)} would change the server's database "
            f"instance or run SQL past these checks"
        )


def refusal(err: duckdb.Error, memory_limit: str | None = None) -> QueryRefused:
    """The QueryRefused saying, on one line, why DuckDB did not run a checked query."""
    if isinstance(err, duckdb.PermissionException):
        return QueryRefused(f"refused: {FILES} ({one_line(err)})")
    if isinstance(err, duckdb.OutOfMemoryException):
        return QueryRefused(f"refused: the query needed more than the memory limit of {memory_limit or 'DuckDB'} "
                            f"({str(err).splitlines()[0]})")
    return QueryRefused(f"query failed: {one_line(err)}")
