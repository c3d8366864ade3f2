"""One crawl run, from the lock to the exit code: the one object every part of a crawl asks.

    spider (from_crawler) ──► CrawlRun.open(crawler, mode, start_url)   lock, open, snapshot
    spider, middlewares   ──► run.is_stored(key), run.listing_read(...), run.post_requested(...)
    pipelines             ──► run.store(item)                            the write batch
    progress              ──► run.progress()
    spider_error, item_error ─► run.crashed(...)  an exception anywhere: a failure row, the crawl stops
    spider_closed         ──► run.close(reason)   verdict, final commit, crawl_runs row, then the lock
    crawl command         ──► run.exit_code

Its parts: `RunTally` (core/ledger.py) counts and keeps the ledger of posts the verdict is drawn
from; `IndexFindings` (core/rest_plan.py) is what the run learnt of the site's indexes.

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
from datetime import datetime, timedelta, timezone
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils import Database
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

import storage
from core.exit_codes import ExitCode
from core.health import RunHealth
from core.items import (
    Digest,
    DigestNotModified,
    DuplicateDigest,
    FetchedPage,
    IndexConfirmed,
    PageFailure,
    PostsGone,
)
from core.ledger import Progress, RunTally
from core.modes import Mode
from core.rest_plan import IndexFindings
from core.text import fit_text
from core.urls import post_key, same_site, site_of

logger = logging.getLogger(__name__)

# The crawl's names for the codes of the one table (core.exit_codes), which every command shares.
FINISHED_EXIT_CODE, RUN_FAILED_EXIT_CODE, USAGE_EXIT_CODE, BUSY_EXIT_CODE = (
    ExitCode.FINISHED,
    ExitCode.RUN_FAILED,
    ExitCode.USAGE,
    ExitCode.BUSY,
)
STORAGE_FAILED_EXIT_CODE, INTERRUPTED_EXIT_CODE, CRASHED_EXIT_CODE = (
    ExitCode.STORAGE_FAILED,
    ExitCode.INTERRUPTED,
    ExitCode.CRASHED,
)


class RunRefused(Exception):
    """The run cannot start: a busy archive or an unusable DATABASE. Carries the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CrawlRun:
    """The run of one crawler: its archive, lock, snapshot, write batch and verdict."""

    # Which lock the run takes (storage.ArchiveLock): None, the archive's own; a link check takes its
    # own, so that it never keeps a scheduled refresh out.
    lock_job: str | None = None
    # Seconds between looks at the write batch: writes held longer than the batch's `max_seconds` are
    # committed even while the crawl waits on the network (another job may be waiting to write).
    COMMIT_CHECK_INTERVAL = 0.5

    def __init__(self, crawler, mode: Mode | str, start_url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.mode = mode
        self.start_url = start_url
        self.site = site_of(start_url)
        self.database = settings.get("DATABASE")
        self.batch_size = settings.getint("DIGEST_WRITE_BATCH")
        self.max_listing_pages = settings.getint("DIGEST_MAX_LISTING_PAGES")
        self.max_posts = settings.getint("DIGEST_MAX_POSTS")
        self.recheck_min_age = timedelta(hours=settings.getfloat("DIGEST_RECHECK_MIN_AGE"))
        self.tally = RunTally()
        self.findings = IndexFindings()
        self.health = RunHealth()
        self.state = storage.CrawlState(set(), set(), [])
        self.archive_index: storage.ArchiveIndex | None = None  # what the last crawl learnt of the indexes
        self.run_id: int | None = None
        self.status: str | None = None  # finished, failed or interrupted, once closed
        self.message: str | None = None  # why the run failed, if it did
        self.storage_error: str | None = None
        self.exception: str | None = None  # "Type: message" of the first unexpected exception
        self.row_written = False  # the crawl_runs row says how the run ended
        self.not_stored = 0  # items that arrived after a storage error stopped the run
        self._lock: storage.ArchiveLock | None = None
        self._reserve: _SpaceReserve | None = None
        self._db: Database | None = None
        self._batch: storage.WriteBatch | None = None
        self._committer: LoopingCall | None = None

    @property
    def db(self) -> Database:
        """The archive, open from `open` until the run's end."""
        if self._db is None:
            raise RuntimeError("the run's archive is not open")
        return self._db

    @property
    def batch(self) -> storage.WriteBatch:
        """The write batch, from the spider's opening until the run's end."""
        if self._batch is None:
            raise RuntimeError("the run has not started writing")
        return self._batch

    # --- finding the run -------------------------------------------------------------------------

    @classmethod
    def open(
        cls, crawler, *, mode: Mode | str, start_url: str, recheck_limit: int | None, create: bool = True
    ) -> CrawlRun:
        """Lock and open the archive and read what it holds, before the first request; with `create`,
        a missing archive is created.

        Raises RunRefused (busy archive, unusable DATABASE): the caller stops with one line. A refused
        DATABASE is left as it was, with nothing new beside it (no lock file, no reserve, no database).
        """
        run = cls(crawler, mode, start_url)
        try:
            # What the path alone tells (missing, a folder, not SQLite) is refused before the lock file.
            storage.check_archive_path(run.database, must_exist=not create)
            new_archive = not Path(run.database).exists()
            run._lock = storage.ArchiveLock(run.database, cls.lock_job).acquire()
            run._reserve = _SpaceReserve(run._lock.path.with_suffix(".reserve"))
        except storage.ArchiveBusy as error:
            raise RunRefused(str(error), BUSY_EXIT_CODE) from None
        except storage.ArchiveError as error:
            raise RunRefused(str(error), USAGE_EXIT_CODE) from None
        try:
            run._db = db = storage.open_database(run.database, create=create)
            run._read_archive(db, recheck_limit)
            abandoned = storage.close_abandoned_runs(db, link_check=cls.lock_job == "links")
        except (storage.ArchiveError, sqlite3.Error) as error:
            run._release(refused=True)
            if new_archive:  # made by this run a moment ago, and known to no one else
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{run.database}{suffix}").unlink(missing_ok=True)
            raise RunRefused(str(error), USAGE_EXIT_CODE) from None
        if abandoned:
            run._discard_job_queue(crawler.settings.get("JOBDIR"))
        crawler.signals.connect(run._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(run._spider_error, signal=signals.spider_error)
        crawler.signals.connect(run._item_error, signal=signals.item_error)
        # Connected after the spider's own `closed`: the run closes last, after every pipeline.
        crawler.signals.connect(run._spider_closed, signal=signals.spider_closed)
        crawler.digest_run = run
        return run

    def _read_archive(self, db: Database, recheck_limit: int | None) -> None:
        """What the run needs to know of the archive before its first request (the posts stored, the
        indexes learnt); another kind of run reads what it needs instead."""
        self.state = storage.crawl_state(db, self.site, recheck_limit)
        self.archive_index = storage.load_archive_index(db, self.start_url)

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
                logger.warning(
                    "The last crawl of this archive was killed: not trusting its job queue %s "
                    "(the archive says what is stored; listing pages are walked again)",
                    path,
                )

    @staticmethod
    def of(crawler) -> CrawlRun:
        """The run of this crawler (opened by the spider when it was built)."""
        run = getattr(crawler, "digest_run", None)
        if run is None:
            raise RuntimeError("no crawl run: the digests spider opens it when it is built")
        return run

    @staticmethod
    def exit_code_of(crawler) -> int | None:
        """The exit code of this crawler's run; None when no run was opened (the spider was never built)."""
        run = getattr(crawler, "digest_run", None)
        return run.exit_code if run is not None else None

    # --- what the archive held when the run began -------------------------------------------------

    def is_on_site(self, url: str) -> bool:
        """Whether a URL is on this run's archive's site (the one site it may fetch from or write)."""
        return same_site(url, self.start_url)

    def site_name(self) -> str:
        return self.site

    def stored_post_count(self) -> int:
        return len(self.state.known_keys)

    def stored_posts(self) -> dict[int, storage.StoredPost]:
        """Post id → what the archive holds of it, this site only."""
        return self.state.posts

    def known_index(self) -> storage.ArchiveIndex | None:
        """What the last crawls learnt of this archive's indexes (None: never crawled)."""
        return self.archive_index

    def is_stored(self, key: str) -> bool:
        return key in self.state.known_keys

    def is_settled(self, key: str) -> bool:
        """A post not stored whose last failure will not mend by itself (404, unparseable)."""
        return key in self.state.settled_keys

    def rechecks(self) -> list[storage.RecheckTarget]:
        """Stored digests to re-check in this run: all in recheck mode; in a refresh every page that
        has validators (a 304 costs no download) and, of pages served without validators, only the
        one checked longest ago, and only when that was `DIGEST_RECHECK_MIN_AGE` ago or more."""
        if isinstance(self.mode, Mode) and self.mode.rechecks_every_stored_digest:
            return list(self.state.recheck)
        conditional = [t for t in self.state.recheck if t.conditional]
        oldest_allowed = (datetime.now(timezone.utc) - self.recheck_min_age).isoformat()
        unconditional = sorted(
            (t for t in self.state.recheck if not t.conditional and (t.checked_at or "") <= oldest_allowed),
            key=lambda t: t.checked_at or "",
        )
        return conditional + unconditional[:1]

    # --- what the spider saw ----------------------------------------------------------------------

    def listing_read(self, url: str, post_keys: list[str], last_page: int | None) -> list[str]:
        """A listing page was read; returns the keys it names that are new to this run."""
        if not post_keys:
            self.health.empty_listings.append(url)
        return self.tally.listing_page(post_key(url), post_keys, last_page)

    def listing_unreadable(self, url: str) -> None:
        self.tally.unreadable_listing(post_key(url))

    def refuse_next_listing(self, next_url: str) -> str | None:
        """Why the listing's next page is not read (another site, read already), or None; past
        DIGEST_MAX_LISTING_PAGES the run fails, and that is the reason given."""
        if not same_site(next_url, self.start_url):
            return f"{next_url} is on another site"
        if post_key(next_url) in self.tally.listing_urls:
            return f"{next_url} was read already in this run (the pages link in a circle)"
        if self.tally.counts.listing_pages >= self.max_listing_pages:
            self.fail(
                f"the listing goes on past DIGEST_MAX_LISTING_PAGES ({self.max_listing_pages} pages); "
                "raise the setting if the archive is really that long"
            )
            return f"DIGEST_MAX_LISTING_PAGES ({self.max_listing_pages}) reached"
        return None

    def post_requested(self, key: str, url: str) -> bool:
        """Note a post this run sets out to handle; False when it has already, or when the run has
        reached DIGEST_MAX_POSTS (which fails it: a site can name any number of posts on one page)."""
        if key in self.tally.ledger.expected:
            return False
        if len(self.tally.ledger.expected) >= self.max_posts:
            if self.message is None:
                logger.warning("Not fetching more than DIGEST_MAX_POSTS (%d) posts in one run", self.max_posts)
            self.fail(
                f"the site names more than DIGEST_MAX_POSTS ({self.max_posts}) posts; raise the setting if the "
                "archive is really that long"
            )
            return False
        return self.tally.ledger.expect(key, url)

    def post_answered(self, key: str | None, *, recheck: bool = False, status: int | None = None) -> None:
        self.tally.answered(key, recheck=recheck, status=status)

    # --- the archive's own indexes ---------------------------------------------------------------

    def discovered(self, rest_root: str, posts_filter: str, feed_url: str | None) -> storage.ArchiveIndex:
        """The start page advertised these indexes; returns the record to read them with."""
        known = self.archive_index or storage.ArchiveIndex(self.start_url, self.site)
        if (known.rest_root, known.posts_filter, known.feed_url) != (rest_root, posts_filter, feed_url):
            # Re-discovered: what was kept of the old indexes (validators, sync point) no longer holds.
            known = storage.ArchiveIndex(
                self.start_url, self.site, rest_root, posts_filter, feed_url=feed_url, discovered_at=storage.utc_now()
            )
        self.findings.rest_root, self.findings.posts_filter, self.findings.feed_url = rest_root, posts_filter, feed_url
        self.findings.discovered_at = known.discovered_at or storage.utc_now()
        self.archive_index = known
        return known

    def use_index(self, kind: str, note: str | None = None) -> None:
        self.findings.index_used = kind
        if note:
            self.note(note)

    def note(self, text: str) -> None:
        """A line about the indexes for the run's row (`crawl_runs.index_note`) and its last log lines."""
        if text not in self.findings.notes:
            self.findings.notes.append(text)

    def rest_abandoned(self, reason: str) -> None:
        """The REST API stopped working in this run: the HTML listing instead, and the next crawl
        discovers the REST API again from the start page."""
        self.use_index("html", reason)
        self.findings.fallback_reason = reason

    def rest_supports_modified_after(self, supported: bool) -> None:
        self.findings.modified_after = supported

    def feed_validators(self, etag: str | None, last_modified: str | None) -> None:
        self.findings.feed_validators = (etag, last_modified)

    def feed_unchanged(self) -> None:
        self.note("the feed answered 304: nothing changed on the site since the last run")

    def index_incomplete(self, why: str) -> None:
        """The REST index was not read to its end: neither the feed's validators nor a sync point are
        kept, so the next run reads it in full again."""
        self.note(why)
        self.findings.index_incomplete = True

    def index_read(self, posts: int) -> None:
        self.tally.index_page(posts)

    def synced(self, newest_modified: str | None) -> None:
        """The REST index was read to its end: the next refresh asks only for what changed since."""
        if newest_modified:
            self.findings.synced_to = newest_modified

    def built_from_rest(self) -> None:
        self.tally.counts.from_rest += 1

    def fail(self, message: str) -> None:
        """The run failed as a whole (its archive index could not be read): it goes on, then fails."""
        self.message = self.message or message

    def progress(self) -> Progress:
        return self.tally.progress()

    # --- exceptions anywhere ----------------------------------------------------------------------

    def crashed(self, error: BaseException, url: str | None, doing: str) -> None:
        """An exception nobody foresaw (a bug, or input no rule covers) while `doing` something with
        `url`: recorded as an `exception` failure, logged in one line (the traceback at DEBUG), and
        the crawl stops."""
        description = _describe(error)
        first = self.exception is None
        self.exception = self.exception or description
        # One ERROR line per run: answers already on their way when the crawl stops may raise again.
        logger.log(
            logging.ERROR if first else logging.WARNING,
            "Unexpected %s while %s %s; %s",
            description,
            doing,
            url or self.start_url,
            "stopping the crawl" if first else "the crawl is stopping",
        )
        logger.debug("Traceback of the unexpected error", exc_info=error)
        if self._batch is not None and self.storage_error is None:
            try:
                self._record_failure(
                    PageFailure(url=url or self.start_url, kind="exception", message=f"{doing}: {description}")
                )
            except sqlite3.Error as storage_error:
                self._storage_failed_at_close(storage_error)
        if first and self.crawler.engine is not None and self.crawler.crawling:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="exception"))

    def _spider_error(self, failure: Failure, response, spider) -> None:
        url = getattr(response, "url", None) or getattr(getattr(failure, "request", None), "url", None)
        self.crashed(failure.value or RuntimeError("an error without an exception"), url, "reading")

    def _item_error(self, item, response, spider, failure: Failure) -> None:
        error = failure.value or RuntimeError("an error without an exception")
        self.crashed(error, getattr(item, "url", None), f"storing a {type(item).__name__} of")

    # --- writes -----------------------------------------------------------------------------------

    def store(self, item) -> object:
        """Write one item in the current batch. A storage error stops the run (see the module doc)."""
        if self.storage_error is not None or self._batch is None:
            # Pages already on their way when the run stopped: counted and logged once at the end.
            self.not_stored += 1
            raise DropItem(
                f"not stored: the run stopped ({self.storage_error or self.exception or 'not open'})", log_level="DEBUG"
            )
        refusal = self._off_site(item)
        if refusal is not None:
            item = refusal
        try:
            outcome = self._write(item)
        except sqlite3.Error as error:
            self._storage_failed(error, item)  # logged there, in one line without the item
            raise DropItem(f"not stored: {error}", log_level="DEBUG") from None
        self.tally.ledger.settle(_post_keys_of(item))
        return outcome

    def _off_site(self, item) -> PageFailure | None:
        """A digest of another site than this run's is never written (whatever a page or the REST API
        claims, a site writes only its own rows): it becomes a failure of the URL it came from."""
        if isinstance(item, Digest) and item.site != self.site:
            return PageFailure(
                url=item.source_urls[0] if item.source_urls else self.start_url,
                kind="offsite",
                message=f"{item.url}: a digest of {item.site}, not of {self.site}: not stored",
            )
        url = getattr(item, "url", None)
        if (
            isinstance(item, (FetchedPage, PageFailure, DigestNotModified))
            and url
            and not same_site(url, self.start_url)
        ):
            return PageFailure(url=self.start_url, kind="offsite", message=f"{url}: not on {self.site}: not stored")
        return None

    def _write(self, item):
        # Each storage call goes through the batch, and its clock is read once, here: the batch may run a
        # write again (when a later one fails) and it must write the same rows.
        now = storage.utc_now()
        if isinstance(item, Digest):
            outcome = self.batch.write(lambda db: storage.save_digest(db, item, now))
            if outcome == storage.SHRUNK:
                self._record_failure(storage.shrunk_failure(item))
                return item
            self.tally.stored(outcome)
            logger.info(
                "%s digest %s: %s (%d entries)",
                outcome.capitalize(),
                item.number if item.number is not None else "-",
                item.url,
                len(item.entries),
            )
        elif isinstance(item, PageFailure):
            self._record_failure(item)
        elif isinstance(item, FetchedPage):
            self.batch.write(lambda db: storage.save_page(db, item, now))
        elif isinstance(item, DigestNotModified):
            self.batch.write(lambda db: storage.mark_not_modified(db, item.url, now))
            self.tally.stored(storage.UNCHANGED)
        elif isinstance(item, IndexConfirmed):
            self.batch.write(lambda db: storage.confirm_unchanged(db, self.site, item.modified_by_post, now))
            self.tally.counts.unchanged += len(item.modified_by_post)
        elif isinstance(item, PostsGone):
            self.tally.counts.gone += self.batch.write(
                lambda db: storage.mark_gone(db, self.site, list(item.post_ids), now)
            )
            logger.warning(
                "Gone from the site (kept in the archive, marked gone): posts %s", ", ".join(map(str, item.post_ids))
            )
        elif isinstance(item, DuplicateDigest):
            urls = [url for url in item.source_urls if same_site(url, self.start_url)]
            self.batch.write(lambda db: storage.remember_urls_of(db, item.url, urls, now))
            self.tally.counts.duplicates += 1
            logger.info("Duplicate of %s: %s", item.url, ", ".join(item.source_urls))
        else:
            raise TypeError(f"not an item of this project: {type(item).__name__}")
        return item

    def _record_failure(self, failure: PageFailure) -> None:
        """A failure row, in the batch (a failure is an item like a digest, committed with them)."""
        now, run_id = storage.utc_now(), self.run_id
        self.batch.write(lambda db: storage.record_failure(db, run_id, failure, now))
        self.health.record_failure(failure)
        self.tally.failure(failure.kind)
        if failure.kind != "exception":  # crashed() has logged it already
            logger.warning("Failed %s [%s]: %s", failure.url, failure.kind, failure.message)

    def _storage_failed(self, error: sqlite3.Error, item) -> None:
        """Keep what was written before the error, record it, and stop taking new work."""
        self.storage_error = f"{type(error).__name__}: {error}"
        url = getattr(item, "url", "?")
        what = f"writing {url}" if item is not None else "committing the batch"
        logger.error("Storage error while %s: %s; stopping the run", what, self.storage_error)
        self._free_reserve()
        self._end_batch()
        if isinstance(item, (Digest, FetchedPage)):
            try:
                self._record_failure(PageFailure(url=url, kind="storage", message=f"{url}: {self.storage_error}"))
                self.batch.commit()
            except sqlite3.Error:
                self._abandon_batch()
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_error"))

    def _end_batch(self) -> None:
        """Commit what the batch holds; when even that fails (the disk is full), roll it back whole."""
        try:
            self.batch.commit()
        except sqlite3.Error as error:
            logger.error(
                "Could not commit the last writes (%s); they are rolled back and will be fetched "
                "again by the next crawl",
                error,
            )
            self._abandon_batch()

    def _abandon_batch(self) -> None:
        if self._batch is None:
            return
        try:
            self._batch.rollback()
        except sqlite3.Error:
            pass

    # --- the run's life ---------------------------------------------------------------------------

    def _spider_opened(self, spider) -> None:
        self.tally.started = time.monotonic()
        try:
            self.run_id = storage.start_run(self.db, self.mode, self.start_url)
        except sqlite3.Error as error:
            self.storage_error = f"{type(error).__name__}: {error}"
            logger.error("Could not start crawl run in %s: %s", self.database, self.storage_error)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_error"))
            return
        self._batch = storage.WriteBatch(self.db, max_items=self.batch_size)
        self._committer = LoopingCall(self._commit_held_writes)
        self._committer.start(self.COMMIT_CHECK_INTERVAL, now=False)
        logger.info("Archive %s: crawl run %d started (%s mode)", self.database, self.run_id, self.mode)

    def _commit_held_writes(self) -> None:
        if self._batch is None or self.storage_error is not None:
            return
        try:
            self._batch.commit_if_stale()
        except sqlite3.Error as error:
            self._storage_failed(error, None)

    def _spider_closed(self, spider, reason: str) -> None:
        if self._committer is not None and self._committer.running:
            self._committer.stop()
        try:
            self.close(reason)
        except Exception as error:  # the verdict must stand whatever broke
            self._crashed_at_close(error)
        finally:
            self._release()

    def _crashed_at_close(self, error: Exception) -> None:
        """An exception while closing: the run is failed, and says so in its row when the archive can."""
        description = _describe(error)
        self.exception = self.exception or description
        self.status, self.message = "failed", f"unexpected error while closing the run: {description}"
        logger.error("Unexpected %s while closing crawl run %s", description, self.run_id)
        logger.debug("Traceback of the unexpected error", exc_info=error)
        if self._db is None or self.run_id is None:
            return
        try:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            with self.db.atomic():
                failure = PageFailure(url=self.start_url, kind="exception", message=self.message)
                storage.record_failure(self.db, self.run_id, failure)
                self.tally.failure("exception")
                storage.finish_run(
                    self.db,
                    self.run_id,
                    "failed",
                    self.tally.counts,
                    self.message,
                    failure_kinds=dict(self.tally.failure_kinds),
                )
        except sqlite3.Error as storage_error:
            logger.error("Could not record the end of crawl run %s: %s", self.run_id, storage_error)

    def close(self, reason: str) -> None:
        """Decide the verdict, commit last, write the run's row; the lock is released after this."""
        if self._db is None:
            return
        if self._batch is None:  # closed before it opened (a start-up error)
            self.status, self.message = "failed", self.message or self.storage_error or reason
            return
        if self.storage_error is None:
            try:
                if reason == "finished" and self.exception is None:
                    self._account_for_unsettled_posts()
                self.batch.commit()
            except sqlite3.Error as error:
                self._storage_failed_at_close(error)
        if self.storage_error is None and self.exception is None:
            self._after_writes()
        self.status, self.message = self._verdict(reason)
        try:
            with self.db.atomic():
                if self.status == "finished":
                    self._save_findings()
                storage.finish_run(
                    self.db,
                    self._run_id(),
                    self.status,
                    self.tally.counts,
                    self.message,
                    failure_kinds=dict(self.tally.failure_kinds),
                    index_used=self.findings.index_used,
                    index_note="; ".join(self.findings.notes) or None,
                )
            self.row_written = True
        except sqlite3.Error as error:
            self._storage_failed_at_close(error)
            logger.error(
                "Could not record the end of crawl run %s in %s (%s); the run is %s: %s",
                self.run_id,
                self.database,
                error,
                self.status,
                self.message,
            )
        self._log_summary()

    def _after_writes(self) -> None:
        """Once every item is committed, before the verdict: the digests join their editions."""
        self._match_editions()

    def _save_findings(self) -> None:
        """What a finished run learnt that the next one starts from: the archive's indexes."""
        self._save_archive_index()

    def _save_archive_index(self) -> None:
        """What this run learnt of the archive's indexes. The feed's validators and the REST sync point
        only when every post the run set out to handle is stored or failed for good: otherwise the next
        refresh would take "nothing changed" for an answer and never retry what this run left."""
        if not self.findings.learnt_anything:
            return
        complete = storage.failures_that_may_mend(self.db, self.run_id) == 0
        if not complete and (self.findings.feed_validators or self.findings.synced_to):
            logger.info(
                "Not keeping the feed's validators or the REST sync point: some posts of this run "
                "failed and the next run must read the indexes in full to retry them"
            )
        base = self.archive_index or storage.ArchiveIndex(self.start_url, self.site)
        storage.save_archive_index(self.db, self.findings.applied_to(base, complete=complete))

    def _match_editions(self) -> None:
        """The digests this run stored or changed join their editions (their twins on other sites)."""
        try:
            update = storage.update_editions(self.db)
        except sqlite3.Error as error:
            self._storage_failed_at_close(error)
            return
        self.tally.counts.editions_new, self.tally.counts.editions_changed = update.new, update.changed
        if update.matched:
            logger.info(
                "Editions: %d digests matched, %d joined a twin on another site; %d editions new, %d changed",
                update.matched,
                update.pairs,
                update.new,
                update.changed,
            )

    def _run_id(self) -> int:
        if self.run_id is None:
            raise RuntimeError("the run has no crawl_runs row")
        return self.run_id

    def _free_reserve(self) -> None:
        """A full disk: the space kept beside the archive is given back, so that the failure and the
        run's row can still be written."""
        if self._reserve is not None:
            self._reserve.free()

    def _storage_failed_at_close(self, error: sqlite3.Error) -> None:
        self._free_reserve()
        self.storage_error = self.storage_error or f"{type(error).__name__}: {error}"
        logger.error("Storage error at the end of the run: %s", self.storage_error)
        self._abandon_batch()

    def _account_for_unsettled_posts(self) -> None:
        """Every post the run set out to handle ends stored, unchanged or failed: one that came to
        nothing (a request Scrapy dropped, an answer no callback turned into an item) is a failure."""
        for _, url in self.tally.ledger.unsettled():
            self._record_failure(
                PageFailure(
                    url=url,
                    kind="dropped",
                    message="requested, but neither a digest, a "
                    "304 nor a failure came of it (dropped by Scrapy or a filter)",
                )
            )

    def _verdict(self, reason: str) -> tuple[str, str | None]:
        if self.exception is not None:
            return "failed", f"unexpected error: {self.exception}"
        if self.storage_error is not None:
            return "failed", f"storage error: {self.storage_error}"
        if reason == "shutdown":
            return "interrupted", "interrupted (SIGTERM or Ctrl-C); run the same command again to resume"
        if reason != "finished":
            return "failed", self.message or reason
        return self._finished_verdict()

    def _finished_verdict(self) -> tuple[str, str | None]:
        """The verdict of a run that ran to its end: is its harvest believable (layout drift)?"""
        kinds = self.tally.failure_kinds
        self.health.posts_read = self.tally.counts.posts_fetched - kinds["empty"] - kinds["not_html"]
        message = self.message or self.health.problem()
        return ("failed" if message else "finished"), message

    def _log_summary(self) -> None:
        c = self.tally.counts
        logger.info(
            "Crawl run %s %s in %.1fs: %d new, %d changed, %d unchanged, %d duplicates, %d failed "
            "(index: %s; %d listing pages, %d REST index pages, %d posts listed, %d downloaded, %d built from the "
            "REST API, %d re-checked of which %d not modified, %d gone)%s",
            self.run_id,
            self.status,
            time.monotonic() - self.tally.started,
            c.new,
            c.changed,
            c.unchanged,
            c.duplicates,
            c.failed,
            self.findings.index_used or "-",
            c.listing_pages,
            c.index_pages,
            c.posts_listed,
            c.posts_fetched,
            c.from_rest,
            c.rechecked,
            c.not_modified,
            c.gone,
            f": {self.message}" if self.message else "",
        )
        if self.findings.notes:
            logger.info("Index: %s", "; ".join(self.findings.notes))
        if self.tally.failure_kinds:
            logger.warning(
                "Failures by kind: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(self.tally.failure_kinds.items()))
            )
        if self.not_stored:
            logger.warning(
                "%d items that arrived after the run stopped were not stored; the next crawl fetches them again",
                self.not_stored,
            )
        if self.status == "failed" and self.exception is None and self.storage_error is None:
            logger.error("Crawl run %s failed: %s", self.run_id, self.message)

    def _release(self, *, refused: bool = False) -> None:
        """Close the archive, then let go of the lock (refused: and of a lock file this run made)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        if self._reserve is not None:
            self._reserve.free()
            self._reserve = None
        if self._lock is not None:
            if refused:
                self._lock.discard()
            self._lock.release()
            self._lock = None

    @property
    def exit_code(self) -> int:
        """From what happened, never by default: 0 only for a run whose row says `finished`."""
        if self.exception is not None:
            return CRASHED_EXIT_CODE
        if self.storage_error is not None:
            return STORAGE_FAILED_EXIT_CODE
        if self.status == "interrupted":
            return INTERRUPTED_EXIT_CODE
        if self.status == "finished" and self.row_written:
            return FINISHED_EXIT_CODE
        return RUN_FAILED_EXIT_CODE


class _SpaceReserve:
    """A small file of disk space held beside the archive while a run holds its lock. When the disk
    fills, it is deleted: the run's last writes (the failure, the run's row marked failed) get room that
    a full disk would otherwise refuse them, whatever state SQLite's journal is in."""

    SIZE = 256 * 1024

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        try:
            with path.open("wb") as handle:
                handle.write(b"\0" * self.SIZE)
        except OSError:  # already too little space to keep any: nothing to give back later
            path.unlink(missing_ok=True)
            self.path = None

    def free(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _describe(error: BaseException) -> str:
    """`Type: message` of an exception, fit for a log line and a failures row."""
    return fit_text(f"{type(error).__name__}: {error}")[:500]


def _post_keys_of(item) -> list[str]:
    """The posts an item brings to an end in the run's ledger."""
    if isinstance(item, Digest):
        return [post_key(url) for url in (item.url, *item.source_urls)]
    if isinstance(item, DuplicateDigest):
        return [post_key(url) for url in (item.url, *item.source_urls)]
    if isinstance(item, (PageFailure, DigestNotModified)):
        return [post_key(item.url)]
    return []
