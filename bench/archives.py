"""Archives of a given size for the offline tools' and the reader's benchmarks, built without a crawl.

- `stored_archive(path, posts)`: the fixture site's generated posts as a crawl leaves them: every page
  kept (compressed) and its digest stored, written by the storage layer in batches as a crawl does (the
  pages are parsed once here: `reparse` parses them again).
- `matching_archive(path, posts)`: `posts` digests on two sites, most of them twins (the same entries a
  day apart, one entry reworded every third issue), a few on one site only, written straight into the
  schema (matching reads only the digests' rows).
"""

from __future__ import annotations

import re
import zlib
from datetime import timedelta
from pathlib import Path

import storage
from core.items import FetchedPage
from core.parsing import parse_digest
from core.urls import post_key
from fixtures.site import ORIGIN, build_site, generated_posts

_MARKUP = re.compile(r"\[\[(.+?)\|.+?\]\]")
NOW = "2026-01-01T00:00:00+00:00"


def stored_archive(path: Path, posts: int) -> Path:
    site = build_site(generated_posts(posts))
    db = storage.open_database(path)
    batch = storage.WriteBatch(db, max_items=200, max_seconds=60)
    for post in site.posts:
        body = site.pages[post.path].body
        page = FetchedPage(post.url, 200, "text/html; charset=utf-8", None, None, body)
        digest = parse_digest(post.url, body)
        batch.write(lambda db, page=page: storage.save_page(db, page, now=NOW))
        batch.write(lambda db, digest=digest: storage.save_digest(db, digest, now=NOW))
    batch.commit()
    storage.update_editions(db)  # as a crawl leaves an archive: its digests matched into editions
    db.close()
    return path


def matching_archive(path: Path, posts: int) -> Path:
    db = storage.open_database(path)
    db.close()
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    rows = []
    twins = posts // 2
    for post in generated_posts(twins + posts % 2):
        text = "\n\n".join(_MARKUP.sub(r"\1", " ".join(entry.paragraphs)) for entry in post.entries)
        published = post.published.isoformat()
        rows.append(("nejatngo.org", f"{ORIGIN}{post.path}", post.post_id, post.number, post.title, published, text))
        if len(rows) < posts:
            twin_text = text if post.number % 3 else text.replace(" the ", " a ", 2)
            twin_day = (post.published + timedelta(days=1)).isoformat()
            twin_url = f"https://www.iran-interlink.org/wordpress/digest-{post.number}/"
            title = f"Iran Interlink Weekly Digest \u2013 {post.number if post.number % 50 else post.number + 1}"
            rows.append(("iran-interlink.org", twin_url, post.post_id, post.number, title, twin_day, twin_text))
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO digests (site, url, url_key, post_id, number, title, published, year, text, entry_count, "
        "link_count, content_hash, first_seen, last_seen, last_changed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?)",
        [
            (site, url, post_key(url), post_id, number, title, day, int(day[:4]), text, f"h{n}", NOW, NOW, NOW)
            for n, (site, url, post_id, number, title, day, text) in enumerate(rows)
        ],
    )
    connection.execute("COMMIT")
    connection.close()
    return path


def page_bodies(path: Path) -> list[tuple[str, bytes]]:
    """The kept pages of an archive, decompressed (what `reparse` reads)."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        return [(url, zlib.decompress(body)) for url, body in connection.execute("SELECT url, body FROM pages")]
    finally:
        connection.close()
