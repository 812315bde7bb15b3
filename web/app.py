"""The web service (`newsflow web`): a page to browse, chart and download the warehouse tables, a
JSON API for the same, and a read-only SQL endpoint. Every request reads through
`warehouse.reader`: the page's table facts and validation results come from one read-only
connection kept open and computed once per snapshot; each query, chart cut and download opens a
read-only instance of its own. A run is never blocked by readers.

Queries and downloads each have a few slots (`sql_concurrency`, `export_concurrency`); a request
that finds them all taken is answered 503 with Retry-After at once instead of waiting, so the
server's memory stays bounded and `/healthz` (served on the event loop) and the page keep answering.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
import re
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from transforms.coder.models import coder_model
from warehouse.lake import WarehouseDamaged
from warehouse.lockdown import one_line
from warehouse.reader import (
    EXPORT_FORMATS, MEDIA_TYPES, SQL_MEMORY_LIMIT, SQL_RESULT_BYTES, SQL_ROW_LIMIT, SQL_TIME_LIMIT, ExportStream,
    Filters, QueryRefused, Reader, UnknownTable,
)
from warehouse.search import (
    DEFAULT_LIMIT as SEARCH_DEFAULT_LIMIT, MAX_LIMIT as SEARCH_MAX_LIMIT, SearchIndex, SearchIndexMissing,
    SearchQueryError, SearchResults, fts_query,
)
from warehouse.store import WarehouseMissing

TOKEN_COOKIE = "newsflow_token"
TOKEN_ENV = "NEWSFLOW_WEB_TOKEN"
OPEN_PATHS = ("/healthz",)
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# At most this many SQL queries, and this many downloads, run at once (each has its own DuckDB
# instance, up to SQL_MEMORY_LIMIT); more are answered 503 with Retry-After.
SQL_CONCURRENCY = 2
EXPORT_CONCURRENCY = 2
_TOKEN_PARAM = re.compile(r"([?&]token=)[^&#\s\"]*", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ErrorOut(BaseModel):
    error: str = Field(description="What was refused or failed, and why.")


class ColumnOut(BaseModel):
    name: str
    type: str = Field(description="DuckDB type, e.g. VARCHAR, TIMESTAMP WITH TIME ZONE, VARCHAR[].")
    description: str | None = Field(None, description="What the column means (units, keys), as declared in schemas/.")


class DownloadsOut(BaseModel):
    parquet: str
    csv: str


class TableOut(BaseModel):
    name: str
    kind: Literal["table", "view"]
    grain: str | None = Field(None, description="What one row is, as declared in schemas/.")
    rows: int | None = Field(description="Row count (null for views, which are not counted).")
    columns: list[ColumnOut]
    last_updated_at: dt.datetime | None = Field(
        description="When a run last wrote rows to the table (table_updates), else when the last run finished.")
    downloads: DownloadsOut = Field(description="URLs of the whole table as Parquet and as CSV.")
    filter_by_date: bool = Field(description="Whether ?start=&end= can cut the download.")
    filter_by_source: bool = Field(description="Whether ?source= can cut the download.")


class TablesOut(BaseModel):
    tables: list[TableOut]
    views: list[TableOut]


class SqlIn(BaseModel):
    sql: str = Field(description="One SELECT (or EXPLAIN) statement.", examples=["select title from articles"])
    limit: int | None = Field(None, ge=1, description=f"Most rows to return (at most the server's {SQL_ROW_LIMIT}).")
    as_of: str | None = Field(None, description="A run id or timestamp: read the warehouse as it was then.")


class SqlOut(BaseModel):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]] = Field(description="Timestamps ISO 8601, blobs base64, decimals as strings.")
    row_count: int
    truncated: bool = Field(description="True when the result had more rows than the row limit, or more bytes "
                                        "than the size limit, and was cut.")
    note: str | None = Field(None, description="Why the rows were cut (which limit), when they were.")


class SearchLinksOut(BaseModel):
    article: str = Field(description="The article's row (a read-only SQL query, /api/sql).")
    entities: str = Field(description="The entities the article names, with their mentions in it.")
    events: str = Field(description="The article's coded events, any confidence, with their evidence sentences.")


class SearchHitOut(BaseModel):
    rank: int = Field(description="1 = the best match.")
    article_id: str
    score: float = Field(description="BM25 score over title (weighted) and text; higher is better.")
    title: str = Field(description="HTML: the title escaped, matched words in <mark>.")
    snippet: str = Field(description="HTML: a passage of the text escaped, matched words in <mark>.")
    published_at: str | None = Field(description="ISO 8601, UTC.")
    source: str | None = Field(description="Source name, else domain, else feed title.")
    url: str | None
    links: SearchLinksOut


class SearchOut(BaseModel):
    query: str
    results: list[SearchHitOut]
    stale: str | None = Field(None, description="Set when the index could not be brought up to the warehouse's "
                                                "latest snapshot: why, and how to rebuild it.")
    note: str | None = Field(None, description="Set when no article holds every word of the query: the results "
                                               "are then the articles holding most of them.")


class ChartDataOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Dates ISO 8601.")


class ChartOut(ChartDataOut):
    title: str
    keys: list[str] = Field(description="The columns that name one mark: give their values, in order, as "
                                        "?key= to /api/charts/{chart}/rows for the rows behind it.")


class UndatedOut(BaseModel):
    total: int = Field(description="Rows in the cut.")
    undated: int = Field(description="Of those, rows without a date (left out of the per-day charts).")


class ChartsOut(BaseModel):
    events: Literal["confident", "all"] = Field(description="Which events the event charts count.")
    view_threshold: float = Field(description="The confidence at or above which an event is confident "
                                              "(the views' threshold).")
    charts: dict[str, ChartOut] = Field(description="events_per_day, actor_pairs, top_entities, articles_per_source.")
    entity_labels: ChartDataOut = Field(description="Entity labels mentioned in the cut, most mentioned first.")
    undated: dict[str, UndatedOut] = Field(description="Events and articles of the cut, and how many have no date.")


def _article_queries(article_id: str) -> dict[str, str]:
    """The SQL behind a search result's links (the article, its entities, its events)."""
    key = "'" + article_id.replace("'", "''") + "'"
    return {
        "article": f"select * from articles where article_id = {key}",
        "entities": ("select e.entity_id, e.label, e.name, count(*) as mentions from entity_mentions as m "
                     f"join entities as e using (entity_id) where m.article_id = {key} group by all "
                     "order by mentions desc, e.name"),
        # every event of the article, whatever its confidence (the views keep only confident ones)
        "events": ("select e.event_date, e.actor1_name, e.event_code, e.plover_event, e.actor2_name, m.confidence, "
                   "substring(case m.field when 'title' then a.title else a.text end, m.sentence_start_char + 1, "
                   "m.sentence_end_char - m.sentence_start_char) as evidence_sentence "
                   "from event_mentions as m join events as e using (event_id) join articles as a using (article_id) "
                   f"where m.article_id = {key} order by m.field desc, m.sentence_index, m.action_start_char"),
    }


