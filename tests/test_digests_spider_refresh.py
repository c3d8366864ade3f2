"""Scheduled refreshes: what they cost (counted at the fixture server) and how they notice edits."""

from __future__ import annotations

import copy
import sqlite3
from datetime import timedelta
from itertools import pairwise

import pytest

from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, FixturePost, build_site, generated_posts, next_digest

from .conftest import assert_clean_run, rows, run_crawl


def backfill(server: FixtureServer, database, *args: str) -> None:
    assert_clean_run(run_crawl(server.url(CATEGORY_PATH), database, "-a", "mode=backfill", *args))
    server.clear_requests()


def refresh(server: FixtureServer, database, *args: str) -> None:
    assert_clean_run(run_crawl(server.url(CATEGORY_PATH), database, *args))


def last_run(database) -> dict:
    return rows(database, "SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]


def with_new_digest(posts: list[FixturePost]) -> list[FixturePost]:
    return [next_digest(posts), *posts]


def edited(posts: list[FixturePost], index: int, text: str) -> list[FixturePost]:
    posts = copy.deepcopy(posts)
    posts[index].entries[0].paragraphs[0] = text
    posts[index].modified = posts[index].published + timedelta(days=30)  # WordPress bumps post_modified
    return posts


@pytest.fixture()
def archive(site_server, backfilled_archive):
    return site_server, backfilled_archive


@pytest.fixture()
def archive_without_validators(site_server, backfilled_archive):
    """A server that sends no ETag or Last-Modified (stock WordPress HTML), and the archive a backfill of
    it leaves: the same pages, kept without validators."""
    site_server.validators = False
    with sqlite3.connect(backfilled_archive) as connection:
        connection.execute("UPDATE pages SET etag = NULL, last_modified = NULL")
    return site_server, backfilled_archive


def test_no_change_refresh_costs_one_full_download_and_a_few_conditional_requests(archive):
    server, database = archive
    refresh(server, database)
    assert server.full_downloads() == [CATEGORY_PATH]
    assert len(server.requests) == 5, server.requests  # robots.txt, listing page 1, three 304 re-checks
    assert len(server.not_modified()) == 3
    run = last_run(database)
    assert (run["status"], run["new"], run["changed"], run["rechecked"], run["not_modified"]) == (
        "finished",
        0,
        0,
        3,
        3,
    )
    assert rows(database, "SELECT count(*) AS n FROM digest_revisions")[0]["n"] == 0


def test_a_new_digest_is_stored_with_at_most_three_full_downloads(archive, fixture_posts):
    server, database = archive
    server.publish(build_site(with_new_digest(fixture_posts)))
    refresh(server, database)
    assert len(server.full_downloads()) <= 3, server.full_downloads()
    assert any("/posts/" in target for target in server.full_downloads())
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE number = 214")[0]["n"] == 1
    assert last_run(database)["new"] == 1


def test_an_edited_recent_digest_is_updated_in_place_with_its_old_version_kept(archive, fixture_posts):
    server, database = archive
    before = rows(database, "SELECT * FROM digests WHERE post_id = ?", [fixture_posts[0].post_id])[0]
    server.publish(build_site(edited(fixture_posts, 0, "Corrected: the families met the minister on Monday.")))
    refresh(server, database)

    after = rows(database, "SELECT * FROM digests WHERE post_id = ?", [fixture_posts[0].post_id])[0]
    assert after["id"] == before["id"]
    assert after["content_hash"] != before["content_hash"]
    assert after["last_changed"] >= before["last_changed"] and after["text"].startswith("Corrected:")
    entries = rows(database, "SELECT text FROM entries WHERE digest_id = ? ORDER BY position", [after["id"]])
    assert entries[0]["text"] == "Corrected: the families met the minister on Monday."
    revisions = rows(database, "SELECT * FROM digest_revisions")
    assert len(revisions) == 1
    assert (revisions[0]["digest_id"], revisions[0]["content_hash"], revisions[0]["text"]) == (
        before["id"],
        before["content_hash"],
        before["text"],
    )
    run = last_run(database)
    assert (run["changed"], run["new"]) == (1, 0)
    # Only the edited page was downloaded again; the other re-checks were answered 304.
    assert sorted(server.full_downloads()) == sorted([CATEGORY_PATH, fixture_posts[0].path])


def test_an_edit_to_an_older_digest_is_found_by_recheck_mode(archive, fixture_posts):
    server, database = archive
    older = next(i for i, p in enumerate(fixture_posts) if p.number == 195)
    server.publish(build_site(edited(fixture_posts, older, "A correction to an old digest.")))
    refresh(server, database)
    assert rows(database, "SELECT count(*) AS n FROM digest_revisions")[0]["n"] == 0  # beyond the newest 3

    server.clear_requests()
    refresh(server, database, "-a", "mode=recheck")
    stored = sum(1 for p in fixture_posts if p.stored)
    assert len(server.requests) - server.requests.count("/robots.txt") == stored  # no listing pages
    assert server.full_downloads() == [fixture_posts[older].path]
    revised = rows(database, "SELECT d.number FROM digest_revisions r JOIN digests d ON d.id = r.digest_id")
    assert revised == [{"number": 195}]
    run = last_run(database)
    assert (run["mode"], run["rechecked"], run["not_modified"], run["changed"], run["unchanged"]) == (
        "recheck",
        stored,
        stored - 1,
        1,
        stored - 1,
    )


def test_without_validators_a_refresh_right_after_a_backfill_downloads_only_page_1(archive_without_validators):
    server, database = archive_without_validators
    refresh(server, database)
    assert server.page_requests() == [CATEGORY_PATH]


def test_without_validators_a_refresh_downloads_one_recent_page_and_compares_its_content(
    archive_without_validators, fixture_posts
):
    server, database = archive_without_validators
    checked = set()
    for _ in range(3):
        # As if the pages had been checked long ago: `DIGEST_RECHECK_MIN_AGE=0`.
        refresh(server, database, "-s", "DIGEST_RECHECK_MIN_AGE=0")
        downloads = server.full_downloads()
        assert len(downloads) == 2 and CATEGORY_PATH in downloads, downloads
        checked.update(d for d in downloads if d != CATEGORY_PATH)
        server.clear_requests()
    # Each of the newest three was downloaded once in three refreshes; none counts as changed.
    assert checked == {p.path for p in fixture_posts[:3]}
    assert rows(database, "SELECT count(*) AS n FROM digest_revisions")[0]["n"] == 0


def test_refresh_cost_does_not_grow_with_the_archive(tmp_path):
    """80 posts cost a refresh what the 34 of the fixture archive cost (the test above): 5 requests."""
    with FixtureServer(build_site(generated_posts(80))) as server:
        database = tmp_path / "archive.db"
        # The backfill only sets the scene: more at a time than the polite two.
        backfill(server, database, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8")
        refresh(server, database)
        assert server.full_downloads() == [CATEGORY_PATH]
        assert len(server.requests) == 5  # robots.txt, listing page 1, three 304 re-checks


def test_robots_txt_crawl_delay_spaces_the_requests(archive):
    server, database = archive
    server.robots_txt = b"User-agent: *\nDisallow: /wp-admin/\nCrawl-delay: 0.4\n"
    result = run_crawl(server.url(CATEGORY_PATH), database)
    assert_clean_run(result)
    assert "Crawl-delay" in result.stderr
    times = [at for target, at in server.arrivals if target != "/robots.txt"]
    assert len(times) == 4  # listing page 1 and three re-checks, one at a time
    # Scrapy spaces the sending of requests; their arrival here varies by a few milliseconds either way
    # (0.385 s seen under load), while without the delay they arrive together.
    assert all(later - earlier >= 0.3 for earlier, later in pairwise(times)), times


def test_a_site_without_a_rest_api_is_read_through_its_listing_and_the_run_says_why(archive):
    _, database = archive
    run = rows(database, "SELECT index_used, index_note FROM crawl_runs")[0]
    assert run == {"index_used": "html", "index_note": "the start page advertises no REST API"}
