"""Coding: the stages walked over a batch of parsed sentences, one CODED_EVENTS row per event.

For each candidate: the gate says whether it is an event stated as fact, the classifier which CAMEO
root, the ranker which arguments are its source and target (in the article's context, see
`actors`). The full code below the root comes from the verb lexicon where it lists the lemma under
that root. Confidence is the gate's probability times the classifier's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from schemas import CODED_EVENTS
from transforms.coder.actors import article_countries, in_context
from transforms.coder.candidates import Argument, Candidate, sentence_candidates
from transforms.coder.features import argument_features, candidate_features
from transforms.coder.models import CoderModel
from transforms.events import Lexicon, _actor_columns, _Sentence
from transforms.events import parsed_sentences as sentences_of


@dataclass(frozen=True)
class SentenceRef:
    """Where a parsed sentence sits: doc_index, sentence_index, offsets and its article's country."""

    doc_index: int
    sentence_index: int
    start: int
    end: int
    country: str | None


def parsed_sentences(documents: pl.DataFrame, tokens: pl.DataFrame, entities: pl.DataFrame,
                     lexicon: Lexicon) -> Iterator[tuple[SentenceRef, _Sentence]]:
    """Each sentence the coder reads (transforms.events.parsed_sentences) with where it sits and its
    article's country (`actors.article_countries`; `documents` with article_id and field)."""
    countries = article_countries(documents, entities) if "article_id" in documents.columns else {}
    article_of = (dict(documents.select("doc_index", "article_id").iter_rows())
                  if "article_id" in documents.columns else {})
    for doc_index, sentence_index, start, end, sentence in sentences_of(documents, tokens, entities, lexicon):
        yield SentenceRef(doc_index, sentence_index, start, end, countries.get(article_of.get(doc_index))), sentence


def full_code(c: Candidate, root: str, codes: frozenset[str]) -> str:
    """The most specific CAMEO code of this root the verb lexicon gives the candidate's frame, else
    the root's own "not specified below" code (root + "0")."""
    s = c.sentence
    if c.trigger.pos == "VERB":
        coded = s.code(c.trigger)
        if coded is not None and coded[0][:2] == root:
            return coded[0]
    elif s.is_title:
        particle_rows = [code for particle, code in s.headline_frames(c.trigger, c.lemma)
                         if particle and code[:2] == root]
        if particle_rows:
            return particle_rows[0]
    bare = [code for particle, obj, prep, code in s.lexicon.verbs.get(c.lemma, [])
            if code[:2] == root and not particle and not obj]
    if bare:
        return bare[0]
    generic = root + "0"
    return generic if generic in codes else root


def _chosen(scored: list[tuple[float, Argument]], threshold: float,
            exclude: tuple[Argument, ...] = ()) -> list[Argument]:
    """The best-scoring argument over the threshold and the others of its relation over it
    ("China and Russia condemned": both)."""
    spans = {(a.actor.start, a.actor.end) for a in exclude}
    ranked = sorted(((p, a) for p, a in scored if (a.actor.start, a.actor.end) not in spans),
                    key=lambda pa: -pa[0])
    if not ranked or ranked[0][0] < threshold:
        return []
    best = ranked[0][1]
    return [a for p, a in ranked if p >= threshold and (a is best or a.relation == best.relation)]


def candidate_events(c: Candidate, model: CoderModel, codes: frozenset[str], country: str | None) -> list[dict]:
    """The events the models read in one candidate (none, or one per source x target)."""
    features = candidate_features(c)
    p_event = model.gate.positive(features)
    if p_event < model.gate_threshold:
        return []
    roots = model.classifier.probabilities(features)
    root = max(roots, key=roots.get)
    sources = _chosen([(model.source.positive(argument_features(c, a)), a) for a in c.arguments],
                      model.actor_threshold)
    targets = _chosen([(model.target.positive(argument_features(c, a)), a) for a in c.arguments],
                      model.actor_threshold, exclude=tuple(sources))
    if not sources and not targets:
        return []  # an event nobody did to anybody tells an analyst nothing
    code = full_code(c, root, codes)
    confidence = round(p_event * roots[root], 3)
    out = []
    for s in sources or [None]:
        for t in targets or [None]:
            source = in_context(s.actor if s else None, country)
            target = in_context(t.actor if t else None, country)
            out.append({"action_text": c.trigger.text, "action_start_char": c.trigger.start, "event_code": code,
                        "is_negated": False, "is_hypothetical": False, "confidence": confidence,
                        "gate_probability": p_event,
                        **_actor_columns("actor1", source), **_actor_columns("actor2", target)})
    return out


def learned_events(documents: pl.DataFrame, tokens: pl.DataFrame, entities: pl.DataFrame, lexicon: Lexicon,
                   model: CoderModel, codes: frozenset[str]) -> pl.DataFrame:
    """One row per event the learned coder reads in a sentence (doc_index, sentence_index,
    action_start_char, actor1/actor2 start): CODED_EVENTS. Arguments as in `coded_events`;
    `codes` are the codebook's CAMEO codes."""
    rows: dict[str, list] = {name: [] for name in CODED_EVENTS.names()}
    for ref, sentence in parsed_sentences(documents, tokens, entities, lexicon):
        for c in sentence_candidates(sentence, model.trigger_nouns):
            for event in candidate_events(c, model, codes, ref.country):
                event.update(doc_index=ref.doc_index, sentence_index=ref.sentence_index,
                             sentence_start_char=ref.start, sentence_end_char=ref.end)
                for name in rows:
                    rows[name].append(event.get(name))
    frame = pl.DataFrame(rows, schema=CODED_EVENTS)
    return frame.unique(
        ["doc_index", "action_start_char", "actor1_start_char", "actor1_code", "actor2_start_char", "actor2_code",
         "event_code"], keep="first", maintain_order=True)
