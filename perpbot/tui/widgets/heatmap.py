"""Provides Heatmap: a sensitivity sweep's metric over one or two parameters, cells coloured worst to best."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt

# Worst to best: the eye finds the plateau of good values, not a lone peak.
_SCALE = ("#8b1a1a", "#b34724", "#c9822b", "#b5a632", "#6c9a35", "#2f8a3e", "#17703a")
_LOWER_IS_BETTER = {"max_drawdown"}
SHOWN = 8  # identical-trade groups marked and explained (the rest are counted)
_PERCENT = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}


def _cell(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value * 100:.1f}%" if metric in _PERCENT else f"{value:.2f}"


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Heatmap(Static):
    """Rows: the second parameter's values, columns: the first's; the best cell is bold and marked."""

    # A sweep holds numpy arrays, whose == is elementwise: never compare, always redraw.
    sweep: reactive[Any] = reactive(None, layout=True, always_update=True)
    note: reactive[str] = reactive("", layout=True)

    def on_mount(self) -> None:
        self.border_title = "Sensitivity"

    def render(self) -> RenderableType:
        sweep = self.sweep
        if sweep is None:
            return Text(self.note, style="dim")
        from perpbot.backtest.trials import describe_group

        groups = getattr(sweep, "identical", []) or []
        marks = {i: chr(ord("a") + n) for n, g in enumerate(groups[:SHOWN]) for i in g["rows"]}
        notes = [Text(f"{chr(ord('a') + n)}: {describe_group(g)}", style="yellow") for n, g in enumerate(groups[:SHOWN])]
        if len(groups) > SHOWN:
            notes.append(Text(f"... and {len(groups) - SHOWN} more groups with identical trades", style="yellow"))
        return Group(self._table(sweep, marks), *notes, *fmt.overfitting(getattr(sweep, "overfitting", None)))

    def _table(self, sweep: Any, marks: dict[int, str]) -> Table:
        metric = sweep.metric
        xs, ys, matrix = sweep.heatmap(metric)
        finite = [v for row in matrix for v in row if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        best = (max if metric not in _LOWER_IS_BETTER else min)(finite) if finite else None
        x_name = sweep.params[0].rpartition(".")[2]
        y_name = sweep.params[1].rpartition(".")[2] if len(sweep.params) == 2 else ""
        table = Table(title=f"{metric} by {x_name}" + (f" (columns) and {y_name} (rows)" if y_name else ""),
                      title_justify="left", show_edge=False, pad_edge=False, padding=(0, 1))
        table.add_column(f"{y_name} \\ {x_name}" if y_name else "", style="bold")
        for x in xs:
            table.add_column(_label(x), justify="right")
        at = {(r[sweep.params[0]], r[sweep.params[1]] if len(sweep.params) == 2 else None): marks[i]
              for i, r in enumerate(sweep.rows) if i in marks}
        for y, row in zip(ys, matrix):
            cells = [Text(_cell(metric, v) + (f" {at[(x, y)]}" if (x, y) in at else ""),
                          style=self._style(metric, v, lo, hi, best)) for x, v in zip(xs, row)]
            table.add_row(_label(y) if y is not None else metric, *cells)
        self.border_title = f"Sensitivity: {len(sweep.rows)} runs, {metric}"
        return table

    @staticmethod
    def _style(metric: str, value: float, lo: float, hi: float, best: float | None) -> str:
        if not math.isfinite(value):
            return "dim"
        share = 0.5 if hi == lo else (value - lo) / (hi - lo)
        if metric in _LOWER_IS_BETTER:
            share = 1.0 - share
        colour = _SCALE[min(int(share * len(_SCALE)), len(_SCALE) - 1)]
        bold = " bold underline" if value == best else ""
        return f"white on {colour}{bold}"
