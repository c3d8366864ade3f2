"""The `digests` spider: reads a listing through its cheapest index and fetches the digest posts.

It only decides what to fetch next; the parsers read pages, the pipelines store, the run keeps count.

    scrapy crawl digests                                   # refresh the default listings
    scrapy crawl digests -a mode=backfill -s DATABASE=x.db # every post of the listings
    scrapy crawl digests -a mode=recheck                   # re-check every stored digest for edits
    scrapy crawl digests -a index=html                     # the HTML listing only, not the REST API
    scrapy crawl digests -a start_url=http://127.0.0.1:8000/en/topic/iran-interlink-weekly-digest

The indexes, cheapest first (`index=auto`):
1. the listing's feed, asked conditionally: 304 means nothing changed anywhere on the site (refresh);
2. the REST API (`/wp/v2/posts?categories=N`, 100 posts a request with their modification times):
   what is new or changed is fetched; a backfill builds digests from it once a sample of pages agrees;
3. the HTML listing (`/page/N`, `?paged=N`): when the site offers no REST API, blocks it, or
   answers nonsense; the reason is logged once and kept in `crawl_runs.index_note`.

Each is a path of its own in spiders/digest_paths/ (`FeedPath`, `RestPath`, `HtmlPath`, and `PostPath`
for the posts any of them lists); this module takes the arguments, chooses the first path and hands a
failing REST path over to the HTML path.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn
from urllib.parse import urlsplit

import scrapy

from core.items import Digest, Listing, SiteNamed
from core.modes import Mode
from core.parsing import ParseError, parse_listing
from core.parsing.decoding import charset_of
from core.parsing.site_name import page_site_name
from core.parsing.wordpress import Discovery, parse_discovery
from core.urls import domain_of, is_http_url, same_site
from crawler.arguments import unknown_argument
from crawler.config import BadSetting, apply_project_defaults, check_settings, listing_urls, web_archives_of
from crawler.harvest import HarvestRun
from crawler.recover import RecoverRun
from crawler.run import USAGE_EXIT_CODE, RunRefused
from spiders.digest_paths import Crawl, FeedPath, HtmlPath, PostPath, RestPath
from spiders.digest_paths.crawl import header
from spiders.digest_paths.recover import RecoverPath

INDEXES = ("auto", "html")
# The spider's arguments (`-a NAME=VALUE`) and what each takes; any other is refused.
ARGUMENTS = {"start_url": "URL", "mode": "|".join(mode.value for mode in Mode), "index": "|".join(INDEXES)}


def _usage_error(message: str, code: int = USAGE_EXIT_CODE) -> NoReturn:
    """Stop before any request with one line, not a traceback: bad arguments are the user's to fix."""
    print(f"digests: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


_warned_about_contact = False


def _ask_for_a_contact(settings, start_url: str) -> None:
    """A crawl of a real site without DIGEST_CONTACT: say once how to set it (the fixture servers on
    loopback need none)."""
    global _warned_about_contact
    host = urlsplit(start_url).hostname or ""
    if (
        settings.get("DIGEST_CONTACT")
        or _warned_about_contact
        or host in ("localhost", "::1")
        or host.startswith("127.")
    ):
        return
    _warned_about_contact = True
    logging.getLogger(__name__).warning(
        "No DIGEST_CONTACT set: the User-Agent (%s) tells %s's operators nothing about who runs this crawl. "
        "Set it with -s DIGEST_CONTACT=you@example.org (or a URL about your crawl).",
        settings.get("USER_AGENT"),
        host,
    )


class DigestsSpider(scrapy.Spider):
    """Chooses the first path through a listing (feed and REST index, or the HTML listing) and hands
    the REST path's failure over to the HTML path; each path's callbacks are in spiders/digest_paths/."""

    name = "digests"
    run: HarvestRun  # opened in from_crawler, before any request (a RecoverRun's is `recovery`)
    recovery: RecoverRun | None = None  # -a mode=recover: the web archives, not the live site
    allowed_domains: list[str]
    # The paths, built in from_crawler once the run is open.
    feed: FeedPath
    rest: RestPath
    html: HtmlPath
    posts: PostPath
    # The post path's class: a subclass may swap it (tests/crashing puts a bug in its callback).
    post_path: type[PostPath] = PostPath

    def __init__(self, start_url: str | None = None, mode: str = "refresh", index: str = "auto", **kwargs) -> None:
        unknown = unknown_argument(kwargs, ARGUMENTS)
        if unknown is not None:
            _usage_error(unknown)
        super().__init__(**kwargs)
        try:
            self.mode = Mode.named(mode)
        except ValueError as error:
            _usage_error(str(error))
        if index not in INDEXES:
            _usage_error(f"unknown index {index!r}: use -a index=auto (feed and REST API first) or html")
        if start_url is not None and not is_http_url(start_url):
            _usage_error(f"start_url must be an http(s) URL, got {start_url!r}")
        self.index = index
        self.start_url: str = start_url or ""  # set from DIGEST_LISTINGS when not given
        self.start_listing: Listing | None = None  # the start page read as a listing, for a fall back to HTML

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        apply_project_defaults(settings)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        try:
            check_settings(crawler.settings)
        except BadSetting as error:
            _usage_error(str(error))
        # The project's `crawl` command gives each listing of DIGEST_LISTINGS its own run; a spider
        # built some other way without a start URL crawls the first.
        listings = listing_urls(crawler.settings)
        spider.start_url = spider.start_url or (listings[0] if listings else "")
        if not is_http_url(spider.start_url):
            _usage_error(f"DIGEST_LISTINGS must list http(s) URLs, got {spider.start_url!r}")
        _ask_for_a_contact(crawler.settings, spider.start_url)
        if spider.mode.reads_web_archives:
            return spider._open_recovery(crawler)
        # Offsite links are stored as links, never followed: only the listing's own site is crawled.
        spider.allowed_domains = [domain_of(spider.start_url)]
        recheck_limit = spider.mode.recheck_limit(crawler.settings.getint("DIGEST_RECHECK_LATEST"))
        try:
            # The run locks and opens the archive now, so that a busy archive or a bad path stops the
            # crawl before any request, and reads what it holds once.
            spider.run = HarvestRun.open(
                crawler, mode=spider.mode, start_url=spider.start_url, recheck_limit=recheck_limit
            )
        except RunRefused as refused:
            _usage_error(str(refused), refused.exit_code)
        spider._take_paths(Crawl(spider.start_url, spider.mode, spider.run, spider.logger))
        return spider

    def _open_recovery(self, crawler):
        """-a mode=recover: the listing's digests from the web archives (DIGEST_WEB_ARCHIVES), each asked one
        request at a time with DIGEST_WEB_ARCHIVE_DELAY between two (its download slot); the live site is
        never fetched."""
        if not web_archives_of(crawler.settings):
            _usage_error("-a mode=recover asks the web archives of DIGEST_WEB_ARCHIVES, and it names none")
        try:
            self.recovery = RecoverRun.open(crawler, start_url=self.start_url)
        except RunRefused as refused:
            _usage_error(str(refused), refused.exit_code)
        delay = crawler.settings.getfloat("DIGEST_WEB_ARCHIVE_DELAY")
        slots = dict(crawler.settings.getdict("DOWNLOAD_SLOTS"))
        for host in self.recovery.hosts():
            slots.setdefault(host, {"concurrency": 1, "delay": delay, "jitter": 0})
        crawler.settings.set("DOWNLOAD_SLOTS", slots, priority="spider")
        self.allowed_domains = self.recovery.hosts()
        self.recover = RecoverPath(self.start_url, self.recovery, self.logger)
        for name in self.recover.CALLBACKS:
            setattr(self, name, getattr(self.recover, name))
        return self

    def _take_paths(self, crawl: Crawl) -> None:
        self.posts = self.post_path(crawl, answered=self._post_answered)
        self.rest = RestPath(crawl, self.settings, self.posts, fall_back=self._fall_back_to_html)
        self.feed = FeedPath(crawl, rest_index_request=self.rest.index_request)
        self.html = HtmlPath(crawl, self.posts)
        # A request kept in JOBDIR names its callback, which Scrapy finds again on the spider by that name
        # (Request.to_dict looks for an attribute of the spider that is the same method): each path's
        # callbacks are the spider's attributes too, the very bound methods the path's requests carry.
        for path in (self.posts, self.rest, self.feed, self.html):
            for name in path.CALLBACKS:
                if hasattr(self, name):
                    raise TypeError(f"{type(path).__name__}.{name} would hide the spider's own {name}")
                setattr(self, name, getattr(path, name))

    async def start(self):
        # Scrapy logs an exception of start() with its traceback and goes on with nothing to crawl:
        # here it is the run's, recorded and ending the crawl like any other.
        try:
            requests = self.recover.start_requests() if self.recovery is not None else self._first_requests()
            for request in requests:
                yield request
        except Exception as error:  # handed to the run, which fails the crawl
            (self.recovery or self.run).crashed(error, self.start_url, "starting the crawl of")

    def _first_requests(self):
        """The REST index when earlier runs found it works (after the feed, when the feed can say that
        nothing changed); a re-check of every stored page; otherwise the start page, which says."""
        self.logger.info(
            "%s of %s: %d post URLs stored",
            self.mode.value.capitalize(),
            self.start_url,
            len(self.run.state.known_keys),
        )
        known = self.run.listing_record
        if (
            self.index == "auto"
            and known is not None
            and known.rest_usable
            and not self.mode.may_build_from_rest_content
        ):
            self.rest.begin(known)
            if self.mode.asks_the_feed_first and known.feed_url and (known.feed_etag or known.feed_last_modified):
                yield self.feed.request(known, conditional=True)
            else:
                yield self.rest.index_request(1)
            return
        if self.mode.rechecks_every_stored_digest:
            self.run.use_index(
                "html",
                "recheck of every stored page"
                if self.index == "html"
                else "the REST API is not known to work for this listing",
            )
            yield from self.posts.rechecks()
            return
        yield scrapy.Request(
            self.start_url,
            callback=self.parse_start_page,
            errback=self.html.listing_failed,
            meta={"listing_page": True},
            dont_filter=True,
        )

    # --- the start page: where the site's indexes are ---------------------------------------------

    def parse_start_page(self, response):
        # What the site calls itself, as its start page says (the REST root's `name`, read below, says better).
        named = page_site_name(response.url, response.body, charset_of(header(response, "Content-Type")))
        if named is not None:
            yield SiteNamed(url=response.url, name=named.name, source=named.source)
        discovery = None
        if self.index == "auto":
            try:
                discovery = parse_discovery(response.url, response.body, header(response, "Link"))
            except ParseError:
                discovery = None
        why_not = self._why_not_rest(discovery)
        if why_not is None:
            # _why_not_rest has checked these are there
            assert discovery is not None and discovery.rest_root is not None and discovery.posts_filter is not None
            index = self.run.discovered(
                discovery.rest_root, "=".join(map(str, discovery.posts_filter)), discovery.feed_url
            )
            try:
                self.start_listing = parse_listing(response.url, response.body)
            except ParseError:
                self.start_listing = None
            self.rest.begin(index, start_page_lists=len(self.start_listing.post_urls) if self.start_listing else 0)
            # The REST index says whether modified_after works (for the next refresh); the feed's
            # validators make the next refresh one request.
            yield self.rest.routes_request(discovery.rest_root)
            if discovery.feed_url:
                yield self.feed.request(index, conditional=False)
            yield self.rest.index_request(1)
            return
        self.run.use_index("html", why_not)
        yield from self.posts.rechecks()
        yield from self.html.parse_listing_page(response)

    def _why_not_rest(self, discovery: Discovery | None) -> str | None:
        if self.index == "html":
            return "-a index=html"
        if discovery is None or discovery.rest_root is None:
            return "the start page advertises no REST API"
        if discovery.posts_filter is None:
            return (
                "the start page names no listing object for the REST API (WordPress before 5.5, or not "
                "a category, tag or author listing)"
            )
        if not same_site(discovery.rest_root, self.start_url):
            return f"the REST API is on another site ({discovery.rest_root})"
        return None

    # --- the hand-overs between paths ---------------------------------------------------------------

    def _fall_back_to_html(self, reason: str):
        """The REST API failed this run: the HTML listing instead, from the start page."""
        if not self.rest.in_use:
            return
        self.rest.stop()
        self.logger.warning(
            "Not using the REST API of %s: %s; reading the HTML listing instead", self.start_url, reason
        )
        self.run.rest_abandoned(reason)
        yield from self.posts.rechecks()
        if self.mode.rechecks_every_stored_digest:
            return  # a recheck through the HTML path re-checks every stored page and reads no listing
        if self.start_listing is not None:
            yield from self.html.follow(self.start_url, self.start_listing)
        else:
            yield self.html.listing_request(self.start_url)

    def _post_answered(self, post_id: int | None, digest: Digest | None):
        """A post was read (or failed): in a backfill through the REST API it may complete the sample."""
        return self.rest.sample_answered(post_id, digest)
