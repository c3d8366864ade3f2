"""Every statement that changes the archive. One digest is written in one transaction."""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TypeVar

from sqlite_utils import Database

from core.items import Digest, FetchedPage, PageFailure
from core.ledger import RunCounts
from core.urls import post_key, site_of

NEW, CHANGED, UNCHANGED, SHRUNK = "new", "changed", "unchanged", "shrunk"

T = TypeVar("T")

# zlib's fastest level: a 60 KB theme page compresses in a sixth of level 6's time (1.2 ms, three times what
# lxml takes to parse it), to 18% more bytes; pages are kept for re-parsing, not for the network.
_PAGE_COMPRESSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT gave (sqlite3 types it optional: it is None only for other statements)."""
    if cursor.lastrowid is None:
        raise sqlite3.InterfaceError("an INSERT gave no row id")
    return cursor.lastrowid


def _replace_digest(db: Database, digest_id: int, digest: Digest, now: str, seen: bool) -> None:
    db.execute(
        "INSERT INTO digest_revisions (digest_id, replaced_at, content_hash, title, text) "
        "SELECT id, ?, content_hash, title, text FROM digests WHERE id = ?",
        [now, digest_id],
    )
    db.execute("DELETE FROM links WHERE digest_id = ?", [digest_id])
    db.execute("DELETE FROM entries WHERE digest_id = ?", [digest_id])
    row = {**_digest_columns(digest), "last_changed": now, "id": digest_id, **({"last_seen": now} if seen else {})}
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
    _insert_rows(db, "INSERT INTO entries (id, digest_id, position, section, text, html) VALUES", entry_rows)
    _insert_rows(db, "INSERT INTO links (entry_id, digest_id, position, url, text, domain) VALUES", link_rows)


# Rows in one multi-row INSERT, at most this many (SQLite takes up to 32,766 values in a statement).
_ROWS_PER_STATEMENT = 500


def _insert_rows(db: Database, insert: str, rows: list[tuple]) -> None:
    """`insert … VALUES` with many rows in one statement, not `executemany`'s statement per row.

    Inside a transaction SQLite opens a statement savepoint for every statement that may need undoing
    alone (one whose trigger writes another table is), and FTS5 writes out what it holds in memory at
    every savepoint: with a statement per entry, the full-text index took a flush per entry, most of the
    time of storing a digest (bench figure 3). One statement per digest flushes once.
    """
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        placeholders = ", ".join(f"({', '.join('?' * len(chunk[0]))})" for _ in chunk)
        db.execute(f"{insert} {placeholders}", [value for row in chunk for value in row])


def record_failure(db: Database, crawl_run_id: int | None, failure: PageFailure, now: str | None = None) -> None:
    with db.atomic():
        db.execute(
            "INSERT INTO failures (crawl_run_id, url, url_key, kind, http_status, message, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                crawl_run_id,
                failure.url,
                post_key(failure.url),
                failure.kind,
                failure.http_status,
                failure.message,
                now or utc_now(),
            ],
        )


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


def close_abandoned_runs(db: Database, now: str | None = None) -> int:
    """Runs left `running` by a process that ended without closing them (kill -9, power loss) are
    marked `killed`. Call it holding the archive's lock: then no other run is really running."""
    with db.atomic():
        return db.execute(
            "UPDATE crawl_runs SET status = 'killed', finished = ?, message = 'the crawl process ended without "
            "closing its run (killed, or the machine stopped); what it committed is kept' WHERE status = 'running'",
            [now or utc_now()],
        ).rowcount


def start_run(db: Database, mode: str, start_url: str, now: str | None = None) -> int:
    with db.atomic():
        return inserted_id(
            db.execute(
                "INSERT INTO crawl_runs (mode, start_url, started, status) VALUES (?, ?, ?, 'running')",
                [mode, start_url, now or utc_now()],
            )
        )


