"""The digest harvest: the kind of run of `scrapy crawl digests` (refresh, backfill, recheck).

    DigestsSpider (from_crawler) ──► HarvestRun.open(crawler, mode, start_url, recheck_limit)
                                       the owner locks and opens; the harvest reads the posts stored and
                                       the index record of the listing (its snapshot)
    spider, middlewares          ──► run.is_stored(key), run.listing_read(...), run.post_requested(...)
    pipelines                    ──► owner.store(item) ──► the harvest's write for the item's type
    owner.close                  ──► posts that came to nothing become `dropped` failures, the digests
                                     join their editions, the verdict (layout drift?), the index record

It supplies what crawler/run.py `RunKind` asks, and the spider-facing words of a harvest; the lock,
the write batch, exceptions, the frame of the verdict and the exit code are its owner's (`RunOwner`).
Its parts: `RunTally` (core/ledger.py, kept by the owner) counts and keeps the ledger of posts the
verdict is drawn from; `IndexFindings` (core/rest_plan.py) is what the run learnt of the site's indexes;
`RunHealth` (core/health.py) whether what it read is believable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from sqlite_utils import Database

import storage
from core.health import RunHealth
from core.items import (
    Digest,
    DigestNotModified,
    DuplicateDigest,
    FetchedPage,
    PageFailure,
    PostsGone,
    RestIndexConfirmed,
    SiteNamed,
)
from core.ledger import RunTally
from core.modes import Mode
from core.rest_plan import IndexFindings
from core.site_names import chosen_name, read_site_names, source_rank
from core.urls import post_key, same_site, site_of
from crawler.run import RunOwner, Write, kind_of
from storage import sites as site_rows

# The run's own lines under the name they always had (`[crawler.run]`), whichever part of the run writes them.
logger = logging.getLogger("crawler.run")


class HarvestRun:
    """One harvest of one listing's digests: a `RunKind`, and what the digests spider asks of its run."""

    lock_job: str | None = None  # the archive's own lock
    # A digest or a page lost to a storage error is a failure: the next run fetches it again.
    lost_on_storage_error: tuple[type, ...] = (Digest, FetchedPage)

    def __init__(self, settings, mode: Mode | str, start_url: str, recheck_limit: int | None) -> None:
        self.mode = mode
        self.start_url = start_url
        self.site = site_of(start_url)
        self.recheck_limit = recheck_limit
        self.max_listing_pages = settings.getint("DIGEST_MAX_LISTING_PAGES")
        self.max_posts = settings.getint("DIGEST_MAX_POSTS")
        self.recheck_min_age = timedelta(hours=settings.getfloat("DIGEST_RECHECK_MIN_AGE"))
        # The operator's name for this run's site (DIGEST_SITE_NAMES), written by every run of the site.
        self.chosen_site_name = chosen_name(self.site, read_site_names(settings.get("DIGEST_SITE_NAMES")))
        self.site_named_by: str | None = None  # the source of the site's stored name, then of this run's
        self.findings = IndexFindings()
        self.health = RunHealth()
        self.state = storage.CrawlState(set(), set(), [])
        # The listing's index record: what the last crawls learnt of its indexes (None: never crawled).
        self.listing_record: storage.ListingRecord | None = None
        self._owner: RunOwner | None = None
        # Each item the digests spider and its pipelines yield, and its write (in the owner's batch).
        self.writes: Mapping[type, Write] = {
            Digest: self._write_digest,
            PageFailure: self._write_failure,
            FetchedPage: self._write_page,
            DigestNotModified: self._write_not_modified,
            RestIndexConfirmed: self._write_confirmed,
            PostsGone: self._write_gone,
            DuplicateDigest: self._write_duplicate,
            SiteNamed: self._write_site_name,
        }

    @classmethod
    def open(
        cls, crawler, *, mode: Mode | str, start_url: str, recheck_limit: int | None, create: bool = True
    ) -> HarvestRun:
        """The harvest of `start_url`, its archive locked and read (RunOwner.open: raises RunRefused)."""
        harvest = cls(crawler.settings, mode, start_url, recheck_limit)
        harvest._owner = RunOwner.open(crawler, harvest, create=create)
        return harvest

    @property
    def owner(self) -> RunOwner:
        if self._owner is None:
            raise RuntimeError("the harvest has no run yet")
        return self._owner

    @property
    def tally(self) -> RunTally:
        return self.owner.tally

    def read_archive(self, db: Database) -> None:
        """The snapshot: the posts stored (and which to re-check), the indexes learnt by the last runs."""
        self.state = storage.crawl_state(db, self.site, self.recheck_limit)
        self.listing_record = storage.load_listing_record(db, self.start_url)
        self.site_named_by = site_rows.site_name_source(db, self.site)

    # --- what the archive held when the run began -------------------------------------------------

    def is_on_site(self, url: str) -> bool:
        """Whether a URL is on this run's listing's site (the one site it may fetch from or write)."""
        return same_site(url, self.start_url)

    def wants_site_name(self) -> bool:
        """Whether a post page should be asked what the site calls itself: no name is stored, and none was
        learnt in this run yet (the start page and the REST root, which name it best, are read only when a run
        discovers the site's indexes: a refresh by a known REST index reads neither)."""
        return self.site_named_by is None

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
                "raise the setting if the listing is really that long"
            )
            return f"DIGEST_MAX_LISTING_PAGES ({self.max_listing_pages}) reached"
        return None

    def post_requested(self, key: str, url: str) -> bool:
        """Note a post this run sets out to handle; False when it has already, or when the run has
        reached DIGEST_MAX_POSTS (which fails it: a site can name any number of posts on one page)."""
        if key in self.tally.ledger.expected:
            return False
        if len(self.tally.ledger.expected) >= self.max_posts:
            if self.owner.message is None:
                logger.warning("Not fetching more than DIGEST_MAX_POSTS (%d) posts in one run", self.max_posts)
            self.fail(
                f"the site names more than DIGEST_MAX_POSTS ({self.max_posts}) posts; raise the setting if the "
                "listing is really that long"
            )
            return False
        return self.tally.ledger.expect(key, url)

    # --- the listing's own indexes ---------------------------------------------------------------

    def discovered(self, rest_root: str, posts_filter: str, feed_url: str | None) -> storage.ListingRecord:
        """The start page advertised these indexes; returns the record to read them with."""
        known = self.listing_record or storage.ListingRecord(self.start_url, self.site)
        if (known.rest_root, known.posts_filter, known.feed_url) != (rest_root, posts_filter, feed_url):
            # Re-discovered: what was kept of the old indexes (validators, sync point) no longer holds.
            known = storage.ListingRecord(
                self.start_url, self.site, rest_root, posts_filter, feed_url=feed_url, discovered_at=storage.utc_now()
            )
        self.findings.rest_root, self.findings.posts_filter, self.findings.feed_url = rest_root, posts_filter, feed_url
        self.findings.discovered_at = known.discovered_at or storage.utc_now()
        self.listing_record = known
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

    def feed_unchanged(self) -> None:
        self.note("the feed answered 304: nothing changed on the site since the last run")

    def rest_index_incomplete(self, why: str) -> None:
        """The REST index was not read to its end: neither the feed's validators nor a sync point are
        kept, so the next run reads it in full again."""
        self.note(why)
        self.findings.rest_index_incomplete = True

    def synced(self, newest_modified: str | None) -> None:
        """The REST index was read to its end: the next refresh asks only for what changed since."""
        if newest_modified:
            self.findings.synced_to = newest_modified

    def built_from_rest(self) -> None:
        self.tally.counts.from_rest += 1

    def fail(self, message: str) -> None:
        """The run failed as a whole (its HTML listing could not be read): it goes on, then fails."""
        self.owner.fail(message)

    def crashed(self, error: BaseException, url: str | None, doing: str) -> None:
        """An exception the spider caught where Scrapy would not report it: the run's (see RunOwner.crashed)."""
        self.owner.crashed(error, url, doing)

    # --- writes (the table in __init__), each through the owner's batch ----------------------------
    # Each storage call goes through the batch, and its clock is read once, in the write: the batch may
    # run a write again (when a later one fails) and it must write the same rows. Each write settles
    # the posts it brings to an end in the run's ledger.

    def _write_digest(self, item: Digest) -> object:
        if item.site != self.site:
            # Whatever a page or the REST API claims, a site writes only its own rows.
            return self._fail(
                PageFailure(
                    url=item.source_urls[0] if item.source_urls else self.start_url,
                    kind="offsite",
                    message=f"{item.url}: a digest of {item.site}, not of {self.site}: not stored",
                )
            )
        now = storage.utc_now()
        outcome = self.owner.batch.write(lambda db: storage.save_digest(db, item, now))
        if outcome == storage.SHRUNK:
            self._record_failure(storage.shrunk_failure(item))
        else:
            self.tally.stored(outcome)
            logger.info(
                "%s digest %s: %s (%d entries)",
                outcome.capitalize(),
                item.number if item.number is not None else "-",
                item.url,
                len(item.entries),
            )
        self._settle(item.url, *item.source_urls)
        return item

    def _write_failure(self, item: PageFailure) -> object:
        return self._fail(self._off_site(item.url) or item)

    def _write_page(self, item: FetchedPage) -> object:
        refusal = self._off_site(item.url)
        if refusal is not None:
            return self._fail(refusal)
        now = storage.utc_now()
        self.owner.batch.write(lambda db: storage.save_page(db, item, now))
        return item

    def _write_not_modified(self, item: DigestNotModified) -> object:
        refusal = self._off_site(item.url)
        if refusal is not None:
            return self._fail(refusal)
        now = storage.utc_now()
        self.owner.batch.write(lambda db: storage.mark_not_modified(db, item.url, now))
        self.tally.stored(storage.UNCHANGED)
        self._settle(item.url)
        return item

    def _write_confirmed(self, item: RestIndexConfirmed) -> object:
        now = storage.utc_now()
        self.owner.batch.write(lambda db: storage.confirm_unchanged(db, self.site, item.modified_by_post, now))
        self.tally.counts.unchanged += len(item.modified_by_post)
        return item

    def _write_gone(self, item: PostsGone) -> object:
        now = storage.utc_now()
        self.tally.counts.gone += self.owner.batch.write(
            lambda db: storage.mark_gone(db, self.site, list(item.post_ids), now)
        )
        logger.warning(
            "Gone from the site (kept in the archive, marked gone): posts %s", ", ".join(map(str, item.post_ids))
        )
        return item

    def _write_duplicate(self, item: DuplicateDigest) -> object:
        now = storage.utc_now()
        urls = [url for url in item.source_urls if same_site(url, self.start_url)]
        self.owner.batch.write(lambda db: storage.remember_urls_of(db, item.url, urls, now))
        self.tally.counts.duplicates += 1
        logger.info("Duplicate of %s: %s", item.url, ", ".join(item.source_urls))
        self._settle(item.url, *item.source_urls)
        return item

    def _write_site_name(self, item: SiteNamed) -> object:
        # A site names itself only: an answer from another site (a redirect elsewhere) names nothing.
        if not self.is_on_site(item.url):
            logger.info("Not naming %s after what %s says", self.site, item.url)
            return item
        now = storage.utc_now()
        site, name, source, url = self.site, item.name, item.source, item.url
        if self.owner.batch.write(lambda db: site_rows.learn_site_name(db, site, name, source, url, now)):
            logger.info("%s calls itself %r (%s, %s)", site, name, source, url)
        if source_rank(source) > source_rank(self.site_named_by):
            self.site_named_by = source
        return item

    def _off_site(self, url: str) -> PageFailure | None:
        """A page of another site than this run's is never written: it becomes a failure of the start URL."""
        if url and not same_site(url, self.start_url):
            return PageFailure(url=self.start_url, kind="offsite", message=f"{url}: not on {self.site}: not stored")
        return None

    def _fail(self, failure: PageFailure) -> object:
        """A failure of a post (or a refusal instead of what came): its row, and the post is settled."""
        self._record_failure(failure)
        self._settle(failure.url)
        return failure

    def _record_failure(self, failure: PageFailure) -> None:
        self.health.record_failure(failure)  # a page that came but could not be read: layout drift?
        self.owner.record_failure(failure)

    def _settle(self, *urls: str) -> None:
        self.tally.ledger.settle([post_key(url) for url in urls])

    # --- the run's end (RunKind) -------------------------------------------------------------------

    def before_last_commit(self, reason: str) -> None:
        """Every post the run set out to handle ends stored, unchanged or failed: one that came to
        nothing (a request Scrapy dropped, an answer no callback turned into an item) is a failure."""
        if reason != "finished" or self.owner.exception is not None:
            return
        for _, url in self.tally.ledger.unsettled():
            self.owner.record_failure(
                PageFailure(
                    url=url,
                    kind="dropped",
                    message="requested, but neither a digest, a "
                    "304 nor a failure came of it (dropped by Scrapy or a filter)",
                )
            )

    def after_writes(self) -> None:
        self._match_editions()

    def _match_editions(self) -> None:
        """The digests this run stored or changed join their editions (their twins on other sites)."""
        update = storage.update_editions(self.owner.db)
        self.tally.counts.editions_new, self.tally.counts.editions_changed = update.new, update.changed
        if update.matched:
            logger.info(
                "Editions: %d digests matched, %d joined a twin on another site; %d editions new, %d changed",
                update.matched,
                update.pairs,
                update.new,
                update.changed,
            )

    def verdict(self, reason: str) -> tuple[str, str | None] | None:
        """A run that ran to its end: is its harvest believable (layout drift)?"""
        if reason != "finished":
            return None
        kinds = self.tally.failure_kinds
        self.health.posts_read = self.tally.counts.posts_fetched - kinds["empty"] - kinds["not_html"]
        message = self.owner.message or self.health.problem()
        return ("failed" if message else "finished"), message

    def finish(self, db: Database, run_id: int, status: str) -> None:
        """The index the run used, in its row; and what a finished run learnt of the indexes, which the
        next one starts from. The feed's validators and the REST sync point only when every post the run
        set out to handle is stored or failed for good: otherwise the next refresh would take "nothing
        changed" for an answer and never retry what this run left."""
        storage.note_run_index(db, run_id, self.findings.index_used, "; ".join(self.findings.notes) or None)
        site_rows.choose_site_name(db, self.site, self.chosen_site_name)
        if status != "finished" or not self.findings.learnt_anything:
            return
        complete = storage.failures_that_may_mend(db, run_id) == 0
        if not complete and (self.findings.feed_validators or self.findings.synced_to):
            logger.info(
                "Not keeping the feed's validators or the REST sync point: some posts of this run "
                "failed and the next run must read the indexes in full to retry them"
            )
        base = self.listing_record or storage.ListingRecord(self.start_url, self.site)
        storage.save_listing_record(db, self.findings.applied_to(base, complete=complete))

    def summary(self) -> None:
        run, c = self.owner, self.tally.counts
        logger.info(
            "Crawl run %s %s in %.1fs: %d new, %d changed, %d unchanged, %d duplicates, %d failed "
            "(index: %s; %d listing pages, %d REST index pages, %d posts listed, %d downloaded, %d built from the "
            "REST API, %d re-checked of which %d not modified, %d gone)%s",
            run.run_id,
            run.status,
            run.elapsed(),
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
            f": {run.message}" if run.message else "",
        )
        if self.findings.notes:
            logger.info("Index: %s", "; ".join(self.findings.notes))
        if self.tally.failure_kinds:
            logger.warning(
                "Failures by kind: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(self.tally.failure_kinds.items()))
            )
        if run.not_stored:
            logger.warning(
                "%d items that arrived after the run stopped were not stored; the next crawl fetches them again",
                run.not_stored,
            )
        if run.status == "failed" and run.exception is None and run.storage_error is None:
            logger.error("Crawl run %s failed: %s", run.run_id, run.message)


def harvest_of(crawler) -> HarvestRun:
    """The harvest this crawler runs (for the middlewares of the digests spider)."""
    return kind_of(crawler, HarvestRun)
