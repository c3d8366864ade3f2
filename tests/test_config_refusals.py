"""Bad arguments and settings are refused before any request (issue 24, item 6).

Each crawl here is the real `scrapy crawl` as a subprocess, as cron or scrapyd run it. A refusal is
exit 2 and one line `<spider>: error: …` on stderr, and it costs nothing: the fixture server gets no
request and no file appears beside the DATABASE (no archive, no `-wal`, no lock file, no reserve).
Where the refusal is missing, the crawl would reach the fixture server (DIGEST_LISTINGS points there),
never a real site.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import (
    DEFAULT_LISTINGS,
    PROJECT_SETTINGS,
    BadSetting,
    Choice,
    Flag,
    HttpUrl,
    HttpUrls,
    Number,
    Text,
    WholeNumber,
    check_settings,
    listing_urls,
    project_defaults,
)
from fixtures.site import CATEGORY_PATH
from spiders.digests import ARGUMENTS

from .conftest import FAST, REPO, assert_clean_run, rows, run_crawl, run_scrapy

ERROR_LINE = re.compile(r"^(digests|links): error: ", re.MULTILINE)
DECLARED = {setting.name: setting for setting in PROJECT_SETTINGS}


def scrapy_crawl(spider: str, database: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "crawl", spider, "-s", f"DATABASE={database}", *FAST, *args]
    return run_scrapy(command)


def refused_with(result: subprocess.CompletedProcess) -> str:
    """The one line of a refusal (asserting exit 2, one error line and no traceback)."""
    lines = [line for line in result.stderr.splitlines() if ERROR_LINE.match(line)]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and " ERROR: " not in result.stderr, result.stderr[-3000:]
    return lines[0]


def files_in(folder: Path) -> dict[str, str]:
    """Every file of a folder with a digest of its bytes: what a refusal must leave as it was."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


# --- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "unknown"),
    [
        (["-a", "foo=bar"], "foo"),
        # The typo of the review: without the refusal, a refresh of every listing of DIGEST_LISTINGS.
        (["-a", "modes=backfill"], "modes"),
        (["-a", "name=other"], "name"),  # Scrapy's Spider takes `name`; this project's spiders do not
    ],
)
def test_an_unknown_argument_is_refused_before_any_request(site_server, tmp_path, arguments, unknown):
    database = tmp_path / "archive.db"
    result = scrapy_crawl("digests", database, "-s", f"DIGEST_LISTINGS={site_server.url(CATEGORY_PATH)}", *arguments)
    line = refused_with(result)
    assert line == (
        f"digests: error: unknown argument -a {unknown}: this spider takes -a start_url=URL, "
        "-a mode=refresh|backfill|recheck|recover, -a index=auto|html"
    )
    assert all(f"-a {name}=" in line for name in ARGUMENTS)
    assert site_server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_the_links_spider_takes_no_argument(backfilled_archive, site_server):
    before = files_in(backfilled_archive.parent)
    result = scrapy_crawl("links", backfilled_archive, "-a", f"start_url={site_server.url(CATEGORY_PATH)}")
    assert refused_with(result) == "links: error: unknown argument -a start_url: this spider takes no -a arguments"
    assert files_in(backfilled_archive.parent) == before
    assert site_server.requests == []


def test_scrapyds_own_arguments_are_accepted(backfilled_archive, site_server):
    """scrapyd launches `scrapy crawl SPIDER -a _job=ID` (and `-a _version=V` when asked for one):
    a job scrapyd schedules runs as any other crawl."""
    runs_before = len(rows(backfilled_archive, "SELECT id FROM crawl_runs"))
    result = run_crawl(site_server.url(CATEGORY_PATH), backfilled_archive, "-a", "_job=4f1d2c", "-a", "_version=r7")
    assert_clean_run(result)
    assert site_server.requests, "the crawl made no request: the test proves nothing"
    assert len(rows(backfilled_archive, "SELECT id FROM crawl_runs")) == runs_before + 1


# --- settings ------------------------------------------------------------------------------------


