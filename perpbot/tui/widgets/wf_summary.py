"""Provides WalkForwardSummary: in-sample against out-of-sample, and the stitched out-of-sample result."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt
from perpbot.tui.widgets.windows_table import _value


class WalkForwardSummary(Static):
    """The picking metric in and out of sample (mean over windows), their ratio, and the stitched metrics."""

    # Results hold numpy arrays, whose == is elementwise: never compare, always redraw.
    result: reactive[Any] = reactive(None, layout=True, always_update=True)
    note: reactive[str] = reactive("", layout=True)

    def on_mount(self) -> None:
        self.border_title = "Walk-forward"

    def render(self) -> RenderableType:
        r = self.result
        if r is None:
            return Text(self.note, style="dim")
        m = r.stitched.metrics
        swept = ", ".join(p.rpartition(".")[2] for p in r.params) or "-"
        ratio = "-" if r.oos_is_ratio is None else f"{r.oos_is_ratio:.2f}"
        ratio_style = "" if r.oos_is_ratio is None else "green" if r.oos_is_ratio >= 0.5 else "yellow"
        kind = "anchored" if r.anchored else "rolling"
        return Group(
            Text.assemble((f"{len(r.windows)} {kind} windows", "bold"), f", picking {swept} by {r.metric}; ",
                          f"{','.join(r.stitched.symbols)} {r.stitched.timeframe}, {fmt.day(r.stitched.start_ms)} to "
                          f"{fmt.day(r.stitched.end_ms)} UTC"),
            Text.assemble(f"{r.metric}: in sample ", (_value(r.metric, r.in_sample), "bold"), "   out of sample ",
                          (_value(r.metric, r.out_of_sample), "bold"), "   OOS/IS ", (ratio, ratio_style)),
            Text.assemble("stitched OOS: return ", fmt.pnl(None) if m.get("total_return") is None else
                          Text(fmt.pct(m["total_return"], signed=True),
                               style="green" if m["total_return"] > 0 else "red" if m["total_return"] < 0 else ""),
                          f"   sharpe {fmt.number(m.get('sharpe'))}   max DD {fmt.pct(m.get('max_drawdown'))}"
                          f"   trades {m.get('trades', 0)}   win {fmt.pct(m.get('win_rate'))}"),
            *fmt.overfitting(getattr(r, "overfitting", None)),
        )
