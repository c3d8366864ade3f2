"""What a crawl learnt of a listing's indexes (its feed, its REST index), kept per start URL: the index
record (the `listings` table)."""

from __future__ import annotations

from dataclasses import asdict

from sqlite_utils import Database

from core.snapshot import ListingRecord

from .rows import utc_now


def load_listing_record(db: Database, start_url: str) -> ListingRecord | None:
    row = db.execute(
        "SELECT start_url, site, rest_root, posts_filter, modified_after, feed_url, feed_etag, "
        "feed_last_modified, synced_to, index_used, note, discovered_at FROM listings "
        "WHERE start_url = ?",
        [start_url],
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    values[4] = bool(values[4])
    return ListingRecord(*values)


def save_listing_record(db: Database, record: ListingRecord, now: str | None = None) -> None:
    row = {**asdict(record), "modified_after": int(record.modified_after), "checked_at": now or utc_now()}
    columns = ", ".join(row)
    with db.atomic():
        db.execute(f"INSERT OR REPLACE INTO listings ({columns}) VALUES ({', '.join(':' + c for c in row)})", row)
