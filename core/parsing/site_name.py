"""What a site calls itself, from what it sends: its WordPress title, read three ways, best first.

- `rest_site_name(url, body)`: the REST root's `name` (`/wp-json/`: WordPress's `blogname` setting itself,
  kept with HTML entities, which are decoded);
- `page_site_name(url, html)`: a page's `<meta property="og:site_name">` (SEO plugins copy `blogname` there),
  else the suffix of its `<title>`: WordPress titles a page `<page title> – <site title>`
  (`wp_get_document_title`, its separator `&#8211;` or a theme's `|`), so what follows the page's own
  heading is the site's title.

Pure functions: no Scrapy, no network. What a site sends is untrusted: every name goes through
core.site_names.clean_site_name (one line, no control or reordering characters, length-capped, not an
address); a page that says nothing usable gives None, never an error. The name is the site's own: the
caller stores it for the site the answer came from, and only for that one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from ..site_names import clean_site_name
from ..text import is_series_name, mentions_series, parse_date, squash
from .decoding import html_as_utf8
from .errors import ParseError
from .html import make_tree
from .wordpress import _json

# The separators WordPress and SEO plugins put between a page's title and the site's: spaces around a dash,
# a bar, a middle dot, a bullet, guillemets or a double colon.
_SEPARATOR = re.compile(r"\s+(?:[-\u2013\u2014|\u00b7\u2022\u00bb\u203a]|::)\s+")
# Headings that are the site's own logo or title, never a page's.
_BRANDING = re.compile(r"site-title|site-name|site-branding|logo|brand", re.IGNORECASE)
_STRING = etree.XPath("string()")
# How far into a page the title and headings are looked for: past this many headings, none is the page's.
MAX_HEADINGS = 50


@dataclass(frozen=True)
class SiteName:
    name: str
    source: str  # "rest", "og:site_name" or "title" (core.site_names.SOURCES)


def rest_site_name(url: str, body: bytes | str) -> SiteName | None:
    """The REST root's `name`, when the answer is a REST root (ParseError when it is not JSON)."""
    data = _json(body, url)
    if not isinstance(data, dict) or not isinstance(data.get("routes"), dict):
        return None  # not a REST root: whatever `name` it has is not the site's title
    name = clean_site_name(data.get("name"), entities=True)
    return SiteName(name, "rest") if name else None


def page_site_name(url: str, html: str | bytes, http_charset: str | None = None) -> SiteName | None:
    """The site's name as a page gives it: og:site_name, else the suffix of its title."""
    try:
        tree = make_tree(html_as_utf8(html, http_charset) if isinstance(html, bytes) else html)
    except ParseError:
        return None
    head = tree.find("head")
    metas = head.iter("meta") if head is not None else tree.iter("meta")
    for meta in metas:
        if (meta.get("property") or meta.get("name") or "").strip().lower() == "og:site_name":
            name = clean_site_name(meta.get("content"))
            if name:
                return SiteName(name, "og:site_name")
            break
    title = next(tree.iter("title"), None)
    if title is None:
        return None
    name = title_suffix(squash(_STRING(title))[:2000], _own_headings(tree))
    return SiteName(name, "title") if name else None


def _own_headings(tree) -> list[str]:
    """The page's own headings (not the site's logo), longest first: what its `<title>` begins with."""
    headings = []
    for number, element in enumerate(tree.find("body").iter("h1", "h2")):
        if number >= MAX_HEADINGS:
            break
        branded = any(_BRANDING.search(node.get("class") or "") for node in (element, *element.iterancestors()))
        text = squash(_STRING(element))
        if text and not branded:
            headings.append(text)
    return sorted(set(headings), key=len, reverse=True)


def title_suffix(title: str, headings: list[str]) -> str | None:
    """The site's name at the end of a page's `<title>`: what follows the page's own heading and a separator;
    when no heading begins the title, its last part, unless that part is the digest's (the series name, a
    number, a date). A title that is only a heading names no site."""
    if not title:
        return None
    for heading in headings:
        if title == heading:
            return None
        if title.startswith(heading):
            separator = _SEPARATOR.match(title, len(heading))
            if separator:
                return _usable(_without_page_number(title[separator.end() :]))
    parts = _SEPARATOR.split(title)
    if len(parts) < 2:
        return None
    return _usable(parts[-1])


def _without_page_number(rest: str) -> str:
    """What follows a title without the page's number, which WordPress puts before the site's name on the
    pages of a listing (`Digest – Page 2 – Nejat Society`, in the site's language: `Seite 2`)."""
    separator = _SEPARATOR.search(rest)
    while separator and any(character.isdigit() for character in rest[: separator.start()]):
        rest = rest[separator.end() :]
        separator = _SEPARATOR.search(rest)
    return rest


def _usable(part: str) -> str | None:
    if is_series_name(part) or mentions_series(part) or parse_date(part) or part.strip().isdigit():
        return None
    return clean_site_name(part)
