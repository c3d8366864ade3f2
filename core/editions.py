"""Editions: the same digest published on two sites is one edition, matched by what its entries say.

Pure functions over plain values (no SQL; `storage.editions` reads and writes the rows):

- `similarity(a, b)`: Jaccard similarity of the two texts' word 3-shingles (lower-cased words, so
  punctuation, typography and markup do not count). A digest and its twin on the other site share
  almost every shingle, also after an entry was added or reworded on one side; two different digests
  share almost none.
- `match(pending, candidates)`: which stored digest each pending digest (new, or changed since it was
  last matched) is the twin of: pairs from different sites only, within `WINDOW` days of each other
  when both dates are known (never by number), at `THRESHOLD` or above, best pairs first, and never
  two posts of one site in one edition (the two posts numbered 213 stay two editions).
- `edition_fields(members)`: title, number, issue date, headline and first publication, each by one rule
  (`member_order`), and the conflicts where the sources disagree (between sites, or within one post).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from core.text import parse_date

# The margin behind the threshold, measured on the two-publisher fixture archive (tests/test_editions.py):
# the closest wrong pair within the window is at 0.011, the farthest right pair (a twin with an entry
# reworded and one added on one site) at 0.752.
THRESHOLD = 0.5
# Days: the two sites publish a digest within a day or two of each other; the window still holds the
# issues a week before and after, so that the text, not the date, decides between them.
WINDOW = 10

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = 3) -> frozenset:
    """The text's word 3-shingles, each kept as its hash (a few bytes instead of a tuple of strings)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return frozenset([hash(tuple(words))]) if words else frozenset()
    # The tuples of `size` consecutive words, made and hashed in C (zip of the list and its shifts).
    return frozenset(map(hash, zip(*(words[offset:] for offset in range(size)), strict=False)))  # shifts end early


def similarity(a: frozenset, b: frozenset) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class Post:
    """What matching needs of a stored digest (`text`: its entries; shingled only when compared)."""

    digest_id: int
    site: str
    day: date | None  # published, else the issue date
    text: str
    edition_id: int | None = None


def _candidates(post: Post, by_site: dict[str, tuple[list, list]]) -> list[Post]:
    """Posts of the other sites within the window (all of them when a date is unknown)."""
    found = []
    for site, (days, posts) in by_site.items():
        if site == post.site:
            continue
        if post.day is None:
            found += posts
            continue
        low = bisect.bisect_left(days, post.day.toordinal() - WINDOW)
        high = bisect.bisect_right(days, post.day.toordinal() + WINDOW)
        found += posts[low:high]
        found += posts[len(days) :]  # the undated, after the dated (`match` orders them so)
    return found


def match(pending: list[Post], others: list[Post]) -> tuple[dict[int, int], list[tuple[Post, Post, float]]]:
    """Where each pending post goes, and the twin pairs found (pending post, its twin, similarity).

    `pending` posts are in no edition yet; `others` are the archive's other posts, in their editions.
    A pending post goes to an existing edition (its id), or to a new one (a negative key shared by
    the pending posts that form it).
    """
    pool = {post.digest_id: post for post in [*others, *pending]}
    by_site: dict[str, tuple[list, list]] = {}
    for post in sorted(pool.values(), key=lambda p: (p.day is None, p.day.toordinal() if p.day else 0)):
        days, posts = by_site.setdefault(post.site, ([], []))
        if post.day is not None:
            days.append(post.day.toordinal())
        posts.append(post)  # dated posts first, in date order (`days` indexes them), then the undated
    cache: dict[int, frozenset] = {}

    def shingles_of(post: Post) -> frozenset:
        if post.digest_id not in cache:
            cache[post.digest_id] = shingles(post.text)
        return cache[post.digest_id]

    pairs = []
    for post in pending:
        for other in _candidates(post, by_site):
            score = similarity(shingles_of(post), shingles_of(other))
            if score >= THRESHOLD:
                pairs.append((score, post.digest_id, other.digest_id))
    pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    # Greedy, best pair first: an edition takes one post per site, a pending post joins once.
    group_of = {
        post.digest_id: post.edition_id if post.edition_id is not None else -post.digest_id for post in pool.values()
    }
    sites: dict[int, set[str]] = {}
    for post in pool.values():
        sites.setdefault(group_of[post.digest_id], set()).add(post.site)
    joined = []
    for score, post_id, other_id in pairs:
        group, other_group = group_of[post_id], group_of[other_id]
        if group != -post_id or group == other_group or sites[group] & sites[other_group]:
            continue  # placed already (with a better twin), or its site is in that edition already
        group_of[post_id] = other_group
        sites[other_group] |= sites.pop(group)
        joined.append((pool[post_id], pool[other_id], score))
    return {post.digest_id: group_of[post.digest_id] for post in pending}, joined


