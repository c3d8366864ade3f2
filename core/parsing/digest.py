"""A digest post page → a `Digest` with its entries and links.

Relies on what holds across WordPress themes (canonical link, shortlink, `postid-N`,
`article:published_time`, JSON-LD, `<time datetime>`, `entry-content`-like containers) before any
theme's class names, and on the digest's own text cues: entries start with `++`, a heading such as
`In English:` opens a section, a dateline (`Iran Interlink, August 25 2017`) opens or closes the body.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

from ..items import Digest, Entry, Link
from ..numbers import post_id_in_text
from ..sanitise import sanitise_html
from ..text import (
    DATE_IN_WORDS,
    Dateline,
    fit_optional,
    fit_text,
    is_series_name,
    match_dateline,
    mentions_series,
    parse_date,
    parse_title,
    squash,
)
from ..urls import (
    canonical_link,
    clean_post_url,
    domain_of,
    href_as_followed,
    is_http_url,
    join_url,
    same_site,
    site_of,
)
from .decoding import html_as_utf8
from .errors import ParseError
from .html import (
    BLOCK_TAGS,
    HEADING_TAGS,
    SKIP_ATTRIBUTE,
    Text,
    children,
    collapse_blank_strings,
    html_of,
    iter_blocks,
    lx_in_chrome,
    lx_text,
    make_tree,
    text_of,
    written_href,
)

# --- entry text cues ------------------------------------------------------------------------------

_PLUS = re.compile(r"^\s*\+\s?\+")
# Section headings seen: "In English:"; other languages would read the same way.
_LANGUAGE_HEADING = re.compile(r"^In\s+[A-Z][a-z]+(?:\s+(?:and|&)\s+[A-Z][a-z]+)?\s*:?$")
# Where the post ends and the theme begins, when the theme does not mark it up as such.
_END_OF_POST = re.compile(
    r"^(?:you may also like|related posts?|related articles|leave a (?:comment|reply)|"
    r"share this(?: post| article)?:?|like this:?|post navigation|about the author|"
    r"\d+\s+comments?|no comments|read more:?)\s*$",
    re.IGNORECASE,
)
# An image caption standing in the body (nejatngo shows `weekly digest` under a picture).
_CAPTION = re.compile(r"^(?:iran[\s-]*interlink\s+)?weekly digest$", re.IGNORECASE)

# --- containers -----------------------------------------------------------------------------------

_CONTENT_TOKENS = (
    "entry-content",
    "amp-wp-article-content",
    "td-post-content",
    "post-content",
    "article-content",
    "entry-body",
    "post-body",
    "the-content",
    "post-entry",
    "single-content",
    "content-inner",
    "entry",
)
_TITLE_TOKENS = {
    "entry-title",
    "post-title",
    "amp-wp-title",
    "single-post-title",
    "article-title",
    "td-post-title",
    "post-heading",
    "headline",
}
_SUBTITLE_TOKEN = re.compile(
    r"^(?:entry-sub-?title|sub-?title|post-sub-?title|sub-?heading|"
    r"subhead|sub-?headline|td-post-sub-title|entry-subheading)$",
    re.IGNORECASE,
)
# Comment lists, related posts and widgets carry dates of their own.
_FOREIGN_DATES = re.compile(r"^(?:comments?|comment-|related|yarpp|jp-relatedposts|widget|sidebar)", re.IGNORECASE)


def parse_digest(url: str, html: str | bytes, http_charset: str | None = None) -> Digest:
    """Parse one digest post page. Raises `ParseError` for a page that is not a readable digest."""
    tree = make_tree(html_as_utf8(html, http_charset) if isinstance(html, bytes) else html)
    chrome: dict = {}  # lx_in_chrome's answers for this page
    found = _PageElements(tree)
    metas = _read_metas(found)

    canonical = _parse_canonical_url(found, metas, url)
    post_id = _parse_post_id(tree, found, url, canonical, chrome)
    published = _parse_published(tree, found, metas)
    title_element, title = _parse_title(tree, found, metas, chrome)
    if not title:
        raise ParseError("no post title found (no entry-title, <h1>, og:title or <title>)")
    subheadline_element, subheadline = _parse_subheadline(tree, found, title_element, chrome)

    container = _find_content(tree, chrome)
    if container is None:
        raise ParseError("no post content found (no `++` entries and no entry-content container)")
    for element in (title_element, subheadline_element):
        if element is not None:
            element.set(SKIP_ATTRIBUTE, "1")
    collapse_blank_strings(container)
    entries, dateline = _parse_body(container, url, title)
    if not entries:
        raise ParseError("the post content holds no entries")

    title = squash(fit_text(title))
    title_parts = parse_title(title)
    return Digest(
        url=canonical,
        site=site_of(canonical),
        post_id=post_id,
        title=title,
        number=title_parts.number,
        headline=title_parts.headline or fit_optional(subheadline),
        issue_date=title_parts.issue_date,
        published=published or (dateline.date if dateline else None),
        dateline=fit_text(dateline.text) if dateline else None,
        entries=tuple(entries),
        source_urls=(url,),
    )


# --- metadata (lxml, whole page) -------------------------------------------------------------------


class _PageElements:
    """The elements the page's metadata rules read (metas, links, articles, scripts, titles), found in one
    pass over the whole tree by tag name (lxml's iteration, in C), in document order; the body's class
    values, in one query; and the `<link>`s by `rel`."""

    TAGS = ("meta", "link", "article", "script", "title")

    def __init__(self, tree) -> None:
        self.by_tag: dict[str, list] = {tag: [] for tag in self.TAGS}
        for element in tree.iter(*self.TAGS):
            self.by_tag[element.tag].append(element)
        self.class_values: set[str] = set(_CLASS_VALUES(tree.find("body")))
        # The `href` of the first `<link>` of each `rel` token, in one pass: a block theme's head has dozens.
        self.link_rels: dict[str, str] = {}
        for tag in self.by_tag["link"]:
            if tag.get("href"):
                for token in (tag.get("rel") or "").split():
                    self.link_rels.setdefault(token, tag.get("href").strip())


_META_ATTRIBUTES = ("property", "name", "itemprop")


def _read_metas(found: _PageElements) -> dict[tuple[str, str], str]:
    """Every `<meta>` with a content, by (attribute, its value): the first in the page of each."""
    metas: dict[tuple[str, str], str] = {}
    for tag in found.by_tag["meta"]:
        if not tag.get("content"):
            continue
        for attribute in _META_ATTRIBUTES:
            value = tag.get(attribute)
            if value is not None and (attribute, value) not in metas:
                metas[attribute, value] = tag.get("content").strip()
    return metas


def _meta(metas: dict, *names: str) -> str | None:
    for name in names:
        for attribute in _META_ATTRIBUTES:
            if (attribute, name) in metas:
                return metas[attribute, name]
    return None


def _parse_canonical_url(found: _PageElements, metas: dict, url: str) -> str:
    """`<link rel=canonical>` (or og:url) when it names a page of the same site, else the URL fetched.

    AMP and oEmbed variants point their canonical link at the post; a canonical link to another
    site is not trusted with the post's identity.
    """
    for candidate in (found.link_rels.get("canonical"), _meta(metas, "og:url")):
        absolute = join_url(url, candidate)
        if absolute and same_site(absolute, url):
            try:
                return clean_post_url(absolute)
            except (ValueError, UnicodeError):
                continue  # a canonical link too broken to use: fall back to the URL fetched
    return clean_post_url(url)


_POSTID_CLASS = re.compile(r"^postid-([0-9]+)$")
_POST_ARTICLE_ID = re.compile(r"^post-([0-9]+)$")
_POSTS_PATH = re.compile(r"/posts?/([0-9]+)(?:/|$)")


def _query_post_id(url: str | None) -> int | None:
    if url is None or not is_http_url(url):
        return None
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "p" and post_id_in_text(value) is not None:
            return post_id_in_text(value)
    return None


def _parse_post_id(tree, found: _PageElements, url: str, canonical: str, chrome: dict) -> int | None:
    """The WordPress post id: `postid-N` body class, `?p=N` shortlink, `post-N` article, `/posts/N`."""
    for token in (tree.find("body").get("class") or "").split():
        match = _POSTID_CLASS.match(token)
        if match and post_id_in_text(match[1]) is not None:
            return post_id_in_text(match[1])
    shortlink = _query_post_id(join_url(url, found.link_rels.get("shortlink")))
    if shortlink:
        return shortlink
    for article in found.by_tag["article"]:
        match = _POST_ARTICLE_ID.match(article.get("id") or "")
        if match and post_id_in_text(match[1]) is not None and not lx_in_chrome(article, chrome):
            return post_id_in_text(match[1])
    for candidate in (canonical, url):
        match = _POSTS_PATH.search(urlsplit(candidate).path)
        if match and post_id_in_text(match[1]) is not None:
            return post_id_in_text(match[1])
    return _query_post_id(url)


def _json_ld_date(found: _PageElements) -> str | None:
    for script in found.by_tag["script"]:
        if script.get("type") != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except (ValueError, TypeError):
            continue
        stack = [data]
        while stack:
            node = stack.pop(0)
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                if isinstance(node.get("datePublished"), str):
                    return node["datePublished"]
                stack.extend(v for v in node.values() if isinstance(v, (list, dict)))
    return None


def _has_foreign_dates(element) -> bool:
    for parent in element.iterancestors():
        if parent.tag in ("aside", "nav") or _foreign_date_attributes(parent.get("class"), parent.get("id")):
            return True
    return False


@lru_cache(maxsize=1024)
def _foreign_date_attributes(classes: str | None, ident: str | None) -> bool:
    """A class or id token of comments, related posts or widgets, judged once per pair of values."""
    tokens = (classes or "").split()
    return any(_FOREIGN_DATES.match(token) for token in ([*tokens, ident] if ident else tokens))


_POSTED_ON = re.compile(rf"Posted\s+on:?\s*(\d{{4}}/\d{{1,2}}/\d{{1,2}}|{DATE_IN_WORDS})", re.IGNORECASE)


def _parse_published(tree, found: _PageElements, metas: dict) -> str | None:
    """Publication date: article:published_time, JSON-LD, `<time datetime>`, `Posted on:` text, a date-classed
    element's text. None when the page shows none (the dateline is the caller's last resort)."""
    for value in (
        _meta(metas, "article:published_time", "og:published_time", "datePublished", "date", "DC.date.issued"),
        _json_ld_date(found),
    ):
        if parse_date(value):
            return parse_date(value)
    body = tree.find("body")
    times = sorted(_DATED_TIMES(body), key=lambda t: "published" not in (t.get("class") or "").split())
    for tag in times:
        if parse_date(tag.get("datetime")) and not _has_foreign_dates(tag):
            return parse_date(tag.get("datetime"))
    # The body's readable text is made only when its raw text (lxml's, in C) has the word: most pages do
    # not. Case-folded, as the pattern's IGNORECASE reads `ſ` as `s`.
    if "posted" in _STRING(body).casefold():
        posted_on = _POSTED_ON.search(lx_text(body))
        if posted_on and parse_date(posted_on[1]):
            return parse_date(posted_on[1])
    # Themes that print the date as text only (TieLabs: `<span class="date meta-item">August 25, 2017</span>`).
    dated_classes = _DATE_CLASS_VALUES.holding_of(found.class_values)
    if dated_classes:
        for element in _CLASSED(body):
            if element.get("class") in dated_classes and not _has_foreign_dates(element):
                day = parse_date(lx_text(element))
                if day:
                    return day
    return None


_DATE_CLASSES = {
    "date",
    "post-date",
    "entry-date",
    "published",
    "posted-on",
    "meta-date",
    "post-meta-date",
    "td-post-date",
    "entry-time",
}
_DATED_TIMES = etree.XPath(".//time[@datetime != '']")


class _ClassValues:
    """Which class attribute values hold a token of a kind, each value judged once per process. A theme
    repeats the same few dozen values on every page: the page's set minus those already judged is one set
    operation in C. Bounded: a site of ever new values only costs judging them again."""

    LIMIT = 4096

    def __init__(self, holds_token) -> None:
        self.holds_token = holds_token
        self.holding: set[str] = set()
        self.not_holding: set[str] = set()

    def holding_of(self, values: set[str]) -> set[str]:
        unjudged = values - self.holding - self.not_holding
        if unjudged:
            if len(self.holding) + len(self.not_holding) > self.LIMIT:
                self.holding.clear()
                self.not_holding.clear()
            for value in unjudged:
                (self.holding if self.holds_token(value) else self.not_holding).add(value)
        return values & self.holding


_DATE_CLASS_VALUES = _ClassValues(lambda classes: not _DATE_CLASSES.isdisjoint(classes.split()))


def _parse_title(tree, found: _PageElements, metas: dict, chrome: dict):
    """The post title: a title-classed heading, an `<h1>`, a heading naming the series; else og:title / `<title>`.

    A heading naming the series wins over one that does not (a theme may put its logo in an h1).
    """
    # Each heading's text, made once; chrome first: a theme's headings are mostly widget titles.
    texts = {h: lx_text(h) for h in tree.find("body").iter("h1", "h2", "h3") if not lx_in_chrome(h, chrome)}
    headings = [h for h, text in texts.items() if text]
    titled = [h for h in headings if not _TITLE_TOKENS.isdisjoint((h.get("class") or "").split())]
    h1s = [h for h in headings if h.tag == "h1" and h not in titled]
    naming = [h for h in headings if h not in titled and h not in h1s and mentions_series(texts[h])]
    candidates = titled + h1s + naming
    for heading in candidates:
        if mentions_series(texts[heading]):
            return heading, texts[heading]
    if candidates:
        return candidates[0], texts[candidates[0]]
    title_tag = found.by_tag["title"][0] if found.by_tag["title"] else None
    for text in (_meta(metas, "og:title"), _STRING(title_tag) if title_tag is not None else None):
        if text and squash(text):
            return None, _without_site_name(squash(text), _meta(metas, "og:site_name"))
    return None, None


def _without_site_name(title: str, site_name: str | None) -> str:
    """`Digest – 54 | Nejat Society` → `Digest – 54` (a `<title>` carries the site's name)."""
    if site_name and title.endswith(site_name):
        return title[: -len(site_name)].rstrip(" -|\u2013\u2014")
    parts = title.split(" | ")
    return next((part for part in parts if mentions_series(part)), parts[0])


_STRING = etree.XPath("string()")  # all the text in an element, as lxml.html's text_content()
_CLASS_VALUES = etree.XPath(".//@class", smart_strings=False)
_CLASSED = etree.XPath(".//*[@class]")


_SUBTITLE_CLASS_VALUES = _ClassValues(lambda classes: any(_SUBTITLE_TOKEN.match(token) for token in classes.split()))


def _parse_subheadline(tree, found: _PageElements, title_element, chrome: dict):
    """The sub-headline nejatngo shows under the title from 2021 (e.g. `Maryam Rajavi Lost`)."""
    body = tree.find("body")
    # The page's class values, each judged once per process: most pages have no sub-title.
    subtitle_classes = _SUBTITLE_CLASS_VALUES.holding_of(found.class_values)
    if subtitle_classes:
        for element in _CLASSED(body):
            if (
                element.get("class") in subtitle_classes
                and not lx_in_chrome(element, chrome)
                and _is_subheadline_text(lx_text(element))
            ):
                return element, lx_text(element)
    if title_element is not None:
        following = title_element.getnext()
        while following is not None and not isinstance(following.tag, str):
            following = following.getnext()
        if (
            following is not None
            and following.tag in ("h2", "h3", "h4")
            and not lx_in_chrome(following, chrome)
            and _is_subheadline_text(lx_text(following))
        ):
            return following, lx_text(following)
    return None, None


def _is_subheadline_text(text: str) -> bool:
    # AMP posts show the category name under the title; that is not a headline.
    return (
        0 < len(text) <= 150
        and not _PLUS.match(text)
        and not is_series_name(text)
        and not match_dateline(text)
        and not parse_date(text)
        and not _CAPTION.match(text)
    )


# --- where the content is (lxml, whole page) ---------------------------------------------------------

# The strings that start with `++` (or `+ +`), white space and no-break spaces aside (the WordPress editor
# writes `&nbsp;++ …`): the query finds the strings holding a `+` outside scripts and styles, Python reads
# how they start.
# (`descendant::` from the body: `//body//text()` makes libxml2 merge a node-set per element first.)
_PLUS_CANDIDATES = etree.XPath("descendant::text()[contains(., '+')][not(ancestor::script or ancestor::style)]")
_PLUS_START = re.compile(r"[ \t\n\r\u00a0]*\+[ \t\n\r\u00a0]*\+")


def _plus_strings(tree) -> list:
    return [string for string in _PLUS_CANDIDATES(tree.find("body")) if _PLUS_START.match(string)]


_BLOCKISH = BLOCK_TAGS | {"div"}


_CONTENT_CLASSED = etree.XPath(".//*[contains(@class, $token)]")
_ARTICLE_BODY = etree.XPath(".//*[@itemprop = 'articleBody']")


def _find_content(tree, chrome: dict):
    """The element holding the entries: around the `++` paragraphs, else a WordPress content div."""
    plus_blocks: dict = {}  # the blocks holding a `++`, in document order
    for string in _plus_strings(tree):
        holder = string.getparent()
        if holder is not None and string.is_tail:
            holder = holder.getparent()
        block = holder
        while block is not None and block.tag not in _BLOCKISH:
            block = block.getparent()
        if block is not None and block not in plus_blocks and not lx_in_chrome(block, chrome):
            plus_blocks[block] = None
    if plus_blocks:
        common = _common_ancestor(list(plus_blocks))
        if common.tag in BLOCK_TAGS and common.tag != "table" and common.getparent() is not None:
            common = common.getparent()
        # Widen to the content container that holds them, so headings and datelines beside a
        # single `++` paragraph are read too.
        for ancestor in [common, *common.iterancestors()]:
            if _is_content_container(ancestor):
                return ancestor
        return common
    body = tree.find("body")
    for token in _CONTENT_TOKENS:
        for element in _CONTENT_CLASSED(body, token=token):
            if token in (element.get("class") or "").split() and not lx_in_chrome(element, chrome) and lx_text(element):
                return element
    found = _ARTICLE_BODY(body)
    if found:
        return found[0]
    return _densest_paragraph_parent(body, chrome)


def _is_content_container(element) -> bool:
    classes = (element.get("class") or "").split()
    return element.get("itemprop") == "articleBody" or any(token in classes for token in _CONTENT_TOKENS)


def _common_ancestor(elements: list):
    """The nearest element that is, or holds, every one of `elements`."""
    path = [elements[0], *elements[0].iterancestors()]
    depth = {element: index for index, element in enumerate(path)}
    lowest = 0  # the index in `path` of the nearest element holding all seen so far
    for element in elements[1:]:
        node = element
        while node is not None and node not in depth:
            node = node.getparent()
        if node is None:
            return path[-1]
        lowest = max(lowest, depth[node])
    return path[lowest]


def _densest_paragraph_parent(body, chrome: dict):
    scores: dict = {}
    for paragraph in body.iter("p"):
        parent = paragraph.getparent()
        if parent is None or lx_in_chrome(paragraph, chrome):
            continue
        scores[parent] = scores.get(parent, 0) + len(lx_text(paragraph))
    if not scores:
        return None
    return max(scores.items(), key=lambda pair: pair[1])[0]


# --- entries --------------------------------------------------------------------------------------


class _Line:
    """One line of a block: the nodes between two `<br>`s (or the whole block)."""

    def __init__(self, nodes: list, block_index: int, block_tag: str) -> None:
        self.nodes = nodes
        self.block_index = block_index
        self.block_tag = block_tag
        self.text = text_of(nodes)


def _lines(block, index: int) -> list[_Line]:
    if isinstance(block, list):
        nodes, tag = block, "p"
    else:
        nodes, tag = children(block), block.tag
    if tag == "blockquote":
        return [_Line(nodes, index, tag)]
    lines: list[list] = []  # the nodes of each line, split at <br>
    current: list = []
    for node in nodes:
        if not isinstance(node, Text) and node.tag == "br":
            lines.append(current)
            current = []
        else:
            current.append(node)
    lines.append(current)
    return [line for line in (_Line(nodes, index, tag) for nodes in lines) if line.text]


def _is_heading(line: _Line, block) -> bool:
    text = line.text
    if _LANGUAGE_HEADING.match(text):
        return True
    if not isinstance(block, list) and block.tag in HEADING_TAGS:
        return len(text) <= 80 and not _PLUS.match(text)
    if len(text) > 60 or not text.endswith(":") or _PLUS.match(text):
        return False
    # A short line that is all bold and ends with a colon: `<p><strong>Persian media:</strong></p>`.
    bold = "".join(text_of(n) for n in line.nodes if not isinstance(n, Text) and n.tag in ("strong", "b"))
    return squash(bold) == text


class _Entry:
    def __init__(self, section: str | None) -> None:
        self.section = section
        self.pieces: list[tuple[str, int, list[_Line]]] = []  # (tag, block index, lines)

    def add(self, line: _Line) -> None:
        if self.pieces and self.pieces[-1][1] == line.block_index:
            self.pieces[-1][2].append(line)
        else:
            self.pieces.append((line.block_tag if line.block_tag == "blockquote" else "p", line.block_index, [line]))


def _parse_body(container, url: str, title: str):
    """Walk the content's lines in order and group them into entries under their sections."""
    blocks = [b for b in iter_blocks(container) if isinstance(b, list) or not b.get(SKIP_ATTRIBUTE)]
    lines = [(line, block) for index, block in enumerate(blocks) for line in _lines(block, index)]
    reader = _BodyReader(title, plus_mode=any(_PLUS.match(line.text) for line, _ in lines))
    for line, block in lines:
        if _END_OF_POST.match(line.text):
            break
        reader.read(line, block)
    return [_finish_entry(entry, url) for entry in reader.entries if entry.pieces], reader.dateline


class _BodyReader:
    """Reads a post body line by line: `++` opens an entry, a heading opens a section, a dateline
    opens or closes the body; other text continues the open entry (or, in digests from before the
    `++` habit, is an entry of its own, one per paragraph)."""

    def __init__(self, title: str, plus_mode: bool) -> None:
        self.title = title
        self.plus_mode = plus_mode
        self.entries: list[_Entry] = []
        self.section: str | None = None
        self.dateline: Dateline | None = None
        self.current: _Entry | None = None  # the entry that following text continues
        self.closed = False  # after a closing dateline only theme text follows

    def read(self, line: _Line, block) -> None:
        text = line.text
        if _PLUS.match(text):
            self._open_entry(line)
        elif _is_heading(line, block):
            self.section = text.rstrip(":").strip() or None
            self.current = None
        elif self._read_dateline(line):
            pass
        elif _CAPTION.match(text) or text == self.title or is_series_name(text):
            pass
        elif self.plus_mode:
            # Text after a `++` item that is not itself an item continues it (a quoted second
            # paragraph, an embedded tweet); text before the first item is preamble.
            if self.current is not None and not self.closed:
                self.current.add(line)
        elif not self.closed:
            if self.current is None or self.current.pieces[-1][1] != line.block_index:
                self.current = _Entry(self.section)
                self.entries.append(self.current)
            self.current.add(line)

    def _open_entry(self, line: _Line) -> None:
        """A `++` line: the marker goes, an entry opens (a bare `++` is filled by the next line)."""
        _strip_leading_chars(line.nodes, 2)
        line.text = text_of(line.nodes)
        self.current = _Entry(self.section)
        self.entries.append(self.current)
        if line.text:
            self.current.add(line)
        self.closed = False

    def _read_dateline(self, line: _Line) -> bool:
        """`Iran Interlink, August 25 2017` closes the body; at its start, text may follow on the same
        line (`Iran Interlink, September 20 2019: ++ first entry…`). False when the line is no dateline."""
        found = match_dateline(line.text)
        if not found or (found.rest and self.entries):
            return False
        self.dateline = self.dateline or found
        if found.rest:
            _strip_leading_chars(line.nodes, _visible_length(line.text) - _visible_length(found.rest))
            line.text = text_of(line.nodes)
            if _PLUS.match(line.text):
                self._open_entry(line)
            return True
        self.closed = bool(self.entries)
        self.current = None
        return True


def _visible_length(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def _strip_leading_chars(nodes: list, count: int) -> None:
    """Remove the first `count` visible characters (and the white space after them) from nodes."""

    def cut(value: str) -> str:
        nonlocal count
        index = 0
        while index < len(value) and count > 0:
            if not value[index].isspace():
                count -= 1
            index += 1
        remainder = value[index:]
        return remainder.lstrip() if count <= 0 else remainder

    for node in nodes:
        if count <= 0:
            return
        if isinstance(node, Text):
            if node.shown:
                node.value = cut(node.value)
            continue
        for owner, side in _strings(node):
            if count <= 0:
                break
            value = cut(getattr(owner, side))
            try:
                setattr(owner, side, value)
            except ValueError:  # a `&#1;` made a control character in the tree; lxml takes none back
                setattr(owner, side, fit_text(value))


def _strings(element) -> list[tuple]:
    """Where the strings inside an element are, in document order: (element, "text" or "tail")."""
    found: list[tuple] = []

    def walk(node) -> None:
        if node.text and isinstance(node.tag, str):
            found.append((node, "text"))
        for child in node:
            walk(child)
            if child.tail:
                found.append((child, "tail"))

    walk(element)
    return found


def _finish_entry(entry: _Entry, url: str) -> Entry:
    links: list[Link] = []
    html_pieces, text_pieces = [], []
    for tag, _, lines in entry.pieces:
        for line in lines:
            for node in line.nodes:
                if not isinstance(node, Text):
                    for anchor in [node] if node.tag == "a" else node.iterdescendants("a"):
                        href = anchor.get("href")
                        # Read as a browser reads it before libxml2 writes it (which escapes a trailing space
                        # or line break: `/report%20`, an address the link check would find missing).
                        target = (
                            canonical_link(written_href(href_as_followed(href)), url) if isinstance(href, str) else None
                        )
                        if target is None:
                            anchor.attrib.pop("href", None)
                            continue
                        try:
                            anchor.set("href", target)
                        except ValueError:  # a `&#1;` in the link: lxml takes no control character back
                            anchor.set("href", fit_text(target))
                        links.append(Link(url=target, text=fit_text(text_of(anchor)), domain=domain_of(target)))
        text_pieces.append("\n".join(line.text for line in lines))
        inner = "<br>".join("".join(html_of(node) for node in line.nodes).strip() for line in lines)
        html_pieces.append(f"<{tag}>{inner}</{tag}>")
    # Character references (`&#1;`) become characters only in the tree: the text is made fit here too.
    html = fit_text(sanitise_html("".join(html_pieces)))
    return Entry(
        section=fit_optional(entry.section), text=fit_text("\n\n".join(text_pieces)), html=html, links=tuple(links)
    )
