"""The health of the series, in editions: which digests exist on which sites, gaps after merging the sites,
reused numbers, numbers out of order with their dates, conflicts between sites, empty digests.

Each check is one SQL query, shared by `digest-archive report` and the Datasette canned queries.
"""

from __future__ import annotations

from sqlite_utils import Database

MISSING_NUMBERS = """
WITH RECURSIVE bounds(low, high) AS (SELECT min(number), max(number) FROM digests),
series(n) AS (SELECT low FROM bounds WHERE low IS NOT NULL UNION ALL SELECT n + 1 FROM series, bounds WHERE n < high)
SELECT n AS number FROM series WHERE n NOT IN (SELECT number FROM digests WHERE number IS NOT NULL) ORDER BY n
"""

# Numbers used by more than one edition (the same digest on two sites is one edition, so a number
# repeated across sites is not a reuse; the two posts numbered 213 on one site are).
DUPLICATE_NUMBERS = """
SELECT number, count(DISTINCT coalesce(edition_id, -id)) AS editions, count(*) AS posts,
       group_concat(url, ' ') AS urls FROM digests
WHERE number IS NOT NULL GROUP BY number HAVING count(DISTINCT coalesce(edition_id, -id)) > 1 ORDER BY number
"""

EDITIONS_BY_SITES = """
SELECT sites, count(*) AS editions FROM editions GROUP BY sites ORDER BY count(*) DESC, sites
"""

# Editions published on one site only, in an archive that holds more than one site.
SINGLE_SITE_EDITIONS = """
SELECT id, number, issue_date, first_published, sites, title FROM editions
WHERE posts = 1 AND (SELECT count(DISTINCT site) FROM digests) > 1 ORDER BY coalesce(issue_date, first_published), id
"""

EDITION_CONFLICTS = """
SELECT id, number, issue_date, sites, conflicts, title FROM editions WHERE conflicts IS NOT NULL
ORDER BY coalesce(issue_date, first_published), id
"""

WITHOUT_NUMBER = """
SELECT id, title, issue_date, published, url FROM digests WHERE number IS NULL
ORDER BY coalesce(issue_date, published), id
"""

# A number is out of order when, ordered by date, it is below both of the two numbers published just
# before it, or above both of the two just after it (the real archive has a 167 published where 196
# belongs). Looking two deep keeps the neighbours of a misplaced number from being blamed for it.
OUT_OF_ORDER = """
WITH ordered AS (
  SELECT id, number, title, published,
         lag(number, 1) OVER w AS before_1, lag(number, 2) OVER w AS before_2,
         lead(number, 1) OVER w AS after_1, lead(number, 2) OVER w AS after_2
  FROM digests WHERE number IS NOT NULL AND published IS NOT NULL
  WINDOW w AS (ORDER BY published, id)
)
SELECT id, number, title, published, before_1 AS number_before, after_1 AS number_after FROM ordered
WHERE (number < before_1 AND number < before_2) OR (number > after_1 AND number > after_2)
ORDER BY published
"""

WITHOUT_ENTRIES = "SELECT id, number, title, url FROM digests WHERE coalesce(entry_count, 0) = 0 ORDER BY id"

WITHOUT_DATE = """
SELECT id, number, title, url FROM digests WHERE published IS NULL AND issue_date IS NULL ORDER BY id
"""

LAST_RUN_FAILURES = """
SELECT kind, http_status, url, message, at FROM failures
WHERE crawl_run_id = (SELECT max(id) FROM crawl_runs) ORDER BY id
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
    "last_run_failures": LAST_RUN_FAILURES,
}


def _rows(db: Database, sql: str) -> list[dict]:
    cursor = db.execute(sql)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row)) for row in cursor]


def series_report(db: Database) -> dict:
    report = {name: _rows(db, sql) for name, sql in CHECKS.items()}
    report["missing_numbers"] = [row["number"] for row in report["missing_numbers"]]
    run = _rows(db, "SELECT id, mode, status, started, finished, new, changed, unchanged, failed "
                    "FROM crawl_runs ORDER BY id DESC LIMIT 1")
    report["last_run"] = run[0] if run else None
    report["digests"] = db.execute("SELECT count(*) FROM digests").fetchone()[0]
    report["editions"] = db.execute("SELECT count(*) FROM editions").fetchone()[0]
    return report


def number_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] → '1–3, 7, 9–10'."""
    ranges: list[list[int]] = []
    for number in numbers:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}\u2013{b}" for a, b in ranges)