# Through the real `scrapy crawl`; the other rules' bounds are checked in process below.
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DIGEST_MAX_POSTS", "abc"),  # was exit 6, "please report it"
        ("DIGEST_MAX_POSTS", "-5"),  # was accepted silently
        ("DIGEST_RECHECK_MIN_AGE", "nan"),
        ("DIGEST_PROGRESS", "loud"),
        ("DIGEST_CONTACT", "me@example.org\r\nX-Injected: 1"),  # would go into the User-Agent header
        ("DIGEST_LINK_CDX_API", "javascript:alert(1)"),
    ],
)
def test_a_bad_setting_is_refused_before_any_request(site_server, tmp_path, setting, value):
    database = tmp_path / "archive.db"
    result = run_crawl(site_server.url(CATEGORY_PATH), database, "-s", f"{setting}={value}")
    line = refused_with(result)
    assert line == f"digests: error: bad setting {setting}={value!r}: it takes {DECLARED[setting].rule.describe()}"
    assert site_server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_digest_setting_is_refused_with_the_closest_name(site_server, tmp_path):
    result = run_crawl(site_server.url(CATEGORY_PATH), tmp_path / "archive.db", "-s", "DIGEST_MAX_POST=5")
    line = refused_with(result)
    assert line.startswith("digests: error: unknown setting DIGEST_MAX_POST (did you mean DIGEST_MAX_POSTS?)")
    assert site_server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_bad_link_setting_stops_a_link_check_before_it_opens_the_archive(backfilled_archive, site_server):
    before = files_in(backfilled_archive.parent)
    result = scrapy_crawl("links", backfilled_archive, "-s", "DIGEST_LINK_MAX_BYTES=0")
    assert refused_with(result) == (
        "links: error: bad setting DIGEST_LINK_MAX_BYTES='0': it takes a whole number from 1 to 1099511627776"
    )
    assert files_in(backfilled_archive.parent) == before
    assert site_server.requests == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DIGEST_MAX_REST_PAGES", "0"),
        ("DIGEST_WRITE_BATCH", "1.5"),
        ("DIGEST_PROGRESS_INTERVAL", "0"),
        ("DIGEST_LISTINGS", "https://a.test/x,ftp://example.org/digest"),
        ("DIGEST_LINK_CAPTURE", "maybe"),
        ("DIGEST_LINK_DEAD_DAYS", "1e9"),  # past Python's dates: was an OverflowError mid-run
        ("DATABASE", ""),
    ],
)
def test_check_settings_refuses_what_a_declaration_does_not_take(setting, value):
    with pytest.raises(BadSetting, match=rf"^bad setting {setting}="):
        check_settings(Settings({**project_defaults(), setting: value}))


# --- DIGEST_LISTINGS and its old name, DIGEST_ARCHIVES ----------------------------------------------


def test_the_old_name_of_digest_listings_is_read_in_its_place():
    old = Settings({**project_defaults(), "DIGEST_ARCHIVES": "http://a.test/x, http://b.test/y"})
    assert listing_urls(old) == ["http://a.test/x", "http://b.test/y"]
    check_settings(old)  # a known name, not an unknown DIGEST_ setting
    assert listing_urls(Settings(project_defaults())) == list(DEFAULT_LISTINGS)
    # A bad value is refused under the name it was given by.
    with pytest.raises(BadSetting, match=r"^bad setting DIGEST_ARCHIVES='http://a.test/x,ftp://b.test/'"):
        check_settings(Settings({**project_defaults(), "DIGEST_ARCHIVES": "http://a.test/x,ftp://b.test/"}))


@pytest.mark.parametrize("priority", ["project", "cmdline"])
def test_both_names_of_digest_listings_are_refused(priority):
    settings = Settings(project_defaults())
    settings.set("DIGEST_LISTINGS", "http://a.test/x", priority=priority)
    settings.set("DIGEST_ARCHIVES", "http://b.test/y", priority="cmdline")
    with pytest.raises(BadSetting, match="^both DIGEST_LISTINGS and its old name DIGEST_ARCHIVES are set"):
        listing_urls(settings)
    # The default value given again with `-s` is set too: which one was meant cannot be known.
    settings = Settings(project_defaults())
    settings.set("DIGEST_LISTINGS", project_defaults()["DIGEST_LISTINGS"], priority="cmdline")
    settings.set("DIGEST_ARCHIVES", "http://b.test/y", priority="cmdline")
    with pytest.raises(BadSetting):
        check_settings(settings)


def test_a_crawl_given_both_names_is_refused_before_any_request(site_server, tmp_path):
    url = site_server.url(CATEGORY_PATH)
    database = tmp_path / "archive.db"
    result = scrapy_crawl("digests", database, "-s", f"DIGEST_LISTINGS={url}", "-s", f"DIGEST_ARCHIVES={url}")
    assert refused_with(result) == (
        "digests: error: both DIGEST_LISTINGS and its old name DIGEST_ARCHIVES are set: keep DIGEST_LISTINGS only"
    )
    assert site_server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_crawl_given_the_old_name_crawls_its_listings_and_warns_once(backfilled_archive, site_server):
    result = run_crawl(None, backfilled_archive, "-s", f"DIGEST_ARCHIVES={site_server.url(CATEGORY_PATH)}")
    assert_clean_run(result)
    assert site_server.requests, "the crawl made no request: the old name was not read"
    runs = rows(backfilled_archive, "SELECT start_url FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert runs == [{"start_url": site_server.url(CATEGORY_PATH)}]
    warnings = [line for line in result.stderr.splitlines() if "DIGEST_ARCHIVES is the old name" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], result.stderr[-3000:]


def test_every_declared_default_is_one_its_setting_takes():
    check_settings(Settings(project_defaults()))


@pytest.mark.parametrize("setting", PROJECT_SETTINGS, ids=lambda setting: setting.name)
def test_every_setting_refuses_a_value_of_the_wrong_type(setting):
    """One declaration, one rule: whatever the setting, a value of no type it takes is refused in one
    line naming it and what it takes."""
    for wrong in (object(), ["a", object()], "\x00"):
        with pytest.raises(BadSetting) as refused:
            setting.check(wrong)
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"bad setting {setting.name}=")
        assert message.endswith(f"it takes {setting.rule.describe()}")


