"""The reader's pages at a given archive size, timed in-process with Datasette's own client (no port).

`pages(database)` lists every kind of page the project serves, with the setting `digest-archive serve`
uses; `time_pages` times each (median of rounds, the pages taken in turn in each round).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path

from cli.main import SERVE_SETTINGS
from storage.report import CANNED_QUERIES

SETTINGS = dict(SERVE_SETTINGS)  # `digest-archive serve`'s


def pages(path: Path) -> dict[str, str]:
    name = path.stem
    connection = sqlite3.connect(path)
    try:
        slug, digest_id = connection.execute(
            "SELECT e.slug, d.id FROM editions e JOIN digests d ON d.edition_id = e.id ORDER BY e.id LIMIT 1 OFFSET "
            "(SELECT count(*) / 2 FROM editions)"
        ).fetchone()
        domain = connection.execute("SELECT domain FROM links GROUP BY domain ORDER BY count(*) DESC").fetchone()[0]
    finally:
        connection.close()
    found = {
        "database index": f"/{name}",
        "digests table": f"/{name}/digests",
        "editions table": f"/{name}/editions",
        "entries table": f"/{name}/entries",
        "links table": f"/{name}/links",
        "digests ?_search=digest": f"/{name}/digests?_search=digest",
        "entries ?_search=camp": f"/{name}/entries?_search=camp",
        "search ?q=digest": f"/-/search/{name}?q=digest",
        "search ?q=camp (newest)": f"/-/search/{name}?q=camp&sort=newest",
        "edition page": f"/-/edition/{name}/{slug}",
        "reading view": f"/-/digest/{name}/{digest_id}",
        "series report": f"/-/report/{name}",
        "Atom feed": f"/-/editions/{name}.atom",
    }
    for query in CANNED_QUERIES:
        found[f"query {query}"] = f"/{name}/{query}" + ("?domain=" + domain if "domain" in query else "")
    return found


def time_pages(path: Path, rounds: int = 5, settings: dict | None = None) -> dict[str, float]:
    """Median seconds per page (each page fetched once before the rounds, so caches are warm)."""
    from datasette.app import Datasette

    datasette = Datasette([str(path)], settings=SETTINGS if settings is None else settings)
    targets = pages(path)
    times: dict[str, list[float]] = {label: [] for label in targets}

    async def run() -> None:
        for url in targets.values():
            response = await datasette.client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}")
        for _ in range(rounds):
            for label, url in targets.items():
                started = time.perf_counter()
                await datasette.client.get(url)
                times[label].append(time.perf_counter() - started)

    asyncio.run(run())
    return {label: statistics.median(values) for label, values in times.items()}
