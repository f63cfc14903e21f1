"""Provides the scenario controller: scenario events in effect, the /sim/ HTTP routes, and the fault middleware.

`Scenarios` holds the events (from `--scenario FILE` or posted) and answers, for a simulated
time, whether a coin is halted, the sockets stalled, or HTTP in an outage or a 429 storm.
Price moves and funding rates are written into the markets when an event is added.
`/sim/scenario` (GET lists, POST adds: one event, a list, or {"events": [...]}, times relative
to now) answers only clients on loopback; anyone else gets 403.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from perpbot.clock import Clock
from perpbot.errors import ConfigError
from perpbot.sim.market import PriceMove
from perpbot.sim.scenario import Event, parse_events
from perpbot.sim.universe import Universe

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
_FAULTED_PATHS = ("/info", "/exchange")


class Scenarios:
    """The scenario events in effect (thread-safe)."""

    def __init__(self, universe: Universe, clock: Clock) -> None:
        self.universe, self.clock = universe, clock
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def add(self, events: list[Event]) -> None:
        with self._lock:
            for event in events:
                self.events.append(event)
                if event.kind == "price_move" and event.coin:
                    self.universe[event.coin].add_price_move(
                        PriceMove(event.at_ms, event.pct, event.duration_ms, event.hold_ms, event.recover_ms))
                elif event.kind == "funding" and event.coin:
                    self.universe[event.coin].set_funding(event.at_ms, event.end_ms, event.rate)
            self.events.sort(key=lambda e: e.at_ms)

    def _active(self, kind: str, now_ms: int, coin: str | None = None) -> bool:
        return any(e.kind == kind and e.at_ms <= now_ms < e.end_ms and (coin is None or e.coin == coin)
                   for e in self.events)

    def halted(self, coin: str, now_ms: int) -> bool:
        return self._active("halt", now_ms, coin)

    def ws_stalled(self, now_ms: int) -> bool:
        return self._active("ws_stall", now_ms)

    def outage(self, now_ms: int) -> bool:
        return self._active("outage", now_ms)

    def http_fault(self, now_ms: int) -> Response | None:
        if self.outage(now_ms):
            return Response(_BAD_GATEWAY, 502, media_type="text/html")
        if self._active("rate_limit", now_ms):
            return Response("Too Many Requests", 429, media_type="text/plain")
        return None

    def drops_between(self, after_ms: int, until_ms: int) -> bool:
        """Whether a ws_drop (or an outage's start) falls in (after, until]."""
        return any(e.kind in ("ws_drop", "outage") and after_ms < e.at_ms <= until_ms for e in self.events)


class FaultMiddleware:
    """Answers /info and /exchange with the scenario's 502 or 429 while one is in effect; refuses sockets in an outage."""

    def __init__(self, app: ASGIApp, scenarios: Scenarios) -> None:
        self.app, self.scenarios = app, scenarios

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        now = self.scenarios.clock.now_ms()
        if scope["type"] == "http" and scope["path"] in _FAULTED_PATHS:
            fault = self.scenarios.http_fault(now)
            if fault is not None:
                await fault(scope, receive, send)
                return
        if scope["type"] == "websocket" and self.scenarios.outage(now):
            await send({"type": "websocket.close", "code": 1013})  # "try again later"
            return
        await self.app(scope, receive, send)


def _is_loopback(request: Request) -> bool:
    return request.client is not None and request.client.host in _LOOPBACK


def control_routes(scenarios: Scenarios, coins: list[str], now_ms: Callable[[], int]) -> list[Route]:
    """The /sim/ routes: GET and POST /sim/scenario."""

    async def scenario(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the scenario controller answers only on loopback"}, 403)
        now = now_ms()
        if request.method == "POST":
            try:
                doc: Any = json.loads(await request.body())
                events = parse_events(doc, now, coins, "POST /sim/scenario")
            except ValueError as exc:
                return JSONResponse({"error": f"the body is not JSON: {exc}"}, 400)
            except ConfigError as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, 422)
            past = [e for e in events if e.kind == "price_move" and e.at_ms < now]
            if past:
                return JSONResponse({"error": f"a price move cannot start in the past ({past[0].at_ms} < now {now})",
                                     "hint": "give `at` as a delay from now, e.g. 0s or 5m"}, 422)
            scenarios.add(events)
        return JSONResponse({"now": now, "events": [e.to_json() for e in scenarios.events]})

    return [Route("/sim/scenario", scenario, methods=["GET", "POST"])]