_ERRORS = {
    400: {"model": ErrorOut, "description": "Refused (a filter the table cannot take, a bad date, a query that "
                                            "is not a read-only SELECT, or one past the time limit)."},
    401: {"model": ErrorOut, "description": "A token is set and the request did not carry it."},
    503: {"model": ErrorOut, "description": "There is no warehouse yet (run `newsflow run` first), its catalog "
                                            "is damaged, or all query or download slots are taken (then with "
                                            "Retry-After: try again after that many seconds)."},
}


class Busy(Exception):
    """Every slot of a gate is taken."""

    def __init__(self, what: str, retry_after: int):
        super().__init__(f"the server is already running as many {what} as it allows; retry in {retry_after} s")
        self.retry_after = retry_after


class _Gate:
    """At most `size` holders at once; one more is refused at once (Busy), never queued, so a
    crowd of slow requests cannot fill the worker threads the other routes need."""

    def __init__(self, size: int, what: str, retry_after: int):
        self.size, self.what, self.retry_after = max(1, size), what, retry_after
        self.held = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.held >= self.size:
                raise Busy(self.what, self.retry_after)
            self.held += 1

    def leave(self) -> None:
        with self._lock:
            self.held -= 1

    @contextmanager
    def held_slot(self):
        self.enter()
        try:
            yield
        finally:
            self.leave()