def test_the_rules_hold_their_bounds():
    assert WholeNumber(1, 10).read(" 10 ") == 10 and WholeNumber(-3).read("-3") == -3
    for value in ("0", "11", "1e3", "٣", "1_0", "", True, 2.0):
        with pytest.raises(ValueError):
            WholeNumber(1, 10).read(value)
    assert Number(0, 5).read("0") == 0 and Number(0, 5).read("2.5") == 2.5 and Number(0, 5).read(5) == 5
    for value in ("-0.1", "5.01", "inf", "nan", "1,5", "0x1"):
        with pytest.raises(ValueError):
            Number(0, 5).read(value)
    with pytest.raises(ValueError):
        Number(0, 5, above_minimum=True).read("0")
    assert Flag().read("False") is False and Flag().read("1") is True
    for value in ("5", "yes", "", None):
        with pytest.raises(ValueError):
            Flag().read(value)
    assert Choice(("a", "b")).read("b") == "b"
    with pytest.raises(ValueError):
        Choice(("a", "b")).read("c")
    assert Text().read("") == "" and Text(required=True).read("x.db") == "x.db"
    for value in (" ", "a\tb", "a\x7fb"):
        with pytest.raises(ValueError):
            Text(required=True).read(value)
    assert HttpUrl(optional=True).read("") == "" and HttpUrl().read("https://a.test/x") == "https://a.test/x"
    for value in ("", "file:///etc/passwd", "http://", "https://a.test/\nx"):
        with pytest.raises(ValueError):
            HttpUrl().read(value)
    assert HttpUrls().read("http://a.test/x, https://b.test/y,") == ["http://a.test/x", "https://b.test/y"]
    assert HttpUrls().read(["http://a.test/x"]) == ["http://a.test/x"]
    for value in ("http://a.test/x,ftp://b.test/", "http://a.test/x,,javascript:alert(1)", [1]):
        with pytest.raises(ValueError):
            HttpUrls().read(value)


def test_a_setting_declared_without_a_rule_takes_what_its_default_is():
    """Another helper's new setting slots in with one declaration: its default's type is its rule."""
    from crawler.config import ProjectSetting

    assert ProjectSetting("DIGEST_X", 5, "").rule == WholeNumber(0)
    assert ProjectSetting("DIGEST_X", True, "").rule == Flag()
    assert ProjectSetting("DIGEST_X", "", "").rule == Text()
    with pytest.raises(BadSetting):
        ProjectSetting("DIGEST_X", 5, "").check("-1")


# --- the DATABASE --------------------------------------------------------------------------------


def test_links_on_a_missing_archive_is_refused_and_creates_nothing(tmp_path):
    database = tmp_path / "archive.db"
    result = scrapy_crawl("links", database)
    assert refused_with(result) == f"links: error: {database}: no such archive"
    assert list(tmp_path.iterdir()) == []


def test_a_database_that_is_not_sqlite_is_refused_and_left_alone(site_server, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_bytes((REPO / "README.md").read_bytes())
    before = files_in(tmp_path)
    result = run_crawl(site_server.url(CATEGORY_PATH), readme)
    assert refused_with(result) == f"digests: error: {readme}: not a SQLite database"
    assert files_in(tmp_path) == before  # no README.md.lock, no reserve, no -wal
    assert site_server.requests == []


def test_another_programs_sqlite_database_is_refused_and_no_lock_file_is_left(site_server, tmp_path):
    """Refused only once opened (its tables are not an archive's), after the lock was taken: the lock
    file the run made is removed with the refusal."""
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE notes (text)")
    connection.commit()
    connection.close()
    before = files_in(tmp_path)
    for spider, arguments in (("digests", ["-a", f"start_url={site_server.url(CATEGORY_PATH)}"]), ("links", [])):
        result = scrapy_crawl(spider, other, *arguments)
        assert (
            refused_with(result)
            == f"{spider}: error: {other}: a SQLite database, but not a digest archive (no digests table)"
        )
        assert files_in(tmp_path) == before
    assert site_server.requests == []


def test_a_folder_for_a_database_is_refused_and_nothing_is_made_beside_it(site_server, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    result = run_crawl(site_server.url(CATEGORY_PATH), folder)
    assert refused_with(result) == f"digests: error: {folder}: is a directory, not an archive"
    assert [path.name for path in tmp_path.iterdir()] == ["archive"] and list(folder.iterdir()) == []
    assert site_server.requests == []
