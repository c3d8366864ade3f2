"""Pages of real weight for benchmarks 1 and 2: generated digests put into the WordPress test bed,
every listing and post page downloaded once in each theme, then served as saved copies by the fixture
server (PHP's built-in server renders a WordPress page in tens of milliseconds; serving the saved bytes
keeps the server's own cost out of the comparison, as for the other figures).
"""

from __future__ import annotations

import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fixtures.site import Page, Site, generated_posts
from fixtures.wordpress.content import DIGEST_CATEGORY, as_wordpress_post
from fixtures.wordpress.testbed import MariaDB, WordPress, missing_packages

DAY_AND_NAME = "/%year%/%monthnum%/%day%/%postname%/"
# What the bare spider follows in each theme: post title links and the "next page" link.
THEMES = {
    "twentytwentyone": ("h2.entry-title a", "a.next"),
    "twentytwentythree": ("h2.wp-block-post-title a", "a.wp-block-query-pagination-next"),
}


@dataclass
class SavedListing:
    theme: str
    site: Site
    start_path: str
    post_paths: list[str]
    post_css: str
    next_css: str

    def mean_kb(self, paths: list[str]) -> float:
        return sum(len(self.site.pages[path].body) for path in paths) / len(paths) / 1024


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def saved_listings(posts: int) -> list[SavedListing] | None:
    """The test bed's category listing of `posts` generated digests, saved in each theme; None when it is
    not installed."""
    if missing_packages():
        return None
    listings = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-wp-") as root,
        MariaDB(Path(root) / "db") as mariadb,
        WordPress(mariadb, Path(root) / "site") as wordpress,
    ):
        digests = generated_posts(posts)
        wordpress.insert([as_wordpress_post(post) for post in digests])
        for theme, (post_css, next_css) in THEMES.items():
            wordpress.configure(theme=theme, permalinks=DAY_AND_NAME)
            found = wordpress.lookup(categories=[DIGEST_CATEGORY], posts=[p.post_id for p in digests])
            category = found["category"][0]["link"]
            pages_count = -(-len(digests) // 10)
            urls = [category] + [f"{category}page/{n}/" for n in range(2, pages_count + 1)]
            post_urls = [post["link"] for post in found["posts"]]
            with ThreadPoolExecutor(max_workers=4) as pool:
                bodies = list(pool.map(_get, urls + post_urls))
            pages = {urlsplit(url).path: Page(body) for url, body in zip(urls + post_urls, bodies, strict=True)}
            listings.append(
                SavedListing(
                    theme,
                    Site(pages=pages, origins=(wordpress.origin,)),
                    urlsplit(category).path,
                    [urlsplit(url).path for url in post_urls],
                    post_css,
                    next_css,
                )
            )
    return listings
