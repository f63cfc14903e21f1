"""Provides the Hyperliquid REST client: typed /info requests, retries and a weight budget.

Every request goes through `_request`, which waits for the client-side weight budget, sends,
retries 429 / 5xx / transport errors / garbled bodies with exponential backoff and jitter,
and parses the body into typed records. httpx types never leave this module.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from perpbot.clock import HOUR_MS, Clock, WallClock, interval_ms
from perpbot.data import records
from perpbot.data.ports import InfoSocket
from perpbot.data.records import AccountState, AssetCtx, CandleRow, Fill, L2Book, OpenOrder, OrderStatus
from perpbot.errors import (
    ExchangeError,
    MalformedResponseError,
    PerpbotError,
    RateLimitedError,
    TransientExchangeError,
)
from perpbot.models import AssetMeta, Candle, FundingRate

if TYPE_CHECKING:
    from perpbot.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# Info requests the engine sends every tick, which may go over the price feed's WebSocket.
SOCKET_KINDS = frozenset({"candleSnapshot", "fundingHistory"})
SOCKET_POST_TIMEOUT_S = 2.0
_NO_ANSWER = object()

# Request weights from Hyperliquid's rate-limit docs (1200 per minute per IP).
_LIGHT_WEIGHT = {"l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2,
                 "spotClearinghouseState": 2, "exchangeStatus": 2, "userRole": 60}
_DEFAULT_WEIGHT = 20
# Requests that cost one more weight per this many items returned.
_ITEMS_PER_WEIGHT = {"candleSnapshot": 60, "fundingHistory": 20, "userFills": 20, "userFillsByTime": 20,
                     "userFunding": 20, "recentTrades": 20, "historicalOrders": 20}
_MAX_PAGES = 100_000  # a server that never stops paginating is a bug, not a long history


class WeightBudget:
    """A token bucket of request weight refilled at `per_minute`, shared across threads.

    The per-item surcharge of candle and funding requests is only known after the answer,
    so `charge` may drive the balance negative; the next `acquire` then waits it off.
    """

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.capacity = float(per_minute)
        self._rate_per_ms = per_minute / 60_000.0
        self._clock = clock
        self._tokens = self.capacity
        self._stamp_ms = clock.now_ms()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.now_ms()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp_ms) * self._rate_per_ms)
        self._stamp_ms = now

    def acquire(self, weight: float) -> float:
        """Take `weight`, sleeping until the bucket holds it. Returns the seconds waited."""
        weight = min(weight, self.capacity)  # a request heavier than the budget must still pass
        waited = 0.0
        with self._lock:  # held while sleeping: waiters queue up instead of stampeding
            self._refill()
            while self._tokens < weight:
                wait_s = (weight - self._tokens) / self._rate_per_ms / 1000.0
                self._clock.sleep(wait_s)
                waited += wait_s
                self._refill()
            self._tokens -= weight
        return waited

    def charge(self, weight: float) -> None:
        with self._lock:
            self._tokens -= weight

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


class HyperliquidClient:
    """Synchronous client for Hyperliquid's POST /info (mainnet, testnet or the simulator).

    Args:
        base_url: e.g. https://api.hyperliquid.xyz or a simulator's http://127.0.0.1:PORT.
        timeout_s: per-request HTTP timeout.
        max_retries: retries after the first attempt on 429, 5xx, transport errors, bad bodies.
        weight_per_minute: client-side budget; the exchange allows 1200 per IP.
        clock: time source for the budget and backoff sleeps (tests pass a FakeClock).
        backoff_base_s: first retry delay; doubles per attempt, with jitter, up to backoff_max_s.
        rng: jitter source (seed it for reproducible delays).
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 10.0,
        max_retries: int = 5,
        weight_per_minute: int = 1200,
        clock: Clock | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock or WallClock()
        self.budget = WeightBudget(weight_per_minute, self.clock)
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout_s), headers={"Content-Type": "application/json"}
        )
        self._owns_http = True
        self.requests_sent = 0  # every HTTP attempt, retries included (for tests and stats)
        # Sends the per-tick info requests over a socket when set (see with_socket); any failure
        # there falls back to HTTP within the same attempt.
        self.socket_post: InfoSocket | None = None
        self.socket_timeout_s = min(timeout_s, SOCKET_POST_TIMEOUT_S)
        self.socket_posts = 0  # info requests answered over the socket

    def with_socket(self, socket: InfoSocket) -> HyperliquidClient:
        """A client for the per-tick requests (candles, funding) that sends them over `socket` first (the
        price feed's WebSocket `post_info`), HTTP when it cannot answer. It shares this client's HTTP
        connections, request budget and clock; closing it leaves them to this one."""
        twin = copy.copy(self)
        twin._owns_http = False
        twin.requests_sent = twin.socket_posts = 0
        twin.socket_post = socket
        return twin

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> HyperliquidClient:
        ex = settings.exchange
        return cls(ex.url, timeout_s=ex.timeout_s, max_retries=ex.max_retries, weight_per_minute=ex.weight_per_minute,
                   clock=clock, backoff_base_s=ex.retry_backoff_s)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> HyperliquidClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------

    def post_info(self, body: dict[str, Any], parse: Callable[[Any], T] | None = None) -> Any:
        """POST any /info body and return the decoded JSON, or `parse` of it (with budget and retries;
        a body `parse` cannot read is retried like a garbled one)."""
        return self._request(body, parse if parse is not None else (lambda data: data))

    def _request(self, body: dict[str, Any], parse: Callable[[Any], T]) -> T:
        kind = str(body.get("type", "?"))
        payload = json.dumps(body, separators=(",", ":")).encode()
        attempt = 0
        while True:
            self.budget.acquire(_LIGHT_WEIGHT.get(kind, _DEFAULT_WEIGHT))
            try:
                data = self._over_socket(kind, body)
                if data is _NO_ANSWER:
                    data = self._send_once(kind, payload)
                result = self._parse(kind, data, parse)
            except (TransientExchangeError, MalformedResponseError) as exc:
                if attempt >= self.max_retries:
                    raise
                delay_s = self._backoff_s(attempt, exc)
                log.warning("exchange request failed, retrying",
                            extra={"request": kind, "attempt": attempt + 1, "delay_s": round(delay_s, 3), "error": str(exc)})
                self.clock.sleep(delay_s)
                attempt += 1
                continue
            per = _ITEMS_PER_WEIGHT.get(kind)
            if per and isinstance(data, list):
                self.budget.charge(len(data) // per)
            return result

    def _over_socket(self, kind: str, body: dict[str, Any]) -> Any:
        """The answer over the feed's socket, or _NO_ANSWER (then HTTP sends it)."""
        if self.socket_post is None or kind not in SOCKET_KINDS:
            return _NO_ANSWER
        try:
            data = self.socket_post(body, self.socket_timeout_s)
        except PerpbotError as exc:
            log.debug("socket post unavailable, using HTTP", extra={"request": kind, "reason": str(exc)})
            return _NO_ANSWER
        self.socket_posts += 1
        return data

    def _send_once(self, kind: str, payload: bytes) -> Any:
        self.requests_sent += 1
        try:
            response = self._http.post("/info", content=payload)
        except httpx.TimeoutException as exc:
            raise TransientExchangeError(f"{kind} request to {self.base_url} timed out", "retry later or raise exchange.timeout_s") from exc
        except httpx.TransportError as exc:
            raise TransientExchangeError(
                f"cannot reach {self.base_url} for {kind}: {exc}", "check exchange.base_url and the network"
            ) from exc
        status = response.status_code
        if status == 429:
            err = RateLimitedError(f"{kind} request rate-limited by {self.base_url} (HTTP 429)",
                                   "lower exchange.weight_per_minute or wait a minute")
            err.retry_after_s = _retry_after(response)  # type: ignore[attr-defined]
            raise err
        if status >= 500:
            raise TransientExchangeError(f"{kind} request failed on {self.base_url}: HTTP {status} {response.text[:200]}",
                                         "the exchange is having trouble; retry later")
        if status >= 400:
            raise ExchangeError(f"exchange refused the {kind} request: HTTP {status} {response.text[:200]}",
                                "check the symbol, interval and times you asked for")
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise MalformedResponseError(
                f"malformed {kind} response from {self.base_url}: not JSON ({response.text[:80]!r})",
                "check exchange.base_url points at a Hyperliquid API",
            ) from exc

    @staticmethod
    def _parse(kind: str, data: Any, parse: Callable[[Any], T]) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise MalformedResponseError(
                f"malformed {kind} response: {type(exc).__name__}: {exc}",
                "check exchange.base_url points at a Hyperliquid API",
            ) from exc

    def _backoff_s(self, attempt: int, exc: Exception) -> float:
        delay = self.backoff_base_s * (2**attempt) * (0.5 + self._rng.random())
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max_s)

    # --- market data -------------------------------------------------------------------

    def meta(self) -> list[AssetMeta]:
        return self._request({"type": "meta"}, records.parse_meta)

    def meta_and_asset_ctxs(self) -> tuple[list[AssetMeta], list[AssetCtx]]:
        return self._request({"type": "metaAndAssetCtxs"}, records.parse_meta_and_ctxs)

    def all_mids(self) -> dict[str, float]:
        return self._request({"type": "allMids"}, records.parse_mids)

    def l2_book(self, coin: str) -> L2Book:
        return self._request({"type": "l2Book", "coin": coin}, records.parse_l2_book)

    def candle_page(
        self, coin: str, interval: str, start_ms: int, end_ms: int, closed_before_ms: int | None = None
    ) -> tuple[list[CandleRow], int | None, int | None]:
        """One candleSnapshot response: (rows, min t, max t). Rows omit bars with T >= closed_before_ms."""
        body = {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}}
        return self._request(body, lambda data: records.parse_candle_page(data, coin, interval, closed_before_ms))

    def iter_candle_pages(
        self, coin: str, interval: str, start_ms: int, end_ms: int, closed_before_ms: int | None = None
    ) -> Iterator[list[CandleRow]]:
        """Every bar with start_ms <= t <= end_ms, one list of rows per response.

        Pages forward from start_ms until end_ms. If the first answer began after start_ms
        (an exchange that serves the newest slice of a long range, or history that simply
        starts later), it then pages backward from there until an answer comes back empty.
        """
        step = interval_ms(interval)
        cursor, first_seen = start_ms, None
        for _ in range(_MAX_PAGES):
            rows, low, high = self.candle_page(coin, interval, cursor, end_ms, closed_before_ms)
            if high is None or low is None:
                break
            first_seen = low if first_seen is None else min(first_seen, low)
            yield rows
            if high + step > end_ms:
                break
            if high < cursor:
                raise MalformedResponseError(f"candleSnapshot pagination for {coin} {interval} did not advance past {cursor}")
            cursor = high + 1
        if first_seen is None:
            return
        upper = first_seen - 1
        for _ in range(_MAX_PAGES):
            if start_ms + (-start_ms) % step > upper:
                return  # no bar opens between start_ms and what we already have
            rows, low, high = self.candle_page(coin, interval, start_ms, upper, closed_before_ms)
            if low is None:
                return
            if low > upper:
                raise MalformedResponseError(f"candleSnapshot for {coin} {interval} answered bars after endTime {upper}")
            yield rows
            upper = low - 1

    def candles(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        """Every candle with start_ms <= t <= end_ms, oldest first, paginated past the 5000 cap."""
        out = [Candle(*row) for page in self.iter_candle_pages(coin, interval, start_ms, end_ms) for row in page]
        out.sort(key=lambda c: c.t)
        return out

    def iter_funding_pages(self, coin: str, start_ms: int, end_ms: int | None = None) -> Iterator[list[FundingRate]]:
        """Hourly funding rates with start_ms <= time (<= end_ms), one list per response (<= 500)."""
        cursor = start_ms
        for _ in range(_MAX_PAGES):
            body: dict[str, Any] = {"type": "fundingHistory", "coin": coin, "startTime": cursor}
            if end_ms is not None:
                body["endTime"] = end_ms
            page = self._request(body, lambda data: records.parse_funding(data, coin))
            if not page:
                return
            yield page
            last = max(r.time for r in page)
            # Rates come hourly: when the next one would fall past end_ms we are done.
            if end_ms is not None and last + HOUR_MS > end_ms:
                return
            if last < cursor:
                raise MalformedResponseError(f"fundingHistory pagination for {coin} did not advance past {cursor}")
            cursor = last + 1

    def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> list[FundingRate]:
        """Hourly funding rates from start_ms (to end_ms), oldest first, paginated past 500."""
        return [r for page in self.iter_funding_pages(coin, start_ms, end_ms) for r in page]

    # --- account -----------------------------------------------------------------------

    def clearinghouse_state(self, user: str) -> AccountState:
        return self._request({"type": "clearinghouseState", "user": user}, records.parse_account)

    def open_orders(self, user: str) -> list[OpenOrder]:
        return self._request({"type": "openOrders", "user": user}, records.parse_open_orders)

    def user_fills(self, user: str) -> list[Fill]:
        return self._request({"type": "userFills", "user": user}, records.parse_fills)

    def order_status(self, user: str, oid: int | str) -> OrderStatus:
        """Status of an order by exchange oid (int) or client order id ("0x" + 32 hex)."""
        return self._request({"type": "orderStatus", "user": user, "oid": oid}, records.parse_order_status)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
