"""Both publishers on real WordPress: two installs side by side (one under /wordpress/, as on
iran-interlink.org), crawled into one archive by one `scrapy crawl digests`; the editions are exactly
those of the model (`fixtures/editions.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from fixtures.editions import InterlinkPost, expected_editions, interlink_posts, nejatngo_posts
from fixtures.site import next_digest
from fixtures.wordpress.content import (
    AUTHOR,
    DIGEST_CATEGORY,
    OTHER_POSTS,
    as_interlink_wordpress_post,
    as_wordpress_post,
)
from fixtures.wordpress.testbed import WordPress

from ..conftest import assert_clean_run, rows, run_crawl

pytestmark = pytest.mark.wordpress

DAY_AND_NAME = "/%year%/%monthnum%/%day%/%postname%/"


@pytest.fixture()
def two_sites(mariadb, wordpress_root):
    nejatngo = WordPress(mariadb, wordpress_root / "nejatngo").start()
    interlink = WordPress(mariadb, wordpress_root / "interlink", path="/wordpress/").start()
    try:
        nejatngo.insert([as_wordpress_post(post) for post in nejatngo_posts() if post.stored] + OTHER_POSTS)
        interlink.insert([as_interlink_wordpress_post(post) for post in interlink_posts()])
        for site, theme in ((nejatngo, "twentytwentyone"), (interlink, "twentytwentythree")):
            site.configure(theme=theme, permalinks=DAY_AND_NAME)
        yield nejatngo, interlink
    finally:
        nejatngo.stop()
        interlink.stop()


def listings(nejatngo, interlink) -> str:
    category = nejatngo.lookup(categories=[DIGEST_CATEGORY])["category"][0]["link"]
    author = interlink.lookup(authors=[AUTHOR])["author"][0]["link"]
    assert author.startswith(interlink.origin + "/wordpress/")
    return f"DIGEST_LISTINGS={category},{author}"


def editions_by_posts(database, nejatngo, interlink) -> dict[tuple, dict]:
    sites = {nejatngo.origin.split("//")[1]: 0, interlink.origin.split("//")[1]: 1}
    found = {}
    for edition in rows(database, "SELECT * FROM editions"):
        key = [None, None]
        for member in rows(database, "SELECT site, post_id FROM digests WHERE edition_id = ?", [edition["id"]]):
            key[sites[member["site"]]] = member["post_id"]
        found[tuple(key)] = edition
    return found


def test_two_wordpress_sites_crawled_into_one_archive_make_the_editions_of_the_model(two_sites, tmp_path):
    nejatngo, interlink = two_sites
    database = tmp_path / "archive.db"
    setting = listings(nejatngo, interlink)
    assert_clean_run(run_crawl(None, database, "-a", "mode=backfill", "-s", setting))

    found = editions_by_posts(database, nejatngo, interlink)
    expected = {(e.nejatngo, e.interlink): e for e in expected_editions(subheadlines=False)}
    assert sorted(found, key=str) == sorted(expected, key=str)
    for key, wanted in expected.items():
        edition = found[key]
        assert (edition["number"], edition["issue_date"], edition["headline"]) == (
            wanted.number,
            wanted.issue_date,
            wanted.headline,
        ), key
        kinds = sorted(note.split(":")[0] for note in (edition["conflicts"] or "").split("; ") if note)
        assert kinds == sorted(wanted.conflicts), key

    # The same new digest published on both sites: one new edition, with both posts. It is the newest post
    # of both (a post given an older date than the site's newest modification changes neither the feed's
    # validators nor the REST index's modification order: WordPress sets its modified time to that date).
    new = replace(next_digest(nejatngo_posts()), published=date(2021, 12, 3))
    twin = InterlinkPost(
        new.post_id + 5000,
        "iran-interlink-weekly-digest-new",
        f"Iran Interlink Weekly Digest \u2013 {new.published:%B} {new.published.day}, {new.published.year}",
        new.published,
        new.entries,
        twin=new,
    )
    nejatngo.insert([as_wordpress_post(new)])
    interlink.insert([as_interlink_wordpress_post(twin)])
    assert_clean_run(run_crawl(None, database, "-s", setting))
    after = editions_by_posts(database, nejatngo, interlink)
    assert set(after) - set(found) == {(new.post_id, twin.post_id)}
    edition = after[(new.post_id, twin.post_id)]
    assert (edition["number"], edition["issue_date"], edition["conflicts"]) == (
        new.number,
        new.published.isoformat(),
        None,
    )
