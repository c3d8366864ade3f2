"""What `digest-archive serve` exposes: every reader page under Datasette's permissions, every stored value
escaped on every page (the reader's and Datasette's own), captures sandboxed, and a malformed address a
plain 404 with no traceback in the serve log. On a real archive of both publishers (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from datasette.app import Datasette
from datasette.utils import tilde_decode, tilde_encode
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree, html
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from reader.plugin import CAPTURE_HEADERS, ROUTES, capture_content_type
from storage.export import copy_database

from .conftest import rows, start_datasette

ACTOR = {"id": "reader"}
CAPTURED_PAGE = b"<html><body><script>parent.document.cookie</script><p>Captured page</p></body></html>"


def add_link_health(database: Path) -> tuple[int, int]:
    """Every link of the archive's first post dead with an archived copy, the first one captured (a WARC
    record written with warcio beside the archive): (the post's id, the captured link's target id)."""
    digest_id = rows(database, "SELECT digest_id FROM links ORDER BY digest_id LIMIT 1")[0]["digest_id"]
    folder = database.with_name(f"{database.stem}.captures")
    folder.mkdir(exist_ok=True)
    with open(folder / "links.warc.gz", "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            "http://gone.test/", "response", payload=io.BytesIO(CAPTURED_PAGE), http_headers=headers
        )
        writer.write_record(record)
    with sqlite3.connect(database) as connection:
        urls = [r[0] for r in connection.execute("SELECT DISTINCT url FROM links WHERE digest_id = ?", [digest_id])]
        for n, url in enumerate(urls):
            connection.execute(
                "INSERT OR IGNORE INTO link_targets (url, host, first_seen, status, checked_at, dead_since, "
                "final_url, archived_copy, capture_warc, capture_offset, captured_at) "
                "VALUES (?, 'gone.test', '2024-01-01', 'dead', '2024-01-01', '2024-01-01', ?, ?, ?, ?, ?)",
                [
                    url,
                    url,
                    "https://web.archive.org/web/2019/" + url,
                    "links.warc.gz" if n == 0 else None,
                    0 if n == 0 else None,
                    "2024-01-01T00:00:00+00:00" if n == 0 else None,
                ],
            )
    target = rows(database, "SELECT id FROM link_targets WHERE capture_warc IS NOT NULL")[0]["id"]
    return digest_id, target


def client(databases: list[Path], metadata: dict | None = None):
    """Datasette's in-process client; `get(path, actor=...)` sends the actor in Datasette's signed cookie."""
    instance = Datasette([str(path) for path in databases], metadata=metadata or {})

    def get(path: str, actor: dict | None = None):
        cookies = {"ds_actor": instance.sign({"a": actor}, "actor")} if actor else None
        return asyncio.run(instance.client.get(path, cookies=cookies))

    return get


def reader_pages(database: Path, name: str, digest_id: int, target: int) -> list[str]:
    """A path of every page in the reader's route table (reader.plugin.ROUTES), a new route included: it
    needs its values here, or this fails."""
    slug = rows(
        database, "SELECT e.slug FROM editions e JOIN digests d ON d.edition_id = e.id WHERE d.id = ?", [digest_id]
    )[0]["slug"]
    captured = rows(database, "SELECT url FROM link_targets WHERE id = ?", [target])[0]["url"]
    values = {
        "search": {"database": name},
        "edition": {"database": name, "slug": slug},
        "digest": {"database": name, "id": digest_id},
        "report": {"database": name},
        "feed": {"database": name},
        "capture": {"database": name, "timestamp": "20240101000000", "url": captured},
        "capture_raw": {"database": name, "timestamp": "20240101000000", "url": captured},
        "capture_by_id": {"database": name, "id": target},
        "published": {"database": name, "id": digest_id},
        "published_page": {"database": name, "id": digest_id},
        "revisions": {"database": name, "id": digest_id},
        "dead_links": {"database": name},
    }
    assert set(values) == {route.name for route in ROUTES}, "a route without a page in the tests"
    pages = []
    for route in ROUTES:
        pages.append(route.path(**values[route.name]) + ("?q=MEK" if route.name == "search" else ""))
        pages += [route.path(format=form, **values[route.name]) + "?q=MEK" for form in route.formats]
    return sorted(pages, key=lambda path: path.startswith("/-/capture/"))  # the capture last


def answers(path: str) -> int:
    """What a reader page answers the reader allowed: a 200, or a 301 at an old address by id."""
    by_id = next(route for route in ROUTES if route.name == "capture_by_id")
    return 301 if re.match(by_id.regex, path) else 200


# --- permissions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"allow": ACTOR},  # the whole instance
        {"databases": {"archive": {"allow": ACTOR}}},  # the database
    ],
    ids=["instance", "database"],
)
def test_every_reader_page_is_refused_whom_datasette_refuses_and_open_to_the_allowed_actor(archive, metadata):
    digest_id, target = add_link_health(archive)
    get = client([archive], metadata)
    assert get("/archive/digests").status_code == 403  # Datasette's own page, as the review found
    for path in reader_pages(archive, "archive", digest_id, target):
        assert get(path).status_code == 403, path
        assert get(path, actor={"id": "someone-else"}).status_code == 403, path
        assert get(path, actor=ACTOR).status_code == answers(path), path


def test_a_private_table_keeps_its_page_and_its_data_from_the_reader(archive):
    """The link tables private: captures refused, the reading view shows the links unmarked; the reader
    allowed sees both. The editions table private: the pages that read it are refused."""
    digest_id, target = add_link_health(archive)
    private_links = {"databases": {"archive": {"tables": {"link_targets": {"allow": ACTOR}}}}}
    get = client([archive], private_links)
    assert get(f"/-/capture/archive/{target}").status_code == 403
    anonymous = get(f"/-/digest/archive/{digest_id}")
    assert anonymous.status_code == 200
    assert 'class="link-dead' not in anonymous.text and "archived copy" not in anonymous.text
    allowed = get(f"/-/digest/archive/{digest_id}", actor=ACTOR)
    assert 'class="link-dead' in allowed.text and "archived copy" in allowed.text
    assert get(f"/-/capture/archive/{target}", actor=ACTOR).status_code == 301  # to its lasting address
    private_editions = client([archive], {"databases": {"archive": {"tables": {"editions": {"allow": ACTOR}}}}})
    for path in reader_pages(archive, "archive", digest_id, target):
        if path.startswith("/-/capture/"):
            continue  # a capture reads the link tables; the editions citing it are left out of its banner
        assert private_editions(path).status_code == 403, path
        assert private_editions(path, actor=ACTOR).status_code == 200, path


def test_the_domain_filter_is_refused_whom_the_links_table_is_refused(archive):
    """The links table private: the search answers, suggests no domain, and refuses the domain filter."""
    domain = rows(archive, "SELECT domain FROM links LIMIT 1")[0]["domain"]
    get = client([archive], {"databases": {"archive": {"tables": {"links": {"allow": ACTOR}}}}})
    anonymous = get("/-/search/archive?q=MEK")
    assert anonymous.status_code == 200 and "<datalist" not in anonymous.text
    assert get(f"/-/search/archive.json?q=MEK&domain={domain}").status_code == 403
    allowed = get("/-/search/archive?q=MEK", actor=ACTOR)
    assert allowed.status_code == 200 and f'<option value="{domain}">' in allowed.text
    assert get(f"/-/search/archive.json?q=MEK&domain={domain}", actor=ACTOR).status_code == 200


def test_a_private_archive_is_never_named_on_the_pages_of_another(archive, tmp_path):
    secret = tmp_path / "secretarchive.db"
    copy_database(archive, secret)
    get = client([secret, archive], {"databases": {"secretarchive": {"allow": ACTOR}}})
    for path in ("/", "/archive", "/archive/digests", "/-/edition/archive/digest-209", "/-/report/archive"):
        page = get(path)
        assert page.status_code == 200 and 'action="/-/search/archive"' in page.text, path  # the header's box
        assert "secretarchive" not in page.text, path
    assert "secretarchive" not in get("/-/search/archive?q=MEK").text
    assert get("/", actor=ACTOR).status_code == 200 and "secretarchive" in get("/", actor=ACTOR).text


# --- captures ------------------------------------------------------------------------------------------


def test_a_capture_is_sandboxed_with_one_content_type(archive):
    _, target = add_link_health(archive)
    get = client([archive])
    lasting = get(f"/-/capture/archive/{target}").headers["location"]  # the banner's address; its bytes at id_
    response = get(lasting.replace("/20240101000000/", "/20240101000000id_/"))
    assert response.status_code == 200 and response.content == CAPTURED_PAGE
    policy = response.headers["content-security-policy"]
    assert policy == CAPTURE_HEADERS["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get_list("content-type") == ["text/html; charset=utf-8"]


@pytest.mark.parametrize(
    ("captured", "sent"),
    [
        ("text/html; charset=UTF-8", "text/html; charset=utf-8"),
        ("application/pdf", "application/pdf"),
        ("text/html, application/json", "application/octet-stream"),
        ("text/html\r\nSet-Cookie: x=1", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
        ('text/html; charset="latin-1"', "text/html; charset=latin-1"),
    ],
)
def test_a_captured_content_type_is_one_clean_value(captured, sent):
    assert capture_content_type(captured) == sent


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/-/digest/archive/abc",
        "/-/digest/archive/-1",
        "/-/digest/archive/1.5",
        "/-/digest/archive/99999999",
        "/-/digest/archive/99999999999999999999999999",
        "/-/capture/archive/abc",
        "/-/capture/archive/-1",
        "/-/capture/archive/99999",
        "/-/capture/archive/2024/http://never-cited.test/",  # ends in a slash: no redirect to another address
        "/-/capture/archive/20241399000000/http://never-cited.test/a%20b",
        "/-/capture/archive/2024id_/http://never-cited.test/",
        "/-/published/archive/99999",
        "/-/published/archive/abc/page",
        "/-/revisions/archive/99999",
        "/-/edition/archive/no-such-edition",
        "/-/edition/archive/~3Cscript~3E",
        "/-/edition/no-such-database/digest-200",
        "/-/report/no-such-database",
        "/-/editions/no-such-database.atom",
        "/no-such-database",
        "/archive/no-such-table",
    ],
)
def test_a_malformed_address_is_a_404_with_the_readers_header_and_a_way_home(archive, path):
    response = client([archive])(path)
    assert response.status_code == 404, (path, response.text[:300])
    page = html.fromstring(response.text)
    assert page.xpath('//a[@class="home"]/@href') == ["/"]
    assert page.xpath('//form[@class="reader-search"]/@action') == ["/-/search/archive"]


def test_a_malformed_json_address_is_a_json_404(archive):
    response = client([archive])("/-/digest/archive/1.json")
    assert response.status_code == 404 and response.json()["status"] == 404


def test_a_404_puts_no_traceback_in_the_serve_log(archive):
    """`digest-archive serve` for real: 404s, malformed addresses among them, and the server's own log."""
    server, url = start_datasette(archive)
    try:
        for path in ("/-/digest/archive/abc", "/-/capture/archive/abc", "/-/digest/archive/99999", "/nowhere"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path, timeout=10)
            assert refused.value.code == 404, path
        with urllib.request.urlopen(url + "/-/digest/archive/1", timeout=10) as page:
            assert page.status == 200
    finally:
        server.terminate()
        log = server.communicate(timeout=20)[0]
    assert 'GET /-/digest/archive/abc HTTP/1.1" 404' in log, log[-3000:]
    assert "Traceback" not in log and "Error" not in log, log[-6000:]


