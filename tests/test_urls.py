"""Which URLs name one post, and how entry links are stored."""

import pytest

from core.urls import canonical_link, clean_post_url, on_site_of, post_key

POST = "nejatngo.org/en/posts/7291"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.nejatngo.org/en/posts/7291",
        "https://www.nejatngo.org/en/posts/7291?amp=1",
        "https://www.nejatngo.org/en/posts/7291/amp",
        "https://www.nejatngo.org/en/posts/7291/amp/",
        "https://www.nejatngo.org/en/posts/7291?random-post=1",
        "https://www.nejatngo.org/en/posts/7291?=1",
        "https://www.nejatngo.org/en/posts/7291?utm_source=newsletter&utm_medium=email",
        "http://nejatngo.org/en/posts/7291",
        "http://www.nejatngo.org/en/posts/7291/#respond",
        "HTTPS://WWW.NEJATNGO.ORG/en/posts/7291?fbclid=abc",
    ],
)
def test_every_variant_of_a_post_has_one_key(url):
    assert post_key(url) == POST


def test_embed_view_and_slug_with_or_without_slash_are_one_post():
    keys = {
        post_key("https://www.iran-interlink.org/wordpress/digest-sept-20/"),
        post_key("https://www.iran-interlink.org/wordpress/digest-sept-20/embed/"),
        post_key("https://iran-interlink.org/wordpress/digest-sept-20"),
    }
    assert keys == {"iran-interlink.org/wordpress/digest-sept-20"}


def test_different_posts_keep_different_keys():
    assert post_key("https://www.nejatngo.org/en/posts/7291") != post_key("https://www.nejatngo.org/en/posts/7292")
    assert post_key("https://x.org/wordpress/?p=12") != post_key("https://x.org/wordpress/?p=13")
    # The port is part of the site: two fixture servers are two sites.
    assert post_key("http://127.0.0.1:8001/a") != post_key("http://127.0.0.1:8002/a")


def test_clean_post_url_keeps_scheme_and_host():
    assert clean_post_url("http://nejatngo.org/en/posts/1?amp=1&utm_source=x") == "http://nejatngo.org/en/posts/1"


def test_on_site_of_moves_a_post_to_the_start_origin_only_within_the_site():
    start = "https://www.nejatngo.org/en/topic/digest"
    assert on_site_of("http://nejatngo.org/en/posts/1?x=1", start) == "https://www.nejatngo.org/en/posts/1?x=1"
    assert on_site_of("https://elsewhere.org/en/posts/1", start) == "https://elsewhere.org/en/posts/1"


@pytest.mark.parametrize(
    "href,stored",
    [
        ("https://example.com/a?utm_source=x&b=2&a=1#top", "https://example.com/a?a=1&b=2"),
        # A query that is not UTF-8 (a Latin-1 search) is kept as written, not turned into U+FFFD.
        ("https://example.org/search?q=caf%E9&utm_source=x", "https://example.org/search?q=caf%E9"),
        ("/en/posts/12", "https://www.nejatngo.org/en/posts/12"),
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("javascript:alert(1)", None),
        ("JavaScript:void(0)", None),
        ("mailto:a@b.org", None),
        ("data:text/html,<script>", None),
        ("#comments", None),
        ("", None),
        (None, None),
        ("https://example.com/" + "a" * 3000, None),
    ],
)
def test_entry_links(href, stored):
    assert canonical_link(href, "https://www.nejatngo.org/en/posts/7291") == stored


@pytest.mark.parametrize(
    "url,plain",
    [
        ("https://www.nejatngo.org/en/posts/7411/amp", "https://www.nejatngo.org/en/posts/7411"),
        ("https://www.iran-interlink.org/wordpress/slug/embed/", "https://www.iran-interlink.org/wordpress/slug/"),
        (
            "https://www.iran-interlink.org/wordpress/slug/amp/?utm_source=x",
            "https://www.iran-interlink.org/wordpress/slug/",
        ),
        ("https://www.nejatngo.org/en/posts/7267?=1", "https://www.nejatngo.org/en/posts/7267"),
    ],
)
def test_clean_post_url_gives_the_plain_page(url, plain):
    assert clean_post_url(url) == plain
