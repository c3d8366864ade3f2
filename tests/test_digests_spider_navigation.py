"""The spider's navigation rules, in-process: its callbacks fed saved responses (city-scrapers' way).

The spider is built with Scrapy's own `get_crawler`, with a real archive under `tmp_path`; pages come
from the fixture site (`build_site`), at the real site's addresses, and no request leaves the process.
Whole crawls over HTTP are in test_digests_spider.py and test_digests_spider_refresh.py.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from scrapy import Request, signals
from scrapy.http import HtmlResponse
from scrapy.utils.request import request_from_dict
from scrapy.utils.test import get_crawler

import storage
from core.items import PageFailure
from core.parsing import parse_digest
from fixtures.site import CATEGORY_PATH, ORIGIN, TAG_PATH, build_site
from spiders.digests import DigestsSpider

CATEGORY = ORIGIN + CATEGORY_PATH


@pytest.fixture(scope="module")
def site(fixture_posts):
    return build_site(fixture_posts)


@contextmanager
def make_spider(database, start_url: str = CATEGORY, mode: str = "refresh"):
    """The spider with its run open on `database` (and the archive locked) until the block ends."""
    crawler = get_crawler(DigestsSpider, {"DATABASE": str(database), "LOGSTATS_INTERVAL": 0})
    spider = DigestsSpider.from_crawler(crawler, start_url=start_url, mode=mode)
    crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    try:
        yield spider
    finally:
        crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")


def page(site, url: str) -> HtmlResponse:
    path = url.removeprefix(ORIGIN)
    return HtmlResponse(url=url, body=site.pages[path].body, request=Request(url), encoding="utf-8")


def follow(spider, response) -> tuple[list[str], list[str]]:
    """(listing pages, post pages) a listing page's callback asks for next."""
    listings, posts = [], []
    for output in spider.parse_listing_page(response):
        assert isinstance(output, Request), output
        (listings if output.meta.get("listing_page") else posts).append(output.url)
    return listings, posts


def walk(spider, site, start_url: str) -> tuple[list[str], list[str]]:
    """Follow the listing pages from `start_url` as the engine would; every page and post asked for."""
    pages, posts, queue = [], [], [start_url]
    while queue:
        url = queue.pop(0)
        pages.append(url)
        listings, found = follow(spider, page(site, url))
        queue += listings
        posts += found
    return pages, posts


def store(database, site, posts) -> None:
    """What a crawl would have stored for these posts (through storage, as the pipeline does)."""
    db = storage.open_database(database)
    for post in posts:
        storage.save_digest(db, parse_digest(post.url, site.pages[post.path].body))
    db.close()


def test_a_refresh_of_an_empty_archive_walks_every_page_and_asks_for_each_post_once(tmp_path, site, fixture_posts):
    with make_spider(tmp_path / "a.db") as spider:
        pages, posts = walk(spider, site, CATEGORY)
    assert pages == [CATEGORY] + [f"{CATEGORY}/page/{n}" for n in (2, 3, 4)]
    # AMP, /amp, utm_, random-post, ?=1, http:// forms and the repeated entry: the plain post, once.
    assert sorted(posts) == sorted(post.url for post in fixture_posts)


def test_a_refresh_stops_at_the_stored_frontier(tmp_path, site, fixture_posts):
    page_1, page_2 = fixture_posts[:10], fixture_posts[9:20]  # page 2 repeats the last post of page 1
    for stored, pages_read, fetched in [
        # Nothing new on page 1: page 2 is not read.
        (page_1, [CATEGORY], []),
        # One new post, then stored ones: page 1 reaches the frontier.
        (page_1[1:], [CATEGORY], [page_1[0]]),
        # A stored (sticky) post above new ones: page 2 is read, up to its frontier (its 404 post was
        # never stored: it is asked for too).
        (
            [page_1[0], *fixture_posts[10:]],
            [CATEGORY, f"{CATEGORY}/page/2"],
            page_1[1:] + [post for post in page_2 if not post.stored],
        ),
    ]:
        database = tmp_path / f"{len(stored)}.db"
        store(database, site, [post for post in stored if post.stored])
        with make_spider(database) as spider:
            pages, posts = walk(spider, site, CATEGORY)
        assert pages == pages_read
        assert posts == [post.url for post in fetched]


