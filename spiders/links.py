"""The `links` spider: checks every distinct link of the archive that is due, politely, and looks failing
ones up in a web archive (from their first failing check: `core.link_status.lookup_due`). It only decides
what to fetch; `core.link_status` classifies and says when to look up, the run stores.

    scrapy crawl links                                 # the links of archive.db that are due
    scrapy crawl links -s DATABASE=x.db -s DOWNLOAD_DELAY=2
    scrapy crawl links -s DIGEST_LINK_CAPTURE=False   # check only, write no WARC

Politeness is Scrapy's own, so `-s` overrides it as for any spider: robots.txt obeyed (a disallowed
link is recorded as `disallowed`, never fetched), one request at a time per host with `DOWNLOAD_DELAY`
and AutoThrottle, hosts in parallel up to `CONCURRENT_REQUESTS`, and `DownloaderAwarePriorityQueue`
so that a host with many links does not hold the others back. GET, never HEAD; bodies past
`DIGEST_LINK_MAX_BYTES` (on the wire, or decoded) are cut (the status still counts, nothing is
captured). `http_proxy`/`https_proxy`/`no_proxy` are honoured by Scrapy's HttpProxyMiddleware.
Budgets per run (links per host, capture bytes, seconds) are the run's (crawler/linkrun.py).

A link reaches only public addresses, the archive's own origins and `DIGEST_LINK_ALLOW_NETWORKS`
(`core.netguard`; `PublicAddressesOnly` and its resolver): anything else is recorded as `refused`.
"""

from __future__ import annotations

import sys
from typing import NoReturn
from urllib.request import getproxies

import scrapy
from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler, TunnelError
from scrapy.exceptions import StopDownload
from scrapy.utils.misc import load_object

from core.items import ArchivedCopyLookup, LinkChecked, LinkPage
from core.link_status import LinkState, is_capturable, status_of_answer, status_of_failure
from core.netguard import parse_networks, reach_for
from core.parsing import ParseError
from core.parsing.cdx import cdx_query, closest_not_after, parse_cdx_answer, replay_url
from core.parsing.decoding import charset_of
from core.parsing.linked_page import parse_linked_page
from crawler.arguments import unknown_argument
from crawler.config import BadSetting, apply_project_defaults, check_settings, link_lookup_archive, web_archives_of
from crawler.failures import describe_failure
from crawler.linkrun import CUT, LinkCheck
from crawler.middlewares import BODY_OVER_CAP, AddressRefused
from crawler.run import USAGE_EXIT_CODE, RunRefused

# Every status but redirects reaches the callback (redirects are followed by Scrapy's middleware).
_ANSWERED_STATUSES = [*range(100, 300), *range(304, 305), *range(400, 600)]


def _require_twisted_http(settings) -> None:
    """The private-network guard judges the addresses Twisted connects to (crawler/resolver.py); another
    download handler (Scrapy's httpx or aiohttp ones) resolves names itself, unguarded."""
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    for scheme in ("http", "https"):
        handler = handlers.get(scheme)
        if handler is None or load_object(handler) is not HTTP11DownloadHandler:
            _usage_error(
                f"DOWNLOAD_HANDLERS[{scheme!r}] must be Scrapy's HTTP11DownloadHandler for the link check: "
                "its connections are where private addresses are refused",
                2,
            )


