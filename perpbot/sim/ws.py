"""Provides the simulator's WebSocket `/ws`: subscriptions, pushes, ping/pong, posts, drops and stalls.

Protocol as the exchange speaks it: on connect the text "Websocket connection established.";
`{"method":"subscribe","subscription":{...}}` is acked with a `subscriptionResponse`, then
`allMids` is pushed on every mid change (at least once a second), `candle` on every change of
the forming bar (closed bars the client has not seen are sent first, final), `l2Book` once a
second; the user and trade streams (orderUpdates, userFills, userEvents, userFundings, trades,
webData2, clearinghouseState, spotState, activeAssetCtx) as `perpbot.sim.ws_user` describes;
`{"method":"ping"}` gets `{"channel":"pong"}`; `{"method":"post",...}` answers an /info request
or runs an /exchange action over the socket, in the exchange's envelope. With
`FaultConfig.ws_stall` (or a scenario's stall) a connection stays open but nothing is sent.
JSON goes out compact, as the exchange sends it.
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
from perpbot.sim.ws_feeds import Feeds, compact
from perpbot.sim.ws_user import USER_STREAMS, user_messages

log = logging.getLogger(__name__)

PUSH_TICK_S = 0.1  # how often (wall time) each connection looks for news
MIDS_HEARTBEAT_S = 1.0  # allMids goes out at least this often even when no mid moved
BOOK_EVERY_S = 1.0
BAR_CLOSE_MARGIN_S = 0.001  # wall seconds past a bar's close before looking (the clock counts whole wall ms)
MAX_CATCH_UP_BARS = 100  # closed bars sent when a fast clock closes many between two ticks
GREETING = "Websocket connection established."
_SUPPORTED = ("allMids", "candle", "l2Book", "trades", "activeAssetCtx", "bbo", "activeAssetData", *USER_STREAMS)
# Rebuilt and sent once a second:
_PERIODIC = ("webData2", "clearinghouseState", "spotState", "activeAssetCtx", "bbo", "activeAssetData")
_ADDRESS_LEN = 42
# What Starlette and uvicorn raise on a send or receive after the socket went away.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


def _error(text: str) -> str:
    return compact({"channel": "error", "data": text})


class _Session:
    """One client connection and its subscriptions."""

    def __init__(self, ws: WebSocket, info: InfoApi, faults: FaultConfig, clock: Clock,
                 wall: Callable[[], float], feeds: Feeds | None = None,
                 stalled: Callable[[int], bool] = lambda now: False) -> None:
        self.ws, self.info, self.faults, self.clock, self._wall = ws, info, faults, clock, wall
        self.feeds, self._stalled = feeds, stalled
        self.subs: dict[tuple[str, ...], dict[str, Any]] = {}
        self._cursors: dict[tuple[str, ...], int] = {}  # stream -> the last log entry sent
        self._periodic_at: dict[tuple[str, ...], float] = {}
        self._last_mids: str | None = None
        self._mids_at = 0.0
        self._book_at: dict[str, float] = {}
        self._candle_sent: dict[tuple[str, ...], tuple[int, str]] = {}  # key -> (bar open time, row sent)

    @property
    def stalled(self) -> bool:
        return self.faults.ws_stall or self._stalled(self.clock.now_ms())

    async def send(self, text: str) -> None:
        if not self.stalled:
            await self.ws.send_text(text)

    async def receive_loop(self) -> None:
        async for text in self.ws.iter_text():
            await self.on_message(text)

    async def on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
            method = msg["method"] if isinstance(msg, dict) else None
        except (ValueError, KeyError, RecursionError):
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
        if kind in USER_STREAMS:
            user = sub.get("user")
            ok = self.feeds is not None and isinstance(user, str) and len(user) == _ADDRESS_LEN and user.startswith("0x")
            return (kind, user.lower()) if ok else None
        coin = sub.get("coin")
        if not isinstance(coin, str) or coin not in self.info.universe:
            return None
        if kind == "candle":
            interval = sub.get("interval")
            return ("candle", coin, interval) if interval in INTERVALS else None
        if kind in ("trades", "activeAssetCtx", "bbo", "activeAssetData") and self.feeds is None:
            return None
        if kind == "activeAssetData":
            user = sub.get("user")
            return (kind, coin, user.lower()) if isinstance(user, str) and len(user) == _ADDRESS_LEN else None
        return (kind, coin)

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
            await self.send(compact({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}))
            await self._open_stream(key)
            return
        else:
            if key not in self.subs:
                await self.send(_error(f"Already unsubscribed: {json.dumps(sub)}"))
                return
            del self.subs[key]
            self._candle_sent.pop(key, None)
            if key == ("allMids",):
                self._last_mids = None
        await self.send(compact({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}))

    async def _open_stream(self, key: tuple[str, ...]) -> None:
        """Start a user or trade stream from now on; userFills and userFundings open with their snapshot."""
        if self.feeds is None or key[0] not in (*USER_STREAMS, "trades"):
            return
        self._cursors[key] = self.feeds.log.seq
        first = self.feeds.snapshot(key[1], key[0]) if key[0] in USER_STREAMS else None
        if first is not None:
            await self.send(compact({"channel": first[0], "data": first[1]}))

    async def _post_reply(self, req_id: Any, kind: str, payload: Any) -> None:
        await self.send(compact({"channel": "post", "data": {"id": req_id, "response": {"type": kind, "payload": payload}}}))

    async def on_post(self, msg: dict[str, Any]) -> None:
        req_id = msg.get("id")
        request = msg.get("request")
        kind = request.get("type") if isinstance(request, dict) else None
        if kind == "action" and self.feeds is not None:
            await self._post_reply(req_id, *self.feeds.action(request.get("payload")))
            return
        if kind != "info":
            await self._post_reply(req_id, "error", "Error parsing JSON into valid websocket request: post request type "
                                   "must be info or action")
            return
        body = request.get("payload")
        try:
            text = self.info.handle(body)
        except InfoError as exc:
            await self._post_reply(req_id, "error", exc.text)
            return
        kind = compact(body["type"] if isinstance(body, dict) else None)  # handle() accepted a dict
        await self.send(f'{{"channel":"post","data":{{"id":{compact(req_id)},"response":{{"type":"info",'
                        f'"payload":{{"type":{kind},"data":{text}}}}}}}}}')

    async def push_loop(self, woken: asyncio.Event | None = None) -> None:
        try:
            while True:
                if woken is None:
                    await asyncio.sleep(self._next_look_s())
                else:  # a fill or order update wakes it at once; else it looks every tick
                    try:
                        await asyncio.wait_for(woken.wait(), self._next_look_s())
                    except TimeoutError:
                        pass
                    woken.clear()
                if not self.stalled and self.subs:
                    await self._push_all()
        except _GONE as exc:
            log.debug("websocket push stopped", extra={"reason": str(exc)})

    def _next_look_s(self) -> float:
        """Wall seconds to the next look: a push tick, or sooner when a candle stream's bar closes first.
        The exchange pushes a new bar with its first trade, a block after the close; a push tick is up to
        0.1 wall s, which an accelerated clock makes minutes (450 s of a 15m bar at 4500x)."""
        steps = [INTERVAL_MS.get(key[2], 0) for key in self.subs if key[0] == "candle"]
        steps = [step for step in steps if step]
        if not steps:
            return PUSH_TICK_S
        now = self.clock.now_ms()
        to_close_ms = min(step - now % step for step in steps)
        return min(PUSH_TICK_S, to_close_ms / 1000 / self.clock.speed + BAR_CLOSE_MARGIN_S)

    async def _push_all(self) -> None:
        now = self.clock.now_ms()
        self.info.universe.ensure(now)
        if self.feeds is not None and any(k[0] in USER_STREAMS or k[0] == "trades" for k in self.subs):
            self.feeds.sync(now)  # stops and resting orders fire (and stream out) though nobody polls
        for key in list(self.subs):
            if key[0] == "allMids":
                await self._push_mids(now)
            elif key[0] == "candle":
                await self._push_candle(key, now)
            elif key[0] == "l2Book":
                await self._push_book(key[1], now)
            else:
                await self._push_stream(key, now)

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

    async def _push_stream(self, key: tuple[str, ...], now: int) -> None:
        assert self.feeds is not None
        if key[0] in _PERIODIC:
            wall = self._wall()
            if wall - self._periodic_at.get(key, -1e9) >= BOOK_EVERY_S:
                self._periodic_at[key] = wall
                message = self.feeds.periodic(key, now)
                if message is not None:
                    await self.send(compact({"channel": message[0], "data": message[1]}))
            return
        log = self.feeds.log
        if key[0] == "trades":
            log.market_trade(key[1], now)
            entries = log.trades_since(key[1], self._cursors.get(key, 0))
            if entries:
                self._cursors[key] = entries[-1][0]
                await self.send(compact({"channel": "trades", "data": [t for _, t in entries]}))
            return
        fresh = log.user_since(key[1], self._cursors.get(key, 0))
        if fresh:
            self._cursors[key] = fresh[-1][0]
            for channel, data in user_messages(key[1], key[0], fresh):
                await self.send(compact({"channel": channel, "data": data}))

    async def _push_book(self, coin: str, now: int) -> None:
        wall = self._wall()
        if wall - self._book_at.get(coin, 0.0) >= BOOK_EVERY_S:
            self._book_at[coin] = wall
            book = self.info.l2_book_obj(coin, now)
            await self.send(compact({"channel": "l2Book", "data": book}))


class WsHub:
    """Accepts /ws connections and can drop them all from any thread."""

    def __init__(self, info: InfoApi, faults: FaultConfig, clock: Clock, wall: Callable[[], float],
                 feeds: Feeds | None = None, stalled: Callable[[int], bool] = lambda now: False) -> None:
        self.info, self.faults, self.clock, self._wall = info, faults, clock, wall
        self.feeds, self.stalled = feeds, stalled
        self._sockets: set[WebSocket] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakers: set[asyncio.Event] = set()
        if feeds is not None:
            feeds.log.wake = self._wake
        self.drops: Callable[[int, int], bool] = lambda after, until: False  # a scenario's ws_drop in (after, until]?
        self._drops_checked: int | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def _watch_drops(self) -> None:
        """Close every socket when a scheduled drop comes due (checked each push tick)."""
        while self._sockets:
            now = self.clock.now_ms()
            last = self._drops_checked if self._drops_checked is not None else now
            self._drops_checked = max(last, now)
            if self.drops(last, now):
                await self._close_all(list(self._sockets))
            await asyncio.sleep(PUSH_TICK_S)
        self._watcher = None

    def _wake(self) -> None:
        """Called from whichever thread booked a fill or order update: wake every session's push loop."""
        loop = self._loop
        if loop is not None and self._wakers:
            loop.call_soon_threadsafe(lambda: [e.set() for e in list(self._wakers)])

    @property
    def connections(self) -> int:
        return len(self._sockets)

    async def endpoint(self, ws: WebSocket) -> None:
        await ws.accept()
        self._loop = asyncio.get_running_loop()
        self._sockets.add(ws)
        if self._watcher is None:
            # Drops are judged from the moment this socket was accepted, not from the watcher's first look:
            # that comes a loop turn later, and a clock moved past a drop in between (a test's FakeClock, a
            # fast ScaledClock) would make the window (now, now] and the drop would never come.
            self._drops_checked = self.clock.now_ms()
            self._watcher = asyncio.create_task(self._watch_drops())
        session = _Session(ws, self.info, self.faults, self.clock, self._wall, self.feeds, self.stalled)
        woken = asyncio.Event()
        self._wakers.add(woken)
        pusher = asyncio.create_task(session.push_loop(woken))
        try:
            await session.send(GREETING)
            await session.receive_loop()
        except _GONE as exc:
            log.debug("websocket closed", extra={"reason": str(exc)})
        finally:
            pusher.cancel()
            self._wakers.discard(woken)
            self._sockets.discard(ws)

    def drop_all(self) -> int:
        """Close every open socket (thread-safe); returns how many were open."""
        loop, sockets = self._loop, list(self._sockets)
        if loop is None or not sockets:
            return 0
        asyncio.run_coroutine_threadsafe(self._close_all(sockets), loop).result(timeout=5)
        return len(sockets)

    @staticmethod
    async def _close_all(sockets: list[WebSocket]) -> None:
        for ws in sockets:
            if ws.application_state != WebSocketState.CONNECTED:
                continue
            try:
                await ws.close(code=1012)  # "service restart", what a redeploying exchange sends
            except _GONE as exc:  # the client left at the same moment
                log.debug("websocket already gone", extra={"reason": str(exc)})
