"""Event audit on real articles: what share of the events newsflow emits a careful reader calls right.

    .venv/bin/python benchmarks/event_audit.py                 # re-code the judged articles, print figures
    .venv/bin/python benchmarks/event_audit.py --unjudged      # also list emitted events with no judgment
    .venv/bin/python benchmarks/event_audit.py --worksheets    # add unjudged events to the judged files
    .venv/bin/python benchmarks/event_audit.py --show SLUG     # an article's sentences and judged rows

Gold sentences each hold an event, so they never show the false events a real article produces.
This audit codes whole articles: a seeded random sample of BBC and Wikinews articles from
../shared/data/corpus (SAMPLE_SEED, SAMPLE_PER_CORPUS each). `benchmarks/data/event_audit/` holds
one JSON Lines file per article: every event newsflow emitted (keyed by field, action offset, actor
texts and codes, event code and flags) with a reader's judgment, and every event the reader found
that newsflow missed. Judgments (strict, as a CAMEO coder would; see JUDGING below):

  correct       the sentence states that actor1 did this action to actor2; root code right; actor
                codes right where the dictionaries know the actor
  wrong_actor   a real event of that root code, but an actor is wrong, missing though named in the
                sentence, or has the wrong code
  wrong_code    a real event between these actors, but the root code is wrong
  not_event     no event in this sense (talk, description, a verb read in the wrong sense,
                accident/disaster/sports result, a hypothetical coded as fact)
  missed        an event the reader found that newsflow did not emit (for recall)

The BBC corpus is licensed for research use only: its files hold sentence offsets and a SHA-1 of
the sentence, never its text (Wikinews, CC BY 2.5, keeps the sentence). The script re-codes the
articles, matches each emitted event to its judgment, and prints precision (fully correct /
emitted, judged), the share of each error kind, recall of the events the reader found, the share
of events with a CAMEO-coded actor, and precision by confidence (the calibration table). An
emitted event with no judgment is reported, never guessed: judge it (--worksheets writes it into
the file with judgment null) and never edit a judgment to match the coder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
JUDGED = ROOT / "benchmarks" / "data" / "event_audit"
SAMPLE_SEED = 20261130
EXTRA_SEEDS = (20261201, 20261202, 20261203)  # later batches of 20 + 20, each judged after the rules before it
SAMPLE_PER_CORPUS = 20
JUDGMENTS = ("correct", "wrong_actor", "wrong_code", "not_event")
KEY = ("field", "action_start_char", "actor1_text", "actor1_code", "actor2_text", "actor2_code", "event_code",
       "is_negated", "is_hypothetical")
CONFIDENCE_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass(frozen=True)
class Article:
    """One sampled article: its slug (file name), corpus, key in the corpus and normalized fields."""

    slug: str
    corpus: str  # "bbc" or "wikinews"
    key: str  # BBC id or Wikinews URL
    title: str
    text: str
    language: str | None
    batch: int = 1  # 1: the articles the rules were first written on; 2, 3: drawn after, to check them

    @property
    def keeps_text(self) -> bool:
        return self.corpus == "wikinews"


def _slug(corpus: str, key: str) -> str:
    tail = key.rstrip("/").rsplit("/", 2)
    name = "-".join(tail[-2:]) if corpus == "bbc" else tail[-1]
    safe = "".join(c if c.isalnum() else "_" for c in name)[:60]
    return f"{corpus}-{safe}"


def sampled_articles(seed: int = SAMPLE_SEED, per_corpus: int = SAMPLE_PER_CORPUS,
                     corpus: Path = CORPUS) -> list[Article]:
    """The audit sample: per batch (`seed`, then EXTRA_SEEDS), `per_corpus` articles from the BBC
    corpus and from the Wikinews 2019 and 2020 files together, normalized as a run normalizes them."""
    from readers.sources import extracted_records
    from transforms.normalize import articles_from_records

    files = [corpus / "bbc.jsonl", corpus / "wikinews_2019.csv", corpus / "wikinews_2020.csv"]
    records = extracted_records(files).records_frame()
    articles = articles_from_records(records.lazy(), datetime(2026, 1, 1, tzinfo=timezone.utc)).collect()
    articles = articles.filter(pl.col("reject_reason").is_null()).with_columns(
        _corpus=pl.when(pl.col("source_file") == "bbc.jsonl").then(pl.lit("bbc")).otherwise(pl.lit("wikinews")),
        _key=pl.when(pl.col("source_file") == "bbc.jsonl").then(pl.col("id")).otherwise(pl.col("url")),
    )
    sample: list[Article] = []
    # Batches are drawn one after the other, each from what the earlier ones left, so adding a
    # batch never changes the articles (and judgments) of the earlier ones.
    for batch, batch_seed in enumerate((seed, *EXTRA_SEEDS), start=1):
        rng = random.Random(batch_seed)
        taken = {a.key for a in sample}
        for name in ("bbc", "wikinews"):
            pool = [row for row in articles.filter(pl.col("_corpus") == name).sort("_key").iter_rows(named=True)
                    if row["_key"] not in taken]
            for row in rng.sample(pool, per_corpus):
                sample.append(Article(_slug(name, row["_key"]), name, row["_key"], row["title"], row["text"],
                                      row["language"], batch))
    return sample


def coded_article_events(articles: Sequence[Article]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, sentences) of the articles as a run codes them: events one row per coded event
    (slug + CODED_EVENTS columns), sentences one row per (slug, field, sentence_index) with offsets."""
    from flows.coding import resolved_language, resources
    from config.settings import Settings
    from transforms.entities import nlp_documents
    from transforms.nlp import parsed_documents

    frame = pl.DataFrame({"article_id": [a.slug for a in articles], "title": [a.title for a in articles],
                          "text": [a.text for a in articles], "language": [a.language for a in articles]})
    # The stages a run walks: nlp_documents -> the model's parse -> resolved_language.
    documents = nlp_documents(frame.lazy()).collect()
    res = resources(Settings().model)
    parsed = parsed_documents(res.nlp, documents["content"].to_list(), 16, 1)
    language = resolved_language(documents, parsed, res)
    ids = documents.select("doc_index", pl.col("article_id").alias("slug"), "field")
    events = language.coded.join(ids, on="doc_index", how="inner", maintain_order="left")
    sentences = (parsed.tokens.group_by("doc_index", "sentence_index", maintain_order=True)
                 .agg(pl.col("start_char").min().alias("sentence_start_char"),
                      pl.col("end_char").max().alias("sentence_end_char"))
                 .join(ids, on="doc_index", how="inner", maintain_order="left"))
    return events, sentences


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _content(article: Article, field: str) -> str:
    return article.title if field == "title" else article.text


