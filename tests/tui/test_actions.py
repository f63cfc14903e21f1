"""Pilot tests: every binding of the app and the positions screen, against the fixture engine link."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from perpbot.tui.app import PerpBotApp
from perpbot.tui.dialogs.confirm import ConfirmDialog
from perpbot.tui.screens.base import CommandRequested
from perpbot.tui.screens.log import LogScreen
from perpbot.tui.screens.positions import PositionsScreen
from perpbot.tui.screens.reports import ReportsScreen
from perpbot.tui.widgets.positions_table import PositionsTable
from perpbot.tui.widgets.price_chart import PriceChart
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.cli.dashboard import make_app as build_app
from tui.conftest import settle

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


async def _until(pilot: Pilot[object], condition, rounds: int = 150) -> None:
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


async def test_pause_asks_then_pauses_and_resumes(make_app, link) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await _until(pilot, lambda: app.view is not None and app.view.paused)
        assert link.requests == [("pause", {})]
        assert "PAUSED" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("p", "y")
        await _until(pilot, lambda: app.view is not None and not app.view.paused)
        assert link.requests == [("pause", {}), ("resume", {})]


async def test_declined_confirmation_sends_nothing(make_app, link) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("p", "c", "f"):
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("n")
            assert isinstance(app.screen, PositionsScreen)
        await pilot.press("c", "escape", "enter")  # Enter on the focused No button: still nothing
        await pilot.pause(0.1)
        assert link.requests == []


async def test_close_the_selected_position(make_app, link) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(PositionsTable)
        table.focus()
        await pilot.press("down")
        assert table.selected_symbol == "SOL"
        await pilot.press("c", "y")
        await _until(pilot, lambda: app.view is not None and len(app.view.positions) == 1)
        assert link.requests == [("close", {"symbol": "SOL"})]
        assert app.view.positions[0].symbol == "BTC"


async def test_flatten_closes_everything(make_app, link) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", "y")
        await _until(pilot, lambda: app.view is not None and not app.view.positions)
        assert link.requests == [("flatten", {})]
        assert app.screen.query_one(PositionsTable).border_title == "Open positions: none"
        await pilot.press("c")  # nothing left to close: a warning, no dialog
        assert isinstance(app.screen, PositionsScreen)


async def test_refused_command_is_reported(make_app, link) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        link.data["positions"][0]["symbol"] = "XRP"  # BTC was closed elsewhere before the request got there
        app.post_message(CommandRequested("close", {"symbol": "BTC"}))
        await _until(pilot, lambda: bool(app._notifications))
        assert any("no open position in BTC" in n.message for n in app._notifications)


async def test_chart_symbol_key_cycles_symbols(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        chart = app.screen.query_one(PriceChart)
        assert chart.chart is not None and chart.chart.symbol == "BTC"
        await pilot.press("s")
        await settle(pilot)
        await _until(pilot, lambda: chart.chart is not None and chart.chart.symbol == "ETH")
        assert len(chart.chart.t) == 120
        assert any(m.kind == "exit" for m in chart.chart.markers)


async def test_number_keys_switch_screens_and_palette_lists_them(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape", "5")
        assert isinstance(app.screen, ReportsScreen)
        await pilot.press("1")
        assert isinstance(app.screen, PositionsScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Positions (1)", "Log (2)", "Reports (5)", "Quit (q)"} <= set(titles)
        # Through the palette as a user would: type, pick, land on the screen.
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"walk-forward")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.05)
            if type(app.screen).__name__ == "WalkForwardScreen":
                break
        assert type(app.screen).__name__ == "WalkForwardScreen"


async def test_quit_stops_the_session_and_exits_zero(tui_settings, link) -> None:
    from tui.fixtures import FixtureSession

    session = FixtureSession(tui_settings, link)
    app = build_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await _until(pilot, lambda: app.return_code is not None)
    assert session.stopped
    assert app.return_code == 0


async def test_narrow_terminal_swaps_the_side_panel(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        side = app.screen.query_one("#side")
        assert not side.display
        await pilot.press("i")
        assert side.display and not app.screen.query_one("#main").display
        await pilot.resize_terminal(200, 50)
        await pilot.pause(0.1)
        assert side.display and app.screen.query_one("#main").display
        assert side.size.width == 60
