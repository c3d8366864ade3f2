"""The site is untrusted input (issue 16): the real spider against a hostile WordPress-like site.

Every test runs `scrapy crawl digests` as a subprocess against `fixtures.hostile.HostileServer` and
judges the run by what a user sees: the rows of the SQLite archive, the requests the servers got,
the exit code and the log. What the crawler promises (and these tests hold it to):

- exit codes: 0 finished, 1 failed because of the site, 2 bad argument or DATABASE (an unknown spider
  name too), 3 busy, 4 storage error, 5 interrupted, 6 an unexpected exception (recorded as a
  `failures` row of kind `exception`);
- REST paging ends at the pages `X-WP-Total` implies (100 a page), an empty, short or repeated page,
  or `DIGEST_MAX_REST_PAGES` (hitting the cap fails the run); the HTML listing stops at
  `DIGEST_MAX_LISTING_PAGES`;
- a REST item whose `link` is off the listing's origin, or whose id, link or title has a wrong type
  or range, is read from its page on the listing's own origin (by its id, or with no usable id by its
  `link` on that origin), or recorded as a `rest_item` failure naming the link it gave;
- control characters, noncharacters and lone surrogates never reach the archive.

Caps are small here (`DIGEST_MAX_REST_PAGES=5`), so that an endless index costs a few requests. A
crawl that goes past the request bound is killed at once and fails its test (no waiting for a
runaway crawl to time out).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from cli.main import main
from core.urls import site_of
from fixtures.hostile import AUTO, LISTING_PER_PAGE, POSTS_ROUTE, HostileServer, Hostility
from fixtures.site import CATEGORY_PATH, FixturePost
from tests.conftest import REPO, ScrapyPopen, crawl_command, datasette_client, run_scrapy

MAX_REST_PAGES = 5
MAX_LISTING_PAGES = 5
CAPS = ["-s", f"DIGEST_MAX_REST_PAGES={MAX_REST_PAGES}", "-s", f"DIGEST_MAX_LISTING_PAGES={MAX_LISTING_PAGES}"]
EXIT_CODES = {0, 1, 2, 3, 4, 5, 6}
# A log line at the ERROR level (Scrapy's format), or a one-line usage error of the spider or Scrapy.
ERROR_LINE = re.compile(r"^\S+ \S+ \[[^\]]+\] ERROR: |^[\w-]+: error: |^Usage error|^ERROR: ", re.MULTILINE)
# C0 controls but tab and newline, the noncharacters U+FFFE and U+FFFF, lone surrogates.
TITLE_WORDS = "Weekly Digest"
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")
STATEMENTS = {
    "digests": "SELECT title, headline, dateline, text FROM digests",
    "entries": "SELECT section, text FROM entries",
    "links": "SELECT text FROM links",
}


# --- running a crawl, judging its run ------------------------------------------------------------------


@dataclass
class Crawl:
    code: int
    log: str
    seconds: float
    killed: str | None  # why the test killed it (past the request bound, or too slow)

    def error_lines(self) -> list[str]:
        return [line for line in self.log.splitlines() if ERROR_LINE.search(line)]

    def describe(self) -> str:
        tail = self.log[-3000:]
        if "Traceback" in self.log:
            # The first traceback's last lines (the exception), then the end of the log.
            start = self.log.find("Traceback")
            block = re.split(r"\n(?=\d{4}-\d\d-\d\d )", self.log[start:], maxsplit=1)[0]
            tail = self.log[max(0, start - 400) : start] + "…\n" + block[-1200:] + "\n…\n" + self.log[-1500:]
        return f"exit {self.code} after {self.seconds:.1f}s{f', killed: {self.killed}' if self.killed else ''}\n{tail}"


def request_bound(server: HostileServer) -> int:
    """Requests a crawl of `server` may make, from the caps: robots.txt, the start page, the REST index
    (`/wp-json/`), the feed; at most MAX_REST_PAGES pages of `/wp/v2/posts` and MAX_LISTING_PAGES listing
    pages; and per post the site can name within those pages at most three (`/?p=N`, its 301 target,
    and one more for a page read again on the HTML path)."""
    h = server.hostility
    named = (
        h.posts
        + (MAX_REST_PAGES * 100 if h.endless else 0)
        + ((MAX_LISTING_PAGES + 1) * LISTING_PER_PAGE if h.endless_listing else 0)
    )
    return 4 + MAX_REST_PAGES + MAX_LISTING_PAGES + 3 * named


def listing_requests(server: HostileServer) -> list[str]:
    """Requests for the HTML listing: the start page and its `/page/N` pages."""
    return [target for target in server.requests_to(CATEGORY_PATH) if "/feed" not in target]


def crawl(
    server: HostileServer,
    database: Path,
    *args: str,
    mode: str = "backfill",
    timeout: float = 60,
    victim: HostileServer | None = None,
) -> Crawl:
    """`scrapy crawl digests` of the server's archive. Killed as soon as it asks for more than the caps
    allow (or the victim gets a request): a runaway crawl fails fast instead of hanging the suite."""
    command = crawl_command(server.start_url, database, "-a", f"mode={mode}", *CAPS, *args)
    bound = request_bound(server)
    before, rest_before = len(server.requests), len(server.requests_to(POSTS_ROUTE))
    listing_before = len(listing_requests(server))
    started = time.monotonic()
    process = ScrapyPopen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    killed = None
    while True:
        try:
            _, log = process.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            rest_pages = len(server.requests_to(POSTS_ROUTE)) - rest_before
            if len(server.requests) - before > bound:
                killed = f"more than {bound} requests"
            elif rest_pages > MAX_REST_PAGES:
                killed = f"more than DIGEST_MAX_REST_PAGES={MAX_REST_PAGES} REST index pages ({rest_pages})"
            elif len(listing_requests(server)) - listing_before > MAX_LISTING_PAGES + 1:
                killed = f"more than DIGEST_MAX_LISTING_PAGES={MAX_LISTING_PAGES} listing pages"
            elif victim is not None and victim.requests:
                killed = f"the victim site got requests: {victim.requests[:3]}"
            elif time.monotonic() - started > timeout:
                killed = f"still running after {timeout}s"
            if killed:
                process.kill()
                _, log = process.communicate()
                break
    return Crawl(process.returncode, log, time.monotonic() - started, killed)


def query(database: Path, sql: str, params=()) -> list[tuple]:
    if not database.exists():
        return []
    connection = sqlite3.connect(database)
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise
    finally:
        connection.close()


def stored_paths(database: Path, server: HostileServer) -> set[str]:
    """Paths of the digests stored on the server's site (their URLs and the other URLs they answer at)."""
    site = site_of(server.base_url)
    urls = [url for (url,) in query(database, "SELECT url FROM digests UNION ALL SELECT url FROM digest_urls")]
    return {urlsplit(url).path.rstrip("/") for url in urls if _site(url) == site}


