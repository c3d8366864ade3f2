"""The owner of every run, from the lock to the exit code; each kind of run plugs into it.

    kind.open(crawler, ...)   ──► RunOwner.open(crawler, kind)    lock, open, the kind's snapshot
    pipelines                 ──► run.store(item)                 the kind's write for the item's type,
                                                                  in the owner's write batch
    spider_error, item_error  ──► run.crashed(...)   an exception anywhere: a failure row, the crawl stops
    spider_closed             ──► run.close(reason)  the kind's last writes, final commit, verdict, the
                                                     crawl_runs row, then the lock
    crawl command             ──► exit_code_of(crawler)

The owner (`RunOwner`) keeps what every kind of run shares: the archive and its lock, the space reserve,
the write batch and its idle-commit timer, Scrapy's signals, exceptions turned into failures, storage
errors, the frame of the verdict (an exception, a storage error or an interrupt decide it before the
kind is asked), the run's row and the exit code. A kind of run (`RunKind`) supplies the rest: what it
reads before the first request, how each of its items is written, its verdict and its summary. The
kinds: the digest harvest (crawler/harvest.py `HarvestRun`) and the link check (crawler/linkrun.py
`LinkCheck`).

Finding the run: `run_of(crawler)` is the one way, for the middlewares, pipelines and extensions that
Scrapy builds with only the crawler in hand (`kind_of(crawler, HarvestRun)` when they need the kind);
the spiders keep the kind they opened as `self.run`. Why an object the spider opens and not a Scrapy
extension: extensions are built after the spider, and the spider must know what the archive holds
(and a bad DATABASE or a busy archive must stop the crawl with one line) before its first request.

A storage error (disk full, read-only file, locked past the timeout, a constraint or trigger) stops
the run: no new work is taken, what was written before it is committed when the disk allows, the
item it hit is recorded as a failure when its kind says so, the run is marked `failed` with the error,
and the crawl exits with STORAGE_FAILED_EXIT_CODE.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils import Database
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

import storage
from core.exit_codes import ExitCode
from core.items import PageFailure
from core.ledger import Progress, RunTally
from core.text import fit_text

logger = logging.getLogger(__name__)

__all__ = ["Progress", "RunKind", "RunOwner", "RunRefused", "exit_code_of", "kind_of", "run_of"]

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

# What a kind's write of one item is: it writes through the owner's batch and returns the item passed
# on to Scrapy (the item itself, or what it became: a digest of another site becomes its failure).
Write = Callable[[Any], object]


class RunRefused(Exception):
    """The run cannot start: a busy archive or an unusable DATABASE. Carries the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunKind(Protocol):
    """What a kind of run supplies to its `RunOwner`; the owner needs nothing else of it.

    A kind is a plain class. Its own `open` classmethod builds it and hands it to
    `RunOwner.open(crawler, kind)`, which locks the archive and calls `read_archive`; the kind keeps the
    owner it gets back when it needs the batch (`owner.batch.write`), `owner.record_failure`, the
    counts (`owner.tally.counts`, one `crawl_runs` column each) or `owner.repeat` (a timer that runs
    while the crawl does). The spider keeps the kind as `self.run` and asks it what it needs.
    A third kind (recovery from web archives) supplies the same members.
    """

    @property
    def mode(self) -> str:
        """`crawl_runs.mode` of the run (the harvest's Mode, `links`)."""
        ...

    @property
    def start_url(self) -> str:
        """`crawl_runs.start_url`; a failure with no URL of its own is recorded against it ("": none)."""
        ...

    @property
    def lock_job(self) -> str | None:
        """Which lock the run takes (storage.ArchiveLock's job): None, the archive's own; "links", the link
        check's own (a link check never keeps a scheduled refresh out)."""
        ...

    @property
    def writes(self) -> Mapping[type, Write]:
        """Item type → its write. An item of a type not here fails the run (`exception`)."""
        ...

    @property
    def lost_on_storage_error(self) -> tuple[type, ...]:
        """The item types whose loss to a storage error is recorded as a `storage` failure of their URL
        (what the next run must fetch again)."""
        ...

    def read_archive(self, db: Database) -> None:
        """The snapshot: what the run reads of the archive before its first request (the archive is locked
        and open; an sqlite3.Error or storage.ArchiveError refuses the run)."""
        ...

    def before_last_commit(self, reason: str) -> None:
        """The crawl closed with `reason` and no storage error: the kind's last writes, into the batch
        (e.g. the posts that came to nothing, as failures)."""
        ...

    def after_writes(self) -> None:
        """Everything is committed and nothing went wrong: work over what the run wrote, before the
        verdict (the digests join their editions; the captures' index is written)."""
        ...

    def verdict(self, reason: str) -> tuple[str, str | None] | None:
        """(`finished` or `failed`, message) of a run that closed for `reason` (`finished`, or a reason
        of the kind's own, such as a spent budget) without an exception, a storage error or an
        interrupt; None for a reason the kind does not know (the run fails with it)."""
        ...

    def finish(self, db: Database, run_id: int, status: str) -> None:
        """In the transaction that writes the run's row: what a run that ended `status` keeps for the
        next one, and the kind's own columns of its row."""
        ...

    def summary(self) -> None:
        """The run's last log lines (the owner's `status` and `message` are set)."""
        ...