# --- every value escaped -------------------------------------------------------------------------------

# Everything a hostile publisher, link or file name could carry into markup; XSS marks what would run.
HOSTILE = [
    '"',
    "'",
    "<",
    ">",
    "&",
    "&amp;",
    '" onmouseover="XSS',
    "' onfocus='XSS' x='",
    "<script>XSS()</script>",
    "<img src=XSS onerror=XSS>",
    "<xss>",
    "javascript:XSS()",
    "]]>",
    "{{ 7 * 7 }}",
    "~2F",
    "%22",
    " ",
    "é",
    "}, note = {XSS",  # BibTeX: a title that would close its field and open another
    "\\",
    "{",
    "\\url{XSS}",
]
hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text("ab<>\"'&;: ", max_size=3), min_size=1, max_size=5).map(
    "".join
)
hostile_url = st.tuples(
    st.sampled_from(["javascript:", " javascript:", "data:text/html,", "http://x.test/"]), hostile_text
).map("".join)
# A file name: Datasette opens a file by an SQLite URI, so a name with `%`, `?` or `#` cannot be served at all
# (nor one with a slash or a NUL, or a leading dot, which hides it); anything else may be. The BibTeX
# strings are for stored values: a name only reaches a BibTeX key, which takes letters and digits only.
hostile_name = st.lists(
    st.sampled_from([h for h in HOSTILE if not set(h) & set("/%?#{}\\")]) | st.text("ab", min_size=1, max_size=2),
    min_size=1,
    max_size=4,
).map(lambda parts: "a" + "".join(parts))


