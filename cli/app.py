"""The `newsflow` command line: run, sql, search, export, tables, describe."""

from __future__ import annotations

import enum
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="newsflow: news articles -> a validated DuckLake warehouse (DuckDB SQL, Parquet downloads).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: Rich markup would read "[run] catalog" or "[brackets]" in a help text as a
    # style tag and drop it.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

WarehouseOption = Annotated[
    Optional[Path],
    typer.Option("--warehouse", "-w", help="Warehouse folder (default: ./warehouse, or $NEWSFLOW_WAREHOUSE)."),
]


CatalogOption = Annotated[
    Optional[str],
    typer.Option("--catalog", help="DuckLake catalog: default SQLite in the warehouse folder; for several machines "
                                   "postgres:<libpq string> (or $NEWSFLOW_CATALOG, or [run] catalog)."),
]
DataPathOption = Annotated[
    Optional[str],
    typer.Option("--data-path", help="Where the lake's Parquet files go: default <warehouse>/data/; or "
                                     "s3://bucket/prefix/ (or $NEWSFLOW_DATA_PATH, or [run] data_path)."),
]

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="Project config file (default: ./newsflow.toml when there is one)."),
]


class IfRunning(str, enum.Enum):
    wait = "wait"
    skip = "skip"


def _config(path: Optional[Path], required: bool = False):
    """The project config: the given file, else ./newsflow.toml if present (None when absent)."""
    from config.project import CONFIG_FILE, ConfigError, load_config

    if path is None:
        if not Path(CONFIG_FILE).is_file():
            if required:
                _fail(f"no {CONFIG_FILE} here; pass --config FILE (see README, 'Schedules')", 2)
            return None
        path = Path(CONFIG_FILE)
    try:
        return load_config(path)
    except ConfigError as err:
        _fail(str(err), 2)


class TaskRunner(str, enum.Enum):
    default = "default"
    dask = "dask"


class SqlFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


class SearchFormat(str, enum.Enum):
    table = "table"
    json = "json"


class ExportFormat(str, enum.Enum):
    parquet = "parquet"
    csv = "csv"


def _prefect_defaults() -> None:
    # Prefect reads its settings when imported, so they are set before the flow module loads.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if "PREFECT_API_URL" not in os.environ:
        # The local server (flows.prefect_server) is a local process: when it stops answering it
        # has died, and five retries with backoff only hold the run for minutes before it says so.
        os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "1")


@contextmanager
def _quiet_prefect_console(verbose: bool):
    """Prefect's log lines on the terminal only with --verbose: otherwise only warnings, and no
    traceback (a failed run says what failed in its own last lines). The lines still go to the
    Prefect API, for its UI."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    if verbose:
        yield
        return

    def keep(record: logging.LogRecord) -> bool:
        # An error of the run (with its traceback, or a task or flow "Finished in state Failed")
        # is what the run's own last lines report.
        return record.levelno == logging.WARNING and not record.exc_info

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    for handler in handlers:
        handler.addFilter(keep)
    # Processes the run starts (a temporary Dask cluster's workers) configure their logging anew.
    children = os.environ.get("PREFECT_LOGGING_LEVEL")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(keep)
        if children is None:
            os.environ.pop("PREFECT_LOGGING_LEVEL", None)


def _orchestration_lost(err: BaseException) -> bool:
    """Whether a run failed because the Prefect API could not be reached (its server died)."""
    import httpx

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
            return True
        err = err.__cause__ or err.__context__
    return False


def _warehouse_root(warehouse: Optional[Path]) -> Path:
    """The warehouse folder: the flag, else NEWSFLOW_WAREHOUSE, else ./newsflow.toml's, else ./warehouse."""
    from config.settings import resolve_settings

    project = _config(None)
    return resolve_settings(config=project.run if project else None, warehouse=warehouse).warehouse


def _store(warehouse: Optional[Path], catalog: Optional[str] = None, data_path: Optional[str] = None):
    """The warehouse the flags, NEWSFLOW_* variables and ./newsflow.toml name (folder, catalog, data path)."""
    from config.settings import resolve_settings
    from warehouse.store import Warehouse

    project = _config(None)
    return Warehouse.from_settings(resolve_settings(config=project.run if project else None, warehouse=warehouse,
                                                    catalog=catalog, data_path=data_path))


def _echo_table(frame, str_lengths: int) -> None:
    """Print a frame whole, as a table without its shape and types."""
    import polars as pl

    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=str_lengths, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        typer.echo(frame)


def _fail(message: str, code: int) -> None:
    typer.echo(f"newsflow: {message}", err=True)
    raise typer.Exit(code)


