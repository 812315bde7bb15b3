"""Benchmark: newsflow's `page_fields` against trafilatura's defaults on the same annotated pages, same run.

    .venv/bin/python benchmarks/html_eval.py [DATA_DIR]     (default ../shared/data/html-dev)

DATA_DIR holds `evaldata.en-subset.json` (trafilatura's own evaluation annotations, keyed by URL) and
`html/<file>`. Both sides get the same decoded HTML string and the page URL:
- baseline: `trafilatura.extract(html, url=url)` for the body and
  `trafilatura.extract_metadata(html, default_url=url)` for title, date and author (all defaults);
- newsflow: `transforms.html.page_fields(html, url)`.

Scores (one page's gold has 'with' snippets that belong to the main text, 'without' snippets that do not):
- body P/R/F1 (snippets), as trafilatura's evaluation counts them: both snippet and output are
  whitespace-folded; a 'with' snippet found in the output is a true positive, one missing a false
  negative, a 'without' snippet found a false positive (an empty output misses every 'with' snippet).
  Counts are summed over all pages (micro-averaged).
- token P/R/F1 (partial credit per snippet): text is lower-cased and split into word tokens (\\w+).
  A snippet's coverage is the share of its token bigrams (its single token, for one-word snippets)
  that occur among the output's bigrams. Each snippet weighs its token count: TP += coverage x n for
  'with' snippets, FN += (1 - coverage) x n, FP += coverage x n for 'without' snippets.
- title / date / author accuracy over the pages whose gold value is non-empty. Title: equal after
  normalization (Unicode NFKC, curly quotes and dashes made ASCII, case-folded, whitespace folded).
  Date: same calendar day (the first 10 characters of the ISO string). Author: the gold (a string or
  a list) and the output are split into names on ",", ";", "&" and " and "; each name is normalized
  as a title is, then reduced to its word tokens (so "R.C. Baker" = "R C Baker"), post-nominal
  degrees (PhD, MD, ...) dropped; the two sets of names must be equal.
- time per page: wall time of each side's calls, HTML decoding excluded, after one warm-up call each.
Prints one row per side, then newsflow minus trafilatura (for time: newsflow / trafilatura). Takes
about 15 s.
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "html-dev"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")
_NAME_SEPARATORS = re.compile(r"\s*(?:[,;&]|\band\b)\s*", re.IGNORECASE)
_DEGREES = frozenset({"phd", "md", "mph", "msc", "mba", "rd", "rn"})
_ASCII_PUNCT = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"',
                              "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"})


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _bigrams(tokens: list[str]) -> set[tuple[str, ...]]:
    if len(tokens) == 1:
        return {(tokens[0],)}
    return set(zip(tokens, tokens[1:]))


def snippet_counts(item: dict, text: str) -> tuple[int, int, int]:
    """(tp, fp, fn) for one page, snippets matched as whitespace-folded substrings."""
    output = _norm(text or "")
    tp = sum(_norm(s) in output for s in item["with"])
    fp = sum(_norm(s) in output for s in item["without"])
    return tp, fp, len(item["with"]) - tp


def token_counts(item: dict, text: str) -> tuple[float, float, float]:
    """(tp, fp, fn) token weights for one page: each snippet's bigram coverage times its token count."""
    tokens = _WORD.findall((text or "").lower())
    present = set(zip(tokens, tokens[1:])) | {(t,) for t in tokens}

    def covered(snippet: str) -> tuple[float, int]:
        words = _WORD.findall(snippet.lower())
        if not words:
            return 0.0, 0
        grams = _bigrams(words)
        return len(grams & present) / len(grams) * len(words), len(words)

    tp = fn = fp = 0.0
    for snippet in item["with"]:
        hit, n = covered(snippet)
        tp, fn = tp + hit, fn + n - hit
    for snippet in item["without"]:
        fp += covered(snippet)[0]
    return tp, fp, fn


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def normalized(text: str) -> str:
    """Comparison form of a title or a name: NFKC, ASCII quotes and dashes, case-folded, spaces folded."""
    return _norm(unicodedata.normalize("NFKC", text).translate(_ASCII_PUNCT).casefold())


def author_names(value: str | list[str] | None) -> frozenset[str]:
    """The set of names in an author field (a string with separators, or a list), each as its word tokens."""
    values = value if isinstance(value, list) else [value or ""]
    names = (" ".join(t for t in _WORD.findall(normalized(n)) if t not in _DEGREES)
             for v in values for n in _NAME_SEPARATORS.split(v or ""))
    return frozenset(n for n in names if n)


