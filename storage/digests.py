"""Digests: one digest with its entries, links and URLs written in one transaction; what a site's index
says of stored posts (unchanged, gone)."""

from __future__ import annotations

from sqlite_utils import Database

from core.items import Digest, PageFailure
from core.urls import post_key, site_of

from .rows import insert_rows, inserted_id, utc_now

NEW, CHANGED, UNCHANGED, SHRUNK = "new", "changed", "unchanged", "shrunk"


def save_digest(
    db: Database, digest: Digest, now: str | None = None, *, seen: bool = True, allow_shrink: bool = False
) -> str:
    """Insert or update one digest with its entries, links and URLs; returns new/changed/unchanged.

    A digest is found again by any URL it was reached at, or by its WordPress post id on the same
    site. A changed digest keeps its previous version in `digest_revisions`; an unchanged one only
    gets `last_seen`. Everything happens in one transaction: a kill leaves the old digest or the
    new one, never half of either. With `seen=False` (a re-parse of stored pages, not a visit to the
    site) `last_seen` is left alone.

    A new version that has lost more than half of the stored entries is not written (returns
    `shrunk`) unless `allow_shrink`: that is what a changed theme does to a parser, and good data
    must not be replaced by half-parsed data.
    """
    now = now or utc_now()
    # A digest answers only at URLs of its own site: no page or index can attach another site's URL
    # to it, nor reach another site's digest through one.
    urls = dict.fromkeys(url for url in [digest.url, *digest.source_urls] if site_of(url) == digest.site)
    with db.atomic():
        existing = _find_digest(db, digest, [post_key(url) for url in urls])
        if existing is None:
            digest_id = _insert_digest(db, digest, now)
            outcome = NEW
        else:
            digest_id, stored_hash, stored_entries = existing
            if (
                stored_hash != digest.content_hash
                and not allow_shrink
                and stored_entries >= 2
                and len(digest.entries) * 2 < stored_entries
            ):
                return SHRUNK
            if stored_hash == digest.content_hash:
                if seen:
                    db.execute(
                        "UPDATE digests SET last_seen = ?, modified = coalesce(?, modified) WHERE id = ?",
                        [now, digest.modified, digest_id],
                    )
                outcome = UNCHANGED
            else:
                _replace_digest(db, digest_id, digest, now, seen)
                outcome = CHANGED
        remember_urls(db, digest_id, list(urls), now)
    return outcome


def shrunk_failure(digest: Digest) -> PageFailure:
    """The failure recorded when a new parse of a digest has lost more than half of its entries."""
    return PageFailure(
        url=digest.source_urls[0] if digest.source_urls else digest.url,
        kind="shrunk",
        message=f"{digest.url}: parsed {len(digest.entries)} entries where the archive has more "
        "than twice as many; the stored digest was kept",
    )


def remember_urls(db: Database, digest_id: int, urls: list[str], now: str | None = None) -> None:
    """Record URLs a digest answers at (first one wins: a key never moves to another digest)."""
    now = now or utc_now()
    db.conn.executemany(
        "INSERT OR IGNORE INTO digest_urls (url_key, digest_id, url, first_seen) VALUES (?, ?, ?, ?)",
        [(post_key(url), digest_id, url, now) for url in urls],
    )


def remember_urls_of(db: Database, digest_url: str, urls: list[str], now: str | None = None) -> None:
    """Record more URLs for the stored digest whose canonical URL is `digest_url`."""
    with db.atomic():
        row = db.execute("SELECT digest_id FROM digest_urls WHERE url_key = ?", [post_key(digest_url)]).fetchone()
        if row is not None:
            remember_urls(db, row[0], urls, now)


def _find_digest(db: Database, digest: Digest, keys: list[str]) -> tuple[int, str, int] | None:
    """The stored digest this one is: by any URL it was reached at, else by post id on the same site.

    One statement of two index searches, a URL match first: `id IN (…) OR post_id = ?` in one WHERE
    reads every digest of the site, which made storing an archive quadratic in its size. (One
    statement, not two: a digest's statements are most of what storing it costs.)
    """
    placeholders = ", ".join("?" for _ in keys)
    row = db.execute(
        "SELECT id, content_hash, entry_count FROM ("
        "SELECT 0 AS found_by, d.id, d.content_hash, d.entry_count FROM digest_urls u "
        f"JOIN digests d ON d.id = u.digest_id WHERE u.url_key IN ({placeholders}) AND d.site = ? "
        "UNION ALL SELECT 1, id, content_hash, entry_count FROM digests WHERE site = ? AND post_id = ?"
        ") ORDER BY found_by, id LIMIT 1",
        [*keys, digest.site, digest.site, digest.post_id],
    ).fetchone()
    return tuple(row) if row else None


