"""A reader in a real browser: headless Chromium (Debian's) driven by Playwright over `digest-archive serve`,
on the demo archive (`make demo`: both fixture publishers, matched into editions).

Run with `make test-e2e`. Screenshots go to test-output/screenshots/ (`make screenshots`, i.e.
DIGEST_SCREENSHOTS=docs/screenshots, refreshes the ones the README shows).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO, rows, start_datasette

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / os.environ.get("DIGEST_SCREENSHOTS", "test-output/screenshots")
# As root in a container, Chromium needs --no-sandbox; the rest keep it off this machine's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory) -> Path:
    """What `make demo` stores: both fixture archives crawled into demo.db (`python -m fixtures.demo`)."""
    database = tmp_path_factory.mktemp("demo") / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "fixtures.demo", "--db", str(database)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return database


@pytest.fixture(scope="module")
def served_archive(demo_archive):
    server, base = start_datasette(demo_archive)
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def page(served_archive):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/install-browser.sh (make test-e2e does)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=served_archive)
        yield context.new_page()
        browser.close()


def shot(page, name: str, full_page: bool = False) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def test_a_reader_starts_on_the_database_page_and_searches_from_the_header(page):
    page.goto("/demo")
    assert "Start here" in page.locator(".content").inner_text()
    shot(page, "1-start-here")
    page.locator("form.reader-search input[name=q]").fill("Albania")
    page.locator("form.reader-search button").click()
    page.wait_for_url(re.compile(r"/-/search/demo\?q=Albania"))
    assert page.locator("li.hit").count() > 0


def test_search_albania_gives_one_hit_per_edition_entry_and_opens_the_entry_on_its_edition(page, demo_archive):
    page.goto("/-/search/demo?q=Albania")
    hits = page.locator("li.hit")
    links = hits.locator("a.hit-link")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) == len(set(hrefs))  # one hit per edition entry: never the same entry twice
    entries = rows(
        demo_archive,
        "SELECT DISTINCT d.edition_id, lower(e.text) FROM entries_fts JOIN entries e "
        "ON e.rowid = entries_fts.rowid JOIN digests d ON d.id = e.digest_id "
        "WHERE entries_fts MATCH 'Albania'",
    )
    assert len([href for href in hrefs if "#entry-" in href]) == len(entries)
    assert " and " in hits.locator(".sites").first.inner_text() or any(
        " and " in text for text in hits.locator(".sites").all_inner_texts()
    )  # both sites named on one hit
    assert hits.locator("mark").count() >= len(hrefs)
    shot(page, "2-search-albania", full_page=True)

    index = next(i for i, href in enumerate(hrefs) if "#entry-" in href)
    anchor = hrefs[index].split("#")[1]
    snippet_words = re.sub(r"\W+", " ", hits.nth(index).locator(".snippet").inner_text()).split()
    links.nth(index).click()
    page.wait_for_url(re.compile(r"/-/edition/demo/[a-z0-9-]+#entry-\d+$"))
    target = page.locator(f"#{anchor}")
    assert target.count() == 1
    entry = page.locator(f".entry:has(#{anchor}), .entry#{anchor}").first
    assert entry.is_visible()
    assert "albania" in entry.inner_text().lower()
    assert any(word.lower() in entry.inner_text().lower() for word in snippet_words if len(word) > 4)


def test_an_apostrophe_and_stray_punctuation_are_searched_as_typed(page):
    for query in ("don't", "Rajavi's", '"camp Ashraf', "(Tirana", "MEK NOT"):
        response = page.goto(f"/-/search/demo?q={query}")
        assert response.status == 200, query
        assert "hit" in page.locator("p.total").inner_text()
    page.goto("/-/search/demo")
    page.locator(".reader-search-page input[name=q]").fill("don't")
    page.locator(".reader-search-page form.search-form button").click()
    page.wait_for_url(re.compile(r"q=don%27t|q=don't"))
    assert int(page.locator("p.total strong").first.inner_text()) > 0
    assert "don" in page.locator("li.hit mark").first.inner_text().lower()


def test_previous_and_next_move_across_editions_by_issue_date(page):
    page.goto("/-/edition/demo/digest-209")
    assert page.locator("article.edition h1").inner_text() == "Iran Interlink Weekly Digest \u2013 209"
    assert page.locator("p.legend").is_visible()  # its posts differ
    assert page.locator(".entry.added a, .entry.added").count() >= 1
    shot(page, "3-edition-209", full_page=True)
    page.locator("nav.edition-nav.top a[rel=next]").click()
    page.wait_for_url(re.compile(r"/-/edition/demo/digest-210$"))
    assert page.locator("p.legend").count() == 0  # the same on both sites: no legend
    page.locator("nav.edition-nav.top a[rel=prev]").click()
    page.wait_for_url(re.compile(r"/-/edition/demo/digest-209$"))
    page.locator("nav.edition-nav.top a[rel=prev]").click()
    page.wait_for_url(re.compile(r"/-/edition/demo/digest-208$"))


def test_from_a_digest_to_its_edition_and_back(page):
    page.goto("/demo/digests?number=200")
    page.locator("a.digest-view").first.click()
    page.wait_for_url(re.compile(r"/-/digest/demo/\d+$"))
    digest_url = page.url
    site = page.locator("article.digest strong.site").inner_text()
    assert site in ("Nejat Society", "Iran Interlink")  # the site's own name, never its host and port
    assert page.locator("article.digest .entry").count() == 9
    shot(page, "4-digest-200", full_page=True)
    page.locator("article.digest a.edition-link").click()
    page.wait_for_url(re.compile(r"/-/edition/demo/digest-200$"))
    assert site in page.locator("table.sources").inner_text()
    page.go_back()
    page.wait_for_url(digest_url)
    assert page.locator("article.digest h1").inner_text() == "Iran Interlink Weekly Digest \u2013 200"


def test_the_editions_table_and_the_series_report(page):
    page.goto("/demo/editions?_sort=number")
    assert page.locator(".facet-info[data-column='sites']").count() == 1
    shot(page, "5-editions")
    page.locator("a.edition-view", has_text=re.compile(r"\u2013 213$")).first.click()
    page.wait_for_url(re.compile(r"/-/edition/demo/digest-213(-2)?$"))
    page.goto("/-/report/demo")
    assert "digest-167" in page.content() or "167" in page.locator(".content").inner_text()
    shot(page, "6-series-report", full_page=True)


# --- the layout (issue 27): what a reader saw in Chromium ------------------------------------------------

# How many lines an element's text takes: its line boxes, as the browser laid them out.
LINES = """element => {
  const range = document.createRange();
  range.selectNodeContents(element);
  return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
}"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and (a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])
    )


