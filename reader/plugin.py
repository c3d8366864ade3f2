"""Datasette hooks of the reader: pages, cell links, metadata for any archive file, the header's search box.

Its pages (edition, search and its JSON, reading view, report, Atom feed, captures) are declared once, in
the table `ROUTES` at the end: each with its path, its view and what a reader does there. reader/routes.py
derives the router's patterns and every address the reader makes from it; docs/reading.md lists them
from it (`make docs`). An edition's address lasts (`digest-213`, `digest-213-2`, `2019-09-20`); an old
address by row id redirects to it. Link marks are reader/links.py's: each link of an entry is marked with
its state (core.link_status) and a dead link offers our capture or its archived copy. Captures at their
timestamped addresses, a post as published and its revisions are reader/replay.py's. The edition page and the
reading view are citable (reader/citation.py): entry permalinks, a citation block, canonical and Highwire tags.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from datasette import __version__ as datasette_version
from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Base400, NotFound, Response
from markupsafe import Markup, escape
from sqlite_utils import Database

from core.numbers import MAX_POST_ID, ascii_number
from core.sanitise import sanitise_html
from core.urls import domain_of
from storage import reader as sql
from storage.report import LINKS_SECTION, Line, Ref, Section, report_sections, series_report
from storage.search import (
    MARK_END,
    MARK_START,
    SORTS,
    filter_choices,
    only_left_out,
    search_editions,
    suggest_searches,
)

from . import access, replay
from .citation import Citation, bibtex_key, day_of, tag_uri
from .deadlinks import FORMATS as DEAD_LINK_FORMATS
from .deadlinks import dead_links_view
from .diff import edition_entries
from .links import link_css, link_states, mark_links, web_address
from .metadata import archive_queries, database_metadata, instance_metadata
from .provenance import provenance_of
from .routes import Route, Routes
from .sites import SiteFacet, label, named, site_cell, site_labels_of

SEARCH_PAGE_SIZE = 20
# The plugin's name, as the `datasette` entry point in pyproject.toml registers it (its static files' path).
PLUGIN_NAME = "digest_archive"


async def _database_with(datasette, request, tables: tuple[str, ...]):
    """(name, database) of the request's database, which must have `tables` (else 404) and whose tables the
    request's actor may view (else 403, as Datasette's own pages answer)."""
    route = tilde_decode(request.url_vars["database"])
    try:
        db = datasette.get_database(route=route)
    except KeyError:
        raise NotFound("no such database") from None
    for table in tables:
        if not await db.table_exists(table):
            raise NotFound(f"this database has no {table} table")
    await access.ensure_can_read(datasette, request.actor, db.name, tables)
    return db.name, db


async def _link_states(datasette, request, database: str, db, digest_ids: list[int]) -> dict[str, dict]:
    """The links' states, when the reader may see the link tables (else the links are shown unmarked)."""
    if not await access.can_read(datasette, request.actor, database, access.LINK_TABLES):
        return {}
    return await link_states(db, digest_ids)


