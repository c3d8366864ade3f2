"""Link health: one row per distinct link (`link_targets`), one per check (`link_checks`), and the reads
the `links` spider, the `links` command and the reader need.

A distinct link is a distinct `links.url`: those are stored through `core.urls.canonical_link`
(trackers and fragments dropped), so one article linked from ten digests is one target and one check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlite_utils import Database

from core.link_status import DEAD, OWN, UNCHECKED, LinkState, is_own_post

from .schema import LINK_HEALTH_VIEW  # the link tables and their view are declared there


@dataclass(frozen=True)
class DueLink:
    """A link the `links` spider checks in this run, with what the archive knew of it before."""

    id: int
    url: str
    state: LinkState
    capture_digest: str | None
    captured_at: str | None  # of that capture (ISO)
    has_copy: bool
    lookup_at: str | None
    cited_on: str | None  # the earliest date of a digest that links it (ISO date), for the CDX lookup


def sync_link_targets(db: Database, now: str) -> int:
    """Every distinct stored link gets its `link_targets` row; returns how many were new."""
    before = db.execute("SELECT count(*) FROM link_targets").fetchone()[0]
    db.execute(
        "INSERT OR IGNORE INTO link_targets (url, host, first_seen, status, failures) "
        "SELECT url, coalesce(min(domain), ''), ?, ?, 0 FROM links WHERE url IS NOT NULL GROUP BY url",
        [now, UNCHECKED],
    )
    return db.execute("SELECT count(*) FROM link_targets").fetchone()[0] - before


def digest_origins(db: Database) -> list[str]:
    """`scheme://host[:port]` of every site a stored digest is on: origins the archive itself crawls."""
    origins = set()
    for (url,) in db.execute("SELECT DISTINCT url FROM digests WHERE url IS NOT NULL"):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}")
    return sorted(origins)


def mark_own_posts(db: Database, origins: list[str], at: str) -> int:
    """Targets on a site of the archive's own digests get status `own` (never checked, failing, dead or
    looked up; a dead state from an older version is cleared); returns how many changed."""
    own = set(origins)
    rows = db.execute("SELECT id, url FROM link_targets WHERE status != ? OR dead_since IS NOT NULL", [OWN]).fetchall()
    ids = [target_id for target_id, url in rows if is_own_post(url, own)]
    db.conn.executemany(
        "UPDATE link_targets SET status = ?, http_status = NULL, final_url = NULL, message = NULL, checked_at = ?, "
        "failures = 0, failing_since = NULL, dead_since = NULL WHERE id = ?",
        [(OWN, at, target_id) for target_id in ids],
    )
    return len(ids)


def due_links(db: Database, now: datetime, *, every_days: float, dead_every_days: float) -> list[DueLink]:
    """The links to check now: never checked, or checked longer ago than their period (dead ones less often).
    Only links some digest still cites, none of the archive's own posts (`own`); oldest check first."""
    fresh = (now - timedelta(days=every_days)).isoformat()
    dead_fresh = (now - timedelta(days=dead_every_days)).isoformat()
    rows = db.execute(
        """SELECT t.id, t.url, t.status, t.failures, t.failing_since, t.last_ok_at, t.dead_since, t.capture_digest,
                  t.archived_copy, t.lookup_at, t.captured_at,
                  (SELECT min(coalesce(d.published, d.issue_date)) FROM links l JOIN digests d ON d.id = l.digest_id
                   WHERE l.url = t.url) AS cited_on
           FROM link_targets t
           WHERE EXISTS (SELECT 1 FROM links l WHERE l.url = t.url)
             AND t.status != ?
             AND (t.checked_at IS NULL
                  OR (t.dead_since IS NULL AND t.checked_at <= ?)
                  OR (t.dead_since IS NOT NULL AND t.checked_at <= ?))
           ORDER BY t.checked_at IS NOT NULL, t.checked_at, t.id""",
        [OWN, fresh, dead_fresh],
    ).fetchall()
    return [
        DueLink(
            id=row[0],
            url=row[1],
            state=LinkState(
                status=row[2], failures=row[3] or 0, failing_since=row[4], last_ok_at=row[5], dead_since=row[6]
            ),
            capture_digest=row[7],
            captured_at=row[10],
            has_copy=row[8] is not None,
            lookup_at=row[9],
            cited_on=row[11],
        )
        for row in rows
    ]


def record_link_check(
    db: Database,
    run_id: int | None,
    target_id: int,
    state: LinkState,
    *,
    checked_at: str,
    http_status: int | None,
    final_url: str | None,
    message: str | None,
    capture: str | None = None,
) -> None:
    """One check of one link: its row in the history, and the link's state after it."""
    db.execute(
        "INSERT INTO link_checks (target_id, crawl_run_id, checked_at, status, http_status, final_url, message, "
        "capture) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [target_id, run_id, checked_at, state.status, http_status, final_url, message, capture],
    )
    db.execute(
        "UPDATE link_targets SET status = ?, http_status = ?, final_url = ?, message = ?, checked_at = ?, "
        "failures = ?, failing_since = ?, last_ok_at = ?, dead_since = ? WHERE id = ?",
        [
            state.status,
            http_status,
            final_url,
            message,
            checked_at,
            state.failures,
            state.failing_since,
            state.last_ok_at,
            state.dead_since,
            target_id,
        ],
    )


