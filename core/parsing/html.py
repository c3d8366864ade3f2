"""Page helpers shared by the listing and post parsers: theme chrome, blocks, text.

Everything reads lxml's tree (one parse per page, no second tree): the rules (what is chrome, what ends a
block, what is never text) are written once, over plain values, and read off lxml's elements. A post's
content is walked as a sequence of nodes, elements and `Text` (an element's text or tail)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import lxml.html
from lxml import etree

from ..text import fit_utf8, fit_utf8_bytes, squash
from .errors import ParseError

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


# --- whole pages, with lxml ---------------------------------------------------------------------------
# Pages carry far more theme than content: whatever can be asked of the whole page is one compiled
# XPath (run in C), and Python only looks at what it returns.


def make_tree(html: str | bytes):
    """The page's lxml tree, from its text or its UTF-8 bytes; ParseError for what is not an HTML document."""
    if isinstance(html, bytes):
        if _is_blank_utf8(html):
            raise ParseError("empty page")
        data = fit_utf8_bytes(html)  # no control character reaches the tree (see text.py)
    else:
        if not html.strip():
            raise ParseError("empty page")
        data = fit_utf8(html)  # no control character or lone surrogate reaches the tree (see text.py)
    try:
        # etree's own parser, not lxml.html's: the same tree, without a Python class lookup for every
        # element the parser's queries return.
        tree = etree.fromstring(data, parser=etree.HTMLParser(encoding="utf-8"))
    except (etree.ParserError, ValueError) as error:
        raise ParseError(f"not an HTML page: {error}") from None
    if tree is None:
        raise ParseError("not an HTML page: Document is empty")
    if tree.find("body") is None:
        raise ParseError("not an HTML page: no <body>")
    return tree


# The characters `str.isspace` takes for white space that `bytes.strip` keeps: those and every non-ASCII
# character need the text to tell (rarely: a page starts with `<` or a letter).
_NOT_BYTES_SPACE = frozenset(b"\x1c\x1d\x1e\x1f")


def _is_blank_utf8(data: bytes) -> bool:
    """`not data.decode("utf-8").strip()`, without decoding a page that starts as most pages do."""
    rest = data.strip()
    if not rest:
        return True
    if rest[0] < 0x80 and rest[0] not in _NOT_BYTES_SPACE:
        return False
    return not data.decode("utf-8", errors="replace").strip()


# --- the rules, once: what is theme chrome, which tags end a block of text ------------------------------
# Each is written over plain values (a tag name, its class and id tokens); the adapters below read those
# values off lxml's elements.

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


# --- lxml adapters ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _chrome_attributes(classes: str | None, ident: str | None) -> bool:
    """The token half of the chrome rule, for one pair of class and id values. A theme repeats the same
    few values on every page, so each is matched once per process, not once per element."""
    tokens = (classes or "").split()
    return any(_CHROME_TOKEN.match(token) for token in ([*tokens, ident] if ident else tokens))


_HAS_HEADING = etree.XPath("boolean(.//h1 | .//h2 | .//h3 | .//h4 | .//h5 | .//h6)")


def lx_is_chrome(element) -> bool:
    tag = element.tag
    if not isinstance(tag, str):
        return False
    if tag in _CHROME_TAGS:
        return True
    if tag in _NEVER_CHROME:
        return False
    if tag == "header" and not _HAS_HEADING(element):
        return True
    return _chrome_attributes(element.get("class"), element.get("id"))


def lx_in_chrome(element, memo: dict | None = None) -> bool:
    """True when the element or an ancestor is chrome. Pass one `memo` dict for all the checks of a
    page: the checks share their ancestors."""
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


def _text_parts(node, parts: list[str]) -> None:
    if not isinstance(node.tag, str) or node.tag in _UNREAD_TAGS:
        return
    block = node.tag in _LAYOUT_TAGS
    if block:
        parts.append(" ")
    # (lxml makes a new Python string at each read of `.text` or `.tail`: each is read once)
    text = node.text
    if text:
        parts.append(text)
    for child in node:
        _text_parts(child, parts)
        tail = child.tail
        if tail:
            parts.append(tail)
    if block:
        parts.append(" ")


def lx_text(element) -> str:
    """Text of an element, block boundaries as spaces, white space collapsed, scripts left out."""
    if element is None:
        return ""
    parts: list[str] = []
    _text_parts(element, parts)
    return squash("".join(parts))


# --- a content container as a sequence of nodes --------------------------------------------------------


class Text:
    """A string of the tree between elements (an element's text or a child's tail), cut in place by the
    entry reader. `shown` is False for a comment or a processing instruction standing in a block: not
    text, and not inline (it ends a run of inline nodes); a processing instruction is kept in the HTML as
    escaped text, for the sanitiser to judge."""

    __slots__ = ("shown", "value")

    def __init__(self, value: str, shown: bool = True) -> None:
        self.value = value
        self.shown = shown

    def html(self) -> str:
        return _escape(self.value)


# Strings of nothing but ASCII white space read as one space, or one line break when they hold one,
# except in `<pre>` and `<textarea>`; this is what the entries' HTML has always been written from.
_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
_KEEP_SPACES = {"pre", "textarea"}


