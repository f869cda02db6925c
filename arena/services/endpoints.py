"""Outbound endpoints: which URLs the arena may call, and which key names staff may attach to them.

Contract: `endpoint_url_check` resolves the host (DNS) and refuses a URL any of whose addresses is loopback,
link-local (e.g. 169.254.169.254, the cloud metadata service), private, multicast, unspecified or reserved,
unless `ARENA_ALLOW_PRIVATE_ENDPOINTS` is on. It runs when an endpoint is saved and again right before each
call (a DNS name may point elsewhere by then). Key names come only from `ARENA_ENDPOINT_KEY_NAMES`, which the
settings already refuse to hold the arena's own credentials.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from arena.errors import Invalid

# Most specific first: Python counts 0.0.0.0 and 240.0.0.0/4 as "private" too, which would hide the reason.
_ADDRESS_KINDS = (
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_unspecified", "unspecified"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


# Made once: the check runs before every live call, twice per battle opened (a validator made per call
# compiles nothing, its patterns are the class's, but is still work on the event loop per opening).
_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


def address_refusal(address: str) -> str | None:
    """Why this IP address may not be called ("loopback", "private", ...), or None if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attribute, kind in _ADDRESS_KINDS:
        if getattr(ip, attribute):
            return kind
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Invalid(
            f"The endpoint host {host!r} does not resolve ({exc}); check the URL's spelling.",
            field="endpoint_url",
        ) from None
    return sorted({str(info[4][0]) for info in infos})


def endpoint_url_check(url: str, *, field: str = "endpoint_url") -> None:
    """Raise Invalid unless `url` is an http(s) URL whose every resolved address may be called."""
    try:
        _URL_VALIDATOR(url)
    except ValidationError:
        raise Invalid(
            f"Endpoint {url!r} is not an http(s) URL: give the server's address up to /v1, "
            "e.g. https://llm.example.org/v1.",
            field=field,
        ) from None
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # urlsplit reads the port lazily and refuses one past 65535 only then
        raise Invalid(
            f"Endpoint {url!r} has a port out of range (1-65535): give the server's real port.", field=field
        ) from None
    if settings.ARENA_ALLOW_PRIVATE_ENDPOINTS:
        return
    endpoint_address_checked(parts.hostname or "", port, url=url, field=field)


def endpoint_address_checked(host: str, port: int, *, url: str = "", field: str = "endpoint_url") -> str:
    """Resolve `host` once and return an address to connect to, after checking that every address it
    resolves to may be called (Invalid otherwise). Connecting to the address returned, not resolving
    again, is what stops a DNS answer that changes between check and connect (rebinding)."""
    addresses = _resolve(host, port)
    for address in addresses:
        kind = address_refusal(address)
        if kind:
            raise Invalid(
                f"Endpoint {url or host!r} resolves to {address}, a {kind} address: the arena calls only "
                "public addresses. Give the endpoint's public URL.",
                field=field,
            )
    return addresses[0]


def endpoint_key_names() -> list[str]:
    """The environment variable names staff may choose for a contender's endpoint key."""
    return list(settings.ARENA_ENDPOINT_KEY_NAMES)


def endpoint_key_name_check(name: str, *, field: str = "endpoint_api_key_env") -> None:
    """Raise Invalid unless `name` is empty (no key) or on the allow-list."""
    if name and name not in settings.ARENA_ENDPOINT_KEY_NAMES:
        allowed = ", ".join(settings.ARENA_ENDPOINT_KEY_NAMES) or "none are configured"
        raise Invalid(
            f"{name!r} is not an allowed endpoint key name (ARENA_ENDPOINT_KEY_NAMES: {allowed}); staff pick "
            "the key from that list.",
            field=field,
        )