def highlighted(snippet: str) -> Markup:
    """A search snippet, escaped, its matches (between storage's marker characters) in <mark>."""
    out = Markup("")
    inside = False
    for piece in re.split(f"([{MARK_START}{MARK_END}])", snippet):
        if piece == MARK_START and not inside:
            out += Markup("<mark>")
            inside = True
        elif piece == MARK_END and inside:
            out += Markup("</mark>")
            inside = False
        elif piece not in (MARK_START, MARK_END):
            out += escape(piece)
    return out + Markup("</mark>") if inside else out


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
    database, db = await _database_with(datasette, request, access.DIGEST_TABLES)
    digest_id = _row_id(request.url_vars["id"])
    digest = await _first(db, sql.DIGEST_FOR_VIEW, {"id": digest_id})
    if digest is None:
        raise NotFound(f"no digest {digest_id}")
    digest["original_url"] = web_address(digest["url"])
    labels = await site_labels_of(db)
    digest["site_name"] = label(labels, digest["site"])
    digest["edition_site_names"] = named(labels, digest["edition_sites"])
    sections: list[dict] = []
    states = await _link_states(datasette, request, database, db, [digest_id])
    own = await replay.own_posts(datasette, db, database, request.actor, [digest_id])

    def capture_url(state: dict) -> str | None:
        return replay.capture_address(datasette, database, state)

    for entry in await _all(db, sql.ENTRIES_OF_DIGEST, {"id": digest_id}):
        if not sections or sections[-1]["name"] != entry["section"]:
            sections.append({"name": entry["section"], "entries": []})
        # Stored HTML was sanitised at parse time; cleaning again here costs little and guards the reader.
        sections[-1]["entries"].append(
            {
                "id": entry["id"],
                "position": entry["position"],
                "html": mark_links(sanitise_html(entry["html"]), digest["url"], states, capture_url, own),
            }
        )
    neighbours = await _one(db, sql.DIGEST_NEIGHBOURS, {"id": digest_id})

    def digest_url(other: int | None) -> str | None:
        return ROUTES.url(datasette, "digest", database=database, id=other) if other else None

    slug = digest["edition_slug"]
    edition_url = ROUTES.url(datasette, "edition", database=database, slug=slug) if slug else None
    # A post cites as itself, at its edition's lasting address (a post of no edition: its own address).
    permalink = datasette.absolute_url(
        request, edition_url or ROUTES.url(datasette, "digest", database=database, id=digest_id)
    )
    citation = Citation(
        title=digest["title"] or "",
        publisher=digest["site_name"],
        published=day_of(digest["published"] or digest["issue_date"]),
        original_url=digest["original_url"],
        archived_on=day_of(digest["first_seen"]),
        permalink=permalink,
        key=bibtex_key(database, slug or f"post-{digest_id}"),
    )
    context = {
        "database": database,
        "digest": digest,
        "sections": sections,
        "edition_url": edition_url,
        "provenance": provenance_of(digest),
        "citation": citation,
        "feed_url": ROUTES.url(datasette, "feed", database=database),
        "previous_url": digest_url(neighbours["previous_id"]),
        "next_url": digest_url(neighbours["next_id"]),
        "link_css": link_css(),
    }
    return Response.html(await datasette.render_template("digest.html", context, request=request))


async def edition_view(datasette, request):
    database, db = await _database_with(datasette, request, access.EDITION_TABLES)
    slug = tilde_decode(request.url_vars["slug"])
    if slug.isdigit():  # an address by row id, from before editions had slugs
        found = await _first(db, sql.EDITION_SLUG_BY_ID, {"id": _row_id(slug)})
        if found is None or not found["slug"]:
            raise NotFound(f"no edition {slug}")
        return Response.redirect(ROUTES.url(datasette, "edition", database=database, slug=found["slug"]), status=301)
    edition = await _first(db, sql.EDITION_BY_SLUG, {"slug": slug})
    if edition is None:
        raise NotFound(f"no edition {slug}")
    sources = await _all(db, sql.EDITION_SOURCES, {"id": edition["id"]})
    labels = await site_labels_of(db)
    for key in ("sites", "conflicts_between_sites", "conflicts_within_post"):
        edition[key] = named(labels, edition[key])
    entries_of = []
    for source in sources:
        source["site_name"] = label(labels, source["site"])
        source["view_url"] = ROUTES.url(datasette, "digest", database=database, id=source["id"])
        source["original_url"] = web_address(source["url"])
        source["provenance"] = provenance_of(source)
        entries_of.append(await _all(db, sql.ENTRIES_OF_DIGEST, {"id": source["id"]}))
    entries = edition_entries(entries_of)
    states = await _link_states(datasette, request, database, db, [source["id"] for source in sources])
    own = await replay.own_posts(datasette, db, database, request.actor, [source["id"] for source in sources])
    await replay.source_extras(datasette, db, database, request.actor, sources)

    def capture_url(state: dict) -> str | None:
        return replay.capture_address(datasette, database, state)

    # Each entry's permalink is its place in the edition (`#item-3`): the same on every serving, and across
    # re-crawls while the posts stay as they are (row ids, the `#entry-<id>` anchors search links to, are
    # renumbered whenever a changed post is written again).
    for number, entry in enumerate(entries, start=1):
        entry["html"] = mark_links(str(entry["html"]), sources[0]["url"], states, capture_url, own)
        entry["number"] = number
    neighbours = await _one(db, sql.EDITION_NEIGHBOURS, {"day": edition["day"], "slug": slug})

    def neighbour(which: str) -> dict | None:
        other = neighbours[f"{which}_slug"]
        if not other:
            return None
        return {
            "url": ROUTES.url(datasette, "edition", database=database, slug=other),
            "title": neighbours[f"{which}_title"],
        }

    permalink = datasette.absolute_url(request, ROUTES.url(datasette, "edition", database=database, slug=slug))
    first = sources[0] if sources else {}
    citation = Citation(
        title=edition["title"] or "",
        publisher=first.get("site_name") or edition["sites"] or "",  # the site its original URL is on
        published=day_of(edition["first_published"] or edition["issue_date"]),
        original_url=first.get("original_url"),
        archived_on=day_of(edition["first_seen"]),
        permalink=permalink,
        key=bibtex_key(database, slug),
    )
    context = {
        "database": database,
        "edition": edition,
        "citation": citation,
        "feed_url": ROUTES.url(datasette, "feed", database=database),
        "sources": sources,
        "entries": entries,
        "differs": any(entry["change"] != "same" for entry in entries),
        "previous": neighbour("previous"),
        "next": neighbour("next"),
        "link_css": link_css(),
    }
    return Response.html(await datasette.render_template("edition.html", context, request=request))


