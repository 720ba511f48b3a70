"""A real local HTTP server that speaks enough of the Anthropic Messages API for client tests.

    with FakeAnthropicServer(responder=lambda body: "template <*>") as server:
        server.enqueue(RateLimited(retry_after=0.05), Reply("ok"))
        llm = ChatAnthropic(base_url=server.base_url, api_key="test-key", ...)

`POST /v1/messages` checks the body like the real API (model, max_tokens, messages) and needs an
`x-api-key` or `Authorization: Bearer` header. Each call takes the next scripted action, or, when the
script is empty, answers with `responder(request_body)`. Actions: `Reply`, `ApiError` / `RateLimited` /
`storm(...)`, `Hang` (longer than the client's timeout), `Malformed` (any raw body); `bursts(...)`
builds a seeded script of error bursts (429s, 500s, 529s, hangs) between runs of normal answers.
`delay_s` delays every call (to show concurrency gains). Requests are recorded with their headers so
tests can assert on them; every answer actually delivered is recorded in `billed` (what a provider
would charge for); the server logs only the request line, never headers.

Binds 127.0.0.1 on an ephemeral port; `stop()` (or leaving the `with` block) unblocks hung handlers
and closes every connection.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Reply:
    """A normal answer. `text` None: use the server's responder. Tokens default to word counts."""

    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    delay_s: float = 0.0
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class ApiError:
    """An error response in the API's shape. `{key}` in `message` is replaced by the key the request
    carried (to emulate a proxy that echoes credentials, for scrubbing tests)."""

    status: int
    message: str = "scripted error"
    retry_after: float | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def RateLimited(retry_after: float | str | None = 0) -> ApiError:  # noqa: N802 - reads like an action
    """A 429 with a `retry-after` header (seconds or an HTTP date)."""
    return ApiError(429, "rate limited", retry_after=retry_after)


def storm(status: int, count: int) -> list[ApiError]:
    """`count` consecutive errors with this status (e.g. a 500 or 529 storm)."""
    return [ApiError(status, f"scripted {status}") for _ in range(count)]


@dataclass(frozen=True)
class Hang:
    """Hold the request for `seconds` (longer than the client's timeout), then try to answer."""

    seconds: float = 10.0
    then: Reply = field(default_factory=Reply)


@dataclass(frozen=True)
class Malformed:
    """A raw body, e.g. non-JSON or JSON of the wrong shape, with status 200 by default."""

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"


def bursts(seed: int, length: int, *, error_share: float = 0.4, max_burst: int = 4,
           kinds: tuple = ("429", "500", "529", "hang"), hang_s: float = 30.0) -> list:
    """A seeded script of about `length` actions: runs of normal answers (`Reply()`) broken by bursts of
    one error kind repeated 2..`max_burst` times (`"429"`, `"500"`, `"529"`), or 1-2 `"hang"`s (a
    request held for `hang_s`, longer than any client timeout, and dropped when the server stops).
    Every kind in `kinds` occurs at least once."""
    rng = random.Random(seed)
    make = {"429": lambda: RateLimited(retry_after=0), "500": lambda: ApiError(500, "burst 500"),
            "529": lambda: ApiError(529, "burst 529"), "hang": lambda: Hang(seconds=hang_s)}
    order = list(kinds)
    rng.shuffle(order)
    mean_burst = (2 + max_burst) / 2
    mean_calm = mean_burst * (1 - error_share) / error_share    # so that about `error_share` are errors
    script: list = []
    while len(script) < length or order:
        kind = order.pop() if order else rng.choice(kinds)
        # hangs cost a client timeout each: their bursts stay short
        burst = rng.randint(1, 2) if kind == "hang" else rng.randint(2, max_burst)
        script.extend(make[kind]() for _ in range(burst))
        script.extend(Reply() for _ in range(max(1, round(rng.expovariate(1 / mean_calm)))))
    return script


@dataclass(frozen=True)
class Billed:
    """An answer the server delivered: what a provider would charge for (model = the API model id)."""

    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float

    @property
    def api_key(self) -> str | None:
        """The credential the request carried (`x-api-key`, else a bearer token)."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


def last_user_text(body: dict) -> str:
    """The text of the last user message of a Messages API request body."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
    return ""