@dataclass(frozen=True)
class Member:
    """A digest of an edition, with what its title and dateline say."""

    site: str
    number: int | None
    issue_date: str | None  # from a dated title
    dateline: str | None
    headline: str | None
    published: str | None
    title: str | None = None
    url: str = ""  # canonical; the last tie-breaker of the order of members


@dataclass(frozen=True)
class EditionFields:
    title: str | None
    number: int | None
    issue_date: str | None
    headline: str | None
    first_published: str | None
    sites: str
    conflicts: str | None  # every disagreement, as below
    conflicts_between_sites: str | None  # the sites disagree (a number, a date)
    conflicts_within_post: str | None  # one post disagrees with itself (its title's date and its dateline)


def member_order(member: Member) -> tuple:
    """The one order of an edition's posts: first published first (undated last), then by site and URL.
    Every field of an edition is taken from the first member in this order that has it."""
    return (member.published or "9999", member.site, member.url)


T = TypeVar("T")


def _first(values: Sequence[tuple[T, str, str]]) -> tuple[T | None, str | None, bool]:
    """The first value; a note listing every value with its source when some disagree (value, source, site);
    and whether the disagreeing values come from more than one site."""
    if not values:
        return None, None, False
    chosen = values[0][0]
    if all(value == chosen for value, _, _ in values):
        return chosen, None, False
    shown = [values[0]] + [v for v in values[1:] if v[0] != chosen]
    note = " \u2260 ".join(f"{value} ({source})" for value, source, _ in shown)
    return chosen, note, len({site for _, _, site in shown}) > 1


def edition_fields(members: list[Member]) -> EditionFields:
    """Every field of an edition by one rule: members in `member_order`, each field from the first member
    that has it: the title; the number from a numbered title; the issue date from a dated title, else a
    dateline; the headline. Where values disagree the first is kept and every value is listed in
    `conflicts`, classed as between sites or within one post."""
    ordered = sorted(members, key=member_order)
    title = next((m.title for m in ordered if m.title), None)
    number, number_note, number_across = _first([(m.number, m.site, m.site) for m in ordered if m.number is not None])
    dates = [(m.issue_date, f"title, {m.site}", m.site) for m in ordered if m.issue_date] + [
        (day, f"dateline, {m.site}", m.site) for m in ordered if m.dateline and (day := parse_date(m.dateline))
    ]
    issue_date, date_note, date_across = _first(dates)
    headline = next((m.headline for m in ordered if m.headline), None)
    between: list[str] = []
    within: list[str] = []
    for name, note, across in (("number", number_note, number_across), ("issue_date", date_note, date_across)):
        if note:
            (between if across else within).append(f"{name}: {note}")
    published = [m.published for m in ordered if m.published]
    return EditionFields(
        title,
        number,
        issue_date,
        headline,
        min(published) if published else None,
        ", ".join(sorted({m.site for m in members})),
        "; ".join(between + within) or None,
        "; ".join(between) or None,
        "; ".join(within) or None,
    )