# An ISO date as a date field sends it (`2021-11-26`); anything else is no bound.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The search's filters as the address names them, with their names in storage.search.
SEARCH_FILTERS = {
    "year": "year",
    "section": "section",
    "site": "site",
    "from": "date_from",
    "to": "date_to",
    "domain": "domain",
}
# How many of the most cited domains the form suggests.
DOMAIN_SUGGESTIONS = 200


def _iso_date(text: str | None) -> str | None:
    """A real calendar date in ISO form, else None (the filter is left off, and the page says what ran)."""
    text = (text or "").strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _domain(text: str | None) -> str | None:
    """A cited domain as `links.domain` has it: lower case, no `www.`, no port; a whole address is taken
    for its domain."""
    text = (text or "").strip().lower()
    if not text:
        return None
    try:
        return domain_of(text if "://" in text else f"http://{text}") or None
    except ValueError:  # not an address at all (`[`): no domain has it
        return text


def _search_arguments(request) -> dict:
    args = request.args
    year = args.get("year") or None
    page = args.get("page") or "1"
    return {
        "text": args.get("q") or "",
        "year": ascii_number(year, 9999),
        "section": args.get("section") or None,
        "site": args.get("site") or None,
        "from": _iso_date(args.get("from")),
        "to": _iso_date(args.get("to")),
        "domain": _domain(args.get("domain")),
        "sort": args.get("sort") if args.get("sort") in SORTS else "relevance",
        "page": max(1, ascii_number(page, MAX_PAGE) or 1),
    }


def _search_address(asked: dict, *, page: int = 1, text: str | None = None, filters: bool = True) -> str:
    """The query string of a search: what was asked, on `page`, maybe with other words or no filters."""
    values = {"q": asked["text"] if text is None else text}
    if filters:
        values.update((name, asked[name]) for name in SEARCH_FILTERS)
    values["sort"] = asked["sort"] if asked["sort"] != "relevance" else None
    values["page"] = page if page > 1 else None
    return "?" + urlencode({name: value for name, value in values.items() if value})


