"""The recovery's way through the web's archives (`-a mode=recover`): what to ask each CDX API, which
captures to read. It decides what to fetch; `core.recovery` says which captures, the parsers read them,
the run (crawler/recover.py) stores and remembers them.

For each web archive of DIGEST_WEB_ARCHIVES, one after the other (one request at a time each):
1. the listing's captures: a prefix query under the start URL's path (`showNumPages`, then each page);
2. each captured listing page not read before (one per content), read like a live listing: the posts
   it names (a page read by an earlier run gives its posts from the archive file, not the network);
3. the posts' captures: a prefix query under the directory the known post URLs share;
4. each post, one candidate per post: a post the archive does not hold, its newest 200 HTML capture, then
   the older ones (its history); a post it holds, the captures older than its stored version. A capture
   read before is never fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import scrapy

from core.items import LATEST, LISTING, OLDER, CaptureRead, PageFailure
from core.parsing import ParseError, parse_digest, parse_listing
from core.parsing.cdx import MAX_CDX_BYTES, CdxRow, cdx_prefix_query, parse_cdx_pages, parse_cdx_rows
from core.parsing.decoding import charset_of
from core.recovery import (
    group_posts,
    listing_captures,
    listing_prefix,
    memento_of,
    not_of_the_series,
    plan_post,
    post_prefix,
)
from core.urls import post_key
from core.web_archives import WebArchive
from crawler.failures import describe_failure
from crawler.recover import RecoverRun
from spiders.digest_paths.crawl import header

LISTINGS, POSTS = "listings", "posts"


@dataclass
class _Walk:
    """One web archive's part of the run."""

    archive: WebArchive
    rows: list[CdxRow] = field(default_factory=list)  # the answer of the query in progress
    pending: int = 0  # requests of the current step not answered yet
    listed: dict[str, str] = field(default_factory=dict)  # post key → a URL a captured listing named it by
    stopped: bool = False  # a CDX query failed: nothing more is asked of this archive


