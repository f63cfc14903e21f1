"""Provides ReportsScreen: the weekly review and the paper-vs-backtest comparison of the bot's own trades."""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Static

from perpbot.errors import PerpbotError
from perpbot.reporting.weekly import WeeklyReview, headline
from perpbot.tui import format as fmt
from perpbot.tui.data import DashboardData
from perpbot.tui.reports_data import ComparisonResult, load_review
from perpbot.tui.screens.base import DashboardScreen
from perpbot.tui.session import SessionInfo
from perpbot.tui.widgets.breakdown_table import BreakdownTable
from perpbot.tui.widgets.comparison_panel import ComparisonPanel
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.tui.widgets.weekly_table import WeeklyTable


class ReportsScreen(DashboardScreen):
    """Reads the trades table in workers; `r` re-reads it, `c` runs the comparison backtest."""

    CSS_PATH = "reports.tcss"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("c", "compare", "Compare with backtest"),
    ]

    @dataclass
    class ReviewLoaded(Message):
        review: WeeklyReview | None
        mode: str
        error: str | None = None

    @dataclass
    class ComparisonDone(Message):
        result: ComparisonResult | None
        error: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self._data: DashboardData | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Static("Reading the trades table", id="headline")
        yield WeeklyTable(id="weekly")
        with Horizontal(id="lower"):
            yield BreakdownTable("Symbol", id="by-symbol")
            yield BreakdownTable("Exit reason", id="by-reason")
            yield ComparisonPanel(id="compare")
        yield Footer()

    def show_info(self, info: SessionInfo) -> None:
        self._data = DashboardData(info.db_path)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        # Trades close while the user is elsewhere: re-read whenever the screen comes back.
        self.action_refresh()

    def _mode(self, info: SessionInfo) -> str:
        view = self.engine_view
        return view.mode if view is not None else info.settings.execution.mode

    def action_refresh(self) -> None:
        info = self.info
        if self._data is None or info is None:
            return
        self._load_review(self._data, info, self._mode(info), self.now_ms())

    @work(thread=True, exclusive=True, group="reports-review")
    def _load_review(self, data: DashboardData, info: SessionInfo, mode: str, now_ms: int) -> None:
        try:
            review = load_review(data, info.settings, mode, now_ms)
        except PerpbotError as exc:
            self.post_message(self.ReviewLoaded(None, mode, exc.message))
            return
        self.post_message(self.ReviewLoaded(review, mode))

    def on_reports_screen_review_loaded(self, message: ReviewLoaded) -> None:
        review = message.review
        self.set_class(review is None, "-empty")
        text = self.query_one("#headline", Static)
        if message.error is not None:
            text.update(f"No weekly review: cannot read the database ({message.error})")
        elif review is None:
            text.update(f"No weekly review yet: the bot has no closed {message.mode} trades.")
        else:
            text.update(f"{message.mode} trades. {headline(review)}")
            self.query_one(WeeklyTable).show(review)
            self.query_one("#by-symbol", BreakdownTable).show(review.by_symbol)
            self.query_one("#by-reason", BreakdownTable).show(review.by_exit_reason)

    def action_compare(self) -> None:
        info = self.info
        if self._data is None or info is None:
            self.notify("The session has not started yet", severity="warning")
            return
        panel = self.query_one(ComparisonPanel)
        panel.comparison = None
        panel.note = "Running the backtest over the period the bot traded..."
        self._compare(self._data, info, self._mode(info))

    @work(thread=True, exclusive=True, group="reports-compare", exit_on_error=False)
    def _compare(self, data: DashboardData, info: SessionInfo, mode: str) -> None:
        try:
            result = self.runner.compare(data, info.settings, mode)
        except PerpbotError as exc:
            self.post_message(self.ComparisonDone(None, exc.message + (f" ({exc.hint})" if exc.hint else "")))
            return
        self.post_message(self.ComparisonDone(result))

    def on_reports_screen_comparison_done(self, message: ComparisonDone) -> None:
        panel = self.query_one(ComparisonPanel)
        if message.result is None:
            panel.note = f"No comparison: {message.error}"
            self.notify(str(message.error), title="Comparison failed", severity="error")
            return
        r = message.result
        panel.period = f"{fmt.stamp(r.start_ms)} to {fmt.stamp(r.end_ms)} UTC, {r.backtest_trades} backtest trades"
        panel.comparison = r.comparison
