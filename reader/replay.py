"""Replay, the way web archives do it: our captures of linked pages at lasting, timestamped addresses, a post
page as its site served it, and how a post changed.

    /-/capture/<db>/<yyyymmddhhmmss>/<original URL>      the capture with a banner above it (when, what, status,
                                                        the editions citing it, the other captures)
    /-/capture/<db>/<yyyymmddhhmmss>id_/<original URL>   the captured bytes alone, sandboxed
    /-/capture/<db>/<id>                                 an old address: 301 to the newest capture's
    /-/published/<db>/<id>  (+ /page)                    a post page as its site served it, sanitised, sandboxed
    /-/revisions/<db>/<id>                               each revision of a post against the one before

As in the Wayback Machine, a timestamp names a moment, not a record: the capture nearest to it answers, by
a redirect to its own timestamp (a partial one, `2024`, is the first moment it names). The original URL is
the rest of the address with its query string, the link as the archive stores it (or where it ended up).
Someone else's page never runs as our origin: the banner page holds it in an `<iframe sandbox>`, and the
bytes are sent with a Content-Security-Policy that sandboxes them (reader.plugin.CAPTURE_HEADERS).

Where pywb replays the captures (`DIGEST_PYWB`, reader/links.py), the reader's links to a capture go to pywb,
and the banner page offers it too.
"""

from __future__ import annotations

import functools
import json
import os
import re
from email.utils import format_datetime
from urllib.parse import quote

from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

from core.sanitise import sanitise_page
from core.urls import canonical_link, join_url, post_key
from storage import replay as sql

from . import access
from .diff import text_diff
from .links import replay_address, rewrite_anchors, web_address
from .sites import label, site_labels_of

# The tables the capture pages read: the link, and the posts citing it.
CAPTURE_TABLES = access.LINK_TABLES
# The stored page of a post, and its revisions.
PUBLISHED_TABLES = ("digests", "pages", "editions")
REVISION_TABLES = ("digests", "digest_revisions", "editions")
# Resolving a link to one of the archive's own posts reads the links and the posts' addresses.
OWN_POST_TABLES = ("links", "digest_urls", "editions")

# A proxy or a browser may fold the `//` of the original URL's scheme (`http:/example.org`): read it back.
_FOLDED_SCHEME = re.compile(r"^(https?):/+", re.IGNORECASE)


def _plugin():
    """reader.plugin, which declares the routes and the views' shared helpers; imported when a view runs, as
    it imports this module for its table of routes."""
    from . import plugin

    return plugin


def _url(datasette, name: str, **values: object) -> str:
    return _plugin().ROUTES.url(datasette, name, **values)


def capture_address(datasette, database: str, state: dict) -> str | None:
    """The lasting address of a link's newest capture (a `link_targets` row with `url` and `captured_at`)."""
    if not state.get("captured_at") or not state.get("url"):
        return None
    return _url(
        datasette, "capture", database=database, timestamp=sql.timestamp_of(state["captured_at"]), url=state["url"]
    )


def capture_cell(datasette, database: str, target_id: int):
    """A link-health table's capture cell: the lasting address of the link's newest capture (an awaitable,
    for Datasette's render_cell), or None to leave the cell as Datasette draws it."""

    async def link():
        db = datasette.get_database(database)
        target = await _plugin()._first(db, sql.CAPTURED_AT_OF_TARGET, {"id": target_id})
        # Through pywb where it runs (DIGEST_PYWB), as the reading view's marks link it.
        address = replay_address(target, lambda state: capture_address(datasette, database, state)) if target else None
        if address is None:
            return None
        when = _when(sql.timestamp_of(target["captured_at"]))
        return Markup('<a class="capture-link" href="{}">capture of {}</a>').format(address, when)

    return link


def _own_not_found(view):
    """A capture view that answers its own 404 (the reader's error page): Datasette's answer to a 404 would
    redirect an address ending in `/` or holding a `%` (most original URLs) to another that names nothing."""

    @functools.wraps(view)
    async def answer(datasette, request):
        try:
            return await view(datasette, request)
        except NotFound as missing:
            return await _plugin()._error_page(datasette, request, missing)

    return answer


