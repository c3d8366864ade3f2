"""What makes a parsed digest unfit to store: one rule for the crawl's validate pipeline and for `reparse`."""

from __future__ import annotations

from .items import Digest
from .urls import is_http_url


def problems_with(digest: Digest) -> list[str]:
    """What makes a parsed digest unfit to store; empty when it is fine."""
    problems = []
    if not digest.title.strip():
        problems.append("empty title")
    if not digest.entries:
        problems.append("no entries")
    if any(not entry.text.strip() for entry in digest.entries):
        problems.append("an entry with no text")
    if not is_http_url(digest.url):
        problems.append(f"canonical URL is not http(s): {digest.url!r}")
    if digest.number is not None and not 0 < digest.number < 100_000:
        problems.append(f"implausible number {digest.number}")
    return problems
