"""Who did what to whom: CAMEO-coded event mentions from dependency-parsed sentences.

The coder walks spaCy's dependency parse of each sentence (the token rows of `transforms.nlp`):
for every verb found in the verb lexicon it takes the source actor from the subject (or the agent
of a passive, or the subject of the verb it depends on) and the target actor from the object, a
preposition the lexicon names, or the subject of a passive. Actors are resolved through the
entity layer (dictionary codes of countries, groups, IGOs, leaders) and agent nouns ("Qatari
officials" -> QAT + GOV). Negated and hypothetical/future actions are flagged, not dropped.
Pure: frames in, frames out; the only Python loop walks parse trees, which no expression can.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from schemas import CODED_EVENTS
from transforms.normalize import stable_id

CODER_VERSION = "newsflow-learned-1"

SUBJECT_DEPS = ("nsubj", "csubj")
PASSIVE_SUBJECT_DEPS = ("nsubjpass", "csubjpass")


@dataclass(frozen=True)
class CoderRules:
    """The coder's word lists, code maps, verb frames and confidence weights (lexicons/coder.toml)."""

    words: dict[str, frozenset[str]]
    intent_of_root: dict[str, str]
    threat_of_root: dict[str, str]
    targetless_roots: frozenset[str]
    skipped_roots: frozenset[str]
    armed_sectors: tuple[str, ...]
    combatant_sectors: tuple[str, ...]
    agentless_passive_roots: frozenset[str]
    symmetric_verbs: frozenset[str]
    opinion_verbs: frozenset[str]
    verbal_between_named: dict[str, str]
    political_bare_verbs: frozenset[str]
    political_targetless_roots: frozenset[str]
    unarmed_force: str
    bare_verbs: frozenset[str]
    no_event_verbs: frozenset[str]
    needs_preposition: dict[str, frozenset[str]]
    weights: dict[str, float]
    view_threshold: float

    @classmethod
    def from_mapping(cls, data: dict) -> "CoderRules":
        """Rules from the parsed coder.toml; a missing or misspelt section or key raises KeyError."""
        words, codes, verbs, confidence = data["words"], data["codes"], data["verbs"], dict(data["confidence"])
        threshold = float(confidence.pop("view_threshold"))
        return cls(
            words={k: frozenset(w.lower() for w in v) for k, v in words.items()},
            intent_of_root=dict(codes["intent_of_root"]), threat_of_root=dict(codes["threat_of_root"]),
            targetless_roots=frozenset(codes["targetless_roots"]), skipped_roots=frozenset(codes["skipped_roots"]),
            armed_sectors=tuple(codes["armed_sectors"]), combatant_sectors=tuple(codes["combatant_sectors"]),
            agentless_passive_roots=frozenset(codes["agentless_passive_roots"]), unarmed_force=str(codes["unarmed_force"]),
            bare_verbs=frozenset(verbs["bare"]),
            symmetric_verbs=frozenset(verbs["symmetric"]), opinion_verbs=frozenset(verbs["opinion"]),
            verbal_between_named=dict(verbs["verbal_between_named"]),
            political_bare_verbs=frozenset(verbs["political_bare"]),
            political_targetless_roots=frozenset(verbs["political_targetless_roots"]), no_event_verbs=frozenset(verbs["no_event"]),
            needs_preposition={k: frozenset(v) for k, v in verbs["needs_preposition"].items()},
            weights={k: float(v) for k, v in confidence.items()}, view_threshold=threshold,
        )

    def __getattr__(self, name: str) -> frozenset[str]:
        # rules.reporting_verbs etc.: the [words] lists by name
        words = self.__dict__.get("words", {})
        if name in words:
            return words[name]
        raise AttributeError(name)


FEATURES = ("actor1_coded", "actor2_coded", "actor1_agent_noun", "has_target", "object_pattern", "bare_pattern",
            "political_pattern", "from_pronoun", "inherited_subject", "negated", "hypothetical", "title")


def event_confidence(features: dict[str, bool], weights: dict[str, float]) -> float:
    """The calibrated probability that an event with these features is right (logistic)."""
    z = weights["intercept"] + sum(weights[f] for f in FEATURES if features.get(f))
    return round(1.0 / (1.0 + math.exp(-z)), 3)


@dataclass(frozen=True)
class Lexicon:
    """What the coder looks up: verbs -> CAMEO codes, agent nouns -> agent codes."""

    verbs: dict[str, list[tuple[str, str, str, str]]]  # lemma -> [(particle, object, preposition, code)]
    agents: dict[str, str]  # lower-case noun lemma -> agent code (GOV, MIL, ...)
    rules: CoderRules

    @classmethod
    def from_frames(cls, verbs: pl.DataFrame, agents: pl.DataFrame, rules: CoderRules) -> "Lexicon":
        """The lexicon of the verb rows (lemma, particle, object, preposition, code), agent rows
        (noun, agent_code) and the coder's rules."""
        by_lemma: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
        for row in verbs.select("lemma", "particle", "object", "preposition", "code").iter_rows():
            lemma, particle, obj, prep, code = (v or "" for v in row)
            by_lemma[lemma.lower()].append((particle.lower(), obj.lower(), prep.lower(), code))
        nouns = {n.lower(): c for n, c in agents.select("noun", "agent_code").iter_rows() if n and c}
        return cls(dict(by_lemma), nouns, rules)