def _digest_columns(digest: Digest) -> dict:
    date = digest.published or digest.issue_date
    return {
        "year": int(date[:4]) if date else None,
        "post_id": digest.post_id,
        "site": digest.site,
        "number": digest.number,
        "title": digest.title,
        "headline": digest.headline,
        "issue_date": digest.issue_date,
        "published": digest.published,
        "dateline": digest.dateline,
        "text": digest.text,
        "content_hash": digest.content_hash,
        "entry_count": len(digest.entries),
        "link_count": sum(len(e.links) for e in digest.entries),
        **({"modified": digest.modified} if digest.modified else {}),
    }


def _insert_digest(db: Database, digest: Digest, now: str) -> int:
    row = {
        "url": digest.url,
        "url_key": post_key(digest.url),
        **_digest_columns(digest),
        "first_seen": now,
        "last_seen": now,
        "last_changed": now,
    }
    columns = ", ".join(row)
    placeholders = ", ".join(f":{name}" for name in row)
    digest_id = inserted_id(db.execute(f"INSERT INTO digests ({columns}) VALUES ({placeholders})", row))
    _insert_entries(db, digest_id, digest)
    return digest_id


def _replace_digest(db: Database, digest_id: int, digest: Digest, now: str, seen: bool) -> None:
    # A recovered version keeps its provenance in the revision; the live version that replaces it has none.
    db.execute(
        "INSERT INTO digest_revisions (digest_id, replaced_at, content_hash, title, text, recovered_from, "
        "captured_at, memento_url) SELECT id, ?, content_hash, title, text, recovered_from, captured_at, memento_url "
        "FROM digests WHERE id = ?",
        [now, digest_id],
    )
    db.execute("DELETE FROM links WHERE digest_id = ?", [digest_id])
    db.execute("DELETE FROM entries WHERE digest_id = ?", [digest_id])
    row = {
        **_digest_columns(digest),
        "recovered_from": None,
        "captured_at": None,
        "memento_url": None,
        "last_changed": now,
        "id": digest_id,
        **({"last_seen": now} if seen else {}),
    }
    assignments = ", ".join(f"{name} = :{name}" for name in row if name != "id")
    db.execute(f"UPDATE digests SET {assignments} WHERE id = :id", row)
    _insert_entries(db, digest_id, digest)


def _insert_entries(db: Database, digest_id: int, digest: Digest) -> None:
    # Ids chosen here (inside the digest's transaction, so no other writer can take them) let entries
    # and links go in with one statement each instead of a statement per entry.
    first_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM entries").fetchone()[0]
    entry_rows: list[tuple] = []
    link_rows: list[tuple] = []
    for offset, entry in enumerate(digest.entries):
        entry_id = first_id + offset
        entry_rows.append((entry_id, digest_id, offset + 1, entry.section, entry.text, entry.html))
        link_rows.extend(
            (entry_id, digest_id, position, link.url, link.text, link.domain)
            for position, link in enumerate(entry.links, start=1)
        )
    insert_rows(db, "INSERT INTO entries (id, digest_id, position, section, text, html) VALUES", entry_rows)
    insert_rows(db, "INSERT INTO links (entry_id, digest_id, position, url, text, domain) VALUES", link_rows)


def confirm_unchanged(db: Database, site: str, modified_by_post: dict[int, str], now: str | None = None) -> None:
    """Posts the site's REST index shows unmodified since they were stored: seen now, nothing downloaded."""
    now = now or utc_now()
    with db.atomic():
        db.conn.executemany(
            "UPDATE digests SET last_seen = ?, modified = ? WHERE site = ? AND post_id = ?",
            [(now, modified, site, post_id) for post_id, modified in modified_by_post.items()],
        )


def mark_gone(db: Database, site: str, post_ids: list[int], now: str | None = None) -> int:
    """Digests whose posts are no longer on the site (trashed, unpublished): marked, never deleted."""
    now = now or utc_now()
    with db.atomic():
        return db.conn.executemany(
            "UPDATE digests SET gone = ? WHERE site = ? AND post_id = ? AND gone IS NULL",
            [(now, site, post_id) for post_id in post_ids],
        ).rowcount
