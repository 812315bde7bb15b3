"""Benchmark: does a run's fixed cost stay flat as the warehouse grows?

    .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000] [--template-articles 200]

1. A template: one real `newsflow run` over the first --template-articles Wikinews articles of
   ../shared/data/corpus/wikinews_2019.csv (CC BY 2.5) into a fresh lake.
2. For each size N, a lake of N articles made from the template's real rows: every article,
   its entity and event mentions, entities and events copied with new keys (and new text hashes
   and SimHashes, so no copy is a duplicate of another), written through DuckLake.
3. Into each lake, the cost a one-article run pays for the warehouse: the whole `newsflow run`
   command on one new article, from process start to exit (what a user waits for; it includes
   the temporary Prefect server, the model load and the run itself), and, in-process, the
   warehouse's own part: change and duplicate lookup (`known_articles`), the commit (`publish`)
   and maintenance (`maintain`). Best of --repeat.
Prints seconds per size and the ratio largest / smallest (goal: <= 1.5).

    .venv/bin/python benchmarks/scale.py --memory [--fraction 0.1] [--chunk-size N]

Peak memory of a whole `newsflow run` command over the corpus of ../shared/data/corpus/ (2,520
distinct articles), and over the first --fraction of each of its files (252), each into a fresh
lake, both with the same chunk size: by default the command's own (config.settings, 1,000 records;
the small input is then one chunk, the full one three), or --chunk-size records. Prints the ratio
full / small (goal: <= 1.3). Distinct articles, not copies: copies would be flagged as duplicates
and never reach the language model.

What is measured: every 0.2 s, the resident memory (RSS) of the command's process and all its
descendants (spaCy's worker processes, the watchdog), summed; the peak of that sum is the figure.
Workers forked from the run share its pages, and RSS counts a shared page in every process that
maps it, so the sum counts the run's memory once per worker as well; the proportional set size
(PSS: a shared page divided among its sharers, the sum is what the tree really holds) is printed
beside it. The local Prefect server is not the command's: it is started before the two runs (if
none is running) and outlives them, as every run but the first one on a machine finds it; its RSS
before and at the end of each run is printed, not counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.corpus import first_of_corpus  # noqa: E402
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "wikinews_2019.csv"
NEWSFLOW = str(Path(sys.executable).parent / "newsflow")
# Columns that identify a row, rewritten with the copy number so every copy is a new row.
KEYS = {
    "articles": ["article_id", "duplicate_of", "url"],
    "entity_mentions": ["mention_id", "article_id", "entity_id"],
    "entities": ["entity_id"],
    "event_mentions": ["mention_id", "event_id", "article_id"],
    "events": ["event_id", "actor1_entity_id", "actor2_entity_id"],
}


def _template(folder: Path, articles: int) -> Path:
    csv.field_size_limit(1 << 30)
    with CORPUS.open(newline="", encoding="utf-8") as src:
        rows = list(csv.DictReader(src))[:articles]
    inputs = folder / "template.csv"
    with inputs.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    warehouse = folder / "template"
    done = subprocess.run([NEWSFLOW, "run", str(inputs), "--warehouse", str(warehouse)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return warehouse


def _grow(template: Path, target: Path, size: int) -> dict[str, int]:
    """A lake of `size` articles: the template's rows copied with new keys, one snapshot."""
    from warehouse.store import PUBLISHED, Warehouse, _create_or_migrate, _views_sql

    shutil.rmtree(target, ignore_errors=True)
    source = Warehouse(template)
    with source.connect() as con:
        frames = {name: con.execute(f"SELECT * FROM {name}").to_arrow_table() for name in KEYS}
        per_copy = frames["articles"].num_rows
    copies = -(-size // per_copy)
    store = Warehouse(target)
    counts = {}
    with store.connect(read_only=False) as con:
        con.execute("BEGIN TRANSACTION")
        for table in PUBLISHED.values():
            _create_or_migrate(con, table)
        con.execute(f"CREATE TEMP TABLE copies AS SELECT range AS copy FROM range({copies})")
        for name, keys in KEYS.items():
            con.register(f"t_{name}", frames[name])
            rewritten = ", ".join(f"CASE WHEN {k} IS NULL THEN NULL ELSE {k} || '~' || copy END AS {k}" for k in keys)
            extra = ""
            if name == "articles":
                extra = (", md5(text_hash || copy) AS text_hash, md5(content_hash || copy) AS content_hash, "
                         "hash(article_id || copy)::UBIGINT AS simhash")
                limit = f"LIMIT {size}"
            else:
                limit = ""
            replaced = rewritten + extra
            if name == "articles":
                con.execute(f"INSERT INTO {name} BY NAME SELECT t.* REPLACE ({replaced}) FROM t_{name} AS t, copies "
                            f"ORDER BY copy {limit}")
            else:
                con.execute(f"INSERT INTO {name} BY NAME SELECT t.* REPLACE ({replaced}) FROM t_{name} AS t, copies "
                            f"WHERE (article_id || '~' || copy) IN (SELECT article_id FROM articles)"
                            if "article_id" in frames[name].column_names else
                            f"INSERT INTO {name} BY NAME SELECT t.* REPLACE ({replaced}) FROM t_{name} AS t, copies")
            counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        con.execute(_views_sql())
        con.execute("CALL newsflow.set_commit_message('newsflow', 'synthetic')")
        con.execute("COMMIT")
    store.maintain(30)
    return counts


def _one_article(folder: Path, n: int) -> Path:
    path = folder / f"one-{n}.txt"
    path.write_text(f"Qatar expels Hamas leaders, report {n}\nQatar ordered the leaders of Hamas to leave Doha on "
                    f"Tuesday, officials said in report number {n}. Egypt offered to mediate between the two sides.\n")
    return path


def _whole_command(warehouse: Path, article: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([NEWSFLOW, "run", str(article), "--warehouse", str(warehouse)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return elapsed


def _warehouse_part(warehouse: Path, template: Path, n: int) -> dict[str, float]:
    """What a one-article run asks of the warehouse, timed in this process: the run's rows are
    one template article's, with fresh keys."""
    import polars as pl

    from schemas import TABLES
    from warehouse.store import RunTables, Warehouse

    source = Warehouse(template)
    with source.connect() as con:
        (article_id,) = con.execute("SELECT article_id FROM articles ORDER BY article_id LIMIT 1").fetchone()
        frames = {}
        for name, keys in KEYS.items():
            where = "article_id = ?" if name != "entities" and name != "events" else (
                "entity_id IN (SELECT entity_id FROM entity_mentions WHERE article_id = ?)" if name == "entities"
                else "event_id IN (SELECT event_id FROM event_mentions WHERE article_id = ?)")
            frame = con.execute(f"SELECT * FROM {name} WHERE {where}", [article_id]).pl()
            frames[name] = frame.with_columns(
                [pl.when(pl.col(k).is_null()).then(None).otherwise(pl.col(k) + f"~run{n}").alias(k) for k in keys])
    now = datetime.now(timezone.utc)
    frames["articles"] = frames["articles"].with_columns(
        text_hash=pl.col("text_hash") + f"~run{n}", content_hash=pl.col("content_hash") + f"~run{n}",
        ingested_at=pl.lit(now).cast(pl.Datetime("us", "UTC")))
    empty = {name: pl.DataFrame(schema=TABLES[name].schema) for name in ("quarantine", "validation_results",
                                                                        "fetch_state")}
    run_id = f"bench-{n}-{time.time_ns()}"
    runs = pl.DataFrame([{"run_id": run_id, "started_at": now, "status": "completed", "inputs": ["bench"]}],
                        schema_overrides={"started_at": pl.Datetime("us", "UTC")})
    tables = RunTables(runs=runs.select([pl.col(c) if c in runs.columns else pl.lit(None).alias(c)
                                         for c in TABLES["runs"].columns]), **frames, **empty)
    store = Warehouse(warehouse)
    timings = {}
    started = time.perf_counter()
    store.known_articles(frames["articles"])
    timings["lookup"] = time.perf_counter() - started
    started = time.perf_counter()
    store.publish(run_id, tables)
    timings["commit"] = time.perf_counter() - started
    started = time.perf_counter()
    store.maintain(30)
    timings["maintain"] = time.perf_counter() - started
    timings["warehouse_total"] = sum(timings.values())
    return timings


def _peak_rss(command: list[str], env: dict | None = None) -> dict:
    """Seconds, peak RSS and PSS (MiB, the process tree summed), the output of a command, and the
    RSS of each kind of process in the tree at the RSS peak (the run itself, its forked spaCy
    workers, other)."""
    import threading

    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    root = psutil.Process(process.pid)
    root_line = root.cmdline()
    peak = peak_pss = 0
    at_peak: dict[str, float] = {}
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        sizes = []
        for each in tree:
            try:
                info = each.memory_full_info()  # rss, and pss from /proc/<pid>/smaps_rollup
                kind = ("the run" if each.pid == root.pid
                        else "forked workers" if each.cmdline() == root_line else "other")
                sizes.append((kind, info.rss, info.pss))
            except psutil.Error:
                continue
        total = sum(rss for _, rss, _ in sizes)
        peak_pss = max(peak_pss, sum(pss for _, _, pss in sizes))
        if total > peak:
            peak = total
            at_peak = {}
            for kind, rss, _ in sizes:
                at_peak[kind] = at_peak.get(kind, 0) + rss / 2**20
        time.sleep(0.2)
    reader.join()
    if process.returncode != 0:
        raise SystemExit("".join(output[-40:]))
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": peak / 2**20, "peak_pss_mib": peak_pss / 2**20,
            "output": "".join(output), "rss_at_peak_mib": at_peak}


def _prefect_server_rss() -> float | None:
    """RSS (MiB) of the local Prefect server the runs use, None when there is none."""
    import psutil

    from flows import prefect_server

    server = prefect_server.running(prefect_server.prefect_home())
    if server is None:
        return None
    try:
        return sum(p.memory_info().rss for p in [psutil.Process(server.pid), *psutil.Process(server.pid).children(
            recursive=True)]) / 2**20
    except psutil.Error:
        return None


def memory(fraction: float, chunk_size: int | None) -> None:
    import os

    from config.settings import Settings

    env = {**os.environ}
    env.pop("NEWSFLOW_CHUNK_SIZE", None)
    if chunk_size is not None:
        env["NEWSFLOW_CHUNK_SIZE"] = str(chunk_size)
    size = chunk_size if chunk_size is not None else Settings().chunk_size
    if "PREFECT_API_URL" not in os.environ:  # the local server: running before the first run, as in the second
        subprocess.run([NEWSFLOW, "prefect", "start"], env=env, capture_output=True, text=True, check=True)
    corpus = CORPUS.parent
    with tempfile.TemporaryDirectory(prefix="newsflow-memory-") as tmp:
        small = Path(tmp) / "small"
        first_of_corpus(small, fraction)
        results = {}
        for label, inputs in (("small", small), ("full", corpus)):
            server_before = _prefect_server_rss()
            done = _peak_rss([NEWSFLOW, "run", str(inputs), "--warehouse", str(Path(tmp) / label)], env)
            server_after = _prefect_server_rss()
            read = next((line.split()[-1] for line in done["output"].splitlines() if "records read" in line), "?")
            results[label] = {"records": read, "chunk_size": size, "seconds": round(done["seconds"], 1),
                              "peak_rss_mib": round(done["peak_rss_mib"]), "peak_pss_mib": round(done["peak_pss_mib"]),
                              "rss_at_peak_mib": {k: round(v) for k, v in done["rss_at_peak_mib"].items()},
                              "prefect_server_rss_mib": [server_before and round(server_before),
                                                         server_after and round(server_after)]}
            print(f"{label}: {read} records in chunks of {size}, {done['seconds']:.0f} s, peak RSS {done['peak_rss_mib']:.0f} "
                  f"MiB (at the peak: {', '.join(f'{k} {v:.0f}' for k, v in done['rss_at_peak_mib'].items())}), "
                  f"peak PSS {done['peak_pss_mib']:.0f} MiB; Prefect server (not counted) {server_before and round(server_before)}"
                  f" -> {server_after and round(server_after)} MiB", flush=True)
        print(json.dumps(results))
        ratio = results["full"]["peak_rss_mib"] / results["small"]["peak_rss_mib"]
        print(f"peak RSS of the whole command (process tree summed), full / small corpus, chunks of {size}: "
              f"{ratio:.2f}x (goal <= 1.3); peak PSS: "
              f"{results['full']['peak_pss_mib'] / results['small']['peak_pss_mib']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", action="store_true", help="measure peak memory against input size instead")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="records per chunk for both runs (default: the command's own, config.settings)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--template-articles", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the lakes here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    if args.memory:
        memory(args.fraction, args.chunk_size)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="newsflow-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"template: a real run over {args.template_articles} Wikinews articles ...", flush=True)
        template = _template(folder, args.template_articles)
        results = {}
        for size in sizes:
            started = time.perf_counter()
            counts = _grow(template, folder / f"lake-{size}", size)
            print(f"lake of {size:,} articles built in {time.perf_counter() - started:.0f} s: "
                  + ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
            best: dict[str, float] = {}
            for attempt in range(args.repeat):
                part = _warehouse_part(folder / f"lake-{size}", template, attempt)
                whole = _whole_command(folder / f"lake-{size}", _one_article(folder, size * 10 + attempt))
                for name, value in {**part, "whole_command": whole}.items():
                    best[name] = min(best.get(name, float("inf")), value)
            results[size] = best
            print(f"  {size:>9,} articles: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()), flush=True)
        smallest, largest = min(sizes), max(sizes)
        ratios = {k: results[largest][k] / results[smallest][k] for k in results[largest]}
        print(json.dumps({"seconds": {str(k): {n: round(v, 3) for n, v in r.items()} for k, r in results.items()},
                          f"ratio_{largest}_vs_{smallest}": {k: round(v, 2) for k, v in ratios.items()}}, indent=1))
        print(f"fixed cost, largest / smallest warehouse: whole command {ratios['whole_command']:.2f}x, "
              f"warehouse part {ratios['warehouse_total']:.2f}x (goal <= 1.5)")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
