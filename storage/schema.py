"""The archive's schema, declared as data: every table with its columns, keys, indexes and full-text
index, the views, and the migrations by version. `ensure_schema` builds or migrates an archive from
these declarations with sqlite-utils.

Names are part of the interface (`../shared/design.md`); Datasette, exports and scripts read them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import get_type_hints

from sqlite_utils import Database
from sqlite_utils.db import COLUMN_TYPE_MAPPING

from core.ledger import RunCounts
from core.link_status import UNCHECKED

from .editions import refresh_all_editions
from .reader import DIGEST_DAY, EDITION_DAY


@dataclass(frozen=True)
class Index:
    """An index on a table's columns. A named one is made by that name and its columns are SQL
    expressions; the others get sqlite-utils' names (`idx_<table>_<columns>`), which tests and older
    archives know them by."""

    columns: tuple[str, ...]
    unique: bool = False
    name: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: Mapping[str, type]  # in order; a column added later goes last in an older archive
    pk: str
    not_null: frozenset[str] = frozenset()
    foreign_keys: tuple[tuple[str, str, str], ...] = ()  # (column, other table, other column)
    defaults: Mapping[str, object] = field(default_factory=dict)
    indexes: tuple[Index, ...] = ()
    full_text: tuple[str, ...] = ()  # columns of a full-text index (FTS5, porter stemming), kept by triggers


@dataclass(frozen=True)
class View:
    name: str
    select: str


@dataclass(frozen=True)
class Migration:
    """What a schema version brought. Its tables, columns and indexes come from the declarations (made when
    missing); `fill` brings the rows of an older archive up to date (derived columns, new tables' rows)."""

    version: int
    brought: str
    fill: Callable[[Database], object] | None = None


# One column per count a crawl run keeps (storage.runs.finish_run writes them all): declared once, in
# core.ledger.RunCounts.
_RUN_COUNT_TYPES = get_type_hints(RunCounts)
RUN_COUNT_COLUMNS: dict[str, type] = {f.name: _RUN_COUNT_TYPES[f.name] for f in fields(RunCounts)}

# The view Datasette shows with facets by status, host and year (reader/metadata.py); storage/links.py reads it.
LINK_HEALTH_VIEW = "link_health"

# Every table, in the order they are made (a table comes after those its foreign keys name).
TABLES: tuple[Table, ...] = (
    Table(
        "crawl_runs",
        {
            "id": int,
            "mode": str,
            "start_url": str,
            "started": str,
            "finished": str,
            "status": str,
            **RUN_COUNT_COLUMNS,
            "failure_kinds": str,
            "message": str,
            "index_used": str,
            "index_note": str,
        },
        pk="id",
        not_null=frozenset({"mode", "start_url", "started", "status"}),
    ),
    # One digest as an editorial unit: its posts on each site (digests.edition_id), with the number,
    # issue date and headline from the best source, and where the sources disagree.
    Table(
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
        not_null=frozenset({"first_seen", "updated"}),
        indexes=(
            Index(("number",)),
            Index(("year",)),
            Index(("slug",), unique=True),
            Index(("first_published",)),
            # The reader's order (storage/reader.py): editions by their day, then slug (previous/next, the
            # Atom feed).
            Index((EDITION_DAY, "slug"), name="editions_day_slug"),
        ),
    ),
    Table(
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
            # Provenance of a digest recovered from a web archive (storage/recovered.py); NULL when live.
            "recovered_from": str,  # the web archive's name (DIGEST_WEB_ARCHIVES)
            "captured_at": str,  # when it captured the page (ISO 8601 UTC)
            "memento_url": str,  # the capture's human replay address (without `id_`)
        },
        pk="id",
        not_null=frozenset({"site", "url", "url_key", "title", "content_hash", "first_seen", "last_seen"}),
        foreign_keys=(("edition_id", "editions", "id"),),
        indexes=(
            Index(("url",), unique=True),
            Index(("url_key",), unique=True),
            Index(("site", "post_id")),
            Index(("number",)),
            Index(("published",)),
            Index(("year",)),
            Index(("site", "modified")),
            Index(("edition_id",)),
            # The out-of-order check's window reads only the index; the reused-numbers check.
            Index(("published", "id", "number")),
            Index(("number", "edition_id")),
            # The reader's order: a site's digests by their day, then id (the reading view's previous/next).
            Index(("site", DIGEST_DAY, "id"), name="digests_site_day_id"),
        ),
        full_text=("title", "headline"),
    ),
    # Every URL a digest has been reached at (listing link, AMP form, canonical), so that a crawl
    # knows a post as stored whichever form a listing names it by.
    Table(
        "digest_urls",
        {"url_key": str, "digest_id": int, "url": str, "first_seen": str},
        pk="url_key",
        not_null=frozenset({"digest_id", "url", "first_seen"}),
        foreign_keys=(("digest_id", "digests", "id"),),
        indexes=(Index(("digest_id",)),),
    ),
    Table(
        "entries",
        {"id": int, "digest_id": int, "position": int, "section": str, "text": str, "html": str},
        pk="id",
        not_null=frozenset({"digest_id", "position", "text", "html"}),
        foreign_keys=(("digest_id", "digests", "id"),),
        indexes=(Index(("digest_id", "position"), unique=True), Index(("section",))),
        full_text=("text",),
    ),
    Table(
        "links",
        {"id": int, "entry_id": int, "digest_id": int, "position": int, "url": str, "text": str, "domain": str},
        pk="id",
        not_null=frozenset({"entry_id", "digest_id", "position", "url", "domain"}),
        foreign_keys=(("entry_id", "entries", "id"), ("digest_id", "digests", "id")),
        indexes=(
            Index(("entry_id", "position"), unique=True),
            Index(("digest_id",)),
            Index(("domain",)),
            Index(("url",)),  # link health: a target's citing digests
        ),
    ),
    Table(
        "digest_revisions",
        {
            "id": int,
            "digest_id": int,
            "replaced_at": str,
            "content_hash": str,
            "title": str,
            "text": str,
            # A version read from a web archive's capture (dated at its capture), else NULL.
            "recovered_from": str,
            "captured_at": str,
            "memento_url": str,
        },
        pk="id",
        not_null=frozenset({"digest_id", "replaced_at", "content_hash"}),
        foreign_keys=(("digest_id", "digests", "id"),),
        indexes=(Index(("digest_id",)),),
    ),
    Table(
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
        not_null=frozenset({"url", "kind", "message", "at"}),
        foreign_keys=(("crawl_run_id", "crawl_runs", "id"),),
        indexes=(Index(("crawl_run_id",)), Index(("url_key",))),
    ),
    # The last fetched copy of every post page (zlib-compressed), so that a parser fix can be applied
    # to the whole archive without the network, and so that re-checks can be conditional.
    Table(
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
        not_null=frozenset({"url", "fetched_at", "body"}),
    ),
    # What a crawl learnt of a listing's indexes (one row per start URL, the index record): where the REST
    # API is and which object the listing shows, its feed and the feed's validators, how far the REST index
    # was read. Called `archives` before schema 12.
    Table(
        "listings",
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
        not_null=frozenset({"site", "checked_at"}),
    ),
    # Every capture a recovery read from a web archive (storage/recovered.py), so that none is fetched
    # twice: what it was (a listing page and the posts it named, a digest, an older version, or why it was
    # skipped) and the digest it became or changed.
    Table(
        "web_captures",
        {
            "id": int,
            "web_archive": str,  # its name in DIGEST_WEB_ARCHIVES
            "url": str,  # the original URL, as captured
            "timestamp": str,  # the CDX timestamp (yyyyMMddhhmmss)
            "captured_at": str,  # the same, ISO 8601 UTC
            "memento_url": str,
            "http_status": int,  # as the CDX API listed it
            "payload_digest": str,  # the CDX API's digest of the payload
            "outcome": str,  # listing, digest, revision, unchanged, or why it was skipped
            "message": str,
            "posts": str,  # JSON list of the post URLs a captured listing page named
            "digest_id": int,
            "crawl_run_id": int,
            "read_at": str,
        },
        pk="id",
        not_null=frozenset({"web_archive", "url", "timestamp", "outcome", "read_at"}),
        foreign_keys=(("digest_id", "digests", "id"), ("crawl_run_id", "crawl_runs", "id")),
        indexes=(Index(("web_archive", "url", "timestamp"), unique=True), Index(("digest_id",))),
    ),
    # Link health (storage/links.py): one row per distinct link (`links.url`, canonical) with its state.
    Table(
        "link_targets",
        {
            "id": int,
            "url": str,  # as in links.url (canonical)
            "host": str,
            "first_seen": str,
            "status": str,  # of the last check (core.link_status.STATUSES)
            "http_status": int,
            "final_url": str,  # after redirects, when it differs from url
            "message": str,
            "checked_at": str,
            "failures": int,  # failing checks in a row
            "failing_since": str,
            "last_ok_at": str,
            "dead_since": str,  # null unless dead (core.link_status.DeadRule)
            "capture_warc": str,  # WARC file (relative to the captures folder) of the newest capture
            "capture_offset": int,  # byte offset of its response record
            "capture_digest": str,  # WARC-Payload-Digest of the captured payload
            "captured_at": str,
            "archived_copy": str,  # replay URL of a copy in a web archive (CDX lookup)
            "lookup_at": str,  # when the CDX API was last asked
            "lookup_note": str,  # what it answered, when no copy
        },
        pk="id",
        not_null=frozenset({"url", "host", "first_seen", "status"}),
        defaults={"status": UNCHECKED, "failures": 0},
        indexes=(Index(("url",), unique=True), Index(("host",)), Index(("status",))),
    ),
    # One row per check of a link: its history.
    Table(
        "link_checks",
        {
            "id": int,
            "target_id": int,
            "crawl_run_id": int,
            "checked_at": str,
            "status": str,
            "http_status": int,
            "final_url": str,
            "message": str,
            "capture": str,  # response, revisit, or null
        },
        pk="id",
        not_null=frozenset({"target_id", "checked_at", "status"}),
        foreign_keys=(("target_id", "link_targets", "id"), ("crawl_run_id", "crawl_runs", "id")),
        indexes=(Index(("target_id",)),),
    ),
    # What each site calls itself (storage/sites.py), keyed as digests.site: the name it gives and where it
    # said so, and the operator's name for it (DIGEST_SITE_NAMES, as the site's last crawl had it).
    Table(
        "sites",
        {"site": str, "name": str, "source": str, "source_url": str, "named_at": str, "setting_name": str},
        pk="site",
    ),
)

