"""Sites named as they name themselves, on every page of the reader: never a host and port.

A page asks `site_labels_of(db)` once (storage.sites: the operator's DIGEST_SITE_NAMES, else the site's own
title; core.site_names.site_labels: else the host without its port, and never one label for two sites), then
names a site with `label` and the sites a stored note names (`editions.sites`, a conflict, a failure's
message) with `core.site_names.with_site_names`. Datasette's own table pages get the same names through the
cells (`site_cell`) and a facet type (`SiteFacet`, `{"site": "sites"}` in the metadata).
"""

from __future__ import annotations

from datasette.facets import ColumnFacet
from markupsafe import Markup

from core.site_names import site_labels, with_site_names
from storage.sites import site_names

# The columns that hold a site as digests.site names it, or name sites so (an edition's conflicts), and a
# link's host (a publisher's own post is cited: its host is a site of the archive).
SITE_COLUMNS = {
    ("digests", "site"),
    ("editions", "sites"),
    ("editions", "conflicts"),
    ("editions", "conflicts_between_sites"),
    ("editions", "conflicts_within_post"),
    ("link_targets", "host"),
    ("link_health", "host"),
}


async def site_labels_of(db) -> dict[str, str]:
    """Every site of the archive → what the reader calls it."""
    return await db.execute_fn(lambda conn: site_labels(site_names(conn)))


def label(labels: dict[str, str], site: str | None) -> str:
    """A site's label; a site the archive does not know (a link's host) is shown as it is."""
    return labels.get(site or "", site or "")


def named(labels: dict[str, str], text: str | None) -> str | None:
    """A stored text with the sites it names replaced by their labels."""
    return with_site_names(text, labels) if text else text


def site_cell(datasette, database: str, table: str | None, column: str, value):
    """A table cell holding a site or sites: its label, the stored value kept as the title; None for any other."""
    if (table, column) not in SITE_COLUMNS or not isinstance(value, str) or not value:
        return None

    async def cell():
        labels = await site_labels_of(datasette.get_database(database))
        shown = named(labels, value)
        if shown == value:
            return None  # a link's host that is no site of the archive: Datasette shows it as it is
        return Markup('<span class="site-name" title="{}">{}</span>').format(value, shown)

    return cell


class SiteFacet(ColumnFacet):
    """A column facet whose values are sites (`{"site": "sites"}` in a table's facets): each value is labelled
    with the site's name; its filter is the stored value, as a column facet's."""

    type = "site"

    async def facet_results(self):
        results, timed_out = await super().facet_results()
        labels = await site_labels_of(self.ds.get_database(self.database))
        for facet in results:
            for value in facet["results"]:
                value["label"] = named(labels, str(value["label"])) if value["label"] is not None else None
        return results, timed_out
