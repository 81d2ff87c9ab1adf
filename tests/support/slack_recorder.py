"""A stand-in for Slack's Web API (the external boundary the Slack channel talks to): a real HTTP server on
127.0.0.1 that records every call and answers the way Slack does.

Point `ETLA_SLACK_API_URL` (Settings.slack_api_url) at `recorder.api_url`. It answers `auth.test` (bolt
calls it once to learn the bot's user id), `chat.postMessage` (a fresh `ts` per message), `chat.update`,
`chat.postEphemeral`, and the file upload of `files_upload_v2` (`files.getUploadURLExternal` hands out
`recorder.url + "/upload/<file id>"`, where the bytes are recorded as `file_upload` with `args["data"]`, then
`files.completeUploadExternal`); any other method gets Slack's `unknown_method` error, so an unexpected call
shows up. Posts to `recorder.url + "/response/..."` are recorded as `response_url` webhooks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0TEST001"


@dataclass
class SlackCall:
    method: str  # "chat.postMessage", ... or "response_url"
    args: dict[str, Any]
    token: str | None
    response: dict[str, Any] = field(default_factory=dict)  # what the recorder answered


Where = Callable[[SlackCall], bool]


class SlackRecorder:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self._changed = threading.Condition()
        self._next_ts = 1_700_000_000
        self.url = ""

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def record(self, call: SlackCall) -> dict[str, Any]:
        with self._changed:
            self._next_ts += 1
            call.response = _answer(call, f"{self._next_ts}.000100", self.url)
            self.calls.append(call)
            self._changed.notify_all()
        return call.response

    def of(self, method: str, where: Where | None = None) -> list[SlackCall]:
        with self._changed:
            return self._matching(method, where)

    def wait_for(self, method: str, where: Where | None = None, count: int = 1,
                 timeout: float = 60) -> list[SlackCall]:
        """Block until at least `count` matching calls of `method` arrived; return them all, in order."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self._matching(method, where)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} {method} call(s), got {found}")
                self._changed.wait(left)
            return found

    def _matching(self, method: str, where: Where | None) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method and (where is None or where(c))]


def _answer(call: SlackCall, ts: str, base_url: str) -> dict[str, Any]:
    match call.method:
        case "files.getUploadURLExternal":
            file_id = f"F{ts.replace('.', '')}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{base_url}/upload/{file_id}"}
        case "files.completeUploadExternal":
            files = call.args.get("files") or "[]"
            listed = json.loads(files) if isinstance(files, str) else files
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in listed]}
        case "file_upload":
            return {"ok": True}
        case "auth.test":
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "etla",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        case "chat.postMessage":
            message = {"type": "message", "ts": ts, "text": call.args.get("text"), "bot_id": BOT_ID,
                       "blocks": call.args.get("blocks", [])}
            if call.args.get("thread_ts"):
                message["thread_ts"] = call.args["thread_ts"]
            return {"ok": True, "channel": call.args.get("channel"), "ts": ts, "message": message}
        case "chat.update":
            return {"ok": True, "channel": call.args.get("channel"), "ts": call.args.get("ts"),
                    "text": call.args.get("text")}
        case "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        case "response_url":
            return {"ok": True}
    return {"ok": False, "error": "unknown_method"}


def _handler(recorder: SlackRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body_bytes = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/upload/"):  # a file's bytes (files_upload_v2 step 2): kept as they are
                self._reply(recorder.record(SlackCall("file_upload", {"file_id": self.path.split("/")[2],
                                                                      "data": body_bytes}, None)))
                return
            raw = body_bytes.decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                args = json.loads(raw or "{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw).items()}
            if "?" in self.path:  # some methods (files.getUploadURLExternal, ...) send their arguments here
                args |= {k: v[0] for k, v in parse_qs(self.path.split("?", 1)[1]).items()}
            for key in ("blocks", "attachments"):  # form-encoded calls carry these as JSON strings
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth else args.get("token")
            path = self.path.split("?")[0]
            method = "response_url" if path.startswith("/response/") else path.removeprefix("/api/")
            self._reply(recorder.record(SlackCall(method, args, token)))

        def _reply(self, answer: dict[str, Any]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def slack_recorder() -> Iterator[SlackRecorder]:
    recorder = SlackRecorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
