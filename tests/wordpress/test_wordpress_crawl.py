"""The real spider against a real WordPress (Debian's package, MariaDB, PHP's built-in server).

Every cell of the matrix is a backfill then a refresh, with the archive compared field by field
with the fixture model; requests are counted from PHP's own request log.
"""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

import pytest

from fixtures.site import next_digest
from fixtures.wordpress.content import AUTHOR, DIGEST_CATEGORY, DIGEST_TAG, as_wordpress_post, digest_posts, is_tagged

from ..conftest import assert_clean_run, rows, run_crawl
from .conftest import assert_archive_holds, loaded_wordpress

pytestmark = pytest.mark.wordpress

THEMES = ("twentytwentyone", "twentytwentythree")
PERMALINKS = {
    "plain": "",  # WordPress's default: /?cat=2, /?cat=2&paged=2, posts at /?p=N
    "day-and-name": "/%year%/%monthnum%/%day%/%postname%/",
    "post-id": "/archives/%post_id%",
}
DAY_AND_NAME = PERMALINKS["day-and-name"]


def listing_url(wordpress, kind: str = "category") -> str:
    names = {
        "category": {"categories": [DIGEST_CATEGORY]},
        "tag": {"tags": [DIGEST_TAG]},
        "author": {"authors": [AUTHOR]},
    }[kind]
    return wordpress.lookup(**names)[kind][0]["link"]


def post_downloads(wordpress) -> list[str]:
    """Targets of the post pages downloaded (listing pages, robots.txt and REST calls aside)."""
    listing_markers = (
        "cat=",
        "tag=",
        "author=",
        "/category/",
        "/tag/",
        "/author/",
        "paged=",
        "/page/",
        "feed",
        "wp-json",
        "rest_route",
    )
    return [
        target
        for _, target, status in wordpress.page_requests()
        if status == 200 and not any(marker in target for marker in listing_markers)
    ]


