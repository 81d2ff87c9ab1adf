"""Verified answers over HTTP: `POST /v1/verified` saves a question->SQL pair the person confirmed (the chat
page's thumbs-up under an answer) by running the `verify` tool for the request's tenant; `GET /v1/verified`
lists the tenant's saved pairs. Errors use the `/v1` shape `{"error": {"message", "type"}}`: a pair the
tool refuses (unsafe SQL, an unknown table, a query the engine cannot plan) is a 400 with its sentence.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from etl_assistant.channels.datasets import tool_context
from etl_assistant.channels.openai_compat import api_error
from etl_assistant.errors import EtlError, ToolError
from etl_assistant.tools import get_tool
from etl_assistant.tools.verify import VerifyInput

router = APIRouter(prefix="/v1/verified", tags=["verified"])


@router.post("", status_code=201, response_model=None, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": VerifyInput.model_json_schema()
    }}},
})
async def save_verified(request: Request) -> Any:
    """Save `{question, sql}` (optionally `today`) as a verified pair; returns the verify tool's output."""
    try:
        args = VerifyInput.model_validate_json(await request.body())
    except ValidationError:
        return api_error(400, "Send a JSON object with the question in 'question' and its SQL in 'sql'.")
    ctx = tool_context(request)
    try:
        result = await run_in_threadpool(get_tool("verify").run, ctx, args)
    except ToolError as exc:
        return api_error(400, str(exc))
    except EtlError as exc:
        return api_error(503, str(exc), "server_error")
    return result.model_dump(mode="json")


@router.get("")
async def list_verified(request: Request) -> Any:
    """The tenant's verified pairs on this warehouse's dialect, newest first."""
    from etl_assistant.retrieval.pairs import list_pairs  # lazily: the vector store loads chromadb
    from etl_assistant.retrieval.store import vector_store

    ctx = tool_context(request)
    try:
        pairs = await run_in_threadpool(
            lambda: list_pairs(vector_store(ctx.settings), ctx.tenant, ctx.warehouse.dialect)
        )
    except EtlError as exc:
        return api_error(503, str(exc), "server_error")
    return {
        "pairs": [
            {"id": p.id, "question": p.question, "sql": p.sql, "dialect": p.dialect, "tables": p.versions,
             "verified_at": p.verified_at}
            for p in pairs
        ]
    }
