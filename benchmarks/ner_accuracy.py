"""Entity accuracy of newsflow's entity layer on WikiGold (PER/ORG/LOC), exact span and type.

    .venv/bin/python benchmarks/ner_accuracy.py [WIKIGOLD_CONLL]
    (default ../shared/data/ner-dev/wikigold.conll.txt)

Each WikiGold document is rebuilt as text (tokens joined by spaces, one sentence per line) with
gold character spans; the text goes through the same model call the pipeline makes
(`flows.pipeline.entity_model` + `transforms.nlp.entity_spans`). spaCy labels map to CoNLL types:
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


def main(argv: list[str]) -> None:
    from flows.pipeline import entity_model
    from flows.settings import Settings
    from transforms.nlp import entity_spans

    path = Path(argv[0]) if argv else DEFAULT_GOLD
    texts, gold, malformed = gold_documents(path)
    started = time.perf_counter()
    spans = entity_spans(entity_model(Settings().model), texts)
    seconds = time.perf_counter() - started
    predicted: list[set] = [set() for _ in texts]
    for row in spans.iter_rows(named=True):
        kind = SPACY_TO_CONLL.get(row["label"])
        if kind:
            predicted[row["doc_index"]].add((row["start_char"], row["end_char"], kind))
    counts = Counter(g[2] for gs in gold for g in gs)
    print(f"WikiGold: {len(texts)} documents, {sum(counts.values())} gold entities "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); {malformed} malformed tag(s) read as O")
    print(f"entity layer: {seconds:.1f} s")
    print(f"{'type':<14}{'precision':>10}{'recall':>10}{'f1':>8}{'gold':>7}{'pred':>7}")
    for label, types in [*((t, (t,)) for t in ("PER", "ORG", "LOC", "MISC")),
                         ("PER/ORG/LOC", MAIN_TYPES), ("all four", MAIN_TYPES + ("MISC",))]:
        s = scores(gold, predicted, types)
        print(f"{label:<14}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['gold']:>7}{s['predicted']:>7}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