@pytest.fixture(scope="module")
def small_archive(both_sites, tmp_path_factory):
    """Two editions of the archive (one whose posts differ, one other), their posts, entries and links,
    with link health: every page of it renders in a moment."""
    database = tmp_path_factory.mktemp("small") / "small.db"
    copy_database(both_sites, database)
    with sqlite3.connect(database) as connection:
        keep = "SELECT id FROM editions WHERE slug IN ('digest-209', 'digest-200')"
        kept_digests = f"SELECT id FROM digests WHERE edition_id IN ({keep})"
        for statement in (
            f"DELETE FROM links WHERE digest_id NOT IN ({kept_digests})",
            f"DELETE FROM entries WHERE digest_id NOT IN ({kept_digests})",
            f"DELETE FROM digest_urls WHERE digest_id NOT IN ({kept_digests})",
            f"DELETE FROM digest_revisions WHERE digest_id NOT IN ({kept_digests})",
            f"DELETE FROM digests WHERE id NOT IN ({kept_digests})",
            f"DELETE FROM editions WHERE id NOT IN ({keep})",
            "DELETE FROM pages",
        ):
            connection.execute(statement)
    connection.close()
    add_link_health(database)
    return database


def make_hostile(database: Path, text, url) -> None:
    """Every stored text field a page shows: titles, headlines, entries, sections, link texts, URLs, site
    names, slugs, conflicts, runs and failures (each row its own value; unique columns kept unique)."""
    with sqlite3.connect(database) as connection:
        for (digest_id,) in connection.execute("SELECT id FROM digests").fetchall():
            connection.execute(
                "UPDATE digests SET title = ?, headline = ?, site = ?, url = ?, dateline = ?, text = ? WHERE id = ?",
                [text(), text(), text(), url() + f"#{digest_id}", text(), text(), digest_id],
            )
        for (entry_id,) in connection.execute("SELECT id FROM entries").fetchall():
            word = text()
            connection.execute(
                "UPDATE entries SET text = ?, html = ?, section = ? WHERE id = ?",
                [f"MEK {word}", f'<p>MEK {word} <a href="{url()}">{text()}</a></p>', text(), entry_id],
            )
        for (link_id,) in connection.execute("SELECT id FROM links").fetchall():
            connection.execute("UPDATE links SET text = ?, domain = ? WHERE id = ?", [text(), text(), link_id])
        for (target_id,) in connection.execute("SELECT id FROM link_targets").fetchall():
            connection.execute(
                "UPDATE link_targets SET final_url = ?, archived_copy = ?, host = ?, message = ? WHERE id = ?",
                [url(), url(), text(), text(), target_id],
            )
        for (edition_id,) in connection.execute("SELECT id FROM editions").fetchall():
            connection.execute(
                "UPDATE editions SET title = ?, headline = ?, slug = ?, sites = ?, conflicts = ?, "
                "conflicts_between_sites = ?, conflicts_within_post = ? WHERE id = ?",
                [text(), text(), text() + f"-{edition_id}", text(), text(), text(), text(), edition_id],
            )
        connection.execute("UPDATE crawl_runs SET start_url = ?", [url()])
        connection.execute("UPDATE failures SET url = ?, message = ?", [url(), text()])
    connection.close()


