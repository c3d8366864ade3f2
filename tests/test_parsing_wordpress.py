"""The index parsers (core/parsing/wordpress.py) and the feed callback on SAVED answers of WordPress 6.1.

Every case of fixtures/responses is loaded by one loader (`fixtures.responses.load`). Real cases come from
the test bed (`python -m fixtures.wordpress.save_responses`); `bad_*` cases are made from them by hand
(`python -m fixtures.responses make-malformed`; each says what it models in `what.txt`). To see what the
parsers give for a case: `python -m fixtures.responses show CASE`.

The malformed cases assert what the parsers SHOULD do (every value checked at the boundary): nothing but
ParseError ever leaves `parse_rest_posts` / `parse_rest_routes` / `parse_discovery`; one bad item does
not sink a page; ids are ints in (0, 2**63); links are http(s) on the site that answered, with no
userinfo and no backslash; totals are ASCII digits within a bound; strings carry no C0 controls (but
tab, newline, return), no U+FFFE/U+FFFF and no lone surrogates.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlsplit

import pytest
from scrapy import Request
from scrapy.http import Response

import storage
from core.parsing import ParseError, parse_digest
from core.parsing.wordpress import (
    RestPost,
    parse_discovery,
    parse_rest_post,
    parse_rest_posts,
    parse_rest_routes,
    rest_digest_differences,
    rest_url,
)
from fixtures.expected import wordpress_title
from fixtures.responses import ROOT as RESPONSES
from fixtures.responses import SAVED_ORIGIN, case_names, load
from fixtures.wordpress.content import digest_posts

from .test_digests_spider_navigation import make_spider

PAGES = RESPONSES.parent / "pages"
CATEGORY_URL = SAVED_ORIGIN + "/category/iran-interlink-weekly-digest/"
INDEX_FIELDS = "id,link,modified_gmt,title"
CONTENT_FIELDS = "id,link,modified_gmt,date,title,content"
BAD_INDEX = 1  # the item fixtures/responses/malformed.py makes bad
MAX_ID = 2**63
PER_PAGE = 100  # what the crawl asks for
MAX_PAGES = 10**6
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def cases(prefix: str) -> list[str]:
    return [case for case in case_names() if case.startswith(prefix)]


def posts_of(case: str):
    response = load(case)
    return parse_rest_posts(
        response.url,
        response.body,
        listing_url=response.url,
        per_page=PER_PAGE,
        total=response.header("x-wp-total"),
        total_pages=response.header("x-wp-totalpages"),
    )


def raw_items(case: str) -> list:
    return json.loads(load(case).body)


def assert_clean_text(value: str, what: str) -> None:
    assert isinstance(value, str), f"{what}: {value!r} is not a string"
    assert not _UNSAFE.search(value), f"{what}: {value!r} carries a control char, noncharacter or lone surrogate"


def assert_sane_url(url: str, site_url: str, what: str) -> None:
    assert_clean_text(url, what)
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https"), f"{what}: {url!r}"
    assert "\\" not in url and "@" not in parts.netloc, f"{what}: {url!r} is read differently by a browser"
    assert parts.hostname == urlsplit(site_url).hostname, f"{what}: {url!r} is not on {site_url}"


def assert_sane_post(post: RestPost, page_url: str) -> None:
    """What every post `parse_rest_posts` returns must be, whatever the site sent."""
    assert type(post.post_id) is int and 0 < post.post_id < MAX_ID, f"id {post.post_id!r}"
    assert_sane_url(post.link, page_url, f"post {post.post_id} link")
    assert_clean_text(post.title, f"post {post.post_id} title")
    assert_clean_text(post.modified_gmt, f"post {post.post_id} modified_gmt")
    assert post.modified_gmt == "" or _ISO_SECONDS.fullmatch(post.modified_gmt), post.modified_gmt


def expected_digests():
    """The fixture digests the test bed holds, newest first (as /wp/v2/posts lists them)."""
    return sorted(digest_posts(), key=lambda post: (post.published, post.post_id), reverse=True)


# --- the loader and the cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", case_names())
def test_every_case_says_what_it_models_and_where_it_was_fetched(case):
    response = load(case)
    assert response.what and "\n" not in response.what
    assert response.url.startswith(SAVED_ORIGIN + "/")
    assert response.headers == dict(sorted(response.headers.items()))
    assert all(name == name.lower() for name in response.headers)
    assert b"127.0.0.1" not in response.body, "the test bed's origin was not rewritten"
    if case.startswith("bad_"):
        assert response.made_from in case_names() and not response.made_from.startswith("bad_")
        assert response.what.startswith(f"Hand-made from {response.made_from}: ")


# --- discovery: the start page's Link header and <link>s -------------------------------------------------

PRETTY = (SAVED_ORIGIN + "/wp-json/", SAVED_ORIGIN + "/category/iran-interlink-weekly-digest/feed/")
PLAIN = (SAVED_ORIGIN + "/index.php?rest_route=/", SAVED_ORIGIN + "/?feed=rss2&cat=2")
DISCOVERY = {
    "discovery_tt1_pretty": PRETTY,
    "discovery_tt3_pretty": PRETTY,
    "discovery_tt1_plain": PLAIN,
    "discovery_tt3_plain": PLAIN,
}


def test_every_real_start_page_has_its_discovery_expectation():
    assert sorted(DISCOVERY) == cases("discovery_")


@pytest.mark.parametrize("case", sorted(DISCOVERY))
def test_discovery_reads_rest_root_listing_object_and_feed(case):
    response = load(case)
    discovery = parse_discovery(response.url, response.body, response.header("link"))
    rest_root, feed_url = DISCOVERY[case]
    assert discovery.rest_root == rest_root
    assert discovery.listing_kind == "categories"
    assert discovery.listing_id == 2
    assert discovery.posts_filter == ("categories", 2)
    assert discovery.feed_url == feed_url


@pytest.mark.parametrize("case", sorted(DISCOVERY))
def test_discovery_without_the_link_header_reads_the_same_from_the_head(case):
    response = load(case)
    assert parse_discovery(response.url, response.body, None) == parse_discovery(
        response.url, response.body, response.header("link")
    )


def test_wordpress_sends_one_link_header_line_per_target_and_plain_permalinks_name_index_php():
    """What 6.1 sends (documented here because the parsers rely on it): two `Link:` lines, joined by a
    client with ", "; without pretty permalinks the REST root is `/index.php?rest_route=/`."""
    assert load("discovery_tt3_pretty").header("link") == (
        f'<{SAVED_ORIGIN}/wp-json/>; rel="https://api.w.org/", '
        f'<{SAVED_ORIGIN}/wp-json/wp/v2/categories/2>; rel="alternate"; type="application/json"'
    )
    assert load("discovery_tt3_plain").header("link").startswith(f"<{SAVED_ORIGIN}/index.php?rest_route=/>; ")


@pytest.mark.parametrize("case", cases("bad_discovery_"))
def test_discovery_never_trusts_an_index_a_browser_would_fetch_elsewhere(case):
    response = load(case)
    try:
        discovery = parse_discovery(response.url, response.body, response.header("link"))
    except ParseError:
        return
    for name in ("rest_root", "feed_url"):
        value = getattr(discovery, name)
        if value is not None:
            assert_sane_url(value, response.url, name)
    if case == "bad_discovery_huge_user_id":
        assert discovery.rest_root == PRETTY[0]
        assert discovery.listing_id is None or 0 < discovery.listing_id < MAX_ID, discovery.listing_id
    else:
        assert discovery.rest_root is None
        assert (discovery.listing_kind, discovery.listing_id) == (None, None)


# --- the REST index: does /wp/v2/posts take modified_after? --------------------------------------------


def test_the_rest_index_of_wordpress_6_1_offers_modified_after():
    response = load("rest_index")
    assert parse_rest_routes(response.url, response.body) is True


def test_a_rest_index_before_5_7_offers_no_modified_after():
    response = load("bad_index_before_5_7")
    assert parse_rest_routes(response.url, response.body) is False


@pytest.mark.parametrize(
    "case",
    [
        "bad_index_odd_endpoints",
        "bad_index_routes_list",
        "bad_rest_login_page",
        "bad_rest_block_page",
        "bad_rest_forbidden",
        "bad_rest_truncated",
        "bad_rest_deep_json",
        "bad_rest_deep_object",
        "rest_posts_index_fields",
    ],
)
def test_a_rest_index_that_is_not_one_is_a_parse_error_or_an_answer(case):
    response = load(case)
    try:
        supported = parse_rest_routes(response.url, response.body)
    except ParseError:
        return
    assert isinstance(supported, bool)


# --- /wp/v2/posts: real pages --------------------------------------------------------------------------


def test_the_index_page_lists_every_digest_with_its_link_modification_and_title():
    page = posts_of("rest_posts_index_fields")
    expected = expected_digests()
    assert page.url == load("rest_posts_index_fields").url
    assert page.total_pages == 1
    assert [post.post_id for post in page.posts] == [post.post_id for post in expected]
    for post, fixture in zip(page.posts, expected, strict=True):
        assert post.modified_gmt == f"{fixture.published.isoformat()}T09:30:00"
        assert post.link.startswith(f"{SAVED_ORIGIN}/{fixture.published:%Y/%m/%d}/iran-interlink-weekly-digest")
        assert post.link.endswith("/")
        assert html.unescape(post.title) == wordpress_title(fixture.title)
        assert set(post.item) == set(INDEX_FIELDS.split(","))
        assert_sane_post(post, page.url)


def test_the_content_page_lists_the_same_posts_with_their_content():
    index, content = posts_of("rest_posts_index_fields"), posts_of("rest_posts_content_fields")
    assert content.total_pages == 1
    assert [(p.post_id, p.link, p.modified_gmt, p.title) for p in content.posts] == [
        (p.post_id, p.link, p.modified_gmt, p.title) for p in index.posts
    ]
    for post in content.posts:
        assert set(post.item) == set(CONTENT_FIELDS.split(","))
        assert post.item["content"]["rendered"].strip()


def test_a_short_last_page_gives_its_posts_and_the_total():
    page = posts_of("rest_posts_short_page")
    assert page.total_pages == 4
    assert [post.post_id for post in page.posts] == [
        post.post_id for post in posts_of("rest_posts_index_fields").posts
    ][30:]


def test_the_rest_route_form_lists_the_same_posts_at_plain_links():
    plain, pretty = posts_of("rest_posts_plain_rest_route"), posts_of("rest_posts_index_fields")
    assert plain.total_pages == 1
    assert [(p.post_id, p.modified_gmt, p.title) for p in plain.posts] == [
        (p.post_id, p.modified_gmt, p.title) for p in pretty.posts
    ]
    assert [post.link for post in plain.posts] == [f"{SAVED_ORIGIN}/?p={post.post_id}" for post in plain.posts]


def test_a_listing_without_posts_is_an_empty_page():
    page = posts_of("rest_posts_unknown_category")
    assert (page.posts, page.total_pages) == ((), 0)


def test_a_page_past_the_end_is_a_parse_error_naming_wordpress_code():
    with pytest.raises(ParseError, match="rest_post_invalid_page_number"):
        posts_of("rest_posts_page_past_end")


def test_a_single_post_where_a_list_is_expected_is_a_parse_error():
    with pytest.raises(ParseError, match="not a list"):
        posts_of("rest_single_post_rest_route")


# --- rest_url: the addresses the crawler asks --------------------------------------------------------


@pytest.mark.parametrize(
    "start, case",
    [("discovery_tt3_pretty", "rest_posts_index_fields"), ("discovery_tt1_plain", "rest_posts_plain_rest_route")],
)
def test_rest_url_from_the_discovered_root_is_the_url_saved(start, case):
    response = load(start)
    root = parse_discovery(response.url, response.body, response.header("link")).rest_root
    params = [("categories", "2"), ("per_page", "100"), ("page", "1"), ("_fields", INDEX_FIELDS)]
    assert rest_url(root, "/wp/v2/posts", params) == load(case).url


def test_rest_url_of_the_index_and_of_the_content_request():
    assert rest_url(PRETTY[0], "/") == load("rest_index").url
    assert rest_url(PLAIN[0], "/") == PLAIN[0]
    params = {"categories": "2", "per_page": "100", "page": "1", "_fields": CONTENT_FIELDS}
    assert rest_url(PRETTY[0], "/wp/v2/posts", params) == load("rest_posts_content_fields").url
    assert rest_url(PLAIN[0], "/wp/v2/posts/7303", [("_fields", "id,link")]) == load("rest_single_post_rest_route").url


# --- parse_rest_post: the same digest as the post's page --------------------------------------------


@pytest.mark.parametrize(
    "post_id, page_case", [(7303, "wordpress_block_theme_200"), (7399, "wordpress_classic_theme_208")]
)
def test_a_rest_item_gives_the_digest_its_saved_page_gives(post_id, page_case):
    item = next(post.item for post in posts_of("rest_posts_content_fields").posts if post.post_id == post_id)
    from_rest = parse_rest_post(item)
    page_url = (PAGES / page_case / "url.txt").read_text(encoding="utf-8").strip()
    from_page = parse_digest(page_url, (PAGES / page_case / "page.html").read_bytes())
    assert from_rest.post_id == from_page.post_id == post_id
    assert from_rest.url == item["link"]
    # The classic-theme page was saved under /archives/%post_id% permalinks, the REST answer under
    # /%year%/…/%postname%/: the same post at another address.
    expected_differences = [] if page_url == item["link"] else ["url"]
    assert rest_digest_differences(from_page, from_rest) == expected_differences
    for name in ("title", "number", "headline", "issue_date", "published", "dateline", "entries"):
        assert getattr(from_rest, name) == getattr(from_page, name), name


# --- malformed answers: ParseError, never another exception ----------------------------------------


@pytest.mark.parametrize("case", cases("bad_rest_"))
def test_an_answer_that_is_not_a_list_of_posts_is_a_parse_error_naming_the_url(case):
    response = load(case)
    with pytest.raises(ParseError) as raised:
        posts_of(case)
    assert type(raised.value) is ParseError
    assert response.url in str(raised.value)
    assert len(str(raised.value)) < 1000


@pytest.mark.parametrize("case", cases("bad_item_"))
def test_one_bad_item_does_not_sink_the_page(case):
    """The good items are read as they are in the real answer; whatever is returned for the bad one is sane."""
    response = load(case)
    real = {post.post_id: post for post in posts_of(response.made_from).posts}
    good_ids = [item["id"] for number, item in enumerate(raw_items(response.made_from)) if number != BAD_INDEX]
    page = posts_of(case)  # no exception at all: one bad item is that item's problem
    returned = {post.post_id: post for post in page.posts}
    for post_id in good_ids:
        assert post_id in returned, f"good post {post_id} lost"
        got, want = returned[post_id], real[post_id]
        assert (got.link, got.modified_gmt, got.title, got.item) == (
            want.link,
            want.modified_gmt,
            want.title,
            want.item,
        )
    for post in page.posts:
        assert_sane_post(post, response.url)
    assert page.total_pages == 1
    for post in page.posts:
        if post.post_id not in good_ids:  # the bad item, if it was kept: a digest from it or a ParseError
            try:
                digest = parse_rest_post(post.item)
            except ParseError:
                continue
            assert_clean_text(digest.title, "digest title")


@pytest.mark.parametrize("case", cases("bad_total_pages_"))
def test_an_absurd_total_is_unknown_or_a_parse_error_never_a_crash(case):
    try:
        page = posts_of(case)
    except ParseError:
        return
    assert page.total_pages is None or (type(page.total_pages) is int and 0 <= page.total_pages <= MAX_PAGES), (
        page.total_pages
    )
    assert len(page.posts) == len(raw_items(case))


@pytest.mark.parametrize("header, total", [("1", 1), ("4", 4), ("0", 0), (None, None), ("", None)])
def test_a_plain_total_is_read(header, total):
    response = load("rest_posts_index_fields")
    assert (
        parse_rest_posts(
            response.url, response.body, listing_url=response.url, per_page=PER_PAGE, total_pages=header
        ).total_pages
        == total
    )


@pytest.mark.parametrize("case", [case for case in case_names() if case.startswith(("rest_posts", "bad_item"))])
def test_every_post_read_from_any_answer_is_sane(case):
    try:
        page = posts_of(case)
    except ParseError:
        return
    for post in page.posts:
        assert_sane_post(post, page.url)


# --- the feed: 200 with validators, 304, no validators (spiders/digest_paths/feed.py feed_read) ----------------


def feed_response(case: str) -> Response:
    saved = load(case)
    return Response(saved.url, status=saved.status, headers=saved.headers, body=saved.body, request=Request(saved.url))


def read_feed(tmp_path, case: str, conditional: bool = False, known: storage.ListingRecord | None = None):
    """Feed the saved answer to the spider's callback, with `known` as what earlier runs kept; returns
    (what it asked next, the listing's index record after the run, the run's notes)."""
    database = tmp_path / "archive.db"
    if known is not None:
        db = storage.open_database(database)
        storage.save_listing_record(db, known)
        db.close()
    with make_spider(database, start_url=CATEGORY_URL) as spider:
        outputs = list(spider.feed_read(feed_response(case), conditional=conditional))
        notes = list(spider.run.findings.notes)
    db = storage.open_database(database)
    try:
        return outputs, storage.load_listing_record(db, CATEGORY_URL), notes
    finally:
        db.close()


def known_feed(etag: str | None, last_modified: str | None) -> storage.ListingRecord:
    """What a first run keeps of the feed (REST path not in use, so the callback asks for nothing next)."""
    return storage.ListingRecord(
        CATEGORY_URL,
        "wp.example.org",
        PRETTY[0],
        "categories=2",
        feed_url=load("feed_pretty").url,
        feed_etag=etag,
        feed_last_modified=last_modified,
    )


def test_a_feed_answer_gives_its_validators_to_the_run(tmp_path):
    saved = load("feed_pretty")
    outputs, index, _ = read_feed(tmp_path, "feed_pretty")
    assert outputs == []
    assert (index.feed_etag, index.feed_last_modified) == (saved.header("etag"), saved.header("last-modified"))
    assert saved.header("last-modified") == "Sat, 25 Nov 2017 09:30:00 GMT"  # the newest post's modification


def test_the_conditional_request_sends_the_validators_that_got_the_saved_304(tmp_path):
    saved, not_modified = load("feed_pretty"), load("feed_not_modified")
    index = storage.ListingRecord(
        CATEGORY_URL,
        "wp.example.org",
        PRETTY[0],
        "categories=2",
        feed_url=saved.url,
        feed_etag=saved.header("etag"),
        feed_last_modified=saved.header("last-modified"),
    )
    with make_spider(tmp_path / "archive.db", start_url=CATEGORY_URL) as spider:
        request = spider.feed.request(index, conditional=True)
    assert request.url == not_modified.url
    assert {
        name: request.headers.get(name).decode() for name in not_modified.request_headers
    } == not_modified.request_headers
    assert 304 in request.meta["handle_httpstatus_list"]


def test_a_304_means_nothing_changed_and_keeps_the_validators(tmp_path):
    saved = load("feed_pretty")
    validators = (saved.header("etag"), saved.header("last-modified"))
    outputs, index, notes = read_feed(tmp_path, "feed_not_modified", known=known_feed(*validators))
    assert outputs == []
    assert any("304" in note for note in notes)
    assert (index.feed_etag, index.feed_last_modified) == validators


def test_a_feed_without_validators_forgets_the_old_ones(tmp_path):
    """Nothing to ask conditionally next time: the next refresh reads the REST index instead."""
    outputs, index, _ = read_feed(
        tmp_path, "bad_feed_without_validators", known=known_feed('"old"', "Mon, 01 Jan 2001")
    )
    assert outputs == []
    assert (index.feed_etag, index.feed_last_modified) == (None, None)
