"""A small OpenAI-compatible chat server on 127.0.0.1, for tests that use the real SDK clients.

It answers ``POST /v1/chat/completions`` (OpenAI, and local servers such as
Ollama or vLLM) and ``POST /openai/deployments/{deployment}/chat/completions``
(the route ``AzureOpenAIChatClient`` calls), as plain JSON or, with
``"stream": true``, as server-sent events. Every request body is recorded so a
test can check which messages reached the model, in which order. It can be told
to fail the next N requests with HTTP 500, and to stream slowly.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

AZURE_ROUTE = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
OPENAI_ROUTE = re.compile(r"^(?:/v1)?/chat/completions$")


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    deployment: str | None = None
    failed: bool = False
    aborted: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def conversation(self) -> list[tuple[str, str]]:
        """(role, text) of every non-system message, in the order sent."""
        return [(m.get("role", ""), _text_of(m)) for m in self.messages if m.get("role") != "system"]


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def default_reply(request: RecordedRequest, number: int) -> str:
    """A reply that says which turn it is and how many earlier messages it was sent."""
    earlier = max(len(request.conversation) - 1, 0)
    return f"Model reply {number}: I was sent {earlier} earlier messages."


@dataclass
class ModelServer:
    """The server; use as a context manager or call ``start()`` / ``stop()``."""

    reply: Callable[[RecordedRequest, int], str] = default_reply
    chunk_delay: float = 0.0
    first_chunk_delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures_left: int = 0
    _failure_status: int = 500
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------

    def start(self) -> ModelServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="model-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` chat requests with ``status`` (and tell the SDK not to retry)."""
        with self._lock:
            self._failures_left, self._failure_status = count, status

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, the value for AOAI_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        return f"{self.url}/v1"

    @property
    def answered(self) -> list[RecordedRequest]:
        """Requests that got a full reply (not failed, not cut off by the client)."""
        with self._lock:
            return [r for r in self.requests if not r.failed and not r.aborted]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")

    # -- used by the handler ------------------------------------------------------

    def _record(self, request: RecordedRequest) -> tuple[int, int | None]:
        """Store the request; returns its number and the failure status to send, if any."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if self._failures_left > 0:
                self._failures_left -= 1
                request.failed = True
                return number, self._failure_status
            return number, None

    def _chunks(self, text: str) -> Iterator[str]:
        yield from re.findall(r"\S+\s*", text) or [""]


def _handler_for(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the response ends when the connection closes: simple SSE

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            azure = AZURE_ROUTE.match(parts.path)
            if not azure and not OPENAI_ROUTE.match(parts.path):
                self._send_json(404, {"error": {"message": f"no route {parts.path}", "type": "not_found"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            request = RecordedRequest(
                path=parts.path,
                query=parse_qs(parts.query),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
                deployment=azure.group("deployment") if azure else None,
            )
            number, failure = server._record(request)
            if failure is not None:
                self._send_json(
                    failure,
                    {"error": {"message": "the test model server was told to fail", "type": "server_error"}},
                    extra_headers={"x-should-retry": "false"},
                )
                return
            text = server.reply(request, number)
            model = body.get("model") or request.deployment or "test-model"
            try:
                if body.get("stream"):
                    self._stream(text, model, number, body)
                else:
                    self._send_json(200, _completion(text, model, number))
            except (BrokenPipeError, ConnectionResetError):
                request.aborted = True

        def _send_json(self, status: int, payload: dict[str, Any], extra_headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra_headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, text: str, model: str, number: int, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if server.first_chunk_delay:
                time.sleep(server.first_chunk_delay)
            for index, piece in enumerate(server._chunks(text)):
                if index and server.chunk_delay:
                    time.sleep(server.chunk_delay)
                delta: dict[str, Any] = {"content": piece}
                if index == 0:
                    delta["role"] = "assistant"
                self._event(_chunk(model, number, delta, None))
            self._event(_chunk(model, number, {}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                self._event({**_chunk(model, number, {}, None), "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _completion(text: str, model: str, number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, number: int, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
