"""The dead-links page, `/-/links/<database>`: each failing or dead link the archive cites, why it fails, the
editions that cite it and every copy of it (ours, the web archive's); filters by state, status, host and year
of its first failure, each value counted; the same rows as CSV and JSON (`.csv`, `.json` or `?_format=`).

The rows and counts are storage's (storage.deadlinks); this module makes their addresses (under base_url, from
the route table) and lays them out. The page reads the link tables and the editions' tables, so a reader
who may not view one of them gets Datasette's 403.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from datasette.utils.asgi import Response

from storage.deadlinks import FILTERS, DeadLink, DeadLinks, dead_links
from storage.export import csv_cell

from . import access
from .links import replay_address, web_address
from .replay import capture_address

FORMATS = ("json", "csv")
# The CSV's columns, in order (a cited_by of several editions is one cell, addresses separated by spaces).
CSV_COLUMNS = (
    "url",
    "anchor_text",
    "state",
    "status",
    "reason",
    "http_status",
    "failing_since",
    "dead_since",
    "host",
    "year",
    "cited_by",
    "our_copy",
    "captured_at",
    "archived_copy",
)


async def dead_links_view(datasette, request):
    from .plugin import ROUTES, _database_with  # the route table is the plugin's; this view is one of its rows

    database, db = await _database_with(datasette, request, access.DEAD_LINK_TABLES)
    form = request.url_vars.get("format") or request.args.get("_format") or None
    if form not in (None, *FORMATS):
        form = None
    asked = {name: (request.args.get(name) or "").strip() or None for name in FILTERS}
    found: DeadLinks = await db.execute_fn(lambda conn: dead_links(conn, asked))
    page_path = ROUTES.url(datasette, "dead_links", database=database)

    def absolute(path: str) -> str:
        """Addresses in CSV and JSON are absolute (they are read away from the page); the page's are paths."""
        return datasette.absolute_url(request, path) if form else path

    def edition_url(citation) -> str:
        if citation.slug:
            path = ROUTES.url(datasette, "edition", database=database, slug=citation.slug)
        else:
            path = ROUTES.url(datasette, "digest", database=database, id=citation.digest_id)
        anchor = f"#entry-{citation.entry_ids[0]}" if citation.entry_ids else ""
        return absolute(path + anchor)

    def capture_url(state: dict) -> str | None:
        return capture_address(datasette, database, state)  # its lasting, timestamped address

    def row(link: DeadLink) -> dict:
        state = {
            "id": link.id,
            "url": link.url,
            "final_url": link.final_url,
            "captured_at": link.captured_at,
            "capture_warc": "yes" if link.has_capture else None,
        }
        ours = replay_address(state, capture_url)
        return {
            "url": link.url,
            "href": web_address(link.url),
            "anchor_texts": link.anchor_texts,
            "state": link.state,
            "status": link.status,
            "reason": link.reason,
            "http_status": link.http_status,
            "last_status": link.last_status,
            "checked_at": link.checked_at,
            "failing_since": link.failing_since,
            "dead_since": link.dead_since,
            "host": link.host,
            "year": link.year,
            "cited_by": [
                {
                    "edition_url": edition_url(citation),
                    "title": citation.title,
                    "number": citation.number,
                    "date": citation.day,
                    "entries": len(citation.entry_ids),
                }
                for citation in link.cited_by
            ],
            "our_copy": {"url": absolute(ours) if ours.startswith("/") else ours, "captured_at": link.captured_at}
            if ours
            else None,
            "archived_copy": web_address(link.archived_copy),
            "lookup_at": link.lookup_at,
            "lookup_note": link.lookup_note,
        }

    rows = [row(link) for link in found.links]

    def filtered(**change: str | None) -> str:
        """This page's query string with some filters changed (None: left off)."""
        values = {**found.filters, **change}
        query = urlencode({name: value for name, value in values.items() if value})
        return "?" + query if query else "?"

    counts = {
        name: [
            {
                "value": value,
                "count": count,
                "url": filtered(**{name: value}),
                "selected": found.filters.get(name) == value,
            }
            for value, count in found.counts[name]
        ]
        for name in FILTERS
    }
    if form == "json":
        return Response.json(
            {
                "database": database,
                "total": found.total,
                "count": len(rows),
                "filters": found.filters,
                "counts": {
                    name: [{"value": c["value"], "count": c["count"]} for c in values]
                    for name, values in counts.items()
                },
                "links": [{key: value for key, value in r.items() if key != "href"} for r in rows],
            }
        )
    if form == "csv":
        return Response(
            _csv(rows),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="dead-links-{_file_part(database)}.csv"'},
        )
    query = filtered()[1:]
    context = {
        "database": database,
        "rows": rows,
        "total": found.total,
        "filters": found.filters,
        "filter_help": FILTERS,
        "counts": counts,
        "clear_url": {name: filtered(**{name: None}) for name in FILTERS},
        "page_url": page_path,
        "json_url": ROUTES.url(datasette, "dead_links", format="json", database=database)
        + (f"?{query}" if query else ""),
        "csv_url": ROUTES.url(datasette, "dead_links", format="csv", database=database)
        + (f"?{query}" if query else ""),
        "report_url": ROUTES.url(datasette, "report", database=database),
        "health_url": datasette.urls.table(database, "link_health"),
    }
    return Response.html(await datasette.render_template("dead_links.html", context, request=request))


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        flat = {
            **row,
            "anchor_text": " | ".join(row["anchor_texts"]),
            "cited_by": " ".join(citation["edition_url"] for citation in row["cited_by"]),
            "our_copy": row["our_copy"]["url"] if row["our_copy"] else None,
            "captured_at": row["our_copy"]["captured_at"] if row["our_copy"] else None,
        }
        writer.writerow([csv_cell(flat[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _file_part(name: str) -> str:
    """A database name as a safe piece of a file name (a header value, never a second header)."""
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)[:60] or "archive"