def field_matches(field: str, gold: str | list[str], predicted: str | None) -> bool:
    """Whether one extracted metadata field counts as correct against its gold value."""
    if not predicted:
        return False
    if field == "title":
        return normalized(gold) == normalized(predicted)
    if field == "date":
        return gold.strip()[:10] == predicted.strip()[:10]
    return author_names(gold) == author_names(predicted)


def _has_gold(value: object) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def evaluated(pages: list[tuple[dict, str, str]], extract: Callable[[str, str], dict]) -> dict:
    """Scores of one extractor over (gold item, url, html) pages, plus its time and per-page outputs."""
    outputs, seconds = [], 0.0
    for _, url, html in pages:
        started = time.perf_counter()
        outputs.append(extract(html, url))
        seconds += time.perf_counter() - started
    snippets = [snippet_counts(item, out["text"]) for (item, _, _), out in zip(pages, outputs)]
    tokens = [token_counts(item, out["text"]) for (item, _, _), out in zip(pages, outputs)]
    scores = dict(zip(("body_p", "body_r", "body_f1"), _prf(*map(sum, zip(*snippets)))))
    scores |= dict(zip(("tok_p", "tok_r", "tok_f1"), _prf(*map(sum, zip(*tokens)))))
    for field in ("title", "date", "author"):
        judged = [field_matches(field, item[field], out[field])
                  for (item, _, _), out in zip(pages, outputs) if _has_gold(item.get(field))]
        scores[field] = sum(judged) / len(judged) if judged else 0.0
        scores[f"{field}_n"] = len(judged)
    scores["ms_per_page"] = 1000 * seconds / len(pages)
    return {"scores": scores, "outputs": outputs}


def trafilatura_defaults(html: str, url: str) -> dict:
    """The baseline: trafilatura's text and metadata extraction, every option left at its default."""
    import trafilatura

    meta = trafilatura.extract_metadata(html, default_url=url)
    return {"text": trafilatura.extract(html, url=url) or "", "title": meta.title, "date": meta.date,
            "author": meta.author}


def newsflow_fields(html: str, url: str) -> dict:
    """newsflow's page_fields, with `published` read as the date."""
    from transforms.html import page_fields

    fields = page_fields(html, url)
    return {"text": fields["text"], "title": fields["title"], "date": fields["published"],
            "author": fields["author"]}


def loaded_pages(data_dir: Path) -> list[tuple[dict, str, str]]:
    """(gold item, url, decoded html) for every annotated page whose file exists."""
    from trafilatura.utils import decode_file

    gold = json.loads((data_dir / "evaldata.en-subset.json").read_text(encoding="utf-8"))
    pages = []
    for url, item in gold.items():
        path = data_dir / "html" / item["file"]
        if path.is_file():
            pages.append((item, url, decode_file(path.read_bytes())))
    return pages


_COLUMNS = (("body_p", "body P"), ("body_r", "body R"), ("body_f1", "body F1"), ("tok_p", "tok P"),
            ("tok_r", "tok R"), ("tok_f1", "tok F1"), ("title", "title"), ("date", "date"),
            ("author", "author"), ("ms_per_page", "ms/page"))


def table(rows: dict[str, dict]) -> str:
    """A fixed-width table: one row per extractor, then newsflow minus baseline."""
    names = list(rows)
    lines = [f"{'':<22}" + "".join(f"{label:>9}" for _, label in _COLUMNS)]
    for name in names:
        lines.append(f"{name:<22}" + "".join(f"{rows[name][key]:>9.3f}" if key != "ms_per_page"
                                               else f"{rows[name][key]:>9.1f}" for key, _ in _COLUMNS))
    base, ours = rows[names[0]], rows[names[1]]
    lines.append(f"{'difference':<22}" + "".join(f"{ours[key] - base[key]:>+9.3f}" if key != "ms_per_page"
                                                 else f"{ours[key] / base[key]:>8.2f}x" for key, _ in _COLUMNS))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    data_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    if not (data_dir / "evaldata.en-subset.json").is_file():
        print(f"no evaldata.en-subset.json in {data_dir}", file=sys.stderr)
        return 2
    pages = loaded_pages(data_dir)
    extractors = {"trafilatura defaults": trafilatura_defaults, "newsflow page_fields": newsflow_fields}
    for extract in extractors.values():  # imports and lazy caches are not charged to the first page
        extract(pages[0][2], pages[0][1])
    rows = {name: evaluated(pages, extract)["scores"] for name, extract in extractors.items()}
    scores = rows["newsflow page_fields"]
    n_with = sum(len(item["with"]) for item, _, _ in pages)
    n_without = sum(len(item["without"]) for item, _, _ in pages)
    print(f"{len(pages)} pages, {n_with} 'with' and {n_without} 'without' snippets; gold titles "
          f"{scores['title_n']}, dates {scores['date_n']}, authors {scores['author_n']}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
