"""Snapshot tests: every screen at 120x40 over the seeded store, the fixture log and a fixed clock."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from perpbot.errors import PerpbotError
from perpbot.tui.session import EngineStoppedCallback, SessionInfo
from perpbot.tui.widgets.log_view import LogView
from perpbot.cli.dashboard import make_app
from tui.conftest import settle, until_idle
from tui.fixtures import SWEEP_FILE, WF_FILE

SIZE = (120, 40)


async def _positions(pilot: Pilot[object]) -> None:
    await settle(pilot)


def test_positions_screen(snap_compare, make_app) -> None:
    """Positions, recent trades, chart with bands and fills, regime and risk, feed, signals."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_positions)


async def _log(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("2")
    for _ in range(100):
        await pilot.pause(0.02)
        if pilot.app.screen.query_one(LogView).shown:
            break


def test_log_screen(snap_compare, make_app) -> None:
    """The fixture log at INFO and above, coloured by level, following."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_log)


async def _reports(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)


def test_reports_screen(snap_compare, make_app) -> None:
    """The weekly review of the fixture trades with its breakdowns."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_reports)


async def _close_dialog(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("c")
    await pilot.pause(0.1)


def test_close_confirmation(snap_compare, make_app) -> None:
    """`c` asks before closing the position under the cursor."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_close_dialog)


class _Unreachable:
    """A session whose exchange cannot be reached, as a hosted engine reports it."""

    label = "paper"

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        raise PerpbotError("cannot reach https://api.hyperliquid.xyz (connection refused)",
                           "check the network or exchange.base_url")

    def stop(self) -> None:
        """Nothing was started."""


async def _unreachable(pilot: Pilot[object]) -> None:
    for _ in range(100):
        await pilot.pause(0.02)
        if pilot.app.connection.state == "failed":
            break
    await pilot.pause(0.1)


def test_exchange_unreachable(snap_compare) -> None:
    """The app opens anyway and says why nothing is running."""
    assert snap_compare(make_app(_Unreachable()), terminal_size=SIZE, run_before=_unreachable)


async def _backtest(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    await pilot.press("ctrl+r")
    await until_idle(pilot)


def test_backtest_screen(snap_compare, make_app) -> None:
    """A backtest of the fixture store with the form's defaults: metrics, equity, drawdown, trades."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_backtest)


def _load(name: str):
    async def run(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        pilot.app.screen.query_one("#path", Input).value = name
        await pilot.press("ctrl+o")
        await until_idle(pilot)

    return run


def test_walk_forward_screen(snap_compare, make_app, results) -> None:
    """A loaded walk-forward: IS/OOS summary, the windows and the stitched equity."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_load(WF_FILE))


def test_sensitivity_heatmap(snap_compare, make_app, results) -> None:
    """A loaded two-parameter sweep as a heatmap, best cell marked."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_load(SWEEP_FILE))


def test_positions_screen_80x24(snap_compare, make_app) -> None:
    """The smallest supported terminal: tables and chart, the side panel folded away (`i`)."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_positions)


def test_positions_screen_200x50(snap_compare, make_app) -> None:
    """A large terminal: the wide side panel and taller tables."""
    assert snap_compare(make_app(), terminal_size=(200, 50), run_before=_positions)


def test_reports_screen_80x24(snap_compare, make_app) -> None:
    """The weekly review and breakdowns still fit at 80x24."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_reports)