def bibtex_fields(record: str) -> list[tuple[str, str]]:
    """The fields of one BibTeX record as a BibTeX reader splits them: a value runs to its closing brace,
    a backslash escaping the character after it."""
    head = re.match(r"@misc\{[\w:-]+,\n", record)
    assert head, record
    fields, at = [], head.end()
    while (found := re.compile(r"\s*(\w+) = \{").match(record, at)) is not None:
        depth, at = 1, found.end()
        while depth:
            character = record[at]
            if character == "\\":
                at += 1
            elif character in "{}":
                depth += 1 if character == "{" else -1
            at += 1
        fields.append((found[1], record[found.end() : at - 1]))
        assert record[at] == ",", record
        at += 1
    assert record[at:].strip() == "}", record
    return fields


def assert_citation_intact(page: str, title: str, where: str) -> None:
    """The Highwire tags carry the stored title as it is, and the BibTeX record keeps its fields."""
    root = html.fromstring(page)
    assert root.xpath('//head/meta[@name="citation_title"]/@content') == [title], where
    names = [name for name, _ in bibtex_fields(root.xpath('string(//pre[@class="bibtex"])'))]
    assert names[:3] == ["title", "publisher", "howpublished"] and names[-1] == "note", (where, names)
    assert len(names) == len(set(names)), (where, names)


