"""What went wrong with a request, as a failure kind a script can group by and a sentence a person reads."""

from __future__ import annotations

from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError, ConnectionLost, ConnectionRefusedError, DNSLookupError, TCPTimedOutError, TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

try:  # Scrapy raises this when a response is cut short of its Content-Length
    from scrapy.exceptions import DownloadTimeoutError  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Scrapy
    DownloadTimeoutError = TimeoutError


def describe_failure(failure) -> tuple[str, str, int | None]:
    """(kind, message, HTTP status or None) for a Twisted failure that reached an errback."""
    error = failure.value
    if failure.check(HttpError):
        response = error.response
        return "http_status", f"HTTP {response.status} from {response.url}", response.status
    if failure.check(TimeoutError, TCPTimedOutError, DownloadTimeoutError):
        return "timeout", f"no complete answer in time: {error}", None
    if failure.check(DNSLookupError):
        return "dns", f"host name not found: {error}", None
    if failure.check(ConnectionRefusedError, ConnectError):
        return "connection", f"could not connect: {error}", None
    if failure.check(ResponseFailed, ResponseNeverReceived, ConnectionLost):
        return "data_loss", f"connection broke before the page was complete: {error}", None
    return "download_error", f"{type(error).__name__}: {error}", None