def _nothing_new(articles: int, urls_not_modified: int) -> str:
    return (f"nothing new: {articles} article{'s' if articles != 1 else ''} unchanged"
            + (f", {urls_not_modified} URLs not modified" if urls_not_modified else "")
            + "; the warehouse was not changed")


@app.command()
def run(
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(help="Files, folders (walked recursively), feed or page URLs (default: seeds/)."),
    ] = None,
    sources: Annotated[
        Optional[Path],
        typer.Option("--sources", help="Text file listing one file, folder or URL per line (# comments)."),
    ] = None,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    actors: Annotated[
        Optional[list[Path]],
        typer.Option("--actors", help="Your own actor dictionary (TSV or PETRARCH format, see README); repeatable."),
    ] = None,
    config: ConfigOption = None,
    if_running: Annotated[
        Optional[IfRunning],
        typer.Option("--if-running", help="When another run is loading the warehouse: wait for it, or skip this run "
                                          "(default: wait, or the config's [run].if_running)."),
    ] = None,
    export_url: Annotated[
        Optional[str],
        typer.Option("--export-url", help="Also copy the Parquet exports to this fsspec URL "
                                          "(s3://bucket/prefix, gs://..., file:///...)."),
    ] = None,
    task_runner: Annotated[
        Optional[TaskRunner],
        typer.Option("--task-runner", help="Where the language model runs: in this process (default), or on a "
                                           "Dask cluster (dask; see README, 'Scale out on Dask')."),
    ] = None,
    dask_address: Annotated[
        Optional[str],
        typer.Option("--dask-address", help="Dask scheduler for --task-runner dask (e.g. tcp://127.0.0.1:8786); "
                                            "without it a temporary local cluster is started for the run."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines (each task's, and a failure's traceback).")
    ] = False,
) -> None:
    """Read articles, extract entities and events, validate and load them into the warehouse.

    Without PREFECT_API_URL, runs use a local Prefect server started in the background on the first
    run and left running for the next ones (`newsflow prefect stop` stops it). An input with nothing
    new or changed is not parsed again and the warehouse is left as it was."""
    from config.settings import is_url, sources_from_file

    if sources is not None:
        if not sources.is_file():
            raise typer.BadParameter(f"sources file '{sources}' does not exist", param_hint="--sources")
        inputs = [*(inputs or []), *sources_from_file(sources)]
    for source in inputs or []:
        if not is_url(source) and not Path(source).exists():
            raise typer.BadParameter(f"input path '{source}' does not exist", param_hint="INPUTS")
    for dictionary in actors or []:
        if not dictionary.is_file():
            raise typer.BadParameter(f"actor dictionary '{dictionary}' does not exist", param_hint="--actors")
    from config.settings import resolve_settings

    project = _config(config)
    settings = resolve_settings(config=project.run if project else None, warehouse=warehouse, inputs=inputs,
                                catalog=catalog, data_path=data_path,
                                actor_dictionaries=[str(a) for a in actors] if actors else None,
                                if_running=if_running.value if if_running else None, export_url=export_url,
                                task_runner=task_runner.value if task_runner else None, dask_address=dask_address)
    if dask_address and settings.task_runner != "dask":
        raise typer.BadParameter("--dask-address needs --task-runner dask", param_hint="--dask-address")
    _check_something_to_read(settings.inputs)
    from flows.unchanged import unchanged_articles

    # Nothing new in the input: said at once, without starting Prefect or a flow run.
    unchanged = unchanged_articles(settings)
    if unchanged is not None:
        typer.echo(_nothing_new(unchanged, 0))
        return
    _prefect_defaults()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.pipeline import newsflow_run
    from warehouse.store import Warehouse
    from flows.scaleout import TaskRunnerUnusable, checked_task_runner, workers_api

    try:
        checked_task_runner(settings)
    except TaskRunnerUnusable as err:
        _fail(str(err), 2)
    from flows import lifecycle

    # Ctrl-C and SIGTERM end the run at once (its staged files removed, its children killed); a
    # killed run's children are ended by the watchdog, its staged files by the next run.
    from flows import progress

    try:
        # The heartbeat thread only matters to a server watching for crashed runs. The local
        # Prefect server is started (if need be) before the watchdog, and outlives the run.
        with (_prefect_api(),
              _quiet_prefect_console(verbose),
              lifecycle.stop_on_signals(echo=lambda line: typer.echo(line, err=True)),
              lifecycle.Watchdog(),
              temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
              workers_api(settings),
              progress.showing()):
            summary = lifecycle.run_interruptibly(newsflow_run, settings)
    except Exception as err:  # the flow's failure, already logged by Prefect with its traceback
        if _orchestration_lost(err):
            from prefect.settings import PREFECT_API_URL

            api = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
            typer.echo(f"newsflow: run failed: the Prefect API ({api}) "
                       f"stopped answering ({type(err).__name__}: {err}); {lifecycle.outcome_line()}", err=True)
            # Prefect would spend minutes more trying to send its events to the dead server.
            lifecycle.kill_children()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        _fail(f"run failed: {type(err).__name__}: {err}\n{lifecycle.outcome_line()}", 1)
    if summary.status == "skipped":
        typer.echo(f"run {summary.run_id} skipped: {summary.skipped_because}; nothing was read or loaded")
        return
    if summary.status == "unchanged":
        typer.echo(f"run {summary.run_id} -> {summary.warehouse}")
        typer.echo(_nothing_new(summary.articles_unchanged, summary.urls_not_modified))
        return
    typer.echo(f"run {summary.run_id} -> {summary.warehouse}")
    for label, value in [
        ("records read", summary.records_read),
        ("URLs fetched", summary.urls_fetched),
        ("URLs not modified (304)", summary.urls_not_modified),
        ("articles new", summary.articles_new),
        ("articles updated", summary.articles_updated),
        ("articles unchanged", summary.articles_unchanged),
        ("entity mentions loaded", summary.entity_mentions),
        ("entities loaded", summary.entities),
        ("event mentions loaded", summary.event_mentions),
        ("events loaded", summary.events),
        ("duplicates flagged", summary.duplicates),
        ("quarantined", summary.quarantined),
        ("failed expectations", summary.failed_expectations),
    ]:
        typer.echo(f"  {label:<24}{value:>8}")
    for stage, count in summary.quarantined_by_stage.items():
        typer.echo(f"    at {stage:<20}{count:>8}")
    typer.echo("warehouse tables:")
    for name, rows in Warehouse.from_settings(settings).table_counts().iter_rows():
        typer.echo(f"  {name:<24}{rows:>8}")
    _echo_problems(summary)
    usable = (summary.articles_new + summary.articles_updated + summary.articles_unchanged
              + summary.urls_not_modified)
    if not usable:
        why = ("the inputs held no records" if not summary.records_read
               else f"all {summary.records_read} records and inputs read were quarantined")
        _fail(f"run {summary.run_id} read nothing usable: {why}; only the quarantine rows were loaded", NOTHING_READ)