async def search_view(datasette, request):
    database, db = await _database_with(datasette, request, access.SEARCH_TABLES)
    asked = _search_arguments(request)
    may_read_links = await access.can_read(datasette, request.actor, database, access.DOMAIN_FILTER_TABLES)
    if asked["domain"] and not may_read_links:  # the filter reads the links table: refused as Datasette would
        await access.ensure_can_read(datasette, request.actor, database, access.DOMAIN_FILTER_TABLES)
    filters = {SEARCH_FILTERS[name]: asked[name] for name in SEARCH_FILTERS}

    def run(conn: sqlite3.Connection):
        result = search_editions(
            conn,
            asked["text"],
            **filters,
            sort=asked["sort"],
            limit=SEARCH_PAGE_SIZE,
            offset=(asked["page"] - 1) * SEARCH_PAGE_SIZE,
        )
        # Only a search that found nothing at all (not a page past the end) looks for something better.
        hints = suggest_searches(conn, asked["text"], **filters) if result.query and not result.total else []
        return result, hints, filter_choices(conn, domains=DOMAIN_SUGGESTIONS if may_read_links else 0)

    result, suggestions, choices = await db.execute_fn(run)
    labels = await site_labels_of(db)
    json = request.url_vars.get("format") == "json"
    page_path = ROUTES.url(datasette, "search", format="json" if json else None, database=database)

    def address(query_string: str) -> str:
        """The JSON's addresses are absolute (from the request's own scheme and host, under base_url)."""
        return datasette.absolute_url(request, page_path + query_string) if json else query_string

    def edition_url(hit) -> str:
        path = ROUTES.url(datasette, "edition", database=database, slug=hit.slug) + hit.anchor()
        return datasette.absolute_url(request, path) if json else path

    hits = [
        {
            "edition_url": edition_url(hit),
            "title": hit.title,
            "number": hit.number,
            "issue_date": hit.issue_date,
            "day": hit.day,
            "sites": hit.sites,  # as the `site` filter takes them
            "site_names": [label(labels, site) for site in hit.sites],
            "snippet": highlighted(hit.snippet),
            "section": hit.section,
            "field": hit.field,
        }
        for hit in result.hits
    ]
    pages = max(1, math.ceil(result.total / SEARCH_PAGE_SIZE))
    page = asked["page"]
    next_page = address(_search_address(asked, page=page + 1)) if page < pages else None
    previous_page = address(_search_address(asked, page=min(page, pages + 1) - 1)) if page > 1 else None
    hints = [
        {
            "text": suggestion.text,
            "total": suggestion.total,
            "why": suggestion.why,
            "without_filters": suggestion.without_filters,
            "url": address(_search_address(asked, text=suggestion.text, filters=not suggestion.without_filters)),
        }
        for suggestion in suggestions
    ]
    applied = {name: asked[name] for name in SEARCH_FILTERS if asked[name]}
    if json:
        for hit in hits:
            hit["snippet"] = str(hit["snippet"])  # the same escaped HTML the page shows
        answer = {
            "total": result.total,
            "hits": hits,
            "query": result.query,
            "filters": applied,
            "sort": asked["sort"],
            "page": page,
            "page_size": SEARCH_PAGE_SIZE,
            "next": next_page,
            "previous": previous_page,
        }
        if result.query is None or not result.total:
            answer["hints"] = hints
            answer["only_left_out"] = only_left_out(asked["text"])
        return Response.json(answer)
    context = {
        "database": database,
        "asked": asked,
        "total": result.total,
        "query": result.query,
        "applied": applied,
        "hints": hints,
        "only_left_out": only_left_out(asked["text"]),
        "hits": hits,
        "choices": choices,
        "site_names": {site: label(labels, site) for site in choices["site"]},
        "sorts": SORTS,
        "page": page,
        "page_size": SEARCH_PAGE_SIZE,
        "pages": pages,
        "previous_page": previous_page,
        "next_page": next_page,
        "json_url": ROUTES.url(datasette, "search", format="json", database=database) + _search_address(asked),
    }
    return Response.html(await datasette.render_template("search.html", context, request=request))


