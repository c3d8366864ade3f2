"""What every path of the `digests` spider works from, and what each path is."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from core.modes import Mode
from crawler.harvest import HarvestRun


@dataclass(frozen=True)
class Crawl:
    """The crawl of one listing, as the paths see it: its start URL, the mode, the run they report to,
    and the spider's logger (so that their lines still name the spider)."""

    start_url: str
    mode: Mode
    run: HarvestRun
    logger: logging.LoggerAdapter[Any]


class Path:
    """One way through a listing: the callbacks of its requests (named in `CALLBACKS`, which the spider
    takes as its own attributes) and the requests it decides to make."""

    CALLBACKS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, crawl: Crawl) -> None:
        self.crawl = crawl
        # Scrapy checks each generator callback for a `return` with a value (inspect.getsource and
        # ast.parse), remembering the answer by the callback object in a weak dictionary; `self.parse_post`
        # is a new bound method at every access, dropped with its request, so the check ran again for about
        # one post in five. One bound method per callback, kept here for the path's life, keeps its answer.
        for name in self.CALLBACKS:
            setattr(self, name, getattr(self, name))


def header(response, name: str) -> str | None:
    """A response header as text (HTTP headers are Latin-1), or None when it was not sent."""
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
