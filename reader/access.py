"""Who may read what: every page the reader adds is under Datasette's permissions, as Datasette's own pages are.

A page checks `view-table` on each table it reads, which cascades to `view-database` and `view-instance`
exactly as Datasette's table page does (`ensure_permissions` stops at the first check that decides): with
`allow` metadata on the instance, a database or a table, the reader refuses whom Datasette refuses. Pages
that name other databases (the header's search box) offer only the archives the reader may see.
"""

from __future__ import annotations

from datasette.utils.asgi import Forbidden

# The tables each of the reader's pages reads (a reader allowed these may see the page).
DIGEST_TABLES = ("digests", "entries", "editions")
EDITION_TABLES = ("editions", "digests", "entries")
SEARCH_TABLES = ("editions", "digests", "entries")
# The search's filter by cited domain, and the domains it suggests.
DOMAIN_FILTER_TABLES = ("links",)
REPORT_TABLES = ("editions", "digests", "crawl_runs", "failures", "digest_urls")
FEED_TABLES = ("editions",)
# Link health beside an entry's links, and our captures of linked pages.
LINK_TABLES = ("links", "link_targets")
CAPTURE_TABLES = ("link_targets",)
# The dead-links page: the links, their checks, and the digests and editions that cite them.
DEAD_LINK_TABLES = ("link_targets", "link_checks", "links", "digests", "editions")


def _checks(database: str, table: str) -> list:
    return [("view-table", (database, table)), ("view-database", database), "view-instance"]


async def ensure_can_read(datasette, actor: dict | None, database: str, tables: tuple[str, ...]) -> None:
    """Raise Forbidden (a 403) unless the actor may view every one of `tables` of `database`."""
    for table in tables:
        await datasette.ensure_permissions(actor, _checks(database, table))


async def can_read(datasette, actor: dict | None, database: str, tables: tuple[str, ...]) -> bool:
    try:
        await ensure_can_read(datasette, actor, database, tables)
    except Forbidden:
        return False
    return True
