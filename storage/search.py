"""Search in editions: what a reader types, as a safe full-text query, and the hits, one per edition entry.

`fts_query` turns any text into an FTS5 query that cannot be a syntax error: every word is quoted (so
apostrophes, hyphens, colons, stars and brackets are only text), a "quoted phrase" stays a phrase, a
trailing star makes a word a prefix (`Alban*`), a leading dash leaves a word out (`-iraq`), and
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
# A phrase in double quotes, or a run of anything else but white space and double quotes; either may be led
# by dashes (leave it out) and followed by stars (a prefix).
_TOKEN = re.compile(r'(-*)"([^"]*)"(\**)|([^\s"]+)')
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Around each match in a snippet: the reader escapes the snippet and turns them into <mark> (storage makes
# no HTML).
MARK_START, MARK_END = "\x02", "\x03"


@dataclass(frozen=True)
class Term:
    """One thing a reader searches for: a word or a phrase, maybe a prefix (`Alban*`), maybe left out
    (`-iraq`)."""

    text: str
    prefix: bool = False
    excluded: bool = False
    phrase: bool = False

    def fts(self) -> str:
        """The term in FTS5's syntax: always a quoted string, so nothing in it is an operator."""
        return '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")


def parse_query(text: str | None) -> list[Term | str]:
    """What a reader typed as terms and operators (AND, OR, NOT in capitals), in order. Punctuation alone
    (a bracket, a lone `-` or `*`) is nothing; a stray double quote opens nothing."""
    text = _CONTROL.sub(" ", text or "").replace('""', " ")  # FTS5 reads a NUL as the end of the query
    if text.count('"') % 2:  # a stray quote: the last one opens nothing
        last = text.rindex('"')
        text = text[:last] + " " + text[last + 1 :]
    items: list[Term | str] = []
    for dashes, phrase, stars, word in _TOKEN.findall(text):
        if word in OPERATORS:
            items.append(word)
            continue
        if word:
            body = word.lstrip("-")
            dashes = word[: len(word) - len(body)]
            stripped = body.rstrip("*")
            stars, body = body[len(stripped) :], stripped
        else:
            body = phrase
        if not _WORD.search(body):
            continue  # punctuation alone searches for nothing
        items.append(Term(body, prefix=bool(stars), excluded=bool(dashes), phrase=bool(phrase)))
    return items


def _between_terms(items: list[Term | str]) -> list[Term | str]:
    """Operators only between two terms: none first or last, never two in a row (the first of two kept)."""
    cleaned: list[Term | str] = []
    for item in items:
        if isinstance(item, str):
            if cleaned and not isinstance(cleaned[-1], str):
                cleaned.append(item)
        else:
            cleaned.append(item)
    while cleaned and isinstance(cleaned[-1], str):
        cleaned.pop()
    return cleaned


def fts_query(text: str | None) -> str | None:
    """An FTS5 MATCH expression for what a reader typed, or None when there is nothing to search for.

    Left-out terms (`-iraq`) go last, each behind a NOT of the whole of the rest: FTS5's NOT is binary and
    binds tighter than AND and OR, so `camp OR tent -iraq` must be `("camp" OR "tent") NOT "iraq"`. Only
    left-out terms is nothing to search for (FTS5 cannot search for "everything but").

    >>> fts_query("don't Tirana")
    '"don\\'t" "Tirana"'
    >>> fts_query('"camp Ashraf" OR Liberty')
    '"camp Ashraf" OR "Liberty"'
    >>> fts_query("Alban* -Tirana")
    '("Alban"*) NOT "Tirana"'
    """
    items = parse_query(text)
    wanted = _between_terms([item for item in items if isinstance(item, str) or not item.excluded])
    if not wanted:
        return None
    query = " ".join(item if isinstance(item, str) else item.fts() for item in wanted)
    left_out = [item.fts() for item in items if isinstance(item, Term) and item.excluded]
    if left_out:
        query = f"({query}) NOT " + " NOT ".join(left_out)
    return query


def only_left_out(text: str | None) -> bool:
    """The reader typed only terms to leave out (`-iraq`): there is nothing to search for."""
    terms = [item for item in parse_query(text) if isinstance(item, Term)]
    return bool(terms) and all(term.excluded for term in terms)


