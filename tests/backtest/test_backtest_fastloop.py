"""The compiled one-symbol loop (backtest/fastloop.py) against the Python event loop, bit for bit.

Both drive the same risk rules (perpbot.risk.rules) and the same fill semantics; any
difference in a trade, a blocked-entry count, the equity curve or a metric is a bug in one of
them. Configurations are drawn at random (seeded) so that every control binds somewhere:
entry delays with cancelled entries, stops with cooldowns, timeouts, the daily loss cap, orders
below the minimum, fixed regimes that shrink or block entries, funding of either sign, gaps.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from bt_data import START_MS, insert_walk

from perpbot.backtest.engine import load_market, simulate
from perpbot.config import build_settings
from perpbot.data.db import Store

STEP = 900_000


def _random_config(rng: np.random.Generator, db_path: str) -> dict:
    pick = lambda *values: values[int(rng.integers(len(values)))]  # noqa: E731
    return {
        "data": {"db_path": db_path},
        "strategy": {"timeframe": "15m", "window": 30, "entry_z": pick(1.5, 2.0), "exit_z": pick(0.0, 0.3),
                     "use_bollinger": pick(True, False), "use_rsi": pick(True, False), "use_adx": pick(True, False),
                     "adx_max": 40.0, "use_hurst": False},
        "risk": {"sizing": pick("fixed", "fraction"), "stop_loss_pct": pick(0.002, 0.006, 0.03),
                 "cooldown_minutes": pick(0, 30, 240), "global_cooldown": pick(True, False),
                 "daily_loss_limit_pct": pick(0.001, 0.004, 1.0), "position_timeout_hours": pick(1, 5, 24),
                 "min_order_usd": pick(10.0, 10.0, 2500.0), "leverage": pick(1.0, 3.0)},
        "execution": {"entry_delay_bars": pick(0, 0, 1, 2), "slippage_bps": pick(0.0, 2.0),
                      "volatility_slippage": pick(0.0, 0.1), "taker_fee": pick(0.0, 0.00045)},
        "backtest": {"regime": pick("NORMAL", "NORMAL", "ELEVATED", "CRISIS")},
    }


@pytest.fixture(scope="module", params=[(5, 0.0001, False), (9, -0.0002, True)], ids=["funding+", "funding-gaps"])
def store(request, tmp_path_factory):
    seed, funding, gaps = request.param
    path = tmp_path_factory.mktemp("fastloop") / "d.db"
    st = Store(path)
    st.migrate()
    insert_walk(st, "BTC", 6000, seed=seed, funding=funding)
    insert_walk(st, "ETH", 6000, seed=seed + 1, funding=funding)
    if gaps:  # an exchange outage: whole stretches of bars missing
        with sqlite3.connect(path) as conn:
            for lo in (1500, 3200, 3205):
                conn.execute("DELETE FROM candles WHERE t >= ? AND t < ?",
                             (START_MS + lo * STEP, START_MS + (lo + 40) * STEP))
    yield st
    st.close()


def _compare(a, b) -> None:
    assert a.metrics["entries_blocked"] == b.metrics["entries_blocked"]
    assert len(a.trades) == len(b.trades)
    for x, y in zip(a.trades, b.trades):
        assert x == y
    assert np.array_equal(a.times, b.times)
    assert np.array_equal(a.values, b.values)
    assert a.metrics == b.metrics


def test_compiled_loop_equals_event_loop(store):
    rng = np.random.default_rng(20261206)
    seen_exits: set[str] = set()
    seen_blocks: set[str] = set()
    for _ in range(30):
        settings = build_settings(_random_config(rng, str(store.path)), source="test")
        data = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
        compiled = simulate(data, settings, loop="compiled")
        events = simulate(data, settings, loop="events")
        _compare(compiled, events)
        seen_exits |= {t.exit_reason for t in compiled.trades}
        seen_blocks |= set(compiled.metrics["entries_blocked"])
    # The draws made every path run at least once.
    assert seen_exits >= {"signal", "stop_loss", "timeout"}
    assert seen_blocks >= {"cooldown", "daily_loss_cap", "signal_gone", "below_min_order", "regime_crisis"}


def test_compiled_loop_equals_event_loop_with_maker_orders(store):
    """Issue 19: resting entries and exits (fills by trade-through, re-prices, cancels, expiries with and
    without the taker fallback, stops while an exit rests) give the same trades, counts and equity."""
    rng = np.random.default_rng(20261207)
    seen: set[str] = set()
    store.save_sz_decimals({"BTC": 4})
    for _ in range(16):
        raw = _random_config(rng, str(store.path))
        pick = lambda *values: values[int(rng.integers(len(values)))]  # noqa: E731
        maker = {"entry_order": pick("taker", "maker", "maker"), "exit_order": pick("taker", "maker"),
                 "maker_timeout_bars": pick(1, 3), "maker_fallback": pick("cancel", "taker"),
                 "maker_fill_ticks": pick(0, 1, 3), "maker_fee": pick(0.00015, -0.00002)}
        if "maker" not in (maker["entry_order"], maker["exit_order"]):
            maker["exit_order"] = "maker"
        raw["execution"] |= maker
        if maker["entry_order"] == "maker":
            raw["execution"]["entry_delay_bars"] = 0
        settings = build_settings(raw, source="test")
        data = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
        compiled = simulate(data, settings, loop="compiled")
        events = simulate(data, settings, loop="events")
        _compare(compiled, events)
        orders = compiled.metrics["maker_orders"]
        seen |= {k for k in ("filled", "cancelled", "expired", "reprices") if orders[k]}
    assert seen == {"filled", "cancelled", "expired", "reprices"}


def test_auto_takes_the_one_symbol_loop_only_where_it_applies(store, monkeypatch):
    """Two symbols (cross-symbol limits) go through the account loop (test_backtest_fastaccount.py);
    one symbol, once the compiled loop is loaded, through the one-symbol loop."""
    import perpbot.backtest.fastloop as fastloop

    calls = []
    real = fastloop.run_symbol
    monkeypatch.setattr(fastloop, "run_symbol", lambda *a: calls.append(a[0]) or real(*a))
    settings = build_settings(_random_config(np.random.default_rng(1), str(store.path)), source="test")
    one = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
    two = load_market(settings, store, ["BTC", "ETH"], START_MS + 200 * STEP, None, None)
    simulate(one, settings)
    assert calls == ["BTC"]
    simulate(one, settings, loop="events")
    simulate(two, settings)
    assert calls == ["BTC"]


def test_a_compiled_result_builds_its_trades_on_first_read_and_saves_like_any_other(store, tmp_path):
    import pickle

    from perpbot.backtest.results import BacktestResult

    settings = build_settings(_random_config(np.random.default_rng(3), str(store.path)), source="test")
    data = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
    compiled = simulate(data, settings, loop="compiled")
    events = simulate(data, settings, loop="events")
    trades = compiled.trades
    assert len(trades) == len(events.trades) and trades._build is not None  # counted, not built
    assert trades == events.trades and events.trades == trades
    assert trades[0] == events.trades[0] and list(trades) == events.trades
    assert pickle.loads(pickle.dumps(trades)) == events.trades
    loaded = BacktestResult.load(compiled.to_json(tmp_path / "r.json"))
    assert loaded.trades == BacktestResult.load(events.to_json(tmp_path / "e.json")).trades


@pytest.mark.parametrize("hours", [1e-9, 0.25, 0.26])
def test_timeouts_at_or_below_a_bar_equal(store, hours):
    """A timeout that rounds to 0 ms is due before the entry bar (the exit walk's edge), one of exactly
    a bar is due at the entry bar's own close, one just over it at the next close: both loops agree."""
    raw = _random_config(np.random.default_rng(11), str(store.path))
    raw["risk"] |= {"position_timeout_hours": hours, "stop_loss_pct": 0.03, "min_order_usd": 10.0,
                    "daily_loss_limit_pct": 1.0}
    raw["backtest"]["regime"] = "NORMAL"
    settings = build_settings(raw, source="test")
    data = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
    compiled = simulate(data, settings, loop="compiled")
    _compare(compiled, simulate(data, settings, loop="events"))
    assert "timeout" in {t.exit_reason for t in compiled.trades}
