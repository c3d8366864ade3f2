"""Item pipelines, each doing one thing: validate → dedupe → store.

A digest that fails validation becomes a `PageFailure` (recorded, not a crash); a digest already
handled in this run under another URL becomes a `DuplicateDigest` (its URL is remembered, nothing
else is written). `StoreInArchive` hands what is left to the run, which owns the writes.
"""

from __future__ import annotations

from core.items import Digest, DuplicateDigest, PageFailure
from core.urls import post_key
from core.validation import problems_with
from crawler.run import run_of


class ValidateDigest:
    """A digest without a title or body is an error, recorded as a failure of its page."""

    def process_item(self, item):
        if not isinstance(item, Digest):
            return item
        problems = problems_with(item)
        if not problems:
            return item
        return PageFailure(
            url=item.source_urls[0] if item.source_urls else item.url, kind="invalid", message="; ".join(problems)
        )


class DedupeDigests:
    """One digest per post within a run, whichever URL or post id it came under."""

    def __init__(self) -> None:
        self.seen: dict[object, str] = {}  # post key or (site, post id) → canonical URL first stored

    def process_item(self, item):
        if not isinstance(item, Digest):
            return item
        keys: list[object] = [post_key(url) for url in (item.url, *item.source_urls)]
        if item.post_id is not None:
            keys.append((item.site, item.post_id))
        first = next((self.seen[key] for key in keys if key in self.seen), None)
        if first is not None:
            return DuplicateDigest(url=first, source_urls=(item.url, *item.source_urls))
        for key in keys:
            self.seen[key] = item.url
        return item


class StoreInArchive:
    """Hands every item to the run, which writes it in its batch (and stops on a storage error)."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        return run_of(self.crawler).store(item)
