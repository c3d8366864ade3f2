"""An archive index page (category, tag or author archive) → the digest posts it names and the next page.

WordPress conventions first (`rel="next"`, `a.next.page-numbers`, "Older posts", `/page/N`),
then text cues (a post link's title names the series).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..items import Listing
from ..numbers import count_of
from ..text import mentions_series, only_digests
from ..urls import is_http_url, join_url, post_key, same_site, site_of
from .decoding import decode_html
from .html import HEADING_TAGS, lx_in_chrome, lx_text, make_tree

# Paths that are archives, feeds or WordPress machinery, never a post.
_NOT_A_POST_PATH = re.compile(
    r"/(?:topic|category|tag|author|page|feed|search|wp-admin|wp-login\.php|wp-content|wp-json|"
    r"wp-includes|comments|attachment|xmlrpc\.php|blogv\.aspx)(?:/|$)|/feed/?$|\.(?:jpe?g|png|gif|pdf|xml|rss)$",
    re.IGNORECASE,
)
_NOT_A_POST_PARAMS = {"s", "author", "cat", "tag", "paged", "feed", "m", "replytocom"}
# WordPress's default ("plain") permalinks name a post by query on the site's root: `/?p=28`.
_POST_ID_PARAM = "p"
# "/page/3", "/page/3/", and the AMP listing form "/amp/page/3".
_PAGE_IN_PATH = re.compile(r"(?:/amp)?/page/(?P<n>[0-9]+)/?$")
_PAGE_PARAMS = ("paged", "page")
# "Older posts", "« Older Entries", "Next »", "Next page", "Load more posts"
_NEXT_TEXT = re.compile(
    r"^(?:[«‹←<]\s*)?(?:older(?:\s+(?:posts|entries|articles|digests))?|next(?:\s+page)?|"
    r"more\s+posts|load\s+more(?:\s+posts)?|[»›→]+)(?:\s*[»›→>]+)?$",
    re.IGNORECASE,
)
_NEXT_CLASS_TOKENS = {
    "next",
    "nextpostslink",
    "next-page",
    "pagination-next",
    "older",
    "older-posts",
    "nav-previous",
    "next-posts",
    "load-more",
}


def parse_listing(url: str, html: str | bytes) -> Listing:
    """The digest posts named on one archive index page, in page order, and the next page's URL."""
    if isinstance(html, bytes):
        html = decode_html(html)
    tree = make_tree(html)
    base = _base_href(tree, url)
    # Every link once, made absolute once: (element, absolute URL without fragment)
    links = [
        (a, (join_url(base, a.get("href")) or "").split("#", 1)[0])
        for a in tree.find("body").iter("a")
        if a.get("href")
    ]
    next_url = _parse_next_url(tree, links, url, base)
    return Listing(
        url=url,
        post_urls=_parse_post_urls(links, url),
        next_url=next_url,
        last_page=_parse_last_page(links, url, next_url),
    )


def _base_href(tree, url: str) -> str:
    base = tree.find(".//base[@href]")
    return (join_url(url, base.get("href")) or url) if base is not None else url


# --- post links -----------------------------------------------------------------------------------


# Both are asked of every link of a listing page, and the same links (pagination, menus) recur on every
# page of an archive: each URL is worked out once per process.
@lru_cache(maxsize=1024)
def archive_base(url: str) -> tuple[str, str, str]:
    """(site, path, query) of an archive without its page number: the same for every page of it."""
    parts = urlsplit(url)
    path = _PAGE_IN_PATH.sub("", parts.path)
    path = re.sub(r"/amp/?$", "", path).rstrip("/") or "/"
    query = urlencode(
        sorted(
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _PAGE_PARAMS and k != "amp"
        )
    )
    return (site_of(url), path, query)


@lru_cache(maxsize=1024)
def page_number(url: str) -> int:
    """The page of an archive a URL shows: `/page/N`, `?paged=N`, else 1."""
    parts = urlsplit(url)
    in_path = _PAGE_IN_PATH.search(parts.path)
    if in_path and count_of(in_path["n"]) is not None:
        return count_of(in_path["n"]) or 1
    for key, value in parse_qsl(parts.query):
        if key in _PAGE_PARAMS and count_of(value) is not None:
            return count_of(value) or 1
    return 1


