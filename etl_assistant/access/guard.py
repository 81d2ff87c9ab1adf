"""The request guard: one pure ASGI middleware in front of every route, deny by default.

Every HTTP request passes the cross-site rules (`access.origin`), then needs an API key
(`Authorization: Bearer <key>`), except the public page (`GET /`, `/web/*`), `GET /health` and Slack's
signed callbacks. The key's tenant becomes the request's tenant (`request.state.tenant`, read by every
channel through `request_tenant`). A route added later is covered without doing anything.

Local single-user mode: while no key exists and the server is bound to loopback, requests need no key and
act for `ETLA_TENANT`. Once a key exists, or on any other bind, a key is required.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from etl_assistant.access.keys import KeyStore
from etl_assistant.access.origin import cross_site_refusal, is_loopback
from etl_assistant.access.ratelimit import RateLimiter, retry_after
from etl_assistant.config import Settings

CREATE_KEY = "create one with `etl-assistant keys create --tenant NAME`"
SIGNED_ROUTES = frozenset({"/slack/events"})  # they verify their caller's signature themselves

log = logging.getLogger(__name__)


def is_public(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and (path in ("/", "/health") or path.startswith("/web/"))


def request_tenant(conn: HTTPConnection) -> str:
    """The tenant the guard gave this request (its key's, or ETLA_TENANT in local mode)."""
    return getattr(conn.state, "tenant", None) or conn.app.state.settings.tenant


@dataclass(frozen=True)
class Identity:
    tenant: str
    key_prefix: str | None  # None in local mode


class AccessGuard:
    def __init__(self, app: ASGIApp, settings: Settings, keys: Callable[[], KeyStore],
                 limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        public = is_public(method, path)
        if not public:
            refusal = cross_site_refusal(method, path, headers, self.settings,
                                         body_rules=path not in SIGNED_ROUTES)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        if public or path in SIGNED_ROUTES:
            await self.app(scope, receive, send)
            return
        identity = await self._identify(headers, scope.get("client"))
        if isinstance(identity, str):
            await _refuse(send, 401, identity, {"www-authenticate": 'Bearer realm="etl-assistant"'})
            return
        if identity.key_prefix is not None and self.settings.rate_limit_per_minute > 0:
            wait = await self.limiter.hit(identity.key_prefix)
            if wait is not None:
                await _refuse(send, 429, f"Too many requests for this key (more than "
                              f"{self.settings.rate_limit_per_minute} a minute); retry in "
                              f"{retry_after(wait)} s.", {"retry-after": retry_after(wait)}, "rate_limited")
                return
        state = scope.setdefault("state", {})
        state["tenant"], state["api_key"] = identity.tenant, identity.key_prefix
        await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket route (none today) gets the same Host, Origin and key rules; refused: closed (403)."""
        headers = Headers(scope=scope)
        refused = cross_site_refusal("GET", scope["path"], headers, self.settings, body_rules=False)
        identity = None if refused else await self._identify(headers, scope.get("client"))
        if refused or isinstance(identity, str) or identity is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        state = scope.setdefault("state", {})
        state["tenant"], state["api_key"] = identity.tenant, identity.key_prefix
        await self.app(scope, receive, send)

    async def _identify(self, headers: Headers, client: tuple[str, int] | None) -> Identity | str:
        """The caller's identity, or the sentence of a 401. Local mode serves loopback peers only, so a server
        started some other way on another interface (uvicorn directly) still lets no one else in."""
        store = self.keys()  # both answers are remembered for a moment: only a miss costs a worker thread
        any_key = store.cached_any_active()
        if any_key is None:
            any_key = await anyio.to_thread.run_sync(store.any_active)
        local_peer = client is None or is_loopback(client[0])  # None: a UNIX socket, no network peer
        if not any_key and is_loopback(self.settings.host) and local_peer:
            return Identity(self.settings.tenant, None)
        if not any_key:
            return f"This server is reachable from other hosts and has no API key yet; {CREATE_KEY}."
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return f"Send an API key as `Authorization: Bearer <key>`; {CREATE_KEY}."
        record = store.cached_verify(token.strip())
        if record is False:
            record = await anyio.to_thread.run_sync(store.verify, token.strip())
        if record is None:
            return f"That API key is unknown or revoked; {CREATE_KEY}."
        return Identity(record.tenant, record.prefix)


async def _refuse(send: Send, status: int, sentence: str, extra: dict[str, str] | None = None,
                  kind: str | None = None) -> None:
    """A JSON refusal both error shapes understand: `detail` (Agent Protocol) and `error` (OpenAI, /v1)."""
    kinds = {401: "authentication_error", 403: "permission_error", 415: "invalid_request_error"}
    kind = kind or kinds.get(status, "invalid_request_error")
    body = json.dumps({"detail": sentence, "error": {"message": sentence, "type": kind}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body.encode())).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})
