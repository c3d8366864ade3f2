"""The archive's schema: every table, index, full-text index and the schema version.

Names are part of the interface (`../shared/design.md`); Datasette, exports and scripts read them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from .links import create_link_tables
from .reader import DIGEST_DAY, EDITION_DAY

# 1: digests, digest_urls, entries, links, digest_revisions, crawl_runs, failures (first release)
# 2: pages (every fetched post page, compressed, with its HTTP validators), digests.year,
#    failures.http_status, crawl_runs.rechecked / not_modified / failure_kinds
# 3: archives (per start URL: the site's REST API, archive object, feed and its validators, the
#    last sync), digests.modified / gone, pages.source, crawl_runs.index_used / index_note;
#    editions (one digest across sites), digests.edition_id / edition_checked
# 4: editions.slug (the edition's lasting address: its number, else its issue date; unique),
#    editions.conflicts_between_sites / conflicts_within_post
# 5: the full-text triggers on update fire only when an indexed column changes (matching sets
#    digests.edition_id without re-indexing titles); indexes for the reader's orders (editions by day
#    and slug, a site's digests by day and id)
# 6: link health (storage/links.py): link_targets (one row per distinct link, its state), link_checks
#    (one row per check), the link_health view; an index on links.url
# 7: indexes for the reader's pages at 10,000 posts: editions by first publication (the editions table's
#    order), digests by day, id and number (the out-of-order check's window reads only the index), digests
#    by number and edition (the reused-numbers check)
SCHEMA_VERSION = 7

# The tables a database must have to be this project's archive.
ARCHIVE_TABLES = (
    "digests",
    "digest_urls",
    "entries",
    "links",
    "digest_revisions",
    "crawl_runs",
    "failures",
    "pages",
    "archives",
    "editions",
    "link_targets",
    "link_checks",
)
# Present in every version: what makes a database this project's, whatever its age.
_FIRST_TABLES = ("digests", "entries", "links", "crawl_runs", "failures")


# How long a write waits for another job's transaction to end (ms): far longer than any one transaction.
BUSY_TIMEOUT_MS = 30_000


class ArchiveError(Exception):
    """The file given is not a usable archive: not SQLite, another program's database, unwritable."""


class ArchiveDatabase(Database):
    """The archive opened for writing: a transaction takes the write lock when it begins.

    A digests crawl and a link check write the same file at once (WAL mode). A transaction begun
    with a plain (deferred) `BEGIN` that reads before it writes holds a snapshot; when the other job
    commits meanwhile, its first write fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT),
    whatever the busy timeout. `BEGIN IMMEDIATE` waits for the other job's commit (up to the busy
    timeout) and starts from what it wrote. Nested blocks are savepoints, as in sqlite-utils.
    """

    @contextmanager
    def atomic(self) -> Generator[Database, None, None]:
        if self.conn.in_transaction:
            with super().atomic() as db:
                yield db
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def open_database(path: str | Path, *, create: bool = True) -> Database:
    """Open the archive at `path` for writing, migrating an older schema; with `create`, a missing file
    is created.

    Raises `ArchiveError` with a one-line reason for a file that is not SQLite, a database that
    belongs to something else, or a missing file when `create` is False. Nothing is overwritten.
    """
    path = check_archive_path(path, must_exist=not create)
    try:
        db = ArchiveDatabase(path)
        # A crawl, a link check and a reader (Datasette, an export) share the file; a write waits for the
        # other job's commit rather than failing at once. Each job's transactions last at most a few
        # seconds (storage.WriteBatch, committed when idle too), well inside this timeout.
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_archive(db, path)
        db.execute("PRAGMA foreign_keys = ON")
        if db.journal_mode != "wal":
            db.enable_wal()
        # In WAL mode NORMAL syncs the log at checkpoints, not at every commit: a killed process loses
        # nothing committed (the log is written before COMMIT returns), a power cut may lose the last
        # commits but never corrupts the file, and a crawl fetches what is missing again. FULL made the
        # disk sync at every batch the largest cost of a backfill (bench/results.md, figure 1).
        db.execute("PRAGMA synchronous = NORMAL")
        # An archive written by an older version is migrated whenever it is opened for writing.
        ensure_schema(db)
    except sqlite3.DatabaseError as error:
        raise ArchiveError(f"{path}: {error}") from error
    return db


