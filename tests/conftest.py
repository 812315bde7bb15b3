"""Shared fixtures: paths, a Prefect test server for the session, and a warm spaCy model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"
SEED_FILE = SEEDS / "000_d58da43ec795b1fe.txt"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_server():
    """A throw-away Prefect API for real flow runs (started once, ~12 s)."""
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


@pytest.fixture(scope="session")
def seeded(prefect_server, tmp_path_factory):
    """A warehouse after one real run on seeds/, and the run's printed summary."""
    warehouse = tmp_path_factory.mktemp("seeded") / "warehouse"
    first = newsflow("run", str(SEEDS), "--warehouse", str(warehouse))
    assert first.exit_code == 0, first.output
    return warehouse, first.stdout
