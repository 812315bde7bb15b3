"""Queries and downloads through `newsflow web` keep answering while a run loads the warehouse,
and each answer shows the warehouse before the run or after it, never in between."""

from __future__ import annotations

import io
import socket
import subprocess
import time

import httpx
import pyarrow.parquet as pq
import pytest

from tests.conftest import SEEDS, newsflow, shared_data
from tests.test_schedules import NEWSFLOW, _api_env, _wait_for
from warehouse.lock import is_locked
from warehouse.store import Warehouse

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_downloads_and_queries_answer_while_a_run_loads(prefect_server, tmp_path):
    warehouse = tmp_path / "wh"
    assert newsflow("run", str(SEEDS), "--warehouse", str(warehouse)).exit_code == 0
    port = _free_port()
    # the children's output goes to files: an unread pipe that fills up would block them
    web_log, run_log = (tmp_path / "web.log").open("w"), (tmp_path / "run.log").open("w")
    web = subprocess.Popen([NEWSFLOW, "web", "--port", str(port), "--warehouse", str(warehouse)],
                           stdout=web_log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            _wait_for(lambda: _up(http), 60, "newsflow web to answer")
            run = subprocess.Popen([NEWSFLOW, "run", str(shared_data("feeds", "laminas_integration")),
                                    "--warehouse", str(warehouse)], env=_api_env(),
                                   stdout=run_log, stderr=subprocess.STDOUT, text=True)
            seen, while_held, while_loading = set(), 0, 0
            while run.poll() is None:
                held = is_locked(warehouse)
                loading = (warehouse / "staging").exists()  # the run has staged its tables and commits them
                counted = http.get("/api/sql", params={"sql": "SELECT count(*) AS n FROM articles"})
                assert counted.status_code == 200, counted.text
                download = http.get("/api/export/articles", params={"format": "parquet"})
                assert download.status_code == 200, download.text[:500]
                page = http.get("/")
                assert page.status_code == 200
                rows = pq.read_table(io.BytesIO(download.content)).num_rows
                seen |= {counted.json()["rows"][0][0], rows}
                while_held += held
                while_loading += loading
            assert run.returncode == 0, (tmp_path / "run.log").read_text()
            after = Warehouse(warehouse).query("SELECT count(*) FROM articles").item()
            assert after > 1
            # every answer was the warehouse before the run (1 article) or after it, nothing between
            assert seen <= {1, after}, seen
            assert while_held >= 3, "the requests did not overlap the run"
            final = http.get("/api/sql", params={"sql": "SELECT count(*) AS n FROM articles"}).json()
            assert final["rows"] == [[after]]
        print(f"requests while the run held the warehouse: {while_held}, while it was committing: "
              f"{while_loading}")
    finally:
        web.terminate()
        web.wait(30)


def _up(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