def _asked_url(request) -> str:
    """The original URL an address names: the rest of its path, and its query string."""
    url = _FOLDED_SCHEME.sub(lambda found: f"{found[1].lower()}://", request.url_vars["url"])
    return f"{url}?{request.query_string}" if request.query_string else url


def _when(timestamp: str) -> str:
    """A capture's moment as a reader reads it: `2024-05-02 10:15:00 UTC`."""
    return sql.moment_of(timestamp).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _capture(datasette, request):
    """(database, db, target, captures, chosen) for a capture address, or a redirect to the nearest capture."""
    plugin = _plugin()
    database, db = await plugin._database_with(datasette, request, CAPTURE_TABLES)
    asked = _asked_url(request)
    url = canonical_link(asked, asked) or asked
    target = await plugin._first(db, sql.TARGET_OF_URL, {"url": url})
    if target is None or not db.path:
        raise NotFound("no capture of this address")
    captures = sql.captures_of(db.path, target)
    timestamp = request.url_vars["timestamp"]
    try:
        chosen = sql.nearest(captures, timestamp)
    except ValueError:
        raise NotFound(f"not a timestamp: {timestamp[:20]}") from None
    if chosen is None:
        raise NotFound("no capture of this address")
    return database, db, target, captures, chosen


def _memento_headers(target: dict, chosen: sql.Capture) -> dict[str, str]:
    """What Memento (RFC 7089) says of a capture: when it was made, and the page it is of (percent-encoded:
    a URL in a header is one token, never a second header)."""
    headers = {"Memento-Datetime": format_datetime(sql.moment_of(chosen.timestamp), usegmt=True)}
    original = web_address(target["url"])
    if original:
        headers["Link"] = f'<{quote(original, safe=":/?#[]@!$&()*+,;=%~")}>; rel="original"'
    return headers


async def _exact_capture(datasette, request, route: str):
    """The capture an address names and its WARC record; or, for a timestamp that names no capture exactly,
    the redirect to the nearest one's own address on the same route (`capture` or `capture_raw`)."""
    database, db, target, captures, chosen = await _capture(datasette, request)
    if chosen.timestamp != request.url_vars["timestamp"]:
        return Response.redirect(
            _url(datasette, route, database=database, timestamp=chosen.timestamp, url=target["url"])
        )
    record = sql.read_record(db.path, chosen, captures)
    if record is None:
        raise NotFound("the capture's WARC record is missing")
    return database, db, target, captures, chosen, record


@_own_not_found
async def capture_view(datasette, request):
    """A capture with its banner: the page itself in a sandboxed frame below."""
    found = await _exact_capture(datasette, request, "capture")
    if isinstance(found, Response):
        return found
    database, db, target, captures, chosen, record = found
    plugin = _plugin()
    citing: list[dict] = []
    if await access.can_read(datasette, request.actor, database, access.EDITION_TABLES):
        for post in await plugin._all(db, sql.CITING_POSTS, {"url": target["url"]}):
            slug = post["edition_slug"]
            post["url"] = (
                _url(datasette, "edition", database=database, slug=slug)
                if slug
                else _url(datasette, "digest", database=database, id=post["id"])
            )
            if all(other["url"] != post["url"] for other in citing):  # an edition once, whatever its sites
                citing.append(post)
    others = [
        {
            "timestamp": capture.timestamp,
            "when": _when(capture.timestamp),
            "url": _url(datasette, "capture", database=database, timestamp=capture.timestamp, url=target["url"]),
            "this": capture == chosen,
            "revisit": capture.revisit,
        }
        for capture in captures
    ]
    pywb = os.environ.get("DIGEST_PYWB", "").rstrip("/")
    original = web_address(target["url"])
    context = {
        "database": database,
        "when": _when(chosen.timestamp),
        "timestamp": chosen.timestamp,
        "original_url": original,
        "url": target["url"],
        "captured_url": web_address(chosen.url) if chosen.url != target["url"] else None,
        "status": record.status,
        "citing": citing,
        "captures": others,
        "raw_url": _url(datasette, "capture_raw", database=database, timestamp=chosen.timestamp, url=target["url"]),
        # pywb indexes a capture under the URL its record was written for (where the link ended up).
        "pywb_url": f"{pywb}/{chosen.timestamp}/{web_address(chosen.url)}"
        if pywb and web_address(chosen.url)
        else None,
    }
    html = await datasette.render_template("capture.html", context, request=request)
    return Response.html(html, headers=_memento_headers(target, chosen))