@dataclass
class _Token:
    i: int
    start: int
    end: int
    text: str
    lemma: str
    pos: str
    tag: str
    dep: str
    head: int
    children: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Actor:
    text: str
    start: int
    end: int
    code: str | None
    country_code: str | None
    entity_id: str | None
    name: str | None
    from_pronoun: bool = False

    @classmethod
    def of_entity(cls, e: dict) -> "_Actor":
        """The actor a resolved entity span names, with its codes."""
        return cls(e["text"], e["start_char"], e["end_char"], e.get("actor_code"), e.get("country_code"),
                   e.get("entity_id"), e.get("name"))


class _Sentence:
    def __init__(self, rows: list[tuple], content: str, entities: list[dict], lexicon: Lexicon,
                 is_title: bool = False, people: list[dict] | None = None):
        self.tokens = {r[0]: _Token(*r) for r in rows}
        for t in self.tokens.values():
            if t.head != t.i and t.head in self.tokens:
                self.tokens[t.head].children.append(t.i)
        self.content = content
        self.entities = entities  # resolved entity spans inside this sentence
        self.lexicon = lexicon
        self.rules = lexicon.rules
        self.is_title = is_title
        self.people = people or []  # PERSON entities of the whole text, in order, for pronouns

    def kids(self, t: _Token, *deps: str) -> list[_Token]:
        return [self.tokens[c] for c in t.children if self.tokens[c].dep in deps]

    def head(self, t: _Token) -> _Token | None:
        return self.tokens.get(t.head) if t.head != t.i else None

    def entity_at(self, t: _Token) -> dict | None:
        for e in self.entities:
            if e["start_char"] <= t.start and t.end <= e["end_char"]:
                return e
        return None

    # -- actors ---------------------------------------------------------------------------
    def actors(self, noun: _Token, owned: bool = False, as_subject: bool = False) -> list[_Actor]:
        """The actors a noun phrase names: its head and every conjoined head ("X and Y")."""
        heads = [noun]
        frontier = [noun]
        while frontier:
            for c in self.kids(frontier.pop(), "conj", "appos"):
                if c.dep == "conj":
                    heads.append(c)
                frontier.append(c)
        found = []
        for h in heads:
            found.extend(self._resolved(h, owned, as_subject))
        return found

    def _antecedent(self, pronoun: _Token) -> list[_Actor]:
        """The person "he", "him", "she" or "her" most likely names: the last person named before
        it in the article ("Police arrived and shot him dead" after "Usman Khan stabbed ...")."""
        if pronoun.text.lower() not in self.rules.person_pronouns:
            return []
        before = [e for e in self.people if e["end_char"] <= pronoun.start]
        if not before:
            return []
        e = before[-1]
        return [_Actor(pronoun.text, pronoun.start, pronoun.end, e.get("actor_code"), e.get("country_code"),
                       e.get("entity_id"), e.get("name") or e["text"], from_pronoun=True)]

    def _may_be_actor(self, noun: _Token) -> bool:
        """Whether a head word may name an actor at all: never a date, time, unit or abstract noun."""
        non_actors = self.rules.non_actor_nouns
        return noun.lemma.lower() not in non_actors and noun.text.lower() not in non_actors and noun.pos != "NUM"

    def _span(self, first: int, last: int) -> tuple[int, int]:
        return self.tokens[first].start, self.tokens[last].end

    def _resolved(self, noun: _Token, owned: bool = False, as_subject: bool = False) -> list[_Actor]:
        if noun.pos == "PRON" or noun.tag == "WP":
            return self._antecedent(noun)
        if noun.pos == "NUM" or noun.lemma.lower() in self.rules.quantity_nouns:
            # "Tens of thousands of students", "a group of rebels": the actor is what is counted.
            counted = [o for p in self.kids(noun, "prep") if p.text.lower() == "of" for o in self.kids(p, "pobj")]
            if counted:
                return self.actors(counted[0]) or self._named(counted[0])
        ent = self.entity_at(noun)
        if ent is not None:
            if ent["label"].lower() in self.rules.non_actor_labels or not self._may_be_actor(noun):
                return []
            # A nationality used as a modifier ("Qatari officials") is handled below; used as a
            # noun ("the Israelis") it names its country.
            if ent["label"] != "NORP" or noun.dep not in ("amod", "compound"):
                code, country = ent.get("actor_code"), ent.get("country_code")
                if code is None and ent["label"] == "PERSON":
                    code, country = self._title_code(noun, ent)
                return [_Actor(ent["text"], ent["start_char"], ent["end_char"], code, country,
                               ent.get("entity_id"), ent.get("name"))]
        agent = self.lexicon.agents.get(noun.lemma.lower())
        # Modifiers naming who the noun belongs to: "Qatari officials", "U.S. officials",
        # "Hamas leaders", "Israel's army", and conjoined ones ("Hungarian and Romanian officials").
        owners: list[tuple[_Token, dict]] = []
        for m in self.kids(noun, "compound", "amod", "poss", "nmod", "npadvmod"):
            for mm in [m] + [c for c in self._conjuncts(m)]:
                e = self.entity_at(mm)
                if e is not None and e.get("actor_code"):
                    if all(o[1] is not e for o in owners):
                        owners.append((mm, e))
        if not owners and agent:
            # "Rebels in the Ivory Coast", "security forces in Guinea": the place they are in
            # (an agent only: "an orphanage in Tanzania" is not Tanzania).
            owners = [(o, e) for p in self.kids(noun, "prep") if p.text.lower() in ("in", "from")
                      for o in self.kids(p, "pobj") for e in [self.entity_at(o)]
                      if e is not None and e.get("kind") == "country"][:1]
        if not agent and noun.pos == "PROPN":
            # A nationality before a name the model left untagged ("German Santa", "Greek
            # Cypriot Andreas") says where someone is from, not that the country acts; a common
            # noun ("German tourists") or an agent ("German officials") still takes the country.
            owners = [(m, e) for m, e in owners if e.get("kind") != "nationality"]
        if not owners and not agent:
            return []
        if as_subject and not self._may_be_actor(noun):
            # "NATO guidelines call for", "EU cooperation helps": a thing of an actor does not act;
            # as an object its owner is whom the act concerns ("rejected an Indian proposal")
            return []
        left = min([noun.i] + [t.i for m in self.kids(noun, "compound", "amod", "poss", "nmod", "det")
                               for t in [m] if t.dep != "det"])
        start, end = self._span(left, noun.i)
        text = self.content[start:end]
        if not owners:
            return [_Actor(text, start, end, agent, None, None, None)]
        actors = []
        for _, e in owners:
            code = e["actor_code"]
            if agent and e.get("kind") in ("country", "nationality") and len(code) == 3:
                code = code + agent
            actors.append(_Actor(text, start, end, code, e.get("country_code"), e.get("entity_id"), e.get("name")))
        return actors

    def _title_code(self, noun: _Token, ent: dict) -> tuple[str | None, str | None]:
        """The code a person's title gives them ("Nigerian foreign minister Dubem Oniya" -> NGAGOV,
        "Palestinian leader Yasser Arafat" -> PSEGOV), when the dictionaries do not know them."""
        agent, owner = None, None
        frontier, seen = [noun], set()
        while frontier:
            t = frontier.pop()
            for m in self.kids(t, "compound", "amod", "appos", "nmod", "poss"):
                if m.i in seen or self.entity_at(m) is ent:  # part of the name itself
                    continue
                seen.add(m.i)
                e = self.entity_at(m)
                if e is not None and e is not ent and e.get("actor_code") and owner is None:
                    owner = e
                elif e is None and agent is None:
                    agent = self.lexicon.agents.get(m.lemma.lower())
                frontier.append(m)
        if owner is None:
            return agent, None
        code = owner["actor_code"]
        if agent and owner.get("kind") in ("country", "nationality") and len(code) == 3:
            code += agent
        return code, owner.get("country_code")

    def _object_forms(self, noun: _Token) -> set[str]:
        """How a lexicon object may name `noun`: its lemma, or with its modifier ("hunger strike")."""
        modifiers = [m for m in self.kids(noun, "compound", "amod") if m.i < noun.i]
        forms = {noun.lemma.lower()}
        if modifiers:
            forms.add(f"{modifiers[-1].lemma.lower()} {noun.lemma.lower()}")
        return forms

    def _conjuncts(self, t: _Token) -> list[_Token]:
        out, frontier = [], [t]
        while frontier:
            for c in self.kids(frontier.pop(), "conj"):
                out.append(c)
                frontier.append(c)
        return out

    def _pobj(self, prep: _Token) -> list[_Actor]:
        found = []
        for o in self.kids(prep, "pobj"):
            found.extend(self.actors(o))
        return found

    def subjects(self, verb: _Token, depth: int = 0) -> tuple[list[_Actor], bool]:
        """Source actors of `verb` and whether they come from the verb it depends on."""
        if self.kids(verb, *PASSIVE_SUBJECT_DEPS):
            found = []
            for agent in self.kids(verb, "agent"):
                found.extend(self._pobj(agent))
            return found, False
        subjects = self.kids(verb, *SUBJECT_DEPS)
        if subjects:
            found = []
            for s in subjects:
                if s.lemma.lower() in self.rules.relative_pronouns and verb.dep == "relcl" and self.head(verb) is not None:
                    found.extend(self.actors(self.head(verb)))
                elif s.pos == "PRON" and s.lemma.lower() in self.rules.anaphors:
                    # "Syria says it will ...", "Palestinian leaders said they would ...": the
                    # pronoun of a reported clause is the reporter.
                    reporter = self._reporter(verb)
                    if reporter is not None and self._agrees(s, reporter):
                        found.extend(self.subjects(reporter, depth + 1)[0])
                        continue
                    found.extend(self.actors(s, as_subject=True))  # the person named before it
                else:
                    found.extend(self.actors(s, as_subject=True))
            return found, False
        head = self.head(verb)
        purpose = verb.dep == "advcl" and any(a.text.lower() == "to" for a in self.kids(verb, "aux"))
        if depth < 4 and head is not None and verb.dep in ("xcomp", "conj", "advcl", "ccomp") and head.pos in (
                "VERB", "AUX", "ADJ"):
            if verb.dep in ("xcomp", "conj") or head.pos == "ADJ" or purpose:
                # "X agreed to expel Y", "X met Y and signed ...", "X is likely to ..."; a raising
                # passive ("X is expected to visit") lends its passive subject.
                raised = [a for s in self.kids(head, *PASSIVE_SUBJECT_DEPS) for a in self.actors(s)]
                if raised and head.lemma.lower() in self.rules.hypothetical_governors:
                    return raised, True
                found, _ = self.subjects(head, depth + 1)
                return found, True
        return [], False

    def _agrees(self, pronoun: _Token, reporter: _Token) -> bool:
        """Whether the pronoun can be the reporter: "they" a plural or a group, "it" one group or
        state, "he"/"she" one person ("Officials said it killed nine" is not the officials)."""
        heads = self.kids(reporter, *SUBJECT_DEPS)
        if not heads:
            return False
        head = heads[0]
        plural = head.tag in ("NNS", "NNPS") or bool(self.kids(head, "conj"))
        person = (self.entity_at(head) or {}).get("label") == "PERSON"
        word = pronoun.text.lower()
        if word == "it":
            return not plural and not person
        if word in ("he", "she"):
            return not plural and (person or head.pos == "PROPN" or head.lemma.lower() in self.lexicon.agents)
        return True

    def _reporter(self, verb: _Token) -> _Token | None:
        """The reporting verb a clause is reported by ("X said [that ...]"), if any."""
        t, depth = verb, 0
        while depth < 4 and t.dep in ("ccomp", "conj", "xcomp", "advcl") and self.head(t) is not None:
            t = self.head(t)
            if t.lemma.lower() in self.rules.reporting_verbs:
                return t
            depth += 1
        return None

    def _named(self, noun: _Token) -> list[_Actor]:
        """A subject no dictionary knows ("university students") as an uncoded actor named by its
        noun phrase, so the event is kept with the phrase as its actor name."""
        # Only a proper name the model did not tag: a common noun ("fall", "job gains") is no actor.
        if noun.pos != "PROPN" or not self._may_be_actor(noun):
            return []
        left = min([noun.i] + [m.i for m in self.kids(noun, "compound", "amod")])
        start, end = self._span(left, noun.i)
        return [_Actor(self.content[start:end], start, end, None, None, None, None)]

    def objects(self, verb: _Token, preposition: str, obj: str) -> list[_Actor]:
        """Target actors of `verb`: passive subject, the lexicon's preposition, the object."""
        passive = self.kids(verb, *PASSIVE_SUBJECT_DEPS)
        if passive:
            return [a for s in passive for a in self.actors(s)]
        named = [o for o in self.kids(verb, "dobj") if obj and obj in self._object_forms(o)]
        holders = [verb] + named
        if preposition:
            for h in holders:
                for p in self.kids(h, "prep"):
                    if p.text.lower() == preposition:
                        found = self._pobj(p)
                        if found:
                            return found
        if not obj:
            for o in self.kids(verb, "dobj", "dative", "attr", "oprd"):
                found = self.actors(o)
                if found:
                    return found
        for o in named:  # "rejected an Indian proposal", "calls by Belarus's rulers": whose it is
            found = self.actors(o, owned=True) or [a for p in self.kids(o, "prep") if p.text.lower() in ("by", "from")
                                       for a in self._pobj(p)]
            if found:
                return found
        for h in holders:
            for p in self.kids(h, "prep", "dative"):
                if p.text.lower() in self.rules.target_prepositions:
                    found = self._pobj(p) if p.dep == "prep" else self.actors(p)
                    if found:
                        return found
        return []

    # -- actions -------------------------------------------------------------------------
    def code(self, verb: _Token) -> tuple[str, str, str, float] | None:
        """(code, preposition, object, specificity) of the best lexicon row for `verb` that its
        frame allows: rows with an object or particle name the verb's sense and always apply; a
        bare row only for the verbs whose plain sense is the action (coder.toml [verbs])."""
        lemma = verb.lemma.lower()
        rows = self.lexicon.verbs.get(lemma)
        if not rows or lemma in self.rules.no_event_verbs:
            return None
        words = {c.text.lower() for c in self.kids(verb, "prep", "agent", "dative", "prt", "advmod", "acomp", "dobj")}
        if lemma in self.rules.needs_preposition and not words & self.rules.needs_preposition[lemma]:
            return None
        particles = {c.text.lower() for c in self.kids(verb, "prt")} | {
            c.text.lower() for c in self.kids(verb, "advmod", "prep") if c.pos in ("ADP", "ADV")}
        objects = set().union(*(self._object_forms(c) for c in self.kids(verb, "dobj", "pobj")))
        preps = {c.text.lower() for c in self.kids(verb, "prep", "agent", "dative")}
        bare_ok = lemma in self.rules.bare_verbs or lemma in self.rules.political_bare_verbs
        best = None
        for particle, obj, prep, code in rows:
            if particle and particle not in particles:
                continue
            if obj and obj not in objects:
                continue
            if prep and prep not in preps:
                continue
            if not particle and not obj and not bare_ok:
                continue
            # the more words a pattern matches, the more specific it is ("mediation effort" > "effort")
            score = (2 if particle else 0) + (2 + obj.count(" ") if obj else 0) + (1 if prep else 0)
            if best is None or score > best[3]:
                best = (code, prep, obj, score)
        return best

    def flags(self, verb: _Token) -> tuple[bool, bool]:
        """(is_negated, is_hypothetical) of the action `verb` names."""
        negated = bool(self.kids(verb, "neg")) or self._negated_subject(verb)
        hypothetical = any(a.lemma.lower() in self.rules.modals or a.text.lower() in self.rules.modals for a in self.kids(verb, "aux"))
        if any(m.text.lower() in ("if", "unless", "whether") for m in self.kids(verb, "mark")):
            hypothetical = True
        if verb.dep in ("advcl", "acl", "relcl") and any(a.text.lower() == "to" for a in self.kids(verb, "aux")):
            hypothetical = True  # a purpose ("... to demand reforms") is not yet a fact
        t, depth = verb, 0
        while depth < 4 and t.dep in ("xcomp", "ccomp", "conj", "advcl", "acl") and self.head(t) is not None:
            governor = self.head(t)
            lemma = governor.lemma.lower()
            if t.dep in ("xcomp", "acl") and lemma in self.rules.hypothetical_governors:
                hypothetical = True
            if t.dep in ("ccomp", "acl") and lemma in self.rules.request_governors:
                hypothetical = True  # what is demanded ("demanded that Hamas renounce ...") has not happened
            if t.dep == "xcomp" and lemma in self.rules.negating_governors:
                negated = True
            if t.dep in ("xcomp", "conj") and self.kids(governor, "neg"):
                negated = True
            if any(a.lemma.lower() in self.rules.modals or a.text.lower() in self.rules.modals for a in self.kids(governor, "aux")):
                hypothetical = hypothetical or t.dep in ("xcomp", "conj", "ccomp")
            if any(m.text.lower() in ("if", "unless") for m in self.kids(governor, "mark")) and t.dep != "ccomp":
                hypothetical = True
            t, depth = governor, depth + 1
        return negated, hypothetical

    def _negated_subject(self, verb: _Token) -> bool:
        """ "Neither side was negotiating", "no country recognised it": the subject negates."""
        for subject in self.kids(verb, *SUBJECT_DEPS, *PASSIVE_SUBJECT_DEPS):
            if subject.lemma.lower() in self.rules.negating_subjects or subject.text.lower() in self.rules.negating_subjects:
                return True
            if any(d.text.lower() in self.rules.negating_determiners for d in self.kids(subject, "det", "preconj")):
                return True
        return False

    def _is_announced_future(self, verb: _Token) -> bool:
        """Whether the action is announced or promised ("X will meet Y", "X pledged to aid Y"),
        rather than only possible ("could", "may") or conditional."""
        if any(a.text.lower() in self.rules.future_modals or a.lemma.lower() in self.rules.future_modals for a in self.kids(verb, "aux")):
            return True
        governor = self.head(verb)
        return verb.dep == "xcomp" and governor is not None and governor.lemma.lower() in self.rules.intent_governors

    def _demand(self, verb: _Token) -> list[dict] | None:
        """ "X said Y must do Z": X demands (100) of Y."""
        if not any(a.text.lower() in self.rules.obligation_modals for a in self.kids(verb, "aux")) or verb.dep != "ccomp":
            return None
        reporter = self.head(verb)
        if reporter is None or reporter.lemma.lower() not in self.rules.reporting_verbs:
            return None
        sources, _ = self.subjects(reporter)
        targets = [a for s in self.kids(verb, *SUBJECT_DEPS) for a in self.actors(s)]
        if not sources or not targets:
            return None
        return [{"action_text": verb.text, "action_start_char": verb.start, "event_code": "100", "is_negated": False,
                 "is_hypothetical": False, **self._confidence(s, t, "bare", False, False, False),
                 **_actor_columns("actor1", s), **_actor_columns("actor2", t)} for s in sources for t in targets]

    def events(self) -> list[dict]:
        if self.is_question():
            return []  # "Did the players reach out to support you?": asked, not stated
        out = []
        for verb in sorted(self.tokens.values(), key=lambda t: t.i):
            if verb.pos != "VERB" or verb.dep == "prep":  # "according to" is no event
                continue
            lemma = verb.lemma.lower()
            if lemma in self.rules.reporting_verbs:
                continue
            coded = self.code(verb)
            if coded is None:
                continue
            code, preposition, obj, specificity = coded
            sources, inherited = self.subjects(verb)
            targets = self.objects(verb, preposition, obj)
            if not targets:  # "threatened to attack X", "agreed to expel X": the complement's target
                for x in self.kids(verb, "xcomp"):
                    targets = self.objects(x, "", "")
                    if targets:
                        break
            if not targets and lemma in self.rules.request_governors:
                # "demanded that the US cancel ...": who is asked is the subject of what is asked
                targets = [a for c in self.kids(verb, "ccomp") for subj in self.kids(c, *SUBJECT_DEPS)
                           for a in self.actors(subj)]
            if lemma in self.rules.opinion_verbs and self.kids(verb, "ccomp"):
                continue  # "all agreed that vaccines do good": an opinion, not an agreement
            if not targets and lemma in self.rules.symmetric_verbs and len(sources) >= 2 and not inherited:
                targets = sources  # "Israel and Egypt met": each side met the other
            passive = bool(self.kids(verb, *PASSIVE_SUBJECT_DEPS))
            negated, hypothetical = self.flags(verb)
            if hypothetical and self._is_announced_future(verb):
                root = code[:2]
                conditional = any(m.text.lower() == "unless" for c in self.kids(verb, "advcl")
                                  for m in self.kids(c, "mark"))
                if conditional and not negated and root not in ("01", "02", "03", "13"):
                    code, hypothetical = "139", False  # "will withdraw unless ...": an ultimatum
                elif negated and (root in self.rules.intent_of_root or root == "03"):
                    code, negated, hypothetical = "120", False, False  # "will not withdraw": a refusal
                elif not negated and root in self.rules.intent_of_root:
                    code, hypothetical = self.rules.intent_of_root[root], False
                elif not negated and root in self.rules.threat_of_root:
                    code, hypothetical = self.rules.threat_of_root[root], False
            demand = self._demand(verb)
            if demand is not None:
                out.extend(demand)
            pattern = ("object" if obj or specificity >= 2 else "bare" if lemma in self.rules.bare_verbs
                       else "political")
            # Who did what to whom: a source, and a target unless the action needs none (a
            # protest). A passive with no agent ("X was arrested") keeps an unknown source only
            # where the act itself says who did it, as arrests and releases do.
            if code[:2] in self.rules.skipped_roots or (not sources and not (
                    passive and code[:2] in self.rules.agentless_passive_roots)):
                continue
            if not sources and self.kids(verb, "agent"):
                continue  # the sentence names who did it ("by a federal grand jury"), but as no actor
            if not targets and code[:2] not in self.rules.targetless_roots and pattern != "political":
                continue
            if pattern == "political":
                # a diplomatic verb ("agreed", "withdrew", "resigned") is an event only for a state,
                # a state's agent, a known group or an IGO; then it may have no target
                if not sources or not all(self._is_political(a) for a in sources):
                    continue
                if not targets and code[:2] not in self.rules.political_targetless_roots:
                    continue
            for s in sources or [None]:
                for t in targets or [None]:
                    if s is not None and t is not None and (s.start, s.code, s.name) == (t.start, t.code, t.name):
                        continue
                    out.append({
                        "action_text": verb.text, "action_start_char": verb.start,
                        "event_code": self._verbal_or_force(lemma, code, s, t),
                        "is_negated": negated, "is_hypothetical": hypothetical,
                        **self._confidence(s, t, pattern, inherited, negated, hypothetical),
                        **_actor_columns("actor1", s), **_actor_columns("actor2", t),
                    })
        return out

    def is_question(self) -> bool:
        """Whether the sentence asks rather than states (its last word is a question mark)."""
        words = [t for t in sorted(self.tokens.values(), key=lambda t: t.i) if t.pos != "SPACE"]
        closing = [t for t in words if t.text not in ('"', "'", "”", "’", ")")]
        return bool(closing) and closing[-1].text == "?"

    def _is_political(self, actor: _Actor) -> bool:
        """A state, a state's agent or a known group or IGO: not a company, person or agent alone."""
        code = actor.code or ""
        return (actor.country_code is not None and "MNC" not in code and "BUS" not in code) or code[:3] in (
            "IGO", "NGO", "IMG")

    def _verbal_or_force(self, lemma: str, code: str, source: _Actor | None, target: _Actor | None) -> str:
        """ "Harris attacked Biden": between two named people or parties an attack is words (the
        verbal code of coder.toml); otherwise the force or violence `_force_of` says."""
        verbal = self.rules.verbal_between_named.get(lemma)
        if verbal and all(a is not None and a.entity_id is not None and not a.from_pronoun
                          and (a.code is None or not any(a.code[i:i + 3] in self.rules.combatant_sectors
                                                         for i in range(0, len(a.code), 3)))
                          for a in (source, target)):
            return verbal
        return self._force_of(code, source)

    def _force_of(self, code: str, source: _Actor | None) -> str:
        """The code of violence by `source`: force (19x) only by a state or an armed actor."""
        if code[:2] != "19" or source is None:  # a passive with no agent: the attacker is unknown
            return code
        if source.code is None:
            return self.rules.unarmed_force
        armed = source.code == source.country_code or any(
            source.code[i:i + 3] in self.rules.armed_sectors for i in range(0, len(source.code), 3))
        return code if armed else self.rules.unarmed_force

    def _confidence(self, source: _Actor | None, target: _Actor | None, pattern: str, inherited: bool,
                    negated: bool, hypothetical: bool) -> dict:
        """The event's `confidence` and the names of the `features` it has."""
        features = {
            "actor1_coded": source is not None and source.code is not None,
            "actor2_coded": target is not None and target.code is not None,
            "actor1_agent_noun": source is not None and source.entity_id is None,
            "has_target": target is not None, "object_pattern": pattern == "object",
            "bare_pattern": pattern == "bare", "political_pattern": pattern == "political",
            "from_pronoun": any(a is not None and a.from_pronoun for a in (source, target)),
            "inherited_subject": inherited, "negated": negated, "hypothetical": hypothetical, "title": self.is_title,
        }
        return {"confidence": event_confidence(features, self.rules.weights),
                "features": sorted(name for name, on in features.items() if on)}

    def headline_frames(self, word: _Token, lemma: str) -> list[tuple[str, str]]:
        """(particle, code) of the lexicon rows of a headline word's verb that need no object or
        preposition and whose particle, if any, is among the next four words ("Orders ... Out")."""
        following = {t.text.lower() for t in self.tokens.values() if word.i < t.i <= word.i + 4}
        return [(particle, code) for particle, obj, prep, code in self.lexicon.verbs.get(lemma, [])
                if not obj and not prep and (not particle or particle in following)]

    def headline_events(self) -> list[dict]:
        """Events of a Title Case headline the parser cannot read ("Qatar Orders Hamas Leaders
        Out"): a known verb form right between two entities, with a particle among the next words."""
        order = sorted(self.tokens.values(), key=lambda t: t.i)
        out = []
        for k, word in enumerate(order):
            if self.entity_at(word) is not None:
                continue
            lemma = _verb_lemma(word.text.lower(), self.lexicon)
            if lemma is None or lemma in self.rules.reporting_verbs:
                continue
            before = [e for e in self.entities if e["end_char"] <= word.start and word.start - e["end_char"] <= 1]
            after = [e for e in self.entities if e["start_char"] >= word.end and e["start_char"] - word.end <= 1]
            if not before or not after:
                continue
            codes = [(2 if particle else 0, code) for particle, code in self.headline_frames(word, lemma)
                     if particle or lemma in self.rules.bare_verbs]
            if not codes:
                continue
            specificity, code = max(codes, key=lambda c: c[0])
            if code[:2] in self.rules.skipped_roots or lemma in self.rules.no_event_verbs:
                continue
            source, target = (_Actor.of_entity(e) for e in (before[-1], after[0]))
            out.append({"action_text": word.text, "action_start_char": word.start, "event_code": code,
                        "is_negated": False, "is_hypothetical": False,
                        **self._confidence(source, target, "object" if specificity else "bare",
                                                       False, False, False),
                        **_actor_columns("actor1", source), **_actor_columns("actor2", target)})
        return out


