"""Where the time goes, for the figures whose targets bench/results.md reports not met: measured here.

`make bench` runs it after the figures; alone: `.venv/bin/python bench/profiles.py` (about two minutes).
Writes bench/profiles.md. Each section measures one thing directly (timers around the parser's steps,
cProfile of a crawl, CPU time of reparse's processes, Datasette's own SQL trace of each page), so that a
figure over its target comes with what its time is spent on.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lxml.html  # noqa: E402
from archives import stored_archive  # noqa: E402
from common import BIN, FAST, REPO, machine  # noqa: E402
from reader_pages import SETTINGS, pages  # noqa: E402

import core.parsing.digest as digest_module  # noqa: E402
import core.sanitise as sanitise_module  # noqa: E402
import storage  # noqa: E402
from cli.reparse import reparse_archive  # noqa: E402
from fixtures.cases import PAGE_CASES, case_url  # noqa: E402
from fixtures.server import FixtureServer  # noqa: E402
from fixtures.site import CATEGORY_PATH, build_site, generated_posts  # noqa: E402

# --- the parser's steps ------------------------------------------------------------------------------

# parse_digest's steps, in the order it takes them (each a function of core/parsing/digest.py).
PARSER_STEPS = (
    "html_as_utf8",
    "make_tree",
    "_PageElements",
    "_read_metas",
    "_parse_canonical_url",
    "_parse_post_id",
    "_parse_published",
    "_parse_title",
    "_parse_subheadline",
    "_find_content",
    "collapse_blank_strings",
    "_parse_body",
    "parse_title",
)


def parser_steps(rounds: int = 30) -> dict:
    """Microseconds per page in each step of parse_digest over the saved post pages (the fastest of the
    rounds, step by step), with nh3's sanitising and the entries' finishing inside `_parse_body`, and
    lxml.html.fromstring over the same bytes."""
    saved = [((case / "page.html").read_bytes(), case_url(case)) for case in PAGE_CASES]
    spent: Counter = Counter()
    timers = {}

    def timed_step(name, function):
        def step(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return step

    originals = {name: getattr(digest_module, name) for name in (*PARSER_STEPS, "_finish_entry")}
    original_sanitise = digest_module.sanitise_html
    for name, function in originals.items():
        timers[name] = timed_step(name, function)
        setattr(digest_module, name, timers[name])
    digest_module.sanitise_html = timed_step("sanitise_html (nh3)", sanitise_module.sanitise_html)
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            spent.clear()
            started = time.perf_counter()
            for body, url in saved:
                digest_module.parse_digest(url, body)
            spent["total"] = time.perf_counter() - started
            for name, seconds in spent.items():
                best[name] = min(best.get(name, seconds), seconds)
    finally:
        for name, function in originals.items():
            setattr(digest_module, name, function)
        digest_module.sanitise_html = original_sanitise
    lxml_best = min(_lxml_round(saved) for _ in range(rounds))
    per_page = {name: seconds / len(saved) * 1e6 for name, seconds in best.items()}
    return {"pages": len(saved), "steps": per_page, "lxml": lxml_best / len(saved) * 1e6}


def _lxml_round(saved) -> float:
    started = time.perf_counter()
    for body, _ in saved:
        lxml.html.fromstring(body)
    return time.perf_counter() - started


def parser_rows(found: dict) -> list[str]:
    steps, total = found["steps"], found["steps"]["total"]
    rows = [
        f"parse_digest over the {found['pages']} saved post pages: **{total:.0f} µs a page**, against "
        f"{found['lxml']:.0f} µs for `lxml.html.fromstring` of the same bytes ({total / found['lxml']:.1f}×). "
        "Each step's fastest round, µs a page:",
        "",
        "| step | µs a page | share |",
        "|---|---|---|",
    ]
    for name in (*PARSER_STEPS, "_finish_entry", "sanitise_html (nh3)"):
        inside = " (inside `_parse_body`)" if name in ("_finish_entry", "sanitise_html (nh3)") else ""
        rows.append(f"| `{name}`{inside} | {steps.get(name, 0):.0f} | {steps.get(name, 0) / total:.0%} |")
    accounted = sum(steps.get(name, 0) for name in PARSER_STEPS)
    rows.append(f"| the rest of parse_digest (building the item) | {total - accounted:.0f} | "
                f"{(total - accounted) / total:.0%} |")  # fmt: skip
    return rows


# --- a backfill, profiled ----------------------------------------------------------------------------

CRAWL_PARTS = (
    ("storing (the store pipeline, all of it)", "crawler/run.py", "store"),
    ("  of which: commits", "storage/batch.py", "commit"),
    ("  of which: kept pages (zlib)", "storage/pages.py", "save_page"),
    ("  of which: digests, entries, links", "storage/digests.py", "save_digest"),
    ("parsing post pages (parse_digest)", "core/parsing/digest.py", "parse_digest"),
    ("parsing listing pages", "core/parsing/listing.py", "parse_listing"),
    ("matching editions at the close", "storage/editions.py", "update_editions"),
    ("the spider's callbacks, all of them", "spiders/digest_paths/posts.py", "parse_post"),
)


def crawl_profile(posts: int = 1000) -> dict:
    """cProfile of one backfill of the fixture archive (politeness off, as figure 1), its parts by
    cumulative time; times are inflated by the profiler, the shares are what matters."""
    site = build_site(generated_posts(posts))
    output = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "crawl.prof"
    with FixtureServer(site) as server:
        database = Path(tempfile.mkdtemp(prefix="bench-")) / "archive.db"
        command = [
            str(BIN / "python"), "-m", "cProfile", "-o", str(output), str(BIN / "scrapy"), "crawl", "digests",
            "-a", f"start_url={server.url(CATEGORY_PATH)}", "-a", "mode=backfill", "-s", f"DATABASE={database}",
            *FAST,
        ]  # fmt: skip
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        # The floor of figure 1, profiled the same way: a bare Scrapy spider fetching the same pages.
        bare_output = output.with_name("bare.prof")
        bare = [
            str(BIN / "python"), "-m", "cProfile", "-o", str(bare_output), str(BIN / "scrapy"), "runspider",
            str(REPO / "bench" / "bare_spider.py"), "-a", f"start_url={server.url(CATEGORY_PATH)}", *FAST,
        ]  # fmt: skip
        subprocess.run(bare, cwd=tempfile.gettempdir(), check=True, capture_output=True)
    bare_stats = pstats.Stats(str(bare_output)).stats  # type: ignore[attr-defined]
    stats = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    total = max(entry[3] for entry in stats.values())
    parts = {}
    for label, path, function in CRAWL_PARTS:
        parts[label] = sum(
            entry[3] for (file, _, name), entry in stats.items() if file.endswith(path) and name == function
        )
    return {"posts": posts, "total": total, "parts": parts, "bare": max(entry[3] for entry in bare_stats.values())}


def crawl_rows(found: dict) -> list[str]:
    rows = [
        f"A backfill of the {found['posts']}-post fixture archive under cProfile: {found['total']:.1f} s profiled "
        "(the profiler inflates Python code, not SQLite's or libxml2's C). Cumulative time of each part:",
        "",
        "| part | profiled s | share |",
        "|---|---|---|",
    ]
    for label, seconds in found["parts"].items():
        rows.append(f"| {label} | {seconds:.2f} | {seconds / found['total']:.0%} |")
    ours = sum(found["parts"][label] for label in (CRAWL_PARTS[0][0], CRAWL_PARTS[-1][0], CRAWL_PARTS[-3][0]))
    rest = found["total"] - ours
    rows += [
        "| the rest: Scrapy and Twisted (scheduling, downloading, the middlewares, handing items to the "
        f"pipelines), start-up imports | {rest:.2f} | {rest / found['total']:.0%} |",
        "",
        f"The bare spider over the same pages, profiled the same way: {found['bare']:.1f} s, all of it Scrapy "
        "and Twisted. The backfill's Scrapy and Twisted part is "
        f"{rest / found['bare']:.2f}× the bare spider's whole run.",
    ]
    return rows


# --- reparse: which process is busy ------------------------------------------------------------------


def reparse_cpu(archive: Path, posts: int) -> dict:
    """Wall time of reparse, the CPU time of the process that writes and of the worker processes that
    parse (reaped when the pool closes), and the parser alone over the same pages in one process."""
    db = storage.open_database(archive)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    reparse_archive(db)
    wall = time.perf_counter() - started
    own_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    bodies = [(page.url, page.body) for page in storage.stored_pages(db)]
    db.close()
    started = time.perf_counter()
    for url, body in bodies:
        digest_module.parse_digest(url, body)
    parser_alone = time.perf_counter() - started
    return {
        "posts": posts,
        "wall": wall,
        "writer_cpu": own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime,
        "workers_cpu": children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime,
        "parser_alone": parser_alone,
        "cores": os.cpu_count() or 1,
    }


def reparse_rows(found: dict) -> list[str]:
    busy = found["writer_cpu"] + found["workers_cpu"]
    return [
        f"`reparse` of {found['posts']:,} stored posts: **{found['wall']:.2f} s** wall; CPU: the worker processes "
        f"(parsing) {found['workers_cpu']:.2f} s, the process that reads and writes the archive "
        f"{found['writer_cpu']:.2f} s; {busy:.2f} s of CPU on {found['cores']} cores is at least "
        f"{busy / found['cores']:.2f} s of wall time. The parser alone over the same pages in one process: "
        f"{found['parser_alone']:.2f} s.",
    ]


# --- the reader's pages: SQL against the rest ---------------------------------------------------------


def reader_split(archive: Path, posts: int, rounds: int = 5) -> dict:
    """Each page's median time and the part of it in SQL (Datasette's own trace of every query)."""
    from datasette.app import Datasette
    from datasette.tracer import capture_traces

    datasette = Datasette([str(archive)], settings=SETTINGS)
    targets = pages(archive)
    found: dict[str, dict] = {}

    async def run() -> None:
        for label, url in targets.items():
            await datasette.client.get(url)
            totals, sql, queries = [], [], 0
            for _ in range(rounds):
                traces: list = []
                with capture_traces(traces):
                    started = time.perf_counter()
                    await datasette.client.get(url)
                    totals.append(time.perf_counter() - started)
                sql.append(sum(trace.get("duration_ms", 0) for trace in traces if trace.get("sql")) / 1000)
                queries = sum(1 for trace in traces if trace.get("sql"))
            found[label] = {
                "url": url,
                "total": statistics.median(totals),
                "sql": statistics.median(sql),
                "queries": queries,
            }

    asyncio.run(run())
    return {"posts": posts, "pages": found}


SEARCHES = (("search ?q=digest", "digest", "relevance"), ("search ?q=camp (newest)", "camp", "newest"))


class _TimedConnection:
    """A connection whose every statement is run to its last row at once and timed: SQLite's share."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.in_sqlite = 0.0

    def execute(self, sql: str, parameters=()):
        started = time.perf_counter()
        cursor = self.connection.execute(sql, parameters)
        rows = cursor.fetchall()
        self.in_sqlite += time.perf_counter() - started
        return _Rows(cursor.description, rows)


