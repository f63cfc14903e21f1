"""Provides RiskPanel: the regime with its score, a halt, active risk blocks and cooldowns."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt
from perpbot.tui.state import EngineView

_REGIME_STYLE = {"NORMAL": "bold green", "ELEVATED": "bold yellow", "CRISIS": "bold red"}


class RiskPanel(Static):
    """Why the bot may not be entering trades right now."""

    view: reactive[EngineView | None] = reactive(None, layout=True)
    now_ms: reactive[int] = reactive(0)

    def on_mount(self) -> None:
        self.border_title = "Regime and risk"

    def render(self) -> RenderableType:
        view = self.view
        if view is None:
            return Text("No engine state yet.", style="dim")
        lines = [Text.assemble("Regime ", (view.regime, _REGIME_STYLE.get(view.regime, "bold")),
                               f"  score {view.regime_score:.2f}" if view.regime_score is not None else "  no score")]
        if view.halted:
            lines.append(Text(f"HALTED: {view.halt_reason or 'no reason given'}", style="bold red"))
        if view.paused:
            lines.append(Text("Paused: no new entries, stops still run", style="yellow"))
        if view.risk_blocks:
            lines.append(Text("Blocks:", style="bold"))
            lines += [Text(f" • {block}", style="yellow") for block in view.risk_blocks]
        else:
            lines.append(Text("No risk blocks: entries allowed", style="green"))
        if view.cooldowns:
            lines.append(Text("Cooldowns:", style="bold"))
            for symbol, until in view.cooldowns:
                name = "all symbols" if symbol == "*" else symbol
                lines.append(Text(f" • {name} for {fmt.duration(until - self.now_ms)} (to {fmt.hms(until)})"))
        return Group(*lines)
