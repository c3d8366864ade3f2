"""Shared test helpers: the fixture server, and running the real `scrapy crawl` as a subprocess."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import urllib.request
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.server import FixtureServer
from fixtures.site import archive_posts, build_site

REPO = Path(__file__).resolve().parent.parent

# Politeness off: the fixture server is ours and on loopback.
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO"]


def run_crawl(start_url: str, database: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`scrapy crawl digests` for real, from the repository root, as a user would run it."""
    command = [sys.executable, "-m", "scrapy", "crawl", "digests", "-a", f"start_url={start_url}",
               "-s", f"DATABASE={database}", *FAST, *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def assert_clean_run(result: subprocess.CompletedProcess) -> None:
    """`scrapy crawl` exits 0 even when a callback raised: look at the log too."""
    log = result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500):][:5000]
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


def free_port() -> int:
    """A port nobody listens on right now (for servers that cannot report the one they got)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def fixture_posts():
    return archive_posts()


@pytest.fixture()
def fixture_server(fixture_posts):
    with FixtureServer(build_site(fixture_posts)) as server:
        yield server
