"""The one place the language model is called: texts in, entity span rows and token rows out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from schemas import NER_SPANS, TOKENS


@dataclass(frozen=True)
class Parsed:
    """What the model found in a batch of texts: entity spans and the dependency-parsed tokens."""

    spans: pl.DataFrame  # NER_SPANS: one row per (doc_index, start_char) entity span
    tokens: pl.DataFrame  # TOKENS: one row per (doc_index, token_index)


# Texts longer than LONG_TEXT_CHARS are parsed in pieces of at most PIECE_CHARS characters, one
# piece at a time. spaCy refuses texts over nlp.max_length (1,000,000: error E088), and its parser
# needs memory in proportion to the characters of a batch: a 1.2M-character text in batches of 32
# pieces of 100,000 peaked at 3.6 GB, one piece of 20,000 at a time at 0.5 GB. Pieces end at
# paragraph, line, sentence or word ends; news articles are far shorter and parse whole, as before.
LONG_TEXT_CHARS = 100_000
PIECE_CHARS = 20_000
_CUTS = ("\n\n", "\n", ". ", " ")


def text_pieces(text: str, limit: int = PIECE_CHARS) -> list[tuple[int, str]]:
    """(offset in `text`, piece) for consecutive pieces of at most `limit` characters that
    together are `text`: each cut after the last paragraph, line, sentence or word end that fits
    in the second half of the piece, else at `limit`."""
    pieces, start = [], 0
    while len(text) - start > limit:
        end = start + limit
        for cut in _CUTS:
            found = text.rfind(cut, start + limit // 2, end)
            if found >= 0:
                end = found + len(cut)
                break
        pieces.append((start, text[start:end]))
        start = end
    pieces.append((start, text[start:]))
    return pieces


def parsed_documents(nlp, texts: Sequence[str], batch_size: int = 32, n_process: int = 1,
                     with_tokens: bool = True, long_chars: int = LONG_TEXT_CHARS,
                     piece_chars: int = PIECE_CHARS) -> Parsed:
    """Entity spans and (when `with_tokens`) one row per token with its sentence, lemma, POS
    and dependency head, for each of `texts` (doc_index = position in `texts`). A text longer
    than `long_chars` (or the model's max_length) is parsed in pieces of `piece_chars`, one at a
    time (`text_pieces`); offsets, token and sentence numbers still count from the start of the
    whole text."""
    long_chars = min(long_chars, nlp.max_length)
    piece_chars = min(piece_chars, long_chars)
    spans, tokens = _Rows(NER_SPANS), _Rows(TOKENS)
    short = [i for i, text in enumerate(texts) if len(text) <= long_chars]
    for doc_index, doc in zip(short, nlp.pipe((texts[i] for i in short), batch_size=batch_size, n_process=n_process)):
        _add_rows(doc, doc_index, 0, 0, 0, spans.columns, tokens.columns, with_tokens)
        spans.flush_if_full()
        tokens.flush_if_full()
    for doc_index, text in enumerate(texts):
        if len(text) <= long_chars:
            continue
        token_base = sentence_base = 0
        pieces = text_pieces(text, piece_chars)
        for (char_base, _), doc in zip(pieces, nlp.pipe((piece for _, piece in pieces), batch_size=1)):
            sentence_base += _add_rows(doc, doc_index, char_base, token_base, sentence_base, spans.columns,
                                       tokens.columns, with_tokens)
            token_base += len(doc)
            spans.flush_if_full()
            tokens.flush_if_full()
    return Parsed(spans.frame().sort("doc_index", maintain_order=True),
                  tokens.frame().sort("doc_index", maintain_order=True))


class _Rows:
    """Rows of `schema` collected as Python lists, made a DataFrame every FLUSH_ROWS rows: a list
    of Python objects costs ~540 bytes a token (10 columns), its frame ~50, so a chunk's parse
    holds its tokens at the frame's size, not the lists' (1,000 articles: ~190 MiB of lists)."""

    FLUSH_ROWS = 20_000

    def __init__(self, schema: pl.Schema):
        self.schema = schema
        self.columns: dict[str, list] = {name: [] for name in schema.names()}
        self._parts: list[pl.DataFrame] = []

    def flush_if_full(self) -> None:
        if len(next(iter(self.columns.values()))) >= self.FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._parts.append(pl.DataFrame(self.columns, schema=self.schema))
        for values in self.columns.values():
            values.clear()

    def frame(self) -> pl.DataFrame:
        self._flush()
        return pl.concat(self._parts, rechunk=True)


def _add_rows(doc, doc_index: int, char_base: int, token_base: int, sentence_base: int,
              spans: dict[str, list], tokens: dict[str, list], with_tokens: bool) -> int:
    """Append the rows of `doc` (a text, or a piece of one starting at `char_base` with
    `token_base` tokens and `sentence_base` sentences before it); returns its sentence count."""
    sentence_of = {}
    for i, sent in enumerate(doc.sents):
        sentence_of[sent.start] = sentence_base + i
        if with_tokens:
            for token in sent:
                tokens["doc_index"].append(doc_index)
                tokens["sentence_index"].append(sentence_base + i)
                tokens["token_index"].append(token_base + token.i)
                tokens["start_char"].append(char_base + token.idx)
                tokens["end_char"].append(char_base + token.idx + len(token.text))
                tokens["text"].append(token.text)
                tokens["lemma"].append(token.lemma_)
                tokens["pos"].append(token.pos_)
                tokens["tag"].append(token.tag_)
                tokens["dep"].append(token.dep_)
                tokens["head_index"].append(token_base + token.head.i)
    for ent in doc.ents:
        spans["doc_index"].append(doc_index)
        spans["text"].append(ent.text)
        spans["label"].append(ent.label_)
        spans["start_char"].append(char_base + ent.start_char)
        spans["end_char"].append(char_base + ent.end_char)
        spans["sentence_index"].append(sentence_of[ent.sent.start])
    return len(sentence_of)


def entity_spans(nlp, texts: Sequence[str], batch_size: int = 32, n_process: int = 1) -> pl.DataFrame:
    """One row per entity span (doc_index, start_char) the model finds in each of `texts`."""
    return parsed_documents(nlp, texts, batch_size, n_process, with_tokens=False).spans
