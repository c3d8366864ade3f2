"""The sanitising policies: for entry HTML (what the parser stores and what the reading view shows), and for a
whole page as its site served it (the reader's "as published" view), the first's tags and the page's layout."""

from __future__ import annotations

import nh3

# Inline formatting, paragraphs, quotes and lists; links with their title. Nothing else survives:
# no script, no style, no event handler, no image, no `javascript:` or `data:` URL.
ALLOWED_TAGS = {
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "br",
    "p",
    "blockquote",
    "q",
    "cite",
    "ul",
    "ol",
    "li",
    "sub",
    "sup",
    "code",
    "span",
    "small",
    "s",
    "del",
    "ins",
    "abbr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https"}
LINK_REL = "noopener noreferrer nofollow"


# Built once: `nh3.clean` with these arguments rebuilds the same sanitiser on every call (three times the
# cost of cleaning an entry).
_CLEANER = nh3.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel=LINK_REL)


def sanitise_html(html: str) -> str:
    return _CLEANER.clean(html)


# A whole page as its site served it (the reader's "as published" view): the entry policy and the page's
# layout (headings, sections, tables, figures), with the head, scripts, styles and templates dropped with
# their content. Nothing that runs or loads survives: no script, style, image, frame, form or event handler.
PAGE_TAGS = ALLOWED_TAGS | {
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "main",
    "aside",
    "figure",
    "figcaption",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "pre",
    "time",
    "dl",
    "dt",
    "dd",
}
_PAGE_CLEANER = nh3.Cleaner(
    tags=PAGE_TAGS,
    clean_content_tags={"head", "script", "style", "noscript", "template", "title"},
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    link_rel=LINK_REL,
)


def sanitise_page(html: str) -> str:
    """A whole served page, sanitised: its layout and text, nothing that runs or loads."""
    return _PAGE_CLEANER.clean(html)
