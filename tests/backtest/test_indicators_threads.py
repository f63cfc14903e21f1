"""indicators_for computes a long run's indicators on threads, a task per indicator of each symbol: the
values are those of one symbol at a time, a path forced with indicators.use_path holds inside the
threads, and an error is the one the symbols in turn would raise first."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from bt_data import insert_walk

from perpbot.backtest import engine
from perpbot.backtest.engine import indicators_for, load_market
from perpbot.backtest.executor import bar_base, bars_key
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.signals import indicators as ind
from perpbot.signals.engine import compute_indicators

SYMBOLS = ["BTC", "ETH", "SOL", "ARB"]


@pytest.fixture(autouse=True)
def threaded(monkeypatch):
    monkeypatch.setattr(engine, "THREADED_FROM_BARS", 0)  # these short frames on threads too


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


@pytest.mark.parametrize("off", [("use_rsi",), ("use_adx", "use_hurst"), ("use_rsi", "use_adx", "use_hurst")])
def test_disabled_filters_stay_all_nan_on_threads(data, off):
    settings, market = data
    params = replace(settings.strategy, **{key: False for key in off})
    together = indicators_for(market, params)
    for symbol, frame in market.frames.items():
        _equal(together[symbol], compute_indicators(frame.high, frame.low, frame.close, params))
    assert np.isnan(together["BTC"].rsi).all() == ("use_rsi" in off)


def test_one_symbol_runs_on_threads_with_the_same_values(data):
    settings, market = data
    one = replace(market, frames={"ETH": market.frames["ETH"]})
    frame = market.frames["ETH"]
    _equal(indicators_for(one, settings.strategy)["ETH"],
           compute_indicators(frame.high, frame.low, frame.close, settings.strategy))


def test_the_first_symbols_error_is_raised(data):
    settings, market = data
    market.frames["ETH"].close[500] = np.nan  # NaNs inside two symbols' data: ETH's error comes out,
    market.frames["SOL"].close[400] = np.nan  # as it does one symbol after the other
    with pytest.raises(ValueError, match="NaN at index 500"):
        indicators_for(market, settings.strategy)


def test_the_bar_arrays_computed_beside_them_are_those_of_one_symbol_at_a_time(data):
    settings, market = data
    bars = {}
    indicators_for(market, settings.strategy, bars=bars)
    assert sorted(bars) == sorted(bars_key(s) for s in SYMBOLS)
    for symbol, frame in market.frames.items():
        *arrays, first = bars[bars_key(symbol)]
        *alone, first_alone = bar_base(frame, market)
        assert first == first_alone
        for got, want in zip(arrays, alone):
            np.testing.assert_array_equal(got, want)


def test_a_sweeps_pool_worker_computes_on_its_own_thread(data, monkeypatch):
    from perpbot.backtest import sensitivity

    settings, market = data
    monkeypatch.setattr(engine, "INDICATOR_THREADS", None)
    monkeypatch.setitem(sensitivity._WORKER, "payload", None)  # put back as it was after the test
    sensitivity._init_worker(sensitivity._Payload(market, []))  # what each pool process runs first
    assert engine.INDICATOR_THREADS == 1

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool worker started threads")

    monkeypatch.setattr(engine, "ThreadPoolExecutor", no_pool)
    together = indicators_for(market, settings.strategy)
    frame = market.frames["SOL"]
    _equal(together["SOL"], compute_indicators(frame.high, frame.low, frame.close, settings.strategy))
