"""`digest-archive`: commands around the archive the crawl builds.

Every command takes the archive as its first argument, as sqlite-utils and Datasette do
(`digest-archive summary demo.db`; `--db PATH` works too). Read-only commands (summary, report,
export, serve) open it read-only: no migration, no change of journal mode.

Exit codes: the one table of every command (core.exit_codes, docs/operating.md): 0 done, 2 a bad argument or
option value, a file it will not overwrite, or a missing / foreign database, 3 another job of the same kind
holds the archive (a link check does not: it has a lock of its own).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

import storage
from core import __version__
from core.exit_codes import ExitCode
from core.site_names import with_site_names
from storage.export import EXPORTED_TABLES, FORMATS, OutputRefused, check_output, copy_database, export_tables
from storage.report import Section, plural, report_sections, series_report

EXIT_USER_ERROR = EXIT_NO_ARCHIVE = ExitCode.USAGE
EXIT_BUSY = ExitCode.BUSY
DEFAULT_ARCHIVE = "archive.db"


def _fail(error: Exception | str, code: int) -> NoReturn:
    click.echo(f"digest-archive: error: {error}", err=True)
    sys.exit(code)


def _open_archive(path: str, *, write: bool = False):
    """Open an existing archive (read-only unless `write`), or stop with one line and exit code 2."""
    try:
        return storage.open_database(path, create=False) if write else storage.open_for_reading(path)
    except storage.ArchiveError as error:
        _fail(error, EXIT_NO_ARCHIVE)


@contextmanager
def _locked_archive(database: str):
    """The archive opened for writing, holding its lock as a crawl does; exit 2 or 3 with one line if not."""
    try:  # what the path alone tells (missing, a folder, not SQLite): before a lock file is created beside it
        storage.check_archive_path(database, must_exist=True)
    except storage.ArchiveError as error:
        _fail(error, EXIT_NO_ARCHIVE)
    try:
        with storage.ArchiveLock(database):
            db = _open_archive(database, write=True)
            try:
                yield db
            finally:
                db.close()
    except storage.ArchiveBusy as error:
        _fail(error, EXIT_BUSY)
    except storage.ArchiveError as error:
        _fail(error, EXIT_NO_ARCHIVE)


def archive_argument(help_text: str):
    """The archive as the first argument (`digest-archive summary demo.db`), or as `--db PATH`."""

    def decorate(command):
        command = click.option(
            "--db", "db_option", default=None, metavar="PATH", help=f"{help_text} The same as ARCHIVE."
        )(command)
        return click.argument("archive", required=False)(command)

    return decorate


def _archive_path(archive: str | None, db_option: str | None) -> str:
    if archive and db_option and archive != db_option:
        _fail(f"two archives given: {archive} and --db {db_option}", EXIT_NO_ARCHIVE)
    return archive or db_option or DEFAULT_ARCHIVE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="digest-archive")
def main() -> None:
    """Keep and use an SQLite archive of the Iran Interlink Weekly Digest.

    Crawling is done by Scrapy: `scrapy crawl digests` (see the README).
    """


@main.command()
@archive_argument("The archive to read (default archive.db).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(archive: str | None, db_option: str | None, as_json: bool) -> None:
    """Print what the archive holds: editions, digests, the last run, pages that failed.

    Example: digest-archive summary demo.db
    """
    database = _archive_path(archive, db_option)
    db = _open_archive(database)
    data = storage.archive_summary(db)
    db.close()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    low, high = data["numbers"]
    first, last = data["published"]
    click.echo(f"Archive {database}")
    click.echo(
        f"  editions  {data['editions']:>6}   {data['editions_on_several_sites']} on more than one site, "
        f"{data['edition_conflicts']} where the sources disagree"
    )
    click.echo(
        f"  digests   {data['digests']:>6}   posts on {', '.join(data['sites']) or '-'}; numbers {low}\u2013{high}, "
        f"published {first} to {last}"
    )
    click.echo(f"  entries   {data['entries']:>6}   sections: {', '.join(data['sections']) or '-'}")
    click.echo(f"  links     {data['links']:>6}")
    click.echo(f"  failures  {data['failures']:>6}")
    _echo_recovery(data)
    _echo_runs_and_failures(data)
    if data["latest"]:
        click.echo("Latest digests:")
        for digest in data["latest"]:
            number = digest["number"] if digest["number"] is not None else "-"
            click.echo(
                f"  {number:>4}  {digest['published'] or '?':<10}  {digest['entries']:>2} entries  {digest['title']}"
            )


def _echo_runs_and_failures(data: dict) -> None:
    """The last run of each archive in the file, and the pages not stored: the report's own sections."""
    for section in report_sections(data, ("last_runs", "unresolved_failures")):
        _echo_section(section)


def _echo_section(section: Section, site_labels: dict[str, str] | None = None) -> None:
    """A section of the report as the command prints it: `Title: summary`, then its lines indented; sites by
    the names the reader gives them (`site_labels`), as the report page shows them."""
    labels = site_labels or {}
    click.echo(f"{section.title}: {with_site_names(section.summary.text, labels)}")
    for line in section.lines:
        click.echo(f"  {with_site_names(line.text, labels)}")


