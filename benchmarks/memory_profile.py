"""Memory profile of a real `newsflow run`: what each suspect holds as the chunks go by.

    PYTHONPATH=. .venv/bin/python benchmarks/memory_profile.py [--fraction 0.2] [--chunk-size 100]
        [--without ge-results|docs|prefect-results ...] [--trace]

Runs the `newsflow run` command in this process (the CLI's own code: its local Prefect server,
its flow, its chunks) over the first --fraction of each file of ../shared/data/corpus/ into a
fresh lake, and after the extract and after each chunk is staged prints:

- rss: this process's resident memory (MiB) and the peak so far (sampled every 0.05 s);
- extract: the raw records (and rejects) the run holds from its input, deep size in MiB;
- ge: validation results in the Great Expectations context's store (count, MiB of their JSON),
  and the pandas frames alive (count, MiB): what GE keeps of every chunk it validated;
- prefect: entries in the flow run's result links (`FlowRunContext.run_results`) and Prefect
  State objects alive;
- with --trace, tracemalloc's live bytes by the package that allocated them (slow: every
  allocation is traced, spaCy's worker processes too).

Then the Data Docs build and the commit (RSS before each, and the peak during it). Each suspect's own
figure is its growth from chunk to chunk; --without takes one away to see what the run's peak is
without it (measuring, not fixing: `ge-results` empties the GE context's results store after
each chunk, so the final Data Docs show only the last chunk; `docs` skips the Data Docs build;
`prefect-results` empties the flow run's result links after each chunk).
"""

from __future__ import annotations

import argparse
import gc
import weakref
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))
from benchmarks.corpus import CORPUS, first_of_corpus  # noqa: E402

MIB = 2**20


class Sampler:
    """The peak RSS of this process, sampled in a thread."""

    def __init__(self, every: float = 0.05):
        import psutil

        self.process, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)

    def rss(self) -> int:
        rss = self.process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def reset_peak(self) -> None:
        self.peak = self.rss()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _deep_size(rows) -> int:
    """Bytes of a list of flat dicts (raw records, rejects): the dicts, their keys' slots and values."""
    total = sys.getsizeof(rows)
    for row in rows:
        total += sys.getsizeof(row)
        for value in row.values():
            total += sys.getsizeof(value)
            if isinstance(value, list):
                total += sum(sys.getsizeof(v) for v in value)
    return total


