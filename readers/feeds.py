"""Reading one feed document (RSS 0.9x/1.0/2.0, Atom, RDF, JSON Feed) into raw records, one per item."""

from __future__ import annotations

import html
import io
import json
import re
import urllib.parse
import xml.sax
import zlib
from datetime import datetime, timezone

import feedparser
import lxml.etree
import lxml.html

from readers.compression import GZIP_MAGIC, MAX_DOCUMENT_BYTES, ExpandsTooFar, gunzipped
from transforms.html import html_text

_BOM = b"\xef\xbb\xbf"
_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
# The first element of a markup document, past the XML declaration, comments, PIs and a doctype.
_ROOT_ELEMENT = re.compile(
    rb"^(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*<([A-Za-z][\w:.-]*)", re.DOTALL | re.IGNORECASE
)
_HTML_ROOTS = {"html", "head", "body"}
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?>")
_FEEDPARSER_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>"
# Enough of the document to get past a long comment or doctype before the root element.
_HEAD_BYTES = 65536
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_TITLE_IN_REASON = 200


def feed_records(data: bytes, source_uri: str, base_url: str | None = None) -> tuple[list[dict], list[dict]]:
    """Raw records of one feed document, one per item (key: `record_key` "item <n>", 1-based), and its
    rejects: the document ("file") when it is not a usable feed, an item ("item <n>") that is empty.
    Never raises."""
    try:
        return _feed_records(data, source_uri, base_url)
    except Exception as err:  # noqa: BLE001 -- the extract stage quarantines a document, it never stops on one
        return [], [_reject(source_uri, f"unreadable feed: {type(err).__name__}: {err}", data)]


def _feed_records(data: bytes, source_uri: str, base_url: str | None) -> tuple[list[dict], list[dict]]:
    original = data
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return [], [_reject(source_uri, f"unreadable feed: expected bytes, got {type(data).__name__}", None)]
    data = bytes(data)
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzipped(data, MAX_DOCUMENT_BYTES)
        except ExpandsTooFar as err:
            return [], [_reject(source_uri, f"unusable gzip data: {err}", original)]
        except (EOFError, zlib.error) as err:
            return [], [_reject(source_uri, f"corrupt gzip data: {err}", original)]
    if not data.strip():
        return [], [_reject(source_uri, "empty document: no feed to read", original)]
    head = data[:_HEAD_BYTES].lstrip(_BOM + b" \t\r\n")
    if head[:1] in (b"{", b"["):
        return _json_feed_records(data, source_uri, base_url, original)
    root = _ROOT_ELEMENT.match(head)
    if root and root.group(1).decode("ascii", "replace").lower().rpartition(":")[2] in _HTML_ROOTS:
        return [], [_reject(source_uri, _html_page_reason(data), original)]
    return _xml_feed_records(data, source_uri, base_url, original)


# --- RSS, Atom, RDF ---------------------------------------------------------------------------

def _xml_feed_records(data: bytes, source_uri: str, base_url: str | None,
                      original: bytes) -> tuple[list[dict], list[dict]]:
    headers = {"content-location": base_url} if base_url else None
    # A stream, never the bytes themselves: feedparser opens a bytes argument as a file name first.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    entries = parsed.get("entries") or []
    if not entries:
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if isinstance(problem, xml.sax.SAXException):
            return [], [_reject(source_uri, f"malformed feed XML: {_sax_message(problem, data)}", original)]
        if not parsed.get("version"):
            return [], [_reject(source_uri, _not_a_feed_reason(data, problem), original)]
        return [], []  # a well-formed feed with no items
    feed = parsed.get("feed") or {}
    feed_name = _plain_title(feed.get("title"), feed.get("title_detail"))
    # Without xml:base or a fetch URL, feedparser leaves relative links relative; feed readers then
    # resolve them against the feed's own site link (node-feedparser's tpm.atom fixture).
    self_links = [link.get("href") for link in feed.get("links") or [] if link.get("rel") == "self"]
    base = base_url or _http_url(feed.get("link")) or next(filter(None, map(_http_url, self_links)), None)
    records, rejects = [], []
    for position, entry in enumerate(entries, 1):
        _keep_item(records, rejects, source_uri, position, entry, lambda entry: _xml_item(entry, feed_name, base))
    return records, rejects


def _xml_item(entry: dict, feed_name: str | None, base: str | None) -> dict:
    published = _entry_date(entry, "published")
    updated = _entry_date(entry, "updated")
    return {
        "format": "feed",
        "payload": json.dumps(entry, default=str, ensure_ascii=False),
        "id": _non_empty(entry.get("id")),
        "url": _absolute(_entry_link(entry), base),
        "title": _plain_title(entry.get("title"), entry.get("title_detail")),
        "text": _richest_text([c.get("value") for c in entry.get("content") or []] + [entry.get("summary")]),
        "source_name": None,
        "feed_name": feed_name,
        "author": _joined_names(entry.get("authors") or [], "name", "email"),
        # Atom requires only <updated>, and RSS 1.0 dates its items with dc:date, which feedparser
        # files under `updated`: for those items the only date given is the publication date.
        "published": published or updated,
        "updated": updated,
        "categories": _distinct(str(t.get("term") or t.get("label") or "") for t in entry.get("tags") or []),
    }


