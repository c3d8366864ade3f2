"""Link health in the reader: each link of an entry marked with its state, and a dead link's way back.

A dead link offers our capture, replayed through pywb when the reader knows where pywb runs
(`DIGEST_PYWB` in the environment, e.g. `http://127.0.0.1:8080/links`: `/<timestamp>/<url>` is added),
else served here from the WARC record at `/-/capture/<database>/<id>`; and the archived copy a CDX
lookup found. A captured page served here is the page as it was, scripts and all: it is sent with
a sandboxing Content-Security-Policy (reader.plugin.CAPTURE_HEADERS), so it runs as no origin at all (no
scripts, no cookies of ours) and loads nothing.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from datasette.utils import tilde_encode
from markupsafe import Markup, escape

from core.urls import canonical_link

# What the reader says of each state (a tooltip and a short mark after a link that is not ok).
STATE_LABELS = {
    "ok": "checked: the page is there",
    "dead": "dead: the page is gone",
    "soft-404": "the site answers, but not with the article",
    "gone": "the site says the page is gone (one check: not yet dead)",
    "blocked": "the site refused our check",
    "server-error": "the site failed (one check: not yet dead)",
    "timeout": "no answer in time (one check: not yet dead)",
    "unreachable": "the host could not be reached (one check: not yet dead)",
    "redirect-loop": "the site redirects in circles",
    "disallowed": "robots.txt forbids checking it",
    "refused": "not checked: it points into a private network",
    "unchecked": "not checked yet",
}


def capture_path(database: str, target_id: int) -> str:
    return f"/-/capture/{tilde_encode(database)}/{target_id}"


def replay_address(database: str, state: dict) -> str | None:
    """Where a reader sees our capture: pywb when it runs, else the capture route of the reader."""
    if not state.get("capture_warc"):
        return None
    pywb = os.environ.get("DIGEST_PYWB", "").rstrip("/")
    original = web_address(state.get("final_url")) or web_address(state.get("url"))
    if pywb and state.get("captured_at") and original:
        when = datetime.fromisoformat(state["captured_at"]).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
        return f"{pywb}/{when}/{original}"
    return capture_path(database, state["id"])


def mark_links(html: str, base_url: str, states: dict[str, dict], database: str, path_of) -> Markup:
    """The entry's (sanitised) HTML with each link classed by its state; a dead or failing link is
    followed by a short mark offering our capture or the archived copy. `path_of` makes a reader path
    absolute (datasette.urls.path)."""
    if not states or "<a" not in html:
        return Markup(html)

    def marked(attributes: dict[str, str | None]) -> tuple[dict[str, str | None], Markup | None]:
        """The anchor's attributes with its state, and the mark to put after it (None: no mark)."""
        url = canonical_link(attributes.get("href"), base_url)
        state = states.get(url or "")
        if state is None:
            return attributes, None
        status = "dead" if state["dead_since"] else state["status"]
        checked = f" ({state['checked_at'][:10]})" if state["checked_at"] else ""
        attributes = {
            **attributes,
            "class": f"{attributes.get('class') or ''} link-{status}".strip(),
            "title": STATE_LABELS.get(status, status) + checked,
        }
        if status in ("ok", "unchecked", "blocked", "disallowed", "refused"):
            return attributes, None
        offers = []
        replay = replay_address(database, state)
        if replay:
            offers.append(("our copy", replay if "://" in replay else path_of(replay), "link-capture"))
        archived = web_address(state["archived_copy"])
        if archived:
            offers.append(("archived copy", archived, "link-archived"))
        links = Markup(" · ").join(
            Markup('<a class="{}" href="{}" rel="noopener noreferrer nofollow">{}</a>').format(kind, href, label)
            for label, href, kind in offers
        )
        return attributes, Markup('<span class="link-state"> [{}{}{}]</span>').format(
            status, ": " if offers else "", links
        )

    return _AnchorRewriter(marked).rewrite(html)


class _AnchorRewriter(HTMLParser):
    """The (sanitised) HTML again, token by token, every value escaped anew, with each anchor's attributes
    and the mark after it from `mark`. Python's own parser: the reader loads no HTML library (lxml belongs
    to the crawl's parsers), and sanitised entry HTML needs no error recovery."""

    def __init__(self, mark) -> None:
        super().__init__(convert_charrefs=True)
        self.mark = mark
        self.out: list[str] = []
        self.pending: list[Markup | None] = []  # the marks of the anchors open now

    def rewrite(self, html: str) -> Markup:
        self.feed(html)
        self.close()
        self.out.extend(mark for mark in reversed(self.pending) if mark)  # anchors never closed
        return Markup("".join(self.out))

    def _tag(self, tag: str, attrs, close: str) -> str:
        attributes = dict(attrs)
        if tag == "a":
            attributes, mark = self.mark(attributes)
            if not close:
                self.pending.append(mark)
        rendered = "".join(
            f" {escape(name)}" if value is None else f' {escape(name)}="{escape(value)}"'
            for name, value in attributes.items()
        )
        return f"<{escape(tag)}{rendered}{close}>"

    def handle_starttag(self, tag, attrs) -> None:
        self.out.append(self._tag(tag, attrs, ""))

    def handle_startendtag(self, tag, attrs) -> None:
        self.out.append(self._tag(tag, attrs, " /"))

    def handle_endtag(self, tag) -> None:
        self.out.append(f"</{escape(tag)}>")
        if tag == "a" and self.pending:
            mark = self.pending.pop()
            if mark:
                self.out.append(mark)

    def handle_data(self, data) -> None:
        self.out.append(str(escape(data)))


def read_capture(database_path: str, warc: str, offset: int) -> tuple[str, bytes] | None:
    """(content type, payload) of the response record at `offset` in the archive's captures, or None."""
    from warcio.archiveiterator import ArchiveIterator

    folder = Path(database_path)
    folder = folder.with_name(f"{folder.stem}.captures")
    path = (folder / warc).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        return None
    with open(path, "rb") as handle:
        handle.seek(offset)
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                return None
            content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
            return content_type or "application/octet-stream", record.content_stream().read()
    return None


async def link_states(db, digest_ids: list[int]) -> dict[str, dict]:
    """url → the state of each link of these digests (empty for an archive without link health)."""
    from storage.links import link_states_query

    if not digest_ids:
        return {}
    try:
        result = await db.execute(link_states_query(len(digest_ids)), {f"d{n}": i for n, i in enumerate(digest_ids)})
    except Exception:  # noqa: BLE001 - an archive of an older schema: links shown unmarked
        return {}
    return {row["url"]: dict(row) for row in result.rows}


def web_address(url: str | None) -> str | None:
    """`url` when it is an http(s) address, else None: only those become links (a stored `javascript:` or
    `data:` URL is text, never an href; a browser skips blanks and controls before a scheme, so any is refused)."""
    if not url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None
