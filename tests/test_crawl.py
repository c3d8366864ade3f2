"""The real spider against the fixture site over HTTP on 127.0.0.1; assertions on the database rows.

The expected values come from the fixture archive's own model (`fixtures/site.py`), not from the parser.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from html import unescape
from pathlib import Path

import pytest

from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, TAG_PATH

from .conftest import assert_clean_run, rows, run_crawl


@pytest.fixture()
def backfilled(tmp_path, fixture_server):
    """One backfill of the whole fixture archive, shared by the assertions below."""
    database = tmp_path / "archive.db"
    result = run_crawl(fixture_server.url(CATEGORY_PATH), database, "-a", "mode=backfill")
    assert_clean_run(result)
    return database, result


def test_backfill_stores_every_digest_once_with_its_entries_and_links(backfilled, fixture_posts):
    database, _ = backfilled
    expected = {post.post_id: post for post in fixture_posts if post.stored}
    stored = {row["post_id"]: row for row in rows(database, "SELECT * FROM digests")}
    assert sorted(stored) == sorted(expected)
    assert len(expected) >= 30

    for post_id, post in expected.items():
        row = stored[post_id]
        assert row["number"] == post.number, post.title
        assert row["title"] == unescape(post.title)
        assert row["published"] == post.published.isoformat(), post.title
        assert row["dateline"] == post.dateline
        assert row["headline"] == post.subheadline
        assert row["issue_date"] is None
        entries = rows(database, "SELECT e.section, (SELECT count(*) FROM links l WHERE l.entry_id = e.id) AS links "
                                 "FROM entries e WHERE digest_id = ? ORDER BY position", [row["id"]])
        assert [e["section"] for e in entries] == [e.section for e in post.entries], post.title
        assert [e["links"] for e in entries] == [e.stored_link_count() for e in post.entries], post.title
        assert row["entry_count"] == len(post.entries)


def test_backfill_keeps_the_quirks_as_published(backfilled):
    database, _ = backfilled
    numbers = Counter(row["number"] for row in rows(database, "SELECT number FROM digests"))
    assert numbers[213] == 2  # two different posts titled 213: both kept
    assert numbers[167] == 1 and numbers[196] == 0  # the 167 where 196 belongs is not "fixed"
    assert numbers[211] == numbers[212] == 0
    old = rows(database, "SELECT number, title FROM digests WHERE number IN (6, 7, 54) ORDER BY number")
    assert [r["title"] for r in old] == ["Iran-Interlink Weekly Digest- 6", "Iran Interlink Weekly Digest -7",
                                         "Iran Interlink Weekly Digest -54"]
    cp1252 = rows(database, "SELECT text FROM digests WHERE number = 186")[0]["text"]
    assert "\u2019" in cp1252 and "\ufffd" not in cp1252
    tweet = rows(database, "SELECT e.text FROM entries e JOIN digests d ON d.id = e.digest_id "
                           "WHERE d.number = 208 AND e.text LIKE '%pic.twitter.com%'")
    assert len(tweet) == 1 and "(@ma_khodabandeh) June 8, 2021" in tweet[0]["text"]


def test_backfill_has_no_duplicates_and_a_sound_database(backfilled):
    database, _ = backfilled
    assert rows(database, "SELECT count(*) AS n FROM digests")[0]["n"] == \
        rows(database, "SELECT count(DISTINCT url_key) AS n FROM digests")[0]["n"] == \
        rows(database, "SELECT count(DISTINCT post_id) AS n FROM digests")[0]["n"]
    connection = sqlite3.connect(database)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    # Nothing from the theme became an entry or a link.
    for chrome in ("You may also like", "Leave a Comment", "Random Article", "weekly digest", "Recent Posts"):
        assert connection.execute("SELECT count(*) FROM entries WHERE text = ? OR text LIKE ?",
                                  [chrome, f"{chrome}%"]).fetchone()[0] == 0, chrome
    assert connection.execute("SELECT count(*) FROM links WHERE url LIKE '%sharer%' OR url LIKE 'javascript:%' "
                              "OR url LIKE 'mailto:%' OR url LIKE '%utm_%' OR url LIKE '%#%'").fetchone()[0] == 0
    assert connection.execute("SELECT count(*) FROM entries WHERE text LIKE '++%'").fetchone()[0] == 0
    connection.close()


def test_backfill_records_broken_pages_as_failures_and_the_run(backfilled, fixture_posts):
    database, _ = backfilled
    gone = next(p for p in fixture_posts if p.status == 404)
    broken = next(p for p in fixture_posts if p.broken)
    failures = {row["url_key"].split("/", 1)[1]: row for row in rows(database, "SELECT * FROM failures")}
    assert sorted(failures) == sorted([gone.path.lstrip("/"), broken.path.lstrip("/")])
    assert failures[gone.path.lstrip("/")]["kind"] == "http_status"
    assert "404" in failures[gone.path.lstrip("/")]["message"]
    assert failures[broken.path.lstrip("/")]["kind"] == "parse_error"
    run = rows(database, "SELECT * FROM crawl_runs")
    assert len(run) == 1
    stored = sum(1 for p in fixture_posts if p.stored)
    assert (run[0]["mode"], run[0]["status"], run[0]["new"], run[0]["failed"], run[0]["listing_pages"]) == \
        ("backfill", "finished", stored, 2, 4)
    assert run[0]["posts_listed"] == len(fixture_posts)


def test_each_post_is_requested_once_whatever_form_the_listing_used(tmp_path, fixture_server, fixture_posts):
    result = run_crawl(fixture_server.url(CATEGORY_PATH), tmp_path / "a.db", "-a", "mode=backfill")
    assert_clean_run(result)
    requested = [r for r in fixture_server.page_requests() if "/posts/" in r]
    # AMP, /amp, ?utm_, ?random-post=1, ?=1, http://nejatngo.org, and the repeated listing entry: one request each.
    assert sorted(requested) == sorted(p.path for p in fixture_posts)


def test_refresh_after_backfill_downloads_only_the_first_listing_page(backfilled, fixture_server):
    database, _ = backfilled
    fixture_server.clear_requests()
    result = run_crawl(fixture_server.url(CATEGORY_PATH), database)  # mode=refresh is the default
    assert_clean_run(result)
    assert fixture_server.full_downloads() == [CATEGORY_PATH]
    # The newest digests are re-checked for edits with conditional requests only (304, no body).
    assert len(fixture_server.not_modified()) == 3
    assert fixture_server.requests.count("/robots.txt") <= 1
    last = rows(database, "SELECT mode, status, new, listing_pages FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert last == {"mode": "refresh", "status": "finished", "new": 0, "listing_pages": 1}


def test_refresh_of_an_empty_archive_walks_to_the_end(tmp_path, fixture_server, fixture_posts):
    database = tmp_path / "fresh.db"
    assert_clean_run(run_crawl(fixture_server.url(CATEGORY_PATH), database))
    assert rows(database, "SELECT count(*) AS n FROM digests")[0]["n"] == sum(p.stored for p in fixture_posts)


def test_a_tag_archive_then_the_category_fetch_each_post_once(tmp_path, fixture_server, fixture_posts):
    database = tmp_path / "archive.db"
    assert_clean_run(run_crawl(fixture_server.url(TAG_PATH + "/"), database, "-a", "mode=backfill"))
    tagged = rows(database, "SELECT count(*) AS n FROM digests")[0]["n"]
    assert tagged == 8
    assert [r for r in fixture_server.page_requests() if "/tag/" in r] == [TAG_PATH + "/", TAG_PATH + "/page/2/"]

    fixture_server.clear_requests()
    assert_clean_run(run_crawl(fixture_server.url(CATEGORY_PATH), database, "-a", "mode=backfill"))
    fetched = [r for r in fixture_server.page_requests() if "/posts/" in r]
    assert len(fetched) == len(fixture_posts) - tagged
    assert rows(database, "SELECT count(*) AS n FROM digests")[0]["n"] == sum(p.stored for p in fixture_posts)


@pytest.mark.parametrize("args,message", [
    (["-a", "mode=everything"], "unknown mode 'everything'"),
    (["-a", "start_url=ftp://example.org/archive"], "start_url must be an http(s) URL"),
])
def test_bad_arguments_fail_with_one_line_before_any_request(tmp_path, fixture_server, args, message):
    result = run_crawl(fixture_server.url(CATEGORY_PATH), tmp_path / "a.db", *args)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in result.stderr
    assert fixture_server.requests == []
    assert not (tmp_path / "a.db").exists()


def test_a_database_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, fixture_server):
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n")
    result = run_crawl(fixture_server.url(CATEGORY_PATH), notes)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(errors) == 1 and "not a SQLite database" in errors[0]
    assert notes.read_text() == "not a database\n"
    assert fixture_server.requests == []


def test_an_unwritable_database_path_is_refused_with_one_line(tmp_path, fixture_server):
    # /proc accepts no new files, even for root (who ignores file permissions).
    result = run_crawl(fixture_server.url(CATEGORY_PATH), Path("/proc/digest-archive-test.db"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(errors) == 1 and "/proc/digest-archive-test.db" in errors[0]
    assert "Traceback" not in result.stderr and fixture_server.requests == []


def test_an_iran_interlink_author_archive_is_crawled_end_to_end(tmp_path):
    """Another layout over real HTTP: slug permalinks, author archive with its query, dated titles."""
    from fixtures.interlink import AUTHOR_ARCHIVE, interlink_site

    database = tmp_path / "interlink.db"
    with FixtureServer(interlink_site()) as server:
        assert_clean_run(run_crawl(server.url(AUTHOR_ARCHIVE), database, "-a", "mode=backfill"))
        listing_requests = [r for r in server.page_requests() if "/author/" in r]
        assert listing_requests == [AUTHOR_ARCHIVE, "/wordpress/author/page/2/?author=khodaadmin&authorid=1"]
        stored = rows(database, "SELECT title, number, issue_date, headline, published, dateline, entry_count "
                                "FROM digests ORDER BY issue_date")
        assert stored == [
            {"title": "Iran Interlink Weekly Digest \u2013 September 20, 2019", "number": None,
             "issue_date": "2019-09-20", "headline": None, "published": "2019-09-21",
             "dateline": "Iran Interlink, September 20 2019", "entry_count": 5},
            {"title": "covid-19 MEK Albania (Iran Interlink Weekly Digest \u2013 Apr 24, 2020)", "number": None,
             "issue_date": "2020-04-24", "headline": "covid-19 MEK Albania", "published": "2020-04-24",
             "dateline": "Iran Interlink, April 24 2020", "entry_count": 3},
            {"title": "Rajavi\u2019s Albanian Problem \u2013 Iran Interlink Weekly Digest \u2013 Sep 10, 2021",
             "number": None, "issue_date": "2021-09-10", "headline": "Rajavi\u2019s Albanian Problem",
             "published": "2021-09-11", "dateline": "Iran Interlink, September 10 2021", "entry_count": 4},
        ]
        # The "About" post is not a digest; "MEK and Lebanon" is listed but gone (404).
        failures = rows(database, "SELECT url, kind FROM failures")
        assert [(f["url"].split("/wordpress/")[1], f["kind"]) for f in failures] == [("mek-and-lebanon/", "http_status")]
        # The /embed/ and tracked forms were fetched as the plain posts, once each.
        posts = [r for r in server.page_requests() if "/author/" not in r]
        assert sorted(posts) == sorted(["/wordpress/rajavis-albanian-problem-iran-interlink-weekly-digest-sep-10-2021/",
                                        "/wordpress/covid-19-mek-albania/", "/wordpress/mek-and-lebanon/",
                                        "/wordpress/iran-interlink-weekly-digest-september-20-2019/"])

        server.clear_requests()
        assert_clean_run(run_crawl(server.url(AUTHOR_ARCHIVE), database))
        assert server.full_downloads() == [AUTHOR_ARCHIVE]