def stored_post_ids(database: Path, server: HostileServer) -> set[int]:
    return {
        post_id
        for (post_id,) in query(database, "SELECT post_id FROM digests WHERE site = ?", [site_of(server.base_url)])
    }


def failure_rows(database: Path) -> list[tuple[str, str, str]]:
    return query(database, "SELECT url, kind, message FROM failures")


def is_stored(database: Path, server: HostileServer, post: FixturePost) -> bool:
    return post.path in stored_paths(database, server)


def _site(url: object) -> str | None:
    try:
        return site_of(str(url))
    except ValueError:  # a stored URL urllib cannot split ("http://[::1") is on no site
        return None


def _names(text: str, token: str) -> bool:
    """`text` names `token` as a whole (an id not inside a longer number, a URL as given)."""
    return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", text) is not None


def _failure_names(row: tuple, server: HostileServer, post: FixturePost) -> bool:
    """This `failures` row names the post: its page, its `/?p=N`, its id, or what its REST item said
    its link or (a long enough) id was."""
    url, _, message = (str(value or "") for value in row)
    position = server.posts.index(post)
    link, claimed_id = server.hostility.links.get(position), server.hostility.ids.get(position)
    if _site(url) == _site(server.base_url) and urlsplit(url).path.rstrip("/") == post.path:
        return True
    if post.path in url or post.path in message or f"p={post.post_id}" in url or _names(message, str(post.post_id)):
        return True
    if isinstance(link, str) and link and (link == url or link in message):
        return True
    return (
        claimed_id is not None
        and len(str(claimed_id)) >= 4
        and (_names(url, str(claimed_id)) or _names(message, str(claimed_id)))
    )


def has_failure(database: Path, server: HostileServer, post: FixturePost) -> bool:
    return any(_failure_names(row, server, post) for row in failure_rows(database))


def unaccounted(database: Path, server: HostileServer) -> list[str]:
    """The archive's posts that are neither stored nor recorded as failed.

    A `rest_item` failure that names none of the posts (its message may say "item 3 of page 1")
    accounts for one post whose REST item the server made hostile."""
    rows = failure_rows(database)
    stored = stored_paths(database, server)
    missing = [
        post
        for post in server.posts
        if post.path not in stored and not any(_failure_names(row, server, post) for row in rows)
    ]
    h = server.hostility
    hostile = {position for table in (h.links, h.ids, h.titles) for position in table} | set(h.surrogates)
    anonymous = [
        row
        for row in rows
        if row[1] == "rest_item" and not any(_failure_names(row, server, post) for post in server.posts)
    ]
    for post in [post for post in missing if server.posts.index(post) in hostile]:
        if anonymous:
            anonymous.pop()
            missing.remove(post)
    return [post.path for post in missing]


