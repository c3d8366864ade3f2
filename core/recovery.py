"""Pure rules of a recovery from web archives (`-a mode=recover`): what to ask a CDX API, which captures
are a listing's pages and which a post's, one candidate per post, which capture to read.

    listing_prefix(start_url)            the CDX prefix under which the listing's pages are captured
    is_listing_page(start_url, url)      a captured URL is one of the listing's pages (any page, any form)
    post_prefix(start_url, post_urls)    the CDX prefix under which the site's posts are captured
    group_posts(start_url, rows)         the captured posts, one candidate per post (AMP views, trackers…)
    plan_post(rows, since, read)         which captures of one post to read, in what order

A capture's URL is as the web archive's crawler saw it: scheme, `www.`, AMP views and trackers vary, so
posts are compared by `core.urls.post_key`, the archive's own rule. No Scrapy, no SQL, no clock.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .items import Digest, Memento
from .parsing.cdx import CdxRow
from .parsing.listing import archive_base, looks_like_post
from .text import mentions_series
from .urls import host_of, post_key, same_site
from .web_archives import WebArchive


def _host(url: str) -> str:
    """The host as a CDX prefix names it: no scheme, no `www.` (the archive matches them as one)."""
    return host_of(url)


def listing_prefix(start_url: str) -> str:
    """`host/path` of the listing without its page: `/page/N` and `?paged=N` forms are all under it."""
    _, path, _ = archive_base(start_url)
    return _host(start_url) + (path if path != "/" else "/")


def is_listing_page(start_url: str, url: str) -> bool:
    """Whether a captured URL is a page of the start URL's listing (`/page/N`, `?paged=N`, AMP, any scheme)."""
    return same_site(url, start_url) and archive_base(url) == archive_base(start_url)


def post_prefix(start_url: str, post_urls: Iterable[str]) -> str:
    """`host/dir/` under which the site's posts are: the longest directory the known post URLs share (the
    digests stored, the posts captured listings named); the site's root when none is known. The permalink
    structure decides it: `/en/posts/7291` gives `/en/posts/`, `/2017/08/slug/` gives `/`."""
    directories = []
    for url in post_urls:
        if not same_site(url, start_url):
            continue
        parts = urlsplit(url)
        path = parts.path.rstrip("/") or "/"
        # `/wordpress/?p=12` names its post by query: its directory is its path.
        directories.append(path if parts.query else posixpath.dirname(path) or "/")
    if not directories:
        return _host(start_url) + "/"
    common = posixpath.commonpath(directories) if all(d.startswith("/") for d in directories) else "/"
    return _host(start_url) + (common.rstrip("/") + "/")


def group_posts(start_url: str, rows: Iterable[CdxRow]) -> dict[str, list[CdxRow]]:
    """Post key → every capture of that post (each URL variant), oldest first; captures of another site, of
    the listing's pages, or of what cannot be a post (feeds, archives, uploads) are left out."""
    posts: dict[str, list[CdxRow]] = {}
    for row in rows:
        if not same_site(row.original, start_url) or is_listing_page(start_url, row.original):
            continue
        if not looks_like_post(row.original, start_url):
            continue
        posts.setdefault(post_key(row.original), []).append(row)
    for captures in posts.values():
        captures.sort(key=lambda row: row.timestamp)
    return posts


def listing_captures(start_url: str, rows: Iterable[CdxRow], read: Collection[tuple[str, str | None]]) -> list[CdxRow]:
    """The captures of the listing's pages worth reading: 200 HTML pages, one per content (the CDX digest)
    of each page, none whose page and content were read before (`read`: (URL, digest) pairs)."""
    seen = set(read)
    chosen = []
    for row in sorted(rows, key=lambda row: row.timestamp):
        if not row.is_html_page or not is_listing_page(start_url, row.original):
            continue
        key = (row.original, row.digest)
        if row.digest is not None and key in seen:
            continue
        seen.add(key)
        chosen.append(row)
    return chosen


@dataclass(frozen=True)
class PostPlan:
    """What to read of one post: `latest` (the newest 200 HTML capture of a post the archive does not hold;
    None when it holds it), then `older`, oldest first (its history); `skip` says why nothing is read of a
    post not held (only errors, redirects or non-HTML captured), with the capture it says it of."""

    latest: CdxRow | None
    older: tuple[CdxRow, ...]
    skip: tuple[str, CdxRow] | None = None


def plan_post(rows: list[CdxRow], since: str | None, read: Collection[tuple[str, str]]) -> PostPlan:
    """The captures of one post to read. `since`: the stored version's time (ISO), None when the archive
    does not hold the post; `read`: (URL, timestamp) of captures read by earlier runs (never fetched again).

    A post not held: its newest 200 HTML capture, then the older ones. A post held: the captures older than
    its stored version. Older captures whose content (the CDX digest) repeats a newer or another older one
    are left out: identical content changes nothing."""
    pages = [row for row in rows if row.is_html_page]
    latest = None
    if since is None:
        if not pages:
            newest = max(rows, key=lambda row: row.timestamp)
            why = "not_ok" if newest.status != 200 else "not_html"
            return PostPlan(None, (), (why, newest))
        latest = max(pages, key=lambda row: row.timestamp)
        older_than = latest.timestamp
    else:
        older_than = _timestamp_of(since)
    # Oldest first: a version is dated at the first capture that shows it.
    seen_digests = {latest.digest} if latest is not None and latest.digest else set()
    older = []
    for row in sorted(pages, key=lambda row: row.timestamp):
        if row.timestamp >= older_than or row is latest:
            continue
        if row.digest is not None and row.digest in seen_digests:
            continue
        if row.digest is not None:
            seen_digests.add(row.digest)
        older.append(row)
    if latest is not None and (latest.original, latest.timestamp) in read:
        latest = None  # read by an earlier run: it was stored then, or skipped for a reason kept with it
        older = []
    older = [row for row in older if (row.original, row.timestamp) not in read]
    return PostPlan(latest, tuple(older))


def _timestamp_of(iso: str) -> str:
    """A CDX timestamp of an ISO time (`2026-12-07T18:00:00+00:00` → `20261207180000`)."""
    digits = "".join(ch for ch in iso[:19] if ch.isdigit())
    return digits.ljust(14, "0")[:14]


def not_of_the_series(digest: Digest) -> str | None:
    """Why a post read from a capture is not a digest of the series (its title does not name it), or None.
    A live listing names only the series' posts (`core.text.only_digests`); a prefix query names every post
    under the site's permalinks, the site's other news among them."""
    if mentions_series(digest.title):
        return None
    return f"not a digest of the series: {digest.title[:80]!r}"


def memento_of(archive: WebArchive, row: CdxRow) -> Memento:
    return Memento(
        web_archive=archive.name,
        url=row.original,
        timestamp=row.timestamp,
        captured_at=row.captured_at,
        memento_url=archive.memento_url(row.timestamp, row.original),
        http_status=row.status,
        payload_digest=row.digest,
    )
