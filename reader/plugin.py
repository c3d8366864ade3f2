"""Datasette hooks of the reader: pages, cell links, metadata for any archive file, the header's search box.

- `/-/edition/<database>/<slug>`: an edition, the reader's unit: the digest once, where it was published,
  what its sources disagree on, a marked diff where its posts differ, the previous and next edition by
  issue date. Its address lasts (`digest-213`, `digest-213-2`, `2019-09-20`); an old address by row id
  (`/-/edition/<database>/37`) redirects to it.
- `/-/search/<database>?q=…` (and `.json`): search in editions: one hit per edition entry, ranked, with a
  highlighted snippet and a link to the entry on its edition page; filters for year, section and site.
- `/-/digest/<database>/<id>`: one post as its site published it, naming the site and its edition.
- `/-/report/<database>`: the series report (`digest-archive report`) as a page.
- `/-/editions/<database>.atom`: an Atom feed of editions, newest first, a page at a time.
- `/-/capture/<database>/<id>`: our WARC capture of a linked page (reader/links.py); the reading view
  and the edition page mark each link with its state and offer a dead link's capture or archived copy.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape
from sqlite_utils import Database

from core.numbers import MAX_POST_ID, ascii_number
from core.sanitise import sanitise_html
from storage import reader as sql
from storage.links import CAPTURE_OF_LINK
from storage.report import number_ranges, series_report
from storage.search import SORTS, filter_choices, search_editions

from .diff import edition_entries
from .links import link_states, mark_links, read_capture
from .metadata import archive_queries, database_metadata, instance_metadata

SEARCH_PAGE_SIZE = 20


def digest_path(database: str, digest_id: int) -> str:
    return f"/-/digest/{database}/{digest_id}"


def edition_path(database: str, slug: str) -> str:
    return f"/-/edition/{database}/{slug}"


def search_path(database: str) -> str:
    return f"/-/search/{database}"


async def _database_with(datasette, request, table: str):
    """(name, database) of the request's database, which must have `table`; else 404."""
    database = request.url_vars["database"]
    try:
        db = datasette.get_database(database)
    except KeyError:
        raise NotFound(f"no database {database}") from None
    if not await db.table_exists(table):
        raise NotFound(f"{database} has no {table}")
    return database, db


def _row_id(text: str) -> int:
    """A row id from an address: ASCII digits within SQLite's integers, else no such row (404)."""
    row_id = ascii_number(text, MAX_POST_ID)
    if row_id is None:
        raise NotFound(f"no row {text[:40]}")
    return row_id


# A reader pages through at most this far (anything beyond is the last page's neighbourhood anyway).
MAX_PAGE = 100_000


async def _first(db, query: str, params: dict | None = None) -> dict | None:
    row = (await db.execute(query, params or {})).first()
    return dict(row) if row is not None else None


async def _one(db, query: str, params: dict | None = None) -> dict:
    """The row of a query that always gives one (an aggregate, a row of subqueries)."""
    row = await _first(db, query, params)
    if row is None:
        raise RuntimeError(f"no row from {query.split()[0]} query")
    return row


async def _all(db, query: str, params: dict | None = None) -> list[dict]:
    return [dict(row) for row in (await db.execute(query, params or {})).rows]


async def digest_view(datasette, request):
    database, db = await _database_with(datasette, request, "entries")
    digest_id = _row_id(request.url_vars["id"])
    digest = await _first(db, sql.DIGEST_FOR_VIEW, {"id": digest_id})
    if digest is None:
        raise NotFound(f"no digest {digest_id}")
    sections: list[dict] = []
    states = await link_states(db, [digest_id])
    for entry in await _all(db, sql.ENTRIES_OF_DIGEST, {"id": digest_id}):
        if not sections or sections[-1]["name"] != entry["section"]:
            sections.append({"name": entry["section"], "entries": []})
        # Stored HTML was sanitised at parse time; cleaning again here costs little and guards the reader.
        sections[-1]["entries"].append(
            {
                "id": entry["id"],
                "position": entry["position"],
                "html": mark_links(sanitise_html(entry["html"]), digest["url"], states, database, datasette.urls.path),
            }
        )
    neighbours = await _one(db, sql.DIGEST_NEIGHBOURS, {"id": digest_id})
    context = {
        "database": database,
        "digest": digest,
        "sections": sections,
        "edition_path": edition_path(database, digest["edition_slug"]) if digest["edition_slug"] else None,
        "previous_path": digest_path(database, neighbours["previous_id"]) if neighbours["previous_id"] else None,
        "next_path": digest_path(database, neighbours["next_id"]) if neighbours["next_id"] else None,
    }
    return Response.html(await datasette.render_template("digest.html", context, request=request))


