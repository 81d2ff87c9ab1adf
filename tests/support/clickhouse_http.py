"""A loopback server speaking ClickHouse's HTTP interface, backed by chDB (the same ClickHouse engine).

No ClickHouse server recent enough for clickhouse-connect installs on this machine, so the ClickHouse
adapter is tested through the real clickhouse-connect client against this stand-in. It implements what the
client sends: `GET /ping`, a query in the `query` parameter and/or the body, settings as URL parameters
(readonly, max_execution_time, max_result_rows...), the `default_format` or a FORMAT clause, inserts whose
data travel in the (optionally lz4/zstd/gzip-compressed, possibly chunked) body under the URL's settings
(e.g. `input_format_csv_empty_as_default`), and errors as HTTP 500
with ClickHouse's `Code: N. DB::Exception: ...` text plus `X-ClickHouse-Exception-Code`. Production points
`ETLA_WAREHOUSE_URL` at a real ClickHouse server; nothing here is used outside tests.

chDB allows one data directory per process, so the handler shares the adapter's session registry
(`chdb_engine.shared_session`), taking turns with any chDB warehouse open in the same test process.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import lz4.frame
import zstandard

from etl_assistant.errors import ToolError
from etl_assistant.warehouse.chdb_engine import shared_session, with_query_settings

# URL parameters that are protocol options, not query settings.
_NOT_SETTINGS = {
    "query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id",
    "compress", "decompress", "enable_http_compression", "wait_end_of_query", "user", "password",
    "send_progress_in_http_headers", "http_headers_progress_interval_ms", "client_protocol_version",
    "buffer_size", "readonly", "quota_key",
}
_INSERT_FORMAT = re.compile(r"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)
_TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_CODE = re.compile(r"Code: (\d+)\.")
_DECODERS = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "lz4": lz4.frame.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


def _settings(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in _NOT_SETTINGS and not k.startswith("param_")}


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Handler(BaseHTTPRequestHandler):
    server: ClickHouseHTTPFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return None

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if urlparse(self.path).path in ("/ping", "/"):
            if not urlparse(self.path).query:
                self._reply(200, b"Ok.\n", "text/plain")
                return
        self._handle(b"")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle(self._body())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b"".join(self._chunks())
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        return _DECODERS[encoding](data) if encoding in _DECODERS else data

    def _chunks(self) -> Iterator[bytes]:
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()

    def _handle(self, body: bytes) -> None:
        params = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query, keep_blank_values=True).items()}
        self.server.requests.append(params)
        query = params.get("query", "")
        if not query:
            query, body = body.decode(), b""
        read_only = params.get("readonly", "0") not in ("0", "")
        fmt = params.get("default_format") or "TabSeparated"
        if (trailing := _TRAILING_FORMAT.search(query)) and not _INSERT_FORMAT.match(query):
            # chDB decodes text formats itself, so the output format goes as its argument, not in the SQL.
            fmt, query = trailing.group(1), query[:trailing.start()]
        try:
            insert = _INSERT_FORMAT.match(query)
            if insert and body:
                payload = self._insert(insert.group(1), insert.group(2), body, _settings(params))
            else:
                payload = self._query(query, params, fmt, read_only)
        except Exception as exc:  # chDB raises RuntimeError/ChdbError carrying ClickHouse's text
            text = str(exc).strip()
            code = _CODE.search(text)
            self._reply(500, (text + "\n").encode(), "text/plain",
                        {"X-ClickHouse-Exception-Code": code.group(1) if code else "1002"})
            return
        self._reply(200, payload, "application/octet-stream",
                    {"X-ClickHouse-Format": fmt, "X-ClickHouse-Summary": json.dumps({"read_rows": "0"})})

    def _query(self, query: str, params: dict[str, str], fmt: str, read_only: bool) -> bytes:
        settings = _settings(params)
        try:
            sql = with_query_settings(query, settings) if settings else query
        except ToolError:
            sql = query  # sqlglot cannot read it: let the engine answer as a server would
        with self.server.session(read_only) as session:
            return session.query(sql, fmt).bytes()

    def _insert(self, statement: str, fmt: str, body: bytes, settings: dict[str, str]) -> bytes:
        """URL settings (e.g. input_format_csv_empty_as_default) apply to the insert, as on a server."""
        if settings:
            statement += " SETTINGS " + ", ".join(
                f"{name} = {value if value.lstrip('-').isdigit() else _quoted(value)}"
                for name, value in settings.items()
            )
        with self.server.session(False) as session:
            inserter = session.send_insert(statement, fmt)
            inserter.append(body)
            inserter.finish()
        return b""

    def _reply(self, status: int, payload: bytes, content_type: str,
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-ClickHouse-Query-Id", str(uuid.uuid4()))
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-fake")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


class ClickHouseHTTPFake(ThreadingHTTPServer):
    """`with ClickHouseHTTPFake(path) as fake:` serves on 127.0.0.1:`fake.port` until the block ends."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.path = path
        self.requests: list[dict[str, str]] = []  # URL parameters of every request, for assertions
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self.serve_forever, name="clickhouse-http-fake", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"clickhouse://default:@127.0.0.1:{self.port}/default"

    @contextmanager
    def session(self, read_only: bool) -> Iterator[object]:
        with shared_session(self.path, read_only=read_only) as session:
            yield session

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        self._connections.add(request)
        super().process_request(request, client_address)

    def __enter__(self) -> ClickHouseHTTPFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop like a server process would: keep-alive connections are cut too."""
        self.shutdown()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        self._thread.join(timeout=5)
