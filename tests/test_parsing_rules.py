"""Parser behaviour that the saved pages do not show on their own: errors, encodings, hostile content."""

import pytest

from core.parsing import ParseError, parse_digest, parse_listing
from core.parsing.decoding import decode_html

URL = "https://www.nejatngo.org/en/posts/7303"


def page(body: str, title: str = "Iran Interlink Weekly Digest &#8211; 200") -> str:
    return (
        f"<html><head><title>{title}</title></head><body class='single postid-7303'>"
        f"<article><h1 class='entry-title'>{title}</h1><div class='entry-content'>{body}</div></article>"
        "</body></html>"
    )


def test_a_page_without_entries_is_a_parse_error():
    with pytest.raises(ParseError, match="no entries|no post content"):
        parse_digest(URL, page(""))


def test_a_page_without_a_title_is_a_parse_error():
    with pytest.raises(ParseError, match="no post title"):
        parse_digest(URL, "<html><body><div class='entry-content'><p>++ text</p></div></body></html>")


def test_not_html_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_digest(URL, b"%PDF-1.4 binary")


def test_header_says_utf8_but_bytes_are_windows_1252():
    body = page("<p>++ The MEK\u2019s \u201ccamp\u201d \u2013 \u00a3800\u2026</p>").encode("cp1252")
    digest = parse_digest(URL, body, http_charset="utf-8")
    assert digest.entries[0].text == "The MEK\u2019s \u201ccamp\u201d \u2013 \u00a3800\u2026"


def test_decoding_prefers_a_bom_and_falls_back_to_windows_1252():
    assert decode_html("\ufeff<p>caf\u00e9</p>".encode("utf-8")) == "<p>caf\u00e9</p>"
    assert decode_html("<p>caf\u00e9</p>".encode("cp1252"), "utf-8") == "<p>caf\u00e9</p>"


def test_scripts_and_handlers_never_reach_text_html_or_links():
    digest = parse_digest(
        URL,
        page(
            "<p>++ Safe <a href='https://ok.example/a' onclick='steal()'>link</a>"
            "<script>alert('++ not an entry')</script> and "
            "<a href='javascript:alert(1)'>bad</a> <img src=x onerror='steal()'></p>"
            "<p onmouseover='steal()'>++ Second <iframe src='https://evil.example'></iframe>entry</p>"
        ),
    )
    assert [e.text for e in digest.entries] == ["Safe link and bad", "Second entry"]
    html = "".join(e.html for e in digest.entries)
    for hostile in ("script", "onclick", "onerror", "onmouseover", "javascript:", "iframe", "steal"):
        assert hostile not in html
    assert [link.url for e in digest.entries for link in e.links] == ["https://ok.example/a"]


def test_teasers_in_related_posts_are_not_entries():
    html = page("<p>++ Only entry</p>").replace(
        "</article>", "</article><div class='related-posts'><h3>You may also like</h3><p>++ teaser…</p></div>"
    )
    assert [e.text for e in parse_digest(URL, html).entries] == ["Only entry"]


def test_section_heading_in_any_element():
    for heading in (
        "<h3>In English:</h3>",
        "<p><b>In English</b></p>",
        "<p><strong>In English:</strong></p>",
        "<p>In English:</p>",
        "<h4>In English</h4>",
    ):
        digest = parse_digest(URL, page(f"<p>++ one</p>{heading}<p>++ two</p>"))
        assert [e.section for e in digest.entries] == [None, "In English"], heading


def test_a_listing_that_names_no_posts_has_none():
    listing = parse_listing("https://www.nejatngo.org/en/topic/x", "<html><body><p>Nothing here</p></body></html>")
    assert listing.post_urls == () and listing.next_url is None


def test_pagination_never_leaves_the_listing_or_goes_back():
    html = (
        "<html><body><a rel='next' href='/en/posts/5'>Next post</a>"
        "<a class='next page-numbers' href='/en/topic/x/page/1'>1</a>"
        "<a href='/en/topic/other/page/3'>Older posts</a></body></html>"
    )
    assert parse_listing("https://www.nejatngo.org/en/topic/x/page/2", html).next_url is None


def test_a_date_printed_as_text_in_the_theme_is_the_publication_date():
    html = page("<p>++ One entry</p><p>Iran Interlink, August 25 2017</p>").replace(
        "<article>", "<article><div class='post-meta'><span class='date meta-item'>August 26, 2017</span></div>"
    )
    assert parse_digest(URL, html).published == "2017-08-26"
    # Without it, the dateline gives the date.
    assert parse_digest(URL, page("<p>++ One entry</p><p>Iran Interlink, August 25 2017</p>")).published == "2017-08-25"


def test_entries_marked_after_a_no_break_space_in_a_theme_without_content_classes():
    html = (
        "<html><body><div id='page'><h1>Iran Interlink Weekly Digest &#8211; 201</h1>"
        "<div class='x'><p>&nbsp;++ First entry</p><p>\u00a0++\u00a0Second entry</p></div>"
        "<div class='y'><p>Some other block of site text that is long enough to look like content, "
        "longer than the entries themselves, written by the theme.</p></div></div></body></html>"
    )
    digest = parse_digest(URL, html)
    assert [e.text for e in digest.entries] == ["First entry", "Second entry"]


def test_a_link_is_stored_as_a_browser_follows_it():
    """Spaces and line breaks around an `href`, and tabs or line breaks inside it, are no part of the address
    (the URL Standard); a space inside one is (escaped). Found by the differential test: the trailing ones were
    stored escaped (`/report%20`, `/report%0A`), an address the link check would find missing."""
    digest = parse_digest(
        URL,
        page(
            "<p>++ One <a href='https://example.org/report '>report</a>, "
            "<a href='\n https://example.org/report\n'>again</a>, <a href='https://example.org/re\tport'>and</a> "
            "<a href='https://example.org/a b'>another</a>.</p>"
        ),
    )
    assert [link.url for link in digest.entries[0].links] == [
        "https://example.org/report",
        "https://example.org/report",
        "https://example.org/report",
        "https://example.org/a%20b",
    ]
