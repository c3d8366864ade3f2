"""One crawl run, from the lock to the exit code: the one object every part of a crawl asks.

    spider (from_crawler) ──► CrawlRun.open(crawler, mode, start_url)   lock, open, snapshot
    spider, middlewares   ──► run.is_stored(key), run.listing_read(...), run.post_requested(...)
    pipelines             ──► run.store(item)                            the write batch
    progress              ──► run.progress()
    spider_closed         ──► run.close(reason)   verdict, final commit, crawl_runs row, then the lock
    crawl command         ──► run.exit_code

Why an object the spider opens and not a Scrapy extension: extensions are built after the spider,
and the spider must know what the archive holds (and a bad DATABASE or a busy archive must stop the
crawl with one line) before its first request. The run registers itself on the crawler; the other
components find it with `CrawlRun.of(crawler)`.

A storage error (disk full, read-only file, locked past the timeout, a constraint or trigger) stops
the run: no new work is taken, what was written before it is committed when the disk allows, the
digest it hit is recorded as a failure, the run is marked `failed` with the error, and the crawl
exits with STORAGE_FAILED_EXIT_CODE.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro

import storage
from crawler.health import RunHealth
from crawler.items import Digest, DigestNotModified, DuplicateDigest, FetchedPage, IndexConfirmed, PageFailure, PostsGone
from crawler.urls import site_of

logger = logging.getLogger(__name__)

# Exit codes of `scrapy crawl digests` and `digest-archive` (the README lists them; a test checks).
EXIT_CODES = {
    0: "the run finished (pages that failed are recorded in `failures`)",
    1: "the run failed because of the site: the archive index could not be read, or layout drift",
    2: "a bad argument, or a DATABASE that is missing, not SQLite, another program's, or unwritable",
    3: "another crawl holds the archive",
    4: "a storage error stopped the run: disk full, read-only file, database locked, a constraint",
    5: "interrupted (SIGTERM, Ctrl-C): what was done is committed; run the same command again",
}
FINISHED_EXIT_CODE, RUN_FAILED_EXIT_CODE, USAGE_EXIT_CODE, BUSY_EXIT_CODE = 0, 1, 2, 3
STORAGE_FAILED_EXIT_CODE, INTERRUPTED_EXIT_CODE = 4, 5


class RunRefused(Exception):
    """The run cannot start: a busy archive or an unusable DATABASE. Carries the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Progress:
    listing_pages: int
    last_page: int | None
    posts_listed: int
    posts_done: int
    failed: int
    elapsed: float


@dataclass
class _Listings:
    """What the listing pages of this run named, and what became of it."""

    listed: set[str] = field(default_factory=set)  # post keys named by a listing page
    scheduled: dict[str, str] = field(default_factory=dict)  # post key → listed URL, requested in this run
    answered: set[str] = field(default_factory=set)  # post keys that got an answer (page, failure or 304)
    empty: list[str] = field(default_factory=list)  # listing pages that named no post
    last_page: int | None = None  # the archive's last page, when its pagination shows it


