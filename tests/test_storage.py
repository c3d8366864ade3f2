"""Storage against a real SQLite file: new, unchanged and changed digests, atomicity, refusal of foreign files."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

import storage
from core.items import Digest, Entry, Link, PageFailure
from core.ledger import RUN_COUNTS, RunCounts

DATA = Path(__file__).parent / "data"


def make_digest(number=200, text="First entry.", url="https://www.nejatngo.org/en/posts/7303", post_id=7303):
    return Digest(
        url=url,
        site="nejatngo.org",
        post_id=post_id,
        title=f"Iran Interlink Weekly Digest \u2013 {number}",
        number=number,
        headline=None,
        issue_date=None,
        published="2017-08-25",
        dateline="Iran Interlink, August 25 2017",
        entries=(
            Entry(None, text, f"<p>{text}</p>", (Link("https://example.com/a", "a", "example.com"),)),
            Entry("In English", "Second entry.", "<p>Second entry.</p>", ()),
        ),
        source_urls=(url + "?amp=1",),
    )


@pytest.fixture()
def db(tmp_path):
    database = storage.open_database(tmp_path / "archive.db")
    yield database
    database.close()


def count(db, table):
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_new_digest_writes_digest_entries_links_and_urls(db):
    assert storage.save_digest(db, make_digest()) == storage.NEW
    row = db.execute("SELECT number, entry_count, link_count, text FROM digests").fetchone()
    assert row == (200, 2, 1, "First entry.\n\nSecond entry.")
    assert [r[0] for r in db.execute("SELECT section FROM entries ORDER BY position")] == [None, "In English"]
    assert db.execute("SELECT url, domain, position FROM links").fetchall() == [
        ("https://example.com/a", "example.com", 1)
    ]
    assert storage.known_post_keys(db) == {"nejatngo.org/en/posts/7303"}


def test_same_digest_again_is_unchanged_and_gets_no_revision(db):
    storage.save_digest(db, make_digest(), now="2024-01-01T00:00:00+00:00")
    assert storage.save_digest(db, make_digest(), now="2024-02-01T00:00:00+00:00") == storage.UNCHANGED
    assert count(db, "digests") == 1 and count(db, "entries") == 2 and count(db, "digest_revisions") == 0
    assert db.execute("SELECT last_seen, last_changed FROM digests").fetchone() == (
        "2024-02-01T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
    )


def test_changed_digest_is_replaced_in_place_and_the_old_version_kept(db):
    storage.save_digest(db, make_digest(text="Old text."))
    digest_id = db.execute("SELECT id FROM digests").fetchone()[0]
    assert storage.save_digest(db, make_digest(text="Corrected text.")) == storage.CHANGED
    assert db.execute("SELECT id, text FROM digests").fetchall() == [(digest_id, "Corrected text.\n\nSecond entry.")]
    assert count(db, "entries") == 2 and count(db, "links") == 1
    assert db.execute("SELECT text FROM digest_revisions").fetchall() == [("Old text.\n\nSecond entry.",)]
    # Full-text search follows the change.
    assert db.execute("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'corrected'").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'old'").fetchone()[0] == 0


def test_the_same_post_under_another_url_is_found_by_post_id(db):
    storage.save_digest(db, make_digest())
    other_url = replace(make_digest(), url="https://www.nejatngo.org/?p=7303", source_urls=())
    assert storage.save_digest(db, other_url) == storage.UNCHANGED
    assert count(db, "digests") == 1
    assert "nejatngo.org/?p=7303" in storage.known_post_keys(db)


def test_two_posts_with_one_number_are_both_kept(db):
    storage.save_digest(db, make_digest(213, url="https://www.nejatngo.org/en/posts/7459", post_id=7459))
    storage.save_digest(db, make_digest(213, url="https://www.nejatngo.org/en/posts/7463", post_id=7463))
    assert db.execute("SELECT count(*) FROM digests WHERE number = 213").fetchone()[0] == 2


def test_a_digest_that_fails_half_way_leaves_nothing_behind(db):
    storage.save_digest(db, make_digest(199, url="https://www.nejatngo.org/en/posts/7291", post_id=7291))
    # A link without a URL breaks a NOT NULL constraint after the digest and first entry were written.
    broken = make_digest()
    broken = replace(broken, entries=(broken.entries[0], Entry(None, "x", "<p>x</p>", (Link(None, "x", "x"),))))
    with pytest.raises(sqlite3.IntegrityError):
        storage.save_digest(db, broken)
    assert [r[0] for r in db.execute("SELECT number FROM digests")] == [199]
    assert count(db, "entries") == 2 and count(db, "links") == 1 and count(db, "digest_urls") == 1
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


NOW = "2026-01-02T03:04:05+00:00"


def numbered(number):
    return make_digest(
        number, text=f"Entry of digest {number}.", url=f"https://www.nejatngo.org/en/posts/{number}", post_id=number
    )


def half_broken(number):
    """A digest whose second entry's link has no URL: the digest row and its first entry are written before
    the link breaks a NOT NULL constraint."""
    digest = numbered(number)
    return replace(digest, entries=(digest.entries[0], Entry(None, "x", "<p>x</p>", (Link(None, "x", "x"),))))


def archive_rows(db) -> dict[str, list]:
    """Every row a digest writes, full-text indexes included."""
    tables = ("digests", "digest_urls", "entries", "links", "failures", "digests_fts", "entries_fts")
    return {table: db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def assert_sound(db):
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    for table in ("digests_fts", "entries_fts"):  # raises when an index disagrees with its table
        db.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")


def write_all(db, writes) -> list:
    """Each write in one batch, as a crawl does; the errors raised, in order."""
    batch = storage.WriteBatch(db, max_items=50)
    errors = []
    for write in writes:
        try:
            batch.write(write)
        except Exception as error:  # noqa: BLE001 - what each write raised is the point
            errors.append(error)
    batch.commit()
    return errors


def save(digest):
    return lambda db: storage.save_digest(db, digest, NOW)


def test_a_digest_that_fails_in_a_batch_leaves_nothing_and_the_batch_keeps_every_other_write(tmp_path):
    # Writes in a batch have no savepoint each (it would flush the full-text index per digest): a failed
    # one is undone by rolling the batch back and writing the others again. The archive must end as if
    # the failed digest had never been written: the same rows, full-text indexes included.
    failed = storage.open_database(tmp_path / "failed.db")
    errors = write_all(failed, [save(numbered(201)), save(numbered(202)), save(half_broken(203)), save(numbered(204))])
    assert [type(error) for error in errors] == [sqlite3.IntegrityError]
    clean = storage.open_database(tmp_path / "clean.db")
    assert write_all(clean, [save(numbered(201)), save(numbered(202)), save(numbered(204))]) == []
    assert archive_rows(failed) == archive_rows(clean)
    assert [r[0] for r in failed.execute("SELECT number FROM digests ORDER BY id")] == [201, 202, 204]
    assert_sound(failed)


def test_a_write_that_rolls_back_the_whole_transaction_loses_no_other_write_of_the_batch(tmp_path):
    # RAISE(ROLLBACK) (like a full disk) ends SQLite's transaction itself, the batch's earlier writes with it.
    failed = storage.open_database(tmp_path / "failed.db")
    failed.execute(
        "CREATE TRIGGER refuse_203 BEFORE INSERT ON entries WHEN NEW.text LIKE '%203%' "
        "BEGIN SELECT RAISE(ROLLBACK, 'digest 203 refused'); END"
    )
    errors = write_all(failed, [save(numbered(201)), save(numbered(202)), save(numbered(203)), save(numbered(204))])
    assert [str(error) for error in errors] == ["digest 203 refused"]
    clean = storage.open_database(tmp_path / "clean.db")
    write_all(clean, [save(numbered(201)), save(numbered(202)), save(numbered(204))])
    assert archive_rows(failed) == archive_rows(clean)
    assert_sound(failed)


def test_an_exception_that_is_not_sqlites_leaves_nothing_of_its_write(db):
    def half_then_bug(db):
        storage.save_digest(db, numbered(202), NOW)
        raise RuntimeError("a bug after the digest was written")

    errors = write_all(db, [save(numbered(201)), half_then_bug, save(numbered(203))])
    assert [str(error) for error in errors] == ["a bug after the digest was written"]
    assert [r[0] for r in db.execute("SELECT number FROM digests ORDER BY id")] == [201, 203]
    assert_sound(db)


def test_a_batch_opens_no_savepoint_per_digest(db):
    # A savepoint makes FTS5 write out its pending terms: one per digest cost a full-text segment per
    # digest (bench figure 3). The batch's undo-and-redo keeps each digest atomic instead.
    statements = []
    db.conn.set_trace_callback(statements.append)
    write_all(db, [save(numbered(number)) for number in range(201, 206)])
    db.conn.set_trace_callback(None)
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    assert sum(sql.startswith("COMMIT") for sql in statements) == 1


def test_a_batch_commits_every_max_items_writes(db):
    batch = storage.WriteBatch(db, max_items=2)
    batch.write(save(numbered(201)))
    assert db.conn.in_transaction and batch.pending == 1
    batch.write(save(numbered(202)))
    assert not db.conn.in_transaction and batch.pending == 0
    batch.write(save(numbered(203)))
    batch.rollback()
    assert [r[0] for r in db.execute("SELECT number FROM digests ORDER BY id")] == [201, 202]


def test_runs_and_failures_are_recorded(db):
    run_id = storage.start_run(db, "backfill", "http://127.0.0.1/en/topic/x")
    storage.record_failure(db, run_id, PageFailure("http://127.0.0.1/en/posts/9", "http_status", "HTTP 404"))
    storage.finish_run(db, run_id, "finished", RunCounts(new=3, failed=1, listing_pages=2))
    assert db.execute("SELECT status, new, failed, listing_pages, changed FROM crawl_runs").fetchone() == (
        "finished",
        3,
        1,
        2,
        0,
    )
    assert db.execute("SELECT crawl_run_id, url_key, kind FROM failures").fetchone() == (
        run_id,
        "127.0.0.1/en/posts/9",
        "http_status",
    )


def test_schema_is_versioned_and_reopening_keeps_rows(tmp_path):
    path = tmp_path / "archive.db"
    first = storage.open_database(path)
    storage.save_digest(first, make_digest())
    first.close()
    again = storage.open_database(path)
    assert storage.schema.schema_version(again) == storage.SCHEMA_VERSION
    assert again.execute("SELECT count(*) FROM digests").fetchone()[0] == 1
    assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_crawl_runs_has_one_integer_column_per_run_count_and_finish_run_fills_each(db):
    run_id = storage.start_run(db, "refresh", "http://127.0.0.1/en/topic/x")
    counts = RunCounts(**{name: number for number, name in enumerate(RUN_COUNTS, start=1)})
    storage.finish_run(db, run_id, "finished", counts)
    columns = db["crawl_runs"].columns_dict
    assert {name: columns.get(name) for name in RUN_COUNTS} == dict.fromkeys(RUN_COUNTS, int)
    row = db.execute(f"SELECT {', '.join(RUN_COUNTS)} FROM crawl_runs WHERE id = ?", [run_id]).fetchone()
    assert row == tuple(range(1, len(RUN_COUNTS) + 1))


def _schema_of(path):
    """Each table's columns (type, not null, default, key) and foreign keys, each index's columns, each
    trigger, each view: what a query can tell of a schema (column order and the statements' spelling aside)."""
    connection = sqlite3.connect(path)
    schema = {"version": connection.execute("PRAGMA user_version").fetchone()[0]}
    for kind, name, table, sql in connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
        if kind == "table":
            columns = connection.execute(f"PRAGMA table_info([{name}])").fetchall()
            references = connection.execute(f"PRAGMA foreign_key_list([{name}])").fetchall()
            schema[name] = ({(c[1], c[2], c[3], c[4], c[5]) for c in columns}, {(r[2], r[3], r[4]) for r in references})
        elif kind == "index":
            info = connection.execute(f"PRAGMA index_xinfo([{name}])").fetchall()
            schema[name] = (table, [row[2] for row in info if row[5]])
        else:
            schema[name] = (table, sql if kind == "trigger" else None)
    connection.close()
    return schema


def test_an_archive_of_schema_1_is_migrated_to_the_schema_of_a_new_archive(tmp_path):
    storage.open_database(tmp_path / "new.db").close()
    shutil.copy(DATA / "archive_schema_v1.db", tmp_path / "old.db")
    storage.open_database(tmp_path / "old.db", create=False).close()
    new, old = _schema_of(tmp_path / "new.db"), _schema_of(tmp_path / "old.db")
    assert set(storage.ARCHIVE_TABLES) | {"link_health", "digests_fts", "entries_au"} <= set(new)
    assert old == new


def test_an_archive_of_schema_9_keeps_its_index_records_in_the_listings_table(tmp_path):
    """Schema 12 renamed `archives` (a WordPress listing's index record) to `listings`: a file the old code
    wrote opens with every row in the new table, and the old table gone."""
    path = tmp_path / "old.db"
    shutil.copy(DATA / "archive_schema_v9.db", path)
    with sqlite3.connect(path) as connection:
        before = connection.execute("SELECT * FROM archives ORDER BY start_url").fetchall()
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 9
    connection.close()
    assert len(before) == 2
    db = storage.open_database(path, create=False)
    assert db.execute("SELECT * FROM listings ORDER BY start_url").fetchall() == before
    assert "archives" not in db.table_names()
    assert db.execute("SELECT count(*) FROM digests").fetchone()[0] == 1
    record = storage.load_listing_record(db, "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest")
    assert record is not None and record.rest_usable and record.feed_etag == '"abc"' and record.modified_after
    db.close()
    new = tmp_path / "new.db"
    storage.open_database(new).close()
    assert _schema_of(path) == _schema_of(new)


def test_a_migration_that_fails_leaves_the_archive_at_its_older_schema(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(DATA / "archive_schema_v1.db", path)
    # Schema 2's fill sets every digest's year: this archive refuses it half-way through the migration.
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TRIGGER refuse_years BEFORE UPDATE OF year ON digests BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    connection.close()
    before = _schema_of(path)
    with pytest.raises(storage.ArchiveError, match="refused"):
        storage.open_database(path, create=False)
    assert _schema_of(path) == before
    assert before["version"] == 1 and "pages" not in before and "link_targets" not in before


def test_the_full_text_index_follows_titles_and_entries_and_nothing_else(db):
    storage.save_digest(db, make_digest())
    edition = db.execute("INSERT INTO editions (first_seen, updated) VALUES ('x', 'x')").lastrowid
    total_changes = db.conn.total_changes
    db.execute("UPDATE digests SET edition_id = ?, edition_checked = 'x'", [edition])
    db.execute("UPDATE digests SET title = title, headline = headline")  # named, but the same values
    # One change per statement: the update of the row, no delete and insert in the full-text index.
    assert db.conn.total_changes - total_changes == 2
    db.execute("UPDATE digests SET title = 'Iran Interlink Weekly Digest \u2013 Renamed'")
    db.execute("UPDATE entries SET text = 'Reworded entry.' WHERE position = 1")

    def found(table, word):
        return db.execute(f"SELECT count(*) FROM {table}_fts WHERE {table}_fts MATCH ?", [word]).fetchone()[0]

    assert (found("digests", "renamed"), found("digests", "200")) == (1, 0)
    assert (found("entries", "reworded"), found("entries", "first")) == (1, 0)


def test_an_archive_of_schema_4_gets_the_narrow_full_text_triggers(tmp_path):
    path = tmp_path / "archive.db"
    db = storage.open_database(path)
    storage.save_digest(db, make_digest())
    db.execute("DROP TRIGGER digests_au")
    db.execute(
        "CREATE TRIGGER digests_au AFTER UPDATE ON digests BEGIN INSERT INTO digests_fts (digests_fts, rowid, title, "
        "headline) VALUES('delete', old.rowid, old.title, old.headline); INSERT INTO digests_fts (rowid, title, "
        "headline) VALUES (new.rowid, new.title, new.headline); END"
    )
    db.execute("DROP INDEX editions_day_slug")
    db.execute("DROP INDEX idx_digests_published_id_number")  # schema 7's, made again on the way up
    db.execute("PRAGMA user_version = 4")
    db.close()
    db = storage.open_database(path)
    triggers = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    assert {"digests_ai", "digests_ad", "digests_au", "entries_ai", "entries_ad", "entries_au"} <= set(triggers)
    assert "UPDATE OF [title], [headline]" in triggers["digests_au"] and "WHEN" in triggers["digests_au"]
    assert "UPDATE OF [text]" in triggers["entries_au"]
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"editions_day_slug", "digests_site_day_id", "idx_digests_published_id_number"} <= indexes
    assert storage.schema.schema_version(db) == storage.SCHEMA_VERSION >= 7
    assert db.execute("SELECT count(*) FROM digests_fts WHERE digests_fts MATCH '200'").fetchone()[0] == 1
    db.close()


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my notes, not a database\n")
    with pytest.raises(storage.ArchiveError, match="not a SQLite database"):
        storage.open_database(path)
    assert path.read_text() == "my notes, not a database\n"


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    connection.close()
    with pytest.raises(storage.ArchiveError, match="not a digest archive"):
        storage.open_database(path)
    assert [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")] == ["accounts"]
