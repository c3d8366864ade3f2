"""The health of the series, in editions: which digests exist on which sites, gaps after merging the sites,
reused numbers, numbers out of order with their dates, conflicts between sites or within a post, empty digests;
the last run of each listing and the pages not stored.

Each check is one SQL query, shared by `digest-archive report`, `summary`, the reader's report page and the
Datasette canned queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from core.link_status import DEAD, STATUSES, reason_of
from core.site_names import site_labels

from .deadlinks import FAILING_STATE, dead_links
from .links import link_summary
from .sites import site_names

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

# The last run of each listing (start URL) in the file: a crawl of two listings is two runs.
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
    "unresolved_failures": ("Pages that failed and are not stored", UNRESOLVED_FAILURES),
}


def _rows(db: Database, sql: str) -> list[dict]:
    cursor = db.execute(sql)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def series_report(db: Database) -> dict:
    """Every check, on the whole file (every listing crawled into it), what the web archives gave, and the
    links' health."""
    report: dict = {name: _rows(db, sql) for name, sql in CHECKS.items()}
    report.update(recovery(db))
    report["digests"] = db.execute("SELECT count(*) FROM digests").fetchone()[0]
    report["editions"] = db.execute("SELECT count(*) FROM editions").fetchone()[0]
    report["links"] = link_report(db)
    # What the reader calls each site (its own name, else its host): the command prints the same words.
    report["site_labels"] = site_labels(site_names(db.conn))
    return report


def link_report(db: Database) -> dict:
    """The report's links: distinct links cited by status (`dead` for dead ones, whatever their last check),
    and the failing or dead ones by reason (their last failing check's status, core.link_status)."""
    summary = link_summary(db)
    failing = dead_links(db.conn, {})
    return {
        "cited": sum(summary["by_status"].values()),
        "by_status": summary["by_status"],
        "failing_or_dead": failing.total,
        "by_reason": [
            {"status": status, "reason": reason_of(status), "links": count}
            for status, count in failing.counts["status"]
        ],
    }


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
    """The last run of each listing and the pages not stored: what `summary` and `report` both show."""
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


# --- the report's sections: one list, printed by `digest-archive report` and drawn by the reader's report page


@dataclass(frozen=True)
class Ref:
    """Where a piece of the report leads in the reader; storage names the page, the reader makes its address.

    `page` is one of: `edition` (key: its slug), `digest` (key: its row id), `table` (key: a table or view,
    `filters`: Datasette's column filters), `query` (key: a canned query, CANNED_QUERIES) or `dead_links`
    (`filters`: the dead-links page's, storage.deadlinks.FILTERS)."""

    page: str
    key: str | int | None = None
    filters: tuple[tuple[str, str], ...] = ()


Piece = tuple[str, Ref | None]  # a stretch of text, and where it leads (None: plain text)


@dataclass(frozen=True)
class Line:
    pieces: tuple[Piece, ...]

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.pieces)


@dataclass(frozen=True)
class Section:
    title: str
    summary: Line  # after the title: a count, ranges, "none"
    lines: tuple[Line, ...] = ()


def _line(*pieces: str | Piece) -> Line:
    return Line(tuple((piece, None) if isinstance(piece, str) else piece for piece in pieces))


def _count(count: int, ref: Ref) -> Line:
    """A section's count, linked to the rows it counts; `none` when there are none."""
    return _line((str(count), ref)) if count else _line("none")


def _table(table: str, **filters: object) -> Ref:
    return Ref("table", table, tuple((name, str(value)) for name, value in filters.items()))


def _edition(row: dict) -> Ref:
    return Ref("edition", row["slug"])


def _series(data: dict) -> Section:
    return Section(
        "The series",
        _line(
            (plural(data["editions"], "edition"), _table("editions")),
            " of ",
            (plural(data["digests"], "digest post"), _table("digests")),
        ),
        tuple(
            _line((plural(row["editions"], "edition"), _table("editions", sites=row["sites"])), f" on {row['sites']}")
            for row in data["editions_by_sites"]
        ),
    )


