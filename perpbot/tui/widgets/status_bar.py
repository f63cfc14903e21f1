"""Provides StatusBar: one line on every screen with mode, trading state, equity, PnL, regime and tick."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt
from perpbot.tui.state import Connection, EngineView

_STATES = {
    "starting": ("STARTING", "bold black on yellow"),
    "down": ("NO ENGINE", "bold white on red"),
    "failed": ("NOT RUNNING", "bold white on red"),
    "stopping": ("STOPPING", "bold black on yellow"),
}


class StatusBar(Static):
    """The engine at a glance; says plainly when there is no engine to show."""

    view: reactive[EngineView | None] = reactive(None)
    connection: reactive[Connection] = reactive(Connection("starting"))
    label: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(" perp-bot ", style="bold")
        if self.label:
            text.append(f"{self.label} ", style="dim")
        state, style = self._state()
        text.append(f" {state} ", style=style)
        view = self.view
        if view is not None:
            text.append("  equity ")
            text.append(fmt.money(view.equity), style="bold")
            text.append("  today ")
            text.append_text(fmt.pnl(view.pnl_today))
            text.append("  regime ")
            text.append(view.regime, style=_regime_style(view.regime))
            if view.regime_score is not None:
                text.append(f" {view.regime_score:.2f}")
            text.append(f"  {view.timeframe} tick {fmt.hms(view.last_tick)}", style="dim")
        if not self.connection.up and self.connection.detail:
            text.append(f"  {self.connection.detail}", style="italic")
        return text

    def _state(self) -> tuple[str, str]:
        if not self.connection.up:
            return _STATES.get(self.connection.state, (self.connection.state.upper(), "bold"))
        view = self.view
        if view is None:
            return _STATES["starting"]
        if view.halted:
            return "HALTED", "bold white on red"
        if view.paused:
            return "PAUSED", "bold black on yellow"
        return f"{view.mode.upper()} RUNNING", "bold black on green"


def _regime_style(regime: str) -> str:
    return {"NORMAL": "green", "ELEVATED": "yellow", "CRISIS": "bold red"}.get(regime, "")
