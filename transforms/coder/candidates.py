"""Candidates: every word of a sentence that may name an event, with the mentions that may be its actors.

A candidate is a verb (or a noun the models learned is often an event, "protest", "airstrike", or a
headline word that is a form of a lexicon verb) together with its arguments: the mentions the parse
links to it (subject, passive subject, agent, object, prepositional objects, the subject of the verb
it depends on) and every other named actor of the sentence. Nothing is decided here: the models do.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.events import PASSIVE_SUBJECT_DEPS, SUBJECT_DEPS, _Actor, _Sentence, _Token, _verb_lemma

ENTITY_LABELS = ("PERSON", "ORG", "GPE", "NORP")


@dataclass(frozen=True)
class Argument:
    """A mention that may be an actor of the candidate, and how the parse links it (`relation`)."""

    actor: _Actor
    relation: str  # subj, subj_inherited, agent, pass_subj, dobj, prep:<word>, xcomp_obj, ccomp_subj, ...
    token: int  # the token index of the mention's head word


@dataclass(frozen=True)
class Candidate:
    """A trigger word of a sentence with its arguments."""

    sentence: _Sentence
    trigger: _Token
    lemma: str  # the verb lemma (a headline word's lexicon verb)
    arguments: tuple[Argument, ...]

    @property
    def is_passive(self) -> bool:
        return bool(self.sentence.kids(self.trigger, *PASSIVE_SUBJECT_DEPS))


def _phrase(s: _Sentence, token: _Token) -> _Actor | None:
    """A noun phrase the dictionaries do not know ("environment groups", "one man", "they") as an
    uncoded mention, so that the ranker can still choose it; never a date, unit or abstract noun."""
    if token.pos not in ("NOUN", "PROPN", "PRON") or not s._may_be_actor(token):
        return None
    if token.pos == "PRON" and token.lemma.lower() not in s.rules.anaphors | s.rules.person_pronouns | {"we", "i", "you"}:
        return None
    left = min([token.i] + [m.i for m in s.kids(token, "compound", "amod", "nummod")])
    start, end = s._span(left, token.i)
    return _Actor(s.content[start:end], start, end, None, None, None, None, from_pronoun=token.pos == "PRON")


def _linked(s: _Sentence, token: _Token, relation: str) -> list[Argument]:
    found = [Argument(a, relation, token.i) for a in s.actors(token, as_subject=relation.startswith("subj"))]
    if not found and (phrase := _phrase(s, token)) is not None:
        found = [Argument(phrase, relation, token.i)]
    return found


def _verb_arguments(s: _Sentence, verb: _Token) -> list[Argument]:
    found: list[Argument] = []
    if s.kids(verb, *PASSIVE_SUBJECT_DEPS):
        for subj in s.kids(verb, *PASSIVE_SUBJECT_DEPS):
            found += _linked(s, subj, "pass_subj")
        for agent in s.kids(verb, "agent"):
            for o in s.kids(agent, "pobj"):
                found += _linked(s, o, "agent")
    else:
        subjects, inherited = s.subjects(verb)
        found += [Argument(a, "subj_inherited" if inherited else "subj", verb.i) for a in subjects]
        if not subjects:
            direct = s.kids(verb, *SUBJECT_DEPS)
            for subj in direct:
                found += _linked(s, subj, "subj")
            head, depth = verb, 0
            while not direct and depth < 3 and head.dep in ("xcomp", "conj", "advcl") and s.head(head) is not None:
                head, depth = s.head(head), depth + 1
                direct = s.kids(head, *SUBJECT_DEPS)
                for subj in direct:
                    found += [Argument(a.actor, "subj_inherited", a.token) for a in _linked(s, subj, "subj")]
    for o in s.kids(verb, "dobj", "dative", "attr", "oprd"):
        found += _linked(s, o, "dobj")
        for p in s.kids(o, "prep"):  # "accused X of", "imposed sanctions on X"
            for po in s.kids(p, "pobj"):
                found += _linked(s, po, f"obj_prep:{p.text.lower()}")
        found += [Argument(a, "obj_owner", o.i) for a in s.actors(o, owned=True)
                  if not any(a.start == f.actor.start for f in found)]
    for p in s.kids(verb, "prep"):
        for o in s.kids(p, "pobj"):
            found += _linked(s, o, f"prep:{p.text.lower()}")
    for x in s.kids(verb, "xcomp"):
        for o in s.kids(x, "dobj"):
            found += _linked(s, o, "xcomp_obj")
    for c in s.kids(verb, "ccomp"):
        for subj in s.kids(c, *SUBJECT_DEPS):
            found += _linked(s, subj, "ccomp_subj")
    return found


def _noun_arguments(s: _Sentence, noun: _Token) -> list[Argument]:
    found: list[Argument] = []
    for m in s.kids(noun, "poss", "compound", "amod", "nmod"):
        e = s.entity_at(m)
        if e is not None:
            found.append(Argument(_Actor.of_entity(e), "noun_mod", m.i))
    for p in s.kids(noun, "prep"):
        for o in s.kids(p, "pobj"):
            found += _linked(s, o, f"prep:{p.text.lower()}")
    head = s.head(noun)
    if head is not None and head.pos in ("VERB", "AUX") and noun.dep in ("dobj", "nsubjpass", "attr", "pobj"):
        # "launched an attack on", "held talks with": the light verb's subject and prepositions
        subjects, _ = s.subjects(head)
        found += [Argument(a, "head_subj", head.i) for a in subjects]
        for p in s.kids(head, "prep"):
            for o in s.kids(p, "pobj"):
                found += _linked(s, o, f"head_prep:{p.text.lower()}")
    return found


def _headline_arguments(s: _Sentence, word: _Token) -> list[Argument]:
    """The entity right before a headline verb as its subject, the one right after as its object."""
    found = []
    for e in s.entities:
        if e["end_char"] <= word.start and word.start - e["end_char"] <= 1:
            found.append(Argument(_Actor.of_entity(e), "subj", word.i))
        elif e["start_char"] >= word.end and e["start_char"] - word.end <= 1:
            found.append(Argument(_Actor.of_entity(e), "dobj", word.i))
    return found


def _others(s: _Sentence, trigger: _Token, known: list[Argument]) -> list[Argument]:
    """Named actors of the sentence the parse does not link to the trigger, by side."""
    taken = {(a.actor.start, a.actor.end) for a in known}
    out = []
    for e in s.entities:
        if e["label"] not in ENTITY_LABELS or (e["start_char"], e["end_char"]) in taken:
            continue
        if any(a.actor.start <= e["start_char"] < a.actor.end for a in known):
            continue  # part of a linked mention ("Qatari" in "Qatari officials")
        side = "before" if e["end_char"] <= trigger.start else "after"
        token = next((t.i for t in s.tokens.values() if t.start == e["start_char"]), trigger.i)
        out.append(Argument(_Actor.of_entity(e), side, token))
        taken.add((e["start_char"], e["end_char"]))
    return out


def sentence_candidates(s: _Sentence, trigger_nouns: frozenset[str]) -> list[Candidate]:
    """The candidates of one parsed sentence, in word order."""
    out = []
    reporting = s.rules.reporting_verbs
    for t in sorted(s.tokens.values(), key=lambda t: t.i):
        lemma = t.lemma.lower()
        if t.pos == "VERB" and t.dep != "prep" and lemma not in reporting:
            args = _verb_arguments(s, t)
        elif s.is_title and t.pos != "VERB" and s.entity_at(t) is None and (
                headline := _verb_lemma(t.text.lower(), s.lexicon)) is not None and headline not in reporting:
            # a Title Case headline parses as nouns ("Qatar Orders Hamas Leaders Out"): a word that is a
            # form of a lexicon verb, with the entities right before and after it
            lemma, args = headline, _headline_arguments(s, t)
        elif t.pos in ("NOUN", "PROPN") and lemma in trigger_nouns and s.entity_at(t) is None:
            args = _noun_arguments(s, t)
        else:
            continue
        # one mention, one relation: the first (closest in the parse) wins
        seen, unique = set(), []
        for a in args:
            key = (a.actor.start, a.actor.end, a.actor.code)
            if key not in seen:
                seen.add(key)
                unique.append(a)
        unique += _others(s, t, unique)
        out.append(Candidate(s, t, lemma, tuple(unique)))
    return out