def _collapsed(value: str | None) -> str | None:
    if value and not value.strip(_ASCII_SPACES):
        return "\n" if "\n" in value else " "
    return value


def collapse_blank_strings(container) -> None:
    """Collapse the container's white-space-only strings (see `_collapsed`)."""
    # What is inside a `<pre>` or `<textarea>` (rare: usually none) keeps its strings, tails of its children too.
    kept = {node for keeper in container.iter(*_KEEP_SPACES) for node in keeper.iter()}
    for element in container.iter():
        if element in kept:
            continue
        text = element.text
        if text and isinstance(element.tag, str) and (collapsed := _collapsed(text)) != text:
            element.text = collapsed
        for child in element:
            tail = child.tail
            if tail and (collapsed := _collapsed(tail)) != tail:
                child.tail = collapsed


def children(element) -> list:
    """The element's child nodes: `Text` for its strings, the elements themselves, comments and
    processing instructions as a `Text` that is not shown."""
    text = element.text
    nodes: list = [Text(text)] if text else []
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            nodes.append(child)
        elif tag is etree.Comment:
            nodes.append(Text("", shown=False))  # comments are neither text nor HTML
        elif tag is etree.ProcessingInstruction:
            nodes.append(Text(f"{child.target} {child.text or ''}", shown=False))
        tail = child.tail
        if tail:
            nodes.append(Text(tail))
    return nodes


def is_inline(node) -> bool:
    if isinstance(node, Text):
        return node.shown
    return node.tag not in _LAYOUT_TAGS and node.tag not in _CHROME_TAGS


def has_block_children(element) -> bool:
    return any(isinstance(child.tag, str) and child.tag in _LAYOUT_TAGS - {"br"} for child in element)


def text_of(node_or_nodes) -> str:
    """Readable text of a node (or a list of sibling nodes): block boundaries become spaces."""
    parts: list[str] = []
    for node in node_or_nodes if isinstance(node_or_nodes, list) else [node_or_nodes]:
        if isinstance(node, Text):
            if node.shown:
                parts.append(node.value)
        else:
            _text_parts(node, parts)
    return squash("".join(parts))


def html_of(node) -> str:
    """A node as HTML, for the sanitiser (which keeps only a few tags and `href`/`title`): attribute values
    as they are in the tree (lxml's own serialiser would URI-escape the `href`s set from `canonical_link`),
    comments and processing instructions left out."""
    if isinstance(node, Text):
        return node.html()
    parts: list[str] = []
    _markup(node, parts)
    return "".join(parts)


_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}


def _markup(element, parts: list[str]) -> None:
    tag = element.tag
    if not isinstance(tag, str):
        return
    attributes = "".join(f' {name}="{_escape(value).replace(chr(34), "&quot;")}"' for name, value in element.items())
    if tag in _VOID_TAGS:
        parts.append(f"<{tag}{attributes}/>")
        return
    parts.append(f"<{tag}{attributes}>")
    text = element.text
    if text:
        parts.append(_escape(text))
    for child in element:
        _markup(child, parts)
        tail = child.tail
        if tail:
            parts.append(_escape(tail))
    parts.append(f"</{tag}>")


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# What libxml2's HTML serialiser leaves of an `href` as it is: the parser has always read links through it,
# which strips leading blanks and percent-escapes spaces, non-ASCII and the like (as a browser sends them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Every printable ASCII character but the space comes back as it was (tried for each of them, alone and in
# 200,000 random strings): such an `href`, the common case, needs no trip through libxml2.
_PLAIN_HREF = re.compile(r"[!-~]*")


def written_href(href: str) -> str:
    """An `href` as libxml2 writes it out and reads it back."""
    if _PLAIN_HREF.fullmatch(href):
        return href
    anchor = lxml.html.Element("a")
    # A `&#1;` leaves a control character in the tree, which lxml takes no copy of: escaped as libxml2 would.
    anchor.set("href", _CONTROL.sub(lambda match: f"%{ord(match[0]):02X}", href))
    return lxml.html.fragment_fromstring(lxml.html.tostring(anchor)).get("href") or ""


def iter_blocks(container) -> Iterator:
    """The readable blocks of a container in document order, skipping chrome.

    A block is a paragraph-like element, or a run of inline nodes standing directly in a
    container (old posts sometimes have text and `<br>` with no `<p>` at all), yielded as a list.
    Containers (`div`, `section`, lists) are walked into; a `figure` too, because Gutenberg wraps
    embedded tweets in one.
    """
    run: list = []
    for child in children(container):
        if is_inline(child) or (not isinstance(child, Text) and child.tag == "br"):
            run.append(child)
            continue
        if run:
            if text_of(run):
                yield run
            run = []
        if isinstance(child, Text) or lx_is_chrome(child):
            continue
        tag = child.tag
        if tag in ("figure", "table") or tag in _CONTAINER_TAGS:
            yield from iter_blocks(child)
        elif tag in BLOCK_TAGS:
            if tag != "blockquote" and has_block_children(child):
                yield from iter_blocks(child)
            else:
                yield child
        elif tag == "hr":
            continue
        else:
            yield from iter_blocks(child)
    if run and text_of(run):
        yield run
