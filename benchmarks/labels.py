"""The labelled event corpus: whole real articles, every event a careful reader finds, by offsets.

    .venv/bin/python benchmarks/labels.py list                   # the texts that may be labelled, with split
    .venv/bin/python benchmarks/labels.py worksheets --out DIR   # one numbered worksheet per text
    .venv/bin/python benchmarks/labels.py check FILE [FILE ...]  # validate label files, fill in offsets
    .venv/bin/python benchmarks/labels.py stats                  # counts per source and split, agreement
    .venv/bin/python benchmarks/labels.py sources                # label_sources.tsv: each text's url, licence

Texts the project may train a shipped model on and keep labels of (../shared/data/README.md):
the English Wikinews articles (CC BY 2.5; the 80 in the event audit stay test data and are not
listed here) and the Voice of America stories (US government work, public domain). The texts stay
in ../shared/data; `benchmarks/data/labels/<text_id>__<reader>.jsonl` keeps, per article and
reader, a header line and one line per event, keyed by field and character offsets into the
article's normalized title or text (as a run normalizes them). Every sentence of a labelled
article that holds no event line is a true negative. How to label: benchmarks/data/JUDGING.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
LABELS = ROOT / "benchmarks" / "data" / "labels"
AUDIT = ROOT / "benchmarks" / "data" / "event_audit"
SOURCES_FILE = ROOT / "benchmarks" / "data" / "label_sources.tsv"
SOURCES = {
    "wikinews": ([DATA / "corpus" / "wikinews_2019.csv", DATA / "corpus" / "wikinews_2020.csv"],
                 "CC BY 2.5, English Wikinews (see ../shared/data/corpus-notes)"),
    "voa": ([DATA / "voa" / "voa_stories.jsonl"],
            "US government work, public domain; credit Voice of America / voanews.com with the url"),
}
# Split by article, seeded on the text id alone: adding texts never moves an earlier one.
TEST_SHARE = 0.2
SPLIT_SALT = "newsflow-labels-1"
EVENT_FIELDS = ("s", "trigger", "code", "actor1", "actor1_code", "actor2", "actor2_code")


@dataclass(frozen=True)
class Text:
    """One labellable article: text_id, source, url, licence, normalized title/text, date, split."""

    text_id: str
    source: str
    url: str
    licence: str
    title: str
    text: str
    published_at: datetime | None
    language: str | None

    @property
    def split(self) -> str:
        return split_of(self.text_id)

    def content(self, field: str) -> str:
        return self.title if field == "title" else self.text


def split_of(text_id: str) -> str:
    """'test' for a fixed 20% of texts (a hash of the id), else 'train'."""
    digest = int(hashlib.sha1(f"{SPLIT_SALT}:{text_id}".encode()).hexdigest()[:8], 16)
    return "test" if digest / 0xFFFFFFFF < TEST_SHARE else "train"


def _slug(source: str, key: str) -> str:
    tail = key.rstrip("/").rsplit("/", 1)[-1]
    if source == "voa":
        return f"voa-{key}"
    return "wikinews-" + "".join(c if c.isalnum() else "_" for c in tail)[:60]


def _audit_keys() -> set[str]:
    keys = set()
    for path in AUDIT.glob("*.jsonl"):
        with path.open(encoding="utf-8") as f:
            keys.add(json.loads(f.readline())["key"])
    return keys


@lru_cache(maxsize=1)
def texts() -> dict[str, Text]:
    """Every labellable text by text_id, normalized as a run normalizes it (audit articles left out)."""
    from readers.sources import extracted_records
    from transforms.normalize import articles_from_records

    held_out = _audit_keys()
    out: dict[str, Text] = {}
    for source, (files, licence) in SOURCES.items():
        records = extracted_records(files).records_frame()
        articles = articles_from_records(records.lazy(), datetime(2026, 12, 1, tzinfo=timezone.utc)).collect()
        for row in articles.filter(pl.col("reject_reason").is_null()).iter_rows(named=True):
            key = row["id"] if source == "voa" else row["url"]
            if row["url"] in held_out or key in held_out:
                continue
            text_id = _slug(source, key)
            out[text_id] = Text(text_id, source, row["url"], licence, row["title"] or "", row["text"] or "",
                                row["published_at"], row["language"])
    return dict(sorted(out.items()))


def sentences_of(items: Sequence[Text]) -> dict[str, list[dict]]:
    """Per text_id, its sentences in order: id (T1.. title, S1.. text), field, start, end, text."""
    from config.settings import Settings
    from flows.coding import resources
    from transforms.entities import nlp_documents
    from transforms.nlp import parsed_documents

    frame = pl.DataFrame({"article_id": [t.text_id for t in items], "title": [t.title for t in items],
                          "text": [t.text for t in items], "language": [None] * len(items)},
                         schema={"article_id": pl.String, "title": pl.String, "text": pl.String,
                                 "language": pl.String})
    documents = nlp_documents(frame.lazy()).collect()
    parsed = parsed_documents(resources(Settings().model).nlp, documents["content"].to_list(), 16, 1)
    bounds = (parsed.tokens.group_by("doc_index", "sentence_index", maintain_order=True)
              .agg(pl.col("start_char").min().alias("start"), pl.col("end_char").max().alias("end"))
              .join(documents.select("doc_index", "article_id", "field"), on="doc_index", maintain_order="left")
              .sort("doc_index", "sentence_index"))
    by_id = {t.text_id: t for t in items}
    out: dict[str, list[dict]] = {t.text_id: [] for t in items}
    counters: Counter = Counter()
    for row in bounds.iter_rows(named=True):
        prefix = "T" if row["field"] == "title" else "S"
        counters[(row["article_id"], prefix)] += 1
        content = by_id[row["article_id"]].content(row["field"])
        out[row["article_id"]].append({"id": f"{prefix}{counters[(row['article_id'], prefix)]}",
                                       "field": row["field"], "start": row["start"], "end": row["end"],
                                       "text": content[row["start"]:row["end"]]})
    return out


def worksheet(text: Text, sentences: list[dict]) -> str:
    """The text as a reader labels it: header, then each sentence with its id and offsets."""
    date = text.published_at.date().isoformat() if text.published_at else "unknown"
    lines = [f"# {text.text_id}  source={text.source}  published={date}  split={text.split}",
             f"# url: {text.url}", ""]
    for s in sentences:
        lines.append(f"[{s['id']} {s['field']} {s['start']}-{s['end']}] {s['text']}")
    return "\n".join(lines) + "\n"


def _codes() -> set[str]:
    from lexicons.loaders import cameo_codes

    return set(cameo_codes()["event_code"].to_list())


def _find(sentence: str, needle: str, nth: int | None) -> int | None:
    """Where `needle` starts in the sentence: its `nth` occurrence as a substring when the reader
    named one, else its first occurrence as whole words ("it" is not the "it" of "United")."""
    if nth is None:
        import re

        word = re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", sentence)
        if word is not None:
            return word.start()
        nth = 1
    at = -1
    for _ in range(max(nth, 1)):
        at = sentence.find(needle, at + 1)
        if at < 0:
            return None
    return at


def checked(path: Path, sentences: dict[str, list[dict]], codes: set[str]) -> tuple[list[dict], list[str]]:
    """The label file's lines with offsets filled in, and one message per problem found."""
    problems: list[str] = []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0].get("kind") != "article":
        return lines, [f"{path.name}: the first line must be the article header"]
    header = lines[0]
    text_id = header.get("text_id")
    if text_id not in sentences:
        return lines, [f"{path.name}: unknown text_id {text_id!r}"]
    for key in ("reader", "labelled_on"):
        if not header.get(key):
            problems.append(f"{path.name}: header needs {key!r}")
    by_id = {s["id"]: s for s in sentences[text_id]}
    for n, row in enumerate(lines[1:], start=2):
        where = f"{path.name}:{n}"
        if row.get("kind") != "event":
            problems.append(f"{where}: kind must be 'event'")
            continue
        missing = [k for k in EVENT_FIELDS if k not in row]
        if missing:
            problems.append(f"{where}: missing {missing}")
            continue
        s = by_id.get(str(row["s"]))
        if s is None:
            problems.append(f"{where}: no sentence {row['s']!r}")
            continue
        row["field"], row["sentence_start_char"], row["sentence_end_char"] = s["field"], s["start"], s["end"]
        code = str(row["code"])
        if code not in codes:
            problems.append(f"{where}: {code!r} is not a CAMEO code of lexicons/cameo_codes.tsv")
        for part in ("trigger", "actor1", "actor2"):
            value = row.get(part)
            if value in (None, ""):
                row[part] = None
                row[f"{part}_start_char"] = None
                if part == "trigger":
                    problems.append(f"{where}: trigger is required")
                continue
            nth = row.get(f"{part}_nth")
            at = _find(s["text"], value, None if nth is None else int(nth))
            if at is None:
                problems.append(f"{where}: {part} {value!r} is not in sentence {s['id']} (copy it exactly)")
                continue
            row[f"{part}_start_char"] = s["start"] + at
        for part in ("actor1_code", "actor2_code"):
            value = row.get(part) or ""
            if value and (len(value) % 3 or not value.isalpha() or not value.isupper()):
                problems.append(f"{where}: {part} {value!r} must be blocks of three capitals (or empty)")
        for flag in ("negated", "hypothetical"):
            row.setdefault(flag, False)
    return lines, problems


