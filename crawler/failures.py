"""What went wrong with a request, as a failure kind a script can group by and a sentence a person reads."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from core.failure_kinds import FAILURE_KINDS  # noqa: F401  (re-exported: kinds and their meanings)


def describe_failure(failure) -> tuple[str, str, int | None]:
    """(kind, message, HTTP status or None) for a Twisted failure that reached an errback."""
    error = failure.value
    request = failure.request
    if failure.check(HttpError):
        response = error.response
        return "http_status", f"HTTP {response.status} from {response.url}", response.status
    if failure.check(IgnoreRequest):
        if request.meta.get("offsite"):
            return "offsite", f"redirected off the listing's site: {error}", None
        if "max redirections" in str(error):
            return (
                "redirect_loop",
                f"more than {request.meta.get('redirect_ttl', 20)} redirects, last to {request.url}",
                None,
            )
        if "robots.txt" in str(error):
            return "robots", f"robots.txt forbids {request.url}", None
        return "dropped", f"request dropped: {error}", None
    if failure.check(DownloadTimeoutError, TimeoutError, TCPTimedOutError):
        return "timeout", f"no complete answer in time: {error}", None
    if failure.check(DownloadCancelledError) and "max" in str(error).lower():
        return "too_large", str(error), None
    if failure.check(ResponseDataLossError, ResponseFailed, ResponseNeverReceived, ConnectionLost):
        return "data_loss", f"connection broke before the page was complete ({type(error).__name__})", None
    if failure.check(CannotResolveHostError, DNSLookupError):
        return "dns", f"host name not found: {error}", None
    if failure.check(DownloadConnectionRefusedError, ConnectionRefusedError, ConnectError):
        return "connection", f"could not connect: {error}", None
    if failure.check(DownloadFailedError):
        return "download_error", f"download failed: {error}", None
    return "download_error", f"{type(error).__name__}: {error}", None
