"""Where govcast may send requests that a business chose (webhook URLs): no SSRF into the city's own network.

A business sets its webhook URL, so govcast must not become its proxy into loopback, link-local
(cloud metadata at 169.254.169.254), private, shared or reserved addresses. Checked twice:
when the URL is saved (`url_problem`: scheme, credentials, literal and numeric-form addresses,
names that resolve inward) and when it is used (`GuardedResolver`: the addresses a name resolves
to at send time, so DNS rebinding after the save is caught; the connection uses exactly the
checked addresses). `allowed` networks (setting `webhook_allowed_networks`) let on-premises
receivers and tests through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_INWARD_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class ForbiddenAddress(OSError):
    """A destination govcast refuses to connect to (raised by the resolver, so no connection is made)."""


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse allow-list entries (`10.20.0.0/16`, `192.0.2.7`, `fd00::/8`); ValueError names a bad one."""
    out = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network (e.g. 10.20.0.0/16 or 192.0.2.7)") from None
    return tuple(out)


def address_problem(address: IPAddress, allowed: Sequence[Network] = ()) -> str | None:
    """Why govcast will not connect to `address`, or None."""
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    target: IPAddress = mapped or address
    if any(target in net for net in allowed):
        return None
    if target.is_loopback:
        return f"{target} is a loopback address"
    if target.is_unspecified:
        return f"{target} is the unspecified address (this host)"
    if target.is_link_local:
        return f"{target} is link-local (cloud metadata lives there)"
    if target.is_multicast or target.is_reserved:
        return f"{target} is a reserved or multicast address"
    if target.is_private:
        return f"{target} is a private-network address"
    if not target.is_global:
        return f"{target} is a non-public address"
    return None


def _numeric_form(host: str) -> bool:
    """Hosts like `2130706433`, `0x7f.1` or `0177.0.0.1`: legacy numeric IPv4 forms resolvers accept."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def url_problem(url: str, allowed: Sequence[Network] = (), *, resolve: bool = True) -> str | None:
    """Why `url` may not be a webhook target, or None. With `resolve`, a name is looked up and every address checked
    (a name that does not resolve yet passes: it is checked again at send time)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry credentials (user:password@); authenticate with the webhook signature instead"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "has no host"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        why = address_problem(literal, allowed)
        return f"points at {why}" if why else None
    if _numeric_form(host):
        return "writes an IP address in a numeric form (decimal, octal or hex); use a host name or dotted decimal"
    if host in _INWARD_NAMES or host.endswith((".localhost", ".local", ".internal")):
        if allowed and resolve:
            return _resolved_problem(host, port, allowed)
        return f"names a local host ({host})"
    return _resolved_problem(host, port, allowed) if resolve else None


def _resolved_problem(host: str, port: int | None, allowed: Sequence[Network]) -> str | None:
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        why = address_problem(ipaddress.ip_address(str(info[4][0]).split("%")[0]), allowed)
        if why:
            return f"resolves to {why}"
    return None


class GuardedResolver(ThreadedResolver):
    """Resolver (aiohttp's threaded one) that refuses names resolving to an address `address_problem` refuses (at send time)."""

    def __init__(self, allowed: Sequence[Network] = ()) -> None:
        super().__init__()
        self.allowed = tuple(allowed)

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        for result in results:
            why = address_problem(ipaddress.ip_address(result["host"].split("%")[0]), self.allowed)
            if why:
                raise ForbiddenAddress(f"{host} resolves to {why}")
        return results
