"""Re-parse every stored page with the current parser: no network, changes recorded like edits.

Digests it changes are matched into editions again, as a crawl's are. The decisions are the crawl's own:
`problems_with` (the validate pipeline) says what is unfit to
store, and storage's shrink guard keeps a digest whose new parse lost most of its entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import storage
from crawler.items import Entry
from crawler.parsing import ParseError, parse_digest
from crawler.parsing.decoding import charset_of
from crawler.parsing.wordpress import parse_rest_post
from crawler.pipelines import problems_with


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


def reparse_archive(db, *, allow_shrink: bool = False) -> ReparseReport:
    report = ReparseReport()
    for page in list(storage.stored_pages(db)):
        report.pages += 1
        try:
            digest = (
                parse_rest_post(json.loads(page.body))
                if page.source == "rest"
                else parse_digest(page.url, page.body, http_charset=charset_of(page.content_type))
            )
        except (ParseError, ValueError) as error:
            report.unreadable.append((page.url, str(error)))
            continue
        problems = problems_with(digest)
        if problems:
            report.unreadable.append((page.url, "; ".join(problems)))
            continue
        before = storage.digest_entries(db, page.url) or ()
        outcome = storage.save_digest(db, digest, seen=False, allow_shrink=allow_shrink)
        if outcome == storage.SHRUNK:
            report.unreadable.append(
                (page.url, storage.shrunk_failure(digest).message + " (--allow-shrink replaces it)")
            )
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == storage.UNCHANGED:
            continue
        _count_differences(_without_links(before), _without_links(digest.entries), report.entries)
        _count_differences(_links_by_entry(before), _links_by_entry(digest.entries), report.links)
        if outcome == storage.CHANGED:
            report.changed_digests.append(digest.url)
    # What changed joins its editions again, as after a crawl (its fields, its twin, its slug).
    update = storage.update_editions(db)
    report.editions_new, report.editions_changed = update.new, update.changed
    return report
