"""When the site's theme changes under the parser, the run fails loudly and good data stays."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from fixtures.site import CATEGORY_PATH, build_site

from .conftest import assert_clean_run, rows, run_crawl
from .test_digests_spider_refresh import with_new_digest


def with_more_new_digests(posts, count):
    for _ in range(count):
        posts = with_new_digest(posts)
        posts[0].post_id += len(posts)  # distinct ids and paths
        posts[0].number = posts[1].number + 1
    return posts


@pytest.fixture()
def archive(site_server, backfilled_archive):
    return site_server, backfilled_archive


def last_run(database):
    return rows(database, "SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]


def test_posts_in_a_new_theme_fail_the_run_and_store_nothing(archive, fixture_posts):
    server, database = archive
    before = rows(database, "SELECT id, content_hash FROM digests ORDER BY id")
    posts = with_more_new_digests(fixture_posts, 3)
    server.publish(build_site(posts, js_posts=True))
    result = run_crawl(server.url(CATEGORY_PATH), database)
    assert result.returncode == 1, result.stderr[-3000:]
    run = last_run(database)
    assert run["status"] == "failed"
    assert "layout drift" in run["message"] and "3 of 3 downloaded posts" in run["message"]
    assert posts[0].path in run["message"]
    assert "Crawl run" in result.stderr and "failed: layout drift" in result.stderr
    assert rows(database, "SELECT id, content_hash FROM digests ORDER BY id") == before


def test_a_listing_that_names_no_posts_fails_the_run(archive, fixture_posts):
    server, database = archive
    server.publish(build_site(fixture_posts, js_listings=True))
    result = run_crawl(server.url(CATEGORY_PATH), database)
    assert result.returncode == 1
    run = last_run(database)
    assert run["status"] == "failed" and "listing page(s) named no digest posts" in run["message"]
    assert CATEGORY_PATH in run["message"]


def test_a_digest_that_lost_most_of_its_entries_does_not_replace_the_stored_one(archive, fixture_posts):
    server, database = archive
    posts = copy.deepcopy(fixture_posts)
    newest = next(p for p in posts if p.post_id == 7459)  # the 213 with five entries
    newest.entries = newest.entries[:1]
    newest.modified = newest.published + timedelta(days=3)
    before = rows(database, "SELECT content_hash, entry_count FROM digests WHERE post_id = 7459")[0]
    server.publish(build_site(posts))
    assert_clean_run(run_crawl(server.url(CATEGORY_PATH), database))
    assert rows(database, "SELECT content_hash, entry_count FROM digests WHERE post_id = 7459")[0] == before
    failure = rows(database, "SELECT kind, message FROM failures WHERE url_key LIKE '%/7459'")
    assert [f["kind"] for f in failure] == ["shrunk"] and "kept" in failure[0]["message"]


def test_an_unreadable_start_page_fails_the_run(tmp_path, site_server):
    result = run_crawl(site_server.url("/en/topic/no-such-archive"), tmp_path / "a.db")
    assert result.returncode == 1
    run = last_run(tmp_path / "a.db")
    assert run["status"] == "failed" and "could not be read" in run["message"] and "404" in run["message"]
