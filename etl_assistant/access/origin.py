"""Cross-site rules: a web page the person visits must not be able to drive the server.

A browser lets any page send "simple" requests (form posts, `text/plain` bodies) to any origin without a
preflight, and in local mode there is no key to stop them. So, on every route but the public page:
- the Host header must name the served host (loopback names when bound to loopback: DNS rebinding), or one
  of `ETLA_ALLOWED_HOSTS`;
- a request that says where it comes from (`Origin`, `Sec-Fetch-Site`) must come from the served origin or
  one of `ETLA_CORS_ORIGINS`;
- a request body must be JSON (`415` otherwise), except multipart uploads on the routes that take files.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import Headers

from etl_assistant.config import Settings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that take a file as multipart/form-data (the upload form posts there).
MULTIPART_ROUTES = frozenset({"/v1/datasets"})


def is_loopback(host: str) -> bool:
    """Is `host` (an address or a name, as given to --host) a loopback-only bind?"""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def host_name(netloc: str) -> str:
    """`example.com:8000` -> `example.com`, `[::1]:8000` -> `::1`."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def host_allowed(host_header: str, settings: Settings) -> bool:
    name = host_name(host_header)
    if name in {h.lower() for h in settings.allowed_hosts}:
        return True
    if is_loopback(settings.host):
        return name in LOOPBACK_NAMES
    if settings.host in WILDCARD_BINDS:
        return not settings.allowed_hosts  # every interface: any name, unless the allow-list narrows it
    return name == settings.host.lower()


def origin_allowed(origin: str, host_header: str, settings: Settings) -> bool:
    """The page's origin is this server (same scheme-less host:port as the Host header) or allow-listed."""
    if origin.rstrip("/") in {o.rstrip("/") for o in settings.cors_origins}:
        return True
    parsed = urlsplit(origin)
    return parsed.scheme in ("http", "https") and parsed.netloc.lower() == host_header.strip().lower()


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/")
                                                and media_type.endswith("+json"))


def cross_site_refusal(method: str, path: str, headers: Headers, settings: Settings,
                       *, body_rules: bool = True) -> tuple[int, str] | None:
    """(status, sentence) when the request is refused as cross-site or non-JSON; None when it may pass."""
    host = headers.get("host", "")
    if not host_allowed(host, settings):
        return 403, (f"This server does not answer to the host name {host_name(host)!r}; use the address it "
                     "serves, or add the name to ETLA_ALLOWED_HOSTS.")
    origin = headers.get("origin")
    if origin is not None and not origin_allowed(origin, host, settings):
        return 403, ("Requests from another web origin are refused; open the page this server serves, or "
                     "add that origin to ETLA_CORS_ORIGINS.")
    if origin is None and headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return 403, "Requests from another web site are refused; open the page this server serves."
    if not body_rules or method in SAFE_METHODS or not _has_body(headers):
        return None
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if _is_json(media_type):
        return None
    if media_type == "multipart/form-data" and path in MULTIPART_ROUTES:
        return None
    return 415, ("Send the request body as JSON with Content-Type: application/json"
                 + (" (or the file as multipart/form-data)." if path in MULTIPART_ROUTES else "."))
