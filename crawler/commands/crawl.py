"""`scrapy crawl`, as Scrapy's own, but exiting with the run's verdict so that cron and systemd notice.

Scrapy's `crawl` exits 0 whatever happened inside the run. Here the exit code is the run's
(`crawler.run.EXIT_CODES`): 0 finished, 1 the run failed because of the site, 2 a bad argument or
DATABASE, 3 another crawl holds the archive, 4 a storage error, 5 interrupted.
"""

from __future__ import annotations

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.run import CrawlRun


class Command(ScrapyCrawlCommand):
    crawler = None

    def _create_crawler(self, spname):
        self.crawler = super()._create_crawler(spname)
        return self.crawler

    def run(self, args, opts) -> None:
        super().run(args, opts)
        if not self.exitcode and self.crawler is not None:
            self.exitcode = CrawlRun.exit_code_of(self.crawler)
