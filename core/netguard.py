"""What the link check may connect to: pure rules over URLs and addresses (no Scrapy, no Twisted, no I/O).

A digest's links, their redirects and their meta refreshes are written by whoever runs the sites the
digest cites; fetched blindly they reach the operator's own network (a router's admin page, a database
on loopback, a cloud metadata address) and the answers end up in the WARC and in `link_health`. So a
link check connects only to public addresses, except:

- the archive's own origins (scheme, host and port: the operator chose them by crawling them), and
- networks the operator allows (`DIGEST_LINK_ALLOW_NETWORKS`).

Two places apply these rules, because a host name says nothing until it is resolved:

    request (every hop)  ──► Reach.refusal(url)                 IP literals, in every spelling, decided now
    connect (no proxy)   ──► Reach.connect_refusal(host, port, address)   each address a name resolved to

Behind a proxy the proxy resolves names, so it decides for them; IP literals are still refused here.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6598 shared address space (carrier-grade NAT): neither private nor global; ipaddress's verdict on
# it changed between Python versions, so it is named here.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# RFC 6052 NAT64 well-known prefix: the last 32 bits are an IPv4 address the gateway connects to.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def not_public(address: Address) -> str | None:
    """Why an address is not a public one, in a few words (None: public)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 spelling of an IPv4 address reaches that IPv4 address: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            why = not_public(embedded)
            return f"{why} ({embedded} in IPv6)" if why else None
    if address.is_unspecified:
        return "unspecified (this host)"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def ip_literal(host: str) -> Address | None:
    """The address a URL's host names when it is an IP literal, in every spelling a system resolver
    accepts: dotted, short (`127.1`), decimal (`2130706433`), hex (`0x7f.1`), octal (`0177.0.0.1`),
    bracketed IPv6 with or without a zone. None: a name."""
    text = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    if not text:
        return None
    # inet_aton is what getaddrinfo and gethostbyname use for numbers: its legacy spellings are theirs.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def origin_of(url: str) -> Origin | None:
    """Scheme, host and port of an http(s) URL (the port its scheme implies when none is given)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return Origin(scheme, host, port or _DEFAULT_PORTS[scheme])


def parse_networks(value: object) -> tuple[Network, ...]:
    """`DIGEST_LINK_ALLOW_NETWORKS`: a list of CIDRs, given as a list, a JSON list, or comma-separated.
    Raises ValueError naming what is wrong."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError as error:
                raise ValueError(f"not a JSON list of networks: {error}") from None
            if not isinstance(items, list):
                raise ValueError("not a JSON list of networks")
        else:
            items = text.split(",")
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise ValueError(f"not a list of networks: {value!r}")
    networks = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"not a network: {item!r}")
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip()))
        except ValueError as error:
            raise ValueError(f"not a network in CIDR notation: {item.strip()!r} ({error})") from None
    return tuple(networks)


@dataclass
class Reach:
    """What one link check may connect to, and the names refused at connect time so far."""

    origins: frozenset[Origin] = frozenset()  # the archive's own, and the CDX API's
    networks: tuple[Network, ...] = ()  # DIGEST_LINK_ALLOW_NETWORKS
    # The operator's proxies, (host, port): connecting to them is not a link's doing. Twisted resolves a
    # proxy's name with port 0 (`reactor.resolve`); a link's host always comes with its port.
    proxies: frozenset[tuple[str, int]] = frozenset()
    refused_at_connect: dict[tuple[str, int], str] = field(default_factory=dict)  # (host, port) → why

    def refusal(self, url: str) -> str | None:
        """Why a request to this URL is refused before any connection, or None. A host name passes here:
        its addresses are judged when it is resolved (`connect_refusal`), or by the proxy."""
        origin = origin_of(url)
        if origin is None:
            return "not an http(s) URL"
        if origin in self.origins:
            return None
        literal = ip_literal(origin.host)
        if literal is not None:
            why = self.address_refusal(literal)
            return f"{origin.host} is {literal}, {why}" if why else None
        return self.refused_at_connect.get((origin.host, origin.port))

    def address_refusal(self, address: Address) -> str | None:
        """Why this address may not be connected to (None: public, or in an allowed network)."""
        if any(address in network for network in self.networks):
            return None
        why = not_public(address)
        return f"a {why} address (allow it with DIGEST_LINK_ALLOW_NETWORKS)" if why else None

    def connect_refusal(self, host: str, port: int, address: Address) -> str | None:
        """Why a connection to `address`, which `host` resolved to, is refused (None: it may go on)."""
        host = host.lower().removeprefix("[").removesuffix("]").rstrip(".")
        if any(host == proxy and port in (0, proxy_port) for proxy, proxy_port in self.proxies) or any(
            o.host == host and o.port == port for o in self.origins
        ):
            return None
        why = self.address_refusal(address)
        return f"{host} resolves to {address}, {why}" if why else None

    def note_refused(self, host: str, port: int, why: str) -> None:
        """A name refused at connect time: its next requests are refused before any connection."""
        self.refused_at_connect[(host.lower().rstrip("."), port)] = why


def reach_for(
    *,
    chosen_urls: Iterable[str],
    networks: object,
    proxy_urls: Iterable[str] = (),
) -> Reach:
    """The reach of a link check: the origins of the URLs the operator chose (the listings' start URLs,
    stored digests, the CDX API), the networks allowed (raises ValueError on a bad one), and the proxies'
    hosts."""
    origins = frozenset(origin for origin in map(origin_of, chosen_urls) if origin is not None)
    proxies = set()
    for url in proxy_urls:
        try:
            parts = urlsplit(url if "://" in url else f"http://{url}")
            if parts.hostname:
                proxies.add((parts.hostname.rstrip("."), parts.port or 80))
        except ValueError:
            continue  # Scrapy's HttpProxyMiddleware skips such a proxy too
    return Reach(origins=origins, networks=parse_networks(networks), proxies=frozenset(proxies))