K = TypeVar("K")

# The one attribute the run is kept in on Scrapy's crawler; read only through run_of and exit_code_of.
_RUN_ATTRIBUTE = "_digest_archive_run"


def run_of(crawler) -> RunOwner:
    """The run of this crawler, opened by its spider when the spider was built. The one way the parts
    Scrapy builds with only the crawler in hand (middlewares, pipelines, extensions) find the run."""
    run = getattr(crawler, _RUN_ATTRIBUTE, None)
    if run is None:
        raise RuntimeError("no crawl run: the spider opens it when it is built")
    return run


def kind_of(crawler, kind: type[K]) -> K:
    """The kind of this crawler's run, which must be a `kind` (a middleware of one kind of run only)."""
    found = run_of(crawler).kind
    if not isinstance(found, kind):
        raise RuntimeError(f"this crawl's run is a {type(found).__name__}, not a {kind.__name__}")
    return found


def exit_code_of(crawler) -> int | None:
    """The exit code of this crawler's run; None when no run was opened (the spider was never built)."""
    run = getattr(crawler, _RUN_ATTRIBUTE, None)
    return run.exit_code if run is not None else None


class RunOwner:
    """The run of one crawler: its archive, lock, write batch, signals, verdict and exit code; what
    differs between kinds of run is the kind's (`RunKind`)."""

    # Seconds between looks at the write batch: writes held longer than the batch's `max_seconds` are
    # committed even while the crawl waits on the network (another job may be waiting to write).
    COMMIT_CHECK_INTERVAL = 0.5

    def __init__(self, crawler, kind: RunKind) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.kind = kind
        self.database = settings.get("DATABASE")
        self.batch_size = settings.getint("DIGEST_WRITE_BATCH")
        self.tally = RunTally()
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
        self._timers: list[tuple[float, LoopingCall]] = []

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

    @property
    def start_url(self) -> str:
        return self.kind.start_url

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, crawler, kind: RunKind, *, create: bool = True) -> RunOwner:
        """Lock and open the archive and let the kind read what it needs, before the first request; with
        `create`, a missing archive is created.

        Raises RunRefused (busy archive, unusable DATABASE): the caller stops with one line. A refused
        DATABASE is left as it was, with nothing new beside it (no lock file, no reserve, no database).
        """
        run = cls(crawler, kind)
        try:
            # What the path alone tells (missing, a folder, not SQLite) is refused before the lock file.
            storage.check_archive_path(run.database, must_exist=not create)
            new_archive = not Path(run.database).exists()
            run._lock = storage.ArchiveLock(run.database, kind.lock_job).acquire()
            run._reserve = _SpaceReserve(run._lock.path.with_suffix(".reserve"))
        except storage.ArchiveBusy as error:
            raise RunRefused(str(error), BUSY_EXIT_CODE) from None
        except storage.ArchiveError as error:
            raise RunRefused(str(error), USAGE_EXIT_CODE) from None
        try:
            run._db = db = storage.open_database(run.database, create=create)
            kind.read_archive(db)
            abandoned = storage.close_abandoned_runs(db, link_check=kind.lock_job == "links")
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
        setattr(crawler, _RUN_ATTRIBUTE, run)
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
                logger.warning(
                    "The last crawl of this listing was killed: not trusting its job queue %s "
                    "(the archive says what is stored; listing pages are walked again)",
                    path,
                )

    def repeat(self, interval: float, call: Callable[[], object]) -> None:
        """Call `call` every `interval` seconds from the run's start (its row and batch exist) until the
        crawl closes, before the run's last writes."""
        self._timers.append((interval, LoopingCall(call)))

    # --- what a kind asks of the run --------------------------------------------------------------

    def fail(self, message: str) -> None:
        """The run failed as a whole (its HTML listing could not be read): it goes on, then fails."""
        self.message = self.message or message

    def progress(self) -> Progress:
        return self.tally.progress()

    def record_failure(self, failure: PageFailure) -> None:
        """A failure row, in the batch (a failure is an item like a digest, committed with them)."""
        now, run_id = storage.utc_now(), self.run_id
        self.batch.write(lambda db: storage.record_failure(db, run_id, failure, now))
        self.tally.failure(failure.kind)
        if failure.kind != "exception":  # crashed() has logged it already
            logger.warning("Failed %s [%s]: %s", failure.url, failure.kind, failure.message)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.tally.started

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
                self.record_failure(
                    PageFailure(url=url or self.start_url, kind="exception", message=f"{doing}: {description}")
                )
            except sqlite3.Error as storage_error:
                self._storage_failed_at_close(storage_error)
        if first and self.crawler.crawling and self.crawler.engine is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="exception"))

    def _spider_error(self, failure: Failure, response, spider) -> None:
        url = getattr(response, "url", None) or getattr(getattr(failure, "request", None), "url", None)
        self.crashed(failure.value or RuntimeError("an error without an exception"), url, "reading")

    def _item_error(self, item, response, spider, failure: Failure) -> None:
        error = failure.value or RuntimeError("an error without an exception")
        self.crashed(error, getattr(item, "url", None), f"storing a {type(item).__name__} of")

    # --- writes -----------------------------------------------------------------------------------

    def store(self, item) -> object:
        """Write one item in the current batch, with the kind's write for its type. A storage error stops
        the run (see the module doc)."""
        if self.storage_error is not None or self._batch is None:
            # Pages already on their way when the run stopped: counted and logged once at the end.
            self.not_stored += 1
            raise DropItem(
                f"not stored: the run stopped ({self.storage_error or self.exception or 'not open'})", log_level="DEBUG"
            )
        write = self._write_of(item)
        try:
            return write(item)
        except sqlite3.Error as error:
            self._storage_failed(error, item)  # logged there, in one line without the item
            raise DropItem(f"not stored: {error}", log_level="DEBUG") from None

    def _write_of(self, item) -> Write:
        writes = self.kind.writes
        for cls in type(item).__mro__:
            if cls in writes:
                return writes[cls]
        raise TypeError(f"not an item of this run ({type(self.kind).__name__}): {type(item).__name__}")

    def _storage_failed(self, error: sqlite3.Error, item) -> None:
        """Keep what was written before the error, record it, and stop taking new work."""
        self.storage_error = f"{type(error).__name__}: {error}"
        url = getattr(item, "url", "?")
        what = f"writing {url}" if item is not None else "committing the batch"
        logger.error("Storage error while %s: %s; stopping the run", what, self.storage_error)
        self._free_reserve()
        self._end_batch()
        if isinstance(item, self.kind.lost_on_storage_error):
            try:
                self.record_failure(PageFailure(url=url, kind="storage", message=f"{url}: {self.storage_error}"))
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
            self.run_id = storage.start_run(self.db, self.kind.mode, self.start_url)
        except sqlite3.Error as error:
            self.storage_error = f"{type(error).__name__}: {error}"
            logger.error("Could not start crawl run in %s: %s", self.database, self.storage_error)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_error"))
            return
        self._batch = storage.WriteBatch(self.db, max_items=self.batch_size)
        self.repeat(self.COMMIT_CHECK_INTERVAL, self._commit_held_writes)
        for interval, timer in self._timers:
            timer.start(interval, now=False)
        logger.info("Archive %s: crawl run %d started (%s mode)", self.database, self.run_id, self.kind.mode)

    def _commit_held_writes(self) -> None:
        if self._batch is None or self.storage_error is not None:
            return
        try:
            self._batch.commit_if_stale()
        except sqlite3.Error as error:
            self._storage_failed(error, None)

    def _spider_closed(self, spider, reason: str) -> None:
        for _, timer in self._timers:
            if timer.running:
                timer.stop()
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
            storage.rollback_open_transaction(self.db)
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
        """The kind's last writes, commit last, the verdict, the run's row; the lock is released after this."""
        if self._db is None:
            return
        if self._batch is None:  # closed before it opened (a start-up error)
            self.status, self.message = "failed", self.message or self.storage_error or reason
            return
        if self.storage_error is None:
            try:
                self.kind.before_last_commit(reason)
                self.batch.commit()
            except sqlite3.Error as error:
                self._storage_failed_at_close(error)
        if self.storage_error is None and self.exception is None:
            try:
                self.kind.after_writes()
            except sqlite3.Error as error:
                self._storage_failed_at_close(error)
        self.status, self.message = self._verdict(reason)
        try:
            with self.db.atomic():
                run_id = self._run_id()
                storage.finish_run(
                    self.db,
                    run_id,
                    self.status,
                    self.tally.counts,
                    self.message,
                    failure_kinds=dict(self.tally.failure_kinds),
                )
                self.kind.finish(self.db, run_id, self.status)
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
        self.kind.summary()

    def _verdict(self, reason: str) -> tuple[str, str | None]:
        """What decides every kind's verdict first; then the kind's own."""
        if self.exception is not None:
            return "failed", f"unexpected error: {self.exception}"
        if self.storage_error is not None:
            return "failed", f"storage error: {self.storage_error}"
        if reason == "shutdown":
            return "interrupted", "interrupted (SIGTERM or Ctrl-C); run the same command again to resume"
        verdict = self.kind.verdict(reason)
        if verdict is None:
            return "failed", self.message or reason
        return verdict

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
