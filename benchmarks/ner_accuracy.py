"""Entity accuracy of newsflow's entity layer on WikiGold (PER/ORG/LOC), exact span and type.

    .venv/bin/python benchmarks/ner_accuracy.py [WIKIGOLD_CONLL]
    (default ../shared/data/ner-dev/wikigold.conll.txt)

Each WikiGold document is rebuilt as text (tokens joined by spaces, one sentence per line) with
gold character spans; the text goes through the pipeline's entity layer (`flows.coding.analysed`: the model, the
actor-dictionary entity ruler, dictionary labels and in-document name linking) and, as the
baseline measured in the same run, through the bare model (`spacy.load`, its own labels). spaCy labels map to CoNLL types:
PERSON -> PER, ORG -> ORG, GPE/LOC/FAC -> LOC, the other named labels -> MISC. A prediction counts
only when its span and type both equal a gold entity's. Prints precision, recall and F1 per type
and micro-averaged over PER/ORG/LOC (the figure tracked in the issues) and over all four types.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT.parent / "shared" / "data" / "ner-dev" / "wikigold.conll.txt"
SPACY_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
                  "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC"}
MAIN_TYPES = ("PER", "ORG", "LOC")


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


def scores(gold: list[set], predicted: list[set], types: tuple[str, ...]) -> dict[str, float]:
    tp = sum(len({g for g in gs if g[2] in types} & {p for p in ps if p[2] in types})
             for gs, ps in zip(gold, predicted))
    n_gold = sum(1 for gs in gold for g in gs if g[2] in types)
    n_pred = sum(1 for ps in predicted for p in ps if p[2] in types)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "predicted": n_pred}


def _predicted(rows, n: int) -> list[set]:
    predicted: list[set] = [set() for _ in range(n)]
    for doc_index, start, end, label in rows:
        kind = SPACY_TO_CONLL.get(label)
        if kind:
            predicted[doc_index].add((start, end, kind))
    return predicted


def main(argv: list[str]) -> None:
    import polars as pl
    import spacy

    from flows.coding import analysed, resources
    from config.settings import Settings

    path = Path(argv[0]) if argv else DEFAULT_GOLD
    texts, gold, malformed = gold_documents(path)
    counts = Counter(g[2] for gs in gold for g in gs)
    print(f"WikiGold: {len(texts)} documents, {sum(counts.values())} gold entities "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); {malformed} malformed tag(s) read as O")

    started = time.perf_counter()
    bare = spacy.load(Settings().model)
    model_rows = [(i, e.start_char, e.end_char, e.label_) for i, doc in enumerate(bare.pipe(texts)) for e in doc.ents]
    model_seconds = time.perf_counter() - started

    started = time.perf_counter()
    documents = pl.DataFrame({"doc_index": list(range(len(texts))), "article_id": [str(i) for i in range(len(texts))],
                              "field": ["text"] * len(texts), "content": texts},
                             schema={"doc_index": pl.Int64, "article_id": pl.String, "field": pl.String,
                                     "content": pl.String})
    mentions = analysed(documents, resources(Settings().model)).mentions
    layer_rows = [(int(a), s, e, label) for a, s, e, label in
                  mentions.select("article_id", "start_char", "end_char", "label").iter_rows()]
    layer_seconds = time.perf_counter() - started

    for title, rows, seconds in [("bare model (baseline)", model_rows, model_seconds),
                                 ("newsflow entity layer", layer_rows, layer_seconds)]:
        predicted = _predicted(rows, len(texts))
        print(f"\n{title}: {seconds:.1f} s")
        print(f"{'type':<14}{'precision':>10}{'recall':>10}{'f1':>8}{'gold':>7}{'pred':>7}")
        for label, types in [*((t, (t,)) for t in ("PER", "ORG", "LOC", "MISC")),
                             ("PER/ORG/LOC", MAIN_TYPES), ("all four", MAIN_TYPES + ("MISC",))]:
            s = scores(gold, predicted, types)
            print(f"{label:<14}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['gold']:>7}"
                  f"{s['predicted']:>7}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
