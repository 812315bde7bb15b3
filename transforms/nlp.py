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


def parsed_documents(nlp, texts: Sequence[str], batch_size: int = 32, n_process: int = 1,
                     with_tokens: bool = True) -> Parsed:
    """Entity spans and (when `with_tokens`) one row per token with its sentence, lemma, POS
    and dependency head, for each of `texts` (doc_index = position in `texts`)."""
    spans: dict[str, list] = {name: [] for name in NER_SPANS.names()}
    tokens: dict[str, list] = {name: [] for name in TOKENS.names()}
    for doc_index, doc in enumerate(nlp.pipe(texts, batch_size=batch_size, n_process=n_process)):
        sentence_of = {}
        for i, sent in enumerate(doc.sents):
            sentence_of[sent.start] = i
            if with_tokens:
                for token in sent:
                    tokens["doc_index"].append(doc_index)
                    tokens["sentence_index"].append(i)
                    tokens["token_index"].append(token.i)
                    tokens["start_char"].append(token.idx)
                    tokens["end_char"].append(token.idx + len(token.text))
                    tokens["text"].append(token.text)
                    tokens["lemma"].append(token.lemma_)
                    tokens["pos"].append(token.pos_)
                    tokens["tag"].append(token.tag_)
                    tokens["dep"].append(token.dep_)
                    tokens["head_index"].append(token.head.i)
        for ent in doc.ents:
            spans["doc_index"].append(doc_index)
            spans["text"].append(ent.text)
            spans["label"].append(ent.label_)
            spans["start_char"].append(ent.start_char)
            spans["end_char"].append(ent.end_char)
            spans["sentence_index"].append(sentence_of[ent.sent.start])
    return Parsed(pl.DataFrame(spans, schema=NER_SPANS), pl.DataFrame(tokens, schema=TOKENS))


def combined_parse(chunks: Sequence[tuple[int, Parsed]]) -> Parsed:
    """One Parsed for consecutive chunks of texts parsed apart, given as (doc_index of the chunk's
    first text, its Parsed): rows keep their order, doc_index counts over all the texts."""
    spans = [parsed.spans.with_columns(pl.col("doc_index") + first) for first, parsed in chunks]
    tokens = [parsed.tokens.with_columns(pl.col("doc_index") + first) for first, parsed in chunks]
    return Parsed(pl.concat([pl.DataFrame(schema=NER_SPANS), *spans]),
                  pl.concat([pl.DataFrame(schema=TOKENS), *tokens]))


def entity_spans(nlp, texts: Sequence[str], batch_size: int = 32, n_process: int = 1) -> pl.DataFrame:
    """One row per entity span (doc_index, start_char) the model finds in each of `texts`."""
    return parsed_documents(nlp, texts, batch_size, n_process, with_tokens=False).spans
