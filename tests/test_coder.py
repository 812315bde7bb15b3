"""The learned event coder: its stages on literal parses with hand-set models, the shipped model on
real sentences, the labelled corpus's checks and the training command's scoring."""

from __future__ import annotations

import importlib.util
import json
import sys

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import CODED_EVENTS
from tests.conftest import ROOT
from tests.test_events import QATAR_EXPELLED_HAMAS, _lexicon, _parsed, _word
from transforms.coder.actors import article_countries, in_context
from transforms.coder.candidates import sentence_candidates
from transforms.coder.coding import learned_events, parsed_sentences
from transforms.coder.features import argument_features, candidate_features
from transforms.coder.models import CoderModel, LinearModel, coder_model
from transforms.events import _Actor


def _load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


labels = _load("labels_tool", ROOT / "benchmarks" / "labels.py")
train_coder = _load("train_coder_tool", ROOT / "training" / "train_coder.py")

CODES = frozenset({"170", "173", "174", "190"})


def _binary(weights: dict[str, float], intercept: float) -> LinearModel:
    return LinearModel(("0", "1"), {k: (v,) for k, v in weights.items()}, (intercept,))


def _model(gate: dict[str, float], gate_intercept: float = -5.0) -> CoderModel:
    """A hand-set coder: the gate opens on the given features; the root is 17; the subject is the
    source and the object the target."""
    classifier = LinearModel(("17", "19"), {"lem=expel": (2.0, -2.0)}, (0.0, 0.0))
    source = _binary({"rel=subj": 10.0}, -5.0)
    target = _binary({"rel=dobj": 10.0}, -5.0)
    return CoderModel(_binary(gate, gate_intercept), classifier, source, target, frozenset(), 0.5, 0.5, {}, 0.5)


# -- models -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("features", "expected"),
    [
        pytest.param([], 0.5, id="intercept-only"),
        pytest.param(["a"], 1 / (1 + pytest.importorskip("math").exp(-2.0)), id="one-feature"),
        pytest.param(["a", "unknown"], 1 / (1 + pytest.importorskip("math").exp(-2.0)), id="unknown-ignored"),
    ],
)
def test_a_binary_model_is_a_sigmoid_of_its_weights(features, expected):
    assert _binary({"a": 2.0}, 0.0).positive(features) == pytest.approx(expected)


def test_a_multinomial_model_sums_to_one_and_ranks_by_weight():
    model = LinearModel(("a", "b", "c"), {"x": (1.0, 0.0, -1.0)}, (0.0, 0.0, 0.0))
    p = model.probabilities(["x"])
    assert sum(p.values()) == pytest.approx(1.0) and p["a"] > p["b"] > p["c"]


def test_a_saved_model_reads_back_equal_and_byte_identical(tmp_path):
    model = _model({"lem=expel": 9.0})
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    model.save(first)
    model.save(second)
    assert first.read_bytes() == second.read_bytes()
    assert coder_model.__wrapped__(first) == model


def test_the_shipped_model_has_its_four_models_and_its_card():
    model = coder_model()
    assert set(model.classifier.classes) <= {f"{r:02d}" for r in range(2, 21)}
    assert model.gate.classes == ("0", "1") and model.source.classes == ("0", "1")
    assert 0 < model.gate_threshold < 1 and 0 < model.view_threshold <= 1
    assert model.card["train_texts"] > 0 and "test" in model.card and model.trigger_nouns


# -- candidates and features ---------------------------------------------------------------------

def test_a_verb_is_a_candidate_with_its_subject_and_object():
    documents, tokens, entities = _parsed(QATAR_EXPELLED_HAMAS)
    [(_, sentence)] = list(parsed_sentences(documents, tokens, entities, _lexicon()))
    [candidate] = sentence_candidates(sentence, frozenset())
    assert (candidate.trigger.text, candidate.lemma) == ("expelled", "expel")
    assert [(a.actor.text, a.relation) for a in candidate.arguments] == [("Qatar", "subj"), ("Hamas", "dobj")]
    features = candidate_features(candidate)
    assert {"lem=expel", "lex_root=17", "subj=state", "obj=agent:REB"} <= set(features)
    assert "rel=subj" in argument_features(candidate, candidate.arguments[0])


