"""What a link check found, and when a link counts as dead: pure rules, no Scrapy, no clock, no I/O.

    answer or failure ──► status_of_answer / status_of_failure ──► one status per check
    the link's state + this check ──► next_state ──► failures in a row, first failing, last good, dead

    a link's state after a check + its last lookup + a clock ──► lookup_due ──► ask a CDX API for a copy now?

A single failing check says little (a host down for an hour, a deploy, a rate limit); a link is
`dead` only after `DeadRule.failures` failing checks in a row spanning at least `DeadRule.days`.
`blocked` and `disallowed` say nothing about the page (it may be there, we may not look): they
neither count as failures nor end a run of them. `unchecked` likewise. `refused` (the link, or a
redirect of it, points into a private network: `core.netguard`) says nothing either, and a link
refused is not dead whatever earlier checks said: it is never looked up in a web archive.

A copy in a web archive is looked up sooner than a link is called dead: at its first failing check (a
first run over an old archive, where many links are long gone, finds their copies at once), then at most
once per recheck period (`lookup_due`). Being dead still waits for the `DeadRule`'s confirmation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from urllib.parse import urlsplit

from .netguard import origin_of


class Effect(Enum):
    """What a check with a status does to the link's run of failing checks (`next_state`)."""

    GOOD = "ends a run of failures; a dead link lives again"
    FAILING = "counts towards dead"
    NEUTRAL = "neither counts nor ends a run of failures; a dead link stays dead"
    REFUSED = "ends a run of failures; never dead, never looked up in a web archive"
    OWN = "not checked: a post on the archive's own sites; never failing, dead or looked up"


class Look(Enum):
    """How the reader draws a link in this state (its CSS is the reader's: reader/links.py)."""

    PLAIN = "unmarked"
    WARNING = "marked, offering our capture or the archived copy"
    STRUCK = "struck through, offering our capture or the archived copy"


@dataclass(frozen=True)
class LinkStatus:
    """One status a check records (or, for `DEAD`, the state of a link), defined once: the crawl records
    it, storage keeps its name, the reader draws it, the docs' table lists it (tools/docgen.py)."""

    name: str
    meaning: str  # what the check found
    label: str  # what the reader says of a link in this state (its tooltip)
    effect: Effect | None  # None: not a check's status (DEAD)
    look: Look
    reason: str = ""  # why a failing link fails, in words (the dead-links page, its CSV and JSON, the report)

    @property
    def failing(self) -> bool:
        """Counts towards the link being dead (only these statuses can make a link dead)."""
        return self.effect is Effect.FAILING

    @property
    def marked(self) -> bool:
        """The reader puts a mark after the link, offering our capture or the archived copy."""
        return self.look is not Look.PLAIN


# One status per check, in the order the docs list them.
STATUSES: dict[str, LinkStatus] = {
    status.name: status
    for status in (
        LinkStatus(
            "ok",
            "2xx (after redirects; `final_url` when it moved)",
            "checked: the page is there",
            Effect.GOOD,
            Look.PLAIN,
        ),
        LinkStatus(
            "soft-404",
            "redirected to the host's home page, or a 2xx page whose title or first heading says not found",
            "the site answers, but not with the article",
            Effect.FAILING,
            Look.STRUCK,
            "soft-404",
        ),
        LinkStatus(
            "gone",
            "404 or 410",
            "the site says the page is gone (one check: not yet dead)",
            Effect.FAILING,
            Look.STRUCK,
            "gone",
        ),
        LinkStatus(
            "blocked",
            "401, 403, 429 or 451: the host refuses us; says nothing about the page",
            "the site refused our check",
            Effect.NEUTRAL,
            Look.PLAIN,
        ),
        LinkStatus(
            "server-error",
            "5xx after Scrapy's retries",
            "the site failed (one check: not yet dead)",
            Effect.FAILING,
            Look.WARNING,
            "server error",
        ),
        LinkStatus(
            "timeout",
            "no complete answer within `DOWNLOAD_TIMEOUT`, or a proxy that says (RFC 9209 `Proxy-Status`) it timed out",
            "no answer in time (one check: not yet dead)",
            Effect.FAILING,
            Look.WARNING,
            "timed out",
        ),
        LinkStatus(
            "unreachable",
            "DNS, connection refused, TLS, a connection that broke every time, or a proxy that says "
            "(RFC 9209 `Proxy-Status`) it could not reach the host",
            "the host could not be reached (one check: not yet dead)",
            Effect.FAILING,
            Look.WARNING,
            "unreachable",
        ),
        LinkStatus(
            "redirect-loop",
            "more redirects than `REDIRECT_MAX_TIMES`, or a redirect with no usable `Location`",
            "the site redirects in circles",
            Effect.FAILING,
            Look.WARNING,
            "redirect loop",
        ),
        LinkStatus(
            "disallowed",
            "robots.txt forbids it: recorded, never fetched",
            "robots.txt forbids checking it",
            Effect.NEUTRAL,
            Look.PLAIN,
        ),
        LinkStatus(
            "refused",
            "it, or a redirect of it, points into a private or loopback network: recorded, never fetched",
            "not checked: it points into a private network",
            Effect.REFUSED,
            Look.PLAIN,
        ),
        LinkStatus(
            "own",
            "a post on a site of the archive's own digests (its origin is a stored digest's): not checked",
            "a post of this archive's sites",
            Effect.OWN,
            Look.PLAIN,
        ),
        LinkStatus(
            "unchecked",
            "not checked yet, or the check could not say (another status code, a body over the cap)",
            "not checked yet",
            Effect.NEUTRAL,
            Look.PLAIN,
        ),
    )
}
# Not a check's status: a link's state once failing checks met the `DeadRule` (`dead_since` is set).
DEAD = LinkStatus(
    "dead",
    "failing checks in a row, far enough apart (`DeadRule`): `dead_since` is set",
    "dead: the page is gone",
    None,
    Look.STRUCK,
)
# The names the code writes (storage's SQL takes them as parameters).
OK, UNCHECKED, REFUSED, OWN = (STATUSES[name].name for name in ("ok", "unchecked", "refused", "own"))
# The failing statuses, in the docs' order (the settings' help names them).
FAILING = tuple(name for name, status in STATUSES.items() if status.failing)


