"""HTML to text and article fields: feed fragments to plain text, full pages to one article's fields."""

from __future__ import annotations

import dataclasses
import datetime
import html as _html
import re
import urllib.parse

import lxml.etree
import lxml.html
import trafilatura

_DROPPED_TAGS = ("script", "style", "noscript", "iframe", "svg", "form", "template", "head", "title",
                 "object", "embed", "canvas", "button", "select", "textarea", "math")
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
})
_CELL_TAGS = frozenset({"td", "th"})
# XML 1.0 forbids these; lxml refuses strings that contain them.
_INVALID_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_TAG_LIKE = re.compile(r"</?[a-zA-Z][^<>]*>|<!--")
_ESCAPED_TAG_LIKE = re.compile(r"&lt;(?:/?[a-zA-Z]|!--)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
# Markers that cannot survive _INVALID_XML_CHARS, so they never come from the input.
_BLOCK_MARK = "\x00"
_LINE_MARK = "\x01"


def _folded(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _plain_text(text: str) -> str:
    # Plain text carries its paragraphs as blank lines; single newlines are just wrapping.
    paragraphs = (_folded(p) for p in _BLANK_LINE.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def _fragment_root(fragment: str) -> lxml.html.HtmlElement:
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    # the wrapper keeps leading text and several top-level elements in one tree
    return lxml.html.document_fromstring(f"<html><body><div>{fragment}</div></body></html>", parser=parser)


def _chunks(root: lxml.html.HtmlElement) -> list[str]:
    """Text pieces in document order, with _BLOCK_MARK at block edges and _LINE_MARK at line breaks."""
    chunks: list[str] = []
    in_pre = 0
    for event, element in lxml.etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.lower()
        if event == "start":
            if tag in _BLOCK_TAGS:
                chunks.append(_BLOCK_MARK)
                in_pre += tag == "pre"
            elif tag == "br":
                chunks.append(_LINE_MARK)
            elif tag in _CELL_TAGS:
                chunks.append(" ")
            if element.text:
                chunks.append(element.text.replace("\n", _LINE_MARK) if in_pre else element.text)
        else:
            if tag in _BLOCK_TAGS:
                chunks.append(_BLOCK_MARK)
                in_pre -= tag == "pre"
            elif tag in _CELL_TAGS:
                chunks.append(" ")
            if element.tail and element is not root:
                chunks.append(element.tail.replace("\n", _LINE_MARK) if in_pre else element.tail)
    return chunks


def _paragraph(raw: str) -> str:
    lines = [_folded(line) for line in raw.split(_LINE_MARK)]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def html_text(fragment: str) -> str:
    """Plain text of one HTML fragment: blocks joined by blank lines, <br> as newlines, spaces folded."""
    if not isinstance(fragment, str) or not fragment.strip():
        return ""
    text = _INVALID_XML_CHARS.sub("", fragment)
    if not _TAG_LIKE.search(text):
        if not _ESCAPED_TAG_LIKE.search(text):
            return _plain_text(_html.unescape(text))
        # Still-escaped markup ("&lt;p&gt;..."): unescape once, then read it as HTML.
        text = _html.unescape(text)
        text = _INVALID_XML_CHARS.sub("", text)
    try:
        root = _fragment_root(text)
        lxml.etree.strip_elements(root, *_DROPPED_TAGS, with_tail=False)
        raw = "".join(_chunks(root))
    except (ValueError, TypeError, lxml.etree.LxmlError):
        return _plain_text(_html.unescape(re.sub(r"<[^>]*>", " ", text)))
    paragraphs = (_paragraph(p) for p in raw.split(_BLOCK_MARK))
    return "\n\n".join(p for p in paragraphs if p)


# --- full pages -------------------------------------------------------------------------------

_FIELDS = ("title", "text", "author", "published", "source_name", "url", "language")
# htmldate's default upper bound is "today", a clock read; without a caller's bound, none applies.
_NO_MAX_DATE = "2999-12-31"
# A body this short is most likely a caption or a teaser: try trafilatura's baseline (JSON-LD
# articleBody, <article>, all <p>), kept only if it is several times longer.
_SHORT_TEXT_CHARS = 500
_RESCUE_FACTOR = 3
# Calls to action and legal lines that trafilatura keeps as paragraphs; only short lines are
# dropped, so an article paragraph that mentions a newsletter survives.
_BOILERPLATE = re.compile(
    r"©|\ball rights reserved\b|\bnewsletters?\b|\bsubscri(?:be|bers?|ption)\b"
    r"|\bsign(?:ing)? up (?:for|to) (?:our|the)\b|\bsign up (?:here|now|today)\b|\bfree sign up\b"
    r"|\bfollow (?:us|[\w.@ ]{1,40}) on (?:twitter|facebook|instagram)\b|\bletters? to the editor\b"
    r"|\bdownload (?:the|our) [\w ]{0,30}apps?\b|\b(?:our|with) advertisers\b|\badvertise with\b",
    re.IGNORECASE,
)
_BOILERPLATE_MAX_CHARS = 300
_SITE_TAGLINE = re.compile(r"\s+[|–—]\s+")
_WORDS = re.compile(r"\w+")
_NON_ALNUM = re.compile(r"[\W_]+")
_TITLE_SEPARATOR = re.compile(r"(\s+(?:[|–—·•»«~:]|::|-{1,2})\s+)")
_DANGLING_SEPARATOR = re.compile(r"(?:^\s*[|–—·•»«~:-]+\s+|\s+[|–—·•»«~:-]+\s*$)")
_SITE_NAME_SHARE = 0.4
# An <h1> is the displayed headline when its words largely agree with a metadata title (Dice).
_H1_AGREEMENT = 0.4
_H1_MAX_WORDS = 40
_GENERIC_HOST_LABELS = frozenset({"www", "m", "amp", "com", "org", "net", "co", "ac", "gov", "edu", "news", "blog",
                                  "blogs", "en", "uk", "us"})
_AUTHOR_PREFIX = re.compile(
    r"^(?:(?:view|see|read|more)\s+(?:all\s+)?(?:posts|articles|stories|content)\s+(?:by|from)"
    r"|(?:posted|written|published|reported|words|story|text|photos?|article|recipe|column)\s+by|by)\b\s*:?\s*",
    re.IGNORECASE,
)
_AFFILIATION = re.compile(r"\s+[-–—|]\s+")
_POSTED_ON_BY = re.compile(r"^posted\s+on\s+.{1,40}?\s+by\s+", re.IGNORECASE)
_AUTHOR_ROLE_SUFFIX = re.compile(
    r"(?:\s+(?:senior|staff|contributing|chief|special|guest))*\s+(?:staff|writer|reporter|correspondent|"
    r"contributor|editor|columnist)s?$",
    re.IGNORECASE,
)
_TRAFILATURA_AUTHOR_SEPARATOR = re.compile(r"\s*;\s*")
_AUTHOR_SPLIT = re.compile(r"\s*(?:[;|/&]|,(?!\s*(?:jr|sr)\b)|\band\b)\s*", re.IGNORECASE)
_NOT_NAMES = frozenset({
    "no author", "staff", "guest", "editor", "editors", "editorial", "editorial staff", "editorial team", "newsroom",
    "news desk", "web desk", "phd", "md", "mph", "msc", "mba", "rd", "rn", "jd",
})
_NO_NAME_WORDS = frozenset({"unknown", "anonymous", "admin", "administrator"})
_CLASS = 'translate(@class, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")'
_BYLINE_XPATH = lxml.etree.XPath(
    f'.//body//*[@rel="author" or @itemprop="author" or contains({_CLASS}, "author") or contains({_CLASS}, "byline")]'
)
_BYLINE_MAX_CHARS = 100
_COMMENT_SECTION = re.compile(r"comment|respon|reply|discuss", re.IGNORECASE)
_LANGUAGE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]+)*$", re.IGNORECASE)

# The date a page shows readers under its headline: the first date in the text that follows the
# headline, when a label right before it says what it is. A page that displays an update date in
# place of (or before) its publication date is dated by what it displays; an unlabelled first date
# (e.g. "June 12, 2020 / Updated: Aug. 18, 2020") is left to htmldate.
_MONTH_NAME = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
               r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_SHOWN_DATE = re.compile(
    rf"\b(?:(?P<iy>(?:19|20)\d\d)-(?P<im>[01]?\d)-(?P<id>[0-3]?\d)(?!\d)"
    rf"|(?P<mm>{_MONTH_NAME})\s+(?P<md>[0-3]?\d)(?:st|nd|rd|th)?,?\s+(?P<my>(?:19|20)\d\d)\b"
    rf"|(?P<dd>[0-3]?\d)(?:st|nd|rd|th)?\s+(?P<dm>{_MONTH_NAME}),?\s+(?P<dy>(?:19|20)\d\d)\b)",
    re.IGNORECASE,
)
_DATE_LABEL = re.compile(r"\b(?:(?:last\s+)?(?:updated|modified)|published|posted|written)\b", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATELINE_CHARS = 800  # a header's worth of text after the headline: byline, share buttons, ratings
_LABEL_GAP = 40  # "Updated 2010 GMT (0410 HKT) March 14, 2021": a time may sit between label and date
_UNSHOWN_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "nav", "aside", "footer",
                           "figure", "figcaption", "select", "button"})