class _Rows(list):
    def __init__(self, description, rows) -> None:
        super().__init__(rows)
        self.description = description

    def fetchall(self) -> list:
        return list(self)


def search_split(archive: Path, rounds: int = 5) -> dict:
    """The reader's search (the plugin's page) below Datasette: `search_editions` (the 20 hits shown) and
    `filter_choices`, the time in SQLite's statements against the search's own Python."""
    import sqlite3

    from storage.search import filter_choices, search_editions

    connection = _TimedConnection(sqlite3.connect(archive))
    found = {}
    for label, text, sort in SEARCHES:
        search_editions(connection, text, sort=sort)  # type: ignore[arg-type]
        totals, in_sqlite = [], []
        for _ in range(rounds):
            connection.in_sqlite = 0.0
            started = time.perf_counter()
            search_editions(connection, text, sort=sort, limit=20)  # type: ignore[arg-type]
            filter_choices(connection)  # type: ignore[arg-type]
            totals.append(time.perf_counter() - started)
            in_sqlite.append(connection.in_sqlite)
        profile = cProfile.Profile()
        profile.enable()
        search_editions(connection, text, sort=sort, limit=20)  # type: ignore[arg-type]
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        own = [
            (entry[2], f"{name}, line {line}")
            for (file, line, name), entry in stats.items()
            if file.endswith("search.py")
        ]
        found[label] = {
            "total": statistics.median(totals),
            "sqlite": statistics.median(in_sqlite),
            "python": sorted(own, reverse=True)[:3],
        }
    connection.connection.close()
    return found