def forbidden_text(database: Path) -> list[tuple[str, str]]:
    """(table, value) of every stored text holding a C0 control, U+FFFE/U+FFFF or a surrogate."""
    if not database.exists():
        return []
    connection = sqlite3.connect(database)
    connection.text_factory = bytes
    found = []
    try:
        for table, sql in STATEMENTS.items():
            try:
                records = connection.execute(sql).fetchall()
            except sqlite3.OperationalError:
                continue
            for record in records:
                for value in record:
                    if value is None:
                        continue
                    try:
                        text = value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else str(value)
                    except UnicodeDecodeError:
                        found.append((table, repr(value[:80])))
                        continue
                    if FORBIDDEN.search(text):
                        found.append((table, repr(text[:120])))
    finally:
        connection.close()
    return found


def wrong_post_ids(database: Path, server: HostileServer) -> list[tuple[str, object]]:
    """(url, post_id) of stored digests of the site whose post id is not the one their page carries
    (`/en/posts/N` is post N): a REST item's wrong-typed id must not become a digest's id."""
    site = site_of(server.base_url)
    return [
        (url, post_id)
        for url, post_id in query(database, "SELECT url, post_id FROM digests WHERE site = ?", [site])
        if post_id is not None and urlsplit(url).path.rstrip("/") != f"/en/posts/{post_id}"
    ]


def script_elements(database: Path) -> list[str]:
    """Stored titles, entry texts and entry HTML that carry a `<script` (the sanitiser's job, and the parser's)."""
    texts = query(
        database, "SELECT title FROM digests UNION ALL SELECT text FROM entries UNION ALL SELECT html FROM entries"
    )
    return [str(text)[:200] for (text,) in texts if "<script" in str(text).lower()]


def rows_off_origin(database: Path, server: HostileServer) -> list[tuple[str, str]]:
    """(table, url) of every digest, digest URL or kept page whose URL is not on the listing's site."""
    site = site_of(server.base_url)
    found = []
    for table in ("digests", "digest_urls", "pages"):
        for (url,) in query(database, f"SELECT url FROM {table}"):  # our own table names
            if _site(url) != site:
                found.append((table, url))
    return found


def assert_no_traceback_with_exit_0(result: Crawl) -> None:
    assert not (result.code == 0 and "Traceback" in result.log), result.describe()


def assert_all_stored_or_one_error(result: Crawl, database: Path, server: HostileServer) -> None:
    """Every post of the archive is stored or a recorded failure; else the run says it failed, once."""
    missing = unaccounted(database, server)
    if missing:
        assert result.code != 0, f"exit 0 with posts neither stored nor failed: {missing}\n{result.describe()}"
        assert len(result.error_lines()) == 1, f"{missing} missing: {result.error_lines()}\n{result.describe()}"


# --- the named regressions ------------------------------------------------------------------------------


def snapshot_of_site(database: Path, server: HostileServer) -> dict:
    """Everything the archive holds of one site's digests: digests, entries, revisions, URLs, pages."""
    site = site_of(server.base_url)
    digests = query(
        database,
        "SELECT id, url, title, number, post_id, text, content_hash, entry_count, link_count "
        "FROM digests WHERE site = ? ORDER BY url",
        [site],
    )
    ids = [row[0] for row in digests]
    marks = ",".join("?" * len(ids))
    return {
        "digests": [row[1:] for row in digests],
        "entries": query(
            database,
            f"SELECT d.url, e.position, e.section, e.text, e.html FROM entries e "
            f"JOIN digests d ON d.id = e.digest_id WHERE e.digest_id IN ({marks}) "
            f"ORDER BY d.url, e.position",
            ids,
        ),
        "links": query(
            database,
            f"SELECT d.url, l.position, l.url FROM links l JOIN digests d ON d.id = l.digest_id "
            f"WHERE l.digest_id IN ({marks}) ORDER BY d.url, l.entry_id, l.position",
            ids,
        ),
        "revisions": query(database, f"SELECT count(*) FROM digest_revisions WHERE digest_id IN ({marks})", ids),
        "urls": query(
            database,
            f"SELECT u.url_key, u.url, d.url FROM digest_urls u JOIN digests d ON d.id = u.digest_id "
            f"WHERE u.digest_id IN ({marks}) ORDER BY u.url_key",
            ids,
        ),
        "pages": [
            row
            for row in query(
                database, "SELECT url_key, url, http_status, source, etag, body FROM pages ORDER BY url_key"
            )
            if _site(row[1]) == site
        ],
    }


