"""Datasette plugin: the archive as a reader wants it.

- `/-/digest/<database>/<id>`: a digest the way it was published: entries in order under their section
  headings, links clickable, number and date on top, links to the previous and next digest.
- `/-/edition/<database>/<id>`: an edition: the digest once, where it was published, what the sites
  disagree on, and a marked diff where its posts differ.
- `/-/editions/<database>.atom`: an Atom feed of new and changed editions, to subscribe to.

In the `digests` and `editions` tables, titles link to these views. Registered through the
`datasette` entry point in pyproject.toml.
"""

from __future__ import annotations

import difflib

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from crawler.parsing.sanitise import sanitise_html
from storage.datasette import (
    DIGEST_FOR_VIEW, EDITION_FOR_VIEW, EDITION_SOURCES, EDITIONS_FOR_FEED, ENTRIES_FOR_VIEW, ENTRY_TEXTS_FOR_DIFF,
    NEIGHBOURS_FOR_VIEW,
)



def digest_path(database: str, digest_id: int) -> str:
    return f"/-/digest/{database}/{digest_id}"


def edition_path(database: str, edition_id: int) -> str:
    return f"/-/edition/{database}/{edition_id}"


async def digest_view(datasette, request):
    database, db = await _database_with(datasette, request, "entries")
    digest_id = int(request.url_vars["id"])
    digest = (await db.execute(DIGEST_FOR_VIEW, {"id": digest_id})).first()
    if digest is None:
        raise NotFound(f"no digest {digest_id}")
    sections: list[dict] = []
    for entry in (await db.execute(ENTRIES_FOR_VIEW, {"id": digest_id})).rows:
        if not sections or sections[-1]["name"] != entry["section"]:
            sections.append({"name": entry["section"], "entries": []})
        # Stored HTML was sanitised at parse time; cleaning again here costs little and guards the reader.
        html = sanitise_html(entry["html"])
        sections[-1]["entries"].append({"position": entry["position"], "html": Markup(html)})
    neighbours = (await db.execute(NEIGHBOURS_FOR_VIEW, {"id": digest_id})).first()
    context = {
        "database": database,
        "digest": dict(digest),
        "sections": sections,
        "previous_path": digest_path(database, neighbours["previous_id"]) if neighbours["previous_id"] else None,
        "next_path": digest_path(database, neighbours["next_id"]) if neighbours["next_id"] else None,
    }
    return Response.html(await datasette.render_template("digest.html", context, request=request))


def _words_diff(before: str, after: str) -> Markup:
    """`before` → `after`, word by word: removed words in <del>, added ones in <ins>."""
    old, new = before.split(), after.split()
    pieces = []
    for operation, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if operation == "equal":
            pieces.append(escape(" ".join(old[i1:i2])))
        if operation in ("delete", "replace"):
            pieces.append(Markup("<del>%s</del>") % " ".join(old[i1:i2]))
        if operation in ("insert", "replace"):
            pieces.append(Markup("<ins>%s</ins>") % " ".join(new[j1:j2]))
    return Markup(" ").join(pieces)


def entries_diff(first: list[dict], second: list[dict]) -> list[dict]:
    """The entries of two posts of one digest, aligned: the same entries once (as published, HTML),
    entries only in one post marked, reworded entries diffed word by word."""
    first_texts, second_texts = [e["text"] for e in first], [e["text"] for e in second]
    out = []
    for operation, i1, i2, j1, j2 in difflib.SequenceMatcher(a=first_texts, b=second_texts,
                                                             autojunk=False).get_opcodes():
        if operation == "equal":
            out += [{"change": "same", "html": Markup(sanitise_html(e["html"]))} for e in first[i1:i2]]
            continue
        removed, added = first[i1:i2], second[j1:j2]
        for position in range(max(len(removed), len(added))):
            if position < len(removed) and position < len(added):
                out.append({"change": "reworded", "html": _words_diff(removed[position]["text"],
                                                                      added[position]["text"])})
            elif position < len(removed):
                out.append({"change": "removed", "html": Markup("<del>%s</del>") % removed[position]["text"]})
            else:
                out.append({"change": "added", "html": Markup("<ins>%s</ins>") % added[position]["text"]})
    return out


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


async def edition_view(datasette, request):
    database, db = await _database_with(datasette, request, "editions")
    edition_id = int(request.url_vars["id"])
    edition = (await db.execute(EDITION_FOR_VIEW, {"id": edition_id})).first()
    if edition is None:
        raise NotFound(f"no edition {edition_id}")
    sources = [dict(row) for row in (await db.execute(EDITION_SOURCES, {"id": edition_id})).rows]
    entries_of = []
    for source in sources:
        source["view_path"] = digest_path(database, source["id"])
        rows = (await db.execute(ENTRY_TEXTS_FOR_DIFF, {"id": source["id"]})).rows
        entries_of.append([dict(row) for row in rows])
    entries = entries_diff(entries_of[0], entries_of[1]) if len(entries_of) > 1 else \
        [{"change": "same", "html": Markup(sanitise_html(e["html"]))} for e in (entries_of[0] if entries_of else [])]
    context = {"database": database, "edition": dict(edition), "sources": sources, "entries": entries}
    return Response.html(await datasette.render_template("edition.html", context, request=request))


async def editions_feed(datasette, request):
    """Atom (RFC 4287): the newest new or changed editions first, each linking to its edition page."""
    database, db = await _database_with(datasette, request, "editions")
    rows = (await db.execute(EDITIONS_FOR_FEED)).rows
    base = datasette.absolute_url(request, "/")
    feed_id = f"{base}-/editions/{database}.atom"
    updated = rows[0]["updated"] if rows else "1970-01-01T00:00:00+00:00"
    entries = []
    for row in rows:
        link = datasette.absolute_url(request, datasette.urls.path(edition_path(database, row["id"])))
        summary = " · ".join(part for part in (
            f"number {row['number']}" if row["number"] is not None else None,
            f"issue of {row['issue_date']}" if row["issue_date"] else None,
            f"on {row['sites']}", row["headline"], f"the sites disagree: {row['conflicts']}" if row["conflicts"] else None,
        ) if part)
        entries.append(
            f"<entry><id>{escape(link)}</id><title>{escape(row['title'] or '')}</title>"
            f"<updated>{escape(row['updated'])}</updated><published>{escape(row['first_seen'])}</published>"
            f'<link rel="alternate" type="text/html" href="{escape(link)}"/>'
            f"<summary>{escape(summary)}</summary></entry>")
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
           f"<id>{escape(feed_id)}</id><title>New and changed editions: {escape(database)}</title>"
           f"<updated>{escape(updated)}</updated><author><name>digest-archive</name></author>"
           f'<link rel="self" href="{escape(feed_id)}"/>' + "".join(entries) + "</feed>")
    return Response(xml, content_type="application/atom+xml; charset=utf-8")


@hookimpl
def register_routes():
    return [
        (r"^/-/digest/(?P<database>[^/]+)/(?P<id>\d+)$", digest_view),
        (r"^/-/edition/(?P<database>[^/]+)/(?P<id>\d+)$", edition_view),
        (r"^/-/editions/(?P<database>[^/]+)\.atom$", editions_feed),
    ]


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """In the digests and editions tables, a title links to the reading view."""
    if column == "title" and value and "id" in row.keys() and table in ("digests", "editions"):
        path = digest_path(database, row["id"]) if table == "digests" else edition_path(database, row["id"])
        return Markup(f'<a class="{table[:-1]}-view" href="{datasette.urls.path(path)}">{escape(value)}</a>')
    return None
