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
from datetime import datetime, timedelta, timezone
from typing import NoReturn

import scrapy
from scrapy.exceptions import IgnoreRequest

import storage
from crawler.config import STATS_PREFIX
from crawler.failures import describe_failure
from crawler.items import DigestNotModified, FetchedPage, PageFailure
from crawler.parsing import ParseError, parse_digest, parse_listing
from crawler.parsing.decoding import charset_of
from crawler.urls import clean_post_url, domain_of, is_http_url, on_site_of, post_key, same_site, site_of

MODES = ("refresh", "backfill", "recheck")
USAGE_EXIT_CODE = 2
BUSY_EXIT_CODE = 3


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
        # What the archive held when the run began. (Not `state`: Scrapy's SpiderState extension owns that
        # attribute and replaces it when a JOBDIR is used.)
        self.archive_state = storage.CrawlState(set(), set(), [])
        self.listed_keys: set[str] = set()  # posts named by the listing pages read in this run
        self.scheduled: dict[str, str] = {}  # post key → listed URL, for every post requested in this run
        self.answered: set[str] = set()  # post keys that ended as a digest, a failure or a 304
        self.failure_message: str | None = None  # why the run failed as a whole, if it did
        self.empty_listings: list[str] = []  # listing pages that named no post (a changed theme?)
        self.last_page_seen: int | None = None  # the archive's last page, when its pagination shows it
        self.lock: storage.ArchiveLock | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.start_url = spider.start_url or crawler.settings.get("DIGEST_START_URL")
        if not is_http_url(spider.start_url):
            _usage_error(f"DIGEST_START_URL must be an http(s) URL, got {spider.start_url!r}")
        # Offsite links are stored as links, never followed: only the archive's own site is crawled.
        spider.allowed_domains = [domain_of(spider.start_url)]
        database = crawler.settings.get("DATABASE")
        recheck_limit = None if spider.mode == "recheck" else \
            0 if spider.mode == "backfill" else crawler.settings.getint("DIGEST_RECHECK_LATEST")
        try:
            spider.lock = storage.ArchiveLock(database).acquire()
            # Open (create or migrate) the archive now, so a bad path fails before any request, and
            # read what it holds once: the run decides against the archive as it was when it began.
            db = storage.open_database(database)
            try:
                spider.archive_state = storage.crawl_state(db, site_of(spider.start_url), recheck_limit)
            finally:
                db.close()
        except storage.ArchiveBusy as error:
            _usage_error(str(error), BUSY_EXIT_CODE)
        except storage.ArchiveError as error:
            _usage_error(str(error))
        return spider

    async def start(self):
        self.logger.info("%s of %s: %d post URLs stored, %d to re-check", self.mode.capitalize(), self.start_url,
                         len(self.archive_state.known_keys), len(self.archive_state.recheck))
        for target in self._rechecks_for_this_run():
            yield self._recheck_request(target)
        if self.mode != "recheck":
            yield self._listing_request(self.start_url)

    def _rechecks_for_this_run(self) -> list[storage.RecheckTarget]:
        """Re-checks that keep a refresh cheap: every page the server gave validators for (a 304 costs
        no download), but of pages served without validators (plain WordPress HTML) only the one
        checked longest ago, and only once it was last checked `DIGEST_RECHECK_MIN_AGE` hours ago:
        a page fetched minutes ago is not downloaded again to see whether it changed.
        """
        if self.mode == "recheck":
            return self.archive_state.recheck
        conditional = [t for t in self.archive_state.recheck if t.conditional]
        oldest_allowed = (datetime.now(timezone.utc)
                          - timedelta(hours=self.settings.getfloat("DIGEST_RECHECK_MIN_AGE"))).isoformat()
        unconditional = sorted((t for t in self.archive_state.recheck
                                if not t.conditional and (t.checked_at or "") <= oldest_allowed),
                               key=lambda t: t.checked_at or "")
        return conditional + unconditional[:1]

    def closed(self, reason):
        if self.lock is not None:
            self.lock.release()

    # --- archive index pages ----------------------------------------------------------------------

    def _listing_request(self, url: str) -> scrapy.Request:
        # dont_filter: resuming from a JOBDIR must walk the listing again, not trust a queue that a
        # kill may have lost (the archive, not JOBDIR, says what is done).
        return scrapy.Request(url, callback=self.parse_listing_page, errback=self.listing_failed,
                              meta={"listing_page": True}, dont_filter=True)

    def parse_listing_page(self, response):
        self.crawler.stats.inc_value(f"{STATS_PREFIX}/listing_pages")
        try:
            listing = parse_listing(response.url, response.body)
        except ParseError as error:
            yield PageFailure(url=response.url, kind="parse_error", message=str(error), listing=True)
            return
        if listing.last_page:
            self.last_page_seen = max(self.last_page_seen or 0, listing.last_page)
        listed_keys = [post_key(url) for url in listing.post_urls]
        done = self.archive_state.known_keys | self.archive_state.settled_keys
        new_keys = [key for key in listed_keys if key not in done]
        self.logger.info("Listing %s: %d posts, %d not stored yet%s", response.url, len(listed_keys),
                         len(new_keys), "" if listing.next_url else " (last page)")
        if not listed_keys:
            self.empty_listings.append(response.url)
            self.logger.warning("Listing %s names no digest posts: has the theme changed?", response.url)

        for url, key in zip(listing.post_urls, listed_keys):
            if key not in self.listed_keys:
                self.listed_keys.add(key)
                self.crawler.stats.inc_value(f"{STATS_PREFIX}/posts_listed")
            # A post repeated at the top of the next page, or listed as AMP and plain, is fetched once.
            # In a refresh, a post that failed for good (404, unparseable) is not fetched again.
            skip = self.archive_state.known_keys | (self.archive_state.settled_keys if self.mode == "refresh" else set())
            if key in skip or key in self.scheduled:
                continue
            self.scheduled[key] = url
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
            self.failure_message = f"the archive index {self.start_url} could not be read: {message}"
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

    def unanswered_posts(self) -> list[str]:
        """Listed URLs of posts requested in this run that got no answer at all: Scrapy dropped them
        without calling an errback. The store pipeline records them as failures."""
        return [url for key, url in self.scheduled.items() if key not in self.answered]

    def parse_post(self, response, listed_url: str):
        self.answered.add(response.meta["post_key"])
        if response.meta.get("recheck"):
            self.crawler.stats.inc_value(f"{STATS_PREFIX}/rechecked")
        if response.status == 304:
            self.crawler.stats.inc_value(f"{STATS_PREFIX}/not_modified")
            yield DigestNotModified(url=listed_url)
            return
        self.crawler.stats.inc_value(f"{STATS_PREFIX}/posts_fetched")
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
        self.answered.add(failure.request.meta.get("post_key"))
        kind, message, status = describe_failure(failure)
        yield PageFailure(url=failure.request.cb_kwargs.get("listed_url", failure.request.url),
                          kind=kind, message=message, http_status=status)
