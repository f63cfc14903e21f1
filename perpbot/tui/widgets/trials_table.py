"""Provides TrialsTable: an optimisation's best feasible trials (parameters, objective, return, drawdown, trades)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from perpbot.tui import format as fmt
from perpbot.tui.widgets.table_fit import fit_columns
from perpbot.tui.widgets.windows_table import _value

SHOWN = 50


class TrialsTable(DataTable[object]):
    """The feasible trials ranked by the objective, the best first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.border_title = "Trials"

    def show(self, result: Any) -> None:
        """`result`: an OptimizeResult."""
        self.clear(columns=True)
        names = [p.rpartition(".")[2] for p in result.params]
        self.add_columns("#", *names, result.objective, "Return", "Max DD", "Trades")
        ranked = sorted((t for t in result.trials if t.get("feasible") and t.get("value") is not None),
                        key=lambda t: (-t["value"], t["number"]))[:SHOWN]
        rows: list[list[str | Text]] = []
        for t in ranked:
            values = [f"{t[p]:.4g}" if isinstance(t[p], float) else str(t[p]) for p in result.params]
            rows.append([str(t["number"]), *values, Text(fmt.number(t["value"]), justify="right"),
                         Text(_value("total_return", t.get("total_return")), justify="right"),
                         Text(_value("max_drawdown", t.get("max_drawdown")), justify="right"),
                         Text(str(t.get("trades")), justify="right")])
            self.add_row(*rows[-1])
        fit_columns(self, rows)
        self.border_title = f"Trials: best {len(ranked)} of {len(result.trials)} by {result.objective}"
