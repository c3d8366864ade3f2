"""The REST plan on its own: which index pages it asks for, where a walk ends, what it fetches, and when
it trusts the REST content. Pure: typed answers in, decisions out (the crawl tests cover the spider)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from core.modes import Mode
from core.parsing.wordpress import RejectedItem, RestPost, RestPostsPage
from core.rest_plan import CONTENT_FIELDS, INDEX_FIELDS, PER_PAGE, RestPlan
from core.snapshot import ListingRecord, StoredPost

SITE = "https://digests.example"
START = f"{SITE}/category/weekly-digest/"


def index(**changes) -> ListingRecord:
    values = dict(start_url=START, site="digests.example", rest_root=f"{SITE}/wp-json/", posts_filter="categories=7")
    values.update(changes)
    return ListingRecord(**values)


def post(post_id: int, modified: str = "2020-01-01T00:00:00", number: int | None = None) -> RestPost:
    title = f"Iran Interlink Weekly Digest {number or post_id}"
    item = {
        "id": post_id,
        "link": f"{SITE}/?p={post_id}",
        "modified_gmt": modified,
        "date": "2020-01-01T00:00:00",
        "title": {"rendered": title},
        "content": {"rendered": f"<p>++ Entry of post {post_id}, <a href='https://news.example/{post_id}'>a</a></p>"},
    }
    return RestPost(post_id, item["link"], modified, title, item)


def page(posts: list[RestPost], number: int = 1, **headers) -> RestPostsPage:
    return RestPostsPage(f"{SITE}/wp-json/wp/v2/posts?page={number}", tuple(posts), **headers)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_a_plan_needs_a_known_rest_index():
    with pytest.raises(ValueError):
        RestPlan(Mode.REFRESH, index(rest_root=None), {})
    with pytest.raises(ValueError):
        RestPlan(Mode.REFRESH, index(posts_filter="nonsense"), {})


def test_a_backfill_asks_for_content_and_a_refresh_only_for_the_index():
    assert query(RestPlan(Mode.BACKFILL, index(), {}).index_url(3)) == {
        "categories": ["7"],
        "per_page": [str(PER_PAGE)],
        "page": ["3"],
        "_fields": [CONTENT_FIELDS],
    }
    assert query(RestPlan(Mode.REFRESH, index(), {}).index_url(1))["_fields"] == [INDEX_FIELDS]


def test_a_refresh_after_a_sync_asks_for_the_newest_modifications_since_the_sync_less_an_overlap():
    synced = index(synced_to="2021-05-10T12:00:00", modified_after=True)
    asked = query(RestPlan(Mode.REFRESH, synced, {}, overlap=timedelta(hours=24)).index_url(1))
    assert asked["orderby"] == ["modified"] and asked["order"] == ["desc"]
    assert asked["modified_after"] == ["2021-05-09T12:00:00"]
    # Without modified_after (WordPress before 5.7) it still orders by modification, and stops by reading.
    older = query(RestPlan(Mode.REFRESH, index(synced_to="2021-05-10T12:00:00"), {}).index_url(1))
    assert "modified_after" not in older and older["orderby"] == ["modified"]
    # A backfill or recheck reads the whole index whatever the sync point.
    assert "orderby" not in query(RestPlan(Mode.RECHECK, synced, {}).index_url(1))


def test_the_walk_ends_at_a_short_page_and_notes_a_total_that_does_not_add_up():
    plan = RestPlan(Mode.BACKFILL, index(), {})
    assert plan.read(page([post(i) for i in range(1, PER_PAGE + 1)]), 1) == 2
    assert plan.read(page([post(i) for i in range(PER_PAGE + 1, PER_PAGE + 6)], total=200), 2) is None
    assert plan.end_note == f"X-WP-Total says 200 posts, the index listed {PER_PAGE + 5}"
    assert not plan.read_to_its_end()


def test_a_page_that_repeats_what_was_listed_ends_the_walk():
    plan = RestPlan(Mode.BACKFILL, index(), {})
    full = [post(i) for i in range(1, PER_PAGE + 1)]
    assert plan.read(page(full), 1) == 2
    assert plan.read(page(full, 2), 2) is None
    assert "repeats posts already listed" in plan.end_note


def test_the_walk_stops_at_the_pages_the_site_claims_and_at_the_cap():
    claimed = RestPlan(Mode.BACKFILL, index(), {})
    assert claimed.read(page([post(i) for i in range(1, PER_PAGE + 1)], total_pages=1), 1) is None
    assert claimed.read_to_its_end()
    capped = RestPlan(Mode.BACKFILL, index(), {}, max_pages=2)
    assert capped.read(page([post(i) for i in range(1, PER_PAGE + 1)], total_pages=9), 1) == 2
    assert capped.read(page([post(i) for i in range(PER_PAGE + 1, 2 * PER_PAGE + 1)], 2, total_pages=9), 2) is None
    assert capped.capped and not capped.read_to_its_end()


def test_a_rejected_item_with_an_id_still_counts_as_listed():
    plan = RestPlan(Mode.RECHECK, index(), {5: StoredPost("2020-01-01T00:00:00", "2020-01-02T00:00:00", False)})
    plan.read(page([post(1)], rejected=(RejectedItem(2, 5, "link on another site"),)), 1)
    assert plan.missing() == []  # post 5 was named, so it is not gone


def test_it_fetches_new_and_modified_posts_and_leaves_current_ones():
    stored = {
        1: StoredPost("2020-01-01T00:00:00", "2020-01-05T00:00:00", False),  # as the site has it
        2: StoredPost("2020-01-01T00:00:00", "2020-01-05T00:00:00", False),  # modified since
        3: StoredPost(None, "2020-03-01T00:00:00", False),  # stored from its page after the modification
    }
    plan = RestPlan(Mode.REFRESH, index(), stored)
    listed = [post(1), post(2, "2020-02-01T00:00:00"), post(3, "2020-02-01T00:00:00"), post(4)]
    plan.read(page(listed), 1)
    assert [p.post_id for p in plan.to_fetch()] == [2, 4]
    assert plan.unchanged() == {1: "2020-01-01T00:00:00", 3: "2020-02-01T00:00:00"}
    assert plan.newest_modified == "2020-02-01T00:00:00"


def test_posts_that_are_not_digests_are_not_fetched():
    plan = RestPlan(Mode.BACKFILL, index(), {})
    other = RestPost(9, f"{SITE}/?p=9", "2020-01-01T00:00:00", "Our annual report", post(9).item)
    plan.read(page([post(1), other]), 1)
    assert [p.post_id for p in plan.digests()] == [1]


def test_a_recheck_finds_the_stored_posts_the_index_no_longer_lists():
    stored = {n: StoredPost(None, "2020-01-01T00:00:00", gone=(n == 3)) for n in (1, 2, 3)}
    plan = RestPlan(Mode.RECHECK, index(), stored)
    plan.read(page([post(1)]), 1)
    assert plan.missing() == [2]  # 3 is already known to be gone
    assert query(plan.still_published_url([2]))["include"] == ["2"]


def test_the_sample_takes_newest_oldest_and_between_and_trusts_only_what_matched():
    candidates = [post(n) for n in range(1, 11)]
    plan = RestPlan(Mode.BACKFILL, index(), {}, sample_size=3)
    sampled = plan.sample(candidates)
    assert [p.post_id for p in sampled] == [1, 5, 10]  # first, middle (round half to even), last
    assert not plan.sample_done(sampled)
    for p in sampled:
        plan.check_sample(p.post_id, plan.sample_digests[p.post_id])  # the page gave the same digest
    assert plan.sample_done(sampled)
    trusted, why = plan.rest_content_trusted()
    assert trusted and "3 sampled posts" in why


def test_a_sampled_page_that_differs_withdraws_the_trust():
    plan = RestPlan(Mode.BACKFILL, index(), {}, sample_size=2)
    first, last = plan.sample([post(n) for n in range(1, 6)])
    plan.check_sample(first.post_id, plan.sample_digests[first.post_id])
    from_rest_of_another = plan.sample_digests[last.post_id]
    plan.check_sample(last.post_id, plan.sample_digests[first.post_id])  # a page that says something else
    trusted, why = plan.rest_content_trusted()
    assert not trusted and f"post {last.post_id}" in why and from_rest_of_another is not None


def test_so_few_posts_that_their_pages_are_the_work_need_no_sample():
    plan = RestPlan(Mode.BACKFILL, index(), {}, sample_size=3)
    assert plan.sample([post(1), post(2)]) == []
    trusted, why = plan.rest_content_trusted()
    assert not trusted and "no sampled page" in why


def test_a_backfill_fetches_its_sample_first_and_hands_over_what_waited_once_the_verdict_is_in():
    plan = RestPlan(Mode.BACKFILL, index(), {}, sample_size=2)
    candidates = [post(n) for n in range(1, 6)]
    now, later = plan.fetch_first(candidates)
    assert [p.post_id for p in now] == [1, 5] and [p.post_id for p in later] == [2, 3, 4]
    plan.hold_back(later)
    assert plan.sample_answered(3, None) is None  # not a sampled post
    assert plan.sample_answered(1, plan.sample_digests[1]) is None  # one of two pages read
    verdict = plan.sample_answered(5, plan.sample_digests[5])
    assert verdict is not None and verdict.trusted and [p.post_id for p in verdict.held_back] == [2, 3, 4]
    assert plan.sample_answered(5, plan.sample_digests[5]) is None  # handed over once


def test_a_refresh_fetches_everything_at_once():
    plan = RestPlan(Mode.REFRESH, index(), {})
    candidates = [post(n) for n in range(1, 6)]
    assert plan.fetch_first(candidates) == (candidates, [])
