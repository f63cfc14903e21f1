"""Provides OptimizeSummary: an optimisation's search, its best parameters and result, and the overfitting figures."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt


class OptimizeSummary(Static):
    """What was searched, the best feasible trial, and how far to trust it."""

    # Results hold numpy arrays, whose == is elementwise: never compare, always redraw.
    result: reactive[Any] = reactive(None, layout=True, always_update=True)

    def on_mount(self) -> None:
        self.border_title = "Optimisation"

    def render(self) -> RenderableType:
        r = self.result
        if r is None:
            return Text("")
        b, m = r.best, r.best.metrics
        best = " ".join(f"{k.rpartition('.')[2]}={v:.4g}" if isinstance(v, float) else f"{k.rpartition('.')[2]}={v}"
                        for k, v in r.best_params.items())
        ret = m.get("total_return")
        return Group(
            Text.assemble((f"{len(r.trials)} {r.sampler} trials", "bold"), f" maximising {r.objective} "
                          f"(constraints: {r.constraints}); {','.join(b.symbols)} {b.timeframe}, "
                          f"{fmt.day(b.start_ms)} to {fmt.day(b.end_ms)} UTC"),
            Text.assemble("best: ", (best, "bold"), f"   {r.objective} ", (fmt.number(r.best_value), "bold"),
                          "   return ", Text(fmt.pct(ret, signed=True) if ret is not None else "-",
                                             style="green" if (ret or 0) > 0 else "red" if (ret or 0) < 0 else ""),
                          f"   max DD {fmt.pct(m.get('max_drawdown'))}   trades {m.get('trades', 0)}"),
            *fmt.overfitting(r.overfitting),
        )
