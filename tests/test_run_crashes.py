"""An exception nobody foresaw, wherever it happens, ends the crawl with a `failures` row of kind
`exception`, one ERROR line, the run marked failed and exit code 6: never a traceback with exit 0."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from crawler.run import CRASHED_EXIT_CODE
from fixtures.site import CATEGORY_PATH

from .conftest import crawl_command, rows, run_scrapy

ERROR_LINE = re.compile(r"^\S+ \S+ \[[^\]]+\] ERROR: ", re.MULTILINE)
CRASHING = ["-s", "SPIDER_MODULES=spiders,tests.crashing"]
PIPELINE_BUG = json.dumps(
    {
        "crawler.pipelines.ValidateDigest": 100,
        "crawler.pipelines.DedupeDigests": 200,
        "tests.crashing.PipelineBug": 250,
        "crawler.pipelines.StoreInArchive": 300,
    }
)


def crash(spider: str, start_url: str, database, *args: str) -> subprocess.CompletedProcess:
    command = crawl_command(start_url, database, "-a", "mode=backfill", *CRASHING, *args)
    command[command.index("digests")] = spider
    return run_scrapy(command)


@pytest.mark.parametrize(
    "spider, settings, exception, doing",
    [
        ("digests_callback_bug", [], "ZeroDivisionError: a bug in a callback", "reading"),
        ("digests_start_bug", [], "LookupError: a bug before the first request", "starting the crawl of"),
        ("digests", ["-s", f"ITEM_PIPELINES={PIPELINE_BUG}"], "KeyError: 'a bug in a pipeline'", "storing a Digest"),
        ("digests_close_bug", [], "ArithmeticError: a bug while closing", "closing the run"),
    ],
    ids=["callback", "start", "pipeline", "close"],
)
def test_an_exception_anywhere_is_a_failure_row_one_error_line_and_exit_6(
    site_server, tmp_path, spider, settings, exception, doing
):
    database = tmp_path / "archive.db"
    result = crash(spider, site_server.url(CATEGORY_PATH), database, *settings)
    log = result.stderr
    assert result.returncode == CRASHED_EXIT_CODE, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    errors = ERROR_LINE.findall(log)
    assert len(errors) == 1, "\n".join(line for line in log.splitlines() if " ERROR: " in line)
    assert exception in log
    # Pages already on their way when the crawl stopped may have raised too: each is a failure of its own.
    failures = rows(database, "SELECT kind, message FROM failures WHERE kind = 'exception'")
    assert failures and all(exception in row["message"] and doing in row["message"] for row in failures), failures
    [run] = rows(database, "SELECT status, message FROM crawl_runs")
    assert run["status"] == "failed" and exception in run["message"], run
