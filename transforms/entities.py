"""From articles and model spans to entity mentions and canonical entities."""

from __future__ import annotations

import polars as pl

from schemas import ENTITY_LABELS, ENTITY_MENTIONS
from schemas.tables import PLACE_COLUMNS
from transforms.normalize import stable_id


def nlp_documents(articles: pl.LazyFrame, languages: tuple[str, ...] = ("en",)) -> pl.LazyFrame:
    """One row per non-empty article field (doc_index, article_id, field, content) to send to
    the model, in a stable order (article order, title before text). Only articles in one of the
    model's `languages` go (or of unknown language): an English model reads German as noise."""
    if "language" in articles.collect_schema().names():
        articles = articles.filter(pl.col("language").is_null() | pl.col("language").is_in(list(languages)))
    fields = [
        articles.select("article_id", pl.lit(field).alias("field"), pl.col(field).alias("content"),
                        pl.int_range(pl.len()).alias("_article_order"))
        for field in ("title", "text")
    ]
    return (
        pl.concat(fields)
        .filter(pl.col("content").is_not_null() & (pl.col("content") != ""))
        .sort("_article_order", pl.col("field") == "text")
        .drop("_article_order")
        .with_row_index("doc_index")
        .with_columns(pl.col("doc_index").cast(pl.Int64))
    )


def canonical_entity_name(expr: pl.Expr) -> pl.Expr:
    """The entity's canonical name: whitespace folded, a leading "the", a possessive and an
    acronym the span runs into ("World Health Organization (WHO") removed."""
    return (
        expr.str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.replace(r"(?i)^the ", "")
        .str.replace(r" \(\w*\)?$", "")
        .str.replace(r"['’]s$", "")
        .str.replace(r"(s)['’]$", "${1}")
        .str.strip_chars()
    )


# Dictionary kinds whose canonical name is the entity's identity even where a place is geocoded:
# "Iranian" and "Iran" are one country whatever the geocoder makes of each. A capital is a place
# first ("London" may be London, Ontario), so its GeoNames id, when known, decides.
_DICTIONARY_KEYED = ("country", "nationality", "igo", "group", "person")


def entity_key(mentions: pl.LazyFrame) -> pl.Expr:
    """The identity of the entity a resolved mention names, whatever its NER label: the dictionary
    actor's canonical name when the dictionaries know it, else the place's GeoNames id when the
    mention was geocoded (`geonames_id`, if the frame has it: Norfolk, England and Norfolk,
    Virginia are two things), else its canonical name; names compared lower-case without dots."""
    name_key = _lookup_key(pl.col("name"))
    if "geonames_id" not in mentions.collect_schema().names():
        return name_key
    return (pl.when(~pl.col("kind").is_in(_DICTIONARY_KEYED).fill_null(False) & pl.col("geonames_id").is_not_null())
            .then(pl.format("geonames:{}", pl.col("geonames_id")))
            .otherwise(name_key))


def _entity_id(key: pl.Expr) -> pl.Expr:
    return stable_id(key)