def open_for_reading(path: str | Path) -> Database:
    """Open an existing archive read-only: no migration, no change of journal mode, nothing written.

    An archive of an older schema is refused with a one-line reason (the next crawl, or
    `digest-archive reparse`, migrates it).
    """
    path = check_archive_path(path, must_exist=True)
    try:
        db = Database(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False))
        _check_archive(db, path)
        if not db.table_names():
            db.close()
            raise ArchiveError(f"{path}: an empty database, not a digest archive")
        db.execute("PRAGMA busy_timeout = 10000")
        version = schema_version(db)
    except sqlite3.DatabaseError as error:
        raise ArchiveError(f"{path}: {error}") from error
    if version != SCHEMA_VERSION:
        db.close()
        newer = (
            "newer than this digest-archive: upgrade"
            if version > SCHEMA_VERSION
            else "older: a crawl or `digest-archive reparse` migrates it"
        )
        raise ArchiveError(f"{path}: archive schema {version} is {newer} (this version reads schema {SCHEMA_VERSION})")
    return db


def check_archive_path(path: str | Path, *, must_exist: bool) -> Path:
    """What can be told of an archive's path without opening it or creating anything beside it (a
    missing file where one must exist, a folder, a file that is not SQLite): ArchiveError, one line."""
    path = Path(path)
    if must_exist and not path.exists():
        raise ArchiveError(f"{path}: no such archive")
    if path.exists() and path.is_dir():
        raise ArchiveError(f"{path}: is a directory, not an archive")
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise ArchiveError(f"{path}: not a SQLite database")
    return path


