"""`-a mode=recover` against a real pywb: the recovery story of fixtures/webarchive.py (WARCs written by warcio
from the fixture site's own pages at chosen capture dates) served by pywb's CDX API (one JSON object a line)
and `id_` replay, behind a proxy that counts every request the recovery sends.

The archive recovered into is the both-sites backfill (tests/conftest.py): what the live fixture sites
hold today, which lost digests 211, 212 and 214."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from core.parsing import parse_listing
from fixtures.expected import expected_entries
from fixtures.site import CATEGORY_PATH, ORIGIN, FixturePost
from fixtures.webarchive import Capture, PywbArchive, RecoveryStory, recovery_story, story_archive

from ..conftest import assert_clean_run, rows, run_crawl

pytestmark = pytest.mark.e2e

WEB_ARCHIVE = "internet_archive"
# Politeness off for the loopback pywb (the default delay is the Internet Archive's limit).
FAST_RECOVERY = ["-s", "DIGEST_WEB_ARCHIVE_DELAY=0"]


@pytest.fixture(scope="module")
def story() -> RecoveryStory:
    return recovery_story()


@pytest.fixture()
def web_archive(servers, story, tmp_path):
    nejatngo, _ = servers
    archive = story_archive(tmp_path / "web-archive", nejatngo.base_url, story)
    yield archive
    archive.stop()


def _recover(database: Path, start_url: str, archive: PywbArchive, *args: str):
    setting = f"DIGEST_WEB_ARCHIVES={archive.settings_json(WEB_ARCHIVE)}"
    return run_crawl(start_url, database, "-a", "mode=recover", "-s", setting, *FAST_RECOVERY, *args)


def _iso(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _newest_ok(story: RecoveryStory, post: FixturePost) -> Capture:
    return [c for c in story.capture_of(post) if c.status == 200][-1]


@pytest.fixture()
def recovered(archive, servers, web_archive):
    """The both-sites archive after one recovery of the nejatngo fixture from the story's web archive."""
    nejatngo, _ = servers
    result = _recover(archive, nejatngo.url(CATEGORY_PATH), web_archive)
    assert_clean_run(result)
    return archive


def test_deleted_digests_are_recovered_exactly_with_their_provenance(recovered, servers, story, web_archive):
    nejatngo, _ = servers
    origins = {ORIGIN: nejatngo.base_url}
    for post in story.recovered:
        url = nejatngo.url(post.path)
        found = rows(recovered, "SELECT * FROM digests WHERE url = ?", (url,))
        assert len(found) == 1, f"{post.title} not recovered"
        digest = found[0]
        assert (digest["number"], digest["title"], digest["published"]) == (
            post.number,
            post.title,
            post.published.isoformat(),
        )
        entries = rows(
            recovered, "SELECT section, text FROM entries WHERE digest_id = ? ORDER BY position", (digest["id"],)
        )
        expected = expected_entries(post, url, origins)
        assert [(e["section"], e["text"]) for e in entries] == [(e.section, e.text) for e in expected]
        links = rows(recovered, "SELECT url FROM links WHERE digest_id = ? ORDER BY id", (digest["id"],))
        assert tuple(link["url"] for link in links) == tuple(link for e in expected for link in e.links)
        # Provenance: which web archive, when it captured the page, and the replay address to cite (no `id_`).
        capture = _newest_ok(story, post)
        assert digest["recovered_from"] == WEB_ARCHIVE
        assert _when(digest["captured_at"]) == _iso(capture.at)
        assert (
            digest["memento_url"]
            == f"{web_archive.replay_prefix}{capture.timestamp}/{nejatngo.base_url}{capture.target}"
        )
    # The live digests stay live: no provenance on any of them.
    live = rows(
        recovered,
        "SELECT count(*) AS n FROM digests WHERE recovered_from IS NULL AND site = ?",
        (urlsplit(nejatngo.base_url).netloc,),
    )
    assert live[0]["n"] > 30


