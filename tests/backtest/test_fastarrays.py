"""The compiled passes around a run (backtest/fastarrays.py) against the numpy reference, bit for bit.

Once numba is loaded, a run's bar arrays (executor.bar_arrays) and equity curve (results.build_equity)
come from fastarrays.py; a short command computes them in numpy. The same run must give the same
curve to the last bit either way: on the loops' random runs (one symbol, several with gaps and
different lengths), and on trade lists no loop makes (overlapping, unsorted, open, off the bars,
-0.0 and NaN values, wrong bar hints).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from bt_data import START_MS, cut_outages, insert_walk
from test_backtest_fastaccount import SYMBOLS, _account_config
from test_backtest_fastloop import STEP, _random_config

from perpbot.backtest import fastarrays
from perpbot.backtest.columns import TradeColumns
from perpbot.backtest.engine import load_market, simulate
from perpbot.backtest.executor import bar_arrays
from perpbot.backtest.results import build_equity
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.data.frames import SymbolFrame
from perpbot.models import Side, Trade

# Both paths divide by the odd trades' zero and NaN prices, and numpy says so.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")


@pytest.fixture(scope="module", autouse=True)
def loaded():
    fastarrays.preload()
    yield
    fastarrays.LOADED.set()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three symbols of different lengths with funding; outages on ETH only, so the frames do not line up."""
    path = tmp_path_factory.mktemp("fastarrays") / "d.db"
    st = Store(path)
    st.migrate()
    for i, sym in enumerate(SYMBOLS):
        insert_walk(st, sym, 3000 - 300 * i, seed=11 + i, funding=-0.0002 + 0.0002 * i)
    cut_outages(path, step_ms=STEP)
    yield st
    st.close()