def test_a_post_that_failed_for_good_is_skipped_by_a_refresh_and_retried_by_a_backfill(tmp_path, site, fixture_posts):
    database = tmp_path / "a.db"
    gone = next(post for post in fixture_posts if post.status == 404)
    db = storage.open_database(database)
    storage.record_failure(db, None, PageFailure(gone.url, "http_status", "HTTP 404", http_status=404))
    db.close()
    with make_spider(database) as spider:
        _, refreshed = walk(spider, site, CATEGORY)
    with make_spider(database, mode="backfill") as spider:
        _, backfilled = walk(spider, site, CATEGORY)
    assert gone.url not in refreshed and gone.url in backfilled


def test_a_tag_listing_follows_rel_next_and_a_backfill_skips_what_is_stored(tmp_path, site, fixture_posts):
    database = tmp_path / "a.db"
    tag = f"{ORIGIN}{TAG_PATH}/"
    with make_spider(database, start_url=tag, mode="backfill") as spider:
        pages, tagged = walk(spider, site, tag)
    assert pages == [tag, f"{tag}page/2/"]
    stored = [post for post in fixture_posts if post.stored]
    assert tagged == [post.url for post in stored[:8]]  # the "Read more" AMP link is the same post

    store(database, site, stored[:8])
    with make_spider(database, mode="backfill") as spider:
        _, rest = walk(spider, site, CATEGORY)
    assert sorted(rest) == sorted(post.url for post in fixture_posts if post not in stored[:8])


def test_a_next_page_on_another_site_is_not_followed(tmp_path):
    body = (
        b'<html><head><link rel="next" href="https://elsewhere.example/en/topic/iran-interlink-weekly-digest/'
        b'page/2"></head><body><h2><a href="https://www.nejatngo.org/en/posts/1">Iran Interlink Weekly Digest '
        b"&#8211; 1</a></h2></body></html>"
    )
    response = HtmlResponse(url=CATEGORY, body=body, request=Request(CATEGORY))
    with make_spider(tmp_path / "a.db", mode="backfill") as spider:
        listings, posts = follow(spider, response)
    assert listings == [] and posts == [f"{ORIGIN}/en/posts/1"]


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"mode": "everything"}, "unknown mode 'everything'"),
        ({"start_url": "ftp://example.org/archive"}, "start_url must be an http(s) URL"),
    ],
)
def test_bad_arguments_stop_the_spider_with_one_line_and_exit_2(tmp_path, capsys, arguments, message):
    crawler = get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / "a.db")})
    with pytest.raises(SystemExit) as stopped:
        DigestsSpider.from_crawler(crawler, **{"start_url": CATEGORY, **arguments})
    assert stopped.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("digests: error:") and message in errors[0]
    assert not (tmp_path / "a.db").exists()


def test_every_request_of_every_path_survives_the_round_trip_through_jobdir(tmp_path):
    """JOBDIR keeps a request with its callback's name and finds the callback again on the spider by that
    name: each path's callbacks are found, as the very bound method the path's requests carry (one per
    callback, which also keeps Scrapy's check of generator callbacks from running again)."""
    rest_root = ORIGIN + "/wp-json/"
    index = storage.ListingRecord(CATEGORY, "www.nejatngo.org", rest_root, "categories=2", feed_url=CATEGORY + "/feed")
    with make_spider(tmp_path / "a.db") as spider:
        spider.rest.begin(index)
        requests = [
            spider.posts.request(ORIGIN + "/en/posts/1"),
            spider.html.listing_request(CATEGORY),
            spider.feed.request(index, conditional=True),
            spider.rest.index_request(1),
            spider.rest.routes_request(rest_root),
        ]
        assert requests[0].callback is spider.posts.request(ORIGIN + "/en/posts/2").callback
        kept = set()
        for request in requests:
            saved = request.to_dict(spider=spider)
            restored = request_from_dict(saved, spider=spider)
            assert (restored.callback, restored.errback) == (request.callback, request.errback)
            assert restored.callback is request.callback and restored.errback is request.errback
            kept |= {saved["callback"], saved["errback"]}
        assert kept >= {"parse_post", "post_failed", "parse_listing_page", "listing_failed", "feed_read"}
        for path in (spider.feed, spider.rest, spider.html, spider.posts):
            for name in path.CALLBACKS:
                callback = getattr(path, name)
                saved = Request(CATEGORY, callback=callback).to_dict(spider=spider)
                assert saved["callback"] == name
                assert request_from_dict(saved, spider=spider).callback is callback