def status_named(name: str) -> LinkStatus:
    """The declared status of this name: a check whose status is not declared is a bug, not a new status."""
    try:
        return STATUSES[name]
    except KeyError:
        raise ValueError(f"undeclared link status {name!r} (core.link_status.STATUSES)") from None


def reason_of(status: str) -> str:
    """Why a failing link fails, in words (`gone`, `server error`, `timed out`): its failing status's reason;
    a status with no reason of its own (one this version does not declare) is named as it is."""
    found = STATUSES.get(status)
    return found.reason if found is not None and found.reason else status


def shown_state(status: str, dead: bool) -> LinkStatus:
    """What the reader shows of a link: DEAD when the rule was met, else its last check's status. A name
    the archive holds but the code no longer declares (an archive of another version) is shown plainly."""
    if dead:
        return DEAD
    return STATUSES.get(status) or LinkStatus(status, "", status, None, Look.PLAIN)


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

    status: str = UNCHECKED
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
    """The link's state after one more check (its status must be declared: ValueError else)."""
    at = checked_at.isoformat()
    effect = status_named(status).effect
    if effect is Effect.GOOD:
        return LinkState(status=status, last_ok_at=at)
    if effect is Effect.REFUSED:  # never fetched, so never failing nor dead: nothing to look up a copy of
        return LinkState(status=status, last_ok_at=state.last_ok_at)
    if effect is Effect.OWN:  # the archive's own posts: not a link elsewhere on the web that can rot
        return LinkState(status=status)
    if effect is Effect.NEUTRAL:
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


def lookup_due(
    state: LinkState,
    *,
    now: datetime,
    last_lookup_at: str | None,
    has_copy: bool,
    has_capture: bool,
    every_days: float,
    dead_every_days: float,
) -> bool:
    """Whether to ask a web archive for a copy of a link in this state (after this run's check) now.

    A link is looked up from its first failing check, not only once dead: one failure says little about
    the link, but a lookup costs one polite request and finds the copy a reader needs while the link is
    down. A dead link whose last check said nothing (`blocked`) is still looked up; a `refused` one never
    (it is never failing nor dead). Not when we hold our own capture or a copy was found, and at most once
    per recheck period, `every_days` (`dead_every_days` for a dead link), whatever the last lookup found.
    """
    if not (state.dead or status_named(state.status).failing):
        return False
    if has_copy or has_capture:
        return False
    if last_lookup_at is None:
        return True
    last = datetime.fromisoformat(last_lookup_at)
    if last.tzinfo is None:  # storage writes UTC times; one without an offset is UTC too
        last = last.replace(tzinfo=now.tzinfo)
    period = timedelta(days=dead_every_days if state.dead else every_days)
    return now - last >= period


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


def is_own_post(url: str, digest_origins: list[str] | set[str]) -> bool:
    """A link to a post on a site of the archive's own digests (a digest's "last week" link): its origin
    (`scheme://host[:port]`, as `storage.links.digest_origins` gives them) is a stored digest's."""
    origin = origin_of(url)  # the link check's own reading of an origin (core.netguard): one rule
    return origin is not None and origin in {origin_of(own) for own in digest_origins}


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