def _event_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in KEY)


def judged_rows(slug: str) -> list[dict]:
    """The judged rows of one article file (header line skipped)."""
    path = JUDGED / f"{slug}.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("kind") in ("emitted", "missed")]


def _emitted_row(article: Article, event: dict) -> dict:
    content = _content(article, event["field"])
    sentence = content[event["sentence_start_char"]:event["sentence_end_char"]]
    row = {"kind": "emitted", **{k: event[k] for k in KEY},
           "action_text": event["action_text"], "confidence": event["confidence"],
           "sentence_start_char": event["sentence_start_char"], "sentence_end_char": event["sentence_end_char"],
           "sentence_sha1": _sha(sentence)}
    if article.keeps_text:
        row["sentence"] = sentence
    row.update(judgment=None, note="")
    return row


def _header(article: Article) -> dict:
    licence = ("CC BY 2.5, English Wikinews (see ../shared/data/corpus-notes)" if article.corpus == "wikinews"
               else "BBC News corpus, research use only: no text stored here, offsets and SHA-1 only")
    return {"kind": "article", "slug": article.slug, "corpus": article.corpus, "key": article.key,
            "licence": licence, "title": article.title if article.keeps_text else None}


@dataclass
class Audit:
    emitted: int
    judged: Counter
    unjudged: list[dict]
    missed: int
    found: int
    coded_actor: int
    by_confidence: list[tuple[float, bool]]  # (confidence, correct) per judged emitted event
    by_corpus: dict[str, Counter]


def audited(articles: Sequence[Article], events: pl.DataFrame) -> Audit:
    """Emitted events matched to their judgments, and recall of the events the reader found."""
    judged: Counter = Counter()
    by_corpus: dict[str, Counter] = {"bbc": Counter(), "wikinews": Counter(),
                                     **{f"batch {b}": Counter() for b in sorted({a.batch for a in articles})}}
    unjudged, by_confidence = [], []
    missed = found = coded_actor = emitted = 0
    for article in articles:
        rows = judged_rows(article.slug)
        judgments = {_event_key(r): r for r in rows if r["kind"] == "emitted" and r.get("judgment")}
        mine = events.filter(pl.col("slug") == article.slug).to_dicts()
        correct_spots: set[tuple] = set()
        for event in mine:
            emitted += 1
            coded_actor += bool(event["actor1_code"] or event["actor2_code"])
            verdict = judgments.get(_event_key(event))
            if verdict is None:
                unjudged.append({"slug": article.slug, **_emitted_row(article, event)})
                continue
            judged[verdict["judgment"]] += 1
            by_corpus[article.corpus][verdict["judgment"]] += 1
            by_corpus[f"batch {article.batch}"][verdict["judgment"]] += 1
            by_confidence.append((event["confidence"], verdict["judgment"] == "correct"))
            if verdict["judgment"] == "correct":
                correct_spots.add((event["field"], event["sentence_start_char"], event["event_code"][:2]))
        # Recall: the reader's events are the emitted ones judged correct (in any version of the
        # coder: every correct row in the file) plus the missed ones; one is found when an event
        # judged correct is emitted now in its sentence with its root code.
        reader = {(r["field"], r["sentence_start_char"], r["event_code"][:2])
                  for r in rows if r["kind"] == "missed" or r.get("judgment") == "correct"}
        missed += len(reader)
        found += len(reader & correct_spots)
    return Audit(emitted, judged, unjudged, missed, found, coded_actor, by_confidence, by_corpus)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def calibration(by_confidence: list[tuple[float, bool]]) -> list[tuple[float, int, float]]:
    """(threshold, events at or above it, share correct among them) for each bin edge."""
    out = []
    for edge in CONFIDENCE_BINS[:-1]:
        above = [ok for c, ok in by_confidence if c >= edge]
        out.append((edge, len(above), sum(above) / len(above) if above else float("nan")))
    return out