def search_rows(found: dict) -> list[str]:
    rows = [
        "",
        "The plugin's search pages below Datasette: `search_editions` (20 hits shown) and `filter_choices`, "
        "ms a page (median), the part of it in SQLite's statements, and the search's own Python functions "
        "of most time of their own (cProfile, one search, inflated):",
        "",
        "| page | in all | in SQLite's statements | the search's own Python, the three costliest functions |",
        "|---|---|---|---|",
    ]
    for label, page in found.items():
        python = ", ".join(f"`{name}` {seconds * 1000:.0f}" for seconds, name in page["python"])
        rows.append(f"| {label} | {page['total'] * 1000:.0f} | {page['sqlite'] * 1000:.0f} | {python} |")
    return rows


def reader_rows(found: dict) -> list[str]:
    rows = [
        f"Each page at {found['posts']:,} posts (median of the rounds), and the time its SQL queries took "
        "(Datasette's trace); the rest is Python: Datasette's templates and the plugin.",
        "",
        "| page | ms | SQL ms (queries) | the rest, ms |",
        "|---|---|---|---|",
    ]
    for label, page in found["pages"].items():
        if page["url"].startswith("/-/"):
            # The plugin's pages run their statements in one `execute_fn` call, which Datasette does not trace.
            rows.append(f"| {label} | {page['total'] * 1000:.0f} | (the plugin's, untraced) | |")
            continue
        rows.append(
            f"| {label} | {page['total'] * 1000:.0f} | {page['sql'] * 1000:.0f} ({page['queries']}) | "
            f"{(page['total'] - page['sql']) * 1000:.0f} |"
        )
    return rows