def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", text).casefold()


@dataclasses.dataclass(frozen=True)
class _Site:
    keys: frozenset[str]  # compacted declared name and distinctive host labels
    words: frozenset[str]  # compacted words of the declared name


def _site(sitename: str | None, url: str | None) -> _Site:
    keys = {_compact(sitename)} if sitename else set()
    host = urllib.parse.urlsplit(url).hostname if url else None
    if host:
        host = host.casefold().removeprefix("www.")
        keys |= {_compact(host)} | {label for label in host.split(".") if label not in _GENERIC_HOST_LABELS}
    words = {_compact(w) for w in _WORDS.findall(sitename or "")}
    return _Site(frozenset(k for k in keys if len(k) >= 3), frozenset(w for w in words if len(w) >= 3))


def _names_site(segment: str, site: _Site, exact: bool = False) -> bool:
    """Whether a title segment (or, exactly, an author name) is the site's name."""
    compact = _compact(segment)
    if len(compact) < 3:
        return False
    if exact:
        return compact in site.keys
    # "The Japan Times" ~ japantimes.co.jp, "Stack Overflow Blog" ~ stackoverflow.com; the shorter
    # must be a good share of the longer, so "Apple unveils a phone" does not name apple.com
    return any(compact == key or (min(len(key), len(compact)) >= 4 and (key in compact or compact in key)
                                  and min(len(key), len(compact)) >= _SITE_NAME_SHARE * max(len(key), len(compact)))
               for key in site.keys)


