"""The engine against an independent, straightforward per-bar loop written here.

Plain z-score strategy (every filter off), no slippage, fixed notional, one position: the
engine's event-driven scan must produce exactly the trades of the obvious loop.
"""

from __future__ import annotations

import numpy as np
import pytest
from bt_data import START_MS, insert_walk

from perpbot.backtest.engine import run_backtest
from perpbot.config import build_settings
from perpbot.data.db import Store

STEP = 900_000


def reference_trades(t, o, h, lo, c, window, entry_z, exit_z, stop_pct, timeout_ms, notional, fee, start_i):
    """The strategy as a reader would write it: one bar at a time."""
    z = np.full(len(c), np.nan)
    for i in range(window - 1, len(c)):
        w = c[i - window + 1:i + 1]
        sd = w.std()
        z[i] = (c[i] - w.mean()) / sd if sd > 0 else 0.0
    trades, pos, pending, exit_next = [], None, None, None
    for i in range(len(c)):
        if exit_next is not None and pos is not None:  # an exit decided at the last close fills now
            trades.append(_close(pos, t[i], o[i], exit_next, fee))
            pos, exit_next = None, None
        if pending is not None:
            price = o[i]
            size = notional / price
            pos = {"side": pending, "t": t[i], "price": price, "size": size,
                   "stop": price * (1 - stop_pct) if pending == "long" else price * (1 + stop_pct)}
            pending = None
        if pos is not None:
            hit = lo[i] <= pos["stop"] if pos["side"] == "long" else h[i] >= pos["stop"]
            if hit:
                gap = o[i] <= pos["stop"] if pos["side"] == "long" else o[i] >= pos["stop"]
                trades.append(_close(pos, t[i], o[i] if gap else pos["stop"], "stop_loss", fee))
                pos = None
        if i < start_i or np.isnan(z[i]):
            continue
        if pos is not None:
            if t[i] + STEP - pos["t"] >= timeout_ms:
                exit_next = "timeout"
            elif (pos["side"] == "long" and z[i] >= -exit_z) or (pos["side"] == "short" and z[i] <= exit_z):
                exit_next = "signal"
            continue
        if z[i] <= -entry_z:
            pending = "long"
        elif z[i] >= entry_z:
            pending = "short"
        if pending is not None and i == len(c) - 1:
            pending = None
    if pos is not None:
        trades.append(_close(pos, t[-1] + STEP, c[-1], "end", fee))
    return trades


def _close(pos, when, price, reason, fee):
    sign = 1 if pos["side"] == "long" else -1
    fees = fee * pos["size"] * (pos["price"] + price)
    return (pos["side"], int(pos["t"]), int(when), pos["price"], price, sign * pos["size"] * (price - pos["price"]) - fees,
            reason)


@pytest.mark.parametrize("seed", [3, 11])
def test_engine_trades_equal_the_straightforward_loop(tmp_path, seed):
    settings = build_settings({
        "data": {"db_path": str(tmp_path / "d.db"), "symbols": ["BTC"]},
        "strategy": {"timeframe": "15m", "window": 30, "entry_z": 2.0, "exit_z": 0.3, "use_bollinger": False,
                     "use_rsi": False, "use_adx": False, "use_hurst": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000.0, "max_positions": 1, "cooldown_minutes": 0,
                 "daily_loss_limit_pct": 1.0, "stop_loss_pct": 0.01, "position_timeout_hours": 6},
        "execution": {"slippage_bps": 0.0, "taker_fee": 0.00045},
    }, source="test")
    store = Store(settings.db_path)
    store.migrate()
    insert_walk(store, "BTC", 6000, seed=seed)
    c = store.load_candles("BTC", "15m")
    start = START_MS + 100 * STEP
    result = run_backtest(settings, store, ["BTC"], start, None)
    store.close()
    ref = reference_trades(c.t, c.open, c.high, c.low, c.close, 30, 2.0, 0.3, 0.01, 6 * 3_600_000, 1000.0, 0.00045,
                           start_i=100)
    got = [(tr.side.value, tr.entry_time, tr.exit_time, tr.entry_price, tr.exit_price, tr.pnl, tr.exit_reason)
           for tr in result.trades]
    assert len(got) == len(ref) > 20
    assert {r[-1] for r in ref} >= {"signal", "stop_loss"}
    for g, r in zip(got, ref):
        assert g[:3] == r[:3] and g[-1] == r[-1]
        assert g[3:6] == pytest.approx(r[3:6], rel=1e-9)
