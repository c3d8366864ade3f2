"""The link check's budgets: a page's decoded size, links per host, capture bytes and seconds per run;
and a stop (a budget, SIGTERM) that ends the run within seconds whatever is in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import BadSetting, check_settings, project_defaults
from crawler.linkrun import LinkBudgets
from crawler.run import INTERRUPTED_EXIT_CODE, USAGE_EXIT_CODE, RunRefused
from fixtures.linked import archive_linking
from fixtures.web import Host, StandInWeb

from .conftest import REPO, ScrapyPopen, assert_clean_run, rows
from .test_links_spider import FAST_LINKS, run_links


def checks_by_url(database: Path) -> dict[str, dict]:
    return {
        row["url"]: row
        for row in rows(
            database,
            "SELECT t.url, t.status, t.http_status, t.checked_at, t.capture_warc, c.message FROM link_targets t "
            "LEFT JOIN link_checks c ON c.target_id = t.id",
        )
    }


def last_run(database: Path) -> dict:
    return rows(database, "SELECT mode, status, message FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]


def test_a_gzip_page_past_the_cap_once_decoded_is_checked_and_not_captured(tmp_path):
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://bomb.test/x", "http://gz.test/x"])])
    # 2 MB of page in ~2 KB of gzip: under DIGEST_LINK_MAX_BYTES on the wire, far past it decoded.
    hosts = {"bomb.test": Host("gzip-huge", size=2_000_000), "gz.test": Host("gzip")}
    with StandInWeb(hosts) as web:
        result = run_links(database, web, "-s", "DIGEST_LINK_MAX_BYTES=100000", "-s", "DOWNLOAD_MAXSIZE=0")
        assert_clean_run(result)
    checks = checks_by_url(database)
    bomb = checks["http://bomb.test/x"]
    assert (bomb["status"], bomb["http_status"], bomb["capture_warc"]) == ("ok", 200, None)
    assert "DIGEST_LINK_MAX_BYTES (100000): not captured" in bomb["message"]
    assert checks["http://gz.test/x"]["capture_warc"] is not None  # a small gzip page is captured, decoded
    warcs = list(linked_captures(database).glob("*.warc.gz"))
    assert sum(path.stat().st_size for path in warcs) < 100_000  # nothing of the 2 MB was written


def linked_captures(database: Path) -> Path:
    return database.with_name(f"{database.stem}.captures")


def test_links_past_the_per_host_cap_stay_due_for_the_next_run(tmp_path):
    database = tmp_path / "archive.db"
    busy = [f"http://busy.test/{n}" for n in range(5)]
    archive_linking(database, [("2020-01-01", [*busy, "http://other.test/a", "http://other.test/b"])])
    hosts = {"busy.test": Host("ok"), "other.test": Host("ok")}
    with StandInWeb(hosts) as web:
        for checked in (4, 6, 7):
            assert_clean_run(run_links(database, web, "-s", "DIGEST_LINK_MAX_PER_HOST=2"))
            done = rows(database, "SELECT count(*) AS n FROM link_targets WHERE checked_at IS NOT NULL")[0]["n"]
            assert done == checked
            assert max(web.pages_requested("busy.test").count(f"/{n}") for n in range(5)) == 1
    runs = rows(database, "SELECT status, message FROM crawl_runs ORDER BY id")
    assert [run["status"] for run in runs] == ["finished"] * 3
    assert "3 links over DIGEST_LINK_MAX_PER_HOST (2) left due" in runs[0]["message"]
    assert runs[2]["message"] is None  # the last of them: nothing left


def test_the_capture_budget_ends_the_run_and_the_page_past_it_stays_due(tmp_path):
    database = tmp_path / "archive.db"
    urls = [f"http://page{n}.test/x" for n in range(3)]
    archive_linking(database, [("2020-01-01", urls)])
    hosts = {f"page{n}.test": Host("huge", size=3000 + n) for n in range(3)}  # ~3 KB each, all different
    budget = ["-s", "DIGEST_LINK_MAX_BYTES=4000", "-s", "DIGEST_LINK_MAX_CAPTURE_BYTES=7000"]
    with StandInWeb(hosts) as web:
        first = run_links(database, web, *budget)
        assert_clean_run(first)
        run = last_run(database)
        assert run["status"] == "finished"
        assert run["message"] == "DIGEST_LINK_MAX_CAPTURE_BYTES (7000) reached: 1 links left due for the next run"
        captured = [url for url, row in checks_by_url(database).items() if row["capture_warc"]]
        left = [url for url, row in checks_by_url(database).items() if row["checked_at"] is None]
        assert len(captured) == 2 and len(left) == 1  # two pages fit, the third is neither recorded nor captured
        assert_clean_run(run_links(database, web, *budget))
    assert all(row["capture_warc"] for row in checks_by_url(database).values())
    assert last_run(database) == {"mode": "links", "status": "finished", "message": None}


def test_the_wall_clock_budget_ends_the_run_with_what_is_done_and_exit_0(tmp_path):
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a", "http://never.test/x", "http://drip.test/x"])])
    hosts = {"live.test": Host("ok"), "never.test": Host("held"), "drip.test": Host("trickle", delay=60)}
    with StandInWeb(hosts) as web:
        started = time.monotonic()
        result = run_links(database, web, "-s", "DIGEST_LINK_MAX_SECONDS=3", "-s", "DOWNLOAD_TIMEOUT=60")
        took = time.monotonic() - started
        assert_clean_run(result)
    # Waiting for the answers in flight would take 60 s; the process's start-up is slow on a busy machine.
    assert took < 40, f"the process took {took:.1f}s with a 3 s budget"
    run_time = rows(database, "SELECT (julianday(finished) - julianday(started)) * 86400 AS s FROM crawl_runs")
    assert run_time[0]["s"] < 3 + 4, f"the run took {run_time[0]['s']:.1f}s with a 3 s budget"
    checks = checks_by_url(database)
    assert checks["http://live.test/a"]["status"] == "ok"
    # Cut in flight: no check recorded (not `timeout`), due again next run.
    assert checks["http://never.test/x"]["checked_at"] is None and checks["http://drip.test/x"]["checked_at"] is None
    run = last_run(database)
    assert run["status"] == "finished"
    assert run["message"] == "DIGEST_LINK_MAX_SECONDS (3) reached: 2 links left due for the next run"


def test_sigterm_ends_the_check_within_seconds_with_slow_answers_in_flight(tmp_path):
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a", "http://never.test/x", "http://drip.test/x"])])
    hosts = {"live.test": Host("ok"), "never.test": Host("held"), "drip.test": Host("trickle", delay=60)}
    with StandInWeb(hosts) as web:
        env = dict(os.environ, **web.proxy_env())
        command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS]
        check = ScrapyPopen(
            [*command, "-s", "DOWNLOAD_TIMEOUT=60"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and check.poll() is None:
                live_done = (database.exists() and _checked(database, "http://live.test/a")) or False
                if live_done and web.active.get("never.test") and web.active.get("drip.test"):
                    break
                time.sleep(0.05)
            assert check.poll() is None, "the check ended before it could be stopped"
            stopped_at = time.monotonic()
            check.send_signal(signal.SIGTERM)
            _, log = check.communicate(timeout=30)
            took = time.monotonic() - stopped_at
        finally:
            if check.poll() is None:
                check.kill()
    assert check.returncode == INTERRUPTED_EXIT_CODE, log[-3000:]
    assert took < 5, f"{took:.1f}s from SIGTERM to the end of the process"
    checks = checks_by_url(database)
    assert checks["http://live.test/a"]["status"] == "ok"
    assert checks["http://never.test/x"]["checked_at"] is None and checks["http://drip.test/x"]["checked_at"] is None
    assert last_run(database)["status"] == "interrupted"


def _checked(database: Path, url: str) -> bool:
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            row = connection.execute("SELECT checked_at FROM link_targets WHERE url = ?", [url]).fetchone()
        finally:
            connection.close()
    except sqlite3.OperationalError:
        return False
    return bool(row and row[0])


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DIGEST_LINK_MAX_SECONDS", "soon", "takes a number above 0"),
        ("DIGEST_LINK_MAX_SECONDS", "0", "takes a number above 0"),
        ("DIGEST_LINK_MAX_SECONDS", "nan", "takes a number above 0"),
        ("DIGEST_LINK_MAX_PER_HOST", "2.5", "takes a whole number from 1"),
        ("DIGEST_LINK_MAX_PER_HOST", "0", "takes a whole number from 1"),
        ("DIGEST_LINK_MAX_CAPTURE_BYTES", "-1", "takes a whole number from 1"),
        ("DIGEST_LINK_MAX_BYTES", "", "takes a whole number"),
    ],
)
def test_a_bad_budget_setting_is_refused_with_its_name(name, value, says):
    settings = Settings(project_defaults())
    settings.set(name, value, priority="cmdline")
    with pytest.raises(BadSetting, match=name) as refused:
        check_settings(settings)
    assert says in str(refused.value)


def test_captures_that_cannot_hold_one_page_are_refused():
    settings = Settings(project_defaults())
    settings.set("DIGEST_LINK_MAX_CAPTURE_BYTES", "1000")
    with pytest.raises(RunRefused, match="must be at least DIGEST_LINK_MAX_BYTES") as refused:
        LinkBudgets.from_settings(settings)
    assert refused.value.exit_code == USAGE_EXIT_CODE


def test_the_defaults_are_good_budgets():
    budgets = LinkBudgets.from_settings(Settings(project_defaults()))
    assert budgets.max_bytes <= budgets.capture_bytes and budgets.per_host > 0 and budgets.seconds > 0


def test_a_bad_budget_stops_the_crawl_with_exit_2_before_the_archive_is_locked(tmp_path):
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a"])])
    with StandInWeb({"live.test": Host("ok")}) as web:
        result = run_links(database, web, "-s", "DIGEST_LINK_MAX_PER_HOST=none")
        assert web.log == []
    assert result.returncode == USAGE_EXIT_CODE, result.stderr[-2000:]
    assert "links: error: bad setting DIGEST_LINK_MAX_PER_HOST='none': it takes a whole number" in result.stderr
    assert not Path(f"{database}.links.lock").exists()
