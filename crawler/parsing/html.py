"""Page helpers shared by the listing and post parsers: theme chrome, blocks, text.

lxml reads whole pages and BeautifulSoup only a post's content container (see bench/results.md); the
rules (what is chrome, what ends a block, what is never text) are written once, over plain values,
with a thin adapter for each tree."""

from __future__ import annotations

import re
from collections.abc import Iterator

import lxml.html
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype, ProcessingInstruction
from lxml import etree

from .errors import ParseError
from .text import fit_text, squash

# Elements that are never content, whatever the theme.
_CHROME_TAGS = {
    "nav",
    "aside",
    "footer",
    "form",
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "button",
    "select",
    "textarea",
    "iframe",
    "object",
    "embed",
    "figcaption",
    "amp-sidebar",
    "amp-social-share",
    "amp-ad",
}
# Class or id tokens of theme chrome: breadcrumbs, share buttons, "You may also like" /
# "Related posts", comments, sidebars, menus, post meta, image captions. A token must start with
# one of these words, so `has-sidebar` on a page wrapper does not hide the whole page.
_CHROME_TOKEN = re.compile(
    r"^(breadcrumbs?|crumbs|share|sharing|sharedaddy|social|related|yarpp|jp-relatedposts|"
    r"amp-related|comments?|comment-respond|respond|reply|widgets?|sidebar|menu|main-menu|"
    r"navigation|nav-links|post-nav|pagination|author-box|about-author|post-tags|tagcloud|"
    r"entry-meta|post-meta|entry-footer|wp-caption-text|caption|meta|advert|ads?|newsletter|"
    r"subscribe|cookie|popup|random-article|tie-random|tags-links|cat-links|byline|"
    r"amp-wp-meta|amp-wp-footer|amp-wp-header|site-header|site-footer|header-menu)\b",
    re.IGNORECASE,
)
# Elements whose tokens we never read as chrome (they hold the page).
_NEVER_CHROME = {"html", "body", "main", "article"}

BLOCK_TAGS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "li",
    "pre",
    "dd",
    "dt",
    "address",
    "td",
    "th",
    "figure",
    "table",
}
_CONTAINER_TAGS = {
    "div",
    "section",
    "article",
    "main",
    "ul",
    "ol",
    "dl",
    "header",
    "center",
    "tbody",
    "thead",
    "tr",
    "body",
    "html",
}
_LAYOUT_TAGS = BLOCK_TAGS | _CONTAINER_TAGS | {"hr", "br"}

HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


# Marks the title and sub-headline inside a content fragment, so the entry walk passes them by.
SKIP_ATTRIBUTE = "data-digest-skip"


def make_soup(html: str) -> BeautifulSoup:
    """A BeautifulSoup tree: only ever of a fragment (the content container), never of a whole page."""
    return BeautifulSoup(html, "lxml")


# --- whole pages, with lxml ---------------------------------------------------------------------------
# Pages carry far more theme than content; lxml reads the whole page (metadata, title, where the
# content is), and BeautifulSoup only the content container (see bench/results.md).


def make_tree(html: str):
    """The page's lxml tree; ParseError for what is not an HTML document."""
    if not html.strip():
        raise ParseError("empty page")
    html = fit_text(html)  # no control character or lone surrogate reaches the tree (see text.py)
    try:
        tree = lxml.html.document_fromstring(
            html.encode("utf-8", "replace"), parser=lxml.html.HTMLParser(encoding="utf-8")
        )
    except (etree.ParserError, ValueError) as error:
        raise ParseError(f"not an HTML page: {error}") from None
    if tree.find("body") is None:
        raise ParseError("not an HTML page: no <body>")
    return tree


# --- the rules, once: what is theme chrome, which tags end a block of text ------------------------------
# Each is written over plain values (a tag name, its class and id tokens); the lxml and BeautifulSoup
# adapters below only read those values off their own trees.

_UNREAD_TAGS = {"script", "style", "template", "noscript"}  # never part of a page's text


def is_chrome_element(tag: str, tokens: list[str], has_heading) -> bool:
    """The chrome rule: a chrome tag, a `<header>` without a heading (a site header, not the post's
    title), or a class or id token of theme chrome. `has_heading()` is asked only for a header."""
    if tag in _CHROME_TAGS:
        return True
    if tag in _NEVER_CHROME:
        return False
    if tag == "header" and not has_heading():
        return True
    return any(_CHROME_TOKEN.match(token) for token in tokens)


def separates_blocks(tag: str) -> bool:
    """Text on either side of this tag belongs to different blocks (a space between them, at least)."""
    return tag in _LAYOUT_TAGS


