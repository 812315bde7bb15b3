"""Texts longer than the model takes at once are parsed in pieces, with offsets still exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from flows.coding import resources
from transforms.nlp import parsed_documents, text_pieces


@given(text=st.text(alphabet=st.sampled_from("ab .\n"), max_size=400), limit=st.integers(1, 60))
@settings(max_examples=300, deadline=None)
def test_pieces_cover_the_text_in_order_and_fit_the_limit(text, limit):
    pieces = text_pieces(text, limit)
    assert "".join(piece for _, piece in pieces) == text
    assert [offset for offset, _ in pieces] == [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]
    assert all(len(piece) <= limit for _, piece in pieces)


def test_a_piece_ends_at_a_paragraph_rather_than_mid_word():
    text = "First paragraph here.\n\nSecond one is a little longer than that."
    assert text_pieces(text, 40) == [(0, "First paragraph here.\n\n"), (23, text[23:])]


@pytest.fixture(scope="module")
def nlp():
    return resources(Settings().model).nlp


PARAGRAPH = ("President Emmanuel Macron of France met Chancellor Olaf Scholz in Berlin on Tuesday. "
             "The two leaders discussed trade with China and the war in Ukraine.\n\n")


def test_a_text_parsed_in_pieces_keeps_exact_offsets_and_numbering(nlp):
    text = PARAGRAPH * 12
    whole = parsed_documents(nlp, ["Short title", text])
    pieces = parsed_documents(nlp, ["Short title", text], long_chars=500, piece_chars=500)
    tokens = pieces.tokens.filter(doc_index=1)
    assert all(text[start:end] == word for start, end, word in tokens.select("start_char", "end_char", "text").rows())
    assert tokens["token_index"].to_list() == list(range(tokens.height))
    assert tokens["head_index"].is_between(0, tokens.height - 1).all()
    assert tokens["sentence_index"].diff().drop_nulls().is_between(0, 1).all()
    spans = pieces.spans.filter(doc_index=1)
    assert all(text[start:end] == name for start, end, name in spans.select("start_char", "end_char", "text").rows())
    # Paragraph-sized pieces see the same sentences as the whole text, so the model finds the same entities.
    assert pieces.spans.equals(whole.spans)
    assert pieces.tokens.select("doc_index", "token_index", "start_char", "sentence_index").equals(
        whole.tokens.select("doc_index", "token_index", "start_char", "sentence_index"))


def test_a_text_over_the_models_limit_is_parsed(nlp, monkeypatch):
    # The model's limit lowered (1,000,000 by default, error E088 above it) so that the test parses little.
    monkeypatch.setattr(nlp, "max_length", 2_000)
    assert parsed_documents(nlp, ["x " * 1_500], with_tokens=False, long_chars=10**9, piece_chars=10**9).spans.height == 0
    text = PARAGRAPH * 30
    parsed = parsed_documents(nlp, [text], with_tokens=False)
    assert parsed.spans["end_char"].max() > nlp.max_length
    last = parsed.spans.row(-1, named=True)
    assert text[last["start_char"]:last["end_char"]] == last["text"]
