"""The reader's reads: every statement the reader package (the Datasette plugin) runs, as named SQL.

The plugin runs them with Datasette's own database objects; nothing here imports Datasette or Scrapy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# Editions in reading order: by issue date (else first publication), undated last, then by slug.
EDITION_DAY = "coalesce(issue_date, substr(first_published, 1, 10), '9999-12-31')"

EDITION_BY_SLUG = f"""
SELECT id, slug, title, number, issue_date, headline, first_published, sites, posts, conflicts,
       conflicts_between_sites, conflicts_within_post, first_seen, updated, {EDITION_DAY} AS day
FROM editions WHERE slug = :slug
"""
EDITION_SLUG_BY_ID = "SELECT slug FROM editions WHERE id = :id"
# Previous and next in that order: the nearest on the same day by slug, else the nearest day. Each lookup is
# a search of the index on (day, slug) (schema.py); a comparison of the pair as a row value scans it instead.
EDITION_NEIGHBOURS = f"""
WITH previous AS (
  SELECT coalesce(
    (SELECT slug FROM editions WHERE {EDITION_DAY} = :day AND slug < :slug ORDER BY slug DESC LIMIT 1),
    (SELECT slug FROM editions WHERE {EDITION_DAY} < :day ORDER BY {EDITION_DAY} DESC, slug DESC LIMIT 1)
  ) AS slug
), next AS (
  SELECT coalesce(
    (SELECT slug FROM editions WHERE {EDITION_DAY} = :day AND slug > :slug ORDER BY slug LIMIT 1),
    (SELECT slug FROM editions WHERE {EDITION_DAY} > :day ORDER BY {EDITION_DAY}, slug LIMIT 1)
  ) AS slug
)
SELECT previous.slug AS previous_slug, (SELECT title FROM editions WHERE slug = previous.slug) AS previous_title,
       next.slug AS next_slug, (SELECT title FROM editions WHERE slug = next.slug) AS next_title
FROM previous, next
"""
# The posts of an edition in the order its fields are taken from (core.editions.member_order).
EDITION_SOURCES = """
SELECT id, site, title, url, published, number, issue_date, recovered_from, captured_at, memento_url
FROM digests WHERE edition_id = :id
ORDER BY coalesce(published, '9999'), site, url
"""
ENTRIES_OF_DIGEST = "SELECT id, position, section, text, html FROM entries WHERE digest_id = :id ORDER BY position"

# The reading view of one post: the post, its edition, its neighbours on the same site.
DIGEST_FOR_VIEW = """
SELECT d.id, d.number, d.title, d.headline, d.issue_date, d.published, d.dateline, d.url, d.site, d.entry_count,
       d.link_count, d.first_seen, d.last_changed, d.recovered_from, d.captured_at, d.memento_url,
       e.slug AS edition_slug, e.title AS edition_title, e.sites AS edition_sites, e.posts AS edition_posts
FROM digests d LEFT JOIN editions e ON e.id = d.edition_id WHERE d.id = :id
"""
DIGEST_DAY = "coalesce(published, issue_date, '9999')"
_THIS_DAY = "coalesce(d.published, d.issue_date, '9999')"
# As for editions: the same day by id, else the nearest day, each a search of the index on (site, day, id).
DIGEST_NEIGHBOURS = f"""
SELECT
  coalesce(
    (SELECT id FROM digests WHERE site = d.site AND {DIGEST_DAY} = {_THIS_DAY} AND id < d.id ORDER BY id DESC LIMIT 1),
    (SELECT id FROM digests WHERE site = d.site AND {DIGEST_DAY} < {_THIS_DAY}
     ORDER BY {DIGEST_DAY} DESC, id DESC LIMIT 1)
  ) AS previous_id,
  coalesce(
    (SELECT id FROM digests WHERE site = d.site AND {DIGEST_DAY} = {_THIS_DAY} AND id > d.id ORDER BY id LIMIT 1),
    (SELECT id FROM digests WHERE site = d.site AND {DIGEST_DAY} > {_THIS_DAY} ORDER BY {DIGEST_DAY}, id LIMIT 1)
  ) AS next_id
FROM digests d WHERE d.id = :id
"""

# The Atom feed: newest first publication first, a page at a time.
FEED_PAGE_SIZE = 50
EDITIONS_FOR_FEED = f"""
SELECT id, slug, title, number, issue_date, headline, sites, conflicts, first_published, first_seen, updated
FROM editions ORDER BY {EDITION_DAY} DESC, slug DESC LIMIT :limit OFFSET :offset
"""
EDITION_COUNT = "SELECT count(*) AS n FROM editions"

# Where a reader starts: the database's index page.
START_COUNTS = """
SELECT (SELECT count(*) FROM editions) AS editions, (SELECT count(*) FROM digests) AS digests,
       (SELECT count(DISTINCT site) FROM digests) AS sites
"""


def is_archive(path: str | Path) -> bool:
    """Whether the SQLite file at `path` is a digest archive (has its tables); read-only, never raises."""
    try:
        connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except (sqlite3.Error, OSError, ValueError):
        return False
    return {"digests", "editions", "entries"} <= tables