# --- lxml adapters (whole pages) ------------------------------------------------------------------------


def lx_tokens(element) -> list[str]:
    tokens = (element.get("class") or "").split()
    ident = element.get("id")
    return [*tokens, *([ident] if ident else [])]


def lx_is_chrome(element) -> bool:
    if not isinstance(element.tag, str):
        return False
    return is_chrome_element(
        element.tag, lx_tokens(element), lambda: next(element.iterdescendants(*HEADING_TAGS), None) is not None
    )


def lx_in_chrome(element, memo: dict | None = None) -> bool:
    """True when the element or an ancestor is chrome. Pass one `memo` dict for all the checks of a
    page: a listing asks this for every link, and the links share their ancestors."""
    path = []
    node = element
    answer = False
    while node is not None:
        if memo is not None and node in memo:
            answer = memo[node]
            break
        path.append(node)
        if lx_is_chrome(node):
            answer = True
            break
        node = node.getparent()
    if memo is not None:
        for visited in path:
            # Below a chrome element everything is chrome; above it nothing is known yet.
            if answer or visited is not node:
                memo[visited] = answer
    return answer


def lx_text(element) -> str:
    """Text of an element, block boundaries as spaces, white space collapsed, scripts left out."""
    if element is None:
        return ""
    parts: list[str] = []

    def walk(node) -> None:
        if not isinstance(node.tag, str) or node.tag in _UNREAD_TAGS:
            return
        block = separates_blocks(node.tag)
        if block:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append(" ")

    walk(element)
    return squash("".join(parts))


# --- BeautifulSoup adapters (the content container only) ---------------------------------------------


def _tokens(tag: Tag) -> list[str]:
    classes: list[str] | str = tag.get("class") or []
    if isinstance(classes, str):
        classes = classes.split()
    ident = tag.get("id")
    return [*classes, *([ident] if isinstance(ident, str) else [])]


def is_chrome(tag: Tag) -> bool:
    """True for an element that is theme chrome rather than post content."""
    return is_chrome_element(tag.name, _tokens(tag), lambda: tag.find(HEADING_TAGS) is not None)


def is_inline(node) -> bool:
    if isinstance(node, NavigableString):
        return not isinstance(node, (Comment, Doctype, ProcessingInstruction))
    return isinstance(node, Tag) and node.name not in _LAYOUT_TAGS and node.name not in _CHROME_TAGS


def has_block_children(tag: Tag) -> bool:
    return any(isinstance(child, Tag) and child.name in _LAYOUT_TAGS - {"br"} for child in tag.children)


def text_of(node_or_nodes) -> str:
    """Readable text of a node (or a list of sibling nodes): block boundaries become spaces."""
    parts: list[str] = []
    nodes = node_or_nodes if isinstance(node_or_nodes, list) else [node_or_nodes]
    for node in nodes:
        _collect_text(node, parts)
    return squash("".join(parts))


def _collect_text(node, parts: list[str]) -> None:
    if isinstance(node, (Comment, Doctype, ProcessingInstruction)):
        return
    if isinstance(node, NavigableString):
        parts.append(str(node))
        return
    if not isinstance(node, Tag) or node.name in _UNREAD_TAGS:
        return
    block = separates_blocks(node.name)
    if block:
        parts.append(" ")
    for child in node.children:
        _collect_text(child, parts)
    if block:
        parts.append(" ")


def iter_blocks(container: Tag) -> Iterator[Tag | list]:
    """The readable blocks of a container in document order, skipping chrome.

    A block is a paragraph-like element, or a run of inline nodes standing directly in a
    container (old posts sometimes have text and `<br>` with no `<p>` at all), yielded as a list.
    Containers (`div`, `section`, lists) are walked into; a `figure` too, because Gutenberg wraps
    embedded tweets in one.
    """
    run: list = []
    for child in container.children:
        if is_inline(child) or (isinstance(child, Tag) and child.name == "br"):
            run.append(child)
            continue
        if run:
            if text_of(run):
                yield run
            run = []
        if not isinstance(child, Tag) or is_chrome(child):
            continue
        if child.name in ("figure", "table") or child.name in _CONTAINER_TAGS:
            yield from iter_blocks(child)
        elif child.name in BLOCK_TAGS:
            if child.name != "blockquote" and has_block_children(child):
                yield from iter_blocks(child)
            else:
                yield child
        elif child.name == "hr":
            continue
        else:
            yield from iter_blocks(child)
    if run and text_of(run):
        yield run
