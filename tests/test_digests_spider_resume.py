"""A backfill killed with SIGKILL and started again ends exactly as an uninterrupted one."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from fixtures.site import CATEGORY_PATH

from .conftest import REPO, ScrapyPopen, assert_clean_run, crawl_command, rows, run_scrapy, stored_count


def backfill_command(start_url: str, database, *args: str) -> list[str]:
    # Small write batches, so that "N digests stored" is reached mid-crawl, where the kill is meant to land.
    return crawl_command(start_url, database, "-a", "mode=backfill", "-s", "DIGEST_WRITE_BATCH=3", *args)


_HOST = re.compile(r"127\.0\.0\.1:\d+")


def _hostless(rows) -> list:
    """Rows with the fixture server's address (a new port each run) replaced by one word."""
    return sorted(tuple(_HOST.sub("HOST", v) if isinstance(v, str) else v for v in row) for row in rows)


def snapshot(database) -> dict:
    """The archive's content, without ids, timestamps and hashes (entry links carry the port of each run)."""
    connection = sqlite3.connect(database)
    try:
        return {
            "digests": _hostless(
                connection.execute(
                    "SELECT url_key, post_id, number, title, published, entry_count, link_count FROM digests"
                )
            ),
            "entries": _hostless(
                connection.execute(
                    "SELECT d.url_key, e.position, e.section, e.text, e.html FROM entries e "
                    "JOIN digests d ON d.id = e.digest_id"
                )
            ),
            "links": _hostless(
                connection.execute(
                    "SELECT d.url_key, e.position, l.position, l.url, l.text FROM links l "
                    "JOIN entries e ON e.id = l.entry_id JOIN digests d ON d.id = l.digest_id"
                )
            ),
            "urls": _hostless(
                connection.execute(
                    "SELECT u.url_key, d.url_key FROM digest_urls u JOIN digests d ON d.id = u.digest_id"
                )
            ),
            "integrity": connection.execute("PRAGMA integrity_check").fetchone()[0],
            "foreign_keys": connection.execute("PRAGMA foreign_key_check").fetchall(),
            "orphans": connection.execute(
                "SELECT count(*) FROM digests d "
                "WHERE entry_count != (SELECT count(*) FROM entries WHERE digest_id = d.id)"
            ).fetchone()[0],
        }
    finally:
        connection.close()


@pytest.fixture(scope="module")
def uninterrupted(backfilled_template):
    return snapshot(backfilled_template.database)


@pytest.mark.parametrize("use_jobdir", [True, False], ids=["with-JOBDIR", "without-JOBDIR"])
@pytest.mark.parametrize("kill_after", [2, 17])
def test_kill_9_then_resume_gives_the_same_archive(tmp_path, slow_site_server, uninterrupted, use_jobdir, kill_after):
    database = tmp_path / "archive.db"
    jobdir = ["-s", f"JOBDIR={tmp_path / 'job'}"] if use_jobdir else []
    server = slow_site_server
    start_url = server.url(CATEGORY_PATH)
    process = ScrapyPopen(
        backfill_command(start_url, database, *jobdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while stored_count(database) < kill_after and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the crawl ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stored_before = stored_count(database)
    assert 0 < stored_before < len(uninterrupted["digests"])
    with sqlite3.connect(database) as connection:
        done_keys = {row[0].split("/", 1)[1] for row in connection.execute("SELECT url_key FROM digest_urls")}

    server.delay = 0
    server.clear_requests()
    resumed = run_scrapy(backfill_command(start_url, database, *jobdir))
    assert_clean_run(resumed)
    # The killed run is not left `running`; with a JOBDIR, its queue was not trusted.
    assert [r["status"] for r in rows(database, "SELECT status FROM crawl_runs ORDER BY id")] == ["killed", "finished"]
    assert ("not trusting its job queue" in resumed.stderr) == use_jobdir
    downloaded_again = {target.lstrip("/") for target in server.page_requests()} & done_keys
    assert downloaded_again == set(), "posts stored before the kill were downloaded again"
    assert CATEGORY_PATH + "/page/4" in server.page_requests(), "the resumed run did not walk to the end"

    after = snapshot(database)
    assert after["integrity"] == "ok" and after["foreign_keys"] == [] and after["orphans"] == 0
    for part in ("digests", "entries", "links", "urls"):
        assert after[part] == uninterrupted[part], part


def test_a_second_crawl_on_the_same_archive_refuses_with_one_line(tmp_path, site_server, fixture_posts):
    database = tmp_path / "archive.db"
    server = site_server
    # The first crawl's posts wait at the server until the refusal is seen, so that it still runs however
    # long a loaded machine takes to start the second (it once ended first: the second then crawled).
    server.delay = 3
    start_url = server.url(CATEGORY_PATH)
    first = ScrapyPopen(
        backfill_command(start_url, database), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lock = tmp_path / "archive.db.lock"
    deadline = time.monotonic() + 60
    # The lock names its holder's pid once it is held (storage/lock.py).
    while not (lock.exists() and lock.read_text() == str(first.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.poll() is None, "the first crawl ended before the second started"
    second = run_scrapy(backfill_command(start_url, database), timeout=60)
    assert second.returncode == 3
    errors = [line for line in second.stderr.splitlines() if line.startswith("digests: error:")]
    assert len(errors) == 1 and "in use by another crawl" in errors[0], second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    server.delay = 0  # the refusal is seen: let the first crawl finish quickly
    _, first_log = first.communicate(timeout=120)
    assert first.returncode == 0, first_log[-3000:]
    assert snapshot(database)["integrity"] == "ok"
    assert stored_count(database) == sum(1 for p in fixture_posts if p.stored)
