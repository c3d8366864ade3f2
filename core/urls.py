"""URL rules: which URLs name the same post, and how a link is stored.

Pure functions over strings. w3lib does the canonicalisation; this module only says which
parts of a WordPress URL carry no identity.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that never change which post a URL names. Seen on the real sites: `?amp=1`
# (AMP variant), `?random-post=1` (the theme's "random article" link), a stray `?=1`.
# The others are the usual click trackers.
_IDENTITY_FREE_PARAMS = {
    "",
    "amp",
    "random-post",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_ga",
    "_gl",
    "share",
    "replytocom",
}
_TRACKING_PREFIXES = ("utm_",)

# Path suffixes that serve the same post in another dress: AMP (`/amp`) and oEmbed (`/embed/`).
_VARIANT_SUFFIX = re.compile(r"/(?:amp|embed)(/?)$")

MAX_URL_LENGTH = 2048

# The functions below are pure and called for every link of every page, mostly with URLs seen
# before (menus, sidebars, the same posts on several pages): they are memoised.

_STORED_LINK_SCHEMES = ("http", "https")


def _is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _IDENTITY_FREE_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _without_tracking(query: str) -> str:
    """The query without its tracking parameters, the others kept as written: decoded and encoded again, a
    query that is not UTF-8 (`?q=caf%E9`, a Latin-1 search) would name another address (`caf%EF%BF%BD`)."""
    return "&".join(
        pair for pair in query.split("&") if pair and not _is_tracking_param(unquote_plus(pair.partition("=")[0]))
    )


@lru_cache(maxsize=8192)
def host_of(url: str) -> str:
    """The lower-cased host with its port when one is given, without a leading `www.`."""
    netloc = urlsplit(url).netloc.lower().rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":")
    host = host.removeprefix("www.")
    if port and port not in ("80", "443"):
        return f"{host}:{port}"
    return host


def site_of(url: str) -> str:
    """The site a URL belongs to: `https://www.nejatngo.org/x` and `http://nejatngo.org/y` share one."""
    return host_of(url)


def domain_of(url: str) -> str:
    """The domain a stored link points at, for facets: host without `www.` and without port."""
    return host_of(url).split(":", 1)[0]


def same_site(url: str, other: str) -> bool:
    return site_of(url) == site_of(other)


@lru_cache(maxsize=8192)
def clean_post_url(url: str) -> str:
    """The post URL with its variant markers removed (AMP, oEmbed, trackers, fragment).

    Scheme and host are kept as given: they are what the server answers at.
    """
    parts = urlsplit(url)
    # `/en/posts/7291/amp` → `/en/posts/7291`; `/wordpress/slug/embed/` → `/wordpress/slug/`
    path = _VARIANT_SUFFIX.sub(r"\1", parts.path) or "/"
    query = _without_tracking(parts.query)
    return canonicalize_url(urlunsplit((parts.scheme, parts.netloc, path, query, "")))


@lru_cache(maxsize=8192)
def post_key(url: str) -> str:
    """The identity of the post a URL names: one key for every variant of one post.

    `https://www.nejatngo.org/en/posts/7291?amp=1`, `http://nejatngo.org/en/posts/7291/amp`
    and `.../7291?utm_source=x` all give `nejatngo.org/en/posts/7291`.
    """
    cleaned = urlsplit(clean_post_url(url))
    path = cleaned.path.rstrip("/") or "/"
    key = f"{site_of(url)}{path}"
    if cleaned.query:
        key += f"?{cleaned.query}"
    return key


def on_site_of(url: str, start_url: str) -> str:
    """The same URL at the start URL's scheme and host, when both are one site.

    Listings mix `http://nejatngo.org/...` and `https://www.nejatngo.org/...`; fetching every post
    at the start URL's origin avoids a redirect per post and keeps the crawl on one host.
    """
    parts, start = urlsplit(url), urlsplit(start_url)
    if not same_site(url, start_url):
        return url
    return urlunsplit((start.scheme, start.netloc, parts.path, parts.query, ""))


# The URL Standard (what browsers follow) reads an `href` without the C0 controls and spaces around it and
# without any tab or line break inside it: an editor's pasted URL often ends with a space or a line break.
_URL_STANDARD_STRIPS = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")


def href_as_followed(href: str) -> str:
    """An `href` as a browser reads it: `"https://example.org/a\\n"` is `https://example.org/a`."""
    return _TAB_OR_NEWLINE.sub("", href.strip(_URL_STANDARD_STRIPS))


def join_url(base_url: str, href: str | None) -> str | None:
    """`href` made absolute against `base_url`, if it is a usable http(s) URL; None otherwise.

    Pages carry hostile or broken hrefs (`https://<![CDATA[www…`, `http://[::1`, `javascript:`);
    urllib raises ValueError on some of them, so every join in the parsers goes through here.
    """
    if not href or len(href) > MAX_URL_LENGTH:
        return None
    # A browser reads `\` as `/` in http(s) URLs (the URL Standard): `https://evil.example\@site/`
    # is evil.example to it, though urllib sees `site`. Read it as a browser does.
    href = href.strip().replace("\\", "/")
    if href[:7].lower() == "http://" or href[:8].lower() == "https://":
        return _usable_absolute(href)  # most links: nothing to join, and memoised on the href alone
    try:
        absolute = urljoin(base_url, href)
    except ValueError:
        return None
    return _usable_absolute(absolute)


@lru_cache(maxsize=8192)
def _usable_absolute(url: str) -> str | None:
    if "\\" in url:
        return None  # read otherwise by a browser than by urllib (see join_url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in _STORED_LINK_SCHEMES or not parts.hostname:
        return None
    return url


@lru_cache(maxsize=8192)
def canonical_link(href: str | None, base_url: str) -> str | None:
    """An entry link as stored: absolute, http(s) only, trackers and fragment removed.

    Returns None for what is not a link to store (`javascript:`, `mailto:`, in-page anchors,
    empty or absurdly long hrefs).
    """
    if not href or href.strip().startswith("#"):
        return None
    absolute = join_url(base_url, href)
    if absolute is None:
        return None
    parts = urlsplit(absolute)
    query = _without_tracking(parts.query)
    try:
        return canonicalize_url(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))
    except (ValueError, UnicodeError):
        return None


def is_http_url(url: str | None) -> bool:
    return bool(url) and _usable_absolute(url) is not None
