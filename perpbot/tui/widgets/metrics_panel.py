"""Provides MetricsPanel: a backtest's headline metrics in two columns (returns, risk, trading, costs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt


def _num(value: Any) -> str:
    return fmt.number(None if value is None else float(value))


def _signed_pct(value: Any) -> Text:
    text = fmt.pct(None if value is None else float(value), signed=True)
    style = "" if value is None or text == "-" else "green" if value > 0 else "red" if value < 0 else ""
    return Text(text, style=style)


_ROWS = (
    ("Total return", lambda m: _signed_pct(m.get("total_return"))),
    ("CAGR", lambda m: _signed_pct(m.get("cagr"))),
    ("Sharpe", lambda m: _num(m.get("sharpe"))),
    ("Sortino", lambda m: _num(m.get("sortino"))),
    ("Max drawdown", lambda m: fmt.pct(m.get("max_drawdown"))),
    ("DD length", lambda m: fmt.duration(m.get("max_drawdown_duration_ms"))),
    ("Trades", lambda m: str(m.get("trades", "-"))),
    ("Win rate", lambda m: fmt.pct(m.get("win_rate"))),
    ("Profit factor", lambda m: _num(m.get("profit_factor"))),
    ("Expectancy", lambda m: fmt.pnl(m.get("expectancy"))),
    ("Exposure", lambda m: fmt.pct(m.get("exposure"))),
    ("Avg hold", lambda m: fmt.duration(m.get("avg_hold_ms"))),
    ("Fees", lambda m: fmt.money(m.get("fees"))),
    ("Funding", lambda m: fmt.pnl(m.get("funding"))),
    ("Net PnL", lambda m: fmt.pnl(m.get("net_pnl"))),
    ("Final equity", lambda m: fmt.money(m.get("final_equity"))),
)


class MetricsPanel(Static):
    """The metrics of one result; `note` says what to do when there is none yet."""

    metrics: reactive[Mapping[str, Any] | None] = reactive(None, layout=True)
    note: reactive[str] = reactive("", layout=True)

    def __init__(self, title: str = "Metrics", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title

    def on_mount(self) -> None:
        self.border_title = self._title

    def render(self) -> RenderableType:
        m = self.metrics
        if m is None:
            return Text(self.note, style="dim")
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column(justify="right")
        for label, cell in _ROWS:
            table.add_row(label, cell(m))
        return table
