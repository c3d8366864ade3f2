"""Fetched post pages: the last copy of each, compressed, with its HTTP validators."""

from __future__ import annotations

import zlib

from sqlite_utils import Database

from core.items import FetchedPage
from core.urls import post_key

from .rows import utc_now

# zlib's fastest level: a 60 KB theme page compresses in a sixth of level 6's time (1.2 ms, three times what
# lxml takes to parse it), to 18% more bytes; pages are kept for re-parsing, not for the network.
_PAGE_COMPRESSION = 1


def save_page(db: Database, page: FetchedPage, now: str | None = None) -> None:
    """Keep the latest copy of a fetched post page (compressed) with its HTTP validators."""
    now = now or utc_now()
    # One statement is atomic by itself: no savepoint (in a crawl's batch, a savepoint makes SQLite's
    # full-text index write out what it holds in memory).
    db.execute(
        "INSERT OR REPLACE INTO pages (url_key, url, fetched_at, checked_at, http_status, content_type, etag, "
        "last_modified, size, body, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            post_key(page.url),
            page.url,
            now,
            now,
            page.http_status,
            page.content_type,
            page.etag,
            page.last_modified,
            len(page.body),
            zlib.compress(page.body, _PAGE_COMPRESSION),
            page.source,
        ],
    )


def mark_not_modified(db: Database, url: str, now: str | None = None) -> bool:
    """A re-check answered 304: the page and its digest were seen, unchanged. False if unknown."""
    now = now or utc_now()
    key = post_key(url)
    with db.atomic():
        db.execute("UPDATE pages SET checked_at = ? WHERE url_key = ?", [now, key])
        return (
            db.execute(
                "UPDATE digests SET last_seen = ? WHERE id = (SELECT digest_id FROM digest_urls WHERE url_key = ?)",
                [now, key],
            ).rowcount
            == 1
        )