def _verb_lemma(word: str, lexicon: Lexicon) -> str | None:
    """The lexicon verb a headline word is a form of ("orders" -> "order", "expels" -> "expel")."""
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return next((f for f in forms if f in lexicon.verbs), None)


def _actor_columns(prefix: str, actor: _Actor | None) -> dict:
    names = ("text", "start_char", "end_char", "code", "country_code", "entity_id", "name")
    if actor is None:
        return {f"{prefix}_{n}": None for n in names}
    return {f"{prefix}_text": actor.text, f"{prefix}_start_char": actor.start, f"{prefix}_end_char": actor.end,
            f"{prefix}_code": actor.code, f"{prefix}_country_code": actor.country_code,
            f"{prefix}_entity_id": actor.entity_id, f"{prefix}_name": actor.name or actor.text}

def parsed_sentences(documents: pl.DataFrame, tokens: pl.DataFrame, entities: pl.DataFrame,
                     lexicon: Lexicon) -> Iterator[tuple[int, int, int, int, "_Sentence"]]:
    """(doc_index, sentence_index, start, end, sentence) for each sentence with a verb (every
    sentence of a title: a Title Case headline often parses as nouns only), in document order, the
    sentence holding its resolved entities. `documents` has doc_index and content (and field);
    `entities` holds the resolved entity spans (doc_index, start_char, end_char, text, label,
    entity_id, name, actor_code, country_code, kind)."""
    contents = dict(documents.select("doc_index", "content").iter_rows())
    by_sentence: dict[tuple[int, int], list[dict]] = defaultdict(list)
    people: dict[int, list[dict]] = defaultdict(list)
    if entities.height:
        spans = entities.join(
            tokens.select("doc_index", "sentence_index", pl.col("start_char").alias("_token_start")),
            left_on=["doc_index", "start_char"], right_on=["doc_index", "_token_start"], how="inner",
        ).sort("doc_index", "start_char", "end_char", "label", "entity_id", nulls_last=True)  # a join's row order is not guaranteed (Polars 2)
        for e in spans.iter_rows(named=True):
            by_sentence[(e["doc_index"], e["sentence_index"])].append(e)
            if e["label"] == "PERSON":
                people[e["doc_index"]].append(e)
        for found in people.values():
            found.sort(key=lambda e: e["start_char"])
    columns = ["token_index", "start_char", "end_char", "text", "lemma", "pos", "tag", "dep", "head_index"]
    titles = (documents.filter(pl.col("field") == "title")["doc_index"].to_list()
              if "field" in documents.columns else [])
    title_set = set(titles)
    kept = tokens.filter(
        pl.col("pos").eq("VERB").any().over("doc_index", "sentence_index") | pl.col("doc_index").is_in(titles)
    ).sort("doc_index", "sentence_index", "token_index", maintain_order=True)
    # One pass over the rows: a frame per sentence cost more than the coding itself (profiled).
    grouped: dict[tuple[int, int], list[tuple]] = {}
    for doc_index, sentence_index, *row in kept.select("doc_index", "sentence_index", *columns).iter_rows():
        grouped.setdefault((doc_index, sentence_index), []).append(tuple(row))
    for (doc_index, sentence_index), rows in grouped.items():
        parsed = _Sentence(rows, contents[doc_index], by_sentence.get((doc_index, sentence_index), []), lexicon,
                           doc_index in title_set, people.get(doc_index, []))
        yield doc_index, sentence_index, min(r[1] for r in rows), max(r[2] for r in rows), parsed


