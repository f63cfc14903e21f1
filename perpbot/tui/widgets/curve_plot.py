"""Provides CurvePlot: one time series (equity, drawdown) as a braille line with dated ticks (textual-plotext)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.reactive import reactive
from textual_plotext import PlotextPlot

from perpbot.tui import format as fmt

_TICKS = 4


@dataclass(frozen=True, slots=True)
class Curve:
    """A series to draw: times (epoch ms) and values; `percent` shows fractions as %."""

    label: str
    t: tuple[int, ...]
    y: tuple[float, ...]
    color: str = "cyan"
    percent: bool = False


class CurvePlot(PlotextPlot):
    """Draws `curve`, or says why there is none (`note`)."""

    curve: reactive[Curve | None] = reactive(None)
    note: reactive[str] = reactive("No result yet")

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title

    def on_mount(self) -> None:
        self.border_title = self._title
        self._draw()

    def watch_curve(self) -> None:
        self._draw()

    def watch_note(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        curve = self.curve
        if curve is None or not curve.t:
            self.border_title = self._title
            plt.title(self.note)
            self.refresh()
            return
        x = list(range(len(curve.t)))
        y = [v * 100 for v in curve.y] if curve.percent else list(curve.y)
        last = fmt.pct(curve.y[-1], signed=True) if curve.percent else fmt.money(curve.y[-1])
        self.border_title = f"{self._title}: {curve.label}, last {last}"
        plt.plot(x, y, color=curve.color, marker="braille")
        step = max(len(x) // _TICKS, 1)
        ticks = x[::step]
        multi_day = curve.t[-1] - curve.t[0] > 86_400_000
        plt.xticks(ticks, [(fmt.day(curve.t[i])[5:] if multi_day else fmt.hms(curve.t[i])[:5]) for i in ticks])
        self.refresh()
