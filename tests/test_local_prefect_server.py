"""The local Prefect server that `newsflow run` starts once and reuses (flows.prefect_server): real
`newsflow` processes with a temporary PREFECT_HOME and no PREFECT_API_URL, stopped with `newsflow
prefect stop` (also after a failed test: no server is left running). And what a run shows while
it parses, on a pipe and on a terminal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from flows import progress
from flows.prefect_server import STATE_FILE, answers
from tests.conftest import SEED_FILE

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

NEWSFLOW = str(Path(sys.executable).parent / "newsflow")
# A guard against a hung process, not a speed goal.
HANG_GUARD = 600


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}


def _newsflow(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSFLOW, *args], env=_env(home), capture_output=True, text=True, timeout=HANG_GUARD)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture()
def home(tmp_path):
    home = tmp_path / "prefect-home"
    yield home
    _newsflow(home, "prefect", "stop")  # whatever the test did, no server is left running


def test_runs_start_one_local_server_reuse_it_and_the_command_stops_it(home, tmp_path):
    # Two first runs at once: one starts the server, the other waits for it (the lock file) and uses it.
    runs = [subprocess.Popen([NEWSFLOW, "run", str(SEED_FILE), "--warehouse", str(tmp_path / f"wh{i}")],
                             env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=HANG_GUARD) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    started = [err for _, err in outputs if "started a local Prefect server on http://127.0.0.1:" in err]
    assert len(started) == 1, outputs
    assert "`newsflow prefect stop` stops it" in started[0]
    # not a terminal: plain progress lines, and no Prefect log line (those come with --verbose)
    assert all("parsing 1 article\n" in err and "parsed 1 of 1 articles in " in err for _, err in outputs)
    assert not any("Task run" in err or "Flow run" in err for _, err in outputs), outputs
    state = json.loads((home / STATE_FILE).read_text())
    assert _alive(state["pid"]) and answers(state["url"])
    # the server outlived the runs that started it, in a session of its own
    assert os.getsid(state["pid"]) == state["pid"]

    third = _newsflow(home, "run", str(SEED_FILE), "--warehouse", str(tmp_path / "wh2"))
    assert third.returncode == 0, third.stdout + third.stderr
    assert "started a local Prefect server" not in third.stderr
    assert json.loads((home / STATE_FILE).read_text()) == state  # the same server: same pid and URL
    # the three flow runs are recorded by that server (not by temporary ones)
    counted = httpx.post(f"{state['url']}/flow_runs/count", json={}, timeout=30)
    assert counted.status_code == 200 and counted.json() == 3
    # the same input again: nothing new, said without starting a flow run
    again = _newsflow(home, "run", str(SEED_FILE), "--warehouse", str(tmp_path / "wh2"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout == "nothing new: 1 article unchanged; the warehouse was not changed\n"
    assert httpx.post(f"{state['url']}/flow_runs/count", json={}, timeout=30).json() == 3

    status = _newsflow(home, "prefect", "status")
    assert status.returncode == 0 and f"(pid {state['pid']})" in status.stdout

    stopped = _newsflow(home, "prefect", "stop")
    assert stopped.returncode == 0
    assert stopped.stdout.startswith(f"stopped the local Prefect server on {state['url'].removesuffix('/api')}")
    assert not _alive(state["pid"]) and not answers(state["url"])
    assert not (home / STATE_FILE).exists()
    assert _newsflow(home, "prefect", "status").returncode == 1
    assert _newsflow(home, "prefect", "stop").stdout == "no local Prefect server was running\n"


def test_a_dead_server_is_started_again(home):
    first = _newsflow(home, "prefect", "start")
    assert first.returncode == 0 and "local Prefect server started on" in first.stdout
    state = json.loads((home / STATE_FILE).read_text())
    os.killpg(state["pid"], 9)
    psutil.Process(state["pid"]).wait(30) if _alive(state["pid"]) else None
    second = _newsflow(home, "prefect", "start")
    assert second.returncode == 0 and "local Prefect server started on" in second.stdout, second.stdout
    restarted = json.loads((home / STATE_FILE).read_text())
    assert restarted["pid"] != state["pid"] and answers(restarted["url"])
    assert "already running" in _newsflow(home, "prefect", "start").stdout


def test_progress_on_a_pipe_is_plain_lines_with_counts():
    out = io.StringIO()
    lines = progress.Lines(out, every=0)
    lines.start(20, 0, 2)
    for _ in range(20):
        lines.advance(1)
    lines.finish()
    shown = out.getvalue().splitlines()
    assert shown[0] == "parsing 20 articles (chunk 1 of 2)"
    assert shown[1].startswith("parsed 2 of 20 articles (") and "/s, about " in shown[1]
    assert len(shown) == 11 and shown[-1].startswith("parsed 20 of 20 articles in ")


def test_progress_on_a_terminal_is_a_bar():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    with progress.showing(out):
        assert isinstance(progress.current(), progress.Bar)
        progress.current().start(4, 0, 1)
        progress.current().advance(3)
    assert isinstance(progress.current(), progress.Progress) and not isinstance(progress.current(), progress.Bar)
    assert "3/4" in out.getvalue() and "articles" in out.getvalue()
