"""SSRF guard of business-chosen URLs (webhooks): refused when saved, and again on the resolved address when sent."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from adapters.egress import ForbiddenAddress, GuardedResolver, networks, url_problem

# (url, a word the refusal must contain); None: accepted
CASES = [
    ("https://hooks.example.com/govcast", None),
    ("http://93.184.215.14:8080/hook", None),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:8000/sandbox/_clock", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://2130706433/hook", "numeric form"),  # 127.0.0.1 in decimal
    ("http://0x7f.1/hook", "numeric form"),
    ("http://0177.0.0.1/hook", "numeric form"),
    ("http://127.1/hook", "numeric form"),
    ("http://localhost:8000/hook", "local host"),
    ("http://LOCALHOST./hook", "local host"),
    ("http://metadata.google.internal/computeMetadata/v1/", "local host"),
    ("https://user:secret@hooks.example.com/hook", "credentials"),
    ("https://token@hooks.example.com/hook", "credentials"),
    ("ftp://hooks.example.com/hook", "http(s)"),
    ("http://hooks.example.com:99999/hook", "valid URL"),
]


@pytest.mark.parametrize(("url", "says"), CASES, ids=[c[0] for c in CASES])
def test_webhook_urls(url: str, says: str | None) -> None:
    why = url_problem(url, resolve=False)
    if says is None:
        assert why is None
    else:
        assert why is not None and says in why, why


def test_the_allow_list_lets_named_networks_through_and_nothing_else() -> None:
    allowed = networks(["127.0.0.1/32", "10.20.0.0/16"])
    assert url_problem("http://127.0.0.1:9000/hook", allowed, resolve=False) is None
    assert url_problem("http://10.20.3.4/hook", allowed, resolve=False) is None
    assert "private" in (url_problem("http://10.21.0.1/hook", allowed, resolve=False) or "")
    assert "credentials" in (url_problem("http://a:b@127.0.0.1/hook", allowed, resolve=False) or "")
    with pytest.raises(ValueError, match="not an IP network"):
        networks(["intranet"])


def test_a_name_is_judged_by_the_addresses_it_resolves_to() -> None:
    name = socket.gethostname()  # this machine's own name: resolves to loopback or a private address
    addresses = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(name, 80)}
    if any(a.is_global for a in addresses):
        pytest.skip(f"{name} resolves to a public address here")
    assert "resolves to" in (url_problem(f"http://{name}:8000/hook") or "")
    assert url_problem(f"http://{name}:8000/hook", networks([str(a) for a in addresses])) is None

    async def resolve(allowed: list[str]) -> list[str]:
        return [r["host"] for r in await GuardedResolver(networks(allowed)).resolve(name, 80)]

    with pytest.raises(ForbiddenAddress, match="resolves to"):
        asyncio.run(resolve([]))
    assert asyncio.run(resolve([str(a) for a in addresses]))
