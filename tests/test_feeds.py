"""Feed documents to raw records: literal RSS/Atom/RDF/JSON feeds, bad documents, and the real feeds folder."""

from __future__ import annotations

import csv
import gzip
import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.feeds import feed_records
from schemas import RAW_RECORDS
from tests.conftest import shared_data

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Example &amp; Co News</title>
  <link>https://news.example.com/</link>
  <item>
    <title>Tom &amp; Jerry&#8217;s &lt;b&gt;big&lt;/b&gt; day</title>
    <link>https://news.example.com/2024/11/tom-jerry/</link>
    <guid isPermaLink="false">https://news.example.com/?p=123</guid>
    <pubDate>Sat, 09 Nov 2024 13:30:00 +0100</pubDate>
    <dc:creator><![CDATA[Ann Lee]]></dc:creator>
    <dc:creator><![CDATA[Bob Roy]]></dc:creator>
    <category><![CDATA[World]]></category>
    <category><![CDATA[Cartoons]]></category>
    <description><![CDATA[<p>Short teaser.</p>]]></description>
    <content:encoded><![CDATA[<p>First paragraph about the <a href="/cats">cats</a>.</p>
<p>Second paragraph.</p>
<p>The post <a href="https://news.example.com/2024/11/tom-jerry/">Tom &amp; Jerry</a> appeared first on
<a href="https://news.example.com">Example News</a>.</p>]]></content:encoded>
  </item>
  <item>
    <title>Headline only</title>
    <link>https://news.example.com/2024/11/headline-only/</link>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/posts/">
  <title type="html">The &lt;em&gt;Example&lt;/em&gt; Blog</title>
  <id>tag:blog.example.org,2024:feed</id>
  <updated>2024-11-10T08:00:00Z</updated>
  <author><name>Feed Owner</name></author>
  <entry>
    <title>Relative links</title>
    <link rel="alternate" type="text/html" href="2024/relative-links"/>
    <id>tag:blog.example.org,2024:1</id>
    <updated>2024-11-10T09:15:00-05:00</updated>
    <category term="atom"/>
    <summary>Summary only.</summary>
    <content type="html">&lt;p&gt;One.&lt;/p&gt;&lt;p&gt;Two &amp;amp; three.&lt;/p&gt;</content>
  </entry>
</feed>
"""

RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://www.example.de/rss">
    <title>Example RDF</title>
    <link>https://www.example.de/</link>
    <items><rdf:Seq><rdf:li rdf:resource="https://www.example.de/a/1"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://www.example.de/a/1">
    <title>RDF item</title>
    <link>https://www.example.de/a/1</link>
    <description>Plain description text.</description>
    <dc:date>2024-11-09T10:00:00+02:00</dc:date>
    <dc:subject>Politics</dc:subject>
  </item>
</rdf:RDF>
"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON &amp; Friends",
    "feed_url": "https://json.example.net/feed.json",
    "items": [{
        "id": "42",
        "url": "/2024/json-item",
        "title": "A JSON item",
        "content_html": "<p>Para one.</p><p>Para two.</p>",
        "summary": "Short.",
        "date_published": "2024-11-09T12:30:00+01:00",
        "authors": [{"name": "Cy Dee"}, {"name": "Eve Fox"}],
        "tags": ["tech", "json"],
    }],
}).encode()

HTML_ERROR_PAGE = b"""<!DOCTYPE html>
<html><head><title>502 Bad
  Gateway</title></head><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>
"""

MALFORMED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Broken</title><description>fish & chips</description></channel></rss>
"""

TITLE_AND_LINK_ONLY = RSS.split(b"<item>")[0] + b"<item>" + RSS.split(b"<item>")[2]


def _by_key(records: list[dict]) -> dict[str, dict]:
    return {r["record_key"]: r for r in records}


