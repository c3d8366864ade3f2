"""The dead-links page, `/-/links/<db>`, on a real archive of both publishers whose links the real `links`
spider checked against the stand-in web (fixtures/web.py): three runs, as weeks apart, in which one host that
lived (and was captured) died, and one more failed once."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import html

from core.link_status import FAILING, STATUSES
from fixtures.web import FIXTURE_CDX_API, FIXTURE_REPLAY_PREFIX, Host, StandInWeb, fixture_archive_web
from storage.captures import captures_folder
from storage.export import copy_database

from .conftest import assert_clean_run, datasette_client, rows, run_scrapy
from .test_links_spider import FAST_LINKS
from .test_reader_security import ACTOR, client

# The host that lived at the first check (its pages captured) and is gone at the next two; the one that
# fails once, at the last check (failing, not yet dead).
DIED_SINCE = "www.middleeasteye.net"
FAILED_ONCE = "www.theguardian.com"


def check_links(database: Path, web: dict[str, Host], *args: str) -> None:
    """The real `scrapy crawl links` over the archive, against this stand-in web and its CDX API."""
    with StandInWeb(web) as stand_in:
        env = dict(os.environ, **stand_in.proxy_env(no_proxy="127.0.0.1"))
        command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS]
        command += [
            "-s",
            f"DIGEST_LINK_CDX_API={FIXTURE_CDX_API}",
            "-s",
            f"DIGEST_LINK_REPLAY_PREFIX={FIXTURE_REPLAY_PREFIX}",
        ]
        result = run_scrapy([*command, *args], env=env, timeout=180)
        assert_clean_run(result)


def died_since_web(**changes: Host) -> dict[str, Host]:
    return {**fixture_archive_web(), **changes}


@pytest.fixture(scope="module")
def checked_template(both_sites, tmp_path_factory) -> Path:
    database = tmp_path_factory.mktemp("deadlinks") / "archive.db"
    copy_database(both_sites, database)
    again = ["-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0"]
    check_links(database, fixture_archive_web())
    check_links(database, died_since_web(**{DIED_SINCE: Host("gone")}), *again)
    check_links(database, died_since_web(**{DIED_SINCE: Host("gone"), FAILED_ONCE: Host("server-error")}), *again)
    return database


@pytest.fixture()
def checked(checked_template, tmp_path) -> Path:
    database = tmp_path / "archive.db"
    copy_database(checked_template, database)
    shutil.copytree(captures_folder(checked_template), captures_folder(database))
    return database


def shown_rows(page_html: str) -> list[dict]:
    """The page's rows: each link's URL, state, reason, citing editions' addresses and copies."""
    tree = html.fromstring(page_html)
    found = []
    for row in tree.xpath('//tr[contains(@class, "dead-link")]'):
        found.append(
            {
                "url": row.xpath('string(.//span[@class="url"])').strip(),
                "anchor": row.xpath('string(.//span[@class="anchor-text"])').strip(),
                "state": row.get("class").split()[1],
                "reason": row.xpath('string(.//span[@class="reason"])').strip(),
                "cited_by": row.xpath('.//a[@class="cited-by"]/@href'),
                "our_copy": (row.xpath('.//a[@class="our-copy"]/@href') or [None])[0],
                "archived_copy": (row.xpath('.//a[@class="archived-copy"]/@href') or [None])[0],
            }
        )
    return found


def filter_links(page_html: str) -> list[tuple[str, str, int]]:
    """(filter, its link's address, the count it shows) for every value of every filter on the page."""
    tree = html.fromstring(page_html)
    return [
        (
            link.xpath("string(ancestor::div[contains(@class, 'filter ')]/h2)"),
            link.get("href"),
            int(link.get("data-count")),
        )
        for link in tree.xpath('//div[contains(@class, "filter ")]//a[@data-count]')
    ]


def test_the_page_lists_each_failing_or_dead_link_with_its_reason_citations_and_copies(checked):
    get = datasette_client(checked)
    listed = shown_rows(get("/-/links/archive").text)
    expected = rows(
        checked,
        f"SELECT url FROM link_targets WHERE (dead_since IS NOT NULL OR status IN ({','.join('?' * len(FAILING))})) "
        "AND status NOT IN ('own', 'refused')",
        FAILING,
    )
    assert sorted(row["url"] for row in listed) == sorted(row["url"] for row in expected)
    by_host = {urlsplit(row["url"]).hostname: row for row in listed}
    assert set(by_host) >= {"www.breitbart.com", "lobelog.com", "www.habilian.ir", DIED_SINCE, FAILED_ONCE}
    assert not {"twitter.com", "www.saharfamily.com", "127.0.0.1"} & set(by_host)  # blocked, disallowed, own
    # Each reason in words, never "dead" alone; the states as the rule decides them.
    words = {status.reason for status in STATUSES.values() if status.reason}
    assert all(row["reason"] in words for row in listed)
    assert (by_host["www.breitbart.com"]["state"], by_host["www.breitbart.com"]["reason"]) == ("dead", "gone")
    assert by_host["lobelog.com"]["reason"] == "soft-404" and by_host["www.habilian.ir"]["reason"] == "unreachable"
    assert (by_host[FAILED_ONCE]["state"], by_host[FAILED_ONCE]["reason"]) == ("failing", "server error")
    # The web archive's copy, where the lookup found one; ours, for the page that lived when first checked.
    assert by_host["www.breitbart.com"]["archived_copy"].startswith(FIXTURE_REPLAY_PREFIX + "20170814120000/")
    died = by_host[DIED_SINCE]
    assert died["state"] == "dead" and re.match(r"/-/capture/archive/\d{14}/http", died["our_copy"])
    banner = get(died["our_copy"])  # the capture under its banner; its own bytes at the `id_` address
    assert banner.status_code == 200 and died["url"] in banner.text
    captured = get(re.sub(r"^(/-/capture/archive/\d{14})/", r"\1id_/", died["our_copy"]))
    assert b"Version 1 of" in captured.content
    # Every citing edition linked, at the entry that cites it; the anchor text is the entries' own.
    for row in listed:
        assert row["cited_by"] and row["anchor"], row
        texts = {r["text"] for r in rows(checked, "SELECT text FROM links WHERE url = ?", [row["url"]])}
        assert any(" ".join((text or "").split()) in row["anchor"] for text in texts), row
        for address in row["cited_by"]:
            path, _, anchor = address.partition("#")
            assert path.startswith("/-/edition/archive/") and anchor.startswith("entry-"), address
            assert f'id="{anchor}"' in get(path).text, address