def test_off_origin_rest_link_cannot_rewrite_another_sites_digests(tmp_path):
    """Site A's REST items claim, as their `link`, the posts of site B (archived in the same file) with
    A's own entries. A backfill of A must leave every row of B as it was."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6, first_number=100, first_id=5000)) as site_b:
        first = crawl(site_b, database)
        assert first.code == 0 and unaccounted(database, site_b) == [] and not first.error_lines(), first.describe()
        before = snapshot_of_site(database, site_b)
        assert len(before["digests"]) == 6 and before["pages"], before
        site_b.clear_requests()
        # A: seven digests numbered 300-306 with other entries; the sample check reads positions 0, 3 and 6
        # (newest, middle, oldest) from their pages and agrees; the four items between claim B's posts.
        claimed = {
            position: site_b.post_url(site_b.posts[index]) for position, index in ((1, 0), (2, 1), (4, 2), (5, 3))
        }
        with HostileServer(
            Hostility(posts=7, first_number=300, first_id=8000, pool_offset=11, links=claimed)
        ) as site_a:
            second = crawl(site_a, database, victim=site_b)
            assert site_b.requests == [], second.describe()
            after = snapshot_of_site(database, site_b)
            changed = sorted(table for table in before if after[table] != before[table])
            assert changed == [], f"B's {changed} changed by the crawl of A\n{second.describe()}"
            assert_no_traceback_with_exit_0(second)
            assert_all_stored_or_one_error(second, database, site_a)
            # None of A's digests (numbered 300-306) was stored under B's URLs.
            b_numbers = {
                number
                for (number,) in query(
                    database, "SELECT number FROM digests WHERE site = ?", [site_of(site_b.base_url)]
                )
            }
            assert b_numbers == set(range(100, 106)), b_numbers


def test_endless_rest_paging_is_bounded(tmp_path):
    """Every page of /wp/v2/posts is full of posts never seen before and says there are a billion pages:
    the crawl reads at most DIGEST_MAX_REST_PAGES of them, and hitting the cap fails the run (exit 1)."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6, endless=True, total="100000000000", total_pages="1000000000")) as site:
        result = crawl(site, database)
        rest_pages = site.requests_to(POSTS_ROUTE)
    assert result.killed is None, result.describe()
    assert len(rest_pages) <= MAX_REST_PAGES, rest_pages
    assert result.code == 1, result.describe()
    assert len(result.error_lines()) == 1, result.error_lines()
    assert "Traceback" not in result.log, result.describe()


@pytest.mark.parametrize("index", ["auto", "html"])
def test_a_site_that_names_more_posts_than_a_run_may_take_fails_the_run(tmp_path, index):
    """However many posts one listing page or index page names, a run sets out to handle at most
    DIGEST_MAX_POSTS of them (here 3 of 6), and says it failed (exit 1, one ERROR line)."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6)) as site:
        result = crawl(site, database, "-s", "DIGEST_MAX_POSTS=3", "-a", f"index={index}")
        stored = stored_paths(database, site)
    assert result.code == 1, result.describe()
    assert len(result.error_lines()) == 1 and "DIGEST_MAX_POSTS" in result.error_lines()[0], result.describe()
    assert 0 < len(stored) <= 3, stored


def test_endless_html_listing_is_bounded(tmp_path):
    """No REST API, and a category listing whose every page links a next one of ten new posts: the
    crawl reads at most DIGEST_MAX_LISTING_PAGES listing pages (the start page besides) and stops."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6, rest_root="", endless_listing=True)) as site:
        result = crawl(site, database)
        listings = listing_requests(site)
    assert result.killed is None, result.describe()
    assert len(listings) <= MAX_LISTING_PAGES + 1, listings
    assert_no_traceback_with_exit_0(result)
    assert result.code in (0, 1), result.describe()
    assert_all_stored_or_one_error(result, database, site)


def test_repeated_rest_pages_end_the_index(tmp_path):
    """Every page of /wp/v2/posts answers page 1 again, with a billion pages promised: the index ends at
    the first repeated page, and the archive's posts are all stored or failed."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6, repeat=True, total_pages="1000000000", total="1000000")) as site:
        result = crawl(site, database)
        rest_pages = site.requests_to(POSTS_ROUTE)
    assert result.killed is None, result.describe()
    assert len(rest_pages) <= 2, rest_pages
    assert_no_traceback_with_exit_0(result)
    assert result.code in (0, 1), result.describe()
    assert_all_stored_or_one_error(result, database, site)


def test_inconsistent_x_wp_total_neither_loses_posts_nor_asks_past_a_short_page(tmp_path):
    """`X-WP-Total: 100000` but no `X-WP-TotalPages` and one short page of six posts: the short page is
    the last one (no request for page 2) and all six digests are stored."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=6, total="100000", total_pages=None)) as site:
        result = crawl(site, database)
        rest_pages = site.requests_to(POSTS_ROUTE)
    assert result.code == 0 and not result.error_lines(), result.describe()
    assert "Traceback" not in result.log, result.describe()
    assert len(rest_pages) == 1, rest_pages
    assert stored_paths(database, site) >= {post.path for post in site.posts}


