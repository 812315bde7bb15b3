"""Runs stopped from outside: kill -9, SIGTERM, and another writer beside a run. Real `newsflow
run` processes against the session's Prefect server, with the real model and lake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from tests.conftest import SEED_FILE, newsflow, shared_data
from warehouse.store import Warehouse

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

NEWSFLOW = Path(sys.executable).parent / "newsflow"
# A guard against a hung process, not a speed goal (benchmarks/faults.py measures the times).
HANG_GUARD = 120


@pytest.fixture()
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED_FILE.read_bytes())
    # 172 articles: enough texts for the model's two worker processes, and a parse of some seconds
    (folder / "wikinews.csv").write_bytes(shared_data("corpus", "wikinews_2019.csv").read_bytes())
    return folder


class Run:
    """A `newsflow run` process whose output is read as it comes."""

    def __init__(self, inputs: Path, warehouse: Path):
        from prefect.settings import PREFECT_API_URL

        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"}
        self.process = subprocess.Popen([str(NEWSFLOW), "run", str(inputs), "--warehouse", str(warehouse)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.1)

    def finish(self) -> int:
        code = self.process.wait(HANG_GUARD)
        self._reader.join(10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _parsing(run: Run) -> list[psutil.Process]:
    """Wait until the run parses with the model's worker processes; its descendants then."""
    run.wait_for("parsing ")  # the progress line (not a terminal: plain lines)
    deadline = time.monotonic() + HANG_GUARD
    while True:
        children = psutil.Process(run.process.pid).children(recursive=True)
        if sum("newsflow" in " ".join(c.cmdline()) for c in children) >= 2:  # the spaCy workers (forked)
            return children
        assert time.monotonic() < deadline and run.process.poll() is None, run.output
        time.sleep(0.1)


def test_a_killed_run_leaves_no_process_and_the_next_run_clears_what_it_left(prefect_server, inputs, tmp_path):
    warehouse = tmp_path / "warehouse"
    run = Run(inputs, warehouse)
    children = _parsing(run)
    run.process.kill()
    assert run.finish() == -signal.SIGKILL
    deadline = time.monotonic() + HANG_GUARD
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(children) == []  # the watchdog killed the model's workers
    assert any((warehouse / "staging").iterdir())  # the dead run's staged Data Docs

    # The next run, with another writer creating a table of its own while it runs.
    store = Warehouse(warehouse)
    written = threading.Event()

    def other_writer():
        while not any(p.name != "docs" for p in (warehouse / "staging").glob("*") if p.is_dir()) \
                or not store.lake.exists():
            time.sleep(0.05)
        for attempt in range(20):  # the analyst's write, too, may meet the run's commit
            try:
                with store.connect(read_only=False) as con:
                    con.execute("CREATE TABLE analyst_notes AS SELECT 'keep me' AS note")
                written.set()
                return
            except duckdb.TransactionException:
                time.sleep(0.2)

    writer = threading.Thread(target=other_writer, daemon=True)
    writer.start()
    again = newsflow("run", str(inputs), "--warehouse", str(warehouse))
    assert again.exit_code == 0, again.output
    writer.join(HANG_GUARD)
    assert written.is_set()
    assert not (warehouse / "staging").exists()
    with store.connect() as con:
        assert con.execute("SELECT note FROM analyst_notes").fetchall() == [("keep me",)]
        (articles, distinct) = con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone()
    assert articles == distinct == 172  # the seed and 171 Wikinews articles


def test_sigterm_stops_a_run_at_once_saying_nothing_was_loaded(prefect_server, inputs, tmp_path):
    warehouse = tmp_path / "warehouse"
    run = Run(inputs, warehouse)
    children = _parsing(run)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 128 + signal.SIGTERM
    assert "interrupted (SIGTERM); nothing was loaded; the warehouse was left as it was" in run.output
    # Killed by the run itself before it exits; a SIGKILLed worker may take a moment to be gone
    # on a loaded machine (one was still listed as running right after the run exited, once in a
    # full fresh-clone suite), so wait a little, far less than a worker would live on its own.
    deadline = time.monotonic() + 10
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(children) == []
    assert not (warehouse / "staging").exists()
    # the run stopped before its commit: no lake was made, nothing but the run lock's files is left
    assert {p.name for p in warehouse.iterdir()} <= {".lock", ".lock.json"}