def looks_like_post(href: str, listing_url: str) -> bool:
    """Whether a URL of the listing's site can be a post (not an archive, a feed or WordPress machinery)."""
    return _looks_like_post(href, listing_url)


def _looks_like_post(href: str, listing_url: str) -> bool:
    if not is_http_url(href) or not same_site(href, listing_url):
        return False
    parts = urlsplit(href)
    if _NOT_A_POST_PATH.search(parts.path):
        return False
    params = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if params & _NOT_A_POST_PARAMS:
        return False
    if _POST_ID_PARAM in params:
        return True  # `/?p=28` shares its path with the home page and a plain-permalink listing (`/?cat=2`)
    # The listing itself, the home page and the WordPress root (`/wordpress/`) are not posts.
    listing_path = urlsplit(listing_url).path.rstrip("/") + "/"
    path = parts.path.rstrip("/") + "/"
    return not listing_path.startswith(path)


def _is_post_title_link(link) -> bool:
    """A link that names a post: its text names the series, or it is a heading or bookmark link."""
    if mentions_series(lx_text(link)):
        return True
    if "bookmark" in (link.get("rel") or "").split():
        return True
    return any(ancestor.tag in HEADING_TAGS for ancestor in link.iterancestors())


def _parse_post_urls(links, listing_url: str) -> tuple[str, ...]:
    candidates: list[tuple[str, str, str]] = []  # (key, url, link text)
    chrome: dict = {}
    for link, href in links:
        if (
            not href
            or not _looks_like_post(href, listing_url)
            or lx_in_chrome(link, chrome)
            or not _is_post_title_link(link)
        ):
            continue
        candidates.append((post_key(href), href, lx_text(link)))
    found: dict[str, str] = {}
    for key, href, _ in only_digests(candidates, lambda candidate: candidate[2]):
        # "Read more" and thumbnail links repeat a post already named by its title link.
        found.setdefault(key, href)
    return tuple(found.values())


# --- pagination -----------------------------------------------------------------------------------


def _next_candidates(tree, links, base: str):
    for tag in tree.iter("link"):
        if "next" in (tag.get("rel") or "").split() and tag.get("href"):
            yield join_url(base, tag.get("href"))
    for link, href in links:
        if "next" in (link.get("rel") or "").split():
            yield href
    for link, href in links:
        parent = link.getparent()
        holders = [link, parent] if parent is not None else [link]
        if any(_NEXT_CLASS_TOKENS.intersection((h.get("class") or "").split()) for h in holders):
            yield href
    for link, href in links:
        if _NEXT_TEXT.match(lx_text(link)):
            yield href


def _parse_next_url(tree, links, url: str, base: str) -> str | None:
    """The next (older) page of this same archive, or None on the last page."""
    here_base, here_page = archive_base(url), page_number(url)
    for candidate in _next_candidates(tree, links, base):
        if not candidate:
            continue
        candidate = candidate.split("#", 1)[0]
        # A "next" that leaves the archive (a post's "next post", another category) or goes back
        # to an earlier page would make the walk wander or loop.
        if is_http_url(candidate) and archive_base(candidate) == here_base and page_number(candidate) > here_page:
            return candidate
    # Numbered pagination only: a link to page N+1 of this archive.
    wanted = here_page + 1
    for _, candidate in links:
        if is_http_url(candidate) and archive_base(candidate) == here_base and page_number(candidate) == wanted:
            return candidate
    return None


def _parse_last_page(links, url: str, next_url: str | None) -> int | None:
    """The highest page of this archive that the pagination links to (`1 2 … 31 »` → 31).

    Only a hint for progress estimates: None when the pagination shows no numbers.
    """
    here_base = archive_base(url)
    pages = [page_number(url)]
    for _, candidate in links:
        if is_http_url(candidate) and archive_base(candidate) == here_base:
            pages.append(page_number(candidate))
    highest = max(pages)
    if next_url is not None and highest <= page_number(next_url):
        return None  # only a "next" link: the end is not in sight
    return highest
