"""The WordPress test bed for crawl tests (`make test-wordpress`): a private MariaDB for the session, and
WordPress installs loaded with the fixture archive's digests through wp_insert_post."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from fixtures.expected import expected_entries, wordpress_title
from fixtures.site import FixturePost
from fixtures.wordpress.content import OTHER_POSTS, as_wordpress_post, digest_posts
from fixtures.wordpress.testbed import MariaDB, WordPress, missing_packages

from ..conftest import rows

pytestmark = pytest.mark.wordpress


@pytest.fixture(scope="session")
def mariadb():
    missing = missing_packages()
    if missing:
        pytest.skip(f"WordPress test bed not installed ({', '.join(missing)}): run scripts/install-wordpress.sh")
    # A short path: a Unix socket's path may not exceed 107 bytes.
    with tempfile.TemporaryDirectory(prefix="wp-db-") as root, MariaDB(Path(root)) as server:
        yield server


@pytest.fixture(scope="session")
def wordpress_root():
    with tempfile.TemporaryDirectory(prefix="wp-sites-") as root:
        yield Path(root)


def loaded_wordpress(mariadb, root: Path, name: str, **options) -> WordPress:
    """A started WordPress holding every fixture digest and the non-digest posts (stop it when done)."""
    wordpress = WordPress(mariadb, root / name, **options).start()
    try:
        wordpress.insert([as_wordpress_post(post) for post in digest_posts()] + OTHER_POSTS)
    except BaseException:
        wordpress.stop()
        raise
    wordpress.clear_requests()
    return wordpress


@pytest.fixture(scope="session")
def wordpress(mariadb, wordpress_root):
    """One install at the server's root, shared: tests switch its theme and permalinks, never its posts."""
    site = loaded_wordpress(mariadb, wordpress_root, "root")
    yield site
    site.stop()


@pytest.fixture()
def fresh_wordpress(mariadb, wordpress_root, request):
    """An install of a test's own, for tests that publish, edit or trash posts."""
    site = loaded_wordpress(mariadb, wordpress_root, request.node.name[:40])
    site.configure(theme="twentytwentyone", permalinks="/%year%/%monthnum%/%day%/%postname%/")
    site.clear_requests()
    yield site
    site.stop()


def assert_archive_holds(database: Path, posts: list[FixturePost]) -> None:
    """Exactly these digests, field by field: numbers, dates, titles, entries, sections and links."""
    stored = {row["post_id"]: row for row in rows(database, "SELECT * FROM digests")}
    assert sorted(stored) == sorted(post.post_id for post in posts)
    for post in posts:
        row = stored[post.post_id]
        assert (row["number"], row["title"], row["published"], row["dateline"], row["headline"], row["issue_date"]) == (
            post.number,
            wordpress_title(post.title),
            post.published.isoformat(),
            post.dateline,
            None,
            None,
        ), post.title
        entries = rows(
            database, "SELECT id, section, text FROM entries WHERE digest_id = ? ORDER BY position", [row["id"]]
        )
        links = {
            entry["id"]: tuple(
                link["url"]
                for link in rows(database, "SELECT url FROM links WHERE entry_id = ? ORDER BY position", [entry["id"]])
            )
            for entry in entries
        }
        actual = [(entry["section"], entry["text"], links[entry["id"]]) for entry in entries]
        wanted = [(entry.section, entry.text, entry.links) for entry in expected_entries(post, row["url"])]
        assert actual == wanted, post.title
