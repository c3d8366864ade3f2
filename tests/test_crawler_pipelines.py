"""The validate and dedupe pipelines on their own: each returns the item, or what it became, with a reason."""

from __future__ import annotations

from dataclasses import replace

from core.items import Digest, DuplicateDigest, Entry, PageFailure
from crawler.pipelines import DedupeDigests, ValidateDigest

from .test_storage import make_digest


def test_a_fit_digest_and_anything_else_pass_validation_unchanged():
    digest = make_digest(200)
    assert ValidateDigest().process_item(digest) is digest
    failure = PageFailure("https://www.nejatngo.org/en/posts/1", "http_status", "HTTP 404")
    assert ValidateDigest().process_item(failure) is failure


def test_an_unfit_digest_becomes_an_invalid_failure_of_the_page_it_came_from_with_every_reason():
    digest = replace(
        make_digest(200),
        title="  ",
        entries=(Entry(None, " ", "<p> </p>", ()),),
        number=123456,
        url="ftp://www.nejatngo.org/en/posts/7303",
    )
    failure = ValidateDigest().process_item(digest)
    assert isinstance(failure, PageFailure) and failure.kind == "invalid"
    assert failure.url == digest.source_urls[0]  # the page, not the canonical it claimed
    for reason in ("empty title", "an entry with no text", "implausible number 123456", "not http(s)"):
        assert reason in failure.message, reason
    assert "no entries" in ValidateDigest().process_item(replace(make_digest(200), entries=())).message


def test_one_post_at_several_urls_is_stored_once_and_the_others_are_duplicates_of_it():
    dedupe = DedupeDigests()
    first = make_digest(200)
    assert dedupe.process_item(first) is first
    # The same post reached through its AMP view: a duplicate naming the first canonical URL.
    amp = replace(first, source_urls=("https://www.nejatngo.org/en/posts/7303/amp",))
    duplicate = dedupe.process_item(amp)
    assert isinstance(duplicate, DuplicateDigest) and duplicate.url == first.url
    # The same post id under another URL of the same site is the same post too.
    moved = replace(first, url="https://www.nejatngo.org/en/posts/renamed", source_urls=())
    assert isinstance(dedupe.process_item(moved), DuplicateDigest)


def test_two_posts_with_one_number_stay_two():
    dedupe = DedupeDigests()
    first = make_digest(200)
    second = make_digest(200, url="https://www.nejatngo.org/en/posts/7304", post_id=7304)
    assert isinstance(dedupe.process_item(first), Digest)
    assert dedupe.process_item(second) is second


def test_the_same_post_id_on_another_site_is_another_post():
    dedupe = DedupeDigests()
    ours = make_digest(200)
    theirs = replace(ours, url="https://iran-interlink.org/?p=7303", site="iran-interlink.org", source_urls=())
    dedupe.process_item(ours)
    assert dedupe.process_item(theirs) is theirs
