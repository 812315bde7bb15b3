"""Entity accuracy of newsflow's entity layer on WikiGold (PER/ORG/LOC), exact span and type, held out
by document, with a second check on the project's own labelled news.

    .venv/bin/python benchmarks/ner_accuracy.py [--split dev|test|train] [--errors] [--gold WIKIGOLD_CONLL]
    (default split dev; gold ../shared/data/ner-dev/wikigold.conll.txt)

WikiGold (CC BY 4.0, Balasuriya et al. 2009) has 145 documents. Each is split by document, once and
for good, by a SHA-1 of a fixed salt and its text (`split_of`): 20% test, 20% dev, the rest train.
The test split is run once, for the final figures; everything is tuned on dev; the NER component
in lexicons/ner_component is trained on train only (training/train_ner.py). `--errors` prints, on train+dev, a
confusion of gold against predicted types and the most frequent wrong spans (what to fix first).

Each WikiGold document is rebuilt as text (tokens joined by spaces, one sentence per line) with
gold character spans; the text goes through, in the same run:
  - the bare model (`spacy.load`, its own labels): the baseline;
  - the old pipeline: the package's NER plus the actor-dictionary ruler, then the entity layer;
  - the pipeline as it runs now (`flows.coding.analysed`: newsflow's NER component, the rulers,
    dictionary labels and in-document name linking).
spaCy labels map to CoNLL types: PERSON -> PER, ORG -> ORG, GPE/LOC/FAC -> LOC, the other named
labels -> MISC. A prediction counts only when its span and type both equal a gold entity's. Prints
precision, recall and F1 per type and micro-averaged over PER/ORG/LOC (the figure tracked in the
issues) and over all four types.

The news check reads the actor spans of benchmarks/data/labels/ (VOA and Wikinews articles labelled
for the event coder), of its test split only (its train split's texts are rehearsal data for
training/train_ner.py, labelled by the package model, not by the readers): an actor whose exact text is a name in lexicons/actors.tsv gets that name's
kind as its gold type (person -> PER, igo/group -> ORG, country/capital -> LOC). Those labels are
partial (only actors of events are marked), so only recall is measured: the share of these spans
that the entity layer finds with exactly that span and type.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT.parent / "shared" / "data" / "ner-dev" / "wikigold.conll.txt"
SPACY_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
                  "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC"}
MAIN_TYPES = ("PER", "ORG", "LOC")
# The document split: fixed shares, keyed on a salted hash of the document's text, so that it never
# depends on file order or on a random generator's version.
SPLIT_SALT = "newsflow-wikigold-1"
TEST_SHARE, DEV_SHARE = 0.2, 0.2
KIND_TO_CONLL = {"person": "PER", "igo": "ORG", "group": "ORG", "country": "LOC", "capital": "LOC"}


def gold_documents(path: Path) -> tuple[list[str], list[set[tuple[int, int, str]]], int]:
    """Texts, gold (start, end, type) spans per document, and the count of malformed tags read as O."""
    texts, golds, malformed = [], [], 0
    sentences: list[list[tuple[str, str]]] = [[]]

    def close_document() -> None:
        lines, spans, offset = [], set(), 0
        for sentence in (s for s in sentences if s):
            parts, current = [], None
            for token, tag in sentence:
                start = offset + sum(len(p) + 1 for p in parts)
                parts.append(token)
                kind = tag[2:] if tag[:2] in ("I-", "B-") else None
                if kind and current and current[2] == kind and not tag.startswith("B-"):
                    current[1] = start + len(token)
                else:
                    if current:
                        spans.add(tuple(current))
                    current = [start, start + len(token), kind] if kind else None
            if current:
                spans.add(tuple(current))
            line = " ".join(parts)
            lines.append(line)
            offset += len(line) + 1
        if lines:
            texts.append("\n".join(lines))
            golds.append(spans)

    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("-DOCSTART-"):
            close_document()
            sentences = [[]]
        elif not raw.strip():
            sentences.append([])
        else:
            token, tag = raw.rsplit(" ", 1)
            if tag not in ("O",) and not tag[:2] in ("I-", "B-"):
                malformed += 1  # WikiGold has one tag typed "0" for "O"
                tag = "O"
            sentences[-1].append((token, tag))
    close_document()
    return texts, golds, malformed


def split_of(text: str) -> str:
    """'test', 'dev' or 'train' for a WikiGold document, from a salted SHA-1 of its text."""
    share = int(hashlib.sha1(f"{SPLIT_SALT}:{text}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if share < TEST_SHARE else "dev" if share < TEST_SHARE + DEV_SHARE else "train"


def split_documents(path: Path, splits: set[str]) -> tuple[list[str], list[set[tuple[int, int, str]]]]:
    """The texts and gold spans of the WikiGold documents in `splits`, in file order."""
    texts, golds, _ = gold_documents(path)
    kept = [i for i, t in enumerate(texts) if split_of(t) in splits]
    return [texts[i] for i in kept], [golds[i] for i in kept]


def scores(gold: list[set], predicted: list[set], types: tuple[str, ...]) -> dict[str, float]:
    tp = sum(len({g for g in gs if g[2] in types} & {p for p in ps if p[2] in types})
             for gs, ps in zip(gold, predicted))
    n_gold = sum(1 for gs in gold for g in gs if g[2] in types)
    n_pred = sum(1 for ps in predicted for p in ps if p[2] in types)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "predicted": n_pred}


def confusion(gold: list[set], predicted: list[set]) -> Counter:
    """(gold type, predicted type) counts over spans: 'O' where one side has no entity at that span."""
    counts: Counter = Counter()
    for gs, ps in zip(gold, predicted):
        g_at = {(s, e): t for s, e, t in gs}
        p_at = {(s, e): t for s, e, t in ps}
        for span in g_at.keys() | p_at.keys():
            counts[(g_at.get(span, "O"), p_at.get(span, "O"))] += 1
    return counts


def wrong_spans(texts: list[str], gold: list[set], predicted: list[set]) -> Counter:
    """(text, gold type, predicted type) counts of spans where gold and prediction differ."""
    counts: Counter = Counter()
    for text, gs, ps in zip(texts, gold, predicted):
        g_at = {(s, e): t for s, e, t in gs}
        p_at = {(s, e): t for s, e, t in ps}
        for span in g_at.keys() | p_at.keys():
            if g_at.get(span) != p_at.get(span):
                counts[(text[span[0]:span[1]], g_at.get(span, "O"), p_at.get(span, "O"))] += 1
    return counts


def _predicted(rows, n: int) -> list[set]:
    predicted: list[set] = [set() for _ in range(n)]
    for doc_index, start, end, label in rows:
        kind = SPACY_TO_CONLL.get(label)
        if kind:
            predicted[doc_index].add((start, end, kind))
    return predicted


def _layer_rows(texts: list[str], res) -> list[tuple[int, int, int, str]]:
    import polars as pl

    from flows.coding import analysed

    documents = pl.DataFrame({"doc_index": list(range(len(texts))), "article_id": [str(i) for i in range(len(texts))],
                              "field": ["text"] * len(texts), "content": texts},
                             schema={"doc_index": pl.Int64, "article_id": pl.String, "field": pl.String,
                                     "content": pl.String})
    mentions = analysed(documents, res).mentions
    return [(int(a), s, e, label) for a, s, e, label in
            mentions.select("article_id", "start_char", "end_char", "label").iter_rows()]


def predictions(texts: list[str], component: str = "newsflow") -> list[tuple[str, list[set], float]]:
    """(configuration, predicted spans per document, seconds) for the bare model, the old pipeline
    and the pipeline as it runs now."""
    import spacy

    from config.settings import Settings
    from flows.coding import resources

    model = Settings().model
    out = []
    started = time.perf_counter()
    bare = spacy.load(model)
    rows = [(i, e.start_char, e.end_char, e.label_) for i, doc in enumerate(bare.pipe(texts)) for e in doc.ents]
    out.append(("bare model (baseline)", _predicted(rows, len(texts)), time.perf_counter() - started))
    for title, res in [("old pipeline (package NER + actor ruler)", resources(model, ner="package")),
                       (f"newsflow entity layer (now{'' if component == 'newsflow' else ', ' + component})",
                        resources(model, ner=component))]:
        started = time.perf_counter()
        out.append((title, _predicted(_layer_rows(texts, res), len(texts)), time.perf_counter() - started))
    return out


def print_scores(title: str, gold: list[set], predicted: list[set], seconds: float) -> None:
    print(f"\n{title}: {seconds:.1f} s")
    print(f"{'type':<14}{'precision':>10}{'recall':>10}{'f1':>8}{'gold':>7}{'pred':>7}")
    for label, types in [*((t, (t,)) for t in ("PER", "ORG", "LOC", "MISC")),
                         ("PER/ORG/LOC", MAIN_TYPES), ("all four", MAIN_TYPES + ("MISC",))]:
        s = scores(gold, predicted, types)
        print(f"{label:<14}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['gold']:>7}"
              f"{s['predicted']:>7}")


def print_errors(texts: list[str], gold: list[set], predicted: list[set], top: int = 40) -> None:
    kinds = ("PER", "ORG", "LOC", "MISC", "O")
    counts = confusion(gold, predicted)
    print("confusion by span (rows gold, columns predicted):")
    print(f"{'':<6}" + "".join(f"{k:>7}" for k in kinds))
    for g in kinds:
        print(f"{g:<6}" + "".join(f"{counts[(g, p)]:>7}" for p in kinds))
    print(f"most frequent wrong spans (text, gold, predicted):")
    for (text, g, p), n in wrong_spans(texts, gold, predicted).most_common(top):
        print(f"{n:>4}  {text!r} gold {g} predicted {p}")


def news_gold(split: str = "test") -> tuple[list[tuple[str, str, str]], list[set]]:
    """(text_id, field, content) of each labelled news field of the labels' `split` and its gold
    actor spans typed by the actor dictionary's kind of the actor's exact text."""
    import polars as pl

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import labels as corpus
    from lexicons.loaders import actor_dictionary

    kinds = {}
    for name, kind in actor_dictionary([]).select("name", "kind").iter_rows():
        kinds.setdefault(name, kind)
    events = corpus.labelled_events()
    events = events.filter(pl.col("text_id").is_in([t for t in events["text_id"].unique() if corpus.split_of(t) == split]))
    spans: dict[tuple[str, str], set] = {}
    for actor in ("actor1", "actor2"):
        for text_id, field, text, start in events.select(
                "text_id", "field", f"{actor}_text", f"{actor}_start_char").filter(
                pl.col(f"{actor}_start_char").is_not_null()).iter_rows():
            kind = KIND_TO_CONLL.get(kinds.get(text))
            if kind:
                spans.setdefault((text_id, field), set()).add((start, start + len(text), kind))
    texts = corpus.texts()
    fields = sorted(spans)
    return [(t, f, texts[t].content(f)) for t, f in fields], [spans[k] for k in fields]


def news_recall(gold: list[set], predicted: list[set]) -> dict[str, tuple[int, int, int]]:
    """Per type: (gold spans, found with span and type, found with the span under another type)."""
    out = {}
    for kind in MAIN_TYPES:
        n = found = other = 0
        for gs, ps in zip(gold, predicted):
            p_at = {(s, e): t for s, e, t in ps}
            for s, e, t in gs:
                if t == kind:
                    n += 1
                    found += p_at.get((s, e)) == t
                    other += p_at.get((s, e), t) != t
        out[kind] = (n, found, other)
    return out


def label_agreement(texts: list[str], component: str) -> dict[str, tuple[int, int]]:
    """Per spaCy label the package model finds in `texts`: (its entities, those the pipeline's model
    and rulers find with the same span and label). What the news would lose to a new component,
    beyond the actor spans the labels mark."""
    import spacy

    from config.settings import Settings
    from flows.coding import resources

    model = Settings().model
    before = Counter((i, e.start_char, e.end_char, e.label_)
                     for i, doc in enumerate(spacy.load(model).pipe(texts)) for e in doc.ents)
    now = {(i, e.start_char, e.end_char, e.label_)
           for i, doc in enumerate(resources(model, ner=component).nlp.pipe(texts)) for e in doc.ents}
    out: dict[str, list[int]] = {}
    for key in before:
        counts = out.setdefault(key[3], [0, 0])
        counts[0] += 1
        counts[1] += key in now
    return {label: (n, kept) for label, (n, kept) in sorted(out.items(), key=lambda kv: -kv[1][0])}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "train"), default="dev")
    parser.add_argument("--errors", action="store_true", help="confusion and wrong spans on train+dev")
    parser.add_argument("--no-news", action="store_true", help="skip the labelled-news check")
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    parser.add_argument("--component", default="newsflow",
                        help="a trained ner folder to measure in place of lexicons/ner_component (training/train_ner.py --out)")
    args = parser.parse_args(argv)

    all_texts, _, malformed = gold_documents(args.gold)
    shares = Counter(split_of(t) for t in all_texts)
    splits = {"train", "dev"} if args.errors else {args.split}
    texts, gold = split_documents(args.gold, splits)
    counts = Counter(g[2] for gs in gold for g in gs)
    print(f"WikiGold: {len(all_texts)} documents (train {shares['train']}, dev {shares['dev']}, test "
          f"{shares['test']}); {malformed} malformed tag(s) read as O")
    print(f"split {'+'.join(sorted(splits))}: {len(texts)} documents, {sum(counts.values())} gold entities "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")

    runs = predictions(texts, args.component)
    for title, predicted, seconds in runs:
        print_scores(title, gold, predicted, seconds)
        if args.errors:
            print_errors(texts, gold, predicted)

    if args.no_news or args.errors:
        return
    fields, news = news_gold()
    print(f"\nlabelled news: {len(fields)} fields of {len({t for t, _, _ in fields})} articles, "
          f"{sum(len(s) for s in news)} actor spans typed by the actor dictionary; recall by exact span and type")
    news_texts = [c for _, _, c in fields]
    for title, predicted, seconds in predictions(news_texts, args.component):
        recall = news_recall(news, predicted)
        total = [sum(v[i] for v in recall.values()) for i in range(3)]
        parts = ", ".join(f"{k} {f / n:.3f} ({f}/{n}, {o} other type)" for k, (n, f, o) in recall.items())
        print(f"{title}: {parts}; all {total[1] / total[0]:.3f} ({total[2]} other type)")
    agreement = label_agreement(news_texts, args.component)
    print("the package model's entities on these fields kept (same span and label) by the pipeline's model "
          "and rulers: " + ", ".join(f"{label} {kept / n:.2f} of {n}" for label, (n, kept) in agreement.items()))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
