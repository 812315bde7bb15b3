"""Benchmark: the whole newsflow pipeline against bare spaCy on the same articles, same run.

    .venv/bin/python benchmarks/pipeline.py [CORPUS_DIR]     (default ../shared/data/corpus)

Each side runs in its own process (clean timings and peak memory):
- baseline: `spacy.load(model)` with all its default components, one process, then
  `list(nlp.pipe(texts))` over every article's title and text: what a user would write;
- newsflow: the real Prefect flow into a fresh warehouse (extract, normalize, NER, validation,
  DuckDB/Parquet load), after a warm-up run on seeds/ that pays for the temporary Prefect server,
  the model load and the Great Expectations import; then a second, incremental run.
Also times the whole `newsflow run` command (process start to exit) on the corpus and again
unchanged, against the whole bare-spaCy command (goal: >= 1.3x its speed). Prints articles/second
for both, their ratios and peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "corpus"


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def _articles(corpus: Path):
    from readers.sources import extracted_records
    from transforms.normalize import articles_from_records

    records = extracted_records([corpus]).records_frame()
    return articles_from_records(records.lazy(), datetime.now(timezone.utc)).collect()


def bare_spacy(corpus: Path) -> dict:
    """The yardstick: default spaCy pipeline, one process, over the same article texts."""
    import spacy

    from config.settings import Settings

    articles = _articles(corpus)
    texts = [t for pair in zip(articles["title"], articles["text"]) for t in pair if t]
    started = time.perf_counter()
    nlp = spacy.load(Settings().model)
    loaded = time.perf_counter()
    docs = list(nlp.pipe(texts))
    done = time.perf_counter()
    return {"articles": articles.height, "texts": len(texts), "entities": sum(len(d.ents) for d in docs),
            "load_s": round(loaded - started, 2), "seconds": round(done - loaded, 2),
            "peak_rss_mib": _peak_rss_mib()}


def newsflow(corpus: Path) -> dict:
    """The real flow: warm-up on seeds/, then the corpus into a fresh warehouse, then again."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.pipeline import newsflow_run
    from config.settings import resolve_settings

    with tempfile.TemporaryDirectory() as scratch, temporary_settings(
        updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    ):
        started = time.perf_counter()
        newsflow_run(resolve_settings(inputs=[ROOT / "seeds"], warehouse=Path(scratch) / "warm"))
        warm = time.perf_counter()
        settings = resolve_settings(inputs=[corpus], warehouse=Path(scratch) / "warehouse")
        summary = newsflow_run(settings)
        first = time.perf_counter()
        again = newsflow_run(settings)
        second = time.perf_counter()
    return {"articles": summary.articles_new, "entity_mentions": summary.entity_mentions,
            "duplicates": summary.duplicates,
            "quarantined": summary.quarantined, "warm_up_s": round(warm - started, 2),
            "seconds": round(first - warm, 2), "incremental_s": round(second - first, 2),
            "incremental_unchanged": again.articles_unchanged, "peak_rss_mib": _peak_rss_mib()}


def _measure(part: str, corpus: Path) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--part", part, str(corpus)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "command_s": round(time.perf_counter() - started, 2)}


def _whole_run(corpus: Path) -> dict:
    """`newsflow run CORPUS` into a fresh warehouse, timed from process start to exit, then again
    unchanged: what a user waits for."""
    newsflow_cli = Path(sys.executable).parent / "newsflow"
    with tempfile.TemporaryDirectory() as scratch:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            subprocess.run([str(newsflow_cli), "run", str(corpus), "--warehouse", str(Path(scratch) / "w")],
                           check=True, capture_output=True, text=True, cwd=ROOT)
            times.append(round(time.perf_counter() - started, 2))
    return {"first_s": times[0], "again_s": times[1]}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--part"]:
        part, corpus = argv[1], Path(argv[2])
        print(json.dumps(bare_spacy(corpus) if part == "bare" else newsflow(corpus)))
        return
    corpus = Path(argv[0]) if argv else DEFAULT_CORPUS
    print(f"corpus: {corpus}")
    bare = _measure("bare", corpus)
    whole = _whole_run(corpus)
    ours = _measure("newsflow", corpus)
    bare_rate = bare["articles"] / bare["seconds"]
    our_rate = ours["articles"] / ours["seconds"]
    print(f"bare spaCy (all components, 1 process): {bare['articles']} articles in {bare['seconds']} s "
          f"= {bare_rate:.1f} articles/s (model load {bare['load_s']} s), peak RSS {bare['peak_rss_mib']} MiB")
    print(f"newsflow flow run:                      {ours['articles']} articles in {ours['seconds']} s "
          f"= {our_rate:.1f} articles/s (warm-up {ours['warm_up_s']} s), peak RSS {ours['peak_rss_mib']} MiB")
    print(f"duplicates flagged (loaded, not sent to spaCy): {ours['duplicates']}")
    print(f"incremental second run:                 {ours['incremental_s']} s "
          f"({ours['incremental_unchanged']} articles unchanged) = "
          f"{ours['incremental_s'] / ours['seconds']:.3f} of the first run")
    print(f"whole commands, process start to exit: bare spaCy script {bare['command_s']} s, "
          f"`newsflow run` {whole['first_s']} s; ratio (bare / newsflow) {bare['command_s'] / whole['first_s']:.2f}"
          f"  (goal >= 1.3)")
    print(f"whole command, unchanged re-run: {whole['again_s']} s = {whole['again_s'] / whole['first_s']:.3f} "
          f"of the first")
    print(f"in-process after warm-up, ratio newsflow / bare spaCy (articles/s): {our_rate / bare_rate:.2f}")
    print(f"ratio peak RSS newsflow / bare spaCy:     {ours['peak_rss_mib'] / bare['peak_rss_mib']:.2f}")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps({"bare_spacy": bare, "newsflow": ours, "whole": whole}, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