def _single_site(data: dict) -> Section:
    rows = data["single_site_editions"]
    return Section(
        "Editions on one site only",
        _count(len(rows), Ref("query", "single_site_editions")),
        tuple(
            _line(
                (str(row["number"] or "-"), _edition(row)),
                f"  {row['issue_date'] or row['first_published'] or '?'}  {row['sites']}  ",
                (row["title"] or row["slug"], _edition(row)),
            )
            for row in rows
        ),
    )


def _conflicts(column: str, title: str) -> Callable[[dict], Section]:
    def section(data: dict) -> Section:
        rows = [row for row in data["edition_conflicts"] if row[column]]
        return Section(
            title,
            _count(len(rows), _table("editions", **{f"{column}__notblank": 1})),
            tuple(
                _line((f"{row['slug']} ({row['title']})", _edition(row)), ": ", (row[column], _edition(row)))
                for row in rows
            ),
        )

    return section


def _missing(data: dict) -> Section:
    ranges = data["missing_numbers"]
    query = Ref("query", "missing_numbers")
    pieces: list[Piece] = []
    for n, gap in enumerate(ranges):
        pieces += [(", ", None)] if n else []
        pieces.append((number_ranges([gap]), query))
    return Section("Missing numbers (all sites merged)", Line(tuple(pieces)) if pieces else _line("none"))


def _duplicates(data: dict) -> Section:
    rows = data["duplicate_numbers"]
    return Section(
        "Numbers used by more than one edition",
        _count(len(rows), Ref("query", "duplicate_numbers")),
        tuple(
            _line(
                (str(row["number"]), _table("digests", number=row["number"])),
                ": ",
                (
                    f"{plural(row['editions'], 'edition')}, {plural(row['posts'], 'post')}",
                    _table("digests", number=row["number"]),
                ),
                f": {row['urls']}",
            )
            for row in rows
        ),
    )


def _out_of_order(data: dict) -> Section:
    rows = data["out_of_order"]
    return Section(
        "Numbers out of order with their dates",
        _count(len(rows), Ref("query", "out_of_order")),
        tuple(
            _line(
                (str(row["number"]), Ref("digest", row["id"])),
                f" published {row['published']}, between ",
                (str(row["number_before"]), _table("digests", number=row["number_before"])),
                " and ",
                (str(row["number_after"]), _table("digests", number=row["number_after"])),
            )
            for row in rows
        ),
    )


def _without_number(data: dict) -> Section:
    rows = data["without_number"]
    return Section(
        "Digests without a number (dated titles)",
        _count(len(rows), Ref("query", "without_number")),
        tuple(
            _line(
                f"{row['issue_date'] or row['published'] or '?'}  ",
                (row["title"] or row["url"], Ref("digest", row["id"])),
            )
            for row in rows
        ),
    )


def _digests_without(key: str, title: str, table: Ref) -> Callable[[dict], Section]:
    def section(data: dict) -> Section:
        rows = data[key]
        return Section(
            title,
            _count(len(rows), table),
            tuple(_line((row["title"] or "-", Ref("digest", row["id"])), f"  {row['url']}") for row in rows),
        )

    return section


def _last_runs(data: dict) -> Section:
    runs = data["last_runs"]
    return Section(
        "Last run of each archive",
        _count(len(runs), _table("crawl_runs", _sort_desc="id")),
        tuple(
            _line(
                f"{run['start_url']}: ",
                (
                    f"#{run['id']} ({run['mode']}, {run['status']}): "
                    f"{plural(run['listing_pages'] or 0, 'listing page')}, {plural(run['posts_fetched'] or 0, 'post')} "
                    f"fetched, {run['new']} new, {run['changed']} changed, {run['unchanged']} unchanged",
                    _table("crawl_runs", id=run["id"]),
                ),
                ", ",
                (f"{run['failed']} failed", _table("failures", crawl_run_id=run["id"])),
            )
            for run in runs
        ),
    )


def _failures(data: dict) -> Section:
    failures = data["unresolved_failures"]
    return Section(
        "Pages that failed and are not stored",
        _count(len(failures), Ref("query", "unresolved_failures")),
        tuple(_line((failure_line(failure), _table("failures", url=failure["url"]))) for failure in failures),
    )