# Exit code of a run that read nothing usable (see README, "Exit codes").
NOTHING_READ = 3
# Most lines of problems a run's summary shows; the quarantine table holds them all.
PROBLEM_LINES = 20


def _check_something_to_read(inputs: tuple[str, ...]) -> None:
    """Exit with NOTHING_READ, before any flow starts, when the inputs are files and folders that
    hold no file to read (an empty folder)."""
    from config.settings import is_url
    from readers.sources import input_files

    if inputs and not any(is_url(i) for i in inputs) and not input_files([Path(i) for i in inputs]):
        _fail(f"nothing to read: {', '.join(inputs)} holds no files (hidden ones are skipped); nothing was loaded",
              NOTHING_READ)


def _echo_problems(summary) -> None:
    """One line per file, URL or record the run could not read, with its reason."""
    if not summary.problems:
        return
    typer.echo("not read (also in the quarantine table, stage 'extract'):")
    for problem in summary.problems[:PROBLEM_LINES]:
        where = problem["source_uri"]
        if problem["record_key"] not in ("file", "url", "page"):
            where += f" ({problem['record_key']})"
        typer.echo(f"  {where}: {' '.join(str(problem['reason']).split())}")
    more = len(summary.problems) - PROBLEM_LINES
    if more > 0:
        typer.echo(f"  ... and {more} more: newsflow sql \"select source_uri, record_key, reason from quarantine "
                   f"where stage = 'extract' and last_seen_run_id = '{summary.run_id}'\"")


def _scheduled(config: Optional[Path], warehouse: Optional[Path], catalog: Optional[str] = None,
               data_path: Optional[str] = None):
    """The config (which must have a cron schedule) and the settings its runs use."""
    from config.settings import resolve_settings, settings_to_json

    project = _config(config, required=True)
    if not project.schedule.cron:
        _fail(f"{project.path} has no [schedule] cron; add e.g. cron = \"0 * * * *\"", 2)
    settings = resolve_settings(config=project.run, warehouse=warehouse, catalog=catalog, data_path=data_path)
    return project, settings_to_json(settings)