def main() -> int:
    started = time.monotonic()
    print("profile: the parser's steps …", flush=True)
    parser = parser_steps()
    print("profile: a backfill under cProfile …", flush=True)
    crawl = crawl_profile()
    print("profile: reparse's processes, on an archive of 10,000 posts …", flush=True)
    archive = stored_archive(Path(tempfile.mkdtemp(prefix="bench-")) / "archive.db", 10_000)
    reparse = reparse_cpu(archive, 10_000)
    print("profile: the reader's pages, SQL against the rest …", flush=True)
    reader = reader_split(archive, 10_000)
    search = search_split(archive)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Where the time goes",
        "",
        f"Measured {now} by `bench/profiles.py` in {time.monotonic() - started:.0f}s; {machine()}.",
        "For the figures of [results.md](results.md) whose targets are not met.",
        "",
        "## Figures 2 and 2w: the parser",
        "",
        *parser_rows(parser),
        "",
        "## Figures 1 and 1w: a backfill",
        "",
        *crawl_rows(crawl),
        "",
        "## Figure 7: reparse",
        "",
        *reparse_rows(reparse),
        "",
        "## Figure 9: the reader's pages",
        "",
        *reader_rows(reader),
        *search_rows(search),
        "",
    ]
    output = REPO / "bench" / "profiles.md"
    output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
