"""The REST index (`/wp/v2/posts?categories=N`, 100 posts a request with their modification times):
what is new or changed is fetched; a backfill builds digests from it once a sample of pages agrees.
`RestPlan` keeps the books; this path makes the requests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import scrapy

import storage
from core.items import Digest, FetchedPage, PageFailure, PostsGone, RestIndexConfirmed, SiteNamed
from core.parsing import ParseError
from core.parsing.site_name import rest_site_name
from core.parsing.wordpress import (
    RestPostsPage,
    parse_rest_post,
    parse_rest_posts,
    parse_rest_routes,
    post_url_by_id,
    rest_url,
)
from core.rest_plan import PER_PAGE, RestPlan
from core.urls import on_site_of, post_key, site_of
from crawler.failures import describe_failure
from spiders.digest_paths.crawl import Crawl, Path, header
from spiders.digest_paths.posts import PostPath

# The hand-over when the REST API fails this run: given why, it yields what the HTML path asks first.
FallBack = Callable[[str], Iterable[Any]]


class RestPath(Path):
    CALLBACKS = ("rest_routes_read", "rest_index_read", "rest_index_failed", "published_read", "side_request_failed")

    def __init__(self, crawl: Crawl, settings, posts: PostPath, fall_back: FallBack) -> None:
        super().__init__(crawl)
        self.settings = settings
        self.posts = posts
        self.fall_back = fall_back
        self.plan: RestPlan | None = None  # set while the REST API is the index of this run
        self.start_page_lists = 0  # posts the start page lists, when it was read: the index should list some

    @property
    def in_use(self) -> bool:
        return self.plan is not None

    def begin(self, index: storage.ListingRecord, *, start_page_lists: int = 0) -> None:
        """The REST API is the index of this run, as `index` (the listing's index record) describes it."""
        settings = self.settings
        self.plan = RestPlan(
            self.crawl.mode,
            index,
            self.crawl.run.state.posts,
            settings.getint("DIGEST_REST_SAMPLE"),
            timedelta(hours=settings.getfloat("DIGEST_REST_OVERLAP")),
            max_pages=settings.getint("DIGEST_MAX_REST_PAGES"),
        )
        self.start_page_lists = start_page_lists
        self.crawl.run.use_index("rest")

    def stop(self) -> None:
        """Not the index of this run any more: answers still on their way are dropped."""
        self.plan = None

    # --- the REST routes: does the index take modified_after? ---------------------------------------

    def routes_request(self, rest_root: str) -> scrapy.Request:
        return scrapy.Request(
            rest_url(rest_root, "/"),
            callback=self.rest_routes_read,
            errback=self.side_request_failed,
            dont_filter=True,
        )

    def rest_routes_read(self, response):
        try:
            self.crawl.run.findings.modified_after = parse_rest_routes(response.url, response.body)
            named = rest_site_name(response.url, response.body)
        except ParseError as error:
            self.crawl.logger.info(
                "The REST index could not be read (%s); refreshes will page by modification time", error
            )
            return
        if named is not None:  # the site's own title (`blogname`): the best of what names it
            yield SiteNamed(url=response.url, name=named.name, source=named.source)

    def side_request_failed(self, failure):
        _, message, _ = describe_failure(failure)
        self.crawl.logger.info("%s could not be read: %s", failure.request.url, message)

    # --- the index, page by page ----------------------------------------------------------------------

    def index_request(self, page: int) -> scrapy.Request:
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
                listing_url=self.crawl.start_url,
                per_page=PER_PAGE,
                total=header(response, "X-WP-Total"),
                total_pages=header(response, "X-WP-TotalPages"),
            )
        except ParseError as error:
            yield from self.fall_back(str(error))
            return
        self.crawl.run.tally.rest_index_page(len(posts.posts) + len(posts.rejected))
        following = self.plan.read(posts, page)
        yield from self._read_rejected(self.plan, posts)
        if following is not None:
            yield self.index_request(following)
            return
        yield from self._after_index()

    def rest_index_failed(self, failure):
        _, message, _ = describe_failure(failure)
        yield from self.fall_back(f"{failure.request.url}: {message}")

    def _read_rejected(self, plan: RestPlan, posts: RestPostsPage):
        """Items of the index that cannot be used as they are: each is read from its page on this site
        (`/?p=ID`, which WordPress redirects to the post; with no usable id, the item's `link` when that
        is on this site), or recorded as a failure that names what the item said its link was."""
        run = self.crawl.run
        for item in posts.rejected:
            self.crawl.logger.warning("REST index %s, item %d: %s", posts.url, item.position, item.reason)
            if item.post_id is not None:
                url = on_site_of(post_url_by_id(plan.rest_root, item.post_id), self.crawl.start_url)
            elif item.link is not None and run.is_on_site(item.link):
                url = item.link
            else:
                named = f"its link {item.link[:200]!r} is on another site" if item.link else "it has no usable link"
                yield PageFailure(
                    url=f"{posts.url}#item-{item.position}",
                    kind="rest_item",
                    message=f"item {item.position}: {item.reason}; {named}: nothing to fetch",
                )
                continue
            if run.post_requested(post_key(url), url):
                yield self.posts.request(url, post_id=item.post_id, refetch=run.is_stored(post_key(url)))

    def _after_index(self):
        """The whole index is read: confirm what is current, fetch what is new or changed."""
        plan, run = self.plan, self.crawl.run
        if plan is None:
            return
        if not plan.listed and self.start_page_lists:
            yield from self.fall_back(
                f"the REST index lists no posts where the start page lists {self.start_page_lists}"
            )
            return
        if plan.capped:
            run.fail(
                f"the REST index goes on past DIGEST_MAX_REST_PAGES ({plan.max_pages} pages of "
                f"{PER_PAGE}); raise the setting if the listing is really that long"
            )
        elif not plan.read_to_its_end():
            run.rest_index_incomplete(plan.end_note or "the REST index was not read to its end")
        else:
            run.synced(plan.newest_modified)
        unchanged = plan.unchanged()
        if unchanged:
            yield RestIndexConfirmed(site=site_of(self.crawl.start_url), modified_by_post=unchanged)
        to_fetch = plan.to_fetch()
        self.crawl.logger.info(
            "REST index of %s: %d digests listed, %d new or changed",
            self.crawl.start_url,
            len(plan.digests()),
            len(to_fetch),
        )
        if self.crawl.mode.rechecks_every_stored_digest and plan.read_to_its_end():
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
        plan.hold_back([post for post in held_back if run.post_requested(post_key(post.link), post.link)])
        yield from requests

    def _request_post(self, post, *, held_back: bool = False):
        key = post_key(post.link)
        if self.crawl.run.post_requested(key, post.link) or held_back:
            yield self.posts.request(
                post.link, modified=post.modified_gmt, post_id=post.post_id, refetch=self.crawl.run.is_stored(key)
            )

    def published_read(self, response, asked: list[int]):
        try:
            answer = parse_rest_posts(response.url, response.body, listing_url=self.crawl.start_url, per_page=PER_PAGE)
            still = {post.post_id for post in answer.posts} | {item.post_id for item in answer.rejected}
        except ParseError as error:
            self.crawl.logger.info("Could not tell which posts are gone: %s", error)
            return
        gone = [post_id for post_id in asked if post_id not in still]
        if gone:
            yield PostsGone(site=site_of(self.crawl.start_url), post_ids=tuple(gone))

    # --- the sample: are the REST items the pages' digests? -----------------------------------------

    def sample_answered(self, post_id: int | None, digest: Digest | None):
        """A sampled page was read (or failed): once all are, the REST content is trusted or not."""
        verdict = None if self.plan is None else self.plan.sample_answered(post_id, digest)
        if verdict is None:
            return
        self.crawl.logger.info(
            "%s: %s",
            "Building the other digests from the REST API" if verdict.trusted else "Fetching every page",
            verdict.why,
        )
        self.crawl.run.note(verdict.why)
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
            self.crawl.logger.info("REST post %d not usable (%s): reading its page", post.post_id, error)
            yield from self._request_post(post, held_back=True)
            return
        self.crawl.run.built_from_rest()
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
