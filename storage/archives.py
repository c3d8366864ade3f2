"""What a crawl learnt of an archive's own indexes, kept per start URL (the `archives` table)."""

from __future__ import annotations

from dataclasses import asdict

from sqlite_utils import Database

from core.snapshot import ArchiveIndex

from .rows import utc_now


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
