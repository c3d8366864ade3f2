"""Citable pages (reader/citation.py, the edition page and the reading view): a permalink per entry, a
citation block (APA, BibTeX), `<link rel="canonical">` and the Highwire tags Zotero reads, the feed
advertised, and feed ids that do not depend on the host serving them."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import date

from datasette.app import Datasette
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree, html

from reader.citation import bibtex_url, bibtex_value, tag_uri
from storage.export import copy_database

from .conftest import rows

ATOM = "{http://www.w3.org/2005/Atom}"


def serve(database, *, base_url: str | None = None, host: str | None = None):
    """`get(path)` from Datasette's in-process client, with a base_url (the path is requested as given) or
    another Host header; asserts a 200."""
    instance = Datasette([str(database)], settings={"base_url": base_url} if base_url else {})
    headers = {"host": host} if host else {}

    def get(path: str):
        response = asyncio.run(instance.client.request("GET", path, headers=headers, avoid_path_rewrites=True))
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response

    return get


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def meta(page, name: str) -> list[str]:
    return page.xpath(f'//head/meta[@name="{name}"]/@content')


def entry_texts(page) -> dict[str, str]:
    return {entry.get("id"): entry.text_content().strip() for entry in page.xpath('//div[contains(@class, "entry")]')}


# --- permalinks ------------------------------------------------------------------------------------------


def test_every_entry_has_a_numbered_anchor_and_a_visible_link_to_it(archive):
    get = serve(archive)
    for edition in rows(archive, "SELECT slug FROM editions"):
        page = html.fromstring(get(f"/-/edition/archive/{edition['slug']}").text)
        entries = page.xpath('//article[@class="edition"]//div[contains(@class, "entry")]')
        assert entries, edition
        assert [entry.get("id") for entry in entries] == [f"item-{n}" for n in range(1, len(entries) + 1)]
        for entry in entries:
            assert entry.xpath("./a[@class='permalink']/@href") == [f"#{entry.get('id')}"]
            assert entry.xpath("./a[@class='permalink']/text()") == ["#"]
            assert entry.xpath("./span[starts-with(@id, 'entry-')]")  # search's anchors, kept
    for digest in rows(archive, "SELECT id, entry_count FROM digests"):
        page = html.fromstring(get(f"/-/digest/archive/{digest['id']}").text)
        entries = page.xpath('//article[@class="digest"]//div[@class="entry"]')
        assert len(entries) == digest["entry_count"]
        for n, entry in enumerate(entries, start=1):
            assert entry.get("id") == f"item-{n}"
            assert entry.xpath("./a[@class='permalink']/@href") == [f"#item-{n}"]


def test_permalinks_survive_the_entries_being_written_again_under_new_row_ids(archive, tmp_path):
    """A changed post's entries are deleted and inserted again (storage/digests.py): their row ids change,
    the permalinks (places in the edition) do not."""
    slug = rows(archive, "SELECT slug FROM editions WHERE posts = 2 LIMIT 1")[0]["slug"]
    before = entry_texts(html.fromstring(serve(archive)(f"/-/edition/archive/{slug}").text))
    rewritten = tmp_path / "rewritten" / "archive.db"
    rewritten.parent.mkdir()
    copy_database(archive, rewritten)
    with sqlite3.connect(rewritten) as connection:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("UPDATE links SET entry_id = entry_id + 100000")
        connection.execute("UPDATE entries SET id = id + 100000")
    connection.close()
    after_page = serve(rewritten)(f"/-/edition/archive/{slug}").text
    assert entry_texts(html.fromstring(after_page)) == before
    assert 'id="entry-1000' in after_page  # the row ids did change


# --- the citation ------------------------------------------------------------------------------------------


def test_the_edition_cites_its_title_date_original_url_and_archived_on_date(archive):
    get = serve(archive)
    for edition in rows(archive, "SELECT slug, title, first_published, issue_date, first_seen FROM editions"):
        source = rows(
            archive,
            "SELECT s.name AS site, d.url FROM digests d JOIN editions e ON e.id = d.edition_id "
            "JOIN sites s ON s.site = d.site WHERE e.slug = ? "
            "ORDER BY coalesce(d.published, '9999'), d.site, d.url LIMIT 1",
            [edition["slug"]],
        )[0]
        permalink = f"http://localhost/-/edition/archive/{edition['slug']}"
        published = date.fromisoformat((edition["first_published"] or edition["issue_date"])[:10])
        archived = date.fromisoformat(edition["first_seen"][:10])
        page = html.fromstring(get(f"/-/edition/archive/{edition['slug']}").text)
        apa = page.xpath('string(//section[@class="citation"]/p[@class="apa"])')
        assert edition["title"] in apa
        assert f"({published.year}, {published:%B} {published.day})" in apa
        assert source["url"] in apa and source["site"] in apa
        assert f"archived on {long_date(archived)}, at {permalink}" in apa
        bibtex = page.xpath('string(//section[@class="citation"]//pre[@class="bibtex"])')
        assert bibtex.startswith(f"@misc{{archive:{edition['slug']},")
        assert f"title = {{{{{edition['title']}}}}}," in bibtex
        assert f"date = {{{published.isoformat()}}}," in bibtex
        assert f"url = {{{source['url']}}}," in bibtex
        assert f"urldate = {{{archived.isoformat()}}}," in bibtex
        assert f"\\url{{{permalink}}}" in bibtex


def test_the_reading_view_cites_its_post_at_its_editions_address(archive):
    get = serve(archive)
    for digest in rows(
        archive,
        "SELECT d.id, d.title, d.url, s.name AS site, d.published, d.first_seen, e.slug FROM digests d "
        "JOIN editions e ON e.id = d.edition_id JOIN sites s ON s.site = d.site",
    ):
        page = html.fromstring(get(f"/-/digest/archive/{digest['id']}").text)
        permalink = f"http://localhost/-/edition/archive/{digest['slug']}"
        assert page.xpath('//head/link[@rel="canonical"]/@href') == [permalink]
        apa = page.xpath('string(//section[@class="citation"]/p[@class="apa"])')
        assert digest["title"] in apa and digest["url"] in apa and permalink in apa
        assert long_date(date.fromisoformat(digest["first_seen"][:10])) in apa
        assert meta(page, "citation_title") == [digest["title"]]
        assert meta(page, "citation_publisher") == [digest["site"]]
        assert meta(page, "citation_fulltext_html_url") == [digest["url"]]
        if digest["published"]:
            assert meta(page, "citation_publication_date") == [digest["published"][:10].replace("-", "/")]


# --- canonical, Highwire tags, the feed link ---------------------------------------------------------------


def test_the_edition_page_names_its_lasting_address_and_its_citation_tags(archive):
    edition = rows(archive, "SELECT slug, title, first_published FROM editions WHERE first_published IS NOT NULL")[0]
    for get, root in (
        (serve(archive), "http://localhost/"),
        (serve(archive, base_url="/prefix/"), "http://localhost/prefix/"),
        (serve(archive, host="reader.example:8080"), "http://reader.example:8080/"),
    ):
        prefix = root.removeprefix("http://localhost").removeprefix("http://reader.example:8080")
        page = html.fromstring(get(f"{prefix}-/edition/archive/{edition['slug']}").text)
        permalink = f"{root}-/edition/archive/{edition['slug']}"
        assert page.xpath('//head/link[@rel="canonical"]/@href') == [permalink]
        assert meta(page, "citation_title") == [edition["title"]]
        assert meta(page, "citation_publication_date") == [edition["first_published"][:10].replace("-", "/")]
        assert meta(page, "citation_public_url") == [permalink]
        assert len(meta(page, "citation_publisher")) == 1 and meta(page, "citation_fulltext_html_url")
        feeds = page.xpath('//head/link[@rel="alternate"][@type="application/atom+xml"]/@href')
        assert feeds == [f"{prefix}-/editions/archive.atom"]
        assert "atom" in get(feeds[0]).headers["content-type"]


def test_the_reading_view_advertises_the_feed(archive):
    digest_id = rows(archive, "SELECT id FROM digests LIMIT 1")[0]["id"]
    page = html.fromstring(serve(archive)(f"/-/digest/archive/{digest_id}").text)
    assert page.xpath('//head/link[@rel="alternate"][@type="application/atom+xml"]/@href') == [
        "/-/editions/archive.atom"
    ]


# --- feed ids ------------------------------------------------------------------------------------------------


def feed_ids_and_links(response) -> tuple[list[str], list[str]]:
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
    ids = [root.findtext(f"{ATOM}id")] + [entry.findtext(f"{ATOM}id") for entry in root.iter(f"{ATOM}entry")]
    links = [entry.find(f"{ATOM}link").get("href") for entry in root.iter(f"{ATOM}entry")]
    return ids, links


def test_feed_ids_are_the_same_whichever_host_or_base_url_serves_them(archive):
    plain = feed_ids_and_links(serve(archive)("/-/editions/archive.atom"))
    prefixed = feed_ids_and_links(serve(archive, base_url="/prefix/")("/prefix/-/editions/archive.atom"))
    other = feed_ids_and_links(serve(archive, host="reader.example")("/-/editions/archive.atom"))
    assert plain[0] == prefixed[0] == other[0]
    slugs = [row["slug"] for row in rows(archive, "SELECT slug FROM editions")]
    assert sorted(plain[0][1:]) == sorted(tag_uri("archive", "edition", slug) for slug in slugs)
    assert all(re.fullmatch(r"tag:digest-archive,2024:archive/edition/[\w%.~-]+", id_) for id_ in plain[0][1:])
    # …while the links to the pages are the serving's own
    assert plain[1][0].startswith("http://localhost/-/edition/")
    assert prefixed[1][0].startswith("http://localhost/prefix/-/edition/")
    assert other[1][0].startswith("http://reader.example/-/edition/")


# --- BibTeX escaping -----------------------------------------------------------------------------------------


def unescaped_braces_balance(value: str) -> bool:
    depth = 0
    for found in re.finditer(r"\\.|[{}]", value):
        if found[0] == "{":
            depth += 1
        elif found[0] == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


@given(st.text(alphabet=st.sampled_from("{}\\ab %&#$_^~\n"), max_size=30))
def test_a_bibtex_value_never_ends_its_field(text):
    value = bibtex_value(text)
    assert unescaped_braces_balance(value)
    assert not re.search(r"(?<!\\)[{}]", value.replace(r"\textbackslash{}", "").replace("{}", ""))
    url = bibtex_url("http://x.test/" + text)
    assert not set(url) & set("{}\\ ")
