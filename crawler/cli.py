"""`digest-archive`: commands around the archive the crawl builds.

Exit codes: 0 success, 1 a user error (bad option value), 2 misuse or a missing / foreign database.
"""

from __future__ import annotations

import json
import sys

import click

import storage

EXIT_NO_ARCHIVE = 2


def _open_archive(path: str):
    """Open an existing archive read-write, or stop with one line and exit code 2."""
    try:
        return storage.open_database(path, create=False)
    except storage.ArchiveError as error:
        click.echo(f"digest-archive: error: {error}", err=True)
        sys.exit(EXIT_NO_ARCHIVE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digest-archive")
def main() -> None:
    """Keep and use an SQLite archive of the Iran Interlink Weekly Digest.

    Crawling is done by Scrapy: `scrapy crawl digests` (see the README).
    """


@main.command()
@click.option("--db", "database", default="archive.db", show_default=True, help="The archive to read.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(database: str, as_json: bool) -> None:
    """Print what the archive holds: counts, number range, the last run, pages that failed.

    Example: digest-archive summary --db demo.db
    """
    db = _open_archive(database)
    data = storage.archive_summary(db)
    db.close()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    low, high = data["numbers"]
    first, last = data["published"]
    click.echo(f"Archive {database}")
    click.echo(f"  digests   {data['digests']:>6}   numbers {low}\u2013{high}, published {first} to {last}")
    click.echo(f"  entries   {data['entries']:>6}   sections: {', '.join(data['sections']) or '-'}")
    click.echo(f"  links     {data['links']:>6}")
    click.echo(f"  failures  {data['failures']:>6}")
    run = data["last_run"]
    if run:
        click.echo(f"Last run #{run['id']} ({run['mode']}, {run['status']}): {run['listing_pages']} listing pages, "
                   f"{run['posts_fetched']} posts fetched, {run['new']} new, {run['changed']} changed, "
                   f"{run['unchanged']} unchanged, {run['failed']} failed")
    if data["latest"]:
        click.echo("Latest digests:")
        for digest in data["latest"]:
            number = digest["number"] if digest["number"] is not None else "-"
            click.echo(f"  {number:>4}  {digest['published'] or '?':<10}  {digest['entries']:>2} entries  {digest['title']}")
    if data["unresolved_failures"]:
        click.echo("Pages that failed and are not stored:")
        for failure in data["unresolved_failures"]:
            click.echo(f"  [{failure['kind']}] {failure['url']}: {failure['message']}")
