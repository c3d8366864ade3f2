"""Progress while crawling: a status line on a terminal, plain log lines elsewhere; a summary at the end."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, build_site

from .conftest import FAST, REPO, assert_clean_run, rows, run_crawl


def test_progress_log_lines_and_closing_summary_when_not_on_a_terminal(tmp_path, fixture_posts):
    database = tmp_path / "a.db"
    with FixtureServer(build_site(fixture_posts), delay=0.05) as server:
        result = run_crawl(server.url(CATEGORY_PATH), database, "-a", "mode=backfill",
                           "-s", "DIGEST_PROGRESS_INTERVAL=0.3", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1")
    assert_clean_run(result)
    progress = re.findall(r"Progress: listing (\d+)/4 · posts (\d+) done of (\d+) listed · (\d+) failed · "
                          r"[\d.]+/min · ETA [\dhms-]+", result.stderr)
    assert len(progress) >= 2, result.stderr[-3000:]
    done = [int(p[1]) for p in progress]
    assert done == sorted(done) and int(progress[-1][2]) <= len(fixture_posts)
    summary = re.search(r"Crawl run 1 finished in [\d.]+s: (\d+) new, 0 changed, 0 unchanged, 0 duplicates, "
                        r"(\d+) failed", result.stderr)
    assert summary and int(summary[1]) == sum(p.stored for p in fixture_posts) and summary[2] == "2"
    run = rows(database, "SELECT status, started, finished, new, failed FROM crawl_runs")[0]
    assert run["status"] == "finished" and run["finished"] >= run["started"]


def test_progress_is_one_rewritten_status_line_on_a_terminal(tmp_path, fixture_posts):
    with FixtureServer(build_site(fixture_posts), delay=0.05) as server:
        command = [sys.executable, "-m", "scrapy", "crawl", "digests", "-a", f"start_url={server.url(CATEGORY_PATH)}",
                   "-a", "mode=backfill", "-s", f"DATABASE={tmp_path / 'a.db'}", *FAST,
                   "-s", "LOG_LEVEL=WARNING", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
        controller, terminal = pty.openpty()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=terminal)
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the crawl closed its end
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        assert process.wait(timeout=60) == 0
    text = output.decode("utf-8", "replace")
    updates = text.count("\r\x1b[2K")
    assert updates >= 2, text[-2000:]
    assert "Progress:" not in text  # no log lines on a terminal, the status line instead
    last = text.rsplit("\r\x1b[2K", 1)[1]
    assert re.match(r"listing 4/4 · posts 36 done of 36 listed · 2 failed · [\d.]+/min", last), last
