"""Provides loopback fakes of a Discord webhook and the Telegram Bot API's sendMessage.

They check what the real services check (the webhook id and token, the bot token and chat,
empty and over-long text) and answer with the real shapes: Discord 204 with no body (200 and
the message with `?wait=true`), `{"message", "code"}` errors and 429
`{"message", "retry_after", "global"}` plus a Retry-After header; Telegram
`{"ok": true, "result": {...}}` or `{"ok": false, "error_code", "description", "parameters"}`.
Tests steer failures with `fail_next(...)`, `rate_limit_next(retry_after_s)` and
`delay_next(seconds)` (a response slower than the client's timeout); `down.set()` hangs up on
every request until cleared (a lost network, even on kept-alive connections).
"""

from __future__ import annotations

import json
import math
import threading
from abc import ABC, abstractmethod
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Reply = tuple[int, Any, dict[str, str]]  # status, body (JSON-able, str, bytes or None), headers


class ChatServer(ABC):
    """A ThreadingHTTPServer on 127.0.0.1 (free port) in a daemon thread; POST with JSON bodies."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []  # accepted messages, in arrival order
        self.requests: list[str] = []  # every request path, accepted or not
        self._faults: deque[Reply] = deque()
        self._delays: deque[float] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.down = threading.Event()  # set: every request is met by a closed connection (a lost network)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (once per test) at milliseconds, not 0.5 s.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "ChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # cut short any delayed answer still sleeping
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, body: Any = None, count: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `count` requests with this response instead of the real one."""
        with self._lock:
            self._faults.extend([(status, body, headers or {})] * count)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` answers back this long (the request still counts)."""
        with self._lock:
            self._delays.extend([seconds] * count)

    @abstractmethod
    def rate_limit_next(self, retry_after_s: float, count: int = 1) -> None:
        """Answer the next `count` requests with this service's own 429."""

    @abstractmethod
    def route(self, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        """The real answer to a POST (body already parsed from JSON, or None if it was not JSON)."""

    def _reply(self, raw_path: str, raw_body: bytes) -> tuple[Reply, float]:
        with self._lock:
            self.requests.append(raw_path)
            delay = self._delays.popleft() if self._delays else 0.0
            if self._faults:
                return self._faults.popleft(), delay
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        parts = urlsplit(raw_path)
        reply = self.route(unquote(parts.path), parse_qs(parts.query), body)
        return reply, delay

    def _accept(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(message)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                if server.down.is_set():
                    self.close_connection = True  # hang up without an answer
                    return
                length = int(self.headers.get("Content-Length") or 0)
                (status, body, headers), delay = server._reply(self.path, self.rfile.read(length))
                if delay:
                    server._closing.wait(delay)
                if body is None:
                    data = b""
                elif isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                else:
                    data = body if isinstance(body, bytes) else str(body).encode()
                    headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (its timeout) before the slow answer came

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # keep test output clean

        return Handler


class FakeDiscord(ChatServer):
    """POST /api/webhooks/<id>/<token>: 204, or 200 with the message when `?wait=true`."""

    MAX_CONTENT = 2000

    def __init__(self, webhook_id: str = "1187654321098765432", token: str = "wh-Tok3n_secret-abcdefghijklmnopqrstuvwxyz0123") -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.token = token
        self._next_id = 1_200_000_000_000_000_000

    @property
    def url(self) -> str:
        """The webhook URL a user would paste into DISCORD_WEBHOOK_URL."""
        return f"{self.origin}/api/webhooks/{self.webhook_id}/{self.token}"

    @property
    def contents(self) -> list[str]:
        return [m["content"] for m in self.received]

    def rate_limit_next(self, retry_after_s: float, count: int = 1) -> None:
        body = {"message": "You are being rate limited.", "retry_after": retry_after_s, "global": False}
        headers = {"Retry-After": str(math.ceil(retry_after_s)), "X-RateLimit-Scope": "shared",
                   "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0"}
        self.fail_next(429, body, count, headers)

    def route(self, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if path != f"/api/webhooks/{self.webhook_id}/{self.token}":
            if path.startswith("/api/webhooks/"):
                return 404, {"message": "Unknown Webhook", "code": 10015}, {}
            return 404, {"message": "404: Not Found", "code": 0}, {}
        if not isinstance(body, dict):
            return 400, {"message": "Cannot send an empty message", "code": 50006}, {}
        content = body.get("content") or ""
        if not content.strip() and not body.get("embeds"):
            return 400, {"message": "Cannot send an empty message", "code": 50006}, {}
        if len(content) > self.MAX_CONTENT:
            errors = {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                               "message": f"Must be {self.MAX_CONTENT} or fewer in length."}]}}
            return 400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"}, {}
        self._accept(body)
        if query.get("wait", ["false"])[0].lower() != "true":
            return 204, None, {}
        self._next_id += 1
        message = {"id": str(self._next_id), "type": 0, "content": content, "channel_id": "1187000000000000001",
                   "webhook_id": self.webhook_id, "timestamp": "2024-01-01T00:00:00.000000+00:00"}
        return 200, message, {}


class FakeTelegram(ChatServer):
    """POST /bot<token>/sendMessage -> {"ok": true, "result": Message}, or Telegram's error object."""

    MAX_TEXT = 4096

    def __init__(self, token: str = "7012345678:AAH-fakeTokenValue_0123456789abcdefXYZ", chat_id: str = "-1001234567890",
                 port: int = 0) -> None:
        super().__init__(port)
        self.token = token
        self.chat_id = chat_id
        self._message_id = 100

    @property
    def url(self) -> str:
        """The API base for alerts.telegram_api_url (the real one is https://api.telegram.org)."""
        return self.origin

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.received]

    def rate_limit_next(self, retry_after_s: float, count: int = 1) -> None:
        wait = max(1, math.ceil(retry_after_s))  # Telegram's retry_after is whole seconds
        body = {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}",
                "parameters": {"retry_after": wait}}
        self.fail_next(429, body, count, {"Retry-After": str(wait)})

    def route(self, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        prefix = f"/bot{self.token}/"
        if not path.startswith("/bot"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, {}
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, {}
        if path[len(prefix):].lower() != "sendmessage":  # Bot API method names are case-insensitive
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, {}
        return self._send_message(body if isinstance(body, dict) else {})

    def _send_message(self, body: dict[str, Any]) -> Reply:
        def bad(description: str) -> Reply:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}, {}

        if "chat_id" not in body:
            return bad("chat_id is empty")
        if str(body["chat_id"]) != self.chat_id:
            return bad("chat not found")
        text = body.get("text") or ""
        if not text.strip():
            return bad("message text is empty")
        if len(text) > self.MAX_TEXT:
            return bad("message is too long")
        self._accept(body)
        self._message_id += 1
        result = {
            "message_id": self._message_id,
            "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "perp-bot",
                     "username": "perpbot_alerts_bot"},
            "chat": {"id": int(self.chat_id), "title": "perp-bot alerts", "type": "supergroup"},
            "date": 1_704_067_200,  # fixed: the tests run on a fake clock anyway
            "text": text,
        }
        return 200, {"ok": True, "result": result}, {}
