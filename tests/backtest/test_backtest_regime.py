"""The regime in the backtest: fixed by config, or replayed from stored prediction snapshots."""

from __future__ import annotations

import pytest
from bt_data import START_MS, insert_bars
from test_backtest_scenarios import DROP, FLAT, make_settings

from perpbot.backtest.engine import run_backtest
from perpbot.data.db import Store
from perpbot.models import PredictionSnapshot

H = 3_600_000


def _bars() -> list:
    bars = [FLAT] * 40
    for i in (6, 30):  # two LONG signals, 24 h apart
        bars[i] = DROP
    return bars


def _run(tmp_path, snapshots=(), **sections):
    settings = make_settings(tmp_path, **sections)
    store = Store(settings.db_path)
    store.migrate()
    times = insert_bars(store, "BTC", _bars())
    store.insert_snapshots(snapshots)
    result = run_backtest(settings, store, ["BTC"], START_MS, None)
    store.close()
    return result, times


def test_a_fixed_crisis_regime_blocks_every_entry(tmp_path):
    result, _ = _run(tmp_path, backtest={"regime": "CRISIS"})
    assert result.trades == []
    # A fixed regime never changes: after the first refusal the run does not ask again.
    assert result.metrics["entries_blocked"] == {"regime_crisis": 1}


def test_a_fixed_elevated_regime_shrinks_sizes(tmp_path):
    normal, _ = _run(tmp_path / "a")
    elevated, _ = _run(tmp_path / "b", backtest={"regime": "ELEVATED"})
    assert len(normal.trades) == len(elevated.trades) == 2
    for n, e in zip(normal.trades, elevated.trades):
        assert e.size == pytest.approx(n.size * 0.5)


def test_replayed_snapshots_block_entries_only_while_they_say_crisis(tmp_path):
    # A crisis reading an hour before the first signal, calm again before the second.
    snaps = [
        PredictionSnapshot("polymarket", "m1", "recession?", 0.9, "ok", START_MS + 6 * H),
        PredictionSnapshot("polymarket", "m1", "recession?", 0.1, "ok", START_MS + 20 * H),
        PredictionSnapshot("polymarket", "m1", "recession?", 0.1, "ok", START_MS + 29 * H),
    ]
    result, t = _run(tmp_path, snaps, prediction={
        "enabled": True, "max_age_minutes": 600,
        "markets": [{"source": "polymarket", "id": "m1", "weight": 1.0, "direction": "risk_up"}],
    })
    assert result.metrics["entries_blocked"] == {"regime_crisis": 1}
    assert [tr.entry_time for tr in result.trades] == [t[31]]
