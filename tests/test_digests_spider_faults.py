"""A crawl of an archive whose posts fail in every way: nothing lost, nothing hostile stored, nothing offsite."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from core.urls import post_key
from fixtures.faults import FAULTS, FaultServer, clean_site, fault_posts
from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, archive_posts, build_site

from .conftest import assert_clean_run, rows, run_crawl

# Short timeout and one retry keep the hanging post quick; everything else is the default.
FAULT_SETTINGS = ["-a", "mode=backfill", "-s", "DOWNLOAD_TIMEOUT=2", "-s", "RETRY_TIMES=1"]

_HOST = re.compile(r"127\.0\.0\.1:\d+")


def digests_by_post_id(database) -> dict[int, tuple]:
    """Stored content per post id, with the server's address (a new port each run) taken out."""
    connection = sqlite3.connect(database)
    found = {}
    for digest_id, post_id, number, title, published in connection.execute(
        "SELECT id, post_id, number, title, published FROM digests"
    ):
        entries = [
            tuple(_HOST.sub("HOST", v) if isinstance(v, str) else v for v in row)
            for row in connection.execute(
                "SELECT position, section, text, html FROM entries WHERE digest_id = ? ORDER BY position", [digest_id]
            )
        ]
        links = [
            _HOST.sub("HOST", row[0])
            for row in connection.execute(
                "SELECT url FROM links WHERE digest_id = ? ORDER BY entry_id, position", [digest_id]
            )
        ]
        found[post_id] = (number, title, published, entries, links)
    connection.close()
    return found


@pytest.fixture(scope="module")
def faulty_crawl(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    with (
        FixtureServer(build_site(archive_posts()[:3])) as elsewhere,
        FaultServer(offsite_url=elsewhere.base_url) as server,
    ):
        result = run_crawl(server.url(CATEGORY_PATH), folder / "faulty.db", *FAULT_SETTINGS, timeout=300)
        offsite_requests = list(elsewhere.requests)
        hits = dict(server.hits)
    with FixtureServer(clean_site()) as server:
        clean = run_crawl(server.url(CATEGORY_PATH), folder / "clean.db", "-a", "mode=backfill")
    assert_clean_run(clean)
    return result, folder / "faulty.db", folder / "clean.db", offsite_requests, hits


def test_the_crawl_ends_by_itself_and_exits_0(faulty_crawl):
    result, *_ = faulty_crawl
    assert_clean_run(result)
    assert "Failures by kind:" in result.stderr


def test_every_good_digest_is_stored_exactly_as_from_a_clean_site(faulty_crawl):
    _, faulty, clean, *_ = faulty_crawl
    good = {p.post_id for p in fault_posts() if p.post_id not in FAULTS or FAULTS[p.post_id].kind is None}
    faulty_digests, clean_digests = digests_by_post_id(faulty), digests_by_post_id(clean)
    assert set(faulty_digests) == good
    for post_id in good:
        assert faulty_digests[post_id] == clean_digests[post_id], post_id


@pytest.mark.parametrize("post_id", [p for p, fault in FAULTS.items() if fault.kind], ids=lambda p: FAULTS[p].what)
def test_each_fault_is_a_failure_of_its_kind_with_a_message(faulty_crawl, post_id):
    _, faulty, *_ = faulty_crawl
    found = rows(faulty, "SELECT kind, message FROM failures WHERE url_key LIKE ?", [f"%/en/posts/{post_id}"])
    assert [row["kind"] for row in found] == [FAULTS[post_id].kind]
    assert len(found[0]["message"]) > 10


def test_every_listed_post_is_accounted_for(faulty_crawl):
    _, faulty, *_ = faulty_crawl
    stored = {row["url_key"].split("/", 1)[1] for row in rows(faulty, "SELECT url_key FROM digest_urls")}
    failed = {row["url_key"].split("/", 1)[1] for row in rows(faulty, "SELECT url_key FROM failures")}
    listed = {post_key("http://x" + p.path).split("/", 1)[1] for p in fault_posts()}
    assert listed <= stored | failed
    assert not stored & failed
    run = rows(faulty, "SELECT * FROM crawl_runs")[0]
    assert run["status"] == "finished"
    assert (run["new"], run["failed"]) == (len(stored & listed), len(failed))
    kinds = {kind: 1 for kind in (f.kind for f in FAULTS.values() if f.kind)}
    assert json.loads(run["failure_kinds"]) == kinds


def test_nothing_is_fetched_from_another_host(faulty_crawl):
    *_, offsite_requests, _ = faulty_crawl
    assert offsite_requests == []


def test_transient_errors_are_retried_and_retry_after_is_waited_for(faulty_crawl):
    *_, hits = faulty_crawl
    assert hits["/en/posts/9002"] == 2 and hits["/en/posts/9003"] == 2


def test_nothing_hostile_is_stored(faulty_crawl):
    _, faulty, *_ = faulty_crawl
    connection = sqlite3.connect(faulty)
    html = " ".join(row[0] for row in connection.execute("SELECT html FROM entries"))
    for hostile in ("<script", "onclick", "onmouseover", "javascript:", "steal("):
        assert hostile not in html, hostile
    text = " ".join(row[0] for row in connection.execute("SELECT text FROM entries"))
    assert "document.write" not in text and "injected entry" not in text
    assert connection.execute("SELECT count(*) FROM links WHERE url NOT LIKE 'http%'").fetchone()[0] == 0
    connection.close()


def test_windows_1252_bytes_under_a_utf8_header_are_read_right(faulty_crawl):
    _, faulty, *_ = faulty_crawl
    text = rows(faulty, "SELECT text FROM digests WHERE post_id = 9010")[0]["text"]
    assert "The MEK\u2019s \u201cnew camp\u201d cost \u00a3800,000 \u2013 or so they say\u2026" in text
