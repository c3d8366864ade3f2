"""What went wrong with a request, as a failure kind a script can group by and a sentence a person reads."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError, DownloadCancelledError, DownloadConnectionRefusedError, DownloadFailedError,
    DownloadTimeoutError, IgnoreRequest, ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError, ConnectionLost, ConnectionRefusedError, DNSLookupError, TCPTimedOutError, TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

# Every kind a `failures` row can have, with its meaning (shown in Datasette; a test checks that the
# code records no other kind).
FAILURE_KINDS = {
    "http_status": "the server answered with an error status (after retries)",
    "timeout": "no complete answer within DOWNLOAD_TIMEOUT (after retries)",
    "data_loss": "the connection broke before the whole page arrived",
    "too_large": "the page is larger than DOWNLOAD_MAXSIZE",
    "redirect_loop": "redirects went round in circles (REDIRECT_MAX_TIMES)",
    "offsite": "the page redirects to, or names itself as, another site's: never fetched nor stored",
    "robots": "robots.txt forbids the page",
    "not_html": "the answer is not an HTML page (e.g. a PDF)",
    "empty": "the answer is empty",
    "parse_error": "an HTML page, but not a readable digest",
    "invalid": "parsed, but without a title or entries",
    "shrunk": "parsed with less than half the entries the archive has: the stored digest was kept",
    "storage": "the archive could not store it (disk full, read-only, locked, a constraint): the run stopped",
    "dns": "the host name could not be resolved",
    "connection": "the server refused the connection",
    "dropped": "requested, but neither a digest, a 304 nor a failure came of it",
    "rest_item": "an item of the REST index with no usable post id (wrong type or out of range): nothing to fetch",
    "exception": "an unexpected error in the crawler (its type and message): the run stopped, exit code 6",
    "download_error": "any other download error",
}


def describe_failure(failure) -> tuple[str, str, int | None]:
    """(kind, message, HTTP status or None) for a Twisted failure that reached an errback."""
    error = failure.value
    request = failure.request
    if failure.check(HttpError):
        response = error.response
        return "http_status", f"HTTP {response.status} from {response.url}", response.status
    if failure.check(IgnoreRequest):
        if request.meta.get("offsite"):
            return "offsite", f"redirected off the archive's site: {error}", None
        if "max redirections" in str(error):
            return "redirect_loop", f"more than {request.meta.get('redirect_ttl', 20)} redirects, last to " \
                                    f"{request.url}", None
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
