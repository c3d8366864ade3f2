"""Link health in the reader: each link of an entry marked with its state, and a dead link's way back.

A dead link offers our capture, replayed through pywb when the reader knows where pywb runs
(`DIGEST_PYWB` in the environment, e.g. `http://127.0.0.1:8080/links`: `/<timestamp>/<url>` is added),
else served here from the WARC record at its lasting address, `/-/capture/<database>/<timestamp>/<url>`
(reader/replay.py); and the archived copy a CDX lookup found. A link to one of the archive's own posts
opens its edition. A captured page served here is the page as it was, scripts and all: it is sent with
a sandboxing Content-Security-Policy (reader.plugin.CAPTURE_HEADERS), so it runs as no origin at all (no
scripts, no cookies of ours) and loads nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from core.link_status import DEAD, STATUSES, Look, shown_state
from core.urls import canonical_link

# How the reader draws each look of a link's state (core.link_status says which look a state has).
_LOOK_STYLES = {
    Look.STRUCK: "text-decoration: line-through; color: #8a3b3b;",
    Look.WARNING: "color: #8a6d3b;",
}


def link_css() -> Markup:
    """The style of every marked link state, from the one definition of the states (the edition page and
    the reading view put it in their <style>): `a.link-<state>` per look, and the mark after a link."""
    states = [*STATUSES.values(), DEAD]
    rules = [
        ", ".join(f"a.link-{state.name}" for state in states if state.look is look) + f" {{ {style} }}"
        for look, style in _LOOK_STYLES.items()
    ]
    rules.append(".link-state { font-size: 0.85em; color: #666; white-space: nowrap; }")
    return Markup("\n".join(rules))


def replay_address(state: dict, capture_url: Callable[[dict], str | None]) -> str | None:
    """Where a reader sees our capture: pywb when it runs, else the reader's capture page (`capture_url` of
    the target's state: its lasting, timestamped address)."""
    if not state.get("capture_warc"):
        return None
    pywb = os.environ.get("DIGEST_PYWB", "").rstrip("/")
    original = web_address(state.get("final_url")) or web_address(state.get("url"))
    if pywb and state.get("captured_at") and original:
        when = datetime.fromisoformat(state["captured_at"]).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
        return f"{pywb}/{when}/{original}"
    return capture_url(state)


def mark_links(
    html: str,
    base_url: str,
    states: dict[str, dict],
    capture_url: Callable[[dict], str | None],
    own: dict[str, str] | None = None,
) -> Markup:
    """The entry's (sanitised) HTML with each link classed by its state; a dead or failing link is
    followed by a short mark offering our capture or the archived copy. `capture_url` is the address of
    the reader's capture page of a target's state (its route, under Datasette's base_url). A link to a post
    of this archive (`own`: its URL → the address of its edition) opens that edition, unmarked: it is never
    a dead link elsewhere on the web."""
    own = own or {}
    if (not states and not own) or "<a" not in html:
        return Markup(html)

    def marked(attributes: dict[str, str | None]) -> tuple[dict[str, str | None], Markup | None]:
        """The anchor's attributes with its state, and the mark to put after it (None: no mark)."""
        url = canonical_link(attributes.get("href"), base_url)
        if url in own:
            return {
                **attributes,
                "href": own[url],
                "class": f"{attributes.get('class') or ''} link-own-post".strip(),
                "title": f"this archive's copy of the post ({url})",
            }, None
        state = states.get(url or "")
        if state is None:
            return attributes, None
        shown = shown_state(state["status"], state["dead_since"] is not None)
        checked = f" ({state['checked_at'][:10]})" if state["checked_at"] else ""
        attributes = {
            **attributes,
            "class": f"{attributes.get('class') or ''} link-{shown.name}".strip(),
            "title": shown.label + checked,
        }
        if not shown.marked:
            return attributes, None
        offers = []
        replay = replay_address(state, capture_url)
        if replay:
            offers.append(("our copy", replay, "link-capture"))
        archived = web_address(state["archived_copy"])
        if archived:
            offers.append(("archived copy", archived, "link-archived"))
        links = Markup(" · ").join(
            Markup('<a class="{}" href="{}" rel="noopener noreferrer nofollow">{}</a>').format(kind, href, label)
            for label, href, kind in offers
        )
        return attributes, Markup('<span class="link-state"> [{}{}{}]</span>').format(
            shown.name, ": " if offers else "", links
        )

    return _AnchorRewriter(marked).rewrite(html)


def rewrite_anchors(html: str, mark) -> Markup:
    """Sanitised HTML again, each anchor's attributes from `mark(attributes)` → (attributes, mark after it)."""
    return _AnchorRewriter(mark).rewrite(html)


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
