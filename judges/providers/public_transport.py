"""An HTTP transport that connects only to public addresses, for endpoints that submitters (not staff) set.

The URL is checked when it is saved and again before each call (`arena.services.endpoints`), but the HTTP
client would resolve the name once more to connect: a DNS server that answers a public address to the check
and a private one to the connection (rebinding) would steer the request, and its key, inside. This transport
resolves the host once per request, checks every address, and connects to the checked one; the Host header
and TLS (SNI and certificate check) still use the name. `ARENA_ALLOW_PRIVATE_ENDPOINTS` turns it off, as it
turns off the other checks (the demo and the tests call loopback stubs).
"""

from __future__ import annotations

import httpx2 as httpx  # the openai SDK builds its clients on httpx2, a fork with the same API
from django.conf import settings

from arena.errors import DomainError
from arena.services.endpoints import endpoint_address_checked


class PublicAddressTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not settings.ARENA_ALLOW_PRIVATE_ENDPOINTS:
            request = _pinned_to_checked_address(request)
        return super().handle_request(request)


def _pinned_to_checked_address(request: httpx.Request) -> httpx.Request:
    host = request.url.host
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    try:
        address = endpoint_address_checked(host, port, url=str(request.url))
    except DomainError as exc:
        raise httpx.ConnectError(exc.message, request=request) from None
    return httpx.Request(
        request.method,
        request.url.copy_with(host=address),
        headers=request.headers,  # keeps the Host header of the name
        stream=request.stream,
        extensions={**request.extensions, "sni_hostname": host},
    )