@_own_not_found
async def capture_raw_view(datasette, request):
    """The captured bytes, as they were served, sandboxed (reader.plugin.CAPTURE_HEADERS)."""
    found = await _exact_capture(datasette, request, "capture_raw")
    if isinstance(found, Response):
        return found
    _, _, target, _, chosen, record = found
    plugin = _plugin()
    headers = {**plugin.CAPTURE_HEADERS, **_memento_headers(target, chosen)}
    return Response(record.body, content_type=plugin.capture_content_type(record.content_type), headers=headers)


async def capture_by_id_view(datasette, request):
    """An address by the link's row id, from before captures had lasting ones: 301 to its newest capture."""
    plugin = _plugin()
    database, db = await plugin._database_with(datasette, request, CAPTURE_TABLES)
    target = await plugin._first(db, sql.TARGET_BY_ID, {"id": plugin._row_id(request.url_vars["id"])})
    address = capture_address(datasette, database, target) if target else None
    if address is None:
        raise NotFound("no capture of this link")
    return Response.redirect(address, status=301)


# --- a post as published, and how it changed ------------------------------------------------------------


async def _post(datasette, request, tables: tuple[str, ...]):
    plugin = _plugin()
    database, db = await plugin._database_with(datasette, request, tables)
    digest_id = plugin._row_id(request.url_vars["id"])
    digest = await plugin._first(db, sql.DIGEST_FOR_REVISIONS, {"id": digest_id})
    if digest is None:
        raise NotFound(f"no digest {digest_id}")
    digest["view_url"] = _url(datasette, "digest", database=database, id=digest_id)
    slug = digest["edition_slug"]
    digest["edition_url"] = _url(datasette, "edition", database=database, slug=slug) if slug else None
    digest["original_url"] = web_address(digest["url"])
    digest["site_name"] = label(await site_labels_of(db), digest["site"])  # as every reader page names it
    return database, db, digest


async def _stored_page(db, digest: dict) -> dict:
    page = await _plugin()._first(db, sql.PAGE_OF_DIGEST, {"id": digest["id"], "key": post_key(digest["url"])})
    if page is None:
        raise NotFound("no page of this post is stored")
    return page


async def published_view(datasette, request):
    """The post page as its site served it, in a sandboxed frame, under a banner saying when and where."""
    database, db, digest = await _post(datasette, request, PUBLISHED_TABLES)
    page = await _stored_page(db, digest)
    context = {
        "database": database,
        "digest": digest,
        "page": {key: value for key, value in page.items() if key != "body"},
        "page_url": web_address(page["url"]),
        "raw_url": _url(datasette, "published_page", database=database, id=digest["id"]),
        "revisions_url": _url(datasette, "revisions", database=database, id=digest["id"]),
    }
    return Response.html(await datasette.render_template("published.html", context, request=request))


