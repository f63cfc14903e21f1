"""The demo end to end in-process: the simulator, the hosted engine, a paper trade, the regime score, a clean quit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from perpbot.data.db import Store
from perpbot.cli.sessions import DemoSession
from perpbot.cli.dashboard import make_app

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


async def test_demo_trades_then_quits_cleanly(tmp_path: Path) -> None:
    session = DemoSession(tmp_path, seed=3, speed=600)
    app = make_app(session, poll_interval_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        # Wait on both conditions, whatever order they come in: a paper trade in the store, and a
        # view that carries the regime score (the view is refreshed on its own poll interval, so it
        # can lag the store under load).
        deadline = time.monotonic() + 40
        traded = False
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            if app.connection.state == "failed":
                pytest.fail(app.connection.detail)
            traded = traded or _has_paper_trade(tmp_path / "demo.db")
            # the view can lag the store by a poll: wait for a snapshot from a tick and the regime score too
            if traded and app.view is not None and app.view.last_tick is not None \
                    and app.view.regime_score is not None:
                break
        else:
            pytest.fail(f"within 40 s: paper trade {traded}, regime score "
                        f"{None if app.view is None else app.view.regime_score}")
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


def _has_paper_trade(store_path: Path) -> bool:
    if not store_path.exists():
        return False
    store = Store(store_path, read_only=True)
    try:
        return bool(store.recent_trades(10, mode="paper"))
    except sqlite3.OperationalError:  # the file exists before the demo's first migration commits its tables
        return False
    finally:
        store.close()


def test_demo_regime_has_a_score_after_the_first_poll(tmp_path: Path) -> None:
    """The demo polls the simulator's own prediction markets: the regime carries a score, not "no score"."""
    stopped: list[str | None] = []
    session = DemoSession(tmp_path, seed=1)  # the default speed: the first tick (and poll) within a wall second
    info = session.start(stopped.append)
    try:
        cfg = info.settings.prediction
        assert cfg.enabled and cfg.polymarket_url == session.sim.polymarket_url
        assert cfg.kalshi_url == session.sim.kalshi_url and len(cfg.markets) == 3
        state: dict = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = info.link.request("snapshot")["data"]
            if state.get("regime_score") is not None:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"no regime score within 10 s: {state.get('regime')} {state.get('regime_score')}")
        assert state["regime"] in {"NORMAL", "ELEVATED", "CRISIS"} and 0.0 < state["regime_score"] < 1.0
        store = Store(tmp_path / "demo.db", read_only=True)
        try:
            snaps = store.latest_snapshots()
        finally:
            store.close()
        assert {(s.source, s.status) for s in snaps} == {("polymarket", "ok"), ("kalshi", "ok")} and len(snaps) == 3
    finally:
        session.stop()
    assert stopped == [None]
