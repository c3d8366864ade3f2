"""Scrapy's log lines for errors, with the run in charge of them.

An exception in a callback or a pipeline reaches the run through Scrapy's `spider_error` and
`item_error` signals (crawler/run.py `RunOwner.crashed`), which records it, logs one ERROR line and
stops the crawl. Scrapy's own line for it, with the traceback, is kept at DEBUG, and never prints
the item (a digest is thousands of characters).
"""

from __future__ import annotations

import logging

from scrapy.logformatter import LogFormatter


class RunLogFormatter(LogFormatter):
    def item_error(self, item, exception, response, spider):
        return {
            "level": logging.DEBUG,
            "msg": "Error processing a %(item_type)s item",
            "args": {"item_type": type(item).__name__},
        }

    def spider_error(self, failure, request, response, spider):
        entry = super().spider_error(failure, request, response, spider)
        return {**entry, "level": logging.DEBUG}
