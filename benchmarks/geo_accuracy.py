"""Geocoding accuracy on a judged sample of place mentions, new resolver against the old rule.

    .venv/bin/python benchmarks/geo_accuracy.py            # score the judged sample
    .venv/bin/python benchmarks/geo_accuracy.py --draw     # (re)draw the sample to judge
    .venv/bin/python benchmarks/geo_accuracy.py --show dev # print dev mentions with both answers

Articles: the demo's Wikinews files (samples/wikinews/) and every BBC_STEP-th article of the
BBC corpus (../shared/data/corpus/bbc.jsonl, research use only: read here, never copied), normalized
as a run normalizes them and read by the pipeline's entity layer (`flows.coding`). Each article
falls in the dev or the test half by a hash of its article_id; the rules were developed on dev
only, and the sample is drawn from test only.

The sample: SAMPLE_SIZE GPE/LOC/FAC mentions, drawn with SAMPLE_SEED from the test mentions that
either system geocodes. Each is judged against its sentence (benchmarks/data/geo_judged.tsv: the
right country and the right GeoNames place, keyed by article id and character offsets, with
reader and date). Printed per system, over the judged mentions it geocodes: right country, right
place; and how many of the sample it geocodes. The baseline, in the same run, is the rule main used
before, on the entity layer's name as main's flow read it: a country of the name, else the most
populous city of cities15000 with the name. (The samples were drawn with that rule applied to the
mention's text, which geocodes fewer mentions: --draw keeps that pool and repeats the samples.)
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILES = (ROOT / "samples" / "wikinews" / "wikinews_2019.csv", ROOT / "samples" / "wikinews" / "wikinews_2020.csv")
BBC_FILE = ROOT.parent / "shared" / "data" / "corpus" / "bbc.jsonl"
JUDGED = ROOT / "benchmarks" / "data" / "geo_judged.tsv"
# A second judged set: test-half mentions where the two systems answer differently (another place,
# or one places the name and the other not; not a name only the new gazetteer lists, such as a
# US state or "UK"), drawn with the same seed: where the rules matter.
DISAGREEMENTS = ROOT / "benchmarks" / "data" / "geo_judged_disagreements.tsv"
DISAGREEMENT_SIZE = 40
# Every BBC_STEP-th article of the corpus (all five categories: business, entertainment, politics,
# sport, tech), about 445 articles.
BBC_STEP = 5
SAMPLE_SIZE = 100
SAMPLE_SEED = 20261207
JUDGED_SCHEMA = {"source": pl.String, "article_id": pl.String, "field": pl.String, "start_char": pl.Int32,
                 "end_char": pl.Int32, "country": pl.String, "geonames_id": pl.Int64, "place": pl.String,
                 "reader": pl.String, "judged_on": pl.String}


def split_of(article_id: str) -> str:
    """'dev' or 'test': the half an article falls in, by the first byte of its id's SHA-1."""
    return "dev" if hashlib.sha1(article_id.encode()).digest()[0] % 2 == 0 else "test"


def benchmark_articles(bbc_file: Path = BBC_FILE, bbc_step: int = BBC_STEP) -> pl.DataFrame:
    """One row per article (source, article_id, title, text, language, split), as a run normalizes them."""
    from readers.sources import extracted_records
    from transforms.normalize import articles_from_records

    frames = []
    for source, files in (("demo", list(DEMO_FILES)), ("bbc", [bbc_file])):
        records = extracted_records(files).records_frame()
        articles = articles_from_records(records.lazy(), datetime(2026, 12, 1, tzinfo=timezone.utc)).collect()
        articles = articles.filter(pl.col("reject_reason").is_null() & pl.col("duplicate_of").is_null())
        if source == "bbc":
            articles = articles.gather_every(bbc_step)
        frames.append(articles.select(pl.lit(source).alias("source"), "article_id", "title", "text", "language"))
    return pl.concat(frames).with_columns(split=pl.col("article_id").map_elements(split_of, return_dtype=pl.String))


def article_mentions(articles: pl.DataFrame) -> pl.DataFrame:
    """The entity layer's resolved mentions of `articles` (every label: the resolver reads ORG,
    FAC and NORP mentions for context), as a run makes them."""
    from config.settings import Settings
    from flows.coding import resolved_language, resources
    from transforms.entities import nlp_documents
    from transforms.nlp import parsed_documents

    documents = nlp_documents(articles.lazy()).collect()
    res = resources(Settings().model)
    parsed = parsed_documents(res.nlp, documents["content"].to_list(), 32, 1)
    return resolved_language(documents, parsed, res).mentions