def _unreadable_index_then_refresh(tmp_path, hostility: Hostility) -> None:
    """An index the crawler cannot read ends in a fallback with every digest stored, or in a non-zero
    exit with one ERROR line; never exit 0 with nothing stored. A refresh of the same, now honest,
    site then stores everything: a failed run saved no feed validators, so it does not take the
    feed's 304 for "nothing changed"."""
    database = tmp_path / "archive.db"
    with HostileServer(hostility) as site:
        first = crawl(site, database)
        assert first.killed is None, first.describe()
        assert_no_traceback_with_exit_0(first)
        assert first.code in EXIT_CODES, first.describe()
        all_stored = stored_paths(database, site) >= {post.path for post in site.posts}
        if first.code == 0:
            assert all_stored, (
                f"exit 0 with {len(stored_paths(database, site))} of {len(site.posts)} stored\n{first.describe()}"
            )
        else:
            assert len(first.error_lines()) == 1, first.error_lines()
        site.configure(Hostility(posts=hostility.posts))
        site.clear_requests()
        refresh = crawl(site, database, mode="refresh")
        assert refresh.code == 0 and not refresh.error_lines(), refresh.describe()
        if not all_stored:
            assert "nothing was published or edited" not in refresh.log, refresh.describe()
        assert stored_paths(database, site) >= {post.path for post in site.posts}, refresh.describe()


def test_total_pages_superscript_two_never_exits_0_with_nothing_stored(tmp_path):
    # "²".isdigit() is True, int("²") raises ValueError.
    _unreadable_index_then_refresh(tmp_path, Hostility(posts=6, total_pages="\u00b2"))


def test_total_pages_of_5000_digits_never_exits_0_with_nothing_stored(tmp_path):
    # Python refuses int() of more than 4300 digits (ValueError), and such a total is no page count.
    _unreadable_index_then_refresh(tmp_path, Hostility(posts=6, total="9" * 5000, total_pages="9" * 5000))


def test_rest_json_nested_200000_deep_never_exits_0_with_nothing_stored(tmp_path):
    # json.loads raises RecursionError (not ValueError) on it.
    _unreadable_index_then_refresh(tmp_path, Hostility(posts=6, nested=200_000))


def test_lone_surrogate_in_one_rest_item_costs_at_most_that_item(tmp_path):
    """Item 2 (not one the sample check reads from its page) carries an escaped lone surrogate
    (`\\ud800`) in its title and content: every other post is stored, the one item is stored cleaned
    or recorded as failed."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, surrogates=frozenset({2}))) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert_no_traceback_with_exit_0(result)
    others = {post.path for position, post in enumerate(site.posts) if position != 2}
    assert stored_paths(database, site) >= others, (others - stored_paths(database, site), result.describe())
    assert unaccounted(database, site) == [], result.describe()
    assert forbidden_text(database) == []


def test_post_id_10_to_the_30_is_a_recorded_failure_or_read_from_its_page(tmp_path):
    """Item 1 says its id is 10**30 (no SQLite integer holds it): the post is stored from its page or
    recorded as failed; no traceback; the other posts are stored."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, ids={1: 10**30})) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert "Traceback" not in result.log, result.describe()
    assert result.code in EXIT_CODES, result.describe()
    target = site.posts[1]
    assert is_stored(database, site, target) or has_failure(database, site, target), result.describe()
    if result.code == 0:
        assert unaccounted(database, site) == [], result.describe()
    assert stored_paths(database, site) >= {post.path for post in site.posts if post is not target}, result.describe()
    assert 10**30 not in stored_post_ids(database, site)


def test_wrong_typed_or_repeated_rest_ids_neither_drop_a_post_nor_become_its_id(tmp_path):
    """Two items say their id is 0, one says `true` (a JSON boolean is a Python int): no post is
    silently dropped as a "duplicate" of another, and no digest is stored with 0 or 1 for an id."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, ids={1: 0, 4: 0, 5: True})) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert_no_traceback_with_exit_0(result)
    assert unaccounted(database, site) == [], result.describe()
    assert wrong_post_ids(database, site) == []
    for position in (0, 2, 3, 6):
        assert is_stored(database, site, site.posts[position]), result.describe()


def test_control_characters_never_reach_the_database(tmp_path):
    """`&#1;`, a raw ESC, U+FFFE and `&#xFFFF;` in every title and entry, through both roads a backfill
    takes (the sampled pages and the REST items): all digests stored, none of those characters kept."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, controls=True)) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert_no_traceback_with_exit_0(result)
    assert stored_paths(database, site) >= {post.path for post in site.posts}, result.describe()
    assert forbidden_text(database) == []


