"""The `digest-archive` command line: one click group over storage and core (crawls run through Scrapy)."""
