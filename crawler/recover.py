"""The recovery from web archives: the kind of run of `scrapy crawl digests -a mode=recover`.

    DigestsSpider (from_crawler) ──► RecoverRun.open(crawler, start_url)
                                       the owner locks and opens; the recovery reads the captures read
                                       by earlier runs and the digests stored of the site (its snapshot)
    RecoverPath (the spider's)   ──► run.take_capture(), run.candidates(n), run.version_since(key), …
    pipelines                    ──► owner.store(item) ──► a CaptureRead: the digest stored with its
                                     provenance, a revision dated at its capture, or why it was skipped;
                                     the capture remembered (storage/recovered.py)
    owner.close                  ──► the digests join their editions, the verdict, the summary

It supplies what crawler/run.py `RunKind` asks; the lock, the write batch, exceptions, the frame of the
verdict and the exit code are its owner's (`RunOwner`), as for every crawl. Its counts go in the run's
row: `index_pages` the CDX answers read, `listing_pages` the captured listing pages read, `posts_listed`
the candidates, `posts_fetched` the captures downloaded, `new` the digests recovered, `changed` the
revisions found, `unchanged` the captures that changed nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlite_utils import Database

import storage
from core.items import LATEST, LISTING, OLDER, CaptureRead, PageFailure
from core.modes import Mode
from core.urls import post_key, site_of
from core.validation import problems_with
from core.web_archives import WebArchive
from crawler.config import web_archives_of
from crawler.run import RunOwner, Write, kind_of

logger = logging.getLogger("crawler.run")


class RecoverRun:
    """One recovery of one listing's digests from the web archives: a `RunKind`, and what its path asks."""

    mode = Mode.RECOVER
    lock_job: str | None = None  # the archive's own lock: it writes digests
    # A capture lost to a storage error is a failure: not remembered, so the next run reads it again.
    lost_on_storage_error: tuple[type, ...] = (CaptureRead,)

    def __init__(self, settings, start_url: str) -> None:
        self.start_url = start_url
        self.site = site_of(start_url)
        self.archives: tuple[WebArchive, ...] = web_archives_of(settings)
        self.max_candidates = settings.getint("DIGEST_RECOVER_MAX_CANDIDATES")
        self.max_captures = settings.getint("DIGEST_RECOVER_MAX_CAPTURES")
        self.max_cdx_pages = settings.getint("DIGEST_RECOVER_MAX_CDX_PAGES")
        self.state = storage.RecoveryState()
        self.recovered: dict[str, str] = {}  # post key → capture time, of the digests this run recovered
        self.captures_taken = 0
        self.cdx_queries = 0
        self.skipped = 0
        self._owner: RunOwner | None = None
        self.writes: Mapping[type, Write] = {CaptureRead: self._write_capture, PageFailure: self._write_failure}

    @classmethod
    def open(cls, crawler, *, start_url: str) -> RecoverRun:
        """The recovery of `start_url`'s listing, its archive locked and read (RunOwner.open: raises RunRefused)."""
        recovery = cls(crawler.settings, start_url)
        recovery._owner = RunOwner.open(crawler, recovery)
        return recovery

    @property
    def owner(self) -> RunOwner:
        if self._owner is None:
            raise RuntimeError("the recovery has no run yet")
        return self._owner

    def read_archive(self, db: Database) -> None:
        self.state = storage.recovery_state(db, self.site)

    # --- what the path asks ------------------------------------------------------------------------------

    def is_on_site(self, url: str) -> bool:
        """A recovery fetches from the web archives only (their CDX APIs and replays), never the live site."""
        origin = _origin(url)
        return any(origin in (_origin(archive.cdx), _origin(archive.replay)) for archive in self.archives)

    def site_name(self) -> str:
        return ", ".join(archive.name for archive in self.archives)

    def hosts(self) -> list[str]:
        """The web archives' hosts (each its own download slot)."""
        return sorted({urlsplit(url).hostname or "" for archive in self.archives for url in archive.origins})

    def stored_urls(self) -> list[str]:
        return [version.url for version in self.state.stored.values()]

    def version_since(self, key: str) -> str | None:
        """When the archive's version of a post begins (captures older than this are its history); None:
        the archive does not hold the post."""
        if key in self.recovered:
            return self.recovered[key]
        version = self.state.stored.get(key)
        return version.since if version is not None else None

    def posts_read(self, archive: str) -> set[tuple[str, str]]:
        """(URL, timestamp) of every capture of `archive` read by an earlier run."""
        return {(url, timestamp) for (name, url, timestamp) in self.state.read if name == archive}

    def listings_read(self, archive: str) -> dict[tuple[str, str | None], tuple[str, ...]]:
        """(URL, payload digest) → the posts named, of the listing pages of `archive` read by earlier runs."""
        return {
            (url, read.payload_digest): read.posts
            for (name, url, _), read in self.state.read.items()
            if name == archive and read.outcome == LISTING
        }

    def cdx_asked(self, url: str) -> None:
        self.cdx_queries += 1

    def cdx_read(self) -> None:
        self.owner.tally.counts.index_pages += 1

    def capture_downloaded(self) -> None:
        self.owner.tally.counts.posts_fetched += 1

    def take_capture(self) -> bool:
        """Whether one more capture may be downloaded; past DIGEST_RECOVER_MAX_CAPTURES the run fails."""
        if self.captures_taken >= self.max_captures:
            self.fail(
                f"more captures to read than DIGEST_RECOVER_MAX_CAPTURES ({self.max_captures}); run again to go "
                "on (captures read are remembered), or raise the setting"
            )
            return False
        self.captures_taken += 1
        return True

    def candidates(self, found: int) -> int:
        """How many of the posts found the run considers; more than DIGEST_RECOVER_MAX_CANDIDATES fails it."""
        self.owner.tally.counts.posts_listed += min(found, self.max_candidates)
        if found > self.max_candidates:
            self.fail(
                f"the web archives hold {found} posts of the site, more than DIGEST_RECOVER_MAX_CANDIDATES "
                f"({self.max_candidates}); raise the setting if the site is really that large"
            )
            return self.max_candidates
        return found

    def fail(self, message: str) -> None:
        """The run fails as a whole (a cap, a CDX query that failed): it goes on with what it has, then fails."""
        self.owner.fail(message)

    def crashed(self, error: BaseException, url: str | None, doing: str) -> None:
        self.owner.crashed(error, url, doing)

    # --- writes ------------------------------------------------------------------------------------------

    def _write_capture(self, item: CaptureRead) -> object:
        if item.outcome in (LATEST, OLDER) and item.digest is not None:
            digest = item.digest
            if digest.site != self.site:
                # Whatever the capture claims, a listing's recovery writes only its own site's digests.
                item = CaptureRead(
                    item.memento,
                    "offsite",
                    post_key=item.post_key,
                    message=f"a digest of {digest.site} ({digest.url}), not of {self.site}: not stored",
                )
            elif problems := problems_with(digest):
                item = CaptureRead(item.memento, "invalid", post_key=item.post_key, message="; ".join(problems))
        run_id, now = self.owner.run_id, storage.utc_now()
        outcome = self.owner.batch.write(lambda db: storage.save_recovered(db, item, run_id, now))
        memento, counts = item.memento, self.owner.tally.counts
        self.state.read[(memento.web_archive, memento.url, memento.timestamp)] = storage.ReadCapture(
            outcome, memento.payload_digest, item.posts
        )
        if outcome == storage.RECOVERED:
            assert item.digest is not None
            counts.new += 1
            self.recovered[item.post_key or post_key(item.digest.url)] = memento.captured_at
            logger.info(
                "Recovered digest %s: %s (%s, captured %s: %s)",
                item.digest.number if item.digest.number is not None else "-",
                item.digest.url,
                memento.web_archive,
                memento.captured_at,
                memento.memento_url,
            )
        elif outcome == storage.REVISION:
            counts.changed += 1
            logger.info(
                "Older version of %s from its capture of %s (%s)", memento.url, memento.captured_at, memento.web_archive
            )
        elif outcome == storage.UNCHANGED:
            counts.unchanged += 1
        elif outcome == LISTING:
            counts.listing_pages += 1
        else:
            self.skipped += 1
            logger.info("Skipped capture %s [%s]: %s", memento.memento_url, outcome, item.message or "")
        return item

    def _write_failure(self, item: PageFailure) -> object:
        self.owner.record_failure(item)
        return item

    # --- the run's end (RunKind) -------------------------------------------------------------------------

    def before_last_commit(self, reason: str) -> None:
        return None

    def after_writes(self) -> None:
        update = storage.update_editions(self.owner.db)
        self.owner.tally.counts.editions_new, self.owner.tally.counts.editions_changed = update.new, update.changed

    def verdict(self, reason: str) -> tuple[str, str | None] | None:
        if reason != "finished":
            return None
        message = self.owner.message
        return ("failed" if message else "finished"), message

    def finish(self, db: Database, run_id: int, status: str) -> None:
        note = f"web archives: {self.site_name()}; {self.cdx_queries} CDX queries, {self.skipped} captures skipped"
        storage.note_run_index(db, run_id, "web-archives", note)

    def summary(self) -> None:
        run, c = self.owner, self.owner.tally.counts
        logger.info(
            "Crawl run %s %s in %.1fs: %d digests recovered, %d older versions, %d captures unchanged, %d skipped, "
            "%d failed (web archives: %s; %d CDX queries, %d listing pages read, %d posts considered, "
            "%d captures downloaded)%s",
            run.run_id,
            run.status,
            run.elapsed(),
            c.new,
            c.changed,
            c.unchanged,
            self.skipped,
            c.failed,
            self.site_name(),
            self.cdx_queries,
            c.listing_pages,
            c.posts_listed,
            c.posts_fetched,
            f": {run.message}" if run.message else "",
        )
        if run.tally.failure_kinds:
            logger.warning(
                "Failures by kind: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(run.tally.failure_kinds.items()))
            )
        if run.status == "failed" and run.exception is None and run.storage_error is None:
            logger.error("Crawl run %s failed: %s", run.run_id, run.message)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ("", "", None)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def recovery_of(crawler) -> RecoverRun:
    return kind_of(crawler, RecoverRun)
