"""Project commands for `scrapy`: `crawl` exits non-zero when the run failed."""
