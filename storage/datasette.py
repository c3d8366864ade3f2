"""Datasette metadata for an archive: titles, descriptions, facets, labels and canned queries."""

from __future__ import annotations

from crawler.failures import FAILURE_KINDS

from .report import (
    DUPLICATE_NUMBERS, EDITION_CONFLICTS, MISSING_NUMBERS, OUT_OF_ORDER, SINGLE_SITE_EDITIONS, WITHOUT_NUMBER,
)

SOURCE = "Iran Interlink Weekly Digest, as published on nejatngo.org and iran-interlink.org"
SOURCE_URL = "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest"

DIGESTS_MENTIONING_DOMAIN = """
SELECT d.id AS digest_id, d.number, d.title, d.published, l.url, l.text
FROM links l JOIN digests d ON d.id = l.digest_id
WHERE l.domain = :domain ORDER BY d.published, d.id, l.id
"""

ENTRIES_PER_SECTION_PER_YEAR = """
SELECT d.year, coalesce(e.section, '(no section)') AS section, count(*) AS entries
FROM entries e JOIN digests d ON d.id = e.digest_id
GROUP BY d.year, section ORDER BY d.year, section
"""

SEARCH_ENTRIES = """
SELECT d.number, d.title, d.published, e.section, snippet(entries_fts, -1, '[', ']', '…', 20) AS snippet
FROM entries_fts JOIN entries e ON e.rowid = entries_fts.rowid JOIN digests d ON d.id = e.digest_id
WHERE entries_fts MATCH :query ORDER BY d.published
"""


# The reading view of one digest (storage/datasette_plugin): the digest, its entries, its neighbours.
DIGEST_FOR_VIEW = """
SELECT id, number, title, headline, issue_date, published, dateline, url, site, entry_count, link_count,
       first_seen, last_changed FROM digests WHERE id = :id
"""
ENTRIES_FOR_VIEW = "SELECT id, position, section, html FROM entries WHERE digest_id = :id ORDER BY position"
NEIGHBOURS_FOR_VIEW = """
SELECT
  (SELECT id FROM digests WHERE (coalesce(published, issue_date), id) < (coalesce(d.published, d.issue_date), d.id)
   ORDER BY coalesce(published, issue_date) DESC, id DESC LIMIT 1) AS previous_id,
  (SELECT id FROM digests WHERE (coalesce(published, issue_date), id) > (coalesce(d.published, d.issue_date), d.id)
   ORDER BY coalesce(published, issue_date), id LIMIT 1) AS next_id
FROM digests d WHERE d.id = :id
"""


EDITION_FOR_VIEW = """
SELECT id, title, number, issue_date, headline, first_published, sites, posts, conflicts, first_seen, updated
FROM editions WHERE id = :id
"""
EDITION_SOURCES = """
SELECT id, site, title, url, published, number, issue_date FROM digests WHERE edition_id = :id
ORDER BY coalesce(published, issue_date), site
"""
ENTRY_TEXTS_FOR_DIFF = "SELECT text, html FROM entries WHERE digest_id = :id ORDER BY position"
EDITIONS_FOR_FEED = """
SELECT id, title, number, issue_date, headline, sites, conflicts, first_seen, updated FROM editions
ORDER BY updated DESC, id DESC LIMIT 50
"""

READABLE_COLUMNS = ("number", "title", "headline", "published", "issue_date", "entry_count", "link_count")
READABLE_DIGESTS = "?_sort=number&" + "&".join(f"_col={column}" for column in READABLE_COLUMNS)


def metadata(database_name: str = "archive") -> dict:
    """Metadata for `datasette serve <database_name>.db --metadata metadata.json`."""
    return {
        "title": "Iran Interlink Weekly Digest archive",
        "description": "Every digest, its entries and the links in them, crawled by digest-archive.",
        "source": SOURCE,
        "source_url": SOURCE_URL,
        "databases": {
            database_name: {
                "tables": {
                    "editions": {
                        "description_html": (
                            "One row per digest as an editorial unit: the same digest published on several sites "
                            "is one edition. <code>number</code> from a numbered title, <code>issue_date</code> from "
                            "a dated title or the dateline, <code>conflicts</code> where the sites disagree. Titles "
                            "open the edition with its sources and a diff of its posts. "
                            '<a href="/-/editions/{database}.atom">Atom feed of new and changed editions</a>.'
                        ).replace("{database}", database_name),
                        "label_column": "title",
                        "sort_desc": "first_published",
                        "facets": ["year", "sites"],
                    },
                    "digests": {
                        "description_html": (
                            "One row per digest post; <code>number</code> is as published (null for dated titles). "
                            "Titles open the digest as it was published. "
                            f'<a href="{READABLE_DIGESTS}">Show only number, title, date and counts</a>.'),
                        "label_column": "title",
                        "sort_desc": "published",
                        "facets": ["year", "site"],
                    },
                    "entries": {
                        "description": "One row per `++` entry, in order, with its section heading.",
                        "facets": ["section"],
                        "sort": "id",
                    },
                    "links": {
                        "description": "Every link inside an entry, canonicalised, with its domain.",
                        "facets": ["domain"],
                    },
                    "digest_urls": {"description": "Every URL form a digest was reached at.", "hidden": True},
                    "digest_revisions": {"description": "Earlier versions of digests that were edited."},
                    "crawl_runs": {"description": "One row per crawl, with its counts and status.",
                                   "sort_desc": "id"},
                    "failures": {"description_html": "Pages that could not become a digest, and why. Kinds: "
                                 + "; ".join(f"<code>{kind}</code> {meaning}" for kind, meaning in FAILURE_KINDS.items())
                                 + ".",
                                 "facets": ["kind"], "sort_desc": "id"},
                    "pages": {"description": "Stored copies of fetched post pages (compressed).", "hidden": True},
                },
                "queries": {
                    "single_site_editions": {"title": "Editions published on one site only",
                                             "sql": SINGLE_SITE_EDITIONS.strip()},
                    "edition_conflicts": {"title": "Where the sites disagree", "sql": EDITION_CONFLICTS.strip()},
                    "digests_mentioning_domain": {"title": "Digests linking to a domain",
                                                  "sql": DIGESTS_MENTIONING_DOMAIN.strip()},
                    "entries_per_section_per_year": {"title": "Entries per section per year",
                                                     "sql": ENTRIES_PER_SECTION_PER_YEAR.strip()},
                    "search_entries": {"title": "Search entries", "sql": SEARCH_ENTRIES.strip()},
                    "missing_numbers": {"title": "Numbers missing from the series", "sql": MISSING_NUMBERS.strip()},
                    "duplicate_numbers": {"title": "Numbers used by more than one edition",
                                          "sql": DUPLICATE_NUMBERS.strip()},
                    "out_of_order": {"title": "Numbers out of order with their dates", "sql": OUT_OF_ORDER.strip()},
                    "without_number": {"title": "Digests without a number (dated titles)",
                                       "sql": WITHOUT_NUMBER.strip()},
                },
            }
        },
    }
