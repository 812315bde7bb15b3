"""Where the warehouse lives: a DuckLake (a catalog database plus Parquet data files), and how
every connection to it is made.

One machine (the default, nothing to start): a SQLite catalog in WAL mode,
`<warehouse>/catalog.sqlite`, and data files under `<warehouse>/data/`. Readers in other
processes read the last committed snapshot while a run commits (a DuckDB-file catalog would lock
them out). Several machines: a Postgres catalog (`catalog = "postgres:dbname=... host=..."`) and
data on S3-compatible object storage (`data_path = "s3://bucket/prefix/"`), with the S3
endpoint and keys from the environment (see `S3_ENV`).

The DuckLake, SQLite, Postgres and httpfs extensions are loaded from their PyPI packages
(`duckdb-extension-*`), never downloaded: every connection is made with extension autoloading
and autoinstalling off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import duckdb

CATALOG = "newsflow"  # the name the lake is attached under in every connection
CATALOG_FILE = "catalog.sqlite"
DATA_DIR = "data"
LEGACY_DB_FILE = "newsflow.duckdb"  # the single DuckDB file of versions before the lake
# The S3 secret of an object-storage data path, read from the environment (never from the config
# file, so keys stay out of deployments' stored parameters).
S3_ENV = {
    "KEY_ID": ("NEWSFLOW_S3_KEY_ID", "AWS_ACCESS_KEY_ID"),
    "SECRET": ("NEWSFLOW_S3_SECRET", "AWS_SECRET_ACCESS_KEY"),
    "ENDPOINT": ("NEWSFLOW_S3_ENDPOINT",),  # host:port of an S3-compatible server; empty = AWS
    "REGION": ("NEWSFLOW_S3_REGION", "AWS_REGION"),
    "URL_STYLE": ("NEWSFLOW_S3_URL_STYLE",),  # "path" for most self-hosted servers
    "USE_SSL": ("NEWSFLOW_S3_USE_SSL",),  # "false" for a plain-HTTP endpoint
}
# Rows a write may keep in the catalog instead of a data file: none (see Lake.connect).
DATA_INLINING_ROW_LIMIT = 0
_BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class WarehouseMissing(FileNotFoundError):
    """There is no warehouse at the given place yet."""


class WarehouseDamaged(RuntimeError):
    """The warehouse's catalog is there but cannot be read as a lake (garbled, truncated, not a catalog)."""


class SnapshotMissing(LookupError):
    """The run or time asked for has no snapshot (never committed, or expired by retention)."""


