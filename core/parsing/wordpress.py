"""What a WordPress page says about the site's own indexes, and what those indexes answer.

- `parse_discovery(url, html, link_header)`: from any front-end page, the REST API root (`Link:
  <…/wp-json/>; rel="https://api.w.org/"`, or `<link rel="https://api.w.org/">`; `?rest_route=/`
  without pretty permalinks), the queried object (WordPress 5.5+: `<link rel="alternate"
  type="application/json" href="…/wp/v2/categories/2">`) and the listing's feed.
- `parse_rest_routes(body)`: whether `/wp/v2/posts` takes `modified_after` (WordPress 5.7+; older
  versions ignore unknown parameters silently, so it must be checked in the index).
- `parse_rest_posts(url, body, total_pages)`: one page of `/wp/v2/posts`.
- `parse_rest_post(item)`: a digest built from a post's REST fields, by the page parser itself.

Pure functions: no Scrapy, no network. Facts checked in WordPress's source (6.1: class-wp.php
`send_headers`, rest-api.php `rest_output_link_header` and `rest_get_queried_resource_route`,
class-wp-rest-posts-controller.php).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..items import Digest
from ..numbers import count_of, post_id_in_json, post_id_in_text
from ..text import fit_text
from ..urls import is_http_url, join_url, same_site
from .decoding import decode_html
from .digest import parse_digest
from .errors import ParseError
from .html import make_tree

REST_REL = "https://api.w.org/"
# The queried object's route, as WordPress prints it: /wp/v2/categories/2, /wp/v2/tags/5, /wp/v2/users/1.
_OBJECT_ROUTE = re.compile(r"/wp/v2/(?P<kind>categories|tags|users)/(?P<id>[0-9]+)/?$")
# The REST filter for the posts of each kind of listing.
POSTS_FILTER = {"categories": "categories", "tags": "tags", "users": "author"}
# Longer than any post's address (browsers and servers stop near 8 KB); a longer `link` names nothing.
MAX_LINK_LENGTH = 2048
_LINK_VALUE = re.compile(r"<(?P<url>[^>]*)>(?P<params>[^,<]*)")


@dataclass(frozen=True)
class Discovery:
    """The site's own indexes, as advertised by one of its pages."""

    rest_root: str | None  # `https://site/wp-json/` or `https://site/?rest_route=/`
    listing_kind: str | None  # categories, tags or users
    listing_id: int | None
    feed_url: str | None  # the listing's own feed, else the site's main feed

    @property
    def posts_filter(self) -> tuple[str, int] | None:
        """The `/wp/v2/posts` parameter that lists this listing's posts (`("categories", 2)`)."""
        if self.listing_kind is None or self.listing_id is None:
            return None
        return POSTS_FILTER[self.listing_kind], self.listing_id


def _link_header_targets(link_header: str | None, rel: str) -> list[str]:
    found = []
    for match in _LINK_VALUE.finditer(link_header or ""):
        rels = re.findall(r'rel="?([^";]+)"?', match["params"])
        if any(rel in value.split() for value in rels):
            found.append(match["url"].strip())
    return found


def parse_discovery(url: str, html: str | bytes, link_header: str | None = None) -> Discovery:
    """The REST root, the queried listing object and the feed a WordPress page advertises."""
    if isinstance(html, bytes):
        html = decode_html(html)
    tree = make_tree(html)
    links = [
        (
            tuple((link.get("rel") or "").lower().split()),
            (link.get("type") or "").lower(),
            join_url(url, link.get("href")),
            link.get("title") or "",
        )
        for link in tree.iter("link")
    ]

    def on_site(candidate: str | None) -> str | None:
        return candidate if candidate and is_http_url(candidate) and same_site(candidate, url) else None

    rest_root = next(
        (
            on_site(join_url(url, target))
            for target in _link_header_targets(link_header, REST_REL)
            if on_site(join_url(url, target))
        ),
        None,
    ) or next((on_site(href) for rel, _, href, _ in links if REST_REL in rel and on_site(href)), None)
    kind = object_id = None
    for rel, kind_type, href, _ in links:
        if href and "alternate" in rel and kind_type == "application/json" and on_site(href):
            match = _OBJECT_ROUTE.search(_rest_route_of(href))
            if match and post_id_in_text(match["id"]) is not None:
                kind, object_id = match["kind"], post_id_in_text(match["id"])
                break
    feeds = [
        href
        for rel, kind_type, href, _ in links
        if href
        and "alternate" in rel
        and kind_type in ("application/rss+xml", "application/atom+xml")
        and on_site(href)
    ]
    return Discovery(rest_root, kind, object_id, _listing_feed(feeds, url))


def _rest_route_of(href: str) -> str:
    """The route a REST URL names: the path after `/wp-json`, or the `rest_route` parameter."""
    parts = urlsplit(href)
    for key, value in parse_qsl(parts.query):
        if key == "rest_route":
            return value
    return parts.path


