"""Provides DecisionsTable: the engine's decision at the last bar per symbol, values coloured against thresholds."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from perpbot.tui import format as fmt
from perpbot.tui.state import DecisionView
from perpbot.tui.widgets.table_fit import fit_columns

_COLUMNS = ("Sym", "Close", "z", "RSI", "ADX", "Hurst", "Decision and why")
_ACTION_STYLE = {"LONG": "bold green", "SHORT": "bold red", "CLOSE": "bold cyan", "NONE": "dim"}
LONG_SIDE, SHORT_SIDE, PASS, BLOCK = "green", "red", "green", "yellow"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class DecisionsTable(DataTable[object]):
    """One row per symbol: the values the strategy decided on, the decision, its reason and any risk refusal.

    z, the close (against the Bollinger bands) and RSI are green past a long entry's threshold and
    red past a short's; ADX and Hurst are green when they let an entry through and yellow when
    they block one. A risk refusal replaces the reason (an entry's reason is its z threshold).
    """

    decisions: reactive[tuple[DecisionView, ...]] = reactive(tuple, always_update=True)
    params: reactive[Any] = reactive(None)  # the StrategyConfig the thresholds come from

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns(*_COLUMNS)
        self.border_title = "Decisions at the last bar"

    def watch_decisions(self) -> None:
        self._fill()

    def watch_params(self) -> None:
        self._fill()

    def _fill(self) -> None:
        if not self.is_mounted:
            return
        self.clear()
        cells = [self._cells(r) for r in self.decisions]
        for row in cells:
            self.add_row(*row)
        fit_columns(self, cells)
        if not self.decisions:
            self.border_title = "Decisions: none yet (the engine decides at each bar close)"
        else:
            self.border_title = f"Decisions at the {fmt.hms(max(r.bar_time for r in self.decisions))} bar"

    def _cells(self, r: DecisionView) -> list[Any]:
        p = self.params
        why = Text(f"refused: {r.risk}", style="bold red") if r.risk else Text(r.reason, style="dim")
        return [r.symbol, self._close(r), self._z(r, p), self._rsi(r, p),
                self._limit(r.adx, None if p is None or not p.use_adx else p.adx_max, 1),
                self._limit(r.hurst, None if p is None or not p.use_hurst else p.hurst_max, 2),
                Text.assemble((r.decision, _ACTION_STYLE.get(r.decision, "")), " ", why)]

    @staticmethod
    def _close(r: DecisionView) -> Text:
        text = fmt.price(r.close)
        if r.close is None or r.bb_lower is None or r.bb_upper is None:
            return Text(text)
        style = LONG_SIDE if r.close <= r.bb_lower else SHORT_SIDE if r.close >= r.bb_upper else ""
        return Text(text, style=style)

    @staticmethod
    def _z(r: DecisionView, p: Any) -> Text:
        if r.z is None or p is None:
            return Text(_num(r.z))
        style = LONG_SIDE if r.z <= -p.entry_z else SHORT_SIDE if r.z >= p.entry_z else (
            "dim" if abs(r.z) <= p.exit_z else "")
        return Text(f"{r.z:+.2f}", style=style)

    @staticmethod
    def _rsi(r: DecisionView, p: Any) -> Text:
        if r.rsi is None or p is None:
            return Text(_num(r.rsi, 1))
        style = LONG_SIDE if r.rsi <= p.rsi_oversold else SHORT_SIDE if r.rsi >= p.rsi_overbought else ""
        return Text(f"{r.rsi:.1f}", style=style)

    @staticmethod
    def _limit(value: float | None, limit: float | None, digits: int) -> Text:
        if value is None or limit is None:
            return Text(_num(value, digits))
        return Text(f"{value:.{digits}f}", style=PASS if value <= limit else BLOCK)