async def edition_view(datasette, request):
    database, db = await _database_with(datasette, request, "editions")
    slug = request.url_vars["slug"]
    if slug.isdigit():  # an address by row id, from before editions had slugs
        found = await _first(db, sql.EDITION_SLUG_BY_ID, {"id": _row_id(slug)})
        if found is None or not found["slug"]:
            raise NotFound(f"no edition {slug}")
        return Response.redirect(datasette.urls.path(edition_path(database, found["slug"])), status=301)
    edition = await _first(db, sql.EDITION_BY_SLUG, {"slug": slug})
    if edition is None:
        raise NotFound(f"no edition {slug}")
    sources = await _all(db, sql.EDITION_SOURCES, {"id": edition["id"]})
    entries_of = []
    for source in sources:
        source["view_path"] = digest_path(database, source["id"])
        entries_of.append(await _all(db, sql.ENTRIES_OF_DIGEST, {"id": source["id"]}))
    entries = edition_entries(entries_of)
    states = await link_states(db, [source["id"] for source in sources])
    for entry in entries:
        entry["html"] = mark_links(str(entry["html"]), sources[0]["url"], states, database, datasette.urls.path)
    neighbours = await _one(db, sql.EDITION_NEIGHBOURS, {"day": edition["day"], "slug": slug})
    context = {
        "database": database,
        "edition": edition,
        "sources": sources,
        "entries": entries,
        "differs": any(entry["change"] != "same" for entry in entries),
        "previous": {"path": edition_path(database, neighbours["previous_slug"]), "title": neighbours["previous_title"]}
        if neighbours["previous_slug"]
        else None,
        "next": {"path": edition_path(database, neighbours["next_slug"]), "title": neighbours["next_title"]}
        if neighbours["next_slug"]
        else None,
        "search_path": search_path(database),
    }
    return Response.html(await datasette.render_template("edition.html", context, request=request))


def _search_arguments(request) -> dict:
    args = request.args
    year = args.get("year") or None
    page = args.get("page") or "1"
    return {
        "text": args.get("q") or "",
        "year": ascii_number(year, 9999),
        "section": args.get("section") or None,
        "site": args.get("site") or None,
        "sort": args.get("sort") if args.get("sort") in SORTS else "relevance",
        "page": max(1, ascii_number(page, MAX_PAGE) or 1),
    }


async def search_view(datasette, request):
    database, db = await _database_with(datasette, request, "editions")
    asked = _search_arguments(request)

    def run(conn: sqlite3.Connection):
        return search_editions(
            conn,
            asked["text"],
            year=asked["year"],
            section=asked["section"],
            site=asked["site"],
            sort=asked["sort"],
            limit=SEARCH_PAGE_SIZE,
            offset=(asked["page"] - 1) * SEARCH_PAGE_SIZE,
        ), filter_choices(conn)

    result, choices = await db.execute_fn(run)
    hits = [
        {
            "edition_url": datasette.urls.path(edition_path(database, hit.slug)) + hit.anchor(),
            "title": hit.title,
            "number": hit.number,
            "issue_date": hit.issue_date,
            "sites": hit.sites,
            "snippet": str(hit.snippet),
            "section": hit.section,
            "field": hit.field,
        }
        for hit in result.hits
    ]
    if request.url_vars.get("format") == "json":
        return Response.json({"total": result.total, "hits": hits, "query": result.query})
    pages = max(1, math.ceil(result.total / SEARCH_PAGE_SIZE))

    def page_url(page: int) -> str:
        kept = {
            key: value
            for key, value in (
                ("q", asked["text"]),
                ("year", asked["year"]),
                ("section", asked["section"]),
                ("site", asked["site"]),
                ("sort", asked["sort"]),
            )
            if value
        }
        return "?" + urlencode({**kept, "page": page})

    for hit in hits:
        hit["snippet"] = Markup(hit["snippet"])
    context = {
        "database": database,
        "asked": asked,
        "total": result.total,
        "hits": hits,
        "choices": choices,
        "sorts": SORTS,
        "page": asked["page"],
        "pages": pages,
        "previous_page": page_url(asked["page"] - 1) if asked["page"] > 1 else None,
        "next_page": page_url(asked["page"] + 1) if asked["page"] < pages else None,
        "json_url": datasette.urls.path(search_path(database) + ".json") + "?" + urlencode({"q": asked["text"]}),
    }
    return Response.html(await datasette.render_template("search.html", context, request=request))


