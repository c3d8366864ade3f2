"""Numbers a site sends (post ids, page numbers, counts), read strictly and within bounds.

A site's numbers reach SQLite, `range()` and URL building: `"²".isdigit()` is True but `int("²")`
fails, Unicode digits (`"٣"`) are digits to `\\d`, and `10**30` overflows SQLite's integers. Every
post id, count and page number read from a page, a URL, a header or JSON goes through here (the
digits of dates and issue numbers in titles are bounded by their patterns: 4 digits at most).
"""

from __future__ import annotations

import re

# Post ids are SQLite integers: positive and below 2^63 (WordPress's own are BIGINT UNSIGNED).
MAX_POST_ID = 2**63 - 1
# No archive has a billion pages or posts: a count beyond is not believed.
MAX_COUNT = 10**9 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def ascii_number(text: str | None, maximum: int) -> int | None:
    """`text` as a number when it is ASCII digits only (surrounding space aside) in 0 … `maximum`."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def post_id_in_json(value: object) -> int | None:
    """A WordPress post id from JSON: an integer (not a bool, not a string of digits, not a float) in
    1 … 2^63 − 1. WordPress sends ids as integers; anything else is not a post id."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_POST_ID:
        return None
    return value


def post_id_in_text(text: str) -> int | None:
    """A WordPress post id from a page or URL (`postid-12`, `?p=12`, `/posts/12`): ASCII digits, in range."""
    value = ascii_number(text, MAX_POST_ID)
    return value if value else None


def count_of(text: str | None) -> int | None:
    """A count header (`X-WP-Total`, `X-WP-TotalPages`) or a page number: None unless plain and sane."""
    return ascii_number(text, MAX_COUNT)
