"""Provides BacktestScreen: a form for symbols, dates, timeframe and parameters; runs in a worker; shows the result."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from perpbot.errors import PerpbotError
from perpbot.tui import format as fmt
from perpbot.tui.backtest_data import (
    FORM_PARAMS,
    BacktestRequest,
    drawdown,
    parse_backtest,
    thin,
)
from perpbot.tui.screens.run_screen import RunScreen
from perpbot.tui.widgets.curve_plot import Curve, CurvePlot
from perpbot.tui.widgets.metrics_panel import MetricsPanel
from perpbot.tui.widgets.run_form import Field, RunForm
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.tui.widgets.trades_table import TradesTable

SHOWN_TRADES = 500
"""The trade list keeps the newest this many (a year of 1m bars can hold thousands)."""


def backtest_fields(settings: Any | None) -> list[Field]:
    """The form's fields, filled from the settings once the session is known."""
    symbols = ",".join(settings.data.symbols) if settings is not None else ""
    timeframe = settings.strategy.timeframe if settings is not None else ""
    fields = [Field("symbols", "Symbols", symbols, "BTC,ETH"),
              Field("start", "From", "", "YYYY-MM-DD"),
              Field("end", "To", "", "YYYY-MM-DD"),
              Field("timeframe", "Timeframe", timeframe, "1m, 15m, 1h")]
    for key, label in FORM_PARAMS:
        section, _, name = key.partition(".")
        value = getattr(getattr(settings, section), name) if settings is not None else ""
        fields.append(Field(key, label, f"{value:g}" if isinstance(value, float) else str(value)))
    return fields


def read_request(values: dict[str, Any]) -> BacktestRequest:
    """The form's values as a request (ConfigError names the bad field)."""
    return parse_backtest(values["symbols"], values["start"], values["end"], values["timeframe"],
                          {key: str(values[key]) for key, _ in FORM_PARAMS})


class BacktestScreen(RunScreen):
    """Backtests the stored candles with the form's settings, off the UI thread, cancellable."""

    CSS_PATH = "backtest.tcss"
    AUTO_FOCUS = "#bt-trades"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("escape", "cancel", "Cancel"),
    ]
    JOB = "Backtest"
    WORKER_GROUP = "backtest"
    IDLE_FOCUS = "#bt-trades"

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="body"):
            yield RunForm("Backtest", backtest_fields(None), id="form")
            with Vertical(id="results"):
                with Horizontal(id="top"):
                    yield MetricsPanel(id="metrics")
                    with Vertical(id="plots"):
                        yield CurvePlot("Equity", id="equity")
                        yield CurvePlot("Drawdown", id="drawdown")
                yield TradesTable("Trades", id="bt-trades")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(MetricsPanel).note = "Fill in the form and press Run (ctrl+r) to backtest the stored candles."

    def form_fields(self, settings: Any | None) -> list[Field]:
        return backtest_fields(settings)

    @on(RunForm.RunRequested, "#form")
    def _run_requested(self, message: RunForm.RunRequested) -> None:
        info = self.info
        if info is None:
            self.notify("The session has not started yet", severity="warning")
            return
        try:
            request = read_request(message.values)
        except PerpbotError as exc:
            self.notify(str(exc), title="Cannot run the backtest", severity="error")
            return
        status = f"Running {','.join(request.symbols)} {request.timeframe or info.settings.strategy.timeframe}..."
        runner = self.runner
        self.start_job(lambda progress: runner.backtest(info.settings, info.db_path, request, progress),
                       status, steps=len(request.symbols) + 1)

    def show_result(self, result: Any) -> None:
        """Metrics, equity and drawdown curves and the trade list of a BacktestResult."""
        self.query_one(RunForm).status = (f"{len(result.trades)} trades, {','.join(result.symbols)} {result.timeframe}, "
                                          f"{fmt.day(result.start_ms)} to {fmt.day(result.end_ms)} UTC")
        self.query_one(MetricsPanel).metrics = result.metrics
        t, equity = thin(result.times, result.values)
        _, dd = thin(result.times, drawdown(result.values))
        label = f"{','.join(result.symbols)} {result.timeframe}"
        self.query_one("#equity", CurvePlot).curve = Curve(label, t, equity, "cyan")
        self.query_one("#drawdown", CurvePlot).curve = Curve(label, t, dd, "red", percent=True)
        trades = sorted(result.trades, key=lambda tr: tr.entry_time, reverse=True)[:SHOWN_TRADES]
        self.query_one(TradesTable).show(trades)
