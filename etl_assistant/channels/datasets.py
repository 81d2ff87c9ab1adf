"""Dataset upload API: `POST /v1/datasets` stores a file for the tenant, infers its schema and registers it.

The upload is written to a staging directory first and only replaces the tenant's file of the same name
once the bytes are complete; if inference rejects it (empty, binary, not tabular) the previous file is put
back and nothing is registered. `GET /v1/datasets` lists the tenant's datasets, `GET /v1/datasets/{name}`
shows one schema. Errors use the OpenAI error shape `{"error": {"message", "type"}}` like the rest of `/v1`.
Tools run with the agent's shared connections (one embedded chDB session per process).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.types import Message

from etl_assistant.channels.agent_protocol import tenant as request_tenant
from etl_assistant.channels.openai_compat import api_error
from etl_assistant.config import Settings
from etl_assistant.errors import EtlError, ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools import ToolContext, get_tool

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

_UNSAFE_CHARS = re.compile(r"[^\w.\-]+")
_MAX_NAME_CHARS = 120
_COPY_CHUNK = 1024 * 1024
_MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file bytes


class UploadTooLarge(Exception):
    """The request body grew past the configured upload limit."""


def tool_context(request: Request) -> ToolContext:
    """A ToolContext for this request's tenant on the agent's shared warehouse and catalog."""
    agent = getattr(request.app.state, "agent", None)
    return ToolContext(settings=request.app.state.settings, tenant=request_tenant(request),
                       _overrides=agent.resources if agent is not None else {})


def safe_file_name(raw: str | None, default: str = "upload") -> str:
    """A file name that cannot leave its directory: no separators, no leading dots, word chars . - only."""
    base = PurePosixPath((raw or "").replace("\\", "/")).name
    base = unicodedata.normalize("NFKC", base)
    cleaned = _UNSAFE_CHARS.sub("_", base).lstrip("._-")
    if not cleaned:
        return default
    if len(cleaned) > _MAX_NAME_CHARS:
        _, dot, ext = cleaned.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        cleaned = cleaned[: _MAX_NAME_CHARS - len(keep) - 1] + ("." + keep if keep else "")
    return cleaned


def tenant_upload_dir(uploads_dir: Path, tenant: str) -> Path:
    return (uploads_dir / safe_file_name(tenant, default="default")).resolve()


_locks: dict[tuple[str, str], asyncio.Lock] = {}


@asynccontextmanager
async def _file_lock(tenant: str, file_name: str) -> AsyncIterator[None]:
    """Serialise uploads of the same file name for one tenant (they replace the same file)."""
    key = (tenant, file_name)
    lock = _locks.setdefault(key, asyncio.Lock())
    try:
        async with lock:
            yield
    finally:
        if not lock.locked() and _locks.get(key) is lock:
            del _locks[key]


def _limited(request: Request, limit_bytes: int) -> Request:
    """The same request whose body raises UploadTooLarge once more than `limit_bytes` arrived."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit_bytes:
                raise UploadTooLarge
        return message

    return Request(request.scope, receive=receive)


