"""Wire the access layer into an app: the guard (deny by default) and, only when configured, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from etl_assistant.access.guard import AccessGuard
from etl_assistant.access.keys import KeyStore, key_store
from etl_assistant.access.ratelimit import rate_limiter
from etl_assistant.config import Settings


def key_store_factory(settings: Settings) -> Callable[[], KeyStore]:
    """The app's KeyStore, opened on first use (the catalog may not be reachable at import time)."""
    return lambda: key_store(settings.resolved_catalog_url)


LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def install_access(app: FastAPI, settings: Settings) -> LifespanHook:
    """Add the guard (and CORS for `ETLA_CORS_ORIGINS`, outside it, so preflights are answered); returns
    the lifespan hook that closes the rate limiter's connection."""
    keys = key_store_factory(settings)
    limiter = rate_limiter(settings.redis_url, settings.rate_limit_per_minute)
    app.state.keys = keys
    app.add_middleware(AccessGuard, settings=settings, keys=keys, limiter=limiter)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["*"], allow_headers=["Authorization", "Content-Type"])

    @asynccontextmanager
    async def close_limiter(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await limiter.aclose()

    return close_limiter
