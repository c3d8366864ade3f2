"""What a crawl run counted, and the ledger of the posts it set out to handle.

The verdict of a run is drawn from this ledger, not assumed: every post a listing or the REST index
named, and the run decided to fetch or build, must end stored, unchanged, a duplicate, 304 or a
`failures` row. A post that ends as none of these (a request Scrapy dropped, a callback that
yielded nothing) becomes a `dropped` failure when the run closes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, fields


@dataclass
class RunCounts:
    """The counts a crawl run keeps, one `crawl_runs` column each."""

    listing_pages: int = 0
    posts_listed: int = 0
    posts_fetched: int = 0
    rechecked: int = 0
    not_modified: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: int = 0
    index_pages: int = 0  # pages of the REST index read
    from_rest: int = 0  # digests built from the REST API's content, their pages not downloaded
    gone: int = 0  # stored posts found gone from the site
    editions_new: int = 0  # editions created when the run's digests were matched
    editions_changed: int = 0  # editions whose posts or fields changed
    links_checked: int = 0  # links a link check recorded a check of (a harvest's counts stay 0 there)


RUN_COUNTS = tuple(f.name for f in fields(RunCounts))


@dataclass(frozen=True)
class Progress:
    listing_pages: int
    last_page: int | None
    posts_to_handle: int  # posts the run set out to fetch or build (its ledger)
    posts_done: int
    failed: int
    elapsed: float


@dataclass
class PostLedger:
    """Post key → URL of every post the run set out to handle, and the keys that came to an end."""

    expected: dict[str, str] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)  # got a response or a download failure (progress)

    def expect(self, key: str, url: str) -> bool:
        """Note a post to handle; False when this run has it already."""
        if key in self.expected:
            return False
        self.expected[key] = url
        return True

    def settle(self, keys: list[str]) -> None:
        self.settled.update(keys)

    def unsettled(self) -> list[tuple[str, str]]:
        return [(key, url) for key, url in self.expected.items() if key not in self.settled]


@dataclass
class RunTally:
    """The counts of one run: one field per `crawl_runs` column (`counts`), failures by kind, the
    listing pages read, and the ledger of posts."""

    counts: RunCounts = field(default_factory=RunCounts)
    failure_kinds: Counter[str] = field(default_factory=Counter)
    ledger: PostLedger = field(default_factory=PostLedger)
    listed: set[str] = field(default_factory=set)  # post keys named by a listing page
    listing_urls: set[str] = field(default_factory=set)  # listing pages read (a loop of "next" links ends)
    last_page: int | None = None  # the listing's last page, when its pagination shows it
    started: float = field(default_factory=time.monotonic)

    def listing_page(self, key: str, post_keys: list[str], last_page: int | None) -> list[str]:
        """A listing page was read; returns the post keys it names that are new to this run."""
        self.counts.listing_pages += 1
        self.listing_urls.add(key)
        if last_page:
            self.last_page = max(self.last_page or 0, last_page)
        new = [post for post in dict.fromkeys(post_keys) if post not in self.listed]
        self.listed.update(new)
        self.counts.posts_listed += len(new)
        return new

    def unreadable_listing(self, key: str) -> None:
        self.counts.listing_pages += 1
        self.listing_urls.add(key)

    def rest_index_page(self, posts: int) -> None:
        self.counts.index_pages += 1
        self.counts.posts_listed += posts

    def answered(self, key: str | None, *, recheck: bool, status: int | None) -> None:
        if key is not None:
            self.ledger.answered.add(key)
        if recheck:
            self.counts.rechecked += 1
        if status == 304:
            self.counts.not_modified += 1
        elif status is not None:
            self.counts.posts_fetched += 1

    def failure(self, kind: str) -> None:
        self.counts.failed += 1
        self.failure_kinds[kind] += 1

    def stored(self, outcome: str) -> None:
        """A digest was written: new, changed or unchanged (storage's outcomes)."""
        if outcome == "new":
            self.counts.new += 1
        elif outcome == "changed":
            self.counts.changed += 1
        else:
            self.counts.unchanged += 1

    def progress(self) -> Progress:
        return Progress(
            self.counts.listing_pages,
            self.last_page,
            len(self.ledger.expected),
            len(self.ledger.answered),
            self.counts.failed,
            time.monotonic() - self.started,
        )
