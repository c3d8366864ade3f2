"""The health of the series, in editions: which digests exist on which sites, gaps after merging the sites,
reused numbers, numbers out of order with their dates, conflicts between sites or within a post, empty digests;
the last run of each archive and the pages not stored.

Each check is one SQL query, shared by `digest-archive report`, `summary`, the reader's report page and the
Datasette canned queries.
"""

from __future__ import annotations

from sqlite_utils import Database

# Gaps in the numbers once all sites are merged, as ranges (`first`–`last`).
MISSING_NUMBERS = """
WITH numbers AS (SELECT DISTINCT number FROM digests WHERE number IS NOT NULL),
gaps AS (SELECT number + 1 AS first, lead(number) OVER (ORDER BY number) - 1 AS last FROM numbers)
SELECT first, last, last - first + 1 AS missing FROM gaps WHERE last >= first ORDER BY first
"""

# Numbers used by more than one edition (the same digest on two sites is one edition, so a number
# repeated across sites is not a reuse; the two posts numbered 213 on one site are). The numbers are found
# in the index on (number, edition_id); only their posts are read, in id order (the order of `urls`).
DUPLICATE_NUMBERS = """
WITH reused AS (
  SELECT number FROM digests WHERE number IS NOT NULL GROUP BY number
  HAVING count(DISTINCT coalesce(edition_id, -id)) > 1
)
SELECT number, count(DISTINCT coalesce(edition_id, -id)) AS editions, count(*) AS posts,
       group_concat(url, ' ') AS urls
FROM (SELECT d.number, d.edition_id, d.id, d.url FROM reused JOIN digests d ON d.number = reused.number
      ORDER BY d.number, d.id)
GROUP BY number ORDER BY number
"""

EDITIONS_BY_SITES = """
SELECT sites, count(*) AS editions FROM editions GROUP BY sites ORDER BY count(*) DESC, sites
"""

# Editions published on one site only, in an archive that holds more than one site.
SINGLE_SITE_EDITIONS = """
SELECT slug, number, issue_date, first_published, sites, title FROM editions
WHERE posts = 1 AND (SELECT count(DISTINCT site) FROM digests) > 1 ORDER BY coalesce(issue_date, first_published), slug
"""

# The sites disagree (a number, a date), or one post disagrees with itself (its title's date and its dateline).
EDITION_CONFLICTS = """
SELECT slug, number, issue_date, sites, conflicts_between_sites, conflicts_within_post, title FROM editions
WHERE conflicts IS NOT NULL ORDER BY coalesce(issue_date, first_published), slug
"""

WITHOUT_NUMBER = """
SELECT id, title, issue_date, published, url FROM digests WHERE number IS NULL
ORDER BY coalesce(issue_date, published), id
"""

# A number is out of order when, ordered by date, it is below both of the two numbers published just
# before it, or above both of the two just after it (the real archive has a 167 published where 196
# belongs). Looking two deep keeps the neighbours of a misplaced number from being blamed for it. The
# window reads only the index on (published, id, number); titles are read for the numbers found.
OUT_OF_ORDER = """
WITH ordered AS (
  SELECT id, number, published,
         lag(number, 1) OVER w AS before_1, lag(number, 2) OVER w AS before_2,
         lead(number, 1) OVER w AS after_1, lead(number, 2) OVER w AS after_2
  FROM digests WHERE number IS NOT NULL AND published IS NOT NULL
  WINDOW w AS (ORDER BY published, id)
)
SELECT o.id, o.number, d.title, o.published, o.before_1 AS number_before, o.after_1 AS number_after
FROM ordered o JOIN digests d ON d.id = o.id
WHERE (o.number < o.before_1 AND o.number < o.before_2) OR (o.number > o.after_1 AND o.number > o.after_2)
ORDER BY o.published, o.id
"""

WITHOUT_ENTRIES = "SELECT id, number, title, url FROM digests WHERE coalesce(entry_count, 0) = 0 ORDER BY id"

WITHOUT_DATE = """
SELECT id, number, title, url FROM digests WHERE published IS NULL AND issue_date IS NULL ORDER BY id
"""

# The last run of each archive (start URL) in the file: a crawl of two archives is two runs.
LAST_RUNS = """
SELECT id, start_url, mode, status, started, finished, listing_pages, posts_fetched, new, changed, unchanged, failed
FROM crawl_runs r WHERE mode != 'links' AND id = (SELECT max(id) FROM crawl_runs WHERE start_url = r.start_url)
ORDER BY id
"""

# Pages that failed and were never stored since, whichever run saw them: what a person may want to look at.
UNRESOLVED_FAILURES = """
SELECT kind, url, message, max(at) AS at FROM failures
WHERE url_key NOT IN (SELECT url_key FROM digest_urls) GROUP BY url_key ORDER BY max(id) DESC
"""

# Digests recovered from web archives (`-a mode=recover`), by web archive, and the older versions read from
# their captures (storage/recovered.py writes both).
RECOVERED = """
SELECT recovered_from AS web_archive, count(*) AS digests, min(captured_at) AS first_capture,
       max(captured_at) AS last_capture,
       (SELECT count(*) FROM digest_revisions r WHERE r.recovered_from = d.recovered_from) AS revisions
FROM digests d WHERE recovered_from IS NOT NULL GROUP BY recovered_from ORDER BY recovered_from
"""