def as_prefixes(text: str | None) -> str | None:
    """The same search with each plain word a prefix (`Alban` → `Alban*`), to suggest when nothing was
    found; None when there is no such word."""
    items = parse_query(text)
    if not any(isinstance(item, Term) and not (item.prefix or item.excluded or item.phrase) for item in items):
        return None
    shown = []
    for item in items:
        if isinstance(item, str):
            shown.append(item)
        elif item.phrase:
            shown.append(("-" if item.excluded else "") + '"' + item.text + '"' + ("*" if item.prefix else ""))
        else:
            star = "*" if item.prefix or not item.excluded else ""
            shown.append(("-" if item.excluded else "") + item.text + star)
    return " ".join(shown)


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
# Filters: each a condition on the hit's edition (ed), digest (d) or entry (e). The dates are the edition's
# day (ISO text, so they compare as text); an edition with no day at all is outside any range.
_FILTERS = {
    "year": "ed.year = :year",
    "section": "e.section = :section",
    "site": "d.site = :site",
    "date_from": f"{_DAY} >= :date_from",
    "date_to": f"{_DAY} <= :date_to",
    "domain": "EXISTS (SELECT 1 FROM links l WHERE l.entry_id = e.id AND l.domain = :domain)",
}
# Filters on what only an entry has: a title or headline has no section and cites nothing.
_ENTRY_ONLY = ("section", "domain")
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
    date_from: str | None = None,
    date_to: str | None = None,
    domain: str | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """One hit per edition entry (and per edition whose title or headline matches), ranked by bm25
    (lower is better) or by date, `limit` of them from `offset`; `total` counts them all. `date_from`
    and `date_to` (ISO dates, both included) bound the edition's day; `domain` keeps the entries that
    cite it (`links.domain`)."""
    query = fts_query(text)
    result = SearchResult(query)
    if query is None:
        return result
    filters = {
        "year": year,
        "section": section,
        "site": site,
        "date_from": date_from,
        "date_to": date_to,
        "domain": domain,
    }
    given = {name: value for name, value in filters.items() if value not in (None, "")}
    params = {"query": query, **given}
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
    if not any(name in given for name in _ENTRY_ONLY):
        title_hits = conn.execute(_TITLE_HITS.format(filters=conditions(given)), params)
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
# The domains the form suggests: the most cited (any other may be typed); from the links table, which a
# reader may be refused while the rest of the search is allowed.
DOMAIN_CHOICES = "SELECT domain FROM links GROUP BY domain ORDER BY count(*) DESC, domain LIMIT :limit"
# The edition days the date fields allow (their min and max).
DAY_RANGE = f"SELECT min({_DAY}) AS first, max({_DAY}) AS last FROM editions ed"


def filter_choices(conn: sqlite3.Connection, *, domains: int = 0) -> dict[str, list]:
    """The values each search filter offers (years, sections, sites of the archive; its first and last
    day; its `domains` most cited domains)."""
    choices = {name: [row[0] for row in conn.execute(sql)] for name, sql in SEARCH_FILTER_CHOICES.items()}
    choices["days"] = list(conn.execute(DAY_RANGE).fetchone())
    choices["domain"] = [row[0] for row in conn.execute(DOMAIN_CHOICES, {"limit": domains})] if domains else []
    return choices


@dataclass
class Suggestion:
    """Another search to offer when one found nothing: its text, whether it drops the filters, what it
    finds (`total`) and why it is offered."""

    text: str
    total: int
    why: str
    without_filters: bool = False


def _any_of(text: str | None) -> str | None:
    """Several words searched together (all of them) as any of them, when no operator was typed."""
    items = parse_query(text)
    wanted = [item for item in items if isinstance(item, Term) and not item.excluded]
    if len(wanted) < 2 or any(isinstance(item, str) for item in items):
        return None
    shown = [
        ("-" if item.excluded else "") + (f'"{item.text}"' if item.phrase else item.text) + ("*" if item.prefix else "")
        for item in items
        if isinstance(item, Term)
    ]
    kept = [word for word, item in zip(shown, items, strict=True) if isinstance(item, Term) and not item.excluded]
    left_out = [word for word, item in zip(shown, items, strict=True) if isinstance(item, Term) and item.excluded]
    return " ".join([" OR ".join(kept), *left_out])


def suggest_searches(conn: sqlite3.Connection, text: str | None, **filters) -> list[Suggestion]:
    """What to try when a search found nothing, each only if it finds something: the words as prefixes
    (`Alban` → `Alban*`), any of the words instead of all, and the same search without its filters."""
    given = {name: value for name, value in filters.items() if value not in (None, "")}
    tries = [
        (as_prefixes(text), "each word as the start of longer ones"),
        (_any_of(text), "any of the words instead of all of them"),
    ]
    found: list[Suggestion] = []
    for other, why in tries:
        if other is not None and fts_query(other) != fts_query(text):
            total = search_editions(conn, other, limit=0, **given).total
            if total:
                found.append(Suggestion(other, total, why))
    if given and text:
        total = search_editions(conn, text, limit=0).total
        if total:
            found.append(Suggestion(text, total, "without the filters", without_filters=True))
    return found
