"""Re-parse every stored page with the current parser: no network, changes recorded like edits."""

from __future__ import annotations

from dataclasses import dataclass, field

import storage
from crawler.items import Digest
from crawler.parsing import ParseError, parse_digest
from crawler.parsing.decoding import charset_of
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


def _count_differences(before: list, after: list, tally: dict[str, int]) -> None:
    for position in range(max(len(before), len(after))):
        if position >= len(before):
            tally["added"] += 1
        elif position >= len(after):
            tally["removed"] += 1
        elif before[position] != after[position]:
            tally["altered"] += 1


def _content(digest: Digest) -> list[tuple]:
    return [(e.section, e.text, e.html, [(link.url, link.text) for link in e.links]) for e in digest.entries]


def _links(entries: list[tuple]) -> list[tuple]:
    return [(position, link) for position, entry in enumerate(entries) for link in entry[3]]


def reparse_archive(db, *, allow_shrink: bool = False) -> ReparseReport:
    report = ReparseReport()
    for page in list(storage.stored_pages(db)):
        report.pages += 1
        try:
            digest = parse_digest(page.url, page.body, http_charset=charset_of(page.content_type))
        except ParseError as error:
            report.unreadable.append((page.url, str(error)))
            continue
        problems = problems_with(digest)
        if problems:
            report.unreadable.append((page.url, "; ".join(problems)))
            continue
        before = storage.digest_content(db, page.url) or []
        outcome = storage.save_digest(db, digest, seen=False, allow_shrink=allow_shrink)
        if outcome == storage.SHRUNK:
            report.unreadable.append((page.url, f"{len(digest.entries)} entries where the archive has more than "
                                                "twice as many: kept the stored digest (--allow-shrink replaces it)"))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == storage.UNCHANGED:
            continue
        after = _content(digest)
        _count_differences([e[:3] for e in before], [e[:3] for e in after], report.entries)
        _count_differences(_links(before), _links(after), report.links)
        if outcome == storage.CHANGED:
            report.changed_digests.append(digest.url)
    return report
