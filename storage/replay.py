"""What the reader replays: our captures of a linked page (every one, from the captures' CDXJ index and
their WARC records), the post pages as their sites served them, and the revisions of a post.

A link's row in `link_targets` points at its newest capture only; the older ones are in the WARC files,
and `archive.captures/index.cdxj` (cdxj-indexer, written after every link check that captured) lists them
all, as pywb reads it. A capture is named by its 14-digit timestamp (the WARC-Date), as the Wayback Machine
names it. An archive whose index is missing (a link check of an older version, a copied archive) still
has the newest capture of each link, from its row.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.urls import canonical_link

from .captures import INDEX_NAME, captures_folder

# A capture's timestamp, as web archives write it: YYYYMMDDhhmmss, UTC.
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

# The link a capture address names: by its URL as stored (canonical) or where it ended up.
TARGET_OF_URL = """
SELECT id, url, final_url, http_status, capture_warc, capture_offset, captured_at FROM link_targets
WHERE url = :url OR final_url = :url ORDER BY url = :url DESC, id LIMIT 1
"""
TARGET_BY_ID = """
SELECT id, url, final_url, capture_warc, capture_offset, captured_at FROM link_targets
WHERE id = :id AND capture_warc IS NOT NULL
"""
CAPTURED_AT_OF_TARGET = """
SELECT id, url, final_url, capture_warc, captured_at FROM link_targets WHERE id = :id AND capture_warc IS NOT NULL
"""
# The posts that cite a link, oldest first, with their editions (a post of no edition yet: none).
CITING_POSTS = """
SELECT DISTINCT d.id, d.title, d.site, coalesce(d.published, d.issue_date) AS day, e.slug AS edition_slug,
       e.title AS edition_title
FROM links l JOIN digests d ON d.id = l.digest_id LEFT JOIN editions e ON e.id = d.edition_id
WHERE l.url = :url ORDER BY day, d.id
"""

# The stored page of a post (pages keeps the last copy the site served), by its post key (core.urls.post_key).
PAGE_BY_KEY = """
SELECT url, fetched_at, http_status, content_type, source, body FROM pages WHERE url_key = :key
"""
# The same, of a post: by its own URL's key or any address a crawl met it at (the newest copy).
PAGE_OF_DIGEST = """
SELECT url, fetched_at, http_status, content_type, source, body FROM pages
WHERE url_key = :key OR url_key IN (SELECT url_key FROM digest_urls WHERE digest_id = :id)
ORDER BY url_key = :key DESC, fetched_at DESC LIMIT 1
"""
PAGE_EXISTS = """
SELECT 1 AS found FROM pages WHERE url_key = :key OR url_key IN (SELECT url_key FROM digest_urls WHERE digest_id = :id)
LIMIT 1
"""
# What a post has kept of how it changed: its revisions, oldest first (each the version a change replaced).
REVISIONS_OF_DIGEST = """
SELECT id, replaced_at, content_hash, title, text FROM digest_revisions WHERE digest_id = :id ORDER BY replaced_at, id
"""
DIGEST_FOR_REVISIONS = """
SELECT d.id, d.title, d.url, d.site, d.text, d.last_changed, d.first_seen, e.slug AS edition_slug
FROM digests d LEFT JOIN editions e ON e.id = d.edition_id WHERE d.id = :id
"""
# For the edition page's sources: how many revisions each post has.
REVISION_COUNT = "SELECT count(*) AS n FROM digest_revisions WHERE digest_id = :id"
# A post the archive holds, by one of its addresses' post keys (every address a crawl met it at).
DIGEST_BY_POST_KEY = """
SELECT d.id, e.slug AS edition_slug FROM digest_urls u JOIN digests d ON d.id = u.digest_id
LEFT JOIN editions e ON e.id = d.edition_id WHERE u.url_key = :key
"""

LINKS_OF_DIGESTS = "SELECT DISTINCT url FROM links WHERE digest_id IN ({placeholders})"


def links_of_digests(count: int) -> str:
    """LINKS_OF_DIGESTS for this many digest ids (`:d0`, `:d1`, …: digest_params)."""
    return LINKS_OF_DIGESTS.format(placeholders=", ".join(f":d{n}" for n in range(max(count, 1))))


def digest_params(digest_ids: list[int]) -> dict[str, int]:
    return {f"d{n}": digest_id for n, digest_id in enumerate(digest_ids)}


def page_body(stored: bytes) -> bytes:
    """A stored page's bytes (storage.pages keeps them zlib-compressed)."""
    return zlib.decompress(stored)


