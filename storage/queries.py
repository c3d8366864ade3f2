"""Every read the crawler and the command line make of the archive."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from .schema import open_database


def known_post_keys(db: Database) -> set[str]:
    """Keys (see `crawler.urls.post_key`) of every URL a stored digest was reached at."""
    return {row[0] for row in db.execute("SELECT url_key FROM digest_urls")}


def known_post_keys_at(path: str | Path) -> set[str]:
    """`known_post_keys` of the archive at `path`; an archive not created yet knows nothing."""
    if not Path(path).exists():
        return set()
    db = open_database(path)
    try:
        return known_post_keys(db)
    finally:
        db.close()


def archive_summary(db: Database) -> dict:
    """Counts and ranges a person wants after a crawl."""
    def one(sql: str, params=()):
        return db.execute(sql, params).fetchone()

    last_run = one("SELECT id, mode, status, started, finished, listing_pages, posts_fetched, new, changed, "
                   "unchanged, failed FROM crawl_runs ORDER BY id DESC LIMIT 1")
    run_columns = ["id", "mode", "status", "started", "finished", "listing_pages", "posts_fetched", "new",
                   "changed", "unchanged", "failed"]
    return {
        "digests": one("SELECT count(*) FROM digests")[0],
        "entries": one("SELECT count(*) FROM entries")[0],
        "links": one("SELECT count(*) FROM links")[0],
        "failures": one("SELECT count(*) FROM failures")[0],
        "numbers": list(one("SELECT min(number), max(number) FROM digests")),
        "published": list(one("SELECT min(published), max(published) FROM digests")),
        "sections": [row[0] for row in db.execute(
            "SELECT DISTINCT section FROM entries WHERE section IS NOT NULL ORDER BY section")],
        "last_run": dict(zip(run_columns, last_run)) if last_run else None,
        "latest": [dict(zip(["number", "title", "published", "entries"], row)) for row in db.execute(
            "SELECT number, title, published, entry_count FROM digests "
            "ORDER BY coalesce(published, issue_date) DESC, id DESC LIMIT 5")],
        # Pages that failed and were never stored since: what a person may want to look at.
        "unresolved_failures": [dict(zip(["kind", "url", "message", "at"], row)) for row in db.execute(
            "SELECT kind, url, message, max(at) FROM failures "
            "WHERE url_key NOT IN (SELECT url_key FROM digest_urls) GROUP BY url_key ORDER BY max(id) DESC LIMIT 20")],
    }
