"""Sites named as they name themselves: the site's title from its REST root, og:site_name or its titles'
suffix (parsed from saved pages and answers, hostile values too), stored by the crawl for the site it came
from, overridden by DIGEST_SITE_NAMES, and shown by every page of the reader instead of a host and port."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core.parsing.site_name import page_site_name, rest_site_name, title_suffix
from core.site_names import (
    MAX_SITE_NAME,
    chosen_name,
    clean_site_name,
    host_label,
    read_site_names,
    site_labels,
    with_site_names,
)
from crawler.config import BadSetting, check_settings
from fixtures.editions import INTERLINK_LISTING
from fixtures.hostile import HostileServer, Hostility
from fixtures.responses import load
from fixtures.site import CATEGORY_PATH

from .conftest import assert_clean_run, datasette_client, rows, run_crawl

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


# --- parsing: saved pages and answers ---------------------------------------------------------------


def test_the_rest_root_names_the_site_by_its_wordpress_title():
    named = rest_site_name(load("rest_index").url, load("rest_index").body)
    assert (named.name, named.source) == ("Digest test bed", "rest")


@pytest.mark.parametrize("case", ["discovery_tt1_pretty", "discovery_tt1_plain", "discovery_tt3_pretty"])
def test_a_stock_wordpress_page_names_the_site_by_its_titles_suffix(case):
    response = load(case)
    named = page_site_name(response.url, response.body)
    assert (named.name, named.source) == ("Digest test bed", "title")


@pytest.mark.parametrize(
    ("case", "name", "source"),
    [
        ("pages/iran_interlink_headline_2021", "Iran Interlink", "og:site_name"),
        ("pages/iran_interlink_dated_2019", "Iran Interlink", "title"),
        ("pages/nejatngo_200_seed", "Nejat Society", "title"),
        ("pages/nejatngo_cp1252_186", "Nejat Society", "title"),
        ("listings/iran_interlink_author_listing", "Iran Interlink", "title"),
        # `… – Page 2 – Nejat Society`: the page's number is not the site's name.
        ("listings/amp_category_listing", "Nejat Society", "title"),
    ],
)
def test_saved_pages_name_their_site(case, name, source):
    folder = FIXTURES / case
    named = page_site_name((folder / "url.txt").read_text().strip(), (folder / "page.html").read_bytes())
    assert (named.name, named.source) == (name, source)


def test_og_site_name_comes_before_the_title():
    page = (
        '<html><head><title>Digest – 5 – Some Title</title><meta property="og:site_name" content="The Real Name">'
        "</head><body><h1>Digest – 5</h1></body></html>"
    )
    assert page_site_name("https://x.org/", page).name == "The Real Name"


@pytest.mark.parametrize(
    ("title", "headings", "expected"),
    [
        ("Iran Interlink Weekly Digest – 182 – Nejat Society", ["Iran Interlink Weekly Digest – 182"], "Nejat Society"),
        ("Digest | Nejat Society", [], "Nejat Society"),
        ("Iran Interlink Weekly Digest – 182", ["Iran Interlink Weekly Digest – 182"], None),  # only the heading
        ("Iran Interlink Weekly Digest – 182", [], None),  # a number is the digest's
        ("MEK and Lebanon – Iran Interlink Weekly Digest", [], None),  # the series is the digest's
        ("Iran Interlink Weekly Digest – Nov 26 2021", [], None),  # a date is the digest's
        ("Just a title", [], None),
        ("", [], None),
    ],
)
def test_a_titles_suffix_is_the_sites_name_only_after_the_pages_own_title(title, headings, expected):
    assert title_suffix(title, headings) == expected


def test_the_sites_logo_heading_is_not_the_pages_title():
    page = (
        "<html><head><title>Nejat Society – A tagline</title></head><body>"
        '<h1 class="site-title">Nejat Society</h1><h1>Other</h1></body></html>'
    )
    assert page_site_name("https://x.org/", page).name == "A tagline"  # the last part: what a home page gives


# --- hostile names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Nejat Society", "Nejat Society"),
        ("  Nejat\n\tSociety  ", "Nejat Society"),
        ("Nejat\x1b[31m\x07 Society", "Nejat[31m Society"),
        ("\u202eyteicoS tajeN", "yteicoS tajeN"),  # a right-to-left override could show one name as another
        ("انجمن\u200cنجات", "انجمن\u200cنجات"),  # the zero-width non-joiner Persian needs is kept
        ("Nejat &amp; Friends", "Nejat &amp; Friends"),  # an attribute's text is not decoded again
        ("127.0.0.1:37839", None),  # an address is what the reader must not show
        ("https://evil.example/", None),
        ("---", None),
        ("", None),
        (None, None),
        (42, None),
        (["Nejat"], None),
    ],
)
def test_a_sites_name_is_cleaned_or_refused(value, expected):
    assert clean_site_name(value) == expected


def test_a_long_name_is_cut_at_a_word():
    name = clean_site_name("Word " * 10_000)
    assert len(name) <= MAX_SITE_NAME and name.endswith("Word…")


def test_the_rest_roots_name_is_decoded_once_and_cleaned():
    body = json.dumps({"name": "Nejat &amp; Friends\u202e\x00", "routes": {}})
    assert rest_site_name("https://x.org/wp-json/", body).name == "Nejat & Friends"
    # Not a REST root (no routes): its `name` names nothing; not JSON at all is the REST index's ParseError.
    assert rest_site_name("https://x.org/wp-json/", json.dumps({"name": "Other"})) is None
    assert rest_site_name("https://x.org/wp-json/", json.dumps({"name": {"a": 1}, "routes": {}})) is None


def test_hostile_page_values_give_no_name():
    for head in (
        '<meta property="og:site_name" content="\x01\x02">',
        f'<meta property="og:site_name" content="{"x" * 100_000}">',
    ):
        named = page_site_name("https://x.org/", f"<html><head>{head}<title>A</title></head><body></body></html>")
        assert named is None or len(named.name) <= MAX_SITE_NAME
    assert page_site_name("https://x.org/", b"") is None


# --- the names the reader shows ---------------------------------------------------------------------


def test_no_two_sites_share_a_label_and_no_label_has_a_port():
    labels = site_labels(
        {
            "nejatngo.org": "Nejat Society",
            "evil.example": "Nejat Society",  # a site naming itself after another
            "127.0.0.1:8000": None,
            "127.0.0.1:8001": None,
            "iran-interlink.org": None,
        }
    )
    assert labels["nejatngo.org"] == "Nejat Society (nejatngo.org)"
    assert labels["evil.example"] == "Nejat Society (evil.example)"
    assert labels["iran-interlink.org"] == "iran-interlink.org"
    assert {labels["127.0.0.1:8000"], labels["127.0.0.1:8001"]} == {"127.0.0.1 (1)", "127.0.0.1 (2)"}
    assert len(set(labels.values())) == len(labels)
    assert host_label("[::1]:8000") == "[::1]"


def test_stored_notes_name_sites_by_their_labels_but_urls_are_kept():
    labels = {"127.0.0.1:38859": "Nejat Society", "127.0.0.1:3885": "Other"}
    text = "number: 167 (127.0.0.1:38859) ≠ 196 (127.0.0.1:3885); http://127.0.0.1:38859/en/posts/1"
    assert (
        with_site_names(text, labels) == "number: 167 (Nejat Society) ≠ 196 (Other); http://127.0.0.1:38859/en/posts/1"
    )


def test_the_setting_takes_origins_and_hosts():
    names = read_site_names('{"https://www.nejatngo.org": "Nejat Society", "127.0.0.1": "Local"}')
    assert names == {"nejatngo.org": "Nejat Society", "127.0.0.1": "Local"}
    assert chosen_name("nejatngo.org", names) == "Nejat Society"
    assert chosen_name("127.0.0.1:8000", names) == "Local"  # a host without a port: every port
    assert chosen_name("iran-interlink.org", names) is None
    for bad in ('{"a b": "x"}', '{"x.org": ""}', '{"x.org": "a\\u0007b"}', "[]", "not json", '{"x.org": "1.2.3.4:5"}'):
        with pytest.raises(BadSetting, match="DIGEST_SITE_NAMES"):
            check_settings({"DIGEST_SITE_NAMES": bad})


# --- the crawl stores each site's own name ------------------------------------------------------------


def _site_rows(database: Path) -> dict[str, dict]:
    return {row["site"]: row for row in rows(database, "SELECT * FROM sites")}


def test_the_crawl_stores_each_fixture_sites_name(both_sites, servers):
    nejatngo, interlink = (server.base_url.split("//")[1] for server in servers)
    sites = _site_rows(both_sites)
    assert (sites[nejatngo]["name"], sites[nejatngo]["source"]) == ("Nejat Society", "og:site_name")
    assert (sites[interlink]["name"], sites[interlink]["source"]) == ("Iran Interlink", "title")
    assert sites[nejatngo]["source_url"] == servers[0].url(CATEGORY_PATH)
    assert sites[interlink]["source_url"] == servers[1].url(INTERLINK_LISTING)
    assert {row["setting_name"] for row in sites.values()} == {None}


def test_the_rest_roots_name_wins_and_a_hostile_one_is_cleaned(tmp_path):
    database = tmp_path / "archive.db"
    hostile = "Nejat &amp; Friends\u202e\x1b[2J" + " and more" * 5_000
    with HostileServer(Hostility(posts=3, site_name=hostile)) as site:
        result = run_crawl(site.start_url, database, "-a", "mode=backfill")
        assert_clean_run(result)
        row = _site_rows(database)[site.start_url.split("//")[1].split("/")[0]]
    assert row["source"] == "rest" and row["source_url"].endswith("/wp-json/")
    assert row["name"].startswith("Nejat & Friends[2J and more") and len(row["name"]) <= MAX_SITE_NAME
    assert not re.search(r"[\x00-\x1f\u202a-\u202e]", row["name"])


def test_a_rest_root_without_a_usable_name_leaves_the_pages_name(tmp_path):
    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=3, site_name={"rendered": "Not text"})) as site:
        assert_clean_run(run_crawl(site.start_url, database, "-a", "mode=backfill"))
    [row] = rows(database, "SELECT name, source FROM sites")
    assert (row["name"], row["source"]) == ("Nejat Society", "og:site_name")


# --- the reader: no host and port on any page; the setting wins -----------------------------------------


class _VisibleText(HTMLParser):
    """The text a reader sees: no markup, no script or style, no attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_hosts_and_ports(html: str) -> list[str]:
    """`127.0.0.1:<port>` in a page's visible text, outside the addresses it shows (an original post's URL
    and the archive's own, in the citation block, a `url_key` with its path, are addresses and stay)."""
    parser = _VisibleText()
    parser.feed(html)
    text = re.sub(r"https?://\S+", " ", " ".join(parser.parts))
    return re.findall(r"127\.0\.0\.1:\d+(?![\d/])", text)


