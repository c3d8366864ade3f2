"""Spider arguments (`-a NAME=VALUE`): each spider declares the ones it takes; any other is refused.

Scrapy hands every `-a` to the spider's constructor as a keyword, and a spider that ignored the ones
it does not know would start a run anyway: `-a modes=backfill` (a typo) would refresh, and without a
start URL it would refresh the real sites into archive.db. scrapyd adds arguments of its own to every
job it launches (scrapyd 1.6, `webservice.Schedule` and `launcher.get_crawl_args`): `_job` always,
`_version` when the job asks for an egg version; those are accepted and mean nothing to the spider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SCRAPYD_ARGUMENTS = ("_job", "_version")


def unknown_argument(given: Iterable[str], known: Mapping[str, str]) -> str | None:
    """One line saying which argument is unknown and which the spider takes (`known`: each name and
    what it takes); None when every one given is known."""
    unknown = sorted(name for name in given if name not in known and name not in SCRAPYD_ARGUMENTS)
    if not unknown:
        return None
    takes = ", ".join(f"-a {name}={value}" for name, value in known.items()) if known else "no -a arguments"
    return f"unknown argument -a {unknown[0]}: this spider takes {takes}"
