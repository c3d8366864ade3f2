"""Progress while crawling: a status line on a terminal, plain log lines elsewhere; a summary at the end."""

from __future__ import annotations

import os
import pty
import re
import subprocess

from crawler.progress import progress_line
from crawler.run import Progress
from fixtures.site import TAG_PATH

from .conftest import REPO, ScrapyPopen, crawl_command, rows


def test_progress_log_lines_and_closing_summary_when_not_on_a_terminal(backfilled_template, fixture_posts):
    database, log = backfilled_template.database, backfilled_template.log
    progress = re.findall(
        r"Progress: listing (\d+)/4 · posts (\d+) done of (\d+) listed · (\d+) failed · "
        r"[\d.]+/min · ETA [\dhms-]+",
        log,
    )
    assert len(progress) >= 2, log[-3000:]
    done = [int(p[1]) for p in progress]
    assert done == sorted(done) and int(progress[-1][2]) <= len(fixture_posts)
    summary = re.search(
        r"Crawl run 1 finished in [\d.]+s: (\d+) new, 0 changed, 0 unchanged, 0 duplicates, "
        r"(\d+) failed",
        log,
    )
    assert summary and int(summary[1]) == sum(p.stored for p in fixture_posts) and summary[2] == "2"
    run = rows(database, "SELECT status, started, finished, new, failed FROM crawl_runs")[0]
    assert run["status"] == "finished" and run["finished"] >= run["started"]


def test_progress_is_one_rewritten_status_line_on_a_terminal(tmp_path, site_server):
    # The tag listing: two pages and eight posts, slowed down so that the line is rewritten a few times.
    site_server.delay = 0.5
    command = crawl_command(
        site_server.url(TAG_PATH + "/"),
        tmp_path / "a.db",
        "-a",
        "mode=backfill",
        "-s",
        "LOG_LEVEL=WARNING",
        "-s",
        "CONCURRENT_REQUESTS_PER_DOMAIN=1",
    )
    controller, terminal = pty.openpty()
    process = ScrapyPopen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=terminal)
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
    assert updates >= 2, repr(text[-2000:])
    assert "Progress:" not in text  # no log lines on a terminal, the status line instead
    last = text.rsplit("\r\x1b[2K", 1)[1]
    assert re.match(r"listing 2/2 · posts 8 done of 8 listed · 0 failed · [\d.]+/min", last), last


def test_the_eta_counts_the_pages_the_pagination_says_are_left():
    # 2 of 4 listing pages read naming 20 posts, 10 done in 60 s: 40 expected, 30 to go at 10/min.
    line = progress_line(
        Progress(listing_pages=2, last_page=4, posts_to_handle=20, posts_done=10, failed=1, elapsed=60.0)
    )
    assert line == "listing 2/4 · posts 10 done of 20 listed · 1 failed · 10.0/min · ETA 3m00s · 1m00s elapsed"
    unknown_end = progress_line(
        Progress(listing_pages=1, last_page=None, posts_to_handle=10, posts_done=0, failed=0, elapsed=5.0)
    )
    assert unknown_end == "listing 1 · posts 0 done of 10 listed · 0 failed · 0.0/min · ETA - · 5s elapsed"
