"""The link check's pure rules: one status per answer or failure, and when a link is dead."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.failure_kinds import FAILURE_KINDS
from core.link_status import (
    DEAD,
    FAILING,
    STATUSES,
    DeadRule,
    Effect,
    LinkState,
    Look,
    is_own_post,
    lookup_due,
    next_state,
    reason_of,
    shown_state,
    status_of_answer,
    status_of_failure,
)
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


def _lookup(state: LinkState, now: datetime, last: datetime | None = None, **known: bool) -> bool:
    return lookup_due(
        state,
        now=now,
        last_lookup_at=last.isoformat() if last else None,
        has_copy=known.get("has_copy", False),
        has_capture=known.get("has_capture", False),
        every_days=30,
        dead_every_days=90,
    )


@pytest.mark.parametrize("status", [name for name, status in STATUSES.items() if status.failing])
def test_a_copy_is_looked_up_at_the_first_failing_check_before_the_link_is_dead(status):
    state = next_state(LinkState(), status, T0, RULE)
    assert not state.dead and _lookup(state, T0)
    # Not again within the recheck period, whatever the lookup found; again once it has passed.
    assert not _lookup(state, T0 + timedelta(days=29), last=T0)
    assert _lookup(state, T0 + timedelta(days=30), last=T0)
    # Never when a copy was found or we hold our own capture.
    assert not _lookup(state, T0, has_copy=True) and not _lookup(state, T0, has_capture=True)


def test_no_lookup_for_a_link_that_answers_says_nothing_or_is_refused():
    for status in ("ok", "blocked", "disallowed", "unchecked", "refused"):
        assert not _lookup(next_state(LinkState(), status, T0, RULE), T0), status
    # A dead link refused on its next check (it now points into a private network) is never looked up.
    dead = next_state(next_state(LinkState(), "gone", T0, RULE), "gone", T0 + timedelta(days=8), RULE)
    assert dead.dead and not _lookup(next_state(dead, "refused", T0 + timedelta(days=9), RULE), T0)


def test_a_dead_link_is_looked_up_once_per_dead_recheck_period_even_when_its_last_check_said_nothing():
    dead = next_state(next_state(LinkState(), "gone", T0, RULE), "gone", T0 + timedelta(days=8), RULE)
    assert not _lookup(dead, T0 + timedelta(days=8), last=T0)  # looked up at the first failure, 8 days ago
    assert not _lookup(dead, T0 + timedelta(days=89), last=T0)  # the dead period (90), not the other (30)
    assert _lookup(dead, T0 + timedelta(days=90), last=T0)
    blocked = next_state(dead, "blocked", T0 + timedelta(days=100), RULE)
    assert blocked.dead and _lookup(blocked, T0 + timedelta(days=100), last=T0)
    # A lookup time stored without an offset is UTC.
    assert not lookup_due(
        dead, now=T0 + timedelta(days=1), last_lookup_at=T0.replace(tzinfo=None).isoformat(),
        has_copy=False, has_capture=False, every_days=30, dead_every_days=90,
    )  # fmt: skip


def test_a_link_on_a_site_of_the_archives_own_digests_is_own_and_never_looked_up():
    origins = {"https://digest.test", "http://blog.example:8080"}
    assert is_own_post("https://digest.test/en/posts/1", origins)
    assert is_own_post("https://DIGEST.test/2019/09/13/digest-12/", origins)
    assert is_own_post("http://user@blog.example:8080/p/1", origins)
    assert not is_own_post("http://digest.test/en/posts/1", origins)  # another origin (scheme)
    assert not is_own_post("http://blog.example/p/1", origins)  # another origin (port)
    assert not is_own_post("https://news.example/a", origins) and not is_own_post("mailto:x@digest.test", origins)
    dead = next_state(next_state(LinkState(), "gone", T0, RULE), "gone", T0 + timedelta(days=8), RULE)
    own = next_state(dead, "own", T0 + timedelta(days=9), RULE)
    assert (own.dead, own.failures) == (False, 0) and not _lookup(own, T0 + timedelta(days=9))


# --- the statuses, defined once ---------------------------------------------------------------------


def test_every_status_the_rules_can_give_is_declared():
    """Every answer (each status code, redirected home or not, a not-found title, a proxy's error) and every
    failure kind gives a declared status; and no status is declared that nothing gives."""
    given = set()
    proxy_errors = (
        None,
        "squid; error=dns_error",
        "squid; error=connection_timeout",
        "squid; error=http_protocol_error",
    )
    for code in range(100, 600):
        for final_url in (URL, "https://news.example/"):
            for title in (None, "Page not found"):
                for proxy_status in proxy_errors:
                    given.add(status_of_answer(code, URL, final_url, title=title, proxy_status=proxy_status))
    for kind in [*FAILURE_KINDS, "tls", "tunnel", "refused", "something new"]:
        given.add(status_of_failure(kind, "a message"))
    assert given <= set(STATUSES)
    # Each declared status is one a check can record, but `own`: the archive's own posts (`is_own_post`)
    # are classified, never checked.
    assert given | {"own"} == set(STATUSES)


def test_every_status_literal_the_rules_return_is_declared():
    """The rules written as code: every string a function of core/link_status.py returns is a status
    (what `status_of_answer` or `status_of_failure` could give on a path the test above missed)."""
    source = Path(__file__).resolve().parent.parent / "core" / "link_status.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    returned = set()
    for function in ("status_of_answer", "status_of_failure"):
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
        for ret in ast.walk(node):
            if isinstance(ret, ast.Return) and ret.value is not None:
                returned |= {
                    c.value for c in ast.walk(ret.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
    assert returned and returned <= set(STATUSES)


def test_a_check_with_an_undeclared_status_is_refused():
    with pytest.raises(ValueError, match="undeclared link status"):
        next_state(LinkState(), "gone-ish", T0, RULE)


def test_what_each_status_does_to_a_run_of_failures_is_its_declared_effect():
    failing = next_state(LinkState(), "gone", T0, RULE)
    dead = next_state(failing, "gone", T0 + timedelta(days=8), RULE)
    assert dead.dead
    for status in STATUSES.values():
        after = next_state(dead, status.name, T0 + timedelta(days=9), RULE)
        if status.effect is Effect.FAILING:
            assert (after.failures, after.dead) == (3, True), status.name
        elif status.effect is Effect.NEUTRAL:
            assert (after.failures, after.dead) == (2, True), status.name
        else:  # GOOD and REFUSED end the run and the death
            assert (after.failures, after.dead) == (0, False), status.name
        assert status.failing == (status.effect is Effect.FAILING)


def test_the_reader_shows_dead_over_the_last_status_and_an_unknown_status_plainly():
    assert shown_state("blocked", dead=True) is DEAD
    assert shown_state("gone", dead=False) is STATUSES["gone"]
    assert shown_state("from-a-newer-version", dead=False).look is Look.PLAIN
    assert all(status.marked == status.failing for status in STATUSES.values())


def test_the_docs_table_lists_every_status_and_the_reader_styles_every_marked_one():
    from reader.links import link_css
    from tools.docgen import link_statuses

    table = link_statuses()
    links_md = (Path(__file__).resolve().parent.parent / "docs" / "links.md").read_text(encoding="utf-8")
    css = str(link_css())
    for status in [*STATUSES.values(), DEAD]:
        assert f"| `{status.name}` | {status.meaning.replace('|', chr(92) + '|')} |" in table, status.name
        assert f"| `{status.name}` |" in links_md, status.name
        assert (f"a.link-{status.name}" in css) == status.marked, status.name


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


def test_every_failing_status_has_a_reason_in_words_and_no_other_status_has_one():
    """The dead-links page, its CSV and JSON and the report say why a link fails in these words; "dead" is a
    state, never a reason."""
    for name, status in STATUSES.items():
        assert bool(status.reason) == status.failing, name
        assert reason_of(name) == (status.reason or name)
    assert not DEAD.reason
    assert len({status.reason for status in STATUSES.values() if status.failing}) == len(FAILING)
    assert reason_of("server-error") == "server error" and reason_of("gone") == "gone"
    assert reason_of("no-such-status") == "no-such-status"  # an archive of another version: its own name