class RecoverPath:
    CALLBACKS = (
        "cdx_pages_answered",
        "cdx_answered",
        "cdx_failed",
        "listing_captured",
        "post_captured",
        "capture_failed",
    )

    def __init__(self, start_url: str, run: RecoverRun, logger) -> None:
        self.start_url = start_url
        self.run = run
        self.logger = logger
        self.walks = [_Walk(archive) for archive in run.archives]
        self.current = 0
        for name in self.CALLBACKS:  # one bound method each (see spiders/digest_paths/crawl.py Path)
            setattr(self, name, getattr(self, name))

    def start_requests(self):
        self.logger.info(
            "Recovery of %s from %s: %d post URLs stored",
            self.start_url,
            ", ".join(walk.archive.name for walk in self.walks),
            len(self.run.state.stored),
        )
        yield from self._begin_archive()

    # --- one web archive after the other ----------------------------------------------------------------

    def _begin_archive(self):
        if self.current < len(self.walks):
            yield self._query(self.walks[self.current], LISTINGS, listing_prefix(self.start_url))

    def _archive_done(self, walk: _Walk):
        self.current += 1
        yield from self._begin_archive()

    # --- CDX queries: how many pages, then each page ----------------------------------------------------

    def _query(self, walk: _Walk, step: str, prefix: str, page: int | None = None) -> scrapy.Request:
        walk.rows = [] if page is None else walk.rows
        callback = self.cdx_pages_answered if page is None else self.cdx_answered
        url = cdx_prefix_query(walk.archive.cdx, prefix, page=page, num_pages=page is None)
        self.run.cdx_asked(url)
        return self._request(url, callback, self.cdx_failed, {"step": step, "prefix": prefix, "cdx": True})

    def _request(self, url: str, callback, errback, meta: dict) -> scrapy.Request:
        meta = {
            **meta,
            "walk": self.current,
            # The web archive's pace is its slot's (DOWNLOAD_SLOTS, set by the spider): AutoThrottle keeps off.
            "autothrottle_dont_adjust_delay": True,
        }
        if meta.get("cdx"):
            meta.update(download_maxsize=MAX_CDX_BYTES, download_warnsize=MAX_CDX_BYTES)
        return scrapy.Request(url, callback=callback, errback=errback, dont_filter=True, meta=meta)

    def cdx_pages_answered(self, response):
        walk = self.walks[response.meta["walk"]]
        step, prefix = response.meta["step"], response.meta["prefix"]
        try:
            pages = parse_cdx_pages(response.body, self.run.max_cdx_pages)
            rows = parse_cdx_rows(response.body) if pages is None else []
        except ParseError as error:
            yield from self._cdx_refused(walk, response.url, str(error))
            return
        self.run.cdx_read()
        if pages is None or pages == 0:  # the server does not page (its answer is whole), or nothing captured
            walk.rows = rows
            yield from self._rows_done(walk, step)
            return
        walk.pending = pages
        for page in range(pages):
            yield self._query(walk, step, prefix, page)

    def cdx_answered(self, response):
        walk = self.walks[response.meta["walk"]]
        try:
            rows = parse_cdx_rows(response.body)
        except ParseError as error:
            walk.pending -= 1
            yield from self._cdx_refused(walk, response.url, str(error))
            return
        self.run.cdx_read()
        walk.rows.extend(rows)
        walk.pending -= 1
        if walk.pending == 0 and not walk.stopped:
            yield from self._rows_done(walk, response.meta["step"])

    def cdx_failed(self, failure):
        walk = self.walks[failure.request.meta["walk"]]
        kind, message, status = describe_failure(failure)
        if "page=" in failure.request.url:
            walk.pending -= 1
        yield PageFailure(url=failure.request.url, kind=kind, message=message, http_status=status)
        yield from self._stop(walk, f"{walk.archive.name}'s CDX API failed ({message}): ask again later")

    def _cdx_refused(self, walk: _Walk, url: str, why: str):
        yield PageFailure(url=url, kind="cdx_answer", message=f"{walk.archive.name}'s CDX answer refused: {why}")
        yield from self._stop(walk, f"{walk.archive.name}'s CDX answer refused: {why}")

    def _stop(self, walk: _Walk, why: str):
        """A CDX query failed: what it would have found is unknown, so the run fails (the next run asks
        again; never "no capture"), and the next web archive is asked."""
        if walk.stopped:
            return
        walk.stopped = True
        self.run.fail(why)
        yield from self._archive_done(walk)

    def _rows_done(self, walk: _Walk, step: str):
        if step == LISTINGS:
            yield from self._read_listings(walk)
        else:
            yield from self._read_posts(walk)

    # --- the listing's captured pages --------------------------------------------------------------------

    def _read_listings(self, walk: _Walk):
        name = walk.archive.name
        read = self.run.listings_read(name)
        for posts in read.values():
            self._listed(walk, posts)
        chosen = listing_captures(self.start_url, walk.rows, read.keys())
        self.logger.info(
            "%s: %d captures of the listing's pages, %d to read (%d read by earlier runs)",
            name,
            sum(1 for row in walk.rows),
            len(chosen),
            len(read),
        )
        walk.rows = []
        requests = []
        for row in chosen:
            if not self.run.take_capture():
                break
            requests.append(self._capture_request(walk, row, self.listing_captured, {}))
        walk.pending = len(requests)
        if not requests:
            yield from self._listings_done(walk)
            return
        yield from requests

    def listing_captured(self, response):
        walk = self.walks[response.meta["walk"]]
        memento = response.meta["memento"]
        self.run.capture_downloaded()
        try:
            listing = parse_listing(memento.url, response.body)
        except ParseError as error:
            yield CaptureRead(memento, "not_html", message=f"not a listing page: {error}")
        else:
            self._listed(walk, listing.post_urls)
            yield CaptureRead(memento, LISTING, posts=listing.post_urls)
        walk.pending -= 1
        if walk.pending == 0:
            yield from self._listings_done(walk)

    def _listed(self, walk: _Walk, urls) -> None:
        for url in urls:
            walk.listed.setdefault(post_key(url), url)

    def _listings_done(self, walk: _Walk):
        known = [*self.run.stored_urls(), *walk.listed.values()]
        yield self._query(walk, POSTS, post_prefix(self.start_url, known))

    # --- the posts ---------------------------------------------------------------------------------------

    def _read_posts(self, walk: _Walk):
        captured = group_posts(self.start_url, walk.rows)
        walk.rows = []
        never = [url for key, url in walk.listed.items() if key not in captured]
        if never:
            self.logger.info(
                "%s: %d posts named by captured listings were never captured themselves", walk.archive.name, len(never)
            )
        # Posts named by a captured listing first, then the others the prefix query found.
        keys = sorted(captured, key=lambda key: (key not in walk.listed, key))
        keys = keys[: self.run.candidates(len(keys))]
        read = self.run.posts_read(walk.archive.name)
        chains = []
        for key in keys:
            plan = plan_post(captured[key], self.run.version_since(key), read)
            if plan.skip is not None:
                why, row = plan.skip
                if (row.original, row.timestamp) not in read:
                    memento = memento_of(walk.archive, row)
                    yield CaptureRead(
                        memento, why, post_key=key, message=f"captured only as HTTP {row.status} {row.mimetype}"
                    )
                continue
            chain = [(LATEST, plan.latest)] if plan.latest is not None else []
            chain += [(OLDER, row) for row in plan.older]
            if chain:
                chains.append((key, chain))
        walk.pending = 0
        requests = []
        for key, chain in chains:
            request = self._next_in_chain(walk, key, chain)
            if request is None:
                break
            requests.append(request)
        walk.pending = len(requests)
        if not requests:
            yield from self._archive_done(walk)
            return
        yield from requests

    def _next_in_chain(self, walk: _Walk, key: str, chain: list) -> scrapy.Request | None:
        if not chain or not self.run.take_capture():
            return None
        (role, row), rest = chain[0], chain[1:]
        return self._capture_request(walk, row, self.post_captured, {"role": role, "recover_post": key, "chain": rest})

    def _capture_request(self, walk: _Walk, row: CdxRow, callback, meta: dict) -> scrapy.Request:
        memento = memento_of(walk.archive, row)
        return self._request(
            walk.archive.raw_url(row.timestamp, row.original),
            callback,
            self.capture_failed,
            {**meta, "memento": memento},
        )

    def post_captured(self, response):
        walk = self.walks[response.meta["walk"]]
        memento, role, key = response.meta["memento"], response.meta["role"], response.meta["recover_post"]
        self.run.capture_downloaded()
        content_type = header(response, "Content-Type")
        chain = response.meta["chain"]
        if content_type and "html" not in content_type.lower():
            yield CaptureRead(memento, "not_html", post_key=key, message=f"{content_type.split(';')[0]}, not HTML")
            chain = chain if role == OLDER else []
        else:
            try:
                digest = parse_digest(memento.url, response.body, http_charset=charset_of(content_type))
            except ParseError as error:
                yield CaptureRead(memento, "not_digest", post_key=key, message=str(error))
                chain = chain if role == OLDER else []  # the post's newest capture is no digest: nothing to recover
            else:
                why_not = not_of_the_series(digest)
                if why_not is not None:
                    yield CaptureRead(memento, "not_digest", post_key=key, message=why_not)
                    yield from self._chain_goes_on(walk, key, chain if role == OLDER else [])
                    return
                sources = dict.fromkeys([memento.url, *digest.source_urls])
                yield CaptureRead(memento, role, post_key=key, digest=replace(digest, source_urls=tuple(sources)))
        yield from self._chain_goes_on(walk, key, chain)

    def capture_failed(self, failure):
        request = failure.request
        walk = self.walks[request.meta["walk"]]
        kind, message, status = describe_failure(failure)
        # "Later", never "no capture": not remembered as read, so the next run asks for it again.
        yield PageFailure(url=request.url, kind=kind, message=message, http_status=status)
        if "recover_post" in request.meta:
            yield from self._chain_goes_on(walk, request.meta["recover_post"], [])
            return
        walk.pending -= 1
        if walk.pending == 0:
            yield from self._listings_done(walk)

    def _chain_goes_on(self, walk: _Walk, key: str, chain: list):
        request = self._next_in_chain(walk, key, chain)
        if request is not None:
            yield request
            return
        walk.pending -= 1
        if walk.pending == 0:
            yield from self._archive_done(walk)
