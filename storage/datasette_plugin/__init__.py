"""Datasette plugin: read a digest the way it was published, at `/-/digest/<database>/<id>`.

Entries appear in order under their section headings, with their (sanitised) links clickable,
the number and date on top, and links to the previous and next digest. In the `digests` table,
each title links to this view. Registered through the `datasette` entry point in pyproject.toml.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from crawler.parsing.sanitise import sanitise_html
from storage.datasette import DIGEST_FOR_VIEW, ENTRIES_FOR_VIEW, NEIGHBOURS_FOR_VIEW



def digest_path(database: str, digest_id: int) -> str:
    return f"/-/digest/{database}/{digest_id}"


async def _is_archive(db) -> bool:
    return await db.table_exists("digests") and await db.table_exists("entries")


async def digest_view(datasette, request):
    database = request.url_vars["database"]
    try:
        db = datasette.get_database(database)
    except KeyError:
        raise NotFound(f"no database {database}") from None
    if not await _is_archive(db):
        raise NotFound(f"{database} is not a digest archive")
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


@hookimpl
def register_routes():
    return [(r"^/-/digest/(?P<database>[^/]+)/(?P<id>\d+)$", digest_view)]


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """In the digests table, a title links to the digest's reading view."""
    if table == "digests" and column == "title" and value and "id" in row.keys():
        return Markup(f'<a class="digest-view" href="{datasette.urls.path(digest_path(database, row["id"]))}">'
                      f"{escape(value)}</a>")
    return None
