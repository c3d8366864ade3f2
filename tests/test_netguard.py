"""The link check never reaches a private network: the rules (core/netguard.py) and the real
`scrapy crawl links` against a private service on 127.0.0.1 that must receive no request at all."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.netguard import Origin, Reach, ip_literal, not_public, origin_of, parse_networks, reach_for
from core.urls import canonical_link
from fixtures.linked import archive_linking
from fixtures.private import RecordingServer, meta_refresh, redirect
from fixtures.web import Host, StandInWeb

from .conftest import assert_clean_run, rows, run_scrapy

# --- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "127.1",
        "0177.0.0.1",
        "0x7f000001",
        "[::1]",
        "::ffff:127.0.0.1",
        "127.0.0.1.",
    ],
)
def test_every_spelling_of_loopback_is_loopback(host):
    address = ip_literal(host)
    assert address is not None and not_public(address) is not None and "loopback" in not_public(address)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata address
        ("100.64.0.1", "carrier-grade NAT"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 around 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_private_addresses_are_refused_with_their_reason(address, why):
    assert why in (not_public(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert not_public(ipaddress.ip_address(address)) is None


def test_names_are_not_literals():
    assert ip_literal("localhost") is None and ip_literal("1.2.3.4.example.org") is None and ip_literal("") is None


def test_an_origin_is_scheme_host_and_port():
    reach = reach_for(chosen_urls=["http://127.0.0.1:8000/category/digest"], networks="")
    assert reach.origins == {Origin("http", "127.0.0.1", 8000)}
    assert reach.refusal("http://127.0.0.1:8000/any/page") is None
    assert "loopback" in (reach.refusal("http://127.0.0.1:22/") or "")  # the same host, another port
    assert "loopback" in (reach.refusal("https://127.0.0.1:8000/") or "")  # another scheme
    assert "loopback" in (reach.refusal("http://127.1:8000/") or "")  # the same address, spelt otherwise
    assert reach.refusal("http://example.org/") is None  # a name: judged when resolved
    assert reach.refusal("ftp://example.org/") == "not an http(s) URL"
    assert origin_of("https://Example.org./x") == Origin("https", "example.org", 443)


def test_allowed_networks_open_only_themselves():
    reach = reach_for(chosen_urls=[], networks="10.1.0.0/16, fd00::/8")
    assert reach.refusal("http://10.1.2.3/") is None and reach.refusal("http://[fd00::5]:81/") is None
    assert reach.refusal("http://10.2.0.1/") is not None and reach.refusal("http://127.0.0.1/") is not None
    assert reach.connect_refusal("intranet.example", 80, ipaddress.ip_address("10.1.9.9")) is None
    assert "resolves to 10.2.0.1" in (
        reach.connect_refusal("intranet.example", 80, ipaddress.ip_address("10.2.0.1")) or ""
    )


def test_a_name_refused_at_connect_time_is_refused_before_its_next_request():
    reach = Reach()
    assert reach.refusal("http://localhost:8080/a") is None
    reach.note_refused("localhost", 8080, "localhost resolves to 127.0.0.1, loopback")
    assert reach.refusal("http://localhost:8080/b") == "localhost resolves to 127.0.0.1, loopback"
    assert reach.refusal("http://localhost:8081/b") is None


def test_the_operators_proxy_and_origins_are_reached_whatever_they_resolve_to():
    reach = reach_for(chosen_urls=["http://archive.lan:8000/"], networks=[], proxy_urls=["http://proxy.lan:3128"])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert reach.connect_refusal("proxy.lan", 0, loopback) is None
    assert reach.connect_refusal("proxy.lan", 3128, loopback) is None
    assert reach.connect_refusal("proxy.lan", 22, loopback) is not None  # a link to the proxy's host
    assert reach.connect_refusal("archive.lan", 8000, loopback) is None
    assert reach.connect_refusal("archive.lan", 22, loopback) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("10.0.0.0/8", ("10.0.0.0/8",)),
        ("10.0.0.0/8, 192.168.5.0/24", ("10.0.0.0/8", "192.168.5.0/24")),
        ('["127.0.0.0/8", "::1/128"]', ("127.0.0.0/8", "::1/128")),
        (["172.16.0.0/12"], ("172.16.0.0/12",)),
        ("192.168.1.7", ("192.168.1.7/32",)),
    ],
)
def test_allowed_networks_are_read_from_a_list_json_or_commas(value, expected):
    assert tuple(map(str, parse_networks(value))) == expected


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0.1/8", "intranet", '["10.0.0.0/8"', "[1]", '{"a": 1}'])
def test_a_bad_network_is_an_error(value):
    with pytest.raises(ValueError):
        parse_networks(value)


# --- the real link check -------------------------------------------------------------------------

FAST = [
    "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=1",
]  # fmt: skip
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _no_proxy_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.lower() not in _PROXY_VARIABLES}


def _links(database: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "crawl", "links", "-s", f"DATABASE={database}", *FAST, *args]
    return run_scrapy(command, env=env or _no_proxy_env())


def test_no_link_reaches_a_private_service_in_any_spelling_nor_through_a_redirect(tmp_path):
    with RecordingServer() as private, RecordingServer() as cdx, RecordingServer() as home:
        port = private.port
        into_private = {
            "/moved-301": redirect(f"http://127.0.0.1:{port}/from-301", 301),
            "/moved-302": redirect(f"http://localhost:{port}/from-302", 302),  # a name: refused when resolved
            "/moved-307": redirect(f"http://2130706433:{port}/from-307", 307),
            "/refreshed": meta_refresh(f"http://127.0.0.1:{port}/from-refresh"),
        }
        with RecordingServer(into_private) as site:
            spellings = [
                f"http://127.0.0.1:{port}/plain",
                f"http://localhost:{port}/name",
                f"http://2130706433:{port}/decimal",
                f"http://0x7f.1:{port}/hex",
                f"http://127.1:{port}/short",
                f"http://0177.0.0.1:{port}/octal",
                f"http://[::1]:{port}/ipv6",
                f"http://0.0.0.0:{port}/unspecified",
                f"http://[::ffff:127.0.0.1]:{port}/mapped",
            ]
            own = [site.url(path) for path in into_private]
            database = tmp_path / "archive.db"
            # A listing the operator names (DIGEST_LISTINGS) is on 127.0.0.1: its origin is reached. The
            # digests are on another origin (`home`): links on the digests' own origin are `own`, never checked.
            archive_linking(database, [("2020-01-01", [*spellings, *own, site.url("/about")])], site=home.url(""))
            cdx_api = [
                "-s", f"DIGEST_LINK_CDX_API={cdx.url('/cdx/search/cdx')}", "-s", "DIGEST_LINK_DEAD_DAYS=0",
                "-s", f"DIGEST_LISTINGS={site.url('')}",
            ]  # fmt: skip
            first = _links(database, *cdx_api)
            assert_clean_run(first)
            again = _links(database, *cdx_api, "-s", "DIGEST_LINK_RECHECK_DAYS=0")
            assert_clean_run(again)
            assert private.requests == []  # not a page, not robots.txt, in two checks
            assert cdx.requests == []  # nothing refused is looked up in a web archive
            assert sorted(set(site.paths())) == sorted(["/robots.txt", "/about", *into_private])
    found = {r["url"]: r for r in rows(database, "SELECT * FROM link_targets")}
    assert len(found) == len(spellings) + len(own) + 1
    for url in [*spellings, *own]:
        url = canonical_link(url, url)  # as stored (the IPv6 spelling is normalised)
        assert found[url]["status"] == "refused", (url, found[url])
        assert found[url]["dead_since"] is None and found[url]["capture_warc"] is None
    assert found[site.url("/about")]["status"] == "ok"
    messages = {r["url"]: r["message"] for r in rows(database, "SELECT url, message FROM link_targets")}
    # The literal was refused before any connection; the name when it resolved, on connecting.
    assert "127.0.0.1" in messages[f"http://2130706433:{port}/decimal"]
    assert "localhost resolves to 127.0.0.1" in messages[f"http://localhost:{port}/name"]
    assert "localhost resolves to 127.0.0.1" in messages[site.url("/moved-302")]
    refused = rows(database, "SELECT count(*) AS n FROM link_checks WHERE status = 'refused'")
    assert refused == [{"n": 2 * (len(spellings) + len(own))}]
    # Nothing from the private service was captured.
    captured = rows(database, "SELECT url FROM link_targets WHERE capture_warc IS NOT NULL")
    assert captured == [{"url": site.url("/about")}]


def test_an_allowed_network_is_reached(tmp_path):
    with RecordingServer() as private:
        database = tmp_path / "archive.db"
        archive_linking(database, [("2020-01-01", [private.url("/a"), f"http://localhost:{private.port}/b"])])
        result = _links(database, "-s", 'DIGEST_LINK_ALLOW_NETWORKS=["10.0.0.0/8", "127.0.0.0/8"]')
        assert_clean_run(result)
        assert sorted(private.paths()) == ["/a", "/b", "/robots.txt", "/robots.txt"]
    statuses = {r["status"] for r in rows(database, "SELECT status FROM link_targets")}
    assert statuses == {"ok"}


def test_a_bad_network_stops_the_check_with_one_line_and_exit_2(tmp_path):
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://example.org/"])])
    result = _links(database, "-s", "DIGEST_LINK_ALLOW_NETWORKS=10.0.0.0/8,192.168.0.1/16")
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("links: error:")]
    assert errors and "DIGEST_LINK_ALLOW_NETWORKS" in errors[0] and "192.168.0.1/16" in errors[0]
    assert rows(database, "SELECT count(*) AS n FROM crawl_runs") == [{"n": 0}]


def test_behind_a_proxy_literals_are_refused_here_and_names_go_to_the_proxy(tmp_path):
    with RecordingServer() as private, StandInWeb({"live.test": Host("ok")}) as web:
        database = tmp_path / "archive.db"
        links = [private.url("/a"), f"http://0x7f.1:{private.port}/b", "http://169.254.169.254/latest/meta-data/"]
        archive_linking(database, [("2020-01-01", [*links, "http://live.test/a"])])
        result = _links(database, env=dict(_no_proxy_env(), **web.proxy_env()))
        assert_clean_run(result)
        assert private.requests == []
        assert {host for host, *_ in web.log} == {"live.test"}  # the proxy was not asked for the others
    statuses = {r["url"]: r["status"] for r in rows(database, "SELECT url, status FROM link_targets")}
    assert statuses == {**dict.fromkeys(links, "refused"), "http://live.test/a": "ok"}


def test_a_redirect_to_another_host_waits_for_that_hosts_turn(tmp_path):
    """a.test redirects to b.test; without its own slot the redirect reached b.test at a.test's pace,
    right beside b.test's own request (scrapy copies `download_slot` into the redirect's meta)."""
    hosts = {"a.test": Host("moved", to="http://b.test"), "b.test": Host("ok")}
    database = tmp_path / "archive.db"
    archive_linking(database, [("2020-01-01", ["http://a.test/r", "http://b.test/x1", "http://b.test/x2"])])
    delay = 0.6
    with StandInWeb(hosts) as web:
        env = dict(_no_proxy_env(), **web.proxy_env())
        assert_clean_run(_links(database, "-s", f"DOWNLOAD_DELAY={delay}", env=env))
        arrivals = sorted(arrival for _, arrival in web.requests_to("b.test"))
        assert sorted(path for path, _ in web.requests_to("b.test")) == ["/r", "/robots.txt", "/x1", "/x2"]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # Without its own slot the redirect arrived about 15 ms beside b.test's own request; with it, a delay
    # apart, less the arrival jitter of a loaded machine (0.49 s seen for 0.6 s).
    assert min(gaps) >= delay * 0.6, gaps