def _without_site_name(title: str, site: _Site) -> str:
    """The title without a " | Site" suffix (and what follows it) or a "Site - " prefix."""
    parts = _TITLE_SEPARATOR.split(title)
    segments = parts[::2]
    if len(segments) < 2 or not site.keys:
        return title
    for index in range(1, len(segments)):
        if _names_site(segments[index], site):
            parts = parts[: 2 * index - 1]
            break
    if len(parts) > 2 and _names_site(parts[0], site):
        parts = parts[2:]
    return "".join(parts).strip() or title


def _trimmed_title(title: str) -> str:
    return _DANGLING_SEPARATOR.sub("", title).strip()


def _dice(a: str, b: str) -> float:
    x, y = set(_WORDS.findall(a.casefold())), set(_WORDS.findall(b.casefold()))
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def _meta_contents(tree: lxml.html.HtmlElement, *keys: str) -> list[str]:
    found = []
    for meta in tree.iterfind(".//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").casefold()
        if key in keys and meta.get("content", "").strip():
            found.append(_folded(meta.get("content")))
    return found


def _title(tree: lxml.html.HtmlElement, meta_title: str | None, site: _Site) -> str | None:
    """The displayed <h1> headline when it agrees with a metadata title, else that title without the site name."""
    head_title = _folded(tree.findtext(".//title") or "")
    known = [t for t in (meta_title, *_meta_contents(tree, "og:title", "twitter:title"), head_title) if t]
    best, best_score = None, 0.0
    for h1 in tree.iter("h1"):
        # an <h1> may hold a kicker or a subtitle beside the headline: its parts are candidates too
        for part in (h1, *h1.iterchildren()):
            text = _folded(part.text_content())
            if not text or len(text.split()) > _H1_MAX_WORDS or _names_site(text, site, exact=True):
                continue
            score = max((_dice(text, t) for t in known), default=0.0)
            if score > best_score:
                best, best_score = text, score
    if best is not None and best_score >= _H1_AGREEMENT:
        return best
    title = meta_title or head_title or best
    if title and head_title and title != head_title and _names_site(title, site, exact=True):
        title = head_title  # the metadata title is the site's name (e.g. a blog's banner <h1>)
    return _trimmed_title(_without_site_name(title, site)) or None if title else None


