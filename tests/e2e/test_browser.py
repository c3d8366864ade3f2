"""A reader in a real browser: headless Chromium (Debian's) driven by Playwright over `digest-archive serve`.

Run with `make test-e2e`. Screenshots go to test-output/screenshots/ (DIGEST_SCREENSHOTS=docs/screenshots
to refresh the ones the README shows).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest


from ..conftest import REPO, start_datasette

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / os.environ.get("DIGEST_SCREENSHOTS", "test-output/screenshots")
# As root in a container, Chromium needs --no-sandbox; the rest keep it off this machine's closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def served_archive(backfilled_template):
    server, base = start_datasette(backfilled_template.database)
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


def test_a_reader_browses_the_archive(page):
    # The digests, sorted by number: the oldest spellings first.
    page.goto("/archive/digests?_sort=number")
    assert page.locator("h1").first.inner_text().strip() == "digests"
    page.locator("a", has_text="Show only number, title, date and counts").click()
    page.wait_for_url(re.compile(r"_col=title"))
    numbers = page.locator("table.rows-and-columns td.col-number").all_inner_texts()
    assert numbers[:3] == ["6", "7", "54"]
    assert "Iran-Interlink Weekly Digest- 6" in page.locator("table.rows-and-columns").inner_text()
    shot(page, "1-digests-by-number")

    # One digest, read like the original post.
    page.locator("a.digest-view", has_text=re.compile(r"Digest \u2013 200$")).click()
    page.wait_for_url(re.compile(r"/-/digest/archive/\d+$"))
    assert page.locator("article.digest h1").inner_text() == "Iran Interlink Weekly Digest \u2013 200"
    assert page.locator("article.digest .number").inner_text() == "200"
    assert page.locator("article.digest .published").inner_text() == "2017-08-25"
    assert page.locator("article.digest h3.section").all_inner_texts() == ["In English"]
    assert page.locator("article.digest .entry").count() == 9
    entry_links = page.locator("article.digest .entry a[href^='http']")
    assert entry_links.count() == 4
    assert entry_links.first.get_attribute("href").startswith("http://www.breitbart.com/")
    assert page.locator("article.digest .dateline").inner_text() == "Iran Interlink, August 25 2017"
    shot(page, "2-digest-200", full_page=True)

    # Entries faceted by section, then filtered to one section.
    page.goto("/archive/entries")  # metadata.json makes `section` a default facet
    facet = page.locator(".facet-info[data-column='section']")
    assert facet.count() == 1
    assert "In English" in facet.inner_text()
    shot(page, "3-entries-by-section")
    facet.locator("a", has_text="In English").first.click()
    page.wait_for_url(re.compile(r"section=In\+English|section=In%20English"))
    sections = page.locator("table.rows-and-columns td.col-section").all_inner_texts()
    assert sections and set(sections) == {"In English"}

    # Links faceted by domain.
    page.goto("/archive/links")  # `domain` is a default facet too
    domains = page.locator(".facet-info[data-column='domain']").inner_text()
    assert "al-monitor.com" in domains and "saharfamily.com" in domains
    shot(page, "4-links-by-domain")

    # Full-text search over the entries.
    page.goto("/archive/entries?_search=Tirana")
    texts = page.locator("table.rows-and-columns td.col-text").all_inner_texts()
    assert texts and all("tirana" in text.lower() for text in texts)
    shot(page, "5-search-tirana")
