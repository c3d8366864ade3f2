"""Downloader middleware: at most one download of a post per run, none of a post already stored.

The spider never schedules a stored post, but requests restored from a JOBDIR queue after a stop
were scheduled by the previous process; this is where they are dropped before any download.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)


class SkipStoredPosts:
    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.downloaded: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        key = request.meta.get("post_key")
        if key is None or request.meta.get("recheck") or request.meta.get("redirect_times"):
            return None
        spider = self.crawler.spider
        if key in spider.state.known_keys or key in self.downloaded:
            request.meta["skipped_as_stored"] = True
            self.crawler.stats.inc_value("digests/skipped_as_stored")
            logger.debug("Not downloading %s: already stored or downloaded in this run", request.url)
            raise IgnoreRequest(f"already stored: {request.url}")
        self.downloaded.add(key)
        return None
