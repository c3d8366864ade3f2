"""What each site calls itself: the `sites` table (one row per site, keyed as `digests.site`).

A crawl writes its own site's row only: the name the site gave (`learn_site_name`, a stronger source replacing
a weaker one: core.site_names.SOURCES) and the operator's name for it (`choose_site_name`, from
DIGEST_SITE_NAMES, written by every crawl of the site so that a name taken out of the setting goes too). The
reader reads every site's name in one query (`site_names`): the operator's, else the site's own, else None
(the reader then shows the host: core.site_names.site_labels).
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from core.site_names import source_rank

SITE_ROW = "SELECT name, source FROM sites WHERE site = :site"
# Every site of the archive, with the name to show when there is one. An archive of an older schema, opened
# read-only by the reader and never migrated, has no `sites` table: SITES_OF_DIGESTS then.
SITE_NAMES = """
SELECT d.site, coalesce(s.setting_name, s.name) AS name
FROM (SELECT DISTINCT site FROM digests UNION SELECT site FROM sites) AS d LEFT JOIN sites s ON s.site = d.site
"""
SITES_OF_DIGESTS = "SELECT DISTINCT site, NULL AS name FROM digests"


def learn_site_name(db: Database, site: str, name: str, source: str, url: str, now: str) -> bool:
    """Keep what `site` calls itself, unless a stronger source already named it; True when the row changed."""
    row = db.execute(SITE_ROW, {"site": site}).fetchone()
    if row is not None and (source_rank(source) < source_rank(row[1]) or tuple(row) == (name, source)):
        return False
    db.execute(
        "INSERT INTO sites (site, name, source, source_url, named_at) VALUES (:site, :name, :source, :url, :now) "
        "ON CONFLICT (site) DO UPDATE SET name = excluded.name, source = excluded.source, "
        "source_url = excluded.source_url, named_at = excluded.named_at",
        {"site": site, "name": name, "source": source, "url": url, "now": now},
    )
    return True


def site_name_source(db: Database, site: str) -> str | None:
    """Where the stored name of `site` came from (None: it has none)."""
    row = db.execute(SITE_ROW, {"site": site}).fetchone()
    return row[1] if row is not None and row[0] else None


def choose_site_name(db: Database, site: str, name: str | None) -> None:
    """The operator's name for `site` (DIGEST_SITE_NAMES), or none any more."""
    if name is None:
        db.execute("UPDATE sites SET setting_name = NULL WHERE site = :site", {"site": site})
        return
    db.execute(
        "INSERT INTO sites (site, setting_name) VALUES (:site, :name) "
        "ON CONFLICT (site) DO UPDATE SET setting_name = excluded.setting_name",
        {"site": site, "name": name},
    )


def site_names(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Every site of the archive → the name to show (None: it gave none, and the setting names it not)."""
    has_sites = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sites'").fetchone()
    return {site: name for site, name in conn.execute(SITE_NAMES if has_sites else SITES_OF_DIGESTS)}
