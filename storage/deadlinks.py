"""The dead-links page's reads: each failing or dead link cited by the archive, with its reason, the editions
that cite it and every copy of it; filtered by state, status, host and year of its first failure, each filter's
values counted.

A link is listed when it is dead (`dead_since`) or its last check failed (a status that counts towards dead),
never when it is one of the archive's own posts (`own`) or a `refused` one (core.link_status). Its reason is
the status of its last failing check: a dead link whose last check said nothing (`blocked`, `disallowed`) is
dead for the reason its failing checks gave, and its HTTP status is that check's.

The filters are counted as Datasette counts facets, with one difference: a filter's values are counted over the
rows the other filters leave, so that each value's count is exactly the rows its link (that value, the other
filters kept) shows, and a reader can move from one value to another.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from core.link_status import DEAD, FAILING, OWN, REFUSED, reason_of

# The filters, in the order the page shows them: the address's parameter and what it filters.
FILTERS = {
    "state": "dead, or failing but not yet dead",
    "status": "the status of its last failing check",
    "host": "the host it points to",
    "year": "the year it started failing",
}
FAILING_STATE = "failing"  # not yet dead: failing checks that have not met the DeadRule

_FAILING_LIST = ", ".join(f"'{name}'" for name in FAILING)  # declared names, never input

# One row per listed link: its last failing check (`reason_check`) gives its reason and HTTP status.
_LISTED = f"""
WITH listed AS (
  SELECT t.*,
         (SELECT c.id FROM link_checks c WHERE c.target_id = t.id AND c.status IN ({_FAILING_LIST})
          ORDER BY c.checked_at DESC, c.id DESC LIMIT 1) AS reason_check
  FROM link_targets t
  WHERE (t.dead_since IS NOT NULL OR t.status IN ({_FAILING_LIST}))
    AND t.status NOT IN (:own, :refused)
    AND EXISTS (SELECT 1 FROM links l WHERE l.url = t.url)
)
SELECT s.id, s.url, s.host, s.status AS last_status, s.checked_at, s.failing_since, s.dead_since,
       coalesce(c.status, s.status) AS status, coalesce(c.http_status, s.http_status) AS http_status,
       coalesce(c.final_url, s.final_url) AS final_url,
       CASE WHEN s.dead_since IS NOT NULL THEN :dead ELSE :failing END AS state,
       CAST(substr(coalesce(s.failing_since, s.dead_since, s.checked_at), 1, 4) AS INTEGER) AS year,
       s.capture_warc, s.captured_at, s.archived_copy, s.lookup_at, s.lookup_note
FROM listed s LEFT JOIN link_checks c ON c.id = s.reason_check
ORDER BY coalesce(s.failing_since, s.dead_since) DESC, s.url
"""

# Who cites the listed links: each link of an entry, with its digest and that digest's edition, oldest first.
_CITATIONS = f"""
SELECT l.url, l.text, l.entry_id, d.id AS digest_id, d.site, d.title AS digest_title,
       coalesce(d.published, d.issue_date) AS day, e.slug, e.title AS edition_title, e.number
FROM links l JOIN digests d ON d.id = l.digest_id LEFT JOIN editions e ON e.id = d.edition_id
WHERE l.url IN (SELECT url FROM link_targets t
                WHERE (t.dead_since IS NOT NULL OR t.status IN ({_FAILING_LIST})) AND t.status NOT IN (:own, :refused))
