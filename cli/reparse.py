"""Re-parse every stored page with the current parser: no network, changes recorded like edits.

Digests it changes are matched into editions again, as a crawl's are. The decisions are the crawl's own:
`core.validation.problems_with` (the validate pipeline's rule) says what is unfit to
store, and storage's shrink guard keeps a digest whose new parse lost most of its entries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import storage
from core.items import Digest, Entry
from core.parsing import ParseError, parse_digest
from core.parsing.decoding import charset_of
from core.parsing.wordpress import parse_rest_post
from core.validation import problems_with


@dataclass
class ReparseReport:
    pages: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    entries: dict[str, int] = field(default_factory=lambda: {"added": 0, "removed": 0, "altered": 0})
    links: dict[str, int] = field(default_factory=lambda: {"added": 0, "removed": 0, "altered": 0})
    changed_digests: list[str] = field(default_factory=list)
    editions_new: int = 0
    editions_changed: int = 0


def _count_differences(before: list, after: list, tally: dict[str, int]) -> None:
    """Compare two sequences position by position: longer means added, shorter removed, else altered."""
    for position in range(max(len(before), len(after))):
        if position >= len(before):
            tally["added"] += 1
        elif position >= len(after):
            tally["removed"] += 1
        elif before[position] != after[position]:
            tally["altered"] += 1


def _without_links(entries: tuple[Entry, ...]) -> list[Entry]:
    return [replace(entry, links=()) for entry in entries]


def _links_by_entry(entries: tuple[Entry, ...]) -> list:
    return [(position, link) for position, entry in enumerate(entries) for link in entry.links]


# Pages are read, parsed and written this many at a time: one transaction per batch (a digest stays atomic
# inside it, as in a crawl's batches), and memory bounded whatever the archive's size.
BATCH = 500
# Below this many pages, worker processes cost more to start than they save.
POOL_FROM = 400


def _parse_page(page: storage.StoredPage) -> tuple[Digest | None, str | None]:
    """A stored page's digest, or why it has none (run in a worker process: plain values in and out)."""
    try:
        digest = (
            parse_rest_post(json.loads(page.body))
            if page.source == "rest"
            else parse_digest(page.url, page.body, http_charset=charset_of(page.content_type))
        )
    except (ParseError, ValueError) as error:
        return None, str(error)
    # The content hash travels with the digest (a cached property is pickled with it): made here, in
    # parallel, rather than by the one process that stores.
    digest.content_hash  # noqa: B018
    return digest, None


@contextmanager
def _parser(pages: int, workers: int | None) -> Iterator[Callable[[list], Iterable]]:
    """Parse pages in order: in worker processes (the parser is pure, the machine's cores are idle while
    one process parses), or here for a small archive or `workers=1`."""
    workers = min(os.cpu_count() or 1, 4) if workers is None else workers
    if workers <= 1 or pages < POOL_FROM:
        yield lambda batch: map(_parse_page, batch)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield lambda batch: pool.map(_parse_page, batch, chunksize=16)


def reparse_archive(db, *, allow_shrink: bool = False, workers: int | None = None) -> ReparseReport:
    """Parse every stored page again and store what changed; what a crawl would decide, page for page."""
    report = ReparseReport()
    keys = storage.stored_page_keys(db)
    batch = storage.WriteBatch(db, max_items=BATCH, max_seconds=10.0)
    try:
        with _parser(len(keys), workers) as parse_all:
            # One batch ahead: the workers parse the next batch while this process stores the one parsed
            # (with the pool, `parse_all` hands a batch to the workers at once and yields as they finish).
            parsing = None
            for start in range(0, len(keys), BATCH):
                pages = storage.stored_pages_of(db, keys[start : start + BATCH])
                ahead = (pages, parse_all(pages))
                if parsing is not None:
                    _store_all(db, batch, *parsing, report, allow_shrink)
                parsing = ahead
            if parsing is not None:
                _store_all(db, batch, *parsing, report, allow_shrink)
        batch.commit()
    except BaseException:
        batch.rollback()
        raise
    # What changed joins its editions again, as after a crawl (its fields, its twin, its slug).
    update = storage.update_editions(db)
    report.editions_new, report.editions_changed = update.new, update.changed
    return report


def _store_all(db, batch, pages: list, parsed: Iterable, report: ReparseReport, allow_shrink: bool) -> None:
    for page, (digest, error) in zip(pages, parsed, strict=True):
        _store(db, batch, page, digest, error, report, allow_shrink)


def _store(
    db, batch, page, digest: Digest | None, error: str | None, report: ReparseReport, allow_shrink: bool
) -> None:
    report.pages += 1
    if digest is None:
        report.unreadable.append((page.url, error or ""))
        return
    problems = problems_with(digest)
    if problems:
        report.unreadable.append((page.url, "; ".join(problems)))
        return
    # The entries before, to count what changed; when the stored digest has the same content hash they are
    # the new ones (and nothing is counted), so only a changed digest's are read.
    unchanged = storage.stored_content_hash(db, page.url) == digest.content_hash
    before = digest.entries if unchanged else storage.digest_entries(db, page.url) or ()
    now = storage.utc_now()
    outcome = batch.write(lambda db: storage.save_digest(db, digest, now, seen=False, allow_shrink=allow_shrink))
    if outcome == storage.SHRUNK:
        report.unreadable.append((page.url, storage.shrunk_failure(digest).message + " (--allow-shrink replaces it)"))
        return
    setattr(report, outcome, getattr(report, outcome) + 1)
    if outcome == storage.UNCHANGED:
        return
    _count_differences(_without_links(before), _without_links(digest.entries), report.entries)
    _count_differences(_links_by_entry(before), _links_by_entry(digest.entries), report.links)
    if outcome == storage.CHANGED:
        report.changed_digests.append(digest.url)
