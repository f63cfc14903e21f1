"""Provides ComparisonPanel: bot trades against the backtest of the same period, and the PnL gap by cause."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.reporting.compare import Comparison
from perpbot.tui import format as fmt


class ComparisonPanel(Static):
    """The `compare` command's summary; `note` says what is happening when there is no result."""

    comparison: reactive[Comparison | None] = reactive(None, layout=True)
    period: reactive[str] = reactive("")
    note: reactive[str] = reactive("Press c to backtest the period the bot traded and compare trade by trade.")

    def on_mount(self) -> None:
        self.border_title = "Paper vs backtest"

    def render(self) -> RenderableType:
        c = self.comparison
        if c is None:
            return Text(self.note)
        rate = "-" if c.match_rate is None else f"{c.match_rate * 100:.0f} %"
        lines = [
            Text(self.period, style="dim"),
            Text(f"matched {len(c.matched)}, missed {len(c.missed)}, extra {len(c.extra)} (match rate {rate})"),
            Text.assemble("bot pnl ", fmt.pnl(c.actual_pnl), "   backtest ", fmt.pnl(c.backtest_pnl)),
            Text.assemble(("gap ", "bold"), fmt.pnl(c.pnl_gap), (" by cause:", "bold")),
        ]
        for name, value in c.causes.to_dict().items():
            if abs(value) >= 0.005:
                lines.append(Text.assemble(f"  {name.replace('_', ' '):<14}", fmt.pnl(value)))
        slip = c.actual_slippage
        if slip.entry_bps is not None:
            exit_bps = "-" if slip.exit_bps is None else f"{slip.exit_bps:+.1f}"
            lines.append(Text(f"bot slippage: entry {slip.entry_bps:+.1f} bps, exit {exit_bps} bps"))
        if c.exit_reason_mismatches:
            lines.append(Text(f"exit reasons differ on {c.exit_reason_mismatches} matched trades", style="yellow"))
        return Group(*lines)