@pytest.mark.parametrize(
    ("data", "base_url", "expected"),
    [
        pytest.param(RSS, None, {
            "item 1": {
                "id": "https://news.example.com/?p=123",
                "url": "https://news.example.com/2024/11/tom-jerry/",
                "title": "Tom & Jerry\u2019s big day",
                "text": "First paragraph about the cats.\n\nSecond paragraph.\n\n"
                        "The post Tom & Jerry appeared first on Example News.",
                "feed_name": "Example & Co News",
                "author": "Ann Lee, Bob Roy",
                "published": "2024-11-09T12:30:00+00:00",
                "updated": None,
                "categories": ["World", "Cartoons"],
            },
            "item 2": {"id": None, "url": "https://news.example.com/2024/11/headline-only/", "title": "Headline only",
                       "text": "", "author": None, "published": None, "categories": []},
        }, id="rss2-content-encoded-wins"),
        pytest.param(ATOM, None, {
            "item 1": {
                "id": "tag:blog.example.org,2024:1",
                "url": "https://blog.example.org/posts/2024/relative-links",
                "title": "Relative links",
                "text": "One.\n\nTwo & three.",
                "feed_name": "The Example Blog",
                "author": None,  # the feed's author is not the entry's
                "published": "2024-11-10T14:15:00+00:00",  # Atom's only date: <updated>
                "updated": "2024-11-10T14:15:00+00:00",
                "categories": ["atom"],
            },
        }, id="atom-xml-base"),
        pytest.param(ATOM.replace(b' xml:base="https://blog.example.org/posts/"', b""),
                     "https://mirror.example.org/feeds/atom.xml",
                     {"item 1": {"url": "https://mirror.example.org/feeds/2024/relative-links"}},
                     id="atom-relative-link-resolved-against-fetched-url"),
        pytest.param(ATOM.replace(b' xml:base="https://blog.example.org/posts/"', b"").replace(
            b"<id>tag:blog.example.org,2024:feed</id>",
            b'<link rel="alternate" href="https://blog.example.org/home/"/>'
            b'<link rel="self" href="https://x.example/f"/>'),
            None, {"item 1": {"url": "https://blog.example.org/home/2024/relative-links"}},
            id="atom-relative-link-resolved-against-site-link"),
        pytest.param(RDF, None, {
            "item 1": {
                "id": "https://www.example.de/a/1",  # rdf:about
                "url": "https://www.example.de/a/1",
                "title": "RDF item",
                "text": "Plain description text.",
                "feed_name": "Example RDF",
                "published": "2024-11-09T08:00:00+00:00",  # dc:date
                "categories": ["Politics"],
            },
        }, id="rdf"),
        pytest.param(JSON_FEED, None, {
            "item 1": {
                "id": "42",
                "url": "https://json.example.net/2024/json-item",
                "title": "A JSON item",
                "text": "Para one.\n\nPara two.",
                "feed_name": "JSON & Friends",
                "author": "Cy Dee, Eve Fox",
                "published": "2024-11-09T12:30:00+01:00",  # as given: normalization parses it
                "updated": None,
                "categories": ["tech", "json"],
            },
        }, id="json-feed"),
        pytest.param(gzip.compress(RSS), None, {"item 1": {"title": "Tom & Jerry\u2019s big day"},
                                                 "item 2": {"title": "Headline only"}}, id="gzip-rss"),
        pytest.param(TITLE_AND_LINK_ONLY, None, {
            "item 1": {"title": "Headline only", "url": "https://news.example.com/2024/11/headline-only/", "text": ""},
        }, id="title-and-link-without-body"),
    ],
)
def test_feed_items_become_records(data, base_url, expected):
    records, rejects = feed_records(data, "feeds/example", base_url)
    assert rejects == []
    assert list(_by_key(records)) == list(expected)
    for key, fields in expected.items():
        record = _by_key(records)[key]
        assert {name: record[name] for name in fields} == fields
        assert set(record) == set(RAW_RECORDS.names())
        assert (record["source_uri"], record["format"], record["source_name"]) == ("feeds/example", "feed", None)
        assert isinstance(json.loads(record["payload"]), dict)
    pl.DataFrame(records, schema=RAW_RECORDS)  # the records fit the extract stage's frame


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(HTML_ERROR_PAGE, r"^expected a feed but got an HTML page titled '502 Bad Gateway'$",
                     id="html-page"),
        pytest.param(b"<html><body>Oops</body></html>", r"^expected a feed but got an HTML page without a title$",
                     id="html-page-untitled"),
        # the position xml.etree gives too: the "&" of "fish & chips"
        pytest.param(MALFORMED, r"^malformed feed XML: not well-formed \(invalid token\) at line 2, column 68$",
                     id="malformed-xml-no-items"),
        pytest.param(b"just some text", r"^malformed feed XML: syntax error at line 1, column 0$", id="not-xml"),
        pytest.param(b"<?xml version='1.0'?><config><setting>x</setting></config>",
                     r"^not a feed: the root element is <config>, not RSS, Atom or RDF$", id="other-xml"),
        pytest.param(b"", r"^empty document", id="empty"),
        pytest.param(b" \r\n\t", r"^empty document", id="whitespace"),
        pytest.param(gzip.compress(b""), r"^empty document", id="gzip-of-nothing"),
        pytest.param(gzip.compress(RSS)[:40], r"^corrupt gzip data: ", id="truncated-gzip"),
        pytest.param(b'{"version": "https://jsonfeed.org/version/1", "items": [', r"^malformed JSON Feed: .* line 1",
                     id="json-feed-truncated"),
        pytest.param(b'{"version": "https://jsonfeed.org/version/1.1", "items": {"a": 1}}',
                     r"^invalid JSON Feed: 'items' must be a list, not dict$", id="json-feed-items-not-list"),
        pytest.param(b'{"title": "x", "items": []}', r"^not a JSON Feed: a JSON dict without a 'version'",
                     id="json-not-a-json-feed"),
        pytest.param(None, r"^unreadable feed: expected bytes, got NoneType$", id="not-bytes"),
    ],
)
def test_unusable_documents_are_rejected_with_a_reason(data, reason):
    records, rejects = feed_records(data, "feeds/bad", None)
    assert records == []
    assert len(rejects) == 1
    reject = rejects[0]
    assert set(reject) == {"source_uri", "record_key", "stage", "reason", "payload"}
    assert (reject["source_uri"], reject["record_key"], reject["stage"]) == ("feeds/bad", "file", "extract")
    assert reject["payload"] == data  # the original bytes, still compressed
    assert re.search(reason, reject["reason"]), reject["reason"]


