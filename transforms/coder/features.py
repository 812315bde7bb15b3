"""Features: what the models see of a candidate and of each of its arguments, as named strings.

Cheap by design (the parse is already there): the trigger's lemma and its frame (particle, object,
prepositions), the parse path up to the verb it depends on, negation, modals and the rules' flags,
the codes the verb lexicon gives the lemma, who the subject and object are, and word n-grams
around the trigger.
"""

from __future__ import annotations

from transforms.coder.candidates import Argument, Candidate
from transforms.events import PASSIVE_SUBJECT_DEPS, _Actor

_QUOTES = ('"', "“", "”")


def _sector(actor: _Actor | None) -> str:
    """The kind of actor a code says: a state (its country alone), its agent (GOV, MIL...), an IGO,
    a coded group, an uncoded named entity, or an uncoded noun."""
    if actor is None:
        return "none"
    if actor.from_pronoun:
        return "pronoun"
    code = actor.code or ""
    if not code:
        return "named" if actor.entity_id else "noun"
    if actor.country_code and code == actor.country_code:
        return "state"
    if actor.country_code and code.startswith(actor.country_code):
        return "agent:" + code[len(actor.country_code):len(actor.country_code) + 3]
    return "code:" + code[:3]


def _words(s) -> tuple[dict[int, int], list[str], int, bool]:
    """A sentence's token positions, lower-case lemmas in order, first offset and whether it asks a
    question (computed once per sentence)."""
    cached = getattr(s, "_feature_words", None)
    if cached is None:
        order = sorted(s.tokens)
        cached = ({i: k for k, i in enumerate(order)},
                  [s.tokens[i].lemma.lower() or s.tokens[i].text.lower() for i in order],
                  min(t.start for t in s.tokens.values()), s.is_question())
        s._feature_words = cached
    return cached


def _window(c: Candidate, size: int = 3) -> list[str]:
    position, words, *_ = _words(c.sentence)
    order = words
    at = position[c.trigger.i]
    out = []
    for k in range(max(0, at - size), min(len(order), at + size + 1)):
        if k != at:
            out.append(f"w{k - at:+d}={words[k]}")
    for k in range(max(0, at - size), min(len(order) - 1, at + size)):
        out.append(f"bi={words[k]}_{words[k + 1]}")
    return out


def _in_quotes(c: Candidate) -> bool:
    before = c.sentence.content[_words(c.sentence)[2]:c.trigger.start]
    return sum(before.count(q) for q in _QUOTES) % 2 == 1 or before.count("“") > before.count("”")


def candidate_features(c: Candidate) -> list[str]:
    """The features of a candidate for the gate and the classifier."""
    s, t, lemma = c.sentence, c.trigger, c.lemma
    f = [f"lem={lemma}", f"pos={t.pos}", f"tag={t.tag}", f"dep={t.dep}", "bias"]
    if s.is_title:
        f.append("title")
    for p in s.kids(t, "prt"):
        f.append(f"lem+prt={lemma}_{p.text.lower()}")
    for o in s.kids(t, "dobj", "attr", "oprd"):
        f.append(f"dobj={o.lemma.lower()}")
        f.append(f"lem+dobj={lemma}_{o.lemma.lower()}")
    for p in s.kids(t, "prep", "agent", "dative"):
        f.append(f"prep={p.text.lower()}")
        f.append(f"lem+prep={lemma}_{p.text.lower()}")
    for a in s.kids(t, "aux", "auxpass"):
        f.append(f"aux={a.lemma.lower() or a.text.lower()}")
    if s.kids(t, *PASSIVE_SUBJECT_DEPS):
        f.append("passive")
    if s.kids(t, "neg"):
        f.append("neg")
    for m in s.kids(t, "mark"):
        f.append(f"mark={m.text.lower()}")
    # the path up to the clause it hangs from: "plan -xcomp-> visit", "say -ccomp-> attack"
    node, path = t, []
    for _ in range(3):
        head = s.head(node)
        if head is None:
            break
        path.append(f"{node.dep}<{head.lemma.lower()}")
        f.append(f"up{len(path)}={'|'.join(path)}")
        if head.lemma.lower() in s.rules.reporting_verbs:
            f.append(f"reported_by_dep={node.dep}")
        node = head
    if t.pos != "VERB" and lemma in s.lexicon.verbs and s.is_title:
        # a headline word: the lexicon row whose particle follows it ("Orders ... Out" -> 174)
        rows = [(2 if particle else 0, code) for particle, code in s.headline_frames(t, lemma)]
        if rows:
            f.append("headline_verb")
            f.append(f"lex_best={max(rows)[1][:2]}")
            f.append(f"lex_best_full={max(rows)[1]}")
    if t.pos == "VERB":
        negated, hypothetical = s.flags(t)
        if negated:
            f.append("rule_negated")
        if hypothetical:
            f.append("rule_hypothetical")
        coded = s.code(t)
        if coded is not None:
            f.append(f"lex_best={coded[0][:2]}")
            f.append(f"lex_best_full={coded[0]}")
    for root in sorted({code[:2] for *_, code in s.lexicon.verbs.get(lemma, [])}):
        f.append(f"lex_root={root}")
    if lemma in s.rules.no_event_verbs:
        f.append("no_event_verb")
    subj = [a for a in c.arguments if a.relation in ("subj", "subj_inherited", "agent", "head_subj")]
    obj = [a for a in c.arguments if a.relation in ("dobj", "pass_subj")]
    f.append(f"subj={_sector(subj[0].actor) if subj else 'none'}")
    f.append(f"obj={_sector(obj[0].actor) if obj else 'none'}")
    f.append(f"lem+subj={lemma}_{_sector(subj[0].actor) if subj else 'none'}")
    f.append(f"n_args={min(len(c.arguments), 4)}")
    if _in_quotes(c):
        f.append("in_quotes")
    if _words(s)[3]:
        f.append("question")
    f.extend(_window(c))
    return f


def argument_features(c: Candidate, a: Argument) -> list[str]:
    """The features of one argument of a candidate for the ranker (source? target?)."""
    lemma = c.lemma
    sector = _sector(a.actor)
    rel = a.relation
    distance = abs(a.token - c.trigger.i)
    f = ["bias", f"rel={rel}", f"sector={sector}", f"rel+sector={rel}_{sector}", f"lem+rel={lemma}_{rel}",
         f"dist={min(distance, 8)}", f"side={'before' if a.actor.start < c.trigger.start else 'after'}"]
    if c.is_passive:
        f.append(f"passive+rel={rel}")
    if a.actor.code:
        f.append("coded")
    if a.actor.from_pronoun:
        f.append("pronoun")
    ent = c.sentence.entity_at(c.sentence.tokens[a.token]) if a.token in c.sentence.tokens else None
    f.append(f"label={ent['label'] if ent else 'none'}")
    same = sum(1 for b in c.arguments if b.relation == rel)
    f.append(f"same_rel={min(same, 3)}")
    return f