def _describe_schedule(project) -> None:
    from datetime import datetime, timezone

    schedule = project.schedule
    upcoming = ", ".join(t.strftime("%Y-%m-%d %H:%M UTC") for t in schedule.next_runs(datetime.now(timezone.utc)))
    typer.echo(f"deployment newsflow-run/{schedule.name}: cron '{schedule.cron}' ({schedule.timezone}); "
               f"next runs {upcoming}")


@app.command()
def serve(
    config: ConfigOption = None,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    prefect_port: Annotated[
        int, typer.Option("--prefect-port", help="Port of the local Prefect server, if it is not running yet and "
                                                 "PREFECT_API_URL is unset.")
    ] = 4200,
) -> None:
    """Serve the main flow as a Prefect deployment on the config's cron schedule, in this process.

    Runs happen here when due (or when triggered from the Prefect UI/CLI); Ctrl-C stops serving and
    pauses the schedule. Uses the Prefect server of PREFECT_API_URL; when unset, the local Prefect
    server that runs use (with its scheduler and UI on 127.0.0.1:--prefect-port), started if it is
    not running and left running afterwards (`newsflow prefect stop` stops it)."""
    project, parameters = _scheduled(config, warehouse, catalog, data_path)
    _prefect_defaults()
    from prefect.schedules import Cron

    from flows.pipeline import newsflow_run

    with _prefect_api(prefect_port):
        _describe_schedule(project)
        newsflow_run.serve(
            name=project.schedule.name,
            schedules=[Cron(project.schedule.cron, timezone=project.schedule.timezone)],
            parameters={"settings": parameters},
            description=f"newsflow run from {project.path}",
            pause_on_shutdown=True,
        )


@contextmanager
def _prefect_api(port: Optional[int] = None):
    """The Prefect API of runs and `serve`: PREFECT_API_URL's, else the local server
    (flows.prefect_server), started in the background on first need (on `port`, default 4200,
    when free) and left running for the next runs; `newsflow prefect stop` stops it. (Prefect's
    own temporary server would cost each run 8-10 s, and runs no scheduler for `serve`.)"""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import prefect_server

    if PREFECT_API_URL.value():
        yield
        return
    try:
        server, started = prefect_server.ensure(port or prefect_server.DEFAULT_PORT)
    except prefect_server.ServerError as err:
        _fail(str(err), 1)
    if started:
        typer.echo(f"started a local Prefect server on {server.ui_url} (its UI); it keeps running for the next "
                   f"runs: `newsflow prefect stop` stops it", err=True)
    os.environ["PREFECT_API_URL"] = server.url  # processes the run starts (Dask workers) inherit it
    with temporary_settings(updates={PREFECT_API_URL: server.url}):
        yield


prefect_app = typer.Typer(help="The local Prefect server that runs use when PREFECT_API_URL is unset.",
                          no_args_is_help=True)
app.add_typer(prefect_app, name="prefect")


@prefect_app.command("start")
def prefect_start(
    port: Annotated[int, typer.Option("--port", help="Port to start it on, when free (else the system picks one).")]
    = 4200,
) -> None:
    """Start the local Prefect server in the background (a run starts it by itself when needed)."""
    from flows import prefect_server

    try:
        server, started = prefect_server.ensure(port)
    except prefect_server.ServerError as err:
        _fail(str(err), 1)
    state = "started" if started else "already running"
    typer.echo(f"local Prefect server {state} on {server.ui_url} (pid {server.pid}); `newsflow prefect stop` stops it")


@prefect_app.command("status")
def prefect_status() -> None:
    """Say whether the local Prefect server is running, and where (exit 1 when it is not)."""
    from flows import prefect_server

    server = prefect_server.running()
    if server is None:
        typer.echo(f"no local Prefect server is running (for PREFECT_HOME {prefect_server.prefect_home()})")
        raise typer.Exit(1)
    typer.echo(f"local Prefect server running on {server.ui_url} (pid {server.pid}); API {server.url}")


@prefect_app.command("stop")
def prefect_stop() -> None:
    """Stop the local Prefect server (its database in PREFECT_HOME is kept)."""
    from flows import prefect_server

    server = prefect_server.stop()
    if server is None:
        typer.echo("no local Prefect server was running")
        return
    typer.echo(f"stopped the local Prefect server on {server.ui_url} (pid {server.pid})")


