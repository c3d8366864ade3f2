"""The three ways the `digests` spider reads a listing, and the posts they lead to, one class each.

    FeedPath   the listing's feed, asked conditionally: has anything changed on the site?
    RestPath   the REST index, 100 posts a request with their modification times; the sample check
    HtmlPath   the HTML listing, page by page: the fallback, always works
    PostPath   the digest posts, whichever index listed them; re-checks of stored ones

The spider (spiders/digests.py) builds one of each, chooses the first path and hands the REST path's
failure over to the HTML path. Like the spider, they only decide what to fetch: the parsers read pages,
the pipelines store, the run keeps count.
"""

from spiders.digest_paths.crawl import Crawl, Path
from spiders.digest_paths.feed import FeedPath
from spiders.digest_paths.html import HtmlPath
from spiders.digest_paths.posts import PostPath
from spiders.digest_paths.rest import RestPath

__all__ = ["Crawl", "FeedPath", "HtmlPath", "Path", "PostPath", "RestPath"]
