"""Provides the simulated Hyperliquid exchange server: a Starlette app on uvicorn in a background thread.

    with SimServer(SimOptions(seed=1, history_days=7), port=0) as sim:
        Info(base_url=sim.url)   # the official SDK works against it unchanged

Routes: `POST /info` (see `perpbot.sim.info`), `POST /exchange` (see `perpbot.sim.exchange`),
the WebSocket `/ws` (see `perpbot.sim.ws`), the scenario controller `/sim/scenario` (loopback
only, see `perpbot.sim.control`), and simulated prediction markets in Polymarket Gamma's and
Kalshi's shapes under `/polymarket` and `/kalshi` (see `perpbot.sim.prediction`).
Every answer is built from the exchange's own clock, `sim.now_ms()`, which starts at
`options.start_ms` and runs `options.speed` times faster than wall time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from perpbot.clock import MINUTE_MS, Clock, ScaledClock, WallClock, floor_ms
from perpbot.errors import ConfigError
from perpbot.sim.control import FaultMiddleware, Scenarios, control_routes
from perpbot.sim.exchange import body_error, build_exchange, exchange_route
from perpbot.sim.faults import FaultConfig, FaultInjector
from perpbot.sim.info import InfoApi, InfoError
from perpbot.sim.options import SimOptions
from perpbot.sim.prediction import KALSHI_PATH, POLYMARKET_PATH, SimPredictionMarkets
from perpbot.sim.prediction_routes import prediction_routes
from perpbot.sim.scenario import load_scenario
from perpbot.sim.universe import Universe, build_universe
from perpbot.sim.wiring import wire
from perpbot.sim.ws import WsHub
from perpbot.sim.ws_feeds import Feeds
from perpbot.sim.ws_user import StreamLog

__all__ = ["FaultConfig", "SimOptions", "SimServer"]

_STARTUP_TIMEOUT_S = 10.0
_JSON = "application/json"


def build_app(info: InfoApi, injector: FaultInjector, hub: WsHub, exchange: Route | None = None,
              extra: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app: /info with fault injection in front, /ws, /exchange if given, then `extra`."""

    async def info_endpoint(request: Request) -> Response:
        faults = injector.config
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        fault = injector.http_fault()
        if fault is not None:
            return Response(fault.body, fault.status, media_type=fault.content_type)
        if not request.headers.get("content-type", "").startswith(_JSON):
            return Response("Expected request with `Content-Type: application/json`", 415, media_type="text/plain")
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return Response(body_error(exc), 400, media_type="text/plain")
        try:
            text = info.handle(body)
        except InfoError as exc:
            return Response(exc.text, exc.status, media_type=exc.content_type)
        broken = injector.malform(text)
        return Response(text if broken is None else broken, 200, media_type=_JSON)

    routes: list[BaseRoute] = [Route("/info", info_endpoint, methods=["POST"]), WebSocketRoute("/ws", hub.endpoint)]
    return Starlette(routes=routes + ([exchange] if exchange is not None else []) + list(extra))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it a small answer waits ~40 ms on the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"the simulator cannot listen on {host}:{port}: {exc.strerror}",
                          "pick another --port (or 0 for any free port)") from exc
    return sock


class SimServer:
    """The simulated exchange; `start()`/`stop()` or use it as a context manager.

    Args:
        options: market, clock and fault settings (validated here).
        host, port: where to listen; port 0 picks a free port (see `.url`).
        clock: the exchange's clock; default a ScaledClock from options.start_ms at options.speed.

    Raises:
        ConfigError: bad options, a bad replay file, or a port that cannot be bound.
    """

    def __init__(self, options: SimOptions | None = None, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None) -> None:
        self.options = options or SimOptions()
        self.options.validate()
        start_ms = self.options.start_ms
        if start_ms is None:
            start_ms = floor_ms(WallClock().now_ms(), MINUTE_MS)
        self.start_ms = start_ms
        self.universe: Universe = build_universe(self.options, start_ms)
        # The clock starts after the (possibly long) generation, so no simulated time is lost.
        self.clock: Clock = clock or ScaledClock(start_ms, self.options.speed)
        self.faults: FaultConfig = self.options.faults
        self.injector = FaultInjector(self.faults, self.options.seed)
        # The exchange side books against the same book /info serves (self.info exists before any order).
        self.exchange, accounts = build_exchange(self.universe, lambda coin, t: self.info.l2_book_obj(coin, t),
                                                 self.clock, self.options.funds, self.options.network,
                                                 self.options.agents, self.options.maker_fill_ticks)
        self.ledger = self.exchange.ledger
        self.scenarios = Scenarios(self.universe, self.clock)
        if self.options.scenario_file:
            self.scenarios.add(load_scenario(self.options.scenario_file, start_ms, list(self.universe.coins)))
        self.wired = wire(self.exchange, self.clock, start_ms, self.options.schedule_cancel_min_volume,
                          self.scenarios.halted)
        self.info = InfoApi(self.universe, self.clock, self.options.candle_limit, self.options.seed, accounts,
                            self.wired.info_handlers)
        self.streams = StreamLog(self.ledger, self.options.seed)
        self.ledger.listeners.append(self.streams.on_event)
        feeds = Feeds(self.exchange, self.info, self.wired.history, self.streams)
        self.hub = WsHub(self.info, self.faults, self.clock, time.monotonic, feeds, self.scenarios.ws_stalled)
        self.hub.drops = self.scenarios.drops_between
        # Stateless and read-only, so always served: a market moves with (seed, time since start_ms) alone.
        self.prediction = SimPredictionMarkets(self.options.seed, start_ms)
        routes = [*prediction_routes(self.prediction, self.clock.now_ms),
                  *control_routes(self.scenarios, list(self.universe.coins), self.clock.now_ms)]
        self.app = build_app(self.info, self.injector, self.hub, exchange_route(self.exchange, self.injector), routes)
        self.asgi = FaultMiddleware(self.app, self.scenarios)
        self.host = host
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(self.asgi, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                ws="websockets-sansio", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/ws"

    @property
    def polymarket_url(self) -> str:
        """The simulated Gamma API (for prediction.polymarket_url)."""
        return self.url + POLYMARKET_PATH

    @property
    def kalshi_url(self) -> str:
        """The simulated Kalshi market data (for prediction.kalshi_url)."""
        return self.url + KALSHI_PATH

    def now_ms(self) -> int:
        """The exchange's current time."""
        return self.clock.now_ms()

    def drop_websockets(self) -> int:
        """Close every open WebSocket connection; returns how many there were."""
        return self.hub.drop_all()

    def start(self) -> SimServer:
        """Serve in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"perpbot-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the simulator on {self.url} did not start", "see the log above for uvicorn's error")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Close every connection and stop serving (returns within about a second)."""
        if self._thread is None:
            self._sock.close()
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._thread = None
        self._sock.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