@app.command()
def deploy(
    config: ConfigOption = None,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    work_pool: Annotated[
        Optional[str], typer.Option("--work-pool", help="Prefect work pool (default: the config's, else 'newsflow').")
    ] = None,
) -> None:
    """Register the main flow as a Prefect deployment with the config's schedule, for a worker.

    The deployment runs this checkout's code in a process work pool (created when missing); start a
    worker with `prefect worker start --pool <pool>`. Needs a Prefect server (PREFECT_API_URL)."""
    project, parameters = _scheduled(config, warehouse, catalog, data_path)
    _prefect_defaults()
    from prefect.schedules import Cron

    from flows.pipeline import newsflow_run
    from config.settings import PROJECT_ROOT

    pool = work_pool or project.schedule.work_pool
    _ensure_process_pool(pool)
    deployment_id = newsflow_run.from_source(
        source=str(PROJECT_ROOT), entrypoint="flows/pipeline.py:newsflow_run",
    ).deploy(
        name=project.schedule.name,
        work_pool_name=pool,
        schedules=[Cron(project.schedule.cron, timezone=project.schedule.timezone)],
        parameters={"settings": parameters},
        description=f"newsflow run from {project.path}",
        build=False,
        push=False,
        print_next_steps=False,
    )
    _describe_schedule(project)
    typer.echo(f"registered deployment {deployment_id} in work pool '{pool}'; "
               f"start a worker with: prefect worker start --pool {pool}")


def _ensure_process_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SELECT (or EXPLAIN) statement, run read-only.")],
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    output_format: Annotated[SqlFormat, typer.Option("--format", "-f", help="Output format.")] = SqlFormat.table,
    as_of: Annotated[
        Optional[str],
        typer.Option("--as-of", help="Read the warehouse as it was: a run id, or a timestamp "
                                     "(the last snapshot at or before it). See `newsflow history`."),
    ] = None,
) -> None:
    """Run one read-only SQL query on the warehouse and print the result.

    The query runs as the web endpoint runs it: one SELECT or EXPLAIN statement, no file access
    outside the warehouse, no ATTACH, no settings; anything else is refused (exit 2)."""
    import polars as pl

    from warehouse.lake import WarehouseDamaged
    from warehouse.lockdown import QueryRefused
    from warehouse.store import SnapshotMissing, WarehouseMissing

    try:
        store = _store(warehouse, catalog, data_path)
        result = store.query(query, snapshot=store.snapshot_as_of(as_of) if as_of else None)
    except (WarehouseMissing, WarehouseDamaged, SnapshotMissing, QueryRefused) as err:
        _fail(str(err), 2)
    if output_format is not SqlFormat.table:
        # JSON and CSV have no bytes type: blobs (e.g. quarantine payloads) are written as base64.
        result = result.with_columns(pl.col(pl.Binary).bin.encode("base64"))
    if output_format is SqlFormat.csv:
        sys.stdout.write(result.write_csv())
    elif output_format is SqlFormat.json:
        sys.stdout.write(result.write_json() + "\n")
    else:
        _echo_table(result, 120)


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="Table to export (see `newsflow tables`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: a name ending in .parquet or .csv "
                                                          "(replaced if it exists).")],
    output_format: Annotated[
        Optional[ExportFormat],
        typer.Option("--format", "-f", help="File format (default: the --out file's extension)."),
    ] = None,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    since: Annotated[
        Optional[str],
        typer.Option("--since", help="Only the rows changed after this run (a run id from `newsflow history`): "
                                     "each with change_type 'upsert' (as it is now) or 'delete' (its key)."),
    ] = None,
    raw_csv: Annotated[
        bool,
        typer.Option("--raw-csv", help="CSV: keep text cells as they are, even those a spreadsheet would run as a "
                                       "formula (by default a leading ' is added to cells starting with =, +, -, @, "
                                       "tab or carriage return)."),
    ] = False,
) -> None:
    """Write one warehouse table to a Parquet or CSV file, whole or as the changes since a run.

    In CSV, text cells that start with =, +, -, @, tab or carriage return get a leading single quote,
    so that a spreadsheet opening the file shows them instead of running them as formulas (CSV
    injection); --raw-csv writes them as they are."""
    import duckdb

    from warehouse.lake import WarehouseDamaged
    from warehouse.lockdown import one_line
    from warehouse.store import SnapshotMissing, WarehouseMissing

    if out.is_dir():
        _fail(f"--out {out} is a folder; name a file in it, e.g. {out / 'table.parquet'}", 2)
    fmt = _export_format(out, output_format)
    _check_writable(out)
    try:
        rows = _store(warehouse, catalog, data_path).export(table, out, fmt, since=since, raw_csv=raw_csv)
    except (WarehouseMissing, WarehouseDamaged, SnapshotMissing, KeyError) as err:
        _fail(str(err).strip("'\""), 2)
    except (OSError, duckdb.Error) as err:
        _fail(f"export of {table} to {out} failed: {one_line(err)}", 1)
    what = f"rows of {table} changed since run {since}" if since else f"rows of {table}"
    typer.echo(f"wrote {rows} {what} to {out}")


