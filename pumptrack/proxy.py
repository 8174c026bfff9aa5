"""The client's address and scheme behind the reverse proxy, trusted only from the proxy.

Production runs gunicorn behind nginx (docker-compose.yml, deploy/nginx.conf). Every
request then comes from the proxy's address, so django-axes, which locks a username per
address, would lock the real user out together with whoever guessed at their password.
``PUMPTRACK_TRUSTED_PROXIES`` names the proxies (addresses or networks). Only a request
whose ``REMOTE_ADDR`` is one of them may say who the client is (``X-Forwarded-For``) and
whether it came over HTTPS (``X-Forwarded-Proto``); anyone else's forwarding headers are
removed before Django or axes read them, so a direct connection cannot spoof its address
to escape a lockout.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"PUMPTRACK_TRUSTED_PROXIES takes IP addresses or networks: {exc}"
        ) from exc


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "PUMPTRACK_TRUSTED_PROXIES", ()) or ()))


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def is_trusted_proxy(address: str) -> bool:
    ip = _parse(address or "")
    return ip is not None and any(ip in net for net in trusted_proxies())


def client_ip(request: HttpRequest) -> str:
    """The client's address (django-axes' AXES_CLIENT_IP_CALLABLE).

    A direct connection is its REMOTE_ADDR. From a trusted proxy, X-Forwarded-For is read
    from the right, skipping trusted proxies: the first other address is the one the
    proxies saw (everything left of it was written by the client and is not believed).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not is_trusted_proxy(remote):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            return remote  # a malformed chain: count the proxy, never a client-chosen value
        if not is_trusted_proxy(str(ip)):
            return str(ip)
    return remote


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: drops forwarding headers that did not come from a trusted proxy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for header in FORWARDING_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