def test_a_post_captured_only_as_its_amp_view_is_one_digest_at_its_own_address(recovered, servers, story):
    nejatngo, _ = servers
    post = story.amp_only
    assert [c.target for c in story.capture_of(post)] == [f"{post.path}?amp=1"]
    found = rows(recovered, "SELECT url, memento_url FROM digests WHERE number = ?", (post.number,))
    assert [row["url"] for row in found] == [nejatngo.url(post.path)]
    assert found[0]["memento_url"].endswith(f"{post.path}?amp=1")


def test_two_captures_make_the_digest_and_a_revision_dated_at_the_older_capture(recovered, servers, story):
    nejatngo, _ = servers
    older, newer = story.twice
    digest = rows(recovered, "SELECT id, text FROM digests WHERE url = ?", (nejatngo.url(newer.path),))[0]
    assert newer.entries[0].paragraphs[0] in digest["text"]
    revisions = rows(recovered, "SELECT * FROM digest_revisions WHERE digest_id = ?", (digest["id"],))
    assert len(revisions) == 1
    assert older.entries[0].paragraphs[0] in revisions[0]["text"]
    assert newer.entries[0].paragraphs[0] not in revisions[0]["text"]
    first = story.capture_of(older)[0]
    assert _when(revisions[0]["replaced_at"]) == _iso(first.at)
    assert revisions[0]["recovered_from"] == WEB_ARCHIVE


def test_a_live_digest_gains_its_history_from_before_the_archive_began(recovered, servers, story):
    nejatngo, _ = servers
    before, live = story.live_revised
    digest = rows(recovered, "SELECT id, text, recovered_from FROM digests WHERE url = ?", (nejatngo.url(live.path),))[
        0
    ]
    assert digest["recovered_from"] is None  # still the live version
    revisions = rows(recovered, "SELECT replaced_at, text FROM digest_revisions WHERE digest_id = ?", (digest["id"],))
    assert len(revisions) == 1 and before.entries[0].paragraphs[0] in revisions[0]["text"]
    assert _when(revisions[0]["replaced_at"]) == _iso(story.capture_of(live)[0].at)
    # An identical capture changes nothing.
    same = rows(recovered, "SELECT id FROM digests WHERE url = ?", (nejatngo.url(story.live_identical.path),))[0]
    assert rows(recovered, "SELECT * FROM digest_revisions WHERE digest_id = ?", (same["id"],)) == []


def test_a_404_capture_is_not_invented_and_a_non_digest_is_skipped(recovered, servers, story):
    nejatngo, _ = servers
    for post in (story.not_found, story.not_digest):
        assert rows(recovered, "SELECT id FROM digests WHERE url = ?", (nejatngo.url(post.path),)) == []
    assert rows(recovered, "SELECT id FROM digests WHERE number = ?", (story.not_found.number,)) == []
    # The non-digest was read and recorded as such, so that it is never fetched again.
    seen = rows(recovered, "SELECT outcome FROM web_captures WHERE url LIKE ?", (f"%{story.not_digest.path}",))
    assert [row["outcome"] for row in seen] == ["not_digest"]


def test_a_post_in_no_captured_listing_is_found_by_a_prefix_query(recovered, servers, story, web_archive):
    nejatngo, _ = servers
    post = story.unlisted
    named = {url for capture in story.listing_captures for url in _named(capture)}
    assert post.path not in named
    assert rows(recovered, "SELECT recovered_from FROM digests WHERE url = ?", (nejatngo.url(post.path),)) == [
        {"recovered_from": WEB_ARCHIVE}
    ]
    prefixes = [_query(target) for target in web_archive.cdx_requests()]
    assert any(
        q.get("matchType") == ["prefix"] and "/en/posts" in q["url"][0] or q["url"][0].endswith("/en/posts/*")
        for q in prefixes
    ), prefixes


