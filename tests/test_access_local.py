"""Local single-user mode and the rules around it, on real servers: no key needed on loopback, but a web page
still cannot drive the server (cross-site posts refused, nothing written), DNS rebinding is refused, binding
beyond loopback without a key refuses to start (the real CLI in a subprocess), and per-key rate limits answer
429 with Retry-After, in-process and in the local Redis.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import WebSocket

from etl_assistant.access.keys import KeyStore
from etl_assistant.access.ratelimit import RedisRateLimiter
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from etl_assistant.warehouse.catalog import Catalog
from tests.support.access_env import ai_sdk_body, keyed_server
from tests.support.live_server import LiveServer, live_server

BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None)
    with live_server(create_app(settings)) as server:
        yield server


def test_local_mode_needs_no_key_on_loopback(local: LiveServer) -> None:
    with httpx.Client(base_url=local.url, timeout=60) as http:
        assert http.get("/v1/datasets").json() == {"datasets": []}
        assert http.post("/threads", json={}).status_code == 200
        assert http.get("/metrics").status_code == 200


def test_a_web_page_cannot_drive_the_local_server(local: LiveServer) -> None:
    """The attack of issue 12: a page posts text/plain or a form to the local server (a "simple request",
    no preflight) and saves a poisoned verified answer. Every such post is refused and nothing is written."""
    poisoned = json.dumps({"question": "total revenue", "sql": "SELECT 0 AS revenue"})
    page = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    with httpx.Client(base_url=local.url, timeout=60) as http:
        thread = http.post("/threads", json={}).json()["thread_id"]
        targets = ["/v1/verified", "/v1/chat/completions", f"/threads/{thread}/runs/wait", "/api/chat",
                   "/threads", "/v1/datasets"]
        for path in targets:
            for kind, headers, body in (("text/plain", {"Content-Type": "text/plain"}, poisoned),
                                        ("form", {"Content-Type": "application/x-www-form-urlencoded"},
                                         "question=total+revenue&sql=SELECT+0")):
                from_page = http.post(path, content=body, headers={**headers, **page})
                assert from_page.status_code == 403, (path, kind)
                no_origin = http.post(path, content=body, headers=headers)  # e.g. a page's old browser
                assert no_origin.status_code == 415, (path, kind)
                assert "application/json" in no_origin.json()["error"]["message"]
        json_from_page = http.post("/v1/verified", content=poisoned,
                                   headers={"Content-Type": "application/json", **page})
        assert json_from_page.status_code == 403
        cross_site_only = {"Content-Type": "text/plain;charset=UTF-8", "Sec-Fetch-Site": "cross-site"}
        sneaky = http.post("/v1/verified", content=poisoned, headers=cross_site_only)
        assert sneaky.status_code == 403
        upload = http.post("/v1/datasets", files={"file": ("evil.csv", b"a\n1\n")}, headers=page)
        assert upload.status_code == 403
        assert http.get("/v1/verified").json()["pairs"] == []
        assert http.get("/v1/datasets").json() == {"datasets": []}
        assert http.post("/threads/search", json={}).json() == [http.get(f"/threads/{thread}").json()]
        same_page = http.post("/v1/verified", content=poisoned, headers={
            "Content-Type": "application/json", "Origin": local.url, "Sec-Fetch-Site": "same-origin"})
        assert same_page.status_code == 201  # the page itself may save a pair
        assert len(http.get("/v1/verified").json()["pairs"]) == 1


def test_dns_rebinding_is_refused(local: LiveServer) -> None:
    with httpx.Client(base_url=local.url, timeout=60) as http:
        for path in ("/v1/datasets", "/mcp", "/threads/search"):
            rebound = http.post(path, json={}, headers={"Host": "attacker.example"})
            assert rebound.status_code == 403 and "host name 'attacker.example'" in rebound.text
        port = local.url.rsplit(":", 1)[1]
        assert http.get("/v1/datasets", headers={"Host": f"localhost:{port}"}).is_success


def test_cors_is_off_unless_configured(tmp_path: Path) -> None:
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    off = Settings(data_dir=tmp_path / "off", _env_file=None)
    with live_server(create_app(off)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        refused = http.options("/v1/chat/completions", headers=preflight)
        assert "access-control-allow-origin" not in refused.headers
    on = Settings(data_dir=tmp_path / "on", cors_origins=["http://app.example"], _env_file=None)
    with live_server(create_app(on)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        allowed = http.options("/v1/chat/completions", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"
        listed = http.get("/v1/datasets", headers={"Origin": "http://app.example"})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "http://app.example"
        assert http.get("/v1/datasets", headers={"Origin": "http://other.example"}).status_code == 403


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETLA_")}
    return {**env, "ETLA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **extra}


def test_serving_beyond_loopback_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        done = subprocess.run([str(BIN / "etl-assistant"), "serve", "--host", host, "--port", "1"],
                              env=_cli_env(tmp_path / "data"), capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        message = " ".join(done.stderr.split())
        assert f"Refusing to listen on {host} without an API key" in message
        assert "etl-assistant keys create --tenant NAME" in message and "Traceback" not in done.stderr


def test_serve_checks_hosts_against_the_host_it_serves(tmp_path: Path) -> None:
    """ETLA_HOST says every interface, --host says loopback: the Host checks (ours and MCP's rebinding
    protection) follow --host."""
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "etl-assistant"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=_cli_env(tmp_path / "data", ETLA_HOST="0.0.0.0"), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.3)
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream"}
        rebound = httpx.post(f"{base}/mcp", json=initialize, headers={**accept, "Host": "attacker.example"})
        assert rebound.status_code == 403
        good = httpx.post(f"{base}/mcp", json=initialize, headers=accept, timeout=30)
        assert good.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_keys_cli_prints_the_key_once_and_lists_prefixes(tmp_path: Path) -> None:
    run = [str(BIN / "etl-assistant"), "keys"]
    env = _cli_env(tmp_path / "data")
    created = subprocess.run([*run, "create", "--tenant", "acme", "--name", "laptop"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    key = created.stdout.strip()
    assert key.startswith("etla_") and len(key) == 48
    assert f"Created key {key[:12]}… for tenant acme" in created.stderr
    listed = subprocess.run([*run, "list"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert key[:12] in listed.stdout and key not in listed.stdout and "active" in listed.stdout
    store = KeyStore(Catalog(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"))
    assert store.verify(key) is not None and store.verify(key[:-1] + "x") is None
    revoked = subprocess.run([*run, "revoke", key[:12], "--tenant", "globex"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert revoked.returncode == 2 and "Tenant 'globex' has no active key" in " ".join(revoked.stderr.split())
    subprocess.run([*run, "revoke", key[:12], "--tenant", "acme"], env=env, timeout=60, check=True,
                   capture_output=True)
    assert store.verify(key) is None
    bad = subprocess.run([*run, "create", "--tenant", "Acme Corp"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "is not usable" in bad.stderr


@pytest.mark.postgres
def test_keys_live_hashed_in_a_postgresql_catalog() -> None:
    from tests.support.postgres import schema_url, temporary_schema

    with temporary_schema("etla_keys") as schema:
        store = KeyStore(Catalog(schema_url(schema)))
        record, key = store.create("acme", "ci")
        assert store.verify(key).tenant == "acme" and store.any_active()
        assert [k.prefix for k in store.list("acme")] == [record.prefix] and store.list("globex") == []
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT * FROM etla_api_keys").all()
        dumped = " ".join(str(value) for row in rows for value in row)
        assert key not in dumped and record.prefix in dumped
        store.revoke(record.prefix, "acme")
        assert store.verify(key) is None


def test_too_many_requests_for_a_key_get_429_with_retry_after(tmp_path: Path) -> None:
    with keyed_server(tmp_path, rate_limit_per_minute=3) as keyed:
        with keyed.http(keyed.acme) as acme, keyed.http(keyed.globex) as globex:
            answers = [acme.get("/v1/datasets").status_code for _ in range(4)]
            assert answers[:3] == [200, 200, 200] and answers[3] == 429
            limited = acme.post("/api/chat", json=ai_sdk_body("c", "hi"))
            assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
            assert "Too many requests for this key" in limited.json()["error"]["message"]
            assert globex.get("/v1/datasets").status_code == 200  # each key has its own budget
            assert acme.get("/health").status_code == 200  # health is never limited


@pytest.mark.redis
async def test_redis_rate_limits_are_shared_by_replicas() -> None:
    prefix = f"etla:test-rate:{uuid.uuid4().hex}"
    first, second = RedisRateLimiter(REDIS_URL, 2, prefix), RedisRateLimiter(REDIS_URL, 2, prefix)
    try:
        assert await first.hit("k1") is None
        assert await second.hit("k1") is None
        wait = await first.hit("k1")
        assert wait is not None and 0 < wait <= 60
        assert await second.hit("k2") is None
    finally:
        await first.aclose()
        await second.aclose()
        client = redis.Redis.from_url(REDIS_URL)
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)
        client.close()


async def test_a_websocket_route_added_later_is_guarded_too(tmp_path: Path) -> None:
    """Deny by default covers routes the guard never heard of, WebSockets included (real uvicorn, the
    `websockets` client): local mode passes, then a key is required and gives its tenant."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from etl_assistant.access.keys import key_store

    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    app = create_app(settings)

    @app.websocket("/later/ws")
    async def tenant_echo(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(socket.state.tenant)
        await socket.close()

    with live_server(app) as server:
        url = server.url.replace("http://", "ws://") + "/later/ws"
        async with connect(url) as socket:
            assert await socket.recv() == "default"
        key = key_store(settings.resolved_catalog_url).create("acme", "ws")[1]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 403
        async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as socket:
            assert await socket.recv() == "acme"
        with pytest.raises(InvalidStatus):
            async with connect(url, additional_headers={"Authorization": f"Bearer {key}",
                                                        "Origin": "http://evil.example"}):
                pass


def test_mcp_rebinding_protection_accepts_the_allowed_host_names(tmp_path: Path) -> None:
    """ETLA_ALLOWED_HOSTS widens our Host check and the MCP SDK's alike (a loopback bind behind a name)."""
    settings = Settings(data_dir=tmp_path / "data", allowed_hosts=["etl.internal"], _env_file=None)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    with live_server(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        port = server.url.rsplit(":", 1)[1]
        named = http.post("/mcp", json=initialize, headers={**accept, "Host": f"etl.internal:{port}",
                                                           "Origin": f"http://etl.internal:{port}"})
        assert named.status_code == 200, named.text
        other = http.post("/mcp", json=initialize, headers={**accept, "Host": f"elsewhere.example:{port}"})
        assert other.status_code == 403


@pytest.mark.redis
def test_with_redis_the_server_counts_each_key_there(tmp_path: Path) -> None:
    with keyed_server(tmp_path, rate_limit_per_minute=2, redis_url=REDIS_URL) as keyed:
        with keyed.http(keyed.acme) as acme:
            answers = [acme.get("/v1/models").status_code for _ in range(3)]
        assert answers == [200, 200, 429]
        client = redis.Redis.from_url(REDIS_URL)
        try:
            counted = [name for name in client.scan_iter(f"etla:rate:{keyed.acme.key[:12]}:*")]
            assert len(counted) == 1 and int(client.get(counted[0])) == 3
        finally:
            for name in client.scan_iter(f"etla:rate:{keyed.acme.key[:12]}:*"):
                client.delete(name)
            client.close()


async def test_local_mode_serves_loopback_peers_only(tmp_path: Path) -> None:
    """Started some other way (uvicorn directly on every interface, ETLA_HOST left at loopback) and without a
    key, a peer from another host gets 401 even when it claims `Host: localhost`. httpx's ASGI transport sets
    the peer address; the guard answers before any route, so the app's lifespan is not needed."""
    app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None))
    peers = ((("192.0.2.7", 5000), 401), (("127.0.0.1", 5000), 404), (("::ffff:127.0.0.1", 1), 404))
    for peer, expected in peers:
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            response = await http.get("/no-such-route")
        assert response.status_code == expected, peer
        if expected == 401:
            assert "etl-assistant keys create" in response.json()["error"]["message"]
