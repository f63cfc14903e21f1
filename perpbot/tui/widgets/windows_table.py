"""Provides WindowsTable: one row per walk-forward window (periods, picked parameters, train and test results)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from perpbot.tui import format as fmt
from perpbot.tui.widgets.table_fit import fit_columns


def _value(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    if metric in ("total_return", "cagr", "max_drawdown", "win_rate", "exposure"):
        return fmt.pct(float(value), signed=metric in ("total_return", "cagr"))
    return fmt.number(float(value))


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rpartition('.')[2]}={v:g}" if isinstance(v, float) else f"{k.rpartition('.')[2]}={v}"
                    for k, v in params.items())


class WindowsTable(DataTable[object]):
    """Train and test periods (UTC days), the parameters picked in training, the metric in and out of sample."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.border_title = "Windows"

    def show(self, windows: Sequence[Any], metric: str) -> None:
        """`windows`: WindowResult rows of a walk-forward; `metric` the one parameters were picked by."""
        self.clear(columns=True)
        self.add_columns("#", "Train", "Test", "Picked", f"IS {metric}", f"OOS {metric}", "OOS return", "Trades")
        short = any(w.test_end - w.test_start < 2 * 86_400_000 for w in windows)
        when = fmt.stamp if short else (lambda ms: fmt.day(ms)[5:])  # hours matter once windows are short
        rows: list[list[str | Text]] = []
        for i, w in enumerate(windows, start=1):
            test = w.test_metrics.get(metric)
            ret = w.test_metrics.get("total_return")
            style = "" if ret is None else "green" if ret > 0 else "red" if ret < 0 else ""
            rows.append([str(i), f"{when(w.train_start)} +{fmt.duration(w.train_end - w.train_start)}",
                         f"{when(w.test_start)} +{fmt.duration(w.test_end - w.test_start)}", _params(w.params),
                         Text(_value(metric, w.train_metric), justify="right"),
                         Text(_value(metric, test), justify="right"),
                         Text(_value("total_return", ret), style=style, justify="right"),
                         Text(str(w.test_trades), justify="right")])
            self.add_row(*rows[-1], key=str(i))
        fit_columns(self, rows)
        self.border_title = f"Windows: {len(windows)}"