@cache
def extension_path(name: str) -> str:
    """The extension file shipped by the PyPI package `duckdb-extension-<name>` (`_` for `-`)."""
    package = "duckdb_extension_" + name
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {package} package is not installed; run `make setup`")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    found = sorted(folder.glob(f"v{duckdb.__version__}/*.duckdb_extension"))
    if not found:
        raise RuntimeError(f"{package} has no extension built for duckdb {duckdb.__version__} under {folder}")
    return str(found[0])


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Lake:
    """One warehouse: the local folder (lock, Data Docs, staging), the catalog and the data path."""

    root: Path
    catalog: str = ""  # "" = SQLite in the folder; "postgres:<libpq connection string>"; "sqlite:<file>"
    data_path: str = ""  # "" = <root>/data/; a folder or s3://bucket/prefix/

    @property
    def kind(self) -> str:
        return "postgres" if self.catalog.startswith("postgres:") else "sqlite"

    @property
    def catalog_file(self) -> Path | None:
        """The SQLite catalog file; None for Postgres."""
        if self.kind == "postgres":
            return None
        if self.catalog.startswith("sqlite:"):
            return Path(self.catalog.removeprefix("sqlite:")).resolve()
        return (Path(self.root) / CATALOG_FILE).resolve()

    @property
    def catalog_spec(self) -> str:
        return self.catalog if self.kind == "postgres" else f"sqlite:{self.catalog_file}"

    @property
    def data_url(self) -> str:
        """Where the data files go, ending in `/`."""
        url = self.data_path or str((Path(self.root) / DATA_DIR).resolve())
        if "://" not in url:
            url = str(Path(url).resolve())
        return url.rstrip("/") + "/"

    @property
    def on_object_storage(self) -> bool:
        return self.data_url.startswith(("s3://", "s3a://", "gcs://", "gs://", "r2://"))

    @property
    def legacy_file(self) -> Path:
        return Path(self.root) / LEGACY_DB_FILE

    def describe(self) -> str:
        where = str(self.root) if not self.catalog else f"{self.catalog_spec.split(' password=')[0]}"
        return where if not self.data_path else f"{where} (data at {self.data_url})"

    def exists(self) -> bool:
        """Whether a run has created the lake (a catalog with its tables)."""
        if self.kind == "sqlite":
            return self.catalog_file.exists()
        try:
            with self.connect(read_only=True):
                return True
        except WarehouseMissing:
            return False

    def connect(self, read_only: bool = True, snapshot: int | None = None, config: dict | None = None,
                allow_files: bool = True) -> duckdb.DuckDBPyConnection:
        """A private in-memory DuckDB instance with the lake attached as `newsflow` and in use,
        timestamps shown in UTC. `snapshot`: read that snapshot (read-only). `allow_files=False`:
        no file access but the lake's own data files, and the configuration locked."""
        if read_only and self.kind == "sqlite" and not self.catalog_file.exists():
            raise WarehouseMissing(f"no warehouse at {self.root} (no {CATALOG_FILE}); run `newsflow run` first")
        con = duckdb.connect(":memory:", config={**_BASE_CONFIG, **(config or {})})
        try:
            con.execute(f"LOAD {_literal(extension_path('ducklake'))}")
            con.execute(f"LOAD {_literal(extension_path('postgres_scanner' if self.kind == 'postgres' else 'sqlite_scanner'))}")
            if self.on_object_storage:
                con.execute(f"LOAD {_literal(extension_path('httpfs'))}")
                con.execute(self._s3_secret())
            options = [f"DATA_PATH {_literal(self.data_url)}"]
            if not self.data_path and self.kind == "sqlite" and not self.catalog:
                # The default lake is its folder: data paths are stored relative to DATA_PATH, so a
                # moved or copied folder reads its own files.
                options.append("OVERRIDE_DATA_PATH TRUE")
            if self.kind == "sqlite":
                options += ["META_JOURNAL_MODE 'WAL'", "META_BUSY_TIMEOUT 30000"]
            if read_only:
                options.append("READ_ONLY")
            else:
                # No rows kept in the catalog (data inlining): moving them into files later
                # (ducklake_flush_inlined_data) hides them from a reader whose transaction took its
                # snapshot before the flush and reads the table after it (issue 21: 1 article -> 0).
                options.append(f"DATA_INLINING_ROW_LIMIT {DATA_INLINING_ROW_LIMIT}")
            if snapshot is not None:
                options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
            if not read_only and self.kind == "sqlite":
                Path(self.root).mkdir(parents=True, exist_ok=True)
                if not self.on_object_storage:
                    Path(self.data_url).mkdir(parents=True, exist_ok=True)
            try:
                con.execute(f"ATTACH {_literal('ducklake:' + self.catalog_spec)} AS {CATALOG} ({', '.join(options)})")
            except duckdb.Error as err:
                if read_only and _is_missing(err):
                    raise WarehouseMissing(f"no warehouse at {self.describe()}; run `newsflow run` first") from None
                if snapshot is not None and "snapshot" in str(err).lower():
                    raise SnapshotMissing(f"snapshot {snapshot} is not in the warehouse (expired or never made)") from None
                if _is_damaged(err):
                    where = self.catalog_file or self.describe()
                    raise WarehouseDamaged(
                        f"the warehouse catalog {where} is damaged and cannot be read ({_reason(err)}); "
                        f"restore it from a backup, or move the warehouse folder away and run `newsflow run`"
                    ) from None
                raise
            con.execute(f"USE {CATALOG}")
            con.execute("SET TimeZone = 'UTC'")
            if not allow_files:
                directories = [self.data_url] + ([] if self.on_object_storage else [str(Path(self.data_url).resolve()) + "/"])
                con.execute("SET allowed_directories = [" + ", ".join(_literal(d) for d in directories) + "]")
                con.execute("SET enable_progress_bar = false")  # a server's terminal is not the reader's
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con

    @property
    def staging_url(self) -> str:
        """Where runs stage their tables until they commit, one folder per run: the warehouse
        folder's `staging/`, or with an object-storage data path its `staging/` prefix, which
        Dask workers on other machines reach as the run's process does."""
        if self.on_object_storage:
            return self.data_url + "staging"
        return str((Path(self.root) / "staging").resolve())

    def staging_filesystem(self):
        """`staging_url` as a pyarrow filesystem and the path in it; S3 keys and endpoint from
        the environment, as for DuckDB (see `S3_ENV`)."""
        from pyarrow import fs

        if not self.on_object_storage:
            return fs.LocalFileSystem(), self.staging_url
        scheme, path = self.staging_url.split("://", 1)
        if scheme not in ("s3", "s3a", "r2"):
            raise ValueError(f"runs stage their tables on S3-compatible storage only, not {scheme}://")
        values = _s3_values()
        return fs.S3FileSystem(
            access_key=values.get("KEY_ID"), secret_key=values.get("SECRET"),
            endpoint_override=values.get("ENDPOINT"), region=values.get("REGION", "us-east-1"),
            scheme="http" if values.get("USE_SSL", "true").lower() == "false" else "https",
            force_virtual_addressing=values.get("URL_STYLE", "").lower() == "vhost",
        ), path

    def _s3_secret(self) -> str:
        values = _s3_values()
        parts = ["TYPE s3"]
        for option, value in values.items():
            parts.append(f"{option} {value.lower() if option == 'USE_SSL' else _literal(value)}")
        return f"CREATE OR REPLACE SECRET newsflow_s3 ({', '.join(parts)})"


def _s3_values() -> dict[str, str]:
    """The S3 options set in the environment (see `S3_ENV`)."""
    values = {}
    for option, names in S3_ENV.items():
        value = next((os.environ[n] for n in names if os.environ.get(n)), None)
        if value is not None:
            values[option] = value
    return values


class ReadInterrupted(RuntimeError):
    """Maintenance rewrote data files under every attempt at a read; trying again later will do."""


# What a snapshot that rewrote data files records in the catalog's snapshot changes (DuckLake
# 1.0: "merge_adjacent:<table id>"; the flush and compaction words for what other tools may run).
_REWRITES = ("merge_adjacent", "flush", "compact", "rewrite")
READ_ATTEMPTS = 5


def latest_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The last committed snapshot's id, read from the catalog by its key (in a transaction of its own
    unless the connection is in one)."""
    return con.execute(f"SELECT max(snapshot_id) FROM __ducklake_metadata_{CATALOG}.ducklake_snapshot").fetchone()[0]


def rewritten_since(con: duckdb.DuckDBPyConnection, snapshot: int) -> bool:
    """Whether a snapshot after `snapshot` rewrote data files (compaction), read in a new transaction."""
    like = " OR ".join(f"changes_made LIKE '%{word}%'" for word in _REWRITES)
    return con.execute(f"SELECT count(*) FROM __ducklake_metadata_{CATALOG}.ducklake_snapshot_changes "
                       f"WHERE snapshot_id > ? AND ({like})", [int(snapshot)]).fetchone()[0] > 0


def read_consistently(con: duckdb.DuckDBPyConnection, read, attempts: int = READ_ATTEMPTS):
    """`read(con)`, run again when maintenance committed a compaction while it ran. DuckLake 1.0
    (duckdb 1.5.5) reads a table's files and inlined rows from the catalog as it is when the
    table is first scanned, not as it was at the transaction's snapshot: a transaction (even one
    query) whose snapshot predates a compaction's commit and that scans after it misses the
    rewritten rows (issue 21: a reader saw 0 articles beside 1 before and 91 after; 13 of 60 in
    tests/test_reader_snapshots.py). A compaction committed since the read began is found in the
    catalog's snapshot changes; the read is then done again, in a new transaction."""
    for _ in range(attempts):
        start = latest_snapshot(con)
        result = read(con)
        if not rewritten_since(con, start):
            return result
    raise ReadInterrupted(f"the warehouse was compacted during each of {attempts} attempts at the read; "
                          f"try again (maintenance is running)")


def _is_missing(err: duckdb.Error) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("does not exist", "no such table", "not initialized", "cannot open",
                                   "unable to open", "read-only mode", "read only"))


def _is_damaged(err: duckdb.Error) -> bool:
    # SQLite's words for a file that is not (or no longer) a database; "locked" is a busy catalog, not a damaged one.
    text = str(err).lower()
    return "locked" not in text and any(s in text for s in ("file is not a database", "malformed",
                                                            "failed to load existing ducklake"))


def _reason(err: duckdb.Error) -> str:
    """DuckDB's message in one line, without its "Failed to ..." wrappers."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return first.rsplit(": ", 1)[-1].strip() or first
