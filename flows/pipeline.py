"""The main Prefect flow: extract -> normalize -> validate -> entities -> validate -> load."""

from __future__ import annotations

import json
import tempfile
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from readers.fetch import Fetched, fetch_with_retries
from config.settings import Settings, is_url, settings_from_json
from readers.sources import RECORD_CHARS_PER_TEXT_CHAR, Extracted, ExtractedChunk, RecordChunks, read_document
from flows.data_docs import copy_ge_static
from flows.validation import CriticalValidationError, TableValidation, Validator
from flows.coding import Language, resolved_language, resources
from flows import lifecycle, progress
from flows.memory import release_freed_memory
from flows.isolation import isolated
from flows.scaleout import cluster_workers, task_runner
from lexicons.tone import tone_lexicon
from schemas import ARTICLES, ENTITIES, ENTITY_ALIASES, ENTITY_MENTIONS, EVENT_MENTIONS, EVENTS, FETCH_STATE, QUARANTINE, RUNS, TABLES
from schemas.derive import conformed
from transforms.coder.actors import dated_actor_codes
from transforms.dates import resolved_event_dates
from transforms.entities import entities, entity_aliases, mention_checks, nlp_documents
from transforms.events import (
    dated_event_mentions,
    event_checks,
    event_mention_checks,
    event_rows,
    identified_event_mentions,
    sentence_dates,
)
from transforms.geo import GEO_COLUMNS, action_geography
from transforms.nlp import Parsed, parsed_documents
from transforms.normalize import articles_from_records
from transforms.tone import article_tone
from transforms.quarantine import (
    REJECTS, cascaded_failures, language_rejects, normalize_rejects, quarantine_records, validation_rejects,
)
from transforms.runs import planned_articles, run_report, validation_result_rows
from warehouse.lock import run_lock
from warehouse.search import SearchIndex
from warehouse.store import MERGE_FROM_SMALL_FILES, RunTables, Warehouse


@dataclass(frozen=True)
class RunSummary:
    """What one run read, loaded and quarantined."""

    run_id: str
    warehouse: str
    records_read: int
    urls_fetched: int
    urls_not_modified: int
    articles_new: int
    articles_updated: int
    articles_unchanged: int
    entity_mentions: int
    entities: int
    event_mentions: int
    events: int
    duplicates: int
    quarantined: int
    quarantined_by_stage: dict[str, int]
    failed_expectations: int
    # per step: rows in, rows out (loaded), unchanged, quarantined (see transforms.runs.run_report)
    steps: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)  # the failed expectations: table, expectation, column, count
    # What the extract stage could not read, one entry per file, URL or record: source_uri,
    # record_key ("file", "url", "page", or the record's), reason. Also in the quarantine table.
    problems: list[dict] = field(default_factory=list)
    # or "skipped": another run held the warehouse; or "unchanged": nothing new was read (no
    # new, changed or quarantined record, no fetch_state change), so nothing was written
    status: str = "completed"
    skipped_because: str | None = None

    @classmethod
    def skipped(cls, run_id: str, warehouse: str, because: str) -> "RunSummary":
        zeros = {f.name: 0 for f in fields(cls) if f.type == "int"}  # every count: nothing was read
        return cls(run_id=run_id, warehouse=warehouse, quarantined_by_stage={}, status="skipped",
                   skipped_because=because, **zeros)


@task(cache_policy=NO_CACHE)
def extract(chunks: RecordChunks) -> ExtractedChunk | None:
    """The next chunk of the run's raw records, and the rejects read with them; None after the last."""
    return chunks.next_chunk()


@task(cache_policy=NO_CACHE)
def fetch(url: str, timeout: float, max_bytes: int, etag: str | None, last_modified: str | None,
          deadline: float, retries: int, retry_delay: float) -> Fetched:
    """One HTTP GET within `deadline` seconds in all, asked again after a transient failure
    (timeout, connection error, 5xx) up to `retries` times with doubling pauses. The retries are
    the task's own, not Prefect's: a URL that stays unreachable comes back as a Fetched with its
    problem, a line in the run's summary, not as a failed task run and its tracebacks."""
    logger = get_run_logger()
    return fetch_with_retries(
        url, timeout, max_bytes, etag, last_modified, deadline=deadline, retries=retries, retry_delay=retry_delay,
        on_retry=lambda err, wait: logger.warning("%s; asking again in %g s", err, wait))