def backfill_then_refresh(wordpress, start_url: str, database, expected, index: str = "auto") -> None:
    """A backfill, then a refresh with nothing changed: the archive holds exactly `expected` after each.

    Through the HTML listing (`index=html`) every digest page is downloaded once and the refresh reads
    listing page 1 only; through the REST API (`auto`) only a sample of pages is downloaded, and the
    refresh is one conditional request of the feed.
    """
    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill", "-a", f"index={index}"))
    assert_archive_holds(database, expected)
    assert all(status == 200 for _, _, status in wordpress.page_requests()), wordpress.page_requests()
    downloads = post_downloads(wordpress)
    used = rows(database, "SELECT index_used FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]["index_used"]
    if index == "html":
        # Each digest page once; nothing else of the site (no non-digest post) downloaded.
        assert used == "html" and len(downloads) == len(expected), downloads
    else:
        assert used == "rest" and len(downloads) == 3, downloads  # the sample of DIGEST_REST_SAMPLE pages

    wordpress.clear_requests()
    assert_clean_run(run_crawl(start_url, database, "-a", f"index={index}"))
    assert_archive_holds(database, expected)
    refresh = rows(database, "SELECT mode, status, new, changed FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert refresh == {"mode": "refresh", "status": "finished", "new": 0, "changed": 0}
    assert post_downloads(wordpress) == []
    if index == "auto":
        assert [(target, status) for _, target, status in wordpress.page_requests()] == [(feed_target(database), 304)]


def feed_target(database) -> str:
    """The request target of the listing's feed, as the server logs it."""
    feed = urlsplit(rows(database, "SELECT feed_url FROM listings")[0]["feed_url"])
    return feed.path + (f"?{feed.query}" if feed.query else "")


@pytest.mark.parametrize("index", ["html", "auto"])
@pytest.mark.parametrize("permalinks", PERMALINKS)
@pytest.mark.parametrize("theme", THEMES)
def test_a_category_listing_is_stored_exactly(wordpress, tmp_path, theme, permalinks, index):
    wordpress.configure(theme=theme, permalinks=PERMALINKS[permalinks])
    backfill_then_refresh(wordpress, listing_url(wordpress), tmp_path / "archive.db", digest_posts(), index)


@pytest.mark.parametrize("index", ["html", "auto"])
def test_a_tag_listing_holds_only_the_tagged_digests(wordpress, tmp_path, index):
    wordpress.configure(theme="twentytwentyone", permalinks=DAY_AND_NAME)
    tagged = [post for post in digest_posts() if is_tagged(post)]
    assert 0 < len(tagged) < len(digest_posts())
    # The tag is also on a post that is not a digest: it is listed, but never stored.
    backfill_then_refresh(wordpress, listing_url(wordpress, "tag"), tmp_path / "archive.db", tagged, index)


@pytest.mark.parametrize("index", ["html", "auto"])
def test_an_author_listing_leaves_the_authors_other_posts_out(wordpress, tmp_path, index):
    wordpress.configure(theme="twentytwentythree", permalinks=DAY_AND_NAME)
    backfill_then_refresh(wordpress, listing_url(wordpress, "author"), tmp_path / "archive.db", digest_posts(), index)


@pytest.fixture(scope="module")
def wordpress_in_subdirectory(mariadb, wordpress_root):
    """WordPress under /wordpress/, as on iran-interlink.org."""
    site = loaded_wordpress(mariadb, wordpress_root, "subdirectory", path="/wordpress/")
    yield site
    site.stop()


@pytest.mark.parametrize("index", ["html", "auto"])
@pytest.mark.parametrize("permalinks", ["plain", "day-and-name"])
def test_a_category_listing_of_a_subdirectory_install_is_stored_exactly(
    wordpress_in_subdirectory, tmp_path, permalinks, index
):
    site = wordpress_in_subdirectory
    site.configure(theme="twentytwentyone", permalinks=PERMALINKS[permalinks])
    start_url = listing_url(site)
    assert start_url.startswith(site.origin + "/wordpress/")
    backfill_then_refresh(site, start_url, tmp_path / "archive.db", digest_posts(), index)


# --- refreshes after the site changed ------------------------------------------------------------------


@pytest.fixture()
def backfilled(fresh_wordpress, tmp_path):
    database = tmp_path / "archive.db"
    start_url = listing_url(fresh_wordpress)
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    fresh_wordpress.clear_requests()
    return fresh_wordpress, start_url, database


def test_a_refresh_stores_a_newly_published_digest(backfilled):
    wordpress, start_url, database = backfilled
    new = next_digest(digest_posts())
    wordpress.insert([as_wordpress_post(new)])
    assert_clean_run(run_crawl(start_url, database))
    assert_archive_holds(database, [new, *digest_posts()])
    assert rows(database, "SELECT new FROM crawl_runs ORDER BY id DESC LIMIT 1") == [{"new": 1}]


def test_a_refresh_stores_an_edit_of_the_newest_digest_with_a_revision(backfilled):
    wordpress, start_url, database = backfilled
    posts = copy.deepcopy(digest_posts())
    newest = posts[0]
    before = rows(database, "SELECT * FROM digests WHERE post_id = ?", [newest.post_id])[0]
    newest.entries[0].paragraphs[0] = "Corrected: the families met the minister on Monday, not Tuesday."
    wordpress.update(newest.post_id, content=as_wordpress_post(newest)["content"])
    assert_clean_run(run_crawl(start_url, database, "-s", "DIGEST_RECHECK_MIN_AGE=0"))
    assert_archive_holds(database, posts)
    revisions = rows(database, "SELECT digest_id, content_hash, text FROM digest_revisions")
    assert revisions == [{"digest_id": before["id"], "content_hash": before["content_hash"], "text": before["text"]}]
    assert rows(database, "SELECT changed FROM crawl_runs ORDER BY id DESC LIMIT 1") == [{"changed": 1}]


def test_a_trashed_post_stays_in_the_archive(backfilled):
    wordpress, start_url, database = backfilled
    newest = digest_posts()[0]
    wordpress.trash(newest.post_id)
    assert_clean_run(run_crawl(start_url, database, "-s", "DIGEST_RECHECK_MIN_AGE=0"))
    assert_archive_holds(database, digest_posts())
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=recheck"))
    assert_archive_holds(database, digest_posts())