def _clean_name(name: str, site: _Site) -> str | None:
    name = _folded(_POSTED_ON_BY.sub("", _folded(name)))
    name = _AUTHOR_PREFIX.sub("", name).strip(" .,:;-–—|")
    without_role = _AUTHOR_ROLE_SUFFIX.sub("", name)
    words = without_role.split()
    if without_role != name and len(words) > 1 and _names_site(words[-1], site, exact=True):
        without_role = " ".join(words[:-1])  # "Ann Lee PhillyVoice Staff"
    name = without_role
    if (not name or name.casefold() in _NOT_NAMES or _NO_NAME_WORDS & set(name.casefold().split())
            or name.casefold().endswith(" says") or len(name) > 60
            or len(name.split()) > 6 or "@" in name or "http" in name.casefold() or any(c.isdigit() for c in name)
            or _names_site(name, site, exact=True) or (" " not in name and _compact(name) in site.words)):
        return None
    return name


def _author_names(raw: str, site: _Site, split: re.Pattern = _AUTHOR_SPLIT) -> list[str]:
    names: list[str] = []
    # "Ann Lee - Chrome team": a spaced dash starts an affiliation
    raw = _AFFILIATION.split(_AUTHOR_PREFIX.sub("", _folded(raw)), maxsplit=1)[0]
    for part in split.split(raw):
        name = _clean_name(part, site)
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names


def _byline_names(tree: lxml.html.HtmlElement, site: _Site) -> list[str]:
    """Names from rel=author links and author/byline elements outside comment sections."""
    for element in _BYLINE_XPATH(tree):
        if any(_COMMENT_SECTION.search(f"{e.get('class', '')} {e.get('id', '')}")
               for e in (element, *element.iterancestors())):
            continue
        text = _folded(element.text_content())
        if len(text) > _BYLINE_MAX_CHARS:  # an author bio or a whole article header, not a byline
            continue
        names = _author_names(text, site)
        if names:
            return names
    return []


def _author(tree: lxml.html.HtmlElement, meta_author: str | None, site: _Site) -> str | None:
    """Authors joined with ", ": trafilatura's, cleaned, else the page's byline markup."""
    names = _author_names(meta_author, site, _TRAFILATURA_AUTHOR_SEPARATOR) if meta_author else []
    return ", ".join(names or _byline_names(tree, site)) or None


def _source_name(sitename: str | None, title: str | None, host_name: str) -> str | None:
    """The declared site name, without a tagline ("WSVN 7News | Miami News, Weather")."""
    # trafilatura falls back to the host name, and sometimes to the title: neither is declared
    if not sitename or sitename == host_name or sitename == title:
        return None
    return _SITE_TAGLINE.split(sitename, maxsplit=1)[0].strip() or None


def _canonical_url(tree: lxml.html.HtmlElement, url: str | None) -> str | None:
    """<link rel=canonical>, else og:url, resolved against the given URL; else the given URL."""
    candidates = [link.get("href", "") for link in tree.iterfind(".//link[@href]")
                  if "canonical" in link.get("rel", "").casefold().split()]
    candidates += _meta_contents(tree, "og:url")
    for candidate in candidates:
        resolved = urllib.parse.urljoin(url or "", candidate.strip())
        if urllib.parse.urlsplit(resolved).scheme in ("http", "https"):
            return resolved
    return url or None