def _check_archive(db: Database, path: Path) -> None:
    existing = set(db.table_names())
    if existing and "digests" not in existing:
        db.close()
        raise ArchiveError(f"{path}: a SQLite database, but not a digest archive (no digests table)")
    if existing and not set(_FIRST_TABLES) <= existing:
        db.close()
        raise ArchiveError(f"{path}: not a digest archive (missing tables)")


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def ensure_schema(db: Database) -> None:
    """Create or migrate the schema to SCHEMA_VERSION; existing rows are kept.

    Migrations are additive: missing tables are created, missing columns added, and derived columns
    filled in, all in one transaction, so an interrupted migration leaves the old schema intact.
    """
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise ArchiveError(f"archive schema {version} is newer than this digest-archive ({SCHEMA_VERSION}): upgrade")
    if version == SCHEMA_VERSION and set(ARCHIVE_TABLES) <= set(db.table_names()):
        return
    with db.atomic():
        _create_tables(db)
        if 0 < version < 3:
            db.execute("UPDATE pages SET source = 'html' WHERE source IS NULL")
        if 0 < version < 4:
            # Editions matched by an older version get their slugs and classed conflicts (their
            # `updated` is left alone: nothing a reader sees has changed).
            from .editions import refresh_all_editions

            refresh_all_editions(db)
        if version == 1:
            db.execute(
                "UPDATE digests SET year = CAST(substr(coalesce(published, issue_date), 1, 4) AS INTEGER) "
                "WHERE coalesce(published, issue_date) IS NOT NULL"
            )
    # FTS creation manages its own transaction.
    if not db.table("entries").detect_fts():
        db.table("entries").enable_fts(["text"], create_triggers=True, tokenize="porter")
    if not db.table("digests").detect_fts():
        db.table("digests").enable_fts(["title", "headline"], create_triggers=True, tokenize="porter")
    if version < 5:
        with db.atomic():
            _narrow_update_triggers(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# The full-text indexes' update triggers, as sqlite-utils names them, fired only when what they index
# changes: UPDATE OF names the columns, WHEN compares the values (a digest re-saved with the same title
# keeps its index entry). Their names stay (the tests and older tools look for `digests_au`).
_UPDATE_TRIGGERS = {
    "digests": ("title", "headline"),
    "entries": ("text",),
}


def _narrow_update_triggers(db: Database) -> None:
    for table, columns in _UPDATE_TRIGGERS.items():
        names = ", ".join(f"[{column}]" for column in columns)
        old_values = ", ".join(f"old.[{column}]" for column in columns)
        new_values = ", ".join(f"new.[{column}]" for column in columns)
        changed = " OR ".join(f"old.[{column}] IS NOT new.[{column}]" for column in columns)
        db.execute(f"DROP TRIGGER IF EXISTS [{table}_au]")
        db.execute(
            f"CREATE TRIGGER [{table}_au] AFTER UPDATE OF {names} ON [{table}] WHEN {changed} BEGIN\n"
            f"  INSERT INTO [{table}_fts] ([{table}_fts], rowid, {names}) VALUES('delete', old.rowid, {old_values});\n"
            f"  INSERT INTO [{table}_fts] (rowid, {names}) VALUES (new.rowid, {new_values});\n"
            "END"
        )


def _table(db: Database, name: str, columns: dict, **options) -> None:
    """Create a table, or add the columns an older schema lacks (with their foreign keys)."""
    table = db.table(name)
    if table.exists():
        references = {column: (other, other_column) for column, other, other_column in options.get("foreign_keys", [])}
        for column, kind in columns.items():
            if column in table.columns_dict:
                continue
            if column in references:
                # ALTER TABLE keeps the table (sqlite-utils' add_foreign_key rebuilds it, and the full-text
                # index's triggers on it would be lost).
                other, other_column = references[column]
                db.execute(f"ALTER TABLE [{name}] ADD COLUMN [{column}] INTEGER REFERENCES [{other}]([{other_column}])")
            else:
                table.add_column(column, kind)
    else:
        table.create(columns, **options)


def _create_tables(db: Database) -> None:
    _table(
        db,
        "crawl_runs",
        {
            "id": int,
            "mode": str,
            "start_url": str,
            "started": str,
            "finished": str,
            "status": str,
            "listing_pages": int,
            "posts_listed": int,
            "posts_fetched": int,
            "rechecked": int,
            "not_modified": int,
            "new": int,
            "changed": int,
            "unchanged": int,
            "duplicates": int,
            "failed": int,
            "failure_kinds": str,
            "message": str,
            "index_used": str,
            "index_note": str,
            "index_pages": int,
            "from_rest": int,
            "gone": int,
            "editions_new": int,
            "editions_changed": int,
        },
        pk="id",
        not_null={"mode", "start_url", "started", "status"},
    )
    # One digest as an editorial unit: its posts on each site (digests.edition_id), with the number,
    # issue date and headline from the best source, and where the sources disagree.
    _table(
        db,
        "editions",
        {
            "id": int,
            "title": str,
            "number": int,
            "issue_date": str,
            "headline": str,
            "first_published": str,
            "year": int,
            "sites": str,
            "posts": int,
            "conflicts": str,
            "first_seen": str,
            "updated": str,
            "slug": str,
            "conflicts_between_sites": str,
            "conflicts_within_post": str,
        },
        pk="id",
        not_null={"first_seen", "updated"},
    )
    _table(
        db,
        "digests",
        {
            "id": int,
            "post_id": int,
            "site": str,
            "url": str,
            "url_key": str,
            "number": int,
            "title": str,
            "headline": str,
            "issue_date": str,
            "published": str,
            "year": int,
            "dateline": str,
            "text": str,
            "entry_count": int,
            "link_count": int,
            "content_hash": str,
            "first_seen": str,
            "last_seen": str,
            "last_changed": str,
            "modified": str,
            "gone": str,
            "edition_id": int,
            "edition_checked": str,
        },
        pk="id",
        not_null={"site", "url", "url_key", "title", "content_hash", "first_seen", "last_seen"},
        foreign_keys=[("edition_id", "editions", "id")],
    )
    # Every URL a digest has been reached at (listing link, AMP form, canonical), so that a crawl
    # knows a post as stored whichever form a listing names it by.
    _table(
        db,
        "digest_urls",
        {"url_key": str, "digest_id": int, "url": str, "first_seen": str},
        pk="url_key",
        not_null={"digest_id", "url", "first_seen"},
        foreign_keys=[("digest_id", "digests", "id")],
    )
    _table(
        db,
        "entries",
        {"id": int, "digest_id": int, "position": int, "section": str, "text": str, "html": str},
        pk="id",
        not_null={"digest_id", "position", "text", "html"},
        foreign_keys=[("digest_id", "digests", "id")],
    )
    _table(
        db,
        "links",
        {
            "id": int,
            "entry_id": int,
            "digest_id": int,
            "position": int,
            "url": str,
            "text": str,
            "domain": str,
        },
        pk="id",
        not_null={"entry_id", "digest_id", "position", "url", "domain"},
        foreign_keys=[("entry_id", "entries", "id"), ("digest_id", "digests", "id")],
    )
    _table(
        db,
        "digest_revisions",
        {
            "id": int,
            "digest_id": int,
            "replaced_at": str,
            "content_hash": str,
            "title": str,
            "text": str,
        },
        pk="id",
        not_null={"digest_id", "replaced_at", "content_hash"},
        foreign_keys=[("digest_id", "digests", "id")],
    )
    _table(
        db,
        "failures",
        {
            "id": int,
            "crawl_run_id": int,
            "url": str,
            "url_key": str,
            "kind": str,
            "http_status": int,
            "message": str,
            "at": str,
        },
        pk="id",
        not_null={"url", "kind", "message", "at"},
        foreign_keys=[("crawl_run_id", "crawl_runs", "id")],
    )
    # The last fetched copy of every post page (zlib-compressed), so that a parser fix can be applied
    # to the whole archive without the network, and so that re-checks can be conditional.
    _table(
        db,
        "pages",
        {
            "url_key": str,
            "url": str,
            "fetched_at": str,
            "checked_at": str,
            "http_status": int,
            "content_type": str,
            "etag": str,
            "last_modified": str,
            "size": int,
            "body": bytes,
            "source": str,
        },
        pk="url_key",
        not_null={"url", "fetched_at", "body"},
    )
    # What a crawl learnt of an archive's own indexes (one row per start URL): where the REST API is and
    # which object the archive is, its feed and the feed's validators, how far the REST index was read.
    _table(
        db,
        "archives",
        {
            "start_url": str,
            "site": str,
            "rest_root": str,
            "posts_filter": str,
            "modified_after": int,
            "feed_url": str,
            "feed_etag": str,
            "feed_last_modified": str,
            "synced_to": str,
            "index_used": str,
            "note": str,
            "discovered_at": str,
            "checked_at": str,
        },
        pk="start_url",
        not_null={"site", "checked_at"},
    )
    indexes = [
        ("digests", ["url"], True),
        ("digests", ["url_key"], True),
        ("digests", ["site", "post_id"], False),
        ("digests", ["number"], False),
        ("digests", ["published"], False),
        ("digest_urls", ["digest_id"], False),
        ("entries", ["digest_id", "position"], True),
        ("entries", ["section"], False),
        ("links", ["entry_id", "position"], True),
        ("links", ["digest_id"], False),
        ("links", ["domain"], False),
        ("digest_revisions", ["digest_id"], False),
        ("failures", ["crawl_run_id"], False),
        ("failures", ["url_key"], False),
        ("digests", ["year"], False),
        ("digests", ["site", "modified"], False),
        ("digests", ["edition_id"], False),
        ("editions", ["number"], False),
        ("editions", ["year"], False),
        ("editions", ["slug"], True),
        ("editions", ["first_published"], False),
        ("digests", ["published", "id", "number"], False),
        ("digests", ["number", "edition_id"], False),
    ]
    for table, columns, unique in indexes:
        db.table(table).create_index(columns, unique=unique, if_not_exists=True)
    # The reader's orders (storage/reader.py): editions by their day, then slug (previous/next, the Atom
    # feed); a site's digests by their day, then id (the reading view's previous/next).
    db.execute(f"CREATE INDEX IF NOT EXISTS editions_day_slug ON editions ({EDITION_DAY}, slug)")
    db.execute(f"CREATE INDEX IF NOT EXISTS digests_site_day_id ON digests (site, {DIGEST_DAY}, id)")
    # Schema 6, self-contained: the link tables (storage/links.py).
    create_link_tables(db)
