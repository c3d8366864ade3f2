"""Search in editions: what a reader types, as a safe full-text query, and the hits, one per edition entry.

`fts_query` turns any text into an FTS5 query that cannot be a syntax error: every word is quoted (so
apostrophes, hyphens, colons, stars and brackets are only text), a "quoted phrase" stays a phrase, and
AND / OR / NOT (in capitals) stay operators where they stand between two terms. `search_editions`
runs it over the entries and the digests' titles and headlines, and merges what the sites share: the
same entry published on two sites is one hit naming both.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

OPERATORS = ("AND", "OR", "NOT")
# A phrase in double quotes, or a run of anything else but white space and double quotes.
_TOKEN = re.compile(r'"([^"]*)"|([^\s"]+)')
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Around each match in a snippet: the reader escapes the snippet and turns them into <mark> (storage makes
# no HTML).
MARK_START, MARK_END = "\x02", "\x03"


def fts_query(text: str | None) -> str | None:
    """An FTS5 MATCH expression for what a reader typed, or None when there is nothing to search for.

    >>> fts_query("don't Tirana")
    '"don\\'t" "Tirana"'
    >>> fts_query('"camp Ashraf" OR Liberty')
    '"camp Ashraf" OR "Liberty"'
    """
    text = _CONTROL.sub(" ", text or "").replace('""', " ")  # FTS5 reads a NUL as the end of the query
    if text.count('"') % 2:  # a stray quote: the last one opens nothing
        last = text.rindex('"')
        text = text[:last] + " " + text[last + 1 :]
    items: list[str] = []
    for phrase, word in _TOKEN.findall(text):
        if word in OPERATORS:
            items.append(word)
            continue
        term = phrase if phrase else word
        if not _WORD.search(term):
            continue  # punctuation alone (a bracket, a dash) searches for nothing
        items.append('"' + term.replace('"', '""') + '"')
    # Operators only between two terms: none first or last, never two in a row (the first of two kept).
    cleaned: list[str] = []
    for item in items:
        if item in OPERATORS:
            if cleaned and cleaned[-1] not in OPERATORS:
                cleaned.append(item)
        else:
            cleaned.append(item)
    while cleaned and cleaned[-1] in OPERATORS:
        cleaned.pop()
    return " ".join(cleaned) or None


# Every hit is ranked and grouped; snippets are made afterwards, only for the hits on the page shown (a
# common word matches tens of thousands of entries, and a snippet costs more than the rest of a hit). A hit
# is a row of plain values, its edition's day with it (the day an edition sorts by), so that the editions'
# own rows are read only for the hits shown.
_DAY = "coalesce(nullif(ed.issue_date, ''), nullif(substr(ed.first_published, 1, 10), ''))"
_ENTRY_HITS = f"""
SELECT e.id, e.section, d.site, d.edition_id, bm25(entries_fts), {_DAY}
FROM entries_fts JOIN entries e ON e.rowid = entries_fts.rowid JOIN digests d ON d.id = e.digest_id
JOIN editions ed ON ed.id = d.edition_id
WHERE entries_fts MATCH :query {{filters}}
"""
_TITLE_HITS = f"""
SELECT d.id, d.site, d.edition_id, bm25(digests_fts), {_DAY}
FROM digests_fts JOIN digests d ON d.rowid = digests_fts.rowid JOIN editions ed ON ed.id = d.edition_id
WHERE digests_fts MATCH :query {{filters}}
"""
_ENTRY_TEXTS = "SELECT id, text FROM entries WHERE id IN ({ids})"
_SNIPPETS = """
SELECT rowid, snippet({table}_fts, -1, char(2), char(3), '\u2026', 24) AS snippet
FROM {table}_fts WHERE {table}_fts MATCH :query AND rowid IN ({rowids})
"""
_EDITIONS = """
SELECT id, slug, title, number, issue_date, first_published, sites FROM editions WHERE id IN ({ids})
"""
# Filters: each a condition on the hit's edition (ed), digest (d) or entry (e).
_FILTERS = {"year": "ed.year = :year", "section": "e.section = :section", "site": "d.site = :site"}
SORTS = ("relevance", "newest", "oldest")


@dataclass
class Hit:
    edition_id: int
    slug: str
    title: str
    number: int | None
    issue_date: str | None
    day: str | None  # the issue date, else the first publication
    sites: list[str]
    snippet: str  # plain text, each match between MARK_START and MARK_END
    rank: float
    section: str | None = None
    entry_id: int | None = None  # the entry's anchor on its edition page (None: a title or headline hit)
    field: str = "entry"  # "entry" or "title"

    def anchor(self) -> str:
        return f"#entry-{self.entry_id}" if self.entry_id is not None else ""


@dataclass
class SearchResult:
    query: str | None  # the FTS5 query that ran (None: nothing to search for)
    total: int = 0
    hits: list[Hit] = field(default_factory=list)


def _same_entry(text: str) -> str:
    """Two sites' copies of an entry are one when their words are (typography and case aside)."""
    return " ".join(_WORD.findall(text.lower()))


