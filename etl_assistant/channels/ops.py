"""Operator endpoints: `GET /health` (JSON: what is reachable) and `GET /metrics` (Prometheus text).

HTTP requests are counted by a small ASGI middleware into the app's registry, labelled by route template
(not raw path) so ids in URLs do not explode the series.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etl_assistant.errors import EtlError

router = APIRouter(tags=["ops"])
CHECK_TIMEOUT_S = 5.0


class HttpMetrics:
    """Counts requests and their latency; installed once per app with the app's registry."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "etla_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "etla_http_request_seconds",
            "HTTP time to the end of the response body.",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def _warehouse_check(resources: Any) -> None:
    resources["warehouse"].query("SELECT 1", limit=1, timeout_s=CHECK_TIMEOUT_S)


def _catalog_check(resources: Any, tenant: str) -> None:
    resources["catalog"].list_tables(tenant)


async def _probe(awaitable: Any) -> dict[str, Any]:
    """Await a check with a deadline; a failure is reported as one sentence, never raised."""
    try:
        await asyncio.wait_for(awaitable, CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"reachable": False, "error": f"No answer within {CHECK_TIMEOUT_S:.0f} s."}
    except EtlError as exc:
        return {"reachable": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any driver failure means "not reachable"; say which
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return {"reachable": False, "error": f"{type(exc).__name__}: {first_line}"}
    return {"reachable": True}


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    agent = request.app.state.agent
    settings = request.app.state.settings
    warehouse, catalog, threads = await asyncio.gather(
        _probe(asyncio.to_thread(_warehouse_check, agent.resources)),
        _probe(asyncio.to_thread(_catalog_check, agent.resources, settings.tenant)),
        _probe(agent.threads.ping()),
    )
    ok = warehouse["reachable"] and catalog["reachable"] and threads["reachable"]
    body = {
        "status": "ok" if ok else "degraded",
        "warehouse": warehouse,
        "catalog": catalog,
        "threads": threads,
        "model": {"kind": settings.model, "name": agent.model_name, "ready": _model_ready(request.app)},
        "active_runs": len(agent.active_runs),
        "tasks": len(asyncio.all_tasks()),  # leak checks: back to its idle count once clients are gone
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def _model_ready(app: FastAPI) -> bool:
    """False while the chat model still loads in the background (turns wait for it; tools do not)."""
    warming = getattr(app.state, "warming", None)
    return warming is None or (warming.done() and not warming.cancelled() and warming.exception() is None)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def install_ops(app: FastAPI, registry: CollectorRegistry) -> None:
    app.state.metrics_registry = registry
    app.add_middleware(HttpMetrics, registry=registry)
    app.include_router(router)
