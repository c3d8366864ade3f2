"""The project on a real scrapyd: egg built by scrapyd-client, uploaded, `digests` scheduled, rows checked."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from fixtures.server import FixtureServer
from fixtures.site import CATEGORY_PATH, build_site

from ..conftest import REPO, get_json, rows

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PROJECT = "digest_archive"  # as in scrapy.cfg's [deploy] target


def _start_scrapyd(folder: Path, port: int) -> subprocess.Popen | None:
    """scrapyd on `port`, or None when it did not come up (another process took the port first)."""
    (folder / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
        f"eggs_dir = {folder / 'eggs'}\nlogs_dir = {folder / 'logs'}\ndbs_dir = {folder / 'dbs'}\n"
        "items_dir =\nmax_proc = 1\npoll_interval = 0.5\n"
    )
    process = subprocess.Popen([str(BIN / "scrapyd")], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        try:
            get_json(f"http://127.0.0.1:{port}/daemonstatus.json")
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    process.wait(timeout=10)
    return None


@pytest.fixture()
def scrapyd(tmp_path):
    # scrapyd cannot listen on port 0 and report it: take a port the OS says is free, and take
    # another if something grabbed it before scrapyd could.
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = _start_scrapyd(tmp_path, port)
        if process is not None:
            break
    else:
        pytest.fail("scrapyd did not start")
    yield f"http://127.0.0.1:{port}", tmp_path
    process.terminate()
    process.wait(timeout=10)


def test_a_scheduled_crawl_on_scrapyd_fills_the_archive(scrapyd, tmp_path, fixture_posts):
    base, folder = scrapyd
    egg = folder / "digest_archive.egg"
    subprocess.run(
        [str(BIN / "scrapyd-deploy"), "--build-egg", str(egg)], cwd=REPO, check=True, capture_output=True, timeout=120
    )
    with open(egg, "rb") as handle:
        added = requests.post(
            f"{base}/addversion.json", data={"project": PROJECT, "version": "1"}, files={"egg": handle}, timeout=30
        ).json()
    assert added["status"] == "ok", added
    assert get_json(f"{base}/listspiders.json?project={PROJECT}")["spiders"] == ["digests", "links"]

    database = tmp_path / "scrapyd-archive.db"
    with FixtureServer(build_site(fixture_posts)) as site:
        params = [
            ("project", PROJECT),
            ("spider", "digests"),
            ("start_url", site.url(CATEGORY_PATH)),
            ("mode", "backfill"),
            ("setting", f"DATABASE={database}"),
            ("setting", "AUTOTHROTTLE_ENABLED=False"),
            ("setting", "DOWNLOAD_DELAY=0"),
        ]
        scheduled = requests.post(f"{base}/schedule.json", data=params, timeout=30).json()
        assert scheduled["status"] == "ok", scheduled
        job = scheduled["jobid"]
        deadline = time.monotonic() + 120
        while True:
            jobs = get_json(f"{base}/listjobs.json?{urllib.parse.urlencode({'project': PROJECT})}")
            if any(j["id"] == job for j in jobs["finished"]):
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.5)

    assert rows(database, "SELECT count(*) AS n FROM digests")[0]["n"] == sum(p.stored for p in fixture_posts)
    run = rows(database, "SELECT mode, status, new, failed FROM crawl_runs")[0]
    assert run == {"mode": "backfill", "status": "finished", "new": sum(p.stored for p in fixture_posts), "failed": 2}
    log = next((folder / "logs" / PROJECT / "digests").glob(f"{job}.log")).read_text()
    assert "Crawl run 1 finished" in log and "Traceback" not in log