def test_recovered_items_of_a_malformed_feed_are_kept_without_a_reject():
    broken = RSS.replace(b"</rss>", b"</rss>\n<trailing>junk</trailing>")
    records, rejects = feed_records(broken, "feeds/junk")
    assert [r["title"] for r in records] == ["Tom & Jerry\u2019s big day", "Headline only"]
    assert rejects == []


def test_a_feed_without_items_yields_nothing():
    assert feed_records(b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>", "f") == ([], [])
    assert feed_records(b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "f") == ([], [])


def test_empty_items_are_rejected_one_by_one():
    nested = RSS.replace(b"</content:encoded>", b"</content:encoded><item/>")
    records, rejects = feed_records(nested, "f")
    assert [r["record_key"] for r in records] == ["item 1", "item 3"]
    assert [(r["record_key"], r["reason"]) for r in rejects] == [
        ("item 2", "item 2 is empty: no title, link, id or body")]
    records, rejects = feed_records(b'{"version": "https://jsonfeed.org/version/1", "items": [7, {"id": 8}]}', "f")
    assert [(r["record_key"], r["id"]) for r in records] == [("item 2", "8")]
    assert [(r["record_key"], r["reason"]) for r in rejects] == [("item 1", "item 1 is a JSON int, not an object")]


def test_an_id_that_is_no_web_address_is_not_taken_for_the_link():
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>No link</title>'
            b'<id>urn:uuid:d5ffaea2-0a9a-4f38-98fc-5c364177b6b4</id>'
            b'<link rel="self" href="http://localhost/feed/entries/1"/></entry></feed>')
    [record], _ = feed_records(atom, "f")
    assert (record["id"], record["url"]) == ("urn:uuid:d5ffaea2-0a9a-4f38-98fc-5c364177b6b4", None)


def test_document_bytes_are_never_opened_as_a_path(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(RSS)
    records, rejects = feed_records(str(feed).encode(), "f")
    assert records == []
    assert rejects[0]["reason"].startswith("malformed feed XML")


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.binary(max_size=200).map(lambda tail: RSS[:300] + tail),
                 st.binary(max_size=200).map(lambda tail: b'{"version": "https://jsonfeed.org/version/1", ' + tail),
                 st.binary(max_size=100).map(lambda tail: b"\x1f\x8b" + tail)))
def test_any_bytes_give_records_or_reasons_never_an_exception(data):
    records, rejects = feed_records(data, "f")
    assert records or rejects or data.lstrip().startswith((b"<", b"{"))
    assert all(r["reason"] for r in rejects)