def _listing_feed(feeds: list[str], url: str) -> str | None:
    """The listing's own feed (`…/category/slug/feed/`, `?feed=rss2&cat=2`) when advertised; else the
    site's main feed. Both carry the same validators (the newest post modification on the whole site),
    so either answers "has anything changed?"; comment feeds do not."""
    posts_feeds = [feed for feed in feeds if "comments" not in feed.lower()]
    if not posts_feeds:
        return None
    here = urlsplit(url)
    listing_path = here.path.rstrip("/")
    listing_query = {pair for pair in parse_qsl(here.query) if pair[0] not in ("paged", "page")}
    for feed in posts_feeds:
        parts = urlsplit(feed)
        if listing_path and listing_path != "/" and parts.path.rstrip("/").startswith(listing_path + "/feed"):
            return feed
        if listing_query and listing_query <= set(parse_qsl(parts.query)):
            return feed
    return posts_feeds[0]


# --- the REST API -----------------------------------------------------------------------------------


def rest_url(rest_root: str, route: str, params: dict | list[tuple] | None = None) -> str:
    """An address on the REST API: `…/wp-json/wp/v2/posts?…`, or `…?rest_route=/wp/v2/posts&…`."""
    parts = urlsplit(rest_root)
    query = parse_qsl(parts.query, keep_blank_values=True)
    pairs = list(params.items()) if isinstance(params, dict) else list(params or [])
    if any(key == "rest_route" for key, _ in query):
        query = [(key, route if key == "rest_route" else value) for key, value in query]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query + pairs, safe="/,"), ""))
    path = parts.path.rstrip("/") + route
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query + pairs, safe="/,"), ""))


# `modified_gmt` as WordPress sends it: `2017-08-25T09:30:00`.
_GMT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


def _json(body: bytes | str, url: str):
    text = body.decode("utf-8-sig", "replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except RecursionError:
        raise ParseError(f"{url}: JSON nested too deep to be a REST answer") from None
    except ValueError as error:
        start = text.lstrip()[:60].replace("\n", " ")
        raise ParseError(
            f"{url}: not JSON ({str(error)[:80]}; an HTML page or an error where the REST API "
            f"should answer: {start!r}…)"
        ) from None


def post_url_by_id(rest_root: str, post_id: int) -> str:
    """The address WordPress answers for any post by its id, whatever the permalinks: `?p=ID` on the
    site's home (redirected to the post's permalink). The home is where the REST root lives."""
    parts = urlsplit(rest_root)
    path = parts.path.rstrip("/")
    path = path[: -len("wp-json")] if path.endswith("/wp-json") else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path or "/", urlencode({"p": post_id}), ""))


def parse_rest_routes(url: str, body: bytes | str) -> bool:
    """From the REST index (`/wp-json/`): does `/wp/v2/posts` accept `modified_after`?"""
    data = _json(body, url)
    if not isinstance(data, dict) or not isinstance(data.get("routes"), dict):
        raise ParseError(f"{url}: not a WordPress REST index (no routes)")
    route = data["routes"].get("/wp/v2/posts")
    endpoints = route.get("endpoints") if isinstance(route, dict) else None
    if not isinstance(endpoints, list):
        return False
    return any(
        isinstance(endpoint, dict)
        and isinstance(endpoint.get("methods"), list)
        and "GET" in endpoint["methods"]
        and isinstance(endpoint.get("args"), dict)
        and "modified_after" in endpoint["args"]
        for endpoint in endpoints
    )


@dataclass(frozen=True)
class RestPost:
    """One post as `/wp/v2/posts` lists it, every field checked."""

    post_id: int
    link: str  # on the listing's own site
    modified_gmt: str  # ISO, the site's clock in GMT: `2017-08-25T09:30:00`
    title: str  # as rendered (HTML)
    item: dict  # the whole item, for `parse_rest_post`


@dataclass(frozen=True)
class RejectedItem:
    """An item of the index that cannot be used as it is: read from its page when it has a usable id."""

    position: int  # 1-based, in its index page
    post_id: int | None  # None when the item has no usable id
    reason: str
    link: str | None = None  # the item's `link` when it is an http(s) URL (on any site: the caller decides)


@dataclass(frozen=True)
class RestPostsPage:
    url: str
    posts: tuple[RestPost, ...]
    rejected: tuple[RejectedItem, ...] = ()
    total: int | None = None  # X-WP-Total, when it is a plain count
    total_pages: int | None = None  # X-WP-TotalPages, when it is a plain count


