"""The link check: the kind of run of `scrapy crawl links`. The same owner as a digests crawl
(crawler/run.py `RunOwner`: lock, write batch, failures, the verdict's frame, exit codes) runs it; the
link check reads and writes link health instead of digests, and counts its checks (`links_checked`).

    spider (from_crawler) ──► LinkCheck.open(crawler)      lock, sync link_targets, the links due
    spider callbacks       ──► run.judge(id, status)       the link's state after this check (pure rule)
                           ──► run.lookup_due(id, state)   whether to ask the CDX API for a copy (pure rule)
    pipelines              ──► owner.store(item)           check row, state, WARC capture, copy found
    spider_closed          ──► owner.close(reason)         CDXJ index of the captures, verdict, lock

Budgets (README "Budgets and coexisting jobs"): at most `DIGEST_LINK_MAX_PER_HOST` links of a host
per run, `DIGEST_LINK_MAX_CAPTURE_BYTES` of captures and `DIGEST_LINK_MAX_SECONDS` of wall-clock
time; what a budget leaves stays due for the next run, and a run that spent one ends `finished`
(exit 0). A stop (a budget, SIGTERM) cuts the requests in flight rather than waiting for them, as
Scrapy's graceful stop would (up to DOWNLOAD_TIMEOUT, Crawl-delay and Retry-After waits included).
A link check takes its own lock (`ARCHIVE.links.lock`): a refresh runs beside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from scrapy import Request
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils import Database

import storage
from core.items import ArchivedCopyLookup, LinkChecked, LinkPage, PageFailure
from core.link_status import DeadRule, LinkState, is_capturable, lookup_due, next_state, within_host_cap
from crawler.run import USAGE_EXIT_CODE, RunOwner, RunRefused, Write
from storage import links as link_store
from storage.captures import CaptureStore, captures_folder, payload_digest

logger = logging.getLogger(__name__)

# The reason a run closes with when a budget is spent: it ends `finished`, the rest due for the next run.
BUDGET_SPENT = "budget_spent"
# Set in a request's meta when a stop cut it: no check is recorded for it (the link stays due).
CUT = "link_check_cut"


@dataclass(frozen=True)
class LinkBudgets:
    """The limits of one link check (each setting's help is in crawler/config.py)."""

    max_bytes: int  # DIGEST_LINK_MAX_BYTES: of one page, on the wire and decoded
    capture_bytes: int  # DIGEST_LINK_MAX_CAPTURE_BYTES: of the pages captured in one run
    per_host: int  # DIGEST_LINK_MAX_PER_HOST
    seconds: float  # DIGEST_LINK_MAX_SECONDS

    @classmethod
    def from_settings(cls, settings) -> LinkBudgets:
        """Read the settings, checked by their declarations (crawler/config.py) when the spider was built; what
        no one declaration can say, that a run's captures hold at least one page, refuses the run (exit 2)."""
        budgets = cls(
            max_bytes=settings.getint("DIGEST_LINK_MAX_BYTES"),
            capture_bytes=settings.getint("DIGEST_LINK_MAX_CAPTURE_BYTES"),
            per_host=settings.getint("DIGEST_LINK_MAX_PER_HOST"),
            seconds=settings.getfloat("DIGEST_LINK_MAX_SECONDS"),
        )
        if budgets.capture_bytes < budgets.max_bytes:
            # Else a page could never fit a run's captures, and would stay due for ever.
            raise RunRefused(
                f"DIGEST_LINK_MAX_CAPTURE_BYTES ({budgets.capture_bytes}) must be at least DIGEST_LINK_MAX_BYTES "
                f"({budgets.max_bytes})",
                USAGE_EXIT_CODE,
            )
        return budgets


class InFlight:
    """The link check's requests from their first downloader middleware to their answer, each as the
    asyncio task Scrapy's downloader runs it in. Cancelling the task ends the request wherever it
    waits (a slow answer, a download slot's delay, robots.txt, Crawl-delay, Retry-After)."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task, Request] = {}

    def add(self, request: Request) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop: a stop waits for the request, as any Scrapy stop
            return
        if task is not None:
            self._tasks[task] = request
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.pop(task, None)

    def cut(self) -> int:
        """Cancel every request in flight; returns how many."""
        tasks = list(self._tasks.items())
        for task, request in tasks:
            request.meta[CUT] = True
            task.cancel()
        return len(tasks)


class LinkCheck:
    """One check of the archive's links: a `RunKind` (crawler/run.py), and what the links spider asks of
    its run."""

    mode = "links"  # crawl_runs.mode
    start_url = ""  # a link check has none: its failures without a URL of their own name none
    lock_job = "links"  # its own lock: a refresh runs beside it
    lost_on_storage_error: tuple[type, ...] = ()  # a check lost stays due: the next run checks it again
    WATCH_INTERVAL = 0.25  # seconds between looks at the clock and at a stop asked for (SIGTERM)

    def __init__(self, settings) -> None:
        self.budgets = LinkBudgets.from_settings(settings)
        self.in_flight = InFlight()
        self.stopping = False  # a budget or a stop: no new request is let through
        self.early_end: str | None = None  # which budget ended the run
        self.over_host_cap = 0  # links due but left for the next run (DIGEST_LINK_MAX_PER_HOST)
        self.capture_deferred: set[int] = set()  # checks not recorded: their capture would pass the budget
        self.capture_spent = 0  # bytes of pages captured (response records) in this run
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        self.every_days = settings.getfloat("DIGEST_LINK_RECHECK_DAYS")
        self.dead_every_days = settings.getfloat("DIGEST_LINK_DEAD_RECHECK_DAYS")
        self.rule = DeadRule(settings.getint("DIGEST_LINK_DEAD_AFTER"), settings.getfloat("DIGEST_LINK_DEAD_DAYS"))
        self.capture_enabled = settings.getbool("DIGEST_LINK_CAPTURE")
        self.captures = CaptureStore(
            captures_folder(settings.get("DATABASE")), int(settings.getfloat("DIGEST_LINK_WARC_MAX_MB") * 1024 * 1024)
        )
        self.due: dict[int, link_store.DueLink] = {}
        self.digest_origins: list[str] = []  # scheme://host:port of every stored digest (the link check may reach them)
        self.new_targets = 0
        self.own_posts = 0  # targets newly found to be posts of the archive's own sites (status `own`)
        self.judged: dict[int, tuple[LinkState, str]] = {}  # target id → (state after this run's check, when)
        self.statuses: Counter[str] = Counter()
        self.captured: Counter[str] = Counter()  # response, revisit
        self.copies_found = 0
        self.lookups = 0
        self._owner: RunOwner | None = None
        # The items of the links spider, and their writes (in the owner's batch).
        self.writes: Mapping[type, Write] = {
            LinkChecked: self._write_check,
            ArchivedCopyLookup: self._write_lookup,
            PageFailure: self._write_failure,
        }

    @classmethod
    def open(cls, crawler) -> LinkCheck:
        """The link check of the archive DATABASE, locked and read (RunOwner.open: raises RunRefused).
        Never creates an archive: a link check of a missing one is a mistyped DATABASE (exit 2)."""
        check = cls(crawler.settings)
        check._owner = owner = RunOwner.open(crawler, check, create=False)
        owner.repeat(cls.WATCH_INTERVAL, check._look)
        return check

    @property
    def owner(self) -> RunOwner:
        if self._owner is None:
            raise RuntimeError("the link check has no run yet")
        return self._owner

    def read_archive(self, db: Database) -> None:
        """The snapshot: the link targets brought up to date with the digests, and the links due now."""
        self.digest_origins = link_store.digest_origins(db)
        with db.atomic():
            self.new_targets = link_store.sync_link_targets(db, self.now.isoformat())
            # The archive's own posts are not links elsewhere on the web: classified, never checked.
            self.own_posts = link_store.mark_own_posts(db, self.digest_origins, self.now.isoformat())
        due = link_store.due_links(db, self.now, every_days=self.every_days, dead_every_days=self.dead_every_days)
        taken = within_host_cap([link.url for link in due], self.budgets.per_host)
        self.due = {link.id: link for link, take in zip(due, taken, strict=True) if take}
        self.over_host_cap = len(due) - len(self.due)
        if self.over_host_cap:
            logger.info(
                "%d links due are left for the next run: more than DIGEST_LINK_MAX_PER_HOST (%d) on their host",
                self.over_host_cap,
                self.budgets.per_host,
            )

    # --- what the spider asks -------------------------------------------------------------------

    def links_due(self) -> list[link_store.DueLink]:
        return list(self.due.values())

    def judge(self, target_id: int, status: str) -> LinkState:
        """The link's state after a check with this status (kept for the write)."""
        at = datetime.now(timezone.utc).replace(microsecond=0)
        state = next_state(self.due[target_id].state, status, at, self.rule)
        self.judged[target_id] = (state, at.isoformat())
        return state

    def lookup_due(self, target_id: int, state: LinkState) -> str | None:
        """Whether to ask the CDX API for a copy of this link now (`core.link_status.lookup_due`): the date
        (ISO, maybe empty) the copy must not be later than; None: no lookup now."""
        link = self.due[target_id]
        due = lookup_due(
            state,
            now=self.now,
            last_lookup_at=link.lookup_at,
            has_copy=link.has_copy,
            has_capture=link.capture_digest is not None,
            every_days=self.every_days,
            dead_every_days=self.dead_every_days,
        )
        return (link.cited_on or "") if due else None

    def crashed(self, error: BaseException, url: str | None, doing: str) -> None:
        """An exception the spider caught where Scrapy would not report it: the run's (see RunOwner.crashed)."""
        self.owner.crashed(error, url, doing)

    def admit(self, request: Request) -> bool:
        """A request reaches the downloader (crawler.middlewares.CutOnStop): kept in flight so that a stop
        can cut it; False once the run is stopping (it is not sent; its link stays due)."""
        if self.stopping:
            request.meta[CUT] = True
            return False
        self.in_flight.add(request)
        return True

    # --- budgets and stops ----------------------------------------------------------------------

    def _look(self) -> None:
        crawler = self.owner.crawler
        if not crawler.crawling:
            # SIGTERM or Ctrl-C: Scrapy's graceful stop waits for every request in flight; cut them.
            self._cut("the crawl is stopping")
        elif self.owner.elapsed() >= self.budgets.seconds:
            self.end_early(f"DIGEST_LINK_MAX_SECONDS ({self.budgets.seconds:g}) reached")

    def end_early(self, why: str) -> None:
        """A budget is spent: the run ends now with what it has checked (`finished`, exit 0)."""
        if self.early_end is not None:
            return
        self.early_end = why
        logger.info("%s: ending the link check; what is not checked stays due for the next run", why)
        crawler = self.owner.crawler
        engine = crawler.engine
        if engine is not None and crawler.crawling:
            deferred_from_coro(engine.close_spider_async(reason=BUDGET_SPENT))
        self._cut(why)

    def _cut(self, why: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        cut = self.in_flight.cut()
        if cut:
            logger.info("%s: %d requests in flight cut (their links stay due)", why, cut)

    # --- writes (the table in __init__), each through the owner's batch ------------------------

    def _write_failure(self, item: PageFailure) -> object:
        self.owner.record_failure(item)
        return item

    def _write_lookup(self, item: ArchivedCopyLookup) -> object:
        at = storage.utc_now()
        self.owner.batch.write(
            lambda db: link_store.record_lookup(db, item.target_id, copy_url=item.copy_url, note=item.note, at=at)
        )
        self.lookups += 1
        if item.copy_url:
            self.copies_found += 1
            logger.info("Archived copy of %s: %s", item.url, item.copy_url)
        return item

    def _write_check(self, item: LinkChecked) -> object:
        if item.target_id not in self.judged:  # an item made without asking the run first
            self.judge(item.target_id, item.status)
        state, at = self.judged.pop(item.target_id)
        written = None
        link = self.due[item.target_id]
        page = self._page_to_capture(item, state)
        if page is not None and self._past_capture_budget(page, link):
            # Not recorded: the link stays due, and the next run checks and captures it.
            self.capture_deferred.add(item.target_id)
            self.end_early(f"DIGEST_LINK_MAX_CAPTURE_BYTES ({self.budgets.capture_bytes}) reached")
            return item
        if page is not None:
            written = self.captures.write(
                page,
                datetime.fromisoformat(at),
                previous_digest=link.capture_digest,
                previous_date=_warc_date(link.captured_at),
                previous_uri=page.url,
            )
            self.captured[written.kind] += 1
            if written.kind == "response":
                self.capture_spent += len(page.body)
        run_id = self.owner.run_id

        # Rows only (the WARC record is written above, once): the batch may run this again.
        def rows(db: Database) -> None:
            if written is not None and written.kind == "response":
                link_store.record_capture(
                    db, item.target_id, warc=written.warc, offset=written.offset, digest=written.digest, at=at
                )
            link_store.record_link_check(
                db,
                run_id,
                item.target_id,
                state,
                checked_at=at,
                http_status=item.http_status,
                final_url=item.final_url,
                message=item.message,
                capture=written.kind if written is not None else None,
            )

        self.owner.batch.write(rows)
        self.statuses["dead" if state.dead else state.status] += 1
        self.owner.tally.counts.links_checked += 1
        return item

    def _page_to_capture(self, item: LinkChecked, state: LinkState) -> LinkPage | None:
        if not self.capture_enabled or item.page is None or state.status != "ok":
            return None
        content_type = dict((k.lower(), v) for k, v in item.page.headers).get("content-type")
        return item.page if is_capturable(content_type) else None

    def _past_capture_budget(self, page: LinkPage, link: link_store.DueLink) -> bool:
        """Whether capturing this page would take the run past DIGEST_LINK_MAX_CAPTURE_BYTES (a page
        unchanged since its last capture is a revisit record, and costs nothing)."""
        if link.capture_digest == payload_digest(page.body):
            return False
        return self.capture_spent + len(page.body) > self.budgets.capture_bytes

    # --- the run's end (RunKind) ----------------------------------------------------------------

    def before_last_commit(self, reason: str) -> None:
        return None  # the verdict counts what was checked against what was due

    def after_writes(self) -> None:
        """The captures' CDXJ index, written again over every WARC file (pywb and ReplayWeb.page read it)."""
        if self.captured:
            index = self.captures.index()
            logger.info("Captures indexed: %s", index)

    def verdict(self, reason: str) -> tuple[str, str | None] | None:
        """Every link taken got its check (or was left due by a budget)."""
        if reason == BUDGET_SPENT:
            left = len(self.due) - len(self._checked_ids()) + self.over_host_cap
            return "finished", f"{self.early_end}: {left} links left due for the next run"
        if reason != "finished":
            return None
        checked = self._checked_ids()
        unanswered = [
            link.url for link in self.due.values() if link.id not in checked and link.id not in self.capture_deferred
        ]
        if unanswered:
            return "failed", f"{len(unanswered)} of {len(self.due)} due links got no check: {', '.join(unanswered[:3])}"
        if self.early_end is not None:  # the capture budget was spent by the last answers
            left = len(self.capture_deferred) + self.over_host_cap
            return "finished", f"{self.early_end}: {left} links left due for the next run"
        if self.over_host_cap:
            return "finished", (
                f"{self.over_host_cap} links over DIGEST_LINK_MAX_PER_HOST ({self.budgets.per_host}) left due for the "
                "next run"
            )
        return "finished", None

    def _checked_ids(self) -> set[int]:
        """The links this run recorded a check of: one query, at the run's end."""
        return link_store.checked_target_ids(self.owner.db, self.owner.run_id)

    def finish(self, db: Database, run_id: int, status: str) -> None:
        return None  # what a check learns is in link_targets and link_checks, written with each check

    def summary(self) -> None:
        run = self.owner
        logger.info(
            "Link check run %s %s in %.1fs: %d links due (%d new), %s; %d captured, %d unchanged (revisit); "
            "%d web-archive lookups, %d copies found; %d links found to be the archive's own posts (not checked)%s",
            run.run_id,
            run.status,
            run.elapsed(),
            len(self.due),
            self.new_targets,
            ", ".join(f"{n} {status}" for status, n in self.statuses.most_common()) or "none checked",
            self.captured["response"],
            self.captured["revisit"],
            self.lookups,
            self.copies_found,
            self.own_posts,
            f": {run.message}" if run.message else "",
        )
        if run.status == "failed" and run.exception is None and run.storage_error is None:
            logger.error("Link check run %s failed: %s", run.run_id, run.message)


def _warc_date(iso: str | None) -> str | None:
    """An ISO time as a WARC-Date (`2024-01-31T12:00:00Z`)."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%SZ") if iso else None
