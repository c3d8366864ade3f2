"""Scrapy's robots.txt download errors stay off ERROR in every crawl (crawler/logfilters.py)."""

from __future__ import annotations

import logging

from crawler.logfilters import ROBOTS_TXT_LOGGER, UnreachableRobotsTxtIsRoutine
from fixtures.site import CATEGORY_PATH

from .conftest import assert_clean_run, rows, run_crawl


def test_a_digests_crawl_whose_robots_txt_connection_drops_logs_no_error_and_no_traceback(site_server, tmp_path):
    site_server.robots_txt = None  # the connection for robots.txt closes without an answer
    database = tmp_path / "archive.db"
    result = run_crawl(site_server.url(CATEGORY_PATH), database, "-s", "RETRY_TIMES=0")
    assert_clean_run(result)  # exit 0, no "Traceback", no log_count/ERROR
    log = result.stderr
    assert site_server.requests.count("/robots.txt") == 1
    # Scrapy's line is there, at INFO and without its traceback, naming the failure: seen, not hidden.
    [line] = [line for line in log.splitlines() if "Error downloading <GET " in line]
    assert f"[{ROBOTS_TXT_LOGGER}] INFO: Error downloading" in line and "ConnectionDone" in line, line
    assert "ERROR" not in log.replace("log_count/ERROR", ""), log[-3000:]
    # With no robots.txt to obey, the crawl went on as Scrapy does: the posts were fetched and stored.
    assert rows(database, "SELECT count(*) AS n FROM digests")[0]["n"] > 0


def test_the_filter_changes_only_robots_txt_download_errors():
    routine = UnreachableRobotsTxtIsRoutine()

    def record(level: int, msg: str) -> logging.LogRecord:
        try:
            raise ConnectionError("dropped")
        except ConnectionError:
            import sys

            return logging.LogRecord(ROBOTS_TXT_LOGGER, level, __file__, 1, msg, (), sys.exc_info())

    download = record(logging.ERROR, "Error downloading %(request)s: %(f_exception)s")
    assert routine.filter(download) and download.levelno == logging.INFO and download.exc_info is None
    other = record(logging.ERROR, "Something else went wrong")
    assert routine.filter(other) and other.levelno == logging.ERROR and other.exc_info is not None
