"""Jobs that write one archive side by side: an hours-long link check never makes a scheduled refresh
fail, and neither loses a write or fails with "database is locked"."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import storage
from fixtures.site import CATEGORY_PATH
from fixtures.web import FIXTURE_CDX_API, FIXTURE_REPLAY_PREFIX, Host, StandInWeb, fixture_archive_web

from .conftest import REPO, ScrapyPopen, assert_clean_run, crawl_command, rows, stored_count
from .test_links_spider import FAST_LINKS

HELD_HOST = "www.middleeasteye.net"  # a host of the fixture archive's links, made to answer only when told


def test_a_transaction_that_reads_first_waits_for_the_other_jobs_commit_instead_of_failing(tmp_path):
    """A deferred BEGIN that reads, then writes after another connection committed, fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT) whatever the busy timeout; the archive's IMMEDIATE
    transactions wait their turn instead."""
    database = tmp_path / "archive.db"
    db = storage.open_database(database)
    other_wrote = threading.Event()
    errors: list[BaseException] = []

    def other_job() -> None:
        other = storage.open_database(database)
        try:
            with other.atomic():  # waits for `db`'s transaction below, then writes
                other.execute(
                    "INSERT INTO crawl_runs (mode, start_url, started, status) VALUES ('links', '', 'b', 'x')"
                )
            other_wrote.set()
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
        finally:
            other.close()

    with db.atomic():
        db.execute("SELECT count(*) FROM crawl_runs").fetchone()
        thread = threading.Thread(target=other_job)
        thread.start()
        time.sleep(0.3)  # the other job is waiting for the write lock by now
        assert not other_wrote.is_set()
        db.execute("INSERT INTO crawl_runs (mode, start_url, started, status) VALUES ('backfill', '', 'a', 'x')")
    thread.join(timeout=10)
    assert errors == [] and other_wrote.is_set()
    assert [r["started"] for r in rows(database, "SELECT started FROM crawl_runs ORDER BY id")] == ["a", "b"]
    db.close()


def test_each_kind_of_job_closes_only_its_own_abandoned_runs(tmp_path):
    database = tmp_path / "archive.db"
    db = storage.open_database(database)
    links_run = storage.start_run(db, "links", "")
    refresh_run = storage.start_run(db, "refresh", "https://digest.test/")
    assert storage.close_abandoned_runs(db) == 1  # a refresh's lock says nothing of a link check
    status = dict(db.execute("SELECT id, status FROM crawl_runs").fetchall())
    assert status == {links_run: "running", refresh_run: "killed"}
    assert storage.close_abandoned_runs(db, link_check=True) == 1
    db.close()


def test_a_refresh_started_during_a_link_check_runs_beside_it_and_both_keep_every_row(
    backfilled_archive, site_server, fixture_posts
):
    database = backfilled_archive
    _forget_digest(database, 210)  # as if published since: the refresh has a digest to write
    hosts = {**fixture_archive_web(), HELD_HOST: Host("held")}
    lookups = [
        "-s",
        f"DIGEST_LINK_CDX_API={FIXTURE_CDX_API}",
        "-s",
        f"DIGEST_LINK_REPLAY_PREFIX={FIXTURE_REPLAY_PREFIX}",
    ]
    with StandInWeb(hosts) as web:
        env = dict(os.environ, **web.proxy_env(no_proxy="127.0.0.1"))
        link_check = ScrapyPopen(
            [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS, *lookups]
            + ["-s", "DOWNLOAD_TIMEOUT=60"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The check is under way: it has written checks and waits on the held host.
            _wait_for(lambda: web.active.get(HELD_HOST) and _count(database, "link_checks") > 0, link_check)
            refresh = ScrapyPopen(
                crawl_command(site_server.url(CATEGORY_PATH), database),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            # Once the refresh has opened the archive and started its run, the held host answers: the
            # check writes its last checks and closes its run while the refresh writes.
            _wait_for(lambda: _count(database, "crawl_runs WHERE mode = 'refresh'") > 0, refresh)
            assert _run_status(database, "links") == "running"  # not taken for a killed run by the refresh
            assert link_check.poll() is None, "the link check ended before the refresh began"
            web.release()
            _, refresh_log = refresh.communicate(timeout=120)
            _, check_log = link_check.communicate(timeout=120)
        finally:
            for process in (link_check, locals().get("refresh")):
                if process is not None and process.poll() is None:
                    process.kill()
    assert_clean_run(subprocess.CompletedProcess(refresh.args, refresh.returncode, "", refresh_log))
    assert_clean_run(subprocess.CompletedProcess(link_check.args, link_check.returncode, "", check_log))
    assert "database is locked" not in refresh_log + check_log
    # The refresh's rows: every digest, 210 again; the check's: a check of every link it set out with.
    assert stored_count(database) == sum(p.stored for p in fixture_posts)
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE number = 210") == [{"n": 1}]
    runs = {r["mode"]: r["status"] for r in rows(database, "SELECT mode, status FROM crawl_runs WHERE id > 1")}
    assert runs == {"links": "finished", "refresh": "finished"}
    unchecked = rows(database, "SELECT url FROM link_targets WHERE checked_at IS NULL")
    assert unchecked == []
    # Every link but the archive's own posts (`own`: classified, never checked; issue 27).
    assert _count(database, "link_checks") == _count(database, "link_targets WHERE status != 'own'")
    held = rows(database, "SELECT status FROM link_targets WHERE host LIKE ?", [f"%{HELD_HOST.removeprefix('www.')}"])
    assert held and {r["status"] for r in held} == {"ok"}


def _forget_digest(database: Path, number: int) -> None:
    with sqlite3.connect(database) as connection:
        digest_id = connection.execute("SELECT id FROM digests WHERE number = ?", [number]).fetchone()[0]
        for table in ("links", "entries", "digest_urls", "digest_revisions"):
            connection.execute(f"DELETE FROM {table} WHERE digest_id = ?", [digest_id])
        connection.execute("DELETE FROM digests WHERE id = ?", [digest_id])
    connection.close()


def _count(database: Path, table_and_filter: str) -> int:
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute(f"SELECT count(*) FROM {table_and_filter}").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.OperationalError:
        return 0


def _run_status(database: Path, mode: str) -> str:
    return rows(database, "SELECT status FROM crawl_runs WHERE mode = ? ORDER BY id DESC LIMIT 1", [mode])[0]["status"]


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"ended early (exit {process.returncode}): {process.stderr.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