def _fetched_documents(urls: list[str], known: pl.DataFrame, settings: Settings, out: Extracted,
                       fetched_at: datetime) -> pl.DataFrame:
    """Fetch every URL concurrently; add their records (or rejects) to `out`. Returns one
    fetch_state row per URL that answered."""
    validators = {row["url"]: row for row in known.iter_rows(named=True)}
    futures = {
        url: fetch.submit(url, settings.http_timeout, settings.http_max_bytes,
                          validators.get(url, {}).get("etag"), validators.get(url, {}).get("last_modified"),
                          settings.http_deadline, settings.http_retries, settings.http_retry_delay)
        for url in urls
    }
    states = []
    for url, future in futures.items():
        future.wait()
        if future.state.is_failed():  # not an unreachable server (that is a Fetched): an error of ours
            error = future.state.result(raise_on_failure=False)
            out.reject(url, "url", f"fetch failed with an error: {type(error).__name__}: {error}", None)
            continue
        response: Fetched = future.result()
        if response.problem:
            out.reject(url, "url", response.problem, response.body)
            if response.is_unreachable:
                continue
        elif not response.not_modified:
            read_document(response.body or b"", url, url.split("?")[0], out, response.content_type,
                          base_url=response.final_url)
        states.append({"url": url, "etag": response.etag, "last_modified": response.last_modified,
                       "status": response.status, "fetched_at": fetched_at,
                       "content_hash": response.body_hash})
    return pl.DataFrame(states, schema=FETCH_STATE.schema)


@task(cache_policy=NO_CACHE)
def normalize(records: pl.DataFrame, ingested_at: datetime, max_text_chars: int) -> pl.DataFrame:
    """Parse and normalize raw records into one row per article identity."""
    return articles_from_records(records.lazy(), ingested_at, max_text_chars).collect()


@task(cache_policy=NO_CACHE)
def compare_with_warehouse(articles: pl.DataFrame, store: Warehouse, seen: pl.DataFrame) -> pl.DataFrame:
    """Mark each article new, changed or unchanged, and new ones that copy an earlier article:
    against the warehouse (asked by key and hash) and `seen`, the articles of the run's earlier
    chunks, which win over the warehouse's."""
    stored = store.known_articles(articles)
    known = pl.concat([stored.join(seen, on="article_id", how="anti"), seen.select(stored.columns)])
    return planned_articles(articles.lazy(), known.lazy()).collect()


@task(cache_policy=NO_CACHE)
def validate(validator: Validator, table_name: str, frame: pl.DataFrame) -> TableValidation:
    """Run the table's expectation suite on `frame`."""
    return validator.validate(TABLES[table_name], frame)


def _resources(settings: Settings):
    """The model and lexicons for this run's actor dictionaries (loaded once per process)."""
    return resources(settings.model, tuple(Path(p) for p in settings.actor_dictionaries))


@task(cache_policy=NO_CACHE)
def parse(texts: list[str], model: str, actor_files: tuple[str, ...], batch_size: int, n_process: int = 1,
          articles: int = 0) -> Parsed:
    """Entity spans and dependency-parsed tokens of `texts` (doc_index = position in `texts`): the
    spaCy model call (a process loads the model once). With `articles` (the articles `texts` belong to), reports their parse as it goes (flows.progress)."""
    nlp = resources(model, tuple(Path(p) for p in actor_files)).nlp
    return parsed_documents(_Reporting(nlp, len(texts), articles) if articles else nlp, texts, batch_size, n_process)