# A view's computed column has no type affinity in SQLite unless the expression is a CAST: Datasette's
# filters send their values as text (`?dead=1`), and text '1' never equals the number 1 in a column
# without affinity, so a facet counted rows its own filter then showed none of. Every computed column is
# CAST to the type of its values (columns read straight from a table keep that table's types).
VIEWS: tuple[View, ...] = (
    View(
        LINK_HEALTH_VIEW,
        """SELECT t.id, t.url, t.host, t.status, CAST(t.dead_since IS NOT NULL AS INTEGER) AS dead, t.http_status,
               t.final_url, t.checked_at, t.dead_since, t.last_ok_at, t.archived_copy, t.capture_warc,
               CAST((SELECT count(DISTINCT l.digest_id) FROM links l WHERE l.url = t.url) AS INTEGER) AS digests,
               CAST((SELECT min(d.year) FROM links l JOIN digests d ON d.id = l.digest_id WHERE l.url = t.url)
                    AS INTEGER) AS year
        FROM link_targets t""",
    ),
)


def _years_of_digests(db: Database) -> None:
    db.execute(
        "UPDATE digests SET year = CAST(substr(coalesce(published, issue_date), 1, 4) AS INTEGER) "
        "WHERE coalesce(published, issue_date) IS NOT NULL"
    )