def _copy_to_staging(source: IO[bytes], staging_dir: Path, file_name: str) -> tuple[Path, bool]:
    """Copy the upload into the staging dir; also say whether it holds anything besides whitespace."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    staged = staging_dir / file_name
    has_content = False
    with staged.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            has_content = has_content or bool(chunk.strip())
            out.write(chunk)
    return staged, has_content


def _publish_and_infer(ctx: ToolContext, staged: Path, target: Path,
                       dataset_name: str | None) -> DatasetSchema:
    """Move the staged file into place and infer it; on any failure restore the previous file."""
    backup = staged.with_name(staged.name + ".previous")
    had_previous = target.exists()
    if had_previous:
        os.replace(target, backup)
    os.replace(staged, target)
    try:
        return get_tool("infer_schema").run(ctx, {"path": str(target), "name": dataset_name})
    except BaseException:
        if had_previous:
            os.replace(backup, target)
        else:
            target.unlink(missing_ok=True)
        raise


@router.post("", status_code=201, response_model=None, openapi_extra={
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "name": {"type": "string", "description": "Dataset name (default: from the file name)."},
        },
    }}}},
})
async def upload_dataset(request: Request) -> Any:
    """Upload a CSV/TSV/JSON/NDJSON/Parquet/XLSX file (gzip too); returns its inferred schema."""
    ctx = tool_context(request)
    limit = int(ctx.settings.max_upload_mb * 1024 * 1024)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        return _too_large(ctx.settings)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return api_error(415, "Send the file as multipart/form-data with the file in a field named 'file'.")
    try:
        form = await _limited(request, limit + _MULTIPART_SLACK).form(max_files=1, max_fields=4)
    except UploadTooLarge:
        return _too_large(ctx.settings)
    except Exception as exc:  # malformed multipart bodies raise several parser error types
        return api_error(400, f"The multipart body could not be read ({exc}): send the file in a field "
                              "named 'file'.")
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return api_error(400, "No file was sent: put the file in a multipart field named 'file'.")
        raw_name = form.get("name")
        dataset_name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else None
        return await _store(ctx, upload, dataset_name, limit)
    finally:
        await form.close()


def _too_large(settings: Settings) -> JSONResponse:
    return api_error(413, f"The upload is larger than the {settings.max_upload_mb:g} MiB limit: send a "
                          "smaller file or raise ETLA_MAX_UPLOAD_MB.")


async def _store(ctx: ToolContext, upload: UploadFile, dataset_name: str | None, limit: int) -> Any:
    """Stage the bytes, then publish and infer them under the tenant's lock for this file name."""
    file_name = safe_file_name(upload.filename)
    tenant_dir = tenant_upload_dir(ctx.settings.uploads_dir, ctx.tenant)
    staging_dir = tenant_dir / ".staging" / uuid.uuid4().hex
    try:
        async with _file_lock(ctx.tenant, file_name):
            staged, has_content = await run_in_threadpool(_copy_to_staging, upload.file, staging_dir,
                                                          file_name)
            if not has_content:
                return api_error(400, f"The file {file_name} is empty: upload a file with a header row and "
                                      "data rows.")
            if staged.stat().st_size > limit:
                return _too_large(ctx.settings)
            schema = await run_in_threadpool(_publish_and_infer, ctx, staged, tenant_dir / file_name,
                                             dataset_name)
    except ToolError as exc:
        return api_error(422, str(exc))
    except WarehouseError as exc:
        return api_error(503, str(exc), "server_error")
    except EtlError as exc:
        return api_error(400, str(exc))
    except Exception:
        log.exception("dataset upload of %s failed", file_name)
        return api_error(500, f"Storing {file_name} failed on the server: see the server log and try again.",
                         "server_error")
    finally:
        await run_in_threadpool(shutil.rmtree, staging_dir, True)
    return JSONResponse(schema.model_dump(mode="json"), status_code=201)


@router.get("")
async def list_datasets(request: Request) -> Any:
    """The tenant's datasets: name, source, format, row count and column identifiers."""
    ctx = tool_context(request)
    try:
        result = await run_in_threadpool(get_tool("list_datasets").run, ctx, {})
    except EtlError as exc:
        return api_error(503, str(exc), "server_error")
    return result.model_dump(mode="json")


@router.get("/{name}")
async def get_dataset(name: str, request: Request) -> Any:
    """One dataset's full inferred schema."""
    ctx = tool_context(request)
    try:
        schema = await run_in_threadpool(ctx.catalog.get_dataset, ctx.tenant, name)
    except EtlError as exc:
        return api_error(503, str(exc), "server_error")
    if schema is None:
        return api_error(404, f"There is no dataset named {name!r}: upload it with POST /v1/datasets or "
                              "list the known ones with GET /v1/datasets.", "not_found_error")
    return schema.model_dump(mode="json")