def test_an_unknown_noun_subject_is_an_uncoded_mention():
    words = [_word("Protesters", "protester", "NOUN", "NNS", "nsubj", 1),
             _word("attacked", "attack", "VERB", "VBD", "ROOT", 1),
             _word("Qatar", "Qatar", "PROPN", "NNP", "dobj", 1)]
    documents, tokens, entities = _parsed(words)
    [(_, sentence)] = list(parsed_sentences(documents, tokens, entities, _lexicon()))
    [candidate] = sentence_candidates(sentence, frozenset())
    subject = candidate.arguments[0]
    assert (subject.actor.text, subject.actor.code, subject.relation) == ("Protesters", None, "subj")


# -- coding --------------------------------------------------------------------------------------

def test_an_open_gate_codes_the_event_with_ranked_actors():
    documents, tokens, entities = _parsed(QATAR_EXPELLED_HAMAS)
    coded = learned_events(documents, tokens, entities, _lexicon(), _model({"lem=expel": 9.0}), CODES)
    gate = 1 / (1 + pytest.importorskip("math").exp(-4.0))
    root = _model({}).classifier.probabilities(["lem=expel"])["17"]
    expected = pl.DataFrame(
        [(0, 0, 0, 22, "Qatar", 0, 5, "QAT", "QAT", "e-qatar", "Qatar", "Hamas", 15, 20, "PSEREBHMS", "PSE",
          "e-hamas", "Hamas", "expelled", 6, "174", False, False, round(gate * root, 3))],
        schema=CODED_EVENTS, orient="row")
    assert_frame_equal(coded, expected)


def test_a_closed_gate_codes_nothing_and_keeps_the_schema():
    documents, tokens, entities = _parsed(QATAR_EXPELLED_HAMAS)
    coded = learned_events(documents, tokens, entities, _lexicon(), _model({}), CODES)
    assert coded.is_empty() and coded.schema == CODED_EVENTS


@pytest.mark.parametrize(
    ("actor", "country", "expected"),
    [
        pytest.param(_Actor("police", 0, 6, "COP", None, None, None), "KEN", ("KENCOP", "KEN"), id="agent-takes-country"),
        pytest.param(_Actor("police", 0, 6, "COP", None, None, None), None, ("COP", None), id="no-article-country"),
        pytest.param(_Actor("Qatar", 0, 5, "QAT", "QAT", "e", "Qatar"), "KEN", ("QAT", "QAT"), id="own-country-kept"),
        pytest.param(_Actor("UN", 0, 2, "IGO", None, None, None), "KEN", ("IGO", None), id="igo-kept"),
        pytest.param(_Actor("men", 0, 3, None, None, None, None), "KEN", (None, None), id="uncoded-kept"),
    ],
)
def test_an_institution_takes_the_articles_country(actor, country, expected):
    found = in_context(actor, country)
    assert (found.code, found.country_code) == expected


def test_the_articles_country_is_the_titles_else_the_dominant_one():
    documents = pl.DataFrame({"doc_index": [0, 1, 2, 3], "article_id": ["a", "a", "b", "c"],
                              "field": ["title", "text", "text", "text"]})
    entities = pl.DataFrame({"doc_index": [0, 1, 1, 2, 2, 2, 3, 3],
                             "country_code": ["KEN", "USA", "USA", "IRQ", "IRQ", "USA", "FRA", "DEU"]})
    assert article_countries(documents, entities) == {"a": "KEN", "b": "IRQ"}


# -- the shipped model on real sentences ----------------------------------------------------------

