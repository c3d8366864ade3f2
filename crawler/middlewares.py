"""Downloader middlewares of the project.

- `StayOnSite`: nothing is fetched from a host other than the archive's, redirects included.
- `SkipStoredPosts`: at most one download of a post per run, none of a post already stored.
- `WaitForRetryAfter`: a 429/503 `Retry-After` waited for, before Scrapy's own retry.
- `CrawlDelay`: the `Crawl-delay` of robots.txt, honoured between requests to the site.
- `PublicAddressesOnly`: the link check reaches no private network (`core.netguard`).
- `SlotOfTheRedirectedHost`: a redirect to another host waits for that host's turn.
- `CutOnStop` (links): every request of a link check can be cut when the run stops.
- `CapDecodedLinkBodies` (links): Scrapy's HttpCompressionMiddleware, with a linked page's decoded
  body capped at `DIGEST_LINK_MAX_BYTES`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from protego import Protego
from scrapy import signals
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

from core.netguard import Reach, origin_of
from core.numbers import MAX_COUNT, ascii_number
from core.urls import site_of
from crawler.harvest import HarvestRun, harvest_of
from crawler.linkrun import LinkCheck
from crawler.recover import RecoverRun
from crawler.resolver import GuardedResolver
from crawler.run import kind_of, run_of

logger = logging.getLogger(__name__)


class StayOnSite:
    """Refuse any request to another site than the start URL's, before it reaches the network.

    Scrapy's own offsite filter compares domains only, so `127.0.0.1:8001` and `127.0.0.1:9999`
    pass as one site, and it sees redirects only after robots.txt of the new host was fetched.
    """

    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        # A harvest's site is its listing's; a recovery's, the web archives (crawler/recover.py).
        run = run_of(self.crawler).kind
        if not isinstance(run, (HarvestRun, RecoverRun)):
            raise RuntimeError(f"StayOnSite is a digests crawl's, not a {type(run).__name__}'s")
        if not run.is_on_site(request.url):
            request.meta["offsite"] = True
            raise IgnoreRequest(f"not fetched: {request.url} is not on {run.site_name()}")
        return None


class SkipStoredPosts:
    """Requests restored from a JOBDIR queue after a stop were scheduled by the previous process;
    a post stored since then is dropped here, before any download."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.downloaded: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        key = request.meta.get("post_key")
        if (
            key is None
            or request.meta.get("recheck")
            or request.meta.get("refetch")
            or request.meta.get("redirect_times")
            or request.meta.get("retry_times")
        ):
            return None
        if harvest_of(self.crawler).is_stored(key) or key in self.downloaded:
            request.meta["skipped_as_stored"] = True
            logger.debug("Not downloading %s: already stored or downloaded in this run", request.url)
            raise IgnoreRequest(f"already stored: {request.url}")
        self.downloaded.add(key)
        return None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a `Retry-After` header (delta-seconds or an HTTP-date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    seconds = ascii_number(value, MAX_COUNT)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class WaitForRetryAfter:
    """Scrapy ignores `Retry-After` (scrapy#3849): a 429/503 that asks us to wait is waited for here,
    before Scrapy's RetryMiddleware (nearer the downloader, so it sees the answer first) retries it;
    up to `DIGEST_RETRY_AFTER_MAX` seconds (a longer ask gives up on the page for this run, and says so)."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("DIGEST_RETRY_AFTER_MAX"))

    async def process_response(self, request, response):
        if response.status not in (429, 503) or request.meta.get("dont_retry"):
            return response
        header = response.headers.get("Retry-After")
        wait = retry_after_seconds(header.decode("latin-1") if header else None)
        if wait is None:
            return response
        if wait > self.max_wait:
            logger.warning(
                "%s asks to retry after %.0fs, more than DIGEST_RETRY_AFTER_MAX (%.0fs): giving up on it for this run",
                request.url,
                wait,
                self.max_wait,
            )
            request.meta["dont_retry"] = True  # RetryMiddleware hands the answer on as it is
            return response
        logger.info("%s answered %d: waiting %.1fs as Retry-After asks", request.url, response.status, wait)
        await asyncio.sleep(wait)
        return response


class CrawlDelay:
    """robots.txt's `Crawl-delay` (Scrapy ignores it, scrapy#892): at most one request per that many
    seconds to the site, whatever the concurrency and AutoThrottle say.

    The robots.txt answer passes through this middleware on its way to Scrapy's RobotsTxtMiddleware,
    which holds every other request of the site until it has read it; so the delay is known before
    the first of them.
    """

    def __init__(self, crawler) -> None:
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get("USER_AGENT") or ""
        self.max_delay = crawler.settings.getfloat("DIGEST_RETRY_AFTER_MAX")
        self.delays: dict[str, float] = {}  # site → seconds
        self.next_allowed: dict[str, float] = {}  # site → the loop's time of the next request

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response):
        if request.url.endswith("/robots.txt") and response.status == 200:
            try:
                rules = Protego.parse(response.text if hasattr(response, "text") else response.body.decode())
                delay = rules.crawl_delay(self.user_agent) or rules.crawl_delay("*")
            except (UnicodeDecodeError, ValueError):
                delay = None
            if delay is not None and not (math.isfinite(delay) and delay > 0):
                delay = None  # NaN, infinity, zero or a negative delay: nothing to wait for
            if delay and delay > self.max_delay:
                logger.warning(
                    "robots.txt of %s asks for %.0fs between requests (Crawl-delay); waiting "
                    "DIGEST_RETRY_AFTER_MAX (%.0fs) instead",
                    site_of(request.url),
                    delay,
                    self.max_delay,
                )
                delay = self.max_delay
            if delay:
                self.delays[site_of(request.url)] = float(delay)
                logger.info(
                    "robots.txt of %s asks for %.1fs between requests (Crawl-delay): honoured",
                    site_of(request.url),
                    float(delay),
                )
        return response

    async def process_request(self, request):
        site = site_of(request.url)
        delay = self.delays.get(site)
        if not delay or request.url.endswith("/robots.txt"):
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self.next_allowed.get(site, now))
        self.next_allowed[site] = start + delay
        if start > now:
            await asyncio.sleep(start - now)
        return None


class AddressRefused(IgnoreRequest):
    """A request the link check may not make: its address is not public (`core.netguard`)."""


def reach_of(crawler) -> Reach:
    """The reach of this crawler's link check (set by the links spider when it is built)."""
    reach = getattr(crawler, "link_reach", None)
    if reach is None:
        raise RuntimeError("no link reach: the links spider sets it when it is built")
    return reach


class PublicAddressesOnly:
    """The link check connects only to public addresses, the archive's own origins and the networks the
    operator allows: every request, each redirect and meta refresh included (they come back through
    here), is refused before robots.txt is asked for when its host is an IP literal the reach refuses
    or a name refused earlier; a name is judged on the addresses it resolves to, when the connection
    is made (`GuardedResolver`, installed on the reactor while the spider runs)."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self._restore: tuple[Any, Any] | None = None  # the reactor's resolvers before ours

    @classmethod
    def from_crawler(cls, crawler):
        guard = cls(crawler)
        crawler.signals.connect(guard._install_resolver, signal=signals.spider_opened)
        crawler.signals.connect(guard._remove_resolver, signal=signals.spider_closed)
        return guard

    def _install_resolver(self) -> None:
        from twisted.internet import reactor

        previous_simple = reactor.resolver
        previous = reactor.installNameResolver(GuardedResolver(reactor.nameResolver, reach_of(self.crawler)))
        self._restore = (previous, previous_simple)

    def _remove_resolver(self) -> None:
        if self._restore is None:
            return
        from twisted.internet import reactor

        previous, previous_simple = self._restore
        reactor.installNameResolver(previous)
        reactor.resolver = previous_simple
        self._restore = None

    def process_request(self, request):
        why = reach_of(self.crawler).refusal(request.url)
        if why:
            raise AddressRefused(f"not fetched: {why}")
        return None

    def process_exception(self, request, exception):
        """A name the resolver refused fails as "not found"; say what really happened."""
        if isinstance(exception, (DNSLookupError, CannotResolveHostError)):
            origin = origin_of(request.url)
            why = origin and reach_of(self.crawler).refused_at_connect.get((origin.host, origin.port))
            if why:
                raise AddressRefused(f"not fetched: {why}") from None
        return None


class SlotOfTheRedirectedHost:
    """Scrapy's redirect and meta-refresh middlewares copy the request's meta into the new request,
    `download_slot` included: a redirect to another host would be sent in the first host's slot, at
    the first host's pace, whatever the second host's own requests are doing. A slot that was the
    previous hop's host is dropped when the host changes, so the downloader files the request under
    its own host (a slot named otherwise, e.g. by `DOWNLOAD_SLOTS` logic of a spider, is kept)."""

    def process_request(self, request):
        previous = request.meta.get("redirect_urls")
        slot = request.meta.get("download_slot")
        if not previous or slot is None:
            return None
        host = urlparse_cached(request).hostname or ""
        if slot != host and slot == _hostname(previous[-1]):
            del request.meta["download_slot"]
        return None


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


class CutOnStop:
    """The links spider's outermost downloader middleware: each request is handed to the run, which
    cuts what is in flight when it stops (a budget, SIGTERM), and lets none through after that."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        if not kind_of(self.crawler, LinkCheck).admit(request):
            raise IgnoreRequest(f"not fetched: the link check is stopping ({request.url} stays due)")
        return None


# The flag of a linked page whose decoded body passed DIGEST_LINK_MAX_BYTES (its body is dropped).
BODY_OVER_CAP = "decoded_over_cap"


class CapDecodedLinkBodies(HttpCompressionMiddleware):
    """Scrapy's HttpCompressionMiddleware in its place (590), with the decoded body of a linked page
    capped at DIGEST_LINK_MAX_BYTES whatever its Content-Encoding: a 40 MB page sent as 40 KB of gzip
    is never held whole. The cap on the wire is the spider's (bytes_received); this one is Scrapy's
    own, its `download_maxsize` measured while decompressing. A page past it keeps its status (the
    link is checked) with an empty body and the flag BODY_OVER_CAP: never captured."""

    def __init__(self, crawler) -> None:
        super().__init__(crawler=crawler)
        self.max_bytes = crawler.settings.getint("DIGEST_LINK_MAX_BYTES")

    @classmethod
    def from_crawler(cls, crawler):
        super().from_crawler(crawler)  # NotConfigured when COMPRESSION_ENABLED is off
        return cls(crawler)

    def process_response(self, request, response, spider=None):  # `spider`: the signature of Scrapy's
        if "link_id" not in request.meta:  # robots.txt, the CDX API: Scrapy's DOWNLOAD_MAXSIZE
            return super().process_response(request, response)
        # On a copy: the cap must not reach a retry or a redirect of this request (there Scrapy's
        # download handler would fail a long body instead of letting the spider cut it).
        capped = request.replace(meta={**request.meta, "download_maxsize": self.max_bytes})
        try:
            return super().process_response(capped, response)
        except IgnoreRequest:
            headers = response.headers.copy()
            headers.pop("Content-Encoding", None)
            return response.replace(body=b"", headers=headers, flags=[*response.flags, BODY_OVER_CAP])
