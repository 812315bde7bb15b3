"""HTML fragments to plain text, and one article's fields from a full page."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.html import html_text, page_fields

FIELDS = {"title", "text", "author", "published", "source_name", "url", "language"}


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        pytest.param("<p>One  <b>bold</b>\n word.</p><p>Two.</p>", "One bold word.\n\nTwo.", id="paragraphs"),
        pytest.param("Line one<br>line two<br/><br>line three", "Line one\nline two\n\nline three", id="br"),
        pytest.param("<div>Outer<div>inner</div>after</div>", "Outer\n\ninner\n\nafter", id="nested-divs"),
        pytest.param("<ul><li>first</li><li>second</li></ul>Tail", "first\n\nsecond\n\nTail", id="list-items"),
        pytest.param("<h2>Heading</h2>Body <i>text</i>", "Heading\n\nBody text", id="heading-then-inline"),
        pytest.param("<blockquote>Quoted</blockquote><figure><figcaption>Cap</figcaption></figure>",
                     "Quoted\n\nCap", id="blockquote-figure"),
        pytest.param("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\n\nc", id="table-rows"),
        pytest.param("<pre>x = 1\n   y = 2</pre>", "x = 1\ny = 2", id="pre-keeps-lines"),
        pytest.param("<p>Kept</p><script>var x = '<p>no</p>';</script><style>p {color: red}</style>",
                     "Kept", id="script-style-dropped"),
        pytest.param("a<noscript>no</noscript>b<iframe src='x'>no</iframe>c<svg><text>no</text></svg>d"
                     "<form><label>no</label></form>", "abcd", id="noscript-iframe-svg-form-dropped"),
        pytest.param("<!-- a comment --><p>Visible</p>", "Visible", id="html-comment-dropped"),
        pytest.param("&lt;p&gt;Escaped &amp;amp; kept&lt;/p&gt;&lt;p&gt;Second&lt;/p&gt;", "Escaped & kept\n\nSecond",
                     id="escaped-html"),
        pytest.param("Tom &amp; Jerry&nbsp;&#8212; caf&eacute;", "Tom & Jerry — café", id="entities-in-plain-text"),
        pytest.param("  plain   text\nwrapped\n\n second   para  ", "plain text wrapped\n\nsecond para",
                     id="plain-text-folded"),
        pytest.param("5 < 6 and 7 > 3", "5 < 6 and 7 > 3", id="comparison-signs-are-text"),
        pytest.param("<div>unclosed <p>para", "unclosed\n\npara", id="unclosed-tags"),
        pytest.param("\x00\x07<p>ok</p>\ud800", "ok", id="control-chars-and-lone-surrogate"),
        pytest.param("<<<>>>&&&", "<<<>>>&&&", id="garbage-kept-as-text"),
        pytest.param("<p> </p><div>\n</div>", "", id="only-empty-blocks"),
        pytest.param("", "", id="empty"),
        pytest.param(" \n\t ", "", id="whitespace-only"),
    ],
)
def test_html_text(fragment, expected):
    assert html_text(fragment) == expected


@given(st.text())
def test_html_text_never_raises_and_is_tidy(fragment):
    text = html_text(fragment)
    assert text == text.strip()
    assert "\n\n\n" not in text
    assert "  " not in text
    assert "\x00" not in text and "\x01" not in text


@given(st.text(alphabet=st.characters(blacklist_characters="<&", blacklist_categories=("Cs", "Cc"))))
def test_html_text_on_plain_text_is_idempotent(fragment):
    once = html_text(fragment)
    assert html_text(once) == once


_PAGE = """<!doctype html>
<html lang="{lang}"><head>
<meta charset="utf-8">
<title>{head_title}</title>
{head}
</head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article>
<h1>{h1}</h1>
<p>The city council voted on Tuesday to approve a new park on the east side of the town centre.</p>
<p>Construction is expected to start next spring and to last about eighteen months, officials said.</p>
<p>Sign up for our newsletter!</p>
</article>
<footer>© 2024 Example Gazette. All rights reserved.</footer>
</body></html>"""


def _page(head: str = "", *, lang: str = "en-US", head_title: str = "Council approves new park | Example Gazette",
          h1: str = "Council approves new park") -> str:
    return _PAGE.format(head=head, lang=lang, head_title=head_title, h1=h1)


_FULL_HEAD = """<link rel="canonical" href="/news/park">
<meta property="og:site_name" content="Example Gazette">
<meta name="author" content="By Jane Doe">
<meta property="article:published_time" content="2024-03-05T10:00:00Z">"""


def test_page_fields_reads_a_full_page():
    fields = page_fields(_page(_FULL_HEAD), "https://example.org/a?utm_source=x")
    assert set(fields) == FIELDS
    assert fields["title"] == "Council approves new park"
    assert fields["author"] == "Jane Doe"
    assert fields["published"] == "2024-03-05"
    assert fields["source_name"] == "Example Gazette"
    assert fields["url"] == "https://example.org/news/park"
    assert fields["language"] == "en"
    assert "The city council voted on Tuesday" in fields["text"]
    assert "Construction is expected to start next spring" in fields["text"]
    assert "newsletter" not in fields["text"] and "©" not in fields["text"]
    assert "Home" not in fields["text"]


@pytest.mark.parametrize(
    ("head", "url", "expected"),
    [
        pytest.param('<link rel="canonical" href="https://example.org/c">', "https://example.org/x",
                     "https://example.org/c", id="absolute-canonical"),
        pytest.param('<link rel="canonical" href="/c">', "https://example.org/x", "https://example.org/c",
                     id="relative-canonical-resolved"),
        pytest.param('<meta property="og:url" content="https://example.org/og">', "https://example.org/x",
                     "https://example.org/og", id="og-url"),
        pytest.param("", "https://example.org/x", "https://example.org/x", id="given-url"),
        pytest.param("", None, None, id="no-url"),
        pytest.param('<link rel="canonical" href="/c">', None, None, id="relative-canonical-without-base"),
    ],
)
def test_page_fields_url(head, url, expected):
    assert page_fields(_page(head), url)["url"] == expected


@pytest.mark.parametrize(
    ("lang", "head", "expected"),
    [
        pytest.param("en-US", "", "en", id="html-lang-region"),
        pytest.param("DE", "", "de", id="html-lang-upper-case"),
        pytest.param("", '<meta http-equiv="content-language" content="fr-FR">', "fr", id="content-language"),
        pytest.param("", '<meta property="og:locale" content="es_ES">', "es", id="og-locale"),
        pytest.param("", "", None, id="undeclared"),
        pytest.param("english", "", None, id="not-a-language-code"),
    ],
)
def test_page_fields_language(lang, head, expected):
    assert page_fields(_page(head, lang=lang), "https://example.org/x")["language"] == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param('<meta name="author" content="By Jane Doe">', "Jane Doe", id="by-prefix"),
        pytest.param('<meta name="author" content="Jane Doe and John Roe">', "Jane Doe, John Roe",
                     id="two-authors-comma-joined"),
        pytest.param('<meta name="author" content="Example Gazette">'
                     '<meta property="og:site_name" content="Example Gazette">', None, id="site-name-is-not-an-author"),
        pytest.param('<meta name="author" content="jane@example.org">', None, id="e-mail-is-not-an-author"),
        pytest.param("", None, id="no-author"),
    ],
)
def test_page_fields_author(head, expected):
    assert page_fields(_page(head), "https://example.org/x")["author"] == expected


def test_page_fields_author_falls_back_to_byline_markup_outside_comments():
    page = _page().replace(
        "<h1>", '<div class="comments"><span class="author">Troll Commenter</span></div>'
                '<p class="byline">By <a rel="author" href="/staff/jd">Jane Doe</a></p><h1>', 1)
    assert page_fields(page, "https://example.org/x")["author"] == "Jane Doe"


@pytest.mark.parametrize(
    ("head", "head_title", "h1", "expected"),
    [
        pytest.param('<meta property="og:site_name" content="Example Gazette">', "Park vote passes | Example Gazette",
                     "", "Park vote passes", id="site-suffix-removed"),
        pytest.param("", "Park vote passes - Example Gazette", "", "Park vote passes", id="suffix-matched-by-host"),
        pytest.param('<meta property="og:title" content="Council backs park">', "Council backs park",
                     "Council backs new east side park", "Council backs new east side park",
                     id="agreeing-h1-preferred"),
        pytest.param('<meta property="og:title" content="Council backs park">', "Council backs park",
                     "Example Gazette", "Council backs park", id="unrelated-h1-ignored"),
    ],
)
def test_page_fields_title(head, head_title, h1, expected):
    page = _page(head, head_title=head_title, h1=h1)
    assert page_fields(page, "https://www.examplegazette.com/x")["title"] == expected


def test_page_fields_date_after_max_date_is_rejected():
    page = _page('<meta property="article:published_time" content="2030-01-02T08:00:00Z">')
    assert page_fields(page, "https://example.org/x")["published"] == "2030-01-02"  # no clock: no bound
    published = page_fields(page, "https://example.org/x", max_date="2026-01-01")["published"]
    assert published is None or published <= "2026-01-01"


_DATELINE_PAGE = """<html><head><title>Council approves new park</title>
<meta property="article:published_time" content="2019-10-15T16:59:59Z"></head><body>
<aside>Most read: Budget passes. Updated Jan 2, 2021</aside>
<article><h1>Council approves new park</h1>
<div class="byline">By Jane Doe {dateline}</div>
<p>The city council voted on Tuesday to approve a new park on the east side of the town centre.</p>
<p>Construction is expected to start next spring and to last about eighteen months, officials said.</p>
</article></body></html>"""


@pytest.mark.parametrize(
    ("dateline", "max_date", "expected"),
    [
        pytest.param("Updated Mar 12, 2020 @ 10:42 am", None, "2020-03-12", id="shown-update-date"),
        pytest.param("Last updated on 20 Feb, 2020. 3 min read", None, "2020-02-20", id="day-month-year"),
        pytest.param("Updated 2010 GMT (0410 HKT) March 14, 2021", None, "2021-03-14", id="time-before-date"),
        pytest.param("Written: 2023-11-07 15:03:30", None, "2023-11-07", id="iso-written"),
        pytest.param("June 12, 2020 / Updated: Aug. 18, 2020", None, "2019-10-15", id="unlabelled-first-date"),
        pytest.param("", None, "2019-10-15", id="no-dateline-aside-ignored"),
        pytest.param("Updated Mar 12, 2020", "2020-01-01", "2019-10-15", id="after-max-date"),
        pytest.param("Updated Feb 30, 2020", None, "2019-10-15", id="impossible-date"),
    ],
)
def test_page_fields_date_shown_under_the_headline(dateline, max_date, expected):
    page = _DATELINE_PAGE.format(dateline=dateline)
    assert page_fields(page, "https://example.org/x", max_date=max_date)["published"] == expected


@pytest.mark.parametrize(
    "html",
    [
        pytest.param("", id="empty"),
        pytest.param("   \n", id="blank"),
        pytest.param("just some words", id="plain-text"),
        pytest.param("<p>a fragment</p>", id="fragment"),
        pytest.param("<html></html>", id="empty-document"),
        pytest.param("\x00\x01<html><body>\ud800</body></html>", id="control-chars"),
        pytest.param("<html>" + "<div>" * 5000 + "deep" + "</div>" * 5000 + "</html>", id="deeply-nested"),
        pytest.param("https://example.org/article", id="a-url-is-not-fetched"),
        pytest.param(None, id="none"),
    ],
)
def test_page_fields_never_raises(html, monkeypatch):
    import htmldate.utils
    import trafilatura.downloads

    def no_network(*args, **kwargs):
        raise AssertionError("page_fields must not fetch anything")

    monkeypatch.setattr(trafilatura.downloads, "fetch_url", no_network)
    monkeypatch.setattr(htmldate.utils, "fetch_url", no_network)
    fields = page_fields(html, "https://example.org/x")
    assert set(fields) == FIELDS
    assert isinstance(fields["text"], str)
    assert fields["url"] == "https://example.org/x"
