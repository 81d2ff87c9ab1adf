"""MCP over HTTP with the same API keys, through the SDK's own auth pieces.

`KeyTokenVerifier` is the SDK's `TokenVerifier` over our key store: the SDK's bearer backend authenticates
each `/mcp` request with it, so MCP sessions are bound to the key's principal (another key cannot take over
a session id) and `TenantScope`, an SDK server middleware, hands every tool, resource and prompt handler
the key's tenant. Requiring a key at all is the app guard's job (deny by default, local mode included).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, ServerRequestContext
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp

from etl_assistant.access.keys import KeyStore

# The tenant of the MCP request being handled; None outside one (stdio uses ETLA_TENANT).
MCP_TENANT: ContextVar[str | None] = ContextVar("etla_mcp_tenant", default=None)


class KeyTokenVerifier:
    """Bearer token -> AccessToken for an active key (client_id: the key's prefix, subject: its tenant)."""

    def __init__(self, keys: Callable[[], KeyStore]) -> None:
        self.keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        record = await anyio.to_thread.run_sync(self.keys().verify, token)
        if record is None:
            return None
        return AccessToken(token=token, client_id=record.prefix, scopes=[], subject=record.tenant,
                           claims={"tenant": record.tenant})


def authenticated(app: ASGIApp, keys: Callable[[], KeyStore]) -> ASGIApp:
    """`app` behind the SDK's bearer authentication (sets `scope["user"]`; requires nothing itself)."""
    backend = BearerAuthBackend(KeyTokenVerifier(keys))
    return AuthenticationMiddleware(AuthContextMiddleware(app), backend=backend)


class TenantScope:
    """SDK server middleware: run each MCP request with its key's tenant in `MCP_TENANT`."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        user = getattr(ctx.request, "scope", {}).get("user") if ctx.request is not None else None
        tenant = user.access_token.subject if isinstance(user, AuthenticatedUser) else None
        token = MCP_TENANT.set(tenant)
        try:
            return await call_next(ctx)
        finally:
            MCP_TENANT.reset(token)
