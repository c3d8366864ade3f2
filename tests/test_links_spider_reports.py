"""The link check's reports on a checked archive (one archive, checked twice, shared by these tests; `make test`
keeps this file on one worker, which checks it once): `links --json`, `summary`, the WACZ export, the
reader's link marks and the link_health facets."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

import storage
from fixtures.web import StandInWeb

from .conftest import assert_clean_run, rows
from .test_links_spider import EXPECTED, HOSTS, _link_every_expected_url, run_links


@pytest.fixture(scope="module")
def checked_template(tmp_path_factory) -> Path:
    """`linked_archive` checked twice with dead after 0 days: dead links, captures and archived copies, as a
    researcher's archive has them (do not change it: `checked_archive` is a test's own copy)."""
    database = tmp_path_factory.mktemp("checked") / "archive.db"
    _link_every_expected_url(database)
    with StandInWeb(HOSTS) as web:
        assert_clean_run(run_links(database, web, "-s", "DIGEST_LINK_DEAD_DAYS=0"))
        assert_clean_run(run_links(database, web, "-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0"))
    return database


@pytest.fixture()
def checked_archive(checked_template, tmp_path) -> Path:
    """A test's own copy of the checked archive, with its captures folder."""
    from storage.captures import captures_folder
    from storage.export import copy_database

    database = tmp_path / "archive.db"
    copy_database(checked_template, database)
    shutil.copytree(captures_folder(checked_template), captures_folder(database))
    return database


def test_links_command_json_and_summary_and_the_wacz_export(checked_archive, tmp_path):
    import json

    from click.testing import CliRunner

    from cli.main import main

    linked_archive = checked_archive
    runner = CliRunner()
    result = runner.invoke(main, ["links", str(linked_archive), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == len(EXPECTED)
    assert set(lines[0]) == {
        "url", "status", "dead", "http_status", "final_url", "checked_at", "dead_since", "capture", "archived_copy",
        "digests", "cited_by",
    }  # fmt: skip
    by_url = {line["url"]: line for line in lines}
    assert by_url["http://live.test/a"]["digests"] == 2 and by_url["http://live.test/a"]["capture"]["warc"]
    # The last check's own status beside the dead flag: a researcher tells gone from soft-404 from a server error.
    statuses = {url: (line["status"], line["dead"]) for url, line in by_url.items()}
    assert statuses == {
        url: (status, status in ("gone", "soft-404", "server-error", "timeout", "redirect-loop", "unreachable"))
        for url, (status, _) in EXPECTED.items()
    }
    # The citing digests by id, URL, number and date, oldest first.
    digests = {d["number"]: d for d in rows(linked_archive, "SELECT id, url, number, published FROM digests")}
    assert by_url["http://live.test/a"]["cited_by"] == [digests[1], digests[2]]
    assert by_url["http://gone.test/a"]["cited_by"] == [digests[1]]
    assert digests[1]["url"] == "https://digest.test/en/posts/1" and digests[1]["published"] == "2019-09-20"
    assert by_url["http://gone.test/a"]["archived_copy"].startswith("http://web.archive.test/web/2018")
    assert by_url["http://blocked.test/x"]["status"] == "blocked"
    summary = runner.invoke(main, ["links", str(linked_archive)])
    assert summary.exit_code == 0 and "dead" in summary.output and "Hosts with the most dead links" in summary.output
    wacz = tmp_path / "links.wacz"
    exported = runner.invoke(main, ["export", str(linked_archive), "--wacz", str(wacz)])
    assert exported.exit_code == 0, exported.output
    from wacz.main import main as wacz_main

    assert wacz_main(["validate", "-f", str(wacz)]) == 0
    assert runner.invoke(main, ["export", str(linked_archive), "--wacz", str(wacz)]).exit_code == 2  # not overwritten


def test_the_reader_marks_each_link_and_offers_a_dead_links_copies(checked_archive):
    from .conftest import datasette_client

    linked_archive = checked_archive
    # A dead link that we captured while it lived: its copy is ours.
    with sqlite3.connect(linked_archive) as connection:
        connection.execute(
            "UPDATE link_targets SET dead_since = checked_at, status = 'gone' WHERE url = 'http://live.test/a'"
        )
    get = datasette_client(linked_archive)
    page = get("/-/digest/archive/1").text
    assert 'class="link-dead"' in page and 'class="link-ok"' in page
    assert 'class="link-archived" href="http://web.archive.test/web/20180101000000/http://gone.test/a"' in page
    target = rows(linked_archive, "SELECT id, captured_at FROM link_targets WHERE url = 'http://live.test/a'")[0]
    # Its lasting address (reader/replay.py): the capture's timestamp and the link's URL.
    stamp = datetime.fromisoformat(target["captured_at"]).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    lasting = f"/-/capture/archive/{stamp}/http://live.test/a"
    assert f'class="link-capture" href="{lasting}"' in page
    assert get(f"/-/capture/archive/{target['id']}", status=301).headers["location"] == lasting
    assert 'class="captured-page"' in get(lasting).text
    capture = get(f"/-/capture/archive/{stamp}id_/http://live.test/a")
    assert b"Version 1 of /a" in capture.content
    assert capture.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    get("/-/capture/archive/999999", status=404)

    db = storage.open_database(linked_archive)
    storage.update_editions(db)  # the digests as editions, as a digests crawl leaves them
    db.close()
    edition = datasette_client(linked_archive)("/-/edition/archive/digest-1").text
    assert 'class="link-dead"' in edition and 'class="link-archived"' in edition
    facets = get("/archive/link_health.json?_facet=status&_facet=host&_facet=year").json()
    assert {f["value"] for f in facets["facet_results"]["status"]["results"]} >= {"ok", "gone"}


def test_every_facet_of_link_health_counts_the_rows_its_filter_shows(checked_archive):
    """A researcher's complaint: the facets "dead" and "year" counted rows their own filters then showed
    none of (a view's computed columns had no type, and Datasette's filters send text)."""
    from urllib.parse import urlsplit

    from .conftest import datasette_client

    get = datasette_client(checked_archive)
    columns = get("/archive/link_health.json?_size=0").json()["columns"]
    assert {"status", "dead", "host", "year", "digests"} <= set(columns)
    checked_values = 0
    for column in columns:
        facets = get(f"/archive/link_health.json?_facet={column}&_facet_size=max&_size=0").json()
        facet = facets["facet_results"][column]
        assert not facet["truncated"], column
        for value in facet["results"]:
            toggle = urlsplit(value["toggle_url"])
            shown = get(f"{toggle.path}?{toggle.query}&_size=0").json()["filtered_table_rows_count"]
            assert shown == value["count"], (column, value["value"], value["count"], shown)
            checked_values += 1
    # The columns of the complaint, with what this archive holds: dead links, and digests of two years.
    dead = get("/archive/link_health.json?_facet=dead&_facet=year&_size=0").json()["facet_results"]
    assert {v["value"] for v in dead["dead"]["results"]} == {0, 1}
    assert {v["value"] for v in dead["year"]["results"]} == {2019, 2020}
    assert checked_values > 2 * len(EXPECTED)
