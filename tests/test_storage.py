"""Storage against a real SQLite file: new, unchanged and changed digests, atomicity, refusal of foreign files."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

import storage
from crawler.items import Digest, Entry, Link, PageFailure


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


def test_runs_and_failures_are_recorded(db):
    run_id = storage.start_run(db, "backfill", "http://127.0.0.1/en/topic/x")
    storage.record_failure(db, run_id, PageFailure("http://127.0.0.1/en/posts/9", "http_status", "HTTP 404"))
    storage.finish_run(db, run_id, "finished", storage.RunCounts(new=3, failed=1, listing_pages=2))
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