def test_a_post_as_published_and_how_it_changed(page, demo_archive):
    """From an edition to its post as the site served it (sanitised, in a sandbox where nothing runs) and to
    how it changed: the demo recovered an older version of digest 210 from a capture."""
    page.goto("/-/edition/demo/digest-210")
    page.locator("a.as-published").first.click()
    page.wait_for_url(re.compile(r"/-/published/demo/\d+$"))
    assert page.locator("section.published-banner").is_visible()
    frame = page.locator("iframe.published-page")
    assert frame.get_attribute("sandbox") == ""
    assert "210" in page.frame_locator("iframe.published-page").locator("body").inner_text()
    page.goto("/-/edition/demo/digest-210")
    page.locator("a.revisions-link").first.click()
    page.wait_for_url(re.compile(r"/-/revisions/demo/\d+$"))
    changes = page.locator("article.revisions section.change")
    assert changes.count() >= 1
    assert page.locator("article.revisions ins, article.revisions del, article.revisions p.added").count() >= 1
    assert not re.search(r"127\.0\.0\.1:\d+(?![\d/])", re.sub(r"https?://\S+", " ", page.locator("body").inner_text()))


def test_an_edition_page_offers_its_citation(page):
    """The citation block a researcher copies from: APA and BibTeX naming the site, the archived-on date and
    the original address; the page also carries a canonical address for Zotero."""
    page.goto("/-/edition/demo/digest-209")
    citation = page.locator("section.citation")
    citation.scroll_into_view_if_needed()
    assert citation.is_visible()
    text = citation.inner_text()
    assert "Iran Interlink Weekly Digest" in text and "@" in text  # the APA line and the BibTeX entry
    assert not re.search(r"127\.0\.0\.1:\d+(?![\d/])", re.sub(r"https?://\S+", " ", text))
    assert page.locator("link[rel=canonical]").count() == 1
    citation.screenshot(path=str(SHOTS / "8-citation.png"))


