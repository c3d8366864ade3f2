"""Progress of a crawl: a status line on a terminal, a plain log line every so often elsewhere.

    listing 3/31 · posts 27 done of 30 listed · 1 failed · 41.2/min · ETA 6m40s

ETA counts the posts listed so far plus, when the pagination shows its last page, the posts the
remaining listing pages will name (estimated from the pages read).
"""

from __future__ import annotations

import logging
import sys

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from crawler.run import Progress, run_of

logger = logging.getLogger(__name__)

TERMINAL_INTERVAL = 0.5


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def progress_line(progress: Progress) -> str:
    """`listing 3/31 · posts 27 done of 30 listed · 1 failed · 41.2/min · ETA 6m40s · 40s elapsed`"""
    pages, last_page, listed, done = (
        progress.listing_pages,
        progress.last_page,
        progress.posts_to_handle,
        progress.posts_done,
    )
    elapsed = max(progress.elapsed, 1e-6)
    rate = done / elapsed * 60
    expected = listed
    if last_page and pages and last_page > pages:
        expected += round(listed / pages * (last_page - pages))
    eta = f"ETA {_duration((expected - done) / (rate / 60))}" if rate > 0 and expected > done else "ETA -"
    listing = f"listing {pages}/{last_page}" if last_page else f"listing {pages}"
    return (
        f"{listing} · posts {done} done of {listed} listed · {progress.failed} failed · {rate:.1f}/min · "
        f"{eta} · {_duration(elapsed)} elapsed"
    )


class CrawlProgress:
    def __init__(self, crawler, interval: float, on_terminal: bool) -> None:
        self.crawler = crawler
        self.interval = interval
        self.on_terminal = on_terminal
        self.loop: task.LoopingCall | None = None
        self.last_line = ""

    @classmethod
    def from_crawler(cls, crawler):
        mode = crawler.settings.get("DIGEST_PROGRESS")
        if mode == "off":
            raise NotConfigured
        on_terminal = mode == "terminal" or (mode == "auto" and sys.stderr.isatty())
        extension = cls(crawler, crawler.settings.getfloat("DIGEST_PROGRESS_INTERVAL"), on_terminal)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider):
        self.loop = task.LoopingCall(self.report)
        self.loop.start(TERMINAL_INTERVAL if self.on_terminal else self.interval, now=False)

    def spider_closed(self, spider, reason):
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.on_terminal and self.last_line:
            self.report()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def line(self) -> str:
        return progress_line(run_of(self.crawler).progress())

    def report(self):
        line = self.line()
        self.last_line = line
        if self.on_terminal:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()
        else:
            logger.info("Progress: %s", line)