def baseline_geocoded(mentions: pl.LazyFrame, places: pl.LazyFrame, by_text: bool = False) -> pl.LazyFrame:
    """The old rule, as main's flow applied it: the entity layer's name of a GPE/LOC/FAC mention
    ("U.S." is United States) is the country of that name, else the most populous city of
    cities15000 with the name (no context, no regions or continents). `by_text`: the mention's own
    text instead of the entity layer's name (how the judged samples were drawn)."""
    from transforms.geo import PLACE_LABELS, _place_key

    table = (
        places.filter(pl.col("feature_class").is_in(["country", "city"]) & ~pl.col("is_alternate")
                      & ((pl.col("feature_class") == "country") | (pl.col("population") >= 15_000)))
        .with_columns(_key=_place_key(pl.col("name")))
        .sort("_key", pl.col("feature_class") != "country", "population", descending=[False, False, True])
        .unique("_key", keep="first", maintain_order=True)
        .select("_key", pl.col("geonames_id").alias("base_geonames_id"), pl.col("country_code").alias("base_country_code"))
    )
    names = mentions.collect_schema().names()
    label = pl.col("entity_label") if "entity_label" in names else pl.col("label")
    name = pl.col("name") if "name" in names and not by_text else pl.col("text")
    return (
        mentions.with_columns(_key=pl.when(label.is_in(PLACE_LABELS)).then(_place_key(name)))
        .join(table, on="_key", how="left", maintain_order="left")
        .drop("_key")
    )


def both_systems(mentions: pl.DataFrame) -> pl.DataFrame:
    """Place mentions with the new resolver's and the baseline's answers (base_*), and the
    baseline's on the mention text (text_base_geonames_id: what the samples were drawn with)."""
    from lexicons.gazetteer import place_gazetteer
    from transforms.geo import PLACE_LABELS, geocoded_mentions

    places = place_gazetteer().lazy()
    geo = geocoded_mentions(mentions.lazy(), places)
    by_text = baseline_geocoded(geo, places, by_text=True).select(
        pl.col("base_geonames_id").alias("text_base_geonames_id"))
    return (
        pl.concat([baseline_geocoded(geo, places), by_text], how="horizontal")
        .filter(pl.col("label").is_in(PLACE_LABELS))
        .select("article_id", "field", "start_char", "end_char", "text", "label", "geonames_id", "geo_name",
                "geo_country_code", "geo_precision", "geo_method", "base_geonames_id", "base_country_code",
                "text_base_geonames_id")
        .collect()
    )


def _context(articles: pl.DataFrame, row: dict, width: int = 220) -> str:
    content = articles.filter(pl.col("article_id") == row["article_id"]).row(0, named=True)[row["field"]]
    start, end = row["start_char"], row["end_char"]
    return (content[max(0, start - width):start] + "[[" + content[start:end] + "]]" + content[end:end + width]).replace("\n", " ")


def score(judged: pl.DataFrame, answers: pl.DataFrame, finer: bool = True) -> None:
    """Print right-country and right-place rates of both systems on the judged mentions, for all of
    them and for those whose right place is finer than a country (a city, a region, an unlisted place)."""
    from lexicons.gazetteer import place_gazetteer

    keys = ["article_id", "field", "start_char", "end_char"]
    rows = judged.join(answers, on=keys, how="left")
    missing = rows.filter(pl.col("label").is_null()).height
    rows = rows.filter(pl.col("label").is_not_null())
    print(f"judged mentions: {judged.height} ({judged['source'].value_counts().sort('source').rows()}); "
          f"not found in this run's mentions: {missing}")
    coarse = place_gazetteer().filter(pl.col("feature_class").is_in(["country", "continent"]))["geonames_id"]
    scopes = [("all judged", rows)]
    if finer:
        scopes.append(("judged finer than a country", rows.filter(
            pl.col("geonames_id_judged").is_null() | ~pl.col("geonames_id_judged").is_in(coarse.implode()))))
    for scope, subset in scopes:
        print(f"-- {scope}: {subset.height}")
        _rates(subset)