def page_html(page: dict) -> str:
    """A stored page's HTML, sanitised (core.sanitise.sanitise_page): the HTML page itself, or the title and
    rendered content of a REST API item."""
    body = sql.page_body(page["body"])
    charset = re.search(r"charset=\"?([\w.:-]+)", page["content_type"] or "", re.IGNORECASE)
    try:
        text = body.decode(charset[1] if charset else "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = body.decode("utf-8", errors="replace")
    if page["source"] == "rest":
        try:
            item = json.loads(text)
            title = (item.get("title") or {}).get("rendered") or ""
            content = (item.get("content") or {}).get("rendered") or ""
        except (ValueError, AttributeError):
            title, content = "", text
        text = f"<h1>{title}</h1>{content}"

    def absolute(attributes: dict[str, str | None]) -> tuple[dict[str, str | None], None]:
        """A link of the page as the site meant it (`/en/posts/7203` is on the site, not on the reader)."""
        href = join_url(page["url"], attributes.pop("href", None))
        return ({**attributes, "href": href} if href else attributes), None

    return str(rewrite_anchors(sanitise_page(text), absolute))


async def published_page_view(datasette, request):
    """The stored page alone, sanitised, and sent as a sandbox (reader.plugin.CAPTURE_HEADERS)."""
    _, db, digest = await _post(datasette, request, PUBLISHED_TABLES)
    page = await _stored_page(db, digest)
    html = "<!DOCTYPE html>\n<meta charset=utf-8>\n" + page_html(page)
    return Response(html, content_type="text/html; charset=utf-8", headers=_plugin().CAPTURE_HEADERS)


async def revisions_view(datasette, request):
    """Each version of a post the archive kept, against the one before: the oldest kept first, the current
    text last."""
    database, db, digest = await _post(datasette, request, REVISION_TABLES)
    kept = await _plugin()._all(db, sql.REVISIONS_OF_DIGEST, {"id": digest["id"]})
    # Each revision is the version a change replaced: it was current until `replaced_at`.
    versions = [{"title": row["title"], "text": row["text"], "until": row["replaced_at"]} for row in kept]
    versions.append({"title": digest["title"], "text": digest["text"], "until": None})
    changes = []
    for before, after in zip(versions, versions[1:], strict=False):
        changes.append(
            {
                "at": before["until"],
                "title_before": before["title"],
                "title_after": after["title"],
                "current": after["until"] is None,
                "paragraphs": text_diff(before["text"] or "", after["text"] or ""),
            }
        )
    context = {"database": database, "digest": digest, "changes": list(reversed(changes)), "kept": len(kept)}
    return Response.html(await datasette.render_template("revisions.html", context, request=request))


async def source_extras(datasette, db, database: str, actor, sources: list[dict]) -> None:
    """For the edition page: each source's "as published" view (when its page is stored) and its revisions."""
    plugin = _plugin()
    pages = await access.can_read(datasette, actor, database, PUBLISHED_TABLES)
    revisions = await access.can_read(datasette, actor, database, REVISION_TABLES)
    for source in sources:
        if pages and await plugin._first(db, sql.PAGE_EXISTS, {"id": source["id"], "key": post_key(source["url"])}):
            source["published_url"] = _url(datasette, "published", database=database, id=source["id"])
        count = (await plugin._one(db, sql.REVISION_COUNT, {"id": source["id"]}))["n"] if revisions else 0
        source["revisions"] = count
        if count:
            source["revisions_url"] = _url(datasette, "revisions", database=database, id=source["id"])


async def own_posts(datasette, db, database: str, actor, digest_ids: list[int]) -> dict[str, str]:
    """{link URL: its edition's address} for the links of these posts that are posts of this archive (a
    "last week" link), resolved as the crawl names a post (core.urls.post_key over every address it was met
    at). Empty when the reader may not read those tables."""
    plugin = _plugin()
    if not digest_ids or not await access.can_read(datasette, actor, database, OWN_POST_TABLES):
        return {}
    found: dict[str, str] = {}
    for row in await plugin._all(db, sql.links_of_digests(len(digest_ids)), sql.digest_params(digest_ids)):
        try:
            key = post_key(row["url"])
        except ValueError:  # a stored link no URL parser reads: not a post of ours
            continue
        post = await plugin._first(db, sql.DIGEST_BY_POST_KEY, {"key": key})
        if post is None:
            continue
        slug = post["edition_slug"]
        found[row["url"]] = (
            _url(datasette, "edition", database=database, slug=slug)
            if slug
            else _url(datasette, "digest", database=database, id=post["id"])
        )
    return found
