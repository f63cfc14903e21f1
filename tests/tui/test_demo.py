"""The demo end to end in-process: the simulator, the hosted engine, a paper trade, and a clean quit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from perpbot.data.db import Store
from perpbot.tui.app import PerpBotApp
from perpbot.tui.session import DemoSession

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


async def test_demo_trades_then_quits_cleanly(tmp_path: Path) -> None:
    session = DemoSession(tmp_path, seed=3, speed=600)
    app = PerpBotApp(session, poll_interval_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            if app.connection.state == "failed":
                pytest.fail(app.connection.detail)
            store_path = tmp_path / "demo.db"
            if app.view is not None and store_path.exists():
                store = Store(store_path, read_only=True)
                try:
                    trades = store.recent_trades(10, mode="paper")
                finally:
                    store.close()
                if trades:
                    break
        else:
            pytest.fail("no paper trade within 40 s")
        assert app.info is not None and app.info.label == "demo"
        assert app.view.mode == "paper" and set(app.view.symbols) == {"BTC", "ETH", "SOL"}
        await pilot.press("q")
        for _ in range(200):
            await pilot.pause(0.05)
            if app.return_value is not None:
                break
    assert app.return_value == 0
    assert session.sim is None and session.engine_session is not None and session.engine_session.engine is None
    assert not (tmp_path / "perp-bot.sock").exists()
