"""What a link check found, and when a link counts as dead: pure rules, no Scrapy, no clock, no I/O.

    answer or failure ──► status_of_answer / status_of_failure ──► one status per check
    the link's state + this check ──► next_state ──► failures in a row, first failing, last good, dead

A single failing check says little (a host down for an hour, a deploy, a rate limit); a link is
`dead` only after `DeadRule.failures` failing checks in a row spanning at least `DeadRule.days`.
`blocked` and `disallowed` say nothing about the page (it may be there, we may not look): they
neither count as failures nor end a run of them. `unchecked` likewise. `refused` (the link, or a
redirect of it, points into a private network: `core.netguard`) says nothing either, and a link
refused is not dead whatever earlier checks said: it is never looked up in a web archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

# One status per check (docs/links.md explains each).
LINK_STATUSES = {
    "ok": "the page answered 2xx (after redirects; the final URL is kept)",
    "soft-404": "redirected to the host's home page, or a 2xx page whose title or heading says not found",
    "gone": "404 or 410",
    "blocked": "401, 403, 429 or 451: the host refuses us; says nothing about the page",
    "server-error": "5xx after Scrapy's retries",
    "timeout": "no complete answer within DOWNLOAD_TIMEOUT",
    "unreachable": "DNS, connection refused, TLS, or a proxy that could not reach the host",
    "redirect-loop": "more redirects than REDIRECT_MAX_TIMES",
    "disallowed": "robots.txt forbids it: recorded, never fetched",
    "refused": "it, or a redirect of it, points to a private or loopback address: recorded, never fetched",
    "unchecked": "not checked yet, or the check could not say (another status code, a body over the cap)",
}
# Statuses that count towards a link being dead.
FAILING = frozenset({"soft-404", "gone", "server-error", "timeout", "unreachable", "redirect-loop"})
# Statuses that say nothing about the page: they leave the run of failures as it is.
NEUTRAL = frozenset({"blocked", "disallowed", "unchecked"})

# A 2xx page that is really a "not found" page: its title or first heading says so.
_NOT_FOUND = re.compile(
    r"\b(?:page\s+)?not\s+found\b|\b404\b|can[’'`]?t\s+be\s+found|cannot\s+be\s+found|no\s+longer\s+(?:available|exists)"
    r"|does\s+not\s+exist|doesn[’']?t\s+exist|page\s+(?:is\s+)?missing",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DeadRule:
    """How many failing checks in a row, how far apart (first to last), make a link dead."""

    failures: int = 2
    days: float = 7.0


@dataclass(frozen=True)
class LinkState:
    """What the archive knows of one link between checks (the `link_targets` row, in short)."""

    status: str = "unchecked"
    failures: int = 0  # failing checks in a row, up to the last
    failing_since: str | None = None  # ISO time of the first of them
    last_ok_at: str | None = None
    dead_since: str | None = None  # set when the rule was met; cleared by a good check

    @property
    def dead(self) -> bool:
        return self.dead_since is not None


# RFC 9209 `Proxy-Status` errors of a proxy that could not reach the host (a proxy answers 502/503/504
# for them: that is the proxy failing, not the host).
_PROXY_UNREACHABLE = re.compile(
    r"error=(?:dns_error|dns_timeout|destination_not_found|destination_unavailable|destination_ip_unroutable"
    r"|connection_refused|connection_terminated|tls_\w+)"
)
_PROXY_TIMEOUT = re.compile(r"error=(?:connection_timeout|http_response_timeout|connection_read_timeout)")


def status_of_answer(
    status: int,
    url: str,
    final_url: str,
    *,
    title: str | None = None,
    heading: str | None = None,
    proxy_status: str | None = None,
) -> str:
    """The status of a link whose host answered (after Scrapy's redirects and retries)."""
    if proxy_status and status >= 500:
        if _PROXY_TIMEOUT.search(proxy_status):
            return "timeout"
        if _PROXY_UNREACHABLE.search(proxy_status):
            return "unreachable"
    if 200 <= status < 300:
        if final_url != url and _is_home_page(final_url) and not _is_home_page(url):
            return "soft-404"  # a deep link redirected to the front page: the article is gone
        if any(text and _NOT_FOUND.search(text) for text in (title, heading)):
            return "soft-404"
        return "ok"
    if status in (404, 410):
        return "gone"
    if status in (401, 403, 429, 451):
        return "blocked"
    if 500 <= status < 600:
        return "server-error"
    if 300 <= status < 400:
        return "redirect-loop" if status != 304 else "unchecked"  # a redirect with no usable Location
    return "unchecked"


def status_of_failure(kind: str, message: str = "") -> str:
    """The status of a link whose check ended in an errback (`crawler.failures.describe_failure` kinds)."""
    if kind == "timeout":
        return "timeout"
    if kind in ("dns", "connection", "tls", "tunnel"):
        return "unreachable"
    if kind == "redirect_loop":
        return "redirect-loop"
    if kind == "robots":
        return "disallowed"
    if kind == "refused":
        return "refused"
    if kind == "data_loss":
        return "unreachable"  # the connection broke every time (after retries)
    return "unchecked"


def next_state(state: LinkState, status: str, checked_at: datetime, rule: DeadRule) -> LinkState:
    """The link's state after one more check."""
    at = checked_at.isoformat()
    if status == "ok":
        return LinkState(status=status, last_ok_at=at)
    if status == "refused":  # never fetched, so never failing nor dead: nothing to look up a copy of
        return LinkState(status=status, last_ok_at=state.last_ok_at)
    if status in NEUTRAL:
        return replace(state, status=status)
    failures = state.failures + 1  # a good check ends a run of failures; a neutral one leaves it open
    failing_since = state.failing_since if failures > 1 and state.failing_since else at
    dead_since = state.dead_since
    if dead_since is None and failures >= rule.failures:
        first = datetime.fromisoformat(failing_since)
        if checked_at - first >= timedelta(days=rule.days):
            dead_since = at
    return LinkState(
        status=status,
        failures=failures,
        failing_since=failing_since,
        last_ok_at=state.last_ok_at,
        dead_since=dead_since,
    )


def _is_home_page(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.path in ("", "/")
        or re.fullmatch(r"/(?:[a-z]{2}(?:-[a-z]{2})?|index\.\w+|home)/?", parts.path) is not None
    )


def is_capturable(content_type: str | None) -> bool:
    """Pages worth a WARC capture: HTML and PDF."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml", "application/pdf")


def host_of(url: str) -> str:
    """The host a link's check goes to: Scrapy's download slot (one request at a time per host)."""
    return (urlsplit(url).hostname or "").lower()


def within_host_cap(urls: list[str], per_host: int) -> list[bool]:
    """Which of these links (in the order they are due) a run takes: the first `per_host` of each host.
    The others stay due for the next run, so that one host with thousands of links, checked one at a
    time, cannot hold a run for hours."""
    taken: dict[str, int] = {}
    kept = []
    for url in urls:
        host = host_of(url)
        taken[host] = taken.get(host, 0) + 1
        kept.append(taken[host] <= per_host)
    return kept
