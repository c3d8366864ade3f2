"""Both publishers, one archive: every digest once, as an edition with its posts on each site.

The two fixture listings (nejatngo.org, and its twin in the iran-interlink.org layout) are served side
by side and crawled by one `scrapy crawl digests` (two listings, one after the other, one file); the
editions are compared with the model in `fixtures/editions.py`, which holds every trap of the real
archive.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from datetime import date, timedelta

import pytest

import storage
from core.editions import THRESHOLD, WINDOW, Member, Post, edition_fields, match, shingles, similarity
from core.items import Digest
from fixtures.editions import (
    INTERLINK_LISTING,
    InterlinkPost,
    expected_editions,
    interlink_posts,
    interlink_site,
    nejatngo_posts,
    nejatngo_site,
)
from fixtures.site import CATEGORY_PATH, next_digest

from .conftest import assert_clean_run, datasette_client, listings_setting, rows, run_crawl  # noqa: F401

ATOM = "{http://www.w3.org/2005/Atom}"


def editions_by_posts(database, servers) -> dict[tuple, dict]:
    """Editions keyed by (nejatngo.org post id, iran-interlink.org post id)."""
    nejatngo, interlink = (server.base_url.split("//")[1] for server in servers)
    found = {}
    for edition in rows(database, "SELECT * FROM editions"):
        members = {
            row["site"]: row["post_id"]
            for row in rows(database, "SELECT site, post_id FROM digests WHERE edition_id = ?", [edition["id"]])
        }
        assert set(members) <= {nejatngo, interlink}
        found[(members.get(nejatngo), members.get(interlink))] = edition
    return found


def test_both_listings_are_crawled_one_after_the_other_into_one_file(both_sites, servers):
    runs = rows(both_sites, "SELECT start_url, status FROM crawl_runs ORDER BY id")
    assert [run["start_url"] for run in runs] == [servers[0].url(CATEGORY_PATH), servers[1].url(INTERLINK_LISTING)]
    assert {run["status"] for run in runs} == {"finished"}


def test_every_digest_is_one_edition_with_its_posts_on_each_site(both_sites, servers):
    found = editions_by_posts(both_sites, servers)
    expected = {(e.nejatngo, e.interlink): e for e in expected_editions()}
    assert sorted(found, key=str) == sorted(expected, key=str)  # members: no digest merged or split wrongly
    for key, wanted in expected.items():
        edition = found[key]
        assert (edition["number"], edition["issue_date"], edition["headline"]) == (
            wanted.number,
            wanted.issue_date,
            wanted.headline,
        ), key
        conflicts = edition["conflicts"] or ""
        assert sorted(note.split(":")[0] for note in conflicts.split("; ") if note) == sorted(wanted.conflicts), key
    # Every digest belongs to one edition.
    assert rows(both_sites, "SELECT count(*) AS n FROM digests WHERE edition_id IS NULL") == [{"n": 0}]


def test_the_conflicts_keep_both_values(both_sites, servers):
    found = editions_by_posts(both_sites, servers)
    wrong_number = next(
        edition for edition in found.values() if edition["conflicts"] and "number" in edition["conflicts"]
    )
    assert "167" in wrong_number["conflicts"] and "196" in wrong_number["conflicts"]
    day_off = next(
        edition for edition in found.values() if edition["conflicts"] and "issue_date" in edition["conflicts"]
    )
    assert "2019-09-20 (title" in day_off["conflicts"] and "2019-09-21 (dateline" in day_off["conflicts"]


def test_the_threshold_separates_the_closest_wrong_pair_from_the_farthest_right_pair(both_sites, servers):
    """The margin of the matching rule, on what the crawl stored (printed for the closing note)."""
    posts = [
        Post(
            row["id"],
            row["site"],
            date.fromisoformat((row["published"] or row["issue_date"])[:10]),
            row["text"],
            row["edition_id"],
        )
        for row in rows(both_sites, "SELECT id, site, published, issue_date, text, edition_id FROM digests")
    ]
    right, wrong = [], []
    for a, b in itertools.combinations(posts, 2):
        if a.site == b.site or abs((a.day - b.day).days) > WINDOW:
            continue
        (right if a.edition_id == b.edition_id else wrong).append(similarity(shingles(a.text), shingles(b.text)))
    print(f"farthest right pair {min(right):.3f}, closest wrong pair {max(wrong):.3f}, threshold {THRESHOLD}")
    assert max(wrong) < THRESHOLD <= min(right)
    assert min(right) - max(wrong) > 0.3


def test_the_same_new_digest_on_both_sites_makes_one_new_edition(archive, servers):
    nejatngo, interlink = servers
    posts, twins = nejatngo_posts(), interlink_posts()
    new = next_digest(posts)
    twin = InterlinkPost(
        new.post_id + 5000,
        "iran-interlink-weekly-digest-new",
        f"Iran Interlink Weekly Digest \u2013 {new.published:%B} {new.published.day}, {new.published.year}",
        new.published,
        new.entries,
        twin=new,
    )
    before = rows(archive, "SELECT count(*) AS n FROM editions")[0]["n"]
    nejatngo.publish(nejatngo_site([new, *posts]))
    interlink.publish(interlink_site([twin, *twins]))
    try:
        assert_clean_run(run_crawl(None, archive, "-s", listings_setting(servers)))
    finally:
        nejatngo.publish(nejatngo_site(posts))
        interlink.publish(interlink_site(twins))
    assert rows(archive, "SELECT count(*) AS n FROM editions")[0]["n"] == before + 1
    edition = rows(
        archive, "SELECT e.* FROM editions e JOIN digests d ON d.edition_id = e.id WHERE d.post_id = ?", [new.post_id]
    )[0]
    assert (edition["posts"], edition["number"], edition["issue_date"], edition["conflicts"]) == (
        2,
        new.number,
        new.published.isoformat(),
        None,
    )


def test_an_edit_rechecks_its_edition_and_match_all_keeps_the_editions(archive):
    db = storage.open_database(archive)
    try:
        columns = [c[0] for c in db.execute("SELECT * FROM digests LIMIT 0").description]
        stored = dict(
            zip(
                columns,
                db.execute("SELECT * FROM digests WHERE number = 205 ORDER BY id LIMIT 1").fetchone(),
                strict=True,
            )
        )
        updated = db.execute("SELECT updated FROM editions WHERE id = ?", [stored["edition_id"]]).fetchone()[0]
        entries = storage.digest_entries(db, stored["url"])
        edited = (*entries[:-1], replace(entries[-1], text=entries[-1].text + " A sentence added by an editor."))
        digest = Digest(
            url=stored["url"],
            site=stored["site"],
            post_id=stored["post_id"],
            title=stored["title"],
            number=stored["number"],
            headline=stored["headline"],
            issue_date=stored["issue_date"],
            published=stored["published"],
            dateline=stored["dateline"],
            entries=edited,
        )
        assert storage.save_digest(db, digest, now="2030-01-01T00:00:00+00:00") == storage.CHANGED
        update = storage.update_editions(db, now="2030-01-01T00:00:01+00:00")
        assert (update.matched, update.pairs, update.new) == (1, 1, 0)
        assert (
            db.execute("SELECT edition_id FROM digests WHERE id = ?", [stored["id"]]).fetchone()[0]
            == stored["edition_id"]
        )
        assert db.execute("SELECT updated, posts FROM editions WHERE id = ?", [stored["edition_id"]]).fetchone() == (
            "2030-01-01T00:00:01+00:00",
            2,
        )
        assert updated < "2030"

        editions = db.execute("SELECT * FROM editions ORDER BY id").fetchall()
        rebuilt = storage.rebuild_editions(db, now="2030-02-01T00:00:00+00:00")
        assert rebuilt.matched == len(editions) * 2 - 2 and (rebuilt.new, rebuilt.changed) == (0, 0)
        assert db.execute("SELECT * FROM editions ORDER BY id").fetchall() == editions  # same ids, nothing bumped
    finally:
        db.close()


# --- the rule, on plain values ----------------------------------------------------------------------


def post(digest_id: int, site: str, day: int, text: str, edition_id: int | None = None) -> Post:
    return Post(digest_id, site, date(2017, 11, 1) + timedelta(days=day), text, edition_id)


TEXT_A = "Families of MEK members travelled to Tirana again this week asking the ministry for a meeting"
TEXT_B = "A former commander of the military wing now living in Germany said the leadership has not changed"


def test_two_posts_of_one_site_are_never_one_edition_however_alike():
    groups, pairs = match([post(1, "a", 0, TEXT_A), post(2, "a", 1, TEXT_A)], [])
    assert pairs == [] and groups[1] != groups[2]


def test_twins_join_and_the_better_twin_wins():
    pending = [post(1, "a", 0, TEXT_A + " one"), post(2, "a", 1, TEXT_B)]
    others = [post(3, "b", 1, TEXT_A + " one two", edition_id=30), post(4, "b", 1, TEXT_B, edition_id=40)]
    groups, pairs = match(pending, others)
    assert groups == {1: 30, 2: 40}


def test_a_twin_outside_the_window_or_below_the_threshold_stays_apart():
    far = match([post(1, "a", 0, TEXT_A)], [post(2, "b", WINDOW + 1, TEXT_A, edition_id=20)])[0]
    unlike = match([post(1, "a", 0, TEXT_A)], [post(2, "b", 0, TEXT_B, edition_id=20)])[0]
    assert far[1] != 20 and unlike[1] != 20


def test_fields_come_from_the_best_source_and_disagreements_are_kept():
    fields = edition_fields(
        [
            Member("nejatngo.org", 167, None, "Iran Interlink, July 28 2017", "Sub", "2017-07-28"),
            Member("iran-interlink.org", 196, None, "Iran Interlink, July 28 2017", None, "2017-07-29"),
        ]
    )
    assert (fields.number, fields.issue_date, fields.headline, fields.first_published) == (
        167,
        "2017-07-28",
        "Sub",
        "2017-07-28",
    )
    assert fields.conflicts == "number: 167 (nejatngo.org) \u2260 196 (iran-interlink.org)"
    dated = edition_fields(
        [Member("iran-interlink.org", None, "2019-09-20", "Iran Interlink, September 21 2019", None, "2019-09-21")]
    )
    assert dated.issue_date == "2019-09-20" and "2019-09-21 (dateline" in dated.conflicts


# --- reading them --------------------------------------------------------------------------------------


@pytest.fixture()
def datasette(archive):
    return datasette_client(archive)


def test_an_edition_page_shows_the_digest_once_with_its_sources_and_a_marked_diff(datasette, archive):
    edition_id = rows(archive, "SELECT edition_id FROM digests WHERE number = 209")[0]["edition_id"]
    html = datasette(f"/-/edition/archive/{edition_id}", status=301).headers["location"]
    assert html == "/-/edition/archive/digest-209"  # an old address by row id redirects to the lasting one
    html = datasette("/-/edition/archive/digest-209").text
    assert html.count("original post") == 2  # its two posts
    assert '<div class="entry added"' in html and "Added after publication" in html
    assert '<div class="entry reworded"' in html and "<ins>" in html
    assert 'class="legend"' in html and "highlighted in green" in html
    facets = datasette("/archive/editions.json?_facet=sites&_facet=year&_size=0").json()["facet_results"]
    assert facets


def test_the_atom_feed_lists_editions_newest_first_with_their_first_publication(datasette, archive):
    feed = ElementTree.fromstring(datasette("/-/editions/archive.atom").content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    total = rows(archive, "SELECT count(*) AS n FROM editions")[0]["n"]
    assert len(entries) == min(50, total)
    first = entries[0]
    assert first.find(f"{ATOM}id").text.startswith("tag:") and first.find(f"{ATOM}updated").text  # not the host's
    assert first.find(f"{ATOM}link").get("href").startswith("http://localhost/-/edition/archive/")
    published = [entry.find(f"{ATOM}published").text for entry in entries]
    assert published == sorted(published, reverse=True)  # newest first
    newest = rows(
        archive,
        "SELECT first_published, slug FROM editions ORDER BY coalesce(issue_date, first_published) DESC LIMIT 1",
    )[0]
    assert published[0] == f"{newest['first_published']}T00:00:00Z"
    assert first.find(f"{ATOM}link").get("href").endswith(f"/-/edition/archive/{newest['slug']}")
    assert first.find(f"{ATOM}id").text.endswith(f":archive/edition/{newest['slug']}")
    assert len({entry.find(f"{ATOM}published").text for entry in entries}) > 1  # not when the crawler saw them
