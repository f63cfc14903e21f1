"""Provides the simulator's WebSocket `/ws`: subscriptions, pushes, ping/pong, posts, drops and stalls.

Protocol as the exchange speaks it: on connect the text "Websocket connection established.";
`{"method":"subscribe","subscription":{...}}` is acked with a `subscriptionResponse`, then
`allMids` is pushed on every mid change (at least once a second), `candle` on every change of
the forming bar (closed bars the client has not seen are sent first, final), `l2Book` once a
second; `{"method":"ping"}` gets `{"channel":"pong"}`; `{"method":"post",...}` answers an /info
request over the socket. With `FaultConfig.ws_stall` a connection stays open but nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from perpbot.clock import INTERVAL_MS, Clock
from perpbot.sim.assets import fmt_num
from perpbot.sim.faults import FaultConfig
from perpbot.sim.info import InfoApi, InfoError, candle_rows_json
from perpbot.sim.market import INTERVALS

log = logging.getLogger(__name__)

PUSH_TICK_S = 0.1  # how often (wall time) each connection looks for news
MIDS_HEARTBEAT_S = 1.0  # allMids goes out at least this often even when no mid moved
BOOK_EVERY_S = 1.0
MAX_CATCH_UP_BARS = 100  # closed bars sent when a fast clock closes many between two ticks
GREETING = "Websocket connection established."
_SUPPORTED = ("allMids", "candle", "l2Book")
# What Starlette and uvicorn raise on a send or receive after the socket went away.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


def _error(text: str) -> str:
    return json.dumps({"channel": "error", "data": text})


class _Session:
    """One client connection and its subscriptions."""

    def __init__(self, ws: WebSocket, info: InfoApi, faults: FaultConfig, clock: Clock,
                 wall: Callable[[], float]) -> None:
        self.ws, self.info, self.faults, self.clock, self._wall = ws, info, faults, clock, wall
        self.subs: dict[tuple[str, ...], dict[str, Any]] = {}
        self._last_mids: str | None = None
        self._mids_at = 0.0
        self._book_at: dict[str, float] = {}
        self._candle_sent: dict[tuple[str, ...], tuple[int, str]] = {}  # key -> (bar open time, row sent)

    async def send(self, text: str) -> None:
        if not self.faults.ws_stall:
            await self.ws.send_text(text)

    async def receive_loop(self) -> None:
        async for text in self.ws.iter_text():
            await self.on_message(text)

    async def on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
            method = msg["method"] if isinstance(msg, dict) else None
        except (ValueError, KeyError):
            await self.send(_error(f"Error parsing JSON into valid websocket request: {text[:200]}"))
            return
        if method == "ping":
            await self.send('{"channel":"pong"}')
        elif method in ("subscribe", "unsubscribe"):
            await self.on_subscription(method, msg.get("subscription"))
        elif method == "post":
            await self.on_post(msg)
        else:
            await self.send(_error(f"Error parsing JSON into valid websocket request: {text[:200]}"))

    def _key(self, sub: Any) -> tuple[str, ...] | None:
        if not isinstance(sub, dict) or sub.get("type") not in _SUPPORTED:
            return None
        kind = sub["type"]
        if kind == "allMids":
            return ("allMids",)
        coin = sub.get("coin")
        if not isinstance(coin, str) or coin not in self.info.universe:
            return None
        if kind == "candle":
            interval = sub.get("interval")
            return ("candle", coin, interval) if interval in INTERVALS else None
        return ("l2Book", coin)

    async def on_subscription(self, method: str, sub: Any) -> None:
        key = self._key(sub)
        if key is None:
            await self.send(_error(f"Invalid subscription {json.dumps(sub)}"))
            return
        if method == "subscribe":
            if key in self.subs:
                await self.send(_error(f"Already subscribed: {json.dumps(sub)}"))
                return
            self.subs[key] = sub
        else:
            if key not in self.subs:
                await self.send(_error(f"Already unsubscribed: {json.dumps(sub)}"))
                return
            del self.subs[key]
            self._candle_sent.pop(key, None)
            if key == ("allMids",):
                self._last_mids = None
        await self.send(json.dumps({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}))

    async def on_post(self, msg: dict[str, Any]) -> None:
        req_id = msg.get("id")
        request = msg.get("request")
        if not isinstance(request, dict) or request.get("type") != "info":
            payload = "the simulator answers only info requests over the socket"
            await self.send(json.dumps({"channel": "post", "data": {"id": req_id, "response": {"type": "error", "payload": payload}}}))
            return
        body = request.get("payload")
        try:
            text = self.info.handle(body)
        except InfoError as exc:
            await self.send(json.dumps({"channel": "post", "data": {"id": req_id, "response": {"type": "error", "payload": exc.text}}}))
            return
        kind = json.dumps(body["type"] if isinstance(body, dict) else None)  # handle() accepted a dict
        await self.send(f'{{"channel":"post","data":{{"id":{json.dumps(req_id)},"response":{{"type":"info",'
                        f'"payload":{{"type":{kind},"data":{text}}}}}}}}}')

    async def push_loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(PUSH_TICK_S)
                if not self.faults.ws_stall and self.subs:
                    await self._push_all()
        except _GONE as exc:
            log.debug("websocket push stopped", extra={"reason": str(exc)})

    async def _push_all(self) -> None:
        now = self.clock.now_ms()
        self.info.universe.ensure(now)
        for key in list(self.subs):
            if key[0] == "allMids":
                await self._push_mids(now)
            elif key[0] == "candle":
                await self._push_candle(key, now)
            else:
                await self._push_book(key[1], now)

    async def _push_mids(self, now: int) -> None:
        mids = json.dumps({name: fmt_num(px) for name, px in self.info.universe.mids(now).items()}, separators=(",", ":"))
        wall = self._wall()
        if mids != self._last_mids or wall - self._mids_at >= MIDS_HEARTBEAT_S:
            self._last_mids, self._mids_at = mids, wall
            await self.send(f'{{"channel":"allMids","data":{{"mids":{mids}}}}}')

    async def _push_candle(self, key: tuple[str, ...], now: int) -> None:
        _, coin, interval = key
        market = self.info.universe[coin]
        forming = market.forming(interval, now)
        if forming is None:
            return
        sent = self._candle_sent.get(key)
        if sent is not None and sent[0] < forming[0]:
            # Bars closed since the last push, the one we were showing first, in their final form.
            step = INTERVAL_MS.get(interval, 0)  # 1M has no fixed length: its catch-up is a bar or two anyway
            since = max(sent[0], forming[0] - MAX_CATCH_UP_BARS * step) if step else sent[0]
            rows = self.info.candle_rows(market, interval, since, forming[0] - 1, now)
            for row in rows[-MAX_CATCH_UP_BARS:]:
                await self.send(f'{{"channel":"candle","data":{row}}}')
        row = candle_rows_json(coin, interval, [np.array([x]) for x in forming])[0]
        if sent is None or sent[1] != row:
            self._candle_sent[key] = (forming[0], row)
            await self.send(f'{{"channel":"candle","data":{row}}}')

    async def _push_book(self, coin: str, now: int) -> None:
        wall = self._wall()
        if wall - self._book_at.get(coin, 0.0) >= BOOK_EVERY_S:
            self._book_at[coin] = wall
            book = self.info.l2_book_obj(coin, now)
            await self.send(json.dumps({"channel": "l2Book", "data": book}, separators=(",", ":")))


class WsHub:
    """Accepts /ws connections and can drop them all from any thread."""

    def __init__(self, info: InfoApi, faults: FaultConfig, clock: Clock, wall: Callable[[], float]) -> None:
        self.info, self.faults, self.clock, self._wall = info, faults, clock, wall
        self._sockets: set[WebSocket] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connections(self) -> int:
        return len(self._sockets)

    async def endpoint(self, ws: WebSocket) -> None:
        await ws.accept()
        self._loop = asyncio.get_running_loop()
        self._sockets.add(ws)
        session = _Session(ws, self.info, self.faults, self.clock, self._wall)
        pusher = asyncio.create_task(session.push_loop())
        try:
            await session.send(GREETING)
            await session.receive_loop()
        except _GONE as exc:
            log.debug("websocket closed", extra={"reason": str(exc)})
        finally:
            pusher.cancel()
            self._sockets.discard(ws)

    def drop_all(self) -> int:
        """Close every open socket (thread-safe); returns how many were open."""
        loop, sockets = self._loop, list(self._sockets)
        if loop is None or not sockets:
            return 0

        async def close_all() -> None:
            for ws in sockets:
                if ws.application_state != WebSocketState.CONNECTED:
                    continue
                try:
                    await ws.close(code=1012)  # "service restart", what a redeploying exchange sends
                except _GONE as exc:  # the client left at the same moment
                    log.debug("websocket already gone", extra={"reason": str(exc)})

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
        return len(sockets)