def test_what_a_hostile_site_sent_reads_well_in_every_export_the_feed_and_the_pages(tmp_path):
    """Control characters, noncharacters and a `<script>` in every title and entry: every export parses
    strictly (csv, JSON, NDJSON), the Atom feed is well-formed XML to lxml and to feedparser, and the
    reader's pages carry neither the characters nor the script as markup."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=5, controls=True, script_titles=True)) as site:
        result = crawl(site, database)
    assert result.code == 0, result.describe()
    exported = tmp_path / "export"
    for fmt in ("csv", "json", "ndjson"):
        outcome = CliRunner().invoke(main, ["export", str(database), "--format", fmt, "--output", str(exported / fmt)])
        assert outcome.exit_code == 0, outcome.output
    texts: list[str] = []
    for path in sorted((exported / "csv").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            texts += [value for row in csv.reader(handle, strict=True) for value in row]
    for path in sorted((exported / "json").glob("*.json")):
        texts += [str(value) for row in json.loads(path.read_text(encoding="utf-8")) for value in row.values()]
    for path in sorted((exported / "ndjson").glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts += [str(value) for value in json.loads(line).values()]
    assert any(TITLE_WORDS in text for text in texts), "the export holds no digest title: the test proves nothing"
    assert [text for text in texts if FORBIDDEN.search(text)] == []

    get = datasette_client(database)
    feed = get(f"/-/editions/{database.stem}.atom").content
    root = etree.fromstring(feed, etree.XMLParser(recover=False))  # raises on a byte that is not XML
    assert root.tag.endswith("feed")
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == 5 and all(TITLE_WORDS in entry.title for entry in parsed.entries)

    slugs = [slug for (slug,) in query(database, "SELECT slug FROM editions")]
    digest_ids = [digest_id for (digest_id,) in query(database, "SELECT id FROM digests")]
    pages = [get(f"/-/edition/{database.stem}/{slug}").text for slug in slugs]
    pages += [get(f"/-/digest/{database.stem}/{digest_id}").text for digest_id in digest_ids]
    for html in pages:
        assert "<script>document" not in html
        assert not FORBIDDEN.search(html)


def test_only_a_run_that_left_nothing_to_retry_keeps_the_feeds_validators_and_the_sync_point(tmp_path):
    """A run with a failure that may mend (here a REST item whose id is unusable and whose link is on
    another site) finishes, but keeps neither the feed's validators nor the REST sync point: the next
    refresh reads the index in full instead of taking the feed's 304 for "nothing changed". An honest
    run keeps both."""
    kept = "SELECT feed_etag, feed_last_modified, synced_to FROM listings"
    with HostileServer(Hostility(posts=6, ids={2: 10**30}, links={2: "http://127.0.0.1:9/en/posts/5014"})) as site:
        database = tmp_path / "left.db"
        result = crawl(site, database)
        assert result.code == 0 and query(database, "SELECT count(*) FROM failures WHERE kind = 'rest_item'") == [
            (1,)
        ], result.describe()
        assert query(database, kept) == [(None, None, None)]
        again = crawl(site, database, mode="refresh")
        assert "nothing was published or edited" not in again.log and site.requests_to(POSTS_ROUTE), again.describe()
    with HostileServer(Hostility(posts=6)) as site:
        database = tmp_path / "whole.db"
        assert crawl(site, database).code == 0
        [(etag, last_modified, synced_to)] = query(database, kept)
        assert etag and last_modified and synced_to


def test_a_rest_item_with_an_unusable_id_is_read_from_its_link_on_the_listings_site(tmp_path):
    """Items whose id is text or 10**30, but whose `link` is the post's own on the listing's site: each
    post is fetched from that link as a page and stored with the id its page gives; no failure row."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, ids={2: "abc", 4: 10**30})) as site:
        result = crawl(site, database)
        for position in (2, 4):
            assert site.requests_to(site.posts[position].path), (position, result.describe())
    assert result.code == 0, result.describe()
    assert "Traceback" not in result.log, result.describe()
    assert stored_paths(database, site) >= {post.path for post in site.posts}, result.describe()
    assert wrong_post_ids(database, site) == []
    assert {site.posts[2].post_id, site.posts[4].post_id} <= stored_post_ids(database, site)
    assert failure_rows(database) == []