async def report_view(datasette, request):
    """The series report: the sections of `digest-archive report` (storage.report.SECTIONS), each number linked
    to what it counts. The links section needs the link tables: for a reader who may not view them it says so."""
    database, db = await _database_with(datasette, request, access.REPORT_TABLES)
    may_read_links = await access.can_read(datasette, request.actor, database, access.DEAD_LINK_TABLES)
    data = await db.execute_fn(lambda conn: series_report(Database(conn)))
    # The report names sites as the archive keys them (host and port): the page names them as the reader does,
    # in its text only (the addresses keep filtering by the stored value).
    labels = await site_labels_of(db)
    sections = []
    for section in report_sections(data):
        if section.title == LINKS_SECTION and not may_read_links:
            section = Section(section.title, Line((("not shown: the link tables are not yours to view", None),)))
        sections.append(
            {
                "title": section.title,
                "summary": _report_pieces(datasette, database, section.summary, labels),
                "lines": [_report_pieces(datasette, database, line, labels) for line in section.lines],
            }
        )
    context = {
        "database": database,
        "sections": sections,
        "dead_links_url": ROUTES.url(datasette, "dead_links", database=database) if may_read_links else None,
    }
    return Response.html(await datasette.render_template("report.html", context, request=request))


def _report_pieces(datasette, database: str, line: Line, labels: dict[str, str]) -> list[dict]:
    """A line of the report as the page draws it: each piece's text (sites by their names) and its address
    (None: plain text)."""
    return [
        {"text": named(labels, text), "url": _report_address(datasette, database, ref) if ref else None}
        for text, ref in line.pieces
    ]


def _report_address(datasette, database: str, ref: Ref) -> str:
    """Where a piece of the report leads: the reader's page, or Datasette's table or canned query, filtered."""
    query = ("?" + urlencode(ref.filters)) if ref.filters else ""
    if ref.page == "edition":
        return ROUTES.url(datasette, "edition", database=database, slug=ref.key)
    if ref.page == "digest":
        return ROUTES.url(datasette, "digest", database=database, id=ref.key)
    if ref.page == "dead_links":
        return ROUTES.url(datasette, "dead_links", database=database) + query
    if ref.page == "query":
        return datasette.urls.query(database, str(ref.key)) + query
    if ref.page == "table":
        return datasette.urls.table(database, str(ref.key)) + query
    raise ValueError(f"no page {ref.page!r} for the report to link")


def _atom_time(value: str | None) -> str:
    """An RFC 3339 timestamp (Atom's): a bare date is midnight UTC."""
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return "1970-01-01T00:00:00Z"  # no time at all: Atom needs one, and this one says "unknown"
    if moment.tzinfo is None:  # the archive's times are UTC (a bare date too: midnight UTC)
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Characters XML 1.0 cannot carry at all, not even as a reference: left out of the feed.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    """A value as text the feed's XML can carry (the template escapes it)."""
    return _NOT_XML.sub("", str(value))


async def editions_feed(datasette, request):
    """Atom (RFC 4287, paged as RFC 5005 says): editions newest first, each with its first publication as
    `published` and its last change as `updated`, linking to its edition page; `?page=N` pages back.
    The template (templates/editions_feed.xml) lays out the XML; Datasette's Jinja escapes every value."""
    database, db = await _database_with(datasette, request, access.FEED_TABLES)
    page_arg = request.args.get("page") or "1"
    page = max(1, ascii_number(page_arg, MAX_PAGE) or 1)
    size = sql.FEED_PAGE_SIZE
    rows = await _all(db, sql.EDITIONS_FOR_FEED, {"limit": size, "offset": (page - 1) * size})
    total = (await _one(db, sql.EDITION_COUNT))["n"]
    labels = await site_labels_of(db)
    feed_url = datasette.absolute_url(request, ROUTES.url(datasette, "feed", database=database))
    links = [("self", feed_url + (f"?page={page}" if page > 1 else "")), ("first", feed_url)]
    if page * size < total:
        links.append(("next", f"{feed_url}?page={page + 1}"))
    if page > 1:
        links.append(("previous", f"{feed_url}?page={page - 1}"))
    entries = []
    for row in rows:
        summary = " · ".join(
            part
            for part in (
                f"number {row['number']}" if row["number"] is not None else None,
                f"issue of {row['issue_date']}" if row["issue_date"] else None,
                f"on {named(labels, row['sites'])}",
                row["headline"],
                f"the sources disagree: {named(labels, row['conflicts'])}" if row["conflicts"] else None,
            )
            if part
        )
        url = datasette.absolute_url(request, ROUTES.url(datasette, "edition", database=database, slug=row["slug"]))
        entry = {
            "id": tag_uri(database, "edition", row["slug"]),  # the same whichever host serves the feed
            "url": url,
            "title": row["title"] or "",
            "published": _atom_time(row["first_published"] or row["issue_date"] or row["first_seen"]),
            "updated": _atom_time(row["updated"]),
            "summary": summary,
        }
        entries.append({key: _xml_text(value) for key, value in entry.items()})
    feed = {
        "id": _xml_text(tag_uri(database, "editions")),
        "title": _xml_text(f"Editions of the digest: {database}"),
        "updated": max((entry["updated"] for entry in entries), default="1970-01-01T00:00:00Z"),
        "links": [(rel, _xml_text(href)) for rel, href in links],
    }
    xml = await datasette.render_template("editions_feed.xml", {"feed": feed, "entries": entries}, request=request)
    return Response(xml, content_type="application/atom+xml; charset=utf-8")


