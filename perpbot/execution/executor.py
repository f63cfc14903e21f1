"""Provides the executor port: what the engine needs from paper and live execution alike.

The engine is mode-agnostic: it calls only these methods, so `PaperExecutor` (paper.py) and
`LiveExecutor` (live/executor.py) are interchangeable by `execution.mode`, and a second exchange
means a second implementation (with the data ports of data/ports.py), chosen in the composition
root (perpbot/cli/compose.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from perpbot.models import Side, Trade

if TYPE_CHECKING:
    from perpbot.execution.resting import MakerOrder

__all__ = ["Executor"]


class Executor(Protocol):
    """Opens and closes positions and reports the account; every order carries a derived cloid."""

    mode: str
    """paper | live"""

    def start(self, now_ms: int) -> list[Any]:
        """Prepare for trading (load or reconcile open trades); what it changed."""
        ...

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Enter `size` (on the asset's size grid: RiskManager.position_size rounds it); `key` names the
        decision, so the same key never opens twice. None if nothing opened."""
        ...

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Exit; the closed trade, or None if it is still open."""
        ...

    def sync(self, now_ms: int, force: bool = False) -> list[Trade]:
        """Trades closed outside an explicit close (stops), booked now."""
        ...

    def open_trades(self) -> list[Trade]:
        ...

    def entry_cloid(self, symbol: str, side: Side, key: object) -> str:
        """The client order id of the entry decided as `key` (the same key, the same order)."""
        ...

    def exit_cloid(self, trade: Trade, placed_ms: int = 0) -> str:
        """The client order id of this trade's exit (a maker exit placed at `placed_ms`)."""
        ...

    def rest(self, order: MakerOrder, now_ms: int) -> MakerOrder | None:
        """Rest a post-only maker order (execution/resting.py); None if it was not placed."""
        ...

    def reprice(self, order: MakerOrder, limit: float, now_ms: int) -> MakerOrder | None:
        """Move a resting order to `limit` (a modify, never cancel-and-replace); None if it is gone."""
        ...

    def cancel_resting(self, order: MakerOrder, now_ms: int, outcome: str = "cancelled") -> bool:
        """Cancel a resting order (`outcome`: cancelled or expired, as booked in maker_orders); False if it
        was not resting (filled or gone already)."""
        ...

    def resting(self) -> list[MakerOrder]:
        """The maker orders resting now (their fills are booked by `sync`)."""
        ...

    def listen(self, wake: Callable[[], None]) -> bool:
        """Call `wake` from any thread when the account moved outside the engine's calls (live: a fill the
        exchange streamed), so the engine syncs at once instead of at its next poll; False: never."""
        ...

    def unresolved_symbols(self) -> set[str]:
        """Symbols with an entry sent whose outcome is not known yet: they count as open positions."""
        ...

    def entry_blocks(self) -> list[str]:
        """Why the executor refuses new entries now (empty: it does not)."""
        ...

    def position_marks(self, trades: list[Trade], now_ms: int) -> dict[str, dict[str, Any]]:
        """By symbol: mark, unrealized_pnl (and live: liquidation_px, margin_used)."""
        ...

    def equity(self) -> float:
        ...

    def describe(self) -> dict[str, Any]:
        ...
