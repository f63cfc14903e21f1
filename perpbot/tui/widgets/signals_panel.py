"""Provides SignalsPanel: the signal engine's latest decisions, newest first."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from perpbot.tui import format as fmt
from perpbot.tui.state import SignalView

_ACTION_STYLE = {"LONG": "green", "SHORT": "red", "CLOSE": "cyan", "NONE": "dim"}


class SignalsPanel(Static):
    """What the strategy decided at the last bar closes, and why."""

    signals: reactive[tuple[SignalView, ...]] = reactive(tuple)

    def on_mount(self) -> None:
        self.border_title = "Recent signals"

    def render(self) -> RenderableType:
        if not self.signals:
            return Text("No signals yet: the engine decides at each bar close.", style="dim")
        newest = sorted(self.signals, key=lambda s: s.time, reverse=True)
        lines = [Text.assemble((fmt.hms(s.time), "dim"), " ", (f"{s.symbol:<5}", "bold"), " ",
                               (f"{s.action:<5}", _ACTION_STYLE.get(s.action, "")), " ", s.reason)
                 for s in newest]
        return Group(*lines)