def keyed_mentions(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """The resolved mentions (mention_id) with entity_key and entity_id recomputed from the
    name, dictionary kind and, when the frame has it, geonames_id: call it again after adding
    geonames_id so that a geocoded place gets its place's id."""
    return mentions.with_columns(entity_key=entity_key(mentions)).with_columns(
        entity_id=_entity_id(pl.col("entity_key")))


def article_entity_mentions(documents: pl.LazyFrame, spans: pl.LazyFrame) -> pl.LazyFrame:
    """One row per entity span in an article field (mention_id), offsets into that field."""
    return (
        spans.filter(pl.col("label").is_in(ENTITY_LABELS))
        .join(documents.select("doc_index", "article_id", "field"), on="doc_index", how="inner",
              maintain_order="left")
        .with_columns(
            mention_id=stable_id(pl.col("article_id"), pl.col("field"), pl.col("start_char"), pl.col("end_char")),
            entity_id=_entity_id(_lookup_key(pl.col("text"))),
        )
        # Places are geocoded later, in their article's context (transforms.geo.geocoded_mentions).
        .with_columns(pl.lit(None, ENTITY_MENTIONS.schema[c]).alias(c) for c in PLACE_COLUMNS)
        .select(ENTITY_MENTIONS.columns)
    )


def mention_checks(mentions: pl.LazyFrame, articles: pl.LazyFrame) -> pl.LazyFrame:
    """The mentions with `is_span_exact`: the span of the stored field text equals the mention."""
    texts = articles.select("article_id", "title", "text").unpivot(
        index="article_id", on=["title", "text"], variable_name="field", value_name="_content"
    )
    span = pl.col("_content").str.slice(pl.col("start_char"), pl.col("end_char") - pl.col("start_char"))
    return (
        mentions.join(texts, on=["article_id", "field"], how="left", maintain_order="left")
        .with_columns(is_span_exact=(span == pl.col("text")).fill_null(False))
        .drop("_content")
    )


# Which dictionary entry wins when two spell the same lookup key ("US" the country, not a person).
_KIND_PRIORITY = {"country": 0, "nationality": 1, "igo": 2, "group": 3, "person": 4, "capital": 5}


def _lookup_key(expr: pl.Expr) -> pl.Expr:
    """The form names are matched on: canonical, lower-case, without dots ("U.S." == "US")."""
    return canonical_entity_name(expr).str.to_lowercase().str.replace_all(r"\.", "").str.replace_all(r"\s+", " ")


def actor_keys(actors: pl.LazyFrame) -> pl.LazyFrame:
    """One row per lookup key (key) of an actor dictionary (name, code, country_code, kind, label,
    canonical): the entry of the most specific kind, earlier rows winning ties."""
    return (
        actors.with_row_index("_order")
        .with_columns(
            key=_lookup_key(pl.col("name")),
            _priority=pl.col("kind").replace_strict(_KIND_PRIORITY, default=9, return_dtype=pl.Int32),
        )
        .filter(pl.col("key") != "")
        .sort("key", "_priority", "_order")
        .unique("key", keep="first", maintain_order=True)
        .select("key", pl.col("code").alias("actor_code"), pl.col("country_code").replace("", None),
                "kind", pl.col("label").alias("actor_label"), pl.col("canonical").alias("actor_name"))
    )


# Role nouns that are no agent of their own: "Hamas Leaders" are Hamas acting, as the coder reads
# "Hamas leaders" (transforms.events, `_resolved`).
_ROLE_NOUNS = ("leader", "leadership", "member", "chief", "spokesman", "spokeswoman", "spokesperson")


def _composed_codes(base: pl.LazyFrame, keys: pl.LazyFrame, agents: pl.LazyFrame | None) -> pl.LazyFrame:
    """`base` with a code for a name the dictionaries do not know made of a known actor and an
    agent or role noun, as the coder composes "Iranian officials" and "Hamas leaders"
    (transforms.events, `_resolved`), from the same agent nouns (lexicons/agents.tsv): a country or
    nationality and an agent noun take the agent's code ("Iranian Government" -> IRNGOV, "U.S. Senate"
    -> USALEG); a group or IGO and a role noun keep the group's ("Hamas Leaders" -> PSEREBHMS; "Hamas
    Government" is no state's government and stays uncoded). A plural head is read as its singular."""
    if agents is None:
        return base
    owners = keys.filter(pl.col("kind").is_in(["country", "nationality", "group", "igo"])).select(
        pl.col("key").alias("_owner_key"), pl.col("actor_code").alias("_owner_code"),
        pl.col("country_code").alias("_owner_country"), pl.col("kind").alias("_owner_kind"),
        pl.col("actor_name").alias("_owner_name"))
    nouns = agents.select(pl.col("noun").str.to_lowercase().alias("_head"), pl.col("agent_code").alias("_agent")
                          ).unique("_head", keep="first", maintain_order=True)
    words = pl.col("_name").str.split(" ")
    state = pl.col("_owner_kind").is_in(["country", "nationality"]) & (pl.col("_owner_code").str.len_chars() == 3)
    group = pl.col("_owner_kind").is_in(["group", "igo"])
    composable = pl.col("actor_code").is_null() & pl.col("_owner_code").is_not_null() & (
        (state & pl.col("_agent").is_not_null()) | (group & pl.col("_singular").is_in(_ROLE_NOUNS)))
    return (
        base.with_columns(_owner_key=_lookup_key(words.list.slice(0, words.list.len() - 1).list.join(" ")),
                          _head=words.list.last().str.to_lowercase())
        .with_columns(_singular=pl.col("_head").str.replace(r"s$", ""))
        .join(owners, on="_owner_key", how="left", maintain_order="left")
        .join(nouns, on="_head", how="left", maintain_order="left")
        .join(nouns.rename({"_head": "_singular", "_agent": "_singular_agent"}), on="_singular", how="left",
              maintain_order="left")
        .with_columns(_agent=pl.coalesce("_agent", "_singular_agent"))
        .with_columns(
            actor_code=pl.when(composable & state).then(pl.col("_owner_code") + pl.col("_agent"))
            .when(composable & group).then("_owner_code").otherwise("actor_code"),
            country_code=pl.when(composable).then("_owner_country").otherwise("country_code"),
            # Hamas's leaders are Hamas acting, and counted as Hamas (the coder gives "Hamas
            # leaders" Hamas's entity too); a state's agent ("Iranian Government") is its own entity.
            alias_reason=pl.when(composable & group).then(pl.lit("role")).otherwise("alias_reason"),
            name=pl.when(composable & group).then("_owner_name").otherwise("name"),
            kind=pl.when(composable & group).then("_owner_kind").otherwise("kind"),
        )
        .drop("_owner_key", "_head", "_singular", "_owner_code", "_owner_country", "_owner_kind", "_owner_name",
              "_agent", "_singular_agent")
    )


# Words an acronym skips ("National Aeronautics and Space Administration" -> NASA).
_ACRONYM_SKIPS = ("of", "and", "the", "for", "on", "in", "to", "de", "&")


def _short_forms(resolved: pl.LazyFrame, keys: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (article_id, short form key) an organisation's full name in that article
    stands for, with the full name's entity: the name after a country it starts with ("United
    States Congress" -> "Congress", "U.S. Senate" -> "Senate"), a party's adjective ("Democratic
    Party" -> "Democratic") and its acronym ("World Health Organization" -> "WHO"). The most used
    full name wins a short form two share, then the first."""
    countries = keys.filter(pl.col("kind").is_in(["country", "nationality"])).select("key")
    full = resolved.filter((pl.col("entity_label") == "ORG") & pl.col("name").str.contains(" "))
    words = pl.col("name").str.split(" ")
    after_country = (
        full.with_columns(_words=words).with_columns(_n=pl.int_ranges(1, pl.col("_words").list.len()))
        .explode("_n")
        .with_columns(_prefix=_lookup_key(pl.col("_words").list.slice(0, pl.col("_n")).list.join(" ")),
                      _short=pl.col("_words").list.slice(pl.col("_n")).list.join(" "))
        .join(countries, left_on="_prefix", right_on="key", how="semi")
    )
    party = full.filter(words.list.last() == "Party").with_columns(
        _short=words.list.slice(0, words.list.len() - 1).list.join(" "))
    initials = words.list.eval(pl.element().filter(~pl.element().str.to_lowercase().is_in(_ACRONYM_SKIPS))
                               .str.slice(0, 1)).list.join("")
    acronym = full.with_columns(_short=initials).filter(
        (pl.col("_short").str.len_chars() >= 2) & (pl.col("_short") == pl.col("_short").str.to_uppercase()))
    columns = ["article_id", "_short", "name", "entity_label", "actor_code", "country_code", "kind", "start_char"]
    return (
        pl.concat([f.select(columns) for f in (after_country, party, acronym)])
        .with_columns(_short=_lookup_key(pl.col("_short")))
        .group_by("article_id", "_short", "name")
        .agg(pl.len().alias("_uses"), pl.col("start_char").min().alias("_first"),
             pl.col("entity_label").first(), pl.col("actor_code", "country_code", "kind").drop_nulls().first())
        .sort("article_id", "_short", "_uses", "_first", "name", descending=[False, False, True, False, False])
        .unique(["article_id", "_short"], keep="first", maintain_order=True)
        .select("article_id", "_short", pl.col("name").alias("_full"), pl.col("entity_label").alias("_full_label"),
                pl.col("actor_code").alias("_full_code"), pl.col("country_code").alias("_full_country"),
                pl.col("kind").alias("_full_kind"))
    )


def _linked_to(frame: pl.LazyFrame, full_names: pl.LazyFrame, short: pl.Expr, reason: pl.Expr,
               labels: tuple[str, ...] | None = None) -> pl.LazyFrame:
    """`frame` with the mentions whose `short` key is a short form in `full_names` (article_id,
    _short, _full, _full_label, _full_code, _full_country, _full_kind) renamed to the full name,
    when the dictionaries gave them no code of their own (and, with `labels`, they carry one of them)."""
    linkable = pl.col("_full").is_not_null() & pl.col("actor_code").is_null() & (pl.col("name") != pl.col("_full"))
    if labels is not None:
        linkable = linkable & pl.col("entity_label").is_in(labels)
    return (
        frame.with_columns(_short=short)
        .join(full_names, on=["article_id", "_short"], how="left", maintain_order="left")
        .with_columns(
            alias_reason=pl.when(linkable).then(reason).otherwise("alias_reason"),
            name=pl.when(linkable).then("_full").otherwise("name"),
            entity_label=pl.when(linkable).then("_full_label").otherwise("entity_label"),
            actor_code=pl.when(linkable).then("_full_code").otherwise("actor_code"),
            country_code=pl.when(linkable).then("_full_country").otherwise("country_code"),
            kind=pl.when(linkable).then("_full_kind").otherwise("kind"),
        )
        .drop("_short", "_full", "_full_label", "_full_code", "_full_country", "_full_kind")
    )


def resolved_mentions(mentions: pl.LazyFrame, keys: pl.LazyFrame, agents: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """The mentions (mention_id) linked to canonical entities: dictionary names get their canonical
    name, label and CAMEO codes ("U.S." -> United States, USA; "Qatari" -> Qatar); a country and
    an agent noun of `agents` (noun, agent_code) compose a code ("Iranian Government" -> IRNGOV);
    inside an article a lone surname joins the full name mentioned there ("Trump" -> Donald
    Trump, as PERSON), and so do an organisation's short forms ("Congress" after "United States
    Congress", "WHO" after "World Health Organization"). Adds name, entity_label, actor_code, country_code, kind, alias_reason (why the
    name differs from the text: dictionary, surname, short form, acronym, role (a group's role noun:
    "Hamas Leaders" is Hamas); null when it does
    not), entity_key and entity_id (see `entity_key`)."""
    base = (
        mentions.with_columns(key=_lookup_key(pl.col("text")), _name=canonical_entity_name(pl.col("text")))
        .join(keys, on="key", how="left", maintain_order="left")
        # A capital's name on a person ("Denzel Washington" is not; "Washington" labelled PERSON
        # might be) is no capital.
        .with_columns(
            pl.when((pl.col("kind") == "capital") & (pl.col("label") == "PERSON")).then(None).otherwise(pl.col(c))
            .alias(c) for c in ("actor_code", "country_code", "kind", "actor_label", "actor_name")
        )
        # A one-word alias of a group or IGO ("Foundation" for El Rukn) is often a common word: it
        # links only in capitals ("ETA") or in an article that also names the actor in full.
        .join(mentions.select("article_id", canonical_entity_name(pl.col("text")).str.to_lowercase()
                              .alias("_full_named")).unique(), how="left", maintain_order="left",
              left_on=["article_id", pl.col("actor_name").str.to_lowercase()],
              right_on=["article_id", "_full_named"], coalesce=False)
        .with_columns(
            pl.when(pl.col("kind").is_in(["group", "igo"]) & ~pl.col("_name").str.contains(" ")
                    & (pl.col("_name").str.to_lowercase() != pl.col("actor_name").str.to_lowercase())
                    & (pl.col("text") != pl.col("text").str.to_uppercase()) & pl.col("_full_named").is_null())
            .then(None).otherwise(pl.col(c)).alias(c)
            for c in ("actor_code", "country_code", "kind", "actor_label", "actor_name")
        )
        .drop("_full_named")
        # A person the dictionaries list under a group ("Khaled Meshaal" under Hamas) keeps their
        # own name and PERSON label and takes the group's code, as CAMEO codes them.
        .with_columns(
            actor_name=pl.when(pl.col("kind").is_in(["group", "igo"]) & (pl.col("label") == "PERSON")
                               & (pl.col("actor_name") != pl.col("_name"))).then(pl.col("_name"))
            .otherwise(pl.col("actor_name")),
            actor_label=pl.when(pl.col("kind").is_in(["group", "igo"]) & (pl.col("label") == "PERSON")
                                & (pl.col("actor_name") != pl.col("_name"))).then(pl.lit("PERSON"))
            .otherwise(pl.col("actor_label")),
        )
        .with_columns(
            name=pl.coalesce("actor_name", "_name"),
            entity_label=pl.when(pl.col("kind").is_in(["country", "nationality"])).then(pl.lit("GPE"))
            .otherwise(pl.coalesce("actor_label", "label")),
            alias_reason=pl.when(pl.col("actor_name").is_not_null()
                                 & (_lookup_key(pl.col("actor_name")) != _lookup_key(pl.col("_name"))))
            .then(pl.lit("dictionary")),
        )
    )
    base = _composed_codes(base, keys, agents)
    people = (
        base.filter((pl.col("entity_label") == "PERSON") & pl.col("name").str.contains(" "))
        .group_by("article_id", "name")
        .agg(pl.len().alias("_uses"), pl.col("start_char").min().alias("_first"),
             pl.col("actor_code").drop_nulls().first(), pl.col("country_code").drop_nulls().first(),
             pl.col("kind").drop_nulls().first())
        .with_columns(_short=pl.col("name").str.split(" ").list.last())
        .sort("article_id", "_short", "_uses", "_first", "name", descending=[False, False, True, False, False])
        .unique(["article_id", "_short"], keep="first", maintain_order=True)
        .select("article_id", "_short", pl.col("name").alias("_full"), pl.lit("PERSON").alias("_full_label"),
                pl.col("actor_code").alias("_full_code"), pl.col("country_code").alias("_full_country"),
                pl.col("kind").alias("_full_kind"))
    )
    # A one-word name only: "Trump" joins Donald Trump, "Lake Trump" stays itself.
    single = pl.when(~pl.col("name").str.contains(" ")).then(pl.col("name"))
    linked = _linked_to(base, people, single, pl.lit("surname"))
    # An organisation's short form is one a model reads as an organisation or a group's adjective:
    # "D.C." (a place) is not the District Court, "Nicola Sturgeon" not a span "Scotland Nicola Sturgeon".
    linked = _linked_to(linked, _short_forms(linked, keys), _lookup_key(pl.col("name")),
                        pl.lit("short form"), labels=("ORG", "NORP"))
    # The acronym's reason is told apart after the join: the short forms of one full name share a key.
    linked = linked.with_columns(alias_reason=pl.when(
        (pl.col("alias_reason") == "short form") & canonical_entity_name(pl.col("text")).str.contains(r"^[A-Z]+$")
    ).then(pl.lit("acronym")).otherwise("alias_reason"))
    # A lone month name the model calls a person ("in May", "May God protect them": 18 demo
    # articles) is no one, unless it is the surname of a person the article names in full
    # (Theresa May's "May" was linked above and is kept).
    lone_month = ((pl.col("entity_label") == "PERSON") & pl.col("alias_reason").is_null()
                  & pl.col("name").is_in(_MONTHS))
    return keyed_mentions(
        linked.filter(~lone_month).with_columns(
            # The mention keeps its own label unless the entity layer corrected it; a nationality
            # stays NORP while its entity is the country.
            label=pl.when(pl.col("kind") == "nationality").then(pl.lit("NORP")).otherwise("entity_label"),
        )
        .drop("key", "_name", "actor_label", "actor_name")
    )


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


# What may follow a dateline's place on its line: nothing, or a date ("ATHENS 1996-08-22"), or a
# state, date and agency before a dash or colon ("LONDON, Aug 22 (Reuters) -", "GREECE: ...").
_AFTER_DATELINE = (r"^(?:\s*$|\s+\d{4}-\d{2}-\d{2}\s*$|(?:,\s*[A-Za-z .]{1,25})?\s*(?:\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2}\.? \d{1,2})?"
                   r"\s*(?:\([^)]{1,20}\))?\s*[-–—:]\s)")


def dateline_free_mentions(mentions: pl.LazyFrame, documents: pl.LazyFrame) -> pl.LazyFrame:
    """The resolved mentions (same rows and order) with no actor code on a dateline: a place in
    capitals opening a line of its field (`documents`: article_id, field, content) and followed
    by nothing, a date or a dash ("GREECE", "ATHENS 1996-08-22", "LONDON, Aug 22 (Reuters) -"). It
    names where the story was filed, not who acts; it keeps its entity. Four capitals at least:
    "U.S. - China talks" opens with the country acting."""
    content = pl.col("_content")
    before = content.str.slice(0, pl.col("start_char")).str.extract(r"([^\n]*)$").str.strip_chars()
    after = content.str.slice(pl.col("end_char")).str.extract(r"^([^\n]*)")
    is_dateline = ((before == "") & pl.col("text").str.contains(r"^[A-Z][A-Z .'-]+$")
                   & (pl.col("text").str.count_matches(r"[A-Z]") >= 4) & pl.col("entity_label").is_in(["GPE", "LOC"])
                   & after.str.contains(_AFTER_DATELINE))
    return (
        mentions.join(documents.select("article_id", "field", pl.col("content").alias("_content")),
                      on=["article_id", "field"], how="left", maintain_order="left")
        .with_columns(actor_code=pl.when(is_dateline.fill_null(False)).then(None).otherwise("actor_code"))
        .drop("_content")
    )


def _votes_for(label: pl.Expr, actor_code: pl.Expr, country_code: pl.Expr) -> pl.Expr:
    """The label a mention votes for its entity: its own, but a nationality ("Qatari", NORP) of a
    country entity (its actor code is the country's) votes GPE, as the country's name does."""
    return (pl.when((label == "NORP") & (actor_code == country_code) & (actor_code.str.len_chars() == 3))
            .then(pl.lit("GPE")).otherwise(label))


def entity_labels(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per entity (entity_id) with its label: the label most of its mentions vote for
    (`_votes_for`), ties to the first in alphabetical order. Entities a run touches are relabelled
    in the warehouse the same way (warehouse/sql/refresh_entity_labels.sql)."""
    return (
        mentions.group_by("entity_id", _votes_for(pl.col("label"), pl.col("actor_code"), pl.col("country_code"))
                          .alias("label"))
        .agg(pl.len().alias("_votes"))
        .sort("entity_id", "_votes", "label", descending=[False, True, False])
        .unique("entity_id", keep="first", maintain_order=True)
        .select("entity_id", "label")
    )


def entities(mentions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per canonical entity (entity_id) with its name, label, codes and counts."""
    if "entity_label" not in mentions.collect_schema().names():
        mentions = mentions.with_columns(entity_label=pl.col("label"), name=canonical_entity_name(pl.col("text")),
                                         actor_code=pl.lit(None, pl.String), country_code=pl.lit(None, pl.String))
    names = (
        mentions.group_by("entity_id", "name")
        .agg(pl.len().alias("_uses"))
        .sort("entity_id", "_uses", "name", descending=[False, True, False])
        .unique("entity_id", keep="first", maintain_order=True)
        .select("entity_id", "name")
    )
    counts = mentions.group_by("entity_id").agg(
        pl.col("actor_code").drop_nulls().sort().first(),
        pl.col("country_code").drop_nulls().sort().first(),
        pl.len().cast(pl.Int64).alias("mention_count"),
        pl.col("article_id").n_unique().cast(pl.Int64).alias("article_count"),
    )
    return (
        names.join(entity_labels(mentions), on="entity_id", how="inner")
        .join(counts, on="entity_id", how="inner")
        .select("entity_id", "name", "label", "actor_code", "country_code", "mention_count", "article_count")
        .sort("entity_id")
    )


def entity_aliases(mentions: pl.LazyFrame, run_id: str, at) -> pl.LazyFrame:
    """One row per (entity_id, alias) the resolved `mentions` linked under another name than the
    entity's (alias_reason set), found by run `run_id` started `at`."""
    return (
        mentions.filter(pl.col("alias_reason").is_not_null())
        .select("entity_id", canonical_entity_name(pl.col("text")).alias("alias"), pl.col("alias_reason").alias("reason"))
        .sort("entity_id", "alias", "reason")
        .unique(["entity_id", "alias"], keep="first", maintain_order=True)
        .with_columns(run_id=pl.lit(run_id, pl.String), first_seen_at=pl.lit(at).cast(pl.Datetime("us", "UTC")))
    )


# What an upgrade of a warehouse written before label-free ids and places in context reads its
# stored rows as (warehouse.store._retire_label_bound_entity_ids).

def stored_resolved_mentions(mentions: pl.LazyFrame, stored: pl.LazyFrame, keys: pl.LazyFrame) -> pl.LazyFrame:
    """The stored mentions (mention_id; article_id, field, text, label, start_char, end_char,
    entity_id) as a run's resolved mentions: `from_entity_id` (their stored id), the name,
    actor_code and country_code of their stored entity (`stored`: entity_id, name, actor_code,
    country_code) and the dictionary `kind` (from `keys`, as actor_keys returns them), ready for
    transforms.geo.geocoded_mentions and keyed_mentions, the chain a run's mentions go through."""
    # A stored entity has no kind, and its codes do not tell one: a capital (Doha, QATGOV) and a
    # minister (LKAGOV) share a code's shape, and Gaza is a country whose code (PSEGZA) is not its
    # country's. The dictionary does, as in a run: the kind (and country) is what a run's lookup
    # finds for the mention's text ("Qatari": nationality, QAT), so an upgraded "Qatar" is keyed by
    # its name as a run's is, even where the writing version linked no code. A text the lookup does
    # not know takes the kind of its entity's name when the writing run linked that entity to the
    # dictionaries (it has an actor code): a surname or short form it linked to a full name.
    kinds = keys.select("key", "kind", pl.col("country_code").alias("_text_country"))
    entity = stored.select("entity_id", "name", "actor_code", "country_code")
    return (
        mentions.rename({"entity_id": "from_entity_id"})
        .join(entity, left_on="from_entity_id", right_on="entity_id", how="left", maintain_order="left")
        # A mention of an entity the table lacks is named by its own text, as a run names it.
        .with_columns(name=pl.coalesce("name", canonical_entity_name(pl.col("text"))))
        .with_columns(_text_key=_lookup_key(pl.col("text")), _name_key=_lookup_key(pl.col("name")))
        .join(kinds.rename({"key": "_text_key", "kind": "_text_kind"}), on="_text_key", how="left",
              maintain_order="left")
        .join(kinds.select(pl.col("key").alias("_name_key"), pl.col("kind").alias("_name_kind")), on="_name_key",
              how="left", maintain_order="left")
        .with_columns(
            kind=pl.coalesce("_text_kind", pl.when(pl.col("actor_code").is_not_null()).then("_name_kind")),
            country_code=pl.when(pl.col("_text_kind").is_not_null()).then("_text_country").otherwise("country_code"),
        )
        .drop("_text_key", "_name_key", "_text_kind", "_text_country", "_name_kind")
    )


def upgraded_entity_ids(mentions: pl.LazyFrame, stored: pl.LazyFrame) -> pl.LazyFrame:
    """One row per stored entity (from_entity_id; `stored`: entity_id, name, label) none of whose
    `mentions` (from_entity_id, entity_id: the stored and the new id, e.g. stored_resolved_mentions
    geocoded and keyed) keeps its id: to_entity_id, the entity most of its mentions went to (ties
    to the smaller id; an entity without mentions goes to its name's id), from_name, from_label,
    targets (how many entities its mentions went to: more than one where a name split into places,
    "Norfolk" in England and in Virginia) and split_into, those entities with their numbers of
    mentions, most first ("<id> (3), <id> (1)"): what an upgrade rewrites and records."""
    moves = (
        mentions.group_by("from_entity_id", "entity_id")
        .agg(pl.len().cast(pl.Int64).alias("_mentions"))
        .with_columns(_kept=pl.col("entity_id") == pl.col("from_entity_id"))
    )
    order = ["_mentions", "entity_id"]
    targets = moves.group_by("from_entity_id").agg(
        pl.col("entity_id").sort_by(order, descending=[True, False]).first().alias("_majority"),
        pl.format("{} ({})", "entity_id", "_mentions").sort_by(order, descending=[True, False])
        .str.join(", ").alias("split_into"),
        pl.len().cast(pl.Int64).alias("targets"),
        pl.col("_kept").any(),
    )
    # Through the key function of runs: an entity without mentions is keyed by its name.
    named = keyed_mentions(stored.select(pl.col("entity_id").alias("from_entity_id"), "name"))
    return (
        stored.select(pl.col("entity_id").alias("from_entity_id"), pl.col("name").alias("from_name"),
                      pl.col("label").alias("from_label"))
        .join(named.select("from_entity_id", pl.col("entity_id").alias("_by_name")), on="from_entity_id",
              how="left")
        .join(targets, on="from_entity_id", how="left")
        .with_columns(to_entity_id=pl.coalesce("_majority", "_by_name"),
                      split_into=pl.coalesce("split_into", pl.format("{} (0)", "_by_name")),
                      targets=pl.col("targets").fill_null(1))
        .filter(~pl.col("_kept").fill_null(False) & (pl.col("to_entity_id") != pl.col("from_entity_id")))
        .select("from_entity_id", "to_entity_id", "from_name", "from_label", "targets", "split_into")
        .sort("from_entity_id")
    )
