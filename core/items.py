"""The typed items that flow from the parsers through the pipelines into storage.

One place defines the fields. Items are plain data: no response, no database handle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Link:
    """A link inside one entry, already absolute and canonicalised."""

    url: str
    text: str
    domain: str


@dataclass(frozen=True)
class Entry:
    """One `++` item of a digest (or one paragraph of a digest from before the `++` habit)."""

    section: str | None
    text: str
    html: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Digest:
    """One digest post, as parsed from one page."""

    url: str  # canonical post URL (same site as the page)
    site: str  # host without `www.`, with the port when not the default
    post_id: int | None
    title: str
    number: int | None  # as published, even when wrong; None for dated titles
    headline: str | None
    issue_date: str | None  # ISO date taken from a dated title
    published: str | None  # ISO date: page metadata, else the dateline
    dateline: str | None
    entries: tuple[Entry, ...]
    # Every URL this digest was reached at (listing link, fetched URL, canonical):
    # storage remembers them so that a later crawl recognises the digest under any of them.
    source_urls: tuple[str, ...] = ()
    # When the site last modified the post (GMT, ISO), where its REST API said; not part of the content.
    modified: str | None = None

    @property
    def text(self) -> str:
        """The digest's entries as plain text, one blank line between entries."""
        return "\n\n".join(entry.text for entry in self.entries)

    @cached_property
    def content_hash(self) -> str:
        """A hash of what a reader sees; a change of URL alone is not a change of content."""
        # The same dicts `dataclasses.asdict` would give, built directly: asdict deep-copies every
        # string and was a third of the cost of storing a digest (bench/results.md, figure 3).
        content = {
            "title": self.title,
            "headline": self.headline,
            "number": self.number,
            "dateline": self.dateline,
            "entries": [
                {
                    "section": e.section,
                    "text": e.text,
                    "html": e.html,
                    "links": [{"url": link.url, "text": link.text, "domain": link.domain} for link in e.links],
                }
                for e in self.entries
            ],
        }
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class Listing:
    """One HTML listing page: the posts it names, in order, and the next (older) page."""

    url: str
    post_urls: tuple[str, ...]
    next_url: str | None
    last_page: int | None = None  # the highest page number the pagination shows, when it shows one


@dataclass(frozen=True)
class PageFailure:
    """A listed page that could not become a digest, with a kind a script can group by."""

    url: str
    kind: str  # http_status, timeout, parse_error, invalid, download_error, ...
    message: str
    listing: bool = False  # True when the failed page was an HTML listing page
    http_status: int | None = None


@dataclass(frozen=True)
class DuplicateDigest:
    """A page that turned out to be a digest already handled in this run under another URL."""

    url: str  # canonical URL of the digest it duplicates
    source_urls: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FetchedPage:
    """A post page as downloaded, kept so the archive can be re-parsed without the network."""

    url: str  # the URL requested (the plain post URL)
    http_status: int
    content_type: str | None
    etag: str | None
    last_modified: str | None
    body: bytes
    source: str = "html"  # "html": the post page; "rest": the post's REST API item (JSON)

    def __repr__(self) -> str:  # Scrapy logs items at DEBUG: not the whole page, please
        return f"FetchedPage({self.url!r}, {self.http_status}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class DigestNotModified:
    """A conditional re-check answered 304: the stored digest is still current."""

    url: str  # the URL re-checked


@dataclass(frozen=True)
class RestIndexConfirmed:
    """The site's REST index shows these stored posts unmodified since they were stored."""

    site: str
    modified_by_post: dict[int, str]  # post id → the site's modification time (GMT)


@dataclass(frozen=True)
class SiteNamed:
    """What a site calls itself, as one of its answers says (core.parsing.site_name): stored for the site
    that answer came from, and for no other."""

    url: str  # the answer's URL: the page or the REST root
    name: str
    source: str  # core.site_names.SOURCES


@dataclass(frozen=True)
class PostsGone:
    """Stored posts the site no longer publishes (trashed, unpublished): marked, never deleted."""

    site: str
    post_ids: tuple[int, ...]


@dataclass(frozen=True)
class LinkPage:
    """What a live link answered, as it will be written to WARC (the body decoded, as Scrapy gives it)."""

    url: str  # the URL finally fetched (after redirects)
    http_status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __repr__(self) -> str:
        return f"LinkPage({self.url!r}, {self.http_status}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class LinkChecked:
    """One check of one distinct link (`link_targets` row `target_id`), classified."""

    target_id: int
    url: str
    status: str  # core.link_status.STATUSES
    http_status: int | None = None
    final_url: str | None = None  # set when redirects led elsewhere
    message: str | None = None
    page: LinkPage | None = None  # the page to capture, when it is live HTML or PDF


@dataclass(frozen=True)
class ArchivedCopyLookup:
    """What a CDX API said of a dead link: the replay URL of the closest earlier copy, or why none."""

    target_id: int
    url: str
    copy_url: str | None
    note: str | None = None


@dataclass(frozen=True)
class Memento:
    """One capture in a web archive (`-a mode=recover`): which archive, of which URL, when."""

    web_archive: str  # its name in DIGEST_WEB_ARCHIVES
    url: str  # the original URL, as captured
    timestamp: str  # the CDX timestamp, yyyyMMddhhmmss
    captured_at: str  # the same, ISO 8601 UTC
    memento_url: str  # the human replay address (without `id_`)
    http_status: int | None = None  # as the CDX API listed it
    payload_digest: str | None = None  # the CDX API's digest of the payload


# What a capture read by a recovery became (`CaptureRead.outcome`); the other outcomes say why it was
# skipped: recorded, never stored.
LISTING, LATEST, OLDER = "listing", "latest", "older"
SKIPPED_OUTCOMES = {
    "not_ok": "the web archive captured an error or a redirect, not the page",
    "not_html": "the capture is not an HTML page",
    "not_digest": "an HTML page, but not a digest of the series",
    "offsite": "the capture is of another origin's URL",
    "invalid": "parsed, but without a title or entries",
}


@dataclass(frozen=True)
class CaptureRead:
    """A capture a recovery read (or skipped, knowing from the CDX API alone what it was), to be remembered
    so that it is never fetched again. `LISTING`: a captured listing page and the post URLs it named;
    `LATEST`: the newest capture of a post the archive does not hold, its digest to store with its
    provenance; `OLDER`: an older capture of a digest the archive holds, a revision when it differs; any
    other outcome (SKIPPED_OUTCOMES) is why nothing was stored."""

    memento: Memento
    outcome: str
    post_key: str | None = None  # the post it is a capture of (LATEST, OLDER and skipped posts)
    digest: Digest | None = None
    posts: tuple[str, ...] = ()
    message: str | None = None

    @property
    def url(self) -> str:  # what the run's failure and log lines name
        return self.memento.url