def coded_events(documents: pl.DataFrame, tokens: pl.DataFrame, entities: pl.DataFrame,
                 lexicon: Lexicon, with_features: bool = False) -> pl.DataFrame:
    """One row per event the hand-written frames code in a sentence (doc_index, sentence_index,
    action_start_char, actor1/actor2 start): CODED_EVENTS. Arguments as in `parsed_sentences`."""
    rows: dict[str, list] = {name: [] for name in CODED_EVENTS.names()}
    features: list[list[str]] = []
    for doc_index, sentence_index, start, end, parsed in parsed_sentences(documents, tokens, entities, lexicon):
        events = parsed.events()
        if not events and parsed.is_title:
            events = parsed.headline_events()
        for event in events:
            event.update(doc_index=doc_index, sentence_index=sentence_index, sentence_start_char=start,
                         sentence_end_char=end)
            for name in rows:
                rows[name].append(event.get(name))
            features.append(event.get("features", []))
    frame = pl.DataFrame(rows, schema=CODED_EVENTS)
    if with_features:  # what the confidence was computed from, for calibrating its weights
        frame = frame.with_columns(features=pl.Series(features, dtype=pl.List(pl.String)))
    return frame.unique(
        ["doc_index", "action_start_char", "actor1_start_char", "actor1_code", "actor2_start_char", "actor2_code",
         "event_code"], keep="first", maintain_order=True)