def _day(value: Optional[str], flag: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=flag) from None


@app.command()
def search(
    query: Annotated[
        Optional[str],
        typer.Argument(help='Words to find, as in a search engine: every word (any form: "expel" finds "expelled"; '
                            'on, the, of ... ignored), else the most of them; a OR b; -word or NOT word to leave '
                            'out; "quoted words" as a phrase; word* as a prefix.'),
    ] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Published on or after this day (YYYY-MM-DD, UTC).")]
    = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Published on or before this day (YYYY-MM-DD, UTC).")]
    = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Source name, domain or feed title (any case).")]
    = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Most articles to show.")] = 20,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the search index from the warehouse first (then QUERY is optional).")
    ] = False,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    output_format: Annotated[SearchFormat, typer.Option("--format", "-f", help="Output format.")] = SearchFormat.table,
) -> None:
    """Find the articles that talk about something, best first (BM25 over titles and texts).

    Prints each article's rank, date, source, score (100 for the best result, the others in proportion),
    id, title and a passage, with the matched words in [brackets]; when no article holds every word,
    a line says so and the articles holding most of them follow. The index (<warehouse>/search.sqlite) is brought up to date first: each run updates it
    with the articles it changed; --rebuild makes it again from the warehouse."""
    import json

    from warehouse.lake import WarehouseDamaged
    from warehouse.search import SearchIndex, SearchIndexMissing, SearchQueryError, fts_query
    from warehouse.store import WarehouseMissing

    start, end = _day(date_from, "--from"), _day(date_to, "--to")
    if start and end and start > end:
        raise typer.BadParameter(f"--from {start} is after --to {end}", param_hint="--from")
    if query is None and not rebuild:
        _fail("give the words to search for, e.g. newsflow search \"qatar hamas\" (or --rebuild)", 2)
    if query is not None:
        try:
            fts_query(query)
        except SearchQueryError as err:
            _fail(str(err), 2)
    store = _store(warehouse, catalog, data_path)
    index = SearchIndex.of(store)
    try:
        done = index.rebuild(store) if rebuild else index.refresh(store)
    except (WarehouseMissing, WarehouseDamaged) as err:
        _fail(str(err), 2)
    except Exception as err:  # noqa: BLE001 (an index that cannot be written is searched as it is)
        if not index.exists():
            _fail(f"the search index could not be built ({type(err).__name__}: {err})", 1)
        typer.echo(f"newsflow: warning: the search index could not be brought up to date ({type(err).__name__}: "
                   f"{err}); results may miss the latest runs; `newsflow search --rebuild` rebuilds it", err=True)
    else:
        if rebuild:  # the command's output without a query; beside results, a note on stderr
            typer.echo(f"search index rebuilt: {done.upserted} articles (snapshot {done.snapshot})",
                       err=query is not None)
    if query is None:
        return
    try:
        found = index.search(query, start, end, source, limit)
    except SearchIndexMissing as err:
        _fail(str(err), 2)
    if output_format is SearchFormat.json:
        rows = [{"rank": h.rank, "article_id": h.article_id, "score": h.score, "published_at": h.published_at,
                 "source": h.source, "title": h.marked("title"), "snippet": h.marked("snippet"), "url": h.url}
                for h in found.hits]
        if found.note:  # stdout stays the list of results
            typer.echo(f"newsflow: {found.note}", err=True)
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    if not found.hits:
        typer.echo("no article matches")
        return
    if found.note:
        typer.echo(f"{found.note}:")
    # BM25 scores mean nothing on their own (on a small index they are all near 1e-6): shown as a
    # percentage of the best result's; --format json gives them as they are.
    best = max(h.score for h in found.hits)
    for h in found.hits:
        held = f" · {h.words} of {found.words} words" if found.note else ""
        typer.echo(f"{h.rank:>3}. {h.marked('title') or '(no title)'}")
        typer.echo(f"     {(h.published_at or 'undated')[:10]} · {h.source or 'unknown source'} · "
                   f"score {round(100 * h.score / best) if best > 0 else 0}{held} · article {h.article_id}")
        if h.snippet:
            typer.echo(f"     {' '.join(h.marked('snippet').split())}")


