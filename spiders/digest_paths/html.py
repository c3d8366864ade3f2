"""The HTML listing (`/page/N`, `?paged=N`), newest first: the fallback index, which always works."""

from __future__ import annotations

import scrapy

from core.items import Listing, PageFailure
from core.parsing import ParseError, parse_listing
from core.urls import on_site_of, post_key
from crawler.failures import describe_failure
from spiders.digest_paths.crawl import Crawl, Path
from spiders.digest_paths.posts import PostPath


class HtmlPath(Path):
    CALLBACKS = ("parse_listing_page", "listing_failed")

    def __init__(self, crawl: Crawl, posts: PostPath) -> None:
        super().__init__(crawl)
        self.posts = posts

    def listing_request(self, url: str) -> scrapy.Request:
        # dont_filter: resuming from a JOBDIR must walk the listing again, not trust a queue that a
        # kill may have lost (the archive, not JOBDIR, says what is done).
        return scrapy.Request(
            url,
            callback=self.parse_listing_page,
            errback=self.listing_failed,
            meta={"listing_page": True},
            dont_filter=True,
        )

    def parse_listing_page(self, response):
        try:
            listing = parse_listing(response.url, response.body)
        except ParseError as error:
            self.crawl.run.listing_unreadable(response.url)
            yield PageFailure(url=response.url, kind="parse_error", message=str(error), listing=True)
            return
        yield from self.follow(response.url, listing)

    def follow(self, url: str, listing: Listing):
        """The posts of one listing page not stored yet, then its next page unless a refresh has reached
        what is stored."""
        run, mode = self.crawl.run, self.crawl.mode
        listed_keys = [post_key(post_url) for post_url in listing.post_urls]
        run.listing_read(url, listed_keys, listing.last_page)
        done = [run.is_stored(key) or run.is_settled(key) for key in listed_keys]
        self.crawl.logger.info(
            "Listing %s: %d posts, %d not stored yet%s",
            url,
            len(listed_keys),
            done.count(False),
            "" if listing.next_url else " (last page)",
        )
        if not listed_keys:
            self.crawl.logger.warning("Listing %s names no digest posts: has the theme changed?", url)

        for post_url, key in zip(listing.post_urls, listed_keys, strict=True):
            # A post repeated at the top of the next page, or listed as AMP and plain, is fetched once.
            # In a refresh, a post that failed for good (404, unparseable) is not fetched again.
            if run.is_stored(key) or (mode.skips_settled_failures and run.is_settled(key)):
                continue
            if run.post_requested(key, post_url):
                yield self.posts.request(post_url)

        if listing.next_url is None:
            return
        if mode.stops_at_what_is_stored and (False not in done or done[done.index(False) :].count(True)):
            # Listings are newest first: a page with nothing new, or a stored post after the new
            # ones (a sticky post may stand above them), is the stored frontier: older pages are stored.
            self.crawl.logger.info("Refresh: %s reaches what is stored; not following older pages", url)
            return
        why_not = run.refuse_next_listing(listing.next_url)
        if why_not is not None:
            self.crawl.logger.warning("Not following next page %s: %s", listing.next_url, why_not)
            return
        yield self.listing_request(on_site_of(listing.next_url, self.crawl.start_url))

    def listing_failed(self, failure):
        kind, message, status = describe_failure(failure)
        if failure.request.url == self.crawl.start_url:
            self.crawl.run.fail(f"the HTML listing {self.crawl.start_url} could not be read: {message}")
        yield PageFailure(url=failure.request.url, kind=kind, message=message, listing=True, http_status=status)