def finish_run(
    db: Database,
    crawl_run_id: int,
    status: str,
    counts: RunCounts,
    message: str | None = None,
    now: str | None = None,
    failure_kinds: dict[str, int] | None = None,
    index_used: str | None = None,
    index_note: str | None = None,
) -> None:
    values = asdict(counts)
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with db.atomic():
        db.execute(
            f"UPDATE crawl_runs SET finished = :finished, status = :status, message = :message, "
            f"failure_kinds = :failure_kinds, index_used = :index_used, index_note = :index_note, {assignments} "
            f"WHERE id = :id",
            {
                **values,
                "finished": now or utc_now(),
                "status": status,
                "message": message,
                "id": crawl_run_id,
                "failure_kinds": json.dumps(failure_kinds or {}, sort_keys=True),
                "index_used": index_used,
                "index_note": index_note,
            },
        )


class _InBatch(Database):
    """The archive as a write inside a `WriteBatch` sees it: `atomic()` opens no savepoint.

    A savepoint makes SQLite's full-text index (FTS5) write out what it holds in memory as a new
    segment: with one per digest, every digest cost a segment of its own and the merges of them
    (bench figure 3). The batch keeps each write atomic another way (see WriteBatch).
    """

    @contextmanager
    def atomic(self) -> Generator[Database, None, None]:
        yield self


class WriteBatch:
    """Several items' writes in one transaction, committed every `max_items` writes or `max_seconds`.

    Each write stays atomic without a savepoint of its own (a savepoint costs a full-text segment,
    see `_InBatch`): the batch keeps the writes of its open transaction, and when one raises, the
    transaction is rolled back, taking the failed write's rows with it, and the writes before it are
    run again, in order and from the same rows, before anything else is written or committed. So
    the failed item leaves nothing and the others are kept, as if it had never been written. A kill
    loses at most the uncommitted batch (a resumed crawl fetches it again), never half an item.
    Committing per item costs a transaction per write (see bench/results.md).
    """

    def __init__(self, db: Database, max_items: int = 50, max_seconds: float = 2.0) -> None:
        self.db = db
        self.max_items = max(1, max_items)
        self.max_seconds = max_seconds
        self.opened_at = 0.0
        # The same connection, without savepoints (no plugins, no pragma: `db` has set them up).
        self._in_batch = _InBatch(db.conn, recursive_triggers=False, execute_plugins=False)
        self._done: list[Callable[[Database], object]] = []  # the open transaction's writes, in order
        self._undone = False  # a write failed: the transaction was rolled back and `_done` awaits a redo

    @property
    def pending(self) -> int:
        """Writes not committed yet."""
        return len(self._done)

    def write(self, write: Callable[[Database], T]) -> T:
        """Run one item's writes, `write(db)`, in the batch and return what it returns.

        `write` may be run again if a later write of the batch fails, against the same rows as the first
        time, so it must only write rows from what it holds: its timestamps chosen before (not read from
        the clock inside), no files, no counters. An exception from it leaves none of its rows.
        """
        self._open()
        try:
            result = write(self._in_batch)
        except BaseException:
            self._undo()
            raise
        self._done.append(write)
        if len(self._done) >= self.max_items or time.monotonic() - self.opened_at >= self.max_seconds:
            self.commit()
        return result

    def commit(self) -> None:
        """Commit the batch (after a failed write, the writes before it are run again first)."""
        if self._undone:
            self._redo()
        if self.db.conn.in_transaction:
            self.db.execute("COMMIT")
        self._done.clear()

    def rollback(self) -> None:
        """Give up the uncommitted items (after a storage error the next crawl fetches them again)."""
        self._done.clear()
        self._undone = False
        if self.db.conn.in_transaction:
            self.db.execute("ROLLBACK")

    def _open(self) -> None:
        if self._undone:
            self._redo()
        elif not self.db.conn.in_transaction:
            self.db.execute("BEGIN")
            self.opened_at = time.monotonic()

    def _undo(self) -> None:
        """After a failed write: nothing of it may stay. Some errors (a full disk, RAISE(ROLLBACK))
        have rolled the transaction back already; others leave its first statements in it."""
        self._undone = True
        if self.db.conn.in_transaction:
            self.db.execute("ROLLBACK")

    def _redo(self) -> None:
        """The writes the rollback took, run again. Should one fail now (the disk is full), nothing of
        the batch is kept and the error is raised: the caller treats it as a failed commit."""
        self._undone = False
        try:
            self.db.execute("BEGIN")
            for write in self._done:
                write(self._in_batch)
        except BaseException:
            self.rollback()
            raise