def _words(text: str) -> int:
    return max(1, len(text.split()))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, owner: FakeAnthropicServer):
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that timed out and hung up is expected here; keep the test output quiet.
        logger.debug("fake anthropic server: connection from %s ended with an error", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, like the real API
    disable_nagle_algorithm = True    # headers and body go out at once (no 40 ms delayed-ACK stall per call)
    server: _Server
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        logger.debug("fake anthropic server: %s", format % args)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner = self.server.owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                   time.monotonic())
        action = owner._record_and_next(recorded)
        try:
            self._answer(owner, recorded, action)
        finally:
            owner._leave()

    def _answer(self, owner: FakeAnthropicServer, recorded: RecordedRequest, action: Any) -> None:
        body = recorded.body
        if owner.delay_s:
            owner._wait(owner.delay_s)
        if self.path.split("?")[0] != "/v1/messages":
            return self._error(ApiError(404, f"no route {self.path}"), recorded)
        if recorded.api_key is None:
            return self._error(ApiError(401, "missing x-api-key header"), recorded)
        problem = _validate(body)
        if problem:
            return self._error(ApiError(400, problem), recorded)
        if isinstance(action, Hang):
            if owner._wait(action.seconds):
                return  # server stopping: drop the connection
            action = action.then
        if isinstance(action, ApiError):
            return self._error(action, recorded)
        if isinstance(action, Malformed):
            data = action.body.encode() if isinstance(action.body, str) else action.body
            return self._send(action.status, data, action.content_type)
        reply = action if isinstance(action, Reply) else Reply()
        if reply.delay_s:
            owner._wait(reply.delay_s)
        text = reply.text if reply.text is not None else owner.responder(body)
        stop_reason = reply.stop_reason
        if reply.output_tokens is None and _words(text) > body["max_tokens"]:   # the real API stops there too
            text, stop_reason = " ".join(text.split()[:body["max_tokens"]]), "max_tokens"
        usage = {"input_tokens": reply.input_tokens if reply.input_tokens is not None else _input_words(body),
                 "output_tokens": reply.output_tokens if reply.output_tokens is not None else _words(text)}
        payload = {
            "id": f"msg_fake_{owner._next_id()}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if self._send(200, json.dumps(payload).encode(), "application/json"):
            owner._bill(Billed(body["model"], usage["input_tokens"], usage["output_tokens"]))

    def do_GET(self) -> None:  # noqa: N802
        self._error(ApiError(404, f"no route {self.path}"), None)

    def _error(self, error: ApiError, recorded: RecordedRequest | None) -> None:
        message = error.message
        if "{key}" in message:
            message = message.replace("{key}", (recorded.api_key if recorded else None) or "")
        payload = {"type": "error", "error": {"type": ERROR_TYPES.get(error.status, "api_error"),
                                              "message": message}}
        headers = dict(error.headers)
        if error.retry_after is not None:
            headers["retry-after"] = str(error.retry_after)
        self._send(error.status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> bool:
        """Send a response; False when the client had gone away."""
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_fake_{self.server.owner._next_id()}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("fake anthropic server: client went away before the answer")
            return False


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return None


def _input_words(body: dict) -> int:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(b.get("text", "") for b in system if isinstance(b, dict))
    texts = [system]
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(b.get("text", "") for b in content or [] if isinstance(b, dict))
    return _words(" ".join(texts))


class FakeAnthropicServer:
    """The fake Messages API server (a context manager). See the module docstring."""

    def __init__(self, responder: Callable[[dict], str] | None = None, *, delay_s: float = 0.0,
                 host: str = "127.0.0.1"):
        self.responder = responder or (lambda body: f"echo: {last_user_text(body)}")
        self.delay_s = delay_s
        self._host = host
        self._script: deque[Any] = deque()
        self._requests: list[RecordedRequest] = []
        self._billed: list[Billed] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"FakeAnthropicServer({self.base_url if self._server else 'stopped'})"

    # lifecycle
    def start(self) -> FakeAnthropicServer:
        self._stopping.clear()
        self._server = _Server((self._host, 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-anthropic-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._server.connections_lock:
            connections = list(self._server.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # scripting and inspection
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def enqueue(self, *actions: Any) -> None:
        """Append actions (a `Reply`, `ApiError`, `Hang`, `Malformed`, or lists of them) to the script."""
        with self._lock:
            for action in actions:
                self._script.extend(action if isinstance(action, list | tuple) else [action])

    @property
    def pending(self) -> int:
        """Scripted actions not yet used."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def billed(self) -> list[Billed]:
        """Every answer delivered (a client that timed out and hung up before it is not billed)."""
        with self._lock:
            return list(self._billed)

    def _bill(self, billed: Billed) -> None:
        with self._lock:
            self._billed.append(billed)

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same time (shows client concurrency)."""
        with self._lock:
            return self._max_in_flight

    def _record_and_next(self, request: RecordedRequest) -> Any:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return self._script.popleft() if self._script else None

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when interrupted because the server is stopping."""
        return self._stopping.wait(seconds)

    def _next_id(self) -> int:
        return next(self._ids)


# Environment variables from the developer's shell that would send a live client elsewhere or trace it.
FOREIGN_ENV = ("ANTHROPIC_API_URL", "ANTHROPIC_PROXY", "ANTHROPIC_AUTH_TOKEN", "LANGSMITH_TRACING",
               "LANGSMITH_API_KEY", "LANGSMITH_GATEWAY", "LANGSMITH_GATEWAY_API_KEY", "LANGCHAIN_TRACING_V2",
               "LANGCHAIN_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
               "all_proxy")


def use_fake_server(monkeypatch, server, workspace, *, key: str, timeout_s: float = 5) -> None:
    """Point a live engine at `server`: a clean `SLS_*` environment, the key, the server's URL, `workspace`,
    fast retries, no telemetry, no proxy."""
    import os
    for name in [n for n in os.environ if n.startswith("SLS_")] + list(FOREIGN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("SLS_WORKSPACE", str(workspace))
    monkeypatch.setenv("SLS_RETRY_BASE_DELAY_S", "0.01")
    monkeypatch.setenv("SLS_CLIENT_TIMEOUT_S", str(timeout_s))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