# Canned queries for Datasette (reader.metadata): editions where a reader means editions.
EDITIONS_LINKING_TO_DOMAIN = """
SELECT ed.slug, ed.number, ed.issue_date, ed.title, group_concat(DISTINCT d.site) AS sites,
       count(DISTINCT l.url) AS links, min(l.url) AS url
FROM links l JOIN digests d ON d.id = l.digest_id JOIN editions ed ON ed.id = d.edition_id
WHERE l.domain = :domain GROUP BY ed.id ORDER BY coalesce(ed.issue_date, ed.first_published), ed.slug
"""

# An entry published on two sites counts once (its edition's, by its words, case aside). Counted per
# edition and section first, walking each edition's posts and their entries by index (no sort of every
# entry's text), then summed per year.
ENTRIES_PER_SECTION_PER_YEAR = """
WITH per_edition AS (
  SELECT d.edition_id AS edition, coalesce(e.section, '(no section)') AS section,
         count(DISTINCT lower(e.text)) AS entries
  FROM digests d CROSS JOIN entries e ON e.digest_id = d.id
  WHERE d.edition_id IS NOT NULL GROUP BY d.edition_id, 2
)
SELECT ed.year, p.section, sum(p.entries) AS entries, count(*) AS editions
FROM per_edition p JOIN editions ed ON ed.id = p.edition GROUP BY ed.year, p.section ORDER BY ed.year, p.section
"""

CHECKS = {
    "editions_by_sites": EDITIONS_BY_SITES,
    "single_site_editions": SINGLE_SITE_EDITIONS,
    "edition_conflicts": EDITION_CONFLICTS,
    "missing_numbers": MISSING_NUMBERS,
    "duplicate_numbers": DUPLICATE_NUMBERS,
    "without_number": WITHOUT_NUMBER,
    "out_of_order": OUT_OF_ORDER,
    "without_entries": WITHOUT_ENTRIES,
    "without_date": WITHOUT_DATE,
    "last_runs": LAST_RUNS,
    "unresolved_failures": UNRESOLVED_FAILURES,
}

CANNED_QUERIES = {
    "single_site_editions": ("Editions published on one site only", SINGLE_SITE_EDITIONS),
    "edition_conflicts": ("Where the sources disagree (between sites, or within one post)", EDITION_CONFLICTS),
    "editions_linking_to_domain": ("Editions linking to a domain", EDITIONS_LINKING_TO_DOMAIN),
    "entries_per_section_per_year": (
        "Entries per section per year (each edition's entry once)",
        ENTRIES_PER_SECTION_PER_YEAR,
    ),
    "missing_numbers": ("Numbers missing from the series (all sites merged)", MISSING_NUMBERS),
    "duplicate_numbers": ("Numbers used by more than one edition", DUPLICATE_NUMBERS),
    "out_of_order": ("Numbers out of order with their dates", OUT_OF_ORDER),
    "without_number": ("Digest posts without a number (dated titles)", WITHOUT_NUMBER),
}


def _rows(db: Database, sql: str) -> list[dict]:
    cursor = db.execute(sql)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def series_report(db: Database) -> dict:
    """Every check, on the whole file (every archive in it)."""
    report = {name: _rows(db, sql) for name, sql in CHECKS.items()}
    report.update(recovery(db))
    report["digests"] = db.execute("SELECT count(*) FROM digests").fetchone()[0]
    report["editions"] = db.execute("SELECT count(*) FROM editions").fetchone()[0]
    return report


def recovery(db: Database) -> dict:
    """What the web archives gave (digests and older versions, by web archive) and the numbers still missing
    once they are in: what `report` and `summary` both show."""
    recovered = _rows(db, RECOVERED)
    return {
        "recovered": recovered,
        "recovered_digests": sum(row["digests"] for row in recovered),
        "recovered_revisions": db.execute(
            "SELECT count(*) FROM digest_revisions WHERE recovered_from IS NOT NULL"
        ).fetchone()[0],
        "missing_after_recovery": _rows(db, MISSING_NUMBERS),
    }


def runs_and_failures(db: Database) -> dict:
    """The last run of each archive and the pages not stored: what `summary` and `report` both show."""
    return {"last_runs": _rows(db, LAST_RUNS), "unresolved_failures": _rows(db, UNRESOLVED_FAILURES)}


def number_ranges(ranges: list[dict]) -> str:
    """[{first: 1, last: 3}, {first: 7, last: 7}] → '1–3, 7'."""
    return ", ".join(str(r["first"]) if r["first"] == r["last"] else f"{r['first']}\u2013{r['last']}" for r in ranges)


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 edition', '2 editions'."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def failure_line(failure: dict) -> str:
    """`[kind] message`, naming the URL once."""
    message = failure["message"] or ""
    return (
        f"[{failure['kind']}] {message}"
        if failure["url"] in message
        else f"[{failure['kind']}] {failure['url']}: {message}"
    )
