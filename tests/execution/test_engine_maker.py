"""The engine's maker orders on paper (issue 19): a resting entry counts as a position, and nothing
is left resting after a pause, a flatten or a stop of the engine."""

from __future__ import annotations

from perpbot.clock import DAY_MS, FakeClock
from perpbot.execution import commands
from perpbot.execution.paper import KEY_RESTING
from perpbot.sim.server import SimOptions, SimServer

from engine_harness import START_MS, drive_until, engine_settings, make_engine

NEVER_FILLS = {"entry_order": "maker", "exit_order": "maker", "maker_fill_ticks": 10**9, "maker_timeout_bars": 1000}


def test_resting_entries_hold_their_slot_and_go_on_pause_flatten_and_close(tmp_path):
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=7, history_days=2, start_ms=START_MS), port=0, clock=clock) as sim:
        settings = engine_settings(sim.url, tmp_path / "m.db", execution=NEVER_FILLS, risk={"max_positions": 1})
        engine = make_engine(settings, clock)
        try:
            def resting() -> set[str]:
                return engine.maker.symbols()

            limit = START_MS + DAY_MS
            drive_until(engine, clock, resting, limit)
            (symbol,) = resting()  # max_positions 1: the resting entry holds the only slot
            assert engine._open_symbols() == [symbol]
            assert engine.executor.open_trades() == []
            [shown] = engine.state.snapshot()["resting_orders"]  # `status` shows what rests
            [order] = engine.executor.resting()
            assert shown == {"symbol": symbol, "kind": "entry", "side": "buy" if order.side == "long" else "sell",
                             "size": order.size, "limit": order.limit, "placed_at": order.placed_ms,
                             "reason": order.reason, "cloid": order.cloid}
            engine.execute(commands.Pause())
            assert resting() == set() and engine.state.snapshot()["resting_orders"] == []
            engine.execute(commands.Resume())
            drive_until(engine, clock, resting, limit)
            engine.execute(commands.Flatten())
            assert resting() == set() and engine.risk.paused
            engine.execute(commands.Resume())
            drive_until(engine, clock, resting, limit)
            assert resting()
        finally:
            engine.close()
        assert engine.store.get_state(KEY_RESTING) == []  # closing the engine left nothing resting
