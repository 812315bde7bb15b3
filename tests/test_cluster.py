"""A cluster you can start, with real parts on one machine as they would run on several: a Postgres
catalog (pgserver's PostgreSQL 16), the lake's data on S3 (SeaweedFS), a `dask scheduler` and two
`dask worker` processes started from the command line (with the S3 variables a worker machine
would set), and `newsflow run` commands against them. The README's "A cluster across machines"
walkthrough is these commands."""

from __future__ import annotations

import math
import shutil
import subprocess

import duckdb
import pytest
from polars.testing import assert_frame_equal

from tests.comparable import comparable_tables
from tests.conftest import ROOT, SEEDS, shared_data
from tests.servers import dask_cluster, new_database
from tests.test_schedules import NEWSFLOW, _api_env
from warehouse.lake import extension_path
from warehouse.store import Warehouse

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

# The Prefect task a run sends to the Dask workers, one per chunk (its Dask keys are "<name>-<id>").
WORK_TASK = "work_chunk"
# 57 New York Times world news items (titles and summaries) beside seeds/' one article.
FEED = "rss-nytimes-com-services-xml-rss-nyt-World-xml__78f77fae2e1ffc14.rss.xml"
# Records per chunk, for both runs (chunk_size on the default runner, dask_chunk_size on Dask):
# three chunks, so both workers get one.
CHUNK_SIZE = "20"


def _run(inputs: list[str], warehouse, catalog: str, data_path: str, env: dict, *runner: str):
    return subprocess.run([NEWSFLOW, "run", *inputs, "--warehouse", str(warehouse), "--catalog", catalog,
                           "--data-path", data_path, *runner], env=env, capture_output=True, text=True, timeout=900)


def _s3_objects(s3, prefix: str) -> list[str]:
    """The files under s3://bucket/prefix, listed through DuckDB's httpfs with the test's keys."""
    keys = s3.env()
    with duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}) as con:
        con.execute(f"LOAD '{extension_path('httpfs')}'")
        con.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{keys['NEWSFLOW_S3_KEY_ID']}', SECRET '{keys['NEWSFLOW_S3_SECRET']}', "
                    f"ENDPOINT '{s3.endpoint}', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
        return [r[0] for r in con.execute(f"SELECT file FROM glob('s3://{s3.bucket}/{prefix}**')").fetchall()]


def test_a_run_on_a_cluster_started_from_the_command_line(prefect_server, lake_servers, tmp_path, monkeypatch):
    server, s3 = lake_servers
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(shared_data("feeds", "fastfeedparser_benchmark", FEED), inputs / FEED)
    sources = [str(SEEDS), str(inputs)]
    # A worker machine has the project installed and the S3 keys in its environment; here its code
    # is this checkout's (PYTHONPATH), as the `newsflow run` it serves.
    machine = {**s3.env(), "PYTHONPATH": str(ROOT)}
    env = _api_env(**machine, NEWSFLOW_CHUNK_SIZE=CHUNK_SIZE, NEWSFLOW_DASK_CHUNK_SIZE=CHUNK_SIZE)

    with dask_cluster(tmp_path / "dask", workers=2, env=machine) as cluster, \
            distributed.Client(cluster.address, set_as_default=False) as client:
        catalog, data_path = "postgres:" + new_database(server, "on_dask"), f"s3://{s3.bucket}/on-dask/"
        with distributed.get_task_stream(client) as stream:
            run = _run(sources, tmp_path / "wh-dask", catalog, data_path, env,
                       "--task-runner", "dask", "--dask-address", cluster.address)
        assert run.returncode == 0, run.stdout + run.stderr + cluster.logs()
        printed = dict(line.strip().rsplit(None, 1) for line in run.stdout.splitlines()[1:14])
        names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
        ran = [t for t in stream.data if distributed.utils.key_split(t["key"]) == WORK_TASK]
        # one task per chunk, on both worker processes
        assert len(ran) == math.ceil(int(printed["records read"]) / int(CHUNK_SIZE)), stream.data
        assert {names[t["worker"]] for t in ran} == {"worker-1", "worker-2"}, stream.data
        # each loaded the model and lexicons once, from its own install
        from flows.coding import resources

        assert client.run(lambda: resources.cache_info().misses) == dict.fromkeys(names, 1)

    # the same input on the default runner (in the run's process), into its own catalog and prefix
    default_catalog, default_path = "postgres:" + new_database(server, "on_default"), f"s3://{s3.bucket}/on-default/"
    default = _run(sources, tmp_path / "wh-default", default_catalog, default_path, env)
    assert default.returncode == 0, default.stdout + default.stderr

    # the rows are in the lake: the catalog in Postgres, the data files in the bucket, nothing local
    assert int(printed["articles new"]) > 50, run.stdout
    assert not (tmp_path / "wh-dask" / "data").exists() and not (tmp_path / "wh-dask" / "catalog.sqlite").exists()
    objects = _s3_objects(s3, "on-dask/")
    assert any("/entity_mentions/" in o and o.endswith(".parquet") for o in objects), objects
    assert not [o for o in objects if "/on-dask/staging/" in o]  # the chunks the workers staged there are gone
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    counted = subprocess.run([NEWSFLOW, "sql", "select count(*) as n from articles", "--warehouse",
                              str(tmp_path / "wh-dask"), "--catalog", catalog, "--data-path", data_path, "--format", "csv"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert counted.stdout.splitlines() == ["n", printed["articles new"]], counted.stdout + counted.stderr
    on_dask = Warehouse(tmp_path / "read-dask", catalog, data_path)
    # and they are the default runner's rows
    dask_tables = comparable_tables(on_dask)
    default_tables = comparable_tables(Warehouse(tmp_path / "read-default", default_catalog, default_path))
    assert sorted(dask_tables) == sorted(default_tables)
    assert default_tables["entity_mentions"].height > 0 and default_tables["events"].height > 0
    for name in default_tables:
        assert_frame_equal(dask_tables[name], default_tables[name], check_column_order=False), name
    assert all(p.returncode is not None for p in cluster.processes)  # the scheduler and workers are stopped
