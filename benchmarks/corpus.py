"""The corpus the benchmarks run on (../shared/data/corpus/: 2,520 distinct articles in two
Wikinews CSV files and one BBC JSON Lines file), whole or cut."""

from __future__ import annotations

import csv
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "corpus"


def first_of_corpus(folder: Path, fraction: float, limit: int | None = None) -> int:
    """The first `fraction` of each corpus file's records (at least one), or its first `limit`
    records in all, written to `folder` under the same names; returns the records written."""
    folder.mkdir(parents=True, exist_ok=True)
    csv.field_size_limit(1 << 30)
    written = 0
    for path in sorted(CORPUS.iterdir()):
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as src:
                reader = csv.DictReader(src)
                rows = list(reader)
            rows = rows[:limit] if limit is not None else rows[:max(1, int(len(rows) * fraction))]
            with (folder / path.name).open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
                writer.writeheader()
                writer.writerows(rows)
        elif path.suffix == ".jsonl":
            lines = [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]
            rows = lines[:limit] if limit is not None else lines[:max(1, int(len(lines) * fraction))]
            (folder / path.name).write_text("".join(rows), encoding="utf-8")
        else:
            continue
        written += len(rows)
        if limit is not None:
            limit -= len(rows)
            if limit <= 0:
                break
    return written
