"""What a crawl knows of an archive before its first request: typed values that storage reads and the
crawl's plans decide on (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListingRecord:
    """A listing's index record: where its cheapest indexes (feed, REST index) are, and how far the last
    crawl read them (the `listings` table)."""

    start_url: str
    site: str
    rest_root: str | None = None  # the REST API root (None: the site offers none, or it is blocked)
    posts_filter: str | None = None  # `categories=2`, `tags=5`, `author=1`: this listing's posts
    modified_after: bool = False  # /wp/v2/posts takes modified_after (WordPress 5.7+)
    feed_url: str | None = None
    feed_etag: str | None = None
    feed_last_modified: str | None = None
    synced_to: str | None = None  # the newest post modification (GMT) the REST index showed
    index_used: str | None = None  # "rest" or "html": what the last crawl used
    note: str | None = None  # why the REST API was not used, if it was not
    discovered_at: str | None = None

    @property
    def rest_usable(self) -> bool:
        return bool(self.rest_root and self.posts_filter and self.index_used == "rest")


@dataclass(frozen=True)
class StoredPost:
    """What the archive knows of a WordPress post of the site being crawled."""

    modified: str | None  # the site's last modification (GMT), when its REST API said
    last_seen: str  # when the crawler last saw the content (UTC)
    gone: bool