def _pages_were_html(db: Database) -> None:
    db.execute("UPDATE pages SET source = 'html' WHERE source IS NULL")


def _slugs_of_editions(db: Database) -> None:
    # Editions matched by an older version get their slugs and classed conflicts (their `updated` is left
    # alone: nothing a reader sees has changed).
    refresh_all_editions(db)


def _link_checks_counted_as_checks(db: Database) -> None:
    # Link checks of older versions counted their checks as posts fetched.
    db.execute("UPDATE crawl_runs SET links_checked = posts_fetched, posts_fetched = 0 WHERE mode = 'links'")


def _archives_became_listings(db: Database) -> None:
    # The declarations made `listings` empty; the rows of the table's old name move into it, then the old
    # table goes (nothing refers to it: no foreign key, no view).
    if "archives" not in db.table_names():
        return  # schema 1 or 2: no index records yet
    columns = [column for column in db.table("archives").columns_dict if column in db.table("listings").columns_dict]
    names = ", ".join(f"[{column}]" for column in columns)
    db.execute(f"INSERT INTO listings ({names}) SELECT {names} FROM archives")
    db.execute("DROP TABLE archives")


# Applied in order to an archive of an older version, inside one transaction (`ensure_schema`).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "digests, digest_urls, entries, links, digest_revisions, crawl_runs, failures (first release)"),
    Migration(
        2,
        "pages (every fetched post page, compressed, with its HTTP validators), digests.year, "
        "failures.http_status, crawl_runs.rechecked / not_modified / failure_kinds",
        _years_of_digests,
    ),
    Migration(
        3,
        "archives (per start URL: the site's REST API, listing object, feed and its validators, the last sync; "
        "listings since schema 12), "
        "digests.modified / gone, pages.source, crawl_runs.index_used / index_note; editions (one digest across "
        "sites), digests.edition_id / edition_checked",
        _pages_were_html,
    ),
    Migration(
        4,
        "editions.slug (the edition's lasting address: its number, else its issue date; unique), "
        "editions.conflicts_between_sites / conflicts_within_post",
        _slugs_of_editions,
    ),
    Migration(
        5,
        "the full-text triggers on update fire only when an indexed column changes (matching sets "
        "digests.edition_id without re-indexing titles); indexes for the reader's orders (editions by day and "
        "slug, a site's digests by day and id)",
    ),
    Migration(
        6,
        "link health: link_targets (one row per distinct link, its state), link_checks (one row per check), "
        "the link_health view; an index on links.url",
    ),
    Migration(
        7,
        "indexes for the reader's pages at 10,000 posts: editions by first publication (the editions table's "
        "order), digests by day, id and number (the out-of-order check's window reads only the index), digests "
        "by number and edition (the reused-numbers check)",
    ),
    Migration(
        8,
        "the link_health view's computed columns (dead, digests, year) typed INTEGER, so that Datasette's "
        "filters find the rows its facets count",
    ),
    Migration(
        9,
        "crawl_runs.links_checked: a link check's checks, no longer counted as posts_fetched",
        _link_checks_counted_as_checks,
    ),
    Migration(
        10,
        "recovery from web archives: digests.recovered_from / captured_at / memento_url (a recovered digest's "
        "provenance), the same on digest_revisions (a version read from a capture), web_captures (every capture "
        "read, so that none is fetched twice)",
    ),
    Migration(
        11,
        "sites: what each site calls itself (its REST root's name, og:site_name or its titles' suffix) and the "
        "operator's DIGEST_SITE_NAMES, which the reader shows instead of a host and port",
    ),
    Migration(
        12,
        "the table `archives` renamed `listings` (a WordPress category, tag or author listing's index record; "
        '"archive" names the SQLite file only)',
        _archives_became_listings,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

# The tables a database must have to be this project's archive.
ARCHIVE_TABLES = tuple(table.name for table in TABLES)
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

    Migrations are additive: missing tables, columns, indexes and views are made from the declarations,
    then each later version's fill brings the rows up to date, all in one transaction, so an interrupted
    migration leaves the old schema intact. The version is written last, after the full-text indexes.
    """
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise ArchiveError(f"archive schema {version} is newer than this digest-archive ({SCHEMA_VERSION}): upgrade")
    if version == SCHEMA_VERSION and set(ARCHIVE_TABLES) <= set(db.table_names()):
        return
    with db.atomic():
        for table in TABLES:
            _ensure_table(db, table)
        for view in VIEWS:  # replaced when its declaration changed (a view holds no rows)
            db.create_view(view.name, view.select, replace=True)
        # A new archive has no rows to bring up to date.
        for migration in MIGRATIONS:
            if 0 < version < migration.version and migration.fill is not None:
                migration.fill(db)
    # sqlite-utils makes a full-text index with executescript, which commits: a transaction of its own.
    for table in TABLES:
        if table.full_text:
            _ensure_full_text(db, table)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _ensure_table(db: Database, table: Table) -> None:
    """Create a table, or add the columns an older schema lacks (with their foreign keys and defaults);
    then its indexes."""
    existing = db.table(table.name)
    if existing.exists():
        present = existing.columns_dict
        for column, kind in table.columns.items():
            if column not in present:
                _add_column(db, table, column, kind)
    else:
        existing.create(
            dict(table.columns),
            pk=table.pk,
            not_null=set(table.not_null),
            foreign_keys=list(table.foreign_keys),
            defaults=dict(table.defaults),
        )
    for index in table.indexes:
        if index.name is None:
            existing.create_index(list(index.columns), unique=index.unique, if_not_exists=True)
        else:
            unique = "UNIQUE " if index.unique else ""
            db.execute(
                f"CREATE {unique}INDEX IF NOT EXISTS [{index.name}] ON [{table.name}] ({', '.join(index.columns)})"
            )


def _add_column(db: Database, table: Table, column: str, kind: type) -> None:
    reference = next(((other, key) for name, other, key in table.foreign_keys if name == column), None)
    if reference is None and column not in table.defaults:
        db.table(table.name).add_column(column, kind)
        return
    # ALTER TABLE keeps the table (sqlite-utils' add_foreign_key rebuilds it, and the full-text index's
    # triggers on it would be lost).
    sql = f"ALTER TABLE [{table.name}] ADD COLUMN [{column}] {COLUMN_TYPE_MAPPING[kind]}"
    if reference is not None:
        sql += f" REFERENCES [{reference[0]}]([{reference[1]}])"
    if column in table.defaults:
        sql += f" DEFAULT {db.quote_default_value(table.defaults[column])}"  # type: ignore[arg-type]
    db.execute(sql)


def _ensure_full_text(db: Database, table: Table) -> None:
    """The table's full-text index with sqlite-utils' triggers, the update trigger narrowed (schema 5)."""
    if not db.table(table.name).detect_fts():
        db.table(table.name).enable_fts(list(table.full_text), create_triggers=True, tokenize="porter")
    trigger = _update_trigger(table)
    stored = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [f"{table.name}_au"]
    ).fetchone()
    if stored is None or stored[0] != trigger:
        with db.atomic():
            db.execute(f"DROP TRIGGER IF EXISTS [{table.name}_au]")
            db.execute(trigger)


def _update_trigger(table: Table) -> str:
    """The full-text index's update trigger, as sqlite-utils names it, fired only when what it indexes
    changes: UPDATE OF names the columns, WHEN compares the values (a digest re-saved with the same title
    keeps its index entry). Its name stays (the tests and older tools look for `digests_au`)."""
    name, columns = table.name, table.full_text
    names = ", ".join(f"[{column}]" for column in columns)
    old_values = ", ".join(f"old.[{column}]" for column in columns)
    new_values = ", ".join(f"new.[{column}]" for column in columns)
    changed = " OR ".join(f"old.[{column}] IS NOT new.[{column}]" for column in columns)
    return (
        f"CREATE TRIGGER [{name}_au] AFTER UPDATE OF {names} ON [{name}] WHEN {changed} BEGIN\n"
        f"  INSERT INTO [{name}_fts] ([{name}_fts], rowid, {names}) VALUES('delete', old.rowid, {old_values});\n"
        f"  INSERT INTO [{name}_fts] (rowid, {names}) VALUES (new.rowid, {new_values});\n"
        "END"
    )