def _language(tree: lxml.html.HtmlElement) -> str | None:
    root = tree.getroottree().getroot()
    declared = [root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")]
    declared += [m.get("content") for m in tree.iterfind(".//meta[@http-equiv]")
                 if m.get("http-equiv", "").casefold() == "content-language"]
    declared += _meta_contents(tree, "language", "dc.language", "og:locale")
    for value in declared:
        match = _LANGUAGE.match((value or "").strip().split(",")[0].strip())
        if match:
            return match[1].lower()
    return None


def _shown_text(tree: lxml.html.HtmlElement) -> str:
    """The body's text as displayed, whitespace-folded, without scripts, navigation, asides and footers."""
    body = tree.find(".//body")
    if body is None:
        return ""
    parts: list[str] = []
    hidden = 0
    for event, element in lxml.etree.iterwalk(body, events=("start", "end")):
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            hidden += tag in _UNSHOWN_TAGS
            if not hidden and element.text:
                parts.append(element.text)
        else:
            hidden -= tag in _UNSHOWN_TAGS
            # a script's tail is often the rest of a script that wrote "</script>" in a string
            if not hidden and element.tail and element is not body and tag != "script":
                parts.append(element.tail)
    return _folded(" ".join(parts))


def _iso_date(match: re.Match) -> str | None:
    try:
        if match["iy"]:
            return datetime.date(int(match["iy"]), int(match["im"]), int(match["id"])).isoformat()
        year, month, day = ((match["my"], match["mm"], match["md"]) if match["my"]
                            else (match["dy"], match["dm"], match["dd"]))
        return datetime.date(int(year), _MONTHS.index(month[:3].lower()) + 1, int(day)).isoformat()
    except ValueError:
        return None


def _dateline_date(tree: lxml.html.HtmlElement, title: str | None, max_date: str | None) -> str | None:
    """The labelled date shown right under the headline ("Updated Mar 12, 2020", "Written: 2023-11-07")."""
    if not title:
        return None
    text = _shown_text(tree)
    start = text.casefold().find(_folded(title).casefold())
    if start < 0:
        return None
    header = text[start + len(_folded(title)):][:_DATELINE_CHARS]
    match = _SHOWN_DATE.search(header)
    if match is None:
        return None
    labels = list(_DATE_LABEL.finditer(header, 0, match.start()))
    if not labels or match.start() - labels[-1].end() > _LABEL_GAP:
        return None
    date = _iso_date(match)
    return date if date and (not max_date or date <= max_date[:10]) else None


def _main_text(tree: lxml.html.HtmlElement, url: str | None) -> str:
    document = trafilatura.bare_extraction(tree, url=url, include_comments=False)
    text = document.text if document is not None and document.text else ""
    if len(text) < _SHORT_TEXT_CHARS:
        _, rescued, _ = trafilatura.baseline(tree)  # it copies the tree before cleaning it
        if len(rescued) >= _RESCUE_FACTOR * max(len(text), 1):
            text = rescued
    lines = (line.strip() for line in text.split("\n"))
    return "\n".join(line for line in lines
                     if line and not (len(line) < _BOILERPLATE_MAX_CHARS and _BOILERPLATE.search(line)))


def page_fields(html: str, url: str | None = None, *, max_date: str | None = None) -> dict:
    """One article per full web page: its title, text, author, published, source_name, url and language."""
    # max_date (ISO date) bounds `published`; callers pass the run's start, as transforms read no clock
    fields: dict = dict.fromkeys(_FIELDS)
    fields["text"] = ""
    fields["url"] = url or None
    if not isinstance(html, str) or not html.strip():
        return fields
    try:
        tree = trafilatura.load_html(_INVALID_XML_CHARS.sub("", html))
    except Exception:
        tree = None
    if tree is None:
        return fields
    try:
        fields["url"] = _canonical_url(tree, url)
    except Exception:
        pass
    try:
        fields["text"] = _main_text(tree, fields["url"])
    except Exception:
        pass
    try:
        fields["language"] = _language(tree)
    except Exception:
        pass
    try:
        meta = trafilatura.extract_metadata(
            tree, default_url=fields["url"],
            date_config={"original_date": True, "extensive_search": True, "max_date": max_date or _NO_MAX_DATE},
        )
    except Exception:
        return fields
    site_url = fields["url"] or meta.url
    host_name = (urllib.parse.urlsplit(site_url).hostname or "").removeprefix("www.") if site_url else ""
    fields["source_name"] = _source_name(meta.sitename, meta.title, host_name)
    fields["published"] = meta.date or None
    try:
        site = _site(fields["source_name"], site_url)
        fields["title"] = _title(tree, meta.title, site)
        fields["author"] = _author(tree, meta.author, site)
    except Exception:
        fields["title"] = fields["title"] or meta.title
    try:
        fields["published"] = _dateline_date(tree, fields["title"], max_date) or fields["published"]
    except Exception:
        pass
    return fields
