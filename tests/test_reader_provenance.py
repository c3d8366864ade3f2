"""A recovered digest's provenance where a reader meets it (reader/provenance.py): the reading view and the edition
page say "recovered from the Internet Archive, captured 12 March 2017", linked to the memento; a live digest
says nothing; the exports carry the columns."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from lxml import html

from reader.provenance import archive_name, capture_day, provenance_of
from storage.export import export_tables

from .conftest import datasette_client, rows

MEMENTO = "https://web.archive.org/web/20170312081500/https://www.nejatngo.org/en/posts/7435"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("Internet Archive", "the Internet Archive"),
        ("internet_archive", "the Internet Archive"),
        ("arquivo.pt", "Arquivo.pt"),
        ("Arquivo_PT", "Arquivo.pt"),
        ("common-crawl", "Common Crawl"),
        ("my_local_pywb", "my local pywb"),
        ("Stanford Web Archive", "Stanford Web Archive"),
    ],
)
def test_a_web_archive_reads_by_its_known_name_else_its_key_with_spaces(key, name):
    assert archive_name(key) == name


def test_the_capture_day_is_written_out_and_a_time_that_is_not_one_is_left_out():
    assert capture_day("2017-03-12T08:15:00Z") == "12 March 2017"
    assert capture_day("2017-03-12T23:59:59+00:00") == "12 March 2017"
    assert capture_day("2017-03-12") == "12 March 2017"
    assert capture_day("yesterday") is None
    found = provenance_of({"recovered_from": "Internet Archive", "captured_at": "soon", "memento_url": MEMENTO})
    assert found is not None and found.sentence == "recovered from the Internet Archive"


def test_a_live_digest_has_no_provenance_and_a_memento_that_is_no_web_address_is_not_linked():
    assert provenance_of({"recovered_from": None, "captured_at": None, "memento_url": None}) is None
    assert provenance_of({}) is None  # a row of an archive from before recovery
    found = provenance_of(
        {"recovered_from": "internet_archive", "captured_at": "2017-03-12T08:15:00Z", "memento_url": "javascript:x()"}
    )
    assert found is not None and found.memento_url is None
    assert found.sentence == "recovered from the Internet Archive, captured 12 March 2017"


def _recover_one(archive) -> dict:
    """Mark one digest of a real crawled archive as recovered (what `mode=recover` writes)."""
    digest = rows(archive, "SELECT id, edition_id FROM digests WHERE number = 210 LIMIT 1")[0]
    connection = sqlite3.connect(archive)
    with connection:
        connection.execute(
            "UPDATE digests SET recovered_from = ?, captured_at = ?, memento_url = ? WHERE id = ?",
            ("Internet Archive", "2017-03-12T08:15:00Z", MEMENTO, digest["id"]),
        )
    connection.close()
    return digest


def _provenance_links(page) -> list[tuple[str, str]]:
    return [(a.text_content(), a.get("href")) for a in page.xpath('//span[@class="provenance"]/a[@class="memento"]')]


def test_the_reading_view_and_the_edition_page_say_where_a_recovered_digest_came_from(archive):
    digest = _recover_one(archive)
    get = datasette_client(archive)
    said = [("recovered from the Internet Archive, captured 12 March 2017", MEMENTO)]
    view = html.fromstring(get(f"/-/digest/archive/{digest['id']}").text)
    assert _provenance_links(view) == said
    slug = rows(archive, "SELECT slug FROM editions WHERE id = ?", (digest["edition_id"],))[0]["slug"]
    edition = html.fromstring(get(f"/-/edition/archive/{slug}").text)
    assert _provenance_links(edition) == said
    # The edition's other post, from the live site, says nothing of the kind.
    assert len(edition.xpath('//table[@class="sources"]//tr')) == 2
    assert len(edition.xpath('//span[@class="provenance"]')) == 1
    # A live digest's reading view neither.
    live = rows(archive, "SELECT id FROM digests WHERE recovered_from IS NULL LIMIT 1")[0]["id"]
    assert "recovered from" not in get(f"/-/digest/archive/{live}").text


def test_a_hostile_provenance_is_escaped(archive):
    digest = _recover_one(archive)
    connection = sqlite3.connect(archive)
    with connection:
        connection.execute(
            "UPDATE digests SET recovered_from = ?, memento_url = ? WHERE id = ?",
            ("<script>alert(1)</script>", 'https://x.test/"><script>alert(2)</script>', digest["id"]),
        )
    connection.close()
    text = datasette_client(archive)(f"/-/digest/archive/{digest['id']}").text
    assert "<script>alert" not in text
    page = html.fromstring(text)
    assert _provenance_links(page) == [
        (
            "recovered from <script>alert(1)</script>, captured 12 March 2017",
            'https://x.test/"><script>alert(2)</script>',
        )
    ]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_exports_carry_the_provenance(archive, tmp_path, fmt):
    digest = _recover_one(archive)
    from sqlite_utils import Database

    export_tables(Database(archive), fmt, tmp_path / "out")
    path = tmp_path / "out" / f"digests.{fmt}"
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_id = {int(record["id"]): record for record in records}
    recovered = by_id[digest["id"]]
    assert (recovered["recovered_from"], recovered["captured_at"], recovered["memento_url"]) == (
        "Internet Archive",
        "2017-03-12T08:15:00Z",
        MEMENTO,
    )
    for name in ("recovered_from", "captured_at", "memento_url"):
        assert name in records[0]