def _usage_error(message: str, code: int) -> NoReturn:
    print(f"links: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


class LinksSpider(scrapy.Spider):
    name = "links"
    crawls_each_archive = False  # one run over the archive file, whatever DIGEST_ARCHIVES lists
    run: LinkCheck
    max_bytes: int  # DIGEST_LINK_MAX_BYTES
    cdx_api: str  # the first of DIGEST_WEB_ARCHIVES, or DIGEST_LINK_CDX_API ("" : no lookups)
    replay_prefix: str  # its replay prefix
    cdx_limit: int  # DIGEST_LINK_CDX_LIMIT

    # Priority "spider": the project's settings give way to these, `-s` overrides both.
    custom_settings = {
        "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
        "AUTOTHROTTLE_START_DELAY": 1.0,
        # No jitter: Scrapy draws it again each time the downloader looks at a host's slot, which
        # stretches the mean gap to ~1.2 × DOWNLOAD_DELAY (bench/links.py); a link check needs no
        # disguise, and an exact delay per host is what it promises.
        "DOWNLOAD_DELAY_JITTER": 0,
        "DOWNLOAD_TIMEOUT": 30,
        "RETRY_TIMES": 2,
        "REDIRECT_MAX_TIMES": 10,
        # A linked page's cap is DIGEST_LINK_MAX_BYTES (cut, not failed; decoded too: CapDecodedLinkBodies);
        # this is for robots.txt and the CDX API's answers.
        "DOWNLOAD_MAXSIZE": 64 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.middlewares.CutOnStop": 10,  # outermost: a stop cuts a request wherever it waits
            # Before RobotsTxtMiddleware (100): a refused host is not even asked for its robots.txt.
            "crawler.middlewares.PublicAddressesOnly": 50,
            "crawler.middlewares.SlotOfTheRedirectedHost": 60,
            "crawler.middlewares.CrawlDelay": 110,
            "crawler.middlewares.WaitForRetryAfter": 560,
            "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
            "crawler.middlewares.CapDecodedLinkBodies": 590,
        },
        "ITEM_PIPELINES": {"crawler.pipelines.StoreInArchive": 300},
        "EXTENSIONS": {"crawler.progress.CrawlProgress": None},
    }

    def __init__(self, **kwargs) -> None:
        unknown = unknown_argument(kwargs, {})  # a link check takes no arguments, only settings
        if unknown is not None:
            _usage_error(unknown, USAGE_EXIT_CODE)
        super().__init__(**kwargs)

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        apply_project_defaults(settings)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        try:
            check_settings(crawler.settings)
        except BadSetting as error:
            _usage_error(str(error), USAGE_EXIT_CODE)
        lookup = link_lookup_archive(crawler.settings)
        spider.cdx_api = lookup.cdx if lookup is not None else ""
        spider.replay_prefix = lookup.replay if lookup is not None else ""
        spider.cdx_limit = crawler.settings.getint("DIGEST_LINK_CDX_LIMIT")
        try:
            networks = parse_networks(crawler.settings.get("DIGEST_LINK_ALLOW_NETWORKS"))
        except ValueError as error:
            _usage_error(f"DIGEST_LINK_ALLOW_NETWORKS: {error}", 2)
        _require_twisted_http(crawler.settings)
        try:
            spider.run = LinkCheck.open(crawler)
        except RunRefused as refused:
            _usage_error(str(refused), refused.exit_code)
        # The origins the operator chose: the archives named, the sites of stored digests, the web archives
        # (DIGEST_WEB_ARCHIVES, and the CDX API of DIGEST_LINK_CDX_API).
        crawler.link_reach = reach_for(
            archive_urls=[
                *crawler.settings.getlist("DIGEST_ARCHIVES"),
                *spider.run.digest_origins,
                *([spider.cdx_api] if spider.cdx_api else []),
                *(url for archive in web_archives_of(crawler.settings) for url in archive.origins),
            ],
            networks=networks,
            proxy_urls=[url for kind, url in getproxies().items() if kind != "no"]
            if crawler.settings.getbool("HTTPPROXY_ENABLED")
            else (),
        )
        spider.max_bytes = spider.run.budgets.max_bytes
        crawler.signals.connect(spider._bytes_received, signal=signals.bytes_received)
        return spider

    async def start(self):
        try:
            due = self.run.links_due()
            self.logger.info("%d links due for a check", len(due))
            for link in due:
                yield self._check_request(link.id, link.url)
        except Exception as error:  # handed to the run, which fails the crawl
            self.run.crashed(error, None, "choosing the links to check for")

    def _check_request(self, target_id: int, url: str) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.checked,
            errback=self.failed,
            dont_filter=True,
            meta={"link_id": target_id, "link_url": url, "handle_httpstatus_list": _ANSWERED_STATUSES},
        )

    def _bytes_received(self, data: bytes, request, spider) -> None:
        """A body past DIGEST_LINK_MAX_BYTES is cut: the answer's status still says whether the link lives."""
        if "link_id" not in request.meta:
            return
        request.meta["link_bytes"] = request.meta.get("link_bytes", 0) + len(data)
        if request.meta["link_bytes"] > self.max_bytes:
            raise StopDownload(fail=False)

    # --- callbacks: navigate, delegate ----------------------------------------------------------

    def checked(self, response):
        target_id, url = response.meta["link_id"], response.meta["link_url"]
        headers = response.headers
        content_type = (headers.get("Content-Type") or b"").decode("latin-1")
        truncated = "download_stopped" in response.flags or BODY_OVER_CAP in response.flags
        title = heading = None
        if 200 <= response.status < 300 and "html" in content_type.lower():
            page = parse_linked_page(response.body, charset_of(content_type))
            title, heading = page.title, page.heading
        status = status_of_answer(
            response.status,
            url,
            response.url,
            title=title,
            heading=heading,
            proxy_status=(headers.get("Proxy-Status") or b"").decode("latin-1") or None,
        )
        capture = None
        if status == "ok" and not truncated and is_capturable(content_type):
            capture = LinkPage(
                url=response.url,
                http_status=response.status,
                reason="OK",
                headers=tuple(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, values in headers.items()
                    for value in values
                ),
                body=response.body,
            )
        message = f"body past DIGEST_LINK_MAX_BYTES ({self.max_bytes}): not captured" if truncated else None
        state = self.run.judge(target_id, status)  # before the item: the run writes the state judged here
        yield LinkChecked(
            target_id=target_id,
            url=url,
            status=status,
            http_status=response.status,
            final_url=response.url if response.url != url else None,
            message=message or (title if status == "soft-404" else None),
            page=capture,
        )
        yield from self._lookup_if_due(target_id, url, state)

    def failed(self, failure):
        request = failure.request
        if request.meta.get(CUT):  # cut by a stop: no check to record, the link stays due
            return
        target_id, url = request.meta["link_id"], request.meta["link_url"]
        if failure.check(AddressRefused):
            kind, message = "refused", str(failure.value)
        elif failure.check(TunnelError):
            kind, message = "tunnel", f"the proxy could not reach the host: {failure.value}"
        else:
            kind, message, _ = describe_failure(failure)
            if "SSL" in type(failure.value).__name__ or "ssl" in str(failure.value).lower():
                kind = "tls"
            if kind == "redirect_loop":  # the request's redirect_ttl is spent by now: name the setting
                limit = self.crawler.settings.getint("REDIRECT_MAX_TIMES")
                message = f"more than {limit} redirects (REDIRECT_MAX_TIMES), last to {request.url}"
        status = status_of_failure(kind, message)
        state = self.run.judge(target_id, status)
        yield LinkChecked(target_id=target_id, url=url, status=status, final_url=None, message=message)
        yield from self._lookup_if_due(target_id, url, state)

    def _lookup_if_due(self, target_id: int, url: str, state: LinkState):
        not_after = self.run.lookup_due(target_id, state)
        if not_after is None or not self.cdx_api:
            return
        yield scrapy.Request(
            cdx_query(self.cdx_api, url, not_after or None, self.cdx_limit),
            callback=self.copy_answered,
            errback=self.copy_failed,
            dont_filter=True,
            meta={"copy_for": target_id, "link_url": url, "not_after": not_after, "handle_httpstatus_all": True},
        )

    def copy_answered(self, response):
        target_id, url = response.meta["copy_for"], response.meta["link_url"]
        if response.status != 200:
            # 429 or 5xx: "later", never "no copy" (a shared public service).
            yield ArchivedCopyLookup(target_id, url, None, f"CDX API answered {response.status}: ask again later")
            return
        try:
            captures = parse_cdx_answer(response.body)
        except ParseError as error:
            yield ArchivedCopyLookup(target_id, url, None, f"CDX API answer unreadable: {error}")
            return
        closest = closest_not_after(captures, response.meta["not_after"] or None)
        if closest is None:
            yield ArchivedCopyLookup(target_id, url, None, "no capture in the web archive before the digest")
            return
        yield ArchivedCopyLookup(target_id, url, replay_url(self.replay_prefix, closest), None)

    def copy_failed(self, failure):
        request = failure.request
        if request.meta.get(CUT):  # cut by a stop: asked again by a later run
            return
        _, message, _ = describe_failure(failure)
        yield ArchivedCopyLookup(request.meta["copy_for"], request.meta["link_url"], None, f"CDX API: {message}")
