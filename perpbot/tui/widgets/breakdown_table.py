"""Provides BreakdownTable: trades, win rate and PnL grouped by one key (symbol or exit reason)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from perpbot.reporting.weekly import Breakdown, breakdown_cells


class BreakdownTable(DataTable[object]):
    """One row per group, biggest absolute PnL first (the review's order)."""

    def __init__(self, key_title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._key_title = key_title

    def on_mount(self) -> None:
        self.add_columns(self._key_title, "Trades", "Win %", "PnL")
        self.border_title = f"By {self._key_title.lower()}"

    def show(self, rows: Sequence[Breakdown]) -> None:
        self.clear()
        for row in rows:
            trades, win_rate, pnl = breakdown_cells(row)
            style = "green" if row.pnl > 0 else "red" if row.pnl < 0 else ""
            self.add_row(row.key, Text(trades, justify="right"), Text(win_rate, justify="right"),
                         Text(pnl, style=style, justify="right"), key=row.key)
