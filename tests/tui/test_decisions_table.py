"""The positions screen's decision table: a row per symbol, values coloured against the strategy's thresholds."""

from __future__ import annotations

import pytest

from perpbot.tui.app import PerpBotApp
from perpbot.tui.widgets.decisions_table import DecisionsTable
from tui.conftest import settle

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


async def test_rows_and_colours(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DecisionsTable)
        assert table.row_count == 3 and "11:59:00" in str(table.border_title)
        btc, eth, sol = (table.get_row_at(i) for i in range(3))
        assert str(eth[2].style) == "green"  # z -2.31 is past the long entry threshold (2.0)
        assert str(eth[1].style) == "green"  # the close is below the lower band
        assert str(eth[3].style) == "green"  # RSI 27.5 <= 30
        assert str(eth[4].style) == "yellow"  # ADX 31 > adx_max 25: the filter that blocks
        assert eth[6].plain == "NONE blocked:adx"
        assert str(btc[2].style) == "" and str(btc[5].style) == "green"  # Hurst 0.43 <= 0.5 passes
        assert sol[5].plain == "-" and sol[6].plain == "CLOSE exit:z<=0.50"


async def test_a_refusal_replaces_the_reason(make_app, link) -> None:
    link.data["signals"][0].update(decision="LONG", reason="entry:z<=-2.00", risk="cooldown", z=-2.4)
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        row = app.screen.query_one(DecisionsTable).get_row_at(0)
        assert row[6].plain == "LONG refused: cooldown"