# A captured page is someone else's page, scripts and all, served from our origin: the policy makes it a
# sandbox (a unique origin: no scripts, no forms, no cookies or storage of ours), lets it load nothing from
# anywhere (its own inline styles and data: images aside), and it names no referrer.
CAPTURE_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# One media type, with at most a charset: anything else the captured server said is sent as bytes.
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]*"
_MEDIA_TYPE = re.compile(rf"({_TOKEN}/{_TOKEN})(?:\s*;\s*charset=\"?([a-z0-9_.:-]+)\"?)?")


def capture_content_type(value: str | None) -> str:
    """The captured response's Content-Type as one clean header value (else application/octet-stream)."""
    found = _MEDIA_TYPE.match((value or "").strip().lower())
    if found is None:
        return "application/octet-stream"
    media_type, charset = found.groups()
    rest = (value or "").strip().lower()[found.end() :].strip()
    if rest and not rest.startswith(";"):  # two types, or a type with junk after it
        return "application/octet-stream"
    return f"{media_type}; charset={charset}" if charset else media_type


# The reader's pages, each declared once: its name (what the code asks an address of), its path, its view,
# and what a reader does there (docs/reading.md). Every address a reader may type: a malformed id or slug
# reaches its view and is a 404 there.
ROUTES = Routes(
    Route(
        "search",
        "/-/search/{database}",
        search_view,
        "searches every entry, title and headline (`?q=…`; see [Search](#search)); `.json` for scripts",
        formats=("json",),
    ),
    Route(
        "edition",
        "/-/edition/{database}/{slug}",
        edition_view,
        "reads an edition (`digest-209`, `2021-11-26`): number, issue date, where it was published, what its "
        "sources disagree on, its entries once; where its posts differ, a legend and the difference marked "
        "(struck through in red: only on the first site; highlighted in green: only on the second), links "
        "kept; previous and next edition by issue date. An old address by row id redirects to it",
    ),
    Route(
        "digest",
        "/-/digest/{database}/{id}",
        digest_view,
        "reads one post as its site published it, naming the site and linking its edition; previous and next "
        "post on the same site",
    ),
    Route(
        "report",
        "/-/report/{database}",
        report_view,
        "the series report, the sections of `digest-archive report` (see [Report](#report)), every number "
        "linked to what it counts: editions on one site only, conflicts, missing and reused numbers, digests "
        "without a number, entries or date, the last run of each listing, pages not stored, links",
    ),
    Route(
        "feed",
        "/-/editions/{database}.atom",
        editions_feed,
        "the Atom feed of editions, newest first (see [The feed](#the-feed))",
    ),
    Route(
        "capture",
        "/-/capture/{database}/{timestamp}/{url*}",
        replay.capture_view,
        "a linked page as our link check captured it, at a lasting address (`20240502101500`; the nearest "
        "capture answers a timestamp that names none, by a redirect), under a banner: when, the original URL, "
        "its HTTP status, the editions citing it, the other captures ([links.md](links.md#captures-and-replay))",
        shapes=(("timestamp", r"\d{4,14}"),),
    ),
    Route(
        "capture_raw",
        "/-/capture/{database}/{timestamp}id_/{url*}",
        replay.capture_raw_view,
        "the captured page's own bytes, as they were served, sandboxed (the Wayback Machine's `id_`)",
        shapes=(("timestamp", r"\d{4,14}"),),
    ),
    Route(
        "capture_by_id",
        "/-/capture/{database}/{id}",
        replay.capture_by_id_view,
        "an old address of a capture, by the link's row id: redirects (301) to its newest capture's",
    ),
    Route(
        "published",
        "/-/published/{database}/{id}",
        replay.published_view,
        "a post page as its site served it (the last copy the crawl fetched), sanitised and sandboxed, under a "
        "banner saying when and where; linked from the edition page",
    ),
    Route(
        "published_page",
        "/-/published/{database}/{id}/page",
        replay.published_page_view,
        "that page alone, sanitised, sent as a sandbox (what the banner page frames)",
    ),
    Route(
        "revisions",
        "/-/revisions/{database}/{id}",
        replay.revisions_view,
        "how a post changed: each version the crawl kept against the one before, paragraph by paragraph, "
        "reworded ones word by word; linked from the edition page",
    ),
    Route(
        "dead_links",
        "/-/links/{database}",
        dead_links_view,
        "the dead links: each failing or dead link with its anchor text, the editions citing it, when it started "
        "failing and why, our capture and the web archive's copy; filters by state, status, host and year "
        "(see [Dead links](#dead-links)); `.csv` and `.json`",
        formats=DEAD_LINK_FORMATS,
    ),
)