class Profile:
    def __init__(self, without: set[str], trace: bool):
        self.without, self.trace = without, trace
        self.sampler = Sampler()
        self.validators = weakref.WeakSet()  # the Validators alive (one per chunk at work), not kept alive here
        self.extracted: list = []  # what the extract stage returned (the run holds it)
        self.rows: list[dict] = []

    def measure(self, label: str) -> dict:
        import pandas as pd
        from prefect.client.schemas.objects import State
        from prefect.context import FlowRunContext

        gc.collect()
        row = {"at": label, "rss_mib": round(self.sampler.rss() / MIB), "peak_mib": round(self.sampler.peak / MIB)}
        row["extract_mib"] = round(sum(_deep_size(e.records) + _deep_size(e.rejects) for e in self.extracted) / MIB, 1)
        results = 0
        result_bytes = 0
        for validator in self.validators:
            if validator._context is None:
                continue
            store = validator._context.validation_results_store
            for key in store.list_keys():
                results += 1
                result_bytes += len(json.dumps(store.get(key).to_json_dict()))
        row["ge_results"] = results
        row["ge_results_mib"] = round(result_bytes / MIB, 1)
        frames = [o for o in gc.get_objects() if isinstance(o, pd.DataFrame)]
        row["pandas_frames"] = len(frames)
        row["pandas_mib"] = round(sum(int(f.memory_usage(deep=True).sum()) for f in frames) / MIB, 1)
        context = FlowRunContext.get()
        row["prefect_result_links"] = len(context.run_results) if context else None
        row["prefect_states"] = sum(1 for o in gc.get_objects() if isinstance(o, State))
        if self.trace:
            import tracemalloc

            by_package: dict[str, int] = {}
            for stat in tracemalloc.take_snapshot().statistics("filename"):
                name = stat.traceback[0].filename
                package = next((p for p in ("great_expectations", "prefect", "pandas", "polars", "numpy", "spacy",
                                            "readers", "flows", "transforms", "warehouse") if f"/{p}/" in name),
                               "other")
                by_package[package] = by_package.get(package, 0) + stat.size
            row["traced_mib"] = {k: round(v / MIB, 1) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])}
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return row

    def install(self) -> None:
        """Wrap the run's steps (the code under test is not changed): the Validator made, the
        extract's output, each chunk staged, the Data Docs build, the commit."""
        from flows import validation
        from readers import sources
        from warehouse.store import Warehouse

        profile = self
        init = validation.Validator.__init__

        def validator_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            profile.validators.add(self)

        validation.Validator.__init__ = validator_init

        # The extract: all at once (extracted_records) or chunk by chunk (RecordChunks), whichever
        # the code under test has.
        whole = sources.extracted_records

        def extracted_records(*args, **kwargs):
            out = whole(*args, **kwargs)
            profile.extracted.append(out)
            profile.measure("extracted")
            return out

        sources.extracted_records = extracted_records
        import flows.pipeline as pipeline

        if hasattr(pipeline, "extracted_records"):
            pipeline.extracted_records = extracted_records
        chunks = getattr(sources, "RecordChunks", None)
        if chunks is not None:
            next_chunk = chunks.next_chunk

            def chunk_read(self):
                chunk = next_chunk(self)
                if chunk is not None:
                    profile.extracted[:] = [chunk]
                return chunk

            chunks.next_chunk = chunk_read

        stage = Warehouse.stage

        def staged(self, run_id, index, tables):
            stage(self, run_id, index, tables)
            if tables.runs.height:  # the run's own row, after the last chunk
                return
            profile.measure(f"chunk {index} staged")
            if "ge-results" in profile.without:
                for validator in profile.validators:
                    if validator._context is not None:
                        store = validator._context.validation_results_store
                        for key in store.list_keys():
                            store.remove_key(key)
            if "prefect-results" in profile.without:
                from prefect.context import FlowRunContext

                FlowRunContext.get().run_results.clear()

        Warehouse.stage = staged

        build = validation.Validator.build_docs

        def build_docs(self, *args, **kwargs):
            profile.measure("before the Data Docs build")
            profile.sampler.reset_peak()
            if "docs" not in profile.without:
                build(self, *args, **kwargs)
            profile.measure("after the Data Docs build")

        validation.Validator.build_docs = build_docs
        commit = Warehouse.commit

        def committed(self, *args, **kwargs):
            profile.measure("before the commit")
            profile.sampler.reset_peak()
            snapshot = commit(self, *args, **kwargs)
            profile.measure("committed")
            return snapshot

        Warehouse.commit = committed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.2, help="of each corpus file (1: the whole corpus)")
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--without", action="append", default=[], choices=["ge-results", "docs", "prefect-results"])
    parser.add_argument("--trace", action="store_true", help="tracemalloc's live bytes by package (slow)")
    parser.add_argument("--out", type=Path, help="also write the rows here as JSON")
    args = parser.parse_args()
    os.environ["NEWSFLOW_CHUNK_SIZE"] = str(args.chunk_size)
    if args.trace:
        import tracemalloc

        tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="newsflow-memprofile-") as tmp:
        inputs = Path(tmp) / "input"
        if args.fraction >= 1:
            inputs = CORPUS
        else:
            first_of_corpus(inputs, args.fraction)
        profile = Profile(set(args.without), args.trace)
        profile.install()
        from cli.app import app

        started = time.perf_counter()
        try:
            app(["run", str(inputs), "--warehouse", str(Path(tmp) / "lake")], standalone_mode=False)
        finally:
            profile.sampler.stop()
        print(f"run: {time.perf_counter() - started:.0f} s, peak RSS of this process {profile.sampler.peak / MIB:.0f} "
              f"MiB (without: {', '.join(sorted(args.without)) or 'nothing'})", flush=True)
        if args.out:
            args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                            "rows": profile.rows}, indent=1))


if __name__ == "__main__":
    main()