REAL = ["Qatar expelled Hamas leaders from Doha.",
        "Clarke denied he had threatened to resign.",
        "A court in Cairo sentenced the activist to five years in prison.",
        "Czech imports could invade Poland.",
        "Israeli troops killed three Palestinian militants in Jenin.",
        "The weather was warm and sunny all week."]


def test_the_shipped_coder_reads_real_sentences():
    from flows.coding import code_sentences

    coded = code_sentences(REAL)
    found = {(r["doc_index"], r["event_code"][:2], r["actor1_code"], r["actor2_code"])
             for r in coded.iter_rows(named=True)}
    assert (0, "17", "QAT", "PSEREBHMS") in found  # an expulsion between two known actors
    assert any(d == 2 and root == "17" and a1 == "EGYJUD" for d, root, a1, _ in found)  # a court's sentence
    assert (4, "19", "ISRMIL", "PSEUAF") in found  # force by an armed actor
    # a denial, a speculation in a metaphor and a description are not events
    assert not {d for d, *_ in found} & {1, 3, 5}
    assert set(coded["is_negated"]) | set(coded["is_hypothetical"]) == {False}


# -- the labelled corpus and the training command -------------------------------------------------

SENTENCES = {"t1": [{"id": "S1", "field": "text", "start": 0, "end": 37,
                     "text": "United police arrested it in a raid."}]}


def _label_file(tmp_path, *events: dict):
    path = tmp_path / "t1__reader-1.jsonl"
    lines = [{"kind": "article", "text_id": "t1", "reader": "reader-1", "labelled_on": "2026-12-07"}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines + list(events)), encoding="utf-8")
    return path


EVENT = {"kind": "event", "s": "S1", "trigger": "arrested", "code": "173", "actor1": "police",
         "actor1_code": "COP", "actor2": "it", "actor2_code": "", "negated": False, "hypothetical": False}


def test_a_label_file_gets_its_offsets_and_whole_words(tmp_path):
    lines, problems = labels.checked(_label_file(tmp_path, EVENT), SENTENCES, CODES)
    assert problems == []
    row = lines[1]
    assert (row["trigger_start_char"], row["actor1_start_char"], row["actor2_start_char"]) == (14, 7, 23)
    assert (row["field"], row["sentence_start_char"], row["sentence_end_char"]) == ("text", 0, 37)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"actor1": "policemen"}, "is not in sentence S1", id="text-not-in-sentence"),
        pytest.param({"code": "999"}, "is not a CAMEO code", id="unknown-code"),
        pytest.param({"s": "S9"}, "no sentence", id="unknown-sentence"),
        pytest.param({"actor1_code": "kencop"}, "blocks of three capitals", id="bad-actor-code"),
    ],
)
def test_a_label_file_with_a_mistake_is_refused(tmp_path, change, message):
    _, problems = labels.checked(_label_file(tmp_path, {**EVENT, **change}), SENTENCES, CODES)
    assert len(problems) == 1 and message in problems[0]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(["x", "y", "x", "y"], ["x", "y", "x", "y"], 1.0, id="agree"),
        pytest.param(["x", "x", "y", "y"], ["x", "y", "x", "y"], 0.0, id="chance"),
        pytest.param(["x", "x", "x", "y"], ["x", "x", "y", "y"], 0.5, id="partly"),
    ],
)
def test_cohen_kappa(a, b, expected):
    assert labels.cohen_kappa(a, b) == pytest.approx(expected)


def test_the_split_is_a_fixed_function_of_the_text_id():
    ids = [f"voa-{n}" for n in range(400)]
    splits = [labels.split_of(i) for i in ids]
    assert splits == [labels.split_of(i) for i in ids] and 0.1 < splits.count("test") / 400 < 0.3


