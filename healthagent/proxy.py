"""The one reverse proxy Django trusts (docker/Caddyfile), and the headers every answer carries.

`TrustedProxyMiddleware` runs first. A request whose peer is in FORWARDED_ALLOW_IPS came through the
proxy: the client's own address is the last entry of the X-Forwarded-For the proxy set (Caddy
replaces what a client sent, as it trusts no proxy before it), and it becomes REMOTE_ADDR — so
django-axes locks out that client, not the proxy, and /metrics' address list sees who asks. From
any other peer the X-Forwarded-* headers are dropped: SECURE_PROXY_SSL_HEADER, axes and /metrics
never read a header a client wrote itself. gunicorn trusts the same addresses for
X-Forwarded-Proto (forwarded_allow_ips, healthagent/gunicorn_conf.py).

`ContentSecurityPolicyMiddleware` sends the policy (Django 5.2 has none of its own): everything
from this origin only — the admin and the cache dashboard load nothing from elsewhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                     "HTTP_X_FORWARDED_PORT", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def from_proxy(remote_addr: str) -> bool:
    address = _address(remote_addr)
    return address is not None and any(address in network for network in settings.TRUSTED_PROXY_NETWORKS)


class TrustedProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if from_proxy(meta.get("REMOTE_ADDR", "")):
            client = _address(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1])
            if client is not None:
                meta["REMOTE_ADDR"] = str(client)
        else:
            for name in FORWARDED_HEADERS:
                meta.pop(name, None)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
