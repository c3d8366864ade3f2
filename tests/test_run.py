"""The run owns a crawl from the lock to the exit code: storage errors fail it loudly, SIGTERM ends it
cleanly, and the lock is released only after the last write."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest
from scrapy import signals
from scrapy.utils.test import get_crawler

import storage
from crawler.run import INTERRUPTED_EXIT_CODE, STORAGE_FAILED_EXIT_CODE, run_of
from fixtures.site import CATEGORY_PATH
from spiders.digests import DigestsSpider

from .conftest import REPO, ScrapyPopen, assert_clean_run, crawl_command, rows, run_crawl, stored_count
from .test_storage import make_digest


def integrity(database) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MB tmpfs: room for a few digests of the fixture archive, not for all of them."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_disk_that_fills_mid_backfill_fails_the_run_and_a_later_crawl_completes_it(
    small_disk, site_server, fixture_posts
):
    database = small_disk / "archive.db"
    start_url = site_server.url(CATEGORY_PATH)
    result = run_crawl(start_url, database, "-a", "mode=backfill", "-s", "DIGEST_WRITE_BATCH=3")
    assert result.returncode == STORAGE_FAILED_EXIT_CODE, result.stderr[-3000:]
    assert "database or disk is full" in result.stderr
    assert "Traceback" not in result.stderr
    stored = stored_count(database)
    assert 0 < stored < sum(p.stored for p in fixture_posts)
    assert integrity(database) == "ok"
    # The run is not left `running`: recorded as failed with the error when the disk allowed it.
    run = rows(database, "SELECT status, message FROM crawl_runs")
    assert [r["status"] for r in run] == ["failed"] and "disk is full" in run[0]["message"]

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    assert stored_count(database) == sum(p.stored for p in fixture_posts)
    assert integrity(database) == "ok"


def test_a_trigger_that_aborts_one_digest_fails_the_run_with_a_failure_row(
    backfilled_archive, site_server, fixture_posts
):
    database = backfilled_archive
    post_210 = next(p for p in fixture_posts if p.number == 210)
    with sqlite3.connect(database) as connection:
        # Digest 210 is not stored yet (as if published since the backfill), and a trigger refuses it.
        digest_id = connection.execute("SELECT id FROM digests WHERE number = 210").fetchone()[0]
        for table in ("links", "entries", "digest_urls", "digest_revisions"):
            connection.execute(f"DELETE FROM {table} WHERE digest_id = ?", [digest_id])
        connection.execute("DELETE FROM digests WHERE id = ?", [digest_id])
        connection.execute(
            "CREATE TRIGGER refuse_210 BEFORE INSERT ON digests WHEN NEW.number = 210 "
            "BEGIN SELECT RAISE(ABORT, 'digest 210 refused by a trigger'); END"
        )
    start_url = site_server.url(CATEGORY_PATH)
    result = run_crawl(start_url, database)
    assert result.returncode == STORAGE_FAILED_EXIT_CODE, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert error_lines and all(len(line) < 400 for line in error_lines), "an ERROR line carries the whole item"
    run = rows(database, "SELECT status, message FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert run["status"] == "failed" and "digest 210 refused by a trigger" in run["message"]
    failures = rows(database, "SELECT kind FROM failures WHERE url LIKE ?", [f"%{post_210.path}%"])
    assert [f["kind"] for f in failures] == ["storage"]
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE number = 210")[0]["n"] == 0
    assert integrity(database) == "ok"

    # Once the cause is gone, the next refresh goes back for the digest that was not stored.
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TRIGGER refuse_210")
    assert_clean_run(run_crawl(start_url, database))
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE number = 210")[0]["n"] == 1
    assert stored_count(database) == sum(p.stored for p in fixture_posts)


def test_a_digest_that_fails_half_way_through_a_batch_is_a_failure_and_the_rest_of_the_batch_is_kept(
    tmp_path, site_server, fixture_posts
):
    # A batch writes its digests without a savepoint each; a trigger on `entries` fails digest 200 after
    # its `digests` row (and full-text row) went in, with the digests before it uncommitted in the batch.
    database = tmp_path / "archive.db"
    storage.open_database(database).close()
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TRIGGER refuse_200 BEFORE INSERT ON entries "
            "WHEN (SELECT number FROM digests WHERE id = NEW.digest_id) = 200 "
            "BEGIN SELECT RAISE(ABORT, 'digest 200 refused by a trigger'); END"
        )
    start_url = site_server.url(CATEGORY_PATH)
    result = run_crawl(start_url, database, "-a", "mode=backfill", "-s", "DIGEST_WRITE_BATCH=1000")
    assert result.returncode == STORAGE_FAILED_EXIT_CODE, result.stderr[-3000:]
    run = rows(database, "SELECT status, message FROM crawl_runs")[0]
    assert run["status"] == "failed" and "digest 200 refused by a trigger" in run["message"]
    post_200 = next(p for p in fixture_posts if p.number == 200)
    failures = rows(database, "SELECT kind FROM failures WHERE url LIKE ?", [f"%{post_200.path}%"])
    assert [f["kind"] for f in failures] == ["storage"]
    # Every digest the log says was written before the error is kept; nothing of digest 200 is.
    logged = set(re.findall(r"New digest \S+: (\S+) \(", result.stderr.split("Storage error")[0]))
    stored = {r["url"] for r in rows(database, "SELECT url FROM digests")}
    assert logged and logged <= stored
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE number = 200")[0]["n"] == 0
    assert integrity(database) == "ok"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        for table in ("digests_fts", "entries_fts"):  # raises if an index holds a row its table lacks
            connection.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
        connection.execute("DROP TRIGGER refuse_200")
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    assert stored_count(database) == sum(p.stored for p in fixture_posts)


def test_sigterm_mid_backfill_commits_what_is_done_and_the_archive_resumes(tmp_path, slow_site_server, fixture_posts):
    database = tmp_path / "archive.db"
    start_url = slow_site_server.url(CATEGORY_PATH)
    crawl = ScrapyPopen(
        crawl_command(start_url, database, "-a", "mode=backfill", "-s", "DIGEST_WRITE_BATCH=2"),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while stored_count(database) < 4 and crawl.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert crawl.poll() is None, "the crawl ended before it could be stopped"
    crawl.send_signal(signal.SIGTERM)
    _, log = crawl.communicate(timeout=60)
    assert crawl.returncode == INTERRUPTED_EXIT_CODE, log[-3000:]
    run = rows(database, "SELECT status, new FROM crawl_runs")[0]
    assert run["status"] == "interrupted"
    assert run["new"] == stored_count(database) >= 4  # everything the run counted was committed
    assert integrity(database) == "ok"

    slow_site_server.delay = 0
    assert_clean_run(run_crawl(start_url, database, "-a", "mode=backfill"))
    assert stored_count(database) == sum(p.stored for p in fixture_posts)


def test_the_lock_is_released_only_after_the_final_commit(tmp_path, monkeypatch):
    """The run's last acts, in order: commit the batch, write the run's row, release the lock. A crawl
    that takes the lock next reads the whole of this run, never a snapshot missing its last batch."""
    database = tmp_path / "archive.db"
    crawler = get_crawler(
        DigestsSpider, {"DATABASE": str(database), "DIGEST_WRITE_BATCH": 1000, "LOGSTATS_INTERVAL": 0}
    )
    spider = DigestsSpider.from_crawler(crawler, start_url="https://www.nejatngo.org/en/topic/digest", mode="backfill")
    crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    run = run_of(crawler)
    for number in (201, 202, 203):
        run.store(make_digest(number, url=f"https://www.nejatngo.org/en/posts/{number}", post_id=number))
    assert stored_count(database) == 0, "written before the end of the batch: the test proves nothing"

    seen_by_the_next_crawl = []
    release = storage.ArchiveLock.release

    def release_and_look(lock):
        seen_by_the_next_crawl.append(
            (stored_count(database), rows(database, "SELECT status FROM crawl_runs")[0]["status"])
        )
        release(lock)

    monkeypatch.setattr(storage.ArchiveLock, "release", release_and_look)
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
    assert seen_by_the_next_crawl == [(3, "finished")]
    storage.ArchiveLock(database).acquire().release()  # free now