ORDER BY coalesce(d.published, d.issue_date), d.id, l.position
"""


@dataclass
class Citation:
    """One edition (or, for a post matched to none, one post) citing a link, and the entries it cites it in."""

    slug: str | None  # the edition's (None: the post belongs to no edition)
    digest_id: int
    title: str
    number: int | None
    day: str | None
    entry_ids: list[int] = field(default_factory=list)


@dataclass
class DeadLink:
    id: int
    url: str
    host: str
    state: str  # "dead" or "failing"
    status: str  # of its last failing check (core.link_status)
    reason: str  # that status in words (core.link_status.reason_of)
    http_status: int | None
    final_url: str | None
    last_status: str  # of its last check, whatever it said
    checked_at: str | None
    failing_since: str | None
    dead_since: str | None
    year: int | None
    captured_at: str | None  # our capture's time (None: no capture of ours)
    has_capture: bool
    archived_copy: str | None
    lookup_at: str | None
    lookup_note: str | None
    anchor_texts: list[str] = field(default_factory=list)  # what the entries call it, each wording once
    cited_by: list[Citation] = field(default_factory=list)

    def value(self, name: str) -> str:
        """The link's value for a filter, as the address carries it."""
        value = getattr(self, name)
        return "" if value is None else str(value)


@dataclass
class DeadLinks:
    links: list[DeadLink]  # those the filters leave
    total: int  # of every listed link, before the filters
    filters: dict[str, str]  # the filters applied
    counts: dict[str, list[tuple[str, int]]]  # each filter's values with their counts, most first


def dead_links(conn: sqlite3.Connection, filters: dict[str, str | None]) -> DeadLinks:
    """The failing and dead links, those `filters` (`FILTERS`'s names to a value, or None) leave, and each
    filter's values counted over the rows the other filters leave."""
    applied = {name: str(value) for name, value in filters.items() if name in FILTERS and value not in (None, "")}
    params = {"own": OWN, "refused": REFUSED, "dead": DEAD.name, "failing": FAILING_STATE}
    conn_rows = conn.execute(_LISTED, params)
    columns = [column[0] for column in conn_rows.description]
    everything = []
    for row in conn_rows.fetchall():
        found = dict(zip(columns, row, strict=True))
        everything.append(
            DeadLink(
                id=found["id"],
                url=found["url"],
                host=found["host"],
                state=found["state"],
                status=found["status"],
                reason=reason_of(found["status"]),
                http_status=found["http_status"],
                final_url=found["final_url"],
                last_status=found["last_status"],
                checked_at=found["checked_at"],
                failing_since=found["failing_since"],
                dead_since=found["dead_since"],
                year=found["year"],
                captured_at=found["captured_at"],
                has_capture=found["capture_warc"] is not None,
                archived_copy=found["archived_copy"],
                lookup_at=found["lookup_at"],
                lookup_note=found["lookup_note"],
            )
        )

    def kept(link: DeadLink, leaving_out: str | None = None) -> bool:
        return all(link.value(name) == value for name, value in applied.items() if name != leaving_out)

    counts = {}
    for name in FILTERS:
        tally: dict[str, int] = {}
        for link in everything:
            if kept(link, leaving_out=name) and link.value(name):
                tally[link.value(name)] = tally.get(link.value(name), 0) + 1
        counts[name] = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    shown = [link for link in everything if kept(link)]
    _add_citations(conn, {link.url: link for link in shown}, params)
    return DeadLinks(links=shown, total=len(everything), filters=applied, counts=counts)


def _add_citations(conn: sqlite3.Connection, by_url: dict[str, DeadLink], params: dict) -> None:
    if not by_url:
        return
    for url, text, entry_id, digest_id, site, digest_title, day, slug, edition_title, number in conn.execute(
        _CITATIONS, params
    ):
        link = by_url.get(url)
        if link is None:
            continue
        words = " ".join((text or "").split())
        if words and words not in link.anchor_texts:
            link.anchor_texts.append(words)
        citation = next(
            (
                cited
                for cited in link.cited_by
                if (slug is not None and cited.slug == slug) or (slug is None and cited.digest_id == digest_id)
            ),
            None,
        )
        if citation is None:
            citation = Citation(
                slug=slug,
                digest_id=digest_id,
                title=edition_title or digest_title or site or "",
                number=number,
                day=day,
            )
            link.cited_by.append(citation)
        if entry_id is not None and entry_id not in citation.entry_ids:
            citation.entry_ids.append(entry_id)