def _add_hit(groups: dict, key: tuple, site: str, source: tuple, rank, section, entry_id, day) -> None:
    """A hit joins the group of its key: its site is added, and it becomes the group's shown hit when it
    ranks better; an entry group keeps its lowest entry id."""
    group = groups.get(key)
    if group is None:
        groups[key] = [{site}, source, rank, section, entry_id, day]
        return
    group[_SITES].add(site)
    if rank < group[_RANK]:
        group[_SOURCE], group[_RANK] = source, rank
    if entry_id is not None and entry_id < group[_ENTRY]:
        group[_ENTRY] = entry_id


def _execute(conn: sqlite3.Connection, sql: str, params: dict) -> list[dict]:
    cursor = conn.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


# A group of hits (one entry of an edition, or an edition's title and headline) while they are merged:
# [sites, (table, rowid) of the best-ranked hit (its snippet is shown), rank, section, entry id, day].
_SITES, _SOURCE, _RANK, _SECTION, _ENTRY, _DAY_OF = range(6)


def search_editions(
    conn: sqlite3.Connection,
    text: str | None,
    *,
    year: int | None = None,
    section: str | None = None,
    site: str | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """One hit per edition entry (and per edition whose title or headline matches), ranked by bm25
    (lower is better) or by date, `limit` of them from `offset`; `total` counts them all."""
    query = fts_query(text)
    result = SearchResult(query)
    if query is None:
        return result
    params = {"query": query, "year": year, "section": section, "site": site}
    given = {
        name: value for name, value in (("year", year), ("section", section), ("site", site)) if value not in (None, "")
    }
    groups: dict[tuple, list] = {}

    def conditions(names) -> str:
        return "".join(f" AND {_FILTERS[name]}" for name in names)

    entry_hits = conn.execute(_ENTRY_HITS.format(filters=conditions(given)), params).fetchall()
    # Hits merge only within an edition: the words of an entry are read for editions with several hits.
    per_edition = Counter(row[3] for row in entry_hits)
    shared = [row[0] for row in entry_hits if per_edition[row[3]] > 1]
    words = {
        entry_id: _same_entry(entry_text)
        for entry_id, entry_text in (
            conn.execute(_ENTRY_TEXTS.format(ids=", ".join(str(int(i)) for i in shared))) if shared else ()
        )
    }
    for entry_id, entry_section, hit_site, edition_id, rank, day in entry_hits:
        key = (edition_id, "entry", words.get(entry_id))
        _add_hit(groups, key, hit_site, ("entries", entry_id), rank, entry_section, entry_id, day)
    if "section" not in given:  # titles and headlines have no section
        title_hits = conn.execute(_TITLE_HITS.format(filters=conditions(n for n in given if n != "section")), params)
        for digest_id, hit_site, edition_id, rank, day in title_hits:
            _add_hit(groups, (edition_id, "title"), hit_site, ("digests", digest_id), rank, None, None, day)
    if not groups:
        return result
    # Every group is ranked; a hit, its edition's row and its snippet are made only for the page shown.
    ranked = list(groups.items())
    if sort == "newest":
        ranked.sort(key=lambda item: (item[1][_DAY_OF] or "", -item[1][_RANK]), reverse=True)
    elif sort == "oldest":
        ranked.sort(key=lambda item: (item[1][_DAY_OF] or "9999", item[1][_RANK]))
    else:
        ranked.sort(key=lambda item: (item[1][_RANK], item[1][_DAY_OF] or ""))
    result.total = len(ranked)
    shown = ranked[offset : offset + limit]
    if not shown:
        return result
    ids = sorted({key[0] for key, _ in shown})
    editions = {row["id"]: row for row in _execute(conn, _EDITIONS.format(ids=", ".join(str(i) for i in ids)), {})}
    snippets: dict[tuple[str, int], str] = {}
    for table in ("entries", "digests"):
        rowids = sorted({group[_SOURCE][1] for _, group in shown if group[_SOURCE][0] == table})
        if rowids:
            sql = _SNIPPETS.format(table=table, rowids=", ".join(str(rowid) for rowid in rowids))
            snippets.update(((table, rowid), snippet) for rowid, snippet in conn.execute(sql, {"query": query}))
    for (edition_id, kind, *_), group in shown:
        edition = editions[edition_id]
        result.hits.append(
            Hit(
                edition_id,
                edition["slug"],
                edition["title"],
                edition["number"],
                edition["issue_date"],
                group[_DAY_OF],
                sorted(group[_SITES]),
                snippets.get(group[_SOURCE]) or "",
                group[_RANK],
                group[_SECTION],
                group[_ENTRY],
                kind,
            )
        )
    return result


SEARCH_FILTER_CHOICES = {
    "year": "SELECT DISTINCT year FROM editions WHERE year IS NOT NULL ORDER BY year DESC",
    "section": "SELECT DISTINCT section FROM entries WHERE section IS NOT NULL ORDER BY section",
    "site": "SELECT DISTINCT site FROM digests ORDER BY site",
}


def filter_choices(conn: sqlite3.Connection) -> dict[str, list]:
    """The values each search filter offers (years, sections, sites of the archive)."""
    return {name: [row[0] for row in conn.execute(sql)] for name, sql in SEARCH_FILTER_CHOICES.items()}
