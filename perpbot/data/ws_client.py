"""Provides the live price feed: Hyperliquid's allMids WebSocket into a thread-safe mid cache.

Why the sync websockets client on one plain thread rather than asyncio: the engine, the REST
client and the store are all synchronous and threaded; a sync connection needs no event loop
of its own, no `run_coroutine_threadsafe` to reach it, and `recv(timeout=...)` is all the
scheduling keepalive needs. `reconnect()` and `stop()` from other threads just shut the TCP
socket down, which wakes the blocked `recv` at once.

Two kinds of time: mid ages (stale, healthy) use the injected Clock, because that is the time the
engine trades on; transport timers (ping interval, pong deadline, backoff) pace a real socket and
use real seconds, with waits on an Event so `stop()` never waits out a backoff.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from perpbot.clock import Clock, interval_ms
from perpbot.data.ports import MarketData
from perpbot.data.records import CandleRow
from perpbot.data.ws_bars import CandleBook
from perpbot.data.ws_posts import Posts
from perpbot.data.ws_wire import (
    PING,
    SUBSCRIBE,
    account_subscriptions,
    candle_subscriptions,
    parse_message,
    parse_price,
)
from perpbot.errors import PerpbotError

if TYPE_CHECKING:
    from perpbot.config import Settings

log = logging.getLogger(__name__)

_OPEN_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 1.0  # a polite close to a stalled peer is not worth waiting for


@dataclass(frozen=True, slots=True)
class _Mid:
    price: float
    ts_ms: int  # by the injected clock, when we received it
    source: str  # "ws" | "rest"


AccountHandler = Callable[[str, Any], None]


class _Silent(Exception):
    """The connection is open but the peer answered no ping: treat as dropped."""


class WsPostUnavailable(PerpbotError):
    """An info request over the socket got no usable answer: send it over REST instead."""


class WsPriceFeed:
    """allMids subscription feeding a thread-safe mid cache with per-symbol timestamps.

    Args:
        ws_url: e.g. wss://api.hyperliquid.xyz/ws or a simulator's ws://127.0.0.1:PORT/ws.
        symbols: coins to keep (others in allMids are ignored).
        clock: measures mid ages (the engine's clock).
        rest_mids: REST fallback (`MarketData.all_mids`) for `refresh_rest()`.
        stale_after_s: a mid older than this (by `clock`) is stale.
        ping_interval_s: application ping period; no message at all for a whole period after a ping
            means the connection is dead and is replaced.
        backoff_min_s, backoff_max_s: reconnect delay range (doubling, with jitter).
        rng: jitter source.
    """

    def __init__(self, ws_url: str, symbols: list[str], clock: Clock, *,
                 rest_mids: Callable[[], dict[str, float]] | None = None, stale_after_s: float = 30.0,
                 ping_interval_s: float = 20.0, backoff_min_s: float = 0.5, backoff_max_s: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.ws_url = ws_url
        self.symbols = list(dict.fromkeys(symbols))
        self.clock = clock
        self.rest_mids = rest_mids
        self.stale_after_s = stale_after_s
        self.ping_interval_s = ping_interval_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self._mids: dict[str, _Mid] = {}
        self._lock = threading.Lock()  # guards _mids, _conn, counters
        self._conn: ClientConnection | None = None
        self._opened_at = 0.0  # time.monotonic() when _conn was opened
        self._connected = False
        self._sessions = 0  # connections that delivered mids
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._posts = Posts()  # info requests in flight over the socket
        self._posting = False  # this connection answers posts (off after a timeout until the next one)
        self._account: tuple[list[str], AccountHandler] | None = None  # user stream frames, their handler
        self._candles: tuple[list[str], CandleBook] | None = None  # candle stream frames, the bars they proved

    @classmethod
    def from_settings(cls, settings: Settings, client: MarketData, clock: Clock) -> WsPriceFeed:
        return cls(settings.exchange.ws_url, settings.data.symbols, clock, rest_mids=client.all_mids)

    def watch_account(self, user: str, handler: AccountHandler) -> None:
        """Also subscribe `user`'s orderUpdates and userFills on every connection (call before start()):
        `handler(channel, data)` gets each of their messages on the feed thread, and ("reconnected", None)
        when a connection after the first delivers (what was missed meanwhile is not replayed)."""
        self._account = (account_subscriptions(user), handler)

    def watch_candles(self, interval: str) -> None:
        """Also subscribe every symbol's `candle` stream at `interval` on every connection (call before
        start()), so `closed_bars` can serve the bars that closed without a request (data/ws_bars.py)."""
        self._candles = (candle_subscriptions(self.symbols, interval),
                         CandleBook(self.symbols, interval, interval_ms(interval)))

    def closed_bars(self, symbol: str, interval: str, after_t: int, upto_t: int) -> list[CandleRow] | None:
        """The final rows of `symbol`'s bars opening in (after_t, upto_t], as a candleSnapshot would give
        them; None (fetch them elsewhere) unless the candle stream of this connection proved every one
        of them closed and the symbol's prices are fresh."""
        if self._candles is None or self._candles[1].interval != interval:
            return None
        with self._lock:
            if not self._connected:
                return None
        if not self._health_of(symbol, self.clock.now_ms())["healthy"]:
            return None
        return self._candles[1].closed(symbol, after_t, upto_t)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect and subscribe in a background thread (returns at once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="perpbot-price-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket and join the thread."""
        self._stop.set()
        self._abort_connection()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                log.warning("price feed thread did not stop in time", extra={"timeout_s": timeout_s})
            self._thread = None

    def reconnect(self) -> None:
        """Drop the current socket now; the feed thread reconnects.

        A connection younger than one ping interval is left alone: it has not had its chance to
        deliver yet (the engine asks at its first tick, before any mid can have arrived), and a dead
        one is caught by the missing pong anyway.
        """
        with self._lock:
            young = self._conn is not None and time.monotonic() - self._opened_at < self.ping_interval_s
        if not young and self._abort_connection():
            log.info("price feed reconnect requested")

    @property
    def connected(self) -> bool:
        """Subscribed on an open socket right now."""
        with self._lock:
            return self._connected

    @property
    def reconnects(self) -> int:
        """Connections after the first that delivered mids (the engine reconciles after each)."""
        with self._lock:
            return max(self._sessions - 1, 0)

    # --- reading the cache ---------------------------------------------------------------

    def mid(self, symbol: str) -> float | None:
        with self._lock:
            entry = self._mids.get(symbol)
        return entry.price if entry else None

    def mids(self) -> dict[str, float]:
        """Latest mid per subscribed symbol (symbols never seen are absent)."""
        with self._lock:
            return {sym: m.price for sym, m in self._mids.items()}

    def age_s(self, symbol: str) -> float | None:
        """Seconds since `symbol`'s mid arrived, by the injected clock; None if never seen."""
        with self._lock:
            entry = self._mids.get(symbol)
        return None if entry is None else (self.clock.now_ms() - entry.ts_ms) / 1000.0

    def is_stale(self) -> bool:
        """True if any subscribed symbol is older than stale_after_s or was never seen."""
        return any(not h["healthy"] for h in self.health().values())

    def health(self) -> dict[str, dict[str, Any]]:
        """{symbol: {"healthy": bool, "age_s": float | None, "source": "ws" | "rest"}}."""
        now_ms = self.clock.now_ms()
        return {sym: self._health_of(sym, now_ms) for sym in self.symbols}

    def _health_of(self, symbol: str, now_ms: int) -> dict[str, Any]:
        with self._lock:
            entry = self._mids.get(symbol)
        age = None if entry is None else (now_ms - entry.ts_ms) / 1000.0
        return {"healthy": age is not None and age <= self.stale_after_s, "age_s": age,
                "source": entry.source if entry else "ws"}

    # --- info requests over the socket ---------------------------------------------------

    def post_info(self, payload: dict[str, Any], timeout_s: float) -> Any:
        """Send an /info request over the socket (Hyperliquid's WebSocket "post") and wait for its data.

        The same answer as the REST /info body, without an HTTP request per call: the engine asks
        for every symbol's new bar at every tick, and on a loaded host HTTP is most of a tick's
        work. A connection that once lets a post time out (a stalled socket) is not asked again.

        Raises:
            WsPostUnavailable: not connected, timed out, cut off, or the exchange answered an
                error; the caller sends the request over REST.
        """
        with self._lock:
            if not self._connected:
                raise WsPostUnavailable("the WebSocket is not connected")
            if not self._posting:
                raise WsPostUnavailable("this WebSocket connection left a post unanswered; REST until it reconnects")
            conn = self._conn
            assert conn is not None
        post_id, post = self._posts.open()
        try:
            conn.send(json.dumps({"method": "post", "id": post_id, "request": {"type": "info", "payload": payload}},
                                 separators=(",", ":")))
            if not post.done.wait(timeout_s):
                with self._lock:
                    if self._conn is conn:
                        self._posting = False
                log.warning("price feed: a post went unanswered; REST until the next connection",
                            extra={"timeout_s": timeout_s})
                raise WsPostUnavailable(f"no answer over the WebSocket in {timeout_s:g} s")
        except (OSError, WebSocketException) as exc:
            raise WsPostUnavailable(f"WebSocket post failed: {exc}") from exc
        finally:
            self._posts.close(post_id)
        if post.error is not None:
            raise WsPostUnavailable(post.error)
        return post.data

    # --- REST fallback -------------------------------------------------------------------

    def refresh_rest(self) -> bool:
        """Fill the cache once from `rest_mids()`, marked source "rest".

        A websocket mid that is still fresh is kept: REST is the fallback, and a ws value that
        arrived during the request is newer than the REST answer.

        Returns:
            False (logged) if there is no REST source or it failed, else True.
        """
        if self.rest_mids is None:
            log.warning("feed stale and no REST fallback configured")
            return False
        asked_ms = self.clock.now_ms()
        try:
            fetched = self.rest_mids()
        except (PerpbotError, OSError) as exc:
            log.warning("REST mids fallback failed", extra={"error": str(exc)})
            return False
        stored = self._store(fetched, "rest", asked_ms)
        missing = [sym for sym in self.symbols if sym not in fetched]
        # Before the first WebSocket session delivers, REST prices are the normal start, not a fault.
        level = logging.WARNING if self._sessions else logging.INFO
        log.log(level, "feed stale, falling back to REST" if self._sessions else "prices from REST until the "
                "WebSocket delivers", extra={"updated": stored, "missing": missing})
        return True

    def _store(self, prices: dict[str, Any], source: str, ts_ms: int) -> list[str]:
        """Store valid prices of subscribed symbols; returns the symbols stored."""
        fresh: dict[str, _Mid] = {}
        for sym in self.symbols:
            price = parse_price(prices.get(sym))
            if price is not None:
                fresh[sym] = _Mid(price, ts_ms, source)
            elif sym in prices:
                log.warning("ignoring a bad mid", extra={"symbol": sym, "value": repr(prices[sym])[:40], "source": source})
        stale_ms = self.stale_after_s * 1000
        with self._lock:
            if source == "rest":  # keep ws values that are still fresh at the time we asked
                fresh = {sym: m for sym, m in fresh.items() if not self._fresh_ws(sym, ts_ms, stale_ms)}
            self._mids.update(fresh)
        return list(fresh)

    def _fresh_ws(self, sym: str, at_ms: int, stale_ms: float) -> bool:
        old = self._mids.get(sym)
        return old is not None and old.source == "ws" and at_ms - old.ts_ms <= stale_ms

    # --- the feed thread -----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        down_since = time.monotonic()
        while not self._stop.is_set():
            before = self._sessions
            try:
                self._session(down_since)
            except (OSError, WebSocketException, TimeoutError, _Silent) as exc:
                if not self._stop.is_set():  # stop() itself cuts the socket: nothing to warn about
                    log.warning("price feed connection lost", extra={"error": str(exc) or type(exc).__name__})
            except Exception:  # noqa: BLE001 - thread boundary: the feed must outlive any bug in one session
                log.exception("price feed session failed")
            if self._stop.is_set():
                return
            if self._sessions != before:  # it delivered mids before it dropped: start backing off afresh
                failures, down_since = 0, time.monotonic()
            delay_s = self._backoff_s(failures)
            failures += 1
            self._stop.wait(delay_s)

    def _backoff_s(self, failures: int) -> float:
        # "Equal jitter": at least half the exponential delay, so many bots do not reconnect in step.
        base = min(self.backoff_max_s, self.backoff_min_s * 2 ** min(failures, 30))
        return base / 2 + self._rng.uniform(0, base / 2)

    def _session(self, down_since: float) -> None:
        """One connection, until it drops (usually by an exception)."""
        # ping_interval=None: keepalive is Hyperliquid's own {"method":"ping"} (see _pump), not ws ping frames.
        with connect(self.ws_url, open_timeout=_OPEN_TIMEOUT_S, close_timeout=_CLOSE_TIMEOUT_S,
                     ping_interval=None) as conn:
            with self._lock:
                self._conn, self._opened_at = conn, time.monotonic()
            try:
                if self._stop.is_set():
                    return
                if self._candles is not None:
                    self._candles[1].reset()  # nothing held is proven on this connection
                conn.send(SUBSCRIBE)
                for frame in (*(self._account[0] if self._account else ()), *(self._candles[0] if self._candles else ())):
                    conn.send(frame)
                with self._lock:
                    self._connected = self._posting = True
                self._pump(conn, down_since)
            finally:
                with self._lock:
                    self._conn, self._connected, self._posting = None, False, False
                self._posts.fail_all("the WebSocket connection closed")

    def _pump(self, conn: ClientConnection, down_since: float) -> None:
        got_mids = False
        last_rx = pinged_at = time.monotonic()
        while not self._stop.is_set():
            wait_s = pinged_at + self.ping_interval_s - time.monotonic()
            try:
                message = conn.recv(timeout=max(wait_s, 0.0))
            except TimeoutError:
                if last_rx < pinged_at:
                    raise _Silent(f"no message or pong for {self.ping_interval_s:g} s") from None
                conn.send(PING)
                pinged_at = time.monotonic()
                continue
            last_rx = time.monotonic()
            if self._on_message(message) and not got_mids:
                got_mids = True
                self._note_session(down_since)

    def _note_session(self, down_since: float) -> None:
        with self._lock:
            self._sessions += 1
            first = self._sessions == 1
        if first:
            log.info("price feed connected", extra={"url": self.ws_url})
        else:
            log.info("reconnected", extra={"after_s": round(time.monotonic() - down_since, 3)})
            self._tell_account("reconnected", None)

    def _tell_account(self, channel: str, data: Any) -> None:
        if self._account is not None:
            try:
                self._account[1](channel, data)
            except Exception:  # noqa: BLE001 - the feed thread must outlive any bug in the handler
                log.exception("account stream handler failed", extra={"channel": channel})

    def _on_message(self, message: str | bytes) -> bool:
        """Handle one frame; True if it carried mids. Anything malformed is logged and skipped."""
        kind, payload = parse_message(message)
        if kind == "allMids":
            return bool(self._store(payload, "ws", self.clock.now_ms()))
        if kind == "candle":
            if self._candles is not None:
                self._candles[1].add(payload)
        elif kind == "account":
            self._tell_account(*payload)
        elif kind == "post":
            self._posts.answer(payload)
        elif kind == "error":
            log.warning("price feed: exchange sent an error", extra={"error": str(payload)[:200]})
        elif kind == "malformed":
            log.warning("price feed: skipping a malformed message", extra={"frame": str(payload)[:200]})
        return False

    def _abort_connection(self) -> bool:
        """Shut the live socket down (thread-safe); the blocked recv wakes with a closed connection."""
        with self._lock:
            conn = self._conn
        if conn is None:
            return False
        try:
            conn.socket.shutdown(socket.SHUT_RDWR)
        except OSError as exc:  # already closed by the peer: the thread is reconnecting anyway
            log.debug("price feed socket already closed", extra={"error": str(exc)})
        return True


