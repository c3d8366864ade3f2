"""Shared test helpers: the fixture server, a backfilled template archive, and the real `scrapy crawl`.

The session serves the fixture archive once (`site_server`, restored after every test that changes
it) and backfills it once into a template archive; tests that start from a backfilled archive get a
copy of it (`backfilled_archive`): as real as a fresh crawl, without crawling the same site again.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.editions import INTERLINK_LISTING, interlink_site, nejatngo_site
from fixtures.server import ROBOTS_TXT, FixtureServer
from fixtures.site import CATEGORY_PATH, archive_posts, build_site
from storage.export import copy_database
from tests.forkserver import ScrapyPopen, run_scrapy

__all__ = ["ScrapyPopen", "run_scrapy"]  # for the test modules that start `scrapy` their own way

REPO = Path(__file__).resolve().parent.parent

# Files whose tests all read one module-scoped crawl: `make test` keeps each on one worker, which
# crawls it once (another worker would crawl it again).
ONE_WORKER_FILES = (
    "tests/test_digests_spider_faults.py",
    "tests/test_reader_deadlinks.py",
    "tests/test_links_spider_reports.py",
)


# The longest tests (a dozen crawls each, or hundreds of reader pages): `make test` sends them first, so
# that none starts last on one worker while the other workers have finished.
SLOW_FIRST = (
    "tests/test_digests_spider_hostile_sites.py::test_any_hostile_site_keeps_the_invariants",
    "tests/test_reader_security.py::test_no_stored_value_can_inject_markup_into_any_page",
    "tests/test_links_spider.py::test_live_pages_captured_to_warc_once_and_revisited_when_unchanged",
    "tests/test_links_spider.py::test_a_link_gone_at_its_first_check_gets_its_copy_in_the_same_run_and_one_lookup",
    "tests/test_links_spider.py::test_a_check_is_not_repeated_within_its_period_and_dead_takes_two_failures",
    "tests/test_digests_spider_hostile_sites.py::test_only_a_run_that_left_nothing_to_retry_keeps_the_feeds",
)


def pytest_collection_modifyitems(config, items):
    """Under `--dist loadscope` (`make test`), the tests of SLOW_FIRST go first (the scheduler deals the
    tests out in this order); a run without it keeps the files' order, and so their module fixtures."""
    if config.getvalue("dist") == "loadscope":
        items.sort(key=lambda item: not item.nodeid.startswith(SLOW_FIRST))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` (`make test`): each test is sent on its own to the next free worker, but for the
    files of ONE_WORKER_FILES, sent whole. A file's tests are not held on one worker (`--dist loadfile`
    left one worker crawling the hostile-site file's 36 times while the other had finished), and a worker that
    waits on a subprocess's timeout does not hold back the tests behind it. (`xdist_group` markers, which
    would say this in the test files, are not read by pytest-xdist 3.8 under pytest 9.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneTestOrOneFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    return OneTestOrOneFile(config, log)


# Politeness off: the fixture server is ours and on loopback.
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO"]


def crawl_command(start_url: str | None, database: Path, *args: str) -> list[str]:
    """`scrapy crawl digests` as a user runs it, with the politeness off for the loopback server
    (no start URL: the listings of the DIGEST_LISTINGS setting)."""
    start = ["-a", f"start_url={start_url}"] if start_url else []
    return [sys.executable, "-m", "scrapy", "crawl", "digests", *start, "-s", f"DATABASE={database}", *FAST, *args]


def run_crawl(start_url: str | None, database: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`scrapy crawl digests` for real, from the repository root, in a process of its own (forked by the
    worker's fork server, tests/forkserver.py, which has Scrapy imported already)."""
    return run_scrapy(crawl_command(start_url, database, *args), timeout=timeout)


def assert_clean_run(result: subprocess.CompletedProcess) -> None:
    """`scrapy crawl` exits 0 even when a callback raised: look at the log too."""
    log = result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500) :][:5000]
    errors = re.search(r"'log_count/ERROR': (\d+)", log)
    assert errors is None, log[-4000:]


def rows(database: Path, sql: str, params=()) -> list[dict]:
    connection = sqlite3.connect(database)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, params)]
    finally:
        connection.close()


def stored_count(database: Path) -> int:
    """Digests stored so far, read while a crawl may be writing (0 before the schema exists)."""
    if not database.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute("SELECT count(*) FROM digests").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.OperationalError:
        return 0


def start_datasette(database: Path) -> tuple[subprocess.Popen, str]:
    """`digest-archive serve ARCHIVE --port 0`: the OS picks the port, Datasette says which."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "digest-archive"), "serve", str(database), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in server.stdout:
        lines.append(line)
        started = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if started:
            return server, started[1]
    server.wait(timeout=10)
    raise AssertionError("datasette did not start:\n" + "".join(lines))


def datasette_client(database: Path):
    """Datasette's own in-process client on an archive, with the project's plugin (which supplies the
    metadata, whatever the file is called): `get(path)` answers the page (asserting a 200, unless `status`
    says otherwise), with no port and no browser."""
    from datasette.app import Datasette

    instance = Datasette([str(database)])

    def get(path: str, status: int = 200):
        response = asyncio.run(instance.client.get(path))
        assert response.status_code == status, (path, response.status_code, response.text[:500])
        return response

    return get


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def fixture_posts():
    return archive_posts()


@pytest.fixture(scope="session")
def session_server(fixture_posts):
    with FixtureServer(build_site(fixture_posts)) as server:
        yield server


@pytest.fixture()
def site_server(session_server, fixture_posts):
    """The fixture archive's server, shared by the session. What a test publishes, slows down or turns
    off is undone after it, and its request log starts empty."""
    site = session_server.site
    session_server.clear_requests()
    yield session_server
    session_server.publish(site)
    session_server.delay = 0
    session_server.validators = True
    session_server.robots_txt = ROBOTS_TXT
    session_server.clear_requests()


@pytest.fixture()
def slow_site_server(site_server):
    """The same server answering post pages after 0.1 s, so that a test can act mid-crawl."""
    site_server.delay = 0.1
    return site_server


@dataclass(frozen=True)
class Backfill:
    database: Path
    requests: list[str]  # what the fixture server received during the backfill, in order
    log: str


@pytest.fixture(scope="session")
def backfilled_template(session_server, tmp_path_factory) -> Backfill:
    """One backfill of the fixture archive per session (do not change its database: copy it)."""
    database = tmp_path_factory.mktemp("template") / "archive.db"
    session_server.clear_requests()
    # Progress lines every 0.05 s: the log shows a few even of a backfill over in a quarter of a second
    # (tests/test_crawler_progress.py reads it).
    result = run_crawl(
        session_server.url(CATEGORY_PATH), database, "-a", "mode=backfill", "-s", "DIGEST_PROGRESS_INTERVAL=0.05"
    )
    assert_clean_run(result)
    backfill = Backfill(database, list(session_server.requests), result.stderr)
    session_server.clear_requests()
    return backfill


@pytest.fixture()
def backfilled_archive(backfilled_template, site_server, tmp_path) -> Path:
    """A test's own copy of the backfilled archive; its URLs are those of `site_server`."""
    database = tmp_path / "archive.db"
    copy_database(backfilled_template.database, database)
    return database


# --- both publishers in one archive (the demo's two fixture listings) ------------------------------


@pytest.fixture(scope="session")
def servers():
    """Both publishers' fixture listings (nejatngo.org, and its twin in the iran-interlink.org layout)."""
    with FixtureServer(nejatngo_site()) as nejatngo, FixtureServer(interlink_site()) as interlink:
        yield nejatngo, interlink


def listings_setting(servers) -> str:
    nejatngo, interlink = servers
    return f"DIGEST_LISTINGS={nejatngo.url(CATEGORY_PATH)},{interlink.url(INTERLINK_LISTING)}"


@pytest.fixture(scope="session")
def both_sites(servers, tmp_path_factory):
    """One backfill of both listings into one file (no start_url: the project's two listings)."""
    database = tmp_path_factory.mktemp("editions") / "archive.db"
    result = run_crawl(None, database, "-a", "mode=backfill", "-s", listings_setting(servers))
    assert_clean_run(result)
    return database


@pytest.fixture()
def archive(both_sites, tmp_path):
    """A copy of the both-sites backfill for one test to read or change (the reader's and editions' tests)."""
    database = tmp_path / "archive.db"
    copy_database(both_sites, database)
    return database