@hookimpl
def register_routes():
    return ROUTES.for_datasette()


@hookimpl
def extra_css_urls(datasette):
    """The reader's layout (reader/static/reader.css) on every page: dates on one line, titles with room."""
    return [datasette.urls.static_plugins(PLUGIN_NAME, "reader.css")]


@hookimpl
def register_facet_classes():
    return [SiteFacet]


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """Titles open the reading view (digests) or the edition page (editions); a digest's `edition_id` opens
    its edition (by the old address, which redirects to the lasting one). Markup.format escapes every value."""
    if isinstance(value, dict) and "value" in value and tilde_encode(database) != database and column != "edition_id":
        return _foreign_key_link(datasette, database, table, column, value)
    site = site_cell(datasette, database, table, column, value)
    if site is not None:
        return site
    if table in ("link_health", "link_targets") and column == "capture_warc" and value and "id" in row.keys():
        return replay.capture_cell(datasette, database, row["id"])  # its capture's lasting address
    if table not in ("digests", "editions") or value is None:
        return None
    keys = row.keys()
    if column == "title" and "id" in keys:
        if table == "digests":
            url = ROUTES.url(datasette, "digest", database=database, id=row["id"])
        else:
            slug = row["slug"] if "slug" in keys and row["slug"] else row["id"]
            url = ROUTES.url(datasette, "edition", database=database, slug=slug)
        return Markup('<a class="{}" href="{}">{}</a>').format(f"{table[:-1]}-view", url, value)
    if column == "edition_id" and table == "digests":
        # Datasette expands a foreign key into a dict ({"value": 37, "label": "its title"}) on table pages.
        raw, label = (value.get("value"), value.get("label")) if isinstance(value, dict) else (value, None)
        if raw is None:
            return None
        url = ROUTES.url(datasette, "edition", database=database, slug=raw)
        return Markup('<a class="edition-link" href="{}">edition {}</a>').format(url, label or raw)
    if column == "slug" and table == "editions":
        return Markup('<a href="{}">{}</a>').format(
            ROUTES.url(datasette, "edition", database=database, slug=value), value
        )
    return None


