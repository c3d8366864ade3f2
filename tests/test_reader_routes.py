"""The reader's routes, declared once (reader.plugin.ROUTES): served under Datasette's `base_url`, every
address a reader page makes carries the prefix and answers; the table, the router and the docs agree."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from datasette.app import Datasette
from datasette.utils import tilde_decode
from lxml import etree, html

from reader.plugin import ROUTES, register_routes
from reader.routes import Route

from .conftest import REPO, rows
from .test_reader_security import add_link_health, answers, reader_pages

PREFIX = "/prefix/"


def prefixed_client(database: Path):
    """Datasette's in-process client serving with base_url: `get(path)` requests the path as it is (the
    client would otherwise put the prefix in front itself)."""
    instance = Datasette([str(database)], settings={"base_url": PREFIX})

    def get(path: str):
        return asyncio.run(instance.client.request("GET", path, avoid_path_rewrites=True))

    return get


def local_addresses(page_url: str, response, *, reader_links_only: bool = False) -> set[str]:
    """Every address on this origin that the page links, loads or submits to (resolved against the page).
    `reader_links_only`: on a page of Datasette's own, only the links the reader puts there (its metadata's
    descriptions, its cells): Datasette 0.65.5 itself doubles the prefix in its pages' JSON links."""
    if "atom" in response.headers["content-type"]:
        root = etree.fromstring(response.content, etree.XMLParser(recover=False, resolve_entities=False))
        atom = "{http://www.w3.org/2005/Atom}"
        found = [link.get("href") for link in root.iter(f"{atom}link")]
        found += [element.text for element in root.iter(f"{atom}id")]
    elif "json" in response.headers["content-type"] and "links" in response.json():  # the dead links
        links = response.json()["links"]
        found = [citation["edition_url"] for link in links for citation in link["cited_by"]]
        found += [link["our_copy"]["url"] for link in links if link["our_copy"]]
    elif "json" in response.headers["content-type"]:
        answer = response.json()
        found = [hit["edition_url"] for hit in answer["hits"]]
        found += [answer[key] for key in ("next", "previous") if answer.get(key)]  # absolute, under the prefix
    elif "csv" in response.headers["content-type"]:  # the dead links: the citing editions and our copies
        table = list(csv.DictReader(io.StringIO(response.text)))
        found = [address for row in table for address in [*row["cited_by"].split(), row["our_copy"]] if address]
    elif "html" in response.headers["content-type"]:
        page = html.fromstring(response.text)
        if reader_links_only:
            found = page.xpath(
                '//div[@class="metadata-description"]//a/@href | //a[contains(@class, "-view")]/@href'
                ' | //a[@class="edition-link"]/@href | //form[@class="reader-search"]/@action'
            )
        else:
            found = page.xpath("//a/@href | //link/@href | //script/@src | //img/@src | //form/@action")
    else:
        return set()  # a captured page: someone else's, sandboxed
    addresses = set()
    for value in found:
        address = urljoin(f"http://localhost{page_url}", value)
        parts = urlsplit(address)
        if parts.scheme in ("http", "https") and parts.netloc == "localhost":
            addresses.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return addresses


def test_every_reader_page_answers_under_base_url_and_every_address_on_it_carries_the_prefix_and_answers(archive):
    digest_id, target = add_link_health(archive)
    get = prefixed_client(archive)
    edition = rows(archive, "SELECT id, slug FROM editions WHERE slug IS NOT NULL ORDER BY id LIMIT 1")[0]
    pages = [PREFIX + path.lstrip("/") for path in reader_pages(archive, "archive", digest_id, target)]
    pages.append(f"{PREFIX}-/edition/archive/no-such-edition")  # the reader's error page (a 404)
    # Datasette's pages where the reader puts links: the database's "start here", the editions table's
    # description and titles, the digests table's titles and editions.
    datasette_pages = [f"{PREFIX}archive", f"{PREFIX}archive/editions", f"{PREFIX}archive/digests?_size=5"]
    checked: dict[str, str] = {}
    for page in [*pages, *datasette_pages]:
        response = get(page)
        if response.status_code == answers(page.removeprefix(PREFIX[:-1])) == 301:  # an old address by id
            assert response.headers["location"].startswith(PREFIX), (page, response.headers["location"])
            continue
        assert response.status_code == (404 if "no-such" in page else 200), (page, response.status_code)
        addresses = local_addresses(page, response, reader_links_only=page in datasette_pages)
        # Only someone else's page, sent as a sandbox (a capture's bytes, a post as published), may link nothing here.
        assert addresses or response.headers.get("content-security-policy", "").startswith("sandbox"), page
        for address in addresses:
            assert address.startswith(PREFIX), (page, address)
            checked.setdefault(address, page)
    assert any("/-/capture/" in address for address in checked)  # the marked links' "our copy", under the prefix
    for name in ("edition", "digest", "search", "report", "feed", "links"):
        assert any(f"{PREFIX}-/{name.replace('feed', 'editions')}/" in address for address in checked), name
    for address, page in sorted(checked.items()):
        response = get(address)
        if response.status_code in (301, 302):
            assert response.headers["location"].startswith(PREFIX), (page, address, response.headers["location"])
            response = get(response.headers["location"])
        assert response.status_code == 200, (page, address, response.status_code)
    # an old address by row id redirects within the prefix
    response = get(f"{PREFIX}-/edition/archive/{edition['id']}")
    assert (response.status_code, response.headers["location"]) == (301, f"{PREFIX}-/edition/archive/{edition['slug']}")


def test_the_router_takes_each_route_from_the_table_and_each_address_matches_its_own_route():
    registered = register_routes()
    assert [view for _, view in registered] == [route.view for route in ROUTES]
    names = ["archive", "my archive", "a.b", "ünï/code"]
    # A field's value where it takes one of a shape (a timestamp) or the rest of the address (a URL).
    samples = {"timestamp": "20240102030405", "url": "http://example.org/a b/ü?c=d&e=f/g"}
    for route in ROUTES:
        for name in names:
            values = {
                field: name if field == "database" else samples.get(field, "digest-209") for field in route.fields
            }
            for form in (None, *route.formats):
                path = route.path(format=form, **values)
                matches = [r.name for r in ROUTES if re.match(r.regex, path)]
                assert matches == [route.name], path
                found = re.match(route.regex, path)
                decoded = {
                    field: unquote(found[field]) if field == route.rest else tilde_decode(found[field])
                    for field in route.fields
                }
                assert decoded == values, path
                if route.formats:
                    assert found["format"] == form


def test_a_route_refuses_values_it_does_not_take():
    route = Route("page", "/-/page/{database}/{id}", view=lambda: None, what="")
    assert route.path(database="a b.c", id=3) == "/-/page/a+b~2Ec/3"
    with pytest.raises(TypeError):
        route.path(database="a")
    with pytest.raises(ValueError):
        route.path(format="json", database="a", id=3)


def test_the_docs_list_every_route_of_the_reader():
    reading = (REPO / "docs" / "reading.md").read_text(encoding="utf-8")
    for route in ROUTES:
        assert f"| `{route.shown}" in reading, route.name
