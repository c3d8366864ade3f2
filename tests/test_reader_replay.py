"""Replay as web archives do it (reader/replay.py), on a real archive of both publishers: captures at lasting,
timestamped addresses (the nearest one by a redirect), with a banner; their bytes at `id_`, sandboxed; the
old addresses by id redirected; the archive's own posts opening their editions; a post as its site served it,
sandboxed; and how a post changed, from a real refresh of an edited post.

The captures are written by the link check's own storage (storage.captures.CaptureStore, warcio) and indexed
by cdxj-indexer, as a link check leaves them; Datasette is the real one, in process."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from datasette.app import Datasette
from lxml import html
from sqlite_utils import Database

from core.items import FetchedPage, LinkPage
from fixtures.site import CATEGORY_PATH, build_site
from reader.diff import text_diff
from storage.captures import CaptureStore, captures_folder
from storage.links import digest_origins, mark_own_posts, record_capture, sync_link_targets
from storage.pages import save_page

from .conftest import assert_clean_run, rows, run_crawl

ACTOR = {"id": "reader"}
FIRST = b"<html><body><script>parent.document.title = 'ran'</script><p>The first version</p></body></html>"
SECOND = b"<html><body><p>The second version</p></body></html>"
HEADERS = (("Content-Type", "text/html; charset=utf-8"),)
# Three captures of one link: two different pages, then the second again (a revisit record).
MOMENTS = [
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc),
    datetime(2024, 9, 1, 12, 0, 0, tzinfo=timezone.utc),
]
STAMPS = [moment.strftime("%Y%m%d%H%M%S") for moment in MOMENTS]


def client(database: Path, metadata: dict | None = None, settings: dict | None = None):
    """Datasette's in-process client; `get(path, actor=...)` sends the actor in Datasette's signed cookie."""
    instance = Datasette([str(database)], metadata=metadata or {}, settings=settings or {})

    def get(path: str, actor: dict | None = None):
        cookies = {"ds_actor": instance.sign({"a": actor}, "actor")} if actor else None
        return asyncio.run(instance.client.request("GET", path, cookies=cookies, avoid_path_rewrites=True))

    return get


def capture_link(database: Path) -> dict:
    """A cited link of the archive captured three times, as the link check captures (the link's row points
    at its newest response record, the index lists all three), and dead since: {url, id, digest_id}."""
    db = Database(database)
    sync_link_targets(db, "2024-01-01T00:00:00+00:00")
    link = rows(database, "SELECT url, digest_id FROM links WHERE url LIKE '%breitbart%' ORDER BY digest_id LIMIT 1")[0]
    target_id = rows(database, "SELECT id FROM link_targets WHERE url = ?", [link["url"]])[0]["id"]
    store = CaptureStore(captures_folder(database), 100 * 1024 * 1024)
    first = store.write(LinkPage(link["url"], 200, "OK", HEADERS, FIRST), MOMENTS[0])
    second = store.write(
        LinkPage(link["url"], 200, "OK", HEADERS, SECOND),
        MOMENTS[1],
        previous_digest=first.digest,
        previous_date=MOMENTS[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    third = store.write(
        LinkPage(link["url"], 200, "OK", HEADERS, SECOND),
        MOMENTS[2],
        previous_digest=second.digest,
        previous_date=MOMENTS[1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        previous_uri=link["url"],
    )
    assert (first.kind, second.kind, third.kind) == ("response", "response", "revisit")
    with db.conn:
        record_capture(
            db, target_id, warc=second.warc, offset=second.offset, digest=second.digest, at=MOMENTS[1].isoformat()
        )
        db.execute(
            "UPDATE link_targets SET status = 'gone', checked_at = '2024-12-01', dead_since = '2024-12-01' "
            "WHERE id = ?",
            [target_id],
        )
    store.index()
    db.close()
    return {"url": link["url"], "id": target_id, "digest_id": link["digest_id"]}


@pytest.fixture()
def captured(archive):
    return archive, capture_link(archive)


def test_a_capture_answers_at_its_timestamp_with_a_banner(captured):
    database, link = captured
    get = client(database)
    response = get(f"/-/capture/archive/{STAMPS[0]}/{link['url']}")
    assert response.status_code == 200, response.text[:500]
    page = html.fromstring(response.text)
    banner = page.xpath('//section[@class="capture-banner"]')[0]
    assert banner.xpath('string(.//dd[@class="captured-at"])').strip() == "2024-01-02 03:04:05 UTC"
    assert banner.xpath('.//dd[@class="original-url"]/a/@href') == [link["url"]]
    assert banner.xpath('string(.//dd[@class="http-status"])').strip() == "200"
    # The editions citing it, each linked to its lasting address.
    cited = rows(
        database,
        "SELECT DISTINCT e.slug FROM links l JOIN digests d ON d.id = l.digest_id "
        "JOIN editions e ON e.id = d.edition_id WHERE l.url = ?",
        [link["url"]],
    )
    assert cited
    assert sorted(banner.xpath('.//a[@class="citing-edition"]/@href')) == sorted(
        f"/-/edition/archive/{row['slug']}" for row in cited
    )
    # The other captures, linked; this one named, not linked.
    assert banner.xpath('.//a[@class="other-capture"]/@href') == [
        f"/-/capture/archive/{stamp}/{link['url']}" for stamp in STAMPS[1:]
    ]
    assert "(this one)" in banner.xpath('string(.//span[@class="this-capture"])')
    # The page itself: a frame with no permission at all, of the id_ address.
    frame = page.xpath('//iframe[@class="captured-page"]')[0]
    assert frame.get("sandbox") == "" and frame.get("src") == f"/-/capture/archive/{STAMPS[0]}id_/{link['url']}"
    assert response.headers["memento-datetime"] == "Tue, 02 Jan 2024 03:04:05 GMT"


def test_a_timestamp_without_a_capture_redirects_to_the_nearest(captured):
    database, link = captured
    get = client(database)
    for asked, nearest in [
        ("2024", STAMPS[0]),
        ("20240801000000", STAMPS[2]),
        ("20240301", STAMPS[0]),
        ("20240401", STAMPS[1]),
    ]:
        response = get(f"/-/capture/archive/{asked}/{link['url']}")
        assert response.status_code == 302, asked
        assert response.headers["location"] == f"/-/capture/archive/{nearest}/{link['url']}"
        raw = get(f"/-/capture/archive/{asked}id_/{link['url']}")
        assert raw.status_code == 302 and raw.headers["location"] == f"/-/capture/archive/{nearest}id_/{link['url']}"
    assert get(f"/-/capture/archive/20241399000000/{link['url']}").status_code == 404  # no such moment
    assert get(f"/-/capture/archive/{STAMPS[0]}/http://nowhere.test/never-cited").status_code == 404


def test_the_id_address_serves_the_captured_bytes_sandboxed(captured):
    database, link = captured
    get = client(database)
    response = get(f"/-/capture/archive/{STAMPS[0]}id_/{link['url']}")
    assert response.status_code == 200
    assert response.content == FIRST  # byte for byte, as it was served
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert policy.split(";")[0] == "sandbox" and "default-src 'none'" in policy  # no script runs
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["link"] == f'<{link["url"]}>; rel="original"'
    # The revisit record replays the payload it repeats.
    assert get(f"/-/capture/archive/{STAMPS[2]}id_/{link['url']}").content == SECOND
    assert get(f"/-/capture/archive/{STAMPS[1]}id_/{link['url']}").content == SECOND


def test_an_old_address_by_id_redirects_to_the_newest_capture_and_the_reader_links_the_new_ones(captured):
    database, link = captured
    get = client(database)
    response = get(f"/-/capture/archive/{link['id']}")
    assert response.status_code == 301
    assert response.headers["location"] == f"/-/capture/archive/{STAMPS[1]}/{link['url']}"
    reading = html.fromstring(get(f"/-/digest/archive/{link['digest_id']}").text)
    assert f"/-/capture/archive/{STAMPS[1]}/{link['url']}" in reading.xpath('//a[@class="link-capture"]/@href')
    # The link-health table links each capture by its lasting address too.
    table = html.fromstring(get(f"/archive/link_health?id={link['id']}").text)
    assert table.xpath('//a[@class="capture-link"]/@href') == [f"/-/capture/archive/{STAMPS[1]}/{link['url']}"]


def test_capture_addresses_work_under_base_url(captured):
    database, link = captured
    get = client(database, settings={"base_url": "/prefix/"})
    response = get(f"/prefix/-/capture/archive/{link['id']}")
    assert response.headers["location"] == f"/prefix/-/capture/archive/{STAMPS[1]}/{link['url']}"
    page = html.fromstring(get(response.headers["location"]).text)
    assert page.xpath("//iframe/@src") == [f"/prefix/-/capture/archive/{STAMPS[1]}id_/{link['url']}"]
    assert get(f"/prefix/-/capture/archive/2025/{link['url']}").headers["location"].startswith("/prefix/-/capture/")


def test_captures_are_refused_whom_the_link_tables_are_refused(captured):
    database, link = captured
    get = client(database, {"databases": {"archive": {"tables": {"link_targets": {"allow": ACTOR}}}}})
    for path in (
        f"/-/capture/archive/{STAMPS[0]}/{link['url']}",
        f"/-/capture/archive/{STAMPS[0]}id_/{link['url']}",
        f"/-/capture/archive/2024/{link['url']}",
        f"/-/capture/archive/{link['id']}",
    ):
        assert get(path).status_code == 403, path
        assert get(path, actor=ACTOR).status_code in (200, 301, 302), path
    assert get(f"/-/capture/archive/{STAMPS[0]}/{link['url']}", actor=ACTOR).status_code == 200


def test_a_capture_with_a_query_string_is_found_by_its_whole_url(archive):
    """The original URL's query string is the address's (as in the Wayback Machine)."""
    link = capture_link(archive)
    with sqlite3.connect(archive) as connection:
        connection.execute("UPDATE links SET url = url || '?page=2' WHERE url = ?", [link["url"]])
        connection.execute("UPDATE link_targets SET url = url || '?page=2' WHERE id = ?", [link["id"]])
    connection.close()
    get = client(archive)
    response = get(f"/-/capture/archive/{link['id']}")
    assert response.headers["location"] == f"/-/capture/archive/{STAMPS[1]}/{link['url']}?page=2"
    assert get(response.headers["location"]).status_code == 200


# --- a post as published, and how it changed --------------------------------------------------------------


def test_a_post_as_its_site_served_it_is_sanitised_and_sandboxed(archive):
    digest = rows(archive, "SELECT d.id, d.url, e.slug FROM digests d JOIN editions e ON e.id = d.edition_id LIMIT 1")[
        0
    ]
    hostile = (
        b"<html><head><title>T</title><script>alert(1)</script></head><body><h1>Weekly digest</h1>"
        b'<p onclick="XSS()">An entry <a href="javascript:XSS()">x</a> <a href="https://example.org/a">kept</a></p>'
        b"<img src=x onerror=XSS()><iframe src=https://evil.test/></iframe></body></html>"
    )
    db = Database(archive)
    with db.conn:
        save_page(db, FetchedPage(digest["url"], 200, "text/html; charset=utf-8", None, None, hostile))
    with sqlite3.connect(archive) as connection:  # a title a hostile site could set
        connection.execute("UPDATE digests SET title = ? WHERE id = ?", ["<script>XSS()</script>", digest["id"]])
    connection.close()
    get = client(archive)
    edition = html.fromstring(get(f"/-/edition/archive/{digest['slug']}").text)
    assert f"/-/published/archive/{digest['id']}" in edition.xpath('//a[@class="as-published"]/@href')
    banner = get(f"/-/published/archive/{digest['id']}")
    assert banner.status_code == 200
    page = html.fromstring(banner.text)
    assert not page.xpath("//script[contains(., 'XSS')]")
    assert "<script>XSS()</script>" in page.xpath("string(//h1)")  # shown as text, escaped
    frame = page.xpath('//iframe[@class="published-page"]')[0]
    assert frame.get("sandbox") == "" and frame.get("src") == f"/-/published/archive/{digest['id']}/page"
    served = get(f"/-/published/archive/{digest['id']}/page")
    assert served.status_code == 200 and served.headers["content-type"] == "text/html; charset=utf-8"
    assert served.headers["content-security-policy"].split(";")[0] == "sandbox"
    body = html.fromstring(served.text)
    assert body.xpath("string(//h1)") == "Weekly digest"
    assert body.xpath("//a/@href") == ["https://example.org/a"]
    assert not body.xpath("//script | //img | //iframe | //title | //@onclick | //@onerror")
    assert "alert" not in served.text


def edited(posts, index: int, text: str):
    posts = copy.deepcopy(posts)
    posts[index].entries[0].paragraphs[0] = text
    posts[index].modified = posts[index].published + timedelta(days=30)  # WordPress bumps post_modified
    return posts


def test_a_revision_is_shown_against_the_one_before_and_a_link_to_an_own_post_opens_its_edition(
    site_server, backfilled_archive, fixture_posts
):
    """A real refresh of an edited post: its old version kept as a revision, and the edit links last week's
    post (at a spelling the archive does not store: a trailing slash, a tracker) and a post it does not hold."""
    database = backfilled_archive
    last_week = rows(database, "SELECT url FROM digests WHERE post_id = ?", [fixture_posts[1].post_id])[0]["url"]
    last_week_edition = rows(
        database,
        "SELECT e.slug FROM digests d JOIN editions e ON e.id = d.edition_id WHERE d.post_id = ?",
        [fixture_posts[1].post_id],
    )[0]["slug"]
    missing = site_server.url("/en/posts/1")
    text = f"Corrected: see [[last week|{last_week}/?utm_source=x]] and [[an older one|{missing}]] again."
    site_server.publish(build_site(edited(fixture_posts, 0, text)))
    assert_clean_run(run_crawl(site_server.url(CATEGORY_PATH), database))
    digest = rows(database, "SELECT id, text FROM digests WHERE post_id = ?", [fixture_posts[0].post_id])[0]
    assert rows(database, "SELECT count(*) AS n FROM digest_revisions WHERE digest_id = ?", [digest["id"]])[0]["n"] == 1

    get = client(database)
    revisions = get(f"/-/revisions/archive/{digest['id']}")
    assert revisions.status_code == 200
    page = html.fromstring(revisions.text)
    reworded = page.xpath('//section[@class="change"]/p[@class="reworded"]')
    assert len(reworded) == 1
    assert "Corrected:" in " ".join(reworded[0].xpath(".//ins/text()"))
    assert reworded[0].xpath(".//del")  # what the edit replaced
    assert len(page.xpath('//section[@class="change"]/p[@class="same"]')) >= 1  # the rest, unchanged
    # The edition page links the revisions.
    slug = rows(
        database, "SELECT e.slug FROM digests d JOIN editions e ON e.id = d.edition_id WHERE d.id = ?", [digest["id"]]
    )
    edition = html.fromstring(get(f"/-/edition/archive/{slug[0]['slug']}").text)
    assert f"/-/revisions/archive/{digest['id']}" in edition.xpath('//a[@class="revisions-link"]/@href')

    # The "last week" link opens last week's edition, unmarked, though an older link check called every link
    # dead: the link check's next run calls the archive's own posts `own` (storage.links.mark_own_posts), and
    # none of them is dead anywhere, the post the archive does not hold included.
    with sqlite3.connect(database) as connection:
        db = Database(connection)
        sync_link_targets(db, "2024-01-01T00:00:00+00:00")
        connection.execute("UPDATE link_targets SET status = 'gone', failures = 2, dead_since = '2024-01-01'")
        assert mark_own_posts(db, digest_origins(db), "2024-02-01T00:00:00+00:00") >= 2
    connection.close()
    own_rows = rows(
        database, "SELECT url, status, dead FROM link_health WHERE url LIKE ?", [site_server.url("/") + "%"]
    )
    assert {row["url"] for row in own_rows} >= {missing}
    assert {(row["status"], row["dead"]) for row in own_rows} == {("own", 0)}
    for path in (f"/-/digest/archive/{digest['id']}", f"/-/edition/archive/{slug[0]['slug']}"):
        page = html.fromstring(get(path).text)
        own = page.xpath('//a[contains(@class, "link-own-post")]')
        assert [link.get("href") for link in own] == [f"/-/edition/archive/{last_week_edition}"], path
        older = page.xpath(f'//a[@href="{missing}"]')[0]
        for link in (own[0], older):
            assert "link-dead" not in (link.get("class") or ""), path
            following = link.getnext()
            assert following is None or "link-state" not in (following.get("class") or ""), path
        assert "dead" not in page.xpath('string(//a[contains(@class, "link-own-post")]/..)')


def test_a_revision_diff_shows_text_as_text():
    """A post's text is never markup: `<script>` in a version is shown, escaped, in the diff."""
    paragraphs = text_diff(
        "Same first line.\nSaid <script>XSS()</script> on Monday.\nGone.",
        "Same first line.\nSaid <script>XSS()</script> on Tuesday & more.\nNew.",
    )
    assert [p["change"] for p in paragraphs] == ["same", "reworded", "reworded"]
    rendered = "".join(str(p["html"]) for p in paragraphs)
    assert "<script>" not in rendered and "&lt;script&gt;XSS()&lt;/script&gt;" in rendered
    assert "<del>Monday.</del>" in rendered and "<ins>Tuesday &amp; more.</ins>" in rendered


def test_where_pywb_replays_the_captures_the_reader_links_through_it(captured, monkeypatch):
    database, link = captured
    monkeypatch.setenv("DIGEST_PYWB", "http://127.0.0.1:8080/links/")
    get = client(database)
    pywb = f"http://127.0.0.1:8080/links/{STAMPS[1]}/{link['url']}"
    reading = html.fromstring(get(f"/-/digest/archive/{link['digest_id']}").text)
    assert pywb in reading.xpath('//a[@class="link-capture"]/@href')
    table = html.fromstring(get(f"/archive/link_health?id={link['id']}").text)
    assert table.xpath('//a[@class="capture-link"]/@href') == [pywb]
    banner = html.fromstring(get(f"/-/capture/archive/{STAMPS[1]}/{link['url']}").text)
    assert banner.xpath('//a[@class="pywb-replay"]/@href') == [pywb]
