"""The language model on Dask (`newsflow run --task-runner dask`): the same warehouse rows as the
default runner, the parse tasks on the cluster's workers, and clear errors for unusable runners."""

from __future__ import annotations

import http.server
import json
import math
import shutil
import threading

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.coding import resources
from flows.pipeline import DASK_CHUNK_BATCHES
from flows.scaleout import TaskRunnerUnusable, checked_task_runner
from config.settings import Settings, resolve_settings
from schemas import NER_SPANS, TOKENS, TABLES
from tests.conftest import SEEDS, newsflow, shared_data
from transforms.nlp import Parsed, combined_parse, parsed_documents
from warehouse.store import Warehouse

distributed = pytest.importorskip("distributed")

# Columns that stamp a run by definition (its id, its clock) and so differ between any two runs.
STAMP_COLUMNS = {
    "run_id", "last_seen_run_id",  # the Prefect flow run ids
    "result_id",  # validation_results key: a hash of the run id and the expectation's position
    "ingested_at", "updated_at", "first_seen_at", "last_seen_at", "quarantined_at", "validated_at",
    "fetched_at", "started_at", "finished_at",
}
# runs.counts is the run summary as JSON: these of its fields are stamps too (the warehouse is a temp folder).
STAMP_COUNTS = {"run_id", "warehouse"}
# validation_results and table_updates lose their key with the stamps: sorted by what identifies a row there.
SORT_WITHOUT_KEY = {"validation_results": ["table_name", "expectation", "column_name"],
                    "table_updates": ["table_name"]}
# News feeds with 55 articles between them (titles, summaries and a few full texts): a few parse
# tasks, so both workers get work, in a few seconds per run. The last one is fetched over HTTP.
FEED_FILES = [
    "feeds-npr-org-1004-rss-xml__7be307059415227d.rss.xml",
    "boston-com-tag-world-news-feed__d2a188f20637f7a4.rss.xml",
    "aljazeera-com-xml-rss-all-xml__3f9eeff5039a008d.rss.xml",
]
SERVED_FEED = "rss-csmonitor-com-feeds-all__4179e7a13df0f120.rss.xml"


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (a new one costs seconds), and a client to watch it (not the
    default client: prefect-dask would take that one's cluster whatever the runner is told)."""
    with (distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                   dashboard_address=":0") as local,
          distributed.Client(local, set_as_default=False) as client):
        yield local, client


@pytest.fixture(scope="module")
def feed_inputs(tmp_path_factory):
    """A folder of feed files, and the URL of one more feed served on 127.0.0.1."""
    source = shared_data("feeds", "fastfeedparser_benchmark")
    folder, served = tmp_path_factory.mktemp("feeds"), tmp_path_factory.mktemp("served")
    for name in FEED_FILES:
        shutil.copy(source / name, folder / name)
    shutil.copy(source / SERVED_FEED, served / "feed.xml")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield [str(folder), f"http://127.0.0.1:{server.server_address[1]}/feed.xml"]
        server.shutdown()


def _loaded(warehouse, inputs: list[str], *runner: str) -> None:
    result = newsflow("run", *inputs, "--warehouse", str(warehouse), *runner)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(prefect_server, cluster, feed_inputs, tmp_path_factory):
    """Per input (seeds/, the feeds): its warehouse from the default runner and from the module's
    cluster, and the scheduler's log of the tasks the cluster ran for the Dask run."""
    local, client = cluster
    out = {}
    for name, inputs in [("seeds", [str(SEEDS)]), ("feeds", feed_inputs)]:
        root = tmp_path_factory.mktemp(f"runs-{name}")
        _loaded(root / "default", inputs)
        with distributed.get_task_stream(client) as stream:
            _loaded(root / "dask", inputs, "--task-runner", "dask", "--dask-address", local.scheduler_address)
        out[name] = {"default": root / "default", "dask": root / "dask", "tasks": stream.data, "inputs": inputs}
    return out


def _tables(warehouse) -> dict[str, pl.DataFrame]:
    """Every table of the warehouse without its stamp columns, sorted by what identifies a row."""
    store = Warehouse(warehouse)
    tables = {}
    for name in store.table_names():
        frame = store.query(f"select * from {name}")
        if name == "runs":
            frame = frame.with_columns(pl.col("counts").map_elements(
                lambda c: json.dumps({k: v for k, v in json.loads(c).items() if k not in STAMP_COUNTS},
                                     sort_keys=True), return_dtype=pl.String))
        frame = frame.drop([c for c in frame.columns if c in STAMP_COLUMNS])
        key = [c for c in (TABLES[name].key if name in TABLES else ()) if c in frame.columns]
        tables[name] = frame.sort(key or SORT_WITHOUT_KEY.get(name) or frame.columns)
    return tables


