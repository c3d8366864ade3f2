"""Figure 10 of `make bench`: the link check at the default politeness, and its memory by number of links.

(a) A stand-in web (fixtures/web.py) of one busy host with `busy` links and `hosts` other hosts with fewer
    each, checked by `scrapy crawl links` at the project's default politeness (DOWNLOAD_DELAY=1 per
    host without jitter, AutoThrottle, one request at a time per host): wall time ÷ (the busiest host's
    links × the delay), the time that host needs on its own; target ≤ 1.2×. Also measured: the same
    check of the busiest host's links alone, so the ratio shows what the other hosts cost (nothing,
    when none waits behind the busy one). Process start-up and robots.txt are inside the wall time.
(b) Peak RSS of the check process (Scrapy's memusage/max) at two numbers of links, politeness off:
    it should stay flat.

Run alone: `.venv/bin/python bench/links.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.linked import archive_linking  # noqa: E402
from fixtures.web import Host, StandInWeb  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _check(database: Path, web: StandInWeb, *extra: str) -> tuple[float, str]:
    env = dict(os.environ, **web.proxy_env())
    command = [
        str(BIN / "scrapy"), "crawl", "links", "-s", f"DATABASE={database}", "-s", "LOG_LEVEL=INFO",
        "-s", "DIGEST_LINK_CDX_API=", *extra,
    ]  # fmt: skip
    # Through a small launcher: Linux counts the RSS a process had when it was forked into the peak RSS of
    # what it executes, so the crawl started straight from this (large, late in `make bench`) process
    # would report this process's size as its own (Scrapy's `memusage/max` reads the crawl's own peak).
    launcher = [sys.executable, "-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"]
    started = time.monotonic()
    result = subprocess.run([*launcher, *command], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return elapsed, result.stderr


def _web_and_archive(busy: int, hosts: int, per_host: int, folder: Path) -> tuple[dict[str, Host], Path]:
    urls = [f"http://busy.test/article/{n}" for n in range(busy)]
    for host in range(hosts):
        urls += [f"http://host{host}.test/article/{n}" for n in range(1 + host % per_host)]
    database = folder / "archive.db"
    # Spread over digests of a few years, as the real archive's links are.
    chunks = [urls[i : i + 10] for i in range(0, len(urls), 10)]
    archive_linking(database, [(f"{2013 + n % 9}-06-01", chunk) for n, chunk in enumerate(chunks)])
    web = {"busy.test": Host("ok"), **{f"host{n}.test": Host("ok") for n in range(hosts)}}
    return web, database


def polite_check(busy: int = 30, hosts: int = 40, per_host: int = 10) -> dict:
    """The whole stand-in web, and its busiest host alone, each checked at the default politeness."""
    folder = Path(tempfile.mkdtemp(prefix="bench-links-"))
    hosts_map, database = _web_and_archive(busy, hosts, per_host, folder)
    alone_folder = Path(tempfile.mkdtemp(prefix="bench-links-"))
    alone_hosts, alone_database = _web_and_archive(busy, 0, per_host, alone_folder)
    with StandInWeb(alone_hosts) as web:
        alone, _ = _check(alone_database, web)
    with StandInWeb(hosts_map) as web:
        elapsed, _ = _check(database, web)  # the project's defaults: DOWNLOAD_DELAY=1, AutoThrottle on
        links = sum(1 for entry in web.log if entry[1] != "/robots.txt")
    delay = 1.0
    return {
        "links": links,
        "hosts": hosts + 1,
        "busy": busy,
        "seconds": elapsed,
        "alone": alone,
        "floor": busy * delay,
        "ratio": elapsed / alone,
        "ratio_to_floor": elapsed / (busy * delay),
    }


def memory_by_links(sizes: tuple[int, ...] = (500, 5000), hosts: int = 100) -> dict[int, float]:
    peaks = {}
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix="bench-links-"))
        per_host = size // hosts
        urls = [f"http://host{n % hosts}.test/a/{n}" for n in range(size)]
        database = folder / "archive.db"
        archive_linking(database, [("2019-01-01", urls[i : i + 50]) for i in range(0, len(urls), 50)])
        web_hosts = {f"host{n}.test": Host("ok") for n in range(hosts)}
        with StandInWeb(web_hosts) as web:
            _, log = _check(
                database, web, "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
                "-s", "CONCURRENT_REQUESTS=32", "-s", "DIGEST_LINK_CAPTURE=False",
            )  # fmt: skip
        found = re.search(r"'memusage/max': (\d+)", log)
        peaks[size] = int(found[1]) / 1024 / 1024 if found else float("nan")
        del per_host
    return peaks


def rows(polite: dict, peaks: dict[int, float]) -> list[str]:
    small, large = min(peaks), max(peaks)
    growth = peaks[large] - peaks[small]
    ok = polite["ratio_to_floor"] <= 1.2
    return [
        f"| 10 | link check of {polite['links']} links on {polite['hosts']} hosts at the default politeness ÷ its "
        f"busiest host's {polite['busy']} links × DOWNLOAD_DELAY 1 s | **{polite['ratio_to_floor']:.2f}×** "
        f"({polite['seconds']:.1f}s; that host's links checked alone: {polite['alone']:.1f}s, "
        f"{polite['ratio']:.2f}×) | ≤ 1.2× | {'met' if ok else '**not met**'} |",
        f"| 10m | peak RSS of a link check, {small:,} → {large:,} links (politeness off) | "
        f"**{peaks[small]:.0f} → {peaks[large]:.0f} MB** (+{growth:.0f} MB) | flat | "
        f"{'met' if growth < 15 else '**not met**'} |",
    ]


if __name__ == "__main__":
    polite = polite_check()
    peaks = memory_by_links()
    print("\n".join(rows(polite, peaks)))