@main.command()
@archive_argument("The archive to re-parse (default archive.db).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Replace digests even when the new parse has lost more than half of their entries.",
)
def reparse(archive: str | None, db_option: str | None, as_json: bool, allow_shrink: bool) -> None:
    """Rebuild every digest from the stored pages with the current parser, offline.

    Changed digests keep their previous version in digest_revisions, like an edit
    found by a crawl. Re-parsing an unchanged archive changes nothing. Migrates an
    archive written by an older version.

    Example: digest-archive reparse archive.db
    """
    from cli.reparse import reparse_archive

    with _locked_archive(_archive_path(archive, db_option)) as db:
        report = reparse_archive(db, allow_shrink=allow_shrink)
    if as_json:
        click.echo(json.dumps(report.__dict__, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"Re-parsed {plural(report.pages, 'stored page')}: {report.new} new, {report.changed} changed, "
        f"{report.unchanged} unchanged, {len(report.unreadable)} unreadable; editions re-matched: "
        f"{report.editions_new} new, {report.editions_changed} changed"
    )
    for kind in ("entries", "links"):
        tally = getattr(report, kind)
        click.echo(f"  {kind}: {tally['added']} added, {tally['removed']} removed, {tally['altered']} altered")
    for url in report.changed_digests:
        click.echo(f"  changed: {url}")
    for url, reason in report.unreadable:
        click.echo(f"  unreadable: {url}: {reason}")


@main.command()
@archive_argument("The archive to examine (default archive.db).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(archive: str | None, db_option: str | None, as_json: bool) -> None:
    """Report the health of the series: editions, gaps, reused numbers, conflicts.

    Speaks in editions (a digest published on two sites is one): editions on
    one site only, numbers missing once all sites are merged, numbers used by
    more than one edition, conflicts between sites, numbers out of order; also
    digests without a number, entries or date, and the last run's failures.

    Example: digest-archive report archive.db --json
    """
    database = _archive_path(archive, db_option)
    db = _open_archive(database)
    data = series_report(db)
    db.close()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"Series report for {database}")
    for section in report_sections(data):
        _echo_section(section, data["site_labels"])


def _echo_recovery(data: dict) -> None:
    """What the web archives gave (`-a mode=recover`), when they gave anything: the report's own section."""
    if data["recovered_digests"]:
        for section in report_sections(data, ("recovery",)):
            _echo_section(section)


@main.command("match")
@archive_argument("The archive whose editions to match (default archive.db).")
@click.option("--all", "everything", is_flag=True, help="Match every digest again, not only the new and changed.")
def match_command(archive: str | None, db_option: str | None, everything: bool) -> None:
    """Match digests into editions: the same digest on several sites is one edition.

    Each crawl does this for what it stored or changed; --all rebuilds every
    edition (after a change of the matching rule, say). Edition ids are kept
    where their posts stay together.

    Example: digest-archive match archive.db --all
    """
    with _locked_archive(_archive_path(archive, db_option)) as db:
        update = storage.rebuild_editions(db) if everything else storage.update_editions(db)
        editions = storage.edition_counts(db)
    click.echo(
        f"Matched {update.matched} digests ({update.pairs} joined a twin on another site): "
        f"{update.new} editions new, {update.changed} changed; {editions['editions']} editions, "
        f"{editions['on_several_sites']} of them on more than one site"
    )


@main.command(
    help=f"""Export the archive: one file per table, a consistent copy of the database,
    or (--wacz) the captures of linked pages as a WACZ.

    Tables: {", ".join(EXPORTED_TABLES)}.
    The sqlite copy is made with SQLite's backup API, so it is consistent even
    while a crawl is writing. The WACZ opens in ReplayWeb.page and pywb.

    An existing output is never overwritten unless --force is given, and then
    only the files an export writes: the table files in the output folder
    (other files there are left alone), a sqlite output that is itself a copy
    of a digest archive, or a WACZ.

    Example: digest-archive export archive.db --format csv --output export/

    Example: digest-archive export archive.db --wacz links.wacz
    """
)
@archive_argument("The archive to export (default archive.db).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format.")
@click.option(
    "--output",
    type=click.Path(),
    help="Directory for csv/json/ndjson (one file per table); a new file for sqlite.",
)
@click.option(
    "--wacz",
    "wacz_file",
    type=click.Path(),
    help="Package the link captures (ARCHIVE.captures/*.warc.gz) as this WACZ file instead.",
)
@click.option("--force", is_flag=True, help="Replace files of an earlier export in the output (never other files).")
def export(
    archive: str | None, db_option: str | None, fmt: str | None, output: str | None, wacz_file: str | None, force: bool
) -> None:
    database = _archive_path(archive, db_option)
    if wacz_file is not None:
        _export_wacz(database, Path(wacz_file), force)
        return
    if fmt is None or output is None:
        _fail("give --format and --output (or --wacz FILE)", EXIT_NO_ARCHIVE)
    db = _open_archive(database)
    try:
        check_output(fmt, output, replace=force, source=database)
        if fmt == "sqlite":
            db.close()
            copy_database(database, output, replace=force)
            click.echo(f"Copied {database} to {output}")
            return
        counts = export_tables(db, fmt, output, replace=force)
    except OutputRefused as refused:
        _fail(f"{refused} (--force replaces it)" if refused.earlier_export else refused, EXIT_USER_ERROR)
    except (sqlite3.Error, OSError) as error:
        _fail(error, EXIT_USER_ERROR)
    finally:
        db.close()
    for table in EXPORTED_TABLES:
        click.echo(f"{Path(output) / f'{table}.{fmt}'}: {counts[table]} rows")


def _export_wacz(database: str, output: Path, force: bool) -> None:
    from storage.captures import captures_folder
    from storage.wacz import NothingToPackage, export_wacz

    db = _open_archive(database)
    try:
        check_output("wacz", output, replace=force, source=database)
        pages = export_wacz(db, captures_folder(database), output, title=f"Links of {Path(database).name}")
    except OutputRefused as refused:
        _fail(f"{refused} (--force replaces it)" if refused.earlier_export else refused, EXIT_USER_ERROR)
    except NothingToPackage as error:
        _fail(error, EXIT_USER_ERROR)
    finally:
        db.close()
    click.echo(f"{output}: {pages} captured pages")


@main.command()
@archive_argument("The archive whose links to show (default archive.db).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line and distinct link.")
def links(archive: str | None, db_option: str | None, as_json: bool) -> None:
    """Show the health of the archive's links, as the last `scrapy crawl links` found it.

    Without --json: links by status, the dead share per year of the digests
    that cite them, and the hosts with the most dead links. With --json: one
    object per distinct link (url, status of the last check, dead, http_status,
    final_url, checked_at, dead_since, capture, archived_copy, digests: how
    many cite it, cited_by: their id, url, number and published date).

    Example: digest-archive links archive.db --json
    """
    from storage import links as link_store

    database = _archive_path(archive, db_option)
    db = _open_archive(database)
    try:
        if as_json:
            for row in link_store.link_rows(db):
                click.echo(json.dumps(row, ensure_ascii=False))
            return
        data = link_store.link_summary(db)
    finally:
        db.close()
    total = sum(data["by_status"].values())
    click.echo(f"Links of {database}: {total} distinct")
    for status, count in data["by_status"].items():
        why = ", ".join(f"{n} {last}" for last, n in data["dead_by_last_status"].items()) if status == "dead" else ""
        click.echo(f"  {status:<14}{count:>6}" + (f"   (last check: {why})" if why else ""))
    if data["dead_share_by_year"]:
        click.echo("Dead share by year of the digests that cite them:")
        for year in data["dead_share_by_year"]:
            click.echo(
                f"  {year['year'] or '?':<6}{year['dead']:>5} of {year['links']:<5} {year['dead_share'] * 100:5.1f}%"
            )
    if data["hosts_with_most_dead"]:
        click.echo("Hosts with the most dead links:")
        for host in data["hosts_with_most_dead"]:
            click.echo(f"  {host['dead']:>5}  {host['host']}")


@main.command()
@archive_argument("The archive to browse (default archive.db).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1.")
def serve(archive: str | None, db_option: str | None, port: int) -> None:
    """Browse the archive in Datasette on 127.0.0.1, with the project's reader.

    Editions at lasting addresses (/-/edition/DB/SLUG), search in editions
    (/-/search/DB), the series report (/-/report/DB), the Atom feed; facets,
    full-text search and canned queries. The same as `datasette ARCHIVE` with
    the project installed (its plugin supplies the metadata for any file name).

    Example: digest-archive serve demo.db --port 8001
    """
    from datasette.cli import cli as datasette_cli

    database = _archive_path(archive, db_option)
    _open_archive(database).close()
    settings = [
        option
        for name, value in SERVE_SETTINGS.items()
        for option in ("--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value))
    ]
    datasette_cli.main(
        ["serve", database, "--host", "127.0.0.1", "--port", str(port), *settings], prog_name="datasette"
    )


# Datasette's settings for the archive. Facet suggestions are off: on a table page they run the page's
# filter (a full-text search, say) again for every candidate column, about nine tenths of the page's time
# at 10,000 digests, to offer facets the metadata already configures (year, site, section, domain). Each
# of Datasette's connections keeps up to 64 MiB of the file's pages (SQLite's default is 2 MiB): what the
# reader reads of a 10,000-post archive (digests, entries, their full-text indexes, editions, links) is
# about 45 MiB, and a search or a facet on a full-text filter looks up thousands of rows across it. A table
# page shows 50 rows (Datasette's default is 100): a digest row is wide (23 columns, its whole text), and
# rendering the rows in Datasette's templates was two thirds of the page's time.
SERVE_SETTINGS: dict[str, int | bool] = {
    "facet_time_limit_ms": 500,
    "suggest_facets": False,
    "cache_size_kb": 65536,
    "default_page_size": 50,
}
