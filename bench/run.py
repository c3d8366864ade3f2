"""`make bench`: the figures, each a ratio, a count or a time measured side by side in one run.

Writes bench/results.md with the machine, versions and date. Candidates are run alternately
(A B A B …) and the median of the rounds is reported; no absolute time is a target.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lxml.html  # noqa: E402
from archives import matching_archive, page_bodies, stored_archive  # noqa: E402
from common import BIN, FAST, REPO, alternate, machine, median, timed  # noqa: E402
from links import memory_by_links, polite_check  # noqa: E402
from links import rows as link_rows  # noqa: E402
from reader_pages import time_pages  # noqa: E402
from wordpress_pages import saved_listings  # noqa: E402

import storage  # noqa: E402
from core.parsing import parse_digest  # noqa: E402
from fixtures.cases import PAGE_CASES, case_url  # noqa: E402
from fixtures.server import FixtureServer  # noqa: E402
from fixtures.site import CATEGORY_PATH, build_site, generated_posts  # noqa: E402
from fixtures.wordpress.content import DIGEST_CATEGORY, OTHER_POSTS, as_wordpress_post, digest_posts  # noqa: E402
from fixtures.wordpress.testbed import MariaDB, WordPress, missing_packages  # noqa: E402


def crawl_command(start_url: str, database: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "scrapy"),
        "crawl",
        "digests",
        "-a",
        f"start_url={start_url}",
        "-s",
        f"DATABASE={database}",
        *FAST,
        *extra,
    ]


def fresh_db() -> Path:
    return Path(tempfile.mkdtemp(prefix="bench-")) / "archive.db"


# --- 1. crawl vs the floor ------------------------------------------------------------------------


def crawl_vs_floor(site, start_path: str, rounds: int, bare_args: tuple[str, ...] = ()) -> dict:
    with FixtureServer(site) as server:
        url = server.url(start_path)

        def project():
            return timed(crawl_command(url, fresh_db(), "-a", "mode=backfill"))

        def bare():
            # Outside the project (cwd /tmp): a bare Scrapy spider that fetches and drops the same pages.
            return timed(
                [
                    str(BIN / "scrapy"),
                    "runspider",
                    str(REPO / "bench" / "bare_spider.py"),
                    "-a",
                    f"start_url={url}",
                    *bare_args,
                    *FAST,
                ],
                cwd=Path(tempfile.gettempdir()),
            )

        server.clear_requests()
        project()
        requests_per_run = len(server.requests)
        results = alternate(rounds, project=project, bare=bare)
    project_s = median(t for t, _ in results["project"])
    bare_s = median(t for t, _ in results["bare"])
    return {
        "project_s": project_s,
        "bare_s": bare_s,
        "ratio": project_s / bare_s,
        "requests": requests_per_run,
        "project_rss_kib": median(r for _, r in results["project"]),
        "rounds": rounds,
    }


# --- 2. parser vs raw lxml -------------------------------------------------------------------------


def parser_vs_lxml(pages: list[tuple[bytes, str]], rounds: int, repeat: int = 20) -> dict:

    def ours():
        started = time.perf_counter()
        for _ in range(repeat):
            for body, url in pages:
                parse_digest(url, body)
        return time.perf_counter() - started

    def raw_lxml():
        started = time.perf_counter()
        for _ in range(repeat):
            for body, _ in pages:
                lxml.html.fromstring(body)
        return time.perf_counter() - started

    results = alternate(rounds, ours=ours, lxml=raw_lxml)
    count = repeat * len(pages)
    ours_s, lxml_s = median(results["ours"]), median(results["lxml"])
    return {
        "pages": len(pages),
        "ours_pages_per_s": count / ours_s,
        "lxml_pages_per_s": count / lxml_s,
        "ratio": ours_s / lxml_s,
        "rounds": rounds,
        "mean_page_kb": sum(len(b) for b, _ in pages) / len(pages) / 1024,
    }


# --- 3. storage vs plain sqlite3 ------------------------------------------------------------------


def _digests_for_storage(count: int) -> list:
    site = build_site(generated_posts(count))
    return [parse_digest(f"https://www.nejatngo.org{p.path}", site.pages[p.path].body) for p in site.posts]


def _plain_rows(digests):
    """The same rows the storage layer writes, with ids chosen up front for executemany."""
    digest_rows, url_rows, entry_rows, link_rows = [], [], [], []
    entry_id = 0
    now = "2026-01-01T00:00:00+00:00"
    for digest_id, digest in enumerate(digests, start=1):
        from core.urls import post_key

        digest_rows.append(
            (
                digest_id,
                digest.post_id,
                digest.site,
                digest.url,
                post_key(digest.url),
                digest.number,
                digest.title,
                digest.headline,
                digest.issue_date,
                digest.published,
                int(digest.published[:4]),
                digest.dateline,
                digest.text,
                len(digest.entries),
                sum(len(e.links) for e in digest.entries),
                digest.content_hash,
                now,
                now,
                now,
            )
        )
        url_rows.append((post_key(digest.url), digest_id, digest.url, now))
        for position, entry in enumerate(digest.entries, start=1):
            entry_id += 1
            entry_rows.append((entry_id, digest_id, position, entry.section, entry.text, entry.html))
            link_rows.extend(
                (entry_id, digest_id, n, link.url, link.text, link.domain)
                for n, link in enumerate(entry.links, start=1)
            )
    return digest_rows, url_rows, entry_rows, link_rows


def storage_vs_sqlite(rounds: int, count: int = 400) -> dict:
    digests = _digests_for_storage(count)
    rows = _plain_rows(digests)

    def ours():
        db = storage.open_database(fresh_db())
        batch = storage.WriteBatch(db, max_items=50)
        started = time.perf_counter()
        for digest in digests:  # as the crawl writes them (crawler/run.py)
            now = storage.utc_now()
            batch.write(lambda db, digest=digest, now=now: storage.save_digest(db, digest, now))
        batch.commit()
        elapsed = time.perf_counter() - started
        db.close()
        return elapsed

    def plain():
        path = fresh_db()
        storage.open_database(path).close()  # the same schema: tables, indexes, FTS and its triggers
        connection = sqlite3.connect(path, isolation_level=None)
        digest_rows, url_rows, entry_rows, link_rows = rows
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO digests (id, post_id, site, url, url_key, number, title, headline, issue_date, published, "
            "year, dateline, text, entry_count, link_count, content_hash, first_seen, last_seen, last_changed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            digest_rows,
        )
        connection.executemany(
            "INSERT INTO digest_urls (url_key, digest_id, url, first_seen) VALUES (?, ?, ?, ?)", url_rows
        )
        connection.executemany(
            "INSERT INTO entries (id, digest_id, position, section, text, html) VALUES (?, ?, ?, ?, ?, ?)", entry_rows
        )
        connection.executemany(
            "INSERT INTO links (entry_id, digest_id, position, url, text, domain) VALUES (?, ?, ?, ?, ?, ?)", link_rows
        )
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed

    results = alternate(rounds, ours=ours, plain=plain)
    ours_s, plain_s = median(results["ours"]), median(results["plain"])
    return {
        "digests": count,
        "ours_per_s": count / ours_s,
        "plain_per_s": count / plain_s,
        "ratio": ours_s / plain_s,
        "rounds": rounds,
    }


# --- 7, 8, 9. the offline tools and the reader -----------------------------------------------------


def _copy(path: Path) -> Path:
    copy = fresh_db()
    copy.write_bytes(path.read_bytes())
    return copy


def reparse_vs_parser(sizes: list[int], rounds: int) -> dict:
    """Figure 7: `digest-archive reparse` of an archive of each size, against its floor: the parser alone over
    the same pages in one process (and lxml.html.fromstring over them, the parser's own floor)."""
    from click.testing import CliRunner

    from cli.main import main as cli

    out = {}
    for size in sizes:
        archive = stored_archive(fresh_db(), size)
        bodies = page_bodies(archive)

        def reparse(archive=archive):
            copy = _copy(archive)
            started = time.perf_counter()
            result = CliRunner().invoke(cli, ["reparse", str(copy)])
            elapsed = time.perf_counter() - started
            if result.exit_code != 0:
                raise RuntimeError(result.output)
            return elapsed

        def parser(bodies=bodies):
            started = time.perf_counter()
            for url, body in bodies:
                parse_digest(url, body)
            return time.perf_counter() - started

        def raw_lxml(bodies=bodies):
            started = time.perf_counter()
            for _, body in bodies:
                lxml.html.fromstring(body)
            return time.perf_counter() - started

        results = alternate(rounds, reparse=reparse, parser=parser, lxml=raw_lxml)
        out[size] = {name: median(values) for name, values in results.items()}
    return out


def matching_by_size(sizes: list[int], rounds: int) -> dict:
    """Figure 8: matching after a first crawl (every digest new) and `match --all` at each size: linear means
    the same time per 1,000 posts at every size."""
    out = {}
    for size in sizes:
        archive = matching_archive(fresh_db(), size)

        def first_match(archive=archive):
            copy = _copy(archive)
            db = storage.open_database(copy)
            started = time.perf_counter()
            storage.update_editions(db)
            elapsed = time.perf_counter() - started
            db.close()
            return elapsed, copy

        def match_all():
            _, copy = first_match()
            db = storage.open_database(copy)
            started = time.perf_counter()
            storage.rebuild_editions(db)
            elapsed = time.perf_counter() - started
            db.close()
            return elapsed

        results = alternate(rounds, after_crawl=lambda: first_match()[0], match_all=match_all)
        out[size] = {name: median(values) for name, values in results.items()}
    return out


def reader_at(size: int, rounds: int) -> dict:
    """Figure 9: every kind of page the reader serves, at `size` posts (stored and matched), in Datasette's
    own client with `digest-archive serve`'s settings; median of the rounds, pages in turn."""
    archive = stored_archive(fresh_db(), size)
    db = storage.open_database(archive)
    storage.update_editions(db)
    db.close()
    return time_pages(archive, rounds)


def offline_rows(figures: dict) -> list[str]:
    rows = []
    reparse = figures.get("reparse") or {}
    for size, value in sorted(reparse.items()):
        met = size < 10_000 or value["reparse"] <= 8
        rows.append(
            f"| 7 | `digest-archive reparse`, {size:,} stored posts: total; floor: the parser alone over the same "
            f"pages in one process (lxml.html.fromstring alone) | **{value['reparse']:.2f}s**; "
            f"{value['parser']:.2f}s ({value['lxml']:.2f}s) | ≤ 8 s at 10,000 | "
            f"{'met' if met else '**not met**'} |"
        )
    matching = figures.get("matching") or {}
    if matching:
        sizes = sorted(matching)
        per_k = {s: {k: v / (s / 1000) for k, v in matching[s].items()} for s in sizes}
        spread = max(
            max(per_k[s][k] for s in sizes) / min(per_k[s][k] for s in sizes) for k in ("after_crawl", "match_all")
        )
        cells = "; ".join(
            f"{s:,}: {matching[s]['after_crawl']:.2f}s / {matching[s]['match_all']:.2f}s "
            f"({per_k[s]['match_all'] * 1000:.0f} ms per 1,000)"
            for s in sizes
        )
        rows.append(
            f"| 8 | matching after a first crawl / `match --all`, by posts | {cells}; per-post cost varies "
            f"**{spread:.2f}×** across sizes | linear (≤ 1.5× spread) | "
            f"{'met' if spread <= 1.5 else '**not met**'} |"
        )
    pages = figures.get("reader") or {}
    if pages:
        slowest = max(pages.values())
        over = [f"{label} {seconds * 1000:.0f} ms" for label, seconds in pages.items() if seconds > 0.1]
        cells = "; ".join(f"{label} {seconds * 1000:.0f}" for label, seconds in pages.items())
        verdict = "met" if not over else "**not met**: " + ", ".join(over)
        rows.append(
            f"| 9 | the reader's pages at {figures['reader_size']:,} posts, ms (median) | {cells}; slowest "
            f"**{slowest * 1000:.0f} ms** | ≤ 100 ms each | {verdict} |"
        )
    return rows


# --- 4 and 5. refresh cost vs size, memory of a large backfill -------------------------------------


def refresh_and_memory(sizes: list[int]) -> dict:
    out = {}
    for size in sizes:
        database = fresh_db()
        with FixtureServer(build_site(generated_posts(size))) as server:
            url = server.url(CATEGORY_PATH)
            seconds, rss = timed(crawl_command(url, database, "-a", "mode=backfill"))
            stored = sqlite3.connect(database).execute("SELECT count(*) FROM digests").fetchone()[0]
            server.clear_requests()
            timed(crawl_command(url, database))
            out[size] = {
                "backfill_s": seconds,
                "backfill_rss_kib": rss,
                "stored": stored,
                "refresh_requests": len(server.requests),
                "refresh_full": len(server.full_downloads()),
            }
    return out


def indexes_at_polite_settings() -> dict | None:
    """Figure 6: the test bed's archive at the default (polite) settings, through the REST API against
    through the HTML listing: a backfill, a refresh with nothing new, a refresh after an edit of the
    oldest digest (and whether that refresh stored the edit). Requests from PHP's log, wall times."""
    if missing_packages():
        return None
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-idx-") as root, MariaDB(Path(root) / "db") as mariadb:
        for index in ("html", "auto"):
            with WordPress(mariadb, Path(root) / index) as wordpress:
                posts = digest_posts()
                wordpress.insert([as_wordpress_post(post) for post in posts] + OTHER_POSTS)
                wordpress.configure(theme="twentytwentyone", permalinks="/%year%/%monthnum%/%day%/%postname%/")
                start_url = wordpress.lookup(categories=[DIGEST_CATEGORY])["category"][0]["link"]
                database = fresh_db()
                for step in ("backfill", "refresh", "edit"):
                    if step == "edit":
                        oldest = posts[-1]
                        content = as_wordpress_post(oldest)["content"].replace("<p>", "<p>Edited: ", 1)
                        wordpress.update(oldest.post_id, content=content)
                    wordpress.clear_requests()
                    mode = "backfill" if step == "backfill" else "refresh"
                    seconds, _ = timed(
                        [
                            str(BIN / "scrapy"),
                            "crawl",
                            "digests",
                            "-a",
                            f"start_url={start_url}",
                            "-a",
                            f"mode={mode}",
                            "-a",
                            f"index={index}",
                            "-s",
                            f"DATABASE={database}",
                            "-s",
                            "LOG_LEVEL=WARNING",
                            "-s",
                            "DIGEST_PROGRESS=off",
                        ]
                    )
                    results[(index, step)] = {"seconds": seconds, "requests": len(wordpress.page_requests())}
                edited = sqlite3.connect(database).execute("SELECT count(*) FROM digest_revisions").fetchone()[0]
                results[(index, "edit")]["stored"] = edited == 1
    results["digests"] = len(digest_posts())
    return results


def indexes_rows(figure: dict | None) -> list[str]:
    if figure is None:
        return [
            "",
            "Figure 6 (REST API against HTML listing on the WordPress test bed) was not measured: run "
            "scripts/install-wordpress.sh.",
        ]

    def cell(index: str, step: str) -> str:
        value = figure[(index, step)]
        found = "" if step != "edit" else (", edit stored" if value["stored"] else ", **edit not seen**")
        return f"{value['requests']} req, {value['seconds']:.1f}s{found}"

    steps = (
        ("backfill", "backfill"),
        ("refresh", "no-change refresh"),
        ("edit", "refresh after an edit of the oldest digest"),
    )
    measured = "; ".join(
        f"{label}: **{cell('auto', step)}** (REST) vs {cell('html', step)} (HTML)" for step, label in steps
    )
    met = (
        figure[("auto", "backfill")]["requests"] < figure[("html", "backfill")]["requests"]
        and figure[("auto", "refresh")]["requests"] <= 1
        and figure[("auto", "edit")]["stored"]
    )
    return [
        f"| 6 | the test bed's {figure['digests']}-digest archive at the default polite settings, requests "
        f"from the server's log (robots.txt aside) | {measured} | fewer backfill requests; 1-request refresh; "
        f"edits anywhere found | {'met' if met else '**not met**'} |"
    ]


def wordpress_figures(posts: int, rounds: int) -> list[dict] | None:
    """Figures 1 and 2 again, on the WordPress test bed's own pages (None when it is not installed)."""
    listings = saved_listings(posts)
    if listings is None:
        return None
    figures = []
    for listing in listings:
        sample = listing.post_paths[:: max(1, len(listing.post_paths) // 30)]
        origin = listing.site.origins[0]
        figures.append(
            {
                "theme": listing.theme,
                "posts": posts,
                "post_kb": listing.mean_kb(listing.post_paths),
                "listing_kb": listing.mean_kb([p for p in listing.site.pages if p not in set(listing.post_paths)]),
                "crawl": crawl_vs_floor(
                    listing.site,
                    listing.start_path,
                    rounds,
                    ("-a", f"post_css={listing.post_css}", "-a", f"next_css={listing.next_css}"),
                ),
                "parser": parser_vs_lxml(
                    [(listing.site.pages[p].body, origin + p) for p in sample], max(rounds, 5), repeat=5
                ),
            }
        )
    return figures


def wordpress_rows(figures: list[dict] | None) -> list[str]:
    if figures is None:
        return ["", "Figures 1w and 2w (WordPress test bed pages) were not measured: run scripts/install-wordpress.sh."]
    rows = []
    for number, figure in enumerate(figures, start=1):
        crawl, parser = figure["crawl"], figure["parser"]
        rows += [
            f"| 1w{number} | as 1, on saved pages of the WordPress test bed, theme {figure['theme']}: "
            f"{figure['posts']} posts (mean post {figure['post_kb']:.1f} KB, listing {figure['listing_kb']:.1f} KB), "
            f"{crawl['requests'] - 1} requests | **{crawl['ratio']:.2f}×** ({crawl['project_s']:.2f}s vs "
            f"{crawl['bare_s']:.2f}s) | ≤ 1.5× | {'met' if crawl['ratio'] <= 1.5 else '**not met**'} |",
            f"| 2w{number} | as 2, on {parser['pages']} of those post pages (mean {parser['mean_page_kb']:.1f} KB) "
            f"| **{parser['ratio']:.2f}×** ({parser['ours_pages_per_s']:.0f} vs {parser['lxml_pages_per_s']:.0f} "
            f"pages/s) | ≤ 3× | {'met' if parser['ratio'] <= 3 else '**not met**'} |",
        ]
    return rows


def write_results(path: Path, started: float, figures: dict) -> str:
    crawl, parser, store, sizes = figures["crawl"], figures["parser"], figures["storage"], figures["sizes"]
    largest, smallest_large = max(sizes), sorted(sizes)[-2]
    growth = (
        (sizes[largest]["backfill_rss_kib"] - sizes[smallest_large]["backfill_rss_kib"])
        / 1024
        / ((largest - smallest_large) / 1000)
    )
    peak = sizes[largest]["backfill_rss_kib"] / 1024

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    refresh_counts = [sizes[s]["refresh_requests"] for s in sorted(sizes)]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench` "
        f"in {time.monotonic() - started:.0f}s.",
        f"Machine and versions: {machine()}.",
        "",
        "Every figure is measured side by side in this one run, candidates alternating (A B A B …), median of "
        "the rounds. Fixture archives are served by the project's fixture server on 127.0.0.1 (shared by both "
        "candidates, so its own cost is in both).",
        "",
        "| # | figure | measured | target | |",
        "|---|---|---|---|---|",
        f"| 1 | backfill of a {crawl['requests'] - 1}-request ({figures['crawl_posts']}-post) archive, politeness off, "
        f"32 concurrent: project ÷ bare Scrapy spider | **{crawl['ratio']:.2f}×** ({crawl['project_s']:.2f}s vs "
        f"{crawl['bare_s']:.2f}s, {crawl['rounds']} rounds) | ≤ 1.8× | {verdict(crawl['ratio'] <= 1.8)} |",
        f"| 2 | parser ÷ `lxml.html.fromstring` on the {parser['pages']} saved post pages (mean "
        f"{parser['mean_page_kb']:.1f} KB) | **{parser['ratio']:.2f}×** ({parser['ours_pages_per_s']:.0f} vs "
        f"{parser['lxml_pages_per_s']:.0f} pages/s) | ≤ 4× | {verdict(parser['ratio'] <= 4)} |",
        f"| 3 | storage layer ÷ plain sqlite3 `executemany`, {store['digests']} digests with entries, links and FTS "
        f"| **{store['ratio']:.2f}×** ({store['ours_per_s']:.0f} vs {store['plain_per_s']:.0f} digests/s) | ≤ 1.3× "
        f"| {verdict(store['ratio'] <= 1.3)} |",
        f"| 4 | requests of a no-change refresh at {', '.join(f'{s:,}' for s in sorted(sizes))} posts | "
        f"**{' / '.join(map(str, refresh_counts))}** (full downloads "
        f"{' / '.join(str(sizes[s]['refresh_full']) for s in sorted(sizes))}) | the same small number | "
        f"{verdict(len(set(refresh_counts)) == 1 and refresh_counts[0] <= 6)} |",
        f"| 5 | peak RSS of a {largest:,}-post backfill; growth per extra 1,000 posts | **{peak:.0f} MB**; "
        f"**{growth:.1f} MB** ({smallest_large:,} → {largest:,}) | ≤ 200 MB; < 5 MB | "
        f"{verdict(peak <= 200 and growth < 5)} |",
        *wordpress_rows(figures.get("wordpress")),
        *indexes_rows(figures.get("indexes")),
        *offline_rows(figures),
        *link_rows(figures["links"], figures["links_memory"]),
        "",
        "Backfills behind figures 4 and 5: "
        + "; ".join(
            f"{s:,} posts: {sizes[s]['stored']:,} stored in {sizes[s]['backfill_s']:.1f}s, peak RSS "
            f"{sizes[s]['backfill_rss_kib'] / 1024:.0f} MB"
            for s in sorted(sizes)
        )
        + ".",
        "",
        "What the figures measure: (1) wall time of `scrapy crawl digests -a mode=backfill` against "
        "`scrapy runspider bench/bare_spider.py` fetching the same listing and post pages and dropping them, "
        "both obeying robots.txt, with `AUTOTHROTTLE_ENABLED=False DOWNLOAD_DELAY=0 CONCURRENT_REQUESTS=32`; "
        "(2) `parse_digest` against `lxml.html.fromstring` over the same bytes; (3) `storage.save_digest` in "
        "batches of 50 (as the crawl writes) against `executemany` of the same rows into the same schema, "
        "FTS triggers included; (4) requests the fixture server received during a refresh right after the "
        "backfill (robots.txt, listing page 1, three conditional re-checks); (5) `ru_maxrss` of the crawl process; "
        "(7) `digest-archive reparse` through its command (worker processes parse, the main process writes) against "
        "`parse_digest` over the same pages in one process, and `lxml.html.fromstring` over them; (8) "
        "`storage.update_editions` on an archive where every digest is new (as after a first crawl) and "
        "`storage.rebuild_editions` (`match --all`), on archives of twins on two sites; (9) each page fetched "
        "through `Datasette(...).client` with `digest-archive serve`'s settings, after one warm-up fetch.",
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crawl-posts", type=int, default=1000)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument(
        "--wordpress-posts",
        type=int,
        default=306,
        help="digests in the test bed's archive (306: the real archive's size)",
    )
    parser.add_argument("--reparse-sizes", default="1000,10000")
    parser.add_argument("--match-sizes", default="1000,10000,50000")
    parser.add_argument("--reader-size", type=int, default=10000)
    parser.add_argument("--output", default=str(REPO / "bench" / "results.md"))
    args = parser.parse_args()
    started = time.monotonic()
    figures = {"crawl_posts": args.crawl_posts}
    print("1/4 crawl vs the floor …", flush=True)
    figures["crawl"] = crawl_vs_floor(build_site(generated_posts(args.crawl_posts)), CATEGORY_PATH, args.rounds)
    print("2/4 parser vs lxml …", flush=True)
    saved = [((case / "page.html").read_bytes(), case_url(case)) for case in PAGE_CASES]
    figures["parser"] = parser_vs_lxml(saved, max(args.rounds, 5))
    print("3/4 storage vs sqlite3 …", flush=True)
    figures["storage"] = storage_vs_sqlite(max(args.rounds, 5))
    print("4/4 refresh cost and memory by archive size …", flush=True)
    figures["sizes"] = refresh_and_memory([int(s) for s in args.sizes.split(",")])
    print("1w, 2w crawl and parser on the WordPress test bed's pages …", flush=True)
    figures["wordpress"] = wordpress_figures(args.wordpress_posts, args.rounds)
    print("6 the REST API against the HTML listing at polite settings …", flush=True)
    figures["indexes"] = indexes_at_polite_settings()
    print("7 reparse against the parser alone …", flush=True)
    figures["reparse"] = reparse_vs_parser([int(s) for s in args.reparse_sizes.split(",")], args.rounds)
    print("8 matching by archive size …", flush=True)
    figures["matching"] = matching_by_size([int(s) for s in args.match_sizes.split(",")], args.rounds)
    print("9 the reader's pages …", flush=True)
    figures["reader_size"] = args.reader_size
    figures["reader"] = reader_at(args.reader_size, max(args.rounds, 5))
    print("10 the link check at the default politeness, and its memory …", flush=True)
    figures["links"] = polite_check()
    figures["links_memory"] = memory_by_links()
    print(write_results(Path(args.output), started, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
