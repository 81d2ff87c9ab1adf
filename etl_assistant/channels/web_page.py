"""The built-in chat page: `GET /` and its static files under `/web/`, shipped inside the package.

Only the files listed in `ASSETS` are served (no directory walking), with a strict Content-Security-Policy:
the page loads nothing from other origins and runs no inline script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).with_name("web")
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    # charts: vendored from npm (see web/VENDORED.md), served here so the page loads nothing from elsewhere
    "vega.min.js": "text/javascript; charset=utf-8",
    "vega-lite.min.js": "text/javascript; charset=utf-8",
    "vega-embed.min.js": "text/javascript; charset=utf-8",
    "vega-interpreter.js": "text/javascript; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


@router.get("/web/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"There is no page asset named {name!r}.")
    return FileResponse(WEB_DIR / name, media_type=ASSETS[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})
