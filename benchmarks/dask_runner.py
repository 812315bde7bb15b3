"""Benchmark: corpus throughput of `newsflow run` on a Dask cluster of 1 and of 2 single-threaded
worker processes, with the default (local) runner's figure beside them.

    .venv/bin/python benchmarks/dask_runner.py [--fraction 0.2] [--dask-chunk-size 100] [--chunk-size N] [--repeat 1]

Input: the first --fraction of each file of ../shared/data/corpus/ (2,520 distinct articles in all;
1.0 = the whole corpus). On Dask each chunk of --dask-chunk-size records is one task
(NEWSFLOW_DASK_CHUNK_SIZE; 100 makes the default fraction's 504 articles 6 chunks, 3 per worker of
2); the default runner keeps its own chunk size unless --chunk-size is given (NEWSFLOW_CHUNK_SIZE).

Each timing is one whole `newsflow run` command (process start to exit) into a fresh warehouse, as
a user runs it:
- dask, 1 worker: `newsflow run INPUT --task-runner dask --dask-address ADDR` on a `dask scheduler`
  started here and one `dask worker ADDR --nthreads 1` process;
- dask, 2 workers: the same after a second `dask worker ADDR --nthreads 1` process joins;
- default: `newsflow run INPUT` (the local runner: spaCy in the run's process, 2 spaCy processes
  for 200 texts or more).
Before each cluster timing, an untimed small run (the first WARM_ARTICLES articles, chunks of
WARM_CHUNK records) warms the cluster until every worker has run a task: the workers hold the model, as a
long-running cluster's do. All runs report to one Prefect server started here first
(PREFECT_API_URL), so no run pays for a temporary one. Each command runs --repeat times; the best
time counts. Prints articles/s per runner and the ratios; goal: 2 workers / 1 worker >= 1.8x.
Tests never assert on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.corpus import CORPUS, first_of_corpus  # noqa: E402
BIN = Path(sys.executable).parent
WARM_ARTICLES, WARM_CHUNK = 30, 10
GOAL = 1.8


def _run(inputs: Path, env: dict, *runner: str) -> tuple[float, int]:
    """Seconds of one whole `newsflow run` command into a fresh warehouse, and the records it read."""
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "newsflow"), "run", str(inputs), "--warehouse", f"{tmp}/warehouse", *runner],
                              env=env, cwd=tmp, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"newsflow run {' '.join(runner)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    read = next(int(line.split()[-1]) for line in done.stdout.splitlines() if line.strip().startswith("records read"))
    return seconds, read


def _tasks_per_worker(client, stream: list[dict]) -> dict[str, int]:
    names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
    counts = dict.fromkeys(sorted(names.values()), 0)
    for task in stream:
        name = names.get(task["worker"], task["worker"])
        counts[name] = counts.get(name, 0) + 1
    return counts


def _warmed(cluster, client, warm: Path, env: dict) -> None:
    """Run the small input on the cluster until every worker has run a task (so holds the model)."""
    import distributed

    ran: dict[str, int] = {}
    for _ in range(3):
        with distributed.get_task_stream(client) as stream:
            _run(warm, {**env, "NEWSFLOW_DASK_CHUNK_SIZE": str(WARM_CHUNK)}, "--task-runner", "dask",
                 "--dask-address", cluster.address)
        for name, count in _tasks_per_worker(client, stream.data).items():
            ran[name] = ran.get(name, 0) + count
        if all(ran.values()):
            return
    raise SystemExit(f"warm-up runs left a worker without a task: {ran}")


def _best(repeat: int, inputs: Path, env: dict, *runner: str, client=None) -> dict:
    import distributed

    best: dict = {}
    for _ in range(repeat):
        if client is not None:
            with distributed.get_task_stream(client) as stream:
                seconds, read = _run(inputs, env, *runner)
            tasks = _tasks_per_worker(client, stream.data)
        else:
            (seconds, read), tasks = _run(inputs, env, *runner), {}
        if not best or seconds < best["seconds"]:
            best = {"seconds": round(seconds, 1), "articles": read, "articles_per_s": round(read / seconds, 2),
                    "tasks_per_worker": tasks}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.2, help="first fraction of each corpus file (default 0.2)")
    parser.add_argument("--dask-chunk-size", type=int, default=100, help="records per chunk on Dask (default 100)")
    parser.add_argument("--chunk-size", type=int, help="records per chunk on the default runner (default: its setting)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per runner; the best counts (default 1)")
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    import distributed
    from prefect.server.api.server import SubprocessASGIServer

    from tests.servers import dask_cluster

    with tempfile.TemporaryDirectory(prefix="bench-dask-runner-") as tmp:
        inputs, warm = Path(tmp) / "corpus", Path(tmp) / "warm"
        articles = first_of_corpus(inputs, args.fraction)
        first_of_corpus(warm, 1.0, limit=WARM_ARTICLES)
        server = SubprocessASGIServer()
        server.start(timeout=120)
        # the code beside this script, in the runs and on the workers (not another install's)
        machine = {"PYTHONPATH": str(ROOT)}
        env = {**os.environ, **machine, "PREFECT_API_URL": server.api_url,
               "NEWSFLOW_DASK_CHUNK_SIZE": str(args.dask_chunk_size)}
        if args.chunk_size:
            env["NEWSFLOW_CHUNK_SIZE"] = str(args.chunk_size)
        print(f"input: {articles} of the corpus's 2,520 articles (first {args.fraction:g} of each file of {CORPUS}); "
              f"chunks of {args.dask_chunk_size} on Dask, of {args.chunk_size or 'the default size'} on the default "
              f"runner; best of {args.repeat}; {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
        results = {}
        try:
            with dask_cluster(Path(tmp) / "dask", workers=1, env=machine) as cluster, \
                    distributed.Client(cluster.address, set_as_default=False) as client:
                on_cluster = ("--task-runner", "dask", "--dask-address", cluster.address)
                for workers in (1, 2):
                    if workers == 2:
                        cluster.add_worker()
                    _warmed(cluster, client, warm, env)
                    label = f"dask, {workers} worker{'s' if workers > 1 else ''}"
                    results[label] = _best(args.repeat, inputs, env, *on_cluster, client=client)
                    print(f"{label:<18}{json.dumps(results[label])}", flush=True)
            results["default"] = _best(args.repeat, inputs, env)
            print(f"{'default':<18}{json.dumps(results['default'])}", flush=True)
        finally:
            server.stop()
    one, two, local = (results[k]["articles_per_s"] for k in ("dask, 1 worker", "dask, 2 workers", "default"))
    print(f"\n{'runner':<18}{'seconds':>9}{'articles/s':>12}{'vs 1 worker':>13}")
    for label, result in results.items():
        print(f"{label:<18}{result['seconds']:>9.1f}{result['articles_per_s']:>12.2f}"
              f"{result['articles_per_s'] / one:>12.2f}x")
    print(f"throughput, 2 workers / 1 worker: {two / one:.2f}x (goal >= {GOAL}); default runner / 1 worker: "
          f"{local / one:.2f}x; 2 workers / default runner: {two / local:.2f}x; load average {os.getloadavg()[0]:.1f} "
          f"at the end")


if __name__ == "__main__":
    main()