@pytest.mark.parametrize("inputs", ["seeds", "feeds"])
@pytest.mark.slow
def test_the_dask_runner_loads_the_same_rows_as_the_default_runner(runs, inputs):
    default, dask = _tables(runs[inputs]["default"]), _tables(runs[inputs]["dask"])
    assert sorted(default) == sorted(dask)
    assert default["entity_mentions"].height > 0 and default["events"].height > 0
    for name in default:
        assert_frame_equal(dask[name], default[name], check_column_order=False), name


@pytest.mark.slow
def test_the_parse_tasks_ran_on_the_cluster_workers(runs, cluster):
    local, client = cluster
    run = runs["feeds"]
    documents = Warehouse(run["dask"]).query(
        "select count(*) filter (where coalesce(title, '') <> '') + count(*) filter (where coalesce(text, '') <> '') "
        "as n from articles where duplicate_of is null").item()
    chunks = math.ceil(documents / (Settings().nlp_batch_size * DASK_CHUNK_BATCHES))
    assert chunks >= 2
    parses = [t for t in run["tasks"] if distributed.utils.key_split(t["key"]) == "parse"]
    assert len(parses) == chunks
    assert {t["worker"] for t in parses} <= set(local.scheduler_info["workers"])
    # only the model's tasks went to the cluster: the fetch, checks and load ran in the flow's process
    assert {distributed.utils.key_split(t["key"]) for t in run["tasks"]} == {"parse"}
    fetched = Warehouse(run["dask"]).query("select url, status from fetch_state")
    assert fetched.rows() == [(run["inputs"][1], 200)]
    # worker side: the processes that ran them loaded the model's resources (once each)
    loaded = client.run(lambda: resources.cache_info().misses)
    ran_on = {t["worker"] for t in parses}
    assert all(loaded[worker] == 1 for worker in ran_on), loaded


@pytest.mark.slow
def test_a_temporary_local_cluster_loads_the_same_rows(runs, cluster, tmp_path, monkeypatch):
    import flows.pipeline

    here = []

    def counted(*args, **kwargs):
        here.append(len(args[1]))
        return parsed_documents(*args, **kwargs)

    monkeypatch.setattr(flows.pipeline, "parsed_documents", counted)
    warehouse = tmp_path / "warehouse"
    with distributed.get_task_stream(cluster[1]) as stream:
        _loaded(warehouse, [str(SEEDS)], "--task-runner", "dask")
    assert stream.data == []  # on a cluster of its own, not the module's
    assert here == []  # and not in this process
    flows.pipeline.parse.fn(["A text parsed here."], Settings().model, (), 32)
    assert here == [1]  # (which the count would have shown)
    default, dask = _tables(runs["seeds"]["default"]), _tables(warehouse)
    for name in default:
        assert_frame_equal(dask[name], default[name], check_column_order=False), name


def test_chunks_parsed_apart_and_combined_equal_one_parse():
    texts = ["Qatar expelled Hamas leaders from Doha.", "", "Talks in Cairo", "Egypt and Israel met in Cairo on "
             "Monday. Officials said the talks would resume.", "Biden spoke."]
    nlp = resources(Settings().model).nlp
    whole = parsed_documents(nlp, texts, batch_size=2)
    parts = combined_parse([(start, parsed_documents(nlp, texts[start:start + 2], batch_size=2))
                            for start in range(0, len(texts), 2)])
    assert_frame_equal(parts.spans, whole.spans)
    assert_frame_equal(parts.tokens, whole.tokens)
    assert parts.tokens["doc_index"].unique().sort().to_list() == [0, 2, 3, 4]  # the empty text has no token


