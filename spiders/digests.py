"""The `digests` spider: walks an archive index from its first page to the last and fetches digest posts.

It only decides what to fetch next; the parsers read pages, the pipelines store.

    scrapy crawl digests                                   # refresh the default archive
    scrapy crawl digests -a mode=backfill -s DATABASE=x.db # every page of the archive
    scrapy crawl digests -a start_url=http://127.0.0.1:8000/en/topic/iran-interlink-weekly-digest
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import NoReturn

import scrapy

import storage
from crawler.failures import describe_failure
from crawler.items import PageFailure
from crawler.parsing import ParseError, parse_digest, parse_listing
from crawler.parsing.decoding import charset_of
from crawler.urls import clean_post_url, domain_of, is_http_url, on_site_of, post_key, same_site

MODES = ("refresh", "backfill")
STATS = "digests"
USAGE_EXIT_CODE = 2


def _usage_error(message: str) -> NoReturn:
    """Stop before any request with one line, not a traceback: bad arguments are the user's to fix."""
    print(f"digests: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USAGE_EXIT_CODE)


class DigestsSpider(scrapy.Spider):
    name = "digests"

    def __init__(self, start_url: str | None = None, mode: str = "refresh", **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in MODES:
            _usage_error(f"unknown mode {mode!r}: use -a mode=refresh or -a mode=backfill")
        if start_url is not None and not is_http_url(start_url):
            _usage_error(f"start_url must be an http(s) URL, got {start_url!r}")
        self.mode = mode
        self.start_url = start_url
        self.known_keys: set[str] = set()  # posts stored before this run began
        self.listed_keys: set[str] = set()  # posts named by the listing pages read in this run
        self.scheduled_keys: set[str] = set()  # posts requested in this run
        self.failure_message: str | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.start_url = spider.start_url or crawler.settings.get("DIGEST_START_URL")
        if not is_http_url(spider.start_url):
            _usage_error(f"DIGEST_START_URL must be an http(s) URL, got {spider.start_url!r}")
        # Offsite links are stored as links, never followed: only the archive's own site is crawled.
        spider.allowed_domains = [domain_of(spider.start_url)]
        return spider

    async def start(self):
        self.known_keys = storage.known_post_keys_at(self.settings.get("DATABASE"))
        self.logger.info("%s of %s: %d post URLs already stored", self.mode.capitalize(), self.start_url,
                         len(self.known_keys))
        yield self._listing_request(self.start_url)

    # --- archive index pages ----------------------------------------------------------------------

    def _listing_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing_page, errback=self.listing_failed,
                              meta={"listing_page": True})

    def parse_listing_page(self, response):
        self.crawler.stats.inc_value(f"{STATS}/listing_pages")
        try:
            listing = parse_listing(response.url, response.body)
        except ParseError as error:
            yield PageFailure(url=response.url, kind="parse_error", message=str(error), listing=True)
            return
        listed_keys = [post_key(url) for url in listing.post_urls]
        new_keys = [key for key in listed_keys if key not in self.known_keys]
        self.logger.info("Listing %s: %d posts, %d not stored yet%s", response.url, len(listed_keys),
                         len(new_keys), "" if listing.next_url else " (last page)")
        if not listed_keys:
            self.logger.warning("Listing %s names no digest posts: has the theme changed?", response.url)

        for url, key in zip(listing.post_urls, listed_keys):
            if key not in self.listed_keys:
                self.listed_keys.add(key)
                self.crawler.stats.inc_value(f"{STATS}/posts_listed")
            # A post repeated at the top of the next page, or listed as AMP and plain, is fetched once.
            if key in self.known_keys or key in self.scheduled_keys:
                continue
            self.scheduled_keys.add(key)
            # Fetch the plain post (not its AMP, embed or tracked form) at the archive's own origin.
            yield scrapy.Request(on_site_of(clean_post_url(url), self.start_url), callback=self.parse_post,
                                 errback=self.post_failed, cb_kwargs={"listed_url": url})

        if listing.next_url is None:
            return
        if self.mode == "refresh" and not new_keys:
            # Listings are newest first: a page with nothing new means the rest is stored already.
            self.logger.info("Refresh: %s names nothing new; not following older pages", response.url)
            return
        if not same_site(listing.next_url, self.start_url):
            self.logger.warning("Not following next page %s: another site", listing.next_url)
            return
        yield self._listing_request(on_site_of(listing.next_url, self.start_url))

    def listing_failed(self, failure):
        kind, message = describe_failure(failure)
        if failure.request.url == self.start_url:
            self.failure_message = f"the archive index {self.start_url} could not be read: {message}"
        yield PageFailure(url=failure.request.url, kind=kind, message=message, listing=True)

    # --- digest posts -----------------------------------------------------------------------------

    def parse_post(self, response, listed_url: str):
        self.crawler.stats.inc_value(f"{STATS}/posts_fetched")
        charset = charset_of(response.headers.get("Content-Type"))
        try:
            digest = parse_digest(response.url, response.body, http_charset=charset)
        except ParseError as error:
            yield PageFailure(url=listed_url, kind="parse_error", message=f"{response.url}: {error}")
            return
        sources = dict.fromkeys([listed_url, response.url, *digest.source_urls])
        yield replace(digest, source_urls=tuple(sources))

    def post_failed(self, failure):
        kind, message = describe_failure(failure)
        yield PageFailure(url=failure.request.cb_kwargs.get("listed_url", failure.request.url),
                          kind=kind, message=message)
