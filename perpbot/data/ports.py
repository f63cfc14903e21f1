"""Provides the exchange's data interfaces: market data, account reads and the price feed.

The engine, the backfill and live reconciliation are written against these Protocols, never a
concrete client: `HyperliquidClient` (data/client.py) implements `MarketData` and `AccountData`,
`WsPriceFeed` (data/ws_client.py) and `RestPriceFeed` (data/rest_feed.py) implement `PriceFeed`, and
the WebSocket feed also `AccountStream` (the account's user streams on the same socket) and `BarStream`
(the strategy timeframe's closed bars from its candle streams).
A second exchange means implementing these (and the executor port, execution/executor.py), then
choosing them in the composition root (perpbot/cli/compose.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

from perpbot.data.records import AccountState, CandleRow, Fill, L2Book, OpenOrder, OrderStatus
from perpbot.models import AssetMeta, FundingRate

T = TypeVar("T")


class MarketData(Protocol):
    """The exchange's public market data, with its own retries and request budget."""

    base_url: str

    def meta(self) -> list[AssetMeta]:
        """The listed perpetuals with their size decimals, leverage limit and index."""
        ...

    def all_mids(self) -> dict[str, float]: ...

    def l2_book(self, coin: str) -> L2Book:
        """The order book; its `time` is the exchange's clock."""
        ...

    def iter_candle_pages(self, coin: str, interval: str, start_ms: int, end_ms: int,
                          closed_before_ms: int | None = None) -> Iterator[list[CandleRow]]:
        """Every bar with start_ms <= t <= end_ms (bars closing at or after closed_before_ms left out),
        one list of rows per answer."""
        ...

    def iter_funding_pages(self, coin: str, start_ms: int, end_ms: int | None = None) -> Iterator[list[FundingRate]]:
        """Hourly funding rates from start_ms (to end_ms), one list per answer."""
        ...

    def close(self) -> None: ...


class AccountData(MarketData, Protocol):
    """Market data plus the account reads live trading and reconciliation need."""

    def clearinghouse_state(self, user: str) -> AccountState: ...

    def open_orders(self, user: str) -> list[OpenOrder]: ...

    def user_fills(self, user: str) -> list[Fill]: ...

    def order_status(self, user: str, oid: int | str) -> OrderStatus: ...

    def post_info(self, body: dict[str, Any], parse: Callable[[Any], T] | None = None) -> Any:
        """Any other info request, answered through the same retries and budget (`parse` reads it)."""
        ...


InfoSocket = Callable[[dict[str, Any], float], Any]
"""`post(body, timeout_s)`: an info request over an open socket (the price feed's), raising a
PerpbotError when it cannot answer; the client then sends it over HTTP."""


class PriceFeed(Protocol):
    """Mid prices by symbol, with their health; the engine marks, sizes and checks stops on them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def mid(self, symbol: str) -> float | None: ...

    def mids(self) -> dict[str, float]: ...

    def is_stale(self) -> bool:
        """Is any symbol's price too old (or never seen)?"""
        ...

    def reconnect(self) -> None:
        """Drop and re-establish the source (a no-op for polled sources)."""
        ...

    def refresh_rest(self) -> bool:
        """Fetch every mid over REST now; False when that failed."""
        ...

    def health(self) -> dict[str, dict[str, Any]]:
        """{symbol: {"healthy": bool, "age_s": float | None, "source": "ws" | "rest"}}."""
        ...


@runtime_checkable
class BarStream(Protocol):
    """A price feed that also streams the bars (the WebSocket feed's candle subscriptions): the engine
    stores the bars it proved closed instead of asking the exchange for each symbol at every tick."""

    def closed_bars(self, symbol: str, interval: str, after_t: int, upto_t: int) -> list[CandleRow] | None:
        """The final rows of the bars opening in (after_t, upto_t], exactly as `MarketData.iter_candle_pages`
        would give them; None when the stream cannot vouch for every one of them (then fetch them)."""
        ...


@runtime_checkable
class AccountStream(Protocol):
    """An account's order updates and fills as they happen (Hyperliquid's orderUpdates and userFills)."""

    def watch_account(self, user: str, handler: Callable[[str, Any], None]) -> None:
        """Subscribe `user`'s streams (before the source starts); `handler(channel, data)` gets each message,
        on the source's thread: ("userFills", {"isSnapshot"?, "fills"}), ("orderUpdates", [...]), and
        ("reconnected", None) after a connection that replaced a lost one (nothing missed is replayed)."""
        ...
