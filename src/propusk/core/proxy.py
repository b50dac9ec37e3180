"""The client's address behind a reverse proxy.

Every per-address limit (sign-in lock-outs, the public invitation page's throttle, the HCP
webhook's allow-list) reads ``REMOTE_ADDR``. Behind nginx that is nginx's own address, so
every visitor would share one counter: twenty wrong passwords from anywhere would lock out
everyone's address. ``X-Forwarded-For`` cannot simply be believed either: any client can send
one.

``TrustedProxies`` is a WSGI wrapper that believes it only from the proxies named in
``PROPUSK_TRUSTED_PROXIES`` (addresses or networks): when the request came from one of them,
the header's addresses are read from the right (the nearest hop) and the first one that is not
a trusted proxy becomes ``REMOTE_ADDR``; the proxy's own address is kept in
``propusk.proxy_addr``. A request from anywhere else, or a header malformed where the
proxies wrote it, leaves ``REMOTE_ADDR`` as the socket gave it. With no trusted proxy
configured it changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Only the last this many characters of the header are read (the hops nearest to us).
MAX_HEADER_LENGTH = 2048


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """``PROPUSK_TRUSTED_PROXIES`` as networks; ValueError names a bad item."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network") from None
    return tuple(networks)


def client_address(remote_addr: str, forwarded_for: str, trusted: tuple[Network, ...]) -> str:
    """The client's address: ``remote_addr`` unless it is a trusted proxy, then the nearest
    address of ``forwarded_for`` that is not one (all trusted: the farthest).

    Hops are read from the right, the way the trusted proxies appended them, and only as far
    as the first that is not a trusted proxy: what lies further left is the client's to write.
    A proxy that appends to the header (rather than replacing it, as deploy/nginx does) passes
    a client's own "junk, 6.6.6.6" on as "junk, 6.6.6.6, <client>": the client is
    ``<client>``, not - because of the junk - the proxy. A malformed or missing hop before
    the client is found: ``remote_addr`` unchanged."""
    peer = _address(remote_addr)
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return remote_addr
    if not forwarded_for:
        return remote_addr
    # The nearest hops only: a client may make the header long, but not the proxies' part.
    hops = forwarded_for[-MAX_HEADER_LENGTH:].split(",")
    cut = len(forwarded_for) > MAX_HEADER_LENGTH
    if cut:
        hops = hops[1:]  # the first may be cut off
    farthest: Address | None = None
    for text in reversed(hops):
        hop = _address(text)
        if hop is None:
            return remote_addr
        if not _is_trusted(hop, trusted):
            return str(hop)
        farthest = hop
    # Every hop read is a trusted proxy: the farthest, unless hops were left unread.
    return str(farthest) if farthest is not None and not cut else remote_addr


class TrustedProxies:
    """WSGI wrapper: ``REMOTE_ADDR`` is the client's address when a trusted proxy forwarded
    the request (see the module's doc)."""

    def __init__(self, app: WSGIApp, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.trusted:
            remote = environ.get("REMOTE_ADDR", "")
            client = client_address(remote, environ.get("HTTP_X_FORWARDED_FOR", ""), self.trusted)
            if client != remote:
                environ["propusk.proxy_addr"] = remote
                environ["REMOTE_ADDR"] = client
        return self.app(environ, start_response)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == network.version and address in network for network in trusted)
