"""Datasette metadata for any archive, whatever its file is called: titles, descriptions, facets, labels,
and the canned queries (the SQL is storage's: `storage.report`)."""

from __future__ import annotations

from markupsafe import Markup

from core.failure_kinds import FAILURE_KINDS
from storage.report import CANNED_QUERIES

SOURCE = "Iran Interlink Weekly Digest, as published on nejatngo.org and iran-interlink.org"
SOURCE_URL = "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest"
TITLE = "Iran Interlink Weekly Digest archive"

READABLE_COLUMNS = ("number", "title", "headline", "published", "issue_date", "site", "entry_count", "link_count")
READABLE_DIGESTS = "?_sort=number&" + "&".join(f"_col={column}" for column in READABLE_COLUMNS)


def instance_metadata() -> dict:
    return {
        "title": TITLE,
        "description": "Every digest, its entries and the links in them, crawled by digest-archive.",
        "source": SOURCE,
        "source_url": SOURCE_URL,
    }


def start_here_html(paths: dict[str, str]) -> Markup:
    """Where a reader starts, on the database's page (`paths`: the reader's search, report and feed, and the
    editions table; Markup.format escapes them)."""
    return Markup(
        "<strong>Start here:</strong> "
        '<a href="{search}">search the digests</a> (one hit per entry, both sites together); '
        '<a href="{editions}">every edition</a> (a digest once, however many sites published it: '
        "its title opens it, with the previous and next edition); "
        '<a href="{report}">the series report</a> (numbers missing, reused, out of order; '
        "where the sites disagree); "
        '<a href="{links}">the dead links</a> (why each fails, who cites it, our capture and the web archive\'s copy); '
        '<a href="{feed}">the Atom feed</a> of new and changed editions.'
    ).format(**paths)


def database_metadata(paths: dict[str, str]) -> dict:
    """Tables and their descriptions for an archive; `paths` are its reader pages' addresses (search,
    report, feed, editions), encoded by the plugin."""
    return {
        "description_html": start_here_html(paths),
        "tables": {
            "editions": {
                "description_html": Markup(
                    "One row per digest as an editorial unit: the same digest published on several sites "
                    "is one edition. <code>number</code> from a numbered title, <code>issue_date</code> from "
                    "a dated title or the dateline, <code>conflicts</code> where the sources disagree, "
                    "<code>slug</code> its lasting address. Titles open the edition with its sources and a diff "
                    'of its posts. <a href="{search}">Search the editions</a>; '
                    '<a href="{feed}">Atom feed of new and changed editions</a>.'
                ).format(**paths),
                "label_column": "title",
                "sort_desc": "first_published",
                "facets": ["year", {"site": "sites"}],  # sites by name (reader/sites.py)
            },
            "digests": {
                "description_html": Markup(
                    "One row per digest post on one site; <code>number</code> is as published (null for dated "
                    "titles); <code>edition_id</code> opens its edition. Titles open the post as it was "
                    'published. <a href="{readable}">Show only number, title, site, date and counts</a>; '
                    '<a href="{search}">search entries, titles and headlines</a>.'
                ).format(readable=READABLE_DIGESTS, **paths),
                "label_column": "title",
                "sort_desc": "published",
                "facets": ["year", {"site": "site"}],
            },
            "entries": {
                "description": "One row per `++` entry of a post, in order, with its section heading.",
                "facets": ["section"],
                "sort": "id",
            },
            "links": {
                "description_html": Markup(
                    'Every link inside an entry, canonicalised, with its domain. <a href="{links}">The dead '
                    "ones</a>, with why they fail and their copies."
                ).format(**paths),
                "facets": ["domain"],
            },
            "link_health": {
                "description_html": Markup(
                    "One row per distinct link, as the last <code>scrapy crawl links</code> found it: its status "
                    "(<code>dead</code> after repeated failures a week or more apart), the final URL after "
                    "redirects, our WARC capture, the archived copy found for a dead link, how many digests cite "
                    "it and the year of the first. Every check is kept in <code>link_checks</code>. "
                    'The failing and dead ones, with their reasons and copies: <a href="{links}">dead links</a>.'
                ).format(**paths),
                "facets": ["status", "dead", {"site": "host"}, "year"],
                "sort_desc": "digests",
            },
            "link_targets": {"description": "Link health, one row per distinct link (see link_health)."},
            "link_checks": {"description": "Every check of every link, with its status.", "facets": ["status"]},
            "digest_urls": {"description": "Every URL form a digest was reached at.", "hidden": True},
            "digest_revisions": {"description": "Earlier versions of digests that were edited."},
            "crawl_runs": {
                "description": "One row per crawl of one listing (or link check), with its counts and status.",
                "sort_desc": "id",
            },
            "failures": {
                "description_html": Markup("Pages that could not become a digest, and why. Kinds: {}.").format(
                    Markup("; ").join(
                        Markup("<code>{}</code> {}").format(kind, meaning) for kind, meaning in FAILURE_KINDS.items()
                    )
                ),
                "facets": ["kind"],
                "sort_desc": "id",
            },
            "pages": {"description": "Stored copies of fetched post pages (compressed).", "hidden": True},
            "listings": {
                "description": "One row per listing crawled (start URL): its feed and REST index, and how far they "
                "were read."
            },
        },
    }


def archive_queries() -> dict:
    return {name: {"title": title, "sql": sql.strip()} for name, (title, sql) in CANNED_QUERIES.items()}
