"""Spiders and a pipeline with a bug put in on purpose, to test what a run does with an exception
nobody foresaw (`-s SPIDER_MODULES=spiders,tests.crashing`; tests/test_run_crashes.py)."""

from __future__ import annotations

from core.items import Digest
from spiders.digest_paths import PostPath
from spiders.digests import DigestsSpider


class BuggyPostPath(PostPath):
    def parse_post(self, response, listed_url: str):
        yield from super().parse_post(response, listed_url)
        raise ZeroDivisionError("a bug in a callback")


class CallbackBug(DigestsSpider):
    """The post callback raises once the first digest page has been read."""

    name = "digests_callback_bug"
    post_path = BuggyPostPath


class StartBug(DigestsSpider):
    name = "digests_start_bug"

    def _first_requests(self):
        raise LookupError("a bug before the first request")


class CloseBug(DigestsSpider):
    """Matching the editions at the run's close raises."""

    name = "digests_close_bug"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)

        def broken_matching() -> None:
            raise ArithmeticError("a bug while closing")

        spider.run._match_editions = broken_matching  # type: ignore[method-assign]
        return spider


class PipelineBug:
    """A pipeline whose second digest raises."""

    def __init__(self) -> None:
        self.digests = 0

    def process_item(self, item):
        if isinstance(item, Digest):
            self.digests += 1
            if self.digests == 2:
                raise KeyError("a bug in a pipeline")
        return item
