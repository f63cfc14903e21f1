"""indicators_for computes several symbols on threads: the values are those of one symbol at a time,
and a path forced with indicators.use_path holds inside the threads."""

from __future__ import annotations

import numpy as np
import pytest
from bt_data import insert_walk

from perpbot.backtest.engine import indicators_for, load_market
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.signals import indicators as ind
from perpbot.signals.engine import compute_indicators

SYMBOLS = ["BTC", "ETH", "SOL", "ARB"]


@pytest.fixture
def data(tmp_path):
    store = Store(tmp_path / "t.db")
    store.migrate()
    for seed, symbol in enumerate(SYMBOLS, start=1):
        insert_walk(store, symbol, 3_000, seed=seed)
    settings = build_settings({"data": {"db_path": str(tmp_path / "t.db")}})
    return settings, load_market(settings, store, SYMBOLS, None, None, "15m")


def _equal(a, b) -> None:
    for name in ("z", "middle", "upper", "lower", "rsi", "adx", "hurst"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_threads_give_each_symbol_its_own_values_bit_for_bit(data, path):
    settings, market = data
    with ind.use_path(path):
        together = indicators_for(market, settings.strategy)
        alone = {s: compute_indicators(f.high, f.low, f.close, settings.strategy) for s, f in market.frames.items()}
    assert list(together) == SYMBOLS
    for symbol in SYMBOLS:
        _equal(together[symbol], alone[symbol])


def test_a_forced_path_holds_inside_the_threads(data, monkeypatch):
    settings, market = data
    seen = []
    real = ind._path
    monkeypatch.setattr(ind, "_path", lambda bars: seen.append(ind._forced_path.get()) or real(bars))
    with ind.use_path("numpy"):
        indicators_for(market, settings.strategy)
    assert seen and set(seen) == {"numpy"}
