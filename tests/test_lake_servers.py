"""The several-machines setup against real servers on 127.0.0.1: a Postgres catalog (pgserver's
PostgreSQL 16) and data on S3-compatible object storage (SeaweedFS). A real flow run writes it,
the CLI reads and time-travels it, and two writers at once are serialized by the catalog's lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SEEDS
from tests.servers import new_database
from warehouse.reader import Reader
from tests.test_schedules import NEWSFLOW, _api_env
from warehouse.lake import extension_path


pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSFLOW, *args], env=env, capture_output=True, text=True, timeout=600)


def test_a_run_on_a_postgres_catalog_with_its_data_on_object_storage(prefect_server, lake_servers, tmp_path):
    server, s3 = lake_servers
    catalog = "postgres:" + new_database(server, "one_run")
    env = _api_env(**s3.env(), NEWSFLOW_CATALOG=catalog, NEWSFLOW_DATA_PATH=f"s3://{s3.bucket}/one-run/")
    folder = tmp_path / "wh"
    first = _cli("run", str(SEEDS), "--warehouse", str(folder), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "articles new                   1" in first.stdout
    assert not (folder / "data").exists() and not (folder / "catalog.sqlite").exists()  # nothing local but docs
    counted = _cli("sql", "select count(*) as n from articles", "--warehouse", str(folder), "--format", "csv", env=env)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines() == ["n", "1"]
    # the data files are Parquet objects in the bucket
    with duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}) as con:
        con.execute(f"LOAD '{extension_path('httpfs')}'")
        con.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{s3.env()['NEWSFLOW_S3_KEY_ID']}', "
                    f"SECRET '{s3.env()['NEWSFLOW_S3_SECRET']}', ENDPOINT '{s3.endpoint}', URL_STYLE 'path', "
                    f"USE_SSL false, REGION 'us-east-1')")
        objects = [r[0] for r in con.execute(f"SELECT file FROM glob('s3://{s3.bucket}/one-run/**/*.parquet')").fetchall()]
    # (a table of a few rows may stay inlined in the catalog until maintenance flushes it)
    assert any("/entity_mentions/" in o for o in objects), objects
    # the same input again: nothing new, read from the catalog and the bucket, and nothing written
    again = _cli("run", str(SEEDS), "--warehouse", str(folder), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "nothing new: 1 article unchanged; the warehouse was not changed\n"
    # another article: a new snapshot, and as of the first run the warehouse is as it was
    other = tmp_path / "other" / "article.txt"
    other.parent.mkdir()
    other.write_text(next(SEEDS.glob("*.txt")).read_text().replace("Hamas", "Hezbollah"))
    second = _cli("run", str(other), "--warehouse", str(folder), env=env)
    assert second.returncode == 0, second.stderr
    assert "articles new                   1" in second.stdout
    history = _cli("history", "--warehouse", str(folder), env=env)
    assert history.returncode == 0, history.stderr
    first_run = first.stdout.split("run ", 1)[1].split(" ", 1)[0]
    assert first_run in history.stdout
    for as_of, articles in ((["--as-of", first_run], "1"), ([], "2")):
        counted = _cli("sql", "select count(*) as n from articles", *as_of, "--warehouse", str(folder),
                       "--format", "csv", env=env)
        assert counted.stdout.splitlines() == ["n", articles], counted.stderr
    # the page's facts, kept per snapshot, read the Postgres catalog's snapshots too
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3.env().items():
            patch.setenv(name, value)
        reader = Reader(folder, catalog, f"s3://{s3.bucket}/one-run/")
        assert {info.name: info.rows for info in reader.describe()}["articles"] == 2
        assert reader.latest_validation().run_id == second.stdout.split("run ", 1)[1].split(" ", 1)[0]


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from tests.test_warehouse import _run
    from warehouse.lock import run_lock
    from warehouse.store import Warehouse

    name, catalog, data_path, folder, count = sys.argv[1:6]
    store = Warehouse(folder, catalog, data_path)
    for i in range(int(count)):
        run_id = f"{name}-{i}"
        with run_lock(folder, run_id, "wait", 300, catalog=catalog):
            # every writer upserts the same article and entity keys, with its own text
            store.publish(run_id, _run(run_id, datetime.now(timezone.utc), text=f"{name} {i}: Qatar expels Hamas."))
    print("done", flush=True)
""")


def test_two_writers_at_once_are_serialized_by_the_catalog_lock(lake_servers, tmp_path, monkeypatch):
    server, s3 = lake_servers
    catalog = "postgres:" + new_database(server, "two_writers")
    data_path = f"s3://{s3.bucket}/two-writers/"
    env = {**os.environ, **s3.env(), "PYTHONPATH": str(Path(__file__).parent.parent)}
    count = 6
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, catalog, data_path, str(tmp_path / name), str(count)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("alpha", "beta")]
    outputs = [w.communicate(timeout=600) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0 and out.strip() == "done", err[-3000:]
    from tests.test_warehouse import TABLES
    from warehouse.store import Warehouse

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    store = Warehouse(tmp_path / "reader", catalog, data_path)
    assert store.query("SELECT count(*) FROM runs").item() == 2 * count  # every commit landed
    for name, table in TABLES.items():
        keys = ", ".join(table.key)
        assert store.query(f"SELECT count(*) - count(DISTINCT ({keys})) FROM {name}").item() == 0, name
    assert store.query("SELECT count(*) FROM articles").item() == 1
    assert store.query("SELECT count(*) FROM entity_mentions").item() == 1