def _both(fn):
    """fn() with the numpy reference, then with the compiled passes."""
    fastarrays.LOADED.clear()
    try:
        reference = fn()
    finally:
        fastarrays.LOADED.set()
    return reference, fn()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to the bit (NaN equals NaN, 0.0 is not -0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _check_run(data, settings, loop: str) -> None:
    """The run's bar arrays and its whole result, numpy and compiled, bit for bit."""
    for frame in data.frames.values():
        ref, fast = _both(lambda f=frame: bar_arrays(f, data.interval_ms))
        assert all(_same(r, f) for r, f in zip(ref, fast))
    ref, fast = _both(lambda: simulate(data, settings, loop=loop))
    assert _same(ref.times, fast.times) and _same(ref.values, fast.values)
    assert ref.metrics == fast.metrics and ref.trades == fast.trades


@pytest.mark.parametrize("symbol", ["BTC", "ETH"], ids=["whole", "gaps"])
def test_one_symbol_runs_equal(store, symbol):
    rng = np.random.default_rng(20261208)
    for draw in range(10):
        settings = build_settings(_random_config(rng, str(store.path)), source="test")
        data = load_market(settings, store, [symbol], START_MS + 200 * STEP, None, None)
        _check_run(data, settings, "compiled" if draw % 3 else "events")


def test_account_runs_equal(store):
    rng = np.random.default_rng(20261209)
    for draw, symbols in enumerate([SYMBOLS, SYMBOLS[:2], ["SOL", "BTC"], SYMBOLS, ["ETH", "SOL"], SYMBOLS]):
        settings = build_settings(_account_config(rng, str(store.path), False), source="test")
        data = load_market(settings, store, symbols, START_MS + 200 * STEP, None, None)
        _check_run(data, settings, "compiled" if draw % 2 else "events")


def _frame(rng: np.random.Generator, symbol: str, n: int, gaps: bool) -> SymbolFrame:
    step = np.where(rng.random(n) < 0.05, 3, 1) if gaps else np.ones(n, np.int64)
    time = START_MS + np.cumsum(step).astype(np.int64) * 60_000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    funding = np.where(rng.random(n) < 0.1, rng.normal(0.0, 1e-4, n), 0.0)
    return SymbolFrame(symbol, time, close, close * 1.01, close * 0.99, close, funding)


def _signals(frame: SymbolFrame) -> SimpleNamespace:
    close_time, _, funding_cum = bar_arrays(frame, 60_000)
    return SimpleNamespace(frame=frame, close_time=close_time, funding_cum=funding_cum, n=len(frame))


def _trades(rng: np.random.Generator, frames: dict[str, SymbolFrame], k: int) -> list[Trade]:
    """Trades no loop makes: anywhere (on a bar's open or not), overlapping, open, odd values."""
    trades = []
    for _ in range(k):
        sym = str(rng.choice(list(frames)))
        t = frames[sym].time
        i = int(rng.integers(0, len(t)))
        entry = int(t[i]) if rng.random() < 0.8 else int(t[i]) + int(rng.integers(-90_000, 90_000))
        exit_ = None if rng.random() < 0.05 else entry + int(rng.integers(0, 40)) * 60_000
        price = float(rng.choice([100.0, 101.5, -0.0, math.nan])) if rng.random() < 0.05 else 100.0 + rng.random()
        pnl = [0.0, -0.0, math.nan, None][int(rng.integers(4))] if rng.random() < 0.1 else float(rng.normal(0, 5))
        trades.append(Trade(sym, Side.LONG if rng.random() < 0.5 else Side.SHORT, float(rng.random() * 3), entry,
                            price, "backtest", exit_, None if exit_ is None else price * 1.01, None,
                            float(rng.random()), 0.0, pnl, "signal"))
    return trades


@pytest.mark.parametrize("seed", range(8))
def test_odd_trade_lists_equal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["BTC", "ETH"] if seed % 2 else ["BTC"]
    frames = {s: _frame(rng, s, 400 + 50 * i, gaps=seed % 4 > 1) for i, s in enumerate(names)}
    signals = {s: _signals(f) for s, f in frames.items()}
    data = SimpleNamespace(start_ms=int(frames["BTC"].time[int(rng.integers(0, 30))]))
    trades = _trades(rng, frames, int(rng.integers(1, 60)))
    if seed % 3 == 0:
        trades.sort(key=lambda t: t.entry_time)
    ref, fast = _both(lambda: build_equity(data, signals, trades, 10_000.0, TradeColumns(trades)))
    assert _same(ref[0], fast[0]) and _same(ref[1], fast[1])


@pytest.mark.parametrize("hints", ["right", "wrong"])
def test_bar_hints_only_speed_the_searches(hints: str) -> None:
    """A compiled loop's columns carry each trade's bars; wrong ones give the same curve."""
    rng = np.random.default_rng(7)
    frame = _frame(rng, "BTC", 500, gaps=True)
    signals = {"BTC": _signals(frame)}
    data = SimpleNamespace(start_ms=int(frame.time[20]))
    entry_bar = np.sort(rng.choice(np.arange(30, 480), 20, replace=False))
    exit_bar = np.minimum(entry_bar + rng.integers(0, 6, 20), 499)
    entry_ms, exit_ms = frame.time[entry_bar], frame.time[exit_bar]
    if hints == "wrong":
        entry_bar, exit_bar = rng.integers(0, 500, 20), rng.integers(0, 500, 20)
    k = len(entry_ms)
    floats = {name: rng.random(k) + 1.0 for name in ("pnl", "fees", "funding", "size", "entry_price", "exit_price")}
    sign = np.where(rng.random(k) < 0.5, 1.0, -1.0)

    def curve(bars):
        cols = TradeColumns.from_arrays([None] * k, entry_time=entry_ms, exit_time=exit_ms, sign=sign, **floats,
                                        by_symbol=(["BTC"], np.zeros(k, np.intp)),
                                        exit_reason=(["signal"], np.zeros(k, np.intp)), bars=bars)
        return build_equity(data, signals, cols.trades, 10_000.0, cols)[1]

    ref, fast = _both(lambda: curve(None))
    hinted = curve((entry_bar, exit_bar))
    assert _same(ref, fast) and _same(ref, hinted)


def test_bar_arrays_of_odd_bars_equal() -> None:
    """Zero, NaN and infinite prices: np.nan_to_num's ranges, NaN funding carried along as cumsum does."""
    t = START_MS + np.arange(8, dtype=np.int64) * 60_000
    high = np.array([1.0, 2.0, math.inf, 1.0, math.nan, 3.0, 1.0, -0.0])
    low = np.array([1.0, 0.0, 1.0, -math.inf, 1.0, 3.0, 2.0, 0.0])
    close = np.array([1.0, 0.0, 2.0, 1.0, 1.0, -0.0, 0.0, 5.0])
    rate = np.array([-0.0, 1e-4, 0.0, math.nan, 0.0, -2e-4, 0.0, 1e-5])
    frame = SymbolFrame("X", t, close, high, low, close, rate)
    ref, fast = _both(lambda: bar_arrays(frame, 60_000))
    assert all(_same(r, f) for r, f in zip(ref, fast))
