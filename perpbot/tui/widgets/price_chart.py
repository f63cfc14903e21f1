"""Provides PriceChart: closes with the strategy's bands and entry/exit markers (textual-plotext)."""

from __future__ import annotations

import math

from textual.reactive import reactive
from textual_plotext import PlotextPlot

from perpbot.tui import format as fmt
from perpbot.tui.chart_data import ChartData

_MARKERS = {"long": ("▲", "green"), "short": ("▼", "red"), "exit": ("◆", "yellow")}
_TICKS = 5


class PriceChart(PlotextPlot):
    """The chart of one symbol; `note` explains an empty chart (no candles stored yet)."""

    chart: reactive[ChartData | None] = reactive(None)
    note: reactive[str] = reactive("Waiting for the database")

    def on_mount(self) -> None:
        self.border_title = "Price"
        self._draw()

    def watch_chart(self) -> None:
        self._draw()

    def watch_note(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        chart = self.chart
        if chart is None or not chart.t:
            self.border_title = "Price"
            plt.title(self.note)
            self.refresh()
            return
        x = list(range(len(chart.t)))
        self.border_title = f"{chart.symbol} {chart.timeframe}: close {fmt.price(chart.close[-1])}, bands, fills"
        for series, color in ((chart.upper, "gray"), (chart.middle, "blue"), (chart.lower, "gray")):
            xs = [i for i in x if math.isfinite(series[i])]
            if xs:
                plt.plot(xs, [series[i] for i in xs], color=color, marker="braille")
        plt.plot(x, list(chart.close), color="cyan", marker="braille")
        for kind, (marker, color) in _MARKERS.items():
            points = [m for m in chart.markers if m.kind == kind]
            if points:
                plt.scatter([m.index for m in points], [m.price for m in points], marker=marker, color=color)
        step = max(len(x) // _TICKS, 1)
        ticks = x[::step]
        plt.xticks(ticks, [fmt.hms(chart.t[i])[:5] for i in ticks])
        self.refresh()
