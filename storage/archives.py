"""What a crawl learnt of an archive's own indexes, kept per start URL (the `archives` table)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlite_utils import Database

from .writes import utc_now


@dataclass(frozen=True)
class ArchiveIndex:
    """Where an archive's cheapest indexes are, and how far the last crawl read them."""

    start_url: str
    site: str
    rest_root: str | None = None  # the REST API root (None: the site offers none, or it is blocked)
    posts_filter: str | None = None  # `categories=2`, `tags=5`, `author=1`: this archive's posts
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


def load_archive_index(db: Database, start_url: str) -> ArchiveIndex | None:
    row = db.execute(
        "SELECT start_url, site, rest_root, posts_filter, modified_after, feed_url, feed_etag, "
        "feed_last_modified, synced_to, index_used, note, discovered_at FROM archives "
        "WHERE start_url = ?",
        [start_url],
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    values[4] = bool(values[4])
    return ArchiveIndex(*values)


def save_archive_index(db: Database, index: ArchiveIndex, now: str | None = None) -> None:
    row = {**asdict(index), "modified_after": int(index.modified_after), "checked_at": now or utc_now()}
    columns = ", ".join(row)
    with db.atomic():
        db.execute(f"INSERT OR REPLACE INTO archives ({columns}) VALUES ({', '.join(':' + c for c in row)})", row)
