"""The link check's pure rules: one status per answer or failure, and when a link is dead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.link_status import STATUSES, DeadRule, LinkState, next_state, status_of_answer, status_of_failure
from core.parsing import ParseError
from core.parsing.cdx import CdxCapture, cdx_query, closest_not_after, parse_cdx_answer, replay_url
from core.parsing.linked_page import parse_linked_page

URL = "https://news.example/2019/09/article"


@pytest.mark.parametrize(
    ("status", "final_url", "title", "expected"),
    [
        (200, URL, "An article", "ok"),
        (200, "https://news.example/2019/09/article-renamed", None, "ok"),
        (200, "https://news.example/", "News", "soft-404"),
        (200, "https://news.example/en/", "News", "soft-404"),
        (200, URL, "Page not found – News", "soft-404"),
        (200, URL, "Oops! That page can’t be found.", "soft-404"),
        (404, URL, None, "gone"),
        (410, URL, None, "gone"),
        (401, URL, None, "blocked"),
        (403, URL, None, "blocked"),
        (429, URL, None, "blocked"),
        (451, URL, None, "blocked"),
        (500, URL, None, "server-error"),
        (503, URL, None, "server-error"),
        (418, URL, None, "unchecked"),
    ],
)
def test_status_of_answer(status, final_url, title, expected):
    assert status_of_answer(status, URL, final_url, title=title) == expected
    assert expected in STATUSES


def test_a_home_page_link_redirected_home_is_fine():
    assert status_of_answer(200, "http://news.example", "https://news.example/") == "ok"


def test_a_proxy_that_could_not_reach_the_host_is_not_the_host_failing():
    assert status_of_answer(502, URL, URL, proxy_status="squid; error=dns_error") == "unreachable"
    assert status_of_answer(504, URL, URL, proxy_status="proxy; error=connection_timeout") == "timeout"
    assert status_of_answer(502, URL, URL) == "server-error"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("timeout", "timeout"),
        ("dns", "unreachable"),
        ("connection", "unreachable"),
        ("tls", "unreachable"),
        ("tunnel", "unreachable"),
        ("redirect_loop", "redirect-loop"),
        ("robots", "disallowed"),
        ("dropped", "unchecked"),
    ],
)
def test_status_of_failure(kind, expected):
    assert status_of_failure(kind) == expected


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
RULE = DeadRule(failures=2, days=7)


def test_one_failure_after_a_good_week_is_not_dead():
    state = next_state(LinkState(), "ok", T0, RULE)
    state = next_state(state, "gone", T0 + timedelta(days=7), RULE)
    assert (state.status, state.failures, state.dead) == ("gone", 1, False)
    assert state.last_ok_at == T0.isoformat() and state.failing_since == (T0 + timedelta(days=7)).isoformat()


def test_two_failures_a_week_apart_make_a_link_dead_and_a_good_check_revives_it():
    state = next_state(LinkState(), "gone", T0, RULE)
    state = next_state(state, "gone", T0 + timedelta(days=3), RULE)
    assert not state.dead  # two failures, but only three days apart
    state = next_state(state, "unreachable", T0 + timedelta(days=8), RULE)
    assert state.dead and state.failures == 3 and state.dead_since == (T0 + timedelta(days=8)).isoformat()
    assert state.failing_since == T0.isoformat()
    state = next_state(state, "timeout", T0 + timedelta(days=40), RULE)
    assert state.dead_since == (T0 + timedelta(days=8)).isoformat()  # dead since the first time it was
    state = next_state(state, "ok", T0 + timedelta(days=70), RULE)
    assert (state.dead, state.failures, state.failing_since) == (False, 0, None)


def test_blocked_and_disallowed_neither_count_nor_end_a_run_of_failures():
    state = next_state(LinkState(), "gone", T0, RULE)
    state = next_state(state, "blocked", T0 + timedelta(days=4), RULE)
    assert (state.status, state.failures) == ("blocked", 1)
    state = next_state(state, "gone", T0 + timedelta(days=8), RULE)
    assert state.dead and state.failures == 2
    assert not next_state(LinkState(), "blocked", T0, RULE).dead


def test_linked_page_title_and_heading():
    page = parse_linked_page(b"<html><head><title> Not  Found </title></head><body><h1>Oops</h1></body></html>")
    assert (page.title, page.heading) == ("Not Found", "Oops")
    assert parse_linked_page(b"%PDF-1.4 \x00\x01") == parse_linked_page(b"") == parse_linked_page(b"\xff\xfe")


def test_cdx_query_asks_for_the_last_capture_not_after_the_digest():
    query = cdx_query("https://web.archive.org/cdx/search/cdx", "http://a.example/x?y=1", "2019-09-20")
    assert "to=20190920235959" in query and "limit=-1" in query and "output=json" in query
    assert "url=http%3A%2F%2Fa.example%2Fx%3Fy%3D1" in query
    assert "to=" not in cdx_query("https://cdx.example/cdx", "http://a.example/", None)


def test_internet_archive_json_and_text_answers():
    json_answer = (
        b'[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],'
        b'["example,a)/x","20190101120000","http://a.example/x","text/html","200","D","1"],'
        b'["example,a)/x","20190921000000","http://a.example/x","text/html","200","D","1"]]'
    )
    captures = parse_cdx_answer(json_answer)
    assert [c.timestamp for c in captures] == ["20190101120000", "20190921000000"]
    closest = closest_not_after(captures, "2019-09-20")  # a server that ignored `to=` is not trusted
    assert closest == CdxCapture("20190101120000", "http://a.example/x", "200")
    assert (
        replay_url("https://web.archive.org/web/", closest)
        == "https://web.archive.org/web/20190101120000/http://a.example/x"
    )
    text_answer = b"example,a)/x 20180101000000 http://a.example/x text/html 200 D 1\n"
    assert parse_cdx_answer(text_answer) == [CdxCapture("20180101000000", "http://a.example/x", "200")]
    assert parse_cdx_answer(b"[]") == parse_cdx_answer(b"") == []


def test_pywb_json_lines_are_read_and_cdxj_refused():
    pywb = b'{"urlkey": "example,a)/x", "timestamp": "20190101000000", "url": "http://a.example/x", "status": "200"}\n'
    assert parse_cdx_answer(pywb) == [CdxCapture("20190101000000", "http://a.example/x", "200")]
    with pytest.raises(ParseError):
        parse_cdx_answer(b'example,a)/x 20190101000000 {"url": "http://a.example/x"}\n')
    with pytest.raises(ParseError):
        parse_cdx_answer(b'{"a": 1}\nnot json\n')
    assert "limit" not in cdx_query("http://127.0.0.1:1/coll/cdx", "http://a.example/", None, limit=0)
