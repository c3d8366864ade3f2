"""Failure descriptions on their own: a Twisted failure that reached an errback becomes a kind a script
groups by and a sentence a person reads; and a `Retry-After` header becomes seconds."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TimeoutError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from core.failure_kinds import FAILURE_KINDS
from crawler.failures import describe_failure
from crawler.middlewares import retry_after_seconds

URL = "https://www.nejatngo.org/en/posts/7303"


def failure_of(error: Exception, **meta) -> Failure:
    try:
        raise error
    except Exception:
        failure = Failure()
    failure.request = Request(URL, meta=meta)  # what Scrapy attaches before the errback
    return failure


@pytest.mark.parametrize(
    ("error", "meta", "kind", "words"),
    [
        (HttpError(Response(URL, status=404)), {}, "http_status", "HTTP 404 from " + URL),
        (IgnoreRequest("Forbidden by robots.txt"), {}, "robots", "robots.txt forbids"),
        (IgnoreRequest("max redirections reached"), {"redirect_ttl": 7}, "redirect_loop", "more than 7 redirects"),
        (IgnoreRequest("Filtered offsite request"), {"offsite": True}, "offsite", "redirected off the listing"),
        (IgnoreRequest("whatever"), {}, "dropped", "request dropped: whatever"),
        (TimeoutError("took too long"), {}, "timeout", "no complete answer in time"),
        (ResponseNeverReceived([]), {}, "data_loss", "connection broke"),
        (DNSLookupError("no.such.host"), {}, "dns", "host name not found"),
        (ConnectionRefusedError("refused"), {}, "connection", "could not connect"),
        (ValueError("odd"), {}, "download_error", "ValueError: odd"),
    ],
)
def test_each_failure_has_its_kind_and_a_sentence(error, meta, kind, words):
    got_kind, message, status = describe_failure(failure_of(error, **meta))
    assert got_kind == kind and words in message
    assert got_kind in FAILURE_KINDS, "every kind the code gives is documented"
    assert status == (404 if kind == "http_status" else None)


NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Mon, 07 Dec 2026 12:01:30 GMT", 90.0),
        ("Mon, 07 Dec 2026 11:00:00 GMT", 0.0),  # a date in the past: no wait
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1e9", None),
        ("99999999999999999999999", None),  # absurd: not a number we take
        ("١٢٠", None),  # not ASCII digits
    ],
)
def test_retry_after_is_delta_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header, now=NOW) == seconds