def print_audit(audit: Audit, articles: Sequence[Article]) -> None:
    total = sum(audit.judged.values())
    print(f"Event audit: {len(articles)} articles ({sum(a.corpus == 'bbc' for a in articles)} BBC, "
          f"{sum(a.corpus == 'wikinews' for a in articles)} Wikinews; seeds {SAMPLE_SEED}, "
          f"{', '.join(map(str, EXTRA_SEEDS))})")
    print(f"  emitted events                 {audit.emitted}  ({audit.emitted / len(articles):.2f} per article)")
    print(f"  judged                         {total}   unjudged {len(audit.unjudged)}")
    print(f"  precision (correct / judged)   {_share(audit.judged['correct'], total)}")
    for kind in JUDGMENTS[1:]:
        print(f"  share {kind:<24} {_share(audit.judged[kind], total)}")
    for name, counts in audit.by_corpus.items():
        n = sum(counts.values())
        print(f"  precision on {name:<17} {_share(counts['correct'], n)}  ({n} judged)")
    print(f"  with a CAMEO-coded actor       {_share(audit.coded_actor, audit.emitted)}")
    print(f"  recall of the reader's events  {_share(audit.found, audit.missed)}  ({audit.found} of {audit.missed})")
    print("  confidence >= t : events, precision")
    for edge, n, p in calibration(audit.by_confidence):
        print(f"    {edge:.1f}  {n:>5}  {p:.3f}" if n else f"    {edge:.1f}  {n:>5}  -")


def write_worksheets(articles: Sequence[Article], unjudged: list[dict]) -> None:
    """Append each unjudged emitted event (judgment null) to its article's file, header first."""
    JUDGED.mkdir(parents=True, exist_ok=True)
    for article in articles:
        path = JUDGED / f"{article.slug}.jsonl"
        lines = [] if path.exists() else [json.dumps(_header(article), ensure_ascii=False)]
        existing = {_event_key(r) for r in judged_rows(article.slug) if r["kind"] == "emitted"}
        for row in unjudged:
            if row["slug"] == article.slug and _event_key(row) not in existing:
                clean = {k: v for k, v in row.items() if k != "slug"}
                lines.append(json.dumps(clean, ensure_ascii=False))
        if lines:
            with path.open("a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")


def show_article(article: Article, sentences: pl.DataFrame) -> None:
    """Print the article sentence by sentence with what a judged row needs to name it."""
    print(f"# {article.slug}  ({article.corpus}: {article.key})")
    for row in sentences.sort("doc_index", "sentence_index").iter_rows(named=True):
        text = _content(article, row["field"])[row["sentence_start_char"]:row["sentence_end_char"]]
        print(f"\n[{row['field']} {row['sentence_start_char']}-{row['sentence_end_char']} sha1={_sha(text)}]\n{text}")
    print("\n# judged rows")
    for row in judged_rows(article.slug):
        print(json.dumps(row, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unjudged", action="store_true", help="list emitted events with no judgment")
    parser.add_argument("--worksheets", action="store_true",
                        help="write unjudged events into the judged files (judgment null) to be judged")
    parser.add_argument("--show", metavar="SLUG", help="print one article's sentences (field, offsets, SHA-1) "
                        "and its judged rows, to judge it")
    args = parser.parse_args(argv)
    articles = sampled_articles()
    if args.show:
        chosen = [a for a in articles if a.slug == args.show]
        if not chosen:
            parser.error(f"no sampled article {args.show!r}; the slugs are the file names in {JUDGED}")
        _, sentences = coded_article_events(chosen)
        show_article(chosen[0], sentences)
        return 0
    events, _ = coded_article_events(articles)
    audit = audited(articles, events)
    print_audit(audit, articles)
    if args.unjudged:
        for row in audit.unjudged:
            print(json.dumps(row, ensure_ascii=False))
    if args.worksheets:
        write_worksheets(articles, audit.unjudged)
        print(f"wrote {len(audit.unjudged)} unjudged events into {JUDGED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