def reader_pages(get, database: str = "archive") -> list[str]:
    slugs = [row["slug"] for row in json.loads(get(f"/{database}/editions.json?_shape=array&_size=max").text)]
    digests = [row["id"] for row in json.loads(get(f"/{database}/digests.json?_shape=array&_size=max").text)]
    sites = [row["site"] for row in json.loads(get(f"/{database}/digests.json?_shape=array&_size=max").text)]
    return [
        f"/{database}",
        f"/{database}/editions",
        f"/{database}/digests",
        f"/{database}/link_health",
        f"/-/report/{database}",
        f"/-/editions/{database}.atom",
        f"/-/search/{database}",
        f"/-/search/{database}?q=Albania",
        f"/-/search/{database}?q=camp&site={sites[0]}",
        f"/-/search/{database}?q=zzzzqqq&site={sites[-1]}",
        *(f"/-/edition/{database}/{slug}" for slug in slugs),
        *(f"/-/digest/{database}/{digest_id}" for digest_id in digests[:: max(1, len(digests) // 12)]),
        f"/-/links/{database}",
        *(f"/-/published/{database}/{digest_id}" for digest_id in digests[:3]),
        *(f"/-/revisions/{database}/{digest_id}" for digest_id in digests[:3]),
    ]


def test_no_reader_page_shows_a_host_and_port(archive):
    get = datasette_client(archive)
    shown = {path: found for path in reader_pages(get) if (found := visible_hosts_and_ports(get(path).text))}
    assert shown == {}


def test_the_reader_names_sites_by_their_own_names(archive):
    get = datasette_client(archive)
    edition = get("/-/edition/archive/digest-209").text
    assert "Nejat Society" in edition and "Iran Interlink" in edition
    assert 'name="citation_publisher" content="Nejat Society"' in edition or (
        'name="citation_publisher" content="Iran Interlink"' in edition
    )
    facets = json.loads(get("/archive/editions.json?_size=0").text)["facet_results"]["sites"]["results"]
    labels = {frozenset(value["label"].split(", ")) for value in facets}  # in the order of the sites' ports
    both, nejatngo, interlink = ({"Nejat Society", "Iran Interlink"}, {"Nejat Society"}, {"Iran Interlink"})
    assert labels == {frozenset(both), frozenset(nejatngo), frozenset(interlink)}


def test_the_setting_names_a_site_over_its_own_name_until_it_is_taken_out(archive, servers):
    nejatngo = servers[0].base_url.split("//")[1]
    chosen = json.dumps({servers[0].base_url: "Nejat (English)"})
    assert_clean_run(run_crawl(servers[0].url(CATEGORY_PATH), archive, "-s", f"DIGEST_SITE_NAMES={chosen}"))
    assert _site_rows(archive)[nejatngo]["setting_name"] == "Nejat (English)"
    get = datasette_client(archive)
    assert "Nejat (English)" in get("/-/edition/archive/digest-209").text
    assert "Nejat Society" not in get("/-/edition/archive/digest-209").text
    # A run without the setting takes the operator's name out again: the site's own name is back.
    assert_clean_run(run_crawl(servers[0].url(CATEGORY_PATH), archive))
    assert "Nejat Society" in datasette_client(archive)("/-/edition/archive/digest-209").text


def test_an_archive_with_no_names_shows_hosts_without_ports(archive):
    import sqlite3

    connection = sqlite3.connect(archive)
    with connection:
        connection.execute("DROP TABLE sites")  # as an archive of an older schema, read-only, has it
    connection.close()
    get = datasette_client(archive)
    shown = {path: found for path in reader_pages(get) if (found := visible_hosts_and_ports(get(path).text))}
    assert shown == {}
    assert "127.0.0.1 (1)" in get("/-/report/archive").text


def test_a_refresh_by_a_known_rest_index_learns_a_missing_name_from_a_post(tmp_path):
    import sqlite3

    database = tmp_path / "archive.db"
    with HostileServer(Hostility(posts=3)) as site:
        assert_clean_run(run_crawl(site.start_url, database, "-a", "mode=backfill"))
        connection = sqlite3.connect(database)
        with connection:
            connection.execute("DELETE FROM sites")  # as an archive crawled before sites were named
        connection.close()
        site.configure(Hostility(posts=4, feed_version=2))  # a new digest: the refresh fetches its page
        site.clear_requests()
        assert_clean_run(run_crawl(site.start_url, database))
        assert CATEGORY_PATH not in site.requests and "/wp-json/" not in site.requests  # no start page, no root
    [row] = rows(database, "SELECT name, source, source_url FROM sites")
    assert (row["name"], row["source"]) == ("Nejat Society", "og:site_name")
    assert "/en/posts/" in row["source_url"]