def _entry_link(entry: dict) -> str | None:
    link = _non_empty(entry.get("link"))
    # Without a link feedparser copies the id, however it is spelled: an Atom "urn:uuid:..." is no
    # address to read the item at (a relative or web id, like an RSS permalink guid, is one).
    if link and entry.get("guidislink") and link == entry.get("id") \
            and urllib.parse.urlsplit(link).scheme.lower() not in ("", "http", "https"):
        return None
    return link


def _entry_date(entry: dict, name: str) -> str | None:
    """ISO 8601 UTC from feedparser's parsed date, else the date string as the feed gave it."""
    # dict.get, not entry.get: feedparser maps a missing `updated` to `published` (its issue 310).
    parsed = dict.get(entry, f"{name}_parsed")
    if parsed:
        try:
            # struct_time allows leap seconds (60, 61); datetime does not.
            stamp = datetime(*parsed[:5], min(parsed[5], 59), tzinfo=timezone.utc)
            return stamp.isoformat()
        except (TypeError, ValueError, OverflowError):
            pass
    return _non_empty(dict.get(entry, name))


def _sax_message(problem: xml.sax.SAXException, data: bytes) -> str:
    if not isinstance(problem, xml.sax.SAXParseException):
        return str(problem)
    line, column = problem.getLineNumber(), problem.getColumnNumber()
    # feedparser parses a UTF-8 copy whose XML declaration it rewrote, or added on a line of its
    # own when there was none: map the position back to the document as given.
    declaration = _XML_DECLARATION.match(data.removeprefix(_BOM))
    if declaration is None:
        line -= 1
    elif line == 1:
        column -= len(_FEEDPARSER_DECLARATION) - len(declaration.group())
    return f"{problem.getMessage()} at line {line}, column {column}"


def _not_a_feed_reason(data: bytes, problem: Exception | None) -> str:
    root = _ROOT_ELEMENT.match(data[:_HEAD_BYTES].lstrip(_BOM + b" \t\r\n"))
    found = f"the root element is <{root.group(1).decode('ascii', 'replace')}>" if root else "no root element found"
    reason = f"not a feed: {found}, not RSS, Atom or RDF"
    return f"{reason} ({problem})" if problem else reason


def _html_page_reason(data: bytes) -> str:
    title = None
    try:
        title = lxml.html.document_fromstring(data).findtext(".//title")
    except (ValueError, TypeError, lxml.etree.LxmlError):
        pass
    title = _SPACES.sub(" ", title or "").strip()
    if not title:
        return "expected a feed but got an HTML page without a title"
    if len(title) > _MAX_TITLE_IN_REASON:
        title = title[:_MAX_TITLE_IN_REASON - 1] + "…"
    return f"expected a feed but got an HTML page titled '{title}'"


# --- JSON Feed --------------------------------------------------------------------------------

def _json_feed_records(data: bytes, source_uri: str, base_url: str | None,
                       original: bytes) -> tuple[list[dict], list[dict]]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        return [], [_reject(source_uri, f"invalid JSON Feed: not UTF-8 (byte 0x{data[err.start:err.start + 1].hex()} "
                                        f"at offset {err.start})", original)]
    except json.JSONDecodeError as err:
        return [], [_reject(source_uri, f"malformed JSON Feed: {err.msg} at line {err.lineno} column {err.colno}",
                            original)]
    except RecursionError:
        return [], [_reject(source_uri, "unreadable JSON Feed: nested too deeply to read (RecursionError)", original)]
    version = document.get("version") if isinstance(document, dict) else None
    if not (isinstance(version, str) and "jsonfeed.org" in version):
        return [], [_reject(source_uri, f"not a JSON Feed: a JSON {type(document).__name__} without a 'version' "
                                        "naming jsonfeed.org", original)]
    items = document.get("items")
    if not isinstance(items, list):
        return [], [_reject(source_uri, f"invalid JSON Feed: 'items' must be a list, not "
                                        f"{type(items).__name__ if items is not None else 'missing'}", original)]
    base = base_url or _http_url(document.get("feed_url")) or _http_url(document.get("home_page_url"))
    feed_name = _plain_title(document.get("title"), None)
    records, rejects = [], []
    for position, item in enumerate(items, 1):
        _keep_item(records, rejects, source_uri, position, item, lambda item: _json_item(item, feed_name, base))
    return records, rejects


