"""`scrapy crawl`, as Scrapy's own, but exiting with the runs' verdict, and crawling every listing the
project knows when no `-a start_url=` is given.

Scrapy's `crawl` exits 0 whatever happened inside the run. Here the exit code is the run's
(`core.exit_codes`): 0 finished, 1 the run failed because of the site, 2 a bad argument or
DATABASE, 3 another job of the same kind holds the archive (a crawl, or a link check), 4 a storage
error, 5 interrupted, 6 an unexpected error.
With several listings (`DIGEST_LISTINGS`: nejatngo.org and iran-interlink.org) they are crawled one
after the other into the same archive file, each its own run; the exit code is the highest of theirs,
and a stop (SIGTERM, Ctrl-C) ends the sequence. A spider whose `crawls_each_listing` is False
(`links`) runs once over the archive file.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import inlineCallbacks

from core.exit_codes import MEANINGS, ExitCode
from crawler.config import BadSetting, listing_urls
from crawler.run import (
    CRASHED_EXIT_CODE,
    INTERRUPTED_EXIT_CODE,
    RUN_FAILED_EXIT_CODE,
    USAGE_EXIT_CODE,
    exit_code_of,
)

logger = logging.getLogger(__name__)


class Command(ScrapyCrawlCommand):
    def run(self, args, opts) -> None:
        if len(args) != 1:
            raise UsageError("give one spider: scrapy crawl digests")
        spider_name = args[0]
        process, settings = self.crawler_process, self.settings
        if process is None or settings is None:
            raise UsageError("scrapy crawl runs inside a Scrapy project")
        try:
            # Before the reactor starts: an unknown name must end the process, not leave it waiting.
            spider_class = process.spider_loader.load(spider_name)
        except KeyError:
            known = ", ".join(process.spider_loader.list())
            logger.error("No spider named %r: this project has %s (scrapy crawl digests)", spider_name, known)
            self.exitcode = USAGE_EXIT_CODE
            return
        try:
            listings = listing_urls(settings)
        except BadSetting as error:
            # Before any run, in the spiders' one-line form (they would refuse it too, once built).
            print(f"{spider_name}: error: {error}", file=sys.stderr, flush=True)
            self.exitcode = USAGE_EXIT_CODE
            return
        start_urls: list[str | None]
        if not getattr(spider_class, "crawls_each_listing", True):
            start_urls = [None]  # `links`: one run over the archive file
        elif "start_url" in opts.spargs or not listings:
            start_urls = [opts.spargs.pop("start_url", None)]
        else:
            start_urls = list(listings)
        crawlers = []
        unexpected: list[BaseException] = []

        @inlineCallbacks
        def one_after_another():
            try:
                for start_url in start_urls:
                    crawler = process.create_crawler(spider_name)
                    crawlers.append(crawler)
                    arguments = dict(opts.spargs, **({"start_url": start_url} if start_url else {}))
                    # A Deferred (CrawlerProcess) or an asyncio task (AsyncCrawlerProcess): wait for either.
                    yield deferred_from_coro(process.crawl(crawler, **arguments))
                    if exit_code_of(crawler) == INTERRUPTED_EXIT_CODE:
                        break  # stopped by SIGTERM or Ctrl-C: not on to the next listing
            except Exception as error:  # becomes the exit code, in one line
                unexpected.append(error)
                logger.error("Unexpected %s: %s; stopping", type(error).__name__, error)
                logger.debug("Traceback of the unexpected error", exc_info=error)
            finally:
                # Whether the reactor runs yet or not: stop it as soon as it can be.
                _reactor().callWhenRunning(_reactor().callLater, 0, _stop_reactor)

        one_after_another()
        process.start(stop_after_crawl=False)
        codes = [exit_code_of(crawler) for crawler in crawlers]
        if unexpected:
            codes.append(CRASHED_EXIT_CODE)
        if None in codes or process.bootstrap_failed:
            # A crawler whose run never opened decided nothing: that is not a success.
            codes.append(RUN_FAILED_EXIT_CODE)
        # No run at all (nothing to crawl) is not a success either.
        self.exitcode = max((code for code in codes if code is not None), default=RUN_FAILED_EXIT_CODE)
        # The verdict, last and in one line, where cron mail and a terminal show it (each run's own summary
        # came before Scrapy's stats).
        logger.info("Verdict of scrapy crawl %s: exit %d, %s", spider_name, self.exitcode, _meaning(self.exitcode))


def _meaning(code: int) -> str:
    try:
        return MEANINGS[ExitCode(code)]
    except ValueError:
        return "an exit code outside the table"


def _reactor() -> Any:
    """The installed reactor (imported late: Scrapy installs the one its settings name first)."""
    from twisted.internet import reactor

    return reactor


def _stop_reactor() -> None:
    if _reactor().running:
        _reactor().stop()
