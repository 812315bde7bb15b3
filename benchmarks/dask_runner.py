"""Benchmark: `newsflow run` on the default runner vs the Dask runner, same inputs, same run.

    .venv/bin/python benchmarks/dask_runner.py [FEED_DIR]
        (default: the ~100-article TIME world feed of ../shared/data/feeds, copied to a temp folder)

Each timing is one `newsflow run` command, a fresh process, into a fresh warehouse, as a user runs it:
- default: `newsflow run INPUT` (spaCy in the run's process; 2 spaCy processes from 200 texts);
- dask, temporary cluster: `newsflow run INPUT --task-runner dask` (a LocalCluster of 2 one-thread
  worker processes started and stopped by the run: process start, imports, model load included);
- dask, existing cluster: `newsflow run INPUT --task-runner dask --dask-address ADDR`, on a scheduler
  and 2 workers started as the README says (`dask scheduler`, `dask worker ADDR --nworkers 2
  --nthreads 1`) and warmed by one untimed run, so the workers already hold the model (a
  long-running cluster).
All runs report to one Prefect server started here first (PREFECT_API_URL), so no run pays for a
temporary one. Each command runs REPEAT times; the best time counts. Prints seconds and the
ratio to the default runner measured in the same run; tests never assert on time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FEEDS = ROOT.parent / "shared" / "data" / "feeds" / "fastfeedparser_benchmark"
DEFAULT_FEED = "time-com-world-feed__9f9555d69283aeda.rss.xml"  # 100 full articles
REPEAT = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed_run(inputs: Path, env: dict, *runner: str) -> float:
    """Seconds of one `newsflow run` command into a fresh warehouse."""
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "newsflow"), "run", str(inputs), "--warehouse", f"{tmp}/warehouse", *runner],
                              env=env, cwd=tmp, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"newsflow run {' '.join(runner)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return seconds


def _cluster(env: dict) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and two one-thread workers, started with the README's commands."""
    from flows.scaleout import TaskRunnerUnusable, checked_task_runner
    from config.settings import Settings

    address = f"tcp://127.0.0.1:{_free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    processes = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                   address.rsplit(":", 1)[1], "--dashboard-address", ":0"], **quiet)]
    processes.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--host", "127.0.0.1", "--dashboard-address", ":0"], **quiet))
    for _ in range(60):
        try:
            checked_task_runner(Settings(task_runner="dask", dask_address=address), timeout=2)
            return address, processes
        except TaskRunnerUnusable:
            time.sleep(1)
    raise SystemExit(f"the Dask cluster at {address} did not start")


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.server.api.server import SubprocessASGIServer

    with tempfile.TemporaryDirectory(prefix="bench-dask-feeds-") as feeds:
        if len(sys.argv) > 1:
            feed_dir = Path(sys.argv[1]).resolve()
        else:
            feed_dir = Path(feeds)
            shutil.copy(FEEDS / DEFAULT_FEED, feed_dir / DEFAULT_FEED)
        server = SubprocessASGIServer()
        server.start(timeout=120)
        env = {**os.environ, "PREFECT_API_URL": server.api_url}
        address, processes = _cluster(env)
        try:
            _timed_run(ROOT / "seeds", env, "--task-runner", "dask", "--dask-address", address)  # warm the workers
            variants = {
                "default": (),
                "dask, temporary cluster": ("--task-runner", "dask"),
                "dask, existing cluster": ("--task-runner", "dask", "--dask-address", address),
            }
            print(f"inputs: seeds/ (1 article) and {feed_dir}; best of {REPEAT} runs; "
                  f"{os.cpu_count()} cores; cluster {address}")
            print(f"{'input':<8}{'runner':<26}{'seconds':>9}{'vs default':>12}")
            for label, inputs in [("seeds", ROOT / "seeds"), ("feeds", feed_dir)]:
                baseline = None
                for variant, runner in variants.items():
                    seconds = min(_timed_run(inputs, env, *runner) for _ in range(REPEAT))
                    baseline = baseline or seconds
                    print(f"{label:<8}{variant:<26}{seconds:>9.1f}{seconds / baseline:>11.2f}x", flush=True)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    main()
