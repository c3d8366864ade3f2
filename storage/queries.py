"""Every read the crawler and the command line make of the archive."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlite_utils import Database

from core.items import Entry, Link
from core.snapshot import StoredPost
from core.urls import post_key

from .report import recovery, runs_and_failures


def known_post_keys(db: Database) -> set[str]:
    """Keys (see `core.urls.post_key`) of every URL a stored digest was reached at."""
    return {row[0] for row in db.execute("SELECT url_key FROM digest_urls")}


# A failure that will not mend by itself: the page is gone (404, 410) or is no readable digest.
_SETTLED_FAILURE = "(kind IN ('parse_error', 'invalid') OR (kind = 'http_status' AND http_status IN (404, 410)))"


def settled_failure_keys(db: Database) -> set[str]:
    """Posts not stored whose last failure will not mend by itself (404/410, unparseable).

    A refresh neither re-fetches them nor counts them as new; a backfill tries them again.
    """
    return {
        row[0]
        for row in db.execute(
            "SELECT url_key FROM failures f WHERE id = (SELECT max(id) FROM failures WHERE url_key = f.url_key) "
            f"AND {_SETTLED_FAILURE} AND url_key NOT IN (SELECT url_key FROM digest_urls)"
        )
    }


def failures_that_may_mend(db: Database, crawl_run_id: int | None) -> int:
    """How many failures of this run may mend when tried again (timeouts, 5xx, a bad REST item...)."""
    return db.execute(
        f"SELECT count(*) FROM failures WHERE crawl_run_id = ? AND NOT {_SETTLED_FAILURE}", [crawl_run_id]
    ).fetchone()[0]


@dataclass(frozen=True)
class RecheckTarget:
    """A stored digest to re-check, with the validators its page was last served with."""

    digest_id: int
    url: str
    etag: str | None
    last_modified: str | None
    checked_at: str | None

    @property
    def conditional(self) -> bool:
        return bool(self.etag or self.last_modified)


def recheck_targets(db: Database, site: str, limit: int | None) -> list[RecheckTarget]:
    """The newest `limit` digests of a site (all with None), newest first, with their page validators."""
    sql = (
        "SELECT d.id, coalesce(p.url, d.url), p.etag, p.last_modified, p.checked_at FROM digests d "
        "LEFT JOIN pages p ON p.url_key = (SELECT u.url_key FROM digest_urls u JOIN pages q ON q.url_key = u.url_key "
        "                                  WHERE u.digest_id = d.id ORDER BY q.fetched_at DESC LIMIT 1) "
        "WHERE d.site = ? ORDER BY coalesce(d.published, d.issue_date, d.first_seen) DESC, d.id DESC"
    )
    params: list = [site]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [RecheckTarget(*row) for row in db.execute(sql, params)]


@dataclass(frozen=True)
class CrawlState:
    known_keys: set[str]
    settled_keys: set[str]
    recheck: list[RecheckTarget]
    posts: dict[int, StoredPost] = field(default_factory=dict)  # post id → what is stored, this site only


def crawl_state(db: Database, site: str, recheck_limit: int | None) -> CrawlState:
    """What a crawl needs to know before its first request (`recheck_limit` None: every digest)."""
    targets = recheck_targets(db, site, recheck_limit) if recheck_limit != 0 else []
    posts = {
        post_id: StoredPost(modified, last_seen, gone is not None)
        for post_id, modified, last_seen, gone in db.execute(
            "SELECT post_id, modified, last_seen, gone FROM digests WHERE site = ? AND post_id IS NOT NULL", [site]
        )
    }
    return CrawlState(known_post_keys(db), settled_failure_keys(db), targets, posts)


@dataclass(frozen=True)
class StoredPage:
    url: str
    http_status: int | None
    content_type: str | None
    body: bytes
    source: str  # "html" (the post page) or "rest" (the post's REST API item, JSON)


def stored_pages(db: Database) -> Iterator[StoredPage]:
    """Every kept post page, decompressed, oldest fetch first."""
    for url, status, content_type, body, source in db.execute(
        "SELECT url, http_status, content_type, body, coalesce(source, 'html') FROM pages ORDER BY fetched_at, url_key"
    ):
        yield StoredPage(url, status, content_type, zlib.decompress(body), source)


def stored_page_keys(db: Database) -> list[str]:
    """The keys of every kept post page, in `stored_pages` order (to read the pages a batch at a time)."""
    return [row[0] for row in db.execute("SELECT url_key FROM pages ORDER BY fetched_at, url_key")]


def stored_pages_of(db: Database, keys: list[str]) -> list[StoredPage]:
    """The kept pages of `keys`, decompressed, in the order of `keys`."""
    placeholders = ", ".join("?" for _ in keys)
    found = {
        key: StoredPage(url, status, content_type, zlib.decompress(body), source)
        for key, url, status, content_type, body, source in db.execute(
            "SELECT url_key, url, http_status, content_type, body, coalesce(source, 'html') FROM pages "
            f"WHERE url_key IN ({placeholders})",
            keys,
        )
    }
    return [found[key] for key in keys if key in found]


def stored_content_hash(db: Database, url: str) -> str | None:
    """The content hash of the digest known under `url` (None if none is)."""
    row = db.execute(
        "SELECT d.content_hash FROM digest_urls u JOIN digests d ON d.id = u.digest_id WHERE u.url_key = ?",
        [post_key(url)],
    ).fetchone()
    return row[0] if row else None


def digest_entries(db: Database, url: str) -> tuple[Entry, ...] | None:
    """The stored entries, with their links, of the digest known under `url` (None if none is)."""
    row = db.execute("SELECT digest_id FROM digest_urls WHERE url_key = ?", [post_key(url)]).fetchone()
    if row is None:
        return None
    links: dict[int, list[Link]] = {}
    for entry_id, link_url, text, domain in db.execute(
        "SELECT entry_id, url, text, domain FROM links WHERE digest_id = ? ORDER BY entry_id, position", [row[0]]
    ):
        links.setdefault(entry_id, []).append(Link(url=link_url, text=text or "", domain=domain))
    return tuple(
        Entry(section=section, text=text, html=html, links=tuple(links.get(entry_id, ())))
        for entry_id, section, text, html in db.execute(
            "SELECT id, section, text, html FROM entries WHERE digest_id = ? ORDER BY position", [row[0]]
        )
    )


def edition_counts(db: Database) -> dict:
    editions, several = db.execute("SELECT count(*), coalesce(sum(posts > 1), 0) FROM editions").fetchone()
    return {"editions": editions, "on_several_sites": several}


def archive_summary(db: Database) -> dict:
    """Counts and ranges a person wants after a crawl."""

    def one(sql: str, params=()):
        return db.execute(sql, params).fetchone()

    return {
        "editions": edition_counts(db)["editions"],
        "editions_on_several_sites": edition_counts(db)["on_several_sites"],
        "edition_conflicts": one("SELECT count(*) FROM editions WHERE conflicts IS NOT NULL")[0],
        "sites": [row[0] for row in db.execute("SELECT DISTINCT site FROM digests ORDER BY site")],
        "digests": one("SELECT count(*) FROM digests")[0],
        "entries": one("SELECT count(*) FROM entries")[0],
        "links": one("SELECT count(*) FROM links")[0],
        "failures": one("SELECT count(*) FROM failures")[0],
        "numbers": list(one("SELECT min(number), max(number) FROM digests")),
        "published": list(one("SELECT min(published), max(published) FROM digests")),
        "sections": [
            row[0]
            for row in db.execute("SELECT DISTINCT section FROM entries WHERE section IS NOT NULL ORDER BY section")
        ],
        **runs_and_failures(db),  # the last run of every archive, the pages not stored: as `report` has them
        **recovery(db),  # what the web archives gave, the numbers still missing: as `report` has them
        "latest": [
            dict(zip(["number", "title", "published", "entries"], row, strict=True))
            for row in db.execute(
                "SELECT number, title, published, entry_count FROM digests "
                "ORDER BY coalesce(published, issue_date) DESC, id DESC LIMIT 5"
            )
        ],
    }