@pytest.mark.parametrize(("chunks", "expected"), [
    pytest.param([], {"spans": [], "tokens": []}, id="no chunk"),
    pytest.param([(0, [0, 1]), (2, [0]), (5, [0, 0, 1])], {"spans": [0, 1, 2, 5, 5, 6], "tokens": [0, 1, 2, 5, 5, 6]},
                 id="offsets"),
])
def test_combined_parse_offsets_doc_index(chunks, expected):
    def parsed(doc_indexes: list[int]) -> Parsed:
        def frame(schema: pl.Schema) -> pl.DataFrame:
            return pl.DataFrame({"doc_index": doc_indexes}, schema={"doc_index": pl.Int64}).select(
                pl.col("doc_index") if name == "doc_index" else pl.lit(None, dtype).alias(name)
                for name, dtype in schema.items())
        return Parsed(frame(NER_SPANS), frame(TOKENS))

    combined = combined_parse([(start, parsed(indexes)) for start, indexes in chunks])
    assert combined.spans.schema == NER_SPANS and combined.tokens.schema == TOKENS
    assert combined.spans["doc_index"].to_list() == expected["spans"]
    assert combined.tokens["doc_index"].to_list() == expected["tokens"]


def test_runner_settings_come_from_the_environment():
    settings = resolve_settings(env={"NEWSFLOW_TASK_RUNNER": "dask", "NEWSFLOW_DASK_ADDRESS": "tcp://10.0.0.5:8786",
                                     "NEWSFLOW_DASK_WORKERS": "4"})
    assert (settings.task_runner, settings.dask_address, settings.dask_workers) == ("dask", "tcp://10.0.0.5:8786", 4)
    assert (Settings().task_runner, Settings().dask_address, Settings().dask_workers) == ("default", "", 2)


@pytest.mark.parametrize(("settings", "message"), [
    pytest.param(Settings(task_runner="ray"), "unknown task runner 'ray'", id="unknown runner"),
    pytest.param(Settings(task_runner="dask", dask_address="http://127.0.0.1:8786"),
                 "cannot reach a Dask scheduler at 'http://127.0.0.1:8786': unknown address scheme 'http'",
                 id="not a dask address"),
    pytest.param(Settings(task_runner="dask", dask_address="127.0.0.1"), "missing port number", id="no port"),
    pytest.param(Settings(task_runner="dask", dask_address="tcp://127.0.0.1:9"),
                 "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9': Timed out", id="nothing listening"),
    pytest.param(Settings(task_runner="dask", dask_workers=0), "dask_workers must be at least 1", id="no workers"),
])
def test_an_unusable_runner_is_named(settings, message):
    with pytest.raises(TaskRunnerUnusable, match=message.replace("(", r"\(").replace(".", r"\.")):
        checked_task_runner(settings, timeout=0.5)


def test_a_scheduler_without_workers_is_named():
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as empty:
        with pytest.raises(TaskRunnerUnusable, match="has no workers; start some with `dask worker tcp://"):
            checked_task_runner(Settings(task_runner="dask", dask_address=empty.scheduler_address), timeout=0.5)


def test_a_bad_dask_address_is_a_usage_error(tmp_path):
    result = newsflow("run", str(SEEDS), "--warehouse", str(tmp_path / "wh"), "--task-runner", "dask",
                      "--dask-address", "http://127.0.0.1:8786")
    assert result.exit_code == 2
    assert "cannot reach a Dask scheduler at 'http://127.0.0.1:8786'" in result.output
    assert not (tmp_path / "wh").exists()
    without_runner = newsflow("run", str(SEEDS), "--warehouse", str(tmp_path / "wh"),
                              "--dask-address", "tcp://127.0.0.1:8786")
    assert without_runner.exit_code == 2 and "--dask-address needs --task-runner dask" in without_runner.output
    unknown = newsflow("run", str(SEEDS), "--task-runner", "ray")
    assert unknown.exit_code == 2 and "ray" in unknown.output


@pytest.mark.slow
def test_a_deployment_run_with_dask_settings_parses_on_the_cluster(prefect_server, cluster, tmp_path):
    """`newsflow serve`/`deploy` runs load the flow from its entrypoint with the default runner: the
    settings alone (as a config file's `task_runner = "dask"` gives them) send the model to Dask."""
    from flows.pipeline import newsflow_run
    from config.settings import settings_from_json, settings_to_json

    local, client = cluster
    settings = resolve_settings(env={}, inputs=[str(SEEDS)], warehouse=tmp_path / "wh", task_runner="dask",
                                dask_address=local.scheduler_address)
    with distributed.get_task_stream(client) as stream:
        # the parameters as a deployment stores and hands them back: JSON
        summary = newsflow_run(settings_to_json(settings))
    assert summary.articles_new == 1 and summary.events > 0
    parses = [t for t in stream.data if distributed.utils.key_split(t["key"]) == "parse"]
    assert parses and {t["worker"] for t in parses} <= set(local.scheduler_info["workers"])
    assert settings_from_json(settings_to_json(settings)).task_runner == "dask"
