"""Scrapy's log lines that are routine for this project, kept off ERROR in every crawl.

Scrapy's RobotsTxtMiddleware logs an ERROR, with a traceback, when a host's robots.txt cannot be
downloaded at all (DNS, a refused or dropped connection, TLS), and then lets the host's requests through
as if it had no robots.txt. That is routine, not a fault of the crawl: in a link check the link is then
fetched, fails the same way and is recorded as `unreachable`; in a digests crawl the listing's pages are
fetched next, and if they fail too they are the run's failures, with their own lines. ERROR stays for
what needs a person's attention, so the line is kept at INFO, without the traceback.

The filter is installed by an extension (`RoutineRobotsTxtFailures`), which the add-on `EveryCrawl`
(ADDONS in crawler/settings.py) enables for every spider: a spider's own `EXTENSIONS` in its
`custom_settings` (the links spider has one) replaces the project's dict instead of adding to it, but
add-ons run after the spider's settings are applied.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

# The logger RobotsTxtMiddleware writes to (`logging.getLogger(__name__)` in its module).
ROBOTS_TXT_LOGGER = RobotsTxtMiddleware.__module__


class UnreachableRobotsTxtIsRoutine(logging.Filter):
    """RobotsTxtMiddleware's "Error downloading <robots.txt>" at INFO, without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and str(record.msg).startswith("Error downloading"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


class RoutineRobotsTxtFailures:
    """The extension: the filter on RobotsTxtMiddleware's logger for as long as the crawl's engine runs."""

    def __init__(self, crawler) -> None:
        self._logger = logging.getLogger(ROBOTS_TXT_LOGGER)
        self._filter = UnreachableRobotsTxtIsRoutine()
        self._logger.addFilter(self._filter)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler) -> RoutineRobotsTxtFailures:
        return cls(crawler)

    def engine_stopped(self) -> None:
        self._logger.removeFilter(self._filter)


class EveryCrawl:
    """The add-on that enables, for every spider whatever its own `EXTENSIONS`, the extensions every crawl
    of this project needs."""

    def update_settings(self, settings) -> None:
        settings.setdefault_in_component_priority_dict("EXTENSIONS", RoutineRobotsTxtFailures, 0)
