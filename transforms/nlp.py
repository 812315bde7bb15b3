"""The one place the language model is called: texts in, entity span rows out."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from schemas import NER_SPANS

# Only the components entity mentions need: `ner` and the statistical sentence splitter `senter`
# (in place of the much slower dependency parser). Both carry their own tok2vec.
ENTITY_COMPONENTS = ("senter", "ner")


def entity_spans(nlp, texts: Sequence[str], batch_size: int = 32, n_process: int = 1) -> pl.DataFrame:
    """One row per entity span (doc_index, start_char) the model finds in each of `texts`."""
    rows: dict[str, list] = {name: [] for name in NER_SPANS.names()}
    for doc_index, doc in enumerate(nlp.pipe(texts, batch_size=batch_size, n_process=n_process)):
        sentence_of = {sent.start: i for i, sent in enumerate(doc.sents)}
        for ent in doc.ents:
            rows["doc_index"].append(doc_index)
            rows["text"].append(ent.text)
            rows["label"].append(ent.label_)
            rows["start_char"].append(ent.start_char)
            rows["end_char"].append(ent.end_char)
            rows["sentence_index"].append(sentence_of[ent.sent.start])
    return pl.DataFrame(rows, schema=NER_SPANS)