def _export_format(out: Path, asked: Optional[ExportFormat]) -> str:
    """The format `export` writes: the --out file's extension, which --format (if given) must match."""
    known = {f".{f.value}": f.value for f in ExportFormat}
    fmt = known.get(out.suffix.lower())
    if fmt is None:
        _fail(f"--out {out}: name the file .parquet or .csv (the formats export writes), not "
              f"'{out.suffix or '(no extension)'}'", 2)
    if asked is not None and asked.value != fmt:
        _fail(f"--out {out} names a {fmt} file but --format is {asked.value}; make them agree", 2)
    return fmt


def _check_writable(out: Path) -> None:
    """Exit 2, before the warehouse is read, when the file `out` cannot be written (its folders
    are made by the export)."""
    import tempfile

    above = next((p for p in out.parents if p.exists()), Path("."))
    if not above.is_dir():
        _fail(f"--out {out} cannot be written: {above} is a file, not a folder", 2)
    try:
        # A probe file in the nearest existing folder: permission bits alone do not tell (root,
        # read-only mounts, ACLs).
        with tempfile.NamedTemporaryFile(dir=above, prefix=".newsflow-probe-"):
            pass
    except OSError as err:
        _fail(f"--out {out} cannot be written: {err.strerror or err} (in {above})", 2)
    if out.exists() and not os.access(out, os.W_OK):
        _fail(f"--out {out} cannot be written: the file is read-only", 2)