# --- the real feeds in ../shared/data/feeds ---------------------------------------------------

_ITEM_TAGS = {"item", "entry"}
_DATE_TAGS = {"pubDate", "published", "updated", "date"}  # date: dc:date


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _has_text_child(element: ET.Element, names: set[str]) -> bool:
    return any(_local(c.tag) in names and "".join(c.itertext()).strip() for c in element)


def _has_link(element: ET.Element) -> bool:
    """Whether the item gives an address: a <link> (RSS text, Atom alternate href) or a permalink <guid>."""
    for child in element:
        name, text = _local(child.tag), (child.text or "").strip()
        if name == "link" and (text or (child.get("href") and child.get("rel", "alternate") == "alternate")):
            return True
        if name == "guid" and text and child.get("isPermaLink", "true") != "false":
            return True
    return False


@pytest.fixture(scope="module")
def real_feeds():
    """(relative path, original bytes, records, rejects) of every feed file in the shared folder."""
    folder = shared_data("feeds")
    results = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".md", ".csv")):
        data = path.read_bytes()
        records, rejects = feed_records(data, str(path))
        results.append((path.relative_to(folder), data, records, rejects))
    return folder, results


def test_every_real_feed_yields_records_or_reasons(real_feeds):
    folder, results = real_feeds
    problems: list[str] = []
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # files, records, rejects, strict-XML files
    for name, data, records, rejects in results:
        count = counts[name.parts[0]]
        count[0] += 1
        count[1] += len(records)
        count[2] += len(rejects)
        if not records and not rejects:
            problems.append(f"{name}: neither records nor rejects")
        problems += [f"{name}: reject without a reason" for r in rejects if not r["reason"]]
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue  # not well-formed: what feedparser recovers is all there is to check
        count[3] += 1
        items = [e for e in root.iter() if _local(e.tag) in _ITEM_TAGS]
        # An empty item element (node-feedparser's illegally-nested.xml nests an <item/> in each item)
        # holds no article: it is rejected on its own, with its position as record_key.
        empty = [i for i, e in enumerate(items, 1) if len(e) == 0 and not (e.text or "").strip()]
        if [r["record_key"] for r in rejects] != [f"item {i}" for i in empty]:
            problems.append(f"{name}: rejects {[r['reason'] for r in rejects]} but empty items at {empty}")
        full = [e for e in items if len(e) or (e.text or "").strip()]
        if len(records) != len(full):
            problems.append(f"{name}: {len(records)} records for {len(full)} item/entry elements")
            continue
        for element, record in zip(full, records):
            key = f"{name} {record['record_key']}"
            # complexNamespaceFeed.xml's entry has only rel="self" and a urn:uuid id: no address
            if _has_link(element) and not record["url"]:
                problems.append(f"{key}: the item has a link but the record has no url")
            if _has_text_child(element, {"title"}) and not record["title"]:
                problems.append(f"{key}: the item has a title but the record has none")
            if _has_text_child(element, _DATE_TAGS) and not record["published"]:
                problems.append(f"{key}: the item has a date but the record has no published")
    print("\nfeed records per folder (files, records, rejects, strictly well-formed files):")
    for folder_name, (files, records, rejects, strict) in sorted(counts.items()):
        print(f"  {folder_name}: {files} files, {records} records, {rejects} rejects, {strict} well-formed")
    assert not problems, "\n".join(problems)


def test_the_yoast_footer_survives_to_the_next_stage(real_feeds):
    folder, results = real_feeds
    with open(folder / "fastfeedparser_benchmark_manifest.csv", newline="") as manifest:
        footed = {row["file"] for row in csv.DictReader(manifest) if int(row["appeared_first_on_count"]) > 0}
    assert len(footed) == 11
    texts = {name.name: [r["text"] for r in records] for name, _, records, _ in results if name.name in footed}
    assert set(texts) == footed
    print("\nrecords whose text keeps 'appeared first on':")
    for name, file_texts in sorted(texts.items()):
        print(f"  {name}: {sum('appeared first on' in t for t in file_texts)}/{len(file_texts)}")
    assert any("appeared first on" in t for file_texts in texts.values() for t in file_texts)
    assert [name for name, file_texts in texts.items() if not any("appeared first on" in t for t in file_texts)] == []
