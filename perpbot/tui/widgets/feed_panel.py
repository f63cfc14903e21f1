"""Provides FeedPanel: price-feed health and the latest mark per symbol."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt
from perpbot.tui.state import EngineView


class FeedPanel(Static):
    """One row per symbol: mark, source (ws, or the rest fallback), age of the last price, health."""

    view: reactive[EngineView | None] = reactive(None, layout=True)

    def on_mount(self) -> None:
        self.border_title = "Price feed"

    def render(self) -> RenderableType:
        view = self.view
        if view is None:
            return Text("No engine state yet.", style="dim")
        if not view.feed:
            return Text("The engine reports no price feed yet.", style="yellow")
        # Fixed columns that fit the 36-cell side panel.
        rows = [Text(f"{'Symbol':<7}{'Mark':>10} {'Via':<5}{'Age':>6} Health", style="bold")]
        for feed in view.feed:
            age = "-" if feed.age_s is None else f"{feed.age_s:.1f}s"
            row = Text(f"{feed.symbol:<7}{fmt.price(view.mark(feed.symbol)):>10} {feed.source:<5}{age:>6} ")
            row.append("ok" if feed.healthy else "STALE", style="green" if feed.healthy else "bold red")
            rows.append(row)
        return Group(*rows)