def checked_target_ids(db: Database, crawl_run_id: int | None) -> set[int]:
    """The links a run recorded a check of."""
    rows = db.execute("SELECT target_id FROM link_checks WHERE crawl_run_id = ?", [crawl_run_id]).fetchall()
    return {row[0] for row in rows}


def record_capture(db: Database, target_id: int, *, warc: str, offset: int, digest: str, at: str) -> None:
    db.execute(
        "UPDATE link_targets SET capture_warc = ?, capture_offset = ?, capture_digest = ?, captured_at = ? "
        "WHERE id = ?",
        [warc, offset, digest, at, target_id],
    )


def record_lookup(db: Database, target_id: int, *, copy_url: str | None, note: str | None, at: str) -> None:
    """A CDX lookup for a failing or dead link: the copy's replay URL, or why there is none (yet)."""
    db.execute(
        "UPDATE link_targets SET archived_copy = coalesce(?, archived_copy), lookup_at = ?, lookup_note = ? "
        "WHERE id = ?",
        [copy_url, at, note, target_id],
    )


def link_rows(db: Database) -> Iterator[dict]:
    """One dict per distinct cited link, for `digest-archive links --json`: the last check's own status
    (`gone`, `soft-404`, `server-error`, `refused`, …) beside `dead` (core.link_status.DeadRule), and the
    digests that cite it, oldest first."""
    rows = db.execute(
        f"""SELECT h.url, h.status, h.dead, h.http_status, h.final_url, h.checked_at, h.dead_since, t.capture_warc,
                   t.capture_offset, h.archived_copy, h.digests,
                   (SELECT json_group_array(json_object('id', d.id, 'url', d.url, 'number', d.number,
                                                        'published', d.published))
                    FROM digests d WHERE d.id IN (SELECT l.digest_id FROM links l WHERE l.url = h.url)) AS cited_by
            FROM {LINK_HEALTH_VIEW} h JOIN link_targets t ON t.id = h.id
            WHERE h.digests > 0 ORDER BY h.url"""
    )
    for url, status, dead, http_status, final_url, checked_at, dead_since, warc, offset, copy, digests, cited in rows:
        yield {
            "url": url,
            "status": status,
            "dead": bool(dead),
            "http_status": http_status,
            "final_url": final_url,
            "checked_at": checked_at,
            "dead_since": dead_since,
            "capture": {"warc": warc, "offset": offset} if warc else None,
            "archived_copy": copy,
            "digests": digests,
            # json_group_array keeps no order of its own: the oldest citing digest first, as a reader cites it.
            "cited_by": sorted(json.loads(cited), key=lambda d: (d["published"] or "", d["id"])),
        }


def link_summary(db: Database, *, top_hosts: int = 10) -> dict:
    """Links by status, the dead share per year of the digests that cite them, the hosts with most dead links."""
    by_status = dict(
        db.execute(
            f"SELECT CASE WHEN dead THEN ? ELSE status END AS s, count(*) FROM {LINK_HEALTH_VIEW} "
            "WHERE digests > 0 GROUP BY s ORDER BY count(*) DESC, s",
            [DEAD.name],
        ).fetchall()
    )
    by_year = [
        {"year": year, "links": links, "dead": dead, "dead_share": round(dead / links, 3) if links else 0.0}
        for year, links, dead in db.execute(
            """SELECT d.year, count(DISTINCT t.id), count(DISTINCT CASE WHEN t.dead_since IS NOT NULL THEN t.id END)
               FROM link_targets t JOIN links l ON l.url = t.url JOIN digests d ON d.id = l.digest_id
               GROUP BY d.year ORDER BY d.year"""
        ).fetchall()
    ]
    hosts = [
        {"host": host, "dead": dead}
        for host, dead in db.execute(
            "SELECT host, count(*) FROM link_targets WHERE dead_since IS NOT NULL GROUP BY host "
            "ORDER BY count(*) DESC, host LIMIT ?",
            [top_hosts],
        ).fetchall()
    ]
    dead_by_status = dict(
        db.execute(
            f"SELECT status, count(*) FROM {LINK_HEALTH_VIEW} WHERE dead AND digests > 0 GROUP BY status "
            "ORDER BY count(*) DESC, status"
        ).fetchall()
    )
    return {
        "by_status": by_status,
        "dead_by_last_status": dead_by_status,
        "dead_share_by_year": by_year,
        "hosts_with_most_dead": hosts,
    }


# The reader's reads (Datasette runs them on its own connection).
LINK_STATES_OF_DIGESTS = """
SELECT t.id, t.url, t.status, t.dead_since, t.final_url, t.http_status, t.checked_at, t.capture_warc,
       t.captured_at, t.archived_copy
FROM link_targets t
WHERE t.url IN (SELECT url FROM links WHERE digest_id IN ({placeholders}))
"""
CAPTURE_OF_LINK = """
SELECT id, url, final_url, capture_warc, capture_offset, captured_at FROM link_targets
WHERE id = :id AND capture_warc IS NOT NULL
"""


def link_states_query(digest_count: int) -> str:
    """LINK_STATES_OF_DIGESTS for this many digest ids (`:d0`, `:d1`, …)."""
    return LINK_STATES_OF_DIGESTS.format(placeholders=", ".join(f":d{n}" for n in range(max(digest_count, 1))))