def test_a_second_recovery_sends_only_its_cdx_queries(recovered, servers, web_archive):
    nejatngo, _ = servers
    first_cdx, read = len(web_archive.cdx_requests()), web_archive.replay_requests()
    # The first run read each 200 capture of a post once, through `id_` (the 404 is known from the CDX row).
    story = recovery_story()
    for capture in story.captures:
        if capture.status == 200 and capture not in story.listing_captures:
            address = f"/{web_archive.collection}/{capture.timestamp}id_/{nejatngo.base_url}{capture.target}"
            assert read.count(address) == 1, (address, read)
    before = rows(recovered, "SELECT count(*) AS n FROM digests")[0]["n"]
    web_archive.clear_requests()
    assert_clean_run(_recover(recovered, nejatngo.url(CATEGORY_PATH), web_archive))
    assert web_archive.replay_requests() == []
    assert 0 < len(web_archive.cdx_requests()) <= first_cdx
    assert rows(recovered, "SELECT count(*) AS n FROM digests")[0]["n"] == before


def test_a_429_means_later_and_the_recovery_goes_on(archive, servers, web_archive, story):
    """The first CDX query is refused with a 429 and `Retry-After: 2`: asked again after at least 2 s, and the
    recovery goes on as if nothing had happened."""
    nejatngo, _ = servers
    web_archive.refuse_next(1, 429, retry_after="2", under=f"/{web_archive.collection}/cdx")
    assert_clean_run(_recover(archive, nejatngo.url(CATEGORY_PATH), web_archive))
    cdx = [(target, at) for target, at in web_archive.arrivals if target.startswith(f"/{web_archive.collection}/cdx")]
    (refused, status), *_ = [answer for answer in web_archive.answers if answer[0] == cdx[0][0]]
    assert status == 429 and cdx[1][0] == refused  # the same query again
    assert cdx[1][1] - cdx[0][1] >= 2 - 0.1
    recovered = rows(archive, "SELECT number FROM digests WHERE recovered_from IS NOT NULL ORDER BY number")
    assert [row["number"] for row in recovered] == sorted(post.number for post in story.recovered)


def test_a_refresh_of_the_live_site_keeps_the_recovered_digests(recovered, servers, story):
    nejatngo, _ = servers
    assert_clean_run(run_crawl(nejatngo.url(CATEGORY_PATH), recovered))
    kept = rows(recovered, "SELECT number FROM digests WHERE recovered_from IS NOT NULL ORDER BY number")
    assert [row["number"] for row in kept] == sorted(post.number for post in story.recovered)


def _query(target: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(target).query)


def _named(capture: Capture) -> set[str]:
    """The post paths a captured listing page links to."""
    listing = parse_listing(ORIGIN + capture.target, capture.body.decode("utf-8"))
    return {urlsplit(url).path for url in listing.post_urls}


def test_the_bed_writes_what_pywb_serves(servers, story, web_archive):
    """The bed itself: pywb's CDX API lists each capture at its date (its JSON-lines shape), and `id_` replays
    the bytes written, the real site's address rewritten to the fixture's."""
    import urllib.request

    nejatngo, _ = servers
    post = story.twice[1]
    with urllib.request.urlopen(
        f"{web_archive.cdx_api}?url={nejatngo.url(post.path)}&output=json", timeout=10
    ) as answer:
        lines = [json.loads(line) for line in answer.read().decode().splitlines()]
    assert [line["timestamp"] for line in lines] == [c.timestamp for c in story.capture_of(post)]
    assert {line["status"] for line in lines} == {"200"}
    newest = _newest_ok(story, post)
    with urllib.request.urlopen(
        f"{web_archive.replay_prefix}{newest.timestamp}id_/{nejatngo.url(post.path)}", timeout=10
    ) as page:
        body = page.read()
        assert page.headers["Memento-Datetime"] == newest.at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert body == newest.body.replace(ORIGIN.encode(), nejatngo.base_url.encode())