def _actor_key(prefix: str) -> pl.Expr:
    """Who an actor is for event identity: its CAMEO code, else its entity, else its name."""
    return pl.coalesce(f"{prefix}_code", f"{prefix}_entity_id", pl.col(f"{prefix}_name").str.to_lowercase())


def sentence_dates(spans: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (doc_index, sentence_index) with the first DATE expression of the sentence."""
    return (
        spans.filter(pl.col("label") == "DATE")
        .sort("doc_index", "start_char")
        .group_by("doc_index", "sentence_index", maintain_order=True)
        .agg(pl.col("text").first().alias("date_text"))
    )


def dated_event_mentions(coded: pl.LazyFrame, documents: pl.LazyFrame, articles: pl.LazyFrame,
                         dates: pl.LazyFrame) -> pl.LazyFrame:
    """The coded events placed in their articles: one row per (doc_index, sentence, action,
    actors) with article_id, field, published_at and the sentence's date expression (date_text)."""
    return (
        coded.join(documents.select("doc_index", "article_id", "field"), on="doc_index", how="inner",
                   maintain_order="left")
        .join(articles.select("article_id", "published_at"), on="article_id", how="left", maintain_order="left")
        .join(dates, on=["doc_index", "sentence_index"], how="left", maintain_order="left")
    )


def identified_event_mentions(dated: pl.LazyFrame) -> pl.LazyFrame:
    """The dated mentions (with event_date) given their keys: mention_id (article, field, action and
    actor spans, code) and event_id (date, actor1, actor2, code, negation, modality), plus the
    coder version."""
    return dated.with_columns(
        mention_id=stable_id(pl.col("article_id"), pl.col("field"), pl.col("action_start_char"),
                             pl.col("actor1_start_char"), pl.col("actor1_code"), pl.col("actor2_start_char"),
                             pl.col("actor2_code"), pl.col("event_code")),
        event_id=stable_id(pl.col("event_date"), _actor_key("actor1"), _actor_key("actor2"), pl.col("event_code"),
                           pl.col("is_negated"), pl.col("is_hypothetical")),
        coder_version=pl.lit(CODER_VERSION),
    ).unique("mention_id", keep="first", maintain_order=True)


def event_mention_checks(mentions: pl.LazyFrame, articles: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """The event mentions with `is_span_exact` (sentence, actors and action spans equal their
    texts in the stored field) and `has_event` (the event_id is among `events`)."""
    texts = articles.select("article_id", "title", "text").unpivot(
        index="article_id", on=["title", "text"], variable_name="field", value_name="_content")

    def exact(text: str, start: str) -> pl.Expr:
        span = pl.col("_content").str.slice(pl.col(start), pl.col(text).str.len_chars())
        return pl.col(text).is_null() | (span == pl.col(text))

    sentence = pl.col("_content").str.slice(pl.col("sentence_start_char"),
                                            pl.col("sentence_end_char") - pl.col("sentence_start_char"))
    known = events.select("event_id").unique().with_columns(_has_event=pl.lit(True))
    return (
        mentions.join(texts, on=["article_id", "field"], how="left", maintain_order="left")
        .join(known, on="event_id", how="left", maintain_order="left")
        .with_columns(
            is_span_exact=(exact("actor1_text", "actor1_start_char") & exact("actor2_text", "actor2_start_char")
                           & exact("action_text", "action_start_char")
                           & (sentence.str.len_chars() == pl.col("sentence_end_char") - pl.col("sentence_start_char"))
                           & sentence.str.contains(pl.col("action_text"), literal=True)).fill_null(False),
            has_event=pl.col("_has_event").fill_null(False),
        )
        .drop("_content", "_has_event")
    )


def event_rows(mentions: pl.LazyFrame, articles: pl.LazyFrame, codebook: pl.LazyFrame,
               geography: pl.LazyFrame) -> pl.LazyFrame:
    """One row per event (event_id) of these mentions: the first mention's actors, date and place,
    the codebook's base/root code, quad class, Goldstein score and PLOVER category, and counts over
    these mentions (the warehouse recounts them over all stored mentions after loading).
    `geography` has one row per mention_id with the action_geo_* columns."""
    first = (
        mentions.join(articles.select("article_id", "ingested_at"), on="article_id", how="left",
                      maintain_order="left")
        .sort("event_id", "ingested_at", "article_id", "field", "sentence_index", "action_start_char", "mention_id")
    )
    counted = first.join(articles.select("article_id", "tone", "source_name", "domain"), on="article_id",
                         how="left", maintain_order="left").group_by("event_id").agg(
        pl.len().cast(pl.Int64).alias("num_mentions"),
        pl.col("article_id").n_unique().cast(pl.Int64).alias("num_articles"),
        pl.coalesce("source_name", "domain").drop_nulls().n_unique().cast(pl.Int64).alias("num_sources"),
        pl.col("tone").filter(pl.col("article_id").is_first_distinct()).mean().alias("avg_tone"),
        pl.col("ingested_at").min().alias("first_seen_at"),
    )
    return (
        first.unique("event_id", keep="first", maintain_order=True)
        .join(geography, on="mention_id", how="left")
        .join(codebook.select("event_code", "event_base_code", "event_root_code", "quad_class",
                              pl.col("goldstein").alias("goldstein_scale"), "plover_event"),
              on="event_code", how="left")
        .join(counted, on="event_id", how="left")
        .with_columns(pl.col("quad_class").cast(pl.Int32), pl.col("goldstein_scale").cast(pl.Float64))
        .sort("event_id")
    )


def event_checks(events: pl.LazyFrame, codebook: pl.LazyFrame) -> pl.LazyFrame:
    """The events with `is_code_in_codebook` and `has_actor` (at least one named actor)."""
    known = codebook.select("event_code").unique().with_columns(is_code_in_codebook=pl.lit(True))
    return events.join(known, on="event_code", how="left", maintain_order="left").with_columns(
        is_code_in_codebook=pl.col("is_code_in_codebook").fill_null(False),
        has_actor=pl.col("actor1_name").is_not_null() | pl.col("actor2_name").is_not_null(),
    )