def test_a_rest_item_with_an_unusable_id_and_a_link_elsewhere_is_a_failure_naming_that_link(tmp_path):
    """The id is text and the `link` is on another origin: nothing is fetched from there (the other
    origin gets no request), and the `rest_item` failure names the link the item gave, not only "item
    3" of an index page."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=4, first_id=5000)) as victim:
        elsewhere = victim.url(victim.posts[0].path)
        with HostileServer(Hostility(posts=6, ids={2: "abc"}, links={2: elsewhere})) as site:
            result = crawl(site, database, victim=victim)
        assert victim.requests == []
    assert result.code == 0, result.describe()
    [(url, kind, message)] = failure_rows(database)
    assert kind == "rest_item" and url.startswith(site.url(POSTS_ROUTE)), (url, kind)
    assert repr(elsewhere) in message and "on another site" in message, message
    assert unaccounted(database, site) == [], result.describe()


def test_wrong_typed_rest_title_is_a_failure_or_read_from_the_page(tmp_path):
    """Items whose `title` is a number, null or `{"rendered": null}` are not silently taken for "not a
    digest" (nor do they stop the index): each is stored (from its page) or recorded as failed."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, titles={1: 12345, 4: None, 5: {"rendered": None}})) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert_no_traceback_with_exit_0(result)
    assert unaccounted(database, site) == [], result.describe()
    for position in (0, 2, 3, 6):
        assert is_stored(database, site, site.posts[position]), result.describe()