def _rates(rows: pl.DataFrame) -> None:
    for name, gid, country in (("baseline (country, else most populous city)", "base_geonames_id", "base_country_code"),
                               ("in context (this resolver)", "geonames_id", "geo_country_code")):
        placed = rows.filter(pl.col(gid).is_not_null())
        right_place = placed.filter(pl.col(gid) == pl.col("geonames_id_judged")).height
        # A continent has no country: its country is right when its place is.
        right_country = placed.filter(
            pl.when(pl.col("country").is_null()).then(pl.col(gid) == pl.col("geonames_id_judged"))
            .otherwise(pl.col(country) == pl.col("country")).fill_null(False)).height
        n = max(placed.height, 1)
        print(f"{name}: geocodes {placed.height}/{rows.height}; right country {right_country}/{placed.height} = "
              f"{right_country / n:.2f}; right place {right_place}/{placed.height} = {right_place / n:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw", action="store_true", help="print a new sample of test mentions to judge (TSV)")
    parser.add_argument("--draw-disagreements", action="store_true",
                        help="print a sample of test mentions where the systems differ, to judge (TSV)")
    parser.add_argument("--show", choices=["dev", "test"], help="print the half's place mentions with both answers")
    parser.add_argument("--bbc", type=Path, default=BBC_FILE)
    parser.add_argument("--cache", type=Path, help="a Parquet file to keep the entity layer's mentions in between runs")
    args = parser.parse_args(argv)

    articles = benchmark_articles(args.bbc)
    if args.cache and args.cache.exists():
        mentions = pl.read_parquet(args.cache)
    else:
        mentions = article_mentions(articles)
        if args.cache:
            mentions.write_parquet(args.cache)
    answers = both_systems(mentions).join(articles.select("article_id", "source", "split"), on="article_id")
    print(f"articles: {articles.height} ({articles['split'].value_counts().sort('split').rows()}); "
          f"place mentions: {answers.height}")
    if args.show:
        for row in answers.filter(pl.col("split") == args.show).sort("article_id", "field", "start_char").iter_rows(named=True):
            print(f"{row['article_id']} {row['field']} {row['start_char']}-{row['end_char']} {row['label']} "
                  f"new={row['geo_name']}/{row['geo_country_code']}/{row['geonames_id']}/{row['geo_method']} "
                  f"old={row['base_country_code']}/{row['base_geonames_id']} :: {_context(articles, row, 120)}")
        return 0
    if args.draw or args.draw_disagreements:
        # The samples were drawn when the baseline read the mention's text (main's flow reads the
        # entity layer's name, as the scores below do): the pool keeps that, so a draw repeats them.
        answers = answers.with_columns(base_geonames_id=pl.col("text_base_geonames_id"))
        pool = (answers.filter((pl.col("split") == "test")
                               & (pl.col("geonames_id").is_not_null() | pl.col("base_geonames_id").is_not_null()))
                .sort("source", "article_id", "field", "start_char"))
        size = SAMPLE_SIZE
        if args.draw_disagreements:
            judged = _judged(JUDGED)
            # Names only the new gazetteer lists (states, continents, "UK") are left out: plain wins.
            pool = pool.filter(pl.col("geonames_id").ne_missing(pl.col("base_geonames_id")) & ~(
                pl.col("base_geonames_id").is_null() & pl.col("geo_precision").is_in(["region", "country", "continent"]))).join(
                judged, on=["article_id", "field", "start_char", "end_char"], how="anti")
            size = DISAGREEMENT_SIZE
        picked = random.Random(SAMPLE_SEED).sample(range(pool.height), min(size, pool.height))
        for row in pool[sorted(picked)].iter_rows(named=True):
            print("\t".join(str(row[c]) for c in ("source", "article_id", "field", "start_char", "end_char")),
                  f"# {row['text']!r} new={row['geo_name']}/{row['geo_country_code']}/{row['geonames_id']} "
                  f"old={row['base_country_code']}/{row['base_geonames_id']} :: {_context(articles, row, 160)}")
        return 0
    test = answers.filter(pl.col("split") == "test")
    print(f"test-half GPE/LOC/FAC mentions: {test.height}; geocoded by the baseline "
          f"{test['base_geonames_id'].is_not_null().sum()}, by the resolver {test['geonames_id'].is_not_null().sum()}")
    print(f"== random sample ({JUDGED.name})")
    score(_judged(JUDGED), answers)
    if DISAGREEMENTS.exists():
        print(f"== where the systems differ ({DISAGREEMENTS.name})")
        score(_judged(DISAGREEMENTS), answers, finer=False)
    return 0


def _judged(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", comment_prefix="#", schema=JUDGED_SCHEMA).rename(
        {"geonames_id": "geonames_id_judged"})


if __name__ == "__main__":
    sys.exit(main())