def _foreign_key_link(datasette, database: str, table: str, column: str, value: dict):
    """An expanded foreign key's link, as Datasette 0.65 draws it, for a database whose name is not its own
    path (a space, a quote): Datasette puts that name into the href as it is, unescaped and unencoded."""

    async def link():
        keys = await datasette.get_database(database).foreign_keys_for_table(table)
        other = next((key["other_table"] for key in keys if key["column"] == column), None)
        if other is None:
            return None
        href = datasette.urls.row(database, other, tilde_encode(str(value["value"])))
        label = value.get("label")
        if label is not None and label != value["value"]:
            return Markup('<a href="{}">{}</a>&nbsp;<em>{}</em>').format(href, label or "-", value["value"])
        return Markup('<a href="{}">{}</a>').format(href, value["value"])

    return link


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
    databases = {name: _fresh(_metadata_for(tuple(_reader_paths(datasette, name).items()))) for name in names}
    return {**instance_metadata(), "databases": databases}


@functools.lru_cache(maxsize=64)
def _metadata_for(paths: tuple[tuple[str, str], ...]) -> dict:
    """An archive's metadata, built once per set of reader addresses: Datasette asks for it several times
    for every page it serves (each permission check reads the metadata), and building it formats every
    table's description again."""
    return database_metadata(dict(paths))


def _fresh(value):
    """A copy of the cached metadata's dicts and lists (their strings shared): Datasette merges the
    operator's own metadata (`allow` blocks) into what a plugin returns, in place, and must never write
    into the cache."""
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fresh(item) for item in value]
    return value


def _reader_paths(datasette, name: str) -> dict[str, str]:
    return {
        "search": ROUTES.url(datasette, "search", database=name),
        "report": ROUTES.url(datasette, "report", database=name),
        "links": ROUTES.url(datasette, "dead_links", database=name),
        "feed": ROUTES.url(datasette, "feed", database=name),
        "editions": datasette.urls.table(name, "editions"),
    }


@hookimpl
def canned_queries(datasette, database):
    return archive_queries() if database in _archive_names(datasette) else None


@hookimpl
def extra_template_vars(request, datasette, database):
    """The header's search box searches the page's archive (else the first archive served), among those the
    reader may see: a private archive's name never appears on another's pages."""

    async def template_vars():
        names = _archive_names(datasette)
        actor = request.actor if request is not None else None
        current = database
        if current is None and request is not None and request.url_vars.get("database"):
            current = tilde_decode(request.url_vars["database"])
        target = None
        for name in [current] if current in names else names:
            if await access.can_read(datasette, actor, name, access.SEARCH_TABLES):
                target = name
                break
        return {
            # Datasette's footer names its version from this, which its own views set and a plugin's page lacks
            # (the footer's link then read "Datasette v").
            "datasette_version": datasette_version,
            "reader_search_path": ROUTES.url(datasette, "search", database=target) if target else None,
            "reader_query": (request.args.get("q") or "") if request is not None and target else "",
        }

    return template_vars


@hookimpl(hookwrapper=True)
def handle_exception(datasette, request, exception):
    """A 4xx (an address that names nothing, a malformed id) is the reader's error page, with its header
    and a way home, and nothing in the serve log. Datasette 0.65's own handler prints a traceback of every
    error, rich's when rich is importable, which fails outside an `except` block (a route that matched
    nothing) and turned such a 404 into a 500. Its answer is replaced before it runs; a 5xx is Datasette's."""
    outcome = yield
    if isinstance(exception, Base400) and exception.status < 500:
        outcome.force_result([lambda: _error_page(datasette, request, exception)])


async def _error_page(datasette, request, exception) -> Response:
    status = exception.status
    message = str(exception.args[0]) if exception.args else "Not found"
    if request.path.split("?")[0].endswith(".json"):
        return Response.json({"ok": False, "error": message, "status": status, "title": None}, status=status)
    context = {"status": status, "error": message, "archives": _archive_names(datasette)}
    html = await datasette.render_template("reader_error.html", context, request=request)
    return Response.html(html, status=status)