def test_wrong_typed_rest_link_is_a_failure_or_read_from_the_page(tmp_path):
    """Items whose `link` is a number or a list (not a URL at all) cost at most themselves: each is
    stored from its page on the listing's origin or recorded as failed, and the others are stored."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=7, links={1: 12, 4: ["http://127.0.0.1:9/en/posts/1"]})) as site:
        result = crawl(site, database)
    assert result.killed is None, result.describe()
    assert_no_traceback_with_exit_0(result)
    assert unaccounted(database, site) == [], result.describe()
    for position in (0, 2, 3, 5, 6):
        assert is_stored(database, site, site.posts[position]), result.describe()


def test_off_site_rest_root_is_never_asked_and_the_listing_is_read(tmp_path):
    """The start page names a REST root (and an XXE feed entity) on another site: that site gets no
    request; the HTML listing gives every digest."""
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=4)) as victim:
        hostility = Hostility(posts=5, rest_root=victim.url("/wp-json/"), feed="xxe", elsewhere=victim.base_url)
        with HostileServer(hostility) as site:
            result = crawl(site, database, victim=victim)
        assert victim.requests == [], victim.requests
    assert result.code == 0 and not result.error_lines(), result.describe()
    assert stored_paths(database, site) >= {post.path for post in site.posts}
    assert rows_off_origin(database, site) == []


def test_misspelt_spider_name_exits_non_zero_with_one_error_line(tmp_path):
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "digest",
        "-s",
        f"DATABASE={tmp_path / 'archive.db'}",
        "-s",
        "LOG_LEVEL=INFO",
    ]
    started = time.monotonic()
    try:
        result = run_scrapy(command, timeout=30)
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"`scrapy crawl digest` still running after 30s:\n{(hung.stderr or b'')[-2000:]!r}")
    log = result.stdout + result.stderr
    assert result.returncode == 2, (result.returncode, log[-3000:])
    assert time.monotonic() - started < 30
    assert "Traceback" not in log, log[-3000:]
    errors = [line for line in log.splitlines() if ERROR_LINE.search(line)]
    assert len(errors) == 1, log[-3000:]
    assert "digest" in errors[0]


# --- the property: any hostile site, the same invariants -------------------------------------------------

BAD_IDS = [10**30, 0, -1, 2**63, -(2**63) - 1, "5007", 1.5, True, None, []]
BAD_TITLES = [
    12345,
    None,
    1.5,
    True,
    ["Iran Interlink Weekly Digest \u2013 7"],
    {"rendered": 5},
    {"rendered": None},
    {},
]
TOTAL_PAGES = [AUTO, AUTO, None, "1000000000", "\u00b2", "9" * 5000, "-1", "0", "1e3", " 1"]
TOTALS = [AUTO, AUTO, None, "-5", "1", "99999999999999999999", "abc"]


@st.composite
def hostile_sites(draw, victim: str) -> tuple[Hostility, str]:
    posts = draw(st.integers(4, 8))
    positions = st.integers(0, posts - 1)
    links = st.one_of(
        st.sampled_from(
            [
                f"{victim}/en/posts/5000",
                f"{victim}/en/posts/5007?p=5007",
                "javascript:alert(1)",
                "http://[::1",
                "/en/posts/5000",
                12,
                None,
                ["/en/posts/5000"],
                victim.replace("http://", "https://") + "/",
            ]
        )
    )
    hostility = Hostility(
        posts=posts,
        first_number=draw(st.sampled_from([1, 100, 999])),
        first_id=draw(st.sampled_from([5000, 123457])),
        rest_root=draw(st.sampled_from([None, None, None, "", f"{victim}/wp-json/"])),
        links=draw(st.dictionaries(positions, links, max_size=3)),
        ids=draw(st.dictionaries(positions, st.sampled_from(BAD_IDS), max_size=2)),
        titles=draw(st.dictionaries(positions, st.sampled_from(BAD_TITLES), max_size=2)),
        surrogates=frozenset(draw(st.sets(positions, max_size=2))),
        total=draw(st.sampled_from(TOTALS)),
        total_pages=draw(st.sampled_from(TOTAL_PAGES)),
        endless=draw(st.sampled_from([False, False, False, True])),
        endless_listing=draw(st.sampled_from([False, False, False, True])),
        repeat=draw(st.sampled_from([False, False, False, True])),
        nested=draw(st.sampled_from([0, 0, 0, 0, 200_000])),
        controls=draw(st.booleans()),
        script_titles=draw(st.booleans()),
        feed=draw(st.sampled_from(["ok", "ok", "malformed", "xxe", "missing"])),
        elsewhere=victim,
        absurd_headers=draw(st.booleans()),
    )
    return hostility, draw(st.sampled_from(["backfill", "refresh"]))


def assert_invariants(site: HostileServer, victim: HostileServer, database: Path, result: Crawl, case: str) -> None:
    """What holds after any crawl of any hostile site."""
    note = f"{case}\n{result.describe()}"
    assert result.killed is None, note
    assert victim.requests == [], (victim.requests, note)
    assert set(site.hosts) <= {site.netloc}, (set(site.hosts), note)
    assert len(site.requests) <= request_bound(site), (len(site.requests), note)
    assert len(site.requests_to(POSTS_ROUTE)) <= MAX_REST_PAGES, note
    assert len(listing_requests(site)) <= MAX_LISTING_PAGES + 1, note
    assert result.code in EXIT_CODES, note
    assert not (result.code == 0 and "Traceback" in result.log), note
    assert rows_off_origin(database, site) == [], note
    assert forbidden_text(database) == [], note
    assert script_elements(database) == [], note
    assert wrong_post_ids(database, site) == [], note
    missing = unaccounted(database, site)
    if missing:
        assert result.code != 0 and len(result.error_lines()) == 1, (missing, result.error_lines(), note)
    assert_the_reader_gets_valid_pages(database, note)


def assert_the_reader_gets_valid_pages(database: Path, note: str) -> None:
    """The Atom feed is well-formed XML (lxml, feedparser) and no reading view carries a stored script
    or a character no reader can take."""
    if not database.exists() or not query(database, "SELECT count(*) FROM digests")[0][0]:
        return
    get = datasette_client(database)
    feed = get(f"/-/editions/{database.stem}.atom").content
    etree.fromstring(feed, etree.XMLParser(recover=False))
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, (parsed.get("bozo_exception"), note)
    for (digest_id,) in query(database, "SELECT id FROM digests LIMIT 3"):
        html = get(f"/-/digest/{database.stem}/{digest_id}").text
        assert "<script>document" not in html and not FORBIDDEN.search(html), note


@pytest.fixture(scope="module")
def victim():
    """Another WordPress site on another port: whatever the archive says about it, it is never asked."""
    with HostileServer(Hostility(posts=4, first_id=5000)) as server:
        yield server


def test_any_hostile_site_keeps_the_invariants(victim, tmp_path_factory):
    @settings(
        # Repeatable in `make test` (the same examples on every run, as tests/test_parsing_properties.py);
        # a longer, random search:
        # HOSTILE_EXAMPLES=100 .venv/bin/pytest tests/test_digests_spider_hostile_sites.py -k any_hostile
        max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "9")),
        derandomize="HOSTILE_EXAMPLES" not in os.environ,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )
    @given(case=hostile_sites(victim.base_url))
    @example(
        case=(
            Hostility(
                posts=5,
                total_pages="\u00b2",
                ids={0: 10**30},
                titles={2: None},
                surrogates=frozenset({3}),
                controls=True,
                feed="xxe",
                elsewhere=victim.base_url,
            ),
            "refresh",
        )
    )
    def check(case):
        hostility, mode = case
        victim.clear_requests()
        database = tmp_path_factory.mktemp("hostile") / "archive.db"
        with HostileServer(hostility) as site:
            result = crawl(site, database, mode=mode, victim=victim)
            assert [answer for answer in site.answers if answer[1] == 500] == [], "the fixture itself failed"
            assert_invariants(site, victim, database, result, f"{hostility}\nmode={mode}")

    check()
