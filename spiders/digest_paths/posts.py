"""The digest posts, whichever index listed them: fetch each, re-check stored ones for edits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest

import storage
from core.items import Digest, DigestNotModified, FetchedPage, PageFailure, SiteNamed
from core.parsing import ParseError, parse_digest
from core.parsing.decoding import charset_of
from core.parsing.site_name import page_site_name
from core.urls import clean_post_url, on_site_of, post_key
from crawler.failures import describe_failure
from spiders.digest_paths.crawl import Crawl, Path, header

# Told of every post that was read (with its digest) or failed (None): the REST path's sample check.
Answered = Callable[[int | None, Digest | None], Iterable[Any]]


class PostPath(Path):
    CALLBACKS = ("parse_post", "post_failed")

    def __init__(self, crawl: Crawl, answered: Answered) -> None:
        super().__init__(crawl)
        self.answered = answered

    def request(
        self, listed_url: str, *, modified: str | None = None, post_id: int | None = None, refetch: bool = False
    ) -> scrapy.Request:
        # Fetch the plain post (not its AMP, embed or tracked form) at the listing's own origin.
        url = on_site_of(clean_post_url(listed_url), self.crawl.start_url)
        return scrapy.Request(
            url,
            callback=self.parse_post,
            errback=self.post_failed,
            dont_filter=True,
            cb_kwargs={"listed_url": listed_url},
            meta={"post_key": post_key(listed_url), "modified": modified, "post_id": post_id, "refetch": refetch},
        )

    def rechecks(self):
        """Each stored digest the run says is due (the newest, or every one in a recheck), asked
        conditionally: has it been edited?"""
        for target in self.crawl.run.rechecks():
            yield self._recheck_request(target)

    def _recheck_request(self, target: storage.RecheckTarget) -> scrapy.Request:
        # Last-Modified first: a WordPress page embeds "recent posts" and "related" widgets, so an ETag
        # computed over the body changes whenever any post is published, while Last-Modified follows
        # the post's own modification time. The ETag is used only when it is all the server gave.
        headers = {}
        if target.last_modified:
            headers["If-Modified-Since"] = target.last_modified
        elif target.etag:
            headers["If-None-Match"] = target.etag
        url = on_site_of(target.url, self.crawl.start_url)
        self.crawl.run.post_requested(post_key(url), target.url)
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
        self.crawl.run.tally.answered(
            response.meta["post_key"], recheck=bool(response.meta.get("recheck")), status=response.status
        )
        if response.status == 304:
            yield DigestNotModified(url=listed_url)
            return
        digest = None
        content_type = header(response, "Content-Type")
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
                etag=header(response, "ETag"),
                last_modified=header(response, "Last-Modified"),
                body=response.body,
            )
            if self.crawl.run.wants_site_name():
                # A run that does not read the start page (a refresh by a known REST index) learns the name
                # of a site it has none for from a post.
                named = page_site_name(response.url, response.body, charset_of(content_type))
                if named is not None:
                    yield SiteNamed(url=response.url, name=named.name, source=named.source)
            try:
                digest = parse_digest(response.url, response.body, http_charset=charset_of(content_type))
            except ParseError as error:
                yield PageFailure(url=listed_url, kind="parse_error", message=f"{response.url}: {error}")
            else:
                sources = dict.fromkeys([listed_url, response.request.url, response.url, *digest.source_urls])
                digest = replace(digest, source_urls=tuple(sources), modified=response.meta.get("modified"))
                yield digest
        yield from self.answered(response.meta.get("post_id"), digest)

    def post_failed(self, failure):
        if failure.check(IgnoreRequest) and failure.request.meta.get("skipped_as_stored"):
            return  # a request restored from JOBDIR for a post stored before the stop
        self.crawl.run.tally.answered(
            failure.request.meta.get("post_key"), recheck=bool(failure.request.meta.get("recheck")), status=None
        )
        kind, message, status = describe_failure(failure)
        yield PageFailure(
            url=failure.request.cb_kwargs.get("listed_url", failure.request.url),
            kind=kind,
            message=message,
            http_status=status,
        )
        yield from self.answered(failure.request.meta.get("post_id"), None)
