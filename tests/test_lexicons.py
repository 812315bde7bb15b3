"""The shipped lexicons load with their declared schemas, agree with the codebook, and user dictionaries override."""

from __future__ import annotations

import polars as pl
import pytest

from lexicons.loaders import (
    ACTORS_SCHEMA, AGENTS_SCHEMA, CAMEO_CODES_SCHEMA, VERBS_SCHEMA,
    actor_dictionary, agent_nouns, cameo_codes, verb_lexicon,
)
from tests.conftest import shared_data


def _actor(actors: pl.DataFrame, name: str) -> dict:
    rows = actors.filter(pl.col("name") == name).to_dicts()
    assert len(rows) == 1, f"{name!r}: {rows}"
    return rows[0]


@pytest.mark.parametrize(("load", "schema"), [
    pytest.param(cameo_codes, CAMEO_CODES_SCHEMA, id="cameo_codes"),
    pytest.param(actor_dictionary, ACTORS_SCHEMA, id="actors"),
    pytest.param(agent_nouns, AGENTS_SCHEMA, id="agents"),
    pytest.param(verb_lexicon, VERBS_SCHEMA, id="verbs"),
])
def test_shipped_lexicon_loads_with_its_schema(load, schema):
    frame = load()
    assert frame.schema == schema
    assert frame.height > 100


def test_cameo_codes_keys_and_ranges():
    codes = cameo_codes()
    assert codes["event_code"].is_unique().all()
    assert codes["quad_class"].is_between(1, 4).all()
    assert codes["goldstein"].is_between(-10, 10).all()
    assert "106" in codes["event_code"].to_list()  # the current GDELT file merges it into 1056
    row = codes.filter(pl.col("event_code") == "174").row(0, named=True)
    assert (row["event_root_code"], row["event_base_code"], row["quad_class"], row["goldstein"]) == ("17", "174", 4, -5.0)
    assert row["plover_event"] == "COERCE"
    # Codes missing from the crosswalk inherit their parent's category.
    inherited = codes.filter(pl.col("event_code") == "0874").row(0, named=True)
    assert inherited["plover_event"] == "RETREAT"


def test_every_verb_code_is_in_the_codebook():
    unknown = set(verb_lexicon()["code"]) - set(cameo_codes()["event_code"])
    assert not unknown


@pytest.mark.parametrize(("lemma", "particle", "obj", "code"), [
    pytest.param("expel", "", "", "174", id="expel"),
    pytest.param("order", "out", "", "174", id="order-out"),
    pytest.param("hold", "", "talk", "040", id="hold-talks"),
])
def test_verb_rows(lemma, particle, obj, code):
    verbs = verb_lexicon().filter(pl.col("lemma") == lemma, pl.col("particle") == particle,
                                  pl.col("object") == obj, pl.col("preposition") == "")
    assert code in verbs["code"].to_list()


@pytest.mark.parametrize("name", ["U.S.", "US", "United States", "America"])
def test_united_states_aliases(name):
    row = _actor(actor_dictionary(), name)
    assert (row["code"], row["canonical"], row["kind"], row["label"]) == ("USA", "United States", "country", "GPE")


def test_nationality_group_and_igo_rows():
    actors = actor_dictionary()
    qatari = _actor(actors, "Qatari")
    assert (qatari["code"], qatari["kind"], qatari["label"]) == ("QAT", "nationality", "NORP")
    hamas = _actor(actors, "Hamas")
    assert hamas["code"].startswith("PSE") and hamas["kind"] == "group" and hamas["country_code"] == "PSE"
    un = _actor(actors, "United Nations")
    assert un["code"].startswith("IGO") and un["kind"] == "igo"
    assert actors["name"].is_unique().all()


def test_agent_nouns():
    agents = dict(agent_nouns().iter_rows())
    assert (agents["official"], agents["police"], agents["soldier"], agents["rebel"]) == ("GOV", "COP", "MIL", "REB")


def test_user_tsv_overrides_shipped_rows(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("name\tcode\tkind\nQatari\tQATGOV\t\nZorblax\tZRB\tcountry\n", encoding="utf-8")
    actors = actor_dictionary([path])
    assert _actor(actors, "Qatari") == {"name": "Qatari", "code": "QATGOV", "country_code": "",
                                        "kind": "group", "label": "ORG", "canonical": "Qatari"}
    assert _actor(actors, "Zorblax")["label"] == "GPE"
    assert _actor(actors, "United States")["code"] == "USA"


def test_petrarch_validation_actor_dictionary_loads():
    actors = actor_dictionary([shared_data("events-dev", "PETR_Validate_actors_2_02.txt")])
    assert _actor(actors, "Arnor")["code"] == "ARN"
    assert _actor(actors, "Gollum")["code"] == "HOBREB"  # latest open-ended date range
    assert actors.filter(pl.col("name") == "Boromir").is_empty()  # [---] is a null code


def test_petrarch_validation_agents_load():
    agents = dict(agent_nouns([shared_data("events-dev", "PETR_Validate_agents_2_02.txt")]).iter_rows())
    assert agents["golden goose"] == "GGS"


@pytest.mark.parametrize(("file", "text", "match"), [
    pytest.param("bad.tsv", "name\tcode\nArnor\tARN\nGondor\n", r"bad\.tsv:3", id="tsv-missing-field"),
    pytest.param("bad.tsv", "name\tcode\nArnor\t\n", r"bad\.tsv:2", id="tsv-empty-code"),
    pytest.param("bad.tsv", "nom\tcode\n", r"bad\.tsv:1", id="tsv-header"),
    pytest.param("bad.txt", "ARNOR [ARN]\n+ARNORIAN\nGONDOR [GON\n", r"bad\.txt:3", id="petrarch-bracket"),
    pytest.param("bad.txt", "# header\n+ORPHAN\n", r"bad\.txt:2", id="petrarch-orphan-synonym"),
    pytest.param("bad.txt", "ROHAN\n\t[950601-990815]\n", r"bad\.txt:2", id="petrarch-no-code"),
])
def test_malformed_user_line_names_file_and_line(tmp_path, file, text, match):
    path = tmp_path / file
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        actor_dictionary([path])


def test_coder_rules_load_every_list_the_coder_reads():
    from lexicons.loaders import coder_rules
    from transforms.events import FEATURES

    rules = coder_rules()
    assert "say" in rules.reporting_verbs and "utc" in rules.non_actor_nouns
    assert rules.intent_of_root["04"] == "036" and rules.targetless_roots == {"14"}
    assert {"die", "occur", "happen"} <= rules.no_event_verbs
    assert not rules.bare_verbs & rules.no_event_verbs, "a verb both listed to code bare and never to code"
    assert set(FEATURES) | {"intercept"} == set(rules.weights), "every confidence feature has a weight"
    assert 0.0 < rules.view_threshold < 1.0


def test_coder_rules_codes_exist_in_the_codebook():
    from lexicons.loaders import coder_rules

    rules = coder_rules()
    codes = set(cameo_codes()["event_code"])
    for code in [*rules.intent_of_root.values(), *rules.threat_of_root.values(), rules.unarmed_force]:
        assert code in codes, code


def test_coder_rules_name_the_missing_key(tmp_path):
    import tomllib

    from lexicons.loaders import LEXICONS, coder_rules

    data = (LEXICONS / "coder.toml").read_text(encoding="utf-8")
    broken = tmp_path / "coder.toml"
    broken.write_text(data.replace("targetless_roots", "target_less_roots"), encoding="utf-8")
    assert tomllib.loads(broken.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="coder.toml: missing section or key 'targetless_roots'"):
        coder_rules(broken)
