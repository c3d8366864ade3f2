"""The digest parser checked against a second, independent reader: BeautifulSoup on Python's `html.parser`.

lxml (libxml2) and `html.parser` are HTML parsers written apart; the reader below is written from
WordPress's conventions, not from the project's parser (it uses none of `core.parsing`'s helpers). For
every saved page and for generated pages it finds the post's content, every `++` entry in it and every
link, and the test asserts that `parse_digest` kept each of them: an entry's text (white space
normalised), and each link in the form the archive stores it (made here with w3lib's canonicalisation).
What the parser leaves out on purpose is written below as a rule with its reason; anything else it loses
fails the test.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from w3lib.url import canonicalize_url, url_query_cleaner

from core.parsing import parse_digest
from fixtures import hostile
from fixtures.cases import PAGE_CASES, case_url
from fixtures.content import ENTRY_POOL
from fixtures.site import (
    ORIGIN,
    FixtureEntry,
    FixturePost,
    archive_posts,
    build_site,
    render_amp_post,
    render_post,
)

# --- the second reader: BeautifulSoup ---------------------------------------------------------------

# Where WordPress themes put a post's content, most specific first: `entry-content` (every default theme
# since Twenty Ten, and the block themes' Post Content block too), `wp-block-post-content` (the Post Content
# block), `post-content` (many commercial themes), `amp-wp-article-content` (the AMP plugin's reader mode),
# `entry` (Kubrick, the default theme before Twenty Ten); then schema.org's `articleBody`, the `<article>`.
CONTENT_CLASSES = ("entry-content", "wp-block-post-content", "post-content", "amp-wp-article-content", "entry")

# Never a post's text: scripts and styles, and what a theme puts around a post (menus, sidebars, footers,
# forms, embedded frames). `figcaption`: an image's caption belongs to the image, not to an entry (the
# digests' `weekly digest` picture has one).
NOT_CONTENT_TAGS = {
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "footer",
    "form",
    "button",
    "textarea",
    "select",
    "iframe",
    "figcaption",
}
# What plugins add inside the content (through WordPress's `the_content` filter), by their documented class
# names: Jetpack's share buttons (`sharedaddy`) and related posts (`jp-relatedposts`), and the caption of a
# classic editor's `[caption]` image (`wp-caption-text`). A related post's teaser starts with `++` too.
PLUGIN_CLASSES = {"sharedaddy", "jp-relatedposts", "wp-caption-text"}

# Elements that start a new line of text (a paragraph, a list item, a heading, a quote, a table cell).
LINE_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "main",
    "center",
    "blockquote",
    "pre",
    "address",
    "figure",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}

# A digest's entry starts with `++` (sometimes `+ +`); a digest may open with its dateline on the same line
# (`Iran Interlink, April 24 2020: ++ Reports from…`), so the marker may follow the line's first colon.
ENTRY_MARKER = re.compile(r"^(?:[^+:]*:)?\s*\+\s?\+\s*")

# Characters no archive keeps (the parser removes them from every text it stores: XML, JSON and SQLite's
# readers cannot take them): C0 and C1 controls but tab, line feed and carriage return, surrogates, and
# Unicode's noncharacters.
_UNSTORABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef]"
    + "|".join([""] + [re.escape(chr(plane * 0x10000 + last)) for plane in range(17) for last in (0xFFFE, 0xFFFF)])
)


def normal_text(text: str) -> str:
    """White space collapsed (no-break and zero-width spaces too), unstorable characters left out."""
    return " ".join(_UNSTORABLE.sub("", text).replace("\u200b", " ").replace("\ufeff", " ").split())


# Query parameters that say who sent a click, not which page it names: the parser stores links without them
# (so that one article linked from two newsletters is one link), and so does this side. With them, those of
# WordPress's own that name the same post in another dress: `amp` (the AMP view), `share` (Jetpack's share
# button), `replytocom` (the comment form), `random-post` (a theme's random-article link) and the empty
# name of a stray `?=1`.
TRACKER_PARAMETERS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "_ga", "_gl"}
TRACKER_PARAMETERS |= {"amp", "share", "replytocom", "random-post", ""}
TRACKER_PREFIXES = ("utm_",)


def stored_form(href: str, page_url: str) -> str | None:
    """A link as the archive keeps it (absolute, canonical, no fragment, no trackers); None for one it does not
    keep: an in-page anchor (`#top` is a place in this page, not another page), and a link that is not http(s)
    (`mailto:`, `javascript:`, `tel:`: nothing to check or capture)."""
    # The parser takes the unstorable characters out of the whole page before it reads it, out of hrefs too
    # (a control character in a URL is no part of any address a site gives).
    href = _UNSTORABLE.sub("", href)
    # Then as the URL Standard reads an href (what a browser follows): leading and trailing C0 controls and
    # spaces stripped, every tab and line break removed, and in an http(s) URL (the only ones kept) a `\`
    # read as a `/`.
    href = re.sub("[\t\n\r]", "", href.strip("".join(map(chr, range(0x21))))).replace("\\", "/")
    if not href or href.startswith("#"):
        return None
    absolute = urljoin(page_url, href)
    parts = urlsplit(absolute)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    trackers = [
        name
        for name, _ in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() in TRACKER_PARAMETERS or name.lower().startswith(TRACKER_PREFIXES)
    ]
    if trackers:
        absolute = url_query_cleaner(absolute, trackers, remove=True, unique=False)
    return canonicalize_url(absolute)


@dataclass
class Line:
    text: str = ""
    hrefs: list[str] = field(default_factory=list)


@dataclass
class Item:
    """A `++` entry as the second reader sees it: the text of its first line, the links in that line."""

    text: str
    hrefs: list[str]


def is_not_content(tag: Tag) -> bool:
    return tag.name in NOT_CONTENT_TAGS or not PLUGIN_CLASSES.isdisjoint(tag.get("class") or [])


def find_content(soup: BeautifulSoup) -> Tag:
    for name in CONTENT_CLASSES:
        found = soup.find(class_=name)
        if found is not None:
            return found
    return soup.find(itemprop="articleBody") or soup.find("article") or soup.body or soup


def content_lines(content: Tag) -> list[Line]:
    """The content's text as lines (a new one at each `<br>` and at each paragraph-like element), with the
    `href` of each link, in the line where the link starts."""
    lines = [Line()]

    def new_line() -> None:
        if lines[-1].text.strip() or lines[-1].hrefs:
            lines.append(Line())

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString):  # comments, CDATA, declarations: not text
                continue
            if isinstance(child, NavigableString):
                lines[-1].text += str(child)
            elif isinstance(child, Tag) and not is_not_content(child):
                if child.name == "br":
                    new_line()
                elif child.name in LINE_TAGS:
                    new_line()
                    walk(child)
                    new_line()
                else:
                    if child.name == "a" and isinstance(child.get("href"), str):
                        lines[-1].hrefs.append(child["href"])
                    walk(child)

    walk(content)
    return [Line(normal_text(line.text), line.hrefs) for line in lines if normal_text(line.text) or line.hrefs]


@dataclass
class SecondReading:
    items: list[Item]
    hrefs: list[str]  # every link's href in the content, in order


def read_with_beautifulsoup(html: bytes) -> SecondReading:
    soup = BeautifulSoup(html, features="html.parser")
    lines = content_lines(find_content(soup))
    items: list[Item] = []
    for index, line in enumerate(lines):
        marker = ENTRY_MARKER.match(line.text)
        if not marker:
            continue
        text, hrefs = line.text[marker.end() :], list(line.hrefs)
        if not text and index + 1 < len(lines) and not ENTRY_MARKER.match(lines[index + 1].text):
            # A bare `++` on a line of its own: the entry's text is the line after it.
            text, hrefs = lines[index + 1].text, hrefs + lines[index + 1].hrefs
        if text:
            items.append(Item(text, hrefs))
    return SecondReading(items, [href for line in lines for href in line.hrefs])


# --- the comparison ----------------------------------------------------------------------------------


def assert_parser_keeps_what_beautifulsoup_finds(html: bytes, url: str) -> SecondReading:
    digest = parse_digest(url, html)
    second = read_with_beautifulsoup(html)
    kept_texts = [normal_text(entry.text) for entry in digest.entries]
    kept_links = [[link.url for link in entry.links] for entry in digest.entries]
    shown = "\n".join(f"  [{i}] {text[:90]!r}" for i, text in enumerate(kept_texts))

    # Every `++` entry, in order, each its own entry of the parser, which starts with the entry's first line
    # and holds every link of that line.
    position = 0
    for item in second.items:
        while position < len(kept_texts) and not kept_texts[position].startswith(item.text):
            position += 1
        assert position < len(kept_texts), f"{url}: entry lost: {item.text[:120]!r}\nthe parser's entries:\n{shown}"
        wanted = Counter(filter(None, (stored_form(href, url) for href in item.hrefs)))
        missing = wanted - Counter(kept_links[position])
        assert not missing, f"{url}: links lost from entry {item.text[:80]!r}: {sorted(missing)}"
        position += 1

    # Every link of the content, as many times as it appears.
    wanted = Counter(filter(None, (stored_form(href, url) for href in second.hrefs)))
    missing = wanted - Counter(link for links in kept_links for link in links)
    assert not missing, f"{url}: links lost: {sorted(missing)}"

    # In a digest of `++` entries, those are all its entries: nothing else (a related post's teaser, a
    # script's string) became one.
    if second.items:
        assert len(kept_texts) == len(second.items), f"{url}: entries without a `++`:\n{shown}"
    return second


# --- saved pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PAGE_CASES, ids=[case.name for case in PAGE_CASES])
def test_the_parser_keeps_every_entry_and_link_of_a_saved_page(case):
    assert_parser_keeps_what_beautifulsoup_finds((case / "page.html").read_bytes(), case_url(case))


def test_the_second_reader_finds_the_saved_pages_entries():
    """The second reader is no empty check: it finds `++` entries and links on the saved pages."""
    found = {case.name: read_with_beautifulsoup((case / "page.html").read_bytes()) for case in PAGE_CASES}
    assert len(found["nejatngo_200_seed"].items) == 9
    assert all(reading.items for name, reading in found.items() if name != "classic_old_54")
    assert sum(len(reading.hrefs) for reading in found.values()) >= 40


# --- the fixture sites -------------------------------------------------------------------------------


def _fixture_site_pages() -> list[tuple[str, bytes]]:
    site = build_site(archive_posts())
    return [
        (ORIGIN + path, page.body)
        for path, page in sorted(site.pages.items())
        if path.startswith("/en/posts/") and b"tie-error" not in page.body
    ]


SITE_PAGES = _fixture_site_pages()


@pytest.mark.parametrize("url,body", SITE_PAGES, ids=[url.removeprefix(ORIGIN) for url, _ in SITE_PAGES])
def test_the_parser_keeps_every_entry_and_link_of_the_fixture_site(url, body):
    assert_parser_keeps_what_beautifulsoup_finds(body, url)


@pytest.mark.parametrize("controls", [False, True], ids=["honest", "control-characters"])
def test_the_parser_keeps_every_entry_and_link_of_the_hostile_site(controls):
    with hostile.HostileServer(hostile.Hostility(posts=6, controls=controls)) as server:
        for post in server.posts:
            answer = server.answer(post.path, {})
            assert answer.status == 200
            assert_parser_keeps_what_beautifulsoup_finds(answer.body, server.post_url(post))


# --- generated pages ---------------------------------------------------------------------------------

# Hrefs as editors paste them: trackers, fragments, relative and protocol-relative links, ports, odd case,
# spaces and non-ASCII, duplicate parameters, blanks around them; and the ones the archive does not keep.
HREFS = [
    "https://example.org/report",
    "https://example.org/a?b=2&a=1&utm_source=newsletter&utm_medium=email#section-2",
    "http://Example.ORG:80/Path/?fbclid=IwAR3abc",
    "https://www.gazetatema.net/2019/09/18/mek-camp/?p=1&p=2",
    "/en/posts/7291",
    "../topic/news?utm_campaign=x",
    "//cdn.example.net/file.pdf#page=4",
    "https://example.org/pfad mit leerzeichen/ä?q=ü",
    " https://example.org/pasted\n",
    "https://example.org/broken\n/across/lines ",
    "https://twitter.com/ma_khodabandeh/status/1402321?s=20",
    "https://www.iran-interlink.org/wordpress/slug/?amp=1&share=twitter&replytocom=12&=1&page=2",
    "https://example.org/search?q=caf%E9&utm_source=x",
    "mailto:news@example.com",
    "javascript:void(0)",
    "#top",
    "tel:+355000000",
]
# Any character but a lone surrogate (no page can carry one) and the fixture's own markup (`[[text|href]]`);
# no `+` in the words, so the only `++` are the entries' markers.
_ANY = st.characters(exclude_categories=("Cs",), exclude_characters="[]|")
_WORDS = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="+[]|:"), min_size=1, max_size=40
)
_WORDS = _WORDS.filter(lambda text: any(character.isalpha() for character in text))
_HREF = st.sampled_from(HREFS) | st.builds(
    str.__add__,
    st.sampled_from(["https://example.org/", "http://h.example:8080/", "/x/", ""]),
    st.text(_ANY, max_size=20),
)


@st.composite
def _paragraph(draw) -> str:
    words = draw(st.sampled_from(ENTRY_POOL) | _WORDS)
    if draw(st.booleans()):
        link = f"[[{draw(_WORDS)}|{draw(_HREF)}]]"
        words = draw(st.sampled_from([f"{link} {words}", f"{words} {link}"]))
    return words


@st.composite
def _post(draw) -> FixturePost:
    count = draw(st.integers(1, 6))
    english_from = draw(st.none() | st.integers(0, count - 1))
    entries = [
        FixtureEntry(
            "In English" if english_from is not None and index >= english_from else None,
            draw(st.lists(_paragraph(), min_size=1, max_size=2)),
            tweet=draw(st.booleans()),
        )
        for index in range(count)
    ]
    return FixturePost(
        7000 + draw(st.integers(0, 999)),
        "Iran Interlink Weekly Digest \u2013 " + str(draw(st.integers(1, 400))),
        None,
        date(2020, 1, 3),
        entries,
        heading=draw(st.sampled_from(["p-strong", "h3", "b", "plain"])),
        br_split=draw(st.booleans()),
        caption=draw(st.sampled_from([None, "figure", "plain"])),
        subheadline=draw(st.none() | st.just("Rajavi\u2019s Albanian Fortress")),
        plus=draw(st.sampled_from([True, True, True, False])),  # one in four from before the `++` habit
    )


# Repeatable and quick in the suite; `HYPOTHESIS_PROFILE=explore` searches far wider (as in test_parsing_properties).
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


@settings(
    max_examples=2000 if EXPLORE else 60,
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_post(), st.booleans())
def test_the_parser_keeps_every_entry_and_link_of_a_generated_page(post, amp):
    html = render_amp_post(post, []) if amp else render_post(post, [], [])
    second = assert_parser_keeps_what_beautifulsoup_finds(html.encode("utf-8"), post.url + ("?amp=1" if amp else ""))
    # The second reader reads the page as it was written: one `++` entry for each of the post's entries.
    assert len(second.items) == (len(post.entries) if post.plus else 0)
