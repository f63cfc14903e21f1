"""Provides PositionsScreen: open positions, the decision table, recent trades, regime and risk, feed and the chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer

from perpbot.errors import PerpbotError
from perpbot.models import Trade
from perpbot.tui.chart_data import ChartData
from perpbot.tui.dialogs.confirm import ConfirmDialog
from perpbot.tui.screens.base import CommandRequested, DashboardScreen
from perpbot.tui.session import SessionInfo
from perpbot.tui import format as fmt
from perpbot.tui.state import EngineView, PositionView
from perpbot.tui.widgets.decisions_table import DecisionsTable
from perpbot.tui.widgets.feed_panel import FeedPanel
from perpbot.tui.widgets.positions_table import PositionsTable
from perpbot.tui.widgets.price_chart import PriceChart
from perpbot.tui.widgets.risk_panel import RiskPanel
from perpbot.tui.widgets.signals_panel import SignalsPanel
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.tui.widgets.trades_table import TradesTable

if TYPE_CHECKING:  # the store (and numpy) load after the first paint
    from perpbot.tui.data import DashboardData


class PositionsScreen(DashboardScreen):
    """The live view of the bot, and the place to pause it, close a position or flatten."""

    CSS_PATH = "positions.tcss"
    BINDINGS = [
        Binding("c", "close_position", "Close"),
        Binding("f", "flatten", "Flatten"),
        Binding("s", "next_symbol", "Symbol"),
        Binding("i", "toggle_side", "Side panel", show=False),
    ]

    @dataclass
    class DataLoaded(Message):
        """Trades and the chart, read from the database by a worker."""

        trades: list[Trade]
        chart: ChartData | None
        error: str | None

    def __init__(self) -> None:
        super().__init__()
        self._data: DashboardData | None = None
        self._chart_symbol: str | None = None
        self._loaded_key: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield PositionsTable(id="positions")
                yield DecisionsTable(id="decisions")
                yield PriceChart(id="chart")
                yield TradesTable("Recent trades", id="trades")
            with Vertical(id="side"):
                yield RiskPanel(id="risk")
                yield FeedPanel(id="feed")
                yield SignalsPanel(id="signals")
        yield Footer()

    def show_info(self, info: SessionInfo) -> None:
        from perpbot.tui.data import DashboardData

        self._data = DashboardData(info.db_path)
        self._loaded_key = None
        self.query_one(DecisionsTable).params = info.settings.strategy

    def show_view(self, view: EngineView) -> None:
        now = self.now_ms()
        table = self.query_one(PositionsTable)
        table.now_ms = now
        table.positions = view.positions
        table.resting = view.resting
        risk = self.query_one(RiskPanel)
        risk.now_ms = now
        risk.view = view
        self.query_one(FeedPanel).view = view
        self.query_one(SignalsPanel).signals = view.recent_signals
        self.query_one(DecisionsTable).decisions = view.signals
        if self._chart_symbol not in view.symbols:
            self._chart_symbol = view.symbols[0] if view.symbols else None
        self._refresh_data(view)

    def _refresh_data(self, view: EngineView, force: bool = False) -> None:
        """Re-read the DB when a bar closed, a position changed or the chart symbol changed."""
        info = self.info
        if self._data is None or info is None:
            return
        key = (view.last_tick, tuple((p.symbol, p.opened_at) for p in view.positions), self._chart_symbol)
        if key == self._loaded_key and not force:
            return
        self._loaded_key = key
        self._load(self._data, info, view.mode, view.timeframe or info.settings.strategy.timeframe, self._chart_symbol)

    @work(thread=True, exclusive=True, group="positions-db")
    def _load(self, data: DashboardData, info: SessionInfo, mode: str, timeframe: str, symbol: str | None) -> None:
        try:
            trades = data.recent_trades(mode)
            chart = data.chart(symbol, timeframe, info.settings.strategy, mode) if symbol else None
        except PerpbotError as exc:
            self.post_message(self.DataLoaded([], None, exc.message))
            return
        self.post_message(self.DataLoaded(trades, chart, None))

    def on_positions_screen_data_loaded(self, message: DataLoaded) -> None:
        chart = self.query_one(PriceChart)
        if message.error is not None:
            chart.note = f"Cannot read the database: {message.error}"
            chart.chart = None
            return
        self.query_one(TradesTable).show(message.trades)
        if message.chart is not None and not message.chart.t:
            chart.note = f"No {message.chart.symbol} {message.chart.timeframe} candles in the database yet"
        chart.chart = message.chart

    def action_next_symbol(self) -> None:
        view = self.engine_view
        if view is None or not view.symbols:
            self.notify("No symbols yet: the engine has not reported", severity="warning")
            return
        index = view.symbols.index(self._chart_symbol) + 1 if self._chart_symbol in view.symbols else 0
        self._chart_symbol = view.symbols[index % len(view.symbols)]
        self._refresh_data(view)

    def action_toggle_side(self) -> None:
        self.toggle_class("-side-shown")

    def action_close_position(self) -> None:
        view = self.engine_view
        symbol = self.query_one(PositionsTable).selected_symbol
        position = view.position(symbol) if view is not None and symbol else None
        if position is None:
            self.notify("No open position to close", severity="warning")
            return
        question = (f"Close the {position.side.value} {position.size:g} {position.symbol} position at market? "
                    + _marks_line(position))

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(CommandRequested("close", {"symbol": position.symbol}))

        self.app.push_screen(ConfirmDialog(f"Close {position.symbol}", question, yes="Close"), answered)

    def action_flatten(self) -> None:
        view = self.engine_view
        if view is None or not view.positions:
            self.notify("No open positions to flatten", severity="warning")
            return
        names = ", ".join(p.symbol for p in view.positions)
        question = f"Close every open position ({names}) at market, and pause new entries until you resume?"

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(CommandRequested("flatten"))

        self.app.push_screen(ConfirmDialog("Flatten all", question, yes="Flatten"), answered)


def _marks_line(position: PositionView) -> str:
    """Unrealized pnl at the mark (and, live, the liquidation price and margin) as the engine reports them."""
    if position.unrealized_pnl is None:
        return "Unrealized PnL unknown right now."
    line = f"Unrealized PnL now {position.unrealized_pnl:+,.2f} at {fmt.price(position.mark)}"
    if position.liquidation_px is not None:
        line += f", liquidation {fmt.price(position.liquidation_px)}"
    if position.margin_used is not None:
        line += f", margin {fmt.money(position.margin_used)}"
    return line + "."
