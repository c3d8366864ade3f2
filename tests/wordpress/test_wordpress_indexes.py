"""Cheapest check first, on a real WordPress: the feed says whether anything changed, the REST API says
what, and the HTML listing takes over when the REST API is blocked. Requests are counted from PHP's
request log (robots.txt aside)."""

from __future__ import annotations

import copy
import json
import math
import re
import sqlite3

import pytest
from click.testing import CliRunner

from cli.main import main
from fixtures.site import next_digest
from fixtures.wordpress.content import DIGEST_CATEGORY, as_wordpress_post, digest_posts

from ..conftest import assert_clean_run, rows, run_crawl
from .conftest import assert_archive_holds

pytestmark = pytest.mark.wordpress

DAY_AND_NAME = "/%year%/%monthnum%/%day%/%postname%/"


def category_url(wordpress) -> str:
    return wordpress.lookup(categories=[DIGEST_CATEGORY])["category"][0]["link"]


def last_run(database) -> dict:
    return rows(database, "SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]


def targets(wordpress) -> list[str]:
    return [target for _, target, _ in wordpress.page_requests()]


def test_refreshes_cost_one_request_when_nothing_changed_and_three_for_a_new_or_edited_digest(
    fresh_wordpress, tmp_path
):
    wordpress, database = fresh_wordpress, tmp_path / "archive.db"
    start_url = category_url(wordpress)
    posts = digest_posts()

    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    backfill = targets(wordpress)
    assert len(backfill) <= math.ceil(len(posts) / 100) + 8, backfill
    assert last_run(database)["index_used"] == "rest"
    assert_archive_holds(database, posts)

    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database))
    assert len(wordpress.page_requests()) == 1 and wordpress.page_requests()[0][2] == 304

    new = next_digest(posts)
    wordpress.insert([as_wordpress_post(new)])
    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database))
    assert len(wordpress.page_requests()) <= 3, wordpress.page_requests()
    assert_archive_holds(database, [new, *posts])

    posts = [new, *copy.deepcopy(posts)]
    oldest = posts[-1]
    before = rows(database, "SELECT id, content_hash, text FROM digests WHERE post_id = ?", [oldest.post_id])[0]
    oldest.entries[0].paragraphs[0] = "An editor\u2019s correction to the oldest digest of the archive."
    wordpress.update(oldest.post_id, content=as_wordpress_post(oldest)["content"])
    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database))
    assert len(wordpress.page_requests()) <= 3, wordpress.page_requests()
    assert_archive_holds(database, posts)
    assert rows(database, "SELECT digest_id, content_hash, text FROM digest_revisions") == [
        {"digest_id": before["id"], "content_hash": before["content_hash"], "text": before["text"]}
    ]


def comparable(database) -> dict:
    """The archive's content, without ids, timestamps and where each digest was read from."""
    connection = sqlite3.connect(database)
    try:
        return {
            "digests": sorted(
                connection.execute(
                    "SELECT post_id, site, url, url_key, number, title, headline, issue_date, published, year, "
                    "dateline, text, entry_count, link_count, content_hash FROM digests"
                )
            ),
            "entries": sorted(
                connection.execute(
                    "SELECT d.post_id, e.position, e.section, e.text, e.html FROM entries e "
                    "JOIN digests d ON d.id = e.digest_id"
                )
            ),
            "links": sorted(
                connection.execute(
                    "SELECT d.post_id, e.position, l.position, l.url, l.text, l.domain FROM links l "
                    "JOIN entries e ON e.id = l.entry_id JOIN digests d ON d.id = l.digest_id"
                )
            ),
        }
    finally:
        connection.close()


