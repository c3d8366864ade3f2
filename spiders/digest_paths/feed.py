"""The listing's feed, asked conditionally: a 304 means nothing was published or edited anywhere on
the site, so a refresh ends with one request; otherwise the REST index says what changed."""

from __future__ import annotations

from collections.abc import Callable

import scrapy

import storage
from core.urls import on_site_of
from crawler.failures import describe_failure
from spiders.digest_paths.crawl import Crawl, Path, header


class FeedPath(Path):
    CALLBACKS = ("feed_read", "feed_failed")

    def __init__(self, crawl: Crawl, rest_index_request: Callable[[int], scrapy.Request]) -> None:
        super().__init__(crawl)
        self.rest_index_request = rest_index_request  # the REST index's page N: what a changed feed leads to

    def request(self, index: storage.ListingRecord, *, conditional: bool) -> scrapy.Request:
        headers = {}
        if conditional:
            # WordPress answers 304 only when every validator sent matches (class-wp.php send_headers).
            if index.feed_etag:
                headers["If-None-Match"] = index.feed_etag
            if index.feed_last_modified:
                headers["If-Modified-Since"] = index.feed_last_modified
        if index.feed_url is None:
            raise ValueError("no feed known for this listing")
        return scrapy.Request(
            on_site_of(index.feed_url, self.crawl.start_url),
            headers=headers,
            dont_filter=True,
            callback=self.feed_read,
            errback=self.feed_failed,
            cb_kwargs={"conditional": conditional},
            meta={"handle_httpstatus_list": [304], "dont_cache": True},
        )

    def feed_read(self, response, conditional: bool):
        if response.status == 304:
            self.crawl.logger.info(
                "The feed %s is unchanged since the last run: nothing was published or edited", response.url
            )
            self.crawl.run.feed_unchanged()
            return
        self.crawl.run.findings.feed_validators = (header(response, "ETag"), header(response, "Last-Modified"))
        if conditional:
            yield self.rest_index_request(1)

    def feed_failed(self, failure):
        _, message, _ = describe_failure(failure)
        self.crawl.logger.info("The feed could not be read (%s); the REST index says what changed", message)
        if failure.request.cb_kwargs.get("conditional"):
            yield self.rest_index_request(1)