def _rest_post(item: object, listing_url: str) -> RestPost | str:
    """The checked post, or why the item cannot be used."""
    if not isinstance(item, dict):
        return f"not an object ({type(item).__name__})"
    post_id = post_id_in_json(item.get("id"))
    if post_id is None:
        return f"id {str(item.get('id'))[:40]!r} is not a post id"
    link = item.get("link")
    if not isinstance(link, str) or not is_http_url(link):
        return f"link {str(link)[:80]!r} is not an http(s) URL"
    if not same_site(link, listing_url):
        # The same rule as a page's canonical link: a site names only its own posts.
        return f"link {link[:200]!r} is on another site than the listing's"
    modified = item.get("modified_gmt")
    if not isinstance(modified, str) or not _GMT_TIME.fullmatch(modified):
        return f"modified_gmt {str(modified)[:40]!r} is not a GMT time"
    title = item.get("title")
    rendered = title.get("rendered") if isinstance(title, dict) else None
    if not isinstance(rendered, str):
        return f"title {str(title)[:40]!r} is not a rendered title"
    return RestPost(post_id, fit_text(link), modified, fit_text(rendered), item)


def _usable_link(value: object) -> str | None:
    """A REST item's `link` fit to name the post (and, on the listing's site, to read it from): an
    http(s) URL of a sane length, its text cleaned like every other."""
    if not isinstance(value, str) or len(value) > MAX_LINK_LENGTH or not is_http_url(value):
        return None
    return fit_text(value)


def parse_rest_posts(
    url: str,
    body: bytes | str,
    *,
    listing_url: str,
    per_page: int,
    total: str | None = None,
    total_pages: str | None = None,
) -> RestPostsPage:
    """One page of `/wp/v2/posts` (a JSON list of posts) for the listing at `listing_url`.

    ParseError when the answer is not such a list (the index cannot be used); an item that is not a
    usable post (wrong type, an id out of range, a link to another site) is returned in `rejected`, so
    that one bad item costs that item and not the page.
    """
    data = _json(body, url)
    if isinstance(data, dict) and "code" in data:
        raise ParseError(
            f"{url}: the REST API refused: {str(data.get('code'))[:80]}: {fit_text(str(data.get('message', '')))[:200]}"
        )
    if not isinstance(data, list):
        raise ParseError(f"{url}: not a list of posts")
    if len(data) > per_page:
        raise ParseError(f"{url}: {len(data)} posts where at most {per_page} were asked for")
    posts, rejected = [], []
    for position, item in enumerate(data, start=1):
        post = _rest_post(item, listing_url)
        if isinstance(post, RestPost):
            posts.append(post)
        else:
            post_id = post_id_in_json(item.get("id")) if isinstance(item, dict) else None
            link = _usable_link(item.get("link")) if isinstance(item, dict) else None
            rejected.append(RejectedItem(position, post_id, fit_text(post), link))
    return RestPostsPage(url, tuple(posts), tuple(rejected), count_of(total), count_of(total_pages))


def parse_rest_post(item: dict) -> Digest:
    """A digest from a post's REST fields (`id`, `link`, `date`, `title.rendered`, `content.rendered`).

    The fields are laid out as a minimal WordPress page (canonical link, publication time, `postid-N`,
    an entry title and an entry-content) and read by `parse_digest`: one set of rules for both. What
    the theme adds around the content (a sub-headline from post meta, say) is not in the REST API;
    the crawl compares a sample of posts with their pages before it trusts this.
    """
    post_id = post_id_in_json(item.get("id"))
    content = item.get("content")
    title = item.get("title")
    if post_id is None or not isinstance(content, dict) or not isinstance(title, dict):
        raise ParseError(f"REST post {str(item.get('id'))[:40]}: no id, title or content fields")
    if content.get("protected"):
        raise ParseError(f"REST post {post_id}: password-protected, its content is not in the REST API")
    rendered_title, rendered_content = title.get("rendered"), content.get("rendered")
    if not isinstance(rendered_title, str) or not isinstance(rendered_content, str):
        raise ParseError(f"REST post {post_id}: its title or content is not text")
    link, date = item.get("link"), item.get("date")
    if not isinstance(link, str) or not is_http_url(link):
        raise ParseError(f"REST post {post_id}: no usable link")
    date = date if isinstance(date, str) else ""
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f'<link rel="canonical" href="{escape(link)}">'
        f'<meta property="article:published_time" content="{escape(date)}">'
        f'</head><body class="single postid-{post_id}"><article>'
        f'<h1 class="entry-title">{rendered_title}</h1>'
        f'<div class="entry-content">{rendered_content}</div>'
        "</article></body></html>"
    )
    return parse_digest(link, page)


def rest_digest_differences(from_page: Digest, from_rest: Digest) -> list[str]:
    """The fields in which a digest built from the REST API differs from the one read on its page."""
    fields = ("url", "post_id", "title", "number", "headline", "issue_date", "published", "dateline", "entries")
    return [name for name in fields if getattr(from_page, name) != getattr(from_rest, name)]