def test_a_backfill_through_the_rest_api_stores_what_the_html_listing_does(wordpress, tmp_path):
    wordpress.configure(theme="twentytwentythree", permalinks=DAY_AND_NAME)
    start_url = category_url(wordpress)
    through_rest, through_html = tmp_path / "rest.db", tmp_path / "html.db"
    assert_clean_run(run_crawl(start_url, through_rest, "-a", "mode=backfill"))
    assert_clean_run(run_crawl(start_url, through_html, "-a", "mode=backfill", "-a", "index=html"))
    assert comparable(through_rest) == comparable(through_html)
    sources = rows(through_rest, "SELECT source, count(*) AS n FROM pages GROUP BY source ORDER BY source")
    assert sources == [{"source": "html", "n": 3}, {"source": "rest", "n": len(digest_posts()) - 3}]
    # What was kept of the REST items re-parses offline to the same digests.
    reparsed = CliRunner().invoke(main, ["reparse", str(through_rest), "--json"])
    assert reparsed.exit_code == 0, reparsed.output
    assert (json.loads(reparsed.output)["unchanged"], json.loads(reparsed.output)["changed"]) == (
        len(digest_posts()),
        0,
    )


def test_a_theme_field_the_rest_api_lacks_makes_the_backfill_fetch_every_page(fresh_wordpress, tmp_path):
    wordpress, database = fresh_wordpress, tmp_path / "archive.db"
    wordpress.configure(theme="twentytwentythree", permalinks=DAY_AND_NAME, options={"testbed_subheadline": 1})
    posts = copy.deepcopy(digest_posts())
    for post in posts[:3]:  # as on nejatngo.org from 2021 on: the newest digests have sub-headlines
        post.subheadline = f"Sub-headline of digest {post.post_id}"
        wordpress.update(post.post_id, meta={"subheadline": post.subheadline})
    wordpress.clear_requests()
    result = run_crawl(category_url(wordpress), database, "-a", "mode=backfill")
    assert_clean_run(result)
    run = last_run(database)
    assert run["index_used"] == "rest" and run["from_rest"] == 0
    assert "differs from the page" in run["index_note"] and "headline" in run["index_note"]
    headlines = {row["post_id"]: row["headline"] for row in rows(database, "SELECT post_id, headline FROM digests")}
    assert headlines == {post.post_id: post.subheadline for post in posts}
    assert rows(database, "SELECT DISTINCT source FROM pages") == [{"source": "html"}]


@pytest.mark.parametrize(
    "block,reason",
    [
        ({"testbed_rest": "401"}, r"HTTP 401"),
        ({"testbed_rest": "html"}, r"not JSON"),
        ({"testbed_robots_no_rest": 1}, r"robots\.txt"),
    ],
)
def test_a_blocked_rest_api_falls_back_to_the_html_listing(wordpress, tmp_path, block, reason):
    wordpress.configure(theme="twentytwentyone", permalinks=DAY_AND_NAME, options=block)
    try:
        database = tmp_path / "archive.db"
        result = run_crawl(category_url(wordpress), database, "-a", "mode=backfill")
    finally:
        wordpress.configure(options={name: "" for name in block})
    assert_clean_run(result)
    assert_archive_holds(database, digest_posts())
    run = last_run(database)
    assert run["index_used"] == "html" and re.search(reason, run["index_note"]), run["index_note"]
    assert len(re.findall("Not using the REST API", result.stderr)) == 1  # logged once per run


def test_a_site_without_modified_after_is_refreshed_by_modification_order(fresh_wordpress, tmp_path):
    wordpress, database = fresh_wordpress, tmp_path / "archive.db"
    wordpress.configure(options={"testbed_old_rest": 1})  # /wp/v2/posts as before WordPress 5.7
    start_url = category_url(wordpress)
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    assert rows(database, "SELECT modified_after FROM listings") == [{"modified_after": 0}]

    posts = copy.deepcopy(digest_posts())
    edited = posts[len(posts) // 2]
    edited.entries[-1].paragraphs[0] = "A late correction, in the middle of the archive."
    wordpress.update(edited.post_id, content=as_wordpress_post(edited)["content"])
    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database))
    index_requests = [target for target in targets(wordpress) if "wp/v2/posts" in target]
    assert index_requests and all("orderby=modified" in t and "modified_after" not in t for t in index_requests)
    assert_archive_holds(database, posts)
    assert last_run(database)["changed"] == 1