class CrawlRun:
    """The run of one crawler: its archive, lock, snapshot, write batch, counts and verdict."""

    def __init__(self, crawler, mode: str, start_url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.mode = mode
        self.start_url = start_url
        self.database = settings.get("DATABASE")
        self.batch_size = settings.getint("DIGEST_WRITE_BATCH")
        self.recheck_min_age = timedelta(hours=settings.getfloat("DIGEST_RECHECK_MIN_AGE"))
        self.counts = storage.RunCounts()
        self.failure_kinds: dict[str, int] = {}
        self.listings = _Listings()
        self.health = RunHealth()
        self.state = storage.CrawlState(set(), set(), [])
        self.archive_index: storage.ArchiveIndex | None = None  # what the last crawl learnt of the indexes
        self.index_used: str | None = None  # "rest" or "html" in this run
        self.index_notes: list[str] = []  # why not the REST API, what the sample check found
        self._learnt: dict = {}  # changes to the archive's index record, saved when the run finishes
        self.run_id: int | None = None
        self.status: str | None = None  # finished, failed or interrupted, once closed
        self.message: str | None = None  # why the run failed, if it did
        self.storage_error: str | None = None
        self.not_stored = 0  # items that arrived after a storage error stopped the run
        self.started = time.monotonic()
        self._lock: storage.ArchiveLock | None = None
        self._db = None
        self._batch: storage.WriteBatch | None = None

    # --- finding the run -------------------------------------------------------------------------

    @classmethod
    def open(cls, crawler, *, mode: str, start_url: str, recheck_limit: int | None) -> CrawlRun:
        """Lock and open the archive and read what it holds, before the first request.

        Raises RunRefused (busy archive, unusable DATABASE): the caller stops with one line.
        """
        run = cls(crawler, mode, start_url)
        try:
            run._lock = storage.ArchiveLock(run.database).acquire()
        except storage.ArchiveBusy as error:
            raise RunRefused(str(error), BUSY_EXIT_CODE) from None
        except storage.ArchiveError as error:
            raise RunRefused(str(error), USAGE_EXIT_CODE) from None
        try:
            run._db = storage.open_database(run.database)
            run.state = storage.crawl_state(run._db, site_of(start_url), recheck_limit)
            run.archive_index = storage.load_archive_index(run._db, start_url)
            abandoned = storage.close_abandoned_runs(run._db)
        except storage.ArchiveError as error:
            run._release()
            raise RunRefused(str(error), USAGE_EXIT_CODE) from None
        if abandoned:
            run._discard_job_queue(crawler.settings.get("JOBDIR"))
        crawler.signals.connect(run._spider_opened, signal=signals.spider_opened)
        # Connected after the spider's own `closed`: the run closes last, after every pipeline.
        crawler.signals.connect(run._spider_closed, signal=signals.spider_closed)
        crawler.digest_run = run
        return run

    @staticmethod
    def _discard_job_queue(jobdir: str | None) -> None:
        """The last crawl was killed: its JOBDIR queue may be half-written (Scrapy reads it back with
        `unpack requires a buffer`, scrapy#845, #3413). The archive says what is done and every listing
        page is walked again, so the queue is dropped rather than trusted."""
        if not jobdir:
            return
        for name in ("requests.queue", "requests.seen"):
            path = Path(jobdir) / name
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                logger.warning("The last crawl of this archive was killed: not trusting its job queue %s "
                               "(the archive says what is stored; listing pages are walked again)", path)

    @staticmethod
    def of(crawler) -> CrawlRun:
        """The run of this crawler (opened by the spider when it was built)."""
        run = getattr(crawler, "digest_run", None)
        if run is None:
            raise RuntimeError("no crawl run: the digests spider opens it when it is built")
        return run

    @staticmethod
    def exit_code_of(crawler) -> int:
        """The exit code of this crawler's run (0 when no run was opened: nothing was crawled)."""
        run = getattr(crawler, "digest_run", None)
        return run.exit_code if run is not None else FINISHED_EXIT_CODE

    # --- what the archive held when the run began -------------------------------------------------

    def is_stored(self, key: str) -> bool:
        return key in self.state.known_keys

    def is_settled(self, key: str) -> bool:
        """A post not stored whose last failure will not mend by itself (404, unparseable)."""
        return key in self.state.settled_keys

    def rechecks(self) -> list[storage.RecheckTarget]:
        """Stored digests to re-check in this run: all in recheck mode; in a refresh every page that
        has validators (a 304 costs no download) and, of pages served without validators, only the
        one checked longest ago, and only when that was `DIGEST_RECHECK_MIN_AGE` ago or more."""
        if self.mode == "recheck":
            return list(self.state.recheck)
        conditional = [t for t in self.state.recheck if t.conditional]
        oldest_allowed = (datetime.now(timezone.utc) - self.recheck_min_age).isoformat()
        unconditional = sorted((t for t in self.state.recheck
                                if not t.conditional and (t.checked_at or "") <= oldest_allowed),
                               key=lambda t: t.checked_at or "")
        return conditional + unconditional[:1]

    # --- what the spider saw ----------------------------------------------------------------------

    def listing_read(self, url: str, post_keys: list[str], last_page: int | None) -> list[str]:
        """A listing page was read; returns the keys it names that are new to this run."""
        self.counts.listing_pages += 1
        if last_page:
            self.listings.last_page = max(self.listings.last_page or 0, last_page)
        if not post_keys:
            self.listings.empty.append(url)
        new = [key for key in dict.fromkeys(post_keys) if key not in self.listings.listed]
        self.listings.listed.update(new)
        self.counts.posts_listed += len(new)
        return new

    def post_requested(self, key: str, listed_url: str) -> bool:
        """Record a post request; False when this run has requested the post already."""
        if key in self.listings.scheduled:
            return False
        self.listings.scheduled[key] = listed_url
        return True

    def post_answered(self, key: str | None, *, recheck: bool = False, status: int | None = None) -> None:
        if key is not None:
            self.listings.answered.add(key)
        if recheck:
            self.counts.rechecked += 1
        if status == 304:
            self.counts.not_modified += 1
        elif status is not None:
            self.counts.posts_fetched += 1

    # --- the archive's own indexes ---------------------------------------------------------------

    def discovered(self, rest_root: str, posts_filter: str, feed_url: str | None) -> storage.ArchiveIndex:
        """The start page advertised these indexes; returns the record to read them with."""
        known = self.archive_index or storage.ArchiveIndex(self.start_url, site_of(self.start_url))
        if (known.rest_root, known.posts_filter, known.feed_url) != (rest_root, posts_filter, feed_url):
            # Re-discovered: what was kept of the old indexes (validators, sync point) no longer holds.
            known = storage.ArchiveIndex(self.start_url, site_of(self.start_url), rest_root, posts_filter,
                                         feed_url=feed_url, discovered_at=storage.utc_now())
        self._learnt.update(rest_root=rest_root, posts_filter=posts_filter, feed_url=feed_url,
                            discovered_at=known.discovered_at or storage.utc_now())
        self.archive_index = known
        return known

    def use_index(self, kind: str, note: str | None = None) -> None:
        self.index_used = kind
        self._learnt["index_used"] = kind
        if note:
            self.note(note)

    def note(self, text: str) -> None:
        if text not in self.index_notes:
            self.index_notes.append(text)

    def rest_failed(self, reason: str) -> None:
        """The REST API stopped working: the next crawl discovers it again from the start page."""
        self._learnt.update(index_used="html", note=reason)

    def rest_supports_modified_after(self, supported: bool) -> None:
        self._learnt["modified_after"] = supported

    def feed_validators(self, etag: str | None, last_modified: str | None) -> None:
        self._learnt.update(feed_etag=etag, feed_last_modified=last_modified)

    def feed_unchanged(self) -> None:
        self.note("the feed answered 304: nothing changed on the site since the last run")

    def index_read(self, posts: int) -> None:
        self.counts.index_pages += 1
        self.counts.posts_listed += posts

    def synced(self, newest_modified: str | None) -> None:
        """The REST index was read to its end: the next refresh asks only for what changed since."""
        if newest_modified:
            self._learnt["synced_to"] = newest_modified

    def built_from_rest(self) -> None:
        self.counts.from_rest += 1

    def _save_archive_index(self) -> None:
        """What this run learnt of the archive's indexes, kept only when the run finished: a failed run
        must not move the sync point past what it stored."""
        if not self._learnt:
            return
        base = self.archive_index or storage.ArchiveIndex(self.start_url, site_of(self.start_url))
        learnt = dict(self._learnt)
        if learnt.get("index_used") == "rest":
            learnt.setdefault("note", None)
        storage.save_archive_index(self._db, replace(base, **learnt))

    def fail(self, message: str) -> None:
        """The run failed as a whole (its archive index could not be read): it goes on, then fails."""
        self.message = self.message or message

    def count(self, name: str) -> None:
        setattr(self.counts, name, getattr(self.counts, name) + 1)

    def progress(self) -> Progress:
        return Progress(self.counts.listing_pages, self.listings.last_page, len(self.listings.scheduled),
                        len(self.listings.answered), self.counts.failed, time.monotonic() - self.started)

    # --- writes -----------------------------------------------------------------------------------

    def store(self, item) -> object:
        """Write one item in the current batch. A storage error stops the run (see the module doc)."""
        if self.storage_error is not None:
            # Pages already on their way when the run stopped: counted and logged once at the end.
            self.not_stored += 1
            raise DropItem(f"not stored: the run stopped after a storage error ({self.storage_error})",
                           log_level="DEBUG")
        try:
            self._batch.before_write()
            outcome = self._write(item)
            self._batch.after_write()
        except sqlite3.Error as error:
            self._storage_failed(error, item)  # logged there, in one line without the item
            raise DropItem(f"not stored: {error}", log_level="DEBUG") from None
        return outcome

    def _write(self, item):
        if isinstance(item, Digest):
            outcome = storage.save_digest(self._db, item)
            if outcome == storage.SHRUNK:
                self._record_failure(storage.shrunk_failure(item))
                return item
            self.count(outcome)
            logger.info("%s digest %s: %s (%d entries)", outcome.capitalize(),
                        item.number if item.number is not None else "-", item.url, len(item.entries))
        elif isinstance(item, PageFailure):
            self._record_failure(item)
        elif isinstance(item, FetchedPage):
            storage.save_page(self._db, item)
        elif isinstance(item, DigestNotModified):
            storage.mark_not_modified(self._db, item.url)
            self.count("unchanged")
        elif isinstance(item, IndexConfirmed):
            storage.confirm_unchanged(self._db, item.site, item.modified_by_post)
            self.counts.unchanged += len(item.modified_by_post)
        elif isinstance(item, PostsGone):
            self.counts.gone += storage.mark_gone(self._db, item.site, list(item.post_ids))
            logger.warning("Gone from the site (kept in the archive, marked gone): posts %s",
                           ", ".join(map(str, item.post_ids)))
        elif isinstance(item, DuplicateDigest):
            storage.remember_urls_of(self._db, item.url, list(item.source_urls))
            self.count("duplicates")
            logger.info("Duplicate of %s: %s", item.url, ", ".join(item.source_urls))
        return item

    def _record_failure(self, failure: PageFailure) -> None:
        storage.record_failure(self._db, self.run_id, failure)
        self.health.record_failure(failure)
        self.counts.failed += 1
        self.failure_kinds[failure.kind] = self.failure_kinds.get(failure.kind, 0) + 1
        logger.warning("Failed %s [%s]: %s", failure.url, failure.kind, failure.message)

    def _storage_failed(self, error: sqlite3.Error, item) -> None:
        """Keep what was written before the error, record it, and stop taking new work."""
        self.storage_error = f"{type(error).__name__}: {error}"
        url = getattr(item, "url", "?")
        logger.error("Storage error while writing %s: %s; stopping the run", url, self.storage_error)
        self._end_batch()
        if isinstance(item, (Digest, FetchedPage)):
            try:
                self._record_failure(PageFailure(url=url, kind="storage", message=f"{url}: {self.storage_error}"))
                self._batch.commit()
            except sqlite3.Error:
                self._abandon_batch()
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_error"))

    def _end_batch(self) -> None:
        """Commit what the batch holds; when even that fails (the disk is full), roll it back whole."""
        try:
            self._batch.commit()
        except sqlite3.Error as error:
            logger.error("Could not commit the last writes (%s); they are rolled back and will be fetched "
                         "again by the next crawl", error)
            self._abandon_batch()

    def _abandon_batch(self) -> None:
        try:
            self._batch.rollback()
        except sqlite3.Error:
            pass

    # --- the run's life ---------------------------------------------------------------------------

    def _spider_opened(self, spider) -> None:
        self.started = time.monotonic()
        self.run_id = storage.start_run(self._db, self.mode, self.start_url)
        self._batch = storage.WriteBatch(self._db, max_items=self.batch_size)
        logger.info("Archive %s: crawl run %d started (%s mode)", self.database, self.run_id, self.mode)

    def _spider_closed(self, spider, reason: str) -> None:
        try:
            self.close(reason)
        finally:
            self._release()

    def close(self, reason: str) -> None:
        """Decide the verdict, commit last, write the run's row; the lock is released after this."""
        if self._db is None:
            return
        if self._batch is None:  # closed before it opened (a start-up error)
            self.status, self.message = "failed", self.message or reason
            return
        if self.storage_error is None:
            try:
                if reason == "finished":
                    self._account_for_dropped_requests()
                self._batch.commit()
            except sqlite3.Error as error:
                self._storage_failed_at_close(error)
        if self.storage_error is None:
            self._match_editions()
        self.status, self.message = self._verdict(reason)
        try:
            if self.status == "finished":
                self._save_archive_index()
            storage.finish_run(self._db, self.run_id, self.status, self.counts, self.message,
                               failure_kinds=self.failure_kinds, index_used=self.index_used,
                               index_note="; ".join(self.index_notes) or None)
        except sqlite3.Error as error:
            logger.error("Could not record the end of crawl run %s in %s (%s); the run is %s: %s",
                         self.run_id, self.database, error, self.status, self.message)
        self._log_summary()

    def _match_editions(self) -> None:
        """The digests this run stored or changed join their editions (their twins on other sites)."""
        try:
            update = storage.update_editions(self._db)
        except sqlite3.Error as error:
            self._storage_failed_at_close(error)
            return
        self.counts.editions_new, self.counts.editions_changed = update.new, update.changed
        if update.matched:
            logger.info("Editions: %d digests matched, %d joined a twin on another site; %d editions new, %d changed",
                        update.matched, update.pairs, update.new, update.changed)

    def _storage_failed_at_close(self, error: sqlite3.Error) -> None:
        self.storage_error = f"{type(error).__name__}: {error}"
        logger.error("Storage error at the final commit: %s", self.storage_error)
        self._abandon_batch()

    def _account_for_dropped_requests(self) -> None:
        """Every post a listing named ends as a digest or a failure, even one Scrapy dropped silently."""
        for key, url in self.listings.scheduled.items():
            if key not in self.listings.answered:
                self._record_failure(PageFailure(url=url, kind="dropped", message="requested, but Scrapy dropped "
                                                 "the request without an answer (duplicate or offsite filter)"))

    def _verdict(self, reason: str) -> tuple[str, str | None]:
        if self.storage_error is not None:
            return "failed", f"storage error: {self.storage_error}"
        if reason == "shutdown":
            return "interrupted", "interrupted (SIGTERM or Ctrl-C); run the same command again to resume"
        if reason != "finished":
            return "failed", self.message or reason
        self.health.empty_listings = list(self.listings.empty)
        self.health.posts_read = self.counts.posts_fetched - self.failure_kinds.get("empty", 0) \
            - self.failure_kinds.get("not_html", 0)
        message = self.message or self.health.problem()
        return ("failed" if message else "finished"), message

    def _log_summary(self) -> None:
        c = self.counts
        logger.info(
            "Crawl run %s %s in %.1fs: %d new, %d changed, %d unchanged, %d duplicates, %d failed "
            "(index: %s; %d listing pages, %d REST index pages, %d posts listed, %d downloaded, %d built from the "
            "REST API, %d re-checked of which %d not modified, %d gone)%s",
            self.run_id, self.status, time.monotonic() - self.started, c.new, c.changed, c.unchanged, c.duplicates,
            c.failed, self.index_used or "-", c.listing_pages, c.index_pages, c.posts_listed, c.posts_fetched,
            c.from_rest, c.rechecked, c.not_modified, c.gone, f": {self.message}" if self.message else "")
        if self.index_notes:
            logger.info("Index: %s", "; ".join(self.index_notes))
        if self.failure_kinds:
            logger.warning("Failures by kind: %s", ", ".join(f"{n} {kind}" for kind, n in
                                                            sorted(self.failure_kinds.items())))
        if self.not_stored:
            logger.warning("%d items that arrived after the storage error were not stored; the next crawl "
                           "fetches them again", self.not_stored)
        if self.status == "failed":
            logger.error("Crawl run %s failed: %s", self.run_id, self.message)

    def _release(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def exit_code(self) -> int:
        if self.storage_error is not None:
            return STORAGE_FAILED_EXIT_CODE
        if self.status == "interrupted":
            return INTERRUPTED_EXIT_CODE
        if self.status == "failed":
            return RUN_FAILED_EXIT_CODE
        return FINISHED_EXIT_CODE