class _RedactTokens(logging.Filter):
    """Uvicorn's access log writes each request line with its query: a `token=` value there
    becomes `[redacted]`, so a token given as ?token= never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_PARAM.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_PARAM.sub(r"\1[redacted]", record.msg)
        return True


def redact_tokens_in_access_log(logger_name: str = "uvicorn.access") -> None:
    """Add _RedactTokens to uvicorn's access logger (once); it survives uvicorn's logging setup."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None or not value.strip():
        return None
    if not _ISO_DATE.match(value.strip()):
        raise QueryRefused(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as err:
        raise QueryRefused(f"{name} is not a valid date: {err}") from err


def _filters(start: str | None, end: str | None, source: str | None, names: tuple[str, str] = ("start", "end")) -> Filters:
    filters = Filters(_date(start, names[0]), _date(end, names[1]), (source or "").strip() or None)
    if filters.start and filters.end and filters.start > filters.end:
        raise QueryRefused(f"{names[0]} ({filters.start}) is after {names[1]} ({filters.end})")
    return filters


class _Download(StreamingResponse):
    """A download's response: its stream is closed and its slot given back when the response
    ends, fails or is cancelled, even when the body never started (the client left first)."""

    def __init__(self, stream: ExportStream, gate: _Gate):
        super().__init__(_drained(stream), media_type=stream.media_type,
                         headers={"Content-Disposition": f'attachment; filename="{stream.filename}"'})
        self._stream, self._gate = stream, gate

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                self._stream.close()
            finally:
                self._gate.leave()


API_DOCS_ASSETS = "/docs-assets"


def swagger_ui_assets() -> Path:
    """The Swagger UI build shipped in the swagger-ui-bundle package (served at API_DOCS_ASSETS)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


PLOTLY_JS = "/assets/plotly.min.js"


def plotly_js_file() -> Path:
    """plotly.js as the plotly package ships it (served at PLOTLY_JS)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class _DataDocs(StaticFiles):
    """The Data Docs folder, which only appears with the first run: 404 until then."""

    async def check_config(self) -> None:
        pass

    async def get_response(self, path: str, scope):
        if not Path(self.directory).is_dir():
            raise HTTPException(404, "no Data Docs yet: run `newsflow run` first")
        return await super().get_response(path, scope)


async def _drained(stream: ExportStream):
    """The stream's chunks, each produced in a worker thread; its connection closes when the
    download ends, fails or the client goes away (the generator is then cancelled or closed)."""
    try:
        while (chunk := await run_in_threadpool(next, stream, None)) is not None:
            if chunk:
                yield chunk
    finally:
        stream.close()


class _TokenGate:
    """ASGI middleware: with a token set, every path but /healthz needs it, as a bearer token, a
    `?token=` parameter (then kept in a cookie for the page's links) or that cookie."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    def _matches(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        request = Request(scope)
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        from_query = request.query_params.get("token")
        if not any(self._matches(g) for g in (bearer, from_query, request.cookies.get(TOKEN_COOKIE))):
            response = JSONResponse(
                {"error": "a token is required: send 'Authorization: Bearer <token>' or add ?token=<token>"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        if not self._matches(from_query):
            return await self.app(scope, receive, send)
        cookie = Response()
        cookie.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict", path="/")
        cookie_headers = [h for h in cookie.raw_headers if h[0] == b"set-cookie"]

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cookie_headers]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


AS_OF = ("Read the warehouse as it was: a run id (its snapshot) or a timestamp (the last snapshot at or "
         "before it, e.g. 2026-11-30T06:00:00Z). Default: the latest. See `newsflow history`.")


# The charts' query parameters (GET /api/charts and /api/charts/{chart}/rows).
ChartEvents = Annotated[Literal["confident", "all"], Query(
    description="Event charts: only confident events (the views' threshold), or every coded event. "
                "Negated and hypothetical events are always left out.")]
ChartStart = Annotated[str | None, Query(description="First day, inclusive (YYYY-MM-DD, UTC): events by their date, "
                                                     "articles by their publication.", examples=["2024-01-01"])]
ChartEnd = Annotated[str | None, Query(description="Last day, inclusive (YYYY-MM-DD, UTC).", examples=["2024-01-31"])]
ChartSource = Annotated[str | None, Query(description="Source name, domain or feed title (any case): articles from "
                                                      "it, and the mentions and events they hold.",
                                          examples=["en.wikinews.org"])]


def create_app(warehouse: Path, token: str | None = None, sql_row_limit: int = SQL_ROW_LIMIT,
               sql_time_limit: float = SQL_TIME_LIMIT, catalog: str = "", data_path: str = "",
               memory_limit: str = SQL_MEMORY_LIMIT, sql_result_bytes: int = SQL_RESULT_BYTES,
               sql_concurrency: int = SQL_CONCURRENCY, export_concurrency: int = EXPORT_CONCURRENCY) -> FastAPI:
    """The web service over the warehouse folder `warehouse` (with its `catalog` and `data_path`,
    see config.settings); with `token`, every route but /healthz requires it. Each query or
    download gets its own DuckDB instance with `memory_limit`; SQL answers carry at most
    `sql_result_bytes` of JSON rows; at most `sql_concurrency` queries and `export_concurrency`
    downloads run at once."""
    reader = Reader(Path(warehouse), catalog, data_path, sql_row_limit=sql_row_limit, sql_time_limit=sql_time_limit,
                    memory_limit=memory_limit, sql_result_bytes=sql_result_bytes)
    # A slot frees at the latest when its query reaches the time limit.
    retry_after = max(1, math.ceil(sql_time_limit))
    sql_gate = _Gate(sql_concurrency, "SQL queries", retry_after)
    export_gate = _Gate(export_concurrency, "downloads", retry_after)
    redact_tokens_in_access_log()
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app = FastAPI(
        # /docs is served below from the swagger-ui-bundle package (FastAPI's own loads it from a CDN,
        # which leaves the page blank offline); ReDoc has no packaged build, so it is off.
        docs_url=None,
        redoc_url=None,
        title="newsflow",
        summary="Browse, download and query the newsflow warehouse (read-only).",
        description=(
            "Tables of the DuckDB warehouse as Parquet or CSV downloads (whole, or cut by date range "
            "and source), their schemas and row counts, and a read-only SQL endpoint with a row "
            f"limit ({sql_row_limit}), a time limit ({sql_time_limit:g} s), a memory limit ({memory_limit}) and a "
            f"size limit ({sql_result_bytes:,} bytes of rows). At most {sql_concurrency} queries and "
            f"{export_concurrency} downloads run at once; more are answered 503 with Retry-After."
        ),
        version="1",
    )
    # Swagger UI 4 (the packaged build) renders OpenAPI 3.0 documents, not 3.1; FastAPI's schema
    # for this app reads the same under that version number.
    app.openapi_version = "3.0.3"
    app.state.reader = reader
    app.state.sql_gate, app.state.export_gate = sql_gate, export_gate

    def _error(err: Exception, status: int, headers: dict | None = None) -> JSONResponse:
        # Messages name the warehouse and its files by placeholders, never by server paths; one line.
        return JSONResponse({"error": reader.redacted(one_line(str(err)))}, status_code=status, headers=headers)

    @app.exception_handler(QueryRefused)
    async def _refused(request: Request, err: QueryRefused):
        return _error(err, 400)

    @app.exception_handler(UnknownTable)
    async def _unknown(request: Request, err: UnknownTable):
        return _error(err, 404)

    @app.exception_handler(WarehouseMissing)
    async def _missing(request: Request, err: WarehouseMissing):
        return _error(err, 503)

    @app.exception_handler(WarehouseDamaged)
    async def _damaged(request: Request, err: WarehouseDamaged):
        return _error(err, 503)

    @app.exception_handler(SearchIndexMissing)
    async def _no_index(request: Request, err: SearchIndexMissing):
        return _error(err, 503)

    @app.exception_handler(Busy)
    async def _busy(request: Request, err: Busy):
        return _error(err, 503, headers={"Retry-After": str(err.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in err.errors())
        return JSONResponse({"error": f"invalid request: {problems}", "detail": err.errors()}, status_code=422)

    # Served on the event loop: it answers even when every worker thread is busy.
    @app.get("/healthz", summary="Liveness check", responses={200: {"description": "The server is up."}})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def _table_out(request: Request, info) -> TableOut:
        url = request.url_for("export_table", table=info.name)
        return TableOut(
            name=info.name, kind=info.kind, grain=info.grain, rows=info.rows, last_updated_at=info.updated_at,
            columns=[ColumnOut(name=c.name, type=c.type, description=c.description) for c in info.columns],
            downloads=DownloadsOut(**{f: str(url.include_query_params(format=f)) for f in EXPORT_FORMATS}),
            filter_by_date=info.can_filter_by_date, filter_by_source=info.can_filter_by_source,
        )

    @app.get("/api/tables", response_model=TablesOut, summary="Tables and views", responses={
        200: {"description": "Every base table with its row count, columns, last update and download URLs; "
                             "then the analyst views."}, 401: _ERRORS[401], 503: _ERRORS[503]})
    def list_tables(request: Request) -> TablesOut:
        infos = reader.describe()
        return TablesOut(tables=[_table_out(request, i) for i in infos if i.kind == "table"],
                         views=[_table_out(request, i) for i in infos if i.kind == "view"])

    @app.get(
        "/api/export/{table}", name="export_table", summary="Download a table", response_class=StreamingResponse,
        responses={
            200: {"description": "The table (cut by the filters given) as a Parquet or CSV attachment, streamed. "
                                 "In CSV, blobs are base64 and lists/structs JSON text.",
                  "content": {MEDIA_TYPES["parquet"]: {"schema": {"type": "string", "format": "binary"}},
                              MEDIA_TYPES["csv"]: {"schema": {"type": "string"}}}},
            404: {"model": ErrorOut, "description": "No such table or view."},
            422: {"model": ErrorOut, "description": "Unknown format."},
            **_ERRORS,
        },
    )
    async def export_table(
        table: str,
        fmt: Annotated[Literal["parquet", "csv"], Query(alias="format", description="File format.")] = "parquet",
        start: Annotated[str | None, Query(description="First day, inclusive (YYYY-MM-DD, UTC).",
                                           examples=["2024-01-01"])] = None,
        end: Annotated[str | None, Query(description="Last day, inclusive (YYYY-MM-DD, UTC).",
                                         examples=["2024-01-31"])] = None,
        source: Annotated[str | None, Query(description="Source name, domain or feed title (any case).",
                                            examples=["israel365news.com"])] = None,
        as_of: Annotated[str | None, Query(description=AS_OF)] = None,
        raw: Annotated[bool, Query(description="CSV only: keep text cells as they are. By default a cell starting "
                                               "with =, +, -, @, tab or carriage return gets a leading ' so that "
                                               "spreadsheets show it instead of running it as a formula.")] = False,
    ) -> StreamingResponse:
        filters = _filters(start, end, source)
        export_gate.enter()
        try:
            stream = await run_in_threadpool(reader.export, table, fmt, filters, as_of=as_of, raw=raw)
        except BaseException:
            export_gate.leave()
            raise
        return _Download(stream, export_gate)

    sql_responses = {200: {"description": "The result, as JSON-safe values, cut at the row or the size limit "
                                          "(then `truncated` and a `note` saying which)."}, **_ERRORS}
    sql_description = (
        f"Runs one SELECT (or EXPLAIN) on a read-only connection that cannot touch files, extensions or "
        f"settings, nor show the server's paths, with a row limit ({sql_row_limit}), a time limit "
        f"({sql_time_limit:g} s), a memory limit ({memory_limit}) and a size limit ({sql_result_bytes:,} bytes "
        f"of rows). At most {sql_concurrency} queries run at once; another is answered 503 with Retry-After."
    )

    @app.get("/api/sql", response_model=SqlOut, summary="Read-only SQL (GET)", description=sql_description,
             responses=sql_responses)
    async def sql_get(
        sql: Annotated[str, Query(description="One SELECT statement.", examples=["select count(*) from articles"])],
        limit: Annotated[int | None, Query(ge=1, description="Most rows to return.")] = None,
        as_of: Annotated[str | None, Query(description=AS_OF)] = None,
    ) -> SqlOut:
        return await _sql(sql, limit, as_of)

    @app.post("/api/sql", response_model=SqlOut, summary="Read-only SQL (POST)", description=sql_description,
              responses=sql_responses)
    async def sql_post(body: SqlIn) -> SqlOut:
        return await _sql(body.sql, body.limit, body.as_of)

    async def _sql(query: str, limit: int | None, as_of: str | None) -> SqlOut:
        # Refused at once when full; a cancelled request keeps its slot until its thread is done.
        with sql_gate.held_slot():
            result = await run_in_threadpool(reader.sql, query, limit, as_of)
        return SqlOut(columns=result.columns, types=result.types, rows=result.rows, row_count=result.row_count,
                      truncated=result.truncated, note=result.note)

    # --- the page's charts and the SQL result as a download ---------------------------------------

    @app.get("/api/charts", response_model=ChartsOut, summary="The page's charts", responses={
        200: {"description": "Each chart's counts (fixed SQL, warehouse/charts.py) over the warehouse cut by the "
                             "filters."}, **_ERRORS})
    async def charts(
        start: ChartStart = None,
        end: ChartEnd = None,
        source: ChartSource = None,
        events: ChartEvents = "confident",
        label: Annotated[str | None, Query(description="Top entities of this label only (PERSON, ORG, GPE, ...).")]
        = None,
    ) -> ChartsOut:
        filters = _filters(start, end, source)
        with sql_gate.held_slot():
            answer = await run_in_threadpool(reader.charts, filters, events, (label or "").strip() or None)
        return ChartsOut(events=events, view_threshold=coder_model().view_threshold, **answer)

    @app.get("/api/charts/{chart}/rows", response_model=SqlOut, summary="The rows behind a chart's mark",
             responses={200: {"description": "The events, mentions or articles one bar or cell counts."},
                        404: {"model": ErrorOut, "description": "No such chart."}, **_ERRORS})
    async def chart_rows(
        chart: str,
        key: Annotated[list[str], Query(description="The mark's key values, in the order of the chart's `keys`.")],
        start: ChartStart = None,
        end: ChartEnd = None,
        source: ChartSource = None,
        events: ChartEvents = "confident",
        limit: Annotated[int | None, Query(ge=1, description="Most rows to return.")] = None,
    ) -> SqlOut:
        filters = _filters(start, end, source)
        with sql_gate.held_slot():
            result = await run_in_threadpool(reader.chart_rows, chart, key, filters, events, limit)
        return SqlOut(columns=result.columns, types=result.types, rows=result.rows, row_count=result.row_count,
                      truncated=result.truncated, note=result.note)

    @app.get(
        "/api/sql/export", name="export_sql", summary="Download a SQL result", response_class=StreamingResponse,
        description=(f"One SELECT's result as a Parquet or CSV attachment, streamed: the same read-only guards "
                     f"and limits as /api/sql (at most {sql_row_limit} rows, {sql_time_limit:g} s, "
                     f"{memory_limit}); counted with the table downloads ({export_concurrency} at once)."),
        responses={
            200: {"description": "The result as a file named query.parquet or query.csv.",
                  "content": {MEDIA_TYPES["parquet"]: {"schema": {"type": "string", "format": "binary"}},
                              MEDIA_TYPES["csv"]: {"schema": {"type": "string"}}}},
            422: {"model": ErrorOut, "description": "Unknown format."},
            **_ERRORS,
        },
    )
    async def export_sql(
        sql: Annotated[str, Query(description="One SELECT statement.", examples=["select title from articles"])],
        fmt: Annotated[Literal["parquet", "csv"], Query(alias="format", description="File format.")] = "parquet",
        as_of: Annotated[str | None, Query(description=AS_OF)] = None,
        raw: Annotated[bool, Query(description="CSV only: keep text cells as they are (see /api/export).")] = False,
    ) -> StreamingResponse:
        export_gate.enter()
        try:
            stream = await run_in_threadpool(reader.export_sql, sql, fmt, as_of, raw)
        except BaseException:
            export_gate.leave()
            raise
        return _Download(stream, export_gate)

    def _search(query: str, start: dt.date | None, end: dt.date | None, source: str | None,
                limit: int) -> tuple[SearchResults, str | None]:
        store = reader.warehouse
        index = SearchIndex.of(store)
        # Catch up with the runs since the index's snapshot (cheap); a rebuild is left to
        # `newsflow search --rebuild` or the next run, not done inside a request.
        try:
            done = index.refresh(store, rebuild=False)
            problem = done.reason if done.action == "stale" else None
        except (WarehouseMissing, WarehouseDamaged):
            raise
        except Exception as err:  # noqa: BLE001 (a read-only folder, a busy index: search what is there)
            problem = f"it could not be updated ({type(err).__name__}: {err})"
        if not index.exists():
            raise SearchIndexMissing("there is no search index yet: `newsflow search --rebuild` builds it "
                                     "(and every run keeps it up to date)")
        stale = None if problem is None else (
            f"the search index is behind the warehouse: {problem}; results may miss recent articles; "
            f"rebuild it with `newsflow search --rebuild`")
        return index.search(query, start, end, source, limit), stale

    @app.get("/api/search", response_model=SearchOut, summary="Search articles", responses={
        200: {"description": "The articles holding every word, best first (BM25 over titles and texts), else "
                             "those holding most of them (then `note` says so), with highlighted titles and "
                             "passages and links to their entities and events."},
        **_ERRORS})
    async def search(
        request: Request,
        q: Annotated[str, Query(description='Words to find: every word, else the most of them; a OR b; -word or '
                                            'NOT word to leave out; "quoted words" as a phrase; word* as a prefix.',
                                examples=["qatar hamas"])],
        date_from: Annotated[str | None, Query(alias="from", description="Published on or after this day "
                                                                          "(YYYY-MM-DD, UTC).")] = None,
        date_to: Annotated[str | None, Query(alias="to", description="Published on or before this day "
                                                                      "(YYYY-MM-DD, UTC).")] = None,
        source: Annotated[str | None, Query(description="Source name, domain or feed title (any case).")] = None,
        limit: Annotated[int, Query(ge=1, le=SEARCH_MAX_LIMIT, description="Most articles to return.")]
        = SEARCH_DEFAULT_LIMIT,
    ) -> SearchOut:
        filters = _filters(date_from, date_to, source, names=("from", "to"))
        try:
            fts_query(q)
        except SearchQueryError as err:
            raise QueryRefused(str(err)) from None
        with sql_gate.held_slot():
            found, stale = await run_in_threadpool(_search, q, filters.start, filters.end, filters.source, limit)
        sql_url = request.url_for("sql_get")
        return SearchOut(query=q, stale=stale, note=found.note, results=[SearchHitOut(
            rank=h.rank, article_id=h.article_id, score=h.score, title=h.html("title"), snippet=h.html("snippet"),
            published_at=h.published_at, source=h.source, url=h.url,
            links=SearchLinksOut(**{name: str(sql_url.include_query_params(sql=sql))
                                    for name, sql in _article_queries(h.article_id).items()}),
        ) for h in found.hits])

    @app.get("/", response_class=HTMLResponse, summary="The warehouse page", include_in_schema=True,
             responses={200: {"description": "Tables, downloads, filters and the latest validation results."}})
    def page(request: Request) -> HTMLResponse:
        try:
            infos, report = reader.describe(), reader.latest_validation()
        except (WarehouseMissing, WarehouseDamaged) as err:
            return templates.TemplateResponse(request, "index.html", {"missing": reader.redacted(str(err))},
                                              status_code=503)
        return templates.TemplateResponse(request, "index.html", {
            "missing": None,
            "tables": [i for i in infos if i.kind == "table"],
            "views": [i for i in infos if i.kind == "view"],
            "report": report,
            "has_docs": reader.docs_index.exists(),
            "warehouse": reader.root.name,  # the folder's name only: the page shows no server path
            "sql_row_limit": sql_row_limit,
            "sql_time_limit": sql_time_limit,
            "view_threshold": coder_model().view_threshold,
        })

    # The page's script and styles, and the charting library from the plotly package (never a CDN).
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get(PLOTLY_JS, include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_file(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    # Great Expectations Data Docs, as a run writes them (index.html at the top).
    app.mount(API_DOCS_ASSETS, StaticFiles(directory=swagger_ui_assets()), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="newsflow API",
                                   swagger_js_url=f"{API_DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{API_DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{API_DOCS_ASSETS}/favicon-32x32.png")

    app.mount("/data-docs", _DataDocs(directory=Path(warehouse) / "docs", html=True, check_dir=False),
              name="data-docs")
    if token:
        app.add_middleware(_TokenGate, token=token)
    return app
