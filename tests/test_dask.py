"""Chunks worked on Dask (`newsflow run --task-runner dask`): the same warehouse rows as the default
runner, each chunk's work one task on the cluster's workers, and clear errors for unusable runners."""

from __future__ import annotations

import http.server
import math
import shutil
import threading

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.coding import resources
from flows.scaleout import TaskRunnerUnusable, checked_task_runner
from config.settings import Settings, resolve_settings
from tests.comparable import comparable_tables
from tests.conftest import SEEDS, newsflow, shared_data
from transforms.nlp import parsed_documents
from warehouse.store import Warehouse

distributed = pytest.importorskip("distributed")

# News feeds with 55 articles between them (titles, summaries and a few full texts): a few parse
# tasks, so both workers get work, in a few seconds per run. The last one is fetched over HTTP.
FEED_FILES = [
    "feeds-npr-org-1004-rss-xml__7be307059415227d.rss.xml",
    "boston-com-tag-world-news-feed__d2a188f20637f7a4.rss.xml",
    "aljazeera-com-xml-rss-all-xml__3f9eeff5039a008d.rss.xml",
]
SERVED_FEED = "rss-csmonitor-com-feeds-all__4179e7a13df0f120.rss.xml"
# Records per chunk of the Dask runs here: the feeds make several chunks, so both workers get one.
DASK_CHUNK = 20


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
    cluster, both in chunks of DASK_CHUNK records (each chunk's validation results are rows of their
    own), and the scheduler's log of the tasks the cluster ran for the Dask run."""
    local, client = cluster
    out = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NEWSFLOW_CHUNK_SIZE", str(DASK_CHUNK))
        env.setenv("NEWSFLOW_DASK_CHUNK_SIZE", str(DASK_CHUNK))
        for name, inputs in [("seeds", [str(SEEDS)]), ("feeds", feed_inputs)]:
            root = tmp_path_factory.mktemp(f"runs-{name}")
            _loaded(root / "default", inputs)
            with distributed.get_task_stream(client) as stream:
                _loaded(root / "dask", inputs, "--task-runner", "dask", "--dask-address", local.scheduler_address)
            out[name] = {"default": root / "default", "dask": root / "dask", "tasks": stream.data, "inputs": inputs}
    return out


def _tables(warehouse) -> dict[str, pl.DataFrame]:
    return comparable_tables(Warehouse(warehouse))


@pytest.mark.parametrize("inputs", ["seeds", "feeds"])
@pytest.mark.slow
def test_the_dask_runner_loads_the_same_rows_as_the_default_runner(runs, inputs):
    default, dask = _tables(runs[inputs]["default"]), _tables(runs[inputs]["dask"])
    assert sorted(default) == sorted(dask)
    assert default["entity_mentions"].height > 0 and default["events"].height > 0
    for name in default:
        assert_frame_equal(dask[name], default[name], check_column_order=False), name


def _worked(tasks: list[dict]) -> list[dict]:
    return [t for t in tasks if distributed.utils.key_split(t["key"]) == "work_chunk"]


@pytest.mark.slow
def test_each_chunk_was_worked_on_the_cluster_workers(runs, cluster):
    local, client = cluster
    run = runs["feeds"]
    store = Warehouse(run["dask"])
    records = store.query("select records_read from runs").item()
    chunks = math.ceil(records / DASK_CHUNK)
    assert chunks >= 3
    worked = _worked(run["tasks"])
    assert len(worked) == chunks  # one task per chunk (none is unchanged: the warehouse was empty)
    assert {t["worker"] for t in worked} == set(local.scheduler_info["workers"])  # both workers had chunks
    # only the chunks' work went to the cluster: the fetch, normalizing, comparing and the commit ran here
    assert {distributed.utils.key_split(t["key"]) for t in run["tasks"]} == {"work_chunk"}
    fetched = store.query("select url, status from fetch_state")
    assert fetched.rows() == [(run["inputs"][1], 200)]
    # worker side: the processes that worked them loaded the model's resources (once each)
    loaded = client.run(lambda: resources.cache_info().misses)
    assert all(loaded[worker] == 1 for worker in {t["worker"] for t in worked}), loaded
    # and every chunk's Data Docs came back: a validation page per chunk and suite run on it
    suites = ["articles", "entity_mentions", "entities", "events", "event_mentions", "quarantine"]
    pages = sorted((store.docs_dir / "validations").rglob("*.html"))
    assert sorted({p.relative_to(store.docs_dir / "validations").parts[0] for p in pages}) == sorted(suites)
    assert len(pages) == chunks * len(suites)


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
def test_a_deployment_run_with_dask_settings_works_on_the_cluster(prefect_server, cluster, tmp_path):
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
    worked = _worked(stream.data)
    assert worked and {t["worker"] for t in worked} <= set(local.scheduler_info["workers"])
    assert settings_from_json(settings_to_json(settings)).task_runner == "dask"