def test_each_filter_value_counts_the_rows_its_link_shows_also_within_another_filter(checked):
    get = datasette_client(checked)
    first = get("/-/links/archive").text
    links = filter_links(first)
    assert {name for name, _, _ in links} == {"state", "status", "host", "year"}
    assert {"dead", "failing"} <= {href.split("state=")[1] for name, href, _ in links if name == "state"}
    checked_filters = 0
    for name, href, count in links:
        page = get(f"/-/links/archive{href}").text
        assert len(shown_rows(page)) == count, (name, href)
        # Within that filter, every other filter's values count what they show too.
        for _, inner_href, inner_count in filter_links(page):
            assert len(shown_rows(get(f"/-/links/archive{inner_href}").text)) == inner_count, (href, inner_href)
            checked_filters += 1
    assert checked_filters > len(links)
    # The counts of one filter add up to every row.
    assert sum(count for name, _, count in links if name == "state") == len(shown_rows(first))


@pytest.mark.parametrize("query", ["", "?state=dead", "?status=gone", "?host=www.breitbart.com"])
def test_csv_and_json_have_the_rows_the_page_shows(checked, query):
    get = datasette_client(checked)
    page = shown_rows(get(f"/-/links/archive{query}").text)
    answer = get(f"/-/links/archive.json{query}").json()
    assert [row["url"] for row in answer["links"]] == [row["url"] for row in page]
    assert answer["count"] == len(page)
    assert [row["reason"] for row in answer["links"]] == [row["reason"] for row in page]
    assert [row["state"] for row in answer["links"]] == [row["state"] for row in page]
    for row, shown in zip(answer["links"], page, strict=True):
        assert [
            urlsplit(c["edition_url"]).path + "#" + urlsplit(c["edition_url"]).fragment for c in row["cited_by"]
        ] == shown["cited_by"]
        assert (row["archived_copy"], (row["our_copy"] or {}).get("url") and urlsplit(row["our_copy"]["url"]).path) == (
            shown["archived_copy"],
            shown["our_copy"],
        )
    separator = "&" if query else "?"
    for address in (f"/-/links/archive.csv{query}", f"/-/links/archive{query}{separator}_format=csv"):
        response = get(address)
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["url"] for row in table] == [row["url"] for row in page]
        assert [row["reason"] for row in table] == [row["reason"] for row in page]
    assert get(f"/-/links/archive{query}{separator}_format=json").json() == answer


def test_markup_in_anchor_text_is_escaped_and_a_formula_is_kept_text_in_the_csv(checked):
    url = rows(checked, "SELECT url FROM link_targets WHERE dead_since IS NOT NULL ORDER BY url LIMIT 1")[0]["url"]
    with sqlite3.connect(checked) as connection:
        connection.execute(
            "UPDATE links SET text = ? WHERE url = ?", ['<script>alert(1)</script><b onmouseover="x">bold</b>', url]
        )
    get = datasette_client(checked)
    page = get("/-/links/archive").text
    assert "<script>alert(1)" not in page and "<b onmouseover" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<script>alert(1)</script><b onmouseover="x">bold</b>' in [row["anchor"] for row in shown_rows(page)]
    with sqlite3.connect(checked) as connection:
        connection.execute("UPDATE links SET text = ? WHERE url = ?", ['=HYPERLINK("http://x.test","y")', url])
    table = list(csv.DictReader(io.StringIO(get("/-/links/archive.csv").text)))
    assert [row["anchor_text"] for row in table if row["url"] == url] == ['\'=HYPERLINK("http://x.test","y")']


def test_a_private_link_table_refuses_the_page_and_its_csv_and_json(checked):
    for table in ("link_checks", "editions"):
        get = client([checked], {"databases": {"archive": {"tables": {table: {"allow": ACTOR}}}}})
        for path in (
            "/-/links/archive",
            "/-/links/archive.json",
            "/-/links/archive.csv",
            "/-/links/archive?_format=csv",
        ):
            assert get(path).status_code == 403, (table, path)
            assert get(path, actor=ACTOR).status_code == 200, (table, path)


def test_the_report_and_the_tables_link_to_the_page(checked):
    get = datasette_client(checked)
    report = get("/-/report/archive").text
    assert 'href="/-/links/archive"' in report
    assert 'href="/-/links/archive"' in get("/archive").text  # the database's description
    links = html.fromstring(report).xpath('//a[starts-with(@href, "/-/links/archive?")]')
    assert links
    for link in links:
        # Every number of the report's links section is the count of rows its link shows.
        number = int(re.sub(r"\D", "", link.text_content()))
        assert len(shown_rows(get(link.get("href")).text)) == number, link.get("href")
