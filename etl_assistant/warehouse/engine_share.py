"""One process owns the embedded chDB engine of a data dir; the others on the machine use it through that one.

chDB locks its directory: a second process that opens it (`etl-assistant load`, `sql` or the stdio MCP server
an IDE starts, next to a running `etl-assistant serve`) fails with "Cannot lock file …/status". So the server,
once it has the engine open, serves it on a Unix socket beside the warehouse directory and says so in
`<warehouse>.owner.json` (its pid and the socket). `connect()` in any other process finds a live owner there
and returns `SharedChdbWarehouse`, which sends the three engine operations (`execute`, `query`, `load_file`)
over the socket; everything else (tables, counts, swaps) is built on those, as for every ClickHouse adapter.
The socket file is the data dir's: only users who may read the data dir may connect (mode 0600).

Wire: one JSON object per line each way; values are tagged so dates, decimals and bytes keep their types.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from etl_assistant.errors import EtlError, InputError, ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ProgressCallback
from etl_assistant.warehouse.base import LoadResult, QueryResult, Warehouse
from etl_assistant.warehouse.clickhouse_family import ClickHouseFamily

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# most specific first: an error crosses the socket as the first of these it is an instance of
_ERRORS: dict[str, type[EtlError]] = {"InputError": InputError, "ToolError": ToolError,
                                      "WarehouseError": WarehouseError}
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux


def owner_file(warehouse_path: str) -> Path:
    return Path(f"{warehouse_path.rstrip('/')}.owner.json")


def socket_path(warehouse_path: str) -> str:
    """Beside the warehouse, or (a path too long for a Unix socket) under the temp dir, named by its hash."""
    beside = f"{warehouse_path.rstrip('/')}.sock"
    if len(beside) <= _UNIX_PATH_MAX:
        return beside
    digest = hashlib.sha256(warehouse_path.encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"etla-{digest}.sock")


_claims: dict[str, int] = {}  # warehouse path -> descriptor holding our claim lock on it
_claims_guard = threading.Lock()
CLAIM_WAIT_S = 30.0  # how long a process waits for the claimant that is starting to share the engine


def claim_or_find(warehouse_path: str) -> str | None:
    """None when this process may open the chDB directory itself (it now holds the claim lock), else the
    socket of the process that owns it. The claim is an flock on `<warehouse>.owner.lock`: the kernel drops it
    when its holder dies, so a killed owner never blocks the next one. When another process holds the claim
    but shares nothing yet (a server starting, or several `serve --workers` starting at once), this waits for
    its socket; a holder that never shares (a CLI command started before the server) is reported."""
    with _claims_guard:
        if warehouse_path in _claims:
            return None
        owner = live_owner(warehouse_path)
        if owner is not None:
            return owner
        lock = _open_claim_lock(warehouse_path)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
        else:
            _claims[warehouse_path] = lock
            return None
    deadline = time.monotonic() + CLAIM_WAIT_S
    while time.monotonic() < deadline:
        owner = live_owner(warehouse_path)
        if owner is not None:
            return owner
        time.sleep(0.1)
    raise WarehouseError(
        f"Another etl-assistant process has the chDB warehouse at {warehouse_path} open and does not share "
        "it (a CLI command or `etl-assistant mcp` started before the server); wait for it to end, or give "
        "it its own ETLA_DATA_DIR."
    )


def _open_claim_lock(warehouse_path: str) -> int:
    """The claim lock's descriptor, beside the warehouse directory (its parent made if missing); a path that
    cannot hold it (a file in the way, no permission) is the warehouse URL's problem, said as one sentence."""
    try:
        os.makedirs(os.path.dirname(warehouse_path.rstrip("/")) or ".", exist_ok=True)
        return os.open(f"{warehouse_path.rstrip('/')}.owner.lock", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise WarehouseError(
            f"Cannot open the chDB warehouse at {warehouse_path}: {exc.strerror or exc}; "
            "check ETLA_WAREHOUSE_URL and that the directory is writable."
        ) from exc


def release_claim(warehouse_path: str) -> None:
    """Give up the claim (this process closed the directory), so another process may open it."""
    with _claims_guard:
        lock = _claims.pop(warehouse_path, None)
    if lock is not None:
        os.close(lock)


def live_owner(warehouse_path: str) -> str | None:
    """The socket of another live process that owns this warehouse, if there is one."""
    try:
        owner = json.loads(owner_file(warehouse_path).read_text())
        pid, path = int(owner["pid"]), str(owner["socket"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a killed owner left its file behind
    except PermissionError:
        pass  # alive, another user's
    return path if os.path.exists(path) else None


# -- values on the wire --------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$map": [[_encode(k), _encode(v)] for k, v in value.items()]}
    return value


_DECODERS = {"$decimal": Decimal, "$datetime": dt.datetime.fromisoformat, "$date": dt.date.fromisoformat,
             "$time": dt.time.fromisoformat, "$bytes": base64.b64decode, "$uuid": uuid.UUID}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "$map" in value:
            return {_decode(k): _decode(v) for k, v in value["$map"]}
        (tag, text), = value.items()
        return _DECODERS[tag](text)
    return value


# -- the owner's side ----------------------------------------------------------------------------------------


def _answer(warehouse: Warehouse, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    try:
        if op == "execute":
            warehouse.execute(request["sql"])
            return {"ok": True}
        if op == "query":
            result = warehouse.query(request["sql"], limit=request.get("limit"),
                                     timeout_s=request.get("timeout_s"),
                                     read_only=request.get("read_only", True))
            return {"ok": True, "columns": result.columns, "rows": _encode(result.rows),
                    "truncated": result.truncated, "elapsed_ms": result.elapsed_ms}
        if op == "load_file":
            loaded = warehouse.load_file(request["table"], DatasetSchema.model_validate(request["schema"]))
            return {"ok": True, "table": loaded.table, "rows": loaded.rows, "elapsed_s": loaded.elapsed_s,
                    "method": loaded.method, "notes": loaded.notes}
        return {"ok": False, "error": "ToolError", "message": f"Unknown engine operation {op!r}."}
    except EtlError as exc:
        kind = next((name for name, cls in _ERRORS.items() if isinstance(exc, cls)), "WarehouseError")
        return {"ok": False, "error": kind, "message": str(exc)}
    except Exception:  # a bug: logged here, one sentence there
        log.exception("shared engine operation %s failed", op)
        return {"ok": False, "error": "WarehouseError",
                "message": "The server's warehouse failed on this request; see the server log."}


@asynccontextmanager
async def share_engine(open_warehouse: Callable[[], Warehouse]) -> AsyncIterator[None]:
    """While the block runs, serve the warehouse (when it is a chDB this process owns) to the other local
    processes of its data dir. A warehouse that cannot be opened is logged, not fatal: requests say why."""
    from etl_assistant.warehouse.chdb_engine import ChdbWarehouse

    try:
        warehouse = await asyncio.to_thread(open_warehouse)
    except WarehouseError as exc:
        log.warning("the warehouse is not shared with other processes: %s", exc)
        warehouse = None
    if not isinstance(warehouse, ChdbWarehouse):  # a server's, or one that another process owns
        yield
        return
    path = socket_path(warehouse.path)
    Path(path).unlink(missing_ok=True)  # a killed owner's socket

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await asyncio.to_thread(_answer, warehouse, json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:
            log.info("a shared-engine client went away: %s", exc)
        finally:
            writer.close()

    old_umask = os.umask(0o177)  # the socket is created 0600
    try:
        server = await asyncio.start_unix_server(serve, path=path, limit=MAX_MESSAGE_BYTES)
    finally:
        os.umask(old_umask)
    owner = owner_file(warehouse.path)
    staged = owner.with_suffix(".tmp")
    staged.write_text(json.dumps({"pid": os.getpid(), "socket": path}))
    os.chmod(staged, 0o600)
    os.replace(staged, owner)
    try:
        async with server:
            yield
    finally:
        owner.unlink(missing_ok=True)
        Path(path).unlink(missing_ok=True)


# -- everyone else's side ------------------------------------------------------------------------------------


class SharedChdbWarehouse(ClickHouseFamily):
    """The chDB warehouse of a data dir that another live process (the server) has open."""

    def __init__(self, url: str, socket_file: str) -> None:
        self.url = url
        self.socket_file = socket_file

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.socket_file)
                conn.sendall(json.dumps(request).encode() + b"\n")
                with conn.makefile("rb") as stream:
                    line = stream.readline(MAX_MESSAGE_BYTES)
        except OSError as exc:
            raise WarehouseError(
                f"The running server that holds this data dir's chDB warehouse did not answer ({exc}); "
                "check it is up, or stop it to use the warehouse from here."
            ) from exc
        if not line:
            raise WarehouseError("The running server that holds this data dir's chDB warehouse closed the "
                                 "connection; check its log, or stop it to use the warehouse from here.")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise _ERRORS.get(reply.get("error"), WarehouseError)(reply.get("message", "failed"))
        return reply

    def execute(self, sql: str) -> None:
        self._call({"op": "execute", "sql": sql})

    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        reply = self._call({"op": "query", "sql": sql, "limit": limit, "timeout_s": timeout_s,
                            "read_only": read_only})
        return QueryResult(columns=reply["columns"], rows=[tuple(r) for r in _decode(reply["rows"])],
                           truncated=reply["truncated"], elapsed_ms=reply["elapsed_ms"])

    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        if progress is not None:
            progress(0, None, f"loading {Path(schema.source).name} through the running server")
        reply = self._call({"op": "load_file", "table": table, "schema": schema.model_dump(mode="json")})
        if progress is not None:
            progress(reply["rows"], reply["rows"], f"loaded {reply['rows']} rows into {table}")
        return LoadResult(table=reply["table"], rows=reply["rows"], elapsed_s=reply["elapsed_s"],
                          method=f"{reply['method']} (via the running server)", notes=reply["notes"])
