"""`scrapy crawl`, as Scrapy's own, but a run recorded as failed exits 1 so that cron and systemd notice.

Scrapy's `crawl` exits 0 whatever happened inside the run. Exit codes here: 0 finished, 1 the run
failed (the archive index could not be read, layout drift), 2 bad arguments or an unusable
DATABASE, 3 another crawl holds the archive.
"""

from __future__ import annotations

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.config import STATS_PREFIX

RUN_FAILED_EXIT_CODE = 1


class Command(ScrapyCrawlCommand):
    crawler = None

    def _create_crawler(self, spname):
        self.crawler = super()._create_crawler(spname)
        return self.crawler

    def run(self, args, opts) -> None:
        super().run(args, opts)
        stats = getattr(self.crawler, "stats", None)
        if not self.exitcode and stats is not None and stats.get_value(f"{STATS_PREFIX}/run_status") == "failed":
            self.exitcode = RUN_FAILED_EXIT_CODE