def _json_item(item, feed_name: str | None, base: str | None) -> dict:
    payload = json.dumps(item, default=str, ensure_ascii=False)
    if not isinstance(item, dict):
        raise _NotAnItem(f"is a JSON {type(item).__name__}, not an object", payload)
    authors = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
    published = _json_string(item.get("date_published"))
    updated = _json_string(item.get("date_modified"))
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    return {
        "format": "feed",
        "payload": payload,
        "id": _json_string(item.get("id")),
        "url": _absolute(_json_string(item.get("url")) or _json_string(item.get("external_url")), base),
        "title": _plain_title(_json_string(item.get("title")), None),
        "text": max([html_text(_json_string(item.get("content_html")) or ""),
                     _plain_text(_json_string(item.get("content_text")) or ""),
                     _plain_text(_json_string(item.get("summary")) or "")], key=len),
        "source_name": None,
        "feed_name": feed_name,
        "author": _joined_names([a for a in authors if isinstance(a, dict)], "name"),
        "published": published or updated,  # as for Atom: a lone modification date is the only date
        "updated": updated,
        "categories": _distinct(str(t) for t in tags if isinstance(t, (str, int, float))),
    }


def _json_string(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    return _non_empty(value) if isinstance(value, str) else None


def _http_url(value) -> str | None:
    value = _json_string(value)
    return value if value and urllib.parse.urlsplit(value).scheme in ("http", "https") else None


# --- shared helpers ---------------------------------------------------------------------------

def _reject(source_uri: str, reason: str, payload) -> dict:
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    elif payload is not None and not isinstance(payload, bytes):
        try:
            payload = bytes(payload)
        except (TypeError, ValueError):
            payload = None
    return {"source_uri": source_uri, "record_key": "file", "stage": "extract", "reason": reason, "payload": payload}


class _NotAnItem(ValueError):
    """An item that is no article object: its reason and raw payload."""

    def __init__(self, problem: str, payload: str):
        super().__init__(problem)
        self.payload = payload


def _keep_item(records: list[dict], rejects: list[dict], source_uri: str, position: int, item,
               fields_of) -> None:
    """Add the record `fields_of(item)` to `records`, or item `position` to `rejects` when it has
    nothing to read or cannot be read: one item never costs the others."""
    key = f"item {position}"
    try:
        record = {"source_uri": source_uri, "record_key": key, **fields_of(item)}
    except _NotAnItem as err:
        rejects.append(_item_reject(source_uri, key, str(err), err.payload))
        return
    except Exception as err:  # noqa: BLE001 -- one item is quarantined, the others are read
        problem = "nested too deeply to read (RecursionError)" if isinstance(err, RecursionError) \
            else f"{type(err).__name__}: {err}"
        rejects.append(_item_reject(source_uri, key, f"is unreadable: {problem}", None))
        return
    if any(record[k] for k in ("id", "url", "title", "text")):
        records.append(record)
        return
    # e.g. an <item/> illegally nested in another item: no article to read, and its empty title
    # and text would otherwise pass downstream as one identity for every such item of the run.
    rejects.append(_item_reject(source_uri, key, "is empty: no title, link, id or body", record["payload"]))


def _item_reject(source_uri: str, key: str, problem: str, payload: str | None) -> dict:
    return {**_reject(source_uri, f"{key} {problem}", payload), "record_key": key}


def _non_empty(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _plain_text(text: str) -> str:
    # Plain text carries its paragraphs as blank lines; single newlines are just wrapping.
    paragraphs = (_SPACES.sub(" ", p).strip() for p in _BLANK_LINE.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def _plain_title(value, detail) -> str | None:
    """A title as one line of plain text: markup read as HTML, entities decoded."""
    if not isinstance(value, str):
        return None
    kind = (detail or {}).get("type") or "text/plain"
    text = html_text(value) if kind in _HTML_TYPES else html.unescape(value)
    return _SPACES.sub(" ", text).strip() or None


def _richest_text(fragments: list) -> str:
    texts = [html_text(f) for f in fragments if isinstance(f, str) and f.strip()]
    return max(texts, key=len, default="")


def _joined_names(people: list, *fields: str) -> str | None:
    names = []
    for person in people:
        if not isinstance(person, dict):
            continue
        name = next((_non_empty(person.get(f)) for f in fields if _non_empty(person.get(f))), None)
        if name:
            names.append(_SPACES.sub(" ", html.unescape(name)))
    return ", ".join(_distinct(names)) or None


def _distinct(values) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        value = _SPACES.sub(" ", value).strip()
        if value and value not in seen:
            seen[value] = None
    return list(seen)


def _absolute(url: str | None, base: str | None) -> str | None:
    """`url` resolved against `base` when it is relative (feedparser resolves most links itself)."""
    if not url or not base or urllib.parse.urlsplit(url).scheme:
        return url
    try:
        return urllib.parse.urljoin(base, url)
    except ValueError:
        return url
