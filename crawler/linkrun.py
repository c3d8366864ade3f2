"""The run of `scrapy crawl links`: the same owner as a digests crawl (lock, write batch, failures,
verdict, exit codes), reading and writing link health instead of digests.

    spider (from_crawler) ──► LinkRun.open(crawler)        lock, sync link_targets, the links due
    spider callbacks       ──► run.judge(id, status)       the link's state after this check (pure rule)
                           ──► run.lookup_due(id, state)   whether to ask the CDX API for a copy
    pipelines              ──► run.store(item)             check row, state, WARC capture, copy found
    spider_closed          ──► run.close(reason)           CDXJ index of the captures, verdict, lock
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlite_utils import Database

import storage
from core.items import ArchivedCopyLookup, LinkChecked, PageFailure
from core.link_status import DeadRule, LinkState, is_capturable, next_state
from crawler.run import CrawlRun
from storage import links as link_store
from storage.captures import CaptureStore, captures_folder

logger = logging.getLogger(__name__)


class LinkRun(CrawlRun):
    """One check of the archive's links."""

    def __init__(self, crawler, mode: str, start_url: str) -> None:
        super().__init__(crawler, mode, start_url)
        settings = crawler.settings
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        self.every_days = settings.getfloat("DIGEST_LINK_RECHECK_DAYS")
        self.dead_every_days = settings.getfloat("DIGEST_LINK_DEAD_RECHECK_DAYS")
        self.rule = DeadRule(settings.getint("DIGEST_LINK_DEAD_AFTER"), settings.getfloat("DIGEST_LINK_DEAD_DAYS"))
        self.capture_enabled = settings.getbool("DIGEST_LINK_CAPTURE")
        self.captures = CaptureStore(
            captures_folder(self.database), int(settings.getfloat("DIGEST_LINK_WARC_MAX_MB") * 1024 * 1024)
        )
        self.due: dict[int, link_store.DueLink] = {}
        self.new_targets = 0
        self.judged: dict[int, tuple[LinkState, str]] = {}  # target id → (state after this run's check, when)
        self.statuses: Counter[str] = Counter()
        self.captured: Counter[str] = Counter()  # response, revisit
        self.copies_found = 0
        self.lookups = 0

    @classmethod
    def open_for_links(cls, crawler) -> LinkRun:
        run = cls.open(crawler, mode="links", start_url="", recheck_limit=None)
        assert isinstance(run, LinkRun)
        return run

    def _read_archive(self, db: Database, recheck_limit: int | None) -> None:
        with db.atomic():
            self.new_targets = link_store.sync_link_targets(db, self.now.isoformat())
        due = link_store.due_links(db, self.now, every_days=self.every_days, dead_every_days=self.dead_every_days)
        self.due = {link.id: link for link in due}

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
        """For a dead link with no capture and no copy found, whose last lookup is older than its recheck
        period: the date (ISO, maybe empty) the copy must not be later than. None: no lookup now."""
        link = self.due[target_id]
        if not state.dead or link.capture_digest or link.has_copy:
            return None
        if link.lookup_at and link.lookup_at > (self.now - timedelta(days=self.every_days)).isoformat():
            return None
        return link.cited_on or ""

    def is_on_site(self, url: str) -> bool:
        return True  # a link check goes wherever the links point (robots.txt and politeness still apply)

    # --- writes ---------------------------------------------------------------------------------

    def _off_site(self, item) -> PageFailure | None:
        return None

    def _write(self, item):
        if isinstance(item, LinkChecked):
            self._write_check(item)
        elif isinstance(item, ArchivedCopyLookup):
            at = storage.utc_now()
            self.batch.write(
                lambda db: link_store.record_lookup(db, item.target_id, copy_url=item.copy_url, note=item.note, at=at)
            )
            self.lookups += 1
            if item.copy_url:
                self.copies_found += 1
                logger.info("Archived copy of %s: %s", item.url, item.copy_url)
        elif isinstance(item, PageFailure):
            self._record_failure(item)
        else:
            raise TypeError(f"not an item of the links spider: {type(item).__name__}")
        return item

    def _write_check(self, item: LinkChecked) -> None:
        if item.target_id not in self.judged:  # an item made without asking the run first
            self.judge(item.target_id, item.status)
        state, at = self.judged.pop(item.target_id)
        written = None
        link = self.due[item.target_id]
        if self.capture_enabled and item.page is not None and state.status == "ok":
            content_type = dict((k.lower(), v) for k, v in item.page.headers).get("content-type")
            if is_capturable(content_type):
                written = self.captures.write(
                    item.page,
                    datetime.fromisoformat(at),
                    previous_digest=link.capture_digest,
                    previous_date=self._captured_at(item.target_id),
                    previous_uri=item.page.url,
                )
                self.captured[written.kind] += 1
        run_id = self.run_id

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

        self.batch.write(rows)
        self.statuses["dead" if state.dead else state.status] += 1
        self.tally.counts.posts_fetched += 1  # the run's row counts requests answered as "fetched"

    def _captured_at(self, target_id: int) -> str | None:
        row = self.db.execute("SELECT captured_at FROM link_targets WHERE id = ?", [target_id]).fetchone()
        if not row or not row[0]:
            return None
        return datetime.fromisoformat(row[0]).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- the run's end --------------------------------------------------------------------------

    def _after_writes(self) -> None:
        """The captures' CDXJ index, written again over every WARC file (pywb and ReplayWeb.page read it)."""
        if self.captured:
            index = self.captures.index()
            logger.info("Captures indexed: %s", index)

    def _save_findings(self) -> None:
        return None

    def _account_for_unsettled_posts(self) -> None:
        return None  # the verdict counts what was checked against what was due (in _verdict)

    def _finished_verdict(self) -> tuple[str, str | None]:
        """Every link due got its check."""
        checked = sum(self.statuses.values())
        if checked < len(self.due):
            unanswered = [link.url for link in self.due.values() if link.id not in self._checked_ids()]
            return "failed", f"{len(unanswered)} of {len(self.due)} due links got no check: {', '.join(unanswered[:3])}"
        return "finished", None

    def _checked_ids(self) -> set[int]:
        rows = self.db.execute("SELECT target_id FROM link_checks WHERE crawl_run_id = ?", [self.run_id]).fetchall()
        return {row[0] for row in rows}

    def _log_summary(self) -> None:
        logger.info(
            "Link check run %s %s in %.1fs: %d links due (%d new), %s; %d captured, %d unchanged (revisit); "
            "%d web-archive lookups, %d copies found%s",
            self.run_id,
            self.status,
            time.monotonic() - self.tally.started,
            len(self.due),
            self.new_targets,
            ", ".join(f"{n} {status}" for status, n in self.statuses.most_common()) or "none checked",
            self.captured["response"],
            self.captured["revisit"],
            self.lookups,
            self.copies_found,
            f": {self.message}" if self.message else "",
        )
        if self.status == "failed" and self.exception is None and self.storage_error is None:
            logger.error("Link check run %s failed: %s", self.run_id, self.message)