async def report_view(datasette, request):
    database, db = await _database_with(datasette, request, "editions")
    report = await db.execute_fn(lambda conn: series_report(Database(conn)))
    context = {"database": database, "report": report, "missing": number_ranges(report["missing_numbers"])}
    return Response.html(await datasette.render_template("report.html", context, request=request))


def _atom_time(value: str | None) -> str:
    """An RFC 3339 timestamp (Atom's): a bare date is midnight UTC."""
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return "1970-01-01T00:00:00Z"  # no time at all: Atom needs one, and this one says "unknown"
    if moment.tzinfo is None:  # the archive's times are UTC (a bare date too: midnight UTC)
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def editions_feed(datasette, request):
    """Atom (RFC 4287, paged as RFC 5005 says): editions newest first, each with its first publication as
    `published` and its last change as `updated`, linking to its edition page; `?page=N` pages back."""
    database, db = await _database_with(datasette, request, "editions")
    page_arg = request.args.get("page") or "1"
    page = max(1, ascii_number(page_arg, MAX_PAGE) or 1)
    size = sql.FEED_PAGE_SIZE
    rows = await _all(db, sql.EDITIONS_FOR_FEED, {"limit": size, "offset": (page - 1) * size})
    total = (await _one(db, sql.EDITION_COUNT))["n"]
    feed_path = datasette.urls.path(f"/-/editions/{database}.atom")
    feed_id = datasette.absolute_url(request, feed_path)
    links = [
        f'<link rel="self" href="{escape(feed_id + (f"?page={page}" if page > 1 else ""))}"/>',
        f'<link rel="first" href="{escape(feed_id)}"/>',
    ]
    if page * size < total:
        links.append(f'<link rel="next" href="{escape(feed_id)}?page={page + 1}"/>')
    if page > 1:
        links.append(f'<link rel="previous" href="{escape(feed_id)}?page={page - 1}"/>')
    entries = []
    for row in rows:
        link = datasette.absolute_url(request, datasette.urls.path(edition_path(database, row["slug"])))
        summary = " · ".join(
            part
            for part in (
                f"number {row['number']}" if row["number"] is not None else None,
                f"issue of {row['issue_date']}" if row["issue_date"] else None,
                f"on {row['sites']}",
                row["headline"],
                f"the sources disagree: {row['conflicts']}" if row["conflicts"] else None,
            )
            if part
        )
        published = _atom_time(row["first_published"] or row["issue_date"] or row["first_seen"])
        entries.append(
            f"<entry><id>{escape(link)}</id><title>{escape(row['title'] or '')}</title>"
            f"<published>{escape(published)}</published><updated>{escape(_atom_time(row['updated']))}</updated>"
            f'<link rel="alternate" type="text/html" href="{escape(link)}"/>'
            f"<summary>{escape(summary)}</summary></entry>"
        )
    updated = max((_atom_time(row["updated"]) for row in rows), default="1970-01-01T00:00:00Z")
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(feed_id)}</id><title>Editions of the digest: {escape(database)}</title>"
        f"<updated>{escape(updated)}</updated><author><name>digest-archive</name></author>"
        + "".join(links)
        + "".join(entries)
        + "</feed>"
    )
    return Response(xml, content_type="application/atom+xml; charset=utf-8")


