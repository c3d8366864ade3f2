"""Item pipelines, each doing one thing: validate → dedupe → store.

A digest that fails validation becomes a `PageFailure` (recorded, not a crash); a digest already
handled in this run under another URL becomes a `DuplicateDigest` (its URL is remembered, nothing
else is written). Only `StoreInArchive` touches the database, through `storage`.
"""

from __future__ import annotations

import logging
import time

from scrapy import signals

import storage
from crawler.config import STATS_PREFIX
from crawler.health import UNREADABLE_KINDS, RunHealth
from crawler.items import Digest, DigestNotModified, DuplicateDigest, FetchedPage, PageFailure
from crawler.urls import is_http_url, post_key

logger = logging.getLogger(__name__)



def problems_with(digest: Digest) -> list[str]:
    """What makes a parsed digest unfit to store; empty when it is fine."""
    problems = []
    if not digest.title.strip():
        problems.append("empty title")
    if not digest.entries:
        problems.append("no entries")
    if any(not entry.text.strip() for entry in digest.entries):
        problems.append("an entry with no text")
    if not is_http_url(digest.url):
        problems.append(f"canonical URL is not http(s): {digest.url!r}")
    if digest.number is not None and not 0 < digest.number < 100_000:
        problems.append(f"implausible number {digest.number}")
    return problems


class ValidateDigest:
    """A digest without a title or body is an error, recorded as a failure of its page."""

    def __init__(self, stats) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        if not isinstance(item, Digest):
            return item
        problems = problems_with(item)
        if not problems:
            return item
        self.stats.inc_value(f"{STATS_PREFIX}/invalid")
        return PageFailure(url=item.source_urls[0] if item.source_urls else item.url,
                           kind="invalid", message="; ".join(problems))


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
    """Writes digests and failures to the archive and keeps the run's `crawl_runs` row."""

    def __init__(self, crawler, database: str, batch_size: int = 50) -> None:
        self.crawler = crawler
        self.batch_size = batch_size
        self.batch: storage.WriteBatch | None = None
        self.stats = crawler.stats
        self.database = database
        self.db = None
        self.run_id = None
        self.started = 0.0
        self.health = RunHealth()

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler, crawler.settings.get("DATABASE"), crawler.settings.getint("DIGEST_WRITE_BATCH"))
        # The run is closed on spider_closed, which comes after pipelines close and carries the reason.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self):
        spider = self.crawler.spider
        self.db = storage.open_database(self.database)
        self.started = time.monotonic()
        self.run_id = storage.start_run(self.db, getattr(spider, "mode", "?"), getattr(spider, "start_url", "?"))
        self.batch = storage.WriteBatch(self.db, max_items=self.batch_size)
        logger.info("Archive %s: crawl run %d started (%s mode)", self.database, self.run_id,
                    getattr(spider, "mode", "?"))

    def process_item(self, item):
        self.batch.before_write()
        try:
            return self._store(item)
        finally:
            self.batch.after_write()

    def _store(self, item):
        if isinstance(item, Digest):
            outcome = storage.save_digest(self.db, item)
            if outcome == storage.SHRUNK:
                self._record_failure(PageFailure(
                    url=item.source_urls[0] if item.source_urls else item.url, kind="shrunk",
                    message=f"{item.url}: parsed {len(item.entries)} entries where the archive has more than twice "
                            "as many; the stored digest was kept"))
                return item
            self.stats.inc_value(f"{STATS_PREFIX}/{outcome}")
            logger.info("%s digest %s: %s (%d entries)", outcome.capitalize(),
                        item.number if item.number is not None else "-", item.url, len(item.entries))
        elif isinstance(item, PageFailure):
            self._record_failure(item)
        elif isinstance(item, FetchedPage):
            storage.save_page(self.db, item)
        elif isinstance(item, DigestNotModified):
            storage.mark_not_modified(self.db, item.url)
            self.stats.inc_value(f"{STATS_PREFIX}/unchanged")
        elif isinstance(item, DuplicateDigest):
            storage.remember_urls_of(self.db, item.url, list(item.source_urls))
            self.stats.inc_value(f"{STATS_PREFIX}/duplicates")
            logger.info("Duplicate of %s: %s", item.url, ", ".join(item.source_urls))
        return item

    def _record_failure(self, failure: PageFailure) -> None:
        storage.record_failure(self.db, self.run_id, failure)
        if failure.kind in UNREADABLE_KINDS:
            self.health.unreadable.append((failure.url, failure.message.split(": ", 1)[-1]))
        self.stats.inc_value(f"{STATS_PREFIX}/failed")
        self.stats.inc_value(f"{STATS_PREFIX}/failed/{failure.kind}")
        logger.warning("Failed %s [%s]: %s", failure.url, failure.kind, failure.message)

    def spider_closed(self, spider, reason):
        if self.db is None:
            return
        self.batch.commit()
        if reason == "finished" and hasattr(spider, "unanswered_posts"):
            # Every post a listing named ends as a digest or a failure, even one Scrapy dropped silently.
            for url in spider.unanswered_posts():
                self._record_failure(PageFailure(url=url, kind="dropped",
                                                 message="requested, but Scrapy dropped the request without an "
                                                         "answer (duplicate or offsite filter)"))
        counts = {name: self.stats.get_value(f"{STATS_PREFIX}/{name}", 0) for name in storage.RUN_COUNTS}
        kinds = {key.rsplit("/", 1)[1]: value for key, value in self.stats.get_stats().items()
                 if key.startswith(f"{STATS_PREFIX}/failed/")}
        status = {"finished": "finished", "shutdown": "interrupted"}.get(reason, "failed")
        self.health.empty_listings = list(getattr(spider, "empty_listings", []))
        self.health.posts_read = counts["posts_fetched"] - kinds.get("empty", 0) - kinds.get("not_html", 0)
        message = getattr(spider, "failure_message", None) or self.health.problem() or \
            (None if status == "finished" else reason)
        if status == "finished" and message:
            status = "failed"
        # Read by the project's `scrapy crawl` command to exit non-zero, so cron reports a failed run.
        self.stats.set_value(f"{STATS_PREFIX}/run_status", status)
        storage.finish_run(self.db, self.run_id, status, counts, message, failure_kinds=kinds)
        elapsed = time.monotonic() - self.started
        logger.info(
            "Crawl run %d %s in %.1fs: %d new, %d changed, %d unchanged, %d duplicates, %d failed "
            "(%d listing pages, %d posts listed, %d downloaded, %d re-checked of which %d not modified)%s",
            self.run_id, status, elapsed, counts["new"], counts["changed"], counts["unchanged"],
            counts["duplicates"], counts["failed"], counts["listing_pages"], counts["posts_listed"],
            counts["posts_fetched"], counts["rechecked"], counts["not_modified"], f": {message}" if message else "",
        )
        if kinds:
            logger.warning("Failures by kind: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        if status == "failed":
            logger.error("Crawl run %d failed: %s", self.run_id, message)
        self.db.close()
        self.db = None
