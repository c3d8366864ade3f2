"""Digests recovered from web archives (`-a mode=recover`): their provenance, the older versions read from
captures, and the captures read, so that none is fetched twice. Every statement of the recovery is here.

    recovery_state(db, site)          what a recovery reads before its first request
    save_recovered(db, read, run_id)  a capture read: a digest stored with its provenance, a dated
                                      revision, or why it was skipped; the capture remembered
(the report's numbers are storage/report.py's `recovery`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlite_utils import Database

from core.items import LATEST, LISTING, OLDER, CaptureRead
from core.urls import post_key

from .digests import NEW, _find_digest, save_digest
from .rows import utc_now

# What a capture of a post did to the archive (web_captures.outcome, besides LISTING and the skipped ones).
RECOVERED, REVISION, UNCHANGED = "recovered", "revision", "unchanged"


@dataclass(frozen=True)
class ReadCapture:
    """A capture read by an earlier recovery."""

    outcome: str
    payload_digest: str | None
    posts: tuple[str, ...]  # a listing page's post URLs


@dataclass(frozen=True)
class StoredVersion:
    """A digest the archive holds, as a recovery sees it: captures older than `since` are its history."""

    digest_id: int
    url: str
    since: str  # ISO: its capture time when it was recovered, else when the archive first saw it


@dataclass
class RecoveryState:
    read: dict[tuple[str, str, str], ReadCapture] = field(default_factory=dict)  # (archive, url, timestamp) →
    stored: dict[str, StoredVersion] = field(default_factory=dict)  # post key → the digest, this site only


def recovery_state(db: Database, site: str) -> RecoveryState:
    state = RecoveryState()
    for archive, url, timestamp, outcome, digest, posts in db.execute(
        "SELECT web_archive, url, timestamp, outcome, payload_digest, posts FROM web_captures"
    ):
        state.read[(archive, url, timestamp)] = ReadCapture(outcome, digest, tuple(json.loads(posts or "[]")))
    for key, digest_id, url, since in db.execute(
        "SELECT u.url_key, d.id, d.url, coalesce(d.captured_at, d.first_seen) FROM digest_urls u "
        "JOIN digests d ON d.id = u.digest_id WHERE d.site = ?",
        [site],
    ):
        state.stored[key] = StoredVersion(digest_id, url, since)
    return state


def save_recovered(db: Database, read: CaptureRead, run_id: int | None, now: str | None = None) -> str:
    """Write what a capture gave, in one transaction with the row that remembers it; returns the outcome.

    LATEST: the digest is stored with its provenance (`recovered`), unless the archive holds the post
    already (found by any of its URLs or its post id): then it is history like an OLDER capture. OLDER: a
    revision dated at its capture when its content differs from the stored version and from every
    revision (`revision`), else `unchanged`. Any other outcome is remembered as it is.
    """
    now = now or utc_now()
    memento = read.memento
    with db.atomic():
        outcome, digest_id = read.outcome, None
        if read.outcome in (LATEST, OLDER) and read.digest is not None:
            digest = read.digest
            urls = [digest.url, *digest.source_urls]
            found = _find_digest(db, digest, [post_key(url) for url in urls])
            if found is None and read.outcome == LATEST:
                save_digest(db, digest, now)
                digest_id = _find_digest(db, digest, [post_key(digest.url)])[0]  # type: ignore[index]
                db.execute(
                    "UPDATE digests SET recovered_from = ?, captured_at = ?, memento_url = ?, last_seen = ? "
                    "WHERE id = ?",
                    [memento.web_archive, memento.captured_at, memento.memento_url, memento.captured_at, digest_id],
                )
                outcome = RECOVERED
            elif found is not None:
                digest_id = found[0]
                outcome = _history(db, digest_id, read)
            else:
                outcome = UNCHANGED  # an older capture of a digest not stored (its newest capture failed)
        db.execute(
            "INSERT OR REPLACE INTO web_captures (web_archive, url, timestamp, captured_at, memento_url, "
            "http_status, payload_digest, outcome, message, posts, digest_id, crawl_run_id, read_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                memento.web_archive,
                memento.url,
                memento.timestamp,
                memento.captured_at,
                memento.memento_url,
                memento.http_status,
                memento.payload_digest,
                outcome,
                read.message,
                json.dumps(list(read.posts)) if read.outcome == LISTING else None,
                digest_id,
                run_id,
                now,
            ],
        )
    return outcome


def _history(db: Database, digest_id: int, read: CaptureRead) -> str:
    """An older capture of a stored digest: a revision dated at its capture, unless its content is the stored
    version's or a revision's already."""
    digest, memento = read.digest, read.memento
    assert digest is not None
    known = db.execute(
        "SELECT 1 FROM digests WHERE id = ? AND content_hash = ? "
        "UNION ALL SELECT 1 FROM digest_revisions WHERE digest_id = ? AND content_hash = ? LIMIT 1",
        [digest_id, digest.content_hash, digest_id, digest.content_hash],
    ).fetchone()
    if known is not None:
        return UNCHANGED
    db.execute(
        "INSERT INTO digest_revisions (digest_id, replaced_at, content_hash, title, text, recovered_from, "
        "captured_at, memento_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            digest_id,
            memento.captured_at,
            digest.content_hash,
            digest.title,
            digest.text,
            memento.web_archive,
            memento.captured_at,
            memento.memento_url,
        ],
    )
    return REVISION


__all__ = [
    "NEW",
    "RECOVERED",
    "REVISION",
    "UNCHANGED",
    "ReadCapture",
    "RecoveryState",
    "StoredVersion",
    "recovery_state",
    "save_recovered",
]
