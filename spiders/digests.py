"""The `digests` spider: walks an archive index from its first page to the last and fetches digest posts.

It only decides what to fetch next; the parsers read pages, the pipelines store.

    scrapy crawl digests                                   # refresh the default archive
    scrapy crawl digests -a mode=backfill -s DATABASE=x.db # every page of the archive
    scrapy crawl digests -a mode=recheck                   # re-check every stored digest for edits
    scrapy crawl digests -a start_url=http://127.0.0.1:8000/en/topic/iran-interlink-weekly-digest
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import NoReturn

import scrapy
from scrapy.exceptions import IgnoreRequest

import storage
from crawler.failures import describe_failure
from crawler.items import DigestNotModified, FetchedPage, PageFailure
from crawler.parsing import ParseError, parse_digest, parse_listing
from crawler.parsing.decoding import charset_of
from crawler.run import USAGE_EXIT_CODE, CrawlRun, RunRefused
from crawler.urls import clean_post_url, domain_of, is_http_url, on_site_of, post_key, same_site, site_of

MODES = ("refresh", "backfill", "recheck")


def _usage_error(message: str, code: int = USAGE_EXIT_CODE) -> NoReturn:
    """Stop before any request with one line, not a traceback: bad arguments are the user's to fix."""
    print(f"digests: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class DigestsSpider(scrapy.Spider):
    name = "digests"

    def __init__(self, start_url: str | None = None, mode: str = "refresh", **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in MODES:
            _usage_error(f"unknown mode {mode!r}: use -a mode=refresh, backfill or recheck")
        if start_url is not None and not is_http_url(start_url):
            _usage_error(f"start_url must be an http(s) URL, got {start_url!r}")
        self.mode = mode
        self.start_url = start_url
        self.run: CrawlRun | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.start_url = spider.start_url or crawler.settings.get("DIGEST_START_URL")
        if not is_http_url(spider.start_url):
            _usage_error(f"DIGEST_START_URL must be an http(s) URL, got {spider.start_url!r}")
        # Offsite links are stored as links, never followed: only the archive's own site is crawled.
        spider.allowed_domains = [domain_of(spider.start_url)]
        recheck_limit = None if spider.mode == "recheck" else \
            0 if spider.mode == "backfill" else crawler.settings.getint("DIGEST_RECHECK_LATEST")
        try:
            # The run locks and opens the archive now, so that a busy archive or a bad path stops the
            # crawl before any request, and reads what it holds once.
            spider.run = CrawlRun.open(crawler, mode=spider.mode, start_url=spider.start_url,
                                       recheck_limit=recheck_limit)
        except RunRefused as refused:
            _usage_error(str(refused), refused.exit_code)
        return spider

    async def start(self):
        rechecks = self.run.rechecks()
        self.logger.info("%s of %s: %d post URLs stored, %d to re-check", self.mode.capitalize(), self.start_url,
                         len(self.run.state.known_keys), len(rechecks))
        for target in rechecks:
            yield self._recheck_request(target)
        if self.mode != "recheck":
            yield self._listing_request(self.start_url)

    # --- archive index pages ----------------------------------------------------------------------

    def _listing_request(self, url: str) -> scrapy.Request:
        # dont_filter: resuming from a JOBDIR must walk the listing again, not trust a queue that a
        # kill may have lost (the archive, not JOBDIR, says what is done).
        return scrapy.Request(url, callback=self.parse_listing_page, errback=self.listing_failed,
                              meta={"listing_page": True}, dont_filter=True)

    def parse_listing_page(self, response):
        try:
            listing = parse_listing(response.url, response.body)
        except ParseError as error:
            self.run.count("listing_pages")
            yield PageFailure(url=response.url, kind="parse_error", message=str(error), listing=True)
            return
        listed_keys = [post_key(url) for url in listing.post_urls]
        self.run.listing_read(response.url, listed_keys, listing.last_page)
        new_keys = [key for key in listed_keys if not self.run.is_stored(key) and not self.run.is_settled(key)]
        self.logger.info("Listing %s: %d posts, %d not stored yet%s", response.url, len(listed_keys),
                         len(new_keys), "" if listing.next_url else " (last page)")
        if not listed_keys:
            self.logger.warning("Listing %s names no digest posts: has the theme changed?", response.url)

        for url, key in zip(listing.post_urls, listed_keys):
            # A post repeated at the top of the next page, or listed as AMP and plain, is fetched once.
            # In a refresh, a post that failed for good (404, unparseable) is not fetched again.
            if self.run.is_stored(key) or (self.mode == "refresh" and self.run.is_settled(key)):
                continue
            if self.run.post_requested(key, url):
                yield self._post_request(url)

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
        kind, message, status = describe_failure(failure)
        if failure.request.url == self.start_url:
            self.run.fail(f"the archive index {self.start_url} could not be read: {message}")
        yield PageFailure(url=failure.request.url, kind=kind, message=message, listing=True, http_status=status)

    # --- digest posts -----------------------------------------------------------------------------

    def _post_request(self, listed_url: str) -> scrapy.Request:
        # Fetch the plain post (not its AMP, embed or tracked form) at the archive's own origin.
        url = on_site_of(clean_post_url(listed_url), self.start_url)
        return scrapy.Request(url, callback=self.parse_post, errback=self.post_failed, dont_filter=True,
                              cb_kwargs={"listed_url": listed_url}, meta={"post_key": post_key(listed_url)})

    def _recheck_request(self, target: storage.RecheckTarget) -> scrapy.Request:
        # Last-Modified first: a WordPress page embeds "recent posts" and "related" widgets, so an ETag
        # computed over the body changes whenever any post is published, while Last-Modified follows
        # the post's own modification time. The ETag is used only when it is all the server gave.
        headers = {}
        if target.last_modified:
            headers["If-Modified-Since"] = target.last_modified
        elif target.etag:
            headers["If-None-Match"] = target.etag
        url = on_site_of(target.url, self.start_url)
        return scrapy.Request(url, callback=self.parse_post, errback=self.post_failed, headers=headers,
                              dont_filter=True, cb_kwargs={"listed_url": target.url},
                              meta={"post_key": post_key(url), "recheck": True, "handle_httpstatus_list": [304]})

    def parse_post(self, response, listed_url: str):
        self.run.post_answered(response.meta["post_key"], recheck=bool(response.meta.get("recheck")),
                               status=response.status)
        if response.status == 304:
            yield DigestNotModified(url=listed_url)
            return
        content_type = _header(response, "Content-Type")
        if not response.body.strip():
            yield PageFailure(url=listed_url, kind="empty", http_status=response.status,
                              message=f"{response.url}: HTTP {response.status} with an empty body")
            return
        if content_type and not any(marker in content_type.lower() for marker in ("html", "xml", "text/plain")):
            yield PageFailure(url=listed_url, kind="not_html", http_status=response.status,
                              message=f"{response.url}: {content_type.split(';')[0]}, not an HTML page "
                                      f"({len(response.body)} bytes)")
            return
        yield FetchedPage(url=response.request.url, http_status=response.status, content_type=content_type,
                          etag=_header(response, "ETag"), last_modified=_header(response, "Last-Modified"),
                          body=response.body)
        try:
            digest = parse_digest(response.url, response.body, http_charset=charset_of(content_type))
        except ParseError as error:
            yield PageFailure(url=listed_url, kind="parse_error", message=f"{response.url}: {error}")
            return
        sources = dict.fromkeys([listed_url, response.request.url, response.url, *digest.source_urls])
        yield replace(digest, source_urls=tuple(sources))

    def post_failed(self, failure):
        if failure.check(IgnoreRequest) and failure.request.meta.get("skipped_as_stored"):
            return  # a request restored from JOBDIR for a post stored before the stop
        self.run.post_answered(failure.request.meta.get("post_key"), recheck=bool(failure.request.meta.get("recheck")))
        kind, message, status = describe_failure(failure)
        yield PageFailure(url=failure.request.cb_kwargs.get("listed_url", failure.request.url),
                          kind=kind, message=message, http_status=status)