async def capture_view(datasette, request):
    """Our capture of a linked page, as it was served (sandboxed: see reader/links.py)."""
    database, db = await _database_with(datasette, request, "link_targets")
    row = await _first(db, CAPTURE_OF_LINK, {"id": _row_id(request.url_vars["id"])})
    if row is None or not db.path:
        raise NotFound("no capture of this link")
    found = read_capture(db.path, row["capture_warc"], row["capture_offset"])
    if found is None:
        raise NotFound("the capture's WARC record is missing")
    content_type, body = found
    return Response(
        body,
        content_type=content_type,
        headers={
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "Link": f'<{row["final_url"] or row["url"]}>; rel="original"',
        },
    )


@hookimpl
def register_routes():
    return [
        (r"^/-/digest/(?P<database>[^/]+)/(?P<id>\d+)$", digest_view),
        (r"^/-/edition/(?P<database>[^/]+)/(?P<slug>[A-Za-z0-9-]+)$", edition_view),
        (r"^/-/search/(?P<database>[^/.]+)(\.(?P<format>json))?$", search_view),
        (r"^/-/report/(?P<database>[^/]+)$", report_view),
        (r"^/-/editions/(?P<database>[^/]+)\.atom$", editions_feed),
        (r"^/-/capture/(?P<database>[^/]+)/(?P<id>\d+)$", capture_view),
    ]


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """Titles open the reading view (digests) or the edition page (editions); a digest's `edition_id` opens
    its edition (by the old address, which redirects to the lasting one)."""
    if table not in ("digests", "editions") or value is None:
        return None
    keys = row.keys()
    if column == "title" and "id" in keys:
        if table == "digests":
            path = digest_path(database, row["id"])
        elif "slug" in keys and row["slug"]:
            path = edition_path(database, row["slug"])
        else:
            path = edition_path(database, str(row["id"]))
        return Markup(f'<a class="{table[:-1]}-view" href="{datasette.urls.path(path)}">{escape(value)}</a>')
    if column == "edition_id" and table == "digests":
        label = value.label if hasattr(value, "label") else None
        raw = value.value if hasattr(value, "value") else value
        path = datasette.urls.path(edition_path(database, str(raw)))
        return Markup(f'<a class="edition-link" href="{path}">edition {escape(label or raw)}</a>')
    if column == "slug" and table == "editions":
        return Markup(f'<a href="{datasette.urls.path(edition_path(database, value))}">{escape(value)}</a>')
    return None


def _archive_names(datasette) -> list[str]:
    """The served databases that are archives (they have an editions table), whatever their file is called."""
    names = []
    for name, db in datasette.databases.items():
        if name == "_internal" or db.is_memory or not db.path:
            continue
        if _is_archive(db.path):
            names.append(name)
    return names


_ARCHIVE_CACHE: dict[tuple[str, float], bool] = {}


def _is_archive(path: str) -> bool:
    try:
        key = (path, Path(path).stat().st_mtime)
    except OSError:
        return False
    if key not in _ARCHIVE_CACHE:
        if len(_ARCHIVE_CACHE) > 256:  # a file being crawled changes its mtime all the time
            _ARCHIVE_CACHE.clear()
        _ARCHIVE_CACHE[key] = sql.is_archive(path)
    return _ARCHIVE_CACHE[key]


@hookimpl
def get_metadata(datasette, key, database, table):
    """Titles, descriptions and facets for every archive served, whatever its file name."""
    names = _archive_names(datasette)
    if not names:
        return {}
    return {**instance_metadata(), "databases": {name: database_metadata(name) for name in names}}


@hookimpl
def canned_queries(datasette, database):
    return archive_queries() if database in _archive_names(datasette) else None


@hookimpl
def extra_template_vars(request, datasette, database):
    """The header's search box searches the page's archive (else the first archive served)."""
    names = _archive_names(datasette)
    current = database or (request.url_vars.get("database") if request is not None else None)
    target = current if current in names else (names[0] if names else None)
    return {
        "reader_search_path": datasette.urls.path(search_path(target)) if target else None,
        "reader_query": (request.args.get("q") or "") if request is not None and target else "",
    }
