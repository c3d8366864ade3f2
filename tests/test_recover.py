"""`scrapy crawl digests -a mode=recover`: the digests a site lost, from a web archive shaped like the
Internet Archive's (fixtures/wayback.py: its CDX API's JSON, paged with showNumPages/page=, and the
captures' bytes at `{replay}{timestamp}id_/{url}`), into a real archive file, by the real crawl.

The captures are the fixture site's own pages at chosen dates, of the live fixture server's URLs: what
the archive's crawler would have fetched from the site before it lost them.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.parsing import ParseError
from core.parsing.cdx import CdxRow, parse_cdx_pages, parse_cdx_rows
from core.recovery import group_posts, is_listing_page, listing_prefix, plan_post, post_prefix
from core.web_archives import parse_web_archives
from fixtures.server import NOT_FOUND
from fixtures.site import CATEGORY_PATH, ORIGIN_FORMS, FixtureEntry, FixturePost, build_site, render_post
from fixtures.wayback import CDX_PATH, Capture, StandInWayback
from tests.conftest import assert_clean_run, rows, run_crawl

CAPTURED = "20180105093000"  # the archive's newest visit
EARLIER = "20170901120000"  # an earlier visit, when some posts said something else
CAPTURED_AT, EARLIER_AT = "2018-01-05T09:30:00+00:00", "2017-09-01T12:00:00+00:00"

# What a digest row and its entries must be, recovered or crawled live.
DIGEST_COLUMNS = (
    "url, url_key, post_id, site, number, title, headline, issue_date, published, year, dateline, text, "
    "entry_count, link_count, content_hash"
)


def _body(site, path: str, base: str) -> bytes:
    """A page as the live fixture server serves it (the real site's origins made the server's)."""
    body = site.pages[path].body
    for form in ORIGIN_FORMS:
        body = body.replace(form.encode("ascii"), base.encode("ascii"))
    return body


def _listing_captures(site, base: str, timestamp: str) -> list[Capture]:
    return [
        Capture(base + path, timestamp, _body(site, path, base))
        for path in site.pages
        if path.startswith(CATEGORY_PATH)
    ]


def _post_capture(site, post: FixturePost, base: str, timestamp: str, variant: str = "") -> Capture:
    return Capture(base + post.path + variant, timestamp, _body(site, post.path + variant, base))


def _by_number(posts, *numbers) -> list[FixturePost]:
    return [next(p for p in posts if p.number == n and p.stored) for n in numbers]


def _edited(post: FixturePost) -> FixturePost:
    """The same post as it read before an editor changed it (one entry fewer, a typo in the first)."""
    first = FixtureEntry(post.entries[0].section, [post.entries[0].paragraphs[0] + " (first version)"])
    return replace(post, entries=[first, *post.entries[1:-1]])


def _recover(start_url: str, database: Path, wayback: StandInWayback, *args: str):
    return run_crawl(
        start_url,
        database,
        "-a",
        "mode=recover",
        "-s",
        f"DIGEST_WEB_ARCHIVES={wayback.setting()}",
        "-s",
        "DIGEST_WEB_ARCHIVE_DELAY=0",
        *args,
    )


def _digest(database: Path, url_key: str) -> dict:
    found = rows(database, f"SELECT {DIGEST_COLUMNS} FROM digests WHERE url_key = ?", [url_key])
    assert len(found) == 1, url_key
    return found[0]


def _entries(database: Path, url_key: str) -> list[dict]:
    return rows(
        database,
        "SELECT e.position, e.section, e.text, e.html, "
        "(SELECT group_concat(l.url || ' ' || l.text, '|') FROM links l WHERE l.entry_id = e.id) AS links "
        "FROM entries e JOIN digests d ON d.id = e.digest_id WHERE d.url_key = ? ORDER BY e.position",
        [url_key],
    )


def _key(base: str, post: FixturePost) -> str:
    return base.removeprefix("http://") + post.path


def _cdx_only(wayback: StandInWayback) -> bool:
    return all(target.startswith(CDX_PATH) for target in wayback.page_requests())


# --- a site that lost two digests --------------------------------------------------------------------


@pytest.fixture()
def lost_two(site_server, fixture_posts, backfilled_template, tmp_path):
    """The live site without digests 210 and 205, crawled; a web archive that captured the whole site (its
    listing and every post) on 5 January 2018, its CDX answers four rows a page."""
    deleted = _by_number(fixture_posts, 210, 205)
    full = build_site(fixture_posts)
    site_server.publish(build_site([p for p in fixture_posts if p not in deleted]))
    database = tmp_path / "archive.db"
    start = site_server.url(CATEGORY_PATH)
    assert_clean_run(run_crawl(start, database, "-a", "mode=backfill"))
    base = site_server.base_url
    captures = _listing_captures(full, base, CAPTURED) + [
        _post_capture(full, post, base, CAPTURED) for post in fixture_posts if post.path in full.pages
    ]
    with StandInWayback(captures, page_size=4) as wayback:
        yield start, database, wayback, deleted


def test_deleted_digests_are_recovered_exactly_with_their_provenance(lost_two, backfilled_template, site_server):
    start, database, wayback, deleted = lost_two
    result = _recover(start, database, wayback)
    assert_clean_run(result)
    base = site_server.base_url
    for post in deleted:
        key = _key(base, post)
        # What a crawl of the live site stored of the same post, column by column, entry by entry, link by link.
        assert _digest(database, key) == _digest(backfilled_template.database, key)
        assert _entries(database, key) == _entries(backfilled_template.database, key)
        (provenance,) = rows(
            database, "SELECT recovered_from, captured_at, memento_url FROM digests WHERE url_key = ?", [key]
        )
        assert provenance == {
            "recovered_from": "Stand-in Archive",
            "captured_at": CAPTURED_AT,
            "memento_url": f"{wayback.replay_url}{CAPTURED}/{base}{post.path}",
        }
    recovered = rows(database, "SELECT number FROM digests WHERE recovered_from IS NOT NULL ORDER BY number")
    assert [r["number"] for r in recovered] == [205, 210]
    # The live digests' captures say what the site says: no revision, nothing else recovered.
    assert rows(database, "SELECT count(*) AS n FROM digest_revisions") == [{"n": 0}]
    (run,) = rows(database, "SELECT mode, status, new, changed, index_used FROM crawl_runs WHERE mode = 'recover'")
    assert run == {"mode": "recover", "status": "finished", "new": 2, "changed": 0, "index_used": "web-archives"}
    # Paged CDX answers: each query asks how many pages, then reads each of them.
    requests = wayback.page_requests()
    assert sum("showNumPages=true" in r for r in requests) == 2
    assert any("page=1" in r for r in requests) and any("page=2" in r for r in requests)
    # Every capture read is remembered, each once; the listing's pages with the posts they named.
    read = rows(database, "SELECT url, timestamp, outcome, posts FROM web_captures")
    assert len({(r["url"], r["timestamp"]) for r in read}) == len(read)
    listings = [r for r in read if r["outcome"] == "listing"]
    assert len(listings) == 4 and all(json.loads(r["posts"]) for r in listings)
    # The report and the summary count them, and list the numbers still missing once they are in.
    for command in ("report", "summary"):
        shown = CliRunner().invoke(main, [command, str(database)])
        assert shown.exit_code == 0, shown.output
        assert "Recovered from web archives: 2 digests, 0 older versions" in shown.output
        assert "2 digests from Stand-in Archive (captured 2018-01-05 to 2018-01-05), 0 older versions" in shown.output
        missing = "8\u201353, 55\u2013166, 168\u2013181, 196, 211\u2013212"
        assert f"Numbers still missing after recovery: {missing}" in shown.output
    data = json.loads(CliRunner().invoke(main, ["report", str(database), "--json"]).output)
    assert data["recovered_digests"] == 2 and data["recovered"][0]["web_archive"] == "Stand-in Archive"


def test_a_second_recovery_with_nothing_new_sends_only_its_cdx_queries(lost_two):
    start, database, wayback, _ = lost_two
    assert_clean_run(_recover(start, database, wayback))
    before = rows(database, "SELECT id, content_hash, last_changed FROM digests ORDER BY id")
    wayback.clear_requests()
    again = _recover(start, database, wayback)
    assert_clean_run(again)
    requests = wayback.page_requests()
    assert _cdx_only(wayback), requests
    # Two prefix queries (the listing's pages, the posts), each a page count and its pages: not one per digest.
    assert sum("showNumPages=true" in r for r in requests) == 2
    assert rows(database, "SELECT id, content_hash, last_changed FROM digests ORDER BY id") == before
    (run,) = rows(database, "SELECT new, changed, posts_fetched FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert run == {"new": 0, "changed": 0, "posts_fetched": 0}


def test_a_live_recheck_keeps_the_recovered_digests(lost_two):
    start, database, wayback, deleted = lost_two
    assert_clean_run(_recover(start, database, wayback))
    recheck = run_crawl(start, database, "-a", "mode=recheck")
    assert recheck.returncode == 0, recheck.stderr[-3000:]
    # Gone from the site, never from the archive: still there, still saying where they came from.
    kept = rows(database, "SELECT number, recovered_from, captured_at FROM digests WHERE recovered_from IS NOT NULL")
    assert sorted(r["number"] for r in kept) == [205, 210]
    assert {r["captured_at"] for r in kept} == {CAPTURED_AT}


# --- the odd captures ----------------------------------------------------------------------------------


@pytest.fixture()
def odd_captures(site_server, fixture_posts, tmp_path):
    """The live site without six digests, each lost in its own way, and a web archive that captured:
    209 only as its AMP view; 208 twice (first as it read before an edit); 207 only as a 404; 206 in no
    captured listing (the listing was captured before it was published); and a post of the site's other
    news under the same path, which is no digest."""
    lost = _by_number(fixture_posts, 209, 208, 207, 206)
    amp_only, twice, only_404, unlisted = lost
    full = build_site(fixture_posts)
    site_server.publish(build_site([p for p in fixture_posts if p not in lost]))
    database = tmp_path / "archive.db"
    start = site_server.url(CATEGORY_PATH)
    assert_clean_run(run_crawl(start, database, "-a", "mode=backfill"))
    base = site_server.base_url
    news = FixturePost(99_999, "Nejat Society visits families in Tirana", None, twice.published, twice.entries)
    news_page = render_post(news, fixture_posts[:3], fixture_posts[:3]).encode()
    edited = build_site([_edited(p) if p is twice else p for p in fixture_posts])
    captures = [
        *_listing_captures(build_site([p for p in fixture_posts if p is not unlisted]), base, CAPTURED),
        _post_capture(full, amp_only, base, CAPTURED, "?amp=1"),
        _post_capture(edited, twice, base, EARLIER),
        _post_capture(full, twice, base, CAPTURED),
        Capture(base + only_404.path, CAPTURED, NOT_FOUND, status=404),
        _post_capture(full, unlisted, base, CAPTURED),
        Capture(base + news.path, CAPTURED, news_page.replace(b"https://www.nejatngo.org", base.encode())),
    ]
    with StandInWayback(captures) as wayback:
        yield start, database, wayback, lost, news


def test_odd_captures_become_what_they_are(odd_captures, site_server, backfilled_template):
    start, database, wayback, (amp_only, twice, only_404, unlisted), news = odd_captures
    result = _recover(start, database, wayback)
    assert_clean_run(result)
    base = site_server.base_url
    recovered = {r["number"]: r for r in rows(database, "SELECT * FROM digests WHERE recovered_from IS NOT NULL")}
    # The AMP view is the same post as its plain page: one digest, at the plain URL, as a live crawl has it.
    key = _key(base, amp_only)
    assert _digest(database, key) == _digest(backfilled_template.database, key)
    assert recovered[209]["memento_url"] == f"{wayback.replay_url}{CAPTURED}/{base}{amp_only.path}?amp=1"
    # Captured twice: the newest is the digest, the older (edited since) its revision, dated at its capture.
    key = _key(base, twice)
    assert _digest(database, key) == _digest(backfilled_template.database, key)
    (revision,) = rows(
        database,
        "SELECT r.replaced_at, r.recovered_from, r.captured_at, r.memento_url, r.text FROM digest_revisions r "
        "JOIN digests d ON d.id = r.digest_id WHERE d.url_key = ?",
        [key],
    )
    assert revision["replaced_at"] == revision["captured_at"] == EARLIER_AT
    assert revision["memento_url"] == f"{wayback.replay_url}{EARLIER}/{base}{twice.path}"
    assert "(first version)" in revision["text"]
    # In no captured listing: found by the prefix query over the posts' path.
    key = _key(base, unlisted)
    assert _digest(database, key) == _digest(backfilled_template.database, key)
    # Captured only as a 404: not invented, never fetched; remembered with what it was.
    assert 207 not in recovered
    assert not any(only_404.path in r for r in wayback.page_requests() if not r.startswith(CDX_PATH))
    outcomes = {r["url"]: r["outcome"] for r in rows(database, "SELECT url, outcome FROM web_captures")}
    assert outcomes[base + only_404.path] == "not_ok"
    # The site's other news, under the same path: read, skipped, never stored.
    assert outcomes[base + news.path] == "not_digest"
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE post_id = ?", [news.post_id]) == [{"n": 0}]
    assert sorted(recovered) == [206, 208, 209]


def test_reaching_the_captures_cap_fails_the_run_in_one_line(odd_captures):
    start, database, wayback, _, _ = odd_captures
    result = _recover(start, database, wayback, "-s", "DIGEST_RECOVER_MAX_CAPTURES=2")
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1 and "DIGEST_RECOVER_MAX_CAPTURES (2)" in errors[0], errors
    assert "Verdict of scrapy crawl digests: exit 1" in result.stderr
    # What it read is remembered: the next run goes on where this one stopped.
    assert len(rows(database, "SELECT id FROM web_captures WHERE outcome != 'not_ok'")) == 2


# --- history from before the archive began ------------------------------------------------------------


def test_a_live_digest_gains_its_pre_archive_revision_dated_at_its_capture(
    backfilled_archive, site_server, fixture_posts
):
    """Digest 204 as the web archive captured it in September 2017, before an edit, and again in 2018 as the
    archive has it; the other posts never captured."""
    (post,) = _by_number(fixture_posts, 204)
    base = site_server.base_url
    edited = build_site([_edited(p) if p is post else p for p in fixture_posts])
    captures = [
        _post_capture(edited, post, base, EARLIER),
        _post_capture(build_site(fixture_posts), post, base, CAPTURED),
    ]
    with StandInWayback(captures) as wayback:
        before = rows(backfilled_archive, f"SELECT {DIGEST_COLUMNS} FROM digests ORDER BY id")
        assert_clean_run(_recover(site_server.url(CATEGORY_PATH), backfilled_archive, wayback))
    key = _key(base, post)
    revisions = rows(
        backfilled_archive,
        "SELECT r.replaced_at, r.recovered_from, r.text FROM digest_revisions r JOIN digests d ON d.id = r.digest_id "
        "WHERE d.url_key = ?",
        [key],
    )
    # One revision (the identical 2018 capture changes nothing), dated at its capture; the digest as it was.
    assert revisions == [
        {"replaced_at": EARLIER_AT, "recovered_from": "Stand-in Archive", "text": revisions[0]["text"]}
    ]
    assert "(first version)" in revisions[0]["text"]
    assert rows(backfilled_archive, f"SELECT {DIGEST_COLUMNS} FROM digests ORDER BY id") == before
    assert rows(backfilled_archive, "SELECT count(*) AS n FROM digests WHERE recovered_from IS NOT NULL") == [{"n": 0}]


# --- a shared public service ----------------------------------------------------------------------------


def test_a_429_is_later_honoured_then_success(site_server, fixture_posts, tmp_path):
    (lost,) = _by_number(fixture_posts, 203)
    full = build_site(fixture_posts)
    site_server.publish(build_site([p for p in fixture_posts if p is not lost]))
    database = tmp_path / "archive.db"
    start = site_server.url(CATEGORY_PATH)
    assert_clean_run(run_crawl(start, database, "-a", "mode=backfill"))
    with StandInWayback([_post_capture(full, lost, site_server.base_url, CAPTURED)]) as wayback:
        wayback.refuse_next(1, retry_after=1)
        result = _recover(start, database, wayback)
        assert_clean_run(result)
        requests = wayback.page_requests()
    # The refused query was asked again after the second it asked for, and the digest came.
    assert wayback.refused == [requests[0]] and requests[1] == requests[0]
    assert "waiting 1.0s as Retry-After asks" in result.stderr
    assert rows(database, "SELECT number FROM digests WHERE recovered_from IS NOT NULL") == [{"number": 203}]


def test_a_cdx_api_that_stays_refused_fails_the_run_never_no_capture(site_server, fixture_posts, tmp_path):
    database = tmp_path / "archive.db"
    with StandInWayback([]) as wayback:
        wayback.refuse_next(100, retry_after=0)
        result = _recover(site_server.url(CATEGORY_PATH), database, wayback)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "ask again later" in result.stderr
    (failure,) = rows(database, "SELECT kind, http_status FROM failures")
    assert failure == {"kind": "http_status", "http_status": 429}


def test_a_wrongly_typed_cdx_answer_is_refused_with_its_reason(site_server, tmp_path):
    database = tmp_path / "archive.db"
    base = site_server.base_url
    # A row whose original is no http(s) URL: the whole answer is refused, nothing read from it.
    bad = Capture("ftp://" + base.removeprefix("http://") + CATEGORY_PATH, CAPTURED, b"<html></html>")
    with StandInWayback([bad]) as wayback:
        result = _recover(site_server.url(CATEGORY_PATH), database, wayback)
    assert result.returncode == 1, result.stderr[-3000:]
    (failure,) = rows(database, "SELECT kind, message FROM failures")
    assert failure["kind"] == "cdx_answer" and "is not an http(s) URL" in failure["message"]


def test_recover_asks_the_web_archives_only_one_request_at_a_time(site_server, fixture_posts, tmp_path):
    """The live site is never asked; the web archive waits DIGEST_WEB_ARCHIVE_DELAY between two requests."""
    lost = _by_number(fixture_posts, 202, 201)
    full = build_site(fixture_posts)
    base = site_server.base_url
    database = tmp_path / "archive.db"
    with StandInWayback([_post_capture(full, post, base, CAPTURED) for post in lost]) as wayback:
        site_server.clear_requests()
        result = run_crawl(
            site_server.url(CATEGORY_PATH),
            database,
            "-a",
            "mode=recover",
            "-s",
            f"DIGEST_WEB_ARCHIVES={wayback.setting()}",
            "-s",
            "DIGEST_WEB_ARCHIVE_DELAY=0.4",
        )
        assert_clean_run(result)
        assert site_server.page_requests() == []
        gaps = [later - earlier for earlier, later in zip(wayback.arrivals, wayback.arrivals[1:], strict=False)]
        most_at_once = wayback.most_at_once
    assert sorted(re.findall(r"Recovered digest (\d+)", result.stderr)) == ["201", "202"]
    # The listing's page count (none captured), the posts' page count and its one page, two captures: a delay
    # apart, never two at once.
    assert len(gaps) == 4 and min(gaps) >= 0.35, gaps
    assert most_at_once == 1


# --- the pure rules ------------------------------------------------------------------------------------


def _row(url: str, timestamp: str, status: int | None = 200, digest: str | None = None, mime="text/html") -> CdxRow:
    return CdxRow(timestamp, url, mime, status, digest)


def test_the_internet_archives_json_and_pywbs_lines_give_the_same_rows():
    ia = json.dumps(
        [
            ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
            ["org,x)/a", "20170825093000", "https://x.org/a", "text/html", "200", "ABC", "10"],
            ["org,x)/a", "20170826093000", "https://x.org/a", "warc/revisit", "-", "ABC", "10"],
            [],
            ["resumekey"],
        ]
    ).encode()
    pywb = (
        b'{"urlkey": "org,x)/a", "timestamp": "20170825093000", "url": "https://x.org/a", "mime": "text/html", '
        b'"status": "200", "digest": "ABC", "offset": "1", "filename": "a.warc.gz"}\n'
        b'{"urlkey": "org,x)/a", "timestamp": "20170826093000", "url": "https://x.org/a", "mime": "warc/revisit", '
        b'"digest": "ABC"}\n'
    )
    assert (
        parse_cdx_rows(ia)
        == parse_cdx_rows(pywb)
        == [
            _row("https://x.org/a", "20170825093000", 200, "ABC"),
            _row("https://x.org/a", "20170826093000", None, "ABC", "warc/revisit"),
        ]
    )
    assert parse_cdx_rows(b"[]") == [] and parse_cdx_rows(b"") == []


HEADER = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps([HEADER, ["k", 20170825093000, "https://x.org/", "text/html", "200", "A", "1"]]), "timestamp"),
        (json.dumps([HEADER, ["k", "20171345093000", "https://x.org/", "text/html", "200", "A", "1"]]), "no date"),
        (json.dumps([HEADER, ["k", "20170825093000", "javascript:x", "text/html", "200", "A", "1"]]), "http(s)"),
        (json.dumps([HEADER, ["k", "20170825093000", "https://x.org/\n", "text/html", "200", "A", "1"]]), "one line"),
        (json.dumps([HEADER, ["k", "20170825093000", "https://x.org/", "text/html", "OK", "A", "1"]]), "statuscode"),
        (json.dumps([HEADER, ["k", "20170825093000", "https://x.org/"]]), "fields"),
        (json.dumps({"captures": []}), "no timestamp"),
        ("[" * 100_000, "not JSON"),
        ("com,x)/ 20170825093000 {}", "neither"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_a_malformed_or_wrongly_typed_cdx_answer_is_refused_with_a_reason(body, reason):
    with pytest.raises(ParseError, match=re.escape(reason)):
        parse_cdx_rows(body if isinstance(body, bytes) else body.encode())


def test_cdx_answers_are_bounded():
    rows_ = [HEADER] + [["k", "20170825093000", f"https://x.org/{n}", "text/html", "200", "A", "1"] for n in range(11)]
    with pytest.raises(ParseError, match="more than 10 rows"):
        parse_cdx_rows(json.dumps(rows_).encode(), max_rows=10)
    assert parse_cdx_pages(b"3\n", 10) == 3 and parse_cdx_pages(b'{"pages": 2, "blocks": 9}', 10) == 2
    assert parse_cdx_pages(json.dumps([HEADER]).encode(), 10) is None  # a server that does not page
    with pytest.raises(ParseError, match="DIGEST_RECOVER_MAX_CDX_PAGES"):
        parse_cdx_pages(b"11", 10)
    with pytest.raises(ParseError):
        parse_cdx_pages(b"-1", 10)


def test_one_post_is_one_candidate_whatever_url_the_archive_captured():
    start = "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest"
    captured = [
        _row("http://nejatngo.org/en/posts/7291?amp=1", "20170101000000"),
        _row("https://www.nejatngo.org/en/posts/7291/amp", "20170201000000"),
        _row("https://www.nejatngo.org/en/posts/7291?utm_source=feed", "20170301000000"),
        _row("https://www.nejatngo.org/en/posts/7303", "20170301000000"),
        _row("https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest/page/2", "20170301000000"),
        _row("https://www.nejatngo.org/en/posts/7303/feed", "20170301000000"),
        _row("https://evil.example/en/posts/7291", "20170301000000"),
    ]
    posts = group_posts(start, captured)
    assert sorted(posts) == ["nejatngo.org/en/posts/7291", "nejatngo.org/en/posts/7303"]
    assert len(posts["nejatngo.org/en/posts/7291"]) == 3
    assert is_listing_page(start, "http://nejatngo.org/en/topic/iran-interlink-weekly-digest?paged=3")
    assert not is_listing_page(start, "https://www.nejatngo.org/en/topic/other")
    assert listing_prefix(start) == "nejatngo.org/en/topic/iran-interlink-weekly-digest"
    assert post_prefix(start, ["https://www.nejatngo.org/en/posts/7291", "http://nejatngo.org/en/posts/7303/"]) == (
        "nejatngo.org/en/posts/"
    )
    assert post_prefix(start, []) == "nejatngo.org/"
    interlink = "https://www.iran-interlink.org/wordpress/author/?author=khodaadmin&authorid=1"
    assert post_prefix(interlink, ["https://www.iran-interlink.org/wordpress/?p=12"]) == "iran-interlink.org/wordpress/"


def test_which_captures_of_a_post_are_read():
    url = "https://www.nejatngo.org/en/posts/7291"
    captured = [
        _row(url, "20160101000000", digest="A"),
        _row(url, "20170101000000", digest="B"),
        _row(url, "20170601000000", digest="A"),  # the same content as the oldest: changes nothing
        _row(url, "20180101000000", 301),
        _row(url, "20180201000000", digest="C"),
        _row(url, "20190101000000", 404),
    ]
    plan = plan_post(captured, None, set())
    assert plan.latest == captured[4] and plan.older == (captured[0], captured[1])
    # Held since 2017-03: only what is older is its history.
    assert plan_post(captured, "2017-03-01T00:00:00+00:00", set()) == plan_post(captured[:2], "2017-03-01", set())
    # Read by an earlier run: never again.
    assert plan_post(captured, None, {(url, "20180201000000")}).latest is None
    skipped = plan_post([_row(url, "20180101000000", 404)], None, set())
    assert skipped.latest is None and skipped.skip == ("not_ok", _row(url, "20180101000000", 404))


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"IA": {"cdx": "https://web.archive.org/cdx/search/cdx"}}',
        '{"IA": {"cdx": "ftp://x/", "replay": "https://x/"}}',
        '{"IA": {"cdx": "https://x/", "replay": "https://x/", "extra": 1}}',
        '{"": {"cdx": "https://x/", "replay": "https://x/"}}',
        '{"A\\nB": {"cdx": "https://x/", "replay": "https://x/"}}',
        '{"IA": {"cdx": "https://user:pw@x/", "replay": "https://x/"}}',
    ],
)
def test_a_bad_web_archives_setting_is_refused(value):
    with pytest.raises(ValueError):
        parse_web_archives(value)


def test_a_bad_web_archives_setting_stops_the_crawl_before_any_request(site_server, tmp_path):
    result = run_crawl(
        site_server.url(CATEGORY_PATH), tmp_path / "a.db", "-a", "mode=recover", "-s", "DIGEST_WEB_ARCHIVES=[1]"
    )
    assert result.returncode == 2 and "bad setting DIGEST_WEB_ARCHIVES" in result.stderr
    assert site_server.page_requests() == [] and not (tmp_path / "a.db").exists()


def test_the_memento_names_the_human_replay_address():
    (archive,) = parse_web_archives(
        '{"IA": {"cdx": "https://web.archive.org/cdx/search/cdx", "replay": "https://web.archive.org/web"}}'
    )
    assert (
        archive.raw_url("20170825093000", "https://x.org/a")
        == "https://web.archive.org/web/20170825093000id_/https://x.org/a"
    )
    assert (
        archive.memento_url("20170825093000", "https://x.org/a")
        == "https://web.archive.org/web/20170825093000/https://x.org/a"
    )


# --- a web archive that answers for another site ---------------------------------------------------------


class AnswersForAnotherSite(StandInWayback):
    """A web archive whose CDX answers, whatever was asked, also name a capture of another origin's post: a
    page that reads as a digest of the series, which the site being recovered never published."""

    def __init__(self, captures: list[Capture], foreign: Capture) -> None:
        super().__init__([*captures, foreign])
        self.foreign = foreign

    def _cdx(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = super()._cdx(params)
        if params.get("showNumPages") == "true":
            return status, headers, body
        listed = json.loads(body) or [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]]
        c = self.foreign
        listed.append(["test,other-site)/en/posts/7435", c.timestamp, c.url, c.mimetype, "200", c.digest, "1"])
        return status, headers, json.dumps(listed).encode()


def test_a_capture_of_another_origins_post_never_becomes_this_sites_digest(
    site_server, fixture_posts, backfilled_template, tmp_path
):
    deleted = _by_number(fixture_posts, 210)
    full = build_site(fixture_posts)
    site_server.publish(build_site([p for p in fixture_posts if p not in deleted]))
    database = tmp_path / "archive.db"
    start = site_server.url(CATEGORY_PATH)
    assert_clean_run(run_crawl(start, database, "-a", "mode=backfill"))
    base = site_server.base_url
    captures = _listing_captures(full, base, CAPTURED) + [_post_capture(full, deleted[0], base, CAPTURED)]
    # Another origin's post with the lost digest's very content (as if the other site had copied it).
    foreign = Capture("http://other-site.test" + deleted[0].path, CAPTURED, _body(full, deleted[0].path, base))
    with AnswersForAnotherSite(captures, foreign) as wayback:
        assert_clean_run(_recover(start, database, wayback))
        requested = wayback.page_requests()
    # The lost digest comes back from its own capture; the other origin's is never fetched nor stored.
    assert [r["site"] for r in rows(database, "SELECT site FROM digests WHERE recovered_from IS NOT NULL")] == [
        base.removeprefix("http://")
    ]
    assert not any("other-site.test" in target for target in requested if not target.startswith(CDX_PATH))
    assert rows(database, "SELECT count(*) AS n FROM digests WHERE site LIKE 'other-site%'") == [{"n": 0}]
