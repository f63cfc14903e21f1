"""Live marks reach the dashboard: liquidation price and margin parsed, the close dialog says them, and an
unknown unrealized pnl is not shown as +0.00."""

from __future__ import annotations

import pytest

from perpbot.tui.screens.positions import _marks_line
from perpbot.tui.state import _position

RAW = {"symbol": "ETH", "side": "short", "size": 2.0, "entry_price": 2000.0, "mark": 2060.55, "unrealized_pnl": -121.1,
       "liquidation_px": 2890.5, "margin_used": 1373.7, "stop": 2040.0, "opened_at": 1, "timeout_at": None}


def test_the_exchanges_marks_are_parsed_and_said_in_the_close_dialog():
    view = _position(RAW)
    assert (view.liquidation_px, view.margin_used, view.unrealized_pnl) == (2890.5, 1373.7, -121.1)
    assert _marks_line(view) == "Unrealized PnL now -121.10 at 2060.55, liquidation 2890.50, margin 1,373.70."


def test_paper_has_no_liquidation_and_unknown_pnl_stays_unknown():
    paper = _position({**RAW, "liquidation_px": None, "margin_used": None})
    assert _marks_line(paper) == "Unrealized PnL now -121.10 at 2060.55."
    unknown = _position({**RAW, "unrealized_pnl": None})
    assert unknown.unrealized_pnl is None and _marks_line(unknown) == "Unrealized PnL unknown right now."


RESTING = {"symbol": "SOL", "kind": "entry", "side": "buy", "size": 3.5, "limit": 150.12, "placed_at": 1,
           "reason": "entry:z<=-1.60", "cloid": "0x" + "1" * 32}


def test_resting_maker_orders_are_parsed_from_the_snapshot():
    from perpbot.tui.state import EngineView

    view = EngineView.from_snapshot({"mode": "paper", "paused": False, "resting_orders": [RESTING]})
    [order] = view.resting
    assert (order.symbol, order.kind, order.side, order.size, order.limit) == ("SOL", "entry", "buy", 3.5, 150.12)
    assert EngineView.from_snapshot({"mode": "paper", "paused": False}).resting == ()


@pytest.mark.anyio
async def test_the_positions_table_names_what_rests_under_it():
    from textual.app import App, ComposeResult

    from perpbot.tui.state import _resting
    from perpbot.tui.widgets.positions_table import PositionsTable

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield PositionsTable()

    app = One()
    async with app.run_test(size=(100, 20)):
        table = app.query_one(PositionsTable)
        table.resting = (_resting(RESTING),)
        assert table.border_subtitle == "resting: SOL entry buy 3.5 @ 150.120"  # as the table prints prices
        table.resting = ()
        assert table.border_subtitle == ""
