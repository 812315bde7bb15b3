"""Shared fixtures: paths, a Prefect test server for the session, a seeded warehouse built once per
test run, the lake servers (Postgres catalog, S3 object storage) started once per test process, and
how `make test` spreads the tests over two xdist workers."""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"
SEED_FILE = SEEDS / "000_d58da43ec795b1fe.txt"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Session fixtures that start servers: the tests that use one run in one xdist worker, so that it is
# started once per test run (tests/test_lake_servers.py and tests/test_cluster.py share the lake's).
ONE_WORKER_FIXTURES = ("lake_servers",)


@pytest.hookimpl(tryfirst=True)  # before xdist's, which turns the xdist_group marks into scopes
def pytest_collection_modifyitems(config, items):
    """Tests that share a fixture built once per module (a warehouse from real runs, a model, servers)
    get one xdist_group (honoured by `--dist loadgroup`, which pytest-xdist 3.8 cannot do under
    pytest 9.2: it renames item._nodeid, no longer read; `make test` uses `--dist loadfile`, one
    worker per module, meanwhile); the modules holding `slow` tests come
    first, so that the long ones start at once on both workers and the quick ones fill in the end.
    Without xdist only the order changes (whole modules move, each in its own order)."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        group = next((name for name in ONE_WORKER_FIXTURES if name in item.fixturenames), None)
        if group is None and _uses_a_fixture_of_its_module(item):
            group = item.nodeid.split("::", 1)[0]
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    slow_modules = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow_modules)  # stable


def _uses_a_fixture_of_its_module(item) -> bool:
    """Whether the test uses a module- or session-scoped fixture defined in its own module."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    module = item.nodeid.split("::", 1)[0]
    return any(definitions[-1].scope in ("module", "session") and definitions[-1].baseid == module
               for definitions in info.name2fixturedefs.values() if definitions)


@pytest.fixture(scope="session")
def prefect_server():
    """A throw-away Prefect API for real flow runs (started once per test process, ~12 s)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when the folder is not beside the project."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def newsflow(*args: str):
    """The `newsflow` CLI run in-process with the given arguments (wide terminal for messages)."""
    from typer.testing import CliRunner

    from cli.app import app

    return CliRunner(env={"COLUMNS": "400"}).invoke(app, list(args))


@contextmanager
def _run_wide_lock(tmp_path_factory, name: str):
    """An exclusive lock and a folder shared by every process of this test run: the run's
    temporary root (with xdist, the parent of each worker's own), so the first to take the lock
    builds what the folder should hold and the others find it built."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / name
    folder.mkdir(exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def seeded(prefect_server, tmp_path_factory):
    """A warehouse after one real run on seeds/, and the run's printed summary. The run is made once
    per test run; each test process (xdist worker) gets its own copy of the warehouse it made, as
    tests write beside what they read (a search index, a page's cache)."""
    with _run_wide_lock(tmp_path_factory, "seeded") as shared:
        built, summary = shared / "warehouse", shared / "summary.txt"
        if not summary.exists():
            shutil.rmtree(built, ignore_errors=True)
            first = newsflow("run", str(SEEDS), "--warehouse", str(built))
            assert first.exit_code == 0, first.output
            summary.write_text(first.stdout)
        warehouse = tmp_path_factory.mktemp("seeded") / "warehouse"
        shutil.copytree(built, warehouse)
        return warehouse, summary.read_text()


@pytest.fixture(scope="session")
def lake_servers(tmp_path_factory):
    """PostgreSQL (pgserver) and SeaweedFS's S3 on 127.0.0.1, started once per test process: the
    server's libpq connection string and the S3 endpoint. Each test makes its own database
    (tests.servers.new_database) and S3 prefix, so a test still starts from an empty lake."""
    from tests.servers import postgres, seaweedfs

    folder = tmp_path_factory.mktemp("lake-servers")
    with postgres(folder / "pg") as catalog, seaweedfs(folder / "s3") as s3:
        yield catalog, s3
