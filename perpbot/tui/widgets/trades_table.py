"""Provides TradesTable: a list of trades (open or closed) with prices, PnL and exit reasons."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from perpbot.models import Side, Trade
from perpbot.tui import format as fmt
from perpbot.tui.widgets.table_fit import fit_columns

_COLUMNS = ("Symbol", "Side", "Opened", "Entry", "Exit", "Held", "PnL", "Reason")


class TradesTable(DataTable[object]):
    """Trades newest first with entry time, prices, holding time, PnL and exit reason (`open` if still open)."""

    trades: reactive[tuple[Trade, ...]] = reactive(tuple, always_update=True)

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._title = title

    def on_mount(self) -> None:
        self.add_columns(*_COLUMNS)
        self.border_title = self._title

    def show(self, trades: Sequence[Trade]) -> None:
        self.trades = tuple(trades)

    def watch_trades(self, trades: tuple[Trade, ...]) -> None:
        if not self.is_mounted:
            return
        self.clear()
        rows = []
        for i, t in enumerate(trades):
            side = Text(t.side.value, style="green" if t.side is Side.LONG else "red")
            reason = t.exit_reason or Text("open", style="bold")
            held = fmt.duration(t.exit_time - t.entry_time) if t.exit_time is not None else "-"
            rows.append([t.symbol, side, fmt.stamp(t.entry_time), fmt.price(t.entry_price), fmt.price(t.exit_price),
                         held, fmt.pnl(t.pnl) if t.pnl is not None else "-", reason])
            self.add_row(*rows[-1], key=str(t.id if t.id is not None else f"row-{i}"))
        fit_columns(self, rows)
        self.border_title = f"{self._title}: {len(trades)}" if trades else f"{self._title}: none yet"
