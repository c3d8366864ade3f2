"""Link health in the reader: each link of an entry marked with its state, and a dead link's way back.

A dead link offers our capture, replayed through pywb when the reader knows where pywb runs
(`DIGEST_PYWB` in the environment, e.g. `http://127.0.0.1:8080/links`: `/<timestamp>/<url>` is added),
else served here from the WARC record at `/-/capture/<database>/<id>`; and the archived copy a CDX
lookup found. A captured page served here is the page as it was, scripts and all: it is sent with
`Content-Security-Policy: sandbox`, so it runs as no origin at all (no scripts, no cookies of ours).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import lxml.html
from lxml import etree
from markupsafe import Markup

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
    "unchecked": "not checked yet",
}


def capture_path(database: str, target_id: int) -> str:
    return f"/-/capture/{database}/{target_id}"


def replay_address(database: str, state: dict) -> str | None:
    """Where a reader sees our capture: pywb when it runs, else the capture route of the reader."""
    if not state.get("capture_warc"):
        return None
    pywb = os.environ.get("DIGEST_PYWB", "").rstrip("/")
    if pywb and state.get("captured_at"):
        when = datetime.fromisoformat(state["captured_at"]).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
        return f"{pywb}/{when}/{state['final_url'] or state['url']}"
    return capture_path(database, state["id"])


def mark_links(html: str, base_url: str, states: dict[str, dict], database: str, path_of) -> Markup:
    """The entry's (sanitised) HTML with each link classed by its state; a dead or failing link is
    followed by a short mark offering our capture or the archived copy. `path_of` makes a reader path
    absolute (datasette.urls.path)."""
    if not states or "<a" not in html:
        return Markup(html)
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return Markup(html)
    for anchor in list(root.iter("a")):
        url = canonical_link(anchor.get("href"), base_url)
        state = states.get(url or "")
        if state is None:
            continue
        status = "dead" if state["dead_since"] else state["status"]
        anchor.set("class", f"{anchor.get('class', '')} link-{status}".strip())
        anchor.set(
            "title",
            STATE_LABELS.get(status, status) + (f" ({state['checked_at'][:10]})" if state["checked_at"] else ""),
        )
        if status in ("ok", "unchecked", "blocked", "disallowed"):
            continue
        offers = []
        replay = replay_address(database, state)
        if replay:
            offers.append(("our copy", replay if "://" in replay else path_of(replay), "link-capture"))
        if state["archived_copy"]:
            offers.append(("archived copy", state["archived_copy"], "link-archived"))
        mark = etree.Element("span", {"class": "link-state"})
        mark.text = f" [{status}"
        previous = None
        for label, href, kind in offers:
            offer = etree.SubElement(mark, "a", {"class": kind, "href": href, "rel": "noopener noreferrer nofollow"})
            offer.text = label
            if previous is None:
                mark.text += ": "
            else:
                previous.tail = " · "
            previous = offer
        if previous is None:
            mark.text += "]"
        else:
            previous.tail = "]"
        mark.tail = anchor.tail
        anchor.tail = None
        anchor.addnext(mark)
    inner = (root.text or "") + "".join(etree.tostring(child, encoding="unicode", method="html") for child in root)
    return Markup(inner)


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