def test_scoring_counts_right_roots_actors_and_misses():
    events = pl.DataFrame([
        {"text_id": "t", "field": "text", "trigger_start_char": 10, "trigger_text": "arrested", "event_code": "173",
         "actor1_start_char": 0, "actor1_text": "Police", "actor2_start_char": 19, "actor2_text": "two men",
         "is_negated": False, "is_hypothetical": False},
        {"text_id": "t", "field": "text", "trigger_start_char": 50, "trigger_text": "met", "event_code": "040",
         "actor1_start_char": 40, "actor1_text": "Biden", "actor2_start_char": None, "actor2_text": None,
         "is_negated": False, "is_hypothetical": False},
    ])

    def emitted(action: int, code: str, a1: tuple | None, a2: tuple | None) -> tuple:
        return ("t", "text", {"action_start_char": action, "event_code": code,
                              "actor1_start_char": a1 and a1[0], "actor1_end_char": a1 and a1[1],
                              "actor2_start_char": a2 and a2[0], "actor2_end_char": a2 and a2[1]})

    rows = [emitted(10, "173", (0, 6), (23, 26)),  # fully right ("men" inside "two men")
            emitted(50, "111", (40, 45), None),  # right trigger, wrong root
            emitted(90, "190", None, None)]  # no labelled event there
    result = train_coder.scored(rows, {"t"}, events)
    assert (result.emitted, result.right_root, result.fully_right, result.not_event) == (3, 1, 1, 1)
    assert (result.labelled, result.found, result.found_fully) == (2, 1, 1)


# -- office holders' codes at the article's date --------------------------------------------------

PERIODS = pl.DataFrame(
    {"canonical": ["Barack Obama", "Barack Obama", "Boris Johnson"], "code": ["USAELI", "USAGOV", "GBRGOV"],
     "start_date": [None, "2009-01-20", "2019-07-24"], "end_date": ["2009-01-20", "2017-01-20", "2022-09-06"]},
).with_columns(pl.col("start_date", "end_date").str.to_date())


@pytest.mark.parametrize(
    ("published", "name", "code", "expected"),
    [
        pytest.param("2012-05-01", "Barack Obama", "USAELI", "USAGOV", id="in-office"),
        pytest.param("2005-05-01", "Barack Obama", "USAGOV", "USAELI", id="before-office"),
        pytest.param("2019-07-24", "Boris Johnson", "GBRELI", "GBRGOV", id="first-day-in-office"),
        pytest.param("2023-01-01", "Boris Johnson", "GBRELI", "GBRELI", id="no-period-keeps-the-code"),
        pytest.param(None, "Barack Obama", "USAGOV", "USAGOV", id="no-date-keeps-the-code"),
        pytest.param("2012-05-01", "Somebody Else", "FRAGOV", "FRAGOV", id="not-an-office-holder"),
    ],
)
def test_an_office_holder_is_coded_as_at_the_articles_date(published, name, code, expected):
    from datetime import datetime, timezone

    at = None if published is None else datetime.fromisoformat(published).replace(hour=12, tzinfo=timezone.utc)
    mentions = pl.LazyFrame({"mention_id": ["m"], "published_at": [at], "actor1_name": [name], "actor1_code": [code],
                             "actor2_name": [None], "actor2_code": [None]},
                            schema={"mention_id": pl.String, "published_at": pl.Datetime("us", "UTC"),
                                    "actor1_name": pl.String, "actor1_code": pl.String, "actor2_name": pl.String,
                                    "actor2_code": pl.String})
    from transforms.coder.actors import dated_actor_codes

    found = dated_actor_codes(mentions, PERIODS.lazy()).collect()
    assert_frame_equal(found, mentions.collect().with_columns(actor1_code=pl.lit(expected)))


def test_the_shipped_periods_hold_office_holders_with_dates():
    from lexicons.loaders import actor_periods

    periods = actor_periods()
    obama = periods.filter(pl.col("canonical") == "Barack Obama")
    assert "USAGOV" in obama["code"].to_list() and obama["start_date"].dtype == pl.Date
