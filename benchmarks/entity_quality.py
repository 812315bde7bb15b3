"""Entity quality of a warehouse: the top PERSON entities, and real things split across entities.

    .venv/bin/python benchmarks/entity_quality.py [WAREHOUSE] [--baseline WAREHOUSE] [--top N]
    (default ./demo-warehouse, built by `make demo`; N = 100)

Prints, for the warehouse and, with --baseline, for the baseline warehouse read in the same run
(e.g. a copy of a demo warehouse built by an earlier version; a warehouse is only read):

- the top 20 PERSON entities by articles, so a reader can check that no platform, disease or
  publication ("Twitter", "COVID-19", "Wikinews") is among them;
- every real thing split across entities among the top N entities by articles: an entity of the
  top N and another entity (anywhere in the warehouse) that are one thing by one of these rules,
  applied alike to both warehouses:
  * `same name`: the same name compared lower-case, without dots, a leading "the" or a possessive
    (in a warehouse of label-bound ids, one name under two labels);
  * `dictionary`: two names the actor dictionaries (lexicons/actors.tsv) give one canonical actor;
  * `short form`: one name is the other's short form as the entity layer reads it in an article
    (after a country: "Congress" / "United States Congress"; a party's adjective: "Democratic" /
    "Democratic Party"; an acronym: "WHO" / "World Health Organization");
  * `recorded alias`: the warehouse's entity_aliases links the name to another entity by the
    dictionaries; `linked in another article`: by a surname, short form or acronym there.
  The dictionary rules and the same name say the two are one thing; a short form or a surname
  linked elsewhere may or may not be (a lone
  "Parliament" is not always the French Parliament; the entity layer links one only in an article
  that names the full name), so those pairs are listed apart: what an analyst may have to add up.

Ends with the counts of both warehouses side by side.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lexicons.loaders import actor_dictionary  # noqa: E402
from transforms.entities import _ACRONYM_SKIPS, _lookup_key, actor_keys  # noqa: E402
from warehouse.store import Warehouse, relations  # noqa: E402

TOP_PERSONS = 20


def stored_entities(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The warehouse's entities ranked by articles (rank 1 = most), and its recorded aliases
    (entity_id, alias; empty in a warehouse without entity_aliases)."""
    store = Warehouse(root)
    with store.connect() as con:
        has_aliases = "entity_aliases" in relations(con)
    found = store.query("SELECT entity_id, name, label, actor_code, article_count, mention_count FROM entities")
    ranked = found.sort(["article_count", "mention_count", "name", "entity_id"], descending=[True, True, False, False]
                        ).with_row_index("rank", offset=1)
    aliases = (store.query("SELECT entity_id, alias, reason FROM entity_aliases") if has_aliases
               else pl.DataFrame(schema={"entity_id": pl.String, "alias": pl.String, "reason": pl.String}))
    return ranked, aliases