@pytest.mark.parametrize("width", [1280, 900])
def test_the_search_box_overlaps_no_other_label(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    try:
        page.goto("/-/search/demo?q=Albania")
        box = page.locator(".reader-search-page input[name=q]").bounding_box()
        labels = page.locator(".reader-search-page form.search-form label:not(.query)")
        assert labels.count() >= 5
        for n in range(labels.count()):
            assert not _overlap(box, labels.nth(n).bounding_box()), labels.nth(n).inner_text()
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_dates_are_on_one_line_and_titles_have_room(page):
    page.set_viewport_size({"width": 1024, "height": 900})
    try:
        page.goto("/demo/editions")
        dates = page.locator("td.col-issue_date, td.col-first_published, td.col-first_seen, td.col-updated")
        assert dates.count() > 20
        assert {dates.nth(n).evaluate(LINES) for n in range(dates.count()) if dates.nth(n).inner_text().strip()} == {1}
        titles = page.locator("td.col-title a")
        heights = [titles.nth(n).bounding_box()["height"] for n in range(titles.count())]
        one_line = page.locator("td.col-year").first.bounding_box()["height"]  # a cell of one line, padding aside
        assert max(heights) <= 3.5 * page.locator("td.col-title a").first.evaluate(
            "a => parseFloat(getComputedStyle(a).lineHeight) || parseFloat(getComputedStyle(a).fontSize) * 1.2"
        ), (heights, one_line)
        page.goto("/-/search/demo?q=Albania")
        for n in range(page.locator("li.hit .reader-date").count()):
            assert page.locator("li.hit .reader-date").nth(n).evaluate(LINES) == 1
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_dated_edition_shows_its_date_not_a_missing_number(page):
    page.goto("/-/edition/demo/2021-11-26")
    meta = page.locator("article.edition p.meta").inner_text()
    assert "none" not in meta.lower() and "Number" not in meta
    assert "2021-11-26" in meta
    assert page.locator("article.edition table.sources td.site").inner_text() == "Iran Interlink"


@pytest.mark.parametrize("path", ["/demo", "/demo/editions", "/-/edition/demo/digest-209", "/-/search/demo?q=camp"])
def test_the_footer_names_datasettes_version_and_pages_name_sites(page, path):
    page.goto(path)
    version = page.locator("footer a[href='https://datasette.io/']").get_attribute("title")
    assert re.fullmatch(r"Datasette v\d+\.\d+.*", version), version
    text = re.sub(r"https?://\S+", " ", page.locator("body").inner_text())
    assert not re.search(r"127\.0\.0\.1:\d+(?![\d/])", text)


def test_a_capture_opens_at_its_timestamped_address_with_its_banner(page, demo_archive):
    """A capture the demo's link check wrote, opened by its lasting address (reader/replay.py): the banner
    says when, what and with what status, and lists the editions citing it; the page is below it, framed
    in a sandbox where none of its scripts runs; a year alone redirects to the nearest capture."""
    captured = rows(
        demo_archive,
        "SELECT url, captured_at FROM link_targets WHERE capture_warc IS NOT NULL AND http_status = 200 "
        "ORDER BY (SELECT count(*) FROM links l WHERE l.url = link_targets.url) DESC, id LIMIT 1",
    )
    assert captured, "the demo's link check captured nothing"
    url, captured_at = captured[0]["url"], captured[0]["captured_at"]
    from storage.replay import timestamp_of

    stamp = timestamp_of(captured_at)
    page.goto(f"/-/capture/demo/{stamp}/{url}")
    banner = page.locator("section.capture-banner")
    assert banner.is_visible()
    assert banner.locator("dd.original-url a").get_attribute("href") == url
    assert banner.locator("dd.http-status").inner_text().strip() == "200"
    assert banner.locator("dd.captured-at").inner_text().startswith(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}")
    assert banner.locator("a.citing-edition").count() >= 1
    assert banner.locator("span.this-capture").count() == 1
    frame = page.locator("iframe.captured-page")
    assert frame.get_attribute("sandbox") == ""
    body = page.frame_locator("iframe.captured-page").locator("body")
    assert body.inner_text().strip()  # the captured page shows, in its sandbox
    shot(page, "9-capture-banner")
    # A year alone: the nearest capture, at its own timestamp.
    page.goto(f"/-/capture/demo/{stamp[:4]}/{url}")
    assert re.search(r"/-/capture/demo/\d{14}/", page.url)
    assert page.locator("section.capture-banner").is_visible()
    # The edition citing it, from the banner.
    page.locator("a.citing-edition").first.click()
    page.wait_for_url(re.compile(r"/-/edition/demo/"))
    assert page.locator("article.edition").is_visible()