def assert_nothing_injected(page: str, where: str) -> None:
    root = html.fromstring(page)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment
        assert element.tag not in ("xss",), (where, etree.tostring(element)[:200])
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (where, name, value)
            assert name.lower() not in ("x", "xss"), (where, name, value)
            if name.lower() in ("href", "src", "action", "formaction"):
                assert not re.match(r"\s*(javascript|data):", value, re.I), (where, name, value)
            assert value != "XSS", (where, name)
        if element.tag == "script":
            assert "XSS" not in (element.text or "") and "XSS" not in element.get("src", ""), where


@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure is reported as found: shrinking takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=hostile_name, data=st.data())
def test_no_stored_value_can_inject_markup_into_any_page(small_archive, tmp_path, name, data):
    database = Path(tempfile.mkdtemp(dir=tmp_path)) / f"{name}.db"
    copy_database(small_archive, database)
    shutil.copytree(small_archive.with_name("small.captures"), database.with_name(f"{name}.captures"))
    make_hostile(database, lambda: data.draw(hostile_text), lambda: data.draw(hostile_url))
    get = client([database])
    db = tilde_encode(name)
    pages = ["/", f"/{db}", f"/-/search/{db}?q=MEK", f"/-/report/{db}", f"/-/digest/{db}/abc"]
    pages += [f"/-/digest/{db}/{r['id']}" for r in rows(database, "SELECT id FROM digests")]
    pages += [f"/-/edition/{db}/{tilde_encode(r['slug'])}" for r in rows(database, "SELECT slug FROM editions")]
    tables = rows(database, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE '%fts%'")
    pages += [f"/{db}/{tilde_encode(r['name'])}" for r in tables]
    pages += [f"/{db}/digests/{r['id']}" for r in rows(database, "SELECT id FROM digests LIMIT 1")]
    pages += [f"/{db}/digests?_sort=title&_facet=site", f"/{db}/links?_facet=domain"]
    pages += [f"/-/revisions/{db}/{r['id']}" for r in rows(database, "SELECT id FROM digests")]
    captured = rows(database, "SELECT url FROM link_targets WHERE capture_warc IS NOT NULL")[0]["url"]
    pages += [f"/-/capture/{db}/20240101000000/{captured}", f"/{db}/link_health"]
    for path in pages:
        response = get(path)
        assert response.status_code in (200, 404), (path, response.status_code, response.text[:500])
        assert_nothing_injected(response.text, path)
        if path.startswith(("/-/edition/", "/-/digest/")) and response.status_code == 200:
            kind, key = path.split("/")[2], tilde_decode(path.rsplit("/", 1)[1])
            table, column = ("editions", "slug") if kind == "edition" else ("digests", "id")
            query = f"SELECT title FROM {table} WHERE {column} = ?"
            assert_citation_intact(response.text, rows(database, query, [key])[0]["title"], path)
    hits = get(f"/-/search/{db}.json?q=MEK").json()["hits"]
    assert hits
    for hit in hits:
        assert_nothing_injected(f"<div>{hit['snippet']}</div>", "search.json")
        assert hit["edition_url"].startswith(f"http://localhost/-/edition/{db}/")
    feed = get(f"/-/editions/{db}.atom").content
    root = etree.fromstring(feed, etree.XMLParser(recover=False, resolve_entities=False))
    titles = {r["title"] for r in rows(database, "SELECT title FROM editions")}
    atom = "{http://www.w3.org/2005/Atom}"
    assert {entry.findtext(f"{atom}title") for entry in root.iter(f"{atom}entry")} == titles
    assert root.findtext(f"{atom}title") == f"Editions of the digest: {name}"
    json.dumps(hits)  # the JSON is plain data


def test_every_digest_row_links_its_edition_through_the_expanded_foreign_key(archive):
    """Datasette expands `edition_id` into a dict ({"value", "label"}): each row's link is the edition's
    address and its label the edition's title, escaped."""
    page = html.fromstring(client([archive])("/archive/digests?_size=50").text)
    links = page.xpath('//a[@class="edition-link"]')
    assert len(links) == 50
    titles = {str(r["id"]): r["title"] for r in rows(archive, "SELECT id, title FROM editions")}
    for link in links:
        edition_id = re.fullmatch(r"/-/edition/archive/(\d+)", link.get("href"))[1]
        assert link.text_content() == f"edition {titles[edition_id]}"
