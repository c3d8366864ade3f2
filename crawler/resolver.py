"""The name resolver of a link check: the addresses a name resolves to are judged when the connection is
made (`core.netguard.Reach.connect_refusal`), so a name that resolves to loopback, or a DNS answer
that changes between a check and the connection (rebinding), reaches nothing private.

Twisted's HostnameEndpoint, which Scrapy's HTTP/1.1 handler connects through, asks the reactor's name
resolver for every host it connects to, IP literals included, and connects only to the addresses it is
handed. `GuardedResolver` wraps whatever resolver the process installed (Scrapy's caching one, from
`TWISTED_DNS_RESOLVER`) and hands on only the addresses the reach allows; a name left with none fails
as Twisted's `DNSLookupError` (no connection attempted), and the reach notes why.

It is installed when the links spider opens and removed when it closes (`PublicAddressesOnly`): Scrapy
builds the process's resolver from the project's settings, never from a spider's `custom_settings`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer  # type: ignore[import-untyped]

from core.netguard import Reach


@implementer(IHostnameResolver)
class GuardedResolver:
    # Twisted's interfaces are zope ones, not typing protocols: what they name is typed Any here.
    def __init__(self, inner: Any, reach: Reach) -> None:
        self.inner = inner
        self.reach = reach

    def resolveHostName(  # noqa: N802 - Twisted's interface
        self,
        resolutionReceiver: Any,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> Any:
        receiver = _OnlyAllowedAddresses(resolutionReceiver, hostName, portNumber, self.reach)
        return self.inner.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)


@implementer(IResolutionReceiver)
class _OnlyAllowedAddresses:
    """Passes on the addresses the reach allows; notes the refusal when it allowed none."""

    def __init__(self, receiver: Any, host: str, port: int, reach: Reach) -> None:
        self.receiver, self.host, self.port, self.reach = receiver, host, port, reach
        self.passed = 0
        self.refused: str | None = None

    def resolutionBegan(self, resolutionInProgress: Any) -> None:  # noqa: N802, N803
        self.receiver.resolutionBegan(resolutionInProgress)

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        host = getattr(address, "host", None)
        try:
            ip = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            self.refused = self.refused or f"{self.host} resolves to {host!r}, not an IP address"
            return
        why = self.reach.connect_refusal(self.host, self.port, ip)
        if why:
            self.refused = self.refused or why
            return
        self.passed += 1
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        if self.refused and not self.passed:
            self.reach.note_refused(self.host, self.port, self.refused)
        self.receiver.resolutionComplete()
