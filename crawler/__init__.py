"""Scrapy glue: the run owner, pipelines, middlewares, settings and the `crawl` command.

The rules it applies live in `core`, the statements it runs in `storage`."""
