"""The `digests` spider: reads an archive through its cheapest index and fetches the digest posts.

It only decides what to fetch next; the parsers read pages, the pipelines store, the run keeps count.

    scrapy crawl digests                                   # refresh the default archive
    scrapy crawl digests -a mode=backfill -s DATABASE=x.db # every post of the archive
    scrapy crawl digests -a mode=recheck                   # re-check every stored digest for edits
    scrapy crawl digests -a index=html                     # the HTML listing only, not the REST API
    scrapy crawl digests -a start_url=http://127.0.0.1:8000/en/topic/iran-interlink-weekly-digest

The indexes, cheapest first (`index=auto`):
1. the archive's feed, asked conditionally: 304 means nothing changed anywhere on the site (refresh);
2. the REST API (`/wp/v2/posts?categories=N`, 100 posts a request with their modification times):
   what is new or changed is fetched; a backfill builds digests from it once a sample of pages agrees;
3. the HTML listing (`/page/N`, `?paged=N`): when the site offers no REST API, blocks it, or
   answers nonsense; the reason is logged once and kept in `crawl_runs.index_note`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from datetime import timedelta
from typing import NoReturn
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest

import storage
from core.items import DigestNotModified, FetchedPage, IndexConfirmed, Listing, PageFailure, PostsGone
from core.modes import Mode
from core.parsing import ParseError, parse_digest, parse_listing
from core.parsing.decoding import charset_of
from core.parsing.wordpress import (
    Discovery,
    RestPostsPage,
    parse_discovery,
    parse_rest_post,
    parse_rest_posts,
    parse_rest_routes,
    post_url_by_id,
    rest_url,
)
from core.rest_plan import PER_PAGE, RestPlan
from core.urls import clean_post_url, domain_of, is_http_url, on_site_of, post_key, same_site, site_of
from crawler.arguments import unknown_argument
from crawler.config import BadSetting, apply_project_defaults, check_settings
from crawler.failures import describe_failure
from crawler.harvest import HarvestRun as CrawlRun  # the harvest is the spider's run
from crawler.run import USAGE_EXIT_CODE, RunRefused

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


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class DigestsSpider(scrapy.Spider):
    name = "digests"
    run: CrawlRun  # opened in from_crawler, before any request
    allowed_domains: list[str]

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
        self.start_url: str = start_url or ""  # set from DIGEST_ARCHIVES when not given
        self.plan: RestPlan | None = None  # set when the REST API is the index of this run
        self.start_listing: Listing | None = None  # the start page read as a listing, for a fall back to HTML
        # Scrapy checks each generator callback for a `return` with a value (inspect.getsource and
        # ast.parse), remembering the answer by the callback object; `self.parse_post` is a new bound
        # method at every request, so the check ran again for about one post in five. One bound method per
        # per-page callback keeps its answer (and a request's callback is still found by its name).
        for name in ("parse_post", "post_failed", "parse_listing_page"):
            setattr(self, name, getattr(self, name))

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
        # The project's `crawl` command gives each archive of DIGEST_ARCHIVES its own run; a spider
        # built some other way without a start URL crawls the first.
        archives = crawler.settings.getlist("DIGEST_ARCHIVES")
        spider.start_url = spider.start_url or (archives[0].strip() if archives else "")
        if not is_http_url(spider.start_url):
            _usage_error(f"DIGEST_ARCHIVES must list http(s) URLs, got {spider.start_url!r}")
        _ask_for_a_contact(crawler.settings, spider.start_url)
        # Offsite links are stored as links, never followed: only the archive's own site is crawled.
        spider.allowed_domains = [domain_of(spider.start_url)]
        recheck_limit = spider.mode.recheck_limit(crawler.settings.getint("DIGEST_RECHECK_LATEST"))
        try:
            # The run locks and opens the archive now, so that a busy archive or a bad path stops the
            # crawl before any request, and reads what it holds once.
            spider.run = CrawlRun.open(
                crawler, mode=spider.mode, start_url=spider.start_url, recheck_limit=recheck_limit
            )
        except RunRefused as refused:
            _usage_error(str(refused), refused.exit_code)
        return spider

    async def start(self):
        # Scrapy logs an exception of start() with its traceback and goes on with nothing to crawl:
        # here it is the run's, recorded and ending the crawl like any other.
        try:
            for request in self._first_requests():
                yield request
        except Exception as error:  # handed to the run, which fails the crawl
            self.run.crashed(error, self.start_url, "starting the crawl of")

    def _first_requests(self):
        self.logger.info(
            "%s of %s: %d post URLs stored", self.mode.value.capitalize(), self.start_url, self.run.stored_post_count()
        )
        known = self.run.known_index()
        if (
            self.index == "auto"
            and known is not None
            and known.rest_usable
            and not self.mode.may_build_from_rest_content
        ):
            self.plan = self._plan(known)
            self.run.use_index("rest")
            if self.mode.asks_the_feed_first and known.feed_url and (known.feed_etag or known.feed_last_modified):
                yield self._feed_request(known, conditional=True)
            else:
                yield self._index_request(1)
            return
        if self.mode.rechecks_every_stored_digest:
            self.run.use_index(
                "html",
                "recheck of every stored page"
                if self.index == "html"
                else "the REST API is not known to work for this archive",
            )
            for target in self.run.rechecks():
                yield self._recheck_request(target)
            return
        yield scrapy.Request(
            self.start_url,
            callback=self.parse_start_page,
            errback=self.listing_failed,
            meta={"listing_page": True},
            dont_filter=True,
        )

    def _plan(self, index: storage.ArchiveIndex) -> RestPlan:
        settings = self.settings
        return RestPlan(
            self.mode,
            index,
            self.run.stored_posts(),
            settings.getint("DIGEST_REST_SAMPLE"),
            timedelta(hours=settings.getfloat("DIGEST_REST_OVERLAP")),
            max_pages=settings.getint("DIGEST_MAX_REST_PAGES"),
        )

    # --- the start page: where the site's indexes are ---------------------------------------------

    def parse_start_page(self, response):
        discovery = None
        if self.index == "auto":
            try:
                discovery = parse_discovery(response.url, response.body, _header(response, "Link"))
            except ParseError:
                discovery = None
        why_not = self._why_not_rest(discovery)
        if why_not is None:
            # _why_not_rest has checked these are there
            assert discovery is not None and discovery.rest_root is not None and discovery.posts_filter is not None
            index = self.run.discovered(
                discovery.rest_root, "=".join(map(str, discovery.posts_filter)), discovery.feed_url
            )
            self.plan = self._plan(index)
            self.run.use_index("rest")
            try:
                self.start_listing = parse_listing(response.url, response.body)
            except ParseError:
                self.start_listing = None
            # The REST index says whether modified_after works (for the next refresh); the feed's
            # validators make the next refresh one request.
            yield scrapy.Request(
                rest_url(discovery.rest_root, "/"),
                callback=self.rest_routes_read,
                errback=self.side_request_failed,
                dont_filter=True,
            )
            if discovery.feed_url:
                yield self._feed_request(index, conditional=False)
            yield self._index_request(1)
            return
        self.run.use_index("html", why_not)
        yield from self._html_path_start()
        yield from self.parse_listing_page(response)

    def _why_not_rest(self, discovery: Discovery | None) -> str | None:
        if self.index == "html":
            return "-a index=html"
        if discovery is None or discovery.rest_root is None:
            return "the start page advertises no REST API"
        if discovery.posts_filter is None:
            return (
                "the start page names no archive object for the REST API (WordPress before 5.5, or not "
                "a category, tag or author archive)"
            )
        if not same_site(discovery.rest_root, self.start_url):
            return f"the REST API is on another site ({discovery.rest_root})"
        return None

    def _html_path_start(self):
        """What the HTML path does besides reading listings: re-check the newest digests for edits."""
        for target in self.run.rechecks():
            yield self._recheck_request(target)

    def _fall_back_to_html(self, reason: str):
        """The REST API failed this run: the HTML listing instead, from the start page."""
        if self.plan is None:
            return
        self.plan = None
        self.logger.warning(
            "Not using the REST API of %s: %s; reading the HTML listing instead", self.start_url, reason
        )
        self.run.rest_abandoned(reason)
        yield from self._html_path_start()
        if self.mode.rechecks_every_stored_digest:
            return  # a recheck through the HTML path re-checks every stored page and reads no listing
        if self.start_listing is not None:
            yield from self._follow_listing(self.start_url, self.start_listing)
        else:
            yield self._listing_request(self.start_url)

    # --- the feed: has anything changed? ------------------------------------------------------------

    def _feed_request(self, index: storage.ArchiveIndex, *, conditional: bool) -> scrapy.Request:
        headers = {}
        if conditional:
            # WordPress answers 304 only when every validator sent matches (class-wp.php send_headers).
            if index.feed_etag:
                headers["If-None-Match"] = index.feed_etag
            if index.feed_last_modified:
                headers["If-Modified-Since"] = index.feed_last_modified
        if index.feed_url is None:
            raise ValueError("no feed known for this archive")
        return scrapy.Request(
            on_site_of(index.feed_url, self.start_url),
            headers=headers,
            dont_filter=True,
            callback=self.feed_read,
            errback=self.feed_failed,
            cb_kwargs={"conditional": conditional},
            meta={"handle_httpstatus_list": [304], "dont_cache": True},
        )

    def feed_read(self, response, conditional: bool):
        if response.status == 304:
            self.logger.info(
                "The feed %s is unchanged since the last run: nothing was published or edited", response.url
            )
            self.run.feed_unchanged()
            return
        self.run.feed_validators(_header(response, "ETag"), _header(response, "Last-Modified"))
        if conditional:
            yield self._index_request(1)

    def feed_failed(self, failure):
        _, message, _ = describe_failure(failure)
        self.logger.info("The feed could not be read (%s); the REST index says what changed", message)
        if failure.request.cb_kwargs.get("conditional"):
            yield self._index_request(1)

    def rest_routes_read(self, response):
        try:
            self.run.rest_supports_modified_after(parse_rest_routes(response.url, response.body))
        except ParseError as error:
            self.logger.info("The REST index could not be read (%s); refreshes will page by modification time", error)

    def side_request_failed(self, failure):
        _, message, _ = describe_failure(failure)
        self.logger.info("%s could not be read: %s", failure.request.url, message)

    # --- the REST index -----------------------------------------------------------------------------

    def _index_request(self, page: int) -> scrapy.Request:
        if self.plan is None:
            raise ValueError("the REST index is not in use")
        return scrapy.Request(
            self.plan.index_url(page),
            callback=self.rest_index_read,
            errback=self.rest_index_failed,
            cb_kwargs={"page": page},
            dont_filter=True,
            meta={"dont_redirect": True},
        )

    def rest_index_read(self, response, page: int):
        if self.plan is None:
            return  # fell back to the HTML path meanwhile
        try:
            posts = parse_rest_posts(
                response.url,
                response.body,
                archive_url=self.start_url,
                per_page=PER_PAGE,
                total=_header(response, "X-WP-Total"),
                total_pages=_header(response, "X-WP-TotalPages"),
            )
        except ParseError as error:
            yield from self._fall_back_to_html(str(error))
            return
        self.run.index_read(len(posts.posts) + len(posts.rejected))
        following = self.plan.read(posts, page)
        yield from self._read_rejected(self.plan, posts)
        if following is not None:
            yield self._index_request(following)
            return
        yield from self._after_index()

    def _read_rejected(self, plan: RestPlan, posts: RestPostsPage):
        """Items of the index that cannot be used as they are: each is read from its page on this site
        (`/?p=ID`, which WordPress redirects to the post; with no usable id, the item's `link` when that
        is on this site), or recorded as a failure that names what the item said its link was."""
        for item in posts.rejected:
            self.logger.warning("REST index %s, item %d: %s", posts.url, item.position, item.reason)
            if item.post_id is not None:
                url = on_site_of(post_url_by_id(plan.rest_root, item.post_id), self.start_url)
            elif item.link is not None and self.run.is_on_site(item.link):
                url = item.link
            else:
                named = f"its link {item.link[:200]!r} is on another site" if item.link else "it has no usable link"
                yield PageFailure(
                    url=f"{posts.url}#item-{item.position}",
                    kind="rest_item",
                    message=f"item {item.position}: {item.reason}; {named}: nothing to fetch",
                )
                continue
            if self.run.post_requested(post_key(url), url):
                yield self._post_request(url, post_id=item.post_id, refetch=self.run.is_stored(post_key(url)))

    def rest_index_failed(self, failure):
        _, message, _ = describe_failure(failure)
        yield from self._fall_back_to_html(f"{failure.request.url}: {message}")

    def _after_index(self):
        """The whole index is read: confirm what is current, fetch what is new or changed."""
        plan = self.plan
        if plan is None:
            return
        if not plan.listed and self.start_listing is not None and self.start_listing.post_urls:
            yield from self._fall_back_to_html(
                f"the REST index lists no posts where the start page lists {len(self.start_listing.post_urls)}"
            )
            return
        if plan.capped:
            self.run.fail(
                f"the REST index goes on past DIGEST_MAX_REST_PAGES ({plan.max_pages} pages of "
                f"{PER_PAGE}); raise the setting if the archive is really that long"
            )
        elif not plan.read_to_its_end():
            self.run.index_incomplete(plan.end_note or "the REST index was not read to its end")
        else:
            self.run.synced(plan.newest_modified)
        unchanged = plan.unchanged()
        if unchanged:
            yield IndexConfirmed(site=site_of(self.start_url), modified_by_post=unchanged)
        to_fetch = plan.to_fetch()
        self.logger.info(
            "REST index of %s: %d digests listed, %d new or changed", self.start_url, len(plan.digests()), len(to_fetch)
        )
        if self.mode.rechecks_every_stored_digest and plan.read_to_its_end():
            # Only an index read to its end says which stored posts it no longer lists; the site is
            # asked about those, a page of ids at a time, before any is marked gone.
            missing = plan.missing()
            for start in range(0, len(missing), PER_PAGE):
                asked = missing[start : start + PER_PAGE]
                yield scrapy.Request(
                    plan.still_published_url(asked),
                    callback=self.published_read,
                    errback=self.side_request_failed,
                    cb_kwargs={"asked": asked},
                    dont_filter=True,
                )
        # A backfill fetches a sample of pages first; the rest waits for the sample's verdict.
        to_fetch, held_back = plan.fetch_first(to_fetch)
        # The ledger takes the posts to fetch first (the sample before what waits for its verdict), then
        # each post held back, which ends built from the REST API or fetched; DIGEST_MAX_POSTS may stop it.
        requests = [request for post in to_fetch for request in self._request_post(post)]
        plan.hold_back([post for post in held_back if self.run.post_requested(post_key(post.link), post.link)])
        yield from requests

    def _request_post(self, post, *, held_back: bool = False):
        key = post_key(post.link)
        if self.run.post_requested(key, post.link) or held_back:
            yield self._post_request(
                post.link, modified=post.modified_gmt, post_id=post.post_id, refetch=self.run.is_stored(key)
            )

    def published_read(self, response, asked: list[int]):
        try:
            answer = parse_rest_posts(response.url, response.body, archive_url=self.start_url, per_page=PER_PAGE)
            still = {post.post_id for post in answer.posts} | {item.post_id for item in answer.rejected}
        except ParseError as error:
            self.logger.info("Could not tell which posts are gone: %s", error)
            return
        gone = [post_id for post_id in asked if post_id not in still]
        if gone:
            yield PostsGone(site=site_of(self.start_url), post_ids=tuple(gone))

    def _sample_answered(self, post_id: int | None, digest):
        """A sampled page was read (or failed): once all are, the REST content is trusted or not."""
        verdict = None if self.plan is None else self.plan.sample_answered(post_id, digest)
        if verdict is None:
            return
        self.logger.info(
            "%s: %s",
            "Building the other digests from the REST API" if verdict.trusted else "Fetching every page",
            verdict.why,
        )
        self.run.note(verdict.why)
        for post in verdict.held_back:
            if verdict.trusted:
                yield from self._digest_from_rest(post)
            else:
                yield from self._request_post(post, held_back=True)

    def _digest_from_rest(self, post):
        """A digest built from the post's REST item, kept like a page (source `rest`) for re-parsing."""
        try:
            digest = parse_rest_post(post.item)
        except ParseError as error:
            # One bad item costs that item: its page says what the post is.
            self.logger.info("REST post %d not usable (%s): reading its page", post.post_id, error)
            yield from self._request_post(post, held_back=True)
            return
        self.run.built_from_rest()
        # The item as JSON (no lone surrogate can reach here: `ensure_ascii` escapes what UTF-8 cannot hold).
        body = json.dumps(post.item).encode("ascii")
        yield FetchedPage(
            url=post.link,
            http_status=200,
            content_type="application/json",
            etag=None,
            last_modified=None,
            body=body,
            source="rest",
        )
        yield replace(digest, modified=post.modified_gmt, source_urls=(post.link,))

    # --- archive index pages (the HTML path) ----------------------------------------------------------

    def _listing_request(self, url: str) -> scrapy.Request:
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
            self.run.listing_unreadable(response.url)
            yield PageFailure(url=response.url, kind="parse_error", message=str(error), listing=True)
            return
        yield from self._follow_listing(response.url, listing)

    def _follow_listing(self, url: str, listing):
        listed_keys = [post_key(post_url) for post_url in listing.post_urls]
        self.run.listing_read(url, listed_keys, listing.last_page)
        done = [self.run.is_stored(key) or self.run.is_settled(key) for key in listed_keys]
        self.logger.info(
            "Listing %s: %d posts, %d not stored yet%s",
            url,
            len(listed_keys),
            done.count(False),
            "" if listing.next_url else " (last page)",
        )
        if not listed_keys:
            self.logger.warning("Listing %s names no digest posts: has the theme changed?", url)

        for post_url, key in zip(listing.post_urls, listed_keys, strict=True):
            # A post repeated at the top of the next page, or listed as AMP and plain, is fetched once.
            # In a refresh, a post that failed for good (404, unparseable) is not fetched again.
            if self.run.is_stored(key) or (self.mode.skips_settled_failures and self.run.is_settled(key)):
                continue
            if self.run.post_requested(key, post_url):
                yield self._post_request(post_url)

        if listing.next_url is None:
            return
        if self.mode.stops_at_what_is_stored and (False not in done or done[done.index(False) :].count(True)):
            # Listings are newest first: a page with nothing new, or a stored post after the new
            # ones (a sticky post may stand above them), is the stored frontier: older pages are stored.
            self.logger.info("Refresh: %s reaches what is stored; not following older pages", url)
            return
        why_not = self.run.refuse_next_listing(listing.next_url)
        if why_not is not None:
            self.logger.warning("Not following next page %s: %s", listing.next_url, why_not)
            return
        yield self._listing_request(on_site_of(listing.next_url, self.start_url))

    def listing_failed(self, failure):
        kind, message, status = describe_failure(failure)
        if failure.request.url == self.start_url:
            self.run.fail(f"the archive index {self.start_url} could not be read: {message}")
        yield PageFailure(url=failure.request.url, kind=kind, message=message, listing=True, http_status=status)

    # --- digest posts -----------------------------------------------------------------------------

    def _post_request(
        self, listed_url: str, *, modified: str | None = None, post_id: int | None = None, refetch: bool = False
    ) -> scrapy.Request:
        # Fetch the plain post (not its AMP, embed or tracked form) at the archive's own origin.
        url = on_site_of(clean_post_url(listed_url), self.start_url)
        return scrapy.Request(
            url,
            callback=self.parse_post,
            errback=self.post_failed,
            dont_filter=True,
            cb_kwargs={"listed_url": listed_url},
            meta={"post_key": post_key(listed_url), "modified": modified, "post_id": post_id, "refetch": refetch},
        )

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
        self.run.post_requested(post_key(url), target.url)
        return scrapy.Request(
            url,
            callback=self.parse_post,
            errback=self.post_failed,
            headers=headers,
            dont_filter=True,
            cb_kwargs={"listed_url": target.url},
            meta={"post_key": post_key(url), "recheck": True, "handle_httpstatus_list": [304]},
        )

    def parse_post(self, response, listed_url: str):
        self.run.post_answered(
            response.meta["post_key"], recheck=bool(response.meta.get("recheck")), status=response.status
        )
        if response.status == 304:
            yield DigestNotModified(url=listed_url)
            return
        digest = None
        content_type = _header(response, "Content-Type")
        if not response.body.strip():
            yield PageFailure(
                url=listed_url,
                kind="empty",
                http_status=response.status,
                message=f"{response.url}: HTTP {response.status} with an empty body",
            )
        elif content_type and not any(marker in content_type.lower() for marker in ("html", "xml", "text/plain")):
            yield PageFailure(
                url=listed_url,
                kind="not_html",
                http_status=response.status,
                message=f"{response.url}: {content_type.split(';')[0]}, not an HTML page ({len(response.body)} bytes)",
            )
        else:
            yield FetchedPage(
                url=response.request.url,
                http_status=response.status,
                content_type=content_type,
                etag=_header(response, "ETag"),
                last_modified=_header(response, "Last-Modified"),
                body=response.body,
            )
            try:
                digest = parse_digest(response.url, response.body, http_charset=charset_of(content_type))
            except ParseError as error:
                yield PageFailure(url=listed_url, kind="parse_error", message=f"{response.url}: {error}")
            else:
                sources = dict.fromkeys([listed_url, response.request.url, response.url, *digest.source_urls])
                digest = replace(digest, source_urls=tuple(sources), modified=response.meta.get("modified"))
                yield digest
        yield from self._sample_answered(response.meta.get("post_id"), digest)

    def post_failed(self, failure):
        if failure.check(IgnoreRequest) and failure.request.meta.get("skipped_as_stored"):
            return  # a request restored from JOBDIR for a post stored before the stop
        self.run.post_answered(failure.request.meta.get("post_key"), recheck=bool(failure.request.meta.get("recheck")))
        kind, message, status = describe_failure(failure)
        yield PageFailure(
            url=failure.request.cb_kwargs.get("listed_url", failure.request.url),
            kind=kind,
            message=message,
            http_status=status,
        )
        yield from self._sample_answered(failure.request.meta.get("post_id"), None)
