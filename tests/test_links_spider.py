"""`scrapy crawl links` for real, against the stand-in web (fixtures/web.py) through its forward proxy."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

import storage
from core.link_status import STATUSES
from fixtures.linked import archive_linking
from fixtures.web import Host, StandInWeb

from .conftest import assert_clean_run, rows, run_scrapy

HOSTS = {
    "live.test": Host("ok"),
    "secure.test": Host("ok"),
    "gone.test": Host("gone"),
    "gone410.test": Host("gone410"),
    "home.test": Host("soft-home"),
    "title.test": Host("soft-title"),
    "blocked.test": Host("blocked"),
    "limited.test": Host("rate-limited"),
    "down.test": Host("server-error"),
    "slow.test": Host("slow", delay=5),
    "chain.test": Host("redirect-chain"),
    "loop.test": Host("redirect-loop"),
    "nowhere.test": Host("unreachable"),
    "robots.test": Host("ok", disallow=("/private",)),
    "huge.test": Host("huge", size=2_000_000),
    "gz.test": Host("gzip"),
    "pdf.test": Host("pdf"),
    "web.archive.test": Host(
        "cdx", captures={"http://gone.test/a": [("20180101000000", 200), ("20200101000000", 200)]}
    ),
}

EXPECTED = {
    "http://live.test/a": ("ok", 200),
    "http://live.test/b": ("ok", 200),
    "https://secure.test/a": ("ok", 200),
    "http://gone.test/a": ("gone", 404),
    "http://gone410.test/a": ("gone", 410),
    "http://home.test/deep/article": ("soft-404", 200),
    "http://title.test/x": ("soft-404", 200),
    "http://blocked.test/x": ("blocked", 403),
    "http://limited.test/x": ("blocked", 429),
    "http://down.test/x": ("server-error", 503),
    "http://slow.test/x": ("timeout", None),
    "http://chain.test/start": ("ok", 200),
    "http://loop.test/a": ("redirect-loop", None),
    "http://nowhere.test/x": ("unreachable", 502),
    "https://nowhere.test/y": ("unreachable", None),
    "http://robots.test/private/x": ("disallowed", None),
    "http://robots.test/public": ("ok", 200),
    "http://huge.test/x": ("ok", 200),
    "http://gz.test/x": ("ok", 200),
    "http://pdf.test/x.pdf": ("ok", 200),
}

FAST_LINKS = [
    "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_TIMEOUT=1.5",
    "-s", "RETRY_TIMES=0", "-s", "DIGEST_LINK_MAX_BYTES=1000000", "-s", "DIGEST_RETRY_AFTER_MAX=0",
    "-s", "DIGEST_LINK_CDX_API=http://web.archive.test/cdx/search/cdx",
    "-s", "DIGEST_LINK_REPLAY_PREFIX=http://web.archive.test/web/",
]  # fmt: skip


def run_links(database: Path, web: StandInWeb, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, **web.proxy_env())
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS, *args]
    return run_scrapy(command, env=env, timeout=timeout)


@pytest.fixture()
def linked_archive(tmp_path) -> Path:
    database = tmp_path / "archive.db"
    _link_every_expected_url(database)
    return database


def _link_every_expected_url(database: Path) -> None:
    urls = [url for url in EXPECTED if url != "http://live.test/b"]
    # The same article twice, once with a tracker: one distinct link, one check.
    archive_linking(
        database,
        [("2019-09-20", [*urls[:10], "http://live.test/b?utm_source=digest"]), ("2020-01-03", [*urls[10:], urls[0]])],
    )


def test_every_distinct_link_checked_once_and_classified(linked_archive):
    with StandInWeb(HOSTS) as web:
        result = run_links(linked_archive, web)
        assert_clean_run(result)
        checked = {
            row["url"]: (row["status"], row["http_status"])
            for row in rows(linked_archive, "SELECT * FROM link_targets")
        }
        assert checked == EXPECTED
        # Every status the crawl recorded is one core.link_status declares.
        recorded = {row["status"] for row in rows(linked_archive, "SELECT status FROM link_checks")}
        assert recorded <= set(STATUSES) and len(recorded) >= 8
        # One GET per distinct link (never HEAD), none to a path robots.txt forbids.
        assert web.pages_requested("live.test").count("/a") == 1
        assert "/private/x" not in web.pages_requested("robots.test")
        assert all(path != "/robots.txt" for path in web.pages_requested("robots.test"))
    redirected = rows(linked_archive, "SELECT final_url FROM link_targets WHERE url = 'http://chain.test/start'")
    assert redirected == [{"final_url": "http://chain.test/start/hop/hop/hop"}]
    history = rows(linked_archive, "SELECT count(*) AS n, count(DISTINCT target_id) AS links FROM link_checks")
    assert history == [{"n": len(EXPECTED), "links": len(EXPECTED)}]
    run = rows(linked_archive, "SELECT mode, status, links_checked, posts_fetched FROM crawl_runs")
    # A link check counts its checks as checks, not as posts fetched.
    assert run == [{"mode": "links", "status": "finished", "links_checked": len(EXPECTED), "posts_fetched": 0}]


def test_a_check_is_not_repeated_within_its_period_and_dead_takes_two_failures(linked_archive):
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(linked_archive, web, "-s", "DIGEST_LINK_DEAD_DAYS=0"))
        assert rows(linked_archive, "SELECT count(*) AS n FROM link_targets WHERE dead_since IS NOT NULL") == [{"n": 0}]
        lookups = web.pages_requested("web.archive.test")  # at the first failing check (issue 27)
        web.clear()
        again = run_links(linked_archive, web, "-s", "DIGEST_LINK_DEAD_DAYS=0")
        assert_clean_run(again)
        assert web.log == []  # nothing due: checked today
        assert_clean_run(
            run_links(linked_archive, web, "-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0")
        )
        lookups += web.pages_requested("web.archive.test")
    dead = {r["url"] for r in rows(linked_archive, "SELECT url FROM link_targets WHERE dead_since IS NOT NULL")}
    assert dead == {url for url, (status, _) in EXPECTED.items() if STATUSES[status].failing}
    # The copy closest to, and not after, the digest's date (2019-09-20): the 2018 capture.
    copy = rows(linked_archive, "SELECT archived_copy FROM link_targets WHERE url = 'http://gone.test/a'")
    assert copy == [{"archived_copy": "http://web.archive.test/web/20180101000000/http://gone.test/a"}]
    assert len(lookups) == len(dead)  # one lookup per dead link, made before it was dead
    history = rows(
        linked_archive,
        "SELECT count(*) AS n FROM link_checks WHERE target_id = (SELECT id FROM link_targets WHERE url = 'http://gone.test/a')",
    )
    assert history == [{"n": 2}]


def test_a_link_gone_at_its_first_check_gets_its_copy_in_the_same_run_and_one_lookup_per_period(linked_archive):
    failing = {url for url, (status, _) in EXPECTED.items() if STATUSES[status].failing}
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(linked_archive, web))
        first = web.pages_requested("web.archive.test")
        # Every link failing at its first check is looked up at once, none is dead yet.
        assert len(first) == len(failing)
        targets = {r["url"]: r for r in rows(linked_archive, "SELECT * FROM link_targets")}
        assert {url for url, r in targets.items() if r["lookup_at"]} == failing
        assert targets["http://gone.test/a"]["archived_copy"] == (
            "http://web.archive.test/web/20180101000000/http://gone.test/a"
        )
        assert targets["http://gone.test/a"]["dead_since"] is None and targets["http://gone.test/a"]["failures"] == 1
        assert all(not r["dead_since"] for r in targets.values())
        # The checks due again (their time a period back) but the lookups made today: checked, not looked up.
        month_ago = (datetime.now(timezone.utc) - timedelta(days=31)).isoformat(timespec="seconds")
        with sqlite3.connect(linked_archive) as db:
            db.execute("UPDATE link_targets SET checked_at = ?", [month_ago])
        web.clear()
        assert_clean_run(run_links(linked_archive, web))
        assert web.pages_requested("gone410.test") == ["/a"]
        assert web.pages_requested("web.archive.test") == []
        # Dead now (DIGEST_LINK_DEAD_DAYS=0): the dead recheck period applies, the lookups are recent.
        assert_clean_run(
            run_links(linked_archive, web, "-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0")
        )
        assert web.pages_requested("web.archive.test") == []
    dead = {r["url"] for r in rows(linked_archive, "SELECT url FROM link_targets WHERE dead_since IS NOT NULL")}
    assert dead == failing


def test_a_digests_link_to_another_digest_of_the_archive_is_own_never_checked_dead_or_looked_up(tmp_path):
    from storage import links as link_store

    database = tmp_path / "archive.db"
    last_week = "https://digest.test/en/posts/1"  # the site archive_linking publishes its digests on
    archive_linking(
        database, [("2019-09-13", ["http://gone.test/a"]), ("2019-09-20", [last_week, "http://gone.test/a"])]
    )
    with StandInWeb(HOSTS) as web:
        for extra in ([], ["-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0"]):
            assert_clean_run(run_links(database, web, *extra))
        assert web.requests_to("digest.test") == []
        assert len(web.pages_requested("web.archive.test")) == 1  # gone.test/a, at its first failing check
    targets = {r["url"]: r for r in rows(database, "SELECT url, status, dead_since, lookup_at FROM link_targets")}
    assert targets[last_week] == {"url": last_week, "status": "own", "dead_since": None, "lookup_at": None}
    assert targets["http://gone.test/a"]["dead_since"] is not None
    # An archive whose older link check had called it dead: it leaves the dead counts at the next run.
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE link_targets SET status = 'gone', dead_since = '2020-01-01T00:00:00+00:00' WHERE url = ?",
            [last_week],
        )
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(database, web))
        assert web.requests_to("digest.test") == [] and web.pages_requested("web.archive.test") == []
    db = storage.open_database(database)
    try:
        summary = link_store.link_summary(db)
    finally:
        db.close()
    assert summary["by_status"] == {"dead": 1, "own": 1}
    assert [h["host"] for h in summary["hosts_with_most_dead"]] == ["gone.test"]
    assert rows(database, "SELECT url FROM link_health WHERE dead") == [{"url": "http://gone.test/a"}]


def test_live_pages_captured_to_warc_once_and_revisited_when_unchanged(linked_archive):
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(linked_archive, web))
        assert_clean_run(run_links(linked_archive, web, "-s", "DIGEST_LINK_RECHECK_DAYS=0"))
        web.hosts["live.test"].version = 2  # the page changed
        assert_clean_run(run_links(linked_archive, web, "-s", "DIGEST_LINK_RECHECK_DAYS=0"))
    folder = linked_archive.with_name("archive.captures")
    assert (folder / "index.cdxj").exists()
    kinds = rows(
        linked_archive,
        "SELECT c.capture FROM link_checks c JOIN link_targets t ON t.id = c.target_id "
        "WHERE t.url = 'http://live.test/a' ORDER BY c.id",
    )
    assert [r["capture"] for r in kinds] == ["response", "revisit", "response"]
    target = rows(
        linked_archive, "SELECT capture_warc, capture_offset FROM link_targets WHERE url = 'http://live.test/a'"
    )[0]
    with open(folder / target["capture_warc"], "rb") as handle:
        handle.seek(target["capture_offset"])
        record = next(iter(ArchiveIterator(handle)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI") == "http://live.test/a"
        assert b"Version 2 of /a" in record.content_stream().read()
    # The gzip page is stored decoded, without its Content-Encoding; the PDF is captured; the huge page is not.
    captured = {r["url"] for r in rows(linked_archive, "SELECT url FROM link_targets WHERE capture_warc IS NOT NULL")}
    assert {"http://gz.test/x", "http://pdf.test/x.pdf", "https://secure.test/a"} <= captured
    assert "http://huge.test/x" not in captured and "http://title.test/x" not in captured
    for record in _records(folder):
        if record.rec_type == "response" and record.http_headers:
            assert record.http_headers.get_header("Content-Encoding") is None


def test_capture_turned_off_writes_no_warc(linked_archive):
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(linked_archive, web, "-s", "DIGEST_LINK_CAPTURE=False"))
    assert not linked_archive.with_name("archive.captures").exists()


def test_one_request_at_a_time_per_host_hosts_in_parallel(tmp_path):
    database = tmp_path / "archive.db"
    busy = [f"http://busy.test/{n}" for n in range(6)]
    others = [f"http://other{n}.test/a" for n in range(6)]
    archive_linking(database, [("2020-01-01", busy + others)])
    hosts = {"busy.test": Host("ok", delay=0.2), **{f"other{n}.test": Host("ok", delay=0.2) for n in range(6)}}
    with StandInWeb(hosts) as web:
        result = run_links(database, web, "-s", "DOWNLOAD_DELAY=0.3", "-s", "DOWNLOAD_DELAY_JITTER=0")
        assert_clean_run(result)
        assert max(web.most_at_once.values()) == 1
        arrivals = [arrival for path, arrival in web.requests_to("busy.test") if path != "/robots.txt"]
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        # DOWNLOAD_DELAY between requests to one host. Scrapy spaces the sends; the arrivals seen here
        # jitter by tens of ms on a loaded machine (0.235 s seen), so: never near 0 (requests side by side),
        # and on average at least the delay.
        assert min(gaps) >= 0.3 * 0.5 and sum(gaps) / len(gaps) >= 0.3 - 0.01, gaps
        # The other hosts were not held back behind the busy one.
        firsts = [web.requests_to(f"other{n}.test")[-1][1] for n in range(6)]
        assert max(firsts) < arrivals[2]


def test_the_crawl_command_runs_links_once_over_the_archive_file(linked_archive):
    with StandInWeb(HOSTS) as web:
        result = run_links(linked_archive, web, "-s", "DIGEST_LISTINGS=http://a.test/x,http://b.test/y")
        assert_clean_run(result)
    assert rows(linked_archive, "SELECT count(*) AS n FROM crawl_runs") == [{"n": 1}]


def test_a_link_check_under_way_makes_another_exit_3(linked_archive):
    from storage import ArchiveLock

    lock = ArchiveLock(str(linked_archive), "links").acquire()  # what a link check holds (a crawl's is apart)
    try:
        with StandInWeb(HOSTS) as web:
            result = run_links(linked_archive, web)
            assert result.returncode == 3
            assert web.log == []
        assert "is in use by another link check" in result.stderr
    finally:
        lock.release()


def _records(folder: Path):
    for path in sorted(folder.glob("*.warc.gz")):
        with open(path, "rb") as handle:
            data = handle.read()
        yield from ArchiveIterator(io.BytesIO(data))


def test_schema_6_migrates_an_archive_of_schema_4(tmp_path):
    database = tmp_path / "old.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a"])])
    connection = sqlite3.connect(database)
    connection.execute("DROP VIEW link_health")
    connection.execute("DROP TABLE link_checks")
    connection.execute("DROP TABLE link_targets")
    connection.execute("PRAGMA user_version = 4")
    connection.commit()
    connection.close()
    import storage

    db = storage.open_database(database)
    assert {"link_targets", "link_checks"} <= set(db.table_names())
    assert "link_health" in db.view_names()
    db.close()


def test_schema_9_moves_the_checks_of_older_link_checks_out_of_posts_fetched(tmp_path):
    database = tmp_path / "old.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a"])])
    connection = sqlite3.connect(database)
    connection.execute("ALTER TABLE crawl_runs DROP COLUMN links_checked")
    connection.executemany(
        "INSERT INTO crawl_runs (mode, start_url, started, status, posts_fetched) VALUES (?, ?, '2024-01-01', "
        "'finished', ?)",
        [("links", "", 7), ("refresh", "http://127.0.0.1/en/topic/digest", 3)],
    )
    connection.execute("PRAGMA user_version = 8")
    connection.commit()
    connection.close()
    import storage

    storage.open_database(database).close()
    runs = rows(database, "SELECT mode, posts_fetched, links_checked FROM crawl_runs ORDER BY id")
    assert runs[-2:] == [
        {"mode": "links", "posts_fetched": 0, "links_checked": 7},
        {"mode": "refresh", "posts_fetched": 3, "links_checked": None},
    ]


def test_schema_8_types_link_healths_columns_in_an_archive_of_schema_7(tmp_path):
    database = tmp_path / "old.db"
    archive_linking(database, [("2020-01-01", ["http://live.test/a"])])
    with sqlite3.connect(database) as connection:  # the view as schema 7 made it: untyped computed columns
        connection.execute("DROP VIEW link_health")
        connection.execute(
            "CREATE VIEW link_health AS SELECT t.id, t.url, t.dead_since IS NOT NULL AS dead, "
            "(SELECT count(*) FROM links l WHERE l.url = t.url) AS digests FROM link_targets t"
        )
        connection.execute("INSERT INTO link_targets (url, host, first_seen) VALUES ('http://live.test/a', 'x', 'y')")
        connection.execute("PRAGMA user_version = 7")
    assert rows(database, "SELECT count(*) AS n FROM link_health WHERE digests = ?", ["1"]) == [{"n": 0}]
    import storage

    storage.open_database(database).close()
    assert rows(database, "SELECT count(*) AS n FROM link_health WHERE digests = ? AND dead = ?", ["1", "0"]) == [
        {"n": 1}
    ]
    assert rows(database, "SELECT count(*) AS n FROM link_health WHERE year = ?", ["2020"]) == [{"n": 1}]


def test_a_host_that_refuses_connections_is_unreachable_and_no_error_is_logged(tmp_path):
    import socket

    with socket.socket() as sock:  # a port the OS gave and nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", [f"http://127.0.0.1:{port}/gone-server", "http://live.test/a"])])
    with StandInWeb(HOSTS) as web:
        env = dict(os.environ, **web.proxy_env(no_proxy="127.0.0.1"))
        # Loopback is private: opened for this test (DIGEST_LINK_ALLOW_NETWORKS), or the link is `refused`.
        allow = ["-s", "DIGEST_LINK_ALLOW_NETWORKS=127.0.0.1/32"]
        command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS, *allow]
        result = run_scrapy(command, env=env)
        assert_clean_run(result)
        assert web.pages_requested("live.test") == ["/a"]  # through the proxy; 127.0.0.1 straight (no_proxy)
    statuses = {r["url"]: r["status"] for r in rows(database, "SELECT url, status FROM link_targets")}
    assert statuses == {f"http://127.0.0.1:{port}/gone-server": "unreachable", "http://live.test/a": "ok"}


def test_the_fixture_archives_links_against_the_stand_in_web(backfilled_archive):
    """What `make demo` shows: the fixture archive's own links, each host given a fate (fixtures/web.py)."""
    from fixtures.web import FIXTURE_CDX_API, FIXTURE_REPLAY_PREFIX, fixture_archive_web

    lookups = [
        "-s",
        f"DIGEST_LINK_CDX_API={FIXTURE_CDX_API}",
        "-s",
        f"DIGEST_LINK_REPLAY_PREFIX={FIXTURE_REPLAY_PREFIX}",
    ]
    with StandInWeb(fixture_archive_web()) as web:
        env = dict(os.environ, **web.proxy_env(no_proxy="127.0.0.1"))
        # The fixture's CDX API (a later `-s` wins over FAST_LINKS's).
        base = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={backfilled_archive}", *FAST_LINKS]
        base += lookups
        for extra in ([], ["-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0"]):
            result = run_scrapy([*base, *extra], env=env)
            assert_clean_run(result)
    by_host = {
        (r["host"], r["status"], r["dead"])
        for r in rows(backfilled_archive, "SELECT host, status, dead_since IS NOT NULL AS dead FROM link_targets")
    }
    assert ("theguardian.com", "ok", 0) in by_host and ("twitter.com", "blocked", 0) in by_host
    assert ("breitbart.com", "gone", 1) in by_host and ("habilian.ir", "unreachable", 1) in by_host
    assert ("saharfamily.com", "disallowed", 0) in by_host and ("lobelog.com", "soft-404", 1) in by_host
    copies = rows(backfilled_archive, "SELECT url, archived_copy FROM link_targets WHERE archived_copy IS NOT NULL")
    assert {r["archived_copy"] for r in copies} == {
        "http://web.archive.stand-in/web/20170601093000/https://lobelog.com/the-mek-and-washington/",
        "http://web.archive.stand-in/web/20170814120000/http://www.breitbart.com/national-security/2017/08/13/"
        "iran-parliament-missile-mek/",
    }
    assert rows(backfilled_archive, "SELECT count(*) AS n FROM link_targets WHERE status = 'unchecked'") == [{"n": 0}]
