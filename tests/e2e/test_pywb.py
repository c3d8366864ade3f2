"""pywb, run locally: it replays the WARCs `scrapy crawl links` wrote (the replayed bytes are what the
stand-in web served), and serves as the CDX API for the archived-copy lookup of a link that died since."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fixtures.linked import archive_linking
from fixtures.web import Host, StandInWeb, answer

from ..conftest import REPO, assert_clean_run, rows
from ..test_links_spider import FAST_LINKS

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def pywb(tmp_path):
    """A pywb root with a `links` collection; `start()` serves it (after WARCs were added)."""
    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([str(BIN / "wb-manager"), "init", "links"], cwd=root, check=True, capture_output=True)
    started: list[subprocess.Popen] = []

    def add(warcs: list[Path]) -> None:
        subprocess.run(
            [str(BIN / "wb-manager"), "add", "links", *map(str, warcs)], cwd=root, check=True, capture_output=True
        )

    def start() -> str:
        for _ in range(3):  # pywb cannot listen on port 0 and say which: a free port, again if taken meanwhile
            port = _free_port()
            process = subprocess.Popen(
                [str(BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append(process)
            deadline = time.monotonic() + 30
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/links/cdx?url=x", timeout=2).read()
                    return f"http://127.0.0.1:{port}"
                except OSError:
                    time.sleep(0.3)
        raise AssertionError("pywb did not start")

    yield add, start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _links(database: Path, web: StandInWeb, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, **web.proxy_env(no_proxy="127.0.0.1,localhost"))
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST_LINKS, *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_pywb_replays_our_captures_and_finds_the_copy_of_a_link_that_died(tmp_path, pywb):
    add, start = pywb
    hosts = {"news.test": Host("ok"), "docs.test": Host("pdf")}
    first = tmp_path / "first.db"
    archive_linking(first, [("2019-09-20", ["http://news.test/2019/story", "https://docs.test/report.pdf"])])
    with StandInWeb(hosts) as web:
        assert_clean_run(_links(first, web))
    captures = sorted(first.with_name("first.captures").glob("*.warc.gz"))
    add(captures)
    base = start()

    # The replayed page is what the stand-in web served (pywb's `id_`: the bytes as captured).
    captured = rows(first, "SELECT url, captured_at FROM link_targets WHERE capture_warc IS NOT NULL ORDER BY url")
    assert len(captured) == 2
    for link in captured:
        stamp = link["captured_at"][:19].replace("-", "").replace("T", "").replace(":", "")
        with urllib.request.urlopen(f"{base}/links/{stamp}id_/{link['url']}", timeout=10) as response:
            replayed = response.read()
        served = answer(link["url"].split("/")[2], hosts[link["url"].split("/")[2]], "/" + link["url"].split("/", 3)[3])
        assert replayed == served.body

    # Later, the story is gone; a second archive citing it finds pywb's copy through the CDX API.
    hosts["news.test"].kind = "gone"
    second = tmp_path / "second.db"
    archive_linking(second, [("2030-01-01", ["http://news.test/2019/story"])])
    lookup = [
        "-s", f"DIGEST_LINK_CDX_API={base}/links/cdx", "-s", "DIGEST_LINK_CDX_LIMIT=0",
        "-s", f"DIGEST_LINK_REPLAY_PREFIX={base}/links/", "-s", "DIGEST_LINK_DEAD_DAYS=0",
        "-s", "DIGEST_LINK_CAPTURE=False",
    ]  # fmt: skip
    with StandInWeb(hosts) as web:
        assert_clean_run(_links(second, web, *lookup))
        assert_clean_run(_links(second, web, *lookup, "-s", "DIGEST_LINK_RECHECK_DAYS=0"))
    found = rows(second, "SELECT status, dead_since, archived_copy FROM link_targets")[0]
    assert found["dead_since"] and found["archived_copy"].startswith(f"{base}/links/")
    with urllib.request.urlopen(found["archived_copy"], timeout=10) as response:
        assert response.status == 200  # pywb's replay page (a frame around the copy)
    stamp, original = found["archived_copy"].removeprefix(f"{base}/links/").split("/", 1)
    with urllib.request.urlopen(f"{base}/links/{stamp}id_/{original}", timeout=10) as response:
        assert b"Version 1 of /2019/story" in response.read()  # the copy as it was captured
