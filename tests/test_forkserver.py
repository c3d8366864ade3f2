"""The fork server's `scrapy` (tests/forkserver.py) is `python -m scrapy` as a subprocess runs it: the
same output and exit code, the test's environment, a process of its own that signals and timeouts reach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from fixtures.site import CATEGORY_PATH

from .conftest import REPO, ScrapyPopen, crawl_command, run_scrapy

SCRAPY = [sys.executable, "-m", "scrapy"]


def subprocess_scrapy(command: list[str], env=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["settings", "--get", "BOT_NAME"], ["list"], ["no-such-command"]])
def test_the_same_output_and_exit_code_as_a_subprocess(args):
    forked, spawned = run_scrapy([*SCRAPY, *args]), subprocess_scrapy([*SCRAPY, *args])
    assert (forked.returncode, forked.stdout, forked.stderr) == (spawned.returncode, spawned.stdout, spawned.stderr)


def test_the_child_gets_the_tests_environment():
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="scrapy.settings.default_settings")
    command = [*SCRAPY, "settings", "--get", "BOT_NAME"]
    assert run_scrapy(command, env=env).stdout == subprocess_scrapy(command, env=env).stdout == "scrapybot\n"
    assert run_scrapy(command).stdout == "digest-archive\n"  # the variable went with that one crawl only


def test_a_crawl_is_a_process_of_its_own_that_signals_and_timeouts_reach(tmp_path, site_server):
    site_server.delay = 10  # every post hangs: the crawl runs until it is stopped
    command = crawl_command(site_server.url(CATEGORY_PATH), tmp_path / "a.db", "-a", "mode=backfill")
    crawl = ScrapyPopen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert crawl.pid not in (os.getpid(), os.getppid())
    with pytest.raises(subprocess.TimeoutExpired):
        crawl.wait(timeout=1)
    crawl.send_signal(signal.SIGKILL)
    assert crawl.wait(timeout=30) == -signal.SIGKILL
    crawl.stderr.close()

    with pytest.raises(subprocess.TimeoutExpired):
        run_scrapy(crawl_command(site_server.url(CATEGORY_PATH), tmp_path / "b.db", "-a", "mode=backfill"), timeout=1)
    # run_scrapy killed and reaped its crawl: no process of the fork server is left running one.
    running = [name for name in os.listdir("/proc") if name.isdigit() and _is_fork_server_child_of(name, os.getpid())]
    assert running == []


def _is_fork_server_child_of(pid: str, worker: int) -> bool:
    """A process whose parent is a child of the worker, and which runs (not a zombie)."""
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        parent_stat = open(f"/proc/{stat[1]}/stat").read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return parent_stat[1] == str(worker) and stat[0] != "Z"
