"""The WikiGold reader of benchmarks/ner_accuracy.py rebuilds texts and gold spans exactly."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("ner_accuracy", ROOT / "benchmarks" / "ner_accuracy.py")
ner_accuracy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ner_accuracy)

CONLL = """-DOCSTART- O

The I-ORG
Mad I-ORG
Capsule I-ORG
played O
in O
Tokyo I-LOC
. O

John I-PER
met O
Mary I-PER
B-PER B-PER
with 0

-DOCSTART- O

Paris I-LOC
"""


def test_gold_documents_rebuild_text_and_spans(tmp_path):
    path = tmp_path / "gold.conll"
    path.write_text(CONLL)
    texts, golds, malformed = ner_accuracy.gold_documents(path)
    assert texts == ["The Mad Capsule played in Tokyo .\nJohn met Mary B-PER with", "Paris"]
    assert malformed == 1
    spans = {(texts[0][s:e], t) for s, e, t in golds[0]}
    assert spans == {("The Mad Capsule", "ORG"), ("Tokyo", "LOC"), ("John", "PER"), ("Mary", "PER"),
                     ("B-PER", "PER")}
    assert {(texts[1][s:e], t) for s, e, t in golds[1]} == {("Paris", "LOC")}


def test_scores_need_span_and_type():
    gold = [{(0, 5, "PER"), (10, 15, "LOC")}]
    predicted = [{(0, 5, "PER"), (10, 15, "ORG")}]
    s = ner_accuracy.scores(gold, predicted, ("PER", "ORG", "LOC"))
    assert (s["precision"], s["recall"]) == (0.5, 0.5)


def test_split_is_by_document_and_fixed():
    texts = [f"Document number {i} about Paris ." for i in range(200)]
    splits = [ner_accuracy.split_of(t) for t in texts]
    assert splits == [ner_accuracy.split_of(t) for t in texts]
    assert set(splits) == {"train", "dev", "test"}
    assert 0.1 < splits.count("test") / len(splits) < 0.3


def test_split_documents_keeps_gold_with_its_text(tmp_path):
    path = tmp_path / "gold.conll"
    path.write_text(CONLL)
    texts, golds, _ = ner_accuracy.gold_documents(path)
    for split in ("train", "dev", "test"):
        kept_texts, kept_golds = ner_accuracy.split_documents(path, {split})
        assert [golds[texts.index(t)] for t in kept_texts] == kept_golds
        assert all(ner_accuracy.split_of(t) == split for t in kept_texts)


def test_confusion_and_wrong_spans_count_span_disagreements():
    texts = ["Mars and Paris"]
    gold = [{(0, 4, "LOC"), (9, 14, "LOC")}]
    predicted = [{(0, 4, "PER"), (9, 14, "LOC")}]
    counts = ner_accuracy.confusion(gold, predicted)
    assert (counts[("LOC", "PER")], counts[("LOC", "LOC")]) == (1, 1)
    assert dict(ner_accuracy.wrong_spans(texts, gold, predicted)) == {("Mars", "LOC", "PER"): 1}