def _links(data: dict) -> Section:
    links = data["links"]
    by_status = []
    for status, count in links["by_status"].items():
        if status == DEAD.name:
            ref = Ref("dead_links", filters=(("state", DEAD.name),))
        elif status in STATUSES and STATUSES[status].failing:
            ref = Ref("dead_links", filters=(("state", FAILING_STATE), ("status", status)))
        else:
            ref = _table("link_health", status=status, dead=0, digests__gt=0)
        by_status.append((f"{status} ", (str(count), ref)))
    by_reason = [
        (f"{row['reason']} ", (str(row["links"]), Ref("dead_links", filters=(("status", row["status"]),))))
        for row in links["by_reason"]
    ]

    def listed(label: str, items: Sequence[tuple[str, Piece]]) -> Line:
        pieces: list[Piece] = [(label, None)]
        for n, (name, number) in enumerate(items):
            pieces += [(", " if n else "", None), (name, None), number]
        return Line(tuple(pieces))

    lines = [listed("by status: ", by_status)] if by_status else []
    if by_reason:
        lines.append(listed("failing or dead, by reason: ", by_reason))
    return Section(
        LINKS_SECTION,
        _line(
            (plural(links["cited"], "distinct link"), _table("link_health", digests__gt=0)),
            " cited, ",
            (str(links["failing_or_dead"]), Ref("dead_links")),
            " failing or dead (the dead-links page)",
        ),
        tuple(lines),
    )


def _recovery(data: dict) -> Section:
    """What `-a mode=recover` took from the web archives, and the numbers the series still lacks after it."""
    rows = data["recovered"]
    if not data["recovered_digests"]:
        return Section("Recovered from web archives", _line("none"))
    lines = [
        _line(
            (plural(row["digests"], "digest"), _table("digests", recovered_from=row["web_archive"])),
            f" from {row['web_archive']} (captured {row['first_capture'][:10]} to {row['last_capture'][:10]}), ",
            (
                plural(row["revisions"], "older version"),
                _table("digest_revisions", recovered_from=row["web_archive"]),
            ),
        )
        for row in rows
    ]
    missing = number_ranges(data["missing_after_recovery"])
    lines.append(
        _line("Numbers still missing after recovery: ", (missing, Ref("query", "missing_numbers")))
        if missing
        else _line("Numbers still missing after recovery: none")
    )
    return Section(
        "Recovered from web archives",
        _line(
            (plural(data["recovered_digests"], "digest"), _table("digests", recovered_from__notblank=1)),
            ", ",
            (
                plural(data["recovered_revisions"], "older version"),
                _table("digest_revisions", recovered_from__notblank=1),
            ),
        ),
        tuple(lines),
    )


LINKS_SECTION = "Links"

# The report's sections, in order, each built from `series_report`'s data: the one list the command and the
# reader's page both show, so that neither can leave one out.
SECTIONS: dict[str, Callable[[dict], Section]] = {
    "series": _series,
    "single_site_editions": _single_site,
    "conflicts_between_sites": _conflicts("conflicts_between_sites", "Conflicts between sites"),
    "conflicts_within_post": _conflicts("conflicts_within_post", "Conflicts within one post"),
    "missing_numbers": _missing,
    "duplicate_numbers": _duplicates,
    "out_of_order": _out_of_order,
    "without_number": _without_number,
    "without_entries": _digests_without(
        "without_entries",
        "Digests with no entries",
        _table("digests", _where="coalesce(entry_count, 0) = 0"),
    ),
    "without_date": _digests_without(
        "without_date", "Digests with no date", _table("digests", published__isnull=1, issue_date__isnull=1)
    ),
    "recovery": _recovery,
    "last_runs": _last_runs,
    "unresolved_failures": _failures,
    "links": _links,
}


def report_sections(data: dict, names: tuple[str, ...] | None = None) -> list[Section]:
    """The report's sections (all, or those `names`) from `series_report`'s data (`summary` shows two, from
    its own data: the last runs and the pages not stored)."""
    return [build(data) for name, build in SECTIONS.items() if names is None or name in names]