def timestamp_of(iso: str) -> str:
    """An ISO 8601 time (a naive one is UTC) as a 14-digit capture timestamp."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def moment_of(timestamp: str) -> datetime:
    """A timestamp of 4 to 14 digits (`2024`, `202405`, `20240502101500`) as the earliest moment it names,
    as the Wayback Machine reads a partial one; ValueError if it names none."""
    if not (4 <= len(timestamp) <= 14 and timestamp.isascii() and timestamp.isdigit()):
        raise ValueError(f"not a timestamp: {timestamp[:20]}")
    padded = timestamp + "0101000000"[len(timestamp) - 4 :]  # the first month, day, hour… it leaves open
    # Field by field (strptime would read `2024139` as a month of one digit and go on).
    year, month, day, hour, minute, second = (
        int(padded[at : at + width]) for at, width in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2))
    )
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Capture:
    timestamp: str  # 14 digits, UTC
    url: str  # the URL the record was written for
    warc: str  # its file, in the captures folder
    offset: int  # where its record starts
    digest: str | None  # its payload digest
    revisit: bool  # a revisit record: the payload is an earlier capture's with the same digest


@dataclass(frozen=True)
class Record:
    """A capture's response as it was served."""

    status: int | None
    content_type: str | None
    body: bytes


# index.cdxj parsed once per version of the file: {canonical URL: [Capture, …]}.
_INDEX_CACHE: dict[tuple[str, float], dict[str, list[Capture]]] = {}


def _index(folder: Path) -> dict[str, list[Capture]]:
    path = folder / INDEX_NAME
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return {}
    if key not in _INDEX_CACHE:
        _INDEX_CACHE.clear()  # one archive's index at a time is plenty; a new link check writes a new one
        by_url: dict[str, list[Capture]] = {}
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                capture = _capture_of_line(line)
                if capture is not None:
                    by_url.setdefault(canonical_link(capture.url, capture.url) or capture.url, []).append(capture)
        _INDEX_CACHE[key] = by_url
    return _INDEX_CACHE[key]


def _capture_of_line(line: str) -> Capture | None:
    """A CDXJ line (`surt timestamp {json}`) of a response or revisit record, else None."""
    parts = line.split(" ", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    try:
        fields = json.loads(parts[2])
        mime = fields.get("mime") or ""
        if mime == "warc/request" or "filename" not in fields or "url" not in fields:
            return None
        return Capture(
            timestamp=parts[1][:14],
            url=fields["url"],
            warc=fields["filename"],
            offset=int(fields["offset"]),
            digest=fields.get("digest"),
            revisit=mime == "warc/revisit",
        )
    except (ValueError, TypeError, AttributeError):  # a line we do not understand is no capture
        return None


def captures_of(database_path: str | Path, target: dict) -> list[Capture]:
    """Every capture of a link (a `link_targets` row: its URL and where it ended up), oldest first: those the
    CDXJ index lists, and the one its row points at when the index lacks it."""
    index = _index(captures_folder(database_path))
    found: dict[tuple[str, int], Capture] = {}
    for url in (target["url"], target.get("final_url")):
        if url:
            for capture in index.get(canonical_link(url, url) or url, []):
                found[(capture.warc, capture.offset)] = capture
    if target.get("capture_warc") and target.get("captured_at"):
        where = (target["capture_warc"], int(target["capture_offset"] or 0))
        if where not in found:
            found[where] = Capture(
                timestamp=timestamp_of(target["captured_at"]),
                url=target.get("final_url") or target["url"],
                warc=where[0],
                offset=where[1],
                digest=None,
                revisit=False,
            )
    return sorted(found.values(), key=lambda capture: (capture.timestamp, capture.warc, capture.offset))


def nearest(captures: list[Capture], timestamp: str) -> Capture | None:
    """The capture closest in time to `timestamp` (the later on a tie), as the Wayback Machine picks one."""
    moment = moment_of(timestamp)
    return min(
        reversed(captures),
        key=lambda capture: abs((moment_of(capture.timestamp) - moment).total_seconds()),
        default=None,
    )


def read_record(database_path: str | Path, capture: Capture, captures: list[Capture]) -> Record | None:
    """The response a capture holds (a revisit's payload from the earlier capture of the same digest), or
    None when its WARC record is missing."""
    folder = captures_folder(database_path)
    found = _read(folder, capture.warc, capture.offset)
    if found is None:
        return None
    kind, status, content_type, body = found
    if kind == "revisit":
        original = next(
            (
                earlier
                for earlier in reversed(captures)
                if earlier.digest == capture.digest and not earlier.revisit and earlier.timestamp <= capture.timestamp
            ),
            None,
        )
        payload = _read(folder, original.warc, original.offset) if original and capture.digest else None
        if payload is None:
            return None
        body = payload[3]
        content_type = content_type or payload[2]
    return Record(status, content_type, body)


def _read(folder: Path, warc: str, offset: int) -> tuple[str, int | None, str | None, bytes] | None:
    """(record type, HTTP status, Content-Type, payload) of the record at `offset`: only a file inside the
    captures folder is read (a stored name is never a way out of it)."""
    from warcio.archiveiterator import ArchiveIterator  # imported late: only a capture's pages read WARC

    path = (folder / warc).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        return None
    with open(path, "rb") as handle:
        handle.seek(offset)
        for record in ArchiveIterator(handle):
            if record.rec_type not in ("response", "revisit"):
                return None
            headers = record.http_headers
            status = headers.get_statuscode() if headers else None
            content_type = headers.get_header("Content-Type") if headers else None
            body = record.content_stream().read() if record.rec_type == "response" else b""
            return record.rec_type, int(status) if status and status.isdigit() else None, content_type, body
    return None