class _Reporting:
    """`nlp` whose `pipe` reports the articles parsed so far as each doc comes out: `articles`
    articles in `docs` texts (a title and a text each, mostly), counted in proportion."""

    def __init__(self, nlp, docs: int, articles: int):
        self._nlp, self._docs, self._articles = nlp, max(docs, 1), articles
        self._seen = self._reported = 0

    def __getattr__(self, name: str):
        return getattr(self._nlp, name)

    def pipe(self, texts, **kwargs):
        for doc in self._nlp.pipe(texts, **kwargs):
            self._seen += 1
            done = min(self._articles, self._seen * self._articles // self._docs)
            if done > self._reported:
                progress.current().advance(done - self._reported)
                self._reported = done
            yield doc


@task(cache_policy=NO_CACHE)
def resolve_language(documents: pl.DataFrame, parsed: Parsed, settings: Settings) -> Language:
    """Entity mentions (mention_id, places geocoded in their articles' context) and coded events of
    the documents, from the model's parse."""
    return resolved_language(documents, parsed, _resources(settings))


def extract_language(articles: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, Language]:
    """The documents sent to the model (doc_index), and the entity mentions and coded events of the
    articles' titles and texts."""
    documents = nlp_documents(articles.lazy()).collect()
    texts = documents["content"].to_list()
    processes = settings.nlp_processes if len(texts) >= settings.nlp_parallel_min_docs else 1
    parsed = parse(texts, settings.model, settings.actor_dictionaries, settings.nlp_batch_size, processes,
                   articles=documents["article_id"].n_unique())
    return documents, resolve_language(documents, parsed, settings)


@task(cache_policy=NO_CACHE)
def toned(articles: pl.DataFrame) -> pl.DataFrame:
    """The articles with their document tone."""
    tones = article_tone(articles.lazy(), tone_lexicon().lazy())
    return articles.lazy().drop("tone", strict=False).join(tones, on="article_id", how="left",
                                                          maintain_order="left").collect()


@task(cache_policy=NO_CACHE)
def code_events(documents: pl.DataFrame, language: Language, articles: pl.DataFrame,
                settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Event mentions (mention_id) and events (event_id) of the coded sentences: dated against the
    articles' publication dates, placed at their sentences' (else articles') geocoded places, coded
    with the CAMEO codebook."""
    res = _resources(settings)
    codebook = res.codebook
    dated = dated_actor_codes(
        dated_event_mentions(language.coded.lazy(), documents.lazy(), articles.lazy(),
                             sentence_dates(language.spans.lazy())),
        res.periods.lazy())
    mentions = identified_event_mentions(resolved_event_dates(dated)).collect()
    places = (
        mentions.lazy().select(pl.col("mention_id").alias("event_key"), "article_id", "field", "sentence_index")
        .join(language.mentions.lazy().filter(pl.col("geonames_id").is_not_null())
              .select("article_id", pl.col("field").alias("_field"), pl.col("sentence_index").alias("_sentence"),
                      pl.col("start_char").alias("position"), *GEO_COLUMNS.names()),
              on="article_id", how="inner")
        .select("event_key", *GEO_COLUMNS.names(),
                scope=pl.when((pl.col("field") == pl.col("_field")) & (pl.col("sentence_index") == pl.col("_sentence")))
                .then(pl.lit("sentence")).otherwise(pl.lit("article")),
                position=(pl.when(pl.col("_field") == "title").then(0).otherwise(1_000_000) + pl.col("position"))
                .cast(pl.Int32))
        .sort("event_key", "scope", "position")
    )
    geography = action_geography(places).rename({"event_key": "mention_id"})
    events = event_rows(mentions.lazy(), articles.lazy(), codebook.lazy(), geography).collect()
    return mentions, events


@task(cache_policy=NO_CACHE)
def load(store: Warehouse, run_id: str, docs_staging: Path) -> int:
    """Commit every chunk the run staged as one snapshot of the lake, then copy in the Data Docs;
    returns the snapshot."""
    lifecycle.mark("committing")
    snapshot = store.commit(run_id)
    lifecycle.mark("committed", f"run {run_id}, snapshot {snapshot}")
    Validator.publish_docs(docs_staging, store.docs_dir)
    get_run_logger().info("Run %s committed as snapshot %s of %s", run_id, snapshot, store.describe())
    return snapshot


@task(cache_policy=NO_CACHE)
def index_articles(store: Warehouse) -> None:
    """Bring the search index (`<warehouse>/search.sqlite`) up to the committed snapshot: only the
    articles inserted, changed or removed since its last snapshot are written (a missing or
    unusable index is rebuilt). A failure is logged, not raised: the run is committed already,
    and `newsflow search` catches up or says how to rebuild."""
    logger = get_run_logger()
    try:
        done = SearchIndex.of(store).refresh(store)
    except Exception as err:  # noqa: BLE001 (the index is a convenience beside a committed run)
        logger.warning("The search index was not updated (%s: %s); `newsflow search --rebuild` rebuilds it",
                       type(err).__name__, err)
        return
    logger.info("Search index %s to snapshot %s: %d articles written, %d removed", done.action, done.snapshot,
                done.upserted, done.deleted)


@task(cache_policy=NO_CACHE)
def maintain(store: Warehouse, retention_days: float) -> None:
    """Expire snapshots past retention and delete unreferenced files; merge small files once a
    table has MERGE_FROM_SMALL_FILES of them (`newsflow maintain` merges whatever there is)."""
    done = store.maintain(retention_days, merge_from=MERGE_FROM_SMALL_FILES)
    get_run_logger().info("Maintenance: data files %d -> %d, %d snapshots expired, %d files deleted",
                          done["data_files_before"], done["data_files_after"], done["snapshots_expired"],
                          done["files_deleted"])
    if done["orphaned_files_deleted"]:
        get_run_logger().warning("Removed %d data files that an interrupted commit wrote but never recorded",
                                 done["orphaned_files_deleted"])


@task(cache_policy=NO_CACHE)
def send_changes(store: Warehouse, run_id: str, url: str) -> None:
    """Send the rows this run changed to the configured fsspec URL (object storage, ...). Runs
    after the commit: if it fails, the warehouse holds the run, the flow fails, and
    `newsflow export TABLE --since RUN_ID` recovers what was not sent."""
    written = store.export_run_changes(run_id, url)
    get_run_logger().info("Changes of run %s sent to %s (%d files)", run_id, url, len(written))


def _failed(validation: TableValidation, key: str) -> pl.LazyFrame:
    return validation.failures_frame(key).lazy()


@flow(name="newsflow-run", validate_parameters=False)
def newsflow_run(settings: Settings) -> RunSummary:
    """Turn the input files into validated articles and entities in the warehouse."""
    if not isinstance(settings, Settings):  # a deployment's run: its parameters come back as JSON
        settings = settings_from_json(settings)
    run_id = str(flow_run.id)
    lifecycle.mark("reading")
    with run_lock(settings.warehouse, run_id, settings.if_running, settings.wait_timeout, get_run_logger(),
                  catalog=settings.catalog) as other:
        if other is not None:
            summary = RunSummary.skipped(run_id, str(settings.warehouse), f"{other.describe()} held the warehouse")
        else:
            store = Warehouse.from_settings(settings)
            lifecycle.mark("reading", cleanup=lambda: store.discard(run_id))
            left = store.remove_leftovers(run_id)
            if left:
                get_run_logger().warning("Removed what %d dead runs left in %s: %s", len(left), store.staging_dir,
                                         ", ".join(left))
            # Data Docs are rendered beside the staged tables and copied in only once the load committed.
            try:
                summary = _run(settings, store.docs_staging(run_id))
            finally:
                store.discard(run_id)
    publish_report(summary)
    if summary.status == "skipped":  # shown as "Skipped" in the Prefect UI; callers still get the summary
        return Completed(name="Skipped", message=summary.skipped_because, data=summary)
    return summary


def publish_report(summary: RunSummary) -> None:
    """The run's summary as a Prefect artifact (a markdown table), shown with the flow run."""
    create_markdown_artifact(
        key="newsflow-run-summary",
        markdown=run_report(summary.status, summary.warehouse, summary.steps, summary.failed,
                            summary.skipped_because),
        description=f"newsflow run {summary.run_id}: {summary.status}",
    )


def _run(settings: Settings, docs_staging: Path) -> RunSummary:
    """The run itself, with the warehouse held (see `newsflow_run`): the records are read a chunk
    at a time (`_records_per_chunk` records) and worked, so that a run's memory does not grow with its input;
    then every chunk is committed as one snapshot.

    This process plans each chunk: it normalizes the records and compares the articles with the
    warehouse and the earlier chunks (which is why it is done here, in order). Each planned chunk's
    language, coding and validation work is one `work_chunk` task, run where the task runner says
    (in this process, or on a Dask cluster, several chunks at once), which stages the chunk's tables
    itself; this process adds up what the chunks report and writes their Data Docs."""
    started_at = datetime.now(timezone.utc)
    run_id = str(flow_run.id)
    store = Warehouse.from_settings(settings)
    docs_staging.mkdir(parents=True, exist_ok=True)

    as_of, max_record_chars = started_at.date().isoformat(), settings.max_text_chars * RECORD_CHARS_PER_TEXT_CHAR
    urls = [i for i in settings.inputs if is_url(i)]
    known_fetches = store.fetch_state(urls)
    fetched = Extracted(as_of=as_of, max_record_chars=max_record_chars)
    fetch_states = _fetched_documents(urls, known_fetches, settings, fetched, started_at)
    # The files' records, then the fetched documents', read a chunk at a time as the chunks go.
    reader = RecordChunks([Path(i) for i in settings.inputs if not is_url(i)], _records_per_chunk(settings), as_of,
                          max_record_chars, fetched=fetched)
    seen = pl.DataFrame(schema={c: ARTICLES.schema[c] for c in KNOWN_COLUMNS})  # earlier chunks' articles
    total = _Totals()
    staged = records_read = 0
    problems: list[dict] = []
    try:
        with _chunk_work(settings, run_id, started_at) as (submit, window):
            pending: deque[Callable[[], ChunkDone]] = deque()
            while (extracted := extract(reader)) is not None:
                index = extracted.index
                records_read += len(extracted.records) + len(extracted.rejects)
                problems.extend({k: r[k] for k in ("source_uri", "record_key", "reason")} for r in extracted.rejects)
                plan = _planned(settings, store, extracted.records_frame(), extracted.rejects, seen, started_at, index,
                                extracted.chunks, total)
                del extracted
                if plan is None:  # nothing new in it
                    continue
                seen = pl.concat([seen.join(plan.known, on="article_id", how="anti"), plan.known])
                pending.append(submit(plan))
                del plan
                while len(pending) > window:
                    _collect(pending.popleft(), total, docs_staging)
                    staged += 1
            while pending:
                _collect(pending.popleft(), total, docs_staging)
                staged += 1
        summary = total.summary(run_id, str(store.root), records_read, fetch_states, problems)
        if not staged and not _fetches_changed(fetch_states, known_fetches):
            # Nothing to write: no snapshot, no runs row, no validation results (the Prefect flow
            # run and its summary artifact record that the run happened).
            get_run_logger().info("Nothing new: %d articles unchanged; the warehouse was not changed",
                                  summary.articles_unchanged)
            return replace(summary, status="unchanged")
        if staged:
            copy_ge_static(docs_staging)
        run_row = pl.DataFrame([{
            "run_id": run_id, "started_at": started_at, "finished_at": datetime.now(timezone.utc),
            "status": "completed", "inputs": [str(p) for p in settings.inputs],
            "records_read": summary.records_read, "articles_new": summary.articles_new,
            "articles_updated": summary.articles_updated, "articles_unchanged": summary.articles_unchanged,
            "entity_mentions": summary.entity_mentions, "quarantined": summary.quarantined,
            # the problems are the quarantine's extract rows already
            "counts": json.dumps({k: v for k, v in asdict(summary).items() if k != "problems"}, sort_keys=True),
            "snapshot_id": None,
        }])
        empty = {name: pl.DataFrame(schema=table.schema) for name, table in TABLES.items()}
        store.stage(run_id, index + 1, RunTables(**{**empty, "runs": conformed(run_row, RUNS),
                                                    "fetch_state": conformed(fetch_states, FETCH_STATE)}))
    except BaseException:
        store.discard(run_id)
        raise
    load(store, run_id, docs_staging)
    index_articles(store)
    maintain(store, settings.retention_days)
    if settings.export_url:
        send_changes.with_options(retries=settings.http_retries)(store, run_id, settings.export_url)
    return summary


def _records_per_chunk(settings: Settings) -> int:
    """Records per chunk: `chunk_size`, or on Dask `dask_chunk_size` (smaller: each chunk is one
    task, and every worker needs chunks to work on)."""
    return max(1, settings.dask_chunk_size if settings.task_runner == "dask" else settings.chunk_size)


@contextmanager
def _chunk_work(settings: Settings, run_id: str, started_at: datetime):
    """`submit`, which starts a planned chunk's `work_chunk` and returns a call that waits for its
    outcome, and how many chunks may be at work while the next is planned. With the default runner
    a chunk is worked in this process as it is submitted (none waits: the model's own processes
    use the cores). On Dask, it is sent to the cluster, and up to one chunk per worker, plus one,
    is at work or queued (so the planned chunks held here stay few)."""
    if settings.task_runner != "dask":
        def worked_here(plan: _Plan) -> Callable[[], ChunkDone]:
            done = work_chunk(settings, plan, run_id, started_at)
            return lambda: done
        yield worked_here, 0
        return
    # What a worker is sent: absolute paths (its working directory is its own), and one spaCy
    # process (a Dask worker process may not start processes of its own; the cluster's workers
    # are the parallelism).
    sent = replace(settings, warehouse=Path(settings.warehouse).resolve(), nlp_processes=1,
                   actor_dictionaries=tuple(str(Path(p).resolve()) for p in settings.actor_dictionaries))
    with task_runner(settings) as runner:
        def on_cluster(plan: _Plan) -> Callable[[], ChunkDone]:
            future = runner.submit(work_chunk, {"settings": sent, "plan": plan, "run_id": run_id,
                                                "started_at": started_at})

            def outcome() -> ChunkDone:  # the chunk's progress as this process sees it: done or not
                progress.current().start(plan.articles, plan.index, plan.chunks)
                done = future.result()
                progress.current().advance(plan.articles)
                progress.current().finish()
                return done
            return outcome
        yield on_cluster, cluster_workers(settings) + 1


def _collect(outcome: Callable[[], ChunkDone], total: _Totals, docs_staging: Path) -> None:
    """Wait for a chunk's work; add its counts to `total` and write its Data Docs into the run's."""
    done = outcome()
    total.add(counts=done.counts, by_stage=done.by_stage, steps=done.steps, failed=done.failed,
              distinct=done.distinct)
    for name, content in done.docs.items():
        path = docs_staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    del done
    release_freed_memory()


def _fetches_changed(fetched: pl.DataFrame, known: pl.DataFrame) -> bool:
    """Whether a URL answered other than the warehouse remembers (a new URL, another status, ETag,
    Last-Modified or body): its fetch_state row must be written."""
    columns = ["url", "etag", "last_modified", "status", "content_hash"]
    return fetched.select(columns).join(known.select(columns), on=columns, how="anti", nulls_equal=True).height > 0


def _language_stage(articles: pl.DataFrame, settings: Settings):
    """Documents, language, event mentions and event candidates of `articles` (the rows to load)."""
    # Copies are loaded (each keeps its provenance) but not sent to the language model again.
    documents, language = extract_language(articles.filter(pl.col("duplicate_of").is_null()), settings)
    event_mentions, event_candidates = code_events(documents, language, articles, settings)
    return documents, language, event_mentions, event_candidates


@dataclass(frozen=True)
class TableStep:
    """One table of a chunk, declared: its candidate rows (with their check columns), made from the
    good rows of the steps before it; its expectation suite is the table's (schemas/); its
    quarantine rows take `source` as their source_uri and the row as JSON as their payload."""

    table: str
    candidates: Callable[[dict[str, pl.DataFrame]], pl.DataFrame]
    source: pl.Expr = field(default_factory=lambda: pl.col("source_uri"))


@dataclass
class Walked:
    frames: dict[str, pl.DataFrame]  # candidates per table
    failures: dict[str, pl.DataFrame]  # key, reason: failed expectations and what they took with them
    good: dict[str, pl.DataFrame]  # the table's columns, the rows to load
    validations: list[TableValidation]
    rejects: pl.LazyFrame
    steps: dict[str, dict[str, int]]  # per table: in = out + quarantined


def walk_tables(validator: Validator, steps: list[TableStep]) -> Walked:
    """Validate each declared table in order, then quarantine what the failures take with them
    (transforms.quarantine.cascaded_failures): every candidate row ends loaded or quarantined."""
    frames, failures, good, validations = {}, {}, {}, []
    for step in steps:
        frame = step.candidates(good)
        key = TABLES[step.table].key[0]
        # A row the suite itself fails on (an error, not a failed expectation) is left out with the error.
        validation, crashed = isolated(lambda rows: validate(validator, step.table, rows), frame, key,
                                       reraise=(CriticalValidationError,))
        validations.append(validation)
        frames[step.table] = frame
        failures[step.table] = pl.concat([validation.failures_frame(key), crashed.with_columns(
            reason=pl.format("validation failed with an error: {}", pl.col("reason")))])
        good[step.table] = frame.join(failures[step.table], on=key, how="anti", maintain_order="left")
    keys = {name: TABLES[name].key[0] for name in frames}
    failures = cascaded_failures(frames, failures, keys)
    good = {name: conformed(frame.join(failures[name], on=keys[name], how="anti", maintain_order="left"), TABLES[name])
            for name, frame in frames.items()}
    rejects = pl.concat([
        validation_rejects(frames[s.table].lazy().with_columns(source_uri=s.source), failures[s.table].lazy(),
                           keys[s.table]) for s in steps
    ])
    counts = {name: {"in": frames[name].height, "out": good[name].height, "quarantined": failures[name].height}
              for name in frames}
    return Walked(frames, failures, good, validations, rejects, counts)


KNOWN_COLUMNS = ["article_id", "content_hash", "text_hash", "simhash", "duplicate_of", "ingested_at"]


@dataclass
class _Totals:
    """What every chunk of a run read, loaded and quarantined, summed."""

    counts: dict[str, int] = field(default_factory=dict)
    by_stage: dict[str, int] = field(default_factory=dict)
    steps: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)
    # Entities and events are derived across articles: one may come from several chunks, so they
    # are counted as distinct keys (step -> in/out/quarantined -> keys).
    distinct: dict[str, dict[str, set]] = field(default_factory=dict)

    def add(self, counts: dict[str, int], by_stage: dict[str, int], steps: dict[str, dict[str, int]],
            failed: list[dict], distinct: dict[str, dict[str, pl.Series]]) -> None:
        for step, values in distinct.items():
            for name, keys in values.items():
                self.distinct.setdefault(step, {}).setdefault(name, set()).update(keys.to_list())
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        for name, value in by_stage.items():
            self.by_stage[name] = self.by_stage.get(name, 0) + value
        for step, values in steps.items():
            mine = self.steps.setdefault(step, {})
            for name, value in values.items():
                mine[name] = mine.get(name, 0) + value
        self.failed.extend(failed)

    def summary(self, run_id: str, warehouse: str, records_read: int, fetch_states: pl.DataFrame,
                problems: list[dict]) -> RunSummary:
        for step, values in self.distinct.items():
            self.steps[step] = {name: len(keys) for name, keys in values.items()}
        c = {**self.counts, "entities": len(self.distinct.get("entities", {}).get("out", ())),
             "events": len(self.distinct.get("events", {}).get("out", ()))}
        return RunSummary(
            run_id=run_id, warehouse=warehouse, records_read=records_read,
            urls_fetched=fetch_states.height,
            urls_not_modified=fetch_states.filter(pl.col("status") == 304).height,
            articles_new=c.get("articles_new", 0), articles_updated=c.get("articles_updated", 0),
            articles_unchanged=c.get("articles_unchanged", 0), entity_mentions=c.get("entity_mentions", 0),
            entities=c.get("entities", 0), event_mentions=c.get("event_mentions", 0), events=c.get("events", 0),
            duplicates=c.get("duplicates", 0), quarantined=c.get("quarantined", 0),
            quarantined_by_stage=dict(sorted(self.by_stage.items())), failed_expectations=len(self.failed),
            steps=self.steps, failed=self.failed, problems=problems,
        )


@dataclass
class _Plan:
    """One chunk as the run's process planned it, sent to where its work runs: its records
    (numbered by `_record`), the records normalizing failed on, the normalized records, and the
    articles compared with the warehouse and the earlier chunks (`change`, `duplicate_of`)."""

    index: int
    chunks: int
    records: pl.DataFrame
    broken: pl.DataFrame
    normalized: pl.DataFrame
    compared: pl.DataFrame
    extract_rejects: list[dict]

    @property
    def known(self) -> pl.DataFrame:
        """Its new and changed articles, for change and duplicate detection in later chunks."""
        return self.compared.filter(pl.col("change") != "unchanged").select(KNOWN_COLUMNS).with_columns(
            ingested_at=pl.col("ingested_at").cast(ARTICLES.schema["ingested_at"])).cast(
            {c: ARTICLES.schema[c] for c in KNOWN_COLUMNS})

    @property
    def articles(self) -> int:
        """The articles the model will parse (new or changed, not a copy), for the progress shown."""
        return self.compared.filter((pl.col("change") != "unchanged") & pl.col("duplicate_of").is_null()).height


@dataclass
class ChunkDone:
    """What a chunk's work reports once its tables are staged: its counts for the run's summary
    (as `_Totals.add` takes them) and its Data Docs (path under the docs folder -> content)."""

    counts: dict[str, int]
    by_stage: dict[str, int]
    steps: dict[str, dict[str, int]]
    failed: list[dict]
    distinct: dict[str, dict[str, pl.Series]]
    docs: dict[str, bytes] = field(default_factory=dict)


def _planned(settings: Settings, store: Warehouse, records: pl.DataFrame, extract_rejects: list, seen: pl.DataFrame,
             started_at: datetime, index: int, chunks: int, total: _Totals) -> _Plan | None:
    """Chunk `index` (of `chunks`) of the run's records normalized and compared with the warehouse
    and `seen` (the earlier chunks' articles). A chunk with nothing new (every article unchanged,
    nothing to quarantine) is counted in `total` and gives None: it is not worked."""
    # Normalizing leaves out, with the error, a record it fails on (flows.isolation); the others go on.
    numbered = records.with_row_index("_record").with_columns(pl.col("_record").cast(pl.String))
    normalized, broken = isolated(
        lambda rows: normalize(rows.drop("_record"), started_at, settings.max_text_chars), numbered, "_record")
    compared = compare_with_warehouse(normalized.filter(pl.col("reject_reason").is_null()), store, seen)
    if (not extract_rejects and not broken.height and not normalize_rejects(normalized.lazy()).collect().height
            and compared["change"].eq("unchanged").all()):
        get_run_logger().info("chunk %d: %d records; all %d articles unchanged", index, records.height,
                              compared.height)
        total.add(counts={"articles_unchanged": compared.height}, by_stage={}, failed=[], distinct={}, steps={
            "records": {"in": records.height, "out": records.height, "quarantined": 0},
            "articles": {"in": normalized.height, "out": 0, "unchanged": compared.height, "quarantined": 0}})
        return None
    return _Plan(index, chunks, numbered, broken, normalized, compared, extract_rejects)


@task(cache_policy=NO_CACHE)
def work_chunk(settings: Settings, plan: _Plan, run_id: str, started_at: datetime) -> ChunkDone:
    """A planned chunk's work, where the task runner runs it (this process or a Dask worker): its
    articles validated, parsed, coded; its tables validated; the chunk's tables staged in the
    warehouse's staging location (`Warehouse.stage`: the warehouse folder, or the object-storage
    data path); its Data Docs rendered. Its Great Expectations context is its own, dropped with it."""
    with tempfile.TemporaryDirectory(prefix="newsflow-docs-") as folder:
        docs = Path(folder)
        validator = Validator(docs, started_at)
        tables, done = _worked(settings, validator, plan, run_id, started_at)
        Warehouse.from_settings(settings).stage(run_id, plan.index, tables)
        validator.build_docs()
        # Great Expectations' static files are the same for every chunk: the run copies them once.
        done.docs = {str(path.relative_to(docs)): path.read_bytes() for path in sorted(docs.rglob("*"))
                     if path.is_file() and path.relative_to(docs).parts[0] != "static"}
    return done


def _worked(settings: Settings, validator: Validator, plan: _Plan, run_id: str,
            started_at: datetime) -> tuple[RunTables, ChunkDone]:
    """The chunk's tables (no `runs` row) and counts (see `work_chunk`)."""
    logger = get_run_logger()
    index, numbered, broken, normalized = plan.index, plan.records, plan.broken, plan.normalized
    records, extract_rejects = numbered.drop("_record"), plan.extract_rejects
    compared = toned(plan.compared)
    # A stage below that works on the chunk at once leaves out, with the error, a record it fails
    # on (flows.isolation); the others go on.
    checked, crashed = isolated(lambda rows: validate(validator, "articles", rows.with_columns(
        has_title_or_text=(pl.col("title") != "") | (pl.col("text") != ""))), compared, "article_id",
        reraise=(CriticalValidationError,))
    failed_articles = pl.concat([_failed(checked, "article_id"), crashed.lazy().with_columns(
        reason=pl.format("validation failed with an error: {}", pl.col("reason")))])
    good = compared.join(failed_articles.collect(), on="article_id", how="anti", maintain_order="left")
    to_load = good.filter(pl.col("change") != "unchanged")
    logger.info("chunk %d: %d records; %d articles new, %d changed, %d unchanged", index, records.height,
                to_load.filter(pl.col("change") == "new").height, to_load.filter(pl.col("change") == "changed").height,
                good.height - to_load.height)

    # The model and the coder see the chunk's articles together; an article they fail on is found
    # by halving the chunk and quarantined, and the others go on (flows.isolation).
    progress.current().start(to_load.filter(pl.col("duplicate_of").is_null()).height, index, plan.chunks)
    (documents, language, event_mentions, event_candidates), failed_language = isolated(
        lambda articles: _language_stage(articles, settings), to_load, "article_id")
    progress.current().finish()
    if failed_language.height:
        logger.warning("chunk %d: %d articles quarantined: the language stage failed on them (%s)", index,
                       failed_language.height, failed_language["reason"][0])
        to_load = to_load.join(failed_language, on="article_id", how="anti", maintain_order="left")
    codebook = _resources(settings).codebook
    with_source = to_load.lazy().select("article_id", "source_uri")
    walked = walk_tables(validator, [
        TableStep("entity_mentions", lambda good: mention_checks(language.mentions.lazy(), to_load.lazy()).join(
            with_source, on="article_id", how="left", maintain_order="left").collect()),
        # entities and events are derived from many articles: their quarantine rows name what they came from
        TableStep("entities", lambda good: entities(good["entity_mentions"].lazy()).collect(),
                  source=pl.lit("derived:entity_mentions")),
        TableStep("events", lambda good: event_checks(event_candidates.lazy(), codebook.lazy()).collect(),
                  source=pl.lit("derived:event_mentions")),
        TableStep("event_mentions", lambda good: event_mention_checks(
            event_mentions.lazy(), to_load.lazy(), good["events"].lazy()).join(
            with_source, on="article_id", how="left", maintain_order="left").collect()),
    ])
    good_mentions, good_entities = walked.good["entity_mentions"], walked.good["entities"]
    good_event_mentions, good_events = walked.good["event_mentions"], walked.good["events"]
    rejects = pl.concat([
        pl.DataFrame(extract_rejects, schema=REJECTS).lazy(),
        numbered.lazy().join(broken.lazy(), on="_record").select(
            "source_uri", "record_key", stage=pl.lit("normalize"),
            reason=pl.format("normalizing failed with an error: {}", pl.col("reason")),
            payload=pl.col("payload").cast(pl.Binary)),
        normalize_rejects(normalized.lazy()),
        validation_rejects(compared.lazy(), failed_articles, "article_id", pl.col("payload")),
        language_rejects(compared.lazy(), failed_language.lazy()),
        walked.rejects,
    ])
    quarantine = quarantine_records(rejects, run_id, started_at).collect()
    quarantine_validation = validate(validator, "quarantine", quarantine)
    validations = [checked, *walked.validations, quarantine_validation]
    results = pl.DataFrame([row for v in validations for row in v.results])
    failed_rows = results.filter(~pl.col("success"))
    normalize_rejected = normalized.filter(pl.col("reject_reason").is_not_null()).height
    steps = {
        "records": {"in": records.height + len(extract_rejects), "out": records.height - broken.height,
                    "quarantined": len(extract_rejects) + broken.height},
        "articles": {"in": normalized.height, "out": to_load.height, "unchanged": good.height - to_load.height,
                     "quarantined": normalize_rejected + compared.height - good.height + failed_language.height},
        **{name: counts for name, counts in walked.steps.items() if name not in ("entities", "events")},
    }
    done = ChunkDone(
        counts={"articles_new": to_load.filter(pl.col("change") == "new").height,
                "articles_updated": to_load.filter(pl.col("change") == "changed").height,
                "articles_unchanged": good.height - to_load.height, "entity_mentions": good_mentions.height,
                "event_mentions": good_event_mentions.height,
                "duplicates": to_load.filter(pl.col("duplicate_of").is_not_null()).height,
                "quarantined": quarantine.height},
        by_stage=dict(quarantine.group_by("stage").len().iter_rows()),
        steps=steps,
        failed=failed_rows.select("table_name", "expectation", "column_name", "unexpected_count").to_dicts(),
        distinct={name: {"in": walked.frames[name][key], "out": walked.good[name][key],
                         "quarantined": walked.failures[name][key]}
                  for name, key in (("entities", "entity_id"), ("events", "event_id"))},
    )
    result_rows = validation_result_rows(
        results.lazy().with_columns(validated_at=pl.lit(started_at).cast(pl.Datetime("us", "UTC"))), run_id,
        chunk=index).collect()
    tables = RunTables(
        articles=conformed(to_load, ARTICLES),
        entity_mentions=conformed(good_mentions, ENTITY_MENTIONS),
        entities=conformed(good_entities, ENTITIES),
        entity_aliases=conformed(entity_aliases(language.mentions.lazy().join(
            good_mentions.lazy().select("mention_id"), on="mention_id", how="semi"), run_id, started_at).collect(),
            ENTITY_ALIASES),
        event_mentions=conformed(good_event_mentions, EVENT_MENTIONS),
        events=conformed(good_events, EVENTS),
        quarantine=conformed(quarantine, QUARANTINE),
        runs=pl.DataFrame(schema=RUNS.schema),
        validation_results=result_rows,
        fetch_state=pl.DataFrame(schema=FETCH_STATE.schema),
    )
    return tables, done