def _row_counts(store, only: Optional[str] = None) -> list[tuple[str, str, int]]:
    """(name, "table" or "view", rows) of every table, then every view, of the warehouse (or of the
    one named `only`, if it has it); exit 2 when there is none or its catalog is damaged."""
    from warehouse.lake import WarehouseDamaged
    from warehouse.store import WarehouseMissing, relations

    try:
        with store.connect() as con:
            return [(name, kind, con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
                    for name, kind in relations(con).items() if only in (None, name)]
    except (WarehouseMissing, WarehouseDamaged) as err:
        _fail(str(err), 2)


@app.command()
def tables(warehouse: WarehouseOption = None, catalog: CatalogOption = None,
           data_path: DataPathOption = None) -> None:
    """List the warehouse's tables, then its views, with their row counts and grain (one row per ...).

    Views are ready-made queries over the tables (`newsflow describe VIEW` tells their columns)."""
    from schemas import RELATIONS

    counted = _row_counts(_store(warehouse, catalog, data_path))
    width = max(len(name) for name, _, _ in counted) + 2
    for name, kind, rows in counted:
        grain = RELATIONS[name].grain if name in RELATIONS else ""
        typer.echo(f"{name:<{width}}{kind:<6}{rows:>10}  {grain}".rstrip())


@app.command()
def describe(
    table: Annotated[str, typer.Argument(help="Table or view to describe (see `newsflow tables`).")],
    warehouse: Annotated[
        Optional[Path],
        typer.Option("--warehouse", "-w", help="Also print the table's row count in this warehouse folder (without "
                                               "it, no warehouse is read)."),
    ] = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
) -> None:
    """Print what a table or view holds: its grain, its key, and each column with its type and meaning.

    Read from the declarations in schemas/ (what every run creates), so no warehouse is needed; with
    --warehouse (or --catalog) it also prints the rows the warehouse holds."""
    from schemas import BASE_TABLES, RELATIONS, VIEWS
    from schemas.derive import duckdb_type

    declared = RELATIONS.get(table)
    if declared is None:
        _fail(f"no table or view {table!r}; tables: {', '.join(BASE_TABLES)}; views: {', '.join(VIEWS)}", 2)
    kind = "view" if table in VIEWS else "table"
    typer.echo(f"{declared.name} ({kind}): {declared.grain}")
    typer.echo(f"key: {', '.join(declared.key)}")
    if warehouse is not None or catalog is not None:
        store = _store(warehouse, catalog, data_path)
        counted = _row_counts(store, only=table)
        if not counted:
            _fail(f"the warehouse at {store.describe()} has no {kind} {table!r} yet (a run creates it)", 2)
        typer.echo(f"rows: {counted[0][2]} (in {store.describe()})")
    typer.echo("")
    types = {name: duckdb_type(dtype) for name, dtype in declared.schema.items()}
    name_width = max(map(len, types)) + 2
    type_width = max(map(len, types.values())) + 2
    for name, dtype in types.items():
        typer.echo(f"{name:<{name_width}}{dtype:<{type_width}}{declared.descriptions[name]}")


@app.command()
def web(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; any but loopback needs a token.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    token: Annotated[
        Optional[str],
        typer.Option("--token", envvar="NEWSFLOW_WEB_TOKEN", show_envvar=True,
                     help="Require this token on every route but /healthz (Authorization: Bearer, or ?token=)."),
    ] = None,
) -> None:
    """Serve the warehouse: a page to browse and download tables, a JSON API and read-only SQL.

    Each request reads the last committed snapshot of the lake, so runs and readers never wait for each other."""
    from web.app import is_loopback

    if not token and not is_loopback(host):
        raise typer.BadParameter(
            f"refusing to serve on {host} without a token: anyone who can reach it could read the warehouse; "
            f"pass --token or set NEWSFLOW_WEB_TOKEN", param_hint="--host")
    import uvicorn

    from web.app import create_app

    from config.settings import resolve_settings
    from warehouse.store import Warehouse

    project = _config(None)
    settings = resolve_settings(config=project.run if project else None, warehouse=warehouse, catalog=catalog,
                                data_path=data_path)
    store = Warehouse.from_settings(settings)
    if not store.exists():
        typer.echo(f"newsflow: no warehouse at {store.describe()} yet; pages answer 503 until a run loads one", err=True)
    typer.echo(f"serving {store.describe()} on http://{host}:{port}/" + (" (token required)" if token else ""))
    uvicorn.run(create_app(store.root, token=token, catalog=store.lake.catalog, data_path=store.lake.data_path,
                           memory_limit=settings.web_memory_limit, sql_result_bytes=settings.web_sql_result_bytes,
                           sql_concurrency=settings.web_sql_concurrency,
                           export_concurrency=settings.web_export_concurrency),
                host=host, port=port, log_level="info")


@app.command()
def history(warehouse: WarehouseOption = None, catalog: CatalogOption = None,
            data_path: DataPathOption = None) -> None:
    """List the runs whose snapshots the warehouse keeps, newest first (for `sql --as-of`, `export --since`)."""
    from warehouse.lake import WarehouseDamaged
    from warehouse.store import WarehouseMissing

    try:
        runs = _store(warehouse, catalog, data_path).history()
    except (WarehouseMissing, WarehouseDamaged) as err:
        _fail(str(err), 2)
    _echo_table(runs, 40)


@app.command()
def maintain(
    warehouse: WarehouseOption = None,
    catalog: CatalogOption = None,
    data_path: DataPathOption = None,
    retention_days: Annotated[
        Optional[float],
        typer.Option("--retention-days", min=0, help="Keep snapshots this many days (default: 30, or the "
                                                     "config's [run].retention_days)."),
    ] = None,
) -> None:
    """Merge small data files, expire snapshots past retention, delete files no snapshot reads."""
    from config.settings import resolve_settings
    from warehouse.lock import run_lock
    from warehouse.lake import WarehouseDamaged
    from warehouse.store import Warehouse, WarehouseMissing

    project = _config(None)
    settings = resolve_settings(config=project.run if project else None, warehouse=warehouse,
                                retention_days=retention_days, catalog=catalog, data_path=data_path)
    store = Warehouse.from_settings(settings)
    if not store.exists():
        _fail(f"no warehouse at {store.describe()}; run `newsflow run` first", 2)
    try:
        with run_lock(settings.warehouse, "maintain", catalog=settings.catalog):
            done = store.maintain(settings.retention_days)
    except (WarehouseMissing, WarehouseDamaged) as err:
        _fail(str(err), 2)
    typer.echo(f"data files {done['data_files_before']} -> {done['data_files_after']}, "
               f"{done['snapshots_expired']} snapshots expired (kept: {settings.retention_days:g} days), "
               f"{done['files_deleted']} unreferenced files deleted")


@app.command()
def migrate(warehouse: WarehouseOption = None, catalog: CatalogOption = None,
            data_path: DataPathOption = None) -> None:
    """Move a warehouse of earlier versions (one newsflow.duckdb file) into the lake; also done on first use."""
    store = _store(warehouse, catalog, data_path)
    if not store.needs_migration():
        typer.echo(f"nothing to migrate at {store.describe()}")
        return
    copied = store.migrate()
    typer.echo(f"migrated {store.lake.legacy_file} into the lake ({sum(copied.values())} rows; "
               f"the old file is kept as {store.lake.legacy_file.name}.migrated)")
    for name, rows in copied.items():
        typer.echo(f"  {name:<24}{rows:>8}")


def main() -> None:
    """The `newsflow` command. The process ends without the interpreter's teardown, which after a
    run spent 1-3 s freeing the language model's and Prefect's objects one by one: the exit
    handlers run (Prefect's flush its logs and events to the API), the output is flushed, then
    os._exit. Unless a thread other than daemons is still running: then Python ends as usual."""
    import atexit
    import threading

    try:
        app()
        code = 0
    except SystemExit as end:
        code = end.code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: nothing more can be said
        code = code or 1
    os._exit(code)
