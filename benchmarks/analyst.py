"""Benchmark: what an analyst waits for, as whole commands, against loading the spaCy model.

    make bench-analyst
    .venv/bin/python benchmarks/analyst.py [--warehouse demo-warehouse] [--loads 5] [--requests 20]
                                           [--fresh-prefect-home] [--no-warm-up] [--only runs|page]

Every figure is timed from outside, on this machine, in one run of the script (run it on a quiet
machine; it prints the load average first):
- baseline: `python -c "import spacy; spacy.load(MODEL)"` in a fresh process, process start to
  exit, median of `--loads`;
- a one-article run: `newsflow run seeds/<the seed article> --warehouse <fresh temporary
  warehouse>`, process start to exit (goal <= 3x the baseline);
- the same run again, input unchanged, into that warehouse (goal <= 1.5x the baseline);
- `GET /` of `newsflow web --warehouse demo-warehouse` started once: the median of `--requests`
  requests (goal <= 0.3 s), with the server's start (process start until /healthz answers) and
  its first request reported apart.

Prefect: by default the runs see the user's own environment (PREFECT_HOME, PREFECT_API_URL, and
whatever `newsflow run` starts or reuses there), after one untimed warm-up run into another fresh
warehouse, so the timings are those of a user's later run, not their first ever (`--no-warm-up`
skips it); a local Prefect server a run starts there is left running, as after a user's run.
`--fresh-prefect-home` gives the runs a new, empty PREFECT_HOME (a PREFECT_API_URL set in the
environment still applies), stopped (`newsflow prefect stop`) and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import _whole_run  # noqa: E402 (the whole-command timing of `make bench`)
from config.settings import Settings  # noqa: E402

NEWSFLOW = Path(sys.executable).parent / "newsflow"
DEMO = ROOT / "demo-warehouse"
DEMO_LOAD = ("newsflow run samples/wikinews/wikinews_2019.csv samples/wikinews/wikinews_2020.csv "
             "--warehouse demo-warehouse")
GOALS = {"run": 3.0, "again": 1.5}  # times the baseline
PAGE_GOAL_S = 0.3


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - started


def model_load(loads: int) -> float:
    """The baseline: the median time of a fresh process that loads the spaCy model."""
    command = [sys.executable, "-c", f"import spacy; spacy.load({Settings().model!r})"]
    return statistics.median(_seconds(command) for _ in range(loads))


@contextmanager
def _prefect_home(fresh: bool):
    if not fresh:
        yield
        return
    home, before = tempfile.mkdtemp(prefix="prefect-home-"), os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = home
    try:
        yield
    finally:
        # the local Prefect server a run may have started there (flows.prefect_server) goes too
        subprocess.run([str(NEWSFLOW), "prefect", "stop"], capture_output=True, cwd=ROOT)
        if before is None:
            os.environ.pop("PREFECT_HOME")
        else:
            os.environ["PREFECT_HOME"] = before
        shutil.rmtree(home, ignore_errors=True)


def one_article_runs(seed: Path, warm_up: bool) -> dict:
    """`newsflow run SEED` into a fresh warehouse, then again unchanged (benchmarks.pipeline's
    whole-command timing), after an untimed warm-up run into another fresh warehouse."""
    if warm_up:
        with tempfile.TemporaryDirectory() as scratch:
            _seconds([str(NEWSFLOW), "run", str(seed), "--warehouse", str(Path(scratch) / "warm")])
    return _whole_run(seed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page(warehouse: Path, requests: int) -> dict:
    """`newsflow web` started once: its start until /healthz answers, then `requests` GET /."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        server = subprocess.Popen([str(NEWSFLOW), "web", "--port", str(port), "--warehouse", str(warehouse)],
                                  stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            with httpx.Client(base_url=base, timeout=120) as http:
                while True:
                    if server.poll() is not None:
                        log.seek(0)
                        raise SystemExit(f"newsflow web exited ({server.returncode}):\n{log.read()}")
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.05)
                start_s = time.perf_counter() - started
                times = []
                for _ in range(requests):
                    asked = time.perf_counter()
                    answer = http.get("/")
                    times.append(time.perf_counter() - asked)
                    if answer.status_code != 200:
                        raise SystemExit(f"GET / answered {answer.status_code}: {answer.text[:300]}")
        finally:
            server.terminate()
            server.wait(30)
    return {"start_s": start_s, "first_s": times[0], "median_s": statistics.median(times), "times_s": times}


def _row(measure: str, seconds: float, baseline: float, goal: str, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "not met")
    return f"{measure:<46} {seconds:>8.3f} {seconds / baseline:>7.2f}x  {goal:<14} {verdict}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=DEMO, help="the warehouse GET / reads (the demo's)")
    parser.add_argument("--loads", type=int, default=5, help="model loads for the baseline's median")
    parser.add_argument("--requests", type=int, default=20, help="GET / requests for the median")
    parser.add_argument("--fresh-prefect-home", action="store_true", help="runs with a new, empty PREFECT_HOME")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="no untimed run first")
    parser.add_argument("--only", choices=("runs", "page"), help="the baseline and only these measures")
    args = parser.parse_args(argv)
    if not (args.warehouse / "catalog.sqlite").exists():
        raise SystemExit(f"no warehouse at {args.warehouse}: build the demo's with `{DEMO_LOAD}` "
                         f"(or `make bench-analyst`, which does)")
    (seed,) = sorted((ROOT / "seeds").glob("*.txt"))
    load1, load5, load15 = os.getloadavg()
    print(f"load average before: {load1:.2f} {load5:.2f} {load15:.2f} (2 cores: quiet is below ~0.3)")
    home = "a fresh, empty one" if args.fresh_prefect_home else "the environment's"
    print(f"PREFECT_HOME: {home}; warm-up run: {'yes' if args.warm_up else 'no'}")
    baseline = model_load(args.loads)
    runs, served = None, None
    if args.only in (None, "runs"):
        with _prefect_home(args.fresh_prefect_home):
            runs = one_article_runs(seed, args.warm_up)
    if args.only in (None, "page"):
        served = page(args.warehouse, args.requests)
    print()
    print(f"{'measure':<46} {'seconds':>8} {'ratio':>8}  {'goal':<14} met")
    print(_row(f"baseline: spaCy model load (median of {args.loads})", baseline, baseline, "", None))
    if runs:
        print(_row("one-article run, fresh warehouse", runs["first_s"], baseline, "<= 3x",
                   runs["first_s"] <= GOALS["run"] * baseline))
        print(_row("the same run again, unchanged", runs["again_s"], baseline, "<= 1.5x",
                   runs["again_s"] <= GOALS["again"] * baseline))
    if served:
        print(_row("newsflow web start (until /healthz)", served["start_s"], baseline, "", None))
        print(_row("GET / first request", served["first_s"], baseline, "", None))
        print(_row(f"GET / median of {args.requests}", served["median_s"], baseline, f"<= {PAGE_GOAL_S} s",
                   served["median_s"] <= PAGE_GOAL_S))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "analyst.json").write_text(json.dumps({
        "baseline_s": baseline, "runs": runs, "page": served, "seed": seed.name, "warehouse": str(args.warehouse),
        "fresh_prefect_home": args.fresh_prefect_home, "warm_up": args.warm_up,
        "load_average": [load1, load5, load15]}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
