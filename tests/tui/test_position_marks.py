"""Live marks reach the dashboard: liquidation price and margin parsed, the close dialog says them, and an
unknown unrealized pnl is not shown as +0.00."""

from __future__ import annotations

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
