"""`scrapy crawl`, as Scrapy's own, but exiting with the runs' verdict, and crawling every archive the
project knows when no `-a start_url=` is given.

Scrapy's `crawl` exits 0 whatever happened inside the run. Here the exit code is the run's
(`crawler.run.EXIT_CODES`): 0 finished, 1 the run failed because of the site, 2 a bad argument or
DATABASE, 3 another crawl holds the archive, 4 a storage error, 5 interrupted. With several archives
(`DIGEST_ARCHIVES`: nejatngo.org and iran-interlink.org) they are crawled one after the other into
the same archive file, each its own run; the exit code is the highest of theirs, and a stop
(SIGTERM, Ctrl-C) ends the sequence.
"""

from __future__ import annotations

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import inlineCallbacks

from crawler.run import INTERRUPTED_EXIT_CODE, CrawlRun


class Command(ScrapyCrawlCommand):
    def run(self, args, opts) -> None:
        if len(args) != 1:
            raise UsageError("give one spider: scrapy crawl digests")
        spider_name = args[0]
        archives = [url for url in self.settings.getlist("DIGEST_ARCHIVES") if url.strip()]
        if "start_url" in opts.spargs or not archives:
            start_urls = [opts.spargs.pop("start_url", None)]
        else:
            start_urls = archives
        crawlers = []

        @inlineCallbacks
        def one_after_another():
            try:
                for start_url in start_urls:
                    crawler = self.crawler_process.create_crawler(spider_name)
                    crawlers.append(crawler)
                    arguments = dict(opts.spargs, **({"start_url": start_url} if start_url else {}))
                    # A Deferred (CrawlerProcess) or an asyncio task (AsyncCrawlerProcess): wait for either.
                    yield deferred_from_coro(self.crawler_process.crawl(crawler, **arguments))
                    if CrawlRun.exit_code_of(crawler) == INTERRUPTED_EXIT_CODE:
                        break  # stopped by SIGTERM or Ctrl-C: not on to the next archive
            finally:
                from twisted.internet import reactor

                if reactor.running:
                    reactor.callLater(0, reactor.stop)

        one_after_another()
        self.crawler_process.start(stop_after_crawl=False)
        codes = [CrawlRun.exit_code_of(crawler) for crawler in crawlers]
        if self.crawler_process.bootstrap_failed and not any(codes):
            self.exitcode = 1
        else:
            self.exitcode = max(codes, default=0)
