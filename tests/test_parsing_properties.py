"""Whatever bytes a server sends, the parsers return an item or raise the project's ParseError."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.items import Digest, Listing
from core.parsing import ParseError, parse_digest, parse_listing
from fixtures.cases import LISTING_CASES, PAGE_CASES, case_url

PAGES = [((case / "page.html").read_bytes(), case_url(case)) for case in PAGE_CASES]
LISTINGS = [((case / "page.html").read_bytes(), case_url(case)) for case in LISTING_CASES]
SNIPPETS = [
    b"<p>",
    b"</p>",
    b"<br>",
    b"++ ",
    b"<script>",
    b"</div>",
    b"<h3>In English:</h3>",
    b"\xff\xfe",
    b"\x92\x93",
    b"<!--",
    b"<![CDATA[",
    b"&#8211;",
    b"<a href='javascript:x'>",
    b"\x00",
    b"</html>",
]

# Derandomized by default so that CI is repeatable; `HYPOTHESIS_PROFILE=explore` searches much wider.
settings.register_profile(
    "repeatable", max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
PROPERTY_SETTINGS = settings()


def mangled(pages):
    """A saved page, cut short and/or with fragments of HTML spliced in at random places."""

    @st.composite
    def build(draw):
        body, url = draw(st.sampled_from(pages))
        body = body[: draw(st.integers(0, len(body)))]
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(body)))
            piece = draw(st.sampled_from(SNIPPETS) | st.binary(max_size=40))
            body = body[:at] + piece + body[at:]
        return body, url

    return build()


def _parses_or_says_why(parse, item_type, body, url):
    try:
        item = parse(url, body)
    except ParseError as error:
        assert str(error)
        return
    assert isinstance(item, item_type)


@PROPERTY_SETTINGS
@given(mangled(PAGES))
def test_parse_digest_on_mangled_pages(page):
    body, url = page
    _parses_or_says_why(parse_digest, Digest, body, url)


@PROPERTY_SETTINGS
@given(mangled(LISTINGS))
def test_parse_listing_on_mangled_pages(page):
    body, url = page
    _parses_or_says_why(parse_listing, Listing, body, url)


@PROPERTY_SETTINGS
@given(st.text(max_size=2000) | st.binary(max_size=2000))
def test_parsers_on_arbitrary_input(data):
    _parses_or_says_why(parse_digest, Digest, data, "https://www.nejatngo.org/en/posts/1")
    _parses_or_says_why(parse_listing, Listing, data, "https://www.nejatngo.org/en/topic/x")


@PROPERTY_SETTINGS
@given(mangled(PAGES))
def test_a_parsed_digest_is_complete(page):
    body, url = page
    try:
        digest = parse_digest(url, body)
    except ParseError:
        return
    assert digest.title and digest.entries and all(entry.text for entry in digest.entries)
    assert all(link.url.startswith(("http://", "https://")) for entry in digest.entries for link in entry.links)


# The characters the page test looks for, and their neighbours, dense enough that every path of it is taken
# (a page full of no-break spaces included).
_NEAR_UNFIT = st.sampled_from(
    ["a", " ", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\xa0", "\xbf", "\ufdcf", "\ufdd0"]
    + ["\ufdef", "\ufdf0", "\ufeff", "\ufffd", "\ufffe", "\uffff", "\uefbf", "\U0001fffd", "\U0001fffe", "\U0010ffff"]
)


@PROPERTY_SETTINGS
@given(st.lists(_NEAR_UNFIT | st.just("\xa0" * 70) | st.characters(), max_size=300).map("".join))
def test_the_page_test_for_unfit_characters_agrees_with_fit_text(text):
    """What the HTML parser is given is the text with every character `fit_text` removes removed, whether the
    page came as text or as its UTF-8 bytes (the fast test only decides whether `fit_text` must run)."""
    from core.text import fit_text, fit_utf8, fit_utf8_bytes

    expected = fit_text(text).encode("utf-8")  # lone surrogates are among what it removes
    assert fit_utf8(text) == expected
    if not any("\ud800" <= character <= "\udfff" for character in text):
        assert fit_utf8_bytes(text.encode("utf-8")) == expected
