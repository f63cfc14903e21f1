"""Provides BacktestScreen: a form for symbols, dates, timeframe and parameters; runs in a worker; shows the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer
from textual.worker import Worker, get_current_worker

from perpbot.errors import PerpbotError
from perpbot.tui import format as fmt
from perpbot.tui.backtest_data import (
    FORM_PARAMS,
    BacktestRequest,
    RunCancelled,
    drawdown,
    parse_backtest,
    run_backtest_request,
    thin,
)
from perpbot.tui.screens.base import DashboardScreen
from perpbot.tui.session import SessionInfo
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


class BacktestScreen(DashboardScreen):
    """Backtests the stored candles with the form's settings, off the UI thread, cancellable."""

    CSS_PATH = "backtest.tcss"
    AUTO_FOCUS = "#bt-trades"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("escape", "cancel", "Cancel"),
    ]

    @dataclass
    class Progressed(Message):
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BacktestScreen.Progressed)

    @dataclass
    class Finished(Message):
        result: Any  # BacktestResult, or None when it failed or was cancelled
        error: str | None = None
        cancelled: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._worker: Worker[None] | None = None
        self._filled = False

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

    def show_info(self, info: SessionInfo) -> None:
        if self._filled:
            return
        self._filled = True
        form = self.query_one(RunForm)
        for f in backtest_fields(info.settings):
            form.set_value(f.id, f.value)

    def action_run(self) -> None:
        self.query_one(RunForm).request_run()

    def action_cancel(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self.query_one(RunForm).post_message(RunForm.CancelRequested(self.query_one(RunForm)))
        else:
            self.query_one("#bt-trades").focus()

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
        form = message.form
        form.running, form.progress = True, (0, len(request.symbols) + 1)
        form.status = f"Running {','.join(request.symbols)} {request.timeframe or info.settings.strategy.timeframe}..."
        self._worker = self._run(info, request)

    @on(RunForm.CancelRequested, "#form")
    def _cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.query_one(RunForm).status = "Cancelling..."

    @work(thread=True, exclusive=True, group="backtest", exit_on_error=False)
    def _run(self, info: SessionInfo, request: BacktestRequest) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise RunCancelled("the backtest was cancelled")
            self.post_message(self.Progressed(done, total))

        try:
            result = run_backtest_request(info.settings, info.db_path, request, progress)
        except RunCancelled:
            self.post_message(self.Finished(None, cancelled=True))
            return
        except PerpbotError as exc:
            self.post_message(self.Finished(None, str(exc)))
            return
        self.post_message(self.Finished(result))

    def on_backtest_screen_progressed(self, message: Progressed) -> None:
        self.query_one(RunForm).progress = (message.done, message.total)

    def on_backtest_screen_finished(self, message: Finished) -> None:
        form = self.query_one(RunForm)
        form.running = False
        if message.cancelled:
            form.progress, form.status = None, "Cancelled."
            self.notify("Backtest cancelled")
            return
        if message.result is None:
            form.progress, form.status = None, f"Failed: {message.error}"
            self.notify(str(message.error), title="Backtest failed", severity="error", timeout=10)
            return
        self.show_result(message.result)

    def show_result(self, result: Any) -> None:
        """Metrics, equity and drawdown curves and the trade list of a BacktestResult."""
        form = self.query_one(RunForm)
        form.progress = (1, 1)
        form.status = (f"{len(result.trades)} trades, {','.join(result.symbols)} {result.timeframe}, "
                       f"{fmt.day(result.start_ms)} to {fmt.day(result.end_ms)} UTC")
        self.query_one(MetricsPanel).metrics = result.metrics
        t, equity = thin(result.times, result.values)
        _, dd = thin(result.times, drawdown(result.values))
        label = f"{','.join(result.symbols)} {result.timeframe}"
        self.query_one("#equity", CurvePlot).curve = Curve(label, t, equity, "cyan")
        self.query_one("#drawdown", CurvePlot).curve = Curve(label, t, dd, "red", percent=True)
        trades = sorted(result.trades, key=lambda tr: tr.entry_time, reverse=True)[:SHOWN_TRADES]
        self.query_one(TradesTable).show(trades)
