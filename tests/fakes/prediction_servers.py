"""Provides loopback fakes of Polymarket's Gamma API and Kalshi's market-data API.

They answer with the real response shapes and quirks (Gamma's string-encoded arrays and
string numbers, Kalshi's cents plus `_dollars` fields and its error object) and can be told
to fail: `fail_next(status, body, count, headers)` queues whole responses (429, 5xx,
malformed bodies), `raw[id] = text` makes one market's body malformed.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Reply = tuple[int, Any, dict[str, str]]  # status, body (JSON-able, str or bytes), headers


class FakeServer(ABC):
    """A ThreadingHTTPServer on 127.0.0.1 (free port) in a daemon thread; GET only."""

    prefix = ""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._faults: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval keeps shutdown (once per test) at milliseconds, not 0.5 s.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.prefix}"

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, body: Any = "", count: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `count` requests with this response instead of the real one."""
        with self._lock:
            self._faults.extend([(status, body, headers or {})] * count)

    @abstractmethod
    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        """The real answer for a path below `prefix`."""

    def _reply(self, raw_path: str) -> Reply:
        with self._lock:
            self.requests.append(raw_path)
            if self._faults:
                return self._faults.popleft()
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if not path.startswith(self.prefix):
            return 404, "Not Found", {}
        return self.route(path[len(self.prefix):], parse_qs(parts.query))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                status, body, headers = server._reply(self.path)
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                else:
                    data = body if isinstance(body, bytes) else str(body).encode()
                    headers = {"Content-Type": "text/plain; charset=utf-8", **headers}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # keep test output clean

        return Handler


class FakeGamma(FakeServer):
    """Polymarket Gamma: GET /markets?slug=|id= -> list; GET /markets/<id> -> object or 404."""

    def __init__(self) -> None:
        super().__init__()
        self.markets: dict[str, dict[str, Any]] = {}  # by slug
        self.raw: dict[str, str] = {}  # slug -> malformed body text

    def add(self, slug: str, market_id: str, question: str, yes: float, closed: bool = False,
            outcomes: tuple[str, ...] = ("Yes", "No"), encoded: bool = True) -> dict[str, Any]:
        """A market shaped like Gamma's; `encoded=False` sends real arrays (seen on some routes)."""
        prices = [f"{yes:g}", f"{1 - yes:g}"] if outcomes[0] == "Yes" else [f"{1 - yes:g}", f"{yes:g}"]
        tokens = ["1043" + market_id, "8871" + market_id]
        market = {
            "id": market_id, "question": question, "slug": slug, "conditionId": "0x" + market_id.rjust(64, "0"),
            "endDate": "2026-02-28T12:00:00Z", "active": True, "closed": closed,
            "volume": "11234567.8", "liquidity": 254321.1, "volumeNum": 11234567.8,
            "outcomes": json.dumps(list(outcomes)) if encoded else list(outcomes),
            "outcomePrices": json.dumps(prices) if encoded else prices,
            "clobTokenIds": json.dumps(tokens) if encoded else tokens,
        }
        self.markets[slug] = market
        return market

    def set_yes(self, slug: str, yes: float) -> None:
        market = self.markets[slug]
        market["outcomePrices"] = json.dumps([f"{yes:g}", f"{1 - yes:g}"])

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/markets":
            if "slug" in query:
                slug = query["slug"][0]
                if slug in self.raw:
                    return 200, self.raw[slug].encode(), {"Content-Type": "application/json"}
                found = [self.markets[slug]] if slug in self.markets else []
            else:
                ids = set(query.get("id", []))
                found = [m for m in self.markets.values() if m["id"] in ids]
            return 200, found, {}
        if path.startswith("/markets/"):
            wanted = path[len("/markets/"):]
            for market in self.markets.values():
                if market["id"] == wanted:
                    return 200, market, {}
            return 404, {"type": "not found error", "error": "id not found"}, {}
        return 404, "404 page not found", {}


class FakeKalshi(FakeServer):
    """Kalshi trade-api v2: GET /markets/<ticker> -> {"market": {...}} or a 404 error object."""

    prefix = "/trade-api/v2"

    def __init__(self) -> None:
        super().__init__()
        self.markets: dict[str, dict[str, Any]] = {}
        self.raw: dict[str, str] = {}

    def add(self, ticker: str, title: str, bid_cents: int | None, ask_cents: int | None,
            last_cents: int | None = None, status: str = "active", dollars: bool = True) -> dict[str, Any]:
        """A market in Kalshi's shape: integer cents and (when `dollars`) the `_dollars` strings."""
        market: dict[str, Any] = {
            "ticker": ticker, "event_ticker": ticker.rsplit("-", 1)[0], "title": title, "subtitle": "",
            "status": status, "close_time": "2025-12-10T18:55:00Z", "volume": 1834521,
            "volume_24h": 20311, "open_interest": 912334, "liquidity": 5204120,
            "no_bid": None if ask_cents is None else 100 - ask_cents,
            "no_ask": None if bid_cents is None else 100 - bid_cents,
        }
        for field, cents in (("yes_bid", bid_cents), ("yes_ask", ask_cents), ("last_price", last_cents)):
            if cents is not None:  # brand-new or closed markets omit price fields
                market[field] = cents
                if dollars:
                    market[f"{field}_dollars"] = f"{cents / 100:.4f}"
        self.markets[ticker] = market
        return market

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path.startswith("/markets/"):
            ticker = path[len("/markets/"):]
            if ticker in self.raw:
                return 200, self.raw[ticker].encode(), {"Content-Type": "application/json"}
            if ticker in self.markets:
                return 200, {"market": self.markets[ticker]}, {}
            return 404, {"error": {"code": "not_found", "message": "market not found", "service": "exchange"}}, {}
        return 404, {"error": {"code": "not_found", "message": "route not found"}}, {}
