"""The real spider against the fixture site over HTTP on 127.0.0.1; assertions on the database rows.

The expected values come from the fixture archive's own model (`fixtures/site.py`), not from the parser.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from html import unescape
from pathlib import Path

from fixtures.expected import expected_entries
from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, ORIGIN_FORMS

from .conftest import assert_clean_run, rows, run_crawl


def test_backfill_stores_every_digest_once_with_its_entries_and_links(backfilled_archive, site_server, fixture_posts):
    database = backfilled_archive
    expected = {post.post_id: post for post in fixture_posts if post.stored}
    stored = {row["post_id"]: row for row in rows(database, "SELECT * FROM digests")}
    assert sorted(stored) == sorted(expected)
    assert len(expected) >= 30
    origins = dict.fromkeys(ORIGIN_FORMS, site_server.base_url)

    for post_id, post in expected.items():
        row = stored[post_id]
        assert row["number"] == post.number, post.title
        assert row["title"] == unescape(post.title)
        assert row["published"] == post.published.isoformat(), post.title
        assert row["dateline"] == post.dateline
        assert row["headline"] == post.subheadline
        assert row["issue_date"] is None
        entries = rows(
            database, "SELECT id, section, text FROM entries WHERE digest_id = ? ORDER BY position", [row["id"]]
        )
        actual = [
            (
                e["section"],
                e["text"],
                tuple(
                    link["url"]
                    for link in rows(database, "SELECT url FROM links WHERE entry_id = ? ORDER BY position", [e["id"]])
                ),
            )
            for e in entries
        ]
        wanted = [(e.section, e.text, e.links) for e in expected_entries(post, row["url"], origins)]
        assert actual == wanted, post.title
        assert row["entry_count"] == len(post.entries)


def test_backfill_keeps_the_quirks_as_published(backfilled_archive):
    database = backfilled_archive
    numbers = Counter(row["number"] for row in rows(database, "SELECT number FROM digests"))
    assert numbers[213] == 2  # two different posts titled 213: both kept
    assert numbers[167] == 1 and numbers[196] == 0  # the 167 where 196 belongs is not "fixed"
    assert numbers[211] == numbers[212] == 0
    old = rows(database, "SELECT number, title FROM digests WHERE number IN (6, 7, 54) ORDER BY number")
    assert [r["title"] for r in old] == [
        "Iran-Interlink Weekly Digest- 6",
        "Iran Interlink Weekly Digest -7",
        "Iran Interlink Weekly Digest -54",
    ]
    cp1252 = rows(database, "SELECT text FROM digests WHERE number = 186")[0]["text"]
    assert "\u2019" in cp1252 and "\ufffd" not in cp1252
    tweet = rows(
        database,
        "SELECT e.text FROM entries e JOIN digests d ON d.id = e.digest_id "
        "WHERE d.number = 208 AND e.text LIKE '%pic.twitter.com%'",
    )
    assert len(tweet) == 1 and "(@ma_khodabandeh) June 8, 2021" in tweet[0]["text"]


def test_backfill_has_no_duplicates_and_a_sound_database(backfilled_archive):
    database = backfilled_archive
    # One digest per WordPress post (url_key is unique by the schema; post ids are what a duplicate shares).
    assert (
        rows(database, "SELECT count(*) AS n FROM digests")[0]["n"]
        == rows(database, "SELECT count(DISTINCT post_id) AS n FROM digests")[0]["n"]
    )
    connection = sqlite3.connect(database)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    # Nothing from the theme became an entry or a link.
    for chrome in ("You may also like", "Leave a Comment", "Random Article", "weekly digest", "Recent Posts"):
        assert (
            connection.execute(
                "SELECT count(*) FROM entries WHERE text = ? OR text LIKE ?", [chrome, f"{chrome}%"]
            ).fetchone()[0]
            == 0
        ), chrome
    assert (
        connection.execute(
            "SELECT count(*) FROM links WHERE url LIKE '%sharer%' OR url LIKE 'javascript:%' "
            "OR url LIKE 'mailto:%' OR url LIKE '%utm_%' OR url LIKE '%#%'"
        ).fetchone()[0]
        == 0
    )
    assert connection.execute("SELECT count(*) FROM entries WHERE text LIKE '++%'").fetchone()[0] == 0
    connection.close()


def test_backfill_records_broken_pages_as_failures_and_the_run(backfilled_archive, fixture_posts):
    database = backfilled_archive
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
    assert (run[0]["mode"], run[0]["status"], run[0]["new"], run[0]["failed"], run[0]["listing_pages"]) == (
        "backfill",
        "finished",
        stored,
        2,
        4,
    )
    assert run[0]["posts_listed"] == len(fixture_posts)


def test_each_post_is_requested_once_whatever_form_the_listing_used(backfilled_template, fixture_posts):
    requested = [r for r in backfilled_template.requests if "/posts/" in r]
    # AMP, /amp, ?utm_, ?random-post=1, ?=1, http://nejatngo.org, and the repeated listing entry: one request each.
    assert sorted(requested) == sorted(p.path for p in fixture_posts)


def test_refresh_after_backfill_downloads_only_the_first_listing_page(backfilled_archive, site_server):
    database = backfilled_archive
    result = run_crawl(site_server.url(CATEGORY_PATH), database)  # mode=refresh is the default
    assert_clean_run(result)
    assert site_server.full_downloads() == [CATEGORY_PATH]
    # The newest digests are re-checked for edits with conditional requests only (304, no body).
    assert len(site_server.not_modified()) == 3
    assert site_server.requests.count("/robots.txt") <= 1
    last = rows(database, "SELECT mode, status, new, listing_pages FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert last == {"mode": "refresh", "status": "finished", "new": 0, "listing_pages": 1}


def test_a_bad_argument_fails_with_one_line_before_any_request(tmp_path, site_server):
    # Every bad argument is checked in-process (test_digests_spider_navigation.py); this is the real
    # command's exit code.
    args, message = ["-a", "mode=everything"], "unknown mode 'everything'"
    result = run_crawl(site_server.url(CATEGORY_PATH), tmp_path / "a.db", *args)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in result.stderr
    assert site_server.requests == []
    assert not (tmp_path / "a.db").exists()


def test_a_database_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, site_server):
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n")
    result = run_crawl(site_server.url(CATEGORY_PATH), notes)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(errors) == 1 and "not a SQLite database" in errors[0]
    assert notes.read_text() == "not a database\n"
    assert site_server.requests == []


def test_an_unwritable_database_path_is_refused_with_one_line(tmp_path, site_server):
    # /proc accepts no new files, even for root (who ignores file permissions).
    result = run_crawl(site_server.url(CATEGORY_PATH), Path("/proc/digest-archive-test.db"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(errors) == 1 and "/proc/digest-archive-test.db" in errors[0]
    assert "Traceback" not in result.stderr and site_server.requests == []


def test_an_iran_interlink_author_listing_is_crawled_end_to_end(tmp_path):
    """Another layout over real HTTP: slug permalinks, author listing with its query, dated titles."""
    from fixtures.interlink import AUTHOR_LISTING, interlink_site

    database = tmp_path / "interlink.db"
    with FixtureServer(interlink_site()) as server:
        assert_clean_run(run_crawl(server.url(AUTHOR_LISTING), database, "-a", "mode=backfill"))
        listing_requests = [r for r in server.page_requests() if "/author/" in r]
        assert listing_requests == [AUTHOR_LISTING, "/wordpress/author/page/2/?author=khodaadmin&authorid=1"]
        stored = rows(
            database,
            "SELECT title, number, issue_date, headline, published, dateline, entry_count "
            "FROM digests ORDER BY issue_date",
        )
        assert stored == [
            {
                "title": "Iran Interlink Weekly Digest \u2013 September 20, 2019",
                "number": None,
                "issue_date": "2019-09-20",
                "headline": None,
                "published": "2019-09-21",
                "dateline": "Iran Interlink, September 20 2019",
                "entry_count": 5,
            },
            {
                "title": "covid-19 MEK Albania (Iran Interlink Weekly Digest \u2013 Apr 24, 2020)",
                "number": None,
                "issue_date": "2020-04-24",
                "headline": "covid-19 MEK Albania",
                "published": "2020-04-24",
                "dateline": "Iran Interlink, April 24 2020",
                "entry_count": 3,
            },
            {
                "title": "Rajavi\u2019s Albanian Problem \u2013 Iran Interlink Weekly Digest \u2013 Sep 10, 2021",
                "number": None,
                "issue_date": "2021-09-10",
                "headline": "Rajavi\u2019s Albanian Problem",
                "published": "2021-09-11",
                "dateline": "Iran Interlink, September 10 2021",
                "entry_count": 4,
            },
        ]
        # The "About" post is not a digest; "MEK and Lebanon" is listed but gone (404).
        failures = rows(database, "SELECT url, kind FROM failures")
        assert [(f["url"].split("/wordpress/")[1], f["kind"]) for f in failures] == [
            ("mek-and-lebanon/", "http_status")
        ]
        # The /embed/ and tracked forms were fetched as the plain posts, once each.
        posts = [r for r in server.page_requests() if "/author/" not in r]
        assert sorted(posts) == sorted(
            [
                "/wordpress/rajavis-albanian-problem-iran-interlink-weekly-digest-sep-10-2021/",
                "/wordpress/covid-19-mek-albania/",
                "/wordpress/mek-and-lebanon/",
                "/wordpress/iran-interlink-weekly-digest-september-20-2019/",
            ]
        )

        server.clear_requests()
        assert_clean_run(run_crawl(server.url(AUTHOR_LISTING), database))
        assert server.full_downloads() == [AUTHOR_LISTING]


def test_the_crawl_ends_with_its_verdict_in_one_line(backfilled_template):
    lines = [line for line in backfilled_template.log.splitlines() if line.strip()]
    assert "Verdict of scrapy crawl digests: exit 0, done" in lines[-1], lines[-3:]
    assert sum("Verdict of scrapy crawl" in line for line in lines) == 1


def test_a_failed_crawl_says_so_in_its_last_line(tmp_path, site_server):
    # A listing the fixture site does not have (404): the run fails because of the site.
    result = run_crawl(site_server.url("/en/topic/no-such-listing"), tmp_path / "a.db", "-s", "RETRY_TIMES=0")
    assert result.returncode == 1
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert "Verdict of scrapy crawl digests: exit 1, the run failed because of the site" in last, last
