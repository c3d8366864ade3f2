"""Pure parsers: `(url, html) -> typed item`. No Scrapy, no network, no clock."""

from .digest import parse_digest
from .errors import ParseError
from .listing import parse_listing

__all__ = ["ParseError", "parse_digest", "parse_listing"]
