"""Train the learned event coder on the labelled corpus and write lexicons/event_coder.json.gz.

    .venv/bin/python training/train_coder.py            # train on the train split, report the test split
    .venv/bin/python training/train_coder.py --curve    # also the learning curve (25, 50, 100% of train)
    .venv/bin/python training/train_coder.py --dry-run  # report only, write nothing

Reproducible: fixed seeds, texts in id order, the split a hash of each text id
(benchmarks/labels.py). The parse is the one a run makes (nlp_documents -> the model -> resolved
entity mentions); every candidate the parse proposes (transforms/coder/candidates.py) is matched
to the readers' labels by its trigger's offset: a candidate is an event if it names a labelled
event stated as fact, its root is that event's, and an argument is its source or target if it
overlaps the labelled actor's span. The test split is never trained or tuned on: thresholds are
chosen on out-of-fold predictions of the train split (folds by article).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import labels as corpus  # noqa: E402
from transforms.coder.candidates import Candidate, sentence_candidates  # noqa: E402
from transforms.coder.coding import candidate_events, parsed_sentences  # noqa: E402
from transforms.coder.features import argument_features, candidate_features  # noqa: E402
from transforms.coder.models import MODEL_FILE, CoderModel, LinearModel  # noqa: E402

SEED = 20261207
FOLDS = 5
MIN_FEATURE_COUNT = 2
MIN_NOUN_TRIGGERS = 1
C_GATE, C_CLASSIFIER, C_RANKER = 0.5, 1.0, 1.0


@dataclass
class Example:
    """One candidate of a labelled text, with what the labels say of it."""

    text_id: str
    candidate: Candidate
    country: str | None
    features: list[str]
    is_event: bool  # names a labelled event stated as fact
    root: str | None
    is_source: list[bool]
    is_target: list[bool]


def _overlaps(start: int, end: int, label_start: int | None, label_text: str | None) -> bool:
    if label_start is None or label_text is None:
        return False
    return start < label_start + len(label_text) and label_start < end


def _at_trigger(label: dict, start: int) -> bool:
    return label["trigger_start_char"] <= start < label["trigger_start_char"] + len(label["trigger_text"])


def parsed_corpus(text_ids: Sequence[str]):
    """(documents, tokens, located entity mentions, lexicon) of the texts, parsed as a run parses."""
    from config.settings import Settings
    from flows.coding import located_mentions, resources
    from transforms.entities import article_entity_mentions, nlp_documents, resolved_mentions
    from transforms.nlp import parsed_documents

    items = [corpus.texts()[t] for t in text_ids]
    frame = pl.DataFrame({"article_id": [t.text_id for t in items], "title": [t.title for t in items],
                          "text": [t.text for t in items], "language": [None] * len(items)},
                         schema={"article_id": pl.String, "title": pl.String, "text": pl.String,
                                 "language": pl.String})
    res = resources(Settings().model)
    documents = nlp_documents(frame.lazy()).collect()
    parsed = parsed_documents(res.nlp, documents["content"].to_list(), 16, 1)
    mentions = resolved_mentions(article_entity_mentions(documents.lazy(), parsed.spans.lazy()),
                                 res.actor_keys.lazy()).collect()
    return documents, parsed.tokens, located_mentions(documents, mentions), res.lexicon, res.codebook


def trigger_nouns(documents: pl.DataFrame, tokens: pl.DataFrame, events: pl.DataFrame, train: set[str]) -> frozenset[str]:
    """Noun lemmas that are labelled triggers at least MIN_NOUN_TRIGGERS times in the train split."""
    keys = documents.select("doc_index", pl.col("article_id").alias("text_id"), "field")
    nouns = (events.filter(pl.col("text_id").is_in(list(train)))
             .join(keys, on=["text_id", "field"])
             .join(tokens.select("doc_index", "start_char", "end_char", "lemma", "pos"), on="doc_index")
             .filter((pl.col("start_char") >= pl.col("trigger_start_char"))
                     & (pl.col("start_char") < pl.col("trigger_start_char") + pl.col("trigger_text").str.len_chars())
                     & pl.col("pos").is_in(["NOUN", "PROPN"]))
             .group_by(pl.col("lemma").str.to_lowercase()).len()
             .filter(pl.col("len") >= MIN_NOUN_TRIGGERS))
    return frozenset(nouns["lemma"].to_list())


def examples(documents, tokens, entities, lexicon, events: pl.DataFrame, nouns: frozenset[str]) -> list[Example]:
    """Every candidate of the parsed texts with its labels."""
    by_field: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in events.iter_rows(named=True):
        by_field[(row["text_id"], row["field"])].append(row)
    keys = {d: (a, f) for d, a, f in documents.select("doc_index", "article_id", "field").iter_rows()}
    out = []
    for ref, sentence in parsed_sentences(documents, tokens, entities, lexicon):
        text_id, field = keys[ref.doc_index]
        labels = [r for r in by_field.get((text_id, field), [])
                  if ref.start <= r["trigger_start_char"] < ref.end]
        for c in sentence_candidates(sentence, nouns):
            hits = [r for r in labels if _at_trigger(r, c.trigger.start)]
            facts = [r for r in hits if not r["is_negated"] and not r["is_hypothetical"]]
            root = Counter(r["event_code"][:2] for r in facts).most_common(1)[0][0] if facts else None
            src = [any(_overlaps(a.actor.start, a.actor.end, r["actor1_start_char"], r["actor1_text"]) for r in facts)
                   for a in c.arguments]
            tgt = [any(_overlaps(a.actor.start, a.actor.end, r["actor2_start_char"], r["actor2_text"]) for r in facts)
                   for a in c.arguments]
            out.append(Example(text_id, c, ref.country, candidate_features(c), bool(facts), root, src, tgt))
    return out


def _fit(rows: list[list[str]], y: list, c_value: float) -> LinearModel:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    counts = Counter(f for r in rows for f in set(r))
    keep = [{f: 1.0 for f in r if counts[f] >= MIN_FEATURE_COUNT} for r in rows]
    vec = DictVectorizer()
    x = vec.fit_transform(keep)
    labels = sorted({str(v) for v in y})
    if len(labels) < 2:
        raise ValueError(f"only one class in the training rows: {labels}")
    model = LogisticRegression(C=c_value, max_iter=3000, random_state=SEED)
    model.fit(x, [str(v) for v in y])
    names = vec.get_feature_names_out()
    coef = model.coef_
    weights = {}
    for j, name in enumerate(names):
        w = tuple(round(float(coef[k, j]), 4) for k in range(coef.shape[0]))
        if max(abs(v) for v in w) >= 1e-4:
            weights[str(name)] = w
    return LinearModel(tuple(str(c) for c in model.classes_), weights,
                       tuple(round(float(v), 4) for v in model.intercept_))


def fitted(train: list[Example], nouns: frozenset[str], gate_threshold: float = 0.5,
           actor_threshold: float = 0.5, card: dict | None = None) -> CoderModel:
    """The four models fitted on `train`."""
    gate = _fit([e.features for e in train], [int(e.is_event) for e in train], C_GATE)
    positives = [e for e in train if e.is_event]
    classifier = _fit([e.features for e in positives], [e.root for e in positives], C_CLASSIFIER)
    pairs = [(argument_features(e.candidate, a), s, t) for e in positives
             for a, s, t in zip(e.candidate.arguments, e.is_source, e.is_target)]
    source = _fit([p[0] for p in pairs], [int(p[1]) for p in pairs], C_RANKER)
    target = _fit([p[0] for p in pairs], [int(p[2]) for p in pairs], C_RANKER)
    return CoderModel(gate, classifier, source, target, nouns, gate_threshold, actor_threshold, card or {})


def _folds(text_ids: Sequence[str], k: int = FOLDS) -> list[set[str]]:
    ids = sorted(set(text_ids))
    random.Random(SEED).shuffle(ids)
    return [set(ids[i::k]) for i in range(k)]


ACTOR_THRESHOLDS = (0.3, 0.4, 0.5)


def chosen_thresholds(train: list[Example], nouns: frozenset[str], events: pl.DataFrame, codes: frozenset[str]
                      ) -> tuple[float, float, list[tuple[float, float, "Scores"]], list]:
    """The gate and actor thresholds with the best F0.5 of fully right events (trigger, root and
    both actors: a wrong event costs an analyst's trust twice what a missed one costs) on
    out-of-fold predictions of the train split (folds by article); the table they were chosen
    from, and the out-of-fold rows at the chosen actor threshold."""
    from dataclasses import replace

    rows: dict[float, list[tuple[str, str, dict]]] = {a: [] for a in ACTOR_THRESHOLDS}
    for fold in _folds([e.text_id for e in train]):
        model = fitted([e for e in train if e.text_id not in fold], nouns, gate_threshold=0.2)
        held_out = [e for e in train if e.text_id in fold]
        for a in ACTOR_THRESHOLDS:
            rows[a] += model_rows(replace(model, actor_threshold=a), held_out, codes)
    ids = {e.text_id for e in train}
    table = [(g, a, scored([r for r in rows[a] if r[2]["gate_probability"] >= g], ids, events))
             for a in ACTOR_THRESHOLDS for g in [x / 20 for x in range(4, 19)]]
    gate, actor, _ = max(table, key=lambda r: r[2].f_half)
    return gate, actor, table, rows[actor]


@dataclass
class Scores:
    emitted: int
    right_root: int  # trigger names a labelled fact of the same root
    fully_right: int  # and both actors overlap the labelled ones
    not_event: int  # trigger names no labelled event at all
    labelled: int  # labelled facts
    found: int  # labelled facts found with the right root
    found_fully: int
    articles: int

    @property
    def f1(self) -> float:
        p = self.fully_right / self.emitted if self.emitted else 0.0
        r = self.found_fully / self.labelled if self.labelled else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def f_half(self) -> float:
        p = self.fully_right / self.emitted if self.emitted else 0.0
        r = self.found_fully / self.labelled if self.labelled else 0.0
        return 1.25 * p * r / (0.25 * p + r) if p + r else 0.0

    def line(self) -> str:
        p = self.fully_right / self.emitted if self.emitted else 0.0
        pr = self.right_root / self.emitted if self.emitted else 0.0
        r = self.found / self.labelled if self.labelled else 0.0
        rf = self.found_fully / self.labelled if self.labelled else 0.0
        both = self.fully_right / self.right_root if self.right_root else 0.0
        ne = self.not_event / self.emitted if self.emitted else 0.0
        return (f"emitted {self.emitted} ({self.emitted / max(self.articles, 1):.2f}/article); precision "
                f"{p:.3f} fully right, {pr:.3f} root right; not an event {ne:.3f}; recall {rf:.3f} fully, "
                f"{r:.3f} root ({self.found} of {self.labelled}); both actors right when the root is {both:.3f}")


def _actor_right(start: int | None, end: int | None, label_start: int | None, label_text: str | None) -> bool:
    if label_start is None or label_text is None:
        return start is None
    return start is not None and _overlaps(start, end, label_start, label_text)


def model_rows(model: CoderModel, test: list[Example], codes: frozenset[str]) -> list[tuple[str, str, dict]]:
    """(text_id, field, event) for every event the model reads in the examples' candidates."""
    return [(e.text_id, "title" if e.candidate.sentence.is_title else "text", ev)
            for e in test for ev in candidate_events(e.candidate, model, codes, e.country)]


def rule_rows(documents, tokens, entities, lexicon, text_ids: set[str]) -> list[tuple[str, str, dict]]:
    """(text_id, field, event) for every event the hand-written rules (transforms.events) emit."""
    from transforms.events import coded_events

    docs = documents.filter(pl.col("article_id").is_in(list(text_ids)))
    keys = {d: (a, f) for d, a, f in docs.select("doc_index", "article_id", "field").iter_rows()}
    coded = coded_events(docs, tokens.filter(pl.col("doc_index").is_in(list(keys))),
                         entities.filter(pl.col("doc_index").is_in(list(keys))), lexicon)
    return [(*keys[row["doc_index"]], row) for row in coded.iter_rows(named=True)
            if not row["is_negated"] and not row["is_hypothetical"]]


def scored(rows: list[tuple[str, str, dict]], text_ids: set[str], events: pl.DataFrame) -> Scores:
    """Precision and recall of emitted events on labelled texts (events matched by trigger
    offset and root; fully right when both actors overlap the labelled ones, or both are absent)."""
    by_text: dict[str, list[dict]] = defaultdict(list)
    for row in events.filter(pl.col("text_id").is_in(list(text_ids))).iter_rows(named=True):
        by_text[row["text_id"]].append(row)
    emitted = right = full = not_event = 0
    found: set[int] = set()
    found_full: set[int] = set()
    for text_id, field, ev in rows:
        emitted += 1
        hits = [r for r in by_text[text_id] if r["field"] == field and _at_trigger(r, ev["action_start_char"])]
        if not hits:
            not_event += 1
        same = [r for r in hits if not r["is_negated"] and not r["is_hypothetical"]
                and r["event_code"][:2] == ev["event_code"][:2]]
        if same:
            right += 1
            found.update(id(r) for r in same)
        whole = [r for r in same if _actor_right(ev["actor1_start_char"], ev["actor1_end_char"],
                                                 r["actor1_start_char"], r["actor1_text"])
                 and _actor_right(ev["actor2_start_char"], ev["actor2_end_char"], r["actor2_start_char"],
                                  r["actor2_text"])]
        if whole:
            full += 1
            found_full.update(id(r) for r in whole)
    labelled = [r for rows_ in by_text.values() for r in rows_ if not r["is_negated"] and not r["is_hypothetical"]]
    return Scores(emitted, right, full, not_event, len(labelled),
                  sum(1 for r in labelled if id(r) in found), sum(1 for r in labelled if id(r) in found_full),
                  len(text_ids))


VIEW_PRECISION = 0.70


def view_threshold(rows: list[tuple[str, str, dict]], ids: set[str], events: pl.DataFrame) -> float:
    """The lowest confidence at which out-of-fold events are fully right at least VIEW_PRECISION of
    the time (the `confident_events` view's threshold), printing the calibration table; the
    confidence with the best precision when none reaches it."""
    best, chosen = (0.0, 1.0), None
    for t in [x / 20 for x in range(0, 20)]:
        part = [r for r in rows if r[2]["confidence"] >= t]
        if not part:
            break
        result = scored(part, ids, events)
        precision = result.fully_right / result.emitted
        print(f"  confidence >= {t:.2f}: {result.emitted} events, out-of-fold precision {precision:.3f}")
        if precision >= VIEW_PRECISION and chosen is None and result.emitted >= 20:
            chosen = t
        if result.emitted >= 20 and precision > best[0]:
            best = (precision, t)
    return chosen if chosen is not None else best[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", action="store_true", help="learning curve at 25, 50 and 100%% of train")
    parser.add_argument("--dry-run", action="store_true", help="report, write no model")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args(argv)

    labelled = sorted(corpus.labelled_texts())
    events = corpus.labelled_events()
    train_ids = {t for t in labelled if corpus.split_of(t) == "train"}
    test_ids = {t for t in labelled if corpus.split_of(t) == "test"}
    print(f"labelled texts: {len(train_ids)} train, {len(test_ids)} test; events {events.height} "
          f"({events.filter(~pl.col('is_negated') & ~pl.col('is_hypothetical')).height} stated as fact)")
    documents, tokens, entities, lexicon, codebook = parsed_corpus(labelled)
    codes = frozenset(codebook["event_code"].to_list())
    nouns = trigger_nouns(documents, tokens, events, train_ids)
    every = examples(documents, tokens, entities, lexicon, events, nouns)
    train = [e for e in every if e.text_id in train_ids]
    test = [e for e in every if e.text_id in test_ids]
    facts = events.filter(~pl.col("is_negated") & ~pl.col("is_hypothetical"))
    reachable = sum(e.is_event for e in train)
    print(f"candidates: {len(train)} train ({reachable} name a labelled fact), {len(test)} test; "
          f"{len(nouns)} trigger nouns; labelled facts in train: "
          f"{facts.filter(pl.col('text_id').is_in(list(train_ids))).height}")
    threshold, actor_threshold, table, oof = chosen_thresholds(train, nouns, events, codes)
    for g, a, result in table:
        if a == actor_threshold:
            print(f"  gate >= {g:.2f}, actors >= {a:.1f}, out of fold: {result.line()}")
    print(f"gate threshold {threshold:.2f}, actor threshold {actor_threshold:.1f} "
          f"(best out-of-fold F0.5 of fully right events)")
    view = view_threshold([r for r in oof if r[2]["gate_probability"] >= threshold], train_ids, events)
    card = {"trained_on": date.today().isoformat(), "seed": SEED,
            "train_texts": len(train_ids), "test_texts": len(test_ids),
            "train_events": facts.filter(pl.col("text_id").is_in(list(train_ids))).height,
            "sources": "English Wikinews (CC BY 2.5) outside the event audit; Voice of America (public domain)"}
    model = fitted(train, nouns, threshold, actor_threshold, card)
    result = scored(model_rows(model, test, codes), test_ids, events)
    rules = scored(rule_rows(documents, tokens, entities, lexicon, test_ids), test_ids, events)
    print(f"test split ({len(test_ids)} articles never trained or tuned on):")
    print(f"  hand-written rules: {rules.line()}")
    print(f"  learned coder:      {result.line()}")
    if args.curve:
        ids = sorted(train_ids)
        random.Random(SEED).shuffle(ids)
        for share in (0.25, 0.5, 1.0):
            part = set(ids[:max(2, int(len(ids) * share))])
            m = fitted([e for e in train if e.text_id in part], nouns, threshold, actor_threshold)
            print(f"  curve {share:.0%} of train ({len(part)} texts): "
                  f"{scored(model_rows(m, test, codes), test_ids, events).line()}")
    card["test"] = result.line()
    if not args.dry_run:
        card["view_threshold"] = view
        model = CoderModel(model.gate, model.classifier, model.source, model.target, nouns, threshold,
                           actor_threshold, card, view)
        model.save(args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