def label_files() -> list[Path]:
    """The label files whose every event line has been through `check` (has its offsets)."""
    return [p for p in sorted(LABELS.glob("*.jsonl")) if _is_checked(p)]


def _is_checked(path: Path) -> bool:
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return False
    return bool(lines) and lines[0].get("kind") == "article" and all(
        "sentence_start_char" in row and (row.get("trigger") is None or row.get("trigger_start_char") is not None)
        for row in lines[1:])


def labelled_events(files: Sequence[Path] | None = None, primary_only: bool = True) -> pl.DataFrame:
    """One row per labelled event (text_id, reader, field, offsets, codes, flags); with
    `primary_only`, a text labelled by several readers counts its first reader's file."""
    rows, seen = [], set()
    for path in files or label_files():
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        header = lines[0]
        if primary_only and header["text_id"] in seen:
            continue
        seen.add(header["text_id"])
        for row in lines[1:]:
            rows.append({"text_id": header["text_id"], "reader": header["reader"], "field": row["field"],
                         "sentence_id": str(row["s"]),
                         "sentence_start_char": row["sentence_start_char"],
                         "sentence_end_char": row["sentence_end_char"],
                         "trigger_text": row["trigger"], "trigger_start_char": row["trigger_start_char"],
                         "event_code": str(row["code"]), "actor1_text": row["actor1"],
                         "actor1_start_char": row.get("actor1_start_char"), "actor1_code": row["actor1_code"] or None,
                         "actor2_text": row["actor2"], "actor2_start_char": row.get("actor2_start_char"),
                         "actor2_code": row["actor2_code"] or None, "is_negated": bool(row["negated"]),
                         "is_hypothetical": bool(row["hypothetical"])})
    schema = {"text_id": pl.String, "reader": pl.String, "field": pl.String, "sentence_id": pl.String,
              "sentence_start_char": pl.Int64, "sentence_end_char": pl.Int64, "trigger_text": pl.String,
              "trigger_start_char": pl.Int64, "event_code": pl.String, "actor1_text": pl.String,
              "actor1_start_char": pl.Int64, "actor1_code": pl.String, "actor2_text": pl.String,
              "actor2_start_char": pl.Int64, "actor2_code": pl.String, "is_negated": pl.Boolean,
              "is_hypothetical": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def labelled_texts() -> dict[str, list[str]]:
    """text_id -> the readers who labelled it, in file order."""
    out: dict[str, list[str]] = {}
    for path in label_files():
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline())
        out.setdefault(header["text_id"], []).append(header["reader"])
    return out


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two readers' labels of the same items."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement() -> dict | None:
    """Per sentence of the double-labelled texts, each reader's label (the sorted CAMEO roots of its
    factual events, or 'none'); Cohen's kappa on that and on event / no event."""
    double = {t: r for t, r in labelled_texts().items() if len(r) >= 2}
    if not double:
        return None
    items = [texts()[t] for t in double]
    sentences = sentences_of(items)
    every = labelled_events(primary_only=False)
    roots_a, roots_b, any_a, any_b = [], [], [], []
    for text_id, readers in double.items():
        ev = every.filter((pl.col("text_id") == text_id) & ~pl.col("is_negated") & ~pl.col("is_hypothetical"))
        for s in sentences[text_id]:
            labels = []
            for reader in readers[:2]:
                roots = sorted({c[:2] for c in ev.filter((pl.col("reader") == reader)
                                                          & (pl.col("sentence_id") == s["id"]))["event_code"]})
                labels.append(",".join(roots) or "none")
            roots_a.append(labels[0])
            roots_b.append(labels[1])
            any_a.append(labels[0] != "none")
            any_b.append(labels[1] != "none")
    return {"texts": len(double), "sentences": len(roots_a),
            "kappa_roots": cohen_kappa(roots_a, roots_b), "kappa_event": cohen_kappa(any_a, any_b),
            "agree_roots": sum(x == y for x, y in zip(roots_a, roots_b)) / len(roots_a)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the labellable texts: text_id, source, split, characters, labelled by")
    ws = sub.add_parser("worksheets", help="write one worksheet per text (sentence ids and offsets)")
    ws.add_argument("--out", type=Path, required=True)
    ws.add_argument("ids", nargs="*", help="text ids (default: all)")
    ck = sub.add_parser("check", help="validate label files and write the offsets into them")
    ck.add_argument("files", nargs="+", type=Path)
    sub.add_parser("stats", help="events per source and split; agreement of double-labelled texts")
    sub.add_parser("sources", help=f"write {SOURCES_FILE.name}: where each labelled text came from, its licence")
    args = parser.parse_args(argv)
    if args.command == "list":
        done = labelled_texts()
        for t in texts().values():
            print(f"{t.text_id}\t{t.source}\t{t.split}\t{len(t.text)}\t{','.join(done.get(t.text_id, []))}")
        return 0
    if args.command == "worksheets":
        chosen = [texts()[i] for i in args.ids] if args.ids else list(texts().values())
        args.out.mkdir(parents=True, exist_ok=True)
        for text_id, found in sentences_of(chosen).items():
            (args.out / f"{text_id}.txt").write_text(worksheet(texts()[text_id], found), encoding="utf-8")
        print(f"{len(chosen)} worksheets in {args.out}")
        return 0
    if args.command == "check":
        codes = _codes()
        ids = []
        for path in args.files:
            with path.open(encoding="utf-8") as f:
                ids.append(json.loads(f.readline()).get("text_id"))
        known = [texts()[i] for i in ids if i in texts()]
        sentences = sentences_of(known)
        bad = 0
        for path, text_id in zip(args.files, ids):
            lines, problems = checked(path, {**sentences, **({} if text_id in sentences else {})}, codes)
            for p in problems:
                print(p)
            bad += len(problems)
            if not problems:
                path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                                encoding="utf-8")
                print(f"{path.name}: ok, {len(lines) - 1} events")
        return 1 if bad else 0
    if args.command == "sources":
        rows = ["text_id\tsource\tsplit\tpublished_at\turl\tlicence"]
        for text_id in sorted(labelled_texts()):
            t = texts()[text_id]
            rows.append("\t".join([t.text_id, t.source, t.split, t.published_at.isoformat() if t.published_at else "",
                                   t.url or "", t.licence]))
        SOURCES_FILE.write_text("\n".join(rows) + "\n", encoding="utf-8")
        print(f"{len(rows) - 1} texts in {SOURCES_FILE}")
        return 0
    events = labelled_events()
    done = labelled_texts()
    splits = {t: split_of(t) for t in done}
    counts = (events.with_columns(source=pl.col("text_id").str.extract(r"^([a-z]+)-"),
                                  split=pl.col("text_id").replace_strict(splits, default="?"))
              .group_by("source", "split").agg(pl.len().alias("events"), pl.col("text_id").n_unique().alias("texts"))
              .sort("source", "split"))
    print(f"{len(done)} texts labelled, {events.height} events "
          f"({events.filter(~pl.col('is_negated') & ~pl.col('is_hypothetical')).height} stated as fact)")
    print(counts)
    agree = agreement()
    if agree:
        print(f"double-labelled: {agree['texts']} texts, {agree['sentences']} sentences; "
              f"Cohen's kappa {agree['kappa_roots']:.3f} on the CAMEO roots of each sentence, "
              f"{agree['kappa_event']:.3f} on event / no event (raw agreement {agree['agree_roots']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
