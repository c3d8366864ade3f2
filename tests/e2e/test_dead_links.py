"""The dead-links page in a real browser: headless Chromium driven by Playwright over `digest-archive serve`, on
the demo archive (`make demo`) whose links the real link check then checked twice more, as weeks later, after
one host that lived at the demo's check (and was captured then) had gone. A reader filters the dead links,
follows one to our capture of it, and goes from a dead link to the edition that cites it.

Run with `make test-e2e`; the screenshot goes to test-output/screenshots/ (`make screenshots`: docs/screenshots).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.demo import links_command
from fixtures.web import Host, StandInWeb, fixture_archive_web

from ..conftest import REPO, rows, start_datasette
from .test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, shot

pytestmark = pytest.mark.e2e

DIED_SINCE = "www.middleeasteye.net"  # "ok" in the demo's stand-in web: captured by the demo's check


@pytest.fixture(scope="module")
def checked_demo(tmp_path_factory) -> Path:
    database = tmp_path_factory.mktemp("dead-links") / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "fixtures.demo", "--db", str(database)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Weeks later: the host is gone, twice (the demo's own archives stay reachable straight, not proxied).
    with StandInWeb({**fixture_archive_web(), DIED_SINCE: Host("gone")}) as web:
        env = dict(os.environ, **web.proxy_env(no_proxy="127.0.0.1"))
        for _ in range(2):
            again = ["-s", "DIGEST_LINK_DEAD_DAYS=0", "-s", "DIGEST_LINK_RECHECK_DAYS=0", "-s", "DOWNLOAD_DELAY=0"]
            check = subprocess.run(
                links_command(database, *again), cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    return database


@pytest.fixture(scope="module")
def page(checked_demo):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/install-browser.sh (make test-e2e does)")
    from playwright.sync_api import sync_playwright

    server, base = start_datasette(checked_demo)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
            yield context.new_page()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_reader_filters_the_dead_links_and_follows_one_to_our_capture(page, checked_demo):
    page.goto("/-/report/demo")
    page.locator(".series-report a", has_text="dead links").first.click()
    page.wait_for_url(re.compile(r"/-/links/demo$"))
    total = page.locator("tr.dead-link").count()
    dead = page.locator(".filter-state a", has_text=re.compile(r"^dead$"))
    expected = int(dead.get_attribute("data-count"))
    dead.click()
    page.wait_for_url(re.compile(r"/-/links/demo\?state=dead$"))
    assert page.locator("tr.dead-link").count() == expected < total + 1
    assert page.locator("tr.dead-link.failing").count() == 0
    # Every reason in words, never "dead" alone.
    reasons = set(page.locator("tr.dead-link .reason").all_inner_texts())
    assert reasons and "dead" not in reasons and reasons <= {"gone", "soft-404", "server error", "unreachable"}
    shot(page, "7-dead-links", full_page=True)

    row = page.locator("tr.dead-link", has=page.locator(".url", has_text="middleeasteye.net")).first
    assert row.locator(".reason").inner_text() == "gone"
    captured_on = row.locator("a.our-copy + .note").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", captured_on)
    original = row.locator(".url").inner_text()
    row.locator("a.our-copy").click()
    page.wait_for_load_state()
    # Our capture of the page while it lived, under its banner: the stand-in host's page, as the demo's check
    # fetched it, framed in a sandbox.
    page.wait_for_url(re.compile(r"/-/capture/demo/\d{14}/http"))
    assert page.locator("section.capture-banner").is_visible()
    framed = page.frame_locator("iframe.captured-page").locator("body")
    assert "Version 1 of" in framed.inner_text()
    assert (
        original.split("middleeasteye.net", 1)[1].split("?")[0] in page.locator("section.capture-banner").inner_text()
    )
    page.go_back()
    page.wait_for_url(re.compile(r"/-/links/demo\?state=dead$"))

    # From the dead link to the edition that cites it, at the entry, where the link is struck through.
    citing = row.locator("a.cited-by").first
    href = citing.get_attribute("href")
    citing.click()
    page.wait_for_url(re.compile(r"/-/edition/demo/[^#]+#entry-\d+$"))
    entry = page.locator(f".entry:has(#{href.split('#')[1]})")
    assert entry.locator("a.link-dead").count() >= 1
    stored = rows(checked_demo, "SELECT count(*) AS n FROM link_targets WHERE dead_since IS NOT NULL")[0]["n"]
    assert expected == stored