def _short_forms(entities: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """(short, entity_id): the short forms of each multi-word name, as the entity layer links them."""
    countries = set(keys.filter(pl.col("kind").is_in(["country", "nationality"]))["key"].to_list())
    rows = []
    for entity_id, name in entities.filter(pl.col("name").str.contains(" ")).select("entity_id", "name").iter_rows():
        words = name.split(" ")
        for n in range(1, len(words)):
            if _key(" ".join(words[:n])) in countries:
                rows.append((" ".join(words[n:]), entity_id))
        if words[-1] == "Party":
            rows.append((" ".join(words[:-1]), entity_id))
        initials = "".join(w[0] for w in words if w and w.lower() not in _ACRONYM_SKIPS)
        if len(initials) >= 2 and initials.isupper():
            rows.append((initials, entity_id))
    return pl.DataFrame(rows, schema={"short": pl.String, "entity_id": pl.String}, orient="row")


def _key(name: str) -> str:
    return pl.select(_lookup_key(pl.lit(name))).item()


def splits(ranked: pl.DataFrame, aliases: pl.DataFrame, keys: pl.DataFrame, top: int) -> pl.DataFrame:
    """One row per pair (an entity of the top `top`, another entity) that name one real thing,
    with the rule that says so."""
    named = ranked.with_columns(key=_lookup_key(pl.col("name")))
    canonical = keys.select("key", _lookup_key(pl.col("actor_name")).alias("canonical"))
    named = named.join(canonical, on="key", how="left").with_columns(canonical=pl.coalesce("canonical", "key"))
    names = named.select("entity_id", pl.col("key").alias("link"))
    # rule -> (entity_id, link) of one side, joined with the other side's (entity_id, link)
    sides = {
        "same name": (names, names),
        "dictionary": (named.select("entity_id", pl.col("canonical").alias("link")),
                       named.select("entity_id", pl.col("canonical").alias("link"))),
        # as the entity layer links them: an organisation's short form read as ORG or NORP
        "short form": (_short_forms(ranked.filter(pl.col("label") == "ORG"), keys)
                       .select("entity_id", _lookup_key(pl.col("short")).alias("link")),
                       named.filter(pl.col("label").is_in(["ORG", "NORP"])).select("entity_id", pl.col("key").alias("link"))),
        # A dictionary alias holds everywhere; a surname, short form or acronym was linked in an
        # article that named the full name, and may be someone or something else elsewhere.
        "recorded alias": (aliases.filter(pl.col("reason") == "dictionary")
                           .select("entity_id", _lookup_key(pl.col("alias")).alias("link")), names),
        "linked in another article": (aliases.filter(pl.col("reason") != "dictionary")
                                      .select("entity_id", _lookup_key(pl.col("alias")).alias("link")), names),
    }
    found = [
        one.unique().join(other.unique(), on="link", suffix="_other")
        .filter(pl.col("entity_id") != pl.col("entity_id_other")).select("entity_id", "entity_id_other", rule=pl.lit(rule))
        for rule, (one, other) in sides.items()
    ]
    both_ways = pl.concat(found)
    both_ways = pl.concat([both_ways, both_ways.select(pl.col("entity_id_other").alias("entity_id"),
                                                       pl.col("entity_id").alias("entity_id_other"), "rule")])
    pairs = (
        both_ways.unique()
        # one row per pair; a pair the same-name rule finds is shown as that alone
        .group_by("entity_id", "entity_id_other").agg(pl.col("rule").unique().sort())
        .with_columns(rule=pl.when(pl.col("rule").list.contains("same name")).then(pl.lit("same name"))
                      .otherwise(pl.col("rule").list.join(", ")))
    )
    ends = ranked.select("entity_id", "rank", "name", "label", "article_count")
    out = (
        pairs.join(ends, on="entity_id").join(ends, left_on="entity_id_other", right_on="entity_id", suffix="_other")
        .filter((pl.col("rank") <= top) & ((pl.col("rank") < pl.col("rank_other")) | (pl.col("rank_other") > top)))
        .sort("rank", "rank_other")
    )
    return out.select("rank", "name", "label", "article_count", "rank_other", "name_other", "label_other",
                      "article_count_other", "rule")


def report(title: str, root: Path, keys: pl.DataFrame, top: int) -> dict[str, int]:
    ranked, aliases = stored_entities(root)
    print(f"== {title}: {root} ({ranked.height} entities)")
    persons = ranked.filter(pl.col("label") == "PERSON").head(TOP_PERSONS)
    print(f"Top {TOP_PERSONS} PERSON entities (articles, mentions, actor code):")
    for i, (name, articles, mentions, code) in enumerate(
            persons.select("name", "article_count", "mention_count", "actor_code").iter_rows(), start=1):
        print(f"  {i:2d}. {name} ({articles}, {mentions}, {code or '-'})")
    found = splits(ranked, aliases, keys, top)
    maybe = pl.col("rule").str.split(", ").list.set_difference(["short form", "linked in another article"]
                                                               ).list.len() == 0
    possible = found.filter(maybe)
    found = found.filter(~maybe)
    for title, rows in ((f"Real things split among the top {top} entities", found),
                        (f"Short forms and surnames apart from a full name among the top {top} (one thing only "
                         f"where the article means it: 'Parliament' is not always the French Parliament)", possible)):
        print(f"{title}: {rows.height}")
        for r in rows.iter_rows(named=True):
            other = f"#{r['rank_other']}" if r["rank_other"] <= top else f"#{r['rank_other']} (outside the top {top})"
            print(f"  #{r['rank']} {r['name']} [{r['label']}, {r['article_count']} articles] ~ {other} "
                  f"{r['name_other']} [{r['label_other']}, {r['article_count_other']} articles]: {r['rule']}")
    top_labels = ranked.head(top)
    return {
        "entities": ranked.height,
        "splits": found.height,
        "short forms apart": possible.height,
        "same-name splits": found.filter(pl.col("rule") == "same name").height,
        "top names under two labels": top_labels.group_by(_lookup_key(pl.col("name"))).agg(
            pl.col("label").n_unique()).filter(pl.col("label") > 1).height,
    }


def main(argv: list[str]) -> None:
    args, baseline, top = [], None, 100
    it = iter(argv)
    for a in it:
        if a == "--baseline":
            baseline = Path(next(it))
        elif a == "--top":
            top = int(next(it))
        else:
            args.append(a)
    root = Path(args[0]) if args else Path("demo-warehouse")
    keys = actor_keys(actor_dictionary().lazy()).collect()
    figures = {"this": report("warehouse", root, keys, top)}
    if baseline is not None:
        print()
        figures["baseline"] = report("baseline", baseline, keys, top)
        print()
        print(f"{'':30s} {'baseline':>10s} {'this':>10s}")
        for name in figures["this"]:
            print(f"{name:30s} {figures['baseline'][name]:>10d} {figures['this'][name]:>10d}")


if __name__ == "__main__":
    main(sys.argv[1:])
